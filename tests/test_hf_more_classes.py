"""config.json import of Gemma (1), Qwen2-MoE and gpt-oss: defaults, layer placement and refusals.

The exact checks against transformers (parameters, FLOPs, prefill and decode) are in
tests/validate/test_blocks_vs_transformers.py and tests/validate/test_hf_params.py; here, what
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


# ----------------------------------------------------------------------------- published models

#   model                total params    active (one token)  as the model card rounds them
PUBLISHED = {
    "gemma-7b":          (8_537_680_896, None),        # "8.54B"
    "gemma-2b":          (2_506_172_416, None),        # "2.51B"
    "Qwen1.5-MoE-A2.7B": (14_315_784_192, 2.7),        # "14.3B in total, 2.7B activated"
    "gpt-oss-20b":       (20_914_757_184, 3.6),        # "21B (20.9B) total, 3.6B active"
    "gpt-oss-120b":      (116_829_156_672, 5.1),       # "117B (116.8B) total, 5.1B active"
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
                                     "gpt-oss-20b": 20.9, "gpt-oss-120b": 116.8}[name]
    if name.startswith("gpt-oss"):
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
