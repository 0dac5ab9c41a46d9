"""Per-step roofline of a sharded graph: t_math, t_hbm, t_comms per link, step time, bound, memory.

All per chip and symbolic. The overlap model is a parameter, because the book changed it:

- ``"sum"`` (pinned book): communication overlaps compute, but the collectives on different
  mesh axes do not overlap each other, so ``t_comms`` is their sum;
- ``"max"`` (later revision): the axes overlap each other too, so ``t_comms`` is the largest,
  except where they share a chip's ports (``shares_ports``): a GPU's NVLink switch, any chip's
  scale-out NICs. Those collectives add even then; a torus's axes run on links of their own;
- ``"none"``: nothing overlaps; the step is compute plus every collective.

The step time is ``max(t_math, t_hbm, t_comms)`` (or the sum for ``"none"``): a roofline of
the whole step, in which HBM traffic, like communication, hides behind the matmuls until it
is the larger. Pipeline stages (a ``stage`` axis) divide the layers; the schedule
(``pipeline.SCHEDULES``: GPipe, 1F1B, interleaved) sets the bubble of idle time, the stage
sends and how many microbatches' activations a stage holds.
"""

from __future__ import annotations

from fractions import Fraction

import networkx as nx
import sympy as sp

from ..core import ops
from ..core.graph import per_layer
from ..core.recompute import outside_saved, saved_bytes
from ..parallel import pipeline, placement
from ..parallel.collectives import collective_time, dispatch_share
from ..parallel.sharding import layout
from ..parallel.topology import shares_ports
from ..core.symbols import C, W_hbm, b_act, b_grad, b_mask, b_opt, b_param, n_ckpt, n_micro

PHASES = ("forward", "backward")


def _repeat(d, mesh, place=None) -> sp.Expr:
    """A node's instances on one chip (``place``: its ``placement.Placement``; None: without a stage
    axis, or the weights a chip holds): its share of its block type's layers, or for an op outside the
    layers the share of the step's microbatches the chip runs its end for."""
    stages = mesh["stage"].size if "stage" in mesh else 1
    if per_layer(d):
        if place is None or not place.shares:
            return d["repeat"] / stages
        return d["repeat"] * _rational(place.layers(d["block"], stages))
    return d["repeat"] if place is None else d["repeat"] * _rational(place.end(d.get("end")))


def _once(d, mesh, place) -> sp.Expr:
    """``_repeat``, but a weight's collectives of the ends once a step, on the chip that holds that end."""
    if per_layer(d) or place is None:
        return _repeat(d, mesh, place)
    return d["repeat"] if place.end(d.get("end")) else sp.Integer(0)


def _place(sg: nx.DiGraph, schedule):
    return placement.charged(sg.graph["mesh"], schedule, sg.graph.get("placement"))


def _rational(x) -> sp.Expr:
    return sp.Rational(x.numerator, x.denominator) if isinstance(x, Fraction) else x


def comms_by_axis(sg: nx.DiGraph, phase: str | None = None, ring_factor: bool = False,
                  critical_only: bool = False, latency: bool = False,
                  schedule=None, accumulate: bool = False) -> dict[str, sp.Expr]:
    """Collective time per (group of) mesh axes, e.g. ``{"fsdp": ..., "tensor": ..., "pod": ...}``.

    ``critical_only`` keeps the collectives of activations, which the next op waits for.
    ``schedule`` names the pipeline schedule (``pipeline.SCHEDULES``) behind the stage sends.
    ``accumulate``: the step runs its batch as ``n_micro`` microbatches without a pipeline, each
    holding the weights sharded as ``memory_per_chip`` counts them, so an fsdp axis gathers the
    weights and reduce-scatters the gradients once per microbatch (ZeRO-3; the step model's rule).
    """
    mesh = sg.graph["mesh"]
    regather = accumulate and "stage" not in mesh
    spans = sg.graph.get("spans") or {}       # dcn axes that span two tiers (collectives.two_tier)
    dispatch = sg.graph.get("dispatch_nodes", 0)      # an MoE dispatch sent once per node (its per_node)
    out: dict[str, sp.Expr] = {}
    place = _place(sg, schedule)
    for _, d in sg.nodes(data=True):
        if phase is not None and d["phase"] != phase:
            continue
        for c in d.get("collectives", ()):
            if critical_only and not c.on_critical_path:
                continue
            key = "+".join(c.axes)
            # the ends' activations move for their share of the microbatches, their weights once a step
            times = (_repeat if c.on_critical_path else _once)(d, mesh, place)
            if regather and not c.on_critical_path and "fsdp" in c.axes:
                times = times * n_micro
            time = times * collective_time(c.kind, c.volume, [mesh[a] for a in c.axes], ring_factor, latency, spans,
                                           c.ranks, dispatch_share(c.kind, c.axes, dispatch))
            out[key] = out.get(key, sp.Integer(0)) + time
    if "stage" in mesh:
        out["stage"] = out.get("stage", sp.Integer(0)) + _pipeline_sends(sg, phase, schedule, latency)
    return out


