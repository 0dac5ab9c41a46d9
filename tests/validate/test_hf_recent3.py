"""More config.json classes (hf_layouts_recent3, hf_keys_recent3) against transformers 5.24: CWM, FlexOlmo,
BitNet, AFMoE, Youtu, ...

Random configurations of each class, with the keys that decide its layout drawn at random (and left out,
so that transformers' defaults are used, where symroof reads the same default), go through
``model_from_hf_config`` exactly as a ``config.json`` does, and the same dict through transformers' config
class (``from_dict``):

- parameters on the meta device, in total and per group (exact); per layer, the window transformers gives
  the attention (None: global), the norms it builds and, where a class has them, its experts;
- FLOPs under FlopCounterMode (eager attention, ``attention="full"``, eager experts): forward and backward
  totals, forward per module, backward per decoder layer and for the head (exact);
- prefill T tokens and decode one: FLOPs, and the bytes of the keys and values transformers' cache holds
  after each (exact);
- each class's reference model (its config class's defaults, the file ``save_pretrained`` writes): parameters
  per group (exact, meta device);
- refusals: a key transformers reads that symroof does not model is a one-line CardError naming it.

FalconMamba's checks are in test_hf_recent3_mamba.py.

Each class draws from seeds of its own (``case_sets`` per class), so that adding a class changes no other
class's cases.
"""

from __future__ import annotations

import random

import pytest

torch = pytest.importorskip("torch",
                            reason="torch not installed: install the 'validate' extra (pip install .[validate])")
transformers = pytest.importorskip("transformers", reason="transformers not installed: install the 'validate' extra")

from hfcases import case_id, case_sets, maybe  # noqa: E402
from hfcompare import base_config, card_of, cards_by_class, class_checks, hf_counts, layer_types, meta_layers  # noqa: E402
import test_blocks_vs_transformers as blocks  # noqa: E402
from symroof.errors import CardError  # noqa: E402

pytestmark = pytest.mark.validate

CLASSES = {"cwm": "CwmForCausalLM", "flex_olmo": "FlexOlmoForCausalLM", "bitnet": "BitNetForCausalLM",
           "afmoe": "AfmoeForCausalLM", "youtu": "YoutuForCausalLM"}
blocks.MODULES.update(cwm=blocks._LLAMA_LIKE,
                      flex_olmo={**blocks.LLAMA_ATTENTION, "mlp.gate": ("moe/router",),
                                 "mlp.experts": ("moe/gate", "moe/up", "moe/down")},
                      bitnet=blocks._LLAMA_LIKE,
                      afmoe={**blocks._LLAMA_LIKE, "self_attn.gate_proj": ("attn/gate",),
                             "mlp.router.gate": ("moe/router",), "mlp.experts": ("moe/gate", "moe/up", "moe/down"),
                             **{f"mlp.shared_experts.{m}_proj": (f"shared/{m}",) for m in ("gate", "up", "down")}},
                      youtu=blocks.MODULES["deepseek"])


def _cwm(rng, raw, layers, head_dim):
    """K and head_dim always given (absent: 8 and 128, its reference model's; null refused by its config);
    layer_types or every fourth layer full; a window where a layer slides (absent: 8192, its reference model's)."""
    raw["hidden_size"] = raw["num_attention_heads"] * rng.choice((4, 8, 12))    # its config refuses other widths
    del raw["bos_token_id"]          # a strict int (default 128000): a token id, no count
    if rng.random() < 0.5:
        raw["layer_types"] = layer_types(rng, layers)
    kinds = raw.get("layer_types") or ["full_attention" if i % 4 == 0 else "sliding_attention" for i in range(layers)]
    if "sliding_attention" in kinds:
        raw["sliding_window"] = rng.randint(2, 12)
    else:
        maybe(rng, raw, "sliding_window", rng.randint(2, 12))
    maybe(rng, raw, "mlp_bias", rng.random() < 0.5, 0.7)
    maybe(rng, raw, "attention_bias", True, 0.2)         # never read: q, k, v and o have no bias


