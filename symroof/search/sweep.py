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
from ..core.symbols import (B, M_E, M_X, M_Y, M_Z, T, X, Y, Z, n_ep, n_micro,
                      n_pods, n_stages)

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
DATA_LIKE = ("pod", "data", "fsdp", "expert")    # axes that split the batch of sequences
MICROBATCHES_PER_STAGE = (1, 2, 4, 8)           # pipeline microbatches tried: this × stages


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
    if run.recompute is not None:          # replayed forward ops: hardware FLOPs and their comms
        from ..core.recompute import apply

        sg = apply(sg, run.recompute)
    st = step(sg, options.overlap, options.phase)
    mem = memory_per_chip(sg, recompute=run.recompute)["total"]
    per = comms_by_axis(sg, options.phase)
    values = {**model_values(card), **chip_values(chip), **run.values()}
    args = tuple(sym for name in axes for sym in AXIS_SYMBOLS[name] if sym is not None)
    args = args + (B, T, n_micro)

    def fn(expr):
        return sp.lambdify(args, expr.xreplace(values), "numpy")

    compiled = Compiled(family, axes, args, fn(st["t_math"]), fn(st["t_hbm"]), fn(mem),
                        {k: fn(e) for k, e in per.items()},
                        {a: ax.link for a, ax in sym_mesh.items()})
    _CACHE[key] = compiled
    return compiled


@dataclass
class Candidates:
    """Columns of candidate meshes; one row each."""

    family: str
    axes: tuple
    cols: dict                    # symbol -> list, then numpy array
    links: dict                   # axis -> list of "ici"/"dcn"
    n_phys: dict                  # axis -> list of M (physical axes), for the report
    wraps: dict                   # axis -> list of bool
    reasons: dict = field(default_factory=dict)   # why degree splits were dropped -> count


