"""Per-step roofline of a sharded graph: t_math, t_hbm, t_comms per link, step time, bound, memory.

All per chip and symbolic. The overlap model is a parameter, because the book changed it:

- ``"sum"`` (pinned book): communication overlaps compute, but the collectives on different
  mesh axes do not overlap each other, so ``t_comms`` is their sum;
- ``"max"`` (later revision): the axes overlap each other too, so ``t_comms`` is the largest;
- ``"none"``: nothing overlaps; the step is compute plus every collective.

The step time is ``max(t_math, t_hbm, t_comms)`` (or the sum for ``"none"``): a roofline of
the whole step, in which HBM traffic, like communication, hides behind the matmuls until it
is the larger. Pipeline stages (a ``stage`` axis) divide the layers and add the bubble
``(P-1)/n_micro`` of idle time.
"""

from __future__ import annotations

import networkx as nx
import sympy as sp

from ..core import ops
from ..parallel.collectives import collective_time
from ..parallel.sharding import layout
from ..core.symbols import C, W_hbm, b_act, b_grad, b_opt, b_param, n_ckpt, n_micro

PHASES = ("forward", "backward")


def _repeat(d, mesh) -> sp.Expr:
    stages = mesh["stage"].size if "stage" in mesh else 1
    return d["repeat"] / stages if d["repeat"] != 1 else d["repeat"]


def comms_by_axis(sg: nx.DiGraph, phase: str | None = None, ring_factor: bool = False,
                  critical_only: bool = False, latency: bool = False) -> dict[str, sp.Expr]:
    """Collective time per (group of) mesh axes, e.g. ``{"fsdp": ..., "tensor": ..., "pod": ...}``.

    ``critical_only`` keeps the collectives of activations, which the next op waits for.
    """
    mesh = sg.graph["mesh"]
    out: dict[str, sp.Expr] = {}
    for _, d in sg.nodes(data=True):
        if phase is not None and d["phase"] != phase:
            continue
        for c in d.get("collectives", ()):
            if critical_only and not c.on_critical_path:
                continue
            key = "+".join(c.axes)
            time = _repeat(d, mesh) * collective_time(c.kind, c.volume, [mesh[a] for a in c.axes],
                                                      ring_factor, latency)
            out[key] = out.get(key, sp.Integer(0)) + time
    if "stage" in mesh:
        out["stage"] = out.get("stage", sp.Integer(0)) + _pipeline_sends(sg, phase)
    return out


def _pipeline_sends(sg: nx.DiGraph, phase) -> sp.Expr:
    """Stage-to-stage activation sends: the layer input, once per phase, over one one-way link."""
    mesh = sg.graph["mesh"]
    dims = sg.graph["tensor_dims"][sg.graph["layer_input"]]
    act = ops.numel(dims, sg.graph["sizes"]) * b_act
    for axis, dim in layout(dims, mesh, weight=False).items():
        act = act / mesh[axis].size
    link = collective_time("AllGather", act, [mesh["stage"]]) * 2   # one direction of a bidi link
    return link * (2 if phase is None else 1)


def link_times(sg: nx.DiGraph, overlap: str = "sum", phase: str | None = None,
               latency: bool = False) -> dict[str, sp.Expr]:
    """t_comms per link class (``ici``, ``dcn``) under the overlap model."""
    mesh = sg.graph["mesh"]
    per_axis = comms_by_axis(sg, phase, latency=latency)
    out: dict[str, list] = {}
    for key, time in per_axis.items():
        link = mesh[key.split("+")[0]].link
        out.setdefault(link, []).append(time)
    combine = sp.Add if overlap in ("sum", "none") else sp.Max
    return {link: combine(*times) for link, times in out.items()}


def step(sg: nx.DiGraph, overlap: str = "sum", phase: str | None = None,
         latency: bool = False) -> dict[str, sp.Expr]:
    """``t_math``, ``t_hbm``, ``t_comms`` (and per link), ``t_step`` for one step, per chip.

    ``latency=True`` adds the book's per-hop floor to every collective (needs ``t_hop``).
    """
    if overlap not in ("sum", "max", "none"):
        raise ValueError(f"overlap must be 'sum', 'max' or 'none', not {overlap!r}")
    mesh = sg.graph["mesh"]
    nodes = [d for _, d in sg.nodes(data=True) if phase is None or d["phase"] == phase]
    t_math = sp.Add(*(_repeat(d, mesh) * d["local_flops"] for d in nodes)) / C
    t_hbm = sp.Add(*(_repeat(d, mesh) * d["local_bytes"] for d in nodes)) / W_hbm
    links = link_times(sg, overlap, phase, latency)
    combine = sp.Add if overlap in ("sum", "none") else sp.Max
    t_comms = combine(*links.values()) if links else sp.Integer(0)
    if "stage" in mesh:       # GPipe-style bubble: (P-1) idle microbatch slots per step
        bubble = (mesh["stage"].size - 1) / n_micro
        t_math, t_hbm = t_math * (1 + bubble), t_hbm * (1 + bubble)
    if overlap == "none":
        t_step = sp.Max(t_math, t_hbm) + t_comms
    else:
        t_step = sp.Max(t_math, t_hbm, t_comms)
    critical = comms_by_axis(sg, phase, critical_only=True)
    t_critical = sp.Add(*(t for key, t in critical.items() if key != "stage"))
    return {"t_math": t_math, "t_hbm": t_hbm, "t_comms": t_comms, "t_comms_critical": t_critical,
            **{f"t_{link}": time for link, time in links.items()}, "t_step": t_step}


def memory_per_chip(sg: nx.DiGraph) -> dict[str, sp.Expr]:
    """Bytes per chip: weights, gradients and optimizer state as sharded, plus checkpoints."""
    mesh = sg.graph["mesh"]
    sizes = sg.graph["sizes"]
    weights = sp.Integer(0)
    for _, d in sg.nodes(data=True):
        if d["phase"] != "forward":
            continue
        for dims in d["params"].values():
            n = ops.numel(dims, sizes) * _repeat(d, mesh)
            for axis, dim in layout(dims, mesh, weight=True).items():
                n = n / mesh[axis].size
            weights += n
    ckpt = sp.Integer(0)      # one block input per layer, each sharded like an activation
    stages = mesh["stage"].size if "stage" in mesh else 1
    for block, x in sg.graph["block_inputs"].items():
        dims = sg.graph["tensor_dims"][x]
        n = ops.numel(dims, sizes) * sg.graph["blocks"][block] / stages
        for axis, dim in layout(dims, mesh, weight=False).items():
            n = n / mesh[axis].size
        ckpt += n
    parts = {"params": b_param * weights, "gradients": b_grad * weights, "optimizer": b_opt * weights,
             "checkpoints": n_ckpt * ckpt * b_act}
    parts["total"] = sp.Add(*parts.values())
    return parts
