"""HTML building blocks (escaped text, tables, definition lists) for notebooks and pages.

Standard library only, so every stage's objects can render themselves (``_repr_html_``)
without importing ``report/``. Math is MathML from ``core.notation``; nothing here runs
script or loads anything from the network.
"""

from __future__ import annotations

import html

# Verdict colours, shared by claims tables in notebooks and in ``symroof html`` pages.
VERDICT_STYLE = {"match": "#1a7f37", "rounded": "#9a6700", "differs": "#cf222e", "n/a": "#57606a"}


def text(value) -> str:
    """Escaped text for an HTML element's content or attribute."""
    return html.escape(str(value))


class Raw(str):
    """Markup that is already HTML (MathML, a nested table): inserted without escaping."""


def cell(value) -> str:
    return value if isinstance(value, Raw) else text(value)


def table(rows, header=None, css_class: str = "symroof") -> str:
    """A table; cells are escaped unless they are ``Raw``."""
    head = ("<thead><tr>" + "".join(f"<th>{cell(h)}</th>" for h in header) + "</tr></thead>") if header else ""
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f'<table class="{text(css_class)}">{head}<tbody>{body}</tbody></table>'


def verdict(name: str) -> Raw:
    colour = VERDICT_STYLE.get(name, "#57606a")
    return Raw(f'<span class="verdict verdict-{text(name)}" style="color:{colour};font-weight:600">'
               f"{text(name)}</span>")


def number(value, unit: str = "", digits: int = 4) -> str:
    """A float for a table cell: 4.59e+14 FLOPs/s becomes ``4.59×10^14 FLOPs/s`` in text."""
    x = float(value)
    if x == 0 or 1e-3 <= abs(x) < 1e6:
        shown = f"{x:.{digits + 2}g}"
    else:
        mantissa, exponent = f"{x:.{digits}e}".split("e")
        shown = f"{float(mantissa):g}×10^{int(exponent)}"
    return f"{shown} {unit}".strip()


def number_html(value, unit: str = "", digits: int = 4) -> Raw:
    """The same with a real superscript; a Python int (a count) is shown exactly, digits grouped."""
    if isinstance(value, int) and not isinstance(value, bool):
        shown = f"{value:,}".replace(",", "&#8201;")
        return Raw(f"{shown}&#8239;{text(unit)}" if unit else shown)
    x = float(value)
    if x == 0 or 1e-3 <= abs(x) < 1e6:
        shown = text(f"{x:.{digits + 2}g}")
    else:
        mantissa, exponent = f"{x:.{digits}e}".split("e")
        shown = f"{float(mantissa):g}×10<sup>{int(exponent)}</sup>"
    return Raw(f"{shown}&#8239;{text(unit)}" if unit else shown)


def block(title: str, *parts: str, level: int = 3) -> str:
    return f"<div class=\"symroof\"><h{level}>{text(title)}</h{level}>{''.join(parts)}</div>"
