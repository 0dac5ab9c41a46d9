"""Evaluate the expression cache's JSON trees over numpy arrays, with no code generated.

The plan's expressions (sweep.compile_family) are stored as trees of a short whitelist of
nodes (io/expression_cache.py: ``Add``, ``Mul``, ``Pow``, ``Max``, ``Min``, ``Sym``, ``Int``,
``Rat``). Here a tree becomes a nest of closures, each one numpy operation, so a warm plan
needs neither SymPy's code printer nor ``lambdify``: what is read from disk is data, walked by a
fixed table of operations, never text run as code. A cold plan evaluates the same trees.

The closures are arranged as a hand-written formula would be: a product is one scalar times its
factors over one division, the terms of a sum that share a denominator are added before it,
and a subtree that occurs more than once is computed once per call. Values equal SymPy's to
rounding (tests/test_plan_cache.py).
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


_NARY = {"Max": np.maximum, "Min": np.minimum}


def _constant(node) -> float | None:
    """The value of a number node, or None for anything else."""
    if isinstance(node, list) and len(node) == 2 and node[0] == "Int":
        return _float(_number(node[1]))
    if isinstance(node, list) and len(node) == 3 and node[0] == "Rat":
        return _float(Fraction(_number(node[1]), _number(node[2])))
    return None


def _whole_power(node) -> int | None:
    """n for ``Pow(base, Int n)``, else None."""
    if isinstance(node, list) and len(node) == 3 and node[0] == "Pow":
        exp = node[2]
        if isinstance(exp, list) and len(exp) == 2 and exp[0] == "Int":
            return _number(exp[1])
    return None


class _Context(dict):
    """Argument positions by symbol name, and the keys of subtrees that occur more than once
    (only those are kept for reuse during a call: keeping every intermediate array alive would
    cost more in memory traffic than recomputing it)."""

    def __init__(self, ctx: _Context, shared: set | None):
        super().__init__(ctx)
        self.shared, self.counts = shared, {}


def _memo(key: str, fn, ctx: _Context):
    """A node evaluated once per call when its key (its subtree) occurs more than once."""
    ctx.counts[key] = ctx.counts.get(key, 0) + 1
    if ctx.shared is None or key not in ctx.shared:
        return key, fn

    def run(a, memo):
        v = memo.get(key)
        if v is None:
            v = memo[key] = fn(a, memo)
        return v
    return key, run


def _product(parts: list, ctx: _Context):
    """The product of compiled factors, keyed by their sorted keys (so x·y and y·x share)."""
    if len(parts) <= 1:
        return parts[0] if parts else None
    parts = sorted(parts, key=lambda p: p[0])
    fns = [f for _, f in parts]
    return _memo("*(" + ",".join(k for k, _ in parts) + ")",
                 lambda a, m: reduce(np.multiply, (f(a, m) for f in fns)), ctx)


def _split_mul(rest: list, ctx: _Context):
    """(scalar, numerator, denominator) of a product, as a code printer writes it: one scalar,
    the factors with positive powers, one division by those with negative powers."""
    scalar, top, bottom = 1.0, [], []
    for r in rest:
        c, n = _constant(r), _whole_power(r)
        if c is not None:
            scalar *= c
        elif n is not None and n < 0:
            bottom.append(_power(r[1], -n, ctx))
        else:
            top.append(_compile(r, ctx))
    return scalar, _product(top, ctx), _product(bottom, ctx)


def _quotient(scalar: float, num, den, ctx: _Context):
    if num is None and den is None:
        return f"{scalar!r}", lambda a, m: scalar
    nk, nf = num if num is not None else ("1", None)
    key = f"{scalar!r}*{nk}" + (f"/{den[0]}" if den is not None else "")
    if den is None:
        return _memo(key, (lambda a, m: scalar * nf(a, m)) if scalar != 1.0 else nf, ctx)
    df = den[1]
    if num is None:
        return _memo(key, lambda a, m: scalar / df(a, m), ctx)
    if scalar == 1.0:
        return _memo(key, lambda a, m: nf(a, m) / df(a, m), ctx)
    return _memo(key, lambda a, m: scalar * nf(a, m) / df(a, m), ctx)


def _add(rest: list, ctx: _Context):
    # terms over one denominator are summed before the one division (as a hand-written
    # formula would be)
    const, groups, order = 0.0, {}, []
    for r in rest:
        c = _constant(r)
        if c is not None:
            const += c
            continue
        if isinstance(r, list) and r[:1] == ["Mul"]:
            scalar, num, den = _split_mul(r[1:], ctx)
        else:
            scalar, num, den = 1.0, _compile(r, ctx), None
        dk = den[0] if den is not None else ""
        if dk not in groups:
            groups[dk] = (den, [])
            order.append(dk)
        groups[dk][1].append(_quotient(scalar, num, None, ctx))
    parts = []
    for dk in order:
        den, terms = groups[dk]
        terms = sorted(terms, key=lambda t: t[0])
        fns = [f for _, f in terms]
        top = (terms[0] if len(terms) == 1 else
               _memo("+(" + ",".join(k for k, _ in terms) + ")",
                     lambda a, m, fns=fns: reduce(np.add, (f(a, m) for f in fns)), ctx))
        parts.append(top if den is None else _quotient(1.0, top, den, ctx))
    if const != 0.0 or not parts:
        parts.append((f"{const!r}", lambda a, m: const))
    if len(parts) == 1:
        return parts[0]
    fns = [f for _, f in parts]
    return _memo("+(" + ",".join(sorted(k for k, _ in parts)) + ")",
                 lambda a, m: reduce(np.add, (f(a, m) for f in fns)), ctx)


def _power(base_node, n: int, ctx: _Context):
    key, base = _compile(base_node, ctx)
    if n == 1:
        return key, base
    if n == 2:
        return _memo(f"({key})^2", lambda a, m: np.square(base(a, m)), ctx)
    return _memo(f"({key})^{n}", lambda a, m: np.power(np.asarray(base(a, m), dtype=float), n), ctx)


def _compile(node, ctx: _Context):
    """(key, fn(args, memo)) of one node; the key names the subtree."""
    if not isinstance(node, list) or not node or not isinstance(node[0], str):
        raise Unsupported("not a node")
    kind, rest = node[0], node[1:]
    c = _constant(node)
    if c is not None:
        return f"{c!r}", lambda a, m: c
    if kind == "Sym" and len(rest) == 1:
        if rest[0] not in ctx:
            raise Unsupported(f"symbol {rest[0]!r} is not an argument")
        i = ctx[rest[0]]
        return rest[0], lambda a, m: a[i]
    if kind == "Mul" and rest:
        return _quotient(*_split_mul(rest, ctx), ctx)
    if kind == "Add" and rest:
        return _add(rest, ctx)
    if kind in _NARY and rest:
        op, parts = _NARY[kind], [_compile(r, ctx) for r in rest]
        if len(parts) == 1:
            return parts[0]
        fns = [f for _, f in parts]
        return _memo(f"{kind}(" + ",".join(k for k, _ in parts) + ")",
                     lambda a, m: reduce(op, (f(a, m) for f in fns)), ctx)
    if kind == "Pow" and len(rest) == 2:
        n = _whole_power(node)
        if n is not None and n >= 0:
            return _power(rest[0], n, ctx)
        if n is not None:
            return _quotient(1.0, None, _power(rest[0], -n, ctx), ctx)
        (bk, base), (pk, power) = _compile(rest[0], ctx), _compile(rest[1], ctx)
        return _memo(f"({bk})^({pk})",
                     lambda a, m: np.power(np.asarray(base(a, m), dtype=float), power(a, m)), ctx)
    raise Unsupported(f"node {kind!r} is not allowed")


def function(trees: list, args: tuple):
    """``f(*arrays) -> [value of each tree]``, like ``lambdify(args, exprs)``; ``args`` are the
    symbol names in argument order. ``Unsupported`` for a tree off the whitelist."""
    index = {name: i for i, name in enumerate(args)}
    try:
        first = _Context(index, None)                  # a first pass counts the subtrees
        for t in trees:
            _compile(t, first)
        ctx = _Context(index, {k for k, n in first.counts.items() if n > 1})
        compiled = [_compile(t, ctx) for t in trees]
    except RecursionError:
        raise Unsupported("tree too deep") from None

    def fn(*a):
        memo: dict = {}
        return [f(a, memo) for _, f in compiled]
    return fn
