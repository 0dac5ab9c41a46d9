"""MegaScale (arXiv 2402.15627, Table 2): a 175B GPT on 256 to 12,288 A100s, each size run with Megatron-LM
(commit 285068c8) and with MegaScale, added as check rows after the A100 card was calibrated (no fit row
comes from this paper). What the card gets, and what it misses:

- Megatron-LM's eight rows: MFU within 2.0 points at the median and 3.3 at most (the issue's 3 and 8
  are met; the constant MFU's are 3.8 and 9.9). At 285068c8 Megatron-LM all-reduces the gradients in
  fp32 once the backward is done (the rows' gradient_overlap: false, gradient_dtype: fp32); until that
  was stated they came out 4.2 / 6.6. The measured MFU falls 8.3 points from 256 to 1024 GPUs at batch
  768 and 7.5 from 3072 to 12288 at batch 6144; the model's falls 4.3 and 7.7.
- MegaScale's eight rows: 3.7 points at the median, 8.9 at most (both targets missed, the constant MFU
  8.0 and 14.2). MegaScale measures 1.20 to 1.34 times Megatron-LM's MFU; with its overlap of every
  collective the model gives 1.09 to 1.24 times: the ordering right, the size of the gain short (its
  kernels, fused ops and data pipeline are no terms of the step model).

So the assertions here are what holds: the ceiling bounds every row, the model orders the two systems
as measured and lowers each system's MFU as GPUs are added at a fixed batch, and the Megatron-LM rows
meet both targets. Independent numbers: the paper's Table 1 and 2 and Megatron's FLOP formula."""

import statistics

import pytest

GPUS = (256, 512, 768, 1024, 3072, 6144, 8192, 12288)
# arXiv 2402.15627 Table 2: GPUs -> (iteration s, tokens/s, MFU), Megatron-LM then MegaScale
MEGATRON = {256: (40.0, 39.3e3, 0.530), 512: (21.2, 74.1e3, 0.499), 768: (15.2, 103.8e3, 0.467),
            1024: (11.9, 132.7e3, 0.447), 3072: (29.02, 433.6e3, 0.487), 6144: (14.78, 851.6e3, 0.478),
            8192: (12.24, 1027.9e3, 0.433), 12288: (8.57, 1466.8e3, 0.412)}
MEGASCALE = {256: (32.0, 49.0e3, 0.653), 512: (16.5, 95.1e3, 0.635), 768: (11.5, 136.7e3, 0.613),
             1024: (8.9, 176.9e3, 0.590), 3072: (23.66, 531.9e3, 0.591), 6144: (12.21, 1030.9e3, 0.573),
             8192: (9.56, 1315.6e3, 0.549), 12288: (6.34, 1984.0e3, 0.552)}


@pytest.fixture(scope="module")
def rows():
    from symroof.claims.published import as_json, validate

    out = as_json(*validate())
    got = {r["name"]: r for r in out["runs"] if r["source"].startswith("arXiv 2402.15627")}
    assert len(got) == 16 and all(r["split"] == "check" for r in got.values())
    return ({g: got[f"megascale-175b-megatron-lm-{g}gpu"] for g in GPUS},
            {g: got[f"megascale-175b-{g}gpu"] for g in GPUS})


def test_the_rows_carry_table_2_as_printed(rows):
    for table, runs in zip((MEGATRON, MEGASCALE), rows):
        for g, (step, tokens, mfu) in table.items():
            batch = 768 if g <= 1024 else 6144
            r = runs[g]
            assert (r["chips"], r["measured_mfu"], r["measured_step_s"]) == (g, mfu, step)
            # the table's own arithmetic: batch x 2048 tokens per iteration, to its rounding (0.4 %)
            assert batch * 2048 / step == pytest.approx(tokens, rel=4e-3)


def test_megatrons_formula_reproduces_the_megatron_lm_rows_and_symroof_counts_the_same():
    """72 L h^2 (1 + s/6h + V/12hL) per token (Narayanan et al. 2021, eq. 3 without recompute) with
    Table 1's 175B (L 96, h 12288) and 6.1's s 2048, V 64,000: every Megatron-LM row's tokens/s times it
    over GPUs x 312 TFLOP/s is the printed MFU to 0.5 %."""
    L, h, s, V = 96, 12288, 2048, 64000
    per_token = 72 * L * h**2 * (1 + s / (6 * h) + V / (12 * h * L))
    for g, (_, tokens, mfu) in MEGATRON.items():
        assert tokens * per_token / (g * 312e12) == pytest.approx(mfu, rel=5e-3)


def test_the_step_symroof_derives_from_each_printed_mfu_is_the_printed_step(rows):
    """symroof's ops+full count (Megatron-LM rows) and ops+causal (MegaScale rows) turn the printed MFU
    into a step time; it is the printed iteration time to the paper's rounding: 0.5 % for Megatron-LM,
    1.1 % for MegaScale (its 768-GPU row; the others within 0.4 %)."""
    megatron, megascale = rows
    for g in GPUS:
        assert megatron[g]["t_step_measured_s"] == pytest.approx(MEGATRON[g][0], rel=5e-3)
        assert megascale[g]["t_step_measured_s"] == pytest.approx(MEGASCALE[g][0], rel=1.1e-2)


def test_every_row_is_under_its_ceiling(rows):
    for runs in rows:
        for r in runs.values():
            assert r["measured_mfu"] < r["mfu_ceiling"] and r["predicted_mfu"] < r["mfu_ceiling"]


def test_the_model_orders_megascale_above_megatron_lm_at_every_size(rows):
    megatron, megascale = rows
    for g in GPUS:
        assert megascale[g]["measured_mfu"] > megatron[g]["measured_mfu"]
        assert megascale[g]["predicted_mfu"] > megatron[g]["predicted_mfu"]


def test_at_a_fixed_batch_more_gpus_lower_the_predicted_mfu_as_measured(rows):
    """Strong scaling: per batch and system, the predicted MFU falls at each step up in GPUs; the
    measured one falls from the first size to the last (MegaScale's 8192 -> 12288 GPUs rises 0.3 points)."""
    for runs in rows:
        for sizes in (GPUS[:4], GPUS[4:]):
            predicted = [runs[g]["predicted_mfu"] for g in sizes]
            assert all(a > b for a, b in zip(predicted, predicted[1:]))
            assert runs[sizes[0]]["measured_mfu"] > runs[sizes[-1]]["measured_mfu"]


def test_the_megatron_lm_rows_meet_both_targets(rows):
    """The issue's targets on a held-out source: median within 3 MFU points, maximum within 8."""
    megatron, _ = rows
    errors = [abs(r["predicted_mfu"] - r["measured_mfu"]) for r in megatron.values()]
    assert max(errors) <= 0.08 and statistics.median(errors) <= 0.03
