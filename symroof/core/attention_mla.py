"""Multi-head latent attention (DeepSeek-V2/V3), as transformers runs it in training and prefill.

Keys and values come from a compressed latent of width ``R_kv`` (normalised), expanded per
head by ``kv_b``; each head's query and key are a no-RoPE part of width ``H`` and a RoPE part
of width ``H_r``, the key's RoPE part shared by all heads (computed from the layer input by its
own columns of ``kv_a``). Values have their own width ``H_v``. The query either goes through a
rank-``R_q`` projection and a norm (``q_a``, ``q_a_norm``, ``q``) or is one plain projection.

transformers' ``kv_a_proj_with_mqa`` is one matrix ``D x (R_kv + H_r)`` and ``kv_b_proj`` one
``R_kv x N(H + H_v)``; here each is split into the nodes that use its parts (``kv_a`` and
``k_rope``; ``k`` and ``v``): the same weights and FLOPs, marked ``fused``. The cache holds the
latent and the RoPE key (``R_kv + H_r`` per token), and the expansion runs over all S cached
tokens, as transformers' eager path does. Heads are K = N groups of G = 1 (MLA has no GQA).

Served, a decode step does not expand the cache (``Block.mla_absorbed``, ``add_absorbed``): DeepSeek-V2
(arXiv 2405.04434, 2.1.3) absorbs kv_b's key part into the query and its value part into the
output, so each head scores the cached latent directly and weights it, and only the one new
token passes through kv_b's two halves.

DeepSeek-V3.2 (``Block.indexed``) adds a lightning indexer whose top-k keys are all the core attends
to (attention_sparse.py).
"""

from __future__ import annotations

from .attention_sparse import ABSORBED_CORE, EAGER_CORE, add_indexer, mark_sparse
from .symbols import H, H_r


def add_mla(b, block, proj, norm, xa: str) -> str:
    from .blocks import core, rope

    p, repeat = block.name, block.count
    src = src_q = xa
    if block.q_lora:
        proj(f"{p}/attn/q_a", "B T D, D Rq -> B T Rq", xa, ("D", "Rq"), ("Rq",), block.qkv_bias, "attention")
        norm(f"{p}/attn/q_a_norm", f"{p}/attn/q_a", "B T Rq", ("Rq",))
        src_q = f"{p}/attn/q_a_norm"
    if block.mla_absorbed and b.phase == "decode":
        return add_absorbed(b, block, proj, norm, xa, src_q)
    width = "Rq" if block.q_lora else "D"
    proj(f"{p}/attn/q", f"B T {width}, {width} K G Hq -> B T K G Hq", src_q, (width, "K", "G", "Hq"), (), False,
         "attention")
    q = rope(b, block, f"{p}/attn/rope_q", f"{p}/attn/q", "B T K G Hq", H_r / (H + H_r))
    fused = "kv_a"
    proj(f"{p}/attn/kv_a", "B T D, D Rkv -> B T Rkv", src, ("D", "Rkv"), ("Rkv",), block.qkv_bias, "attention",
         fused)
    proj(f"{p}/attn/k_rope", "B T D, D Hr -> B T Hr", src, ("D", "Hr"), ("Hr",), block.qkv_bias, "attention",
         fused)
    norm(f"{p}/attn/kv_a_norm", f"{p}/attn/kv_a", "B T Rkv", ("Rkv",))
    latent, k_rope = f"{p}/attn/kv_a_norm", rope(b, block, f"{p}/attn/rope_k", f"{p}/attn/k_rope", "B T Hr")
    seq = "T"
    if b.phase in ("prefill", "decode"):
        latent = b.cache_append(f"{p}/attn/latent_cache", latent, repeat)
        k_rope = b.cache_append(f"{p}/attn/k_rope_cache", k_rope, repeat)
        seq = "S"
    proj(f"{p}/attn/k", f"B {seq} Rkv, Rkv K H -> B {seq} K H", latent, ("Rkv", "K", "H"), (), False, "attention",
         "kv_b")
    proj(f"{p}/attn/v", f"B {seq} Rkv, Rkv K Hv -> B {seq} K Hv", latent, ("Rkv", "K", "Hv"), (), False,
         "attention", "kv_b")
    b.elementwise(f"{p}/attn/k_cat", "concat", [("x", f"{p}/attn/k"), ("y", k_rope)], f"B {seq} K Hq",
                  repeat=repeat)
    if block.indexed:           # DeepSeek-V3.2: the indexer picks the keys the core attends to
        add_indexer(b, block, proj, xa, src_q)
    av = core(b, block, q, f"{p}/attn/k_cat", f"{p}/attn/v", "Hq", "Hv")
    if block.indexed:
        mark_sparse(b, block, EAGER_CORE)
    proj(f"{p}/attn/o", "B T K G Hv, K G Hv D -> B T D", av, ("K", "G", "Hv", "D"), ("D",), block.o_bias,
         "attention")
    return f"{p}/attn/o"


