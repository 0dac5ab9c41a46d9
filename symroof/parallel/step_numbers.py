"""The step model's parts of one run from its numbers directly, and the exact rates and rules the
ideal roofline's terms share (``roofline_numbers.roofline_terms``).

``roofline.step`` and ``step_model.parts`` build each collective's time as a SymPy expression in
the bandwidth symbols and put the run's numbers in afterwards; over many runs (``symroof
validate``) that arithmetic is most of the time. Here the same quantities are computed with the
numbers from the start, on a graph whose costs are numbers already (``sharded_family.sharded``):

- ``roofline_numbers.roofline_terms``: ``roofline.step`` (overlap "sum", whole step, no latency
  floor), each term evaluated: exact Python ints and Fractions, so equal value for value;
- ``parts``: ``step_model.parts`` itself, reading the numbers through ``Exact`` instead of
  ``step_model.Numbers``: each read exact up to the very float conversion the symbolic path
  makes, and the one loop of float operations after it, so equal bit for bit.

The rules are the tables of ``collectives.py`` (COST, SWITCHED, ONE_WAY, LINKS) and
``pipeline.py``, read here with numbers; tests/test_step_numbers.py checks both paths against
each other on published runs. ``NotExact`` marks an input this path does not take (a size left
symbolic, a number that is not rational): the caller then takes the symbolic path.
"""

from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction
from functools import lru_cache

from ..core import symbols as sy
from ..core.graph import per_layer
from ..parallel import pipeline
from ..parallel.collectives import (COST, LINKS, ONE_WAY, POINT_TO_POINT, SWITCHED, hops, joint_bandwidth, live_axes,
                                    through_switch)
from ..parallel.sharding import layout
from ..parallel import step_model
from ..parallel.step_model import Options, Parts, _name


class NotExact(Exception):
    """An input the numeric path does not take; the symbolic path gives the answer instead."""


def exact(x):
    """An exact number (int, Fraction, SymPy Integer or Rational) as a Python int or Fraction."""
    t = type(x)
    if t is int or t is Fraction:
        return x
    if getattr(x, "is_Integer", False):
        return int(x)
    if getattr(x, "is_Rational", False):
        return Fraction(int(x.p), int(x.q))
    raise NotExact(x)


def _over(a, b):
    """``a / b`` exactly (Python's ``/`` on two ints would round to a float)."""
    return Fraction(a) / b


class Rates:
    """The run's hardware numbers the rules need, exact: per-link bandwidths (collectives.LINKS and
    ONE_WAY), C, W_hbm, the byte widths; and each collective's seconds per byte over its axes,
    worked out once per kind and axes."""

    def __init__(self, nums: dict, mesh: dict):
        self.nums = nums
        self.mesh = mesh
        # the tables' expressions with the numbers in, once per set of their symbols' numbers (a chip's)
        key = tuple(nums.get(s) for s in _LINK_SYMBOLS)
        got = _LINKS.get(key)
        if got is None:
            if len(_LINKS) > 256:
                _LINKS.clear()
            got = _LINKS[key] = ({link: exact(w.xreplace(nums)) for link, w in LINKS.items()},
                                 {link: exact(w.xreplace(nums)) for link, w in ONE_WAY.items()})
        self.link, self.one_way = got
        self._per_byte: dict = {}

    def __getitem__(self, symbol):
        try:
            return exact(self.nums[symbol])
        except KeyError:
            raise NotExact(symbol) from None

    def per_byte(self, kind: str, axes: tuple, ring_factor: bool = False, ranks=None) -> tuple[int, int]:
        """Seconds per byte of volume, as (numerator, denominator): the rule is linear in it."""
        key = (kind, axes, ring_factor, ranks)
        got = self._per_byte.get(key)
        if got is None:
            # the rule reads the links' bandwidths and the axes alone: runs of one chip and mesh share it
            shared = (kind, tuple(self.mesh[a] for a in axes), ring_factor, ranks, *self.link.values(),
                      *self.one_way.values())
            got = _PER_BYTE.get(shared)
            if got is None:
                f = Fraction(collective_seconds(kind, 1, list(shared[1]), self, ring_factor, ranks))
                if len(_PER_BYTE) > 4096:
                    _PER_BYTE.clear()
                got = _PER_BYTE[shared] = (f.numerator, f.denominator)
            self._per_byte[key] = got
        return got


