"""Hugging Face config.json import: real configs convert exactly, anything unmodelled is refused."""

import copy
from fractions import Fraction
import json
from dataclasses import asdict
from pathlib import Path

import pytest

import symroof
from symroof.io.catalog import load_model
from symroof.errors import CardError
from symroof.io.hf import model_from_hf_config

DATA = Path(__file__).resolve().parent / "data" / "hf"

#   folder               architecture  L   D     F      N   K   H    V       tie    qkv    o      qk_norm norms E  k
EXPECTED = {
    "Meta-Llama-3-8B":   ("llama",   32, 4096, 14336, 32, 8,  128, 128256, False, False, False, False, 2, 1, 1),
    "Llama-2-13b-hf":    ("llama",   40, 5120, 13824, 40, 40, 128, 32000,  False, False, False, False, 2, 1, 1),
    "Mistral-7B-v0.1":   ("mistral", 32, 4096, 14336, 32, 8,  128, 32000,  False, False, False, False, 2, 1, 1),
    "Mixtral-8x7B-v0.1": ("mixtral", 32, 4096, 14336, 32, 8,  128, 32000,  False, False, False, False, 2, 8, 2),
    "Qwen2-7B":          ("qwen2",   28, 3584, 18944, 28, 4,  128, 152064, False, True,  False, False, 2, 1, 1),
    "Qwen3-8B":          ("qwen3",   36, 4096, 12288, 32, 8,  128, 151936, False, False, False, True,  2, 1, 1),
    "gemma-2-9b":        ("gemma2",  42, 3584, 14336, 16, 8,  256, 256000, True,  False, False, False, 4, 1, 1),
}
FIELDS = ("architecture", "n_layers", "d_model", "d_ff", "n_heads", "n_kv_heads", "head_dim", "vocab",
          "tie_embeddings", "qkv_bias", "o_bias", "qk_norm", "norms_per_layer", "n_experts", "experts_per_token")


def _config(folder: str) -> dict:
    return json.loads((DATA / folder / "config.json").read_text())


def _convert(raw: dict):
    return model_from_hf_config(dict(raw), "test/config.json")


def _refused(raw: dict, *words) -> str:
    with pytest.raises(CardError) as err:
        _convert(raw)
    message = str(err.value)
    assert message.startswith("test/config.json: ") and "\n" not in message
    for word in words:
        assert word in message, message
    return message


@pytest.mark.parametrize("folder", EXPECTED)
def test_real_configs_convert_exactly(folder):
    card = load_model(str(DATA / folder / "config.json"))
    assert tuple(getattr(card, f) for f in FIELDS) == EXPECTED[folder]
    assert card.mlp_bias is False
    assert card.name == folder                       # no _name_or_path: the Hub folder names it
    assert "config.json" in card.source and card.path.endswith("config.json")


@pytest.mark.parametrize("folder, card", [("Meta-Llama-3-8B", "llama3-8b"), ("Llama-2-13b-hf", "llama2-13b"),
                                          ("Mixtral-8x7B-v0.1", "mixtral-8x7b")])
def test_import_agrees_with_the_shipped_card(folder, card):
    ignore = ("name", "source", "path")
    imported, shipped = asdict(load_model(str(DATA / folder / "config.json"))), asdict(load_model(card))
    assert {k: v for k, v in imported.items() if k not in ignore} == {k: v for k, v in shipped.items()
                                                                       if k not in ignore}


# ----------------------------------------------------------------------------- defaults


def test_llama_kv_heads_default_to_query_heads_when_absent_or_null():
    raw = _config("Llama-2-13b-hf")
    del raw["num_key_value_heads"]
    assert _convert(raw).n_kv_heads == 40
    raw["num_key_value_heads"] = None
    assert _convert(raw).n_kv_heads == 40


@pytest.mark.parametrize("folder", ["Mistral-7B-v0.1", "Mixtral-8x7B-v0.1", "Qwen2-7B", "Qwen3-8B"])
def test_kv_heads_are_required_where_transformers_would_use_a_constant(folder):
    raw = _config(folder)
    del raw["num_key_value_heads"]
    _refused(raw, "'num_key_value_heads'", "missing")
    raw["num_key_value_heads"] = None                # null: transformers sets K = N for these
    assert _convert(raw).n_kv_heads == raw["num_attention_heads"]


def test_gemma2_needs_its_kv_heads_and_head_dim():
    for key in ("num_key_value_heads", "head_dim"):
        raw = _config("gemma-2-9b")
        del raw[key]
        _refused(raw, f"'{key}'", "missing")
        raw[key] = None
        _refused(raw, f"'{key}'", "null")


