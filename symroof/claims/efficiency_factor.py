"""The ceiling's efficiency factor (``symroof validate``'s first prediction, before the step model):
one number per hardware family and matmul dtype scales every ceiling to a predicted MFU."""

from __future__ import annotations

import math
from dataclasses import dataclass


def group(result) -> str:
    """``gpu``, ``tpu``; ``gpu fp8`` for runs whose weight matmuls are not BF16."""
    dtype = result.run.matmul_dtype
    return result.run.chip.family + ("" if dtype == "bf16" else f" {dtype}")


@dataclass(frozen=True)
class Fit:
    family: str
    factor: float | None     # None when the family has no fit run or no check run
    fit_runs: tuple
    checks: tuple            # (run name, predicted MFU, measured MFU)


def fit_efficiency(results: list) -> list[Fit]:
    """One factor per hardware family and matmul dtype (an FP8 run's ceiling is at the FP8 peak, far
    from what its BF16 attention reaches): geometric mean of measured / ceiling over its ``fit`` runs."""
    fits = []
    for family in sorted({group(r) for r in results}):
        mine = [r for r in results if group(r) == family]
        fit = [r for r in mine if r.run.split == "fit"]
        check = [r for r in mine if r.run.split == "check"]
        if not fit or not check:
            fits.append(Fit(family, None, tuple(r.run.name for r in fit), ()))
            continue
        factor = math.exp(sum(math.log(r.achieved) for r in fit) / len(fit))
        fits.append(Fit(family, factor, tuple(r.run.name for r in fit),
                        tuple((r.run.name, factor * r.ceiling, r.measured) for r in check)))
    return fits
