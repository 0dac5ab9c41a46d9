"""Expressions in the book's notation: LaTeX, MathML and plain text. No document logic lives here.

Canonical SymPy form is not display form: SymPy prints ``sqrt(2BN/F)`` as a product of
square roots and ``W_ici`` as ``W_{ici}``. ``latex`` fixes both: symbol names come from the
symbol table and a square root of a product is printed as one radical.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

import re

import sympy as sp
from sympy.printing.latex import LatexPrinter

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
    return _Printer({"symbol_names": symbol_names}).doprint(_one_radical(_expr(expr)))


def text(expr: sp.Expr) -> str:
    return sp.sstr(_one_radical(_expr(expr)))


class _Printer(LatexPrinter):
    """SymPy's LaTeX printer, with a thin space ``\\,`` between the factors of a product that
    has a multi-letter name in it: ``C \\, \\text{MFU} \\, N_{\\text{chips}}``, never ``CMFUN``.
    Products of one-letter symbols keep the book's juxtaposition (``2 B N``)."""

    def _print_Mul(self, expr):
        wide = any(_is_wide(self._settings["symbol_names"].get(base, base.name))
                   for base in (f.as_base_exp()[0] for f in expr.args) if isinstance(base, sp.Symbol))
        if not wide:
            return super()._print_Mul(expr)
        saved = self._settings["mul_symbol_latex"]
        self._settings["mul_symbol_latex"] = r" \, "
        try:
            return super()._print_Mul(expr)
        finally:
            self._settings["mul_symbol_latex"] = saved


def _is_wide(name: str) -> bool:
    return "\\" in name or (len(name) > 1 and "_" not in name)


# ----------------------------------------------------------------------------- MathML
# Presentation MathML from SymPy's printer, so a browser renders the math with no script.

_MATHML_NS = "http://www.w3.org/1998/Math/MathML"


def _plain_name(latex_name: str) -> str:
    r"""``N_{\text{chips}}`` → ``N_chips``: the name SymPy's MathML printer splits at ``_``."""
    name = re.sub(r"\\(?:text|mathrm)\{([^{}]*)\}", r"\1", latex_name)
    return name.replace("{", "").replace("}", "").replace("\\", "").replace(" ", "")


def mathml(expr, names: dict | None = None) -> str:
    """Presentation MathML (no ``<math>`` wrapper) of an expression in the book's notation."""
    shown = _one_radical(_expr(expr))
    symbol_names = {**LATEX_NAMES, **(names or {})}
    renamed = {s: sp.Symbol(_plain_name(symbol_names[s]), **s.assumptions0)
               for s in shown.free_symbols if s in symbol_names and _plain_name(symbol_names[s]) != s.name}
    return _mathml_printer()().doprint(shown.xreplace(renamed) if renamed else shown)


@lru_cache(maxsize=1)
def _mathml_printer():
    """SymPy's presentation-MathML printer (imported on first use: it is not cheap), showing a
    display-only ``UnevaluatedExpr`` grouping (one radical, ``6·(P)``) as its content."""
    from sympy.printing.mathml import MathMLPresentationPrinter

    class Printer(MathMLPresentationPrinter):
        def _print_UnevaluatedExpr(self, expr):
            return self._print(expr.args[0])
    return Printer


def mathml_number(value, unit: str = "") -> str:
    """A number in MathML: ``4.59 × 10^14`` (never ``459000000000000``), then its unit."""
    import html

    x = float(value)
    if x == 0 or 1e-3 <= abs(x) < 1e6:
        body = f"<mn>{x:.6g}</mn>"
    else:
        mantissa, exponent = f"{x:.5e}".split("e")
        body = (f"<mn>{float(mantissa):.6g}</mn><mo>×</mo>"
                f"<msup><mn>10</mn><mn>{int(exponent)}</mn></msup>")
    if unit:
        body += f"<mspace width=\"0.3em\"/><mtext>{html.escape(unit)}</mtext>"
    return f"<mrow>{body}</mrow>"


def math_block(*parts: str, display: bool = True) -> str:
    """MathML fragments joined by ``=`` in one ``<math>`` element."""
    inner = "<mo>=</mo>".join(parts)
    mode = "block" if display else "inline"
    return f'<math xmlns="{_MATHML_NS}" display="{mode}"><mrow>{inner}</mrow></math>'


