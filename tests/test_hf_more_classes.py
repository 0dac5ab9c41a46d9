"""config.json import of Gemma (1), Qwen2-MoE, gpt-oss, Granite, Llama 4 and GLM-4.5: defaults, layer placement, refusals.

The exact checks against transformers (parameters, FLOPs, prefill and decode) are in
tests/validate/test_blocks_vs_transformers.py, test_hf_llama4_glm.py and test_hf_params.py; here, what
each class reads, what it requires, and the published models' totals as their model cards round them.
"""

import json
from pathlib import Path

import pytest

from symroof.io.bind import count
from symroof.io.hf import model_from_hf_config
from test_hf import _convert, _refused   # one config, read and refused the same way

SHAPES = json.loads((Path(__file__).resolve().parent / "data" / "published_shapes.json").read_text())




def _small(hf_class: str, model_type: str, **keys) -> dict:
    """A small config; a key given as None is left out, one given as "null" is written as null."""
    raw = {"architectures": [hf_class], "model_type": model_type, "num_hidden_layers": 4, "hidden_size": 32,
           "intermediate_size": 48, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 64}
    raw.update(keys)
    return {k: (None if v == "null" else v) for k, v in raw.items() if v is not None}


def refusals(cases, make=None):
    """A test that each config of ``cases`` is refused naming all its words: ``make(**change)`` for each
    ``(change, words)``, or for each ``(make, change, words)`` where ``make`` is not given."""
    if make is None:
        @pytest.mark.parametrize("make, change, words", cases)
        def test(make, change, words):
            _refused(make(**change), *words)
    else:
        @pytest.mark.parametrize("change, words", cases)
        def test(change, words):
            _refused(make(**change), *words)
    return test


# ----------------------------------------------------------------------------- published models

#   model                total params    active (one token)  as the model card rounds them
PUBLISHED = {
    "gemma-7b":          (8_537_680_896, None),        # "8.54B"
    "gemma-2b":          (2_506_172_416, None),        # "2.51B"
    "Qwen1.5-MoE-A2.7B": (14_315_784_192, 2.7),        # "14.3B in total, 2.7B activated"
    "gpt-oss-20b":       (20_914_757_184, 3.6),        # "21B (20.9B) total, 3.6B active"
    "gpt-oss-120b":      (116_829_156_672, 5.1),       # "117B (116.8B) total, 5.1B active"
    "Llama-4-Scout-17B-16E":     (107_769_861_120, 17),   # "17B active, 109B total" (the total with vision)
    "Llama-4-Maverick-17B-128E": (400_711_848_960, 17),   # "17B active, 400B total"
}


@pytest.mark.parametrize("name", PUBLISHED)
def test_published_models_count_as_their_cards_say(name):
    """Totals are transformers' own (tests/validate/test_hf_params.py builds each on the meta device);
    the model cards round them. gpt-oss's active count leaves the embedding table out (a lookup, no matmul)."""
    raw = {k: v for k, v in SHAPES[name].items() if k != "_source"}
    card = model_from_hf_config(raw, f"{name}/config.json")
    c = count(card, 1, 4096)
    total, active = PUBLISHED[name]
    assert c.params_total == total
    assert round(total / 1e9, 1) == {"gemma-7b": 8.5, "gemma-2b": 2.5, "Qwen1.5-MoE-A2.7B": 14.3,
                                     "gpt-oss-20b": 20.9, "gpt-oss-120b": 116.8, "Llama-4-Scout-17B-16E": 107.8,
                                     "Llama-4-Maverick-17B-128E": 400.7}[name]
    if name.startswith("Llama-4"):       # Meta's figures count whole billions
        assert round(c.params_active / 1e9) == active
    elif name.startswith("gpt-oss"):
        assert round((c.params_active - c.params_by_group["embedding"]) / 1e9, 1) == active
        assert any("quantization_config" in note and "mxfp4" in note for note in card.left_out)
    elif active:
        assert round(c.params_active / 1e9, 1) == active


# ----------------------------------------------------------------------------- Gemma


def test_gemma_reads_the_llama_layer_with_its_own_defaults():
    raw = _small("GemmaForCausalLM", "gemma", head_dim=16, hidden_act="gelu", hidden_activation="null")
    card = _convert(raw)
    assert (card.architecture, card.head_dim, card.tie_embeddings, card.norms_per_layer) == ("gemma", 16, True, 2)
    assert (card.qkv_bias, card.o_bias, card.mlp_bias, card.qk_norm, card.mlp) == (False, False, False, False, "gated")
    card = _convert({**raw, "attention_bias": True, "tie_word_embeddings": False})
    assert (card.qkv_bias, card.o_bias, card.tie_embeddings) == (True, True, False)


