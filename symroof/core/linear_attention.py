"""Linear attention: the Gated DeltaNet token mixer of Qwen3-Next's ``linear_attention`` layers.

Yang, Kautz and Hatamizadeh 2024, "Gated Delta Networks: Improving Mamba2 with Delta Rule"
(arXiv 2412.06464), as transformers 5.24 builds it (models/qwen3_next/modeling_qwen3_next.py,
``Qwen3NextGatedDeltaNet``). Its parameters, with N_lk query/key heads of H_lk, N_lv value heads
of H_lv (each key head serves G_lv = N_lv / N_lk value heads) and a kernel of W_cv:

- ``in_proj_qkvz`` D x N_lk(2·H_lk + 2·G_lv·H_lv): q, k, v and the output gate z (nodes q, k, v, z);
- ``in_proj_ba`` D x 2·N_lv: per value head the update strength b (beta = sigmoid b) and the
  decay input a (nodes b, a);
- ``conv1d``: depthwise causal convolution of W_cv taps over the q, k, v channels, no bias
  (conv_q, conv_k, conv_v), then SiLU;
- ``dt_bias`` and ``A_log``, N_lv each: g = -exp(A_log)·softplus(a + dt_bias), alpha = exp(g);
- ``norm``: an RMSNorm of H_lv weights over each value head, times SiLU(z); ``out_proj`` N_lv·H_lv x D.

The recurrence, per value head, its state S of H_lk x H_lv (d_k x d_v), from the paper's recurrent
form S_t = S_{t-1}(alpha_t(I - beta_t k_t k_tᵀ)) + beta_t v_t k_tᵀ, evaluated as transformers'
``torch_recurrent_gated_delta_rule`` (and the fused kernels) do, per token:

  (1) decay      S <- alpha_t S                     d_k·d_v multiplies         (vector)
  (2) read       u = Sᵀ k_t                         d_k·d_v multiply-adds      2·d_k·d_v
  (3) delta      delta = beta_t (v_t - u)           d_v subtracts, d_v mults   (vector) 2·d_v
  (4) write      S <- S + k_t deltaᵀ                d_k·d_v multiply-adds      2·d_k·d_v
  (5) readout    o_t = Sᵀ q_t                       d_k·d_v multiply-adds      2·d_k·d_v

so 6·d_k·d_v matmul-class FLOPs (2, 4, 5) and d_k·d_v + 2·d_v vector FLOPs (1, 3) per token and
value head: linear in T. The node ``recurrence`` carries them (its signature counts one pass,
2·d_k·d_v, ``flop_scale`` 3 the three products). The q·d_k^-1/2 scale is folded into the l2norm
nodes. Its backward follows the usual rule: twice the forward's products (``grad_share``).

transformers' torch fallback for T > 1 (``torch_chunk_gated_delta_rule``, chunks of 64) computes
the same outputs with other matmuls (a triangular solve per chunk, intra-chunk scores): what
PyTorch's FlopCounterMode counts for it differs, and tests/validate/test_linear_attention.py
states by how much.

Serving: a linear layer keeps no KV cache growing with S. transformers' cache
(cache_utils.py, ``LinearAttentionLayer``) holds the recurrent state, B x N_lv x H_lk x H_lv, and
the conv state, the last W_cv inputs of the q, k, v channels (a kernel needs only W_cv - 1; it
keeps W_cv). Each decode step reads both and writes them back (``read_share`` 2).
"""

from __future__ import annotations

import sympy as sp


