"""config.json import of MPT, BLOOM, OPT and GPTBigCode (hf_layouts_classic): what each reads, requires and
refuses, without torch.

The exact checks against transformers (parameters, FLOPs, prefill and decode) are in
tests/validate/test_hf_classic.py. The weight counts written out below are those of the modules
transformers 5.24's code builds (D 32, N 4, V 64, 2 layers unless a test says otherwise).
"""

import pytest

from symroof.io.bind import count
from test_hf import _convert, _refused   # one config, read and refused the same way


def _mpt(attn=None, **keys):
    raw = {"architectures": ["MptForCausalLM"], "model_type": "mpt", "n_layers": 2, "d_model": 32, "n_heads": 4,
           "vocab_size": 64, "max_seq_len": 128, "attn_config": {"alibi": True, **(attn or {})}}
    return {key: value for key, value in {**raw, **keys}.items() if value != "absent"}


def _bloom(**keys):
    raw = {"architectures": ["BloomForCausalLM"], "model_type": "bloom", "n_layer": 2, "hidden_size": 32,
           "n_head": 4, "vocab_size": 64}
    return {key: value for key, value in {**raw, **keys}.items() if value != "absent"}


def _opt(**keys):
    raw = {"architectures": ["OPTForCausalLM"], "model_type": "opt", "num_hidden_layers": 2, "hidden_size": 32,
           "num_attention_heads": 4, "ffn_dim": 48, "vocab_size": 64, "max_position_embeddings": 16,
           "dropout": 0.0}
    return {key: value for key, value in {**raw, **keys}.items() if value != "absent"}


def _bigcode(**keys):
    raw = {"architectures": ["GPTBigCodeForCausalLM"], "model_type": "gpt_bigcode", "n_layer": 2, "n_embd": 32,
           "n_head": 4, "vocab_size": 64, "n_positions": 16, "attn_pdrop": 0.0, "resid_pdrop": 0.0,
           "embd_pdrop": 0.0}
    return {key: value for key, value in {**raw, **keys}.items() if value != "absent"}


def test_mpt_reads_fused_qkv_alibi_and_bias_free_layernorms():
    card = _convert(_mpt(attn={"clip_qkv": 6}))
    assert (card.architecture, card.d_ff, card.n_kv_heads, card.head_dim, card.positions, card.fused_qkv, card.norm,
            card.mlp, card.tie_embeddings) == ("mpt", 128, 4, 8, "alibi", True, "rms", "plain", True)
    assert not (card.qkv_bias or card.o_bias or card.mlp_bias or card.embedding_norm)
    assert card.left_out[1] == "clip_qkv (6): its elementwise clamp of q, k and v is not counted"
    groups = count(card, 1, 8).params_by_group
    # per layer: Wqkv 96 x 32, out_proj 32 x 32; up_proj 128 x 32, down_proj 32 x 128; norm_1, norm_2 (no bias)
    assert groups == {"embedding": 64 * 32, "attention": 2 * (96 * 32 + 1024), "mlp": 2 * 2 * 128 * 32,
                      "norms": 2 * 2 * 32 + 32, "unembedding": 0}
    named = _convert(_mpt(attn={"attn_pdrop": 0.1}, logit_scale=0.5, embedding_fraction=0.1, resid_pdrop=0.1))
    assert named.left_out[0] == "dropout (attn_config.attn_pdrop 0.1, resid_pdrop 0.1): counted as training without " \
                                "dropout masks"
    assert any(n.startswith("logit_scale (0.5)") for n in named.left_out)
    assert any(n.startswith("embedding_fraction (0.1)") for n in named.left_out)
    bare = _convert(_mpt(attn_config="absent", tie_word_embeddings=False))       # attn_config absent: its defaults
    assert count(bare, 1, 8).params_by_group["unembedding"] == 64 * 32 and bare.positions == "alibi"


def test_bloom_reads_an_embedding_layernorm_alibi_and_biases():
    card = _convert(_bloom())
    assert (card.architecture, card.d_ff, card.positions, card.fused_qkv, card.norm, card.embedding_norm,
            card.tie_embeddings, card.left_out) == ("bloom", 128, "alibi", True, "layer", True, True, ())
    assert card.qkv_bias and card.o_bias and card.mlp_bias
    groups = count(card, 1, 8).params_by_group
    # per layer: query_key_value 96 x 32 + 96, dense 32 x 32 + 32; dense_h_to_4h 128 x 32 + 128, dense_4h_to_h
    # 32 x 128 + 32; two LayerNorms of 2 x 32; word_embeddings_layernorm and ln_f 2 x 32 each
    assert groups == {"embedding": 64 * 32, "attention": 2 * (96 * 33 + 32 * 33), "mlp": 2 * (128 * 33 + 32 * 129),
                      "norms": 2 * 2 * 64 + 2 * 64, "unembedding": 0}
    older = _convert(_bloom(hidden_size="absent", n_embed=32))          # BloomConfig's older name
    assert count(older, 1, 8).params_by_group == groups
    named = _convert(_bloom(apply_residual_connection_post_layernorm=True, slow_but_exact=True, pretraining_tp=2))
    assert [n.split(":")[0] for n in named.left_out] == ["apply_residual_connection_post_layernorm",
                                                         "slow_but_exact with pretraining_tp 2"]


