"""A run's step taken apart (``step_model.parts``): numbers in seconds at full efficiency, and the
step they make at the calibrated efficiencies (``step``, ``terms``). Plain floats and no SymPy, so
a prediction read back from the cache (claims/prediction_cache.py) needs neither the graph nor the
sharding."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

from .step_table import roof as _roof


@dataclass
class Parts:
    """A run's step, taken apart into numbers (seconds at eta = 1)."""

    matmul: list          # (compute seconds, HBM seconds) per matmul op, repeats folded in
    memory: float         # memory-bound ops, seconds
    bubble: float         # idle fraction added to the compute
    critical: dict        # link -> activation collectives + pipeline sends, seconds
    background: dict      # link -> weight gathers and gradient reductions that may hide, seconds
    tail: dict            # link -> the last layer's gradient reduction, seconds
    latency: float        # seconds, not scaled by bandwidth
    dcn_steps: float      # ring steps of the collectives on dcn links (each costs the calibrated alpha)
    optimizer: float      # seconds
    overlap: dict
    critical_overlap: float
    paired: dict = field(default_factory=dict)   # link -> [(collective s, its matmul's s)]: collective matmul

    _waits: dict = field(default_factory=dict, repr=False)  # eta_comm -> the sums no eta_mm changes
    _roof: tuple | None = field(default=None, repr=False)       # the matmuls sorted for _at()
    _fit_step: object = field(default=None, repr=False, compare=False)     # stepper()'s function

    def compute(self, eta_mm: float = 1.0, eta_mem: float = 1.0) -> float:
        return self._at(eta_mm, 1.0, eta_mem)[0]

    def exposed(self, eta_mm: float = 1.0, eta_comm: float = 1.0, t_dcn: float = 0.0, eta_mem: float = 1.0) -> float:
        return self._at(eta_mm, eta_comm, eta_mem)[1] + self.dcn_steps * t_dcn

    def step(self, eta_mm: float = 1.0, eta_comm: float = 1.0, t_dcn: float = 0.0, eta_mem: float = 1.0) -> float:
        compute, waits = self._at(eta_mm, eta_comm, eta_mem)
        return compute + (waits + self.dcn_steps * t_dcn) + self.optimizer / eta_mem

    def stepper(self):
        """``step`` at eta_comm = 1 as a function of (eta_mm, t_dcn, eta_mem): the same operations on
        the same floats, every field read once (a fit calls it tens of thousands of times)."""
        if self._fit_step is None:
            self._fit_step = self._step_at(1.0)
        return self._fit_step

    def numbers_at(self, eta_comm: float) -> tuple:
        """What ``step`` reads at this eta_comm, each field once: (ratios, hbm_below, flop_from, memory,
        1 + bubble, critical, tail, background, hideable, latency, dcn_steps, optimizer, paired, hidden)."""
        if self._roof is None:
            self._roof = _roof(self.matmul)
        return (*self._roof, self.memory, 1 + self.bubble, *(self._waits.get(eta_comm) or self._fixed(eta_comm)),
                self.latency, self.dcn_steps, self.optimizer,
                [p for pairs in self.paired.values() for p in pairs], 1 - self.critical_overlap)

    def _step_at(self, eta_comm: float):
        (ratios, hbm_below, flop_from, memory, bubble, critical, tail, background, hideable, latency, dcn_steps,
         optimizer, paired, hidden) = self.numbers_at(eta_comm)

        def step(eta_mm: float, t_dcn: float, eta_mem: float) -> float:
            k = bisect_left(ratios, eta_mm)
            compute = (hbm_below[k] + flop_from[k] / eta_mm + memory / eta_mem) * bubble
            out = critical
            if paired:
                out += sum(hidden * max(0.0, c / eta_comm - m / eta_mm) for c, m in paired)
            out += tail
            out += background
            out += max(0.0, hideable - compute)
            return compute + ((out + latency) + dcn_steps * t_dcn) + optimizer / eta_mem
        return step

    def _at(self, eta_mm: float, eta_comm: float, eta_mem: float) -> tuple[float, float]:
        """``(compute, exposed but for its t_dcn term)``. A fit calls this tens of thousands of
        times, each at a new eta_mm: the matmuls are sorted by their flop/hbm ratio once, and the
        sums that only eta_comm changes are kept per eta_comm, so each call is a bisection and a few
        additions."""
        # each matmul takes the longer of its HBM time and flop / eta_mm: the ones whose flop/hbm
        # ratio is below eta_mm are HBM-bound (the first k, by bisection)
        if self._roof is None:
            self._roof = _roof(self.matmul)
        ratios, hbm_below, flop_from = self._roof
        k = bisect_left(ratios, eta_mm)
        compute = (hbm_below[k] + flop_from[k] / eta_mm + self.memory / eta_mem) * (1 + self.bubble)
        fixed = self._waits.get(eta_comm)
        if fixed is None:
            fixed = self._waits[eta_comm] = self._fixed(eta_comm)
        critical, tail, background, hideable = fixed
        out = critical
        # collective matmul: the transfer is cut into steps that run under the matmul's own steps, so
        # only what the matmul cannot cover waits (ideal limit: critical_overlap = 1, nothing waits)
        if self.paired:
            out += sum((1 - self.critical_overlap) * max(0.0, c / eta_comm - m / eta_mm)
                       for pairs in self.paired.values() for c, m in pairs)
        out += tail
        out += background
        out += max(0.0, hideable - compute)
        return compute, out + self.latency

    def _fixed(self, eta_comm: float) -> tuple:
        """The sums of ``exposed`` that depend on ``eta_comm`` alone."""
        critical = sum((1 - self.critical_overlap) * t / eta_comm for t in self.critical.values())
        tail = sum(t / eta_comm for t in self.tail.values())
        # The book's "sum" model: collectives on different links do not overlap each other, so
        # what hides behind the compute is their sum; the part a link cannot overlap waits.
        hideable = sum(self.overlap.get(link, 1.0) * t / eta_comm for link, t in self.background.items())
        background = sum((1 - self.overlap.get(link, 1.0)) * t / eta_comm for link, t in self.background.items())
        return critical, tail, background, hideable

    def terms(self, eta_mm: float = 1.0, eta_comm: float = 1.0, t_dcn: float = 0.0, eta_mem: float = 1.0) -> dict:
        compute, waits = self._at(eta_mm, eta_comm, eta_mem)
        exposed = waits + self.dcn_steps * t_dcn
        latency = self.latency + self.dcn_steps * t_dcn
        return {"t_compute": compute, "t_exposed_comms": exposed - latency,
                "t_latency": latency, "t_optimizer": self.optimizer / eta_mem,
                "bubble": self.bubble, "t_step": compute + exposed + self.optimizer / eta_mem}