def _flex_olmo(rng, raw, layers, head_dim):
    """K given, absent or null (N); head_dim read when given, else D // N; experts on every layer."""
    raw["num_key_value_heads"] = rng.choice((raw["num_key_value_heads"],) * 2 + (None, "absent"))
    if rng.random() < 0.3:
        del raw["head_dim"]
    experts = rng.randint(2, 6)
    raw.update(num_experts=experts, num_experts_per_tok=rng.randint(1, experts))
    maybe(rng, raw, "attention_bias", rng.random() < 0.5, 0.7)
    maybe(rng, raw, "norm_topk_prob", rng.random() < 0.5, 0.3)


def _bitnet(rng, raw, layers, head_dim):
    """K given or null (N; absent: 5, its reference model's); head_dim absent (D // N) or given with N x head_dim = D
    (its attn_sub_norm is D wide); relu2 (its default) or a gated activation."""
    raw["num_key_value_heads"] = rng.choice((raw["num_key_value_heads"],) * 2 + (None,))
    if rng.random() < 0.4:
        del raw["head_dim"]
    else:
        raw["hidden_size"] = raw["num_attention_heads"] * head_dim
    maybe(rng, raw, "hidden_act", rng.choice(("relu2", "silu", "gelu_pytorch_tanh")), 0.5)
    maybe(rng, raw, "attention_bias", rng.random() < 0.5, 0.7)


def _afmoe(rng, raw, layers, head_dim):
    """K given, absent or null (N); head_dim given (absent: 128, its reference model's); layer_types or every n-th
    layer full; a window where a layer slides; the first num_dense_layers dense (absent: 1), experts and shared
    experts on the rest (0 shared: none); route_scale and mup_enabled (named)."""
    raw["num_key_value_heads"] = rng.choice((raw["num_key_value_heads"],) * 2 + (None, "absent"))
    if rng.random() < 0.5:
        raw["layer_types"] = layer_types(rng, layers)
    else:
        maybe(rng, raw, "global_attn_every_n_layers", rng.randint(1, 3))
    every = raw.get("global_attn_every_n_layers", 4)
    kinds = raw.get("layer_types") or ["sliding_attention" if (i + 1) % every else "full_attention"
                                       for i in range(layers)]
    if "sliding_attention" in kinds:
        raw["sliding_window"] = rng.randint(2, 12)
    else:
        maybe(rng, raw, "sliding_window", rng.randint(2, 12))
    maybe(rng, raw, "num_dense_layers", rng.randint(0, layers))
    experts = rng.randint(2, 6)
    raw.update(num_experts=experts, num_experts_per_tok=rng.randint(1, experts),
               moe_intermediate_size=rng.randrange(4, 33, 4), num_shared_experts=rng.choice((0, 1, 2)))
    maybe(rng, raw, "route_scale", rng.choice((1.0, 2.5)), 0.4)
    maybe(rng, raw, "mup_enabled", rng.random() < 0.5, 0.4)


def _youtu(rng, raw, layers, head_dim):
    """DeepSeek-V3's MLA (K = N; q_lora_rank null: a plain q; the sizes always given: their defaults are a reference
    model's) with a dense MLP; head_dim and qk_head_dim as its config derives them, or left out."""
    raw["num_key_value_heads"] = raw["num_attention_heads"]
    nope, rope = rng.choice((4, 8, 16)), rng.choice((2, 4, 8))
    raw.update(q_lora_rank=rng.choice((None, rng.randrange(4, 33, 4))), kv_lora_rank=rng.randrange(4, 33, 4),
               qk_nope_head_dim=nope, qk_rope_head_dim=rope, v_head_dim=rng.choice((4, 8, 12)))
    raw["head_dim"] = rope
    maybe(rng, raw, "head_dim", "absent", 0.5)
    maybe(rng, raw, "qk_head_dim", nope + rope, 0.3)
    maybe(rng, raw, "attention_bias", rng.random() < 0.5, 0.7)
    maybe(rng, raw, "rope_interleave", rng.random() < 0.5, 0.5)


