"""MPT, BLOOM, OPT and GPTBigCode read from config.json (hf_layouts_classic), against transformers 5.24.

Random configurations of each class, with the keys that decide its layout drawn at random (and left
out, so that transformers' defaults are used, where symroof reads the same default); the same dict goes
to transformers' config class (``from_dict``) and to ``model_from_hf_config``:

- parameters on the meta device, in total and per group (exact), and what each layer builds;
- FLOPs under FlopCounterMode (eager attention): forward and backward totals, forward per module,
  backward per decoder layer and for the head (exact);
- prefill T tokens and decode one: FLOPs, and the bytes of the keys and values transformers' cache
  holds after each (exact).

Each class draws from seeds of its own, so that adding a class changes no other class's cases.
"""

from __future__ import annotations

import random

import pytest

from hfcases import case_id as _case_id, case_sets, counted, flop_counter_torch, hf_config, hf_group, maybe
import hfcompare
from hfcompare import assert_phases_match, per_module

torch = flop_counter_torch()

from symroof.io.bind import count  # noqa: E402
from symroof.io.hf import model_from_hf_config  # noqa: E402

pytestmark = pytest.mark.validate

CLASSES = {"mpt": "MptForCausalLM", "bloom": "BloomForCausalLM", "opt": "OPTForCausalLM",
           "gpt_bigcode": "GPTBigCodeForCausalLM"}
GROUPS = ("embedding", "attention", "mlp", "norms", "unembedding")
_QKV = ("attn/q", "attn/k", "attn/v")
# transformers module(s) below a decoder layer -> the symroof nodes (last two path parts) owning the same matmuls
MODULES = {"mpt": {"attn.Wqkv": _QKV, "attn.out_proj": ("attn/o",), "ffn.up_proj": ("mlp/up",),
                   "ffn.down_proj": ("mlp/down",)},
           "bloom": {"self_attention.query_key_value": _QKV, "self_attention.dense": ("attn/o",),
                     "mlp.dense_h_to_4h": ("mlp/up",), "mlp.dense_4h_to_h": ("mlp/down",)},
           "opt": {"self_attn.q_proj": ("attn/q",), "self_attn.k_proj": ("attn/k",), "self_attn.v_proj": ("attn/v",),
                   "self_attn.out_proj": ("attn/o",), "fc1": ("mlp/up",), "fc2": ("mlp/down",)},
           "gpt_bigcode": {"attn.c_attn": _QKV, "attn.c_proj": ("attn/o",), "mlp.c_fc": ("mlp/up",),
                           "mlp.c_proj": ("mlp/down",)}}
ATTENTION = {"mpt": "attn", "bloom": "self_attention", "opt": "self_attn", "gpt_bigcode": "attn"}
CORE = ("attn/scores", "attn/av")
# MPT's and BLOOM's layers add the residual inside their MLP's (and BLOOM's attention's) forward; FlopCounterMode
# then files most of their backward matmuls under other modules (as Falcon's: test_blocks_vs_transformers), so
# their backward is compared in total (and the head's) only.
UNATTRIBUTED_BACKWARD = ("mpt", "bloom")


def _sizes(rng: random.Random, small: bool):
    layers = rng.choice((1, 2, 3)) if small else rng.randint(1, 6)
    heads = rng.choice((1, 2, 3, 4)) if small else rng.randint(1, 12)
    width = heads * (rng.choice((4, 8, 16)) if small else rng.randrange(4, 65, 4))
    return layers, heads, width, rng.randrange(16, 97)


def _mpt(rng: random.Random, small: bool) -> dict:
    """Sizes under d_model / n_heads / n_layers, attention settings in attn_config, each left out at times."""
    layers, heads, width, vocab = _sizes(rng, small)
    attn: dict = {}
    for key, value in (("alibi", True), ("attn_type", "multihead_attention"), ("qk_ln", False),
                       ("prefix_lm", False), ("attn_uses_sequence_id", False), ("attn_impl", "torch"),
                       ("clip_qkv", rng.choice((None, 8.0, 0.5))), ("softmax_scale", rng.choice((None, 0.3))),
                       ("alibi_bias_max", rng.choice((8, 4))), ("attn_pdrop", 0)):      # 5.24 types it int
        maybe(rng, attn, key, value, 0.5)
    raw = {"architectures": [CLASSES["mpt"]], "model_type": "mpt", "vocab_size": vocab, "n_layers": layers,
           "d_model": width, "n_heads": heads, "max_seq_len": 64, "bos_token_id": None, "eos_token_id": None,
           "pad_token_id": None}
    if rng.random() < 0.8:            # absent: every setting at MptAttentionConfig's default
        raw["attn_config"] = attn
    for key, value in (("tie_word_embeddings", rng.random() < 0.5), ("expansion_ratio", 4), ("no_bias", True),
                       ("learned_pos_emb", rng.random() < 0.5), ("logit_scale", rng.choice((None, 0.5))),
                       ("embedding_fraction", rng.choice((1.0, 0.1))), ("norm_type", "low_precision_layernorm"),
                       ("init_device", "cpu"), ("resid_pdrop", rng.choice((0, 0.1))), ("emb_pdrop", 0),
                       ("layer_norm_epsilon", 1e-5)):
        maybe(rng, raw, key, value, 0.5)
    return raw


