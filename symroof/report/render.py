"""Numbers and tables as text: SI prefixes, grouped integers, aligned tables. No model logic lives here."""

from __future__ import annotations

from fractions import Fraction

import sympy as sp

from ..core.notation import latex, text  # noqa: F401  (re-exported for the report writers)

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
            shown = str(cell)
            numeric = _digit(shown[:1]) or shown[:1] in "-+." and _digit(shown[1:2])
            cells.append(shown.rjust(widths[i]) if numeric and i else shown.ljust(widths[i]))
        return "  ".join(cells).rstrip()

    out = [line(r) for r in body]
    if header:
        out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def _digit(char: str) -> bool:
    """An ASCII digit: str.isdigit() alone takes '²' too."""
    return char.isascii() and char.isdigit()
