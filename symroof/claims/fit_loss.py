"""The calibration's loss over its fit rows, evaluated thousands of times per ``validate`` (two nested
minimisations per chip, calibrate.py).

``fit_pairs`` gives the rows as ``Rows``, whose loss is one loop over them: each row's sums that no
fitted number changes read once (``Parts.numbers_at``), those that only t_dcn and eta_mem change
worked out once per pair of them (a minimisation over eta_mm holds both), no call per row, and a
point asked for again (a tenth of a fit's: its last eta_mm search repeats one it made) read back. On
each row the float operations are ``Parts.stepper``'s in its order, and the squared logs are summed
as ``sum`` of their list, so the loss is the same bit for bit (tests/test_fit_loss.py); any other
list of (parts, target) pairs takes each row's ``stepper``.
"""

from __future__ import annotations

import math
from bisect import bisect_left


class Rows(list):
    """``(parts, target step seconds)`` of each fit run; its loss function is made on first use."""

    __slots__ = ("_loss",)

    def __init__(self, pairs=()):
        super().__init__(pairs)
        self._loss = None


def fit_pairs(results) -> Rows:
    """``(parts, target step seconds)`` of each fit run: what ``loss`` sums over."""
    from .calibrate import target_step

    return Rows((r.parts, target_step(r)[0]) for r in results)


def loss(rows, eta_mm: float, t_dcn: float, eta_mem: float = 1.0) -> float:
    """Squared log step error over ``rows``: (parts, target step seconds) of each fit run."""
    if type(rows) is Rows:
        if rows._loss is None:
            rows._loss = _one_loop([(parts.numbers_at(1.0), target) for parts, target in rows])
        return rows._loss(eta_mm, t_dcn, eta_mem)
    return sum([math.log(parts.stepper()(eta_mm, t_dcn, eta_mem) / target) ** 2 for parts, target in rows])


def _one_loop(rows: list):
    log = math.log
    held: dict = {}       # (t_dcn, eta_mem) -> each row's numbers with those two in
    seen: dict = {}       # (eta_mm, t_dcn, eta_mem) -> the loss: a fit's last eta_mm search is one it made before

    def at(t_dcn: float, eta_mem: float) -> list:
        out = []
        for (ratios, hbm_below, flop_from, memory, bubble, critical, tail, background, hideable, latency,
             dcn_steps, optimizer, paired, hidden), target in rows:
            # stepper's ``out = critical; out += tail; out += background`` where no collective matmul
            # comes between (``paired``: the rest, kept for the rows that have one); its ``memory /
            # eta_mem``, ``dcn_steps * t_dcn``, ``optimizer / eta_mem``
            base, rest = (None, (critical, tail, background, [(c / 1.0, m) for c, m in paired], hidden)) \
                if paired else (critical + tail + background, None)
            out.append((ratios, hbm_below, flop_from, memory / eta_mem, bubble, base, hideable, latency,
                        dcn_steps * t_dcn, optimizer / eta_mem, target, rest))
        return out

    def loss(eta_mm: float, t_dcn: float, eta_mem: float) -> float:
        got = seen.get((eta_mm, t_dcn, eta_mem))
        if got is None:
            if len(seen) > 1 << 14:
                seen.clear()
            got = seen[(eta_mm, t_dcn, eta_mem)] = summed(eta_mm, t_dcn, eta_mem)
        return got

    def summed(eta_mm: float, t_dcn: float, eta_mem: float) -> float:
        numbers = held.get((t_dcn, eta_mem))
        if numbers is None:
            if len(held) > 64:
                held.clear()
            numbers = held[(t_dcn, eta_mem)] = at(t_dcn, eta_mem)
        terms = []
        add = terms.append
        for ratios, hbm_below, flop_from, memory, bubble, out, hideable, latency, dcn, optimizer, target, rest \
                in numbers:
            k = bisect_left(ratios, eta_mm)
            compute = (hbm_below[k] + flop_from[k] / eta_mm + memory) * bubble
            if rest is not None:
                critical, tail, background, paired, hidden = rest
                out = critical
                out += sum([hidden * (d if (d := c - m / eta_mm) > 0.0 else 0.0) for c, m in paired])
                out += tail
                out += background
            wait = hideable - compute
            out += wait if wait > 0.0 else 0.0      # max(0.0, wait), as stepper takes it, without the call
            add(log((compute + ((out + latency) + dcn) + optimizer) / target) ** 2)
        return sum(terms)
    return loss