def _bloom(rng: random.Random, small: bool) -> dict:
    layers, heads, width, vocab = _sizes(rng, small)
    raw = {"architectures": [CLASSES["bloom"]], "model_type": "bloom", "vocab_size": vocab, "n_layer": layers,
           "n_head": heads, "bos_token_id": None, "eos_token_id": None, "pad_token_id": None}
    raw[rng.choice(("hidden_size", "n_embed"))] = width          # n_embed: the older name, read as hidden_size
    for key, value in (("tie_word_embeddings", rng.random() < 0.5), ("n_inner", None),
                       ("apply_residual_connection_post_layernorm", rng.random() < 0.5),
                       ("hidden_dropout", rng.choice((0.0, 0.1))), ("attention_dropout", rng.choice((0.0, 0.1))),
                       ("masked_softmax_fusion", True), ("offset_alibi", 100), ("skip_bias_add", True)):
        maybe(rng, raw, key, value, 0.5)
    if not small:           # its sliced matmuls are files under the attention and MLP modules, not dense's
        maybe(rng, raw, "pretraining_tp", rng.choice((1, 2, 4)), 0.5)
        maybe(rng, raw, "slow_but_exact", rng.random() < 0.5, 0.5)
    return raw


def _opt(rng: random.Random, small: bool) -> dict:
    layers, heads, width, vocab = _sizes(rng, small)
    raw = {"architectures": [CLASSES["opt"]], "model_type": "opt", "vocab_size": vocab, "num_hidden_layers": layers,
           "hidden_size": width, "num_attention_heads": heads, "max_position_embeddings": rng.choice((32, 64)),
           "ffn_dim": rng.randrange(8, 65, 4) if small else rng.randint(4, 600), "bos_token_id": None,
           "eos_token_id": None, "pad_token_id": None}
    for key, value in (("tie_word_embeddings", rng.random() < 0.5), ("enable_bias", rng.random() < 0.5),
                       ("activation_function", rng.choice(("relu", "gelu"))), ("do_layer_norm_before", True),
                       ("word_embed_proj_dim", width), ("dropout", rng.choice((0.0, 0.1))),
                       ("attention_dropout", 0.0), ("activation_dropout", 0.0), ("layer_norm_elementwise_affine", True),
                       ("init_std", 0.02), ("_remove_final_layer_norm", False)):
        maybe(rng, raw, key, value, 0.5)
    if not small:           # training skips layers at random: parameter cases only
        maybe(rng, raw, "layerdrop", rng.choice((0.0, 0.1)), 0.5)
    return raw


def _gpt_bigcode(rng: random.Random, small: bool) -> dict:
    layers, heads, width, vocab = _sizes(rng, small)
    raw = {"architectures": [CLASSES["gpt_bigcode"]], "model_type": "gpt_bigcode", "vocab_size": vocab,
           "n_layer": layers, "n_embd": width, "n_head": heads, "n_positions": 64, "bos_token_id": None,
           "eos_token_id": None, "pad_token_id": None}
    multi = rng.random() < 0.6
    maybe(rng, raw, "multi_query", multi, 0.8)
    multi = raw.get("multi_query", True)
    for key, value in (("tie_word_embeddings", rng.random() < 0.5), ("num_key_value_heads", 1 if multi else heads),
                       ("n_inner", rng.choice((None, rng.randrange(8, 65, 4) if small else rng.randint(4, 600)))),
                       ("activation_function", rng.choice(("gelu_pytorch_tanh", "gelu", "relu"))),
                       ("attn_pdrop", rng.choice((0.0, 0.1))), ("resid_pdrop", 0.0), ("embd_pdrop", 0.0),
                       ("scale_attn_weights", rng.random() < 0.5), ("summary_type", "cls_index")):
        maybe(rng, raw, key, value, 0.5)
    return raw


DRAW = {"mpt": _mpt, "bloom": _bloom, "opt": _opt, "gpt_bigcode": _gpt_bigcode}