@pytest.mark.parametrize("key", ["head_dim", "num_key_value_heads"])
def test_gemma_needs_its_kv_heads_and_head_dim(key):
    """transformers falls back to gemma-7b's 256 and 16: constants of a reference model."""
    raw = _small("GemmaForCausalLM", "gemma", head_dim=16)
    _refused({k: v for k, v in raw.items() if k != key}, f"'{key}'", "missing")
    _refused({**raw, key: None}, f"'{key}'", "null")


@pytest.mark.parametrize("change, words", [
    ({"mlp_bias": True}, ["unknown key 'mlp_bias'"]),                    # GemmaConfig has none
    ({"hidden_act": "relu"}, ["'hidden_act'", "gated"]),
    ({"sliding_window": 8}, ["unknown key 'sliding_window'"]),
    ({"model_type": "gemma2"}, ["'model_type'", "'gemma'"]),
])
def test_gemma_refusals(change, words):
    _refused({**_small("GemmaForCausalLM", "gemma", head_dim=16), **change}, *words)


# ----------------------------------------------------------------------------- Qwen2-MoE

_QMOE = dict(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=8, shared_expert_intermediate_size=24)


def test_qwen2_moe_places_experts_and_gates_its_shared_expert():
    card = _convert(_small("Qwen2MoeForCausalLM", "qwen2_moe", decoder_sparse_step=2, mlp_only_layers=[3], **_QMOE))
    assert card.layers == (("dense", 1), ("moe", 1), ("dense", 2))
    assert (card.d_ff, card.d_ff_expert, card.d_ff_shared, card.shared_expert_gate) == (48, 8, 24, True)
    assert (card.qkv_bias, card.o_bias, card.head_dim) == (True, False, 8)        # qkv_bias defaults to true
    card = _convert(_small("Qwen2MoeForCausalLM", "qwen2_moe", qkv_bias=False, head_dim=12, **_QMOE))
    assert (card.qkv_bias, card.head_dim, card.layers) == (False, 12, (("layer", 4),))
    dense = _convert(_small("Qwen2MoeForCausalLM", "qwen2_moe", mlp_only_layers=[0, 1, 2, 3], **_QMOE))
    assert not dense.is_moe and (dense.d_ff_shared, dense.shared_expert_gate) == (0, False)


def test_qwen2_moe_slides_even_layers_below_max_window_layers():
    """transformers 5.x's layer_types default: sliding iff use_sliding_window, i < max_window_layers, i even."""
    raw = _small("Qwen2MoeForCausalLM", "qwen2_moe", use_sliding_window=True, sliding_window=5, **_QMOE)
    card = _convert({**raw, "max_window_layers": 3})
    assert card.layers == (("sliding", 1), ("global", 1), ("sliding", 1), ("global", 1)) and card.sliding_window == 5
    listed = _convert({**raw, "layer_types": ["full_attention"] * 3 + ["sliding_attention"]})
    assert listed.layers == (("global", 3), ("sliding", 1))
    off = _convert({**raw, "use_sliding_window": False, "max_window_layers": 3})
    assert off.sliding_window == 0 and off.layers == (("layer", 4),)
    _refused({**raw, "max_window_layers": None}, "missing key 'max_window_layers'", "28")
    _refused({**raw, "max_window_layers": 3, "sliding_window": None}, "'sliding_window'")
    _refused({**raw, "use_sliding_window": False, "layer_types": ["sliding_attention"] * 4},
             "'layer_types'", "use_sliding_window false")


@pytest.mark.parametrize("change, words", [
    ({"num_key_value_heads": None}, ["'num_key_value_heads' is missing"]),        # transformers: 16
    ({"num_key_value_heads": "null"}, ["'num_key_value_heads'", "null"]),
    ({"head_dim": "null"}, ["'head_dim'", "null"]),
    ({"moe_intermediate_size": None}, ["missing key 'moe_intermediate_size'"]),    # transformers: 1408
    ({"shared_expert_intermediate_size": None}, ["missing key 'shared_expert_intermediate_size'"]),
    ({"shared_expert_intermediate_size": 0}, ["'shared_expert_intermediate_size'", "integer >= 1"]),
    ({"num_experts": None}, ["missing key 'num_experts'"]),                        # transformers: 60
    ({"num_experts": 1}, ["'num_experts'", "at least 2"]),
    ({"num_experts_per_tok": 5}, ["'num_experts_per_tok'", "'num_experts'"]),
    ({"decoder_sparse_step": 0}, ["'decoder_sparse_step'"]),
    ({"mlp_only_layers": [4]}, ["'mlp_only_layers'", "lists 4"]),
    ({"qkv_bias": "yes"}, ["'qkv_bias'", "true or false"]),
    ({"attention_bias": True}, ["unknown key 'attention_bias'"]),                  # not read by this class
    ({"num_local_experts": 4}, ["'num_local_experts'"]),
])
def test_qwen2_moe_refusals(change, words):
    _refused(_small("Qwen2MoeForCausalLM", "qwen2_moe", **{**_QMOE, **change}), *words)