def add_linear(b, block, proj, xa: str) -> str:
    """Gated DeltaNet on the normed input ``xa``; returns the output projection's node."""
    p, repeat = block.name, block.count
    lin = f"{p}/lin"
    heads = {"q": "Nlk Hlk", "k": "Nlk Hlk", "v": "Nlk Glv Hlv", "z": "Nlk Glv Hlv"}
    for part, dims in heads.items():
        proj(f"{lin}/{part}", f"B T D, D {dims} -> B T {dims}", xa, ("D", *dims.split()), (), False,
             "attention", "lin/in_proj_qkvz")
    for part in ("b", "a"):
        proj(f"{lin}/{part}", "B T D, D Nlk Glv -> B T Nlk Glv", xa, ("D", "Nlk", "Glv"), (), False,
             "attention", "lin/in_proj_ba")
    mixed = {}
    for part in ("q", "k", "v"):
        mixed[part] = _conv(b, block, lin, part, heads[part])
    for part in ("q", "k"):       # l2norm in the kernel (use_qk_l2norm_in_kernel); q also times d_k^-1/2
        b.elementwise(f"{lin}/{part}_l2norm", "l2norm", [("x", mixed[part])], f"B T {heads[part]}", repeat=repeat)
        mixed[part] = f"{lin}/{part}_l2norm"
    b.elementwise(f"{lin}/gates", "gdn_gates", [("b", f"{lin}/b"), ("a", f"{lin}/a")], "B T Nlk Glv",
                  {f"{lin}/dt_bias": ("Nlk", "Glv"), f"{lin}/A_log": ("Nlk", "Glv")}, "attention", repeat)
    core = f"{lin}/recurrence"
    b.contraction(core, "B T Nlk Hlk, B T Nlk Hlk, B T Nlk Glv Hlv, B T Nlk Glv -> B T Nlk Glv Hlv",
                  [("q", mixed["q"]), ("k", mixed["k"]), ("v", mixed["v"]), ("g", f"{lin}/gates")],
                  repeat=repeat, core=True)
    sizes = b.sizes
    per_head = sizes["B"] * sizes["T"] * sizes["Nlk"] * sizes["Glv"]
    b.g.nodes[core].update(flop_scale=3, grad_share=sp.Rational(1, 2), linear=True,
                           vector_extra=per_head * (sizes["Hlk"] * sizes["Hlv"] + 2 * sizes["Hlv"]))
    if b.phase in ("prefill", "decode"):
        _state(b, block, f"{lin}/state", core, ("B", "Nlk", "Glv", "Hlk", "Hlv"))
    b.elementwise(f"{lin}/norm", "gated_rmsnorm", [("x", core), ("gate", f"{lin}/z"), ("w", f"{lin}/norm.w")],
                  "B T Nlk Glv Hlv", {f"{lin}/norm.w": ("Hlv",)}, "norms", repeat)
    proj(f"{lin}/out", "B T Nlk Glv Hlv, Nlk Glv Hlv D -> B T D", f"{lin}/norm", ("Nlk", "Glv", "Hlv", "D"), (),
         False, "attention")
    return f"{lin}/out"


def _conv(b, block, lin: str, part: str, dims: str) -> str:
    """Gated DeltaNet's conv on one part of the q, k, v channels (``causal_conv``, W_cv taps, no bias)."""
    return causal_conv(b, block, lin, part, dims, "Wcv", "lin/conv1d")


def causal_conv(b, block, prefix: str, part: str, dims: str, taps: str, module: str, bias: bool = False,
                act: bool = True) -> str:
    """Depthwise causal conv of ``taps`` (a size letter) on one part of a mixer's channels, then SiLU
    (none where ``act`` is false: LFM2's short conv, short_conv.py).
    Each output is a W-term dot product per channel: 2·W FLOPs (the taps a window names in the
    signature; its dx folds the windows back: core/backward.py), a bias per channel where the class
    has one. In decode it reads the conv state (the new input shifted in), else the projection itself.
    Gated DeltaNet's (here) and Mamba's (ssm.py)."""
    src = f"{prefix}/{part}"
    if b.phase in ("prefill", "decode"):
        state = _state(b, block, f"{prefix}/conv_state_{part}", src, ("B", taps, *dims.split()))
        if b.phase == "decode":
            src = state
    name = f"{prefix}/conv_{part}"
    params = {f"{name}.w": (*dims.split(), taps), **({f"{name}.b": tuple(dims.split())} if bias else {})}
    b.contraction(name, f"B T {taps} {dims}, {dims} {taps} -> B T {dims}", [("x", src), ("w", f"{name}.w")], params,
                  "attention", block.count)
    b.g.nodes[name]["fused"] = f"{block.name}/{module}"
    if not act:
        return name
    b.elementwise(f"{prefix}/act_{part}", "act", [("x", name)], f"B T {dims}", repeat=block.count)
    return f"{prefix}/act_{part}"


def _state(b, block, name: str, src: str, dims: tuple) -> str:
    """A state kept for decode (the cache: derive.kv_cache_bytes). Prefill writes it once; a decode
    step reads all of it and writes it back, counted here (read_share 2) and in ``fixed_bytes``."""
    from .symbols import b_kv
    from . import ops

    b._add(name, "state", [("x", src)], dims, None, None, block.count, b._block_of(name, block.count),
           attention_core=False, cache=True)
    b.g.graph["widths"][name] = b_kv
    held = ops.numel(dims, b.sizes) * b_kv
    decode = b.phase == "decode"
    conv = "Wcv" in dims or "Ws" in dims or "Wsc" in dims    # a conv state (Gated DeltaNet's, Mamba's, LFM2's)
    b.g.nodes[name]["fixed_bytes"] = 2 * held if decode and not conv else held
    if decode:
        b.g.nodes[name]["read_share"] = 2
    return name
