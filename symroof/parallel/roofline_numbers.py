"""The ideal roofline's terms of one run from its numbers directly: ``roofline.step`` (overlap "sum",
whole step, no latency floor, each ring collective at its (n-1)/n share: ``ring_factor``) with each
term an exact Python int or Fraction, so equal value for value to the symbolic terms evaluated
(tests/test_step_numbers.py). The rates and rules are ``step_numbers``'s, shared with the step
model's exact path."""

from __future__ import annotations

from fractions import Fraction

from ..core import symbols as sy
from ..core.graph import per_layer
from . import pipeline, placement
from .step_numbers import (Rates, _activation, _over, _row, _two_tier, collective_seconds, dispatch_share, exact,
                           family_rows)
from .step_table import Numbered


def roofline_terms(sg, nums: dict, schedule=None) -> dict:
    """``roofline.step(sg, "sum", schedule=schedule, ring_factor=True)`` evaluated at ``nums``: the
    same keys in the same order, each an exact int or Fraction. Exact, so summed in any grouping: the bytes of each
    kind of collective over each set of axes first, then times its seconds per byte."""
    mesh = sg.graph["mesh"]
    rates = Rates(nums, mesh)
    stages = exact(mesh["stage"].size) if "stage" in mesh else 1
    place = placement.charged(mesh, schedule, sg.graph.get("placement"))
    # a sharded family's graph brings its nodes' rows (sharded_family.Family.numeric: the same numbers),
    # for its own nodes only (a copy's could have changed), summed for one placement
    rows = family_rows(sg)
    flops, hbm, moved, critical = (rows["sums"] if rows and rows["placement"] == place
                                   else node_sums(node_rows(sg), stages, place))

    spans = sg.graph.get("spans") or {}
    dispatch = sg.graph.get("dispatch_nodes", 0)     # an MoE dispatch sent once per node (two_tier's per_node)

    def seconds(group, kinds: dict, num: int = 0, den: int = 1) -> tuple:
        """``num / den`` plus the group's seconds, as a numerator and denominator (no Fraction's gcd per term)."""
        axes, ranks = group
        for kind, v in kinds.items():
            n, d = rates.per_byte(kind, axes, True, ranks)
            if type(v) is int:
                n *= v
            else:
                n, d = n * v.numerator, d * v.denominator
            share = dispatch_share(kind, axes, dispatch, rates)
            if spans or share is not None:
                tier = _two_tier(axes, spans, rates, kind, share)
                n, d = n * tier.numerator, d * tier.denominator
            num, den = (num + n, den) if d == den else (num * d + n * den, den * d)
        return num, den
    per_axis: dict = {}          # axes -> (num, den) of their seconds, in units of 1/stages
    for group, kinds in moved.items():
        per_axis[group[0]] = seconds(group, kinds, *per_axis.get(group[0], (0, 1)))
    per_axis = {axes: Fraction(num, den * stages) for axes, (num, den) in per_axis.items()}
    t_math, t_hbm = _over(flops, stages * rates[sy.C]), _over(hbm, stages * rates[sy.W_hbm])
    stage = ("stage",)
    if "stage" in mesh:
        work = _chunk_work(sg, place) if pipeline.weighs_work(schedule) else None
        row = _row(schedule, stages, exact(nums[sy.n_micro]), exact(nums[sy.n_virtual]), work)
        t_math, t_hbm = t_math * (1 + row["bubble"]), t_hbm * (1 + row["bubble"])
        act = _over(_activation(sg, rates), exact(nums[sy.n_micro]))
        sends = 2 * row["sends_per_step"] * collective_seconds("SendRecv", act, [mesh["stage"]], rates)
        per_axis[stage] = per_axis.get(stage, 0) + sends
    links: dict = {}
    for axes, time in per_axis.items():
        link = mesh[axes[0]].link
        links[link] = links.get(link, 0) + time
    t_comms = sum(links.values()) if links else 0
    num, den = 0, 1
    for group, kinds in critical.items():
        if group[0] != stage:
            num, den = seconds(group, kinds, num, den)
    t_critical = Fraction(num, den * stages)
    return {"t_math": t_math, "t_hbm": t_hbm, "t_comms": t_comms, "t_comms_critical": t_critical,
            **{f"t_{link}": time for link, time in links.items()}, "t_step": max(t_math, t_hbm, t_comms)}


