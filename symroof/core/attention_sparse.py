"""DeepSeek Sparse Attention (DSA, DeepSeek-V3.2): a lightning indexer picks, for each query, the
``k_idx`` keys MLA then attends to (DeepSeek-AI 2025, "DeepSeek-V3.2-Exp: Boosting Long-Context
Efficiency with DeepSeek Sparse Attention", github.com/deepseek-ai/DeepSeek-V3.2-Exp, DeepSeek_V3_2.pdf,
section 1, eq. 1-2: the indexer is O(L^2) but light, the main attention O(L k)).

The indexer, as transformers 5.24 builds it (``modeling_deepseek_v32.py``, ``DeepseekV32Indexer``):

- ``wq_b``: the query latent (MLA's ``q_a_layernorm(q_a_proj(x))``, R_q wide) to N_idx heads of
  H_idx; ``wk``: the layer input to one key of H_idx, through a LayerNorm ``k_norm`` (a weight and a
  bias); ``weights_proj``: the layer input to one weight per indexer head. RoPE rotates the first
  H_r dims of each query head and of the key.
- scores: each query head against every key it is handed, ``relu``, weighted by its head's weight
  and summed over heads: I(t, s) = Σ_j w(t, j)·relu(q(t, j)·k(s)), two matmuls
  (``[B,T,N_idx,H_idx] x [B,S,H_idx]`` and ``[B,T,1,N_idx] x [B,T,N_idx,S]``), then top-k of each
  query's row after the causal mask.
- it runs under ``torch.no_grad``: no gradient reaches its weights or flows back through it, so a
  training graph has no backward ops for it (``no_grad`` nodes; backward.py, recompute.py), and its
  weights no gradient buffer, optimizer state or update (``derive.frozen_params``,
  ``roofline.frozen_weights``): torch.optim skips a parameter whose .grad stays None. (The paper
  trains it with a KL loss of its own on a detached input, a stage of its own; transformers does
  not, and neither FLOPs nor memory count it: the card's left_out says so, hf_keys.LEFT_OUT.)
- under tensor parallelism it is replicated: every chip holds all its weights and its key cache and
  computes all N_idx heads' scores (no mesh axis splits Ni or Hi, parallel/axes.py), as DeepSeek's
  own inference code does (deepseek-ai/DeepSeek-V3.2-Exp@6d8cb70 inference/model.py, ``Indexer``:
  wq_b, wk and weights_proj are plain ``Linear`` where MLA's wq_b, wkv_b and wo are Column/Row
  ParallelLinear; its k_cache is whole on each rank; rank 0's top-k is broadcast and the others
  asserted equal to it).
- its keys are cached: transformers' ``DynamicIndexedLayer`` (cache_utils.py) keeps, per layer, the
  MLA latent and RoPE key (``keys`` [B,1,S,R_kv], ``values`` [B,1,S,H_r]) plus ``indexer_keys``
  [B,S,H_idx]; a decode step scores the new query against all S of them.

MLA then attends to the selected keys only. transformers' eager and SDPA paths do so by masking:
the dense T x S core runs with the keys not selected set to -inf. So ``full`` counts that dense core
(what eager computes, what FlopCounterMode sees), while ``causal`` counts what is attended: query t
(1-based) attends to min(t, k_idx) keys, Σ_t min(t, k_idx) = T·m − m(m−1)/2 with m = min(k_idx, T)
(exact for T below k_idx, all T(T+1)/2 pairs, and above it); a decode step over S cached keys
min(k_idx, S). The indexer's own scores count the keys each query can see: T(T+1)/2 pairs causal
(T² full) and S in decode. Served (``Block.mla_absorbed``), a decode step reads the selected
min(k_idx, S) latents only (``read_share``), as a sparse kernel gathers them (FlashMLA's sparse
decode), and all S indexer keys.
"""

from __future__ import annotations

import sympy as sp

from .symbols import H_idx, H_r, k_idx

# The core's nodes of each MLA path that attend to the selected keys only.
EAGER_CORE = ("scores", "softmax", "av")
ABSORBED_CORE = ("scores_latent", "scores_rope", "scores", "softmax", "av")


