"""config.json import of the classes of hf_layouts_recent3 (CWM, FlexOlmo, FalconMamba, BitNet, ...): what each reads,
and the card keys FalconMamba and BitNet need (``ssm_inner_norms_weightless``, ``sub_norms``).

The exact checks against transformers (parameters, FLOPs, prefill and decode) are in
tests/validate/test_hf_recent3.py; here, without torch, what each class's config is read as. The weight counts
written out below are those of the modules transformers' code builds (D 32, N 4, K 2, H 8, F 48, V 64, 4 layers).
"""

import pytest

from symroof.errors import CardError
from symroof.io.bind import count
from symroof.io.cards import model_from_dict
from test_hf import _convert   # one config, read and refused the same way
from test_hf_more_classes import _small


def test_cwm_slides_all_but_every_fourth_layer():
    card = _convert(_small("CwmForCausalLM", "cwm", num_hidden_layers=6, head_dim=8, sliding_window=16))
    assert card.layers == (("global", 1), ("sliding", 3), ("global", 1), ("sliding", 1))
    assert card.sliding_window == 16 and not card.qkv_bias


def test_bitnet_counts_its_two_sub_norms():
    card = _convert(_small("BitNetForCausalLM", "bitnet"))
    assert card.sub_norms and card.mlp == "gated"
    # per layer: input and post-attention norms (32 each), attn_sub_norm (32), ffn_sub_norm (48); the final norm 32
    assert count(card, 1, 8).params_by_group["norms"] == 4 * (3 * 32 + 48) + 32
    assert any(n.startswith("ternary weights") for n in card.left_out)


def test_falcon_mamba_norms_hold_no_weights():
    raw = {"architectures": ["FalconMambaForCausalLM"], "model_type": "falcon_mamba", "num_hidden_layers": 2,
           "hidden_size": 32, "vocab_size": 64, "state_size": 8, "expand": 2, "conv_kernel": 4}
    card = _convert(raw)
    assert card.ssm_inner_norms and card.ssm_inner_norms_weightless
    # a norm before each mixer (32) and the final one: the mixer's dt, B and C norms add none
    assert count(card, 1, 8).params_by_group["norms"] == 2 * 32 + 32


_CARD = {"name": "t", "architecture": "bitnet", "source": "test", "n_layers": 2, "d_model": 8, "d_ff": 16,
         "n_heads": 2, "n_kv_heads": 2, "head_dim": 4, "vocab": 32, "tie_embeddings": False}


@pytest.mark.parametrize("change, words", [({"sub_norms": True, "n_experts": 4, "experts_per_token": 2}, "sub_norms"),
                                           ({"sub_norms": "yes"}, "sub_norms"),
                                           ({"ssm_inner_norms_weightless": True}, "ssm_inner_norms")])
def test_the_new_card_keys_are_refused_where_they_mean_nothing(change, words):
    with pytest.raises(CardError, match=words):
        model_from_dict({**_CARD, **change}, "card.yaml")
