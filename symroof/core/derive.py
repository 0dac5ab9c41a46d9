"""Free functions over the graph: totals, breakdowns, parameter counts, memory. All symbolic.

Every function takes the graph from ``graph.build`` and returns SymPy expressions (or
dicts of them); numbers appear only in ``instantiate``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sympy as sp

from . import ops
from .graph import PARAM_GROUPS
from .symbols import B, E, T, b_act, b_grad, b_kv, b_opt, b_param, k, n_ckpt

if TYPE_CHECKING:          # networkx is imported when a graph is built, not by `import symroof`
    import networkx as nx

ZERO = sp.Integer(0)


def total(g: nx.DiGraph, attr: str, phase: str | None = None, where=None) -> sp.Expr:
    """Σ ``repeat × attr`` over the nodes of ``phase`` (``"forward"``, ``"backward"`` or both)."""
    return sp.Add(*(d["repeat"] * d[attr] for n, d in g.nodes(data=True)
                    if (phase is None or d["phase"] == phase) and (where is None or where(n, d))))


def breakdown(g: nx.DiGraph, attr: str, phase: str | None = None, depth: int = 2) -> dict[str, sp.Expr]:
    """Totals grouped by the first ``depth`` parts of the node name (``layer/attn``, ``unembed``)."""
    out: dict[str, sp.Expr] = {}
    for name, d in g.nodes(data=True):
        if phase is not None and d["phase"] != phase:
            continue
        key = "/".join(name.split(":")[0].split("/")[:depth])
        out[key] = out.get(key, ZERO) + d["repeat"] * d[attr]
    return {key: value for key, value in out.items() if value != 0}


def params_by_group(g: nx.DiGraph, active: bool = False) -> dict[str, sp.Expr]:
    """Parameters per group (embedding, attention, mlp, norms, unembedding).

    ``active=True`` counts what one token uses: each MoE layer's k routed experts, not all E.
    """
    sizes = g.graph["sizes"]
    out = {group: ZERO for group in PARAM_GROUPS if group != "mtp" or g.graph.get("mtp")}
    for _, d in g.nodes(data=True):
        if d["phase"] != "forward":
            continue
        for dims in d["params"].values():
            count = d["repeat"] * ops.numel(dims, sizes)
            if active and d.get("experts"):
                count = count / E * k
            out[d["param_group"]] += count
    return out


def params(g: nx.DiGraph, active: bool = False) -> sp.Expr:
    return sp.Add(*params_by_group(g, active).values())


def frozen_params(g: nx.DiGraph) -> sp.Expr:
    """Parameters no gradient reaches: the weights of ops run under ``torch.no_grad`` (DSA's indexer,
    core/attention_sparse.py). An optimizer keeps no state for them and a step leaves them alone
    (torch.optim skips a parameter whose .grad is None), so training memory holds them alone."""
    sizes = g.graph["sizes"]
    return sp.Add(*(d["repeat"] * ops.numel(dims, sizes) for _, d in g.nodes(data=True)
                    if d["phase"] == "forward" and d.get("no_grad") for dims in d["params"].values()))


def flops(g: nx.DiGraph, phase: str | None = None, approximation: str | None = None) -> sp.Expr:
    """Contraction FLOPs of one step over B sequences of T tokens.

    ``approximation="6N"`` replaces the per-op count by the book's rule: 2·N·tokens forward and
    4·N·tokens backward, with N the (active) parameter count, embeddings and norms included.
    """
    if approximation == "6N":
        per_token = {"forward": 2, "backward": 4, None: 6}[phase]
        return per_token * params(g, active=True) * B * T
    if approximation is not None:
        raise ValueError(f"approximation must be None or '6N', not {approximation!r}")
    return total(g, "flops", phase)


def model_flops(g: nx.DiGraph) -> sp.Expr:
    """Contraction FLOPs the model needs (the MFU numerator): forward and backward, no replay."""
    return total(g, "flops", where=lambda n, d: d["phase"] != "recompute")


def hardware_flops(g: nx.DiGraph) -> sp.Expr:
    """Contraction FLOPs the hardware runs (the HFU numerator): with the replayed forward ops
    that ``recompute.apply`` adds (phase ``"recompute"``)."""
    return total(g, "flops")


def training_flops_per_token(g: nx.DiGraph, approximation: str | None = None) -> sp.Expr:
    return sp.expand(flops(g, None, approximation) / (B * T))


def intensity(g: nx.DiGraph, name: str) -> sp.Expr:
    """Arithmetic intensity of one op: (contraction + vector FLOPs) per byte moved."""
    d = g.nodes[name]
    return (d["flops"] + d["vector_flops"]) / d["bytes"]


def attention_core(g: nx.DiGraph) -> sp.Expr:
    """FLOPs of the T×S attention core (scores and attention-weighted values), forward, all layers."""
    return total(g, "flops", "forward", where=lambda n, d: d["attention_core"])


def projections(g: nx.DiGraph) -> sp.Expr:
    """Forward FLOPs of the per-layer weight matmuls (QKVO and MLP), all layers."""
    return total(g, "flops", "forward",
                 where=lambda n, d: d["block"] is not None and not d["attention_core"])


def attention_crossover(g: nx.DiGraph) -> sp.Expr:
    """The sequence length T at which attention-core FLOPs equal the layers' weight-matmul FLOPs."""
    roots = sp.solve(sp.Eq(attention_core(g), projections(g)), T)
    if len(roots) != 1:
        from ..errors import NoClosedFormError

        raise NoClosedFormError(f"expected one positive crossover length, got {roots}")
    return roots[0]


