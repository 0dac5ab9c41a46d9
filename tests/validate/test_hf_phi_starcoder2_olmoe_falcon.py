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

from hfcases import EAGER_EXPERTS, case_id, case_sets, hf_config, prefill_then_decode  # noqa: E402
from test_blocks_vs_transformers import hf_counts  # noqa: E402
from test_blocks_vs_transformers import test_flops_match_flop_counter_mode as training_flops_match  # noqa: E402
from symroof.io.bind import count  # noqa: E402
from symroof.io.hf import model_from_hf_config  # noqa: E402

pytestmark = pytest.mark.validate

CLASSES = {"phi": "PhiForCausalLM", "starcoder2": "Starcoder2ForCausalLM", "olmoe": "OlmoeForCausalLM",
           "falcon": "FalconForCausalLM"}


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _maybe(rng: random.Random, raw: dict, key: str, value, p: float = 0.5) -> None:
    if rng.random() < p:
        raw[key] = value


def random_config(rng: random.Random, arch: str, small: bool) -> dict:
    """A random config of ``arch``; required keys always given, the others given or left out at random."""
    layers = rng.choice((1, 2, 3)) if small else rng.randint(1, 6)
    heads = rng.choice((1, 2, 4)) if small else rng.randint(1, 12)
    head_dim = rng.choice((8, 16, 20)) if small else rng.choice((8, 12, 16, 20, 40, 64))
    raw = {"architectures": [CLASSES[arch]], "model_type": arch, "vocab_size": rng.randrange(16, 97),
           "num_hidden_layers": layers, "hidden_size": heads * head_dim, "num_attention_heads": heads,
           "num_key_value_heads": rng.choice(_divisors(heads)),
           "intermediate_size": rng.randrange(8, 65, 4) if small else rng.randint(4, 600),
           "max_position_embeddings": 64, "bos_token_id": None, "eos_token_id": None, "pad_token_id": None}
    _maybe(rng, raw, "tie_word_embeddings", rng.random() < 0.5, 0.6)
    if arch == "phi":          # K absent or null: N; head_dim always D // N (not a PhiConfig key)
        raw["num_key_value_heads"] = rng.choice((raw["num_key_value_heads"], None, "absent"))
        factor = rng.choice([f for f in (0.25, 0.4, 0.5, 1.0) if (head_dim * f) % 2 == 0])   # RoPE turns pairs
        where = rng.choice(("top", "rope_parameters", "absent"))       # absent: its default, 1/2
        if where == "top" or (where == "absent" and factor == 0.5):
            raw["partial_rotary_factor"] = factor
        elif where == "rope_parameters":
            raw["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": factor}
        _maybe(rng, raw, "qk_layernorm", rng.random() < 0.5, 0.7)
        _maybe(rng, raw, "hidden_act", rng.choice(("gelu_new", "gelu", "relu")))
        _maybe(rng, raw, "resid_pdrop", rng.choice((0.0, 0.1)))
    elif arch == "starcoder2":      # K required (transformers: 2); head_dim read when given, else D // N
        _maybe(rng, raw, "head_dim", rng.choice((4, 8, 12)), 0.4)
        _maybe(rng, raw, "use_bias", rng.random() < 0.5, 0.7)
        _maybe(rng, raw, "sliding_window", rng.choice((None, rng.randint(2, 12))), 0.7)
        _maybe(rng, raw, "hidden_act", rng.choice(("gelu_pytorch_tanh", "gelu", "relu")))
        _maybe(rng, raw, "norm_type", "layer_norm", 0.3)
    elif arch == "falcon":
        _falcon(rng, raw, heads)
    else:                            # OLMoE: experts required (transformers: 64 and 8)
        experts = rng.randint(2, 6)
        raw.update({rng.choice(("num_experts", "num_local_experts")): experts,
                    "num_experts_per_tok": rng.randint(1, experts)})
        _maybe(rng, raw, "attention_bias", rng.random() < 0.5, 0.7)
        _maybe(rng, raw, "clip_qkv", rng.choice((None, 8.0)))
        _maybe(rng, raw, "norm_topk_prob", rng.random() < 0.5)
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
    _maybe(rng, raw, "bias", rng.random() < 0.5, 0.7)
    _maybe(rng, raw, "activation", rng.choice(("gelu", "relu", "gelu_new")))
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