def weight(repeat, where, stages: int, place) -> tuple:
    """A node's instances on the chip in units of 1/stages, for its work and for its weights'
    collectives (once a step): ``repeat`` its layers (None for an op outside them), ``where`` its block
    type or end, ``place`` the chip's ``placement.Placement`` (None: one stage, or both ends whole)."""
    if repeat is not None:
        w = repeat if place is None or not place.shares else _whole(repeat * place.layers(where, stages) * stages)
        return w, w
    if place is None:
        return stages, stages
    share = place.end(where)
    return _whole(stages * share), stages if share else 0


def _whole(x):
    return x.numerator if type(x) is Fraction and x.denominator == 1 else x


def node_rows(sg):
    """Each node's numbers as ``node_sums`` reads them: (its repeat, or None where it is not repeated per layer,
    its block type or end, local FLOPs, local bytes, and per collective (kind, axes, volume, ranks, on the
    critical path?)), each exact."""
    for _, d in sg.nodes(data=True):
        yield (exact(d["repeat"]) if per_layer(d) else None, d["block"] if per_layer(d) else d.get("end"),
               exact(d["local_flops"]), exact(d["local_bytes"]),
               [(c.kind, c.axes, exact(c.volume), None if c.ranks is None else exact(c.ranks), c.on_critical_path)
                for c in d.get("collectives", ())])


def node_sums(rows, stages: int, place=None) -> tuple:
    """The FLOPs, bytes and collective bytes (``(axes, ranks) -> kind -> bytes``, all of them and the
    critical path's) of ``node_rows``, each sum in units of 1/stages, each node at its ``weight`` on the
    chip ``place`` says (the default: a node repeated per layer counts its repeats, one that is not, the
    embedding or the head, ``stages``)."""
    flops = hbm = 0
    moved: dict = {}
    critical: dict = {}
    for repeat, where, node_flops, node_bytes, colls in rows:
        w, once = weight(repeat, where, stages, place)
        flops += w * node_flops
        hbm += w * node_bytes
        for kind, axes, volume, ranks, on_path in colls:
            add_moved(moved, critical, (axes, ranks), kind, (w if on_path else once) * volume, on_path)
    return flops, hbm, moved, critical


def add_moved(moved: dict, critical: dict, group: tuple, kind: str, volume, on_path: bool) -> None:
    """Add a collective's bytes to ``node_sums``'s ``(axes, ranks) -> kind -> bytes`` (a sub-group is
    timed apart), and to the critical path's where it waits on it."""
    for sums in (moved, critical) if on_path else (moved,):
        kinds = sums.setdefault(group, {})
        kinds[kind] = kinds.get(kind, 0) + volume


def _chunk_work(sg, place=None) -> tuple:
    """``roofline.chunk_work`` exactly, from a graph whose costs are numbers (a family's rows, or its nodes)."""
    mesh = sg.graph["mesh"]
    stages = exact(mesh["stage"].size) if "stage" in mesh else 1
    nodes = (((d, sg.values[repeat], sg.values[flops]) for repeat, flops, *_, d, _ in sg.rows) if type(sg) is Numbered
             else ((d, d["repeat"], d["local_flops"]) for _, d in sg.nodes(data=True)))

    def on_chip(d, r, f):
        if per_layer(d):
            if place is None or not place.shares:
                return _over(exact(r) * exact(f), stages)
            return place.layers(d["block"], stages) * exact(r) * exact(f)
        return (1 if place is None else _whole(place.end(d.get("end")))) * exact(r) * exact(f)
    return pipeline.chunk_work((d, on_chip(d, r, f)) for d, r, f in nodes)
