"""Search parallelism strategies and meshes for one model, chip, chip count and batch.

``search`` evaluates every candidate mesh of every applicable strategy family with the
lambdified expressions of ``sweep``; ``plan`` picks the fastest feasible one and reports it
next to the book's closed forms (X_opt and the critical batches) instantiated for the run.
"""

from __future__ import annotations

import math

from ..parallel import topology as meshlib
from ..io.cards import ChipCard, ModelCard
from ..errors import InfeasibleError, UnknownNameError
from ..units import DAY
from ..io.run import RunSettings
from ..search.sweep import (BOUNDS, FAMILIES, MOE_ONLY, Evaluated, Options, compile_family,  # noqa: F401
                    enumerate_candidates, evaluate, split_by_links)
from ..core.symbols import B, M_X, M_Y, T, n_chips, n_micro


def _family_of(mesh: dict[str, int]) -> str:
    inner = tuple(a for a in meshlib.ORDER if a in mesh and a != "pod")
    for name, axes in FAMILIES.items():
        if axes == inner:
            return name
    raise InfeasibleError(f"no strategy uses exactly the axes {', '.join(inner)}; "
                          f"strategies: {', '.join(n + ' (' + '+'.join(a) + ')' for n, a in FAMILIES.items())}")


def _checks(card, chip, chips, batch_tokens, seq, pods, strategy):
    if seq < 1 or batch_tokens < 1 or chips < 1 or pods < 1:
        raise InfeasibleError("chips, pods, batch tokens and sequence length must be positive")
    if batch_tokens % seq:
        raise InfeasibleError(f"--batch-tokens {batch_tokens} is not a whole number of {seq}-token sequences")
    if chips % pods:
        raise InfeasibleError(f"--chips {chips} cannot be split evenly over {pods} pods")
    if chip.family == "tpu" and chips // pods > chip.pod_chips:
        need = -(-chips // chip.pod_chips)
        raise InfeasibleError(f"{chips // pods} chips per pod exceed one {chip.name} pod of {chip.pod_chips} "
                              f"({'x'.join(map(str, chip.pod_shape))}); use --pods {need} or more")
    if strategy is not None:
        if strategy not in FAMILIES:
            raise UnknownNameError(f"unknown strategy {strategy!r}; allowed: {', '.join(FAMILIES)}")
        if strategy in MOE_ONLY and not card.is_moe:
            raise InfeasibleError(f"strategy {strategy!r} needs a mixture-of-experts model; {card.name} is dense")


def _value(expr, values) -> float:
    from ..io.bind import evaluate as exact_eval

    return float(exact_eval(expr, values))


def closed_forms(card, chip, chips_per_pod, sequences, seq, run, overlap="sum") -> dict:
    """The book's closed forms (simplified layer, forward pass) instantiated for this run."""
    from ..io.bind import chip_values, model_values
    from ..solve.training import data_parallel_batch, fsdp_tp_optimum

    axes = len(chip.pod_shape) if chip.family == "tpu" else 1
    mx, my = (axes - 1, 1) if axes > 1 else (1, 1)     # FSDP+TP: the book's split of the torus axes
    vals = {**model_values(card), **chip_values(chip), **run.values(), B: sequences, T: seq,
            n_chips: chips_per_pod}
    per_chip = sequences * seq / chips_per_pod
    fsdp_crit = _value(data_parallel_batch().expr, {**vals, M_X: axes})
    d = fsdp_tp_optimum(overlap=overlap)
    mixed = {**vals, M_X: mx, M_Y: my}
    mixed_crit = _value(d.extra["critical_batch"], mixed)
    x_opt = _value(d.expr, mixed)
    x2 = 2 ** round(math.log2(x_opt))
    y2 = 1
    while x2 * y2 * 2 <= chips_per_pod:
        y2 *= 2
    try:
        meshlib.layout(chip, {"fsdp": x2, "tensor": y2})
        fits = True
    except InfeasibleError:
        fits = False
    return {
        "note": f"book layer In·W_in·W_out, forward pass, overlap {overlap}, per pod",
        "per_chip_batch": per_chip,
        "max_data_parallel": sequences,
        "fsdp": {"M_X": axes, "critical_per_chip_batch": fsdp_crit,
                 "bound": "compute" if per_chip >= fsdp_crit else "ici"},
        "fsdp_tp": {"M_X": mx, "M_Y": my, "critical_per_chip_batch": mixed_crit,
                    "bound": "compute" if per_chip >= mixed_crit else "ici",
                    "x_opt": x_opt, "y_opt": chips_per_pod / x_opt,
                    "power_of_two_mesh": {"fsdp": x2, "tensor": y2}, "chips_used": x2 * y2,
                    "idle_chips": chips_per_pod - x2 * y2, "fits_topology": fits},
    }


def search(card: ModelCard, chip: ChipCard, chips: int, batch_tokens: int, seq: int, pods: int = 1,
           strategy: str | None = None, mesh: dict | None = None, run: RunSettings | None = None,
           options: Options = Options()) -> list[Evaluated]:
    """Evaluate every candidate of the chosen (or every applicable) family."""
    run = run or RunSettings()
    _checks(card, chip, chips, batch_tokens, seq, pods, strategy)
    if mesh is not None:
        meshlib.layout(chip, mesh, chips)          # one-line error if it does not multiply or fit
        if mesh.get("pod", 1) != pods:
            raise InfeasibleError(f"mesh pod={mesh.get('pod', 1)} but --pods is {pods}")
        family = _family_of(mesh)
        if strategy is not None and strategy != family:
            raise InfeasibleError(f"mesh axes are strategy {family!r}, not {strategy!r}")
        families = [family]
    elif strategy is not None:
        families = [strategy]
    else:
        families = [f for f in FAMILIES if card.is_moe or f not in MOE_ONLY]
    out = []
    for fam in families:
        cand = enumerate_candidates(fam, card, chip, chips, pods, batch_tokens // seq, seq, options, mesh)
        if not cand.cols[n_micro]:
            out.append(Evaluated(fam, cand.axes, cand, reasons=dict(cand.reasons)))
            continue
        for dcn_axes, part in split_by_links(cand).items():
            comp = compile_family(fam, card, chip, run, options, pods, dcn_axes)
            out.append(evaluate(comp, part, card, chip, batch_tokens // seq, seq, options.overlap))
    if not any(e.arrays for e in out):
        why = max(((n, w) for e in out for w, n in e.reasons.items()), default=(0, None))[1]
        if why:
            what = f"mesh {_fmt(mesh)}" if mesh else strategy or "strategy"
            raise InfeasibleError(f"no feasible {what} for {card.name} on {chips} {chip.name}: {why} "
                                  f"({batch_tokens // seq} sequences of {seq})")
        raise InfeasibleError(f"no {strategy or 'strategy'} mesh fits {chips} {chip.name} chips "
                              f"({'x'.join(map(str, chip.pod_shape))} per pod)")
    return out


def _flops_per_token(card, seq):
    from ..core.derive import training_flops_per_token
    from ..core.graph import Structure, build
    from ..io.bind import model_values

    g = build(Structure.of(card), "causal")
    return _value(training_flops_per_token(g), {**model_values(card), T: seq})


def _rows(evaluated: list[Evaluated]):
    """All feasible rows, fastest first: (t_step, evaluated, index)."""
    import numpy as np

    rows = []
    for ev in evaluated:
        a = ev.arrays
        if not a:
            continue
        for i in np.flatnonzero(a["feasible"]):
            rows.append((float(a["t_step"][i]), float(a["t_comms"][i]), -float(a["chips"][i]), ev, int(i)))
    rows.sort(key=lambda r: r[:3])     # ties (compute-bound): the most comms headroom first
    return [(r[0], r[3], r[4]) for r in rows]


def _mesh_of(ev: Evaluated, i: int) -> dict:
    from ..search.sweep import AXIS_SYMBOLS

    return {a: int(ev.cand.cols[AXIS_SYMBOLS[a][0]][i]) for a in ev.axes}


def plan(card: ModelCard, chip: ChipCard, chips: int, batch_tokens: int, seq: int = 4096, pods: int = 1,
         strategy: str | None = None, mesh: dict | None = None, run: RunSettings | None = None,
         options: Options = Options(), tokens: float | None = None, mfu: float | None = None,
         top: int = 5) -> "Plan":
    """The fastest feasible strategy and mesh, with its times, bound, memory and the closed forms."""
    run = run or RunSettings()
    evaluated = search(card, chip, chips, batch_tokens, seq, pods, strategy, mesh, run, options)
    rows = _rows(evaluated)
    if not rows:
        # every split that divides evenly was evaluated and none fits in HBM
        least = min(float(e.arrays["memory"].min()) for e in evaluated if e.arrays)
        what = f"mesh {_fmt(mesh)}" if mesh else f"strategy {strategy}" if strategy else "strategy"
        raise InfeasibleError(f"no feasible {what} for {card.name} on {chips} {chip.name}: it needs more HBM "
                              f"than the chip has (at least {least / 1e9:.1f} GB per chip, "
                              f"{float(chip.hbm_bytes) / 1e9:g} GB available)")
    t_step, ev, i = rows[0]
    a = {k: v[i] for k, v in ev.arrays.items()}
    chosen = _mesh_of(ev, i)
    used = int(a["chips"])
    sequences = batch_tokens // seq
    cf = closed_forms(card, chip, chips // pods, sequences // pods, seq, run, options.overlap)
    flops_token = _flops_per_token(card, seq)
    peak = float(chip.peak_flops_per_s["bf16"])
    out = {
        "model": card.name, "chip": chip.name, "chips": chips, "pods": pods, "batch_tokens": batch_tokens,
        "seq": seq, "sequences": sequences, "strategy": ev.family, "mesh": chosen,
        "axes": {ax: {"degree": chosen[ax], "link": ev.cand.links[ax][i], "M": ev.cand.n_phys[ax][i],
                      "wrap": ev.cand.wraps[ax][i], "bandwidth_multiple": _multiple(ev, ax, i)}
                 for ax in ev.axes},
        "chips_used": used, "idle_chips": chips - used, "per_chip_batch": batch_tokens / used,
        "bound": BOUNDS[int(a["bound"])], "step_time_s": t_step, "t_math_s": float(a["t_math"]),
        "t_hbm_s": float(a["t_hbm"]), "t_comms_s": float(a["t_comms"]), "t_ici_s": float(a["t_ici"]),
        "t_dcn_s": float(a["t_dcn"]), "memory_per_chip_bytes": float(a["memory"]),
        "hbm_bytes": float(chip.hbm_bytes),
        "mfu": None, "mfu_all_chips": None,      # whole-model step only (not the book layer)
        "overlap": options.overlap, "phase": options.phase or "step",
        "structure": "book layer" if options.book_layer else "model", "run": vars(run),
        "closed_forms": cf,
        "x_opt": None,
        "alternatives": _alternatives(rows, top),
        "candidates_evaluated": sum(len(e.arrays["t_step"]) for e in evaluated if e.arrays),
    }
    if not options.book_layer and options.phase is None:
        out["mfu"] = flops_token * batch_tokens / (used * peak * t_step)
        out["mfu_all_chips"] = flops_token * batch_tokens / (chips * peak * t_step)
    if "stage" in chosen:
        out["n_micro"] = int(ev.cand.cols[n_micro][i])
    if "fsdp" in chosen and "tensor" in chosen:
        from ..io.bind import chip_values, model_values
        from ..solve.training import fsdp_tp_optimum

        vals = {**model_values(card), **chip_values(chip), B: sequences // pods, T: seq,
                n_chips: used // pods, M_X: out["axes"]["fsdp"]["M"], M_Y: out["axes"]["tensor"]["M"]}
        out["x_opt"] = _value(fsdp_tp_optimum(overlap=options.overlap).expr, vals)
        out["x_opt_note"] = (f"book layer, forward pass, overlap {options.overlap}, "
                             f"M_X={vals[M_X]}, M_Y={vals[M_Y]} of the chosen mesh")
    if tokens is not None:
        steps = tokens / batch_tokens
        out["train_days"] = steps * t_step / DAY
        if mfu is not None:
            out["train_days_at_mfu"] = tokens * flops_token / (chips * peak * mfu) / DAY
    out["explanation"] = explain(out)
    return Plan(out)


class Plan(dict):
    """A plan is a plain dict (it goes to JSON as is) that also renders in a notebook."""

    def _repr_markdown_(self) -> str:
        mesh = " × ".join(f"{axis}={degree}" for axis, degree in self["mesh"].items())
        rows = [("mesh", mesh), ("bound", self["bound"]), ("step time", f"{self['step_time_s']:.4g} s"),
                ("t_math", f"{self['t_math_s']:.4g} s"), ("t_comms", f"{self['t_comms_s']:.4g} s"),
                ("memory per chip", f"{self['memory_per_chip_bytes'] / 1e9:.3g} GB"),
                ("chips used", f"{self['chips_used']} of {self['chips']}")]
        if self.get("x_opt") is not None:
            rows.append(("X_opt (unrounded)", f"{self['x_opt']:.4g}"))
        return "\n".join(["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows])

    def _repr_html_(self) -> str:
        """The chosen mesh and its numbers, why it won, and the runners-up."""
        from ..core import markup

        rows = [("mesh", " × ".join(f"{axis}={degree}" for axis, degree in self["mesh"].items())),
                ("strategy", self.get("strategy", "")), ("bound", self["bound"]),
                ("step time", markup.number_html(self["step_time_s"], "s")),
                ("t_math", markup.number_html(self["t_math_s"], "s")),
                ("t_comms", markup.number_html(self["t_comms_s"], "s")),
                ("memory per chip", markup.number_html(self["memory_per_chip_bytes"], "B")),
                ("chips used", f"{self['chips_used']} of {self['chips']}")]
        if self.get("x_opt") is not None:
            rows.append(("X_opt (unrounded)", markup.number_html(self["x_opt"])))
        parts = [markup.table(rows)]
        if self.get("explanation"):
            parts.append("<ul>" + "".join(f"<li>{markup.text(line)}</li>" for line in self["explanation"]) + "</ul>")
        alternatives = [[a["strategy"], " × ".join(f"{k}={v}" for k, v in a["mesh"].items()),
                         markup.number_html(a["step_time_s"], "s"), a["bound"]] for a in self.get("alternatives", [])]
        if alternatives:
            parts.append(markup.table(alternatives, ["next best", "mesh", "step time", "bound"]))
        return markup.block("plan", *parts)

    def _repr_latex_(self) -> str:
        body = r" \\ ".join(rf"\text{{{k}}} & \text{{{v}}}" for k, v in (
            ("mesh", " x ".join(f"{a}={d}" for a, d in self["mesh"].items())),
            ("bound", self["bound"]), ("step", f"{self['step_time_s']:.4g} s")))
        return rf"$$\begin{{array}}{{ll}} {body} \end{{array}}$$"


def _alternatives(rows, top: int) -> list[dict]:
    """The next fastest distinct (strategy, mesh) pairs after the chosen one."""
    seen, out = set(), []
    for t, e, j in rows:
        key = (e.family, tuple(_mesh_of(e, j).items()))
        if key in seen:
            continue
        seen.add(key)
        out.append({"strategy": e.family, "mesh": _mesh_of(e, j), "step_time_s": t,
                    "bound": BOUNDS[int(e.arrays["bound"][j])]})
    return out[1:top + 1]


def _multiple(ev: Evaluated, axis: str, i: int) -> float:
    """The axis's bandwidth in units of W_ici (M on a ring, M/2 on a line, W_dcn/W_ici off-node)."""
    from ..search.sweep import AXIS_SYMBOLS

    m = AXIS_SYMBOLS[axis][1]
    return float(ev.cand.cols[m][i]) if m is not None else 1.0


def _fmt(mesh: dict | None) -> str:
    return " × ".join(f"{k}={v}" for k, v in (mesh or {}).items())


def explain(r: dict) -> list[str]:
    """Two to four lines: what was chosen, which term dominates and by how much."""
    terms = {"compute": r["t_math_s"], "hbm": r["t_hbm_s"], "comms": r["t_comms_s"]}
    top = max(terms, key=terms.get)
    other = max(t for k, t in terms.items() if k != top)
    comms = r["t_comms_s"]
    split = f"ICI {r['t_ici_s']:.3g} s" + (f" + DCN {r['t_dcn_s']:.3g} s" if r["t_dcn_s"] else "")
    mfu = (f"roofline MFU {100 * r['mfu']:.0f}% ({100 * r['mfu_all_chips']:.0f}% over all chips), "
           if r["mfu"] is not None else f"({r['structure']}, {r['phase']}) ")
    lines = [f"{r['strategy']} on {_fmt(r['mesh'])}: step {r['step_time_s']:.3g} s, {mfu}"
             f"{r['memory_per_chip_bytes'] / 1e9:.1f} of {r['hbm_bytes'] / 1e9:g} GB HBM per chip"]
    name = {"compute": "t_math", "hbm": "t_hbm", "comms": "t_comms"}[top]
    lines.append(f"{r['bound']}-bound: {name} {terms[top]:.3g} s"
                 + (f", {terms[top] / other:.2f}× the next term" if other else "")
                 + f"; t_math {r['t_math_s']:.3g} s vs t_comms {comms:.3g} s ({split}, "
                 f"{100 * comms / r['t_math_s']:.0f}% of compute)")
    cf = r["closed_forms"]
    lines.append(f"{r['per_chip_batch']:.0f} tokens per chip; book bounds: FSDP needs "
                 f"{cf['fsdp']['critical_per_chip_batch']:.0f} (M_X={cf['fsdp']['M_X']}), FSDP+TP "
                 f"{cf['fsdp_tp']['critical_per_chip_batch']:.0f}; X_opt {cf['fsdp_tp']['x_opt']:.0f} "
                 f"(power of two: {_fmt(cf['fsdp_tp']['power_of_two_mesh'])}, {cf['fsdp_tp']['chips_used']} chips"
                 f"{'' if cf['fsdp_tp']['fits_topology'] else ', not a slice of the pod'})")
    if r["idle_chips"]:
        lines.append(f"uses {r['chips_used']} of {r['chips']} chips ({r['idle_chips']} idle): no faster mesh on more "
                     f"chips divides {r['sequences']} sequences, the heads, d_ff and layers and fits the topology")
    return lines


def parse_mesh(pairs: list[str] | None) -> dict[str, int] | None:
    """``--mesh AXIS=DEGREE`` pairs (also ``a=1,b=2``) as a dict; one-line errors for bad text."""
    if not pairs:
        return None
    out: dict[str, int] = {}
    for pair in (p for item in pairs for p in item.split(",")):
        name, eq, value = pair.partition("=")
        name = name.strip()
        if not eq or name not in meshlib.ORDER:
            raise InfeasibleError(f"--mesh {pair!r}: expected AXIS=DEGREE with AXIS one of {', '.join(meshlib.ORDER)}")
        if not value.strip().isdigit() or int(value) < 1:
            raise InfeasibleError(f"--mesh {pair!r}: the degree must be a positive integer")
        out[name] = int(value)
    return out
