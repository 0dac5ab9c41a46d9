"""Activation recompute as a graph transformation: what each block keeps for its backward pass,
and the forward ops the backward pass replays to make the rest.

A backward op reads some of its forward op's tensors (``READS``, by op kind). Those tensors
are the activation memory of training. A policy keeps some and drops the others; every
forward op that made a dropped tensor is replayed before the backward pass needs it, and
appears in the graph as ``<op>:recompute`` (phase ``"recompute"``), with the forward op's
costs. Model FLOPs (the MFU numerator) leave those nodes out; hardware FLOPs (HFU) count them.

Policies, per block type (``graph.build``'s ``blocks``; a uniform model has one, ``layer``):

- ``"none"``: keep everything a backward op reads;
- ``"full"``: keep the block's input, replay the whole block (Chen et al. 2016, "Training
  Deep Nets with Sublinear Memory Cost", arXiv 1604.06174; Megatron-LM's full recompute);
- ``"selective"``: replay the attention core only, the ops that make the T×S tensors (scores,
  softmax, its dropout, the weighted sum of values), keeping their inputs (Korthikanti et
  al. 2022, "Reducing Activation Recomputation in Large Transformer Models", arXiv
  2205.05198, section 5);
- a tuple of tensor names (forward ops of the block): keep those and the block's input,
  replay only the ops that make a dropped tensor a backward op reads.
"""

from __future__ import annotations

import networkx as nx
import sympy as sp

from ..core import ops
from ..core.graph import with_own_nodes
from ..core.symbols import b_act, b_mask

# What a backward op reads of its forward op. Any kind not listed reads its inputs, which is
# what autograd keeps by default for an op it cannot differentiate from its output alone.
#   op kind          backward reads   why
READS = {
    "contraction":   "inputs",        # dX = dY·Wᵀ needs W, dW = Xᵀ·dY needs X
    "softmax":       "output",        # dx = y·(dy − Σ y·dy)
    "route":         "output",        # the router's softmax probabilities
    "dropout":       "mask",          # dx = dy·mask / (1 − p)
    "rope":          "nothing",       # linear in x: cos and sin are constants
    "add":           "nothing",       # the gradient is a copy
    "gather":        "nothing",       # token ids only (integers, negligible)
    "dispatch":      "nothing",       # routing indices only
}
POLICIES = ("none", "full", "selective")


def blocks(g: nx.DiGraph) -> dict[str, list[str]]:
    """Block types → their forward ops in order (``block`` attribute of the graph's nodes)."""
    out: dict[str, list[str]] = {name: [] for name in g.graph["blocks"]}
    for name in nx.topological_sort(g):
        d = g.nodes[name]
        if d["phase"] == "forward" and d.get("block") is not None:
            out[d["block"]].append(name)
    return out


def _activation_inputs(g: nx.DiGraph, name: str) -> list[str]:
    tensors = g.graph["tensor_dims"]
    return [ref for role, ref in g.nodes[name]["operands"] if role != "ids" and ref in tensors
            and ref not in g.graph["param_dims"]]


def _reads(g: nx.DiGraph, name: str) -> set:
    """Tensors (names; ``(op, "mask")`` for a dropout mask) the backward of ``name`` reads."""
    if g.nodes[name].get("no_grad"):           # no backward op (DSA's indexer): it keeps nothing
        return set()
    rule = READS.get(g.nodes[name]["op"], "inputs")
    if rule == "inputs":
        return set(_activation_inputs(g, name))
    return {"output": {name}, "mask": {(name, "mask")}, "nothing": set()}[rule]


def block_inputs(g: nx.DiGraph, ops_: list[str]) -> list[str]:
    """Tensors a block reads from outside itself (the previous block's output)."""
    inside = set(ops_)
    return list(dict.fromkeys(ref for name in ops_ for ref in _activation_inputs(g, name)
                              if ref not in inside))


def tensor_names(g: nx.DiGraph) -> list[str]:
    """Every tensor a named-list policy may keep: the blocks' forward ops and their inputs, each once
    (one block's output is the next block type's input)."""
    return list(dict.fromkeys(t for ops_ in blocks(g).values() for t in (*block_inputs(g, ops_), *ops_)))


def _check(g: nx.DiGraph, policy) -> None:
    if isinstance(policy, str):
        if policy not in POLICIES:
            from ..errors import UnknownNameError

            raise UnknownNameError(f"unknown recompute policy {policy!r}; allowed: "
                                   f"{', '.join(POLICIES)}, or a list of tensor names to keep")
        return
    known = set(tensor_names(g))
    for name in policy:
        if name not in known:
            from ..errors import UnknownNameError

            raise UnknownNameError(f"recompute policy keeps {name!r}, which is not a tensor of the "
                                   f"model's blocks; known: {', '.join(tensor_names(g))}")


