"""GLM config.json classes (hf_layouts_glm) against transformers 5.24: GLM (GLM-4 9B's GlmForCausalLM).

Random configurations, with the keys that decide the layout drawn at random (and left out, so that
transformers' defaults are used, where symroof reads the same default), go through
``model_from_hf_config`` exactly as a ``config.json`` does, and the same dict through transformers'
config class (``from_dict``):

- parameters on the meta device, in total and per group (exact); the norms and RoPE frequencies a layer builds;
- FLOPs under FlopCounterMode (eager attention): forward and backward totals, forward per module, backward
  per decoder layer and for the head (test_blocks_vs_transformers' checks, exact);
- prefill T tokens and decode one: FLOPs, and the bytes of the keys and values transformers' cache holds
  (exact).
Each class draws from seeds of its own, so that adding a class changes no other class's cases.
"""

from __future__ import annotations

import random

import pytest

torch = pytest.importorskip("torch",
                            reason="torch not installed: install the 'validate' extra (pip install .[validate])")
transformers = pytest.importorskip("transformers", reason="transformers not installed: install the 'validate' extra")

from hfcases import case_id, case_sets, maybe  # noqa: E402
from hfcompare import (assert_params_match, assert_phases_match, base_config, card_of, cards_by_class,  # noqa: E402
                       causal_lm, meta_layers, phase_ids)
import test_blocks_vs_transformers as blocks  # noqa: E402

from symroof.errors import CardError  # noqa: E402

pytestmark = pytest.mark.validate

CLASSES = {"glm": "GlmForCausalLM"}
# transformers module(s) below a decoder layer -> the symroof nodes that own the same matmuls
blocks.MODULES["glm"] = {**blocks.LLAMA_ATTENTION, "mlp.gate_up_proj": ("mlp/gate", "mlp/up"),
                         "mlp.down_proj": ("mlp/down",)}


def _glm(rng: random.Random, small: bool) -> dict:
    layers = rng.choice((1, 2, 3, 4)) if small else rng.randint(1, 8)
    heads = rng.choice((1, 2, 4)) if small else rng.randint(1, 12)
    head_dim = rng.choice((8, 16, 20)) if small else rng.choice((8, 12, 16, 20, 40, 64))
    raw = base_config(rng, CLASSES, "glm", small, layers, heads, heads * head_dim)
    maybe(rng, raw, "tie_word_embeddings", rng.random() < 0.5, 0.6)
    raw["head_dim"] = rng.choice((4, 8, 12, head_dim))      # K and head_dim required (2 and 128: GLM-4 9B's)
    maybe(rng, raw, "attention_bias", rng.random() < 0.5, 0.7)
    factor = rng.choice((0.25, 0.5, 1.0))
    if raw["head_dim"] * factor % 2:         # an odd rotated width is refused (test_refusals_name_the_key)
        factor = 0.5
    where = rng.choice(("top", "rope_parameters", "absent"))            # absent: its default, 1/2
    if where == "top":
        raw["partial_rotary_factor"] = factor
    elif where == "rope_parameters":
        raw["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": factor}
    return raw


DRAW = {"glm": _glm}


def random_config(rng: random.Random, arch: str, small: bool) -> dict:
    return DRAW[arch](rng, small)


PARAM_CASES, FLOP_CASES, PHASE_CASES = case_sets(random_config, {"glm": CLASSES["glm"]},
                                                 (20271101, 20271102, 20271103), 47, (8, 4, 4), (16, 14))


@pytest.mark.parametrize("raw", PARAM_CASES, ids=case_id)
def test_params_match_transformers(raw):
    assert_params_match(raw)


@pytest.mark.parametrize("raw", [r for r in PARAM_CASES if r["model_type"] == "glm"], ids=case_id)
def test_glm_layers_match_the_layers_transformers_builds(raw):
    """Two RMSNorms a layer (GLM-4's post-norms absent), the RoPE share transformers' frequencies span."""
    model, card, _ = meta_layers(raw)
    layer = model.model.layers[0]
    assert card.norms_per_layer == 2 and not hasattr(layer, "post_self_attn_layernorm")
    assert not hasattr(layer, "post_mlp_layernorm") and card.fused_gate_up and hasattr(layer.mlp, "gate_up_proj")
    assert model.model.rotary_emb.inv_freq.numel() * 2 == card.head_dim * card.rotary_pct
    assert card.qkv_bias == (layer.self_attn.q_proj.bias is not None) and layer.self_attn.o_proj.bias is None


@pytest.mark.parametrize("raw, batch, seq", FLOP_CASES, ids=phase_ids(FLOP_CASES))
def test_flops_match_flop_counter_mode(raw, batch, seq):
    blocks.test_flops_match_flop_counter_mode(raw, batch, seq)


@pytest.mark.parametrize("raw, batch, seq", PHASE_CASES, ids=phase_ids(PHASE_CASES))
def test_prefill_decode_flops_and_cache_bytes(raw, batch, seq):
    assert_phases_match(card_of(raw), causal_lm(raw).eval(), raw["vocab_size"], batch, seq)


def test_cases_cover_the_variants():
    cards = cards_by_class(CLASSES, PARAM_CASES, FLOP_CASES, PHASE_CASES)
    glm = cards["glm"]
    assert {c.tie_embeddings for _, c in glm} == {True, False}
    assert {c.n_kv_heads == c.n_heads for _, c in glm} == {True, False}
    assert {c.rotary_pct for _, c in glm} == {0.25, 0.5, 1} and {c.qkv_bias for _, c in glm} == {True, False}
    assert any(c.head_dim * c.n_heads != c.d_model for _, c in glm)


_GLM = {"architectures": ["GlmForCausalLM"], "model_type": "glm", "vocab_size": 32, "hidden_size": 16,
        "intermediate_size": 24, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
        "head_dim": 8}


@pytest.mark.parametrize("change, key", [
    ({"num_key_value_heads": None}, "num_key_value_heads"),      # transformers: N // None fails
    ({"num_key_value_heads": "absent"}, "num_key_value_heads"),  # transformers: 2, GLM-4 9B's
    ({"head_dim": None}, "head_dim"),                            # transformers: None * N fails
    ({"head_dim": "absent"}, "head_dim"),                        # transformers: 128, GLM-4 9B's
    ({"partial_rotary_factor": 0.3}, "partial_rotary_factor"),   # int(8 x 0.3) = 2 rotated, not 2.4
    ({"partial_rotary_factor": 0.125}, "partial_rotary_factor"),  # 1 of 8: transformers rotates 2
    ({"rope_parameters": {"rope_theta": 1e4, "partial_rotary_factor": 0.375}}, "partial_rotary_factor"),  # 3: 4
])
def test_refusals_name_the_key(change, key):
    raw = {**_GLM, **change}
    raw = {k: v for k, v in raw.items() if v != "absent"}
    with pytest.raises(CardError, match=key):
        card_of(raw)
