"""Expressions in the book's notation: LaTeX and plain text. No document logic lives here.

Canonical SymPy form is not display form: SymPy prints ``sqrt(2BN/F)`` as a product of
square roots and ``W_ici`` as ``W_{ici}``. ``latex`` fixes both: symbol names come from the
symbol table and a square root of a product is printed as one radical.
"""

from __future__ import annotations

from fractions import Fraction

import sympy as sp

from .symbols import LATEX_NAMES


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
    """A SymPy object from an expression or a Python number; text is refused, never parsed."""
    if isinstance(value, sp.Basic):
        return value
    if isinstance(value, Fraction):
        return sp.Rational(value.numerator, value.denominator)
    if isinstance(value, float):
        return sp.Rational(repr(value))   # the decimal as written, not the binary float
    if isinstance(value, int) and not isinstance(value, bool):
        return sp.Integer(value)
    raise TypeError(f"expected a SymPy expression or a number, got {type(value).__name__}")


def latex(expr: sp.Expr, names: dict | None = None) -> str:
    """LaTeX in the book's notation (``W_{\\text{ici}}``, ``\\sqrt{\\frac{2 B N}{F}}``)."""
    symbol_names = {**LATEX_NAMES, **(names or {})}
    return sp.latex(_one_radical(_expr(expr)), symbol_names=symbol_names)


def text(expr: sp.Expr) -> str:
    return sp.sstr(_one_radical(_expr(expr)))