def _card(raw: dict):
    return model_from_hf_config(dict(raw), f"random/{case_id(raw)}/config.json")


@pytest.mark.parametrize("raw", PARAM_CASES, ids=case_id)
def test_params_match_transformers(raw):
    ours, theirs = count(_card(raw), batch=1, seq=1), hf_counts(raw)
    assert ours.params_by_group == theirs, (case_id(raw), ours.params_by_group, theirs)
    assert ours.params_total == sum(theirs.values())


@pytest.mark.parametrize("raw", PARAM_CASES, ids=case_id)
def test_layers_match_the_layers_transformers_builds(raw):
    """Per layer: experts or not, q/k norms or not; the window of every layer is the config's (the sliding
    mask and cache transformers builds from ``config.sliding_window``); Phi's one norm a layer."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(hf_config(raw))
    card = _card(raw)
    if raw["model_type"] == "falcon":
        _falcon_layers_match(raw, model, card)
        return
    kinds = [card.blocks[name] for name, n in card.layers for _ in range(n)]
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


@pytest.mark.parametrize("raw, batch, seq", FLOP_CASES, ids=[f"{case_id(r)}-B{b}T{t}" for r, b, t in FLOP_CASES])
def test_flops_match_flop_counter_mode(raw, batch, seq):
    training_flops_match(raw, batch, seq)


@pytest.mark.parametrize("raw, batch, seq", PHASE_CASES, ids=[f"{case_id(r)}-B{b}T{t}" for r, b, t in PHASE_CASES])
def test_prefill_decode_flops_and_cache_bytes(raw, batch, seq):
    """Prefill T tokens and decode one: FLOPs, and the keys and values transformers' cache holds after each
    (StarCoder2 at the window's edge, T = w - 2 to 4w: test_blocks_vs_transformers.test_sliding_cache_at_the_window_edge)."""
    from transformers import AutoModelForCausalLM

    from symroof.core import derive
    from symroof.core.graph import Structure, build
    from symroof.core.symbols import B, S, T, b_kv
    from symroof.io.bind import evaluate, model_values

    torch.manual_seed(0)
    extra = {"experts_implementation": "eager"} if raw["model_type"] in EAGER_EXPERTS else {}
    model = AutoModelForCausalLM.from_config(hf_config(raw), attn_implementation="eager", **extra).eval()
    prefill, decode, after_prefill, after_decode, width = prefill_then_decode(model, raw["vocab_size"], batch, seq)
    card = _card(raw)
    values = {**model_values(card), B: batch, b_kv: width}
    for phase, context, at, theirs, held in (("prefill", seq, {T: seq}, prefill, after_prefill),
                                             ("decode", seq + 1, {S: seq + 1}, decode, after_decode)):
        g = build(Structure.of(card, context), "full", phase=phase)
        assert evaluate(derive.flops(g), {**values, **at}) == theirs.get_total_flops(), phase
        assert evaluate(derive.kv_cache_bytes(g), {**values, **at}) * _broadcast(raw, card) == held, phase


def _broadcast(raw: dict, card) -> int:
    """N / K for Falcon's new architecture (its cache stores every query head's keys and values), else 1."""
    return card.n_heads // card.n_kv_heads if raw.get("new_decoder_architecture") else 1


def test_cases_cover_the_variants():
    cards = {arch: [] for arch in CLASSES}
    for raw in PARAM_CASES + [r for r, _, _ in FLOP_CASES + PHASE_CASES]:
        cards[raw["model_type"]].append((raw, _card(raw)))
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
