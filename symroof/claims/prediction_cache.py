"""A published run's prediction, read back from the on-disk cache when the same run (its cards'
numbers, mesh and every setting: the run's whole repr) was predicted before by the same symroof.

What is stored is plain JSON numbers: the ideal's terms and ceilings and the step model's parts
(at eta = 1, before calibration, so a recalibrated card is applied afresh); nothing read back is
evaluated. A run that fails a check raises before anything is stored.
"""

from __future__ import annotations

from dataclasses import fields


def predict(run):
    """``published.predict(run)``, cached."""
    from ..io import expression_cache as cache
    from .published import predict as derive

    key = {"run": repr(run)}
    data = cache.load_data("prediction", key)
    if isinstance(data, dict):
        try:
            return _result(run, data)
        except (KeyError, TypeError, ValueError):
            pass                    # a damaged entry: derive again and overwrite it
    result = derive(run)
    cache.store_data("prediction", key, _data(result))
    return result


def _data(result) -> dict:
    parts = result.parts
    return {"t_step": result.t_step, "terms": result.terms, "bound": result.bound, "ceiling": result.ceiling,
            "ceilings": result.ceilings, "t_measured": result.t_measured,
            "parts": None if parts is None else {f.name: getattr(parts, f.name) for f in fields(parts)
                                                 if not f.name.startswith("_")}}


def _result(run, data: dict):
    from ..parallel.step_model import Parts
    from .published import Result

    parts = data["parts"]
    if parts is not None:
        parts = dict(parts)
        parts["matmul"] = [tuple(pair) for pair in parts["matmul"]]
        parts["paired"] = {link: [tuple(p) for p in pairs] for link, pairs in parts.get("paired", {}).items()}
        parts = Parts(**parts)
    floats = lambda d: {str(k): float(v) for k, v in d.items()}      # noqa: E731
    return Result(run, float(data["t_step"]), floats(data["terms"]), str(data["bound"]),
                  float(data["ceiling"]), floats(data["ceilings"]), float(data["t_measured"]), parts)
