"""Nemotron-4 15B's pre-training (arXiv 2402.16819, section 2 and Table 2): 8-way tensor parallelism and
96, 192 and 288-way data parallelism on 768, 1536 and 2304 H100s, batch 384, 768 and 1152 sequences of
4096, iteration 0.57, 0.58 and 0.64 s, MFU 34.3, 33.3 and 30.5 %. Check rows, added after the H100 card
was calibrated (NeMo's Nemotron-4 15B benchmark rows are fitted, but not this paper's).

The card meets the issue's maximum here and misses its median: 5.3 points at most, 4.2 at the median
(targets 8 and 3); the constant MFU is 10.1 and 12.9 off. The paper's MFU falls 3.8 points as data
parallelism triples; the model's falls 2.7, from the last layer's gradient all-reduces over the data
axis: the source overlaps the others with the backward, but nothing is left to hide the last one's
ring behind, and a ring of N ranks takes 2(N - 1) steps (NCCL's ring AllReduce) at the card's 14 us.
Asserted: what holds (the ceiling, the comparison with the constant, the direction and the by-hand
size of the fall) and the median's miss itself."""

import statistics

import pytest

# arXiv 2402.16819 Table 2: GPUs -> (data-parallel size, batch, iteration s, MFU)
TABLE_2 = {768: (96, 384, 0.57, 0.343), 1536: (192, 768, 0.58, 0.333), 2304: (288, 1152, 0.64, 0.305)}


@pytest.fixture(scope="module")
def rows():
    from symroof.claims.published import as_json, validate

    out = as_json(*validate())
    got = {r["chips"]: r for r in out["runs"] if r["source"].startswith("arXiv 2402.16819")}
    assert sorted(got) == sorted(TABLE_2) and all(r["split"] == "check" for r in got.values())
    return got


def test_the_rows_are_table_2(rows):
    for g, (dp, batch, step, mfu) in TABLE_2.items():
        assert dp * 8 == g and batch == 4 * dp       # 8-way tensor parallel, 4 sequences per replica
        assert (rows[g]["measured_mfu"], rows[g]["measured_step_s"]) == (mfu, step)


def test_every_matmul_with_the_full_core_turns_each_printed_mfu_into_the_printed_step(rows):
    """By hand from Table 1 (L 32, h 6144, 48 heads of 128, 8 KV heads, V 256,000, sequence 4096) and
    NeMo's FFN width 24576, squared ReLU (no gate): 6 (L (2 h^2 + 2 h 1024 + 2 h F) + V h) + 12 L h s
    FLOPs per token, 9.40e10; the printed MFU x GPUs x 989 TFLOP/s over it gives the printed iteration
    time to its two digits (1 %), as symroof's own count does."""
    L, h, kv, F, V, s = 32, 6144, 8 * 128, 24576, 256000, 4096
    per_token = 6 * (L * (2 * h * h + 2 * h * kv + 2 * h * F) + V * h) + 12 * L * h * s
    for g, (_, batch, step, mfu) in TABLE_2.items():
        assert batch * s * per_token / (mfu * g * 989e12) == pytest.approx(step, rel=1e-2)
        assert rows[g]["t_step_measured_s"] == pytest.approx(step, rel=1e-2)


def test_every_row_is_under_its_ceiling(rows):
    assert all(r["measured_mfu"] < r["predicted_mfu"] < r["mfu_ceiling"] for r in rows.values())


def test_the_model_is_nearer_than_the_constant_mfu_and_misses_the_targets(rows):
    model = [abs(r["predicted_mfu"] - r["measured_mfu"]) for r in rows.values()]
    constant = [abs(r["baseline_mfu"] - r["measured_mfu"]) for r in rows.values()]
    assert statistics.median(model) < statistics.median(constant) and max(model) < max(constant)
    # the maximum (8 points) is met, its median (3) missed: asserted as measured, not moved
    assert max(model) <= 0.08 and statistics.median(model) > 0.03


def test_more_data_parallelism_waits_the_last_all_reduces_longer_rings(rows):
    """From 96 to 288 data-parallel ranks, by hand: the last layer's six weight matrices (q, k, v, o,
    up, down) and the token table each all-reduce over data after the last backward op, a ring of
    2(N - 1) steps at the H100 card's 14 us a step: 7 x 2 x (287 - 95) x 14 us = 37.6 ms more a step
    (to 2 %: the bytes' ring factor (N - 1)/N moves too). The paper's iteration grows 70 ms; the
    predicted MFU falls, by less than measured."""
    first, last = rows[768], rows[2304]
    assert last["predicted_step_s"] - first["predicted_step_s"] == pytest.approx(7 * 2 * 192 * 14e-6, rel=2e-2)
    measured = first["measured_mfu"] - last["measured_mfu"]
    predicted = first["predicted_mfu"] - last["predicted_mfu"]
    assert measured == pytest.approx(0.038) and measured / 2 < predicted < measured
