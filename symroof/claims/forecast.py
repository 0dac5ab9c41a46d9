"""Predict the step time of configurations not yet run (``symroof predict``).

A configurations file has the runs file's format (``derivations/published_runs.yaml``), but its
entries need no measurement, split or FLOP convention: runs to be made, not runs made. Each is
sharded and taken apart as ``validate`` does (``published.predict``: the ideal roofline and the
step model's parts), and the step model is evaluated at its chip card's ``calibration`` block,
the numbers ``symroof calibrate --write`` fitted on published runs; nothing is refitted here. A
card without one is evaluated at the model's ideal limits (eta_mm = eta_mem = 1, t_dcn = 0), and the output
says so. An entry that does carry a measurement shows it beside the prediction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Forecast:
    name: str
    chip: str
    chips: int
    tokens: int                  # per step
    convention: str              # the FLOP count behind the MFUs
    convention_given: bool       # False: the entry named none (run_checks.DEFAULT_CONVENTION)
    ceiling_mfu: float           # the ideal roofline's MFU (an upper bound)
    bound: str                   # what sets the ideal step: math, hbm or comms
    t_ideal_s: float
    predicted_step_s: float
    predicted_mfu: float
    tokens_per_s: float
    terms: dict                  # the predicted step taken apart (step_model.Parts.terms)
    eta_mm: float
    t_dcn: float
    eta_mem: float
    calibrated: bool             # the card's calibration block (else the ideal limits)
    fit_runs: int                # runs the card's calibration was fitted on
    held_out: dict | None        # its errors on the data's check rows (calibrate.held_out), where recorded
    other_sources: dict | None   # its errors on each source left out of the fit (across_sources.py), where recorded
    measured_mfu: float | None
    measured_step_s: float | None
    model: str = ""              # the model card's name
    not_modelled: tuple = ()     # what the model's config has that its card leaves out, in words
    calibrated_as: str | None = None   # the card whose calibration block this card reads (io/catalog.py)


def configurations_path(ref: str | Path) -> Path:
    """A configurations file by path, or one shipped in derivations/ by name (``example_configs``)."""
    from ..io.catalog import data_dir

    path = Path(ref)
    if path.exists() or path.suffix in (".yaml", ".yml") or "/" in str(ref):
        return path          # the reader says what is wrong with a path
    shipped = data_dir("derivations") / f"{ref}.yaml"
    return shipped if shipped.is_file() else path


def forecast(path: str | Path) -> list[Forecast]:
    """Every configuration of the file at ``path`` (or shipped by that name), predicted with its chip
    card's calibration."""
    from .published import load_runs

    return forecast_runs(load_runs(configurations_path(path), prediction=True))


def forecast_runs(runs: list) -> list[Forecast]:
    """Each run (a configuration, ``PublishedRun``) predicted with its chip card's calibration."""
    from .calibrate import from_card
    from .prediction_cache import predict

    out = []
    for r in predict(runs):
        run, cal = r.run, r.run.chip.calibration
        card = from_card(run.chip) if cal else None
        eta_mm, t_dcn, eta_mem = (card.eta_mm, card.t_dcn, card.eta_mem) if card else (1.0, 0.0, 1.0)
        t_step = r.parts.step(eta_mm, 1.0, t_dcn, eta_mem)
        tokens = run.batch * run.seq
        measured_step = float(run.measured_step_s) if run.measured_step_s is not None else r.t_measured
        out.append(Forecast(
            run.name, run.chip.name, run.chips, tokens, run.flops,
            run.convention_given,
            r.ceiling, r.bound, r.t_step, t_step, r.ceiling * r.t_step / t_step, tokens / t_step,
            r.parts.terms(eta_mm, 1.0, t_dcn, eta_mem), eta_mm, t_dcn, eta_mem, cal is not None,
            len(cal["fit_runs"]) if cal else 0, cal.get("held_out") if cal else None,
            cal.get("other_sources") if cal else None,
            None if run.measured_mfu is None else float(run.measured_mfu), measured_step, run.model.name,
            run.left_out, run.chip.calibrated_as))
    return out


def as_json(rows: list[Forecast]) -> dict:
    """``symroof predict --json``: one record per configuration, with the calibration it was predicted at."""
    from dataclasses import asdict

    records = []
    for f in rows:        # each record carries the calibration it used: two cards may share a name
        d = asdict(f)
        d["calibration"] = {"eta_mm": d.pop("eta_mm"), "t_dcn_s": d.pop("t_dcn"), "eta_mem": d.pop("eta_mem"),
                            "source": "card" if d.pop("calibrated") else "none", "fit_runs": d.pop("fit_runs"),
                            "held_out": d.pop("held_out"), "other_sources": d.pop("other_sources"),
                            "calibrated_as": d.pop("calibrated_as")}
        records.append(d)
    return {"configurations": records}