DRAW = {"cwm": _cwm, "flex_olmo": _flex_olmo, "bitnet": _bitnet, "afmoe": _afmoe, "youtu": _youtu}


def random_config(rng: random.Random, arch: str, small: bool) -> dict:
    """A random config of ``arch``; required keys always given, the others given or left out at random."""
    layers = rng.choice((1, 2, 3, 4, 5)) if small else rng.randint(1, 9)
    heads = rng.choice((1, 2, 4)) if small else rng.randint(1, 12)
    head_dim = rng.choice((8, 16, 20)) if small else rng.choice((8, 12, 16, 20, 40, 64))
    width = heads * head_dim if rng.random() < 0.6 else heads * rng.choice((4, 6, 10))
    raw = base_config(rng, CLASSES, arch, small, layers, heads, width, head_dim=head_dim)
    maybe(rng, raw, "tie_word_embeddings", rng.random() < 0.5, 0.6)
    DRAW[arch](rng, raw, layers, head_dim)
    return {k: v for k, v in raw.items() if v != "absent"}


def _cases(arch: str, seed: int):
    return case_sets(random_config, {arch: CLASSES[arch]}, (seed, seed + 1, seed + 2), seed + 3, (8, 4, 4), (16, 14))


SETS = {"cwm": _cases("cwm", 20271401), "flex_olmo": _cases("flex_olmo", 20271411),
        "bitnet": _cases("bitnet", 20271431), "afmoe": _cases("afmoe", 20271441), "youtu": _cases("youtu", 20271451)}
PARAM_CASES = [raw for sets in SETS.values() for raw in sets[0]]
FLOP_CASES = [case for sets in SETS.values() for case in sets[1]]
PHASE_CASES = [case for sets in SETS.values() for case in sets[2]]


# parameters, training FLOPs and prefill/decode against transformers: the checks every class module runs
test_params_match_transformers, test_flops_match_flop_counter_mode, test_prefill_decode_flops_and_cache_bytes = \
    class_checks(PARAM_CASES, FLOP_CASES, PHASE_CASES)


@pytest.mark.parametrize("raw", PARAM_CASES, ids=case_id)
def test_layers_match_the_layers_transformers_builds(raw):
    """Per layer: the window transformers gives the attention, the norms it builds, its q/k norms and experts."""
    model, card, kinds = meta_layers(raw)
    layers, arch = model.model.layers, raw["model_type"]
    assert [getattr(layer.self_attn, "sliding_window", None) for layer in layers] == \
        [card.sliding_window if k.attention == "sliding" else None for k in kinds]
    norms = [m for m in layers[0]._modules if "norm" in m]
    assert len(norms) == card.norms_per_layer
    if arch == "cwm":
        assert layers[0].self_attn.q_proj.bias is None and not card.qkv_bias and not card.o_bias
    if arch == "flex_olmo":
        attn = layers[0].self_attn
        assert attn.q_norm.weight.numel() == card.n_heads * card.head_dim and card.qk_norm_width == "all"
        assert attn.k_norm.weight.numel() == card.n_kv_heads * card.head_dim and card.norm_placement == "post"
        assert norms == ["post_attention_layernorm", "post_feedforward_layernorm"]
        assert all(layer.mlp.experts.num_experts == card.n_experts for layer in layers)
        assert all(k.mlp == "moe" for k in kinds) and not card.d_ff_shared
    if arch == "bitnet":
        assert layers[0].self_attn.attn_sub_norm.weight.numel() == card.n_heads * card.head_dim == card.d_model
        assert layers[0].mlp.ffn_sub_norm.weight.numel() == card.d_ff and card.sub_norms and card.mlp == "gated"
        assert any(note.startswith("ternary weights") for note in card.left_out)
    if arch == "youtu":
        attn = layers[0].self_attn
        assert (attn.q_a_proj is not None) == bool(card.q_lora_rank) and attn.kv_a_layernorm.weight.numel() == \
            card.kv_lora_rank
        assert (attn.o_proj.bias is not None) == card.o_bias and not hasattr(layers[0].mlp, "experts")
    if arch == "afmoe":
        assert [layer.self_attn.is_local_attention for layer in layers] == [k.attention == "sliding" for k in kinds]
        full = sum(k.attention != "sliding" for k in kinds)        # RoPE on the sliding layers only
        assert [n for n in card.left_out if n.startswith("no RoPE")] == \
            ([f"no RoPE on {full} of {card.n_layers} layers (its full-attention layers): RoPE's elementwise ops are "
              "counted on every layer"] if full else [])
        assert layers[0].self_attn.gate_proj.weight.shape[0] == card.n_heads * card.head_dim
        assert card.attention_output_gate and card.norms_per_layer == 4
        assert [hasattr(layer.mlp, "experts") for layer in layers] == [k.mlp == "moe" for k in kinds]
        moe = [layer.mlp for layer in layers if hasattr(layer.mlp, "experts")]
        assert all(m.expert_bias.numel() == card.n_experts and card.router_bias for m in moe)


