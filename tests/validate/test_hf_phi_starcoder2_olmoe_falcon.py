"""Phi (phi-1.5 / phi-2), StarCoder2, OLMoE and Falcon read from config.json, against transformers.

Random configurations of each class, with the keys that decide its layout drawn at random (and
left out, so that transformers' defaults are used, where symroof reads the same default):

- parameters on the meta device, in total and per group, and where each layer slides;
- FLOPs under FlopCounterMode (eager attention, eager experts): forward and backward totals,
  forward per module, backward per decoder layer and for the head (the checks of
  test_blocks_vs_transformers.py, its module map extended to these classes; Falcon's backward in
  total only, as FlopCounterMode files it under other modules);
- prefill T tokens and decode one: FLOPs, and the keys and values transformers' cache holds after each.

Falcon's new architecture broadcasts its K key/value heads to all N query heads before transformers'
cache stores them: that cache holds N / K times what symroof counts (the K heads a GQA cache needs),
which the card names in left_out; the cache comparison multiplies symroof's side by N / K there.
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
from test_blocks_vs_transformers import test_flops_match_flop_counter_mode as training_flops_match  # noqa: E402

pytestmark = pytest.mark.validate

CLASSES = {"phi": "PhiForCausalLM", "starcoder2": "Starcoder2ForCausalLM", "olmoe": "OlmoeForCausalLM",
           "falcon": "FalconForCausalLM"}


def random_config(rng: random.Random, arch: str, small: bool) -> dict:
    """A random config of ``arch``; required keys always given, the others given or left out at random."""
    layers = rng.choice((1, 2, 3)) if small else rng.randint(1, 6)
    heads = rng.choice((1, 2, 4)) if small else rng.randint(1, 12)
    head_dim = rng.choice((8, 16, 20)) if small else rng.choice((8, 12, 16, 20, 40, 64))
    raw = base_config(rng, CLASSES, arch, small, layers, heads, heads * head_dim)
    maybe(rng, raw, "tie_word_embeddings", rng.random() < 0.5, 0.6)
    if arch == "phi":          # K absent or null: N; head_dim always D // N (not a PhiConfig key)
        raw["num_key_value_heads"] = rng.choice((raw["num_key_value_heads"], None, "absent"))
        factor = rng.choice([f for f in (0.25, 0.4, 0.5, 1.0) if (head_dim * f) % 2 == 0])   # RoPE turns pairs
        where = rng.choice(("top", "rope_parameters", "absent"))       # absent: its default, 1/2
        if where == "top" or (where == "absent" and factor == 0.5):
            raw["partial_rotary_factor"] = factor
        elif where == "rope_parameters":
            raw["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": factor}
        maybe(rng, raw, "qk_layernorm", rng.random() < 0.5, 0.7)
        maybe(rng, raw, "hidden_act", rng.choice(("gelu_new", "gelu", "relu")))
        maybe(rng, raw, "resid_pdrop", rng.choice((0.0, 0.1)))
    elif arch == "starcoder2":      # K required (transformers: 2); head_dim read when given, else D // N
        maybe(rng, raw, "head_dim", rng.choice((4, 8, 12)), 0.4)
        maybe(rng, raw, "use_bias", rng.random() < 0.5, 0.7)
        maybe(rng, raw, "sliding_window", rng.choice((None, rng.randint(2, 12))), 0.7)
        maybe(rng, raw, "hidden_act", rng.choice(("gelu_pytorch_tanh", "gelu", "relu")))
        maybe(rng, raw, "norm_type", "layer_norm", 0.3)
    elif arch == "falcon":
        _falcon(rng, raw, heads)
    else:                            # OLMoE: experts required (transformers: 64 and 8)
        experts = rng.randint(2, 6)
        raw.update({rng.choice(("num_experts", "num_local_experts")): experts,
                    "num_experts_per_tok": rng.randint(1, experts)})
        maybe(rng, raw, "attention_bias", rng.random() < 0.5, 0.7)
        maybe(rng, raw, "clip_qkv", rng.choice((None, 8.0)))
        maybe(rng, raw, "norm_topk_prob", rng.random() < 0.5)
        if rng.random() < 0.3:
            raw["num_key_value_heads"] = rng.choice((None, "absent"))
    return {k: v for k, v in raw.items() if v != "absent"}


def _falcon(rng: random.Random, raw: dict, heads: int) -> None:
    """Falcon's attention variants: new_decoder_architecture (K = num_kv_heads, one or two norms), or the old
    one (multi_query: K = 1; else K = N), parallel or not; ALiBi or RoPE; its MLP width ffn_hidden_size
    (absent or null: 4 D), not intermediate_size."""
    ff, kv = raw.pop("intermediate_size"), raw.pop("num_key_value_heads")
    raw["ffn_hidden_size"] = rng.choice((ff, None, "absent"))
    new = rng.random() < 0.5
    raw.update(new_decoder_architecture=new, multi_query=rng.random() < 0.6, alibi=rng.random() < 0.3)
    maybe(rng, raw, "bias", rng.random() < 0.5, 0.7)
    maybe(rng, raw, "activation", rng.choice(("gelu", "relu", "gelu_new")))
    if new:
        raw["num_kv_heads"] = rng.choice((kv, kv, None, "absent"))
        raw["num_ln_in_parallel_attn"] = rng.choice((None, 1, 2, "absent"))
    else:
        raw["parallel_attn"] = rng.choice((True, False, "absent"))
        if raw["multi_query"]:
            raw["num_kv_heads"] = rng.choice((kv, None, "absent"))      # not read: one KV head
        else:
            raw["num_kv_heads"] = rng.choice((heads, None, "absent"))


PARAM_CASES, FLOP_CASES, PHASE_CASES = case_sets(random_config, CLASSES, (20270401, 20270402, 20270403), 19, (10, 6, 5), (16, 14))


@pytest.mark.parametrize("raw", PARAM_CASES, ids=case_id)
def test_params_match_transformers(raw):
    assert_params_match(raw)


@pytest.mark.parametrize("raw", PARAM_CASES, ids=case_id)
def test_layers_match_the_layers_transformers_builds(raw):
    """Per layer: experts or not, q/k norms or not; the window of every layer is the config's (the sliding
    mask and cache transformers builds from ``config.sliding_window``); Phi's one norm a layer."""
    model, card, kinds = meta_layers(raw)
    if raw["model_type"] == "falcon":
        _falcon_layers_match(raw, model, card)
        return
    assert [hasattr(layer.mlp, "experts") for layer in model.model.layers] == [k.mlp == "moe" for k in kinds]
    norms = "q_layernorm" if raw["model_type"] == "phi" else "q_norm"
    assert [hasattr(layer.self_attn, norms) for layer in model.model.layers] == [card.qk_norm] * len(kinds)
    window = getattr(model.config, "sliding_window", None)
    assert [card.sliding_window if k.attention == "sliding" else None for k in kinds] == [window] * len(kinds)
    if raw["model_type"] == "phi":
        assert card.norms_per_layer == 1 and not hasattr(model.model.layers[0], "post_attention_layernorm")
        assert card.head_bias and model.lm_head.bias is not None


