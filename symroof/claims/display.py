"""One claim in the book's notation: ``lhs = formula = value``, for documents and notebooks.

Display conventions (display only; the computed expression is never changed):
- ``notation: tokens`` (sections 1-3) says ``B`` counts tokens where a claim sets ``seq: 1``.
- ``notation: training`` in a derivation file prints the token batch ``B·T`` as ``B`` and the
  chip count ``n_chips`` as ``N``, as the book's training chapters do. ``N`` is renamed only in
  formulas that do not also contain the query-head count ``N``.
- ``fix_in_formula: [M_X, M_Y, ...]`` puts those settings' numbers into the printed formula,
  as the book does when it writes ``sqrt(2BN/F)`` for ``M_X/M_Y = 2``.
"""

from __future__ import annotations

import sympy as sp

from ..core import markup
from ..core.notation import latex, math_block, mathml, mathml_from_latex, mathml_number
from ..core.symbols import INFO, LATEX_NAMES, SYMBOLS, B, N, T, n_chips


# Units of the symbols a formula is instantiated with (counts such as D or L have none).
# The symbol table's own ``unit`` wins where it has one.
_UNITS = {"C": "FLOPs/s", "W_hbm": "B/s", "W_ici": "B/s", "W_dcn": "B/s", "M_hbm": "B", "t_hop": "s",
          "b_param": "B", "b_act": "B", "b_grad": "B", "b_opt": "B", "n_tokens": "tokens",
          "T": "tokens", "S": "tokens", "B": "sequences", "n_chips": "chips"}


def symbol_unit(symbol: sp.Symbol) -> str:
    info = INFO.get(symbol.name)
    return getattr(info, "unit", None) or _UNITS.get(symbol.name, "")


def _number(value, unit: str = "") -> str:
    """A number in LaTeX: 1619.09, 4.233 \\times 10^{11}, then its unit (\\text{B/s})."""
    x = float(value)
    if x == 0 or 1e-3 <= abs(x) < 1e6:
        body = "0" if x == 0 else f"{x:.6g}"
    else:
        mantissa, exponent = f"{x:.5e}".split("e")
        body = rf"{float(mantissa):.6g} \times 10^{{{int(exponent)}}}"
    return rf"{body} \, \text{{{_tex_unit(unit)}}}" if unit else body


def _tex_unit(unit: str) -> str:
    return "".join(f"\\{c}" if c in "&%$#_{}" else c for c in unit)


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
    return f"{lhs} {amp}= {latex(expr, names)} = {_number(result.derived, result.unit)}"


def formula_line(result, derivation: dict | None = None) -> str:
    """Just ``lhs = formula``: the line a test or a reader checks."""
    expr, _, names = _shown(result, derivation)
    return f"{_lhs(result, derivation)} = {latex(expr, names)}"


def _where(result, derivation) -> str:
    return r",\; ".join(f"{name} = {_number(v, unit)}" for _, name, v, unit in where_items(result, derivation))


def where_items(result, derivation) -> list[tuple[sp.Symbol, str, sp.Expr, str]]:
    """(symbol, display name, value, unit) for each number put into a claim's formula."""
    _, values, names = _shown(result, derivation)
    notation = (derivation or {}).get("notation")
    tokens = notation == "training" or (notation == "tokens" and result.values.get(T) == 1)   # B counts tokens
    return [(s, names.get(s, LATEX_NAMES.get(s, str(s))), v, "tokens" if tokens and s == B else symbol_unit(s))
            for s, v in sorted(values.items(), key=lambda item: str(item[0]))]




# ----------------------------------------------------------------------------- MathML (HTML, notebooks)


def formula_mathml(result, derivation: dict | None = None) -> str:
    """``lhs = formula`` as a MathML block."""
    expr, _, names = _shown(result, derivation)
    return math_block(mathml_from_latex(_lhs(result, derivation)), mathml(expr, names))


def value_mathml(result, derivation: dict | None = None) -> str:
    """``lhs = number unit`` as a MathML block."""
    return math_block(mathml_from_latex(_lhs(result, derivation)), mathml_number(result.derived, result.unit))


def where_mathml(result, derivation: dict | None = None) -> list[str]:
    """One inline ``symbol = number unit`` per number put into the formula."""
    _, _, names = _shown(result, derivation)
    return [math_block(mathml(s, names), mathml_number(v, unit), display=False)
            for s, _, v, unit in where_items(result, derivation)]


# ----------------------------------------------------------------------------- HTML (notebooks, pages)


def claim_html(result, derivation: dict | None = None) -> str:
    """One claim: its id and text, formula, inputs, number with unit, the document's, the verdict."""
    where = where_mathml(result, derivation)
    parts = [f"<p><b>{markup.text(result.id)}</b> {markup.text(result.claim)}</p>",
             formula_mathml(result, derivation)]
    if where:
        parts.append("<p>with " + ", ".join(where) + ":</p>")
    parts.append(value_mathml(result, derivation))
    parts.append(f"<p>document: {markup.text(result.document_text)} · {markup.verdict(result.verdict)}"
                 + (f" · {markup.text(result.reason)}" if result.reason else "") + "</p>")
    if result.note:
        parts.append(f"<p class=\"note\">note: {markup.text(result.note)}</p>")
    if result.reproduce:
        w = ", ".join(f"{k}={v}" for k, v in result.reproduce["with"].items())
        does = "reproduces" if result.reproduce["reproduces"] else "does not reproduce"
        parts.append(f"<p>with {markup.text(w)}: {markup.number_html(result.reproduce['derived'], result.unit)} "
                     f"({does} the printed number)</p>")
    return f'<div class="claim" id="claim-{markup.text(result.id)}">{"".join(parts)}</div>'


def claims_table_html(results, derivation: dict | None = None) -> str:
    rows = [[markup.Raw(f'<a href="#claim-{markup.text(r.id)}">{markup.text(r.id)}</a>'),
             markup.number_html(r.derived, r.unit), markup.number_html(r.document, r.unit),
             markup.verdict(r.verdict), r.reason] for r in results]
    return markup.table(rows, ["claim", "derived", "document", "verdict", "reason"], "symroof claims")


def report_html(report, claims: bool = True) -> str:
    """A derivation run: title, verdict counts, the claims table, then each claim in full."""
    d = report.derivation
    counts: dict = {}
    for r in report.results:
        counts[r.verdict] = counts.get(r.verdict, 0) + 1
    summary = ", ".join(f"{k} {v}" for k, v in counts.items())
    parts = [f"<h2>{markup.text(d['title'])}</h2>"]
    if d.get("source"):
        parts.append(f"<p>Source: {markup.text(d['source'])}. Verdicts: {markup.text(summary)}.</p>")
    parts.append(claims_table_html(report.results, d))
    if claims:
        parts += [claim_html(r, d) for r in report.results]
    return f'<div class="symroof report">{"".join(parts)}</div>'
