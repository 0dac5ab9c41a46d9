"""Runs that state one configuration and were measured apart: what no prediction can tell apart.

Two rows of a runs file whose every field but their name, source, measurements and split is equal
(the same cards, mesh, batch, recompute, dtype, overlap ...) get the same prediction from symroof, and
from any model that reads only what the file states: the spread of their measurements is then a
floor, half of it on one of them, under any such model's error. It names what the rows leave unsaid
(torchtitan's rowwise and tensorwise FP8 recipes, torch.compile on and off), and how far each
family's targets can be met on its rows.
"""

from __future__ import annotations

# the fields that are not the configuration: who measured what, and how the row is used
_NOT_CONFIGURATION = ("name", "source", "measured_mfu", "measured_tflops", "measured_tokens_per_s",
                      "measured_step_s", "split", "note", "stated", "convention_given")


def groups(runs) -> list[dict]:
    """Each set of two or more runs of one configuration: their names and measured MFUs (run order)
    and the spread, max - min, in MFU (fraction); the largest spread first."""
    from .prediction_cache import run_repr

    by_key: dict = {}
    for run in runs:
        by_key.setdefault(run_repr(run, _NOT_CONFIGURATION), []).append(run)
    out = []
    for same in by_key.values():
        if len(same) > 1:
            mfu = [float(r.measured_mfu) for r in same]
            out.append({"chip": same[0].chip.name, "runs": [r.name for r in same], "measured_mfu": mfu,
                        "spread": max(mfu) - min(mfu)})
    return sorted(out, key=lambda g: -g["spread"])