def test_head_dim_defaults_to_width_over_heads_only_where_transformers_derives_it():
    raw = _config("Meta-Llama-3-8B")
    raw["head_dim"] = None
    assert _convert(raw).head_dim == 128
    raw = _config("Qwen2-7B")                        # no head_dim key at all in the real file
    assert _convert(raw).head_dim == 3584 // 28
    raw = _config("Qwen3-8B")
    del raw["head_dim"]                              # transformers would use a constant 128
    _refused(raw, "'head_dim'", "missing")


def test_head_dim_cannot_be_derived_from_an_uneven_width():
    raw = _config("Meta-Llama-3-8B")
    raw["num_attention_heads"], raw["num_key_value_heads"] = 24, 8
    _refused(raw, "'head_dim'", "'hidden_size'")


def test_tie_defaults_follow_each_class():
    raw = _config("gemma-2-9b")
    assert "tie_word_embeddings" not in raw and _convert(raw).tie_embeddings is True
    raw["tie_word_embeddings"] = False
    assert _convert(raw).tie_embeddings is False
    raw = _config("Meta-Llama-3-8B")
    del raw["tie_word_embeddings"]
    assert _convert(raw).tie_embeddings is False


def test_biases_follow_each_class_code():
    raw = _config("Meta-Llama-3-8B")
    raw["attention_bias"], raw["mlp_bias"] = True, True
    card = _convert(raw)
    assert (card.qkv_bias, card.o_bias, card.mlp_bias) == (True, True, True)
    raw = _config("Qwen2-7B")
    for flag in (True, False):                       # Qwen2 ignores attention_bias: q, k, v always, o never
        raw["attention_bias"] = flag
        assert (_convert(raw).qkv_bias, _convert(raw).o_bias) == (True, False)
    raw = _config("Qwen3-8B")
    raw["attention_bias"] = True
    card = _convert(raw)
    assert (card.qkv_bias, card.o_bias, card.mlp_bias, card.qk_norm) == (True, True, False, True)


def test_name_prefers_name_or_path_then_folder_then_stem():
    raw = _config("Qwen3-8B")
    raw["_name_or_path"] = "Qwen/Qwen3-8B"
    assert _convert(raw).name == "Qwen/Qwen3-8B"
    del raw["_name_or_path"]
    assert model_from_hf_config(raw, "somewhere/qwen3.json").name == "qwen3"
    assert model_from_hf_config(raw, "hub/Qwen3-8B/config.json").name == "Qwen3-8B"


def test_gemma2_layer_pattern_becomes_block_types():
    raw = _config("gemma-2-9b")
    card = _convert(raw)                         # no layer_types: Gemma 2 alternates, sliding first
    assert card.sliding_window == 4096 and card.layers == (("sliding", 1), ("global", 1)) * 21
    raw["layer_types"] = ["sliding_attention", "full_attention"] * 21
    assert _convert(raw).layers == card.layers
    raw["layer_types"] = ["full_attention"] * 42
    assert _convert(raw).layers == (("layer", 42),) and _convert(raw).sliding_window == 0
    raw["layer_types"] = ["full_attention"] * 41
    _refused(raw, "'layer_types'", "42")


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("folder, change, words", [
    ("Meta-Llama-3-8B", {"architectures": ["RwkvForCausalLM"]}, ["'architectures'", "allowed: LlamaForCausalLM"]),
    ("Meta-Llama-3-8B", {"architectures": None}, ["missing key 'architectures'"]),
    ("Meta-Llama-3-8B", {"architectures": ["LlamaForCausalLM", "MistralForCausalLM"]}, ["'architectures'"]),
    ("Meta-Llama-3-8B", {"architectures": "LlamaForCausalLM"}, ["'architectures'", "exactly one"]),
    ("Meta-Llama-3-8B", {"hidden_size": None}, ["missing key 'hidden_size'"]),
    ("Meta-Llama-3-8B", {"vocab_size": None}, ["missing key 'vocab_size'"]),
    ("Meta-Llama-3-8B", {"hidden_size": 4096.0}, ["'hidden_size'", "positive integer"]),
    ("Meta-Llama-3-8B", {"hidden_size": "4096"}, ["'hidden_size'", "positive integer"]),
    ("Meta-Llama-3-8B", {"num_hidden_layers": 0}, ["'num_hidden_layers'", "positive integer"]),
    ("Meta-Llama-3-8B", {"intermediate_size": -1}, ["'intermediate_size'"]),
    ("Meta-Llama-3-8B", {"num_key_value_heads": 5}, ["'num_key_value_heads'", "'num_attention_heads'"]),
    ("Meta-Llama-3-8B", {"tie_word_embeddings": "false"}, ["'tie_word_embeddings'", "true or false"]),
    ("Meta-Llama-3-8B", {"attention_bias": None}, ["'attention_bias'", "true or false"]),
    ("Meta-Llama-3-8B", {"model_type": "mistral"}, ["'model_type'", "'llama'"]),
    ("Meta-Llama-3-8B", {"num_local_experts": 8}, ["'num_local_experts'", "Mixtral"]),
    ("Meta-Llama-3-8B", {"moe_intermediate_size": 1408}, ["'moe_intermediate_size'"]),
    ("Meta-Llama-3-8B", {"hidden_act": "relu"}, ["'hidden_act'", "silu"]),
    ("Meta-Llama-3-8B", {"hidden_act": 7}, ["'hidden_act'"]),
    ("Meta-Llama-3-8B", {"text_config": {}}, ["unknown key 'text_config'", "Allowed:"]),
    ("Meta-Llama-3-8B", {"sliding_window": 4096}, ["unknown key 'sliding_window'"]),
    ("Qwen2-7B", {"use_sliding_window": "yes"}, ["'use_sliding_window'", "true or false"]),
    ("Qwen2-7B", {"use_sliding_window": True, "max_window_layers": 20, "sliding_window": None}, ["'sliding_window'"]),
    ("Qwen2-7B", {"layer_types": ["full_attention"] * 27 + ["sliding_attention"]}, ["'layer_types'"]),
    ("Qwen2-7B", {"head_dim": None}, ["'head_dim'", "null"]),
    ("Qwen3-8B", {"num_experts": 128}, ["'num_experts'"]),
    ("Mixtral-8x7B-v0.1", {"num_local_experts": None}, ["missing key 'num_local_experts'"]),
    ("Mixtral-8x7B-v0.1", {"num_experts_per_tok": 9}, ["'num_experts_per_tok'", "'num_local_experts'"]),
    ("Mixtral-8x7B-v0.1", {"num_local_experts": 1}, ["'num_local_experts'", "at least 2"]),
    ("gemma-2-9b", {"hidden_activation": "relu"}, ["'hidden_activation'"]),
    ("gemma-2-9b", {"use_bidirectional_attention": True}, ["'use_bidirectional_attention'"]),
])
def test_refusals_name_the_key_and_what_is_allowed(folder, change, words):
    raw = copy.deepcopy(_config(folder))
    for key, value in change.items():
        if value is None and key in ("architectures", "hidden_size", "vocab_size", "num_local_experts"):
            del raw[key]
        else:
            raw[key] = value
    _refused(raw, *words)


