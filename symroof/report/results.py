"""Named results and sensitivities as text and JSON, every number with its unit."""

from __future__ import annotations

import sympy as sp

from ..core.notation import latex, text
from ..core.symbols import INFO


def with_unit(value, unit: str, digits: int = 4) -> str:
    """``1619 chips``; SI prefixes for bytes, FLOPs and rates (``1.8e11 B/s`` → ``180 GB/s``)."""
    from .render import si

    number = float(value)
    if unit in ("B", "B/s", "FLOP/s", "FLOPs", "FLOP") and abs(number) >= 1e3:
        return si(value, unit, digits)
    return f"{number:.{digits}g} {unit}".rstrip()


def _value_text(symbol, value) -> str:
    info = INFO.get(str(symbol))
    unit = info.unit if info else ""
    if value.is_Rational and abs(value.p) < 10**7 and value.q < 1000:
        return f"{symbol} = {value} {unit}".rstrip()
    return f"{symbol} = {with_unit(value, unit)}"


def arranged(inst, as_latex: bool = False) -> str:
    """The closed form with the numbers where the symbols were (printed unevaluated)."""
    from ..core.symbols import LATEX_NAMES

    with sp.evaluate(False):
        return (sp.latex(inst.substituted, symbol_names=LATEX_NAMES) if as_latex
                else sp.sstr(inst.substituted))


def formula_text(inst, as_latex: bool = False) -> str:
    """The closed form, the same with the numbers in, and the number with its unit."""
    show = latex if as_latex else text
    lhs = inst.lhs if as_latex and inst.lhs else inst.name
    lines = []
    if inst.derivation is not None and not as_latex:
        lines.append(inst.derivation.render("text"))
    else:
        lines += [f"{lhs} = {show(inst.expr)}", f"  {inst.result.description}"]
    how = {"graph": "from the graph", "solver": "by the solver", "run": "from the graph and run settings"}
    lines.append(f"  derived {how[inst.result.how]} on {inst.structure}")
    if inst.values:
        lines.append("  with " + ", ".join(_value_text(s, v) for s, v in
                                           sorted(inst.values.items(), key=lambda kv: str(kv[0]))))
        lines += [f"  {note}" for note in inst.notes]
        lines.append(f"{lhs} = {arranged(inst, as_latex)}")
    if inst.number is not None:
        lines.append(f"{lhs} = {with_unit(inst.number, inst.unit)}"
                     + ("" if inst.value.is_Integer else f"  (exact: {text(inst.value)})"
                        if len(text(inst.value)) < 60 else ""))
    elif inst.values:
        lines.append(f"{lhs} = {show(inst.value)}  [{inst.unit or 'dimensionless'}; free: "
                     f"{', '.join(inst.free_symbols)}]")
    else:
        lines.append(f"  unit: {inst.unit or 'dimensionless'}; free: {', '.join(inst.free_symbols)}")
    return "\n".join(lines)


def formula_json(inst) -> dict:
    value = inst.number
    return {"name": inst.name, "description": inst.result.description, "how": inst.result.how,
            "structure": inst.structure, "expression": text(inst.expr), "latex": latex(inst.expr),
            "lhs": inst.lhs, "substituted": arranged(inst), "result": text(inst.value), "value": value,
            "exact": text(inst.value) if value is not None else None, "unit": inst.unit,
            "free_symbols": inst.free_symbols,
            "values": {str(s): text(v) for s, v in inst.values.items()}, "notes": inst.notes}


def sensitivity_line(row, point) -> str:
    """"W_ici × 1.82 (327 GB/s): comms-bound → compute-bound"; where the bound changes."""
    from ..claims.sensitivity import NAMES

    unit = INFO[str(row.symbol)].unit
    if row.new_bound == "not modelled":
        return "not in the step time: the plan's collectives are bandwidth-only (no latency floor)"
    if row.break_even is None:
        return "the bound does not change at any value"
    factor = row.break_even / row.value          # exact: a float of it may underflow to 0
    if row.new_bound == "infeasible":
        return f"below {with_unit(row.break_even, unit)} (× {_ratio(factor)}) this mesh no longer fits"
    change = f"× {_ratio(factor)}" if factor >= 1 else f"÷ {_ratio(1 / factor)}"
    return (f"{change} ({with_unit(row.break_even, unit)}): {NAMES[point.bound]}-bound → "
            f"{NAMES[row.new_bound]}-bound")


def _ratio(x) -> str:
    """A positive exact ratio to three significant digits, however far outside a float's range."""
    value = float(x)
    return f"{value:.3g}" if 0 < value < float("inf") else f"{sp.Float(x, 3)}"


def sensitivity_text(point, card, chip) -> str:
    from ..claims.sensitivity import NAMES
    from .render import table

    p = point.plan
    mesh = " × ".join(f"{a}={d}" for a, d in p["mesh"].items())
    per_chip = p["batch_tokens"] / p["chips_used"]
    lines = [f"{card.name} on {p['chips']} × {chip.label}: {p['strategy']} on {mesh} ({p['structure']}, "
             f"{p['phase']}), {per_chip:.0f} tokens per chip",
             f"step {with_unit(point.t_step, 's')}, {NAMES[point.bound]}-bound; "
             + ", ".join(f"{k} {with_unit(float(e.xreplace(point.values)), 's')}" for k, e in point.terms.items())]
    rows = [[str(r.symbol), r.meaning, with_unit(r.value, INFO[str(r.symbol)].unit), f"{r.elasticity:+.3f}",
             sensitivity_line(r, point)] for r in point.rows]
    lines.append(table(rows, ["x", "number", "value", "d ln t/d ln x", "break-even (the bound changes)"]))
    lines.append("elasticities from SymPy's derivative of the bounding term at this mesh; "
                 "break-evens solved exactly (the mesh held fixed)")
    return "\n".join(lines)


def sensitivity_json(point) -> dict:
    p = point.plan
    return {"model": p["model"], "strategy": p["strategy"], "mesh": p["mesh"], "bound": point.bound,
            "t_step_s": point.t_step, "per_chip_batch": p["batch_tokens"] / p["chips_used"],
            "terms_s": {k: float(e.xreplace(point.values)) for k, e in point.terms.items()},
            "numbers": [{"symbol": str(r.symbol), "meaning": r.meaning, "card_key": r.key,
                         "value": float(r.value), "unit": INFO[str(r.symbol)].unit,
                         "elasticity": r.elasticity, "elasticity_expr": text(r.elasticity_expr),
                         "break_even": None if r.break_even is None else float(r.break_even),
                         "break_even_exact": None if r.break_even is None else text(r.break_even),
                         "break_even_factor": None if r.break_even is None else float(r.break_even / r.value),
                         "bound_beyond": r.new_bound} for r in point.rows]}
