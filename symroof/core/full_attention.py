"""The graph under the full attention convention, made from the causal one's.

In training and prefill the two conventions of ``graph.build`` differ only in how much of the
attention core they count (``graph.core_scale``: half of the T×S core, a window's or a chunk's pairs,
a sparse layer's keys, against all of it); the ops, their shapes, bytes and edges are the same. So the
full graph is the causal one's nodes with the FLOPs of each op whose scale differs worked out again at
the full scale, by the builder's own rules (``graph.forward_flops``, ``backward.gradient_flops`` and
``gradient_vector_flops``), and the causal graph's edges (both graphs are read-only). Attribute for
attribute it is the graph built op by op (tests/test_full_attention.py, on every card); a cold
``validate``, which counts every model under both conventions, built each model's graph twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .backward import gradient_flops, gradient_vector_flops
from .graph import _Builder, core_scale, forward_flops, operand, with_own_nodes

if TYPE_CHECKING:
    import networkx as nx


def rescored(causal: nx.DiGraph, kernel: str) -> nx.DiGraph:
    """The full-attention graph of ``causal`` (a causal graph of training or prefill, ``kernel``'s)."""
    phase = causal.graph["phase"]
    if causal.graph["attention"] != "causal" or phase == "decode":
        raise ValueError("rescored takes a causal graph of training or prefill")
    full = with_own_nodes(causal)
    full.graph.update({k: dict(v) if type(v) is dict else v for k, v in causal.graph.items()}, attention="full")
    was, now = _view(causal, "causal", kernel), _view(full, "full", kernel)
    for name, d in full._node.items():
        if d["op"] == "input":
            continue
        forward = d["forward"] if d["phase"] == "backward" else name
        node = causal._node[forward]
        scale = core_scale(now, node)
        if scale == core_scale(was, node):
            continue
        if d["phase"] != "backward":
            d["flops"], d["vector_flops"] = forward_flops(now, name, scale)
            continue
        scale *= node.get("grad_share", 1)          # as backward.add_backward scales a gradient
        if d["op"] == "contraction":
            ref = next(ref for role, ref in node["operands"] if role == d["wrt"])
            d["flops"] = gradient_flops(now, d["sig"], operand(now, ref)[0], scale)
        else:
            d["vector_flops"] = gradient_vector_flops(now, forward, scale)
    return full


def _view(g: nx.DiGraph, attention: str, kernel: str) -> _Builder:
    """A builder over the finished graph ``g``: what ``core_scale`` and the FLOP rules read."""
    b = _Builder(attention, kernel, g.graph["phase"])
    b.g, b.sizes, b.dims, b.param_dims = g, g.graph["sizes"], g.graph["tensor_dims"], g.graph["param_dims"]
    return b
