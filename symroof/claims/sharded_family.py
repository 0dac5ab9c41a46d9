"""A published run's sharded graph with its numbers in, derived once per shape of run.

``shard`` decides where every collective goes from the graph, the names of the mesh axes and
their links alone; sizes only scale what it moves. So runs of one model structure, attention
kernel, recompute policy and set of mesh axes (a *family*) share one sharded graph in which the
mesh sizes are symbols too. Each family is sharded once (SymPy; both attention kernels from
one sharding, ``sharding.with_kernel``); a run then puts its numbers
into the family's per-chip costs with ``io/fractions_eval.Polynomial`` (exact, Python integers),
which gives the same exact numbers as sharding with the run's sizes and substituting
(``calibrate.numeric``), in a fraction of the time. ``validate`` reads them as ``numbered`` gives
them: the family's node table (parallel/step_table.py, made once) beside the run's numbers by
slot, with no graph copied per run.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

import sympy as sp

from ..core.graph import per_layer, with_own_nodes
from ..core.symbols import K, r_kv
from ..io.fractions_eval import Polynomials, real
from ..parallel.axes import replicate_kv
from ..parallel.placement import charged
from ..parallel.step_table import Numbered, node_table
from .calibrate import _sub       # a run's numbers into an expression (hoisted: _size puts them in 20 times a run)

_KEYS = ("local_flops", "local_bytes", "local_vector_flops", "repeat")


class Family:
    """One sharded graph with symbolic mesh sizes, and its per-chip costs ready to evaluate."""

    def __init__(self, sg, sizes: dict):
        self.sg = sg
        self.sizes = sizes                       # axis -> its size symbol
        exprs: dict = {}                         # expression -> slot (nodes share many)
        self.slots = []                          # (node, [(key, slot)])
        self.collectives = []                    # (node, [(collective, slot)])

        ids: dict = {}      # id(value) -> slot: nodes share value objects, and node_table asks for them again
        # (a SymPy hash is a Python call; the graph holds each value, so no id is reused meanwhile)

        def slot(value) -> int:
            got = ids.get(id(value))
            if got is None:
                expr = value if isinstance(value, sp.Basic) else sp.Integer(value)
                got = ids[id(value)] = exprs.setdefault(expr, len(exprs))
            return got
        rows = []                                # roofline_numbers.node_rows's, by slot
        from ..parallel.roofline import held_weights, pipeline_ends
        for name, d in sg.nodes(data=True):
            keys = [(key, slot(d[key])) for key in _KEYS if key in d]
            self.slots.append((name, keys))
            colls = [(c, slot(c.volume), None if c.ranks is None else slot(c.ranks)) for c in d.get("collectives", ())]
            if colls:
                self.collectives.append((name, colls))
            at = dict(keys)
            rows.append((at["repeat"] if per_layer(d) else None, d["block"] if per_layer(d) else d.get("end"),
                         at["local_flops"], at["local_bytes"],
                         [(c.kind, c.axes, v, r, c.on_critical_path) for c, v, r in colls]))
        self.sums = _grouped(rows)               # what roofline_numbers.node_sums adds up, each term once
        # step_numbers._weights's: each weight a chip holds (its node's repeat by slot) and the pipeline's ends
        self.weights = [(slot(d["repeat"]) if per_layer(d) else None, dims, d.get("no_grad")) for d, dims in held_weights(sg)]
        self.ends = pipeline_ends(sg) if "stage" in sg.graph["mesh"] else None
        self.table, _ = node_table(sg, slot)     # step_model.parts's reads of the nodes, by slot
        self.exprs = list(exprs)
        self.polys = [_polynomial(e) for e in self.exprs]   # families of one shard share them
        self.size_polys = {k: _polynomial(v) if isinstance(v, sp.Basic) else None
                           for k, v in sg.graph["sizes"].items()}
        self.batch = Polynomials(self.polys + list(self.size_polys.values()))     # a run's values in one pass

    def numeric(self, nums: dict, mesh: dict, exact: bool = False, numbers: dict | None = None,
                spans: dict | None = None, dispatch: int = 0, place=None):
        """The family's graph for one run: ``nums`` (every symbol's number) and the run's ``mesh``
        in; equal, value for value, to ``calibrate.numeric(apply(shard(g, mesh), policy), nums)``.
        ``exact=True`` leaves the numbers as Python ints and Fractions, not SymPy's (the input of
        ``parallel/step_numbers.py``); a size the numbers leave symbolic stays a SymPy expression.
        ``numbers``: ``plain(nums)``, where the caller has it already; ``spans``: the run's dcn axes
        that span two tiers (``collectives.two_tier``), kept on the graph for the roofline, as is
        ``dispatch``, the run's ``dispatch_nodes`` (its MoE dispatch sent once per node); ``place``: the
        charged chip's ``placement.Placement`` (None without a stage axis), kept on the graph and the one
        the rows' sums are taken for."""
        sizes = {self.sizes[axis]: a.size for axis, a in mesh.items()}
        values = {**nums, **sizes}
        numbers = {**(plain(nums) if numbers is None else numbers), **plain(sizes)}
        if exact:
            got = self.batch.exact(numbers)
            got, sizes = got[:len(self.exprs)], got[len(self.exprs):]
            got = [v if v is not None else _exact(_sub(e, values)) for v, e in zip(got, self.exprs)]
        else:
            got = [p.value(numbers) if p is not None else None for p in self.polys]
            got = [v if v is not None else _sub(e, values) for v, e in zip(got, self.exprs)]
        out = with_own_nodes(self.sg)
        nodes = out._node         # with_own_nodes's own dicts: NodeView's lookup is a Python call per node
        for name, keys in self.slots:
            d = nodes[name]
            for key, i in keys:
                d[key] = got[i]
        for name, colls in self.collectives:      # Collective(...) directly: dataclasses.replace is slower
            nodes[name]["collectives"] = [type(c)(c.kind, c.axes, c.tensor, got[i], c.bucketed,
                                                  None if r is None else got[r]) for c, i, r in colls]
        if exact:
            if all(type(v) is int or type(v) is Fraction for v in got):     # step_numbers.family_rows
                out.graph["family_rows"] = nodes, self._rows(got, mesh, place)
            out.graph["sizes"] = self._sizes(sizes, nums)
        else:
            out.graph["sizes"] = {k: _sub(v, nums) for k, v in self.sg.graph["sizes"].items()}
        out.graph["mesh"] = mesh
        if spans:
            out.graph["spans"] = dict(spans)
        if dispatch:
            out.graph["dispatch_nodes"] = dispatch
        if place is not None:
            out.graph["placement"] = place
        return out

    def numbered(self, nums: dict, mesh: dict, numbers: dict | None = None, spans: dict | None = None,
                 dispatch: int = 0, place=None):
        """``numeric(nums, mesh, exact=True, numbers, spans)`` as the numeric path reads it
        (``step_table.Numbered``: the graph's attributes, the family's node table and this run's
        numbers), without a graph of its own; None where a cost is not an exact number (``numeric``'s
        graph then goes to SymPy's path)."""
        mesh_sizes = {self.sizes[axis]: a.size for axis, a in mesh.items()}
        numbers = {**(plain(nums) if numbers is None else numbers), **plain(mesh_sizes)}
        got = self.batch.exact(numbers)
        got, sizes = got[:len(self.exprs)], got[len(self.exprs):]
        if None in got:     # a cost that is no polynomial (a sliding window's Min): numeric's value
            values = {**nums, **mesh_sizes}
            got = [v if v is not None else _value(e, values, numbers) for v, e in zip(got, self.exprs)]
        if not all(type(v) is int or type(v) is Fraction for v in got):
            return None
        graph = dict(self.sg.graph)
        graph["sizes"], graph["mesh"] = self._sizes(sizes, nums), mesh
        if spans:
            graph["spans"] = dict(spans)
        if dispatch:
            graph["dispatch_nodes"] = dispatch
        if place is not None:
            graph["placement"] = place
        out = Numbered(graph, self.table, got)
        graph["family_rows"] = out._node, self._rows(got, mesh, place)
        return out

    def _rows(self, got: list, mesh: dict, place=None) -> dict:
        """step_numbers.family_rows's rows with a run's numbers (``got``, by slot) in."""
        stages = _plain(mesh["stage"].size) if "stage" in mesh else 1
        return {"sums": _sums(self.sums, got, stages, place), "placement": place,
                "weights": [(None if r is None else got[r], dims, no_grad) for r, dims, no_grad in self.weights],
                "ends": self.ends}

    def _sizes(self, sizes: list, nums: dict) -> dict:
        """The graph's dimension sizes, exact, from their polynomials' values (``sizes``)."""
        given = self.sg.graph["sizes"]
        return {k: v if v is not None else _exact(_size(given[k], nums)) for k, v in zip(self.size_polys, sizes)}


