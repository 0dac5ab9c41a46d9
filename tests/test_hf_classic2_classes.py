"""config.json import of GPT-J, CodeGen, StableLM, Nemotron, OLMo 1 and GPT-Neo (hf_layouts_classic2): defaults,
what each reads, requires and refuses.

The exact checks against transformers (parameters, FLOPs, prefill and decode, published configs) are in
tests/validate/test_hf_classic2.py; here, without torch, what each class's config is read as. The weight counts
written out below are those of the modules transformers 5.24's code builds (D 32, N 4, H 8, F 48, V 64, 4 layers
unless a test says otherwise).
"""

from fractions import Fraction

import pytest

from symroof.io.bind import count
from test_hf import _convert, _refused   # one config, read and refused the same way
from test_hf_more_classes import _small


def _gpt(hf_class: str, model_type: str, **keys) -> dict:
    """GPT-J / CodeGen (GPT-2's names): D 32, N 4, 4 layers, F absent (4 D = 128), rotary_dim 4."""
    raw = {"architectures": [hf_class], "model_type": model_type, "n_layer": 4, "n_embd": 32, "n_head": 4,
           "rotary_dim": 4, "vocab_size": 64, **keys}
    return {k: (None if v == "null" else v) for k, v in raw.items() if v is not None}


def _gptj(**keys):
    return _gpt("GPTJForCausalLM", "gptj", **keys)


def _codegen(**keys):
    return _gpt("CodeGenForCausalLM", "codegen", **keys)


def test_gptj_reads_one_norm_feeding_parallel_branches_partial_rope_and_a_biased_head():
    card = _convert(_gptj())
    assert (card.architecture, card.d_ff, card.n_kv_heads, card.head_dim, card.rotary_pct, card.norms_per_layer,
            card.parallel_residual, card.head_bias, card.norm, card.mlp, card.qkv_bias, card.o_bias,
            card.mlp_bias, card.tie_embeddings, card.fused_qkv) == \
        ("gptj", 128, 4, 8, Fraction(1, 2), 1, True, True, "layer", "plain", False, False, True, False, False)
    groups = count(card, 1, 8).params_by_group
    # q, k, v, out_proj 32x32 without biases; fc_in 128x32 + 128, fc_out 32x128 + 32; ln_1 and ln_f weight + bias
    assert (groups["attention"], groups["mlp"], groups["norms"]) == (4 * 4096, 4 * (2 * 4096 + 160), 5 * 64)
    assert groups["unembedding"] == 64 * 32 + 64                                  # lm_head with its bias
    assert _convert(_gptj(n_inner=48, tie_word_embeddings=True)).d_ff == 48
    assert count(_convert(_gptj(tie_word_embeddings=True)), 1, 8).params_by_group["unembedding"] == 64   # the bias


def test_codegen_is_gptj_with_one_qkv_matrix():
    card = _convert(_codegen(n_ctx=2048, n_positions=2048))
    assert (card.architecture, card.fused_qkv, card.head_bias, card.norms_per_layer, card.rotary_pct) == \
        ("codegen", True, True, 1, Fraction(1, 2))


def test_gpt_neo_reads_runs_of_global_and_local_layers_as_sliding_ones():
    raw = {"architectures": ["GPTNeoForCausalLM"], "model_type": "gpt_neo", "num_layers": 4, "hidden_size": 32,
           "num_heads": 4, "vocab_size": 64, "max_position_embeddings": 128, "window_size": 16,
           "attention_types": [[["global", "local"], 2]]}
    card = _convert(raw)
    assert card.layers == (("global", 1), ("sliding", 1), ("global", 1), ("sliding", 1))
    assert (card.sliding_window, card.positions, card.max_positions, card.d_ff, card.tie_embeddings,
            card.qkv_bias, card.o_bias, card.mlp_bias, card.head_bias) == \
        (16, "learned", 128, 128, True, False, True, True, False)
    assert any("keeps every key of its 2 local layers" in note for note in card.left_out)
    groups = count(card, 1, 8).params_by_group
    assert groups["embedding"] == 64 * 32 + 128 * 32                     # wte and wpe
    assert groups["attention"] == 4 * (4 * 1024 + 32)                    # out_proj's bias only
    every = _convert({**raw, "attention_types": [[["global"], 4]], "window_size": None})
    assert every.sliding_window == 0 and not any("local" in note for note in every.left_out)
    assert _convert({**raw, "attention_types": [[["global", "local"], 1], [["local"], 2]]}).layers == \
        (("global", 1), ("sliding", 3))


