"""``validate --json``: the ceiling table, then the calibrated step model next to the constant-MFU
baseline, per run and per chip (claims/calibrate.py)."""

from __future__ import annotations


def as_json(results, fits, ceiling_json: dict) -> dict:
    """The ceiling table (``ceiling_json``), then per run the calibrated step model and the baseline."""
    from . import calibrate

    cals = calibrate.calibrations(results)
    preds = {p.name: p for p in calibrate.predictions(results, cals)}
    out = ceiling_json
    ratio = {r.run.name: r.t_step / preds[r.run.name].predicted_step_s for r in results}
    for row in out["runs"]:
        p = preds[row["name"]]
        # where the source's count is inferred, the prediction under every count, as the ceiling
        row["predicted_mfu_by_convention"] = {c: v * ratio[row["name"]]
                                              for c, v in row["ceilings_by_convention"].items()}
        row.update({
            "ceiling_mfu": row["mfu_ceiling"], "predicted_step_s": p.predicted_step_s,
            "predicted_mfu": p.predicted_mfu, "error": p.predicted_mfu - p.measured_mfu,
            "measured_step_s": p.measured_step_s, "step_published": p.step_published,
            "step_error": p.predicted_step_s / p.measured_step_s - 1,
            "baseline_mfu": p.baseline_mfu,
            "baseline_error": None if p.baseline_mfu is None else p.baseline_mfu - p.measured_mfu,
            "step_terms_s": p.terms,
        })
    out["calibration"] = [{"chip": c.chip, "eta_mm": c.eta_mm, "t_dcn_s": c.t_dcn, "eta_mem": c.eta_mem,
                           # the names fitted on this data's fit rows (a card's block: fitted elsewhere)
                           "fitted": list(c.fitted) if c.source == "fit" else None, "source": c.source,
                           "fit_runs": list(c.fit_runs), "baseline_mfu": c.baseline_mfu,
                           # the baseline of rows whose weight matmuls are not BF16 (FP8: MFU against its peak)
                           "baseline_mfu_by_matmul_dtype": dict(c.baselines)} for c in cals.values()]
    out["summary"] = calibrate.summary(list(preds.values()))
    from .across_sources import bias_by_source

    out["by_source"] = bias_by_source(results, list(preds.values()))
    from .same_configuration import groups

    out["same_configuration"] = groups([r.run for r in results])
    return out


def ceiling_json(results, fits) -> dict:
    """The ceiling table and the per-family efficiency factors, as before the step model."""
    return {
        "overlap": "sum",
        "runs": [{
            "name": r.run.name, "model": r.run.model.name, "hardware": r.run.chip.name,
            "family": r.run.chip.family, "chips": r.run.chips, "source": r.run.source,
            "convention": {"flops": r.run.flops, "stated": r.run.stated, "peak": r.run.peak},
            "measured_mfu": r.measured, "mfu_ceiling": r.ceiling, "gap": r.gap, "achieved": r.achieved,
            "t_step_lower_bound_s": r.t_step, "t_step_measured_s": r.t_measured, "bound": r.bound,
            "terms_s": r.terms, "ceilings_by_convention": r.ceilings, "split": r.run.split,
            "recompute": r.run.recompute, "recompute_layers": r.run.recompute_layers,
            "gradient_overlap": r.run.gradient_overlap, "gradient_dtype": r.run.gradient_dtype,
            "schedule": {"name": r.run.schedule, "microbatches": r.run.microbatches,
                         "virtual_stages": r.run.interleave} if "stage" in r.run.mesh else None,
            "consistent": r.measured <= r.ceiling, "not_modelled": list(r.run.left_out),
        } for r in results],
        "efficiency": [{"family": f.family, "factor": f.factor, "fit_runs": list(f.fit_runs),
                        "checks": [{"name": n, "predicted_mfu": p, "measured_mfu": m} for n, p, m in f.checks]}
                       for f in fits],
    }