def _microbatch_counts(batch: int, degrees: dict) -> list[int]:
    """Pipeline microbatch counts to try: divisors of each replica's sequences, at least one per
    stage (fewer leaves a stage idle for good), up to MICROBATCHES_PER_STAGE[-1] per stage."""
    data = 1
    for a, d in degrees.items():
        if a in DATA_LIKE:
            data *= d
    stages, per_replica = degrees["stage"], max(batch // data, 1)
    counts = [m for m in range(stages, stages * MICROBATCHES_PER_STAGE[-1] + 1) if per_replica % m == 0]
    return counts or [stages * MICROBATCHES_PER_STAGE[0]]


def degree_problem(card: ModelCard, batch: int, seq: int, degrees: dict, micro: int = 1) -> str | None:
    """Why a set of degrees cannot run this batch (None if it can). Divisibility only; memory later."""
    data = 1
    for a, d in degrees.items():
        if a in DATA_LIKE:
            data *= d
    if data > batch:
        return f"the data-parallel degree exceeds the {batch} sequences (shard the sequence instead)"
    if batch % data:
        return "the batch of sequences does not divide by the data-parallel degree"
    if seq % degrees.get("seq", 1):
        return "the sequence length does not divide by the sequence degree"
    y = degrees.get("tensor", 1)
    if card.n_heads % y or card.d_ff % y:
        return "the tensor degree does not divide the heads and d_ff"
    if card.n_layers % degrees.get("stage", 1):
        return "the stages do not divide the layers"
    if "stage" in degrees and (batch // data) % micro:
        return "the microbatches do not divide the per-replica batch"
    if card.n_experts % degrees.get("expert", 1):
        return "the expert degree does not divide the experts"
    return None


def enumerate_candidates(family: str, card: ModelCard, chip: ChipCard, chips: int, pods: int,
                         batch: int, seq: int, options: Options, exact_mesh: dict | None = None,
                         min_fraction: float = 0.4) -> Candidates:
    """Every degree split × placement × microbatch count of ``family`` on ``chips`` that divides evenly."""
    inner = FAMILIES[family]
    axes = (("pod",) if pods > 1 else ()) + inner
    cols = {s: [] for name in axes for s in AXIS_SYMBOLS[name] if s is not None}
    cols[n_micro] = []
    links = {a: [] for a in axes}
    n_phys = {a: [] for a in axes}
    wraps = {a: [] for a in axes}
    forced = dict(options.m_override)
    per_pod = chips // pods
    pod_axis = Axis("pod", sp.Integer(pods), "dcn", sp.Integer(1), True)
    reasons: dict = {}
    seen = set()
    for box in meshlib.slices(chip, per_pod, 1.0 if exact_mesh else min_fraction):
        size = meshlib._prod(p.size for p in box)
        for degrees in _splits(size, len(inner)):
            if exact_mesh is not None and degrees != tuple(exact_mesh[a] for a in inner):
                continue
            if exact_mesh is None and any(d < 2 for d in degrees):
                continue      # an axis of 1 is a smaller family
            named = dict(zip(inner, degrees), pod=pods)
            micro = [1]
            if "stage" in inner:
                micro = _microbatch_counts(batch, named)
            ok_micro = []
            for nm in micro:
                why = None if options.continuous else degree_problem(card, batch, seq, named, nm)
                if why is None:
                    ok_micro.append(nm)
                else:
                    reasons[why] = reasons.get(why, 0) + 1
            if not ok_micro:
                continue
            for placement in meshlib.placements(box, inner, degrees):
                ax = meshlib.axes_of(box, placement, named)
                row = tuple((a, int(ax[a].size), ax[a].link, ax[a].n_physical, ax[a].wrap) for a in inner)
                if row in seen:
                    continue
                seen.add(row)
                for nm in ok_micro:
                    for a in axes:
                        a_ = ax.get(a, pod_axis)
                        size_sym, m_sym = AXIS_SYMBOLS[a]
                        cols[size_sym].append(int(a_.size))
                        if m_sym is not None:
                            if a in forced:
                                m = forced[a]
                            elif a_.link == "dcn":
                                m = 1.0       # unused: the compiled expression has W_dcn for it
                            else:
                                m = float(meshlib.effective_m(a_))
                            cols[m_sym].append(m)
                        links[a].append(a_.link)
                        one_link = m_sym is None or a_.link == "dcn"   # evaluated as one ring link
                        if a in forced:                                # what was evaluated: M rings
                            n_phys[a].append(forced[a])
                            wraps[a].append(True)
                        else:
                            n_phys[a].append(1 if one_link else int(a_.n_physical))
                            wraps[a].append(True if one_link else bool(a_.wrap))
                    cols[n_micro].append(nm)
    return Candidates(family, axes, cols, links, n_phys, wraps, reasons)


def split_by_links(cand: Candidates) -> dict:
    """Candidates grouped by which axes run over DCN: each group is one compiled expression."""
    groups: dict = {}
    n = len(cand.cols[n_micro])
    for i in range(n):
        key = frozenset(a for a in cand.axes if a != "pod" and cand.links[a][i] == "dcn")
        groups.setdefault(key, []).append(i)
    out = {}
    for key, idx in groups.items():
        pick = (lambda col, idx=idx: [col[i] for i in idx]) if len(groups) > 1 else (lambda col: col)
        out[key] = Candidates(cand.family, cand.axes, {s: pick(v) for s, v in cand.cols.items()},
                              {a: pick(v) for a, v in cand.links.items()},
                              {a: pick(v) for a, v in cand.n_phys.items()},
                              {a: pick(v) for a, v in cand.wraps.items()}, cand.reasons)
    return out


def _splits(n: int, k: int):
    """Ordered k-tuples of positive integers whose product is n."""
    if k == 1:
        yield (n,)
        return
    for d in range(1, n + 1):
        if n % d == 0:
            for rest in _splits(n // d, k - 1):
                yield (d,) + rest


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

    n = len(cand.cols[n_micro])
    cols = {s: np.asarray(v, dtype=float) for s, v in cand.cols.items()}
    cols[B] = np.full(n, float(batch))
    cols[T] = np.full(n, float(seq))
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

