"""The chip a run's step is charged for: its ideal step terms and its step model's parts.

With an even pipeline split (the default) that is ``placement.charged``'s chip. With a
run's own split (``stage_layers`` or ``pipeline_layout``: claims/pipeline_split.py) every chip of the pipeline is a candidate,
each distinct one worked out. A step waits on its slowest stage, so:

- the ideal step is the longest of the chips' ideal steps, the tightest of the lower bounds they give;
- the step model charges the chip whose step is longest at the card's calibration (at full efficiency
  where the card has none). The choice needs some calibration, since a stage with more layers moves
  more data and one with the head does more matmuls; the card's is the one known before a fit.
"""

from __future__ import annotations


def charged(run, nums: dict, numbers: dict) -> tuple:
    """(graph with the run's numbers in, ``roofline.step``'s terms as exact numbers, step model parts)
    (``nums``: the work's numbers; ``numbers``: ``plain(nums)``)."""
    from .calibrate import from_card, step_parts

    got = []
    for place in chips(run):
        sg, seconds = _ideal(run, nums, numbers, place)
        got.append((sg, seconds, step_parts(run, nums, sg if run.graph_kernel == "fused" else None, numbers, place)))
    if len(got) == 1:
        return got[0]
    sg, seconds, _ = max(got, key=lambda g: g[1]["t_step"])
    at = from_card(run.chip).numbers if run.chip.calibration else {}
    return sg, seconds, max((g[2] for g in got), key=lambda parts: parts.step(**at))


def _ideal(run, nums: dict, numbers: dict, place) -> tuple:
    from ..io.bind import evaluate
    from ..parallel import roofline, roofline_numbers, step_numbers
    from .sharded_family import numbered, sharded

    sg = numbered(run, nums, numbers=numbers, place=place)
    try:
        return sg, roofline_numbers.roofline_terms(sg, nums, run.schedule)
    except step_numbers.NotExact:      # SymPy's terms with the numbers in, evaluated exactly
        terms = roofline.step(sharded(run, nums, place=place), overlap="sum", schedule=run.schedule, simplify=False,
                              ring_factor=True)
        return sg, {key: step_numbers.exact(evaluate(expr, nums)) for key, expr in terms.items()}


def chips(run) -> list:
    """The distinct placements of the run's chips: one (None, the even split's) without a split."""
    if not run.layout:
        return [None]
    from ..parallel.pipeline import copies
    from ..parallel.placement import from_layout

    got = from_layout(run.layout, run.model.layers, int(run.mesh["stage"].size), copies(run.schedule))
    return list(dict.fromkeys(got))
