"""config.json import of Phi (phi-1.5 / phi-2), StarCoder2, OLMoE and Falcon: defaults, what each reads, requires and refuses.

The exact checks against transformers (parameters, FLOPs, prefill and decode) are in
tests/validate/test_hf_phi_starcoder2_olmoe_falcon.py; here, without torch, what each class's config is read as.
The weight counts written out below are those of the modules transformers' code builds.
"""

from fractions import Fraction

import pytest

from symroof.io.bind import count
from test_hf import _convert, _refused   # one config, read and refused the same way
from test_hf_more_classes import _small

# ----------------------------------------------------------------------------- Phi


def test_phi_reads_one_layernorm_a_parallel_layer_and_biases_everywhere():
    card = _convert(_small("PhiForCausalLM", "phi"))
    assert (card.architecture, card.norm, card.mlp, card.norms_per_layer, card.parallel_residual) == \
        ("phi", "layer", "plain", 1, True)
    assert (card.qkv_bias, card.o_bias, card.mlp_bias, card.head_bias, card.qk_norm) == (True,) * 4 + (False,)
    assert (card.n_kv_heads, card.head_dim, card.rotary_pct, card.tie_embeddings) == (2, 8, 0.5, False)
    groups = count(card, 1, 8).params_by_group
    # per layer (D 32, N 4, K 2, H 8, F 48): q 32x32 + 32, k and v 32x16 + 16, dense 32x32 + 32;
    # fc1 32x48 + 48, fc2 48x32 + 32; one LayerNorm of 2 x 32; the head 32x64 and its bias of 64
    assert groups == {"embedding": 2048, "attention": 4 * 3168, "mlp": 4 * 3152, "norms": 4 * 64 + 64,
                      "unembedding": 2048 + 64}
    tied = _convert(_small("PhiForCausalLM", "phi", tie_word_embeddings=True, qk_layernorm=True))
    assert tied.qk_norm and count(tied, 1, 8).params_by_group["unembedding"] == 64    # the bias stays
    assert count(tied, 1, 8).params_by_group["norms"] == 4 * (64 + 2 * 16) + 64       # q/k LayerNorms of H


def test_phi_kv_heads_rotary_share_and_dropout_follow_its_config_class():
    assert _convert(_small("PhiForCausalLM", "phi", num_key_value_heads=None)).n_kv_heads == 4     # absent: N
    assert _convert(_small("PhiForCausalLM", "phi", num_key_value_heads="null")).n_kv_heads == 4   # null: N
    assert _convert(_small("PhiForCausalLM", "phi", partial_rotary_factor=0.4)).rotary_pct == Fraction(2, 5)  # phi-2
    nested = _small("PhiForCausalLM", "phi", rope_parameters={"rope_theta": 1e4, "partial_rotary_factor": 0.25})
    assert _convert(nested).rotary_pct == 0.25
    noted = _convert(_small("PhiForCausalLM", "phi", resid_pdrop=0.1, embd_pdrop=0.0, layer_norm_eps=1e-5))
    assert noted.left_out == ("dropout (resid_pdrop 0.1): counted as training without dropout masks",)


@pytest.mark.parametrize("change, words", [
    ({"head_dim": 8}, ["unknown key 'head_dim'"]),                  # PhiConfig has none; its attention: D // N
    ({"rotary_pct": 0.5}, ["unknown key 'rotary_pct'"]),            # GPT-NeoX's name, not Phi's
    ({"attention_bias": False}, ["unknown key 'attention_bias'"]),  # Phi's biases are hard-coded
    ({"partial_rotary_factor": 0}, ["'partial_rotary_factor'", "(0, 1]"]),
    ({"qk_layernorm": "yes"}, ["'qk_layernorm'", "true or false"]),
    ({"hidden_act": "swiglu"}, ["'hidden_act'", "plain"]),
    ({"resid_pdrop": 2}, ["'resid_pdrop'", "dropout probability"]),
])
def test_phi_refusals(change, words):
    _refused(_small("PhiForCausalLM", "phi", **change), *words)


def test_phi_is_not_phi3():
    _refused({**_small("PhiForCausalLM", "phi"), "model_type": "phi3"}, "'model_type'", "'phi'")


# ----------------------------------------------------------------------------- StarCoder2


