"""Search parallelism strategies and meshes for one model, chip, chip count and batch.

``search`` evaluates every candidate mesh of every applicable strategy family with the
expressions of ``sweep`` (trees evaluated over numpy arrays); ``plan`` picks the fastest feasible one and reports it
next to the book's closed forms (X_opt and the critical batches) instantiated for the run.
"""

from __future__ import annotations

import math

from ..parallel import topology as meshlib
from ..parallel.schedule_names import PLANNED
from ..io.cards import ModelCard
from ..io.chips import ChipCard
from ..errors import InfeasibleError, UnknownNameError
from ..units import DAY
from .result import Plan
from ..io.run import RunSettings
from ..search.sweep import (AXIS_NAMES, FAMILIES, MOE_ONLY, Options,  # noqa: F401
                            compile_family, enumerate_candidates, split_by_links)
from ..search.evaluation import BOUNDS, Evaluated, evaluate
from ..search.compare import alternatives, idle_reason, laid as _laid
from ..search.candidates import pooled
from .variants import foldable as _foldable, runnable as _runnable, variants as _variants


def _family_of(mesh: dict[str, int]) -> str:
    inner = tuple(a for a in meshlib.ORDER if a in mesh and a != "pod")
    for name, axes in FAMILIES.items():
        if axes == inner:
            return name
    raise InfeasibleError(f"no strategy uses exactly the axes {', '.join(inner)}; "
                          f"strategies: {', '.join(n + ' (' + '+'.join(a) + ')' for n, a in FAMILIES.items())}")


# Sanity bounds, far beyond any machine or batch: past them the divisor search would take
# minutes, so such input is refused in one line instead.
LIMITS = (("chips", 10 ** 9), ("batch tokens", 10 ** 12), ("sequence length", 10 ** 8))