_LATEX_TOKEN = re.compile(r"\\(?:text|mathrm)\{[^{}]*\}|\\[A-Za-z]+|\\.|[A-Za-z]|[0-9.]+|\S")
_COMMANDS = {r"\cdot": "<mo>·</mo>", r"\,": '<mspace width="0.17em"/>',
             r"\quad": '<mspace width="1em"/>', r"\min": "<mi>min</mi>", r"\max": "<mi>max</mi>",
             r"\times": "<mo>×</mo>", r"\infty": "<mi>∞</mi>"}


def mathml_from_latex(source: str) -> str:
    r"""The small LaTeX of symroof's own left-hand sides (``\left(\frac{BT}{X}\right)_{\text{crit}}``,
    ``M_{\text{KV}}/\text{token}``) as MathML. Only symroof's own strings come here; anything
    outside the subset is shown as text, never interpreted."""
    tokens = _LATEX_TOKEN.findall(source.replace(r"\left", "").replace(r"\right", ""))
    out, _ = _mathml_seq(tokens, 0, None)
    return f"<mrow>{out}</mrow>"


def _mathml_seq(tokens: list[str], i: int, stop: str | None) -> tuple[str, int]:
    import html

    parts: list[str] = []
    while i < len(tokens) and tokens[i] != stop:
        tok = tokens[i]
        i += 1
        if tok in ("_", "^") and parts:
            group, i = _mathml_group(tokens, i)
            tag = "msub" if tok == "_" else "msup"
            if parts[-1].startswith(("<msub>", "<msup>")) and tag not in parts[-1][:6]:
                # x^a_b: both scripts on one base
                parts.append(f"<msubsup>{_split_script(parts.pop(), tag, group)}</msubsup>")
            else:
                parts.append(f"<{tag}>{parts.pop()}{group}</{tag}>")
        elif tok == "{":
            group, i = _mathml_seq(tokens, i, "}")
            parts.append(f"<mrow>{group}</mrow>")
            i += 1
        elif tok == r"\frac":
            num, i = _mathml_group(tokens, i)
            den, i = _mathml_group(tokens, i)
            parts.append(f"<mfrac>{num}{den}</mfrac>")
        elif tok == r"\sqrt":
            arg, i = _mathml_group(tokens, i)
            parts.append(f"<msqrt>{arg}</msqrt>")
        elif tok.startswith((r"\text{", r"\mathrm{")):
            word = tok[tok.index("{") + 1:-1]
            parts.append(f"<mi mathvariant=\"normal\">{html.escape(word)}</mi>")
        elif tok in _COMMANDS:
            parts.append(_COMMANDS[tok])
        elif tok.startswith("\\"):
            parts.append(f"<mtext>{html.escape(tok)}</mtext>")
        elif tok[0].isascii() and tok[0].isdigit() or tok == ".":     # isdigit alone takes '²'
            parts.append(f"<mn>{tok}</mn>")
        elif tok.isalpha():
            parts.append(f"<mi>{tok}</mi>")
        else:
            parts.append(f"<mo>{html.escape(tok)}</mo>")
    return "".join(parts), i


def _mathml_group(tokens: list[str], i: int) -> tuple[str, int]:
    """One argument: ``{...}`` or a single token."""
    if i < len(tokens) and tokens[i] == "{":
        inner, i = _mathml_seq(tokens, i + 1, "}")
        return f"<mrow>{inner}</mrow>", i + 1
    inner, _ = _mathml_seq(tokens[i:i + 1], 0, None)
    return f"<mrow>{inner}</mrow>", i + 1


def _split_script(scripted: str, new_tag: str, new_group: str) -> str:
    """``<msub>base sub</msub>`` + a superscript → the children of one ``<msubsup>``."""
    old_tag = scripted[1:5]
    body = scripted[6:-7]
    # the base is the first child, the script the second: both are single elements we built
    depth, cut = 0, 0
    for m in re.finditer(r"<(/?)([a-z]+)[^>]*?(/?)>", body):
        if m.group(3):
            continue
        depth += -1 if m.group(1) else 1
        if depth == 0:
            cut = m.end()
            break
    base, script = body[:cut], body[cut:]
    sub, sup = (script, new_group) if old_tag == "msub" else (new_group, script)
    return f"{base}{sub}{sup}"