def test_stablelm_reads_layernorms_partial_rope_and_a_parallel_layer():
    card = _convert(_small("StableLmForCausalLM", "stablelm", use_qkv_bias=True))
    assert (card.norm, card.mlp, card.rotary_pct, card.qkv_bias, card.o_bias, card.norms_per_layer) == \
        ("layer", "gated", Fraction(1, 4), True, False, 2)
    parallel = _convert(_small("StableLmForCausalLM", "stablelm", use_parallel_residual=True,
                               partial_rotary_factor=0.5))
    assert (parallel.norms_per_layer, parallel.parallel_residual, parallel.rotary_pct) == (1, True, Fraction(1, 2))
    assert count(parallel, 1, 8).params_by_group["norms"] == 4 * 64 + 64     # input_layernorm and the final norm


def test_nemotron_reads_an_ungated_relu2_mlp_and_layernorm1p():
    card = _convert(_small("NemotronForCausalLM", "nemotron", head_dim="null", mlp_bias=True, attention_bias=True))
    assert (card.mlp, card.norm, card.head_dim, card.rotary_pct, card.mlp_bias, card.qkv_bias, card.o_bias) == \
        ("plain", "layer", 8, Fraction(1, 2), True, True, True)
    assert any(note.startswith("LayerNorm1P") for note in card.left_out)
    assert count(card, 1, 8).params_by_group["mlp"] == 4 * (2 * 1536 + 48 + 32)     # up_proj and down_proj, biased
    assert _convert(_small("NemotronForCausalLM", "nemotron", head_dim=16)).head_dim == 16


def test_olmo_reads_layernorms_without_parameters_and_names_clip_qkv():
    card = _convert(_small("OlmoForCausalLM", "olmo", clip_qkv=8.0, num_key_value_heads="null"))
    assert (card.norm, card.n_kv_heads, card.head_dim) == ("nonparametric", 4, 8)
    assert count(card, 1, 8).params_by_group["norms"] == 0
    assert any(note.startswith("clip_qkv (8.0)") for note in card.left_out)
    assert not _convert(_small("OlmoForCausalLM", "olmo")).left_out


@pytest.mark.parametrize("make, change, words", [
    (_gptj, {"rotary_dim": None}, ["missing key 'rotary_dim'"]),
    (_gptj, {"rotary_dim": "null"}, ["missing key 'rotary_dim'", "null fails"]),
    (_gptj, {"rotary_dim": 5}, ["'rotary_dim' is 5", "even integer from 2 to the head width 8"]),
    (_gptj, {"rotary_dim": 16}, ["'rotary_dim' is 16"]),
    (_gptj, {"n_embd": 30}, ["'n_embd' (30) must be a multiple of 'n_head' (4)"]),
    (_gptj, {"hidden_size": 32}, ["unknown key 'hidden_size'"]),
    (_gptj, {"n_positions": -1}, ["'n_positions' must be an integer >= 1"]),
    (_gptj, {"activation_function": "swiglu"}, ["'activation_function' is 'swiglu'", "plain MLP"]),
    (_codegen, {"n_embd": 34, "n_head": 2}, ["'n_embd' is 34", "multiple of 4"]),
    (_codegen, {"n_ctx": 0}, ["'n_ctx' must be an integer >= 1"]),
])
def test_gptj_and_codegen_refusals(make, change, words):
    _refused(make(**change), *words)