def test_neutral_values_of_checked_keys_are_accepted():
    raw = _config("Qwen3-8B")
    raw.update(layer_types=["full_attention"] * 36, moe_intermediate_size=None, quantization_config=None)
    assert _convert(raw).n_layers == 36


def test_a_json_that_is_not_an_object_is_refused(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("[1, 2]")
    with pytest.raises(CardError, match="JSON object"):
        load_model(str(path))
    path.write_text('{"hidden_size": 4096,')
    with pytest.raises(CardError, match="not valid JSON"):
        load_model(str(path))


def test_a_json_path_that_is_no_file_is_one_line_and_never_read(tmp_path):
    """A missing file, a directory or a pipe named config.json: one line, no traceback; the pipe is
    never opened (reading it would wait for a writer forever)."""
    import os

    (tmp_path / "dir" / "config.json").mkdir(parents=True)
    os.mkfifo(tmp_path / "pipe.json")
    for name, message in (("missing.json", "cannot read: No such file"), ("dir/config.json", "not a regular file"),
                          ("pipe.json", "not a regular file")):
        with pytest.raises(CardError) as err:
            load_model(str(tmp_path / name))
        assert message in str(err.value) and "\n" not in str(err.value)
        assert type(err.value) is CardError


def test_a_json_key_given_twice_is_refused(tmp_path):
    path = tmp_path / "config.json"
    text = (DATA / "Meta-Llama-3-8B" / "config.json").read_text()
    path.write_text(text.replace('"vocab_size": 128256', '"vocab_size": 128256, "vocab_size": 32000'))
    with pytest.raises(CardError, match="'vocab_size' is given twice"):
        load_model(str(path))


def test_symroof_never_imports_transformers():
    import subprocess
    import sys

    code = "import sys, symroof.io.hf; print('transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=DATA.parents[2])
    assert out.stdout.strip() == "False"


# ----------------------------------------------------------------------------- against transformers


VARIANTS = [(folder, {}) for folder in EXPECTED] + [
    ("Llama-2-13b-hf", {"num_key_value_heads": "absent"}),
    ("Meta-Llama-3-8B", {"head_dim": None, "attention_bias": True, "mlp_bias": True}),
    # Not Mistral with num_key_value_heads null: transformers 4.x sets K = N, 5.x's strict typing refuses null.
    ("Mistral-7B-v0.1", {"head_dim": None}),
    ("Mixtral-8x7B-v0.1", {"head_dim": None}),
    ("Qwen2-7B", {"num_key_value_heads": None, "attention_bias": False}),
    ("Qwen3-8B", {"attention_bias": True}),
    ("gemma-2-9b", {"tie_word_embeddings": False, "attention_bias": True}),
]


@pytest.mark.validate
@pytest.mark.parametrize("folder, change", VARIANTS)
def test_cards_match_the_modules_transformers_builds(folder, change):
    """Build each model on the meta device (no memory) and compare its modules with the card."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    raw = _config(folder)
    for key, value in change.items():
        if value == "absent":
            del raw[key]
        else:
            raw[key] = value
    card = _convert(raw)
    config = transformers.AutoConfig.for_model(**{k: v for k, v in raw.items() if k != "architectures"})
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(config)
    layers = model.model.layers
    attn, layer = layers[0].self_attn, layers[0]
    assert len(layers) == card.n_layers
    assert (attn.q_proj.in_features, attn.q_proj.out_features) == (card.d_model, card.n_heads * card.head_dim)
    assert attn.k_proj.out_features == card.n_kv_heads * card.head_dim
    assert (attn.q_proj.bias is not None, attn.o_proj.bias is not None) == (card.qkv_bias, card.o_bias)
    assert hasattr(attn, "q_norm") == card.qk_norm
    norms = [name for name, module in layer.named_children() if "norm" in name]
    assert len(norms) == card.norms_per_layer
    assert model.lm_head.out_features == card.vocab
    tied = model.lm_head.weight is model.model.embed_tokens.weight
    assert tied == card.tie_embeddings
    # End to end: the engine's parameter count from the imported card equals transformers'.
    assert symroof.count(card).params_total == sum(p.numel() for p in model.parameters())
    if card.is_moe:
        assert layer.mlp.experts.num_experts == card.n_experts
        assert layer.mlp.gate.top_k == card.experts_per_token
    else:
        assert (layer.mlp.up_proj.out_features, layer.mlp.up_proj.bias is not None) == (card.d_ff, card.mlp_bias)


# ----------------------------------------------------------------------------- the architectures beyond LLaMA


def _small(hf_class: str, model_type: str, **keys) -> dict:
    """A small config; a key given as None is left out, one given as "null" is written as null."""
    raw = {"architectures": [hf_class], "model_type": model_type, "num_hidden_layers": 4, "hidden_size": 32,
           "intermediate_size": 48, "num_attention_heads": 4, "vocab_size": 64}
    raw.update(keys)
    return {k: (None if v == "null" else v) for k, v in raw.items() if v is not None}


def test_gpt2_reads_its_own_spelling_and_defaults():
    raw = _small("GPT2LMHeadModel", "gpt2", num_hidden_layers=None, hidden_size=None, intermediate_size=None,
                 num_attention_heads=None, n_layer=3, n_embd=32, n_head=4, n_positions=40)
    card = _convert(raw)
    assert (card.n_layers, card.d_model, card.d_ff, card.head_dim, card.max_positions) == (3, 32, 128, 8, 40)
    assert (card.tie_embeddings, card.qkv_bias, card.o_bias, card.mlp_bias) == (True, True, True, True)
    assert (card.mlp, card.norm, card.positions, card.fused_qkv) == ("plain", "layer", "learned", True)
    del raw["n_positions"]
    _refused(raw, "missing key 'n_positions'")


def test_gpt_neox_defaults_follow_its_config_class():
    card = _convert(_small("GPTNeoXForCausalLM", "gpt_neox", hidden_act="gelu"))
    assert (card.qkv_bias, card.o_bias, card.mlp_bias, card.parallel_residual) == (True, True, True, True)
    assert card.rotary_pct == Fraction(1, 4) and card.n_kv_heads == 4
    card = _convert(_small("GPTNeoXForCausalLM", "gpt_neox", attention_bias=False, use_parallel_residual=False,
                           rope_parameters={"rope_theta": 10000.0, "partial_rotary_factor": 0.5}))
    assert (card.qkv_bias, card.parallel_residual, card.rotary_pct) == (False, False, Fraction(1, 2))
    _refused(_small("GPTNeoXForCausalLM", "gpt_neox", hidden_act="swiglu"), "'hidden_act'", "plain")


def test_deepseek_layers_experts_and_mla():
    mla = dict(num_key_value_heads=4, kv_lora_rank=16, q_lora_rank="null", qk_nope_head_dim=8, qk_rope_head_dim=4, v_head_dim=6,
               n_routed_experts=4, num_experts_per_tok=2, moe_intermediate_size=12, n_shared_experts=2)
    v3 = _convert(_small("DeepseekV3ForCausalLM", "deepseek_v3", first_k_dense_replace=1, **mla))
    assert v3.layers == (("dense", 1), ("moe", 3)) and (v3.d_ff_expert, v3.d_ff_shared) == (12, 24)
    assert (v3.attention, v3.q_lora_rank, v3.head_dim, v3.rope_head_dim, v3.v_head_dim) == ("mla", 0, 8, 4, 6)
    assert "num_nextn_predict_layers" in " ".join(v3.left_out)           # what is left out is said
    # ... and printed with the count (it was only in the card's source, which count never shows)
    from symroof.io.bind import count

    assert any(n.startswith("not modelled: multi-token-prediction layers (num_nextn_predict_layers)")
               for n in count(v3, 1, 16).notes)
    assert _convert(_small("DeepseekV3ForCausalLM", "deepseek_v3", first_k_dense_replace=1,
                           **{**mla, "q_lora_rank": 8})).q_lora_rank == 8
    _refused(_small("DeepseekV3ForCausalLM", "deepseek_v3", first_k_dense_replace=1, **{**mla, "q_lora_rank": None}),
             "'q_lora_rank'")                                               # absent: a reference model's 1536
    _refused(_small("DeepseekV3ForCausalLM", "deepseek_v3", **mla), "missing key 'first_k_dense_replace'")
    v2 = _convert(_small("DeepseekV2ForCausalLM", "deepseek_v2", **mla))   # V2: 0 dense layers by default
    assert v2.layers == (("layer", 4),) and v2.is_moe
    dense = _convert(_small("DeepseekV2ForCausalLM", "deepseek_v2", first_k_dense_replace=4, **mla))
    assert not dense.is_moe and dense.d_ff_shared == 0                      # no MoE layer: no experts built
    _refused(_small("DeepseekV3ForCausalLM", "deepseek_v3", first_k_dense_replace=1, **{**mla, "num_key_value_heads": 2}),
             "'num_key_value_heads'", "MLA")
    _refused(_small("DeepseekV3ForCausalLM", "deepseek_v3", first_k_dense_replace=1, moe_layer_freq=2, **mla),
             "'moe_layer_freq'")


def test_qwen3_moe_places_its_experts():
    keys = dict(num_key_value_heads=2, head_dim=8, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=8)
    card = _convert(_small("Qwen3MoeForCausalLM", "qwen3_moe", decoder_sparse_step=2, mlp_only_layers=[3], **keys))
    assert card.layers == (("dense", 1), ("moe", 1), ("dense", 2))         # layer i MoE iff (i+1) % 2 == 0
    _refused(_small("Qwen3MoeForCausalLM", "qwen3_moe", **{**keys, "num_key_value_heads": None}),
             "'num_key_value_heads'")


def test_gemma3_pattern_and_phi3_window():
    keys = dict(num_key_value_heads=2, head_dim=8, sliding_window=16)
    card = _convert(_small("Gemma3ForCausalLM", "gemma3_text", sliding_window_pattern=2, **keys))
    assert card.layers == (("sliding", 1), ("global", 1)) * 2 and card.norms_per_layer == 4 and card.qk_norm
    _refused(_small("Gemma3ForCausalLM", "gemma3_text", layer_types=["sliding_attention"] * 3, **keys),
             "'layer_types'", "4 entries")
    phi = _convert(_small("Phi3ForCausalLM", "phi3", sliding_window=7))
    assert phi.layers == (("layer", 4),) and phi.blocks["layer"].attention == "sliding" and phi.sliding_window == 7
    assert phi.fused_qkv and phi.fused_gate_up
    olmo = _convert(_small("Olmo2ForCausalLM", "olmo2", attention_bias=True))
    assert (olmo.norm_placement, olmo.qk_norm_width, olmo.qkv_bias, olmo.o_bias) == ("post", "all", True, True)


def test_mistral_window_is_read_not_dropped():
    card = load_model(str(DATA / "Mistral-7B-v0.1" / "config.json"))
    assert card.sliding_window == 4096 and card.layers == (("layer", 32),)
    assert card.blocks["layer"].attention == "sliding"


def test_mistral_needs_its_window_key():
    """MistralConfig's sliding_window defaults to 4096, Mistral 7B's: a file without it is refused, null is none
    (tests/validate/test_sliding_window.py checks both against transformers)."""
    raw = _config("Mistral-7B-v0.1")
    del raw["sliding_window"]
    _refused(raw, "missing key 'sliding_window'", "4096", "null for no window")
    assert _convert({**raw, "sliding_window": None}).layers == (("layer", 32),)
    assert _convert({**raw, "sliding_window": None}).sliding_window == 0


def test_a_window_longer_than_the_context_counts_as_global_and_is_said(tmp_path):
    """Phi-3.5-mini and Phi-4-mini publish a 262144-key window over 131072 positions; transformers builds
    them. Mistral 7B with its window set past its context counts, at any sequence it takes, as Mistral
    7B without a window, and the output says the window covers the sequence."""
    import json as _json
    from pathlib import Path as _Path

    from symroof.io.bind import count as _count
    from symroof.io.catalog import load_model as _load

    raw = _json.loads((_Path(__file__).parent / "data" / "hf" / "Mistral-7B-v0.1" / "config.json").read_text())
    paths = []
    for name, window in (("long", 65536), ("none", None)):
        path = tmp_path / name / "config.json"
        path.parent.mkdir()
        path.write_text(_json.dumps({**raw, "sliding_window": window}))
        paths.append(path)
    long, none = (_count(_load(str(p)), 1, 32768) for p in paths)
    assert (long.params_total, long.flops_forward, long.flops_backward) == \
        (none.params_total, none.flops_forward, none.flops_backward)
    assert any("count as global layers" in n for n in long.notes)


def test_a_config_of_a_trillion_layers_is_refused_before_its_layers_are_listed():
    """Found by fuzzing: Mistral's and Gemma 2's layouts list every layer, so 10^12 layers ran out of
    memory (after a minute for Gemma 2); the layer count is checked first. 10^5 layers still convert."""
    raw = _config("Mistral-7B-v0.1")
    _refused({**raw, "num_hidden_layers": 10**12}, "'num_hidden_layers'", "at most 1000000 layers")
    assert _convert({**raw, "num_hidden_layers": 10**5}).n_layers == 10**5


# ----------------------------------------------------------------------------- Qwen layer keys (audit at 3556ddf)

_MOE = dict(num_key_value_heads=2, head_dim=8, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=8)


@pytest.mark.parametrize("value, words", [
    (0, ["got 0"]), (False, ["got False"]), ("", ["got ''"]), ({"0": 1}, ["got {'0': 1}"]),    # were read as []
    ([4], ["lists 4"]), ([-1], ["lists -1"]), ([10**20], ["lists 100000000000000000000"]),     # were dropped
    ([1, 1], ["layer 1 twice"]), ([1.0], ["lists 1.0"]), ([True], ["lists True"]), (["1"], ["lists '1'"]),
])
def test_qwen3_moe_mlp_only_layers_must_be_distinct_layer_indices(value, words):
    _refused(_small("Qwen3MoeForCausalLM", "qwen3_moe", mlp_only_layers=value, **_MOE),
             "'mlp_only_layers'", "distinct integer layer indices from 0 to 3", *words)
    for given in ("null", None):                    # null or absent: none (transformers: [])
        assert _convert(_small("Qwen3MoeForCausalLM", "qwen3_moe", mlp_only_layers=given, **_MOE)).layers == \
            (("layer", 4),)


def test_qwen3_moe_reads_a_long_mlp_only_layers_as_a_set():
    """Found by the audit: a list membership test per layer was quadratic (40k layers with 20k listed:
    ~10 s). The indices are read into a set (speed is the benchmarks' to measure, not a test's)."""
    from symroof.io.hf_layouts import _layer_indices

    raw = _small("Qwen3MoeForCausalLM", "qwen3_moe", num_hidden_layers=40_000, mlp_only_layers=list(range(20_000)),
                 **_MOE)
    assert isinstance(_layer_indices(raw, "mlp_only_layers", 40_000, "c"), (set, frozenset))
    assert _convert(raw).layers == (("dense", 20_000), ("moe", 20_000))


_QWENS = [("Qwen2ForCausalLM", "qwen2", dict(num_key_value_heads=2)), ("Qwen3ForCausalLM", "qwen3", dict(num_key_value_heads=2, head_dim=8)),
          ("Qwen3MoeForCausalLM", "qwen3_moe", _MOE)]


@pytest.mark.parametrize("hf_class, model_type, keys", _QWENS)
@pytest.mark.parametrize("key, value, allowed", [
    ("max_window_layers", "abc", "integer >= 0"), ("max_window_layers", -1, "integer >= 0"),
    ("max_window_layers", 2.5, "integer >= 0"), ("sliding_window", "garbage", "integer >= 1"),
    ("sliding_window", 0, "integer >= 1"), ("sliding_window", True, "integer >= 1"),
])
def test_window_keys_are_checked_when_the_window_is_off(hf_class, model_type, keys, key, value, allowed):
    """use_sliding_window false (or absent): transformers sets the window to None, so no layer slides;
    the keys it leaves unused were passed over whatever they held."""
    for switch in (False, None):
        raw = _small(hf_class, model_type, use_sliding_window=switch, **keys)
        card = _convert({**raw, "sliding_window": 3, "max_window_layers": 1})
        assert card.sliding_window == 0 and card.layers == (("layer", 4),)
        _refused({**raw, key: value}, f"'{key}'", allowed)


def test_qwen2_window_off_in_the_real_config():
    raw = _config("Qwen2-7B")                         # use_sliding_window: false, sliding_window: 131072
    card = _convert(raw)
    assert card.sliding_window == 0 and {t.attention for t in card.blocks.values()} == {"global"}
    _refused({**raw, "sliding_window": "garbage"}, "'sliding_window'", "integer >= 1")


@pytest.mark.parametrize("hf_class, model_type, keys", _QWENS[:2])
def test_qwen_window_needs_max_window_layers(hf_class, model_type, keys):
    """transformers' default is 28, Qwen's constant; symroof read an absent key as 0 (every layer sliding)."""
    raw = _small(hf_class, model_type, use_sliding_window=True, sliding_window=3, **keys)
    for absent in ({}, {"max_window_layers": None}):
        _refused({**raw, **absent}, "missing key 'max_window_layers'", "28", "integer >= 0")
    assert _convert({**raw, "max_window_layers": 2}).layers == (("global", 2), ("sliding", 2))
    assert _convert({**raw, "max_window_layers": 4}).sliding_window == 0     # no layer reaches it
    _refused({**raw, "max_window_layers": 4, "sliding_window": "x"}, "'sliding_window'")


def test_qwen3_moe_names_the_max_window_layers_it_does_not_read():
    """transformers' Qwen3-MoE slides every layer when use_sliding_window is true (no max_window_layers
    in its code), where Qwen2 and Qwen3 keep the layers below it global: the card says it is not read."""
    raw = _small("Qwen3MoeForCausalLM", "qwen3_moe", use_sliding_window=True, sliding_window=3, **_MOE)
    card = _convert({**raw, "max_window_layers": 2})
    assert card.blocks["layer"].attention == "sliding" and card.sliding_window == 3
    assert "max_window_layers (2) not read" in " ".join(card.left_out) and "slides all 4 layers" in " ".join(card.left_out)
    assert _convert({**raw, "max_window_layers": 0}).source == "test/config.json (Qwen3MoeForCausalLM)"
    assert _convert(raw).source == "test/config.json (Qwen3MoeForCausalLM)"
    _refused({**raw, "max_window_layers": "abc"}, "'max_window_layers'", "integer >= 0")


@pytest.mark.validate
def test_qwen3_moe_ignores_max_window_layers_in_transformers_too():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    raw = _small("Qwen3MoeForCausalLM", "qwen3_moe", use_sliding_window=True, sliding_window=3, max_window_layers=2,
                 **_MOE)
    config = transformers.AutoConfig.for_model(**{k: v for k, v in raw.items() if k != "architectures"})
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(config)
    assert [layer.self_attn.sliding_window for layer in model.model.layers] == [3] * 4
    card = _convert(raw)
    assert [card.blocks[name].attention for name, n in card.layers for _ in range(n)] == ["sliding"] * 4
    assert "max_window_layers (2) not read" in " ".join(card.left_out)


@pytest.mark.parametrize("hf_class, model_type, keys, words", [
    ("Gemma2ForCausalLM", "gemma2", dict(num_key_value_heads=2, head_dim=8, sliding_window=3),
     ["key 'num_hidden_layers' (10000)", "10000 runs"]),                       # Gemma 2 alternates by itself
    ("Gemma3ForCausalLM", "gemma3_text", dict(num_key_value_heads=2, head_dim=8, sliding_window=3,
                                               layer_types=["sliding_attention", "full_attention"] * 5000),
     ["key 'layer_types' over 'num_hidden_layers' (10000)"]),
    ("Gemma3ForCausalLM", "gemma3_text", dict(num_key_value_heads=2, head_dim=8, sliding_window=3,
                                               sliding_window_pattern=2), ["key 'sliding_window_pattern'"]),
    ("Qwen3MoeForCausalLM", "qwen3_moe", dict(mlp_only_layers=list(range(0, 10000, 2)), **_MOE),
     ["key 'mlp_only_layers' over 'num_hidden_layers' (10000)"]),
    ("Qwen3MoeForCausalLM", "qwen3_moe", dict(decoder_sparse_step=2, mlp_only_layers=[0], **_MOE),
     ["keys 'mlp_only_layers' and 'decoder_sparse_step'"]),
])
def test_too_many_layer_runs_name_the_config_key(hf_class, model_type, keys, words):
    """Found by the audit: the refusal named the card's key 'layers', which is not in a config.json."""
    message = _refused(_small(hf_class, model_type, num_hidden_layers=10000, **keys), "at most 4096", *words)
    assert "'layers'" not in message