# ----------------------------------------------------------------------------- gpt-oss

_OSS = dict(num_local_experts=4, num_experts_per_tok=2, head_dim=8, sliding_window=6)


def test_gpt_oss_layers_biases_and_sinks():
    card = _convert(_small("GptOssForCausalLM", "gpt_oss", **_OSS))
    assert card.layers == (("sliding", 1), ("global", 1)) * 2 and card.sliding_window == 6   # even layers slide
    assert (card.qkv_bias, card.o_bias, card.attention_sinks, card.moe_bias, card.n_experts) == (True,) * 4 + (4,)
    # per layer (D 32, N 4, K 2, H 8): q 32x32 + 32, k and v 32x16 + 16, o 32x32 + 32, sinks 4
    assert count(card, 1, 8).params_by_group["attention"] == 4 * (1056 + 528 + 528 + 1056 + 4)
    # router 32x4 + 4; experts: gate and up 4x32x48 + 4x48 each, down 4x48x32 + 4x32
    assert count(card, 1, 8).params_by_group["mlp"] == 4 * (132 + 2 * (6144 + 192) + 6144 + 128)
    plain = _convert(_small("GptOssForCausalLM", "gpt_oss", attention_bias=False,
                            layer_types=["full_attention"] * 4, **{**_OSS, "sliding_window": "null"}))
    assert (plain.qkv_bias, plain.o_bias, plain.sliding_window, plain.layers) == (False, False, 0, (("layer", 4),))
    assert count(plain, 1, 8).params_by_group["attention"] == 4 * (1024 + 512 + 512 + 1024 + 4)
    assert _convert(_small("GptOssForCausalLM", "gpt_oss", num_experts=4,
                           **{k: v for k, v in _OSS.items() if k != "num_local_experts"})).n_experts == 4


@pytest.mark.parametrize("change, words", [
    ({"sliding_window": None}, ["missing key 'sliding_window'"]),                   # transformers: 128
    ({"num_key_value_heads": None}, ["'num_key_value_heads' is missing"]),         # transformers: 8
    ({"head_dim": None}, ["'head_dim' is missing"]),                               # transformers: 64
    ({"num_local_experts": None}, ["missing key 'num_local_experts'"]),             # transformers: 128
    ({"num_experts": 8}, ["'num_local_experts'", "'num_experts'", "disagree"]),
    ({"layer_types": ["sliding_attention"] * 3}, ["'layer_types'", "4 entries"]),
    ({"mlp_bias": True}, ["unknown key 'mlp_bias'"]),
])
def test_gpt_oss_refusals(change, words):
    _refused(_small("GptOssForCausalLM", "gpt_oss", **{**_OSS, **change}), *words)


def test_gpt_oss_null_sizes_follow_its_post_init():
    """A null K or head_dim is N or D // N (transformers 4.x, and 5.x's __post_init__)."""
    card = _convert(_small("GptOssForCausalLM", "gpt_oss", **{**_OSS, "num_key_value_heads": "null",
                                                               "head_dim": "null"}))
    assert (card.n_kv_heads, card.head_dim) == (4, 8)


# ----------------------------------------------------------------------------- Granite


def test_granite_reads_the_llama_layer_and_names_its_multipliers():
    raw = _small("GraniteForCausalLM", "granite", num_key_value_heads=None, attention_bias=True, mlp_bias=True)
    card = _convert(raw)
    assert (card.architecture, card.n_kv_heads, card.head_dim, card.tie_embeddings) == ("granite", 4, 8, False)
    assert (card.qkv_bias, card.o_bias, card.mlp_bias) == (True, True, True) and card.left_out == ()
    card = _convert({**raw, "embedding_multiplier": 12.0, "residual_multiplier": 0.22, "logits_scaling": 16.0,
                     "attention_multiplier": 0.0078125, "head_dim": 12})
    assert card.head_dim == 12
    assert card.left_out == ("scalar multipliers (embedding_multiplier 12.0, residual_multiplier 0.22, "
                             "logits_scaling 16.0): their elementwise ops on the embeddings, residual branches "
                             "and logits are not counted",)