def _pipeline_sends(sg: nx.DiGraph, phase, schedule, latency: bool = False) -> sp.Expr:
    """Stage-to-stage sends of one step: each of the ``n_micro`` microbatches sends its slice of
    the block input (this chip's shard) ``sends`` times per phase, point to point."""
    mesh = sg.graph["mesh"]
    dims = sg.graph["tensor_dims"][sg.graph["layer_input"]]
    act = ops.numel(dims, sg.graph["sizes"]) * b_act
    for axis, dim in layout(dims, mesh, weight=False).items():
        act = act / mesh[axis].size
    sends = pipeline.row(schedule, mesh["stage"].size)["sends_per_step"]
    per_phase = sends * collective_time("SendRecv", act / n_micro, [mesh["stage"]], latency=latency)
    return per_phase * (2 if phase is None else 1)     # activations forward, gradients backward


def link_times(sg: nx.DiGraph, overlap: str = "sum", phase: str | None = None,
               latency: bool = False, schedule=None, simplify: bool = True,
               accumulate: bool = False, ring_factor: bool = False) -> dict[str, sp.Expr]:
    """t_comms per link class (``ici``, ``dcn``) under the overlap model."""
    mesh = sg.graph["mesh"]
    per_axis = comms_by_axis(sg, phase, ring_factor, latency=latency, schedule=schedule, accumulate=accumulate)
    out: dict[str, list] = {}
    switched: dict[str, bool] = {}
    for key, time in per_axis.items():
        axis = mesh[key.split("+")[0]]
        out.setdefault(axis.link, []).append(time)
        switched[axis.link] = switched.get(axis.link, True) and axis.switched
    return {link: _combine("sum" if shares_ports(link, switched[link]) else overlap, times, simplify)
            for link, times in out.items()}


def _combine(overlap: str, times, simplify: bool = True) -> sp.Expr:
    """Sum (overlap "sum"/"none") or Max ("max"); ``simplify=False`` leaves the Max unevaluated,
    which is numerically the same and skips SymPy's costly search for dominated arguments."""
    if overlap in ("sum", "none"):
        return sp.Add(*times)
    return sp.Max(*times) if simplify else sp.Max(*times, evaluate=False)


def work(sg: nx.DiGraph, phase: str | None = None, schedule=None) -> tuple[sp.Expr, sp.Expr]:
    """``(t_math, t_hbm)`` of one step per chip, a pipeline's idle fraction included: the part of
    ``step`` that needs no collective (the planner takes its comms per axis instead)."""
    mesh = sg.graph["mesh"]
    nodes = [d for _, d in sg.nodes(data=True) if phase is None or d["phase"] == phase]
    place = _place(sg, schedule)
    t_math = sp.Add(*(_repeat(d, mesh, place) * d["local_flops"] for d in nodes)) / C
    t_hbm = sp.Add(*(_repeat(d, mesh, place) * d["local_bytes"] for d in nodes)) / W_hbm
    if "stage" in mesh:       # the schedule's idle fraction (pipeline.SCHEDULES)
        work = chunk_work(sg, schedule) if pipeline.weighs_work(schedule) else None
        bubble = pipeline.row(schedule, mesh["stage"].size, work=work)["bubble"]
        t_math, t_hbm = t_math * (1 + bubble), t_hbm * (1 + bubble)
    return t_math, t_hbm


