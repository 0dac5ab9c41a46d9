"""The backward pass, made from the forward graph by rule; nothing in it is written out by hand.

Each contraction ``y = x·W`` yields ``dx = dy·Wᵀ`` and ``dW = xᵀ·dy`` (``ops.Signature.gradient``):
the same dimensions, so the same FLOPs. Each elementwise op yields one gradient op that
reads ``dy`` and the op's saved inputs and writes the input gradients (ops.ELEMENTWISE's
backward column). An op marked ``no_grad`` (run under ``torch.no_grad``) has none.
"""

from __future__ import annotations

import networkx as nx
import sympy as sp

from . import ops
from .graph import core_scale, elements, operand, width
from .symbols import b_mask


def add_backward(b) -> None:
    """Add the backward ops of builder ``b``'s forward graph, wired from the gradient producers
    of each op's consumers."""
    g, size = b.g, b.sizes
    hbm = lambda dims: ops.hbm_elements(dims, size, b.fused)   # noqa: E731
    forward = [n for n in nx.topological_sort(g) if g.nodes[n]["op"] != "input"]
    grad_of: dict[tuple[str, str], str] = {}     # (forward op, operand role) -> backward node
    for name in reversed(forward):
        node = g.nodes[name]
        if node.get("no_grad"):        # run under torch.no_grad (DSA's indexer): no backward, no saved tensors
            continue
        # grad_share: a linear-attention recurrence's gradients together cost twice its forward, as a
        # matmul's dx and dW do, over its four operands (linear_attention.py)
        scale = core_scale(b, node) * node.get("grad_share", 1)
        dy = hbm(b.dims[name]) * width(b, name)
        operands = [(r, ref) for r, ref in node["operands"] if r != "ids"]
        new = []
        if node["op"] == "contraction":
            for i, (role, ref) in enumerate(operands):
                sig = node["sig"].gradient(i)
                others = [operand(b, o) for j, (_, o) in enumerate(operands) if j != i]
                dims, w = operand(b, ref)
                traffic = sp.Add(dy, *(hbm(d) * wo for d, wo in others), hbm(dims) * w)
                grad = f"{name}:d{role}"
                g.add_node(grad, op="contraction", sig=sig, flops=gradient_flops(b, sig, dims, scale),
                           vector_flops=2 * node.get("vector_extra", 0) / len(operands), bytes=traffic, wrt=role)
                grad_of[(name, role)] = grad
                new.append(grad)
        else:
            saved = sp.Add(*(hbm(dims) * w for dims, w in (operand(b, r) for _, r in operands)))
            grad = f"{name}:grad"
            g.add_node(grad, op=node["op"], flops=sp.Integer(0), vector_flops=gradient_vector_flops(b, name, scale),
                       bytes=dy + 2 * saved, wrt="all")
            if node["op"] == "dropout":        # reads dy and its mask (not its input), writes dx
                g.nodes[grad]["bytes"] = dy + hbm(b.dims[name]) * (b_mask + width(b, name))
            for role, _ in operands:
                grad_of[(name, role)] = grad
            new.append(grad)
        for grad in new:
            g.nodes[grad].update(phase="backward", forward=name, repeat=node["repeat"], block=node["block"],
                                 param_group=node["param_group"], params={},
                                 attention_core=node["attention_core"])
            for _, consumer, data in g.out_edges(name, data=True):
                if g.nodes[consumer]["phase"] == "forward" and not g.nodes[consumer].get("no_grad"):
                    g.add_edge(grad_of[(consumer, data["role"])], grad, tensor=f"d({name})",
                               dims=b.dims[name], shape=tuple(size[d] for d in b.dims[name]))
            for _, ref in operands:            # tensors saved from the forward pass
                if ref in b.dims and ref != name:
                    g.add_edge(ref, grad, tensor=ref, saved=True, dims=b.dims[ref],
                               shape=tuple(size[d] for d in b.dims[ref]))


def gradient_flops(b, sig, dims, scale):
    """FLOPs of a contraction's gradient ``sig`` with respect to an operand of ``dims``, at ``scale``."""
    flops = scale * ops.contraction_flops(sig, b.sizes)
    if not sig.contracted and set(sig.output) - set(dims):
        # a sliding-window view of its tensor (a conv's taps: dimensions the tensor lacks) sums
        # nothing here, but its gradient folds the windows back: one add per element of the view
        flops *= 2
    return flops


def gradient_vector_flops(b, name: str, scale):
    """Vector FLOPs of elementwise op ``name``'s gradient at ``scale``."""
    return scale * ops.elementwise_flops(b.g.nodes[name]["op"], elements(b, name), "backward")