_LINK_SYMBOLS = tuple(sorted({s for w in (*LINKS.values(), *ONE_WAY.values()) for s in w.free_symbols}, key=str))
_LINKS: dict = {}         # those symbols' numbers -> Rates's link and one_way (read, never changed)
_PER_BYTE: dict = {}      # (kind, Axis objects, ring_factor, ranks, bandwidths) -> Rates.per_byte's answer

_COST = {kind: exact(factor) for kind, factor in COST.items()}


def collective_seconds(kind: str, volume, axes: list, rates: Rates, ring_factor: bool = False, ranks=None):
    """``collectives.collective_time`` (no latency floor) with numbers: bandwidths of the axes' links joined
    (``joint_bandwidth``), the rule's factor, the switched fabric's AllToAll and the ring factor (a sub-group's
    ``ranks``: always its own)."""
    axes = live_axes(axes)
    if not axes:
        return 0
    if kind in POINT_TO_POINT:         # collectives.one_way: through a switch, all of the chip's links
        bandwidth = rates.link["ici"] if through_switch(axes[0]) else rates.one_way[axes[0].link]
    else:
        bandwidth = joint_bandwidth([_over(rates.link[a.link] * exact(a.n_physical), 1 if a.wrap else 2)
                                     for a in axes], axes)
    size = math.prod(exact(a.size) for a in axes)
    if kind in SWITCHED and all(a.switched or a.link == "dcn" for a in axes):
        time = SWITCHED[kind](Fraction(size)) * volume / bandwidth
    else:
        time = _over(_COST[kind] * volume, bandwidth)
    if ranks is not None:
        time *= Fraction(exact(ranks) - 1, exact(ranks))
    elif ring_factor:
        time *= Fraction(size - 1, size)
    return time


@lru_cache(maxsize=None)
def _row(name, stages: int, microbatches: int, virtual: int, work=None) -> dict:
    """The schedule table's row with numbers, exact (``pipeline.row``)."""
    out = {}
    for key, v in pipeline.row(name, stages, microbatches, virtual, work).items():
        try:
            out[key] = v if key in ("copies", "hides", "together") else exact(v)
        except NotExact:        # a bubble that weighs F, B and W, asked for without them (the sends)
            out[key] = None
    return out


def _numel(dims, sizes: dict):
    try:
        return math.prod(exact(sizes[d]) for d in dims)
    except KeyError as err:
        raise NotExact(err) from None


def _activation(sg, rates: Rates):
    """Bytes of one chip's shard of the layer input (the stage-boundary send of one step's batch)."""
    mesh = sg.graph["mesh"]
    dims = sg.graph["tensor_dims"][sg.graph["layer_input"]]
    act = _numel(dims, sg.graph["sizes"]) * rates[sy.b_act]
    for axis in layout(dims, mesh, weight=False):
        act = _over(act, exact(mesh[axis].size))
    return act


def family_rows(sg) -> dict | None:
    """The rows a sharded family's graph carries (``sharded_family.Family.numeric``: ``sums``, ``node_sums``
    of its nodes, and ``weights`` and ``ends``, as ``_weights`` reads them), with the same numbers as its
    nodes; None for any other graph, or a copy (whose nodes could have changed)."""
    nodes, rows = sg.graph.get("family_rows") or (None, None)
    return rows if nodes is sg._node else None


def dispatch_share(kind: str, axes: tuple, dispatch_nodes: int, rates: Rates) -> Fraction | None:
    """``collectives.dispatch_share`` exactly: min(1, M/k) for an AllToAll over the expert axis that the
    run's dispatcher sends once per node (to at most M = ``dispatch_nodes``); else None."""
    if not dispatch_nodes or kind != "AllToAll" or "expert" not in axes:
        return None
    return min(Fraction(1), Fraction(dispatch_nodes, rates[sy.k]))


