"""The commands that read a runs file: ``validate`` (published runs against the ceiling and the
calibrated step model), ``predict`` (configurations not yet run) and ``calibrate`` (fit a chip's
two step-model numbers). ``cli.py`` registers them with ``add_runs_commands``."""

from __future__ import annotations

from .json_text import dumps       # json.dumps(..., indent=2), the same text in half the time


def _validate(args) -> None:
    from ..claims.published import as_json, validate
    from .tables import published_runs

    results, fits = validate(args.data)
    out = as_json(results, fits) if args.json else published_runs(results, fits)
    if args.across_sources:        # a fit per chip and source: asked for, not part of every validate
        from ..claims.across_sources import other_sources
        from .tables import other_sources_errors

        across = {chip: other_sources([r for r in results if r.run.chip.name == chip])
                  for chip in sorted({r.run.chip.name for r in results})}
        if args.json:
            out["other_sources"] = across
        else:
            out += "".join(f"\n{chip}: " + (other_sources_errors(rec) if rec else "one source: none to leave out")
                           for chip, rec in across.items())
    print(dumps(out) if args.json else out)


def _predict(args) -> None:
    from ..claims.forecast import as_json, forecast
    from .tables import forecasts

    rows = forecast(args.data)
    print(dumps(as_json(rows)) if args.json else forecasts(rows))


def _calibrate(args) -> None:
    from ..claims.calibrate import calibrate_chip

    print(calibrate_chip(args.data, args.chip, write=args.write))


def add_runs_commands(sub) -> None:
    p = sub.add_parser("validate", help="compare the step-time bound with published training runs")
    p.add_argument("--data", help="published-runs YAML (default: derivations/published_runs.yaml)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--across-sources", dest="across_sources", action="store_true",
                   help="also fit each chip once per source left out, and score that source's runs (other_sources)")
    p.set_defaults(run=_validate)

    p = sub.add_parser("predict", help="step time and MFU of configurations to run, by the calibrated step model")
    p.add_argument("data", help="configurations YAML (the runs file's format, measurements optional), "
                                "or a shipped one's name: example_configs")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_predict)

    p = sub.add_parser("calibrate", help="fit a chip's two step-model numbers on the runs marked split: fit")
    p.add_argument("--data", help="published-runs YAML (default: derivations/published_runs.yaml)")
    p.add_argument("--chip", required=True, help="chip card name; its fit runs are used")
    p.add_argument("--write", action="store_true", help="write the calibration block into the chip card")
    p.set_defaults(run=_calibrate)