def _grouped(rows: list) -> tuple:
    """``rows`` (``roofline_numbers.node_rows``'s, by slot) as ``node_sums`` adds them up: each distinct term
    once, with how often it occurs, in order of first occurrence (so the sums' groups come in node_sums's
    order): (repeat, where, FLOPs) and (repeat, where, bytes), and (repeat, where, kind, axes, volume, ranks,
    critical?); ``where`` a node's block type, or the end it is on."""
    flops, hbm, colls = {}, {}, {}
    for r, where, f, b, cs in rows:
        flops[r, where, f] = flops.get((r, where, f), 0) + 1
        hbm[r, where, b] = hbm.get((r, where, b), 0) + 1
        for kind, axes, v, k, path in cs:
            key = (r, where, kind, axes, v, k, path)
            colls[key] = colls.get(key, 0) + 1
    return tuple(flops.items()), tuple(hbm.items()), tuple(colls.items())


def _sums(grouped: tuple, got: list, stages: int, place) -> tuple:
    """``roofline_numbers.node_sums`` of a family's rows with a run's numbers (``got``) in: the same exact sums
    over a third as many terms (a family's nodes share their costs), each at node_sums's ``weight``."""
    from ..parallel.roofline_numbers import add_moved, weight

    weights: dict = {}        # (repeat slot, where) -> node_sums's weights: a handful of distinct ones

    def at(r, where):
        got_w = weights.get((r, where))
        if got_w is None:
            got_w = weights[r, where] = weight(None if r is None else got[r], where, stages, place)
        return got_w
    flops_terms, hbm_terms, colls = grouped
    flops = sum(n * at(r, where)[0] * got[f] for (r, where, f), n in flops_terms)
    hbm = sum(n * at(r, where)[0] * got[b] for (r, where, b), n in hbm_terms)
    moved: dict = {}
    critical: dict = {}
    for (r, where, kind, axes, v, k, path), n in colls:
        times = at(r, where)[0 if path else 1]         # an end's weights move once a step
        add_moved(moved, critical, (axes, None if k is None else got[k]), kind, n * times * got[v], path)
    return flops, hbm, moved, critical