def _neo(**keys):
    raw = {"architectures": ["GPTNeoForCausalLM"], "model_type": "gpt_neo", "num_layers": 4, "hidden_size": 32,
           "num_heads": 4, "vocab_size": 64, "max_position_embeddings": 128, "window_size": 16,
           "attention_types": [[["global", "local"], 2]], **keys}
    return {k: (None if v == "null" else v) for k, v in raw.items() if v is not None}


@pytest.mark.parametrize("change, words", [
    ({"attention_types": None}, ["'attention_types' is absent or null", "lists more than 4 layers"]),
    ({"attention_types": [[["global", "local"], 1]]}, ["'attention_types' lists 2 layers", "'num_layers' is 4"]),
    ({"attention_types": [[["global", "sliding"], 2]]}, ["'attention_types' lists [['global', 'sliding'], 2]"]),
    ({"attention_types": "global"}, ["'attention_types' is 'global'"]),
    ({"attention_layers": ["global"] * 4}, ["'attention_layers'", "sets it from 'attention_types'"]),
    ({"window_size": None}, ["missing key 'window_size'"]),
    ({"window_size": 0}, ["'window_size' must be an integer >= 1"]),
    ({"max_position_embeddings": None}, ["missing key 'max_position_embeddings'", "learned position table"]),
    ({"num_attention_heads": 4}, ["unknown key 'num_attention_heads'"]),
    ({"intermediate_size": 0}, ["'intermediate_size' must be a positive integer"]),
])
def test_gpt_neo_refusals(change, words):
    _refused(_neo(**change), *words)


def _stablelm(**keys):
    return _small("StableLmForCausalLM", "stablelm", **keys)


def _nemotron(**keys):
    return _small("NemotronForCausalLM", "nemotron", **keys)


def _olmo(**keys):
    return _small("OlmoForCausalLM", "olmo", **keys)


@pytest.mark.parametrize("make, change, words", [
    (_stablelm, {"qk_layernorm": True}, ["'qk_layernorm' is true", "per head"]),
    (_stablelm, {"num_key_value_heads": None}, ["'num_key_value_heads' is missing"]),      # transformers: 32
    (_stablelm, {"head_dim": 8}, ["unknown key 'head_dim'"]),
    (_stablelm, {"partial_rotary_factor": 0.125}, ["'partial_rotary_factor' is 0.125", "= 1 dims"]),
    (_stablelm, {"use_parallel_residual": "yes"}, ["'use_parallel_residual' must be true or false"]),
    # two rotary shares: transformers 5.24 reads rope_parameters' (tests/validate/test_hf_recent2.py shows it)
    (_stablelm, {"partial_rotary_factor": 0.25, "rope_parameters": {"rope_type": "default", "rope_theta": 1e4,
                                                                    "partial_rotary_factor": 0.5}},
     ["'partial_rotary_factor' is 0.25 but rope_parameters' is 0.5"]),
    (_stablelm, {"attention_bias": True}, ["unknown key 'attention_bias'"]),
    (_nemotron, {"num_key_value_heads": None}, ["'num_key_value_heads' is missing"]),     # None fails to build
    (_nemotron, {"num_key_value_heads": "null"}, ["'num_key_value_heads' is null"]),
    (_nemotron, {"hidden_act": "swiglu"}, ["'hidden_act' is 'swiglu'", "plain MLP"]),
    (_olmo, {"head_dim": "null"}, ["'head_dim' is null"]),
    (_olmo, {"clip_qkv": -1}, ["'clip_qkv' must be a positive number or null"]),
    (_olmo, {"mlp_bias": True}, ["unknown key 'mlp_bias'"]),
])
def test_stablelm_nemotron_and_olmo_refusals(make, change, words):
    _refused(make(**change), *words)
