"""config.json import of more MoE classes (MiniMax-M2): defaults, what each reads, requires and refuses.

The exact checks against transformers (parameters, FLOPs, prefill and decode) are in
tests/validate/test_hf_more_moe.py; here, without torch, what each class's config is read as. The
weight counts written out below are those of the modules transformers' code builds.
"""

import json
from fractions import Fraction
from pathlib import Path

import pytest

from symroof.io.bind import count
from symroof.io.hf import model_from_hf_config
from test_hf import _convert, _refused   # one config, read and refused the same way
from test_hf_more_classes import _small

SHAPES = json.loads((Path(__file__).resolve().parent / "data" / "published_shapes.json").read_text())

# ----------------------------------------------------------------------------- MiniMax-M2


def _minimax(**keys) -> dict:
    return _small("MiniMaxM2ForCausalLM", "minimax_m2", **{"head_dim": 12, "num_local_experts": 4,
                                                           "num_experts_per_tok": 2, **keys})


def test_minimax_m2_reads_experts_on_every_layer_and_qk_norms_over_all_heads():
    card = _convert(_minimax())
    assert (card.architecture, card.n_experts, card.experts_per_token, card.d_ff_expert, card.d_ff_shared) == \
        ("minimax_m2", 4, 2, 0, 0)
    assert (card.qk_norm, card.qk_norm_width, card.rotary_pct, card.head_dim) == (True, "all", 1, 12)
    assert (card.qkv_bias, card.o_bias, card.mlp_bias, card.tie_embeddings, card.left_out) == (False,) * 4 + ((),)
    # per layer (D 32, N 4, K 2, H 12, F 48, E 4): q 32x48, k and v 32x24, o 48x32; router 4x32, experts
    # 4 x (gate and up 2 x 48x32 + down 48x32); norms 2 x 32 and q/k norms of 48 and 24
    assert count(card, 1, 8).params_by_group == {"embedding": 2048, "attention": 4 * 4608, "mlp": 4 * (128 + 4 * 4608),
                                                 "norms": 4 * 136 + 32, "unembedding": 2048}


def test_minimax_m2_rotary_share_in_transformers_order():
    assert _convert(_minimax(rotary_dim=6)).rotary_pct == Fraction(1, 2)           # rotary_dim / head_dim
    assert _convert(_minimax(rotary_dim=6, partial_rotary_factor=0.25)).rotary_pct == Fraction(1, 4)
    nested = {"rope_type": "default", "rope_theta": 5e6, "partial_rotary_factor": 0.75}
    assert _convert(_minimax(rotary_dim=6, partial_rotary_factor=0.25, rope_parameters=nested)).rotary_pct == \
        Fraction(3, 4)


def test_minimax_m2_published_switches_and_mtp():
    card = _convert(_minimax(num_experts=4, num_local_experts=None, use_qk_norm=True, qk_norm_type="per_layer",
                             attn_type_list=[1] * 4, shared_intermediate_size=0, scoring_func="sigmoid",
                             use_routing_bias=True, use_mtp=True, num_mtp_modules=3, mtp_transformer_layers=1,
                             router_aux_loss_coef=0.001, output_router_logits=False, router_jitter_noise=0.0))
    assert card.n_experts == 4
    assert card.left_out == ("multi-token-prediction modules (num_mtp_modules 3, mtp_transformer_layers 1) not "
                             "counted: transformers does not build them",)
    assert _convert(_minimax(use_mtp=False, num_mtp_modules=3)).left_out == ()


@pytest.mark.parametrize("change, words", [
    ({"head_dim": None}, ["'head_dim' is missing"]),                 # transformers: MiniMax-M2's 128
    ({"num_key_value_heads": None}, ["'num_key_value_heads' is missing"]),
    ({"num_key_value_heads": "null"}, ["'num_key_value_heads'", "null"]),
    ({"num_local_experts": None}, ["missing key 'num_local_experts'"]),
    ({"num_experts": 6}, ["'num_local_experts'", "'num_experts'", "disagree"]),
    ({"rotary_dim": 16}, ["'rotary_dim'", "at most 'head_dim'"]),
    ({"partial_rotary_factor": 0}, ["'partial_rotary_factor'", "(0, 1]"]),
    ({"use_qk_norm": False}, ["'use_qk_norm'", "always builds"]),
    ({"qk_norm_type": "per_head"}, ["'qk_norm_type'", "'per_layer'"]),
    ({"attn_type_list": [1, 0, 1, 1]}, ["'attn_type_list'", "lightning"]),
    ({"attn_type_list": [1, 1]}, ["'attn_type_list'", "4 entries"]),
    ({"shared_intermediate_size": 128}, ["'shared_intermediate_size'", "no shared expert"]),
    ({"use_mtp": "yes"}, ["'use_mtp'", "true or false"]),
    ({"attention_bias": True}, ["unknown key 'attention_bias'"]),
    ({"hidden_act": "gelu_new_plain"}, ["'hidden_act'", "gated"]),
])
def test_minimax_m2_refusals(change, words):
    _refused(_minimax(**change), *words)


def test_minimax_m2_as_published_counts_as_its_card_says():
    """Its total is transformers' own (tests/validate/test_hf_params.py builds it on the meta device); the
    model card says "230B total parameters with 10B active" (active: the embedding table, a lookup, left out)."""
    raw = {k: v for k, v in SHAPES["MiniMax-M2"].items() if k != "_source"}
    card = model_from_hf_config(raw, "MiniMax-M2/config.json")
    c = count(card, 1, 4096)
    assert c.params_total == 228_689_748_992 and round(c.params_total / 1e10) == 23
    assert round((c.params_active - c.params_by_group["embedding"]) / 1e9) == 10
    assert (card.rotary_pct, card.qk_norm_width) == (Fraction(1, 2), "all")
    assert [note.split(":")[0] for note in card.left_out] == ["auto_map", "quantization_config",
                                                              "multi-token-prediction modules (num_mtp_modules 3, "
                                                              "mtp_transformer_layers 1) not counted"]
