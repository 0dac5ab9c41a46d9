"""Which number matters at a plan point, and by how much: elasticities and break-even values.

At the mesh a plan chose, the step time is ``max(t_math, t_hbm, t_comms)``, each term an
expression of the chip's and the run's numbers (peak FLOPs ``C``, HBM bandwidth, ICI and DCN
bandwidth, per-hop latency, sequences ``B``, sequence length ``T``) with the model's shapes
and the mesh put in. For each number ``x``:

- the elasticity ``d ln t_step / d ln x = x · d t_bound / dx / t_bound`` of the term that
  bounds the step, differentiated by SymPy (-1 for ``W_ici`` when ICI-bound, 0 for ``C``);
- the break-even value: the nearest ``x`` at which another term equals the bounding one,
  solved exactly, so the bound changes there ("ICI 1.82× faster: compute-bound").

HBM capacity does not enter the step time; its break-even is the least memory the mesh runs in
per chip (without a pipeline, one sequence a microbatch: gradient accumulation). The per-hop
latency is listed but does not enter: the plan's collectives are bandwidth-only (the book's
rule), and its latency floor is not applied to the step.
Everything is local: the mesh stays the one the plan chose; a ``Max`` (overlap "max") is
taken on the branch that is largest at the point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
import math

import sympy as sp

from ..core.symbols import B, C, M_hbm, T, W_dcn, W_hbm, W_ici, t_hop
from ..parallel.axes import BATCH_AXES

#  symbol   what it is (for the report)                    card or run key
NUMBERS = (
    (C,      "peak FLOPs/s per chip",                      "peak_flops_per_s"),
    (W_hbm,  "HBM bandwidth",                              "hbm_bytes_per_s"),
    (M_hbm,  "HBM capacity",                               "hbm_bytes"),
    (W_ici,  "ICI bandwidth per axis",                     "ici_link_bytes_per_s"),
    (W_dcn,  "DCN bandwidth per chip",                     "dcn_bytes_per_s_per_host"),
    (t_hop,  "ICI per-hop latency",                        "ici_hop_latency_s"),
    (B,      "sequences per batch",                        "--batch-tokens"),
    (T,      "sequence length",                            "--seq"),
)
TERMS = ("t_math", "t_hbm", "t_comms")
NAMES = {"t_math": "compute", "t_hbm": "HBM", "t_comms": "comms"}


@dataclass
class Sensitivity:
    symbol: sp.Symbol
    meaning: str
    key: str
    value: sp.Expr                 # the number at the plan point (exact)
    elasticity: float              # d ln t_step / d ln x
    elasticity_expr: sp.Expr       # the same, symbolic in x
    break_even: sp.Expr | None     # x at which the bound changes (exact), None if it never does
    new_bound: str | None          # which term bounds the step beyond break_even


@dataclass
class Point:
    plan: dict
    terms: dict                    # t_math, t_hbm, t_comms: expressions in the NUMBERS' symbols
    values: dict                   # symbol -> exact number at the plan point
    bound: str                     # the term that bounds the step
    t_step: float
    rows: list = field(default_factory=list)
    memory: sp.Expr | None = None  # the least bytes per chip this mesh runs in (exact; the most microbatches)


def _exact(x: float) -> sp.Rational:
    return sp.Rational(Fraction(x).limit_denominator(10**6))


def _active(expr: sp.Expr, values: dict) -> sp.Expr:
    """Each ``Max`` replaced by its argument that is largest at the point: the local branch."""
    for m in sorted(expr.atoms(sp.Max), key=sp.count_ops):
        if m in expr.atoms(sp.Max):
            expr = expr.xreplace({m: max(m.args, key=lambda a: float(a.xreplace(values)))})
    return sp.expand(expr)


def point_terms(plan: dict, card, chip, run, dtype: str = "bf16") -> Point:
    """The plan's chosen mesh, sharded and costed with the hardware and run numbers left free."""
    from ..core.graph import Structure, build
    from ..io.bind import chip_values, model_values
    from ..parallel.axes import replicate_kv
    from ..parallel.collectives import Axis
    from ..parallel.roofline import memory_per_chip, step
    from ..parallel.sharding import shard
    from ..core.symbols import n_micro

    book = plan["structure"] == "book layer"
    mesh = {}
    for name, info in plan["axes"].items():
        size = sp.Integer(info["degree"])
        if info["link"] == "dcn" or name in ("pod", "stage"):
            mesh[name] = Axis(name, size, info["link"], sp.Integer(1), True)
        else:
            mesh[name] = Axis(name, size, "ici", _exact(info["bandwidth_multiple"]), True, chip.family == "gpu",
                              name == "tensor" and plan.get("expert_tensor") == 1)   # the experts' layout it took
    # the MTP modules the plan trained (--mtp-layers), as search/sweep._structure builds them
    structure = Structure.book_layer() if book else Structure.of(card, mtp=plan.get("mtp_layers") or 0)
    sg = shard(build(structure, "causal"), mesh)
    # the schedule and recompute policy the plan took (searched, or the run's), as search/sweep._derive
    schedule = plan.get("schedule") if "stage" in mesh else None
    policy = plan.get("recompute", run.recompute)
    policy = tuple(policy) if isinstance(policy, list) else policy
    if policy is not None:
        from ..core.recompute import apply

        sg = apply(sg, policy)
    # an axis across domains with more than one chip in each: NCCL's hierarchical ring, as the plan
    sg.graph["spans"] = {n: info["inner"] for n, info in plan["axes"].items() if "inner" in info}
    phase = None if plan["phase"] == "step" else plan["phase"]
    # bandwidth-only collectives, as the plan's; a step's fsdp gathers once per accumulated microbatch
    # (roofline.comms_by_axis, which leaves a pipeline's alone), as the plan charges them
    t = step(sg, plan["overlap"], phase, schedule=schedule, accumulate=phase is None)
    values = {**chip_values(chip, dtype), B: sp.Integer(plan["sequences"]), T: sp.Integer(plan["seq"])}
    fixed = {**model_values(card), **run.values(), n_micro: sp.Integer(plan.get("n_micro", 1))}
    if "tensor" in mesh and not book:      # the planner's rule for a tensor degree above the KV heads
        fixed = replicate_kv(fixed, mesh["tensor"].size)
    terms = {k: _active(t[k].xreplace(fixed), values) for k in TERMS}
    at = {k: float(e.xreplace(values)) for k, e in terms.items()}
    bound = max(at, key=at.get)
    memory = memory_per_chip(sg, schedule=schedule, recompute=policy)["total"]
    # without a pipeline the mesh still fits a smaller HBM by accumulating more, smaller microbatches
    # (search/accumulation.py): at the most, one sequence each, its least memory
    replicas = math.prod(info["degree"] for name, info in plan["axes"].items() if name in BATCH_AXES)
    whole = plan["sequences"] % replicas == 0 and "stage" not in mesh and phase is None
    most = plan["sequences"] // replicas if whole else plan.get("n_micro", 1)
    least = memory.xreplace({**fixed, n_micro: sp.Integer(most), **values})
    return Point(plan, terms, values, bound, at[bound], memory=least)


