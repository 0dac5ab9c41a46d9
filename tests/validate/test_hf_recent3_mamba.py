"""FalconMamba (``FalconMambaForCausalLM``, hf_layouts_recent3.falcon_mamba) against transformers 5.24.

Mamba-1's mixer with weightless RMSNorms on dt, B and C, checked as test_ssm.py checks Mamba: its parameters per
group (exact, meta device) and its norms' lack of weights, FlopCounterMode's forward outside the scan exact and the
scan and conv by transformers' conventions (test_ssm's docstring: its sequential scan counts half the recurrent form's
4·N a channel and token, its conv T + W - 1 outputs), prefill/decode FLOPs and the states its cache holds (exact).
"""

from __future__ import annotations

import random

import pytest

from hfcases import counted as hfcases_counted, maybe
from hfcompare import causal_lm, hf_counts
import test_ssm as ssm     # its torch check skips this module too where FlopCounterMode's table differs

pytestmark = pytest.mark.validate


def _falcon_mamba(rng: random.Random) -> dict:
    raw = {"architectures": ["FalconMambaForCausalLM"], "model_type": "falcon_mamba",
           "vocab_size": rng.randrange(16, 97), "num_hidden_layers": rng.randint(1, 3),
           "hidden_size": rng.randrange(16, 49, 8), "expand": rng.choice((1, 2)), "state_size": rng.choice((4, 8)),
           "conv_kernel": rng.choice((2, 4)), "use_bias": rng.random() < 0.3, "use_conv_bias": rng.random() < 0.7,
           "tie_word_embeddings": rng.random() < 0.7, "pad_token_id": None, "bos_token_id": None,
           "eos_token_id": None}
    maybe(rng, raw, "time_step_rank", rng.choice((2, 5)))
    maybe(rng, raw, "mixer_rms_eps", 1e-5, 0.3)
    return raw


FALCON_MAMBA = [_falcon_mamba(random.Random(20271421 + i)) for i in range(8)]


def _fm_id(raw) -> str:
    return f"falcon_mamba-L{raw['num_hidden_layers']}-D{raw['hidden_size']}-e{raw['expand']}-N{raw['state_size']}"


def _card(raw):
    from symroof.io.hf import model_from_hf_config

    return model_from_hf_config(dict(raw), "random/falcon_mamba/config.json")


def _scan(raw, batch, tokens) -> int:
    """The recurrent form's matmul FLOPs over all layers: 4·N per token and channel (d_inner = expand x D)."""
    return raw["num_hidden_layers"] * 4 * batch * tokens * raw["expand"] * raw["hidden_size"] * raw["state_size"]


def _conv(raw, batch, outputs) -> int:
    """Depthwise conv FLOPs over all layers: 2·W per channel of x and output."""
    return raw["num_hidden_layers"] * 2 * batch * outputs * raw["expand"] * raw["hidden_size"] * raw["conv_kernel"]


@pytest.mark.parametrize("raw", FALCON_MAMBA, ids=_fm_id)
def test_falcon_mamba_params_and_mixer_norms_match_transformers(raw):
    from symroof.io.bind import count

    card, model = _card(raw), causal_lm(raw, meta=True)
    assert count(card, batch=1, seq=1).params_by_group == hf_counts(raw)
    mixer = model.backbone.layers[0].mixer
    for norm in (mixer.dt_layernorm, mixer.b_layernorm, mixer.c_layernorm):     # weightless: buffers only
        assert not list(norm.parameters())
    assert card.ssm_inner_norms and card.ssm_inner_norms_weightless and card.ssm_dt_rank == mixer.time_step_rank


@pytest.mark.parametrize("raw, batch, seq", [(raw, b, t) for raw, b, t in zip(FALCON_MAMBA[:4], (1, 2, 3, 2),
                                                                               (7, 8, 17, 3))],
                         ids=lambda v: _fm_id(v) if isinstance(v, dict) else str(v))
def test_falcon_mamba_forward_flops_outside_the_scan_exact(raw, batch, seq):
    from symroof.core import derive
    from symroof.core.graph import Structure, build
    from symroof.core.symbols import B, T
    from symroof.io.bind import count, evaluate, model_values

    card = _card(raw)
    forward, _, _ = hfcases_counted(ssm._model(raw), raw["vocab_size"], batch, seq)
    g = build(Structure.of(card, seq), "full", phase="train")
    values = {**model_values(card), B: batch, T: seq}
    scan = evaluate(derive.total(g, "flops", "forward", where=lambda n, d: d.get("ssm", False)), values)
    assert scan == _scan(raw, batch, seq)
    ours = count(card, batch=batch, seq=seq, attention="full").flops_forward
    assert forward.get_total_flops() == ours - scan // 2 + _conv(raw, batch, raw["conv_kernel"] - 1)
    counts = forward.get_flop_counts()
    nodes = {n: evaluate(d["flops"], values) for n, d in g.nodes(data=True) if d["phase"] == "forward"}
    for i in range(raw["num_hidden_layers"]):
        theirs = lambda mod: sum(counts.get(f"FalconMambaForCausalLM.backbone.layers.{i}.mixer.{mod}",  # noqa: E731
                                            {}).values())
        assert theirs("in_proj") == nodes["layer/ssm/z"] + nodes["layer/ssm/x"]
        assert theirs("x_proj") == nodes["layer/ssm/dt_low"] + nodes["layer/ssm/B"] + nodes["layer/ssm/C"]
        assert theirs("out_proj") == nodes["layer/ssm/out"]


@pytest.mark.parametrize("raw, batch, seq", [(raw, b, t) for raw, b, t in zip(FALCON_MAMBA[3:], (2, 1, 3, 1, 2),
                                                                               (3, 9, 5, 2, 11))],
                         ids=lambda v: _fm_id(v) if isinstance(v, dict) else str(v))
def test_falcon_mamba_prefill_decode_flops_and_states(raw, batch, seq):
    from symroof.core import derive
    from symroof.core.graph import Structure, build
    from symroof.core.symbols import B, S, T, b_kv
    from symroof.io.bind import evaluate, model_values
    from hfcases import prefill_then_decode

    card = _card(raw)
    prefill, decode, held_prefill, held_decode, _ = prefill_then_decode(ssm._model(raw).eval(), raw["vocab_size"],
                                                                        batch, seq, ssm._held)
    values = {**model_values(card), B: batch, b_kv: 1}
    pre = build(Structure.of(card, seq), "full", phase="prefill")
    dec = build(Structure.of(card, seq + 1), "full", phase="decode")
    width = raw["conv_kernel"]       # a prefill shorter than W is padded to W first
    assert prefill.get_total_flops() == evaluate(derive.flops(pre, "forward"), {**values, T: seq}) - \
        _scan(raw, batch, seq) // 2 + _conv(raw, batch, max(seq, width) + width - 1 - seq)
    assert decode.get_total_flops() == evaluate(derive.flops(dec, "forward"), {**values, S: seq + 1}) - \
        _scan(raw, batch, 1) // 2 + _conv(raw, batch, 1)
    assert evaluate(derive.kv_cache_bytes(pre), {**values, T: seq}) == held_prefill
    assert evaluate(derive.kv_cache_bytes(dec), {**values, S: seq + 1}) == held_decode


def test_falcon_mamba_cases_cover_the_variants():
    cards = [_card(raw) for raw in FALCON_MAMBA]
    assert {c.tie_embeddings for c in cards} == {True, False} and {c.ssm_in_bias for c in cards} == {True, False}
    assert {c.ssm_conv_bias for c in cards} == {True, False}
    assert any("time_step_rank" not in raw for raw in FALCON_MAMBA)