def _value(expr, values: dict, numbers: dict):
    """``_exact(_sub(expr, values))`` (``numbers``: ``plain(values)``): in Python fractions where the
    expression is sums, products and a Max or Min of numbers (``fractions_eval.real``), else SymPy's."""
    got = real(expr, numbers) if isinstance(expr, sp.Basic) else None
    if type(got) is Fraction:
        return got.numerator if got.denominator == 1 else got
    return _exact(_sub(expr, values))


def _size(expr, nums: dict):
    """``calibrate._sub(expr, nums)``; for a lone symbol (most sizes left without a value: another layer
    kind's) its xreplace, ``nums.get``, without SymPy's call; for the few others (``H + H_r`` where the
    model has no H_r: 650 a validate, 7 distinct) remembered by the numbers of the symbols in them."""
    if getattr(expr, "is_Symbol", False):
        return nums.get(expr, expr)
    if not isinstance(expr, sp.Basic):
        return _sub(expr, nums)
    symbols = _SYMBOLS.get(expr)
    if symbols is None:
        symbols = _SYMBOLS[expr] = tuple(expr.atoms(sp.Symbol))
    key = (expr, *((type(v), v) for v in map(nums.get, symbols)))
    got = _SIZES.get(key)
    if got is None:
        if len(_SIZES) > 4096:
            _SIZES.clear()
        got = _SIZES[key] = _sub(expr, nums)
    return got


_SYMBOLS: dict = {}     # a size's expression -> the symbols in it
_SIZES: dict = {}       # (expression, (type, number) of each of its symbols) -> calibrate._sub's answer


def plain(values: dict) -> dict:
    """The exact numbers among ``values`` as ints and Fractions (``Polynomial.value``'s input)."""
    return {s: n for s, n in ((s, _plain(v)) for s, v in values.items()) if n is not None}


def exact(expr, nums: dict, numbers: dict):
    """``bind.evaluate(expr, nums)`` (``numbers``: ``plain(nums)``) as a Python int or Fraction, a
    polynomial read once per expression and evaluated in integers (a model's FLOP counts, one per
    convention)."""
    poly = _polynomial(expr)
    got = None if poly is None else poly.exact(numbers)
    if got is None:
        from ..io.bind import evaluate

        return _exact(evaluate(expr, nums))
    return got


def exact_all(exprs: tuple, nums: dict, numbers: dict) -> list:
    """``[exact(e, nums, numbers) for e in exprs]``, the polynomials evaluated together (a model's FLOP
    counts under every convention share most of their terms)."""
    got = _polynomials(exprs).exact(numbers)
    return [v if v is not None else exact(e, nums, numbers) for v, e in zip(got, exprs)]


@lru_cache(maxsize=256)
def _polynomials(exprs: tuple) -> Polynomials:
    return Polynomials([_polynomial(e) for e in exprs])


@lru_cache(maxsize=4096)
def _polynomial(expr):
    from ..io.fractions_eval import Polynomial

    return Polynomial.of(expr)


def _exact(v):
    """A SymPy number as an int or Fraction; anything else (a size left symbolic) as it is."""
    got = _plain(v)
    return v if got is None else got