def test_starcoder2_reads_layernorms_a_plain_mlp_use_bias_and_its_window():
    card = _convert(_small("Starcoder2ForCausalLM", "starcoder2", sliding_window=6))
    assert (card.architecture, card.norm, card.mlp, card.norms_per_layer, card.parallel_residual) == \
        ("starcoder2", "layer", "plain", 2, False)
    assert (card.qkv_bias, card.o_bias, card.mlp_bias, card.head_bias, card.tie_embeddings) == \
        (True, True, True, False, True)                              # use_bias and tying default to true
    assert (card.sliding_window, card.layers, card.head_dim) == (6, (("layer", 4),), 8)
    # per layer: q 32x32 + 32, k and v 32x16 + 16, o 32x32 + 32; c_fc 32x48 + 48, c_proj 48x32 + 32
    assert count(card, 1, 8).params_by_group["attention"] == 4 * 3168
    assert count(card, 1, 8).params_by_group["mlp"] == 4 * 3152
    plain = _convert(_small("Starcoder2ForCausalLM", "starcoder2", use_bias=False, head_dim=12, sliding_window="null",
                            tie_word_embeddings=False, norm_type="layer_norm", mlp_type="default",
                            layer_norm_epsilon=1e-5, residual_dropout=0.1))
    assert (plain.qkv_bias, plain.o_bias, plain.mlp_bias, plain.head_dim, plain.sliding_window) == \
        (False, False, False, 12, 0)
    assert plain.left_out == ("dropout (residual_dropout 0.1): counted as training without dropout masks",)
    assert _convert(_small("Starcoder2ForCausalLM", "starcoder2", head_dim="null")).head_dim == 8     # D // N


@pytest.mark.parametrize("change, words", [
    ({"num_key_value_heads": None}, ["'num_key_value_heads' is missing"]),          # transformers: 2
    ({"num_key_value_heads": "null"}, ["'num_key_value_heads'", "null"]),
    ({"norm_type": "rms_norm"}, ["'norm_type'", "'layer_norm'"]),
    ({"mlp_type": "gated"}, ["'mlp_type'", "'default'"]),
    ({"use_bias": 1}, ["'use_bias'", "true or false"]),
    ({"sliding_window": 0}, ["'sliding_window'"]),
    ({"attention_bias": True}, ["unknown key 'attention_bias'"]),
    ({"hidden_act": "swiglu"}, ["'hidden_act'", "plain"]),
])
def test_starcoder2_refusals(change, words):
    _refused(_small("Starcoder2ForCausalLM", "starcoder2", **change), *words)


# ----------------------------------------------------------------------------- OLMoE

_OLMOE = dict(num_experts=4, num_experts_per_tok=2)


def test_olmoe_reads_experts_on_every_layer_and_qk_norms_over_all_heads():
    card = _convert(_small("OlmoeForCausalLM", "olmoe", num_key_value_heads=None, **_OLMOE))
    assert (card.architecture, card.n_experts, card.experts_per_token, card.d_ff_expert, card.d_ff_shared) == \
        ("olmoe", 4, 2, 0, 0)
    assert (card.qk_norm, card.qk_norm_width, card.n_kv_heads, card.layers) == (True, "all", 4, (("layer", 4),))
    assert (card.qkv_bias, card.o_bias, card.left_out) == (False, False, ())
    # per layer: router 32x4, 4 experts' gate and up (32x48) and down (48x32); q/k RMSNorms of D and K·H
    groups = count(card, 1, 8).params_by_group
    assert groups["mlp"] == 4 * (128 + 4 * 3 * 1536) and groups["norms"] == 4 * (2 * 32 + 32 + 32) + 32
    gqa = _convert(_small("OlmoeForCausalLM", "olmoe", attention_bias=True, clip_qkv=8.0, num_local_experts=4,
                          num_experts_per_tok=1, norm_topk_prob=True))
    assert (gqa.n_kv_heads, gqa.qkv_bias, gqa.o_bias, gqa.n_experts) == (2, True, True, 4)
    assert gqa.left_out == ("clip_qkv (8.0): its elementwise clamp of q, k and v is not counted",)
    assert count(gqa, 1, 8).params_by_group["norms"] == 4 * (2 * 32 + 32 + 16) + 32


