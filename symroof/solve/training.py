"""Closed forms solved by SymPy from the graph's sharded expressions, kept as ``Derivation``s.

Each function shards a graph (the book's simplified layer by default), takes ``t_math`` and
``t_comms`` from the roofline, and solves: ``t_math = t_comms`` for a critical batch or
degree, ``d t_comms / dX = 0`` for the optimal FSDP degree. Nothing here is a typed-in
result; the steps are recorded so they can be printed next to the answer.

Conventions: ``B·T`` is the global batch in tokens (the book's training-chapter ``B``),
``n_chips`` its ``N``; activations and weights share one element width (``b_act = b_param``),
as the book assumes, which is what lets the widths cancel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import sympy as sp

from ..parallel.collectives import Axis
from ..errors import NoClosedFormError
from ..core.graph import Structure, build
from ..parallel.roofline import comms_by_axis, work
from ..parallel.sharding import shard
from ..core.symbols import B, M_X, M_Y, T, X, Y, b_act, b_param, n_chips, n_pods


@dataclass(frozen=True)
class Derivation:
    """A derived result: the expression, what it assumes, and how it was reached."""

    name: str
    expr: sp.Expr
    description: str
    assumptions: tuple[str, ...] = ()
    steps: tuple[tuple[str, sp.Expr], ...] = ()
    extra: dict = field(default_factory=dict)   # related results (e.g. the critical batch)
    latex_name: str = ""                        # the left-hand side in print, e.g. X_{\text{opt}}

    def render(self, fmt: str = "text", names: dict | None = None) -> str:
        from ..core.notation import latex, text

        show = (lambda e: latex(e, names)) if fmt == "latex" else text
        lhs = (self.latex_name or self.name) if fmt == "latex" else self.name
        lines = [f"{lhs} = {show(self.expr)}", f"  {self.description}"]
        lines += [f"  assumes: {a}" for a in self.assumptions]
        lines += [f"  step {i}: {what}: {show(e)}" for i, (what, e) in enumerate(self.steps, 1)]
        return "\n".join(lines)

    def _repr_latex_(self) -> str:
        from ..core.notation import latex

        name = self.latex_name or r"\text{%s}" % self.name.replace("_", r"\_")
        return f"$${name} = {latex(self.expr)}$$"

    def _repr_html_(self) -> str:
        """The result as MathML, what it assumes, and each step of its derivation."""
        from ..core import markup
        from ..core.notation import math_block, mathml, mathml_from_latex

        lhs = mathml_from_latex(self.latex_name) if self.latex_name else f"<mi>{markup.text(self.name)}</mi>"
        parts = [math_block(lhs, mathml(self.expr)), f"<p>{markup.text(self.description)}</p>"]
        if self.assumptions:
            parts.append("<ul>" + "".join(f"<li>assumes: {markup.text(a)}</li>" for a in self.assumptions) + "</ul>")
        if self.steps:
            rows = [[i, what, markup.Raw(math_block(mathml(e), display=False))]
                    for i, (what, e) in enumerate(self.steps, 1)]
            parts.append(markup.table(rows, ["step", "what", "expression"]))
        return markup.block(self.name, *parts)


def _roots(equation: sp.Expr, unknown: sp.Symbol, what: str) -> sp.Expr:
    # solve's own simplification and checking of every candidate root are most of its time
    # (checking imports sympy.physics.units); factoring the roots it returns gives the same
    # closed forms, and the sign test below drops the roots that are not positive
    try:
        roots = [sp.factor(r) for r in sp.solve(equation, unknown, simplify=False, check=False)]
    except NotImplementedError:         # e.g. a Min(S, w - 1) of sliding layers: SymPy has no method for it
        raise NoClosedFormError(f"{what}: SymPy finds no closed form for {unknown} in this model's expression") from None
    roots = [r for r in roots if r.is_positive is not False]
    if len(roots) > 1 and _one_positive_root(equation, unknown):
        roots = [r for r in roots if _positive_at_a_point(r)]
    if len(roots) != 1:
        raise NoClosedFormError(f"{what}: expected one positive root for {unknown}, got {roots}")
    return roots[0]


def _one_positive_root(equation: sp.Expr, unknown: sp.Symbol) -> bool:
    """Descartes' rule of signs: a polynomial in ``unknown`` whose coefficients have known signs for
    every positive value of the other symbols, with one sign change, has exactly one positive root.
    Only up to degree 2, where that also tells the roots apart (``_positive_at_a_point``)."""
    try:
        coeffs = sp.Poly(equation, unknown).all_coeffs()
    except sp.PolynomialError:
        return False
    if len(coeffs) > 3:        # Cardano's expressions swap branches across the parameters
        return False
    signs = []
    for c in coeffs:
        if c.is_zero:
            continue
        if c.is_positive is None and c.is_negative is None:
            return False
        signs.append(bool(c.is_positive))
    return sum(a != b for a, b in zip(signs, signs[1:])) == 1


def _positive_at_a_point(root: sp.Expr) -> bool:
    """The sign of a root at one point of positive symbol values. A quadratic with one sign change
    has a negative product of roots, so a positive discriminant: its two roots are real, distinct
    and continuous in the symbols, and one expression is the positive root everywhere."""
    value = sp.N(root.xreplace(_point(root)), 30)
    return value.is_real is True and value > 0


def _point(expr: sp.Expr) -> dict:
    """One point of positive values for the symbols of ``expr`` (distinct, so nothing cancels by chance)."""
    return {s: sp.Rational(k + 2, k + 3) for k, s in enumerate(sorted(expr.free_symbols, key=str))}


def _positive_square_root_roots(equation: sp.Expr, unknown: sp.Symbol, what: str) -> sp.Expr:
    """``_roots`` for a positive unknown that also enters as its square root (T_comms at X_opt
    grows as sqrt(B)): solved in u = sqrt(unknown), a polynomial, then squared. The same root,
    without SymPy's search for radicals to remove (most of the closed forms' solving time)."""
    u = sp.Symbol("u", positive=True)
    polynomial = sp.numer(sp.together(equation.xreplace({unknown: u ** 2})))
    if polynomial.is_polynomial(u):
        return sp.factor(_roots(polynomial, u, what) ** 2)
    return _squared_roots(equation, unknown, what)


def _squared_roots(equation: sp.Expr, unknown: sp.Symbol, what: str) -> sp.Expr:
    """The positive root of ``A + C·sqrt(w) = 0`` (one square root of a polynomial in ``unknown``:
    T_comms at X_opt where a term free of the unknown sits under the root): the roots of
    A² − C²·w = 0 that solve the equation itself (squaring adds those of A − C·sqrt(w)), told apart
    at one point. Anything else is refused at once, not left to SymPy's search for radicals."""
    expanded = sp.expand(sp.numer(sp.together(equation)))
    radicals = {p for p in expanded.atoms(sp.Pow) if p.exp == sp.Rational(1, 2) and unknown in p.free_symbols}
    refuse = NoClosedFormError(f"{what}: T_comms at the optimum is not a polynomial in {unknown} and one square "
                               f"root of one: no closed form of that shape")
    if len(radicals) != 1:
        raise refuse
    (root,) = radicals
    parts = sp.collect(expanded, root, evaluate=False)
    if set(parts) - {sp.Integer(1), root} or any(root in e.free_symbols or not e.is_polynomial(unknown)
                                                 for e in parts.values()):
        raise refuse
    a, c = parts.get(sp.Integer(1), sp.Integer(0)), parts.get(root, sp.Integer(0))
    squared = sp.expand(a ** 2 - c ** 2 * root.base)
    if sp.degree(squared, unknown) > 2:     # the quadratic formula's two roots at most (see _solves)
        raise refuse
    candidates = [sp.factor(r) for r in sp.solve(squared, unknown, simplify=False, check=False)]
    genuine = [r for r in candidates if r.is_positive is not False and _solves(a, c * root, unknown, r)]
    if len(genuine) != 1:
        raise NoClosedFormError(f"{what}: expected one positive root for {unknown}, got {genuine}")
    return genuine[0]


