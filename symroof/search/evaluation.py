"""Every candidate mesh of a family evaluated at once: the family's compiled terms (``sweep.
compile_family``) over numpy columns of the candidates' degrees, placements and microbatches, each
row's step time, bound, memory and whether it fits in HBM.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..io.cards import ModelCard
from ..io.chips import ChipCard
from ..parallel.axes import BATCH_AXES
from .accumulation import fewest
from .candidates import Candidates
from .sweep import AXIS_NAMES, SPAN_NAMES, Compiled


@dataclass
class Evaluated:
    family: str
    axes: tuple
    cand: Candidates
    arrays: dict = field(default_factory=dict)   # name -> numpy array
    reasons: dict = field(default_factory=dict)  # infeasibility reason -> count
    variant: dict = field(default_factory=dict)  # searched settings: recompute policy, pipeline schedule


def evaluate(comp: Compiled, cand: Candidates, card: ModelCard, chip: ChipCard, batch: int, seq: int,
             overlap: str = "sum", pad: bool = False) -> Evaluated:
    """Vectorised step time, bound and feasibility of every candidate row."""
    import numpy as np

    from ..parallel.topology import shares_ports

    n = len(cand)
    cols = {"n_micro": np.asarray(cand.micro, dtype=float)}
    # with --pad, the batch and sequence padded to multiples of their axes' degrees:
    # the padding's FLOPs, bytes and memory are in every term
    data = np.prod([np.asarray(cand.degrees[a], dtype=float) for a in cand.axes if a in BATCH_AXES], axis=0)
    z = np.asarray(cand.degrees["seq"], dtype=float) if "seq" in cand.axes else np.ones(n)
    cols["B"] = np.ceil(batch / data) * data if pad else np.full(n, float(batch))
    cols["T"] = np.ceil(seq / z) * z if pad else np.full(n, float(seq))
    for a in cand.axes:
        size, m = AXIS_NAMES[a]
        cols[size] = np.asarray(cand.degrees[a], dtype=float)
        if m is not None:       # an axis of degree 1 lies on no link: it adds no bandwidth to a joint collective
            cols[m] = np.where(cols[size] == 1, 0.0, np.asarray(cand.m[a], dtype=float))
        if a in SPAN_NAMES and SPAN_NAMES[a] in comp.args:
            cols[SPAN_NAMES[a]] = np.asarray(cand.inner[a], dtype=float)
    argv = [cols[s] for s in comp.args]
    bc = lambda v: np.broadcast_to(np.asarray(v, dtype=float), (n,))    # noqa: E731
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        got = dict(zip(comp.names, (bc(v) for v in comp.fn(*argv))))
    t_math, t_hbm, memory = got["t_math"], got["t_hbm"], got.get("memory")
    if "memory_activations" in got:        # no pipeline: the fewest microbatches that fit
        micro, memory = fewest(got["memory_fixed"], got["memory_activations"], cols["B"] / data,
                               float(chip.hbm_bytes))
        cand = cand.take(range(n))
        cand.micro = [int(m) for m in micro]
        if "n_micro" in comp.args and np.any(micro != cols["n_micro"]):
            # an fsdp axis gathers the weights again for each microbatch (roofline.comms_by_axis)
            cols["n_micro"] = micro
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                again = dict(zip(comp.names, (bc(v) for v in comp.fn(*[cols[s] for s in comp.args]))))
            got.update({k: v for k, v in again.items() if k.startswith("comms:")})
    t_link = {"ici": np.zeros(n), "dcn": np.zeros(n)}
    for key, t in got.items():
        if not key.startswith("comms:"):
            continue
        over = key[len("comms:"):].split("+")
        link = comp.links[over[0]]
        # among one chip nothing moves (the book's rule drops the ring's (n-1)/n, 0 at n = 1)
        t = np.where(np.all([cols[AXIS_NAMES[a][0]] == 1 for a in over], axis=0), 0.0, t)
        adds = overlap == "sum" or shares_ports(link, chip.family == "gpu")
        t_link[link] = t_link[link] + t if adds else np.maximum(t_link[link], t)
    t_comms = (t_link["ici"] + t_link["dcn"] if overlap == "sum"
               else np.maximum(t_link["ici"], t_link["dcn"]))
    t_step = np.maximum(np.maximum(t_math, t_hbm), t_comms)
    # the largest of compute, HBM and comms; a comms bound is named by its larger link
    worst = np.argmax(np.stack([t_math, t_hbm, t_comms]), axis=0)
    bound = np.where(worst < 2, worst, np.where(t_link["dcn"] > t_link["ici"], 3, 2))
    deg = {a: cols[AXIS_NAMES[a][0]] for a in cand.axes}
    fits = memory <= float(chip.hbm_bytes)
    reasons = dict(cand.reasons)
    reasons["it needs more HBM than the chip has"] = int(np.sum(~fits))
    feasible = fits
    ev = Evaluated(comp.family, cand.axes, cand, reasons=reasons)
    ev.arrays = dict(sequences=cols["B"], seq=cols["T"], t_math=t_math, t_hbm=t_hbm, t_ici=t_link["ici"], t_dcn=t_link["dcn"], t_comms=t_comms,
                     t_step=t_step, memory=memory, bound=bound, feasible=feasible,
                     chips=np.prod([deg[a] for a in cand.axes], axis=0))
    return ev


BOUNDS = ("compute", "hbm", "ici", "dcn")

