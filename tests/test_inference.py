"""Inference closed forms and the sections 7-8 derivations, against the book's own formulas and numbers.

The expected values here are the book's (jax-ml/scaling-book @ 0819a7d, inference.md and
applied-inference.md): its printed formulas (B_crit = C/W_hbm for bf16, F/(B·beta), M·F/alpha,
the 2D crossover 32·(F/D)·(3/4)^2, 2·K·H·L bytes per token) and its arithmetic, recomputed
here by hand from the stated inputs. symroof's expressions come from the decode and prefill
graphs, so agreement is not an identity.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
import sympy as sp

from symroof.claims import reproduce
from symroof.core.graph import Structure
from symroof.core.symbols import B, C, D, E, F, H, K, L, M_Y, N, V, W_hbm, W_ici, b_act, b_kv, b_param, k, n_chips, t_hop
from symroof.io.catalog import load_chip, load_model
from symroof.solve import inference as inf


def test_decode_critical_batch_is_the_books():
    # inference.md: 2BDF / 2DF >= C / W_hbm, so B_crit = C/W_hbm for bf16 weights (b = 2)
    expr = inf.decode_critical_batch().expr
    assert sp.simplify(expr.subs(b_param, 2) - C / W_hbm) == 0
    assert sp.simplify(expr.subs(b_param, 1) - C / (2 * W_hbm)) == 0     # int8 weights: half


def test_prefill_attention_length_mha_is_2C_over_W():
    # inference.md: MHA prefill intensity T/2 >= C/W_hbm, i.e. T >= 2C/W_hbm ("roughly > 480")
    expr = inf.prefill_attention_length(Structure(), "full").expr
    assert sp.simplify(expr.subs({K: N, b_act: 2, b_kv: 2}) - 2 * C / W_hbm) == 0


def test_kv_bytes_per_token_is_2KHL_bkv():
    assert sp.simplify(inf.kv_bytes_per_token() - 2 * K * H * L * b_kv) == 0
    card = load_model("llama3-70b")      # applied-inference.md: 2 * 8 * 128 * 80 = 163,840 B in int8
    assert 2 * card.n_kv_heads * card.head_dim * card.n_layers == 163840


def test_model_parallel_limits_are_the_books():
    beta = W_hbm / W_ici
    mem = inf.model_parallel_limit_memory().expr.subs({M_Y: 1, b_act: 2, b_param: 2})
    assert sp.simplify(mem - F / (B * beta)) == 0                        # Y > F / (B beta)
    comp = inf.model_parallel_limit_compute().expr.subs(b_act, 2)
    assert sp.simplify(comp - M_Y * F / (C / W_ici)) == 0                # Y > M F / alpha


def test_latency_bound_45000_bytes_and_BD_over_45000():
    # inference.md appendix C: (bytes / n_shards) / 4.5e10 < 1e-6 on v5e, i.e. 45 kB per shard
    chip = load_chip("tpu-v5e")
    per_shard = inf.latency_bound_bytes().expr.subs({W_ici: chip.ici_bidi_bytes_per_s,
                                                    t_hop: chip.ici_hop_latency_s})
    assert per_shard == 45000
    y = inf.latency_bound_degree().expr.subs({b_act: 1, W_ici: 9 * 10**10, t_hop: sp.Rational(1, 10**6)})
    assert sp.simplify(y - B * D / 45000) == 0                           # "Y > BD / 45,000" in int8


def test_2d_crossover_is_the_general_formula():
    # inference.md Q7: N > 32 (F/D) (3/4)^2; its "81" for F = 4D is 72 (see derivations/inference.yaml)
    d = inf.weight_stationary_2d()
    assert sp.simplify(d.expr - 32 * (F / D) * sp.Rational(3, 4) ** 2) == 0
    assert d.expr.subs({F: 4 * D}) == 72
    x_opt = d.extra["x_opt"].subs({F: 4 * D})
    assert sp.simplify(x_opt - sp.sqrt(n_chips / 8)) == 0


def test_moe_expert_batch_and_critical_batch():
    card = load_model("mixtral-8x7b")
    expr = inf.moe_expert_batch(Structure.of(card))
    assert sp.simplify(expr - B * k / E) == 0
    # the MoE decode critical batch is about E/k times the dense one (every expert's weights read)
    values = {C: 2 * 10**14, W_hbm: 10**12, b_param: 2, D: card.d_model, F: card.d_ff, L: card.n_layers,
              N: card.n_heads, K: card.n_kv_heads, H: card.head_dim, V: card.vocab,
              E: card.n_experts, k: card.experts_per_token}
    moe = float(inf.decode_critical_batch(Structure.of(card)).expr.subs(values))
    dense = 200.0                                                        # C b / (2 W) for these numbers
    assert 2.0 < moe / dense < card.n_experts / card.experts_per_token


@pytest.fixture(scope="module")
def reports():
    return {name: reproduce.run(name) for name in ("inference", "serving")}


@pytest.mark.parametrize("name, claims", [("inference", 79), ("serving", 63)])
def test_every_claim_runs_and_differs_only_with_a_reason(reports, name, claims):
    report = reports[name]
    assert len(report.results) == claims
    by_id = {c["id"]: c for c in report.derivation["claims"]}
    for r in report.results:
        if r.verdict == "differs":
            assert "erratum" in by_id[r.id], f"{r.id} differs ({r.reason}) without an erratum"
        if r.reproduce:
            assert r.reproduce["reproduces"], f"{r.id}: reproduce_with does not give {r.document_text}"


def test_book_contradictions_are_found(reports):
    verdict = {r.id: r.verdict for rep in reports.values() for r in rep.results}
    for claim in ("q7-crossover", "mha-oom-16", "mp-limit-64", "slice-int4-params", "slice-int8-hbm-left",
                  "double-4x8-hbm", "bs32-ici-22", "qps-int8"):
        assert verdict[claim] == "differs", claim
    for claim in ("b-crit-bf16", "q1-params", "pop-quiz-large", "l2-kv-8k", "bs32-step-4x2", "prefill-8k",
                  "evicted-per-step", "disaggregated-3"):
        assert verdict[claim] in ("match", "rounded"), claim


def test_llama2_13b_table_step_times_within_a_percent(reports):
    # inference.md table: (B x 6.7e9 + 26e9) / (8 x 8.2e11) for B = 1 .. 240
    got = {r.id: float(r.derived) for r in reports["inference"].results}
    for b, book in ((1, 4.98e-3), (16, 20.30e-3), (240, 249.09e-3)):
        assert got[f"mha-step-b{b}"] == pytest.approx(book, rel=0.01)


def test_slice_chips_follow_the_topology():
    from symroof.search.serve import slice_chips

    v5e = load_chip("tpu-v5e")
    assert [slice_chips(v5e, n) for n in (1, 2.2, 4.4, 7.1, 8.8, 85)] == [1, 4, 8, 8, 16, 128]
    assert slice_chips(load_chip("h100-sxm"), 3) == 4


def test_slice_chips_is_fast_on_the_largest_pod_a_card_may_give():
    # serve asks once per Pareto row; a 1e6-chip pod took 0.4 s a call (seconds in all) when
    # every box was multiplied out, and each answer is still the smallest slice that holds `need`:
    # one topology.slices builds (a sub-cube or whole cubes on these full_cube pods)
    from dataclasses import replace

    from symroof.parallel.topology import slices
    from symroof.search.serve import _slice_sizes, slice_chips

    v5p = load_chip("tpu-v5p")
    for shape, unit in (((12, 10, 9), 4), ((7, 30), 1), ((16, 20, 28), 4)):
        chip = replace(v5p, pod_shape=shape, wraparound_unit=unit)
        sizes = [n for n in range(1, chip.pod_chips + 1) if slices(chip, n)]
        for need in (1, 2.5, 13, 97.3, sizes[-1] - 0.5, sizes[-1]):
            assert slice_chips(chip, need) == min(s for s in sizes if s >= need)
    big = replace(v5p, pod_shape=(10 ** 6,))
    _slice_sizes.cache_clear()
    got = [slice_chips(big, n + 0.5) for n in range(50)]
    assert _slice_sizes.cache_info().misses == 1       # the pod's slice sizes listed once, not per call
    assert got == [min(s for s in range(1, 60) if s >= n + 0.5 and slices(big, s)) for n in range(50)]


def test_exact_until_instantiation():
    assert isinstance(inf.decode_critical_batch().expr.subs({C: 197 * 10**12, W_hbm: 82 * 10**10, b_param: 2}),
                      sp.Rational)
    assert Fraction(str(inf.DTYPE_BYTES["int4"])) == Fraction(1, 2)