def _solves(a: sp.Expr, b: sp.Expr, unknown: sp.Symbol, root: sp.Expr) -> bool:
    """``a + b = 0`` at ``unknown = root``, at one point of positive values (to 20 digits). A root of
    a² − b² = 0 turns from solving a + b = 0 to solving a − b = 0 only where a = b = 0 there, so
    one point tells a quadratic's two roots apart."""
    at = {unknown: root}
    point = _point(a + b + root)
    x, y = (sp.N(e.xreplace(at).xreplace(point), 30) for e in (a, b))
    return x.is_real is True and y.is_real is True and abs(x + y) <= 1e-20 * (abs(x) + abs(y))


def _times(structure: Structure, mesh: dict[str, Axis], phase: str | None):
    sg = shard(build(structure, "causal"), mesh)
    same_width = {b_param: b_act}
    t_math, _ = work(sg, phase)
    per_axis = {a: e.xreplace(same_width) for a, e in comms_by_axis(sg, phase).items()}
    return t_math, per_axis


_BOOK = Structure.book_layer()
_PHASE_NOTE = {"forward": "forward pass (the book's choice; the backward has the same ratio for DP/FSDP)",
               "backward": "backward pass, where the gradient reductions happen (the book's choice)",
               None: "whole step, forward and backward"}