def random_config(rng: random.Random, arch: str, small: bool) -> dict:
    return DRAW[arch](rng, small)


def _cases(arch: str, seeds: tuple, shapes: int):
    return case_sets(random_config, {arch: CLASSES[arch]}, seeds, shapes, (10, 6, 5), (16, 12))


_SETS = [_cases("mpt", (20270901, 20270902, 20270903), 51), _cases("bloom", (20270911, 20270912, 20270913), 52),
         _cases("opt", (20270921, 20270922, 20270923), 53),
         _cases("gpt_bigcode", (20270931, 20270932, 20270933), 54)]
PARAM_CASES, FLOP_CASES, PHASE_CASES = ([case for sets in _SETS for case in sets[i]] for i in range(3))
_NAMES = {"n_layers": "num_hidden_layers", "n_layer": "num_hidden_layers", "d_model": "hidden_size",
          "n_embd": "hidden_size", "n_embed": "hidden_size", "n_heads": "num_attention_heads",
          "n_head": "num_attention_heads", "ffn_dim": "intermediate_size", "n_inner": "intermediate_size"}


def case_id(raw: dict) -> str:
    """hfcases' test id, the sizes under their common names."""
    return _case_id({**{_NAMES.get(key, key): value for key, value in raw.items()},
                     "num_key_value_heads": 1 if raw.get("multi_query", raw["model_type"] == "gpt_bigcode") else "N"})


def _card(raw: dict):
    return model_from_hf_config(dict(raw), f"random/{case_id(raw)}/config.json")


def _group(name: str) -> str:
    """hf_group, and the names it does not know: MPT's ffn, OPT's fc1 / fc2 and its position table."""
    parts = name.split(".")
    if "ffn" in parts or (len(parts) > 1 and parts[-2] in ("fc1", "fc2")):
        return "mlp"
    return "embedding" if "embed_positions" in parts else hf_group(name)


def _model(raw: dict, **extra):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_config(hf_config(raw), **extra)


def hf_counts(raw: dict) -> dict[str, int]:
    return hfcompare.hf_counts(raw, _group)


@pytest.mark.parametrize("raw", PARAM_CASES, ids=case_id)
def test_params_match_transformers(raw):
    ours, theirs = count(_card(raw), batch=1, seq=1), hf_counts(raw)
    assert ours.params_by_group == theirs, (case_id(raw), ours.params_by_group, theirs)
    assert ours.params_total == sum(theirs.values())


