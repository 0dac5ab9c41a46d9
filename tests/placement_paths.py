"""A pipeline run's chips on SymPy's path and on the exact one: the tests of uneven splits and layouts share it."""

import pytest

from symroof.claims.busiest_chip import chips
from symroof.claims.published import values


def each_chip_agrees_on_both_paths(run):
    """Each chip of ``run``: its ideal terms exactly, and its step model to 1e-12, from SymPy's expressions
    evaluated and from the exact numbers; returns the exact terms by chip."""
    from symroof.claims.calibrate import step_options
    from symroof.claims.sharded_family import numbered, plain, replicated, sharded
    from symroof.io.bind import evaluate
    from symroof.parallel import roofline, roofline_numbers, step_model, step_numbers

    nums, out = replicated(run, values(run)), {}
    for place in chips(run):
        exact = roofline_numbers.roofline_terms(numbered(run, nums, numbers=plain(nums), place=place), nums, run.schedule)
        sg = sharded(run, nums, place=place)
        symbolic = roofline.step(sg, overlap="sum", schedule=run.schedule, simplify=False,
                             ring_factor=True)
        assert {k: step_numbers.exact(evaluate(e, nums)) for k, e in symbolic.items()} == exact
        opts = step_options(run)
        fast = step_numbers.parts(numbered(run, nums, numbers=plain(nums), place=place), nums, opts)
        slow = step_model.parts(sg, nums, opts)
        assert fast.step(0.6, 0.5, 1e-5) == pytest.approx(slow.step(0.6, 0.5, 1e-5), rel=1e-12)
        out[place] = exact
    return out