@lru_cache(maxsize=None)   # pure function of hashable arguments; solving is slow
def data_parallel_batch(structure: Structure = _BOOK, fsdp: bool = True, phase: str | None = "forward"):
    """Per-chip batch (tokens) above which DP or FSDP is compute-bound: B·T/X > C/(W_ici·M_X)."""
    axis = "fsdp" if fsdp else "data"
    t_math, comms = _times(structure, {axis: Axis(axis, X, "ici", M_X)}, phase)
    if phase == "forward" and not fsdp:
        t_math, comms = _times(structure, {axis: Axis(axis, X, "ici", M_X)}, "backward")
    t_comms = comms[axis]
    b_crit = _roots(t_math - t_comms, B, "critical batch")
    per_chip = sp.factor(b_crit * T / X)
    return Derivation(
        f"{axis}_critical_batch", per_chip,
        f"tokens per chip above which {'FSDP' if fsdp else 'DP'} is compute-bound",
        (f"{_PHASE_NOTE.get(phase, phase)}", "b_act = b_param", "comms overlap compute"),
        (("T_math", t_math), ("T_comms", t_comms), ("solve T_math = T_comms for B", b_crit),
         ("tokens per chip B·T/X", per_chip)),
        latex_name=r"\left(\frac{BT}{X}\right)_{\text{crit}}")


@lru_cache(maxsize=None)   # pure function of hashable arguments; solving is slow
def tensor_parallel_degree(structure: Structure = _BOOK, phase: str | None = "forward"):
    """The largest TP degree Y that stays compute-bound: Y < M_Y·F·W_ici/C."""
    t_math, comms = _times(structure, {"tensor": Axis("tensor", Y, "ici", M_Y)}, phase)
    y_max = sp.factor(_roots(t_math - comms["tensor"], Y, "TP degree"))
    return Derivation("tp_max_degree", y_max, "largest tensor-parallel degree that is compute-bound",
                      (_PHASE_NOTE.get(phase, phase), "b_act = b_param"),
                      (("T_math", t_math), ("T_comms", comms["tensor"]),
                       ("solve T_math = T_comms for Y", y_max)),
                      latex_name=r"Y_{\max}")


