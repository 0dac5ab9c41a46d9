"""The text reports of the claims stage: a derivation's claims table and the published-runs table."""

from __future__ import annotations

from ..core.notation import text
from .render import si, table


def reproduction(report) -> str:
    """A derivation run as a text table of claims, then the notes on each that differs."""

    d = report.derivation
    lines = [f"{d['title']} ({d['name']})"]
    if d.get("source"):
        lines.append(f"source: {d['source']}")
    if report.overrides:
        lines.append("re-run with " + ", ".join(f"{k}={v}" for k, v in report.overrides.items())
                     + ": the document column is the book's, for comparison only")
    rows = []
    for r in report.results:
        expr = text(r.expression)
        expr = expr if len(expr) <= 60 else expr[:59] + "…"
        rows.append([r.id, fmt(r.derived, r.unit), fmt(r.document, r.unit), r.verdict, expr])
    lines += ["", table(rows, ["claim", "derived", "document", "verdict", "expression"]), ""]
    for r in report.results:
        if r.verdict == "differs" or r.reproduce or r.note:
            lines.append(f"{r.id}: {r.claim}")
            if r.reason:
                lines.append(f"  {r.verdict}: {r.reason}")
            if r.reproduce:
                w = ", ".join(f"{k}={v}" for k, v in r.reproduce["with"].items())
                off = r.reproduce["relative_error"]
                ok = (("reproduces" if off < 5e-4 else f"reproduces, within {off:.1%},")
                      if r.reproduce["reproduces"] else "does not reproduce")
                lines.append(f"  with {w}: {fmt(r.reproduce['derived'], r.unit)} "
                             f"({ok} the printed {r.document_text})")
            if r.note:
                lines.append(f"  note: {r.note}")
    from ..claims.reproduce import counts       # here: the published-runs table needs none of it

    lines.append("verdicts: " + ", ".join(f"{k} {v}" for k, v in counts(report).items()))
    return "\n".join(lines)


def fmt(value, unit: str) -> str:
    """Large counts with an SI prefix (70.55 G params); small ones and times as plain numbers."""
    number = float(value)
    if abs(number) >= 1e5 and unit in ("B", "FLOPs", "params", "tokens", "chips", ""):
        return si(value, {"B": "B", "FLOPs": "FLOP"}.get(unit, ""))
    return f"{number:.5g} {unit}".rstrip()