def _checks(card, chip, chips, batch_tokens, seq, pods, strategy):
    if seq < 1 or batch_tokens < 1 or chips < 1 or (pods is not None and pods < 1):
        raise InfeasibleError("chips, pods, batch tokens and sequence length must be positive")
    for (what, most), value in zip(LIMITS, (chips, batch_tokens, seq)):
        if value > most:
            raise InfeasibleError(f"{what} {value} is more than symroof plans for (at most {most:.0e})")
    if batch_tokens % seq:
        raise InfeasibleError(f"--batch-tokens {batch_tokens} is not a whole number of {seq}-token sequences")
    if pods is not None and chips % pods:
        raise InfeasibleError(f"--chips {chips} cannot be split evenly over {pods} pods")
    if pods is not None and chip.family == "tpu" and chips // pods > meshlib.slice_limit(chip):
        need = -(-chips // meshlib.slice_limit(chip))
        raise InfeasibleError(f"{chips // pods} chips per slice exceed the largest {chip.name} slice of "
                              f"{meshlib.slice_limit(chip)} chips; use --pods {need} or more (or leave --pods out)")
    slices = -(-chips // meshlib.slice_limit(chip)) if chip.family == "tpu" else 1
    if slices > batch_tokens // seq:
        raise InfeasibleError(f"--chips {chips} needs at least {slices} {chip.name} slices over DCN, more than the "
                              f"{batch_tokens // seq} sequences of the batch can be split over")
    if strategy is not None:
        if strategy not in FAMILIES:
            raise UnknownNameError(f"unknown strategy {strategy!r}; allowed: {', '.join(FAMILIES)}")
        if strategy in MOE_ONLY and not card.is_moe:
            raise InfeasibleError(f"strategy {strategy!r} needs a mixture-of-experts model; {card.name} is dense")


def _value(expr, values) -> float:
    from ..io.fractions_eval import to_float

    return to_float(expr, values)


def _book_forms(overlap: str) -> dict:
    """The book's closed forms as solved by SymPy (cached on disk: solving takes most of a second)."""
    from ..io import expression_cache as cache

    def solve():
        from ..solve.training import data_parallel_batch, fsdp_tp_optimum

        d = fsdp_tp_optimum(overlap=overlap)
        return {"fsdp_critical": data_parallel_batch().expr, "x_opt": d.expr,
                "fsdp_tp_critical": d.extra["critical_batch"]}
    return cache.cached("book_forms", {"overlap": overlap}, solve)


def closed_forms(card, chip, chips_per_pod, sequences, seq, run, overlap="sum") -> dict:
    """The book's closed forms (simplified layer, forward pass) instantiated for this run (the
    numbers are kept in the on-disk cache under every input)."""
    from ..io import expression_cache as cache

    fields = {"card": repr(card), "chip": repr(chip), "chips": chips_per_pod, "sequences": sequences,
              "seq": seq, "run": repr(run), "overlap": overlap}
    found = cache.load_data("closed_forms", fields)
    if isinstance(found, dict):
        return found
    out = _closed_forms(card, chip, chips_per_pod, sequences, seq, run, overlap)
    cache.store_data("closed_forms", fields, out)
    return out


def _closed_forms(card, chip, chips_per_pod, sequences, seq, run, overlap) -> dict:
    from ..core.symbols import B, M_X, M_Y, T, W_ici, n_chips
    from ..io.bind import chip_values, mesh_m, model_values

    m = mesh_m(chip, chips_per_pod)          # the one rule (shared with formula and the plots)
    axes, (mx, my) = m["fsdp"], m["fsdp_tp"]
    vals = {**model_values(card), **chip_values(chip), **run.values(), B: sequences, T: seq,
            n_chips: chips_per_pod}
    per_chip = sequences * seq / chips_per_pod
    forms = _book_forms(overlap)
    # past one NVLink domain the FSDP ring runs at the domain's NICs together (mesh_m's w_fsdp)
    fsdp_crit = _value(forms["fsdp_critical"], {**vals, M_X: axes, W_ici: m["w_fsdp"].xreplace(vals)})
    mixed = {**vals, M_X: mx, M_Y: my}
    mixed_crit = _value(forms["fsdp_tp_critical"], mixed)
    x_opt = _value(forms["x_opt"], mixed)
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
        "fsdp": {"M_X": _plain(axes), "critical_per_chip_batch": fsdp_crit,
                 "bound": "compute" if per_chip >= fsdp_crit else "ici"},
        "fsdp_tp": {"M_X": _plain(mx), "M_Y": _plain(my), "critical_per_chip_batch": mixed_crit,
                    "bound": "compute" if per_chip >= mixed_crit else "ici",
                    "x_opt": x_opt, "y_opt": chips_per_pod / x_opt,
                    "power_of_two_mesh": {"fsdp": x2, "tensor": y2}, "chips_used": x2 * y2,
                    "idle_chips": chips_per_pod - x2 * y2, "fits_topology": fits},
    }


def _mesh_x_opt(card, chip, sequences, seq, chips, m_x, m_y, overlap) -> float:
    """The book's X_opt with the chosen mesh's own M and chips (kept in the on-disk cache)."""
    from ..io import expression_cache as cache

    fields = {"card": repr(card), "chip": repr(chip), "sequences": sequences, "seq": seq, "chips": chips,
              "M": [m_x, m_y], "overlap": overlap}
    found = cache.load_data("mesh_x_opt", fields)
    if isinstance(found, float):
        return found
    from ..core.symbols import B, M_X, M_Y, T, n_chips
    from ..io.bind import chip_values, model_values

    vals = {**model_values(card), **chip_values(chip), B: sequences, T: seq, n_chips: chips, M_X: m_x, M_Y: m_y}
    value = _value(_book_forms(overlap)["x_opt"], vals)
    cache.store_data("mesh_x_opt", fields, value)
    return value


def _plain(m):
    """An exact M as JSON can hold it: an int when whole (M = 1/2 on a line becomes 0.5)."""
    return int(m) if m == int(m) else float(m)


def search(card: ModelCard, chip: ChipCard, chips: int, batch_tokens: int, seq: int, pods: int | None = None,
           strategy: str | None = None, mesh: dict | None = None, run: RunSettings | None = None,
           options: Options = Options()) -> list[Evaluated]:
    """Evaluate every candidate of the chosen (or every applicable) family.

    ``pods=None`` lets the search choose how many slices (joined over DCN) a TPU job uses.
    """
    run = run or RunSettings()
    _checks(card, chip, chips, batch_tokens, seq, pods, strategy)
    if options.schedule is not None and options.schedule not in PLANNED:
        # the command line offers only these (--schedule); a library caller gets the same one line
        raise InfeasibleError(f"schedule {options.schedule!r} is not planned; allowed: {', '.join(PLANNED)}")
    if mesh is not None:
        meshlib.layout(chip, mesh, chips)          # one-line error if it does not multiply or fit
        if pods is not None and mesh.get("pod", 1) != pods:
            raise InfeasibleError(f"mesh pod={mesh.get('pod', 1)} but --pods is {pods}")
        pods = mesh.get("pod", 1)
        family = _family_of(mesh)
        if strategy is not None and strategy != family:
            raise InfeasibleError(f"mesh axes are strategy {family!r}, not {strategy!r}")
        families = [family]
    elif strategy is not None:
        families = [strategy]
    else:
        families = [f for f in FAMILIES if card.is_moe or f not in MOE_ONLY]
    if options.continuous and pods is None:
        pods = 1
    forced = dict(options.m_override)
    m_symbols = {a: AXIS_NAMES[a][1] for a in AXIS_NAMES}
    out = []
    sequences = batch_tokens // seq
    for fam in families:
        cand = enumerate_candidates(fam, FAMILIES[fam], card, chip, chips, pods, sequences, seq, forced,
                                    options.continuous, mesh, m_symbols=m_symbols, pad=options.pad)
        if not len(cand):
            out.append(Evaluated(fam, cand.axes, cand, reasons=dict(cand.reasons)))
            continue
        for run_v, options_v, variant in _variants(fam, run, options):
            runs = _runnable(cand, card, options_v.schedule)
            runs = _foldable(runs, card) if options_v.fold_experts else runs
            if not len(runs):
                out.append(Evaluated(fam, runs.axes, runs, reasons=dict(runs.reasons)))
                continue
            for (several, dcn_axes, spanning), part in split_by_links(runs, pooled(chip)).items():
                comp = compile_family(fam, card, chip, run_v, options_v, 2 if several else 1, dcn_axes, spanning)
                ev = evaluate(comp, part, card, chip, sequences, seq, options.overlap, options.pad)
                ev.variant = variant
                out.append(ev)
    if not any(e.arrays for e in out):
        why = max(((n, w) for e in out for w, n in e.reasons.items()), default=(0, None))[1]
        if why:
            what = f"mesh {_fmt(mesh)}" if mesh else strategy or "strategy"
            raise InfeasibleError(f"no feasible {what} for {card.name} on {chips} {chip.name}: {why} "
                                  f"({sequences} sequences of {seq})")
        raise InfeasibleError(f"no {strategy or 'strategy'} mesh fits {chips} {chip.name} chips "
                              f"({meshlib.describe(chip) if chip.family == 'tpu' else 'NVLink domains'})")
    return out


def _flops_per_token(card, seq, mtp: int = 0):
    from ..io import expression_cache as cache

    fields = {"card": repr(card), "seq": seq, **({"mtp": mtp} if mtp else {})}
    found = cache.load_data("flops_per_token_value", fields)
    if isinstance(found, float):
        return found
    from ..core.derive import training_flops_per_token
    from ..core.graph import Structure, build
    from ..core.symbols import T
    from ..io.bind import model_values

    structure = Structure.of(card, mtp=mtp)
    expr = cache.cached("flops_per_token", {"structure": repr(structure)},
                        lambda: {"e": training_flops_per_token(build(structure, "causal"))})["e"]
    value = _value(expr, {**model_values(card), T: seq})
    cache.store_data("flops_per_token_value", fields, value)
    return value


def _rows(evaluated: list[Evaluated], keep: int = 400):
    """The fastest feasible rows, fastest first: (t_step, evaluated, index). Ties (compute-bound):
    the most comms headroom first, then the most chips."""
    import numpy as np

    parts = [(k, e) for k, e in enumerate(evaluated) if e.arrays]
    if not parts:
        return []
    cat = lambda name: np.concatenate([e.arrays[name] for _, e in parts])     # noqa: E731
    which = np.concatenate([np.full(len(e.arrays["t_step"]), k) for k, e in parts])
    index = np.concatenate([np.arange(len(e.arrays["t_step"])) for _, e in parts])
    ok = cat("feasible")
    t_step, t_comms, chips = cat("t_step")[ok], cat("t_comms")[ok], cat("chips")[ok]
    which, index = which[ok], index[ok]
    order = np.lexsort((-chips, t_comms, t_step))[:keep]
    return [(float(t_step[j]), evaluated[int(which[j])], int(index[j])) for j in order]


def _mesh_of(ev: Evaluated, i: int) -> dict:
    return {a: int(ev.cand.degrees[a][i]) for a in ev.axes if a != "pod" or ev.cand.degrees[a][i] > 1}

def plan(card: ModelCard, chip: ChipCard, chips: int, batch_tokens: int, seq: int | None = None,
         pods: int | None = None,
         strategy: str | None = None, mesh: dict | None = None, run: RunSettings | None = None,
         options: Options = Options(), tokens: float | None = None, mfu: float | None = None,
         top: int = 5) -> "Plan":
    """The fastest feasible strategy and mesh, with its times, bound, memory and the closed forms."""
    seq = card.sequence(seq)
    card.check_positions(seq)
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
    slices = chosen.get("pod", 1)
    sequences = batch_tokens // seq
    # the book's forms are for one pod's chips (idle chips may leave the job's share above a pod)
    per_pod = chips // slices if chips // slices <= chip.pod_chips or chip.family == "gpu" else used // slices
    cf = closed_forms(card, chip, per_pod, sequences // slices, seq, run, options.overlap)
    flops_token = _flops_per_token(card, seq, options.mtp)
    peak = float(chip.peak_flops_per_s["bf16"])
    out = {
        "model": card.name, "chip": chip.name, "chip_modified": list(chip.modified),
        "chips": chips, "pods": slices, "batch_tokens": batch_tokens,
        "seq": seq, "sequences": sequences, "strategy": ev.family, "mesh": chosen,
        "axes": {ax: {"degree": chosen[ax], **_laid(ev, ax, i), "bandwidth_multiple": _multiple(ev, ax, i)}
                 for ax in chosen},
        "chips_used": used, "idle_chips": chips - used, "per_chip_batch": batch_tokens / used,
        "bound": BOUNDS[int(a["bound"])], "step_time_s": t_step, "t_math_s": float(a["t_math"]),
        "t_hbm_s": float(a["t_hbm"]), "t_comms_s": float(a["t_comms"]), "t_ici_s": float(a["t_ici"]),
        "t_dcn_s": float(a["t_dcn"]), "memory_per_chip_bytes": float(a["memory"]),
        "hbm_bytes": float(chip.hbm_bytes),
        "mfu": None, "mfu_all_chips": None,      # whole-model step only (not the book layer)
        "overlap": options.overlap, "phase": options.phase or "step",
        "structure": "book layer" if options.book_layer else "model", "run": vars(run), "mtp_layers": options.mtp,
        "closed_forms": cf,          # the book's closed forms for this run (what the text's "book bounds" say)
        "mesh_x_opt": None,          # the same X_opt evaluated with the chosen mesh's own M and chips
        "candidates_evaluated": sum(len(e.arrays["t_step"]) for e in evaluated if e.arrays),
        "chips_counted": "chips_used: step time, MFU, per-chip batch and both training-day figures",
    }
    from ..search.compare import row as _row

    out.update(ev.variant)
    out["alternatives"] = alternatives(rows, _row(ev, i), top)
    out["idle_reason"] = idle_reason(evaluated, _row(ev, i), chips) if used < chips else None
    pad_b, pad_t = int(a["sequences"]), int(a["seq"])
    if (pad_b, pad_t) != (sequences, seq):
        extra = pad_b * pad_t / (sequences * seq) - 1
        out["padding"] = {"sequences": pad_b, "seq": pad_t, "extra_tokens_fraction": extra,
                          "note": "step time and memory include the padding; MFU counts the real tokens"}
    if not options.book_layer and options.phase is None:
        out["mfu"] = flops_token * batch_tokens / (used * peak * t_step)
        out["mfu_all_chips"] = flops_token * batch_tokens / (chips * peak * t_step)
    if "stage" in chosen or ev.cand.micro[i] > 1:      # a pipeline's, or gradient accumulation's
        out["n_micro"] = int(ev.cand.micro[i])
    if "fsdp" in chosen and "tensor" in chosen:
        m_x, m_y = out["axes"]["fsdp"]["M"], out["axes"]["tensor"]["M"]
        out["mesh_x_opt"] = _mesh_x_opt(card, chip, sequences // slices, seq, used // slices, m_x, m_y,
                                        options.overlap)
        out["mesh_x_opt_note"] = (f"book layer, forward pass, overlap {options.overlap}, "
                                  f"M_X={m_x}, M_Y={m_y} and {used // slices} chips of the chosen mesh")
    if tokens is not None:
        steps = tokens / batch_tokens
        out["train_days"] = steps * t_step / DAY
        if mfu is not None:
            out["train_days_at_mfu"] = tokens * flops_token / (used * peak * mfu) / DAY
    out["explanation"] = explain(out)
    return Plan(out)


def _multiple(ev: Evaluated, axis: str, i: int) -> float:
    """The axis's bandwidth in units of W_ici (M on a ring, M/2 on a line, W_dcn/W_ici off-node)."""
    return float(ev.cand.m[axis][i])


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
    how = "".join(f", {k} {r[k]}" for k in ("recompute", "schedule", "expert_tensor") if k in r)
    if "n_micro" in r and "stage" not in r["mesh"]:
        how += f", {r['n_micro']} microbatches a step (gradient accumulation)"
    lines = [f"{r['strategy']} on {_fmt(r['mesh'])}{how}: step {r['step_time_s']:.3g} s, {mfu}"
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
                 f"{'' if cf['fsdp_tp']['fits_topology'] else ', not a slice of the pod'})"
                 + (f"; X_opt of the chosen mesh {r['mesh_x_opt']:.0f}" if r.get("mesh_x_opt") else ""))
    if r.get("padding"):
        p = r["padding"]
        lines.append(f"padded: {r['sequences']} → {p['sequences']} sequences of {r['seq']} → {p['seq']} tokens "
                     f"(+{100 * p['extra_tokens_fraction']:.1f}% tokens computed and held, not counted in MFU)")
    if r["idle_chips"]:
        lines.append(f"uses {r['chips_used']} of {r['chips']} chips ({r['idle_chips']} idle): {r['idle_reason']}")
    return lines