def checkpoint_elements(g: nx.DiGraph) -> sp.Expr:
    """Elements of one layer-input activation (the array a checkpoint saves), from the graph."""
    dims = g.graph["tensor_dims"][g.graph["layer_input"]]
    return ops.numel(dims, g.graph["sizes"])


def checkpointed_layers(g: nx.DiGraph) -> sp.Expr:
    """Elements of every block's input, each times its layer count: what one checkpoint per layer saves."""
    dims, sizes = g.graph["tensor_dims"], g.graph["sizes"]
    return sp.Add(*(g.graph["blocks"][blk] * ops.numel(dims[x], sizes)
                    for blk, x in g.graph["block_inputs"].items()))


def kv_cache_bytes(g: nx.DiGraph, read: bool = False) -> sp.Expr:
    """Bytes of the KV cache the model holds (prefill or decode graph): every cache tensor, all layers;
    with ``read``, the bytes a decode step reads of it (a chunked layer: only the new token's chunk)."""
    if g.graph["phase"] == "train":
        raise ValueError("a training graph keeps no KV cache; build the prefill or decode phase")
    sizes = g.graph["sizes"]
    # share: a sliding-window or chunked layer holds only its last w - 1 (w_c - 1) entries (blocks.py)
    return sp.Add(*(d["repeat"] * ops.numel(g.graph["tensor_dims"][n], sizes) * kv_share(d, read) * b_kv
                    for n, d in g.nodes(data=True) if d.get("cache")))


def kv_share(d: dict, read: bool = False) -> sp.Expr:
    """The share of a cache node's S entries it holds, or with ``read`` that a decode step reads."""
    return d.get("read_share", d.get("share", 1)) if read else d.get("share", 1)


def training_memory(g: nx.DiGraph, recompute=None, share=1) -> dict[str, sp.Expr]:
    """Bytes of training state: weights, gradients, optimizer state and activation checkpoints.

    Checkpoints: ``n_ckpt`` arrays of the layer input's shape saved per layer (remat recomputes
    the rest), or, given a ``recompute`` policy, what each block saves under it
    (``recompute.activation_memory``; ``share``: on that fraction of the layers). Set ``b_grad = 0``
    for the book's convention, which keeps no gradient buffer. Weights no gradient reaches
    (``frozen_params``) have no gradient or optimizer bytes.
    """
    from .recompute import activation_memory

    p = params(g)
    trained = p - frozen_params(g)
    parts = {
        "params": b_param * p,
        "gradients": b_grad * trained,
        "optimizer": b_opt * trained,
        "checkpoints": (n_ckpt * checkpointed_layers(g) * b_act if recompute is None
                        else activation_memory(g, recompute, share=share)),
    }
    parts["total"] = sp.Add(*parts.values())
    return parts