def chunk_work(sg: nx.DiGraph, schedule=None) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """A chip's (F, B, W) of one step in FLOPs (``pipeline.chunk_work``; the bubble's ``w_F``, ``w_B``, ``w_W``)."""
    mesh, place = sg.graph["mesh"], _place(sg, schedule)
    return pipeline.chunk_work(((d, _repeat(d, mesh, place) * d["local_flops"]) for _, d in sg.nodes(data=True)),
                               lambda terms: sp.Add(*terms))


def step(sg: nx.DiGraph, overlap: str = "sum", phase: str | None = None,
         latency: bool = False, schedule=None, simplify: bool = True,
         accumulate: bool = False, ring_factor: bool = False) -> dict[str, sp.Expr]:
    """``t_math``, ``t_hbm``, ``t_comms`` (and per link), ``t_step`` for one step, per chip.

    ``latency=True`` adds the book's per-hop floor to every collective (needs ``t_hop``).
    ``schedule``: the pipeline schedule of a ``stage`` axis (default ``pipeline.DEFAULT``).
    ``simplify=False`` keeps every ``Max`` unevaluated: equal in value, much faster to build
    (the planner, which evaluates numerically, uses it). ``accumulate``: ``comms_by_axis``'s.
    ``ring_factor``: each ring collective moves its (n-1)/n share, as a ring does (the book drops
    it, which overstates a small ring's time: twice over two ranks); ``validate``'s bound keeps it.
    """
    if overlap not in ("sum", "max", "none"):
        raise ValueError(f"overlap must be 'sum', 'max' or 'none', not {overlap!r}")
    t_math, t_hbm = work(sg, phase, schedule)
    links = link_times(sg, overlap, phase, latency, schedule, simplify, accumulate, ring_factor)
    t_comms = _combine(overlap, links.values(), simplify) if links else sp.Integer(0)
    top = (lambda *xs: sp.Max(*xs)) if simplify else (lambda *xs: sp.Max(*xs, evaluate=False))  # noqa: E731
    if overlap == "none":
        t_step = top(t_math, t_hbm) + t_comms
    else:
        t_step = top(t_math, t_hbm, t_comms)
    critical = comms_by_axis(sg, phase, ring_factor, critical_only=True, schedule=schedule)
    t_critical = sp.Add(*(t for key, t in critical.items() if key != "stage"))
    return {"t_math": t_math, "t_hbm": t_hbm, "t_comms": t_comms, "t_comms_critical": t_critical,
            **{f"t_{link}": time for link, time in links.items()}, "t_step": t_step}


def _local(dims, mesh, sizes, fused: bool = False) -> sp.Expr:
    """Elements of one chip's shard of an activation (none for an on-chip T×S score matrix)."""
    n = ops.hbm_elements(dims, sizes, fused) if fused else ops.numel(dims, sizes)
    for axis in layout(dims, mesh, weight=False):
        n = n / mesh[axis].size
    return n


def _shard(dims, mesh, sizes, whole: tuple = ()) -> sp.Expr:
    """Elements of one chip's shard of a weight; ``whole``: axes over which it is held whole."""
    n = ops.numel(dims, sizes)
    for axis in layout(dims, mesh, weight=True):
        if axis not in whole:
            n = n / mesh[axis].size
    return n


def held_weights(sg: nx.DiGraph):
    """(forward node, weight dims) of every weight a chip holds, whole or sharded: with a ``stage``
    axis the layers' only (a share of them); the ends are ``pipeline_ends``'."""
    staged = "stage" in sg.graph["mesh"]
    for _, d in sg.nodes(data=True):
        if d["phase"] == "forward" and (per_layer(d) or not staged):
            yield from ((d, dims) for dims in d["params"].values())


def _first_end(sg: nx.DiGraph) -> set:
    """The ops before the layers (the token tables): the pipeline's first stage's end."""
    return nx.ancestors(sg, sg.graph["layer_input"]) | {sg.graph["layer_input"]}


