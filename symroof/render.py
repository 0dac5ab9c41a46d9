"""Text, LaTeX and Markdown forms of expressions and numbers. No model logic lives here.

Canonical SymPy form is not display form: SymPy prints ``sqrt(2BN/F)`` as a product of
square roots and ``W_ici`` as ``W_{ici}``. ``latex`` fixes both: symbol names come from the
symbol table and a square root of a product is printed as one radical.
"""

from __future__ import annotations

from fractions import Fraction

import sympy as sp

from .symbols import LATEX_NAMES

_PREFIXES = [(Fraction(10) ** 24, "Y"), (Fraction(10) ** 21, "Z"), (Fraction(10) ** 18, "E"),
             (Fraction(10) ** 15, "P"), (Fraction(10) ** 12, "T"), (Fraction(10) ** 9, "G"),
             (Fraction(10) ** 6, "M"), (Fraction(10) ** 3, "k")]


def si(value, unit: str = "", digits: int = 4) -> str:
    """``70553706496`` → ``70.55 G``: an SI prefix and ``digits`` significant figures."""
    if isinstance(value, sp.Expr):
        value = Fraction(str(value)) if value.is_Rational else float(value)
    number = Fraction(value)
    sign = "-" if number < 0 else ""
    number = abs(number)
    for scale, prefix in _PREFIXES:
        if number >= scale:
            return f"{sign}{float(number / scale):.{digits}g} {prefix}{unit}".rstrip()
    return f"{sign}{float(number):.{digits}g} {unit}".rstrip()


def grouped(value: int) -> str:
    """An exact integer with thousands separators: 70,553,706,496."""
    return f"{int(value):,}"


def table(rows: list[list[str]], header: list[str] | None = None) -> str:
    """A plain aligned text table; numbers right-aligned."""
    body = ([header] if header else []) + rows
    widths = [max(len(str(r[i])) for r in body) for i in range(len(body[0]))]

    def line(row):
        cells = []
        for i, cell in enumerate(row):
            text = str(cell)
            numeric = text[:1].isdigit() or text[:1] in "-+." and text[1:2].isdigit()
            cells.append(text.rjust(widths[i]) if numeric and i else text.ljust(widths[i]))
        return "  ".join(cells).rstrip()

    out = [line(r) for r in body]
    if header:
        out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def _one_radical(expr: sp.Expr) -> sp.Expr:
    """Gather a product of square roots into one: √2·√B·√N/√F → √(2BN/F), for display only."""
    if not isinstance(expr, sp.Mul):
        return expr.func(*map(_one_radical, expr.args)) if expr.args else expr
    inside, outside = [], []
    for factor in expr.args:
        base, exp = factor.as_base_exp()
        if exp in (sp.Rational(1, 2), sp.Rational(-1, 2)):
            inside.append(base ** sp.sign(exp))
        else:
            outside.append(_one_radical(factor))
    if len(inside) < 2:
        return expr.func(*map(_one_radical, expr.args))
    radicand = sp.Mul(*inside)
    return sp.Mul(*outside) * sp.sqrt(sp.UnevaluatedExpr(radicand), evaluate=False)


def _expr(value) -> sp.Basic:
    from .instantiate import _expr as to_expr

    return to_expr(value)


def latex(expr: sp.Expr, names: dict | None = None) -> str:
    """LaTeX in the book's notation (``W_{\\text{ici}}``, ``\\sqrt{\\frac{2 B N}{F}}``)."""
    symbol_names = {**LATEX_NAMES, **(names or {})}
    return sp.latex(_one_radical(_expr(expr)), symbol_names=symbol_names)


def text(expr: sp.Expr) -> str:
    return sp.sstr(_one_radical(_expr(expr)))
