"""config.json import of the classes of hf_layouts_recent2 (Granite SWA, Granite MoE SWA, Persimmon, Apertus):
what each reads and refuses, and the card key Apertus's activation needs (``activation_params``).

The exact checks against transformers (parameters, FLOPs, prefill and decode) are in
tests/validate/test_hf_recent2.py; here, without torch, what each class's config is read as. The weight
counts written out below are those of the modules transformers' code builds (D 32, N 4, K 2, H 8, F 48,
V 64, 4 layers).
"""

import pytest

from symroof.errors import CardError
from symroof.io.bind import count
from symroof.io.cards import model_from_dict
from test_hf import _convert   # one config, read and refused the same way
from test_hf_more_classes import _small, refusals


def _apertus(**keys):
    return _small("ApertusForCausalLM", "apertus", **keys)


def test_apertus_counts_xielus_two_scalars_a_layer():
    card = _convert(_apertus())
    assert (card.mlp, card.activation_params, card.qk_norm, card.mlp_bias) == ("plain", 2, True, False)
    # per layer: up 32x48, down 48x32, and xIELU's alpha_p and alpha_n (activations.py XIELUActivation)
    assert count(card, 1, 8).params_by_group["mlp"] == 4 * (2 * 1536 + 2)
    assert count(_convert(_apertus(hidden_act="relu2")), 1, 8).params_by_group["mlp"] == 4 * 2 * 1536


def test_granite_swa_slides_all_but_every_fourth_layer_and_has_sinks():
    card = _convert(_small("GraniteSWAForCausalLM", "granite_swa", num_hidden_layers=5, sliding_window=16,
                           layer_rope_theta=[0, 1e4, 1e4, 0, 1e4]))
    assert card.layers == (("global", 1), ("sliding", 3), ("global", 1)) and card.attention_sinks
    assert any(n.startswith("no RoPE on 2 of 5 layers") for n in card.left_out)
    # per layer: q 32x32, k and v 32x16, o 32x32, the sinks 4
    assert count(card, 1, 8).params_by_group["attention"] == 5 * (2 * 1024 + 2 * 512 + 4)


test_apertus_refusals = refusals([
    ({"hidden_act": "swiglu"}, ["'hidden_act'", "xielu"]),
    ({"mlp_bias": True}, ["unknown key 'mlp_bias'"]),
], _apertus)


_CARD = {"name": "t", "architecture": "apertus", "source": "test", "n_layers": 2, "d_model": 8, "d_ff": 16,
         "n_heads": 2, "n_kv_heads": 2, "head_dim": 4, "vocab": 32, "tie_embeddings": False, "mlp": "plain",
         "activation_params": 2}


@pytest.mark.parametrize("change, words", [({"mlp": "gated"}, "mlp: plain"),
                                           ({"n_experts": 4, "experts_per_token": 2}, "n_experts 1"),
                                           ({"activation_params": -1}, "from 0")])
def test_activation_params_only_with_a_plain_dense_mlp(change, words):
    with pytest.raises(CardError, match=words):
        model_from_dict({**_CARD, **change}, "card.yaml")