@pytest.mark.parametrize("raw", PARAM_CASES, ids=case_id)
def test_layers_match_the_layers_transformers_builds(raw):
    """K (the fused matrix's key heads), the MLP width, biases, the embedding norm, the position table."""
    with torch.device("meta"):
        model = _model(raw)
    card, arch = _card(raw), raw["model_type"]
    assert card.layers == (("layer", card.n_layers),) and card.mlp == "plain"
    h = card.head_dim
    if arch == "mpt":
        block = model.transformer.blocks[0]
        assert block.attn.Wqkv.out_features == 3 * card.d_model and block.ffn.up_proj.out_features == card.d_ff
        assert block.norm_1.bias is None and block.attn.Wqkv.bias is None and card.norm == "rms"
        assert card.positions == "alibi" and not hasattr(model.transformer, "wpe")
    elif arch == "bloom":
        layer = model.transformer.h[0]
        assert layer.mlp.dense_h_to_4h.out_features == card.d_ff and card.embedding_norm
        assert model.transformer.word_embeddings_layernorm.weight.numel() == card.d_model
        assert layer.self_attention.query_key_value.bias is not None and card.qkv_bias
    elif arch == "opt":
        layer = model.model.decoder.layers[0]
        assert (layer.self_attn.q_proj.bias is not None) == card.qkv_bias == card.mlp_bias
        assert model.model.decoder.embed_positions.weight.shape[0] == card.max_positions
        assert layer.fc1.out_features == card.d_ff
    else:
        attn = model.transformer.h[0].attn
        assert (attn.c_attn.out_features // h - card.n_heads) // 2 == card.n_kv_heads
        assert model.transformer.wpe.weight.shape[0] == card.max_positions
        assert model.transformer.h[0].mlp.c_fc.out_features == card.d_ff
    tied = model.lm_head.weight is model.get_input_embeddings().weight
    assert tied == card.tie_embeddings


@pytest.mark.parametrize("raw, batch, seq", FLOP_CASES, ids=[f"{case_id(r)}-B{b}T{t}" for r, b, t in FLOP_CASES])
def test_flops_match_flop_counter_mode(raw, batch, seq):
    card = _card(raw)
    ours = count(card, batch=batch, seq=seq, attention="full")
    torch.manual_seed(0)
    model = _model(raw, attn_implementation="eager")
    forward, backward, both = counted(model, raw["vocab_size"], batch, seq)
    assert ours.flops_forward == forward.get_total_flops()
    assert ours.flops_backward == backward.get_total_flops()

    theirs, mine = per_module(forward), {}
    for name, phases in ours.flops_by_module.items():
        if name != "unembed":
            owner = "/".join(name.split("/")[-2:])
            mine[owner] = mine.get(owner, 0) + phases["forward"]
    arch = raw["model_type"]
    for module, nodes in MODULES[arch].items():
        assert sum(mine.get(n, 0) for n in nodes) == theirs.get(module, 0), module
    attention = ATTENTION[arch]
    inside = sum(v for m, v in theirs.items() if m.startswith(attention + "."))
    assert sum(mine.get(n, 0) for n in CORE) == theirs[attention] - inside, "attention core"
    assert ours.flops_by_module["unembed"]["forward"] == theirs["lm_head"]
    layer_nodes = [n for n in ours.flops_by_module if n != "unembed" and "/" in n]
    assert sum(ours.flops_by_module[n]["forward"] for n in layer_nodes) == theirs["layer"]
    combined = per_module(both)
    if arch not in UNATTRIBUTED_BACKWARD:
        assert sum(ours.flops_by_module[n]["backward"] for n in layer_nodes) == combined["layer"] - theirs["layer"]
    assert ours.flops_by_module["unembed"]["backward"] == combined["lm_head"] - theirs["lm_head"]


@pytest.mark.parametrize("raw, batch, seq", PHASE_CASES, ids=[f"{case_id(r)}-B{b}T{t}" for r, b, t in PHASE_CASES])
def test_prefill_decode_flops_and_cache_bytes(raw, batch, seq):
    torch.manual_seed(0)
    model = _model(raw, attn_implementation="eager").eval()
    assert_phases_match(_card(raw), model, raw["vocab_size"], batch, seq)


def _all_cases():
    return PARAM_CASES + [r for r, _, _ in FLOP_CASES + PHASE_CASES]


def test_cases_cover_the_variants():
    cards = {arch: [(raw, _card(raw)) for raw in _all_cases() if raw["model_type"] == arch] for arch in CLASSES}
    for arch, group in cards.items():
        assert {c.tie_embeddings for _, c in group} == {True, False}, arch
        assert any(c.n_heads > 1 for _, c in group), arch
    mpt, bloom, opt, bigcode = cards.values()
    assert any("attn_config" not in raw for raw, _ in mpt) and any(len(raw.get("attn_config", {})) > 4 for raw, _ in mpt)
    assert {any(n.startswith("clip_qkv") for n in c.left_out) for _, c in mpt} == {True, False}
    assert {any(n.startswith("dropout") for n in c.left_out) for _, c in mpt} == {True, False}
    assert {"n_embed" in raw for raw, _ in bloom} == {True, False}
    assert any(raw.get("slow_but_exact") and raw.get("pretraining_tp", 1) > 1 for raw, _ in bloom)
    assert {c.qkv_bias for _, c in opt} == {True, False} and any("dropout" not in raw for raw, _ in opt)
    assert any(raw.get("layerdrop") for raw, _ in opt)
    assert {c.n_kv_heads == 1 for _, c in bigcode if c.n_heads > 1} == {True, False}
    assert {c.d_ff == 4 * c.d_model for _, c in bigcode} == {True, False}



# Published config.json files, their values written out (each class's own keys as the Hub file gives them), with
# the total their model card states or that the file's sizes give by hand:
# facebook/opt-1.3b: 24 x (4 (D^2 + D) + 2 D F + F + D + 4 D) + V D + (2048 + 2) D + 2 D = 1,315,758,080;
# bigscience/bloom-560m: 559,214,592 (its model card); mosaicml/mpt-7b: 6,649,286,656 (6.7B on its card: 32 x
# (12 D^2 + 2 D) + V D + D); bigcode/gpt_bigcode-santacoder: 1,124,886,528 (1.1B on its card: 24 x (D (D + 2 H) +
# D + 2 H + D^2 + D + 2 D F + F + D + 4 D) + V D + 2048 D + 2 D, H = 128). mpt-7b's file names the checkpoint's
# own class, MPTForCausalLM, with auto_map; transformers' MptForCausalLM is written here, as loading it without
# remote code builds.
_META = {"transformers_version": "4.27.0.dev0", "use_cache": True, "initializer_range": 0.02}
PUBLISHED = {
    "facebook/opt-1.3b": ({**_META, "_name_or_path": "facebook/opt-1.3b", "activation_dropout": 0.0,
                           "activation_function": "relu", "architectures": ["OPTForCausalLM"], "attention_dropout": 0.0,
                           "bos_token_id": 2, "do_layer_norm_before": True, "dropout": 0.1, "eos_token_id": 2,
                           "ffn_dim": 8192, "hidden_size": 2048, "init_std": 0.02, "layerdrop": 0.0,
                           "max_position_embeddings": 2048, "model_type": "opt", "num_attention_heads": 32,
                           "num_hidden_layers": 24, "pad_token_id": 1, "prefix": "</s>", "torch_dtype": "float16",
                           "vocab_size": 50272, "word_embed_proj_dim": 2048}, 1_315_758_080),
    "bigscience/bloom-560m": ({**_META, "apply_residual_connection_post_layernorm": False,
                               "architectures": ["BloomForCausalLM"], "attention_dropout": 0.0,
                               "attention_softmax_in_fp32": True, "bias_dropout_fusion": True, "bos_token_id": 1,
                               "eos_token_id": 2, "hidden_dropout": 0.0, "hidden_size": 1024,
                               "layer_norm_epsilon": 1e-05, "masked_softmax_fusion": True, "model_type": "bloom",
                               "n_head": 16, "n_inner": None, "n_layer": 24, "offset_alibi": 100, "pad_token_id": 3,
                               "pretraining_tp": 1, "skip_bias_add": True, "skip_bias_add_qkv": False,
                               "slow_but_exact": False, "unk_token_id": 0, "vocab_size": 250880}, 559_214_592),
    "mosaicml/mpt-7b": ({**_META, "architectures": ["MptForCausalLM"],
                         "attn_config": {"alibi": True, "alibi_bias_max": 8, "attn_impl": "torch", "attn_pdrop": 0,
                                         "attn_type": "multihead_attention", "attn_uses_sequence_id": False,
                                         "clip_qkv": None, "prefix_lm": False, "qk_ln": False, "softmax_scale": None},
                         "auto_map": {"AutoConfig": "configuration_mpt.MPTConfig",
                                      "AutoModelForCausalLM": "modeling_mpt.MPTForCausalLM"},
                         "d_model": 4096, "emb_pdrop": 0, "embedding_fraction": 1.0, "expansion_ratio": 4,
                         "init_config": {"emb_init_std": None, "emb_init_uniform_lim": None, "fan_mode": "fan_in",
                                         "init_div_is_residual": True, "init_gain": 0, "init_nonlinearity": "relu",
                                         "init_std": 0.02, "name": "kaiming_normal_", "verbose": 0},
                         "init_device": "cpu", "learned_pos_emb": True, "logit_scale": None, "max_seq_len": 2048,
                         "model_type": "mpt", "n_heads": 32, "n_layers": 32, "no_bias": True,
                         "norm_type": "low_precision_layernorm", "resid_pdrop": 0,
                         "tokenizer_name": "EleutherAI/gpt-neox-20b", "torch_dtype": "bfloat16", "use_cache": False,
                         "verbose": 0, "vocab_size": 50432}, 6_649_286_656),
    "bigcode/gpt_bigcode-santacoder": ({**_META, "activation_function": "gelu_fast",
                                        "architectures": ["GPTBigCodeForCausalLM"], "attention_softmax_in_fp32": True,
                                        "attn_pdrop": 0.1, "bos_token_id": 49152, "embd_pdrop": 0.1,
                                        "eos_token_id": 49152, "layer_norm_epsilon": 1e-05, "model_type": "gpt_bigcode",
                                        "multi_query": True, "n_embd": 2048, "n_head": 16, "n_inner": 8192,
                                        "n_layer": 24, "n_positions": 2048, "resid_pdrop": 0.1,
                                        "scale_attention_softmax_in_fp32": True, "scale_attn_weights": True,
                                        "summary_activation": None, "summary_first_dropout": 0.1,
                                        "summary_proj_to_labels": True, "summary_type": "cls_index",
                                        "summary_use_proj": True, "torch_dtype": "float32", "vocab_size": 49280},
                                       1_124_886_528),
}


@pytest.mark.parametrize("name", PUBLISHED)
def test_published_configs_match_transformers_and_their_totals(name):
    raw, total = PUBLISHED[name]
    card = model_from_hf_config(dict(raw), f"{name}/config.json")
    with torch.device("meta"):
        theirs = sum(p.numel() for p in _model(raw).parameters())
    assert count(card, batch=1, seq=1).params_total == theirs == total