def _falcon_layers_match(raw: dict, model, card) -> None:
    """Norms a layer, ALiBi or RoPE, and K: the key heads the fused matrix makes ((rows / H - N) / 2)."""
    layer, h = model.transformer.h[0], card.head_dim
    names = [n for n in ("input_layernorm", "post_attention_layernorm", "ln_attn", "ln_mlp") if hasattr(layer, n)]
    assert len(names) == card.norms_per_layer and card.parallel_residual == (names != ["input_layernorm",
                                                                                     "post_attention_layernorm"])
    assert (card.positions == "alibi") == model.config.alibi
    assert (layer.self_attention.query_key_value.out_features // h - card.n_heads) // 2 == card.n_kv_heads
    assert card.d_ff == model.config.ffn_hidden_size


@pytest.mark.parametrize("raw, batch, seq", FLOP_CASES, ids=phase_ids(FLOP_CASES))
def test_flops_match_flop_counter_mode(raw, batch, seq):
    training_flops_match(raw, batch, seq)


@pytest.mark.parametrize("raw, batch, seq", PHASE_CASES, ids=phase_ids(PHASE_CASES))
def test_prefill_decode_flops_and_cache_bytes(raw, batch, seq):
    """Prefill T tokens and decode one: FLOPs, and the keys and values transformers' cache holds after each
    (StarCoder2 at the window's edge, T = w - 2 to 4w: test_blocks_vs_transformers.test_sliding_cache_at_the_window_edge)."""
    card = card_of(raw)
    assert_phases_match(card, causal_lm(raw).eval(), raw["vocab_size"], batch, seq, cache_scale=_broadcast(raw, card))


def _broadcast(raw: dict, card) -> int:
    """N / K for Falcon's new architecture (its cache stores every query head's keys and values), else 1."""
    return card.n_heads // card.n_kv_heads if raw.get("new_decoder_architecture") else 1


def test_cases_cover_the_variants():
    cards = cards_by_class(CLASSES, PARAM_CASES, FLOP_CASES, PHASE_CASES)
    for group in cards.values():
        assert {c.tie_embeddings for _, c in group} == {True, False}
        assert {c.n_kv_heads == c.n_heads for _, c in group} == {True, False}
    phi, star, olmoe, falcon = cards.values()
    assert {(c.norms_per_layer, c.parallel_residual) for _, c in falcon} == {(1, True), (2, True), (2, False)}
    assert {c.positions for _, c in falcon} == {"alibi", "rope"} and {c.qkv_bias for _, c in falcon} == {True, False}
    assert {c.n_kv_heads for _, c in falcon if c.n_heads > 2} > {1}
    assert any(raw.get("new_decoder_architecture") and c.n_kv_heads < c.n_heads for raw, c in falcon)
    assert {c.qk_norm for _, c in phi} == {True, False} and len({c.rotary_pct for _, c in phi}) >= 3
    assert any("partial_rotary_factor" not in raw and "rope_parameters" not in raw for raw, _ in phi)
    assert {c.qkv_bias for _, c in star} == {True, False} and any(c.head_dim * c.n_heads != c.d_model for _, c in star)
    assert {bool(c.sliding_window) for _, c in star} == {True, False}
    assert {c.qkv_bias for _, c in olmoe} == {True, False} and any(c.experts_per_token > 1 for _, c in olmoe)
    assert any(c.left_out for _, c in olmoe) and any("num_local_experts" in raw for raw, _ in olmoe)
