"""LaTeX and Markdown write-ups of a derivation run: each claim's formula in the book's notation,
its numbers, and the claims table.

Display conventions (documented, display only; the computed expression is never changed):
- ``notation: training`` in a derivation file prints the token batch ``B·T`` as ``B`` and the
  chip count ``n_chips`` as ``N``, as the book's training chapters do. ``N`` is renamed only in
  formulas that do not also contain the query-head count ``N``.
- ``fix_in_formula: [M_X, M_Y, ...]`` puts those settings' numbers into the printed formula,
  as the book does when it writes ``sqrt(2BN/F)`` for ``M_X/M_Y = 2``.
"""

from __future__ import annotations

from pathlib import Path

import sympy as sp

from .render import latex
from .symbols import SYMBOLS, B, N, T, n_chips

_PREAMBLE = r"""\documentclass[11pt]{article}
\usepackage[margin=2cm]{geometry}
\usepackage{amsmath}
\usepackage{array}
\usepackage{graphicx}
% \fiteq{...}: a display formula, shrunk to the line width only when it is wider
\newsavebox{\fiteqbox}
\newcommand{\fiteq}[1]{\sbox{\fiteqbox}{$\displaystyle #1$}%
  \ifdim\wd\fiteqbox>\linewidth\resizebox{\linewidth}{!}{\usebox{\fiteqbox}}\else\usebox{\fiteqbox}\fi}
\begin{document}
"""


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
    from .symbols import LATEX_NAMES

    parts = [f"{names.get(s, LATEX_NAMES.get(s, str(s)))} = {int(v) if v.is_integer else _number(v)}"
             for s, v in sorted(values.items(), key=lambda item: str(item[0]))]
    return ", ".join(parts)


def _tex_text(text: str) -> str:
    out = str(text)
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"), ("#", r"\#"),
                 ("_", r"\_"), ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"),
                 ("^", r"\textasciicircum{}")):
        out = out.replace(a, b)
    return out


def _claim_block_tex(r, d) -> list[str]:
    lines = [rf"\paragraph{{{_tex_text(r.id)}}} {_tex_text(r.claim)}", r"\begin{equation*}",
             rf"\fiteq{{{formula_line(r, d)}}}", r"\end{equation*}"]
    where = _where(r, d)
    if where:
        lines.append(rf"with ${where}$:")
    lines += [r"\begin{equation*}", rf"{_lhs(r, d)} = {_number(r.derived)} \quad"
              rf"\text{{(document: {_tex_text(r.document_text)}; {r.verdict})}}", r"\end{equation*}"]
    if r.reason and r.verdict != "match":
        lines.append(_tex_text(r.reason) + r"\par")
    if r.reproduce:
        w = ", ".join(f"{k}={v}" for k, v in r.reproduce["with"].items())
        lines.append(_tex_text(f"With {w}: {r.reproduce['derived']:.6g} "
                               f"({'reproduces' if r.reproduce['reproduces'] else 'does not reproduce'} "
                               f"the printed number).") + r"\par")
    return lines


def latex_document(report, fragment: bool = False) -> str:
    d = report.derivation
    if fragment:
        return "\n".join(rf"\[ {formula_line(r, d)} \]" for r in report.results) + "\n"
    lines = [_PREAMBLE, rf"\section*{{{_tex_text(d['title'])}}}"]
    if d.get("source"):
        lines.append(_tex_text(f"Source: {d['source']}.") + r"\par")
    for r in report.results:
        lines += _claim_block_tex(r, d)
    lines += [r"\section*{Claims}", r"{\small",
              r"\begin{tabular}{>{\raggedright}p{4.2cm} r r l >{\raggedright\arraybackslash}p{5.2cm}}",
              r"\hline claim & derived & document & verdict & reason \\ \hline"]
    for r in report.results:
        lines.append(f"{_tex_text(r.id)} & ${_number(r.derived)}$ & ${_number(r.document)}$ & "
                     f"{r.verdict} & {_tex_text(r.reason)} \\\\")
    lines += [r"\hline", r"\end{tabular}}", r"\end{document}", ""]
    return "\n".join(lines)


def markdown_document(report) -> str:
    d = report.derivation
    lines = [f"# {d['title']}", ""]
    if d.get("source"):
        lines += [f"Source: {d['source']}.", ""]
    for r in report.results:
        lines += [f"### {r.id}", "", f"> {r.claim}", "", "$$", formula_line(r, d), "$$", ""]
        where = _where(r, d)
        if where:
            lines += [f"with ${where}$:", ""]
        lines += ["$$", f"{_lhs(r, d)} = {_number(r.derived)}", "$$", "",
                  f"Document: {r.document_text}. Verdict: **{r.verdict}**" + (f" ({r.reason})" if r.reason else "")
                  + ".", ""]
        if r.reproduce:
            w = ", ".join(f"{k}={v}" for k, v in r.reproduce["with"].items())
            lines += [f"With {w}: {r.reproduce['derived']:.6g} "
                      f"({'reproduces' if r.reproduce['reproduces'] else 'does not reproduce'} the printed number).",
                      ""]
    lines += ["## Claims", "", "| claim | derived | document | verdict | reason |", "|---|---:|---:|---|---|"]
    for r in report.results:
        lines.append(f"| {r.id} | {float(r.derived):.6g} | {float(r.document):.6g} | {r.verdict} | "
                     f"{r.reason.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def write(text: str, path: str) -> None:
    from .errors import SymroofError

    try:
        Path(path).write_text(text)
    except OSError as err:
        raise SymroofError(f"cannot write {path}: {err.strerror}") from None
