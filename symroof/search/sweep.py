"""The vectorised engine behind ``symroof plan``: compile a strategy family once, evaluate many meshes.

For each strategy family the step-time and memory expressions are derived ONCE from the
sharded graph (``shard`` → ``roofline.step`` / ``memory_per_chip`` / ``comms_by_axis``) with
symbolic mesh sizes and ``M`` symbols, the card and run numbers are substituted, and the
result is ``lambdify``'d. Every candidate mesh (degrees × physical placement × microbatches)
is then one row of numpy arrays: evaluation, feasibility and ranking are vectorised.

Per-axis ICI bandwidth enters through the ``M`` arguments: ``M`` on a ring, ``M/2`` on a
line (collectives.py). Which axes cross the scale-out network (DCN) is discrete, so each
such pattern (on GPU clusters) is compiled separately; the pod axis is always DCN.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from ..parallel import topology as meshlib
from ..io.cards import ChipCard, ModelCard
from ..parallel.collectives import Axis
from ..io.run import RunSettings
from ..core.symbols import (B, K, M_E, M_X, M_Y, M_Z, T, X, Y, Z, n_ep, n_micro,
                            n_pods, n_stages)
from .candidates import Candidates, enumerate_candidates, split_by_links  # noqa: F401

# Strategy families: the logical axes inside a pod, outermost first. "pod" (DCN) is added
# outermost whenever there are several pods. Expert families only for MoE cards.
FAMILIES = {
    "dp":          ("data",),
    "fsdp":        ("fsdp",),
    "tp":          ("tensor",),
    "dp_tp":       ("data", "tensor"),
    "fsdp_tp":     ("fsdp", "tensor"),
    "fsdp_seq":    ("fsdp", "seq"),
    "fsdp_tp_seq": ("fsdp", "seq", "tensor"),
    "pp_fsdp":     ("stage", "fsdp"),
    "pp_fsdp_tp":  ("stage", "fsdp", "tensor"),
    "fsdp_ep":     ("fsdp", "expert"),
    "fsdp_ep_tp":  ("fsdp", "expert", "tensor"),
}
MOE_ONLY = ("fsdp_ep", "fsdp_ep_tp")

#   logical axis   size symbol   M symbol (None: one link, M = 1)
AXIS_SYMBOLS = {
    "data":   (X,        M_X),
    "fsdp":   (X,        M_X),
    "tensor": (Y,        M_Y),
    "seq":    (Z,        M_Z),
    "stage":  (n_stages, None),     # stage-to-stage sends go over one link
    "expert": (n_ep,     M_E),
    "pod":    (n_pods,   None),     # DCN
}


@dataclass(frozen=True)
class Options:
    """How to evaluate: overlap rule, phase, and whether to use the book's simplified layer."""

    overlap: str = "sum"          # pinned book rule: comms on different axes add
    phase: str | None = None      # None: the whole step (forward + backward)
    book_layer: bool = False      # True: the book's In·W_in·W_out layer instead of the model
    m_override: tuple = ()        # ((axis, M), ...): force M for an axis (e.g. the book's M_X = 2)
    continuous: bool = False      # True: skip divisibility (the book treats tokens and F as continuous)


@dataclass
class Compiled:
    family: str
    axes: tuple                   # all logical axes, pod first if any
    args: tuple                   # lambdify argument symbols
    t_math: object
    t_hbm: object
    memory: object
    per_key: dict                 # "fsdp+seq" -> callable
    links: dict                   # axis -> "ici" | "dcn" (collectives are merged only within a link)


_CACHE: dict = {}


def _structure(card: ModelCard, options: Options):
    from ..core.graph import Structure

    return Structure.book_layer() if options.book_layer else Structure.of(card)