def test_opt_reads_learned_positions_with_its_offset_and_enable_bias():
    card = _convert(_opt())
    assert (card.architecture, card.d_ff, card.positions, card.max_positions, card.norm, card.mlp,
            card.tie_embeddings, card.qkv_bias, card.mlp_bias) == ("opt", 48, "learned", 18, "layer", "plain", True,
                                                                   True, True)
    assert card.left_out[0].startswith("learned positions: OPT's table has max_position_embeddings + 2 rows (18")
    groups = count(card, 1, 8).params_by_group
    assert groups["embedding"] == 64 * 32 + 18 * 32         # embed_tokens; embed_positions of 16 + 2 rows
    assert groups["attention"] == 2 * 4 * 33 * 32 and groups["mlp"] == 2 * (48 * 33 + 32 * 49)
    plain = _convert(_opt(enable_bias=False, dropout="absent"))
    assert not (plain.qkv_bias or plain.o_bias or plain.mlp_bias)
    assert plain.left_out[0] == "dropout (dropout 0.1): counted as training without dropout masks"    # its default
    assert any(n.startswith("layerdrop (0.05)") for n in _convert(_opt(layerdrop=0.05)).left_out)


def test_gpt_bigcode_reads_multi_query_and_gpt2_keys():
    card = _convert(_bigcode())
    assert (card.architecture, card.n_kv_heads, card.head_dim, card.d_ff, card.max_positions, card.fused_qkv,
            card.tie_embeddings) == ("gpt_bigcode", 1, 8, 128, 16, True, True)
    groups = count(card, 1, 8).params_by_group
    assert groups["attention"] == 2 * ((32 + 2 * 8) * 33 + 32 * 33)       # c_attn: q 32, one k and v of 8
    assert _convert(_bigcode(multi_query=False, num_key_value_heads=4, n_inner=40)).n_kv_heads == 4
    assert _convert(_bigcode(n_inner=40)).d_ff == 40
    assert _convert(_bigcode(attn_pdrop="absent")).left_out[0].startswith("dropout (attn_pdrop 0.1)")


@pytest.mark.parametrize("raw, words", [
    (_mpt(expansion_ratio=2), ["'expansion_ratio' is 2", "4 x d_model"]),
    (_mpt(no_bias=False), ["'no_bias' is False", "no biases"]),
    (_mpt(attn={"alibi": False}), ["'attn_config.alibi' is False", "ALiBi"]),
    (_mpt(attn={"attn_type": "multiquery_attention"}), ["'attn_config.attn_type'", "multihead_attention"]),
    (_mpt(attn={"qk_ln": True}), ["'attn_config.qk_ln' is True"]),
    (_mpt(attn={"prefix_lm": True}), ["'attn_config.prefix_lm' is True", "causal"]),
    (_mpt(attn={"attn_uses_sequence_id": True}), ["'attn_config.attn_uses_sequence_id'"]),
    (_mpt(attn={"clip_qkv": -1}), ["'attn_config.clip_qkv' must be a positive number or null"]),
    (_mpt(attn={"attn_pdrop": 2}), ["'attn_config.attn_pdrop' must be a dropout probability"]),
    (_mpt(attn={"rope": True}), ["unknown key 'attn_config.rope' for MptForCausalLM"]),
    (_mpt(attn={"is_encoder_decoder": True}), ["'attn_config.is_encoder_decoder' is True"]),
    (_mpt(attn_config=[1]), ["'attn_config' must be a mapping"]),
    (_mpt(norm_type="rmsnorm"), ["'norm_type' is 'rmsnorm'"]),
    (_mpt(logit_scale="big"), ["'logit_scale' must be a positive number"]),
    (_mpt(d_model=30), ["'d_model' (30) must be a multiple of 'n_heads' (4)"]),
    (_mpt(n_heads="absent"), ["'n_heads'"]),
    (_mpt(intermediate_size=128), ["unknown key 'intermediate_size' for MptForCausalLM"]),
    (_bloom(n_inner=128), ["'n_inner' is 128", "4 x hidden_size"]),
    (_bloom(hidden_size=30), ["'hidden_size' (30) must be a multiple of 'n_head' (4)"]),
    (_bloom(n_embed=0), ["'n_embed' must be an integer >= 1"]),
    (_bloom(num_hidden_layers=2), ["unknown key 'num_hidden_layers'"]),          # BLOOM's is n_layer
    (_bloom(hidden_act="relu"), ["unknown key 'hidden_act'"]),                   # its tanh GELU is hard-coded
    (_opt(word_embed_proj_dim=16), ["'word_embed_proj_dim' is 16", "project_in / project_out"]),
    (_opt(do_layer_norm_before=False), ["'do_layer_norm_before' is false", "no final norm"]),
    (_opt(_remove_final_layer_norm=True), ["'_remove_final_layer_norm' is true"]),
    (_opt(layer_norm_elementwise_affine=False), ["'layer_norm_elementwise_affine' is false"]),
    (_opt(activation_dropout=0.1), ["'activation_dropout' is 0.1"]),
    (_opt(layerdrop=2), ["'layerdrop' must be a probability"]),
    (_opt(ffn_dim="absent"), ["missing key 'ffn_dim'"]),                         # OPTConfig: 3072
    (_opt(max_position_embeddings="absent"), ["missing key 'max_position_embeddings'"]),
    (_opt(activation_function="swiglu"), ["'activation_function' is 'swiglu'", "plain MLP"]),
    (_opt(enable_bias="yes"), ["'enable_bias' must be true or false"]),
    (_bigcode(num_key_value_heads=4), ["'num_key_value_heads' is 4", "'multi_query' (1)"]),
    (_bigcode(multi_query="yes"), ["'multi_query' must be true or false"]),
    (_bigcode(n_positions="absent"), ["missing key 'n_positions'"]),
    (_bigcode(add_cross_attention=True), ["'add_cross_attention' is True"]),
    (_bigcode(n_embd=30), ["'n_embd' (30) must be a multiple of 'n_head' (4)"]),
])
def test_refusals(raw, words):
    _refused(raw, *words)
