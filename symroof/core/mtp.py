"""Multi-token prediction in training: DeepSeek-V3's MTP modules (arXiv 2412.19437, section 2.2).

D modules run in sequence after the main model, module k predicting the token k + 1 places ahead.
Module k (the report's equations 21-23) takes two inputs per position: the embedding of the token
k places ahead, from the main model's table (shared), and the previous depth's hidden state (for
k = 1 the main model's last block output). Each is RMS-normed, the two are
set side by side (2D wide) and projected back to D (its matrix M_k); one more block of the main
model's last block type follows (TRM_k), then a final norm of its own, the main model's output head
(shared) and a cross-entropy loss. The checkpoint's layer 61 of DeepSeek-V3 holds the same
(``enorm``, ``hnorm``, ``eh_proj``, a decoder layer, ``shared_head``: deepseek-ai/DeepSeek-V3
README_WEIGHTS.md), and Megatron-LM's FLOP count adds, per depth, one more layer of the last kind,
the 2D x D projection and one more logit matmul (NVIDIA/Megatron-LM@d98e8a6
megatron/training/training.py, ``mtp_num_layers``).

The modules are training only (inference drops them or drafts tokens with them), so only the train
graph has them. Their ops are outside the layers, as the head is: a pipeline puts them on its last
stage, and their weights are the ``mtp`` parameter group.
"""

from __future__ import annotations

from dataclasses import replace

from .blocks import add_block, add_norm


def add_mtp(b, structure, hidden: str, depth: int) -> str:
    """Add module ``depth`` (1, 2, ...) reading the previous depth's hidden state ``hidden``; returns
    its block's output (the next depth's hidden state)."""
    p = f"mtp{depth}"
    before = set(b.g.nodes)
    head = "embed.w" if structure.tied else "unembed.w"
    b.elementwise(f"{p}/embed", "gather", [("ids", "tokens"), ("w", "embed.w")], "B T D")   # the shared table
    add_norm(b, f"{p}/enorm", f"{p}/embed", "B T D", ("D",), structure.norm, 1)
    add_norm(b, f"{p}/hnorm", hidden, "B T D", ("D",), structure.norm, 1)
    b.elementwise(f"{p}/concat", "concat", [("x", f"{p}/enorm"), ("y", f"{p}/hnorm")], "B T Dm")
    b.contraction(f"{p}/eh_proj", "B T Dm, Dm D -> B T D", [("x", f"{p}/concat"), ("w", f"{p}/eh_proj.w")],
                  {f"{p}/eh_proj.w": ("Dm", "D")}, "mtp")
    block = replace(structure.blocks[-1], name=p, once=True)     # one more of the last block type, once
    out = add_block(b, block, f"{p}/eh_proj")
    del b.g.graph["block_inputs"][p]         # not a block type of the stack: no layers, no checkpoints
    add_norm(b, f"{p}/final_norm", out, "B T D", ("D",), structure.norm, 1)
    b.contraction(f"{p}/unembed", "B T D, D V -> B T V", [("x", f"{p}/final_norm"), ("w", head)], {}, "mtp")
    b.elementwise(f"{p}/loss", "cross_entropy", [("logits", f"{p}/unembed")], "")
    for name in set(b.g.nodes) - before:
        b.g.nodes[name]["param_group"] = "mtp"
    return out