def test_published_deepseek_v3_loads_as_transformers_class_with_its_code_and_format_named():
    """DeepSeek-V3's published file (auto_map, fp8 quantization_config) was refused; its count is
    transformers' own DeepseekV3ForCausalLM's, 671,026,404,352 (tests/validate checks it against
    transformers; DeepSeek's report gives 671B total, 37B activated)."""
    card = load_model(str(DATA / "DeepSeek-V3" / "config.json"))
    from symroof.io.bind import count

    c = count(card, 1, 4096)
    assert c.params_total == 671_026_404_352 and round(c.params_active / 1e9) == 38
    notes = "\n".join(card.left_out)
    assert "auto_map: the checkpoint's own modelling code (modeling_deepseek.DeepseekV3ForCausalLM) is not read" in notes
    assert "quantization_config: the checkpoint's stored weight format (fp8)" in notes


@pytest.mark.parametrize("change, words", [
    ({"auto_map": [1, 2]}, ["'auto_map' must be a mapping or null"]),
    ({"auto_map": "x"}, ["'auto_map' must be a mapping or null"]),
    ({"quantization_config": 3}, ["'quantization_config' must be a mapping or null"]),
    ({"attention_dropout": "0.1"}, ["'attention_dropout' must be a dropout probability"]),
    ({"attention_dropout": float("nan")}, ["'attention_dropout' must be a dropout probability"]),
    ({"attention_dropout": -0.1}, ["'attention_dropout' must be a dropout probability"]),
])
def test_odd_values_of_noted_keys_are_refused_by_name(change, words):
    _refused({**_config("Meta-Llama-3-8B"), **change}, *words)


