"""One claim in the book's notation: ``lhs = formula = value``, for documents and notebooks.

Display conventions (display only; the computed expression is never changed):
- ``notation: training`` in a derivation file prints the token batch ``B·T`` as ``B`` and the
  chip count ``n_chips`` as ``N``, as the book's training chapters do. ``N`` is renamed only in
  formulas that do not also contain the query-head count ``N``.
- ``fix_in_formula: [M_X, M_Y, ...]`` puts those settings' numbers into the printed formula,
  as the book does when it writes ``sqrt(2BN/F)`` for ``M_X/M_Y = 2``.
"""

from __future__ import annotations

import sympy as sp

from ..core.notation import latex
from ..core.symbols import LATEX_NAMES, SYMBOLS, B, N, T, n_chips


def _number(value) -> str:
    """A float in LaTeX: 1619.09, 4.233 \\times 10^{11}."""
    x = float(value)
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e5:
        return f"{x:.6g}"
    mantissa, exponent = f"{x:.4e}".split("e")
    return rf"{float(mantissa):.4g} \times 10^{{{int(exponent)}}}"


def _shown(result, derivation: dict | None) -> tuple[sp.Expr, dict, dict]:
    """The display expression, the numbers of its symbols, and the LaTeX name overrides."""
    d = derivation or {}
    expr = result.display
    values = dict(result.values)
    names: dict = {}
    fixed = {SYMBOLS[s]: values[SYMBOLS[s]] for s in d.get("fix_in_formula", [])
             if s in SYMBOLS and SYMBOLS[s] in values}
    if d.get("notation") == "training":
        if T in values and B in values:
            values[B] = values[B] * values[T]           # B now counts tokens
        expr = expr.xreplace({B: B / T}) if expr.has(B) else expr
        if not expr.has(N):
            names[n_chips] = "N"
    fixed = {s: v for s, v in fixed.items() if expr.has(s)}
    if fixed:   # rebuilding evaluates, so only when something is fixed (keeps 6·(P) as written)
        expr = expr.xreplace(fixed)
    return expr, {s: values[s] for s in expr.free_symbols if s in values}, names


def _lhs(result, derivation: dict | None) -> str:
    lhs = result.lhs or r"\text{%s}" % result.quantity.replace("_", r"\_")
    if (derivation or {}).get("notation") == "training":
        lhs = lhs.replace(r"\frac{BT}", r"\frac{B}").replace("(BT)", "B")
        if not result.display.has(N):
            lhs = lhs.replace(r"N_{\text{chips}}", "N")
    return lhs


def claim_math(result, derivation: dict | None = None, aligned: bool = False) -> str:
    """``lhs = formula = value`` for one claim, in the book's notation."""
    expr, _, names = _shown(result, derivation)
    lhs = _lhs(result, derivation)
    amp = "&" if aligned else ""
    return f"{lhs} {amp}= {latex(expr, names)} = {_number(result.derived)}"


def formula_line(result, derivation: dict | None = None) -> str:
    """Just ``lhs = formula``: the line a test or a reader checks."""
    expr, _, names = _shown(result, derivation)
    return f"{_lhs(result, derivation)} = {latex(expr, names)}"


def _where(result, derivation) -> str:
    expr, values, names = _shown(result, derivation)
    parts = [f"{names.get(s, LATEX_NAMES.get(s, str(s)))} = {int(v) if v.is_integer else _number(v)}"
             for s, v in sorted(values.items(), key=lambda item: str(item[0]))]
    return ", ".join(parts)


