"""config.json import of the MoE classes of hf_layouts_moe4 (HunYuan MoE): defaults, what each reads,
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