def _two_tier(axes: tuple, spans: dict, rates: Rates, kind: str = "AllReduce", per_node: Fraction | None = None):
    """``collectives.two_tier`` exactly: for dcn axes of ``axes`` that span two tiers (inner: the product of
    their shares of a domain), W_dcn / min(W_ici, inner · W_dcn) for a ring collective,
    max((n - d), (d - 1) · W_dcn / W_ici) / (n - 1) for an AllToAll; else 1."""
    mesh = rates.mesh
    spanning = [spans[a] for a in axes if mesh[a].link == "dcn" and a in spans]
    w_dcn, w_ici = rates.link["dcn"], rates.link["ici"]
    if per_node is not None and kind == "AllToAll":      # an MoE dispatch sent once per node
        n = math.prod(exact(mesh[a].size) for a in axes)
        d = math.prod(exact(x) for x in spanning) * math.prod(exact(mesh[a].size) for a in axes if mesh[a].link != "dcn")
        if n == 1:
            return Fraction(1)
        return max(per_node * Fraction(n - d, n - 1), Fraction((d - 1) * n, d * (n - 1)) * _over(w_dcn, w_ici))
    if not spanning:
        return Fraction(1)
    inner = math.prod(exact(x) for x in spanning)
    if kind not in SWITCHED:
        return _over(w_dcn, min(w_ici, inner * w_dcn))
    n = math.prod(exact(mesh[a].size) for a in axes)
    d = inner * math.prod(exact(mesh[a].size) for a in axes if mesh[a].link != "dcn")
    if n == 1:
        return Fraction(1)
    return max(Fraction(n - d, n - 1), Fraction(d - 1, n - 1) * _over(w_dcn, w_ici))


# ----------------------------------------------------------------------------- the step model


def _hops(axes: tuple, mesh: dict) -> float:
    """``float(hops(...))`` of the axes: exact for axes over one physical axis each, else SymPy's root."""
    return _axes_hops(tuple(mesh[a] for a in axes))


@lru_cache(maxsize=4096)
def _axes_hops(axes: tuple) -> float:
    if all(exact(a.n_physical) == 1 for a in axes):
        return float(sum(_over(exact(a.size), 2) if a.wrap else exact(a.size) - 1 for a in axes))
    return float(hops(list(axes)))


def _bandwidth(c, rates: Rates, opts: Options, known: dict | None = None) -> float:
    """``step_model._bandwidth`` with numbers (``_seconds`` of the collective's fields)."""
    return _seconds(c.kind, c.axes, c.volume, c.ranks, rates, opts, known)


def _seconds(kind: str, axes: tuple, volume, ranks, rates: Rates, opts: Options, known: dict | None = None) -> float:
    """``step_model._seconds`` with numbers: the collective's exact seconds, the two-tier factor included, as a
    float (one correctly rounded division of integers, as ``float`` of the Fraction is). ``known``: seconds
    per byte by kind, axes and ranks, for one ``opts``."""
    ranks, known = None if ranks is None else exact(ranks), {} if known is None else known
    got = known.get((kind, axes, ranks))
    if got is None:
        n, d = rates.per_byte(kind, axes, True, ranks)
        share = dispatch_share(kind, axes, opts.dispatch_nodes, rates)
        if opts.spans or share is not None:
            tier = _two_tier(axes, opts.spans, rates, kind, share)
            n, d = n * tier.numerator, d * tier.denominator
        got = known[(kind, axes, ranks)] = (n, d)
    n, d = got
    volume = exact(volume)
    return volume * n / d if type(volume) is int else float(volume * Fraction(n, d))


@lru_cache(maxsize=4096)      # SymPy works out free_symbols afresh each time; a family's runs ask of the same few
def _symbolic(v) -> bool:
    """Whether ``v`` has free symbols (a size another layer kind's symbols leave symbolic)."""
    return bool(getattr(v, "free_symbols", None))


