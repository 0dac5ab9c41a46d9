"""Gradient reductions among a sub-group of one mesh axis's chips: copies of a weight that the
sharding rules (``sharding.py``) cannot see, since each of their layouts spans whole axes.

- KV heads replicated over the tensor axis (``axes.KV_REPLICATION``: a degree t above the K heads
  puts each head on r_kv = t / K chips). Each of those chips computes the head's keys and values
  for its own query heads, so its gradient of the head's K/V weights (and biases, and a K-wide
  key norm) is a partial sum: all-reduced among the r_kv chips, per layer, in the backward. The
  query, output and per-head norm weights are not replicated (G = N/K follows K).
- A token table tied to the output head across a pipeline: the first stage holds it for the
  lookup, the last for the head, each with its own gradient; the two are all-reduced between
  those two stages once a step (Megatron-LM's embedding group, NVIDIA/Megatron-LM@d98e8a6
  megatron/core/distributed/finalize_model_grads.py ``_allreduce_word_embedding_grads``), on
  the table's shard as the weight layout splits it. A multi-token-prediction module's lookup on the
  last stage makes such a copy too; its reads of the head, beside the head, make none.
"""

from __future__ import annotations

import sympy as sp

from ..core import ops
from ..core.symbols import b_param, r_kv


def add(sg, mesh: dict) -> None:
    """Append these reductions to the sharded graph ``sg``'s backward nodes that make the gradients."""
    from .sharding import Collective, layout

    sizes = sg.graph["sizes"]

    def shard_bytes(dims) -> sp.Expr:
        split = sp.Mul(*(mesh[a].size for a, d in layout(dims, mesh, weight=True).items() if d in dims))
        return ops.numel(dims, sizes) / split * b_param

    owners = {p: n for n, d in sg.nodes(data=True) if d["phase"] == "forward" for p in d["params"]}
    # a table read at the other end of the pipeline than its own (a multi-token-prediction module's
    # reads of the head sit beside it on the last stage: no second copy, nothing to reduce)
    def same_end(d, ref) -> bool:
        return ref in owners and d.get("end") is not None and d.get("end") == sg.nodes[owners[ref]].get("end")

    tied = {ref for _, d in sg.nodes(data=True) if d["phase"] == "forward"
            for role, ref in d["operands"] if role == "w" and ref not in d["params"] and not same_end(d, ref)}
    for _, d in sg.nodes(data=True):
        if d["phase"] != "backward" or d.get("wrt") not in ("w", "all"):
            continue
        fwd = sg.nodes[d["forward"]]
        for p, dims in sorted(fwd["params"].items()):
            if "tensor" in mesh and "K" in dims and "G" not in dims \
                    and layout(dims, mesh, weight=True).get("tensor") == "K":
                small = fwd["op"] != "contraction" or not p.endswith(".w")    # a bias or a norm scale: one launch
                d["collectives"] = [*d["collectives"], Collective("AllReduce", ("tensor",), f"d({p})",
                                                                  shard_bytes(dims), small, r_kv)]
            if p in tied and "stage" in mesh and owners.get(p) == d["forward"]:
                d["collectives"] = [*d["collectives"],
                                    Collective("AllReduce", ("stage",), f"d({p})", shard_bytes(dims),
                                               ranks=sp.Min(2, mesh["stage"].size))]
