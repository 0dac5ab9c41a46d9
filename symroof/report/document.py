"""LaTeX and Markdown write-ups of a derivation run: each claim's formula in the book's notation,
its numbers, and the claims table.

The math of each claim comes from ``claims.display``; this module lays out the documents.
"""

from __future__ import annotations

from pathlib import Path

from ..claims.display import _lhs, _number, _where, claim_math, formula_line, where_items  # noqa: F401

_PREAMBLE = r"""\documentclass[11pt]{article}
\usepackage[margin=2cm]{geometry}
\usepackage{amsmath}
\usepackage{array}
\usepackage{longtable}
\usepackage{graphicx}
% \fiteq{...}: a display formula, shrunk to the line width only when it is wider
\newsavebox{\fiteqbox}
\newcommand{\fiteq}[1]{\sbox{\fiteqbox}{$\displaystyle #1$}%
  \ifdim\wd\fiteqbox>\linewidth\resizebox{\linewidth}{!}{\usebox{\fiteqbox}}\else\usebox{\fiteqbox}\fi}
\begin{document}
"""


# Text-mode LaTeX for each character that is not itself in text mode. One pass, so the braces
# of \textbackslash{} are not escaped again; a bare < or > prints as ¡ or ¿ in OT1 fonts.
_TEXT = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
         "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
         "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}",
         "×": r"$\times$", "·": r"$\cdot$", "≈": r"$\approx$", "≤": r"$\leq$", "≥": r"$\geq$",
         "→": r"$\rightarrow$", "µ": r"$\mu$", "μ": r"$\mu$", "–": "--", "—": "---", "−": "-",
         "’": "'", "‘": "`", "“": "``", "”": "''", "√": r"$\surd$", "∝": r"$\propto$", "²": r"$^2$",
         "³": r"$^3$", "…": r"\ldots{}"}


def _tex_text(text: str) -> str:
    """Plain text for a LaTeX text-mode paragraph; a character with no LaTeX spelling is named."""
    return "".join(_TEXT.get(c, c if c.isascii() else f"[U+{ord(c):04X}]") for c in str(text))


def _claim_block_tex(r, d) -> list[str]:
    lines = [rf"\paragraph{{{_tex_text(r.id)}}} {_tex_text(r.claim)}", r"\begin{equation*}",
             rf"\fiteq{{{formula_line(r, d)}}}", r"\end{equation*}"]
    where = where_items(r, d)
    if where:   # one inline formula per value, so a long list breaks between them
        lines.append("with " + ", ".join(rf"\({name} = {_number(v, unit)}\)" for _, name, v, unit in where) + ":")
    lines += [r"\begin{equation*}", rf"{_lhs(r, d)} = {_number(r.derived, r.unit)} \quad"
              rf"\text{{(document: {_tex_text(r.document_text)}; {r.verdict})}}", r"\end{equation*}"]
    if r.reason and r.verdict != "match":
        lines.append(_tex_text(r.reason) + r"\par")
    if r.reproduce:
        w = ", ".join(f"{k}={v}" for k, v in r.reproduce["with"].items())
        verdict = "reproduces" if r.reproduce["reproduces"] else "does not reproduce"
        lines.append(_tex_text(f"With {w}: ") + f"${_number(r.reproduce['derived'], r.unit)}$ "
                     + _tex_text(f"({verdict} the printed number).") + r"\par")
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
              r"\begin{longtable}{>{\raggedright}p{3.0cm} r r l >{\raggedright\arraybackslash}p{4.2cm}}",
              r"\hline claim & derived & document & verdict & reason \\ \hline \endhead"]
    for r in report.results:
        lines.append(f"{_tex_text(r.id)} & ${_number(r.derived, r.unit)}$ & ${_number(r.document, r.unit)}$ & "
                     f"{r.verdict} & {_tex_text(r.reason)} \\\\")
    lines += [r"\hline", r"\end{longtable}}", r"\end{document}", ""]
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
        lines += ["$$", f"{_lhs(r, d)} = {_number(r.derived, r.unit)}", "$$", "",
                  f"Document: {r.document_text}. Verdict: **{r.verdict}**" + (f" ({r.reason})" if r.reason else "")
                  + ".", ""]
        if r.reproduce:
            w = ", ".join(f"{k}={v}" for k, v in r.reproduce["with"].items())
            lines += [f"With {w}: ${_number(r.reproduce['derived'], r.unit)}$ "
                      f"({'reproduces' if r.reproduce['reproduces'] else 'does not reproduce'} the printed number).",
                      ""]
    lines += ["## Claims", "", "| claim | derived | document | verdict | reason |", "|---|---:|---:|---|---|"]
    for r in report.results:
        lines.append(f"| {r.id} | ${_number(r.derived, r.unit)}$ | ${_number(r.document, r.unit)}$ | {r.verdict} | "
                     f"{r.reason.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def write(text: str, path: str) -> None:
    from ..errors import SymroofError

    try:
        Path(path).write_text(text)
    except OSError as err:
        raise SymroofError(f"cannot write {path}: {err.strerror}") from None