def sparse_share(sizes: dict, phase: str) -> sp.Expr:
    """The share of the T x S core a DSA layer attends to (causal): min(t, k_idx) keys for query t."""
    t, s = sizes["T"], sizes["S"]
    if phase == "decode":
        return sp.Min(k_idx, s) / s
    m = sp.Min(k_idx, t)
    return (t * m - m * (m - 1) / 2) / (t * s)


def indexer_share(sizes: dict, phase: str) -> sp.Expr:
    """The share of the T x S index scores the causal mask leaves to each query: T(T+1)/2 pairs over T new
    tokens (S = T); in decode the new token sees all S cached keys."""
    t, s = sizes["T"], sizes["S"]
    return sp.Integer(1) if phase == "decode" else (t + 1) / (2 * s)


def add_indexer(b, block, proj, xa: str, q_latent: str) -> None:
    """The indexer's ops, reading the layer's normalised input ``xa`` and the query latent ``q_latent``.
    Its selection (``idx_topk``) feeds the core as a mask, not a tensor: no edge, no gradient."""
    from .blocks import add_norm, rope

    p, repeat = block.name, block.count
    before = set(b.g.nodes)
    proj(f"{p}/attn/idx_q", "B T Rq, Rq Ni Hi -> B T Ni Hi", q_latent, ("Rq", "Ni", "Hi"), (), False, "attention")
    q = rope(b, block, f"{p}/attn/idx_rope_q", f"{p}/attn/idx_q", "B T Ni Hi", H_r / H_idx)
    proj(f"{p}/attn/idx_k", "B T D, D Hi -> B T Hi", xa, ("D", "Hi"), (), False, "attention")
    add_norm(b, f"{p}/attn/idx_k_norm", f"{p}/attn/idx_k", "B T Hi", ("Hi",), True, repeat)   # nn.LayerNorm
    keys = rope(b, block, f"{p}/attn/idx_rope_k", f"{p}/attn/idx_k_norm", "B T Hi", H_r / H_idx)
    if b.phase in ("prefill", "decode"):
        keys = b.cache_append(f"{p}/attn/idx_k_cache", keys, repeat)
    b.contraction(f"{p}/attn/idx_scores", "B T Ni Hi, B S Hi -> B Ni T S", [("q", q), ("k", keys)],
                  repeat=repeat, core=True)
    b.elementwise(f"{p}/attn/idx_relu", "relu", [("x", f"{p}/attn/idx_scores")], "B Ni T S", repeat=repeat,
                  core=True)
    proj(f"{p}/attn/idx_w", "B T D, D Ni -> B T Ni", xa, ("D", "Ni"), (), False, "attention")
    b.contraction(f"{p}/attn/idx_sum", "B T Ni, B Ni T S -> B T S",
                  [("w", f"{p}/attn/idx_w"), ("s", f"{p}/attn/idx_relu")], repeat=repeat, core=True)
    b.elementwise(f"{p}/attn/idx_topk", "topk", [("x", f"{p}/attn/idx_sum")], "B T S", repeat=repeat, core=True)
    for name in set(b.g.nodes) - before:
        b.g.nodes[name]["no_grad"] = True
        if b.g.nodes[name]["attention_core"]:
            b.g.nodes[name]["indexer"] = True


def mark_sparse(b, block, names: tuple) -> None:
    """The core's nodes attend to the selected keys only; served decode reads only their latents."""
    p = block.name
    for op in names:
        if f"{p}/attn/{op}" in b.g:
            b.g.nodes[f"{p}/attn/{op}"]["indexed"] = True
    if b.phase == "decode" and block.mla_absorbed and b.g.graph["attention"] == "causal":
        for cache in ("latent_cache", "k_rope_cache"):
            b.g.nodes[f"{p}/attn/{cache}"]["read_share"] = sparse_share(b.sizes, "decode")


def scale(b, node) -> sp.Expr | None:
    """The share of a DSA node's T x S work counted (graph.core_scale), or None for any other node."""
    causal = b.g.graph["attention"] == "causal"
    if node.get("indexed"):
        return sparse_share(b.sizes, b.phase) if causal else sp.Integer(1)
    if node.get("indexer"):
        return indexer_share(b.sizes, b.phase) if causal else sp.Integer(1)
    return None