def published_runs(results, fits) -> str:
    """The published-runs table: measured MFU next to the ceiling, then the fitted efficiency factors."""

    rows = [[r.run.name, f"{r.run.chips} x {r.run.chip.name}", r.run.flops + ("" if r.run.stated else "?"),
             f"{r.measured:.1%}", f"{r.ceiling:.1%}", f"{100 * r.gap:+.1f} pt", f"{r.achieved:.0%}",
             f"{r.t_step:.3g} s", f"{r.t_measured:.3g} s", r.bound + ("" if r.measured <= r.ceiling else "  ABOVE")]
            for r in results]
    out = [table(rows, ["run", "hardware", "FLOP count", "measured MFU", "ceiling", "gap",
                        "of ceiling", "t_step >=", "t_step meas.", "bound"])]
    out.append("ceiling = model FLOPs per step / (chips x peak x t_step); t_step: roofline.step, overlap "
               "'sum'; '?' = convention inferred, not stated by the source (a run naming none: ops+causal, every convention checked)")
    out += not_modelled([(r.run.name, r.run.model.name, r.run.left_out) for r in results])
    for f in fits:
        if f.factor is None:
            out.append(f"efficiency ({f.family}): not fitted (needs runs on both sides of the split)")
            continue
        errors = sorted((abs(p - m), n) for n, p, m in f.checks)
        median = errors[len(errors) // 2][0]
        out.append(f"efficiency ({f.family}): predicted MFU = {f.factor:.3f} x ceiling, fitted on "
                   f"{len(f.fit_runs)} runs; on {len(f.checks)} check runs the median error is "
                   f"{100 * median:.1f} MFU points, the largest {100 * errors[-1][0]:.1f} ({errors[-1][1]})")
    out.append(_step_model(results))
    return "\n".join(out)


def not_modelled(rows) -> list[str]:
    """``(run, model, left_out)`` rows as lines naming what each model's config has that its card
    leaves out, once per model and thing."""
    left: dict = {}
    for run, model, things in rows:
        for what in things:
            left.setdefault((model, what), []).append(run)
    return [f"not modelled ({model}; {', '.join(runs)}): {what}" for (model, what), runs in left.items()]


def _step_model(results) -> str:
    """The calibrated step model against the constant-MFU baseline, per chip, on the check rows."""
    from ..claims import calibrate

    cals = calibrate.calibrations(results)
    preds = calibrate.predictions(results, cals)
    rows = [[p.name, f"{p.measured_mfu:.1%}", f"{p.predicted_mfu:.1%}",
             "-" if p.baseline_mfu is None else f"{p.baseline_mfu:.1%}",
             f"{p.predicted_step_s:.3g} s", f"{p.measured_step_s:.3g} s" + ("" if p.step_published else " (implied)"),
             p.split] for p in preds]
    out = ["", table(rows, ["run", "measured MFU", "step model", "constant MFU", "t_step model",
                            "t_step measured", "split"])]

    def pts(stats):
        return "-" if stats is None else f"median {100 * stats['median']:.1f}, max {100 * stats['max']:.1f} pt"

    for chip, s in calibrate.summary(preds).items():
        cal = cals[chip]
        step, constant = s["model_step_error"], s["baseline_step_error"]
        out.append(f"{chip} ({_numbers(cal.eta_mm, cal.t_dcn, cal.eta_mem)}, {cal.source}), "
                   f"{s['model_mfu_error']['n']} check run{'' if s['model_mfu_error']['n'] == 1 else 's'}: step model {pts(s['model_mfu_error'])}; "
                   f"constant MFU {pts(s['baseline_mfu_error'])}"
                   + ("" if step is None else f"; step time median {100 * step['median']:.1f} %, "
                      f"max {100 * step['max']:.1f} %")
                   + ("" if step is None or constant is None else
                      f" (constant {100 * constant['median']:.1f} / {100 * constant['max']:.1f} %)"))
    from ..claims.across_sources import bias_by_source

    for chip, sources in bias_by_source(results, preds).items():
        out.append(f"{chip} by source (median step error of all its runs, + = predicted slower): " + ", ".join(
            f"{s} {100 * b['step_error_median']:+.1f} % ({b['runs']})" for s, b in sources.items()))
    from ..claims.same_configuration import groups

    for g in groups([r.run for r in results]):
        if g["spread"] > 0:
            out.append(f"{g['chip']}: one configuration, measured {100 * g['spread']:.1f} points apart (any "
                       f"prediction of it is off by {50 * g['spread']:.1f} or more on one): " + ", ".join(
                           f"{n} {100 * m:.1f} %" for n, m in zip(g["runs"], g["measured_mfu"])))
    return "\n".join(out)


def forecasts(rows) -> str:
    """``symroof predict``: each configuration's predicted step under its chip card's calibration."""
    def measured(f) -> str:
        if f.measured_mfu is None:
            return "-"
        return f"{f.measured_mfu:.1%}" + ("" if f.convention_given else "*") + f", {f.measured_step_s:.3g} s"

    body = [[f.name, f"{f.chips} x {f.chip}", f"{f.tokens:,}", f"{f.t_ideal_s:.3g} s ({f.bound})",
             f"{f.predicted_step_s:.3g} s",
             f"{f.predicted_mfu:.1%}" + ("" if f.convention_given else "*"),
             f"{f.ceiling_mfu:.1%}", f"{f.tokens_per_s:,.0f}",
             " / ".join(f"{f.terms[k]:.3g}" for k in ("t_compute", "t_exposed_comms", "t_latency", "t_optimizer")),
             measured(f)] for f in rows]
    out = [table(body, ["configuration", "hardware", "tokens/step", "ideal step", "predicted step",
                        "predicted MFU", "MFU ceiling", "tokens/s", "compute / comms / latency / optimizer s",
                        "measured"])]
    out.append("MFU under each entry's convention; * = none given: every matmul, causal attention core, the peak of "
               "the entry's matmul_dtype, bf16 unless it says fp8 (the measured MFU too). comms: exposed "
               "communication; the compute includes the pipeline bubble")
    out += not_modelled([(f.name, f.model, f.not_modelled) for f in rows])
    seen = {}
    for f in rows:        # per card and calibration used: two cards may share a name
        seen.setdefault((f.chip, f.calibrated, f.eta_mm, f.t_dcn, f.eta_mem), f)
    for (chip, *_), f in seen.items():
        if f.calibrated:
            twin = f" ({f.calibrated_as}'s, read through calibrated_as)" if f.calibrated_as else ""
            out.append(f"{chip}: the card's calibration{twin}, {_numbers(f.eta_mm, f.t_dcn, f.eta_mem)}, "
                       f"fitted on {f.fit_runs} published runs (symroof calibrate){_held_out(f.held_out, f.other_sources)}")
        else:
            out.append(f"{chip}: no calibration on the card: the step model's ideal limits (eta_mm 1, t_dcn 0, eta_mem 1), "
                       f"faster than any real run; symroof calibrate --data RUNS.yaml --chip {chip} --write fits one")
    return "\n".join(out)


def _held_out(held: dict | None, other: dict | None = None) -> str:
    """How far a card's calibration was from the runs it was not fitted on, where the card records it:
    the check rows of the fit rows' own sources, and each source's rows fitted without that source
    (the bar for a run of another framework or software release)."""
    out = f"; held out from that fit (check rows, mostly of the fit rows' sources): {held_out_errors(held)}" if held else ""
    if other:
        out += f"; {other_sources_errors(other)}"
    return out


def other_sources_errors(other: dict) -> str:
    """A calibration's ``other_sources`` record in words."""
    n = other["sources"]
    return f"each source left out of the fit in turn ({n} source{'' if n == 1 else 's'}): {held_out_errors(other)}"


def held_out_errors(held: dict) -> str:
    """A calibration's ``held_out`` record in words: median and maximum errors on the check rows."""
    def runs(n: int) -> str:
        return f"{n} run" + ("" if n == 1 else "s")

    out = (f"{runs(held['runs'])}, MFU off by {100 * held['mfu_error_median']:.1f} points median, "
           f"{100 * held['mfu_error_max']:.1f} max")
    if "step_runs" in held:
        out += (f"; step time of {runs(held['step_runs'])}, {100 * held['step_error_median']:.1f} % median, "
                f"{100 * held['step_error_max']:.1f} % max")
    return out


def _numbers(eta_mm: float, t_dcn: float, eta_mem: float) -> str:
    """A calibration's numbers as the summaries print them."""
    return f"eta_mm {eta_mm:.3f}, t_dcn {1e6 * t_dcn:.0f} us, eta_mem {eta_mem:.3f}"


LATENCY_SHARE = 0.2      # a predicted step whose collective latency is more than this is flagged


def planned(pred: dict, chip: str, modified: tuple = ()) -> str:
    """``symroof plan --predict``: the plan's meshes ranked by the calibrated step model (``modified``:
    what ``--set`` changed on the card, which its calibration was not fitted on)."""
    slow = lambda r: r["terms_s"]["t_latency"] > LATENCY_SHARE * r["predicted_step_s"]     # noqa: E731
    body = [[str(i), r["mesh"], str(r["plan_rank"]), f"{r['ideal_step_s']:.3g} s",
             f"{r['predicted_step_s']:.3g} s" + (" †" if slow(r) else ""),
             f"{r['predicted_mfu']:.1%}",
             " / ".join(f"{r['terms_s'][k]:.3g}" for k in ("t_compute", "t_exposed_comms", "t_latency", "t_optimizer"))]
            for i, r in enumerate(pred["meshes"], start=1)]
    out = ["", "Ranked by the calibrated step model (symroof predict on each mesh):",
           table(body, ["rank", "mesh", "plan rank", "ideal step", "predicted step", "predicted MFU",
                        "compute / comms / latency / optimizer s"])]
    cal = pred.get("calibration")
    if cal and cal["source"] == "card":
        out.append(f"{chip}: the card's calibration, {_numbers(cal['eta_mm'], cal['t_dcn_s'], cal['eta_mem'])}, "
                   f"fitted on {cal['fit_runs']} published runs{_held_out(cal.get('held_out'), cal.get('other_sources'))}; "
                   f"MFU counts {pred['mfu']}")
        if modified:
            out.append(f"{chip}: that calibration was fitted on the card as shipped; --set changed "
                       f"{', '.join(modified)}, and the fitted fractions are applied to the new numbers unmeasured")
    elif cal:
        out.append(f"{chip}: no calibration on the card: the step model's ideal limits (eta_mm 1, t_dcn 0, "
                   f"eta_mem 1), faster than any real run; MFU counts {pred['mfu']}")
    if any(slow(r) for r in pred["meshes"]):
        out.append(f"† latency is over {LATENCY_SHARE:.0%} of the step: the model charges a layer's fsdp gathers and "
                   "scatters one launch, but each weight tensor's reduction over a data axis one, each a ring step "
                   "per rank (NCCL's ring); frameworks that bucket those, and NCCL's trees at scale, pay less, so "
                   "read these as pessimistic")
    for r in pred["not_predicted"]:
        out.append(f"not predicted: {r['mesh']} (plan rank {r['plan_rank']}): {r['why']}")
    out.append("Each mesh as the plan laid it: an axis across nodes with k of its chips in each domain at NCCL's "
               "hierarchical ring (min(W_ici, k·W_dcn) a chip), the card's default attention kernel")
    return "\n".join(out)