def test_cases_cover_the_variants():
    cards = cards_by_class(CLASSES, PARAM_CASES, [c[0] for c in FLOP_CASES], [c[0] for c in PHASE_CASES])
    for arch, group in cards.items():
        assert {c.tie_embeddings for _, c in group} == {True, False}
        if arch == "youtu":       # MLA: K = N
            continue
        assert {c.n_kv_heads == c.n_heads for _, c in group} == {True, False}
        assert arch == "bitnet" or any(c.head_dim * c.n_heads != c.d_model for _, c in group)
    cwm = cards["cwm"]
    assert any(len(c.blocks) > 1 for _, c in cwm) and any("layer_types" not in raw for raw, _ in cwm)
    assert {c.mlp_bias for _, c in cwm} == {True, False} and any(raw.get("attention_bias") for raw, _ in cwm)
    youtu = cards["youtu"]
    assert {c.q_lora_rank > 0 for _, c in youtu} == {True, False} and {c.qkv_bias for _, c in youtu} == {True, False}
    assert all(c.attention == "mla" and c.n_experts == 1 for _, c in youtu)
    afmoe = cards["afmoe"]
    assert any(len(c.blocks) > 2 for _, c in afmoe) and any("layer_types" not in raw for raw, _ in afmoe)
    assert {c.d_ff_shared > 0 for _, c in afmoe if c.n_experts > 1} == {True, False}
    assert any(c.n_experts == 1 for _, c in afmoe) and any(n.startswith("route_scale") for _, c in afmoe
                                                            for n in c.left_out)
    bitnet = cards["bitnet"]
    assert {raw.get("hidden_act", "relu2") == "relu2" for raw, _ in bitnet} == {True, False}
    assert {"head_dim" in raw for raw, _ in bitnet} == {True, False}
    assert {c.qkv_bias for _, c in bitnet} == {True, False}
    flex = cards["flex_olmo"]
    assert {c.qkv_bias for _, c in flex} == {True, False} and any("head_dim" not in raw for raw, _ in flex)
    assert any(c.experts_per_token < c.n_experts for _, c in flex) and any(c.experts_per_token == c.n_experts
                                                                         for _, c in flex)


# Reference models: each class's config defaults, as save_pretrained writes them (CWM's are the 32B CWM's shape,
# FlexOlmo's FlexOlmo-7x7B-1T's, BitNet's bitnet-b1.58-2B-4T style defaults).
REFERENCE = {"cwm": {}, "flex_olmo": {}, "bitnet": {}, "afmoe": {}, "youtu": {}}


@pytest.mark.parametrize("arch", sorted(REFERENCE))
def test_reference_model_params_match_transformers(arch):
    from symroof.io.bind import count

    raw = {**transformers.AutoConfig.for_model(arch).to_dict(), **REFERENCE[arch], "architectures": [CLASSES[arch]]}
    for key in ("transformers_version", "_name_or_path", "id2label", "label2id", "torch_dtype", "dtype"):
        raw.pop(key, None)
    ours, theirs = count(card_of(raw), batch=1, seq=1), hf_counts(raw)
    assert ours.params_by_group == theirs and ours.params_total == sum(theirs.values())


