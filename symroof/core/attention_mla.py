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
"""

from __future__ import annotations

from .symbols import H, H_r


def add_mla(b, block, proj, norm, xa: str) -> str:
    from .blocks import core, rope

    p, repeat = block.name, block.count
    src = xa
    if block.q_lora:
        proj(f"{p}/attn/q_a", "B T D, D Rq -> B T Rq", xa, ("D", "Rq"), ("Rq",), block.qkv_bias, "attention")
        norm(f"{p}/attn/q_a_norm", f"{p}/attn/q_a", "B T Rq", ("Rq",))
        proj(f"{p}/attn/q", "B T Rq, Rq K G Hq -> B T K G Hq", f"{p}/attn/q_a_norm", ("Rq", "K", "G", "Hq"),
             (), False, "attention")
    else:
        proj(f"{p}/attn/q", "B T D, D K G Hq -> B T K G Hq", xa, ("D", "K", "G", "Hq"), (), False, "attention")
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
    av = core(b, block, q, f"{p}/attn/k_cat", f"{p}/attn/v", "Hq", "Hv")
    proj(f"{p}/attn/o", "B T K G Hv, K G Hv D -> B T D", av, ("K", "G", "Hv", "D"), ("D",), block.o_bias,
         "attention")
    return f"{p}/attn/o"