def pipeline_ends(sg: nx.DiGraph) -> dict[str, dict]:
    """The weights outside the layers on the pipeline's first stage (the token tables, before the
    layers) and on its last (final norm and head), ``{"first": {name: dims}, "last": {...}}``. On
    two or more stages a chip holds one end at most, so the larger counts, not both (Narayanan et
    al. 2021, 2.2: the embedding on the first stage, the head on the last); a table tied to the
    head is on both, as Megatron-LM keeps it (parallel/replicas.py). One stage holds both ends."""
    first = _first_end(sg)
    params = sg.graph["param_dims"]
    out: dict[str, dict] = {"first": {}, "last": {}}
    for name, d in sg.nodes(data=True):
        if d["phase"] == "forward" and not per_layer(d):
            read = set(d["params"]) | {ref for role, ref in d["operands"] if role == "w" and ref in params}
            out["first" if name in first else "last"].update({p: params[p] for p in read})
    return out


def end_activations(sg: nx.DiGraph, local) -> dict[str, sp.Expr]:
    """Bytes per chip one step's batch leaves saved by the ops outside the blocks
    (``recompute.outside_saved``: the final norm's input, the head's input, the logits the loss's
    backward reads), at the pipeline's ``"first"`` and ``"last"`` end; ``local(dims)`` counts
    one chip's elements of a tensor, as for the blocks' saved tensors."""
    first, dims_of = _first_end(sg), sg.graph["tensor_dims"]
    out = {"first": sp.Integer(0), "last": sp.Integer(0)}
    for t, reader in outside_saved(sg).items():
        size = local(dims_of[t]) * b_act if isinstance(t, str) else local(dims_of[t[0]]) * b_mask
        out["first" if reader in first else "last"] += size
    return out


def frozen_weights(sg: nx.DiGraph) -> sp.Expr:
    """The share of the weights a chip holds that no gradient reaches (``derive.frozen_params``: DSA's
    indexer, run under torch.no_grad): held, but with no gradient, optimizer state or update."""
    mesh, sizes = sg.graph["mesh"], sg.graph["sizes"]
    return sp.Add(*(_shard(dims, mesh, sizes) * _repeat(d, mesh) for d, dims in held_weights(sg) if d.get("no_grad")))