def plan(g: nx.DiGraph, policy="none") -> dict[str, dict]:
    """Per block type: ``saved`` (tensors one instance keeps; ``(op, "mask")`` for a dropout
    mask) and ``recomputed`` (the forward ops the backward pass replays).

    ``full`` and ``selective`` replay a region, as a checkpointed call does: what an op outside
    the region reads stays saved, even if the region made it (the attention core's output,
    which the output projection reads). A named list replays only what remakes a dropped tensor.
    """
    _check(g, policy)
    if policy != "none" and g.graph.get("phase", "train") != "train":
        raise ValueError(f"recompute replays forward ops for a backward pass; the "
                         f"{g.graph['phase']} graph has none")
    out = {}
    for block, ops_ in blocks(g).items():
        inputs = block_inputs(g, ops_)
        if policy == "none":
            replay: set = set()
        elif policy == "selective":
            replay = {n for n in ops_ if g.nodes[n]["attention_core"]}
        elif policy == "full":
            replay = set(ops_)
        else:
            keep = set(inputs) | set(policy)
            needed = set().union(*(_reads(g, n) for n in ops_))
            if g.graph.get("fused_attention", True):
                # a fused kernel's backward makes its T×S scores (and dropout mask) again itself
                # (FlashAttention's backward reads q, k, v and the output): no policy replays them for it
                dims = g.graph["tensor_dims"]
                needed = {t for t in needed if not ops.stays_on_chip(dims[t if isinstance(t, str) else t[0]], True)}
            replay, todo = set(), [t if isinstance(t, str) else t[0] for t in needed]
            while todo:                        # replay what made a dropped tensor, back to kept ones
                t = todo.pop()
                if t in keep or t in replay or t not in ops_:
                    continue
                replay.add(t)
                todo += _activation_inputs(g, t)
        made = replay | {(n, "mask") for n in replay}
        sources = {ref for n in replay for ref in _activation_inputs(g, n)} - replay
        inside = set().union(*(_reads(g, n) for n in replay)) - made
        outside = set().union(*(_reads(g, n) for n in ops_ if n not in replay))
        if not isinstance(policy, str):        # a named list: its replay remakes what it dropped
            outside -= made
        saved = outside | inside | sources
        order = {t: i for i, t in enumerate([*inputs, *ops_])}
        key = lambda t: order[t] if isinstance(t, str) else order[t[0]] + 0.5   # noqa: E731
        out[block] = {"saved": sorted(saved, key=key), "recomputed": [n for n in ops_ if n in replay],
                      "inputs": inputs}
    return out


def saved_bytes(g: nx.DiGraph, policy="none", elements=None) -> dict[str, sp.Expr]:
    """Bytes one instance of each block keeps for its backward pass under ``policy``.

    ``elements(dims)`` counts a tensor's elements (default: all of them, none for a T×S tensor
    a fused attention kernel keeps on chip); pass a sharded count for bytes per chip. Dropout
    masks are ``b_mask`` bytes per element, everything else ``b_act``.
    """
    dims_of = g.graph["tensor_dims"]
    if elements is None:
        sizes, fused = g.graph["sizes"], g.graph.get("fused_attention", True)
        elements = lambda dims: ops.hbm_elements(dims, sizes, fused)   # noqa: E731
    out = {}
    for block, p in plan(g, policy).items():
        out[block] = sp.Add(*(elements(dims_of[t]) * b_act if isinstance(t, str)
                              else elements(dims_of[t[0]]) * b_mask for t in p["saved"]))
    return out


def outside_saved(g: nx.DiGraph) -> dict:
    """What the forward ops outside the repeated blocks (the embedding's, the final norm, the head,
    the loss: ``block`` None) keep for their backward, by the same rules (``READS``): ``{tensor:
    the op that reads it}`` (a dropout mask as ``(op, "mask")``), each tensor once. A recompute
    policy replays blocks only, so these stay saved under any; a block's input that such an op
    also reads is left out, as the block keeps it already."""
    inputs = {t for ops_ in blocks(g).values() for t in block_inputs(g, ops_)}
    out: dict = {}
    for name in nx.topological_sort(g):
        d = g.nodes[name]
        if d["phase"] == "forward" and d.get("block") is None:
            for t in sorted(_reads(g, name) - inputs, key=str):
                out.setdefault(t, name)
    return out


def activation_memory(g: nx.DiGraph, policy="none", elements=None, share=1) -> sp.Expr:
    """Bytes of saved activations of all repeated blocks: Σ repeat × one instance's bytes (``share``:
    the fraction of instances under ``policy``, the rest keeping everything, as ``apply`` takes it)."""
    per = saved_bytes(g, policy, elements)
    if share != 1:
        kept = saved_bytes(g, "none", elements)
        per = {b: share * per[b] + (1 - share) * kept[b] for b in per}
    return sp.Add(*(g.graph["blocks"][b] * per[b] for b in per))


def apply(g: nx.DiGraph, policy="none", share=1) -> nx.DiGraph:
    """A copy of ``g`` (sharded or not) with the replayed forward ops as ``<op>:recompute`` nodes.

    Each copies its forward op's costs (``flops``, ``vector_flops``, ``bytes``; on a sharded
    graph also ``local_*`` and the collectives of activations: a replayed tensor-parallel op
    communicates again, but the weights the backward pass gathers serve the replay too).
    ``share``: the fraction of each block type's instances that replay (``f_rc``; Megatron-LM's
    recompute_num_layers, torchtitan's every k-th block), the rest keeping every tensor: the
    replayed nodes' ``repeat`` times it, so every cost summed over instances takes that share.
    """
    out = with_own_nodes(g, adjacency=True)     # g.copy() rebuilt every edge; edges are only added here
    for p in plan(g, policy).values():
        for name in p["recomputed"]:
            d = g.nodes[name]
            node = f"{name}:recompute"
            attrs = {k: v for k, v in d.items() if k != "collectives"}
            if share != 1:
                attrs["repeat"] = d["repeat"] * share
            if "collectives" in d:
                attrs["collectives"] = [c for c in d["collectives"] if c.on_critical_path]
            out.add_node(node, **{**attrs, "phase": "recompute", "forward": name})
            for ref in _activation_inputs(g, name):
                src = f"{ref}:recompute" if ref in p["recomputed"] else ref
                out.add_edge(src, node, tensor=ref, role="recompute")
    return out


def model_phases(d) -> bool:
    """Nodes that count toward model FLOPs (MFU): everything but replayed forward ops."""
    return d["phase"] != "recompute"