@pytest.mark.parametrize("cap", ["x", -1.0, float("inf"), True, [50]])
def test_a_soft_cap_that_is_no_positive_number_is_refused(cap):
    _refused({**_config("gemma-2-9b"), "attn_logit_softcapping": cap}, "'attn_logit_softcapping' must be a positive number")


def test_text_from_a_config_reaches_the_notes_only_as_a_plain_name():
    """An auto_map class or quant_method with a newline or an escape sequence is not printed."""
    card = _convert({**_config("Meta-Llama-3-8B"), "auto_map": {"AutoModelForCausalLM": "x.Y\n\x1b[31mfake"},
                     "quantization_config": {"quant_method": "a" * 10**6}})
    notes = "\n".join(card.left_out)
    assert "\x1b" not in notes and "fake" not in notes and len(notes) < 1000
    assert notes.count("\n") == 1          # two notes, one line each


def test_phi4_mini_head_bias_is_read_only_when_false():
    raw = json.loads((DATA / "Phi-4-mini-instruct" / "config.json").read_text())
    assert _convert(dict(raw)).n_layers == 32
    _refused({**raw, "lm_head_bias": True}, "'lm_head_bias'", "false")


@pytest.mark.parametrize("given, name", [("org/model-1.5", "org/model-1.5"), ("/root/fm/x", "config-dir"),
                                         ("a\nb", "config-dir"), ("../x", "config-dir"), ("a/b/c", "config-dir")])
