"""Safe reading of JSON (config.json) and writing of JSON output.

JSON goes through ``json``, nothing evaluated. A repeated key is refused (``json`` would keep the
last value silently), and so is a number that is not finite (JSON has none; Python's reader takes
NaN, Infinity and 1e400). Errors are ``CardError`` lines that name the file.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import CardError
from .readers import MAX_EXPANDED_NODES, _first, _max_digits, _text


def _unique_json_object(pairs: list, where: str) -> dict:
    """``json`` keeps the last of two equal keys; a config that says two things is refused."""
    result: dict = {}
    for key, value in pairs:
        if key in result:
            raise CardError(f"{where}: key '{key}' is given twice")
        result[key] = value
    return result


class _NotFinite(str):
    """A JSON number that is not finite (``NaN``, ``Infinity``, ``1e400``), kept as its text until its key is found."""


def _finite_float(text: str):
    value = float(text)
    return value if value - value == 0 else _NotFinite(text)


# The one place a published config.json holds a number that is not finite: the Mamba-2 classes' upper clamp of
# the time step, unbounded by default (transformers 5.24 configuration_mamba2.py and the hybrids': time_step_limit
# (0.0, inf), which json.dumps writes as Infinity; mamba_dt_limit is Nemotron-H's original name). It changes no
# count; the card's left_out names it.
UNBOUNDED_OK = frozenset({"time_step_limit[1]", "mamba_dt_limit[1]", "text_config.time_step_limit[1]"})


def _not_finite_at(data) -> tuple[str, str] | None:
    """Where the first ``_NotFinite`` value is (``key 'rope_scaling.factor'``, ``key 'x[2]'``), and its text;
    ``Infinity`` at an UNBOUNDED_OK key is allowed."""
    stack = [(data, "")]
    while stack:
        value, where = stack.pop()
        if isinstance(value, _NotFinite) and not (where in UNBOUNDED_OK and value == "Infinity"):
            return (f"key '{where}'" if where else "the document"), str(value)
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        stack.extend((v, f"{where}[{k}]" if isinstance(k, int) else f"{where}.{k}" if where else k)
                     for k, v in reversed(list(items)))
    return None


def _count_values(data, path) -> None:
    """Refuse a document of more than ``MAX_EXPANDED_NODES`` values, as ``readers._check`` refuses a YAML one,
    before ``_not_finite_at`` walks it: a 14 MB config.json of one 7-million-number list took 16 s to walk.
    Each container's length is counted before its items, so a long list is refused at once."""
    stack, seen = [data], 0
    while stack:
        value = stack.pop()
        items = value.values() if type(value) is dict else value if type(value) is list else ()
        seen += len(items)
        if seen > MAX_EXPANDED_NODES:
            raise CardError(f"{path}: it holds more than {MAX_EXPANDED_NODES} values; refused (a document far "
                            f"larger than any config.json)")
        stack.extend(item for item in items if type(item) in (dict, list))


def read_json(path: Path) -> object:
    """A JSON file parsed with repeated keys refused, and numbers that are not finite refused (JSON has
    none; Python's reader takes NaN, Infinity and 1e400); errors are one ``CardError`` line."""
    try:
        data = json.loads(_text(path), object_pairs_hook=lambda pairs: _unique_json_object(pairs, str(path)),
                          parse_constant=_NotFinite, parse_float=_finite_float)
        _count_values(data, path)
        found = _not_finite_at(data)
        if found:
            raise CardError(f"{path}: {found[0]} is {found[1]}; allowed: a finite number")
        return data
    except UnicodeDecodeError:
        raise CardError(f"{path}: not UTF-8 text") from None
    except OSError as err:
        raise CardError(f"{path}: cannot read: {err.strerror}") from None
    except json.JSONDecodeError as err:
        raise CardError(f"{path}: not valid JSON (line {err.lineno}: {err.msg})") from None
    except RecursionError:
        raise CardError(f"{path}: nested too deeply") from None
    except CardError:                  # already one line (a CardError is a ValueError: not re-read below)
        raise
    except ValueError as err:          # e.g. an integer of more than 4300 digits
        raise CardError(f"{path}: {_long_number(path) or 'a value cannot be read'} ({_first(err)})") from None


def _long_number(path: Path) -> str | None:
    """Where a JSON file's overlong integer is: its line and the key before it, if one is found."""
    import re

    most = _max_digits()
    text = path.read_text() if most else ""
    found = re.search(r'(?:"([^"\n]{0,200})"\s*:\s*)?-?(\d{%d,})' % (most + 1), text) if most else None
    if found is None:
        return None
    line = text.count("\n", 0, found.start(2)) + 1
    return f"line {line}: " + (f"key '{found.group(1)}' is" if found.group(1) is not None else "a value is") + \
        f" an integer of {len(found.group(2))} digits"


def dumps_finite(obj) -> str:
    """JSON with every number finite: an overflow (e.g. a chip card with a tiny peak) is a
    one-line error naming the key, never ``Infinity`` or ``NaN`` in the output."""
    import math

    from ..errors import InfeasibleError

    def check(x, where):
        if isinstance(x, float) and not math.isfinite(x):
            raise InfeasibleError(f"the result {where or 'value'} is not finite ({x}); an input is out of range")
        if isinstance(x, dict):
            for k, v in x.items():
                check(v, f"{where}.{k}" if where else str(k))
        elif isinstance(x, (list, tuple)):
            for i, v in enumerate(x):
                check(v, f"{where}[{i}]")
    check(obj, "")
    return json.dumps(obj, indent=2, allow_nan=False)
