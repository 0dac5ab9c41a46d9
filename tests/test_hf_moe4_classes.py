"""config.json import of the MoE classes of hf_layouts_moe4 (HunYuan MoE, DBRX): defaults, what each reads,
requires and refuses.

The exact checks against transformers (parameters, FLOPs, prefill and decode) are in
tests/validate/test_hf_moe4.py; here, without torch, what each class's config is read as. The weight
counts written out below are those of the modules transformers 5.24's code builds (D 32, N 4, K 2, H 8,
F 48, V 64, 4 layers, 4 experts unless a test says otherwise).
"""

import pytest

from symroof.io.bind import count
from test_hf import _convert, _refused   # one config, read and refused the same way
from test_hf_more_classes import _small


def _hunyuan(**keys):
    return _small("HunYuanMoEV1ForCausalLM", "hunyuan_v1_moe", **{"num_experts": 4, "moe_topk": 2, "head_dim": 8,
                                                                   **keys})


def test_hunyuan_reads_experts_a_shared_mlp_and_per_head_qk_norms():
    card = _convert(_hunyuan(attention_bias=True))
    assert (card.architecture, card.n_experts, card.experts_per_token, card.d_ff_shared, card.qk_norm,
            card.qk_norm_width, card.qkv_bias, card.o_bias, card.left_out) == \
        ("hunyuan_v1_moe", 4, 2, 48, True, "head", True, True, ())
    groups = count(card, 1, 8).params_by_group
    # per layer: router 4x32; 4 experts of gate_up 96x32 and down 32x48; shared gate, up, down 48x32
    assert groups["mlp"] == 4 * (128 + 4 * 3 * 1536 + 3 * 1536)
    # per layer: input and post-attention norms of 32, query_layernorm and key_layernorm of 8; the final one
    assert groups["norms"] == 4 * (2 * 32 + 2 * 8) + 32
    # q and o 32x32 with biases of 32, k and v 16x32 with biases of 16
    assert groups["attention"] == 4 * (2 * (1024 + 32) + 2 * (512 + 16))
    assert _convert(_hunyuan(num_key_value_heads="null")).n_kv_heads == 4        # null: N (__post_init__)
    assert _convert(_hunyuan(num_key_value_heads=None)).n_kv_heads == 4          # absent: N


def test_hunyuan_reads_one_top_k_for_every_layer_from_a_list_or_an_alias():
    assert _convert(_hunyuan(moe_topk=[3, 3, 3, 3])).experts_per_token == 3
    alias = _convert(_hunyuan(moe_topk=None, num_experts_per_tok=[2] * 4, num_experts=None, num_local_experts=4))
    assert (alias.n_experts, alias.experts_per_token) == (4, 2)


def test_hunyuan_accepts_the_original_checkpoints_switches_at_what_transformers_builds():
    card = _convert(_hunyuan(use_cla=False, cla_share_factor=2, use_qk_norm=True, use_mixed_mlp_moe=True,
                             num_shared_expert=[1] * 4, moe_intermediate_size=[48] * 4, mlp_bias=False,
                             attention_head_dim=8, eod_token_id=3, pretraining_tp=1))
    assert (card.d_ff_shared, card.d_ff) == (48, 48)