def memory_per_chip(sg: nx.DiGraph, schedule=None, recompute=None) -> dict[str, sp.Expr]:
    """Bytes per chip: weights, gradients and optimizer state as sharded, the blocks' checkpoints,
    and what the ops outside the blocks save (``head``: ``end_activations``, kept under any policy).

    ``recompute=None`` counts ``n_ckpt`` block inputs per layer (the ``--ckpt`` convention);
    a policy (core/recompute.py) counts what each block saves under it, as sharded. Without a
    ``stage`` axis ``total`` is the parts' sum, the activations one microbatch's (``1/n_micro`` of
    the batch: gradient accumulation frees each microbatch's after its backward). With one, a chip
    holds its share of the layers' weights and activations, each microbatch ``1/n_micro`` of its
    batch; the first stage holds the
    embedding and the schedule's ``in_flight`` microbatches, the last the final norm, the head and
    its ``in_flight_last`` (pipeline.py: GPipe m on both, 1F1B p and 1), so ``total`` is the larger
    of those two stages' sums (a middle stage holds no end and no more microbatches than the
    first). The parts are then each the most any stage holds: params, gradients and optimizer
    the larger end (``pipeline_ends``), checkpoints the first stage's, head each end's with its
    stage's count; ``total`` is no more than their sum.

    A pipeline's fsdp axis gathers its stage's weights once a step and keeps them through the
    microbatches, their gradients summed whole until one reduce-scatter (torchtitan's default under
    a pipeline, distributed/fsdp.py: no reshard after forward "to avoid per-microbatch all-gathers";
    MaxText's pipeline_fsdp_ag_once; Megatron-LM's distributed optimizer holds the same bytes): only
    the optimizer state stays sharded over it (and over a seq axis beside it, which shards the
    weights with it: one gather over both), as the step's one gather and one scatter
    (``comms_by_axis``) assume: ``total`` holds that whole copy (``_whole``), the parts stay as
    sharded (what the optimizer step reads and writes).
    """
    mesh = sg.graph["mesh"]
    sizes = sg.graph["sizes"]
    fused = sg.graph.get("fused_attention", True)
    weights = sp.Add(*(_shard(dims, mesh, sizes) * _repeat(d, mesh) for d, dims in held_weights(sg)))
    layers, frozen = weights, frozen_weights(sg)
    if "stage" in mesh:
        row = pipeline.row(schedule, mesh["stage"].size)
        # both ends on one stage, the larger on two or more (Min(1, p - 1): the size may be a symbol);
        # DualPipe's end chips and DualPipeV's first hold both ends, and DualPipe two copies of the layers
        first, last = (sp.Add(*(_shard(dims, mesh, sizes) for dims in end.values()))
                       for end in pipeline_ends(sg).values())
        apart = 0 if row["copies"] > 1 or row["together"] else sp.Min(1, mesh["stage"].size - 1)
        layers, frozen = row["copies"] * layers, row["copies"] * frozen
        weights = layers + first + last - sp.Min(first, last) * apart
    stages = mesh["stage"].size if "stage" in mesh else 1
    if recompute is None:
        ckpt = sp.Integer(0)      # n_ckpt block inputs per layer, each sharded like an activation
        for block, x in sg.graph["block_inputs"].items():
            ckpt += _local(sg.graph["tensor_dims"][x], mesh, sizes) * sg.graph["blocks"][block] / stages
        ckpt = n_ckpt * ckpt * b_act
    else:
        local = lambda dims: _local(dims, mesh, sizes, fused)   # noqa: E731
        per = saved_bytes(sg, recompute, local)
        ckpt = sp.Add(*(per[block] * sg.graph["blocks"][block] / stages for block in per))
    ends = end_activations(sg, lambda dims: _local(dims, mesh, sizes, fused))
    trained = weights - frozen
    parts = {"params": b_param * weights, "gradients": b_grad * trained, "optimizer": b_opt * trained}
    if "stage" not in mesh:     # gradient accumulation: one microbatch's activations at a time
        parts.update(checkpoints=ckpt / n_micro, head=(ends["first"] + ends["last"]) / n_micro)
        parts["total"] = sp.Add(*parts.values())
        return parts
    held_first, held_last = row["in_flight"] / n_micro, row["in_flight_last"] / n_micro
    per_weight = b_param + b_grad + b_opt
    whole = _whole(sg, row["copies"])
    if whole is None:
        state = b_param * layers + (b_grad + b_opt) * (layers - frozen)
        first_b, last_b = per_weight * first, per_weight * last
    else:       # a pipeline's fsdp axis: weights and gradients whole, the optimizer state sharded
        layers_w, frozen_w, first_w, last_w = whole
        state = b_param * layers_w + b_grad * (layers_w - frozen_w) + b_opt * (layers - frozen)
        first_b = (b_param + b_grad) * first_w + b_opt * first
        last_b = (b_param + b_grad) * last_w + b_opt * last
    # what the two end stages hold beyond what every stage holds (the Max compares only these: SymPy's
    # ordering of two sums costs in their size)
    first_stage = first_b + (1 - apart) * last_b + (ckpt + ends["first"] + (1 - apart) * ends["last"]) * held_first
    last_stage = last_b + (1 - apart) * first_b + (ckpt + ends["last"] + (1 - apart) * ends["first"]) * held_last
    parts.update(checkpoints=ckpt * held_first, head=ends["first"] * held_first + ends["last"] * held_last,
                 total=state + sp.Max(first_stage, last_stage))
    return parts


def _whole(sg: nx.DiGraph, copies) -> tuple | None:
    """With a pipeline's fsdp axis, the weights a chip holds whole over it (``memory_per_chip``):
    (its layers', their frozen share, its first end's, its last end's); None without one."""
    mesh, sizes = sg.graph["mesh"], sg.graph["sizes"]
    if "fsdp" not in mesh:
        return None
    # a seq axis beside fsdp splits the weights with it, and they are gathered over both at once
    whole = lambda dims: _shard(dims, mesh, sizes, whole=("fsdp", "seq"))    # noqa: E731
    held = [(d, whole(dims) * _repeat(d, mesh)) for d, dims in held_weights(sg)]
    first_w, last_w = (sp.Add(*(whole(dims) for dims in end.values())) for end in pipeline_ends(sg).values())
    return (copies * sp.Add(*(n for _, n in held)), copies * sp.Add(*(n for d, n in held if d.get("no_grad"))),
            first_w, last_w)