@pytest.mark.parametrize("change, words", [
    ({"embedding_multiplier": 0}, ["'embedding_multiplier' must be a positive number"]),
    ({"logits_scaling": "16"}, ["'logits_scaling' must be a positive number"]),
    ({"residual_multiplier": float("nan")}, ["'residual_multiplier' must be a positive number"]),
    ({"head_dim": "null"}, ["'head_dim'", "null"]),
    ({"sliding_window": 8}, ["unknown key 'sliding_window'"]),
])
def test_granite_refusals(change, words):
    _refused({**_small("GraniteForCausalLM", "granite"), **change}, *words)


# ----------------------------------------------------------------------------- Llama 4

_L4 = dict(intermediate_size=16, intermediate_size_mlp=40, head_dim=8, num_local_experts=4, num_experts_per_tok=1,
           attention_chunk_size=6)


def test_llama4_interleaves_dense_and_moe_layers_and_chunks_its_rope_layers():
    """Every second layer MoE (from layer 1); layers 3, 7, ... NoPE and global, the rest chunked."""
    card = _convert(_small("Llama4ForCausalLM", "llama4_text", interleave_moe_layer_step=2, **_L4))
    assert card.layers == (("chunked_dense", 1), ("chunked_moe", 1), ("chunked_dense", 1), ("global_moe", 1))
    assert (card.d_ff, card.d_ff_expert, card.d_ff_shared, card.shared_expert_gate) == (40, 16, 16, False)
    assert (card.attention_chunk, card.sliding_window, card.n_experts, card.qk_norm, card.qkv_bias, card.o_bias) == \
        (6, 0, 4, False, False, False)
    weightless, experts = card.left_out          # chunked attention is modelled: no note of it
    assert experts.startswith("experts counted as routed (k of E per token); transformers' Llama4TextMoe runs every")
    assert weightless == ("weightless elementwise attention ops not counted as such: an L2 norm of q and k on the 3 "
                          "RoPE layers (use_qk_norm); attention-temperature scaling of q on the 1 NoPE layers "
                          "(attn_temperature_tuning); no RoPE on those 1 NoPE layers (RoPE's elementwise ops are "
                          "counted on every layer)")
    # router 32x4, 4 experts' gate, up (32x16) and down (16x32), the shared expert; the dense layers' 3 x 32x40
    mlp = count(card, 1, 8).params_by_group["mlp"]
    assert mlp == 2 * (128 + 4 * 3 * 512 + 3 * 512) + 2 * 3 * 1280


def test_llama4_reads_its_lists_and_switches():
    raw = _small("Llama4ForCausalLM", "llama4_text", moe_layers=[0, 3], no_rope_layers=[1, 0, 1, 1, 0, 0],
                 use_qk_norm=False, attn_temperature_tuning=4, attention_bias=True, **_L4)
    card = _convert(raw)        # no_rope_layers longer than the layers: its first 4 read, as transformers 4.x
    assert card.layers == (("chunked_moe", 1), ("global_dense", 1), ("chunked_dense", 1), ("chunked_moe", 1))
    assert (card.qkv_bias, card.o_bias) == (True, True)
    assert "temperature" in card.left_out[0] and "L2 norm" not in card.left_out[0]
    listed = _convert({**raw, "layer_types": ["full_attention"] * 3 + ["chunked_attention"]})
    assert listed.layers == (("global_moe", 1), ("global_dense", 2), ("chunked_moe", 1))
    plain = _convert({**raw, "attention_chunk_size": None, "moe_layers": [], "no_rope_layers": [1] * 4,
                      "intermediate_size_mlp": 40})
    assert (plain.layers, plain.is_moe, plain.attention_chunk, plain.d_ff, plain.left_out) == \
        ((("layer", 4),), False, 0, 40, ())
    every = _convert(_small("Llama4ForCausalLM", "llama4_text", **{**_L4, "intermediate_size_mlp": None,
                                                                   "attention_chunk_size": "null"}))
    assert every.layers == (("layer", 4),) and every.is_moe and every.d_ff == 16    # no dense layer: F unread
    nulls = _convert(_small("Llama4ForCausalLM", "llama4_text", num_key_value_heads="null",
                            **{**_L4, "head_dim": "null"}))
    assert (nulls.n_kv_heads, nulls.head_dim) == (4, 8)          # its __post_init__: N and D // N