def _break_even(point: Point, x: sp.Symbol):
    """The nearest value of ``x`` (by ratio) at which another term reaches the bounding one."""
    here = point.values[x]
    real = sp.Dummy(str(x), positive=True)       # B and T are integer symbols; a break-even need not be
    others = {**{s: v for s, v in point.values.items() if s != x}, x: real}
    top = point.terms[point.bound].xreplace(others)
    best = None
    for name in TERMS:
        if name == point.bound:
            continue
        other = point.terms[name].xreplace(others)
        if not (other - top).has(real):
            continue
        for r in _roots(top - other, real):
            if r.is_real and r.is_positive:
                ratio = abs(sp.log(r / here))
                if best is None or ratio < best[0]:
                    simple = sp.nsimplify(r)          # which rounds a tiny root to 0: keep the root
                    best = (float(ratio), simple if simple.is_positive else r, name)
    return (best[1], best[2]) if best else (None, None)


def _roots(gap: sp.Expr, x: sp.Symbol) -> list:
    """Positive roots of ``gap`` in ``x``. A Min or Max (a two-tier ring's min(W_ici, k·W_dcn)) is
    solved branch by branch, each of its arguments in turn, and a root is kept where the whole
    ``gap`` vanishes there (the branch it was solved on is the one that holds)."""
    from itertools import islice, product

    picks = sorted(gap.atoms(sp.Min, sp.Max), key=sp.default_sort_key)
    found = []
    for choice in islice(product(*(m.args for m in picks)), 64):     # a few Min's at most in a plan's terms
        try:
            roots = sp.solve(gap.xreplace(dict(zip(picks, choice))), x)
        except (NotImplementedError, TypeError):
            continue
        for r in roots:
            if r.is_real and r.is_positive and r not in found:
                scale = max(abs(float(t.xreplace({x: r}))) for t in gap.as_ordered_terms()) or 1.0
                if not picks or abs(float(gap.xreplace({x: r}))) <= 1e-9 * scale:
                    found.append(r)
    return found


def sensitivities(point: Point) -> Point:
    """Elasticity and break-even of every number of the chip card and the run at this point."""
    rows = []
    for x, meaning, key in NUMBERS:
        if x not in point.values:
            continue
        here = point.values[x]
        if x == M_hbm:
            rows.append(Sensitivity(x, meaning, key, here, 0.0, sp.Integer(0), point.memory, "infeasible"))
            continue
        if x == t_hop:       # the plan's collectives are bandwidth-only: latency is not in t_step
            rows.append(Sensitivity(x, meaning, key, here, 0.0, sp.Integer(0), None, "not modelled"))
            continue
        top = point.terms[point.bound]
        e = sp.factor(x * sp.diff(top, x) / top)
        value = float(e.xreplace(point.values))
        even, new = _break_even(point, x)
        rows.append(Sensitivity(x, meaning, key, here, value, e, even, new))
    point.rows = rows
    return point


def analyse(plan: dict, card, chip, run, dtype: str = "bf16") -> Point:
    return sensitivities(point_terms(plan, card, chip, run, dtype))