@pytest.mark.parametrize("change, words", [
    ({"moe_topk": [2, 2, 1, 2]}, ["'moe_topk' is [2, 2, 1, 2]", "one number of experts per token"]),
    ({"moe_topk": [2, 2]}, ["'moe_topk' lists 2 numbers", "one per layer", "'num_hidden_layers': 4"]),
    ({"moe_topk": [2.0] * 4}, ["'moe_topk'", "equal positive integers"]),
    ({"moe_topk": [0] * 4}, ["'moe_topk' must be a positive integer"]),
    ({"moe_topk": 5}, ["'moe_topk' (5) must be at most 'num_experts' (4)"]),
    ({"moe_topk": None}, ["missing key 'moe_topk'"]),                             # transformers: 1
    ({"num_experts": None}, ["missing key 'num_experts'"]),                       # transformers: 1
    ({"num_experts": [4] * 4}, ["'num_experts' is a list", "one number of experts"]),
    ({"num_experts": 1}, ["'num_experts' must be at least 2"]),
    ({"num_local_experts": 6}, ["keys 'num_experts' (4) and 'num_local_experts' (6) disagree"]),
    ({"head_dim": None}, ["'head_dim' is missing"]),                              # transformers: None fails
    ({"head_dim": "null"}, ["'head_dim' is null"]),
    ({"use_cla": True}, ["'use_cla' is True", "no cross-layer attention"]),
    ({"cla_share_factor": 0}, ["'cla_share_factor' is 0", "null or a positive integer"]),
    ({"use_qk_norm": False}, ["'use_qk_norm' is False", "always builds the q and k norms"]),
    ({"use_mixed_mlp_moe": False}, ["'use_mixed_mlp_moe'", "always builds the shared MLP"]),
    ({"num_shared_expert": 2}, ["'num_shared_expert' is 2", "one shared MLP"]),
    ({"moe_intermediate_size": [48, 48, 48, 64]}, ["'moe_intermediate_size'", "intermediate_size wide"]),
    ({"mlp_bias": True}, ["'mlp_bias' is True", "no MLP bias"]),
    ({"attention_head_dim": 16}, ["'attention_head_dim' is 16", "reads head_dim"]),
    ({"shared_expert_intermediate_size": 16}, ["'shared_expert_intermediate_size'"]),
])
def test_hunyuan_refusals(change, words):
    _refused(_hunyuan(**change), *words)


def _dbrx(attn=None, ffn=None, **keys):
    """A small DBRX config (D 32, N 4, K 2, F 48, V 64, 4 layers, 4 experts, top 2); a key given as None is
    left out, "null" written as null, in the top level and in attn_config / ffn_config alike."""
    def clean(d):
        return {k: (None if v == "null" else v) for k, v in d.items() if v is not None}
    raw = {"architectures": ["DbrxForCausalLM"], "model_type": "dbrx", "n_layers": 4, "d_model": 32, "n_heads": 4,
           "vocab_size": 64,
           "attn_config": clean({"kv_n_heads": 2, "clip_qkv": 8, "rope_theta": 500000, **(attn or {})}),
           "ffn_config": clean({"ffn_hidden_size": 48, "moe_num_experts": 4, "moe_top_k": 2, **(ffn or {})})}
    return clean({**raw, **keys})


def test_dbrx_reads_its_sub_configs_fused_qkv_and_bias_free_layernorms():
    card = _convert(_dbrx())
    assert (card.architecture, card.n_layers, card.d_model, card.n_heads, card.n_kv_heads, card.head_dim, card.d_ff,
            card.n_experts, card.experts_per_token, card.fused_qkv, card.norm, card.tie_embeddings) == \
        ("dbrx", 4, 32, 4, 2, 8, 48, 4, 2, True, "rms", False)
    assert not (card.qkv_bias or card.o_bias or card.mlp_bias or card.qk_norm)
    assert card.left_out[0] == "clip_qkv (8): its elementwise clamp of q, k and v is not counted"
    assert card.left_out[-1].startswith("LayerNorms without a bias (norm_1, norm_2, norm_f) counted as RMSNorms")
    groups = count(card, 1, 8).params_by_group
    # per layer: Wqkv (32 + 2·2·8) x 32 and out_proj 32 x 32; router 4x32, w1, v1, w2 each 4·48 x 32
    assert groups["attention"] == 4 * (64 * 32 + 1024) and groups["mlp"] == 4 * (128 + 3 * 4 * 48 * 32)
    assert groups["norms"] == 4 * 2 * 32 + 32                       # norm_1, norm_2 (no bias); norm_f
    # what transformers' to_dict writes into each sub-config, and beside it, reads as the same model
    meta = {"architectures": None, "return_dict": True, "is_encoder_decoder": False, "model_type": "",
            "_name_or_path": "", "id2label": {"0": "LABEL_0"}, "output_attentions": False, "dtype": None}
    saved = _convert(_dbrx(attn={**meta, "attn_pdrop": 0.0}, ffn={**meta, "hidden_size": 32, "moe_loss_weight": 0.05,
                                                                  "ffn_act_fn": {"name": "silu"},
                                                                  "moe_normalize_expert_weights": 1.0},
                           num_key_value_heads=2, max_seq_len=32768, tie_word_embeddings=False, resid_pdrop=0.0,
                           emb_pdrop=0.0, output_router_logits=False, router_aux_loss_coef=0.05))
    assert count(saved, 1, 8).params_by_group == groups and saved.left_out == card.left_out
    named = _convert(_dbrx(attn={"attn_pdrop": 0.1}, ffn={"moe_jitter_eps": 0.01}, resid_pdrop=0.1))
    assert named.left_out[:3] == (
        "dropout (attn_config.attn_pdrop 0.1, resid_pdrop 0.1): counted as training without dropout masks",
        "clip_qkv (8): its elementwise clamp of q, k and v is not counted",
        "moe_jitter_eps (0.01): its random elementwise scaling of each router's input in training is not counted")