def _plain(v):
    """A SymPy or Python exact number as an int or Fraction (None for anything else)."""
    t = type(v)
    if t is int:              # the usual types first: isinstance against Fraction (an ABC) is slow
        return v
    if getattr(t, "is_Integer", False):
        return int(v)
    if getattr(t, "is_Number", True) is False:    # a SymPy symbol or expression (a size left symbolic)
        return None
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, Fraction):
        return v.numerator if v.denominator == 1 else v
    if getattr(v, "is_Integer", False):
        return int(v)
    if getattr(v, "is_Rational", False):
        return Fraction(int(v.p), int(v.q))
    return None


@lru_cache(maxsize=None)
def family(structure, attention: str, kernel: str, axes: tuple, policy, partial: bool = False) -> Family:
    """The family of ``structure``'s graph sharded over mesh axes ``axes`` ((name, link) pairs, in the
    run's order; a tensor axis that folds the experts, axes.folds_experts, is (name, link, "experts")),
    with ``policy``'s replayed ops (``partial``: on the share ``f_rc`` of the layers, a number each run
    puts in)."""
    sg, sizes = _shard(structure, attention, kernel, axes)
    if policy != "none":
        from ..core.recompute import apply
        from ..core.symbols import f_rc

        sg = apply(sg, policy, f_rc if partial else 1)
    return Family(sg, sizes)


def _shard(structure, attention: str, kernel: str, axes: tuple):
    from ..core.graph import build
    from ..parallel.sharding import with_kernel

    sg, sizes = _shard_kernels(structure, attention, axes, kernel != "fused")
    return with_kernel(sg, build(structure, attention, kernel)), sizes


_SHARDS: dict = {}     # (structure, attention, axes) -> (sharded graph, size symbols, with the eager kernel's bytes)
_EAGER: set = set()    # the keys of runs whose step model reads the eager kernel (``sharded``)


def _shard_kernels(structure, attention: str, axes: tuple, eager: bool = False):
    """The fused graph sharded once per key: policies and kernels differ more often than meshes, so one
    shard serves them all; the eager kernel's bytes of the ops it changes (``with_kernel``) are worked
    out where a run of the key, or this call, reads them (a tenth of a shard, which most keys never use)."""
    from ..core.graph import build
    from ..parallel.collectives import Axis
    from ..parallel.sharding import shard

    key = (structure, attention, axes)
    got = _SHARDS.get(key)
    if got is None or (not got[2] and (eager or key in _EAGER)):
        sizes = {name: sp.Symbol(f"mesh.{name}", positive=True, integer=True) for name, *_ in axes}
        mesh = {name: Axis(name, sizes[name], link, experts=bool(folded)) for name, link, *folded in axes}
        both = eager or key in _EAGER
        got = _SHARDS[key] = (shard(build(structure, attention, "fused"), mesh, other_kernel=both), sizes, both)
    return got[:2]


def replicated(run, nums: dict) -> dict:
    """``nums`` with the KV heads replicated up to a tensor degree above them, as the planner lays
    them (parallel/axes.KV_REPLICATION: each chip computes and holds its group's K/V projection);
    ``nums`` itself where the tensor degree is within the heads."""
    if "tensor" not in run.mesh or K not in nums or run.mesh["tensor"].size <= nums[K]:
        return nums
    got = replicate_kv(nums, run.mesh["tensor"].size)
    return {**got, K: got[K].doit(), r_kv: got[r_kv].doit()}


def numbered(run, nums: dict, kernel: str = "fused", numbers: dict | None = None, place=None):
    """``sharded(run, nums, kernel, exact=True, numbers, place)`` as the numeric path reads it: a
    ``step_table.Numbered`` where every cost is an exact number, else that graph."""
    got = _family(run, kernel).numbered(nums, run.mesh, numbers, run.spans, run.dispatch_nodes or 0,
                                        charged(run.mesh, run.schedule, place))
    return got if got is not None else sharded(run, nums, kernel, True, numbers, place)


def _family(run, kernel: str) -> Family:
    axes = tuple((name, a.link, "experts") if a.experts else (name, a.link) for name, a in run.mesh.items())
    if run.graph_kernel != "fused":     # its ceiling (fused) and its step model (this kernel) share one shard
        _EAGER.add((run.structure, "causal", axes))
    return family(run.structure, "causal", kernel, axes, run.recompute, run.recompute_layers is not None)


def sharded(run, nums: dict, kernel: str = "fused", exact: bool = False, numbers: dict | None = None,
            place=None):
    """``run``'s causal graph for ``kernel``, sharded over its mesh, its recompute policy's
    replayed ops added, with its numbers in (see ``Family.numeric``), for the chip ``place`` says
    (``placement.charged``)."""
    return _family(run, kernel).numeric(nums, run.mesh, exact, numbers, run.spans, run.dispatch_nodes or 0,
                                        charged(run.mesh, run.schedule, place))
