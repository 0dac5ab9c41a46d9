"""The published runs' predictions, read back from the on-disk cache when the same runs (each
run's cards' numbers, mesh and every setting: its whole repr) were predicted before, together
and in the same order, by the same symroof.

What is stored is plain JSON numbers (the matmuls' pairs as the base64 text of their doubles): the
ideal's terms and ceilings and the step model's parts (at eta = 1, before calibration, so a
recalibrated card is applied afresh); nothing read back is evaluated. A run that fails a check raises before anything is stored. The runs are one entry, not
one each: a cold ``validate`` writes one file instead of a hundred (about 0.1 s of its CPU time),
and a runs file with any run changed is derived afresh as a whole.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import fields

from ..parallel.collectives import Axis

_CARDS: dict = {}      # id -> (card, its repr): a hundred runs share one chip card, 7 kB of SymPy's printing


def run_repr(run, skip: tuple = ()) -> str:
    """``repr(run)`` (a ``PublishedRun``), the same text, each card's repr made once per card (frozen:
    it cannot change), not once per run; ``skip``: fields left out."""
    def text(name: str, v) -> str:
        if name == "mesh" and type(v) is dict:
            return "{" + ", ".join(f"{k!r}: {_shared_repr(a)}" for k, a in v.items()) + "}"
        if name not in ("model", "chip"):
            return _shared_repr(v)
        got = _CARDS.get(id(v))
        if got is None or got[0] is not v:
            got = _CARDS[id(v)] = (v, repr(v))
        return got[1]
    got = _FIELDS.get(id(run))
    if got is None or got[0] is not run:       # each field's text once per run: its digest and its configuration
        if len(_FIELDS) > 4096:                # (same_configuration.py) both read them
            _FIELDS.clear()
        got = _FIELDS[id(run)] = (run, tuple((f.name, f"{f.name}={text(f.name, getattr(run, f.name))}")
                                             for f in fields(run) if f.repr))
    shown = ", ".join(shown for name, shown in got[1] if name not in skip)
    return f"{type(run).__qualname__}({shown})"


_FIELDS: dict = {}     # id(run) -> (run, (field name, its text) of each field shown); a run is frozen


def _shared_repr(v) -> str:
    """``repr(v)``, remembered for the values many runs share whose text SymPy's printer makes: a
    rational (a measured number) by its type and value, a mesh axis of rational sizes by its value and
    their types (equal values of the same types print alike)."""
    if getattr(v, "is_Rational", False):
        key = (type(v), v)
    elif type(v) is Axis and all(type(x) is int or getattr(x, "is_Rational", False) for x in (v.size, v.n_physical)):
        key = (v, type(v.size), type(v.n_physical))
    else:
        return repr(v)
    got = _REPRS.get(key)
    if got is None:
        if len(_REPRS) > 4096:
            _REPRS.clear()
        got = _REPRS[key] = repr(v)
    return got


_REPRS: dict = {}


def predict(runs: list) -> list:
    """``[published.predict(run) for run in runs]``, cached."""
    from ..io import expression_cache as cache
    from .published import predict as derive

    # each run's repr, digested: the key of a hundred runs would otherwise be half a megabyte
    key = {"runs": [run.digest for run in runs]}
    data = cache.load_data("predictions", key)
    if isinstance(data, list) and len(data) == len(runs):
        try:
            return [_result(run, d) for run, d in zip(runs, data)]
        except (KeyError, TypeError, ValueError, AttributeError):
            pass                    # a damaged entry: derive again and overwrite it
    results = [derive(run) for run in runs]
    cache.store_data("predictions", key, [_data(r) for r in results])
    return results


def _data(result) -> dict:
    parts = result.parts
    if parts is not None:
        parts = {f.name: getattr(parts, f.name) for f in fields(parts) if not f.name.startswith("_")}
        parts["matmul"] = _packed(parts["matmul"])
    return {"t_step": result.t_step, "terms": result.terms, "bound": result.bound, "ceiling": result.ceiling,
            "ceilings": result.ceilings, "t_measured": result.t_measured, "parts": parts}


def _packed(pairs: list):
    """The matmuls' (compute s, HBM s) pairs as the base64 text of their doubles (little-endian): the
    same floats bit for bit, and most of the entry's numbers (two thirds of its JSON text, a cold
    ``validate``'s largest write) packed; as they are where one is not a float."""
    flat = [x for pair in pairs for x in pair]
    if not all(type(x) is float for x in flat):
        return pairs
    return base64.b64encode(struct.pack(f"<{len(flat)}d", *flat)).decode("ascii")


def _unpacked(text: str) -> list:
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    if len(raw) % 16:
        raise ValueError("not a whole number of (compute, HBM) pairs")
    flat = struct.unpack(f"<{len(raw) // 8}d", raw)
    return list(zip(flat[0::2], flat[1::2]))


def _result(run, data: dict):
    from ..parallel.step_parts import Parts
    from .published import Result

    parts = data["parts"]
    if parts is not None:
        parts = dict(parts)
        packed = parts["matmul"]
        parts["matmul"] = _unpacked(packed) if isinstance(packed, str) else [tuple(pair) for pair in packed]
        parts["paired"] = {link: [tuple(p) for p in pairs] for link, pairs in parts.get("paired", {}).items()}
        parts = Parts(**parts)
    floats = lambda d: {str(k): float(v) for k, v in d.items()}      # noqa: E731
    return Result(run, float(data["t_step"]), floats(data["terms"]), str(data["bound"]),
                  float(data["ceiling"]), floats(data["ceilings"]),
                  None if data["t_measured"] is None else float(data["t_measured"]), parts)