def test_only_a_hub_id_names_the_model(tmp_path, given, name):
    path = tmp_path / "config-dir" / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps({**_config("Meta-Llama-3-8B"), "_name_or_path": given}))
    assert load_model(str(path)).name == name


def test_gpt2_dropout_absent_from_a_config_is_transformers_default_and_named():
    """GPT2Config defaults attn_pdrop, resid_pdrop and embd_pdrop to 0.1: a file without them trains
    with dropout all the same, and the shipped GPT-2 cards say so as the import does."""
    raw = {k: v for k, v in _config("gpt2-medium").items() if not k.endswith("_pdrop")}
    note = "dropout (attn_pdrop 0.1, resid_pdrop 0.1, embd_pdrop 0.1): counted as training without dropout masks"
    assert note in _convert(raw).left_out and note in load_model("gpt2-124m").left_out
    assert not any("dropout" in n for n in _convert({**raw, "attn_pdrop": 0, "resid_pdrop": 0, "embd_pdrop": 0}).left_out)


def test_a_size_past_the_range_is_refused_by_the_files_own_key():
    """A 10^13-wide MLP is refused naming intermediate_size (it used to name the card's d_ff) and its range; a
    Mamba config's 10^13-wide state names the range beside the minimum (hf_layouts._int)."""
    _refused({**_config("Meta-Llama-3-8B"), "intermediate_size": 10 ** 13},
             "key 'intermediate_size' is out of range (at most 10^12)")
    _refused({**_config("Meta-Llama-3-8B"), "intermediate_size": 0}, "'intermediate_size' must be a positive integer")
    _refused({**_config("mamba-130m-hf"), "state_size": 10 ** 13},
             "key 'state_size' must be an integer >= 1 and at most 10^12")
