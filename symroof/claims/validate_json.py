"""``validate --json``: the ceiling table, then the calibrated step model next to the constant-MFU
baseline, per run and per chip (claims/calibrate.py)."""

from __future__ import annotations


def as_json(results, fits, ceiling_json: dict) -> dict:
    """The ceiling table (``ceiling_json``), then per run the calibrated step model and the baseline."""
    from . import calibrate

    cals = calibrate.calibrations(results)
    preds = {p.name: p for p in calibrate.predictions(results, cals)}
    out = ceiling_json
    for row in out["runs"]:
        p = preds[row["name"]]
        row.update({
            "ceiling_mfu": row["mfu_ceiling"], "predicted_step_s": p.predicted_step_s,
            "predicted_mfu": p.predicted_mfu, "error": p.predicted_mfu - p.measured_mfu,
            "measured_step_s": p.measured_step_s, "step_published": p.step_published,
            "step_error": p.predicted_step_s / p.measured_step_s - 1,
            "baseline_mfu": p.baseline_mfu,
            "baseline_error": None if p.baseline_mfu is None else p.baseline_mfu - p.measured_mfu,
            "recompute": r_recompute(results, row["name"]), "step_terms_s": p.terms,
        })
    out["calibration"] = [{"chip": c.chip, "eta_mm": c.eta_mm, "t_dcn_s": c.t_dcn, "source": c.source,
                           "fit_runs": list(c.fit_runs), "baseline_mfu": c.baseline_mfu} for c in cals.values()]
    out["summary"] = calibrate.summary(list(preds.values()))
    return out


def r_recompute(results, name: str) -> str:
    return next(r.run.recompute for r in results if r.run.name == name)