@pytest.mark.parametrize("change, words", [
    ({"intermediate_size_mlp": None}, ["missing key 'intermediate_size_mlp'", "reference model"]),    # 16384
    ({"attention_chunk_size": None}, ["missing key 'attention_chunk_size'", "8192"]),
    ({"num_key_value_heads": None}, ["'num_key_value_heads' is missing"]),                  # transformers: 8
    ({"head_dim": None}, ["'head_dim' is missing"]),                                       # transformers: 128
    ({"num_local_experts": None}, ["missing key 'num_local_experts'"]),                    # transformers: 16
    ({"num_experts_per_tok": None}, ["missing key 'num_experts_per_tok'"]),
    ({"moe_layers": [4]}, ["'moe_layers'", "lists 4"]),
    ({"no_rope_layers": [1, 0]}, ["'no_rope_layers'", "at least 4"]),
    ({"no_rope_layers": [1, 2, 1, 1]}, ["'no_rope_layers'"]),
    ({"layer_types": ["sliding_attention"] * 4}, ["'layer_types'", "'chunked_attention'"]),
    ({"attn_temperature_tuning": "yes"}, ["'attn_temperature_tuning'"]),
    ({"mlp_bias": True}, ["unknown key 'mlp_bias'"]),
    ({"num_experts": 4}, ["'num_experts'"]),
])
def test_llama4_refusals(change, words):
    _refused(_small("Llama4ForCausalLM", "llama4_text", interleave_moe_layer_step=2, **{**_L4, **change}), *words)


# ----------------------------------------------------------------------------- GLM-4.5 MoE

_GLM = dict(n_routed_experts=4, num_experts_per_tok=2, moe_intermediate_size=8, n_shared_experts=1,
            first_k_dense_replace=1)


def test_glm4_moe_reads_dense_first_layers_shared_experts_and_partial_rope():
    card = _convert(_small("Glm4MoeForCausalLM", "glm4_moe", attention_bias=True, use_qk_norm=True, **_GLM))
    assert card.layers == (("dense", 1), ("moe", 3)) and (card.d_ff, card.d_ff_expert, card.d_ff_shared) == (48, 8, 8)
    assert (card.qkv_bias, card.o_bias, card.qk_norm, card.rotary_pct, card.head_dim) == (True, False, True, 0.5, 8)
    assert card.left_out == ("multi-token-prediction layers (num_nextn_predict_layers 1) not counted: transformers "
                             "does not build them; a runs file's mtp_layers trains them",)
    # per layer: q 32x32 + 32, k and v 32x16 + 16 each, o 32x32 (no bias)
    assert count(card, 1, 8).params_by_group["attention"] == 4 * (1056 + 528 + 528 + 1024)
    other = _convert(_small("Glm4MoeForCausalLM", "glm4_moe", head_dim=12, num_nextn_predict_layers=0,
                            rope_parameters={"rope_theta": 1e6, "partial_rotary_factor": 0.25},
                            **{**_GLM, "n_shared_experts": 0, "first_k_dense_replace": 0}))
    assert (other.layers, other.d_ff_shared, other.head_dim, other.rotary_pct, other.left_out) == \
        ((("layer", 4),), 0, 12, 0.25, ())
    assert _convert(_small("Glm4MoeForCausalLM", "glm4_moe", num_local_experts=4,
                           **{k: v for k, v in _GLM.items() if k != "n_routed_experts"})).n_experts == 4


@pytest.mark.parametrize("change, words", [
    ({"num_key_value_heads": None}, ["'num_key_value_heads' is missing"]),                 # transformers: 8
    ({"head_dim": "null"}, ["'head_dim'", "null"]),
    ({"n_routed_experts": None}, ["missing key 'n_routed_experts'"]),                      # transformers: 128
    ({"num_experts_per_tok": None}, ["missing key 'num_experts_per_tok'"]),                # transformers: 8
    ({"moe_intermediate_size": None}, ["missing key 'moe_intermediate_size'"]),            # transformers: 1408
    ({"n_shared_experts": None}, ["missing key 'n_shared_experts'"]),                      # transformers: 1
    ({"first_k_dense_replace": None}, ["missing key 'first_k_dense_replace'"]),            # transformers: 1
    ({"num_nextn_predict_layers": 1, "num_mtp_layers": 2}, ["disagree"]),
    ({"num_local_experts": 8}, ["'n_routed_experts'", "'num_local_experts'", "disagree"]),
    ({"partial_rotary_factor": 2}, ["'partial_rotary_factor'"]),
    ({"use_qk_norm": 1}, ["'use_qk_norm'", "true or false"]),
    ({"mlp_bias": True}, ["unknown key 'mlp_bias'"]),
])
def test_glm4_moe_refusals(change, words):
    _refused(_small("Glm4MoeForCausalLM", "glm4_moe", **{**_GLM, **change}), *words)
