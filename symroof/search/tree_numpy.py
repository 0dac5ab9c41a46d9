"""Evaluate the expression cache's JSON trees over numpy arrays, with no code generated.

The plan's expressions (sweep.compile_family) are stored as trees of a short whitelist of
nodes (io/expression_cache.py: ``Add``, ``Mul``, ``Pow``, ``Max``, ``Min``, ``Sym``, ``Int``,
``Rat``). Here a tree becomes a nest of closures, one per node, each one numpy operation, so a
warm plan needs neither SymPy's code printer nor ``lambdify``: what is read from disk is data,
walked by a fixed table of operations, never text run as code. A cold plan evaluates the same
trees, so both give the same floats.
"""

from __future__ import annotations

from fractions import Fraction
from functools import reduce

import numpy as np

_MAX_DIGITS = 400       # the cache's own limit on a stored integer


class Unsupported(ValueError):
    """A tree this evaluator does not take (the caller falls back to ``lambdify``)."""


def _number(text) -> int:
    if not isinstance(text, str) or len(text) >= _MAX_DIGITS:
        raise Unsupported("bad integer")
    return int(text)


def _float(value) -> float:
    try:
        return float(value)
    except OverflowError:
        raise Unsupported("number beyond float range") from None


_NARY = {"Add": np.add, "Mul": np.multiply, "Max": np.maximum, "Min": np.minimum}


def _compile(node, index: dict):
    if not isinstance(node, list) or not node or not isinstance(node[0], str):
        raise Unsupported("not a node")
    kind, rest = node[0], node[1:]
    if kind == "Int" and len(rest) == 1:
        v = _float(_number(rest[0]))
        return lambda a: v
    if kind == "Rat" and len(rest) == 2:
        v = _float(Fraction(_number(rest[0]), _number(rest[1])))
        return lambda a: v
    if kind == "Sym" and len(rest) == 1:
        if rest[0] not in index:
            raise Unsupported(f"symbol {rest[0]!r} is not an argument")
        i = index[rest[0]]
        return lambda a: a[i]
    if kind in _NARY and rest:
        op, parts = _NARY[kind], [_compile(r, index) for r in rest]
        if len(parts) == 1:
            return parts[0]
        return lambda a: reduce(op, (p(a) for p in parts))
    if kind == "Pow" and len(rest) == 2:
        base, exp = _compile(rest[0], index), rest[1]
        if isinstance(exp, list) and exp[:1] == ["Int"] and len(exp) == 2 and _number(exp[1]) == -1:
            return lambda a: np.reciprocal(np.asarray(base(a), dtype=float))
        power = _compile(exp, index)
        return lambda a: np.power(np.asarray(base(a), dtype=float), power(a))
    raise Unsupported(f"node {kind!r} is not allowed")


def function(trees: list, args: tuple):
    """``f(*arrays) -> [value of each tree]``, like ``lambdify(args, exprs)``; ``args`` are the
    symbol names in argument order. ``Unsupported`` for a tree off the whitelist."""
    index = {name: i for i, name in enumerate(args)}
    try:
        compiled = [_compile(t, index) for t in trees]
    except RecursionError:
        raise Unsupported("tree too deep") from None
    return lambda *a: [c(a) for c in compiled]
