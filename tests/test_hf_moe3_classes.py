"""config.json import of the MoE classes of hf_layouts_moe3 (PhiMoE, Granite MoE, Granite MoE Shared):
defaults, what each reads, requires and refuses.

The exact checks against transformers (parameters, FLOPs, prefill and decode) are in
tests/validate/test_hf_moe3.py; here, without torch, what each class's config is read as. The weight
counts written out below are those of the modules transformers' code builds (D 32, N 4, K 2, H 8, F 48,
V 64, 4 layers, 4 experts unless a test says otherwise).
"""

import pytest

from symroof.io.bind import count
from test_hf import _convert, _refused   # one config, read and refused the same way
from test_hf_more_classes import _small


def _phimoe(**keys):
    return _small("PhimoeForCausalLM", "phimoe", **{"num_local_experts": 4, **keys})


def test_phimoe_reads_mixtrals_layer_with_layernorms_biases_and_two_experts():
    card = _convert(_phimoe(attention_bias=True, lm_head_bias=True))
    assert (card.architecture, card.norm, card.n_experts, card.experts_per_token, card.head_bias) == \
        ("phimoe", "layer", 4, 2, True)                              # two experts whatever the key says: absent
    assert (card.qkv_bias, card.o_bias, card.sliding_window, card.left_out) == (True, True, 0, ())
    groups = count(card, 1, 8).params_by_group
    # per layer: router 4x32, 4 experts of gate, up and down 32x48; two LayerNorms of 2 x 32; the final one
    assert groups["mlp"] == 4 * (128 + 4 * 3 * 1536) and groups["norms"] == 4 * 2 * 64 + 64
    assert groups["unembedding"] == 32 * 64 + 64                     # lm_head_bias
    slid = _convert(_phimoe(sliding_window=6, num_experts_per_tok=2, hidden_dropout=0.0, input_jitter_noise=0.01,
                            router_jitter_noise=0.01, original_max_position_embeddings=4096))
    assert (slid.sliding_window, slid.layers) == (6, (("layer", 4),)) and slid.blocks["layer"].attention == "sliding"
    assert slid.left_out == ("input_jitter_noise (0.01): its elementwise scaling of each MLP's input in training "
                             "is not counted",)
    assert _convert(_phimoe(num_key_value_heads="null")).n_kv_heads == 4       # as Mistral's: null is N


@pytest.mark.parametrize("change, words", [
    ({"num_experts_per_tok": 1}, ["'num_experts_per_tok' is 1", "picks 2 experts", "allowed: 2 or absent"]),
    ({"num_experts_per_tok": "null"}, ["'num_experts_per_tok' is null"]),
    ({"num_local_experts": None}, ["missing key 'num_local_experts'"]),        # transformers: 16
    ({"num_key_value_heads": None}, ["'num_key_value_heads' is missing"]),     # transformers: 8
    ({"head_dim": "null"}, ["'head_dim' is null"]),
    ({"lm_head_bias": "yes"}, ["'lm_head_bias'", "true or false"]),
    ({"hidden_dropout": 0.1}, ["'hidden_dropout' is 0.1", "0 or null"]),
    ({"input_jitter_noise": -1}, ["'input_jitter_noise'"]),
    ({"mlp_bias": True}, ["unknown key 'mlp_bias'"]),
])
def test_phimoe_refusals(change, words):
    _refused(_phimoe(**change), *words)


def _granite(hf_class="GraniteMoeForCausalLM", model_type="granitemoe", **keys):
    return _small(hf_class, model_type, **{"num_local_experts": 4, "num_experts_per_tok": 2, **keys})


def test_granite_moe_reads_granites_layer_with_experts_and_a_shared_mlp():
    card = _convert(_granite(embedding_multiplier=12.0, num_key_value_heads=None))
    assert (card.architecture, card.n_experts, card.experts_per_token, card.n_kv_heads, card.d_ff_shared) == \
        ("granitemoe", 4, 2, 4, 0)                                    # K absent: N
    assert card.left_out[0].startswith("scalar multipliers (embedding_multiplier 12.0)")
    assert count(card, 1, 8).params_by_group["mlp"] == 4 * (128 + 4 * 3 * 1536)
    shared = _convert(_granite("GraniteMoeSharedForCausalLM", "granitemoeshared", shared_intermediate_size=16))
    # per layer beside the experts: input_linear 32 x 2·16 and output_linear 16 x 32
    assert (shared.architecture, shared.d_ff_shared) == ("granitemoeshared", 16)
    assert count(shared, 1, 8).params_by_group["mlp"] == 4 * (128 + 4 * 3 * 1536 + 3 * 512)
    none = _convert(_granite("GraniteMoeSharedForCausalLM", "granitemoeshared", shared_intermediate_size=0))
    assert none.d_ff_shared == 0 and _convert(_granite("GraniteMoeSharedForCausalLM", "granitemoeshared")).d_ff_shared == 0


@pytest.mark.parametrize("change, words", [
    ({"num_experts_per_tok": None}, ["missing key 'num_experts_per_tok'"]),   # transformers: 2
    ({"num_local_experts": 1}, ["'num_local_experts' must be at least 2"]),
    ({"residual_multiplier": 0}, ["'residual_multiplier'", "positive number"]),
    ({"shared_intermediate_size": 16}, ["unknown key 'shared_intermediate_size'"]),   # GraniteMoe has none
    ({"head_dim": "null"}, ["'head_dim' is null"]),
])
def test_granite_moe_refusals(change, words):
    _refused(_granite(**change), *words)


def test_granite_moe_shared_refuses_a_negative_shared_width():
    _refused(_granite("GraniteMoeSharedForCausalLM", "granitemoeshared", shared_intermediate_size=-1),
             "'shared_intermediate_size'", ">= 0")