def _latent(b, block, proj, norm, src: str) -> tuple[str, str]:
    """The new token's normalised latent and RoPE key, appended to the caches (``kv_a`` as above)."""
    from .blocks import rope

    p, repeat = block.name, block.count
    proj(f"{p}/attn/kv_a", "B T D, D Rkv -> B T Rkv", src, ("D", "Rkv"), ("Rkv",), block.qkv_bias, "attention",
         "kv_a")
    proj(f"{p}/attn/k_rope", "B T D, D Hr -> B T Hr", src, ("D", "Hr"), ("Hr",), block.qkv_bias, "attention",
         "kv_a")
    norm(f"{p}/attn/kv_a_norm", f"{p}/attn/kv_a", "B T Rkv", ("Rkv",))
    k_rope = rope(b, block, f"{p}/attn/rope_k", f"{p}/attn/k_rope", "B T Hr")
    return (b.cache_append(f"{p}/attn/latent_cache", f"{p}/attn/kv_a_norm", repeat),
            b.cache_append(f"{p}/attn/k_rope_cache", k_rope, repeat))


def add_absorbed(b, block, proj, norm, xa: str, src_q: str) -> str:
    """One decode step of MLA with kv_b absorbed (DeepSeek-V2, 2.1.3, eq. 10-19 regrouped): the
    query's no-RoPE part times kv_b's key half gives a query in latent space (R_kv per head), which
    scores the cached latents; its RoPE part scores the cached RoPE keys; the weighted latents
    times kv_b's value half give each head's H_v values. The weights are the eager graph's, the
    query's projection split into its no-RoPE and RoPE columns (one matrix: ``fused``)."""
    from .blocks import rope

    p, repeat = block.name, block.count
    width = "Rq" if block.q_lora else "D"
    for part, dim in (("q_nope", "H"), ("q_pe", "Hr")):
        proj(f"{p}/attn/{part}", f"B T {width}, {width} K G {dim} -> B T K G {dim}", src_q,
             (width, "K", "G", dim), (), False, "attention", "q")
    q_pe = rope(b, block, f"{p}/attn/rope_q", f"{p}/attn/q_pe", "B T K G Hr")
    latent, k_rope = _latent(b, block, proj, norm, xa)
    if block.indexed:
        add_indexer(b, block, proj, xa, src_q)
    b.contraction(f"{p}/attn/q_absorb", "B T K G H, Rkv K H -> B T K G Rkv",
                  [("q", f"{p}/attn/q_nope"), ("w", f"{p}/attn/k.w")], {f"{p}/attn/k.w": ("Rkv", "K", "H")},
                  "attention", repeat)
    b.contraction(f"{p}/attn/scores_latent", "B T K G Rkv, B S Rkv -> B K G T S",
                  [("q", f"{p}/attn/q_absorb"), ("k", latent)], repeat=repeat, core=True)
    b.contraction(f"{p}/attn/scores_rope", "B T K G Hr, B S Hr -> B K G T S",
                  [("q", q_pe), ("k", k_rope)], repeat=repeat, core=True)
    b.elementwise(f"{p}/attn/scores", "add", [("x", f"{p}/attn/scores_latent"), ("y", f"{p}/attn/scores_rope")],
                  "B K G T S", repeat=repeat, core=True)
    b.elementwise(f"{p}/attn/softmax", "softmax", [("x", f"{p}/attn/scores")], "B K G T S", repeat=repeat,
                  core=True)
    b.contraction(f"{p}/attn/av", "B K G T S, B S Rkv -> B T K G Rkv",
                  [("p", f"{p}/attn/softmax"), ("v", latent)], repeat=repeat, core=True)
    b.contraction(f"{p}/attn/v_absorb", "B T K G Rkv, Rkv K Hv -> B T K G Hv",
                  [("x", f"{p}/attn/av"), ("w", f"{p}/attn/v.w")], {f"{p}/attn/v.w": ("Rkv", "K", "Hv")},
                  "attention", repeat)
    for name in ("q_absorb", "v_absorb"):     # kv_b's two halves, one matrix in the checkpoint
        b.g.nodes[f"{p}/attn/{name}"]["fused"] = f"{p}/kv_b"
    if block.indexed:
        mark_sparse(b, block, ABSORBED_CORE)
    proj(f"{p}/attn/o", "B T K G Hv, K G Hv D -> B T D", f"{p}/attn/v_absorb", ("K", "G", "Hv", "D"), ("D",),
         block.o_bias, "attention")
    return f"{p}/attn/o"
