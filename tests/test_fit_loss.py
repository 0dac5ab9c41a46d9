"""The fit's one-loop loss (claims/fit_loss.py) against each row's own ``Parts.stepper``, summed as
calibrate summed it before: equal bit for bit (tolerance 0) at the ends and inside of every fitted
number's bounds, on every chip's fit rows, collective matmuls (paired transfers) included."""

import math

import pytest

from symroof.claims import calibrate
from symroof.claims.fit_loss import Rows, fit_pairs, loss
from symroof.claims.published import validate


@pytest.fixture(scope="module")
def by_chip():
    results, _ = validate()
    chips = sorted({r.run.chip.name for r in results})
    return {chip: [r for r in results if r.run.chip.name == chip and r.run.split == "fit"] for chip in chips}


def _per_row(rows, eta_mm, t_dcn, eta_mem):
    return sum([math.log(parts.stepper()(eta_mm, t_dcn, eta_mem) / target) ** 2 for parts, target in rows])


POINTS = [(eta_mm, t_dcn, eta_mem) for eta_mm in (0.05, 0.3171, 0.62, 1.0) for t_dcn in (0.0, 3.7e-6, 1e-3)
          for eta_mem in (0.05, 0.55, 1.0)]


def test_the_one_loop_is_each_row_s_step_bit_for_bit(by_chip):
    paired = 0
    for chip, fit in by_chip.items():
        if not fit:
            continue
        rows = fit_pairs(fit)
        assert type(rows) is Rows and list(rows) == [(r.parts, calibrate.target_step(r)[0]) for r in fit]
        paired += sum(bool(r.parts.paired) for r in fit)
        for point in POINTS + POINTS[::-1]:          # again, its numbers held from before
            assert loss(rows, *point) == _per_row(rows, *point), (chip, point)
            assert calibrate._loss(rows, *point) == calibrate._loss(list(rows), *point)
    assert paired > 0             # the paired (collective matmul) branch is exercised


def test_a_fit_reads_the_same_numbers_either_way(by_chip, monkeypatch):
    chip, fit = next((c, f) for c, f in by_chip.items() if len(f) > 2)
    fast = calibrate._fit(fit)
    monkeypatch.setattr(calibrate, "fit_pairs", lambda results: [(r.parts, calibrate.target_step(r)[0])
                                                                 for r in results])
    assert calibrate._fit(fit) == fast
