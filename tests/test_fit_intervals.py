"""The calibration's 95 % intervals (claims/fit_intervals.py), against a grid scan of the profile
done here and against how such an interval must narrow with more rows."""

import math

import pytest

from symroof.claims import calibrate
from symroof.claims.fit_intervals import intervals
from symroof.claims.published import validate


@pytest.fixture(scope="module")
def fit_rows():
    results, _ = validate()
    return {chip: [r for r in results if r.run.chip.name == chip and r.run.split == "fit"]
            for chip in ("tpu-v5e", "tpu-v6e", "h100-sxm", "gb200-nvl72")}


def test_the_height_is_the_tabulated_chi_square_quantile(fit_rows):
    """At the interval's ends the loss is L_min (1 + 3.841459 / (n - p)): 3.841459 is the 95 % point of
    chi-square with one degree of freedom as tables print it (e.g. NIST/SEMATECH e-Handbook 1.3.6.7.4)."""
    rows = fit_rows["tpu-v5e"]
    cal = calibrate.fitted("tpu-v5e", rows)
    pairs = [(r.parts, calibrate.target_step(r)[0]) for r in rows]
    best = calibrate._loss(pairs, **cal.numbers)
    lo, hi = intervals(rows, cal)["eta_mm"]
    height = best * (1 + 3.841459 / (len(rows) - 2))
    for end in (lo, hi):        # profile at the end: t_dcn minimised over a fine grid, here
        grid = [i * 1e-3 / 4000 for i in range(4001)]
        got = min(calibrate._loss(pairs, end, t, 1.0) for t in grid)
        assert got == pytest.approx(height, rel=2e-3)


def test_a_one_number_fit_matches_a_grid_scan_of_its_loss(fit_rows):
    """gb200: eta_mm alone. The loss scanned on a grid of 1e-5 crosses the height where the interval ends."""
    rows = fit_rows["gb200-nvl72"]
    cal = calibrate.fitted("gb200-nvl72", rows)
    pairs = [(r.parts, calibrate.target_step(r)[0]) for r in rows]
    best = calibrate._loss(pairs, **cal.numbers)
    height = best * (1 + 3.841459 / (len(rows) - 1))
    grid = [0.3 + i * 1e-5 for i in range(40001)]
    inside = [x for x in grid if calibrate._loss(pairs, x, cal.t_dcn, cal.eta_mem) <= height]
    lo, hi = intervals(rows, cal)["eta_mm"]
    assert lo == pytest.approx(inside[0], abs=2e-5) and hi == pytest.approx(inside[-1], abs=2e-5)
    assert lo < cal.eta_mm < hi


def test_every_row_twice_narrows_the_interval_as_the_statistics_say(fit_rows):
    """Doubling every row doubles the loss's curvature and keeps the error's spread: the half-width
    shrinks by sqrt((n - p) / (2n - p)), for a profile near its quadratic (eta_mm, well inside its bounds).
    With v6e's 9 rows that is 0.661, not the 0.707 an estimate of the spread over n (not n - p) gives."""
    for chip in ("tpu-v5e", "tpu-v6e", "h100-sxm"):
        rows = fit_rows[chip]
        cal = calibrate.fitted(chip, rows)
        one = intervals(rows, cal)["eta_mm"]
        two = intervals(rows + rows, cal)["eta_mm"]
        n, p = len(rows), len(cal.fitted)
        want = math.sqrt((n - p) / (2 * n - p))
        assert (two[1] - two[0]) / (one[1] - one[0]) == pytest.approx(want, rel=0.01), chip


def test_too_few_rows_give_no_interval(fit_rows):
    rows = fit_rows["gb200-nvl72"][:1]
    assert intervals(rows, calibrate.fitted("gb200-nvl72", rows)) is None
