"""What ``step_model.parts`` reads of a sharded graph's nodes, as one table of rows.

Most of what the step model asks of a node depends on the graph alone: its op, signature, phase,
whether it repeats per layer, each collective's kind, axes, link and whether it waits on the
critical path or joins the tail. ``node_table`` reads those once into rows; the numbers (a node's
repeat, FLOPs, bytes, each collective's volume and ranks) are positions in a list of values. A
graph's own values are its nodes' costs (``node_table`` lists them as it goes); a sharded family
(claims/sharded_family.py) makes its table once, with its slots as the positions, and each run
brings its own list: runs of one family then share every graph read.
"""

from __future__ import annotations

import math

from ..core.graph import per_layer
from . import kernels, low_precision

BATCH_AXES = ("pod", "data", "fsdp", "expert")
_REDUCTIONS = ("AllReduce", "ReduceScatter")


def node_table(sg, slot=None) -> tuple[list, list]:
    """``(rows, values)``: a row per node that is not an input, in the graph's order,

        (repeat, FLOPs, bytes, per layer?, contraction?, signature, attention core?, weight matmul?,
         backward?, the node, collectives)

    and per collective (kind, axes, link, on the critical path?, bucketed?, over fsdp?, a gradient
    reduction?, in the tail?, volume, ranks), each number a position in ``values``; ``slot(expr)`` gives that
    position (a family's), by default the next one of ``values``, the node's own number appended."""
    values: list = []
    if slot is None:
        def slot(value) -> int:
            values.append(value)
            return len(values) - 1
    mesh = sg.graph["mesh"]
    # outside the layers only the token tables' gradients are reduced after the last backward op (the
    # lookup is the first op); the head's and the final norm's are the backward's first, and hide
    last_reduced = {f"d({p})" for _, d in sg.nodes(data=True)
                    if d["phase"] == "forward" and d.get("param_group") == "embedding" for p in d["params"]}
    rows = []
    for _, d in sg.nodes(data=True):
        if d["op"] == "input":
            continue
        layered, contraction = per_layer(d), d["op"] == "contraction"
        sig = d["sig"] if contraction else None
        core = contraction and kernels.is_attention_core(sig)
        weights = contraction and layered and not core and low_precision.weight_matmul(sg, d)
        backward = d["phase"] == "backward"
        repeat, flops, hbm = slot(d["repeat"]), slot(d["local_flops"]), slot(d["local_bytes"])
        colls = []
        for c in d.get("collectives", ()):
            # gradient reductions over the batch axes, and among a weight's copies (a replicated KV
            # head's chips, the tied table's two stages: parallel/replicas.py)
            grads = backward and c.kind in _REDUCTIONS and (any(a in BATCH_AXES for a in c.axes) or c.ranks is not None)
            tail = grads and (layered or c.tensor in last_reduced)
            colls.append((c.kind, c.axes, mesh[c.axes[0]].link, c.on_critical_path, c.bucketed, "fsdp" in c.axes,
                          grads, tail, slot(c.volume), None if c.ranks is None else slot(c.ranks)))
        rows.append((repeat, flops, hbm, layered, contraction, sig, core, weights, backward, d, colls))
    return rows, values


def roof(matmul: list) -> tuple:
    """``step_model.Parts``' matmuls as ``(ratios, hbm_below, flop_from)``: the matmuls' flop/hbm ratios sorted (no HBM time: never
    HBM-bound), the HBM seconds of the first k and the compute seconds of the rest, for each k."""
    rows = sorted((flop / hbm if hbm > 0 else math.inf, flop, hbm) for flop, hbm in matmul)
    hbm_below, flop_from = [0.0], [0.0]
    for _, _, hbm in rows:
        hbm_below.append(hbm_below[-1] + hbm)
    for _, flop, _ in reversed(rows):
        flop_from.append(flop_from[-1] + flop)
    return [r for r, _, _ in rows], hbm_below, flop_from[::-1]


class Numbered:
    """A sharded family's graph with one run's numbers in, as the numeric path reads it: the graph's
    attributes (``graph``), the family's ``node_table`` rows (``rows``) and the run's exact numbers
    by slot (``values``); no nodes, so nothing can read a node this run's numbers are not in."""

    __slots__ = ("graph", "rows", "values", "_node")

    def __init__(self, graph: dict, rows: list, values: list):
        self.graph, self.rows, self.values = graph, rows, values
        self._node: dict = {}         # step_numbers.family_rows's owner: this object's own
