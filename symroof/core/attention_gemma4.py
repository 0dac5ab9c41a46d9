"""Gemma 4's attention: the ``self_attn`` of its text decoder layers (a card's ``value_norm``).

As transformers 5.24 builds it (models/gemma4/modeling_gemma4.py, ``Gemma4TextAttention``): GQA whose q and k get
per-head RMSNorms (weights of the head width) and RoPE, and whose values get an RMSNorm without weights
(``v_norm``, with_scale=False: no parameters, its FLOPs vector work). Two layer kinds differ in shape:

- sliding layers: N heads of H (``head_dim``), K KV heads, keys in a window of w;
- full layers (a block's ``wide``): N heads of H_g (``global_head_dim``, Gemma4TextConfig's per-layer override) and
  K_g KV heads (``num_global_key_value_heads`` where ``attention_k_eq_v``, else K); where ``attention_k_eq_v``
  (``k_eq_v``) they build no v_proj: the values are k_proj's output, normed by v_norm, the keys the same output
  normed by k_norm and rotated.

Their "proportional" partial RoPE still multiplies every dim of the head (cos 1, sin 0 beyond the rotated share:
modeling_rope_utils.py, ``_compute_proportional_rope_parameters``), so RoPE's elementwise work is the whole head's.
The attention scale is 1 (the norms set the logits' size): no FLOP either way.
"""

from __future__ import annotations

import sympy as sp

from .blocks import core, rope
from .symbols import w


def add_gemma4_attention(b, block, proj, norm, xa: str) -> str:
    """Gemma 4's attention on the normed input ``xa``; returns its output projection's node."""
    p, repeat = block.name, block.count
    k, g, h = ("Kg", "Gg", "Hg") if block.wide else ("K", "G", "H")
    heads, kv = f"{k} {g} {h}", f"{k} {h}"
    proj(f"{p}/attn/q", f"B T D, D {heads} -> B T {heads}", xa, ("D", k, g, h), (k, g, h), block.qkv_bias,
         "attention")
    proj(f"{p}/attn/k", f"B T D, D {kv} -> B T {kv}", xa, ("D", k, h), (k, h), block.qkv_bias, "attention")
    if not block.k_eq_v:
        proj(f"{p}/attn/v", f"B T D, D {kv} -> B T {kv}", xa, ("D", k, h), (k, h), block.qkv_bias, "attention")
    q, keys = f"{p}/attn/q", f"{p}/attn/k"
    if block.qk_norm:
        norm(f"{p}/attn/q_norm", q, f"B T {heads}", (h,))
        norm(f"{p}/attn/k_norm", keys, f"B T {kv}", (h,))
        q, keys = f"{p}/attn/q_norm", f"{p}/attn/k_norm"
    values = f"{p}/attn/v_norm"
    b.elementwise(values, "plain_rmsnorm", [("x", f"{p}/attn/k" if block.k_eq_v else f"{p}/attn/v")], f"B T {kv}",
                  repeat=repeat)
    q = rope(b, block, f"{p}/attn/rope_q", q, f"B T {heads}")
    keys = rope(b, block, f"{p}/attn/rope_k", keys, f"B T {kv}")
    if b.phase in ("prefill", "decode"):
        keys = b.cache_append(f"{p}/attn/k_cache", keys, repeat)
        values = b.cache_append(f"{p}/attn/v_cache", values, repeat)
        if block.sliding or block.window_cache:     # the last w - 1 keys, as blocks._attention's sliding layers
            for name in (keys, values):
                b.g.nodes[name]["share"] = sp.Min(w - 1, b.sizes["S"]) / b.sizes["S"]
    av = core(b, block, q, keys, values, h, h, k, g)
    proj(f"{p}/attn/o", f"B T {heads}, {heads} D -> B T D", av, (k, g, h, "D"), ("D",), block.o_bias, "attention")
    return f"{p}/attn/o"