@pytest.mark.parametrize("change, words", [
    ({"num_experts": None}, ["missing key 'num_experts'"]),                         # transformers: 64
    ({"num_experts_per_tok": None}, ["missing key 'num_experts_per_tok'"]),         # transformers: 8
    ({"num_local_experts": 8}, ["'num_experts'", "'num_local_experts'", "disagree"]),
    ({"num_experts": 1}, ["'num_experts'", "at least 2"]),
    ({"head_dim": 8}, ["unknown key 'head_dim'"]),          # its q/k norms are D and K·D/N wide whatever it says
    ({"clip_qkv": 0}, ["'clip_qkv'", "positive number or null"]),
    ({"moe_intermediate_size": 16}, ["'moe_intermediate_size'"]),
    ({"mlp_bias": True}, ["unknown key 'mlp_bias'"]),
    ({"hidden_act": "relu"}, ["'hidden_act'", "gated"]),
])
def test_olmoe_refusals(change, words):
    _refused(_small("OlmoeForCausalLM", "olmoe", **{**_OLMOE, **change}), *words)


# ----------------------------------------------------------------------------- Falcon

_FALCON = dict(intermediate_size=None, num_key_value_heads=None)      # Falcon's keys: ffn_hidden_size, num_kv_heads


def test_falcon_reads_its_attention_variants():
    old = _convert(_small("FalconForCausalLM", "falcon", **_FALCON))       # multi_query and parallel_attn default true
    assert (old.n_kv_heads, old.norms_per_layer, old.parallel_residual, old.d_ff, old.fused_qkv) == (1, 1, True, 128, True)
    assert (old.norm, old.mlp, old.positions, old.tie_embeddings, old.qkv_bias, old.left_out) == \
        ("layer", "plain", "rope", True, False, ())
    # per layer (D 32, N 4, H 8): query_key_value 32 x (32 + 2 x 8), dense 32x32; MLP 32x128 and 128x32
    assert count(old, 1, 8).params_by_group["attention"] == 4 * (1536 + 1024)
    mha = _convert(_small("FalconForCausalLM", "falcon", multi_query=False, parallel_attn=False, alibi=True, bias=True,
                          ffn_hidden_size=40, **_FALCON))
    assert (mha.n_kv_heads, mha.norms_per_layer, mha.parallel_residual, mha.positions, mha.d_ff) == \
        (4, 2, False, "alibi", 40)
    assert (mha.qkv_bias, mha.o_bias, mha.mlp_bias) == (True, True, True)
    new = _convert(_small("FalconForCausalLM", "falcon", new_decoder_architecture=True, num_kv_heads=2, **_FALCON))
    assert (new.n_kv_heads, new.norms_per_layer, new.parallel_residual) == (2, 2, True)          # ln_attn, ln_mlp
    assert new.left_out == ("transformers' Falcon broadcasts the 2 key/value heads to all 4 query heads before "
                            "caching them: its KV cache holds 2 times the heads counted here",)
    one = _convert(_small("FalconForCausalLM", "falcon", new_decoder_architecture=True, num_ln_in_parallel_attn=1,
                          **_FALCON))
    assert (one.n_kv_heads, one.norms_per_layer, one.left_out) == (4, 1, ())       # num_kv_heads absent: N


@pytest.mark.parametrize("change, words", [
    ({"n_head": 4}, ["'n_head'", "num_attention_heads"]),            # 4.x's name; 5.x builds its default, 71
    ({"n_layer": 4}, ["'n_layer'", "num_hidden_layers"]),
    ({"n_embed": 64}, ["'n_embed'", "hidden_size"]),
    ({"multi_query": False, "num_kv_heads": 2}, ["'num_kv_heads'", "breaks its forward"]),
    ({"new_decoder_architecture": True, "parallel_attn": False}, ["'parallel_attn'"]),
    ({"num_ln_in_parallel_attn": 2}, ["'num_ln_in_parallel_attn'", "one"]),
    ({"new_decoder_architecture": True, "num_ln_in_parallel_attn": 3}, ["'num_ln_in_parallel_attn'", "1 or 2"]),
    ({"apply_residual_connection_post_layernorm": True}, ["'apply_residual_connection_post_layernorm'"]),
    ({"head_dim": 8}, ["unknown key 'head_dim'"]),
    ({"intermediate_size": 48}, ["unknown key 'intermediate_size'"]),
    ({"activation": "swiglu"}, ["'activation'", "plain"]),
])
def test_falcon_refusals(change, words):
    _refused(_small("FalconForCausalLM", "falcon", **{**_FALCON, **change}), *words)