def compile_family(family: str, card: ModelCard, chip: ChipCard, run: RunSettings,
                   options: Options, pods: int = 1, dcn_axes: frozenset = frozenset()) -> Compiled:
    """Derive and lambdify one family's step time, memory and per-axis comms (cached).

    ``dcn_axes``: the axes laid over the scale-out network (GPU clusters); the pod axis always is.
    """
    from ..core.graph import build
    from ..io.bind import chip_values, model_values
    from ..parallel.roofline import comms_by_axis, memory_per_chip, step
    from ..parallel.sharding import shard

    key = (family, repr(card), repr(chip), run, options, pods > 1, dcn_axes)
    if key in _CACHE:
        return _CACHE[key]
    axes = (("pod",) if pods > 1 else ()) + FAMILIES[family]
    sym_mesh = {}
    for name in axes:
        size, m = AXIS_SYMBOLS[name]
        if name == "pod" or name in dcn_axes or m is None:
            m = sp.Integer(1)
        link = "dcn" if name == "pod" or name in dcn_axes else "ici"
        sym_mesh[name] = Axis(name, size, link, m, True)
    sg = shard(build(_structure(card, options), "causal"), sym_mesh)
    st = step(sg, options.overlap, options.phase, simplify=False)
    mem = memory_per_chip(sg)["total"]
    per = comms_by_axis(sg, options.phase)
    values = {**model_values(card), **chip_values(chip), **run.values()}
    if "tensor" in axes and not options.continuous:
        # KV heads replicated up to the tensor degree (axes.KV_REPLICATION): each chip holds
        # max(K, Y)/Y of them; queries stay N/Y since G = N/K follows K.
        values[K] = sp.Max(values[K], Y)
    args = tuple(sym for name in axes for sym in AXIS_SYMBOLS[name] if sym is not None)
    args = args + (B, T, n_micro)

    def fn(expr):
        import numpy

        return sp.lambdify(args, expr.xreplace(values), modules=[numpy], docstring_limit=0)

    compiled = Compiled(family, axes, args, fn(st["t_math"]), fn(st["t_hbm"]), fn(mem),
                        {k: fn(e) for k, e in per.items()},
                        {a: ax.link for a, ax in sym_mesh.items()})
    _CACHE[key] = compiled
    return compiled


@dataclass
class Evaluated:
    family: str
    axes: tuple
    cand: Candidates
    arrays: dict = field(default_factory=dict)   # name -> numpy array
    reasons: dict = field(default_factory=dict)  # infeasibility reason -> count


def evaluate(comp: Compiled, cand: Candidates, card: ModelCard, chip: ChipCard, batch: int, seq: int,
             overlap: str = "sum") -> Evaluated:
    """Vectorised step time, bound and feasibility of every candidate row."""
    import numpy as np

    n = len(cand)
    cols = {n_micro: np.asarray(cand.micro, dtype=float), B: np.full(n, float(batch)), T: np.full(n, float(seq))}
    for a in cand.axes:
        size, m = AXIS_SYMBOLS[a]
        cols[size] = np.asarray(cand.degrees[a], dtype=float)
        if m is not None:
            cols[m] = np.asarray(cand.m[a], dtype=float)
    argv = [cols[s] for s in comp.args]
    bc = lambda v: np.broadcast_to(np.asarray(v, dtype=float), (n,))    # noqa: E731
    t_math, t_hbm, memory = bc(comp.t_math(*argv)), bc(comp.t_hbm(*argv)), bc(comp.memory(*argv))
    t_link = {"ici": np.zeros(n), "dcn": np.zeros(n)}
    for key, f in comp.per_key.items():
        t = bc(f(*argv))
        link = comp.links[key.split("+")[0]]
        t_link[link] = t_link[link] + t if overlap == "sum" else np.maximum(t_link[link], t)
    t_comms = (t_link["ici"] + t_link["dcn"] if overlap == "sum"
               else np.maximum(t_link["ici"], t_link["dcn"]))
    t_step = np.maximum(np.maximum(t_math, t_hbm), t_comms)
    # the largest of compute, HBM and comms; a comms bound is named by its larger link
    worst = np.argmax(np.stack([t_math, t_hbm, t_comms]), axis=0)
    bound = np.where(worst < 2, worst, np.where(t_link["dcn"] > t_link["ici"], 3, 2))
    deg = {a: cols[AXIS_SYMBOLS[a][0]] for a in cand.axes}
    fits = memory <= float(chip.hbm_bytes)
    reasons = dict(cand.reasons)
    reasons["it needs more HBM than the chip has"] = int(np.sum(~fits))
    feasible = fits
    ev = Evaluated(comp.family, cand.axes, cand, reasons=reasons)
    ev.arrays = dict(t_math=t_math, t_hbm=t_hbm, t_ici=t_link["ici"], t_dcn=t_link["dcn"], t_comms=t_comms,
                     t_step=t_step, memory=memory, bound=bound, feasible=feasible,
                     chips=np.prod([deg[a] for a in cand.axes], axis=0))
    return ev


BOUNDS = ("compute", "hbm", "ici", "dcn")

