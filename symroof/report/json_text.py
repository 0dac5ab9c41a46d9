"""``json.dumps(obj, indent=2)``, the same text, for the large documents the commands print.

With ``indent`` set, ``json`` encodes in Python, one generator per container (CPython's C encoder
has no indentation): a fifth of a warm ``validate --json`` went to printing its 0.7 MB. This writes
the same text from one recursive function for what those documents hold (dicts with string keys,
lists and tuples, strings, ints, floats, booleans and None, each of exactly its type); anything else
(a key that is not a string, a subclass, a circular container) is left to ``json.dumps`` from the start,
whose text and errors are the reference.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii as _string

_INF = float("inf")


class _Other(Exception):
    """Something this encoder leaves to ``json.dumps``."""


def dumps(obj) -> str:
    """``json.dumps(obj, indent=2)``."""
    out: list = []
    try:
        _encode(obj, out, "\n", 0)
    except (_Other, RecursionError):
        return json.dumps(obj, indent=2)
    return "".join(out)


def _number(x: float) -> str:
    """``json``'s float text (``allow_nan``: NaN and the infinities by their JavaScript names)."""
    if x != x:
        return "NaN"
    if x == _INF:
        return "Infinity"
    if x == -_INF:
        return "-Infinity"
    return float.__repr__(x)


def _leaf(o):
    """A scalar's text, or None for a container (or anything else)."""
    kind = type(o)
    if kind is float:
        return float.__repr__(o) if o == o and o != _INF and o != -_INF else _number(o)
    if kind is str:
        return _string(o)
    if kind is int:
        return int.__repr__(o)
    if o is None:
        return "null"
    if o is True:
        return "true"
    if o is False:
        return "false"
    return None


def _encode(o, out: list, newline: str, depth: int) -> None:
    """Append ``o``'s text; ``newline``: a line break and the indentation of ``o``'s own line."""
    text = _leaf(o)
    if text is not None:
        out.append(text)
        return
    kind = type(o)
    if kind is not dict and kind is not list and kind is not tuple:
        raise _Other
    if depth > 200:              # deeper than any document printed: a cycle, json.dumps's to refuse
        raise _Other
    if not o:
        out.append("{}" if kind is dict else "[]")
        return
    inner = newline + "  "
    sep = ("{" if kind is dict else "[") + inner
    if kind is dict:
        for key, value in o.items():
            if type(key) is not str:
                raise _Other
            text = float.__repr__(value) if type(value) is float and -_INF < value < _INF else _leaf(value)
            if text is not None:
                out.append(f"{sep}{_string(key)}: {text}")
            else:
                out.append(f"{sep}{_string(key)}: ")
                _encode(value, out, inner, depth + 1)
            sep = "," + inner
        out.append(newline + "}")
    else:
        for value in o:
            text = float.__repr__(value) if type(value) is float and -_INF < value < _INF else _leaf(value)
            if text is not None:
                out.append(sep + text)
            else:
                out.append(sep)
                _encode(value, out, inner, depth + 1)
            sep = "," + inner
        out.append(newline + "]")