@pytest.mark.parametrize("raw, words", [
    (_dbrx(ffn={"moe_num_experts": None}), ["missing key 'ffn_config.moe_num_experts'"]),      # transformers: 4
    (_dbrx(ffn={"moe_top_k": None}), ["missing key 'ffn_config.moe_top_k'"]),                  # transformers: 1
    (_dbrx(ffn={"ffn_hidden_size": None}), ["missing key 'ffn_config.ffn_hidden_size'"]),      # transformers: 3584
    (_dbrx(attn={"kv_n_heads": None}), ["'attn_config.kv_n_heads'"]),                         # transformers: 1
    (_dbrx(attn={"kv_n_heads": 3}), ["'attn_config.kv_n_heads' (3) must divide 'n_heads' (4)"]),
    (_dbrx(attn={"rope_theta": None}), ["'attn_config.rope_theta' is missing", "does not build"]),
    (_dbrx(attn={"clip_qkv": "null"}), ["'attn_config.clip_qkv' is missing", "forward fails"]),
    (_dbrx(attn={"clip_qkv": -1}), ["'attn_config.clip_qkv' is -1"]),
    (_dbrx(attn={"attn_pdrop": 2}), ["'attn_config.attn_pdrop' must be a dropout probability"]),
    (_dbrx(attn={"alibi": True}), ["unknown key 'attn_config.alibi' for DbrxForCausalLM"]),
    (_dbrx(ffn={"moe_expert_model_parallelism": True}), ["unknown key 'ffn_config.moe_expert_model_parallelism'"]),
    (_dbrx(ffn={"moe_top_k": 5}), ["'ffn_config.moe_top_k' (5) must be at most 'ffn_config.moe_num_experts' (4)"]),
    (_dbrx(ffn={"ffn_act_fn": {"name": "relu"}}), ["'ffn_config.ffn_act_fn.name' is 'relu'", "gated MLP"]),
    (_dbrx(ffn={"ffn_act_fn": {"name": "silu", "approximate": "tanh"}}), ["'ffn_config.ffn_act_fn'", "only 'name'"]),
    (_dbrx(ffn={"ffn_act_fn": "silu"}), ["'ffn_config.ffn_act_fn'", "a mapping with only 'name'"]),
    (_dbrx(ffn={"hidden_size": 64}), ["'ffn_config.hidden_size' is 64", "'d_model' (32)"]),
    (_dbrx(ffn={"moe_jitter_eps": 1.5}), ["'ffn_config.moe_jitter_eps'"]),
    (_dbrx(ffn={"moe_normalize_expert_weights": "l2"}), ["'ffn_config.moe_normalize_expert_weights'"]),
    (_dbrx(ffn={"is_encoder_decoder": True}), ["'ffn_config.is_encoder_decoder' is True"]),
    (_dbrx(attn={"dtype": 3}), ["'attn_config.dtype' is 3"]),
    (_dbrx(attn=None, attn_config=[1]), ["'attn_config' must be a mapping"]),
    (_dbrx(num_key_value_heads=4), ["'num_key_value_heads' is 4", "'attn_config.kv_n_heads' (2)"]),
    (_dbrx(tie_word_embeddings=True), ["'tie_word_embeddings' is true", "DbrxConfig refuses it"]),
    (_dbrx(d_model=30), ["'d_model' (30) must be a multiple of 'n_heads' (4)"]),
    (_dbrx(n_heads=None), ["'n_heads'"]),
    (_dbrx(num_hidden_layers=4), ["unknown key 'num_hidden_layers'"]),        # DBRX's is n_layers
])
def test_dbrx_refusals(raw, words):
    _refused(raw, *words)