def _base(arch: str) -> dict:
    return dict(SETS[arch][0][0])


REFUSALS = [
    ("cwm", {"sliding_window": None}, "key 'sliding_window' is null"),
    ("cwm", {"sliding_window": 0, "layer_types": ["sliding_attention"] * _base("cwm")["num_hidden_layers"]},
     "sliding_window"),
    ("cwm", {"sliding_window": "absent", "layer_types": ["sliding_attention"] * _base("cwm")["num_hidden_layers"]},
     "missing key 'sliding_window'"),
    ("cwm", {"layer_types": ["sliding_attention"] * 99}, "layer_types"),
    ("cwm", {"num_key_value_heads": "absent"}, "num_key_value_heads"),
    ("cwm", {"num_key_value_heads": None}, "num_key_value_heads"),
    ("cwm", {"head_dim": "absent"}, "head_dim"),
    ("cwm", {"hidden_size": 30, "num_attention_heads": 4, "num_key_value_heads": 2}, "multiple of"),
    ("cwm", {"num_experts": 4}, "num_experts"),
    ("cwm", {"hidden_act": "relu2"}, "hidden_act"),
    ("bitnet", {"head_dim": 4, "hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2}, "head_dim"),
    ("bitnet", {"hidden_act": "xielu"}, "hidden_act"),
    ("bitnet", {"num_key_value_heads": "absent"}, "num_key_value_heads"),
    ("bitnet", {"mlp_bias": True}, "unknown key 'mlp_bias'"),
    ("bitnet", {"num_experts": 4}, "num_experts"),
    ("afmoe", {"attention_bias": True}, "attention_bias"),
    ("afmoe", {"sliding_window": None}, "key 'sliding_window' is null"),
    ("afmoe", {"num_dense_layers": None}, "num_dense_layers"),
    ("afmoe", {"route_scale": None}, "route_scale"),
    ("afmoe", {"head_dim": "absent"}, "head_dim"),
    ("afmoe", {"num_shared_experts": "absent"}, "num_shared_experts"),
    ("afmoe", {"moe_intermediate_size": None}, "moe_intermediate_size"),
    ("afmoe", {"num_experts": None}, "num_experts"),
    ("youtu", {"head_dim": 99}, "head_dim"),
    ("youtu", {"qk_head_dim": 1}, "qk_head_dim"),
    ("youtu", {"kv_lora_rank": "absent"}, "kv_lora_rank"),
    ("youtu", {"v_head_dim": None}, "v_head_dim"),
    ("youtu", {"num_key_value_heads": "absent"}, "num_key_value_heads"),
    ("youtu", {"num_key_value_heads": 1, "num_attention_heads": 2}, "num_key_value_heads"),
    ("youtu", {"mlp_bias": True}, "unknown key 'mlp_bias'"),
    ("flex_olmo", {"num_experts": None}, "num_experts"),
    ("flex_olmo", {"num_experts": 4, "num_local_experts": 5}, "disagree"),
    ("flex_olmo", {"head_dim": None}, "head_dim"),
    ("flex_olmo", {"mlp_bias": True}, "unknown key 'mlp_bias'"),
    ("flex_olmo", {"layer_types": ["sliding_attention"] * _base("flex_olmo")["num_hidden_layers"]}, "layer_types"),
]


@pytest.mark.parametrize("arch, change, message", REFUSALS, ids=[f"{a}-{next(iter(c))}" for a, c, _ in REFUSALS])
def test_refusals_name_the_key(arch, change, message):
    raw = {**_base(arch), **change}
    raw = {k: v for k, v in raw.items() if v != "absent"}
    with pytest.raises(CardError, match=message) as err:
        card_of(raw)
    assert "\n" not in str(err.value)