@lru_cache(maxsize=None)   # pure function of hashable arguments; solving is slow
def fsdp_tp_optimum(structure: Structure = _BOOK, overlap: str = "sum", phase: str | None = "forward"):
    """X_opt minimising FSDP+TP comms with X·Y = n_chips, and the batch above which it is compute-bound."""
    mesh = {"fsdp": Axis("fsdp", X, "ici", M_X), "tensor": Axis("tensor", Y, "ici", M_Y)}
    t_math, comms = _times(structure, mesh, phase)
    on_chips = {Y: n_chips / X}
    t_f, t_t = (sp.factor(comms[a].xreplace(on_chips)) for a in ("fsdp", "tensor"))
    t_math = sp.factor(t_math.xreplace(on_chips))
    if overlap == "sum":
        t_comms = t_f + t_t
        condition = sp.diff(t_comms, X)
        x_opt = _roots(sp.numer(sp.together(condition)), X, "X_opt")
        curvature = sp.factor(sp.diff(t_comms, X, 2).xreplace({X: x_opt}))
        if curvature.is_positive is False:
            raise NoClosedFormError("X_opt: the stationary point is not a minimum")
        how = ("d T_comms / dX = 0", condition)
    elif overlap == "max":
        x_opt = _roots(sp.numer(sp.together(t_f - t_t)), X, "X_opt")
        t_comms = sp.Max(t_f, t_t)
        how = ("minimise max(T_fsdp, T_tp): the two are equal", t_f - t_t)
    else:
        raise ValueError(f"overlap must be 'sum' or 'max', not {overlap!r}")
    at_opt = sp.factor(sp.powdenest((t_f + t_t if overlap == "sum" else t_f).xreplace({X: x_opt}),
                                    force=True))
    b_crit = _positive_square_root_roots(t_math.xreplace({X: x_opt}) - at_opt, B, "critical batch")
    per_chip = sp.factor(b_crit * T / n_chips)
    return Derivation(
        "x_opt", x_opt, "FSDP degree minimising communication when X·Y = n_chips",
        (f"overlap across axes: {overlap}", _PHASE_NOTE.get(phase, phase), "b_act = b_param"),
        (("T_fsdp (Y = n_chips/X)", t_f), ("T_tp", t_t), ("T_math", t_math), how, ("X_opt", x_opt),
         ("T_comms at X_opt", at_opt), ("solve T_math = T_comms(X_opt) for B", b_crit),
         ("critical tokens per chip B·T/n_chips", per_chip)),
        {"critical_batch": per_chip, "t_comms": t_f + t_t if overlap == "sum" else t_comms,
         "t_math": t_math, "y_opt": sp.factor(n_chips / x_opt)},
        latex_name=r"X_{\text{opt}}")


@lru_cache(maxsize=None)   # pure function of hashable arguments; solving is slow
def mixed_critical_batch(structure: Structure = _BOOK, overlap: str = "sum", phase: str | None = "forward"):
    d = fsdp_tp_optimum(structure, overlap, phase)
    return Derivation("mixed_critical_batch", d.extra["critical_batch"],
                      "tokens per chip above which FSDP+TP at X_opt is compute-bound",
                      d.assumptions, d.steps,
                      latex_name=r"\left(\frac{BT}{N_{\text{chips}}}\right)_{\text{crit}}")


@lru_cache(maxsize=None)   # pure function of hashable arguments; solving is slow
def dcn_critical_batch(structure: Structure = _BOOK, phase: str | None = "backward"):
    """Tokens per pod above which data parallelism across pods (over DCN) is compute-bound."""
    mesh = {"pod": Axis("pod", n_pods, "dcn", 1), "fsdp": Axis("fsdp", X, "ici", M_X)}
    t_math, comms = _times(structure, mesh, phase)
    b_crit = _roots(t_math - comms["pod"], B, "per-pod batch")
    per_pod = sp.factor(b_crit * T / n_pods)
    return Derivation("dcn_critical_batch", per_pod,
                      "tokens per pod above which cross-pod data parallelism is compute-bound",
                      (_PHASE_NOTE.get(phase, phase), "b_act = b_param", "gradients AllReduced over DCN",
                       "W_dcn is per chip (per-host bandwidth / chips per host)"),
                      (("T_math", t_math), ("T_dcn", comms["pod"]), ("solve for B", b_crit),
                       ("tokens per pod", per_pod)),
                      latex_name=r"\left(\frac{BT}{P}\right)_{\text{crit}}")



