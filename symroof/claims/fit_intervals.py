"""How tightly the fit rows pin each calibrated number: profile-likelihood intervals.

The calibration minimises L = sum of log(step / target)^2 over n fit rows with p fitted numbers
(calibrate.py). Read as Gaussian errors of one variance, estimated as s^2 = L_min / (n - p), the
profile of one number (L minimised over the other at each value of it) rises to L_min + q s^2 at
the ends of its confidence interval, q the chi-square quantile of one degree of freedom (the
square of the normal quantile): the profile-likelihood interval (Venzon and Moolgavkar 1988,
Applied Statistics 37:87; Pawitan, "In All Likelihood", 2001, ch. 3). Where the profile stays below
that height up to a bound of the fit's search, the interval runs to that bound: the rows do not
pin that side. ``symroof calibrate`` prints them; a wide one says the rows cannot tell the number
apart from the other (eta_mm and eta_mem trade against each other on a GPU). The reading takes the
rows' errors as independent; rows of one source share its software's errors, so the spread is if
anything understated.
"""

from __future__ import annotations

from statistics import NormalDist

STEPS = 30          # bisection halvings per end: the bracket's width over 2^30, below any printed digit


def intervals(results, cal, level: float = 0.95) -> dict[str, tuple[float, float]] | None:
    """Each fitted number's ``level`` interval, ``{name: (low, high)}``, for the calibration ``cal``
    (``calibrate.Calibration``) fitted on ``results`` (the fit rows); None where the rows number no
    more than the fitted numbers (nothing left to estimate the error's spread from)."""
    from .calibrate import BOUNDS, _loss, _minimise, fit_pairs

    rows = fit_pairs(results)
    names = tuple(cal.fitted)
    if len(rows) <= len(names):
        return None
    numbers = dict(cal.numbers)
    best = _loss(rows, **numbers)
    q = NormalDist().inv_cdf((1 + level) / 2) ** 2
    height = best * (1 + q / (len(rows) - len(names)))

    def profile(name: str, value: float) -> float:
        at = {**numbers, name: value}
        other = next((k for k in names if k != name), None)
        if other is None:
            return _loss(rows, **at)
        got = _minimise(lambda v: _loss(rows, **{**at, other: v}), *BOUNDS[other])
        return _loss(rows, **{**at, other: got})

    out = {}
    for name in names:
        lo, hi = BOUNDS[name]
        out[name] = (_end(lambda v: profile(name, v), numbers[name], lo, height),
                     _end(lambda v: profile(name, v), numbers[name], hi, height))
    return out


def _end(f, inside: float, bound: float, height: float) -> float:
    """Where ``f`` (at most ``height`` at ``inside``, rising away from it) crosses ``height``
    between ``inside`` and ``bound``; ``bound`` itself where it never does."""
    if f(bound) <= height:
        return bound
    a, b = inside, bound            # f(a) <= height < f(b)
    for _ in range(STEPS):
        mid = (a + b) / 2
        if f(mid) <= height:
            a = mid
        else:
            b = mid
    return (a + b) / 2