class Exact:
    """``step_model.Numbers`` for a graph whose costs are numbers already (``sharded_family``):
    each read exact, then the very float conversion the symbolic path makes."""

    def __init__(self, sg, nums: dict):
        given = sg.graph["mesh"]
        self.given, self.rates = given, Rates(nums, given)
        # the mesh's sizes as Python ints for the float rules (kernels, ring steps): the same floats
        self.mesh = {name: replace(a, size=exact(a.size), n_physical=exact(a.n_physical))
                     for name, a in given.items()}
        self.sizes = {k: float(v) for k, v in sg.graph["sizes"].items()       # numbers first: no attribute look-up
                      if type(v) is int or type(v) is Fraction or not _symbolic(v)}
        self.peak, self.hbm_rate = float(self.rates[sy.C]), float(self.rates[sy.W_hbm])
        self._hops: dict = {}         # axes -> hops: a graph's collectives use a few sets of axes
        self._per_byte: dict = {}     # _bandwidth's: one Exact serves one parts() call, one Options

    number = staticmethod(float)      # each cost is a number already: ``float``, without a method call

    def seconds(self, kind: str, axes: tuple, volume, ranks, opts: Options) -> float:
        """``_seconds``: its last line here where the rate is known and the volume an int (most calls)."""
        got = self._per_byte.get((kind, axes, ranks if ranks is None or type(ranks) is int else exact(ranks)))
        if got is None or type(volume) is not int:
            return _seconds(kind, axes, volume, ranks, self.rates, opts, self._per_byte)
        return volume * got[0] / got[1]

    def hops(self, axes: tuple) -> float:
        got = self._hops.get(axes)
        if got is None:
            got = self._hops[axes] = _hops(axes, self.given)
        return got

    def sends(self, sg, opts: Options) -> tuple[str, float]:
        """``step_model._sends``: each microbatch's layer input forward and its gradient back."""
        link = self.mesh["stage"].link
        row = _row(_name(opts), int(self.mesh["stage"].size), opts.microbatches, opts.virtual)
        # collectives.one_way: one link one way, or through a switch all of them
        one_way = float(self.rates.link["ici"] if through_switch(self.mesh["stage"]) else self.rates.one_way[link])
        return link, 2 * float(row["sends"]) * float(_activation(sg, self.rates)) / one_way

    def gradient_bytes(self, sg, schedule=None):
        """``step_model.Numbers.gradient_bytes``, exact: the trained elements at b_param."""
        return self.rates[sy.b_param] * self._trained(sg, schedule)

    def optimizer_bytes(self, sg, schedule=None) -> float:
        r = self.rates
        # the trained weights only: those no gradient reaches (roofline.frozen_weights) get no update
        return float((2 * r[sy.b_param] + r[sy.b_grad] + 2 * r[sy.b_opt]) * self._trained(sg, schedule))

    def _trained(self, sg, schedule):
        stages = self.mesh["stage"].size if "stage" in self.mesh else 1
        if stages == 1:
            return _weights(sg, stages, True)
        row = pipeline.schedule(schedule)       # its copies and ends alone: no row with symbols in (a Min of them)
        return _weights(sg, stages, True, row.copies, row.together)


def parts(sg, nums: dict, opts: Options = Options()) -> Parts:
    """``step_model.parts(sg, nums, opts)``, the same floats, from a graph whose costs are numbers."""
    return step_model.parts(sg, nums, opts, Exact(sg, nums))


def _weights(sg, stages: int, trained: bool = False, copies: int = 1, together: bool = False):
    """Parameters one chip holds, as ``roofline.memory_per_chip`` counts them (forward nodes' weights
    times their repeats over the stages, over the axes that shard them, and the larger of a
    pipeline's two ends, or both where the schedule puts them ``together``, with ``copies`` of the
    layers); summed exactly per divisor, in units of 1/stages as ``roofline_terms`` does.
    ``trained``: without the layers' weights no gradient reaches (``roofline.frozen_weights``)."""
    from ..parallel.roofline import held_weights, pipeline_ends

    mesh, sizes = sg.graph["mesh"], sg.graph["sizes"]
    per_divisor: dict = {}
    shard: dict = {}          # dims -> (divisor, elements): a model's layers hold weights of a few shapes

    def sized(dims) -> tuple:
        got = shard.get(dims)
        if got is None:
            got = shard[dims] = (math.prod(exact(mesh[axis].size) for axis in layout(dims, mesh, weight=True)),
                                 _numel(dims, sizes))
        return got
    rows = family_rows(sg)
    held = rows["weights"] if rows else \
        ((d["repeat"] if per_layer(d) else None, dims, d.get("no_grad")) for d, dims in held_weights(sg))
    for repeat, dims, no_grad in held:
        if trained and no_grad:
            continue
        weight = stages if repeat is None else exact(repeat)
        divisor, elements = sized(dims)
        per_divisor[divisor] = per_divisor.get(divisor, 0) + elements * weight
    held = copies * _over(sum(Fraction(n, divisor) for divisor, n in per_divisor.items()), stages)
    if "stage" in mesh:        # the pipeline's two ends: the larger, both on one stage
        ends = [sum((Fraction(sized(dims)[1], sized(dims)[0]) for dims in end.values()), Fraction(0))
                for end in (rows["ends"] if rows else pipeline_ends(sg)).values()]
        held += sum(ends) if stages == 1 or together else max(ends)
    return held
