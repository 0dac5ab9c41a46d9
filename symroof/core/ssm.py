"""The Mamba-2 token mixer (SSD): the ``mamba`` layers of Nemotron-H, Bamba, Granite 4.0 and Mamba-2, and
the SSM half of Falcon-H1's ``hybrid`` layers.

Dao and Gu 2024, "Transformers are SSMs: Generalized Models and Efficient Algorithms Through Structured
State Space Duality" (arXiv 2405.21060), as transformers 5.24 builds it (models/mamba2/modeling_mamba2.py,
``Mamba2Mixer``; nemotron_h, bamba, granitemoehybrid and falcon_h1 copy it). With N_ssm heads of H_ssm
(P below) in G_ssm groups (each group's Q_s = N_ssm / G_ssm heads share one B and one C of d_st, N below),
d_inner = N_ssm·H_ssm and a kernel of W_ssm taps:

- ``in_proj`` D x (2·d_inner + 2·G_ssm·d_st + N_ssm), a bias where the class has one: the gate z and
  x (d_inner each), B and C (G_ssm·d_st each) and dt (one per head) (nodes z, x, B, C, dt);
- ``conv1d``: depthwise causal convolution of W_ssm taps over the x, B and C channels, with a bias per
  channel where ``use_conv_bias`` (conv_x, conv_B, conv_C), then SiLU;
- ``dt_bias``, ``A_log`` and ``D``, N_ssm each (node gates: dt = softplus(dt + dt_bias),
  a = exp(-exp(A_log)·dt));
- ``norm``: y·SiLU(z), then an RMSNorm over each group's d_inner / G_ssm channels, d_inner weights
  (norm_before_gate=False; Falcon-H1's norm_before_gate=True norms first and gates after, the same
  FLOPs; its ``mamba_rms_norm`` false builds none: y·SiLU(z) alone); ``out_proj`` d_inner x D.

The scan, per head, its state h of P x N, from the paper's recurrent form (its eq. for the selective
SSM, h_t = a_t·h_{t-1} + dt_t·x_t B_tᵀ, y_t = h_t C_t + D·x_t), evaluated as transformers'
``mamba2_selective_state_update`` (and the fused kernels' recurrent step) do, per token:

  (1) decay      h <- a_t·h                         P·N multiplies               (vector)
  (2) input      u = dt_t·x_t                       P multiplies                 (vector)
  (3) write      h <- h + u B_tᵀ                    P·N multiply-adds            2·P·N
  (4) readout    y_t = h C_t                        P·N multiply-adds            2·P·N
  (5) skip       y_t <- y_t + D·x_t                 P multiply-adds              (vector) 2·P

so 4·P·N matmul-class FLOPs (3, 4) and P·N + 3·P vector FLOPs (1, 2, 5) per token and head: linear in T.
The node ``scan`` carries them (its signature x, B, C, dt -> y counts one pass, 2·P·N, ``flop_scale``
2 the two products). Its backward follows the usual rule: twice the forward's products
(``grad_share``: four operands' gradients at half the forward each), as linear_attention.py's.

transformers' torch fallback for T > 1 (``mamba2_chunk_scan``, chunks of ``chunk_size`` Q) computes the
same outputs by the SSD's block decomposition (intra-chunk C·Bᵀ scores times x, chunk states, the
inter-chunk recurrence, the states' readout): what PyTorch's FlopCounterMode counts for it differs from
4·T·P·N per head, and tests/validate/test_ssm.py states by how much.

Serving: a Mamba layer keeps no KV cache growing with S. transformers' cache (cache_utils.py,
``LinearAttentionLayer``) holds the SSM state, B x N_ssm x P x N, and the conv state, the last W_ssm
inputs of the x, B and C channels (a kernel needs only W_ssm - 1; it keeps W_ssm). Each decode step
reads both and writes them back (``read_share`` 2), as linear_attention.py's states.
"""

from __future__ import annotations

import sympy as sp

from .linear_attention import _state, causal_conv

X, BC, HEADS = "Gs Qs Hs", "Gs Ns", "Gs Qs"      # x, z and y; B and C; dt and the per-head parameters


def add_ssm(b, block, proj, xa: str) -> str:
    """The Mamba-2 mixer on the normed input ``xa``; returns its output projection's node."""
    p, repeat = block.name, block.count
    ssm = f"{p}/ssm"
    if block.mamba1:
        mixed, bc, gates = _mamba1_inputs(b, block, proj, ssm, xa)
    else:
        parts = {"z": X, "x": X, "B": BC, "C": BC, "dt": HEADS}
        for part, dims in parts.items():
            proj(f"{ssm}/{part}", f"B T D, D {dims} -> B T {dims}", xa, ("D", *dims.split()), tuple(dims.split()),
                 block.ssm_in_bias, "attention", "ssm/in_proj")
        mixed = {part: _conv(b, block, ssm, part, parts[part]) for part in ("x", "B", "C")}
        bc, gates = BC, {f"{ssm}/{w}": tuple(HEADS.split()) for w in ("dt_bias", "A_log", "D")}
    b.elementwise(f"{ssm}/gates", "ssd_gates", [("dt", f"{ssm}/dt")], f"B T {HEADS}", gates, "attention", repeat)
    scan = f"{ssm}/scan"
    b.contraction(scan, f"B T {X}, B T {bc}, B T {bc}, B T {HEADS} -> B T {X}",
                  [("x", mixed["x"]), ("B", mixed["B"]), ("C", mixed["C"]), ("dt", f"{ssm}/gates")],
                  repeat=repeat, core=True)
    sizes = b.sizes
    per_head = sizes["B"] * sizes["T"] * sizes["Gs"] * sizes["Qs"]
    # Mamba-1's A is per channel and state: its discretization exp(dt·A) is N exponentials a channel and token
    extra = sizes["Hs"] * sizes["Ns"] + 3 * sizes["Hs"] + (sizes["Ns"] if block.mamba1 else 0)
    b.g.nodes[scan].update(flop_scale=2, grad_share=sp.Rational(1, 2), ssm=True, vector_extra=per_head * extra)
    if b.phase in ("prefill", "decode"):
        _state(b, block, f"{ssm}/state", scan, ("B", "Gs", "Qs", "Hs", "Ns"))
    if block.ssm_norm:
        b.elementwise(f"{ssm}/norm", "gated_rmsnorm", [("x", scan), ("gate", f"{ssm}/z"), ("w", f"{ssm}/norm.w")],
                      f"B T {X}", {f"{ssm}/norm.w": tuple(X.split())}, "norms", repeat)
    else:           # Falcon-H1 without mamba_rms_norm: y·SiLU(z) in the kernel
        b.elementwise(f"{ssm}/norm", "gated_act", [("gate", f"{ssm}/z"), ("up", scan)], f"B T {X}", repeat=repeat)
    proj(f"{ssm}/out", f"B T {X}, {X} D -> B T D", f"{ssm}/norm", (*X.split(), "D"), ("D",), block.ssm_out_bias,
         "attention")
    return f"{ssm}/out"


def _mamba1_inputs(b, block, proj, ssm: str, xa: str):
    """The Mamba-1 mixer's inputs to the scan (Gu and Dao 2023, arXiv 2312.00752; transformers' MambaMixer): in_proj
    to x and z (d_inner each), the conv on x alone, ``x_proj`` from the conv's output to the time step's rank-R input
    and B and C (N each, shared by every channel), ``dt_proj`` R -> d_inner with a bias (the dt bias), and A_log
    (d_inner x N) and D (d_inner). Its d_inner channels are the heads (ssm_head_dim 1, one group). Jamba norms the
    time step's input, B and C (RMSNorms of R, N and N weights: transformers' JambaMambaMixer); FalconMamba the same
    three without weights (FalconMambaMixer's MambaWeightlessRMSNorm: its weight a buffer, never read)."""
    for part in ("z", "x"):
        proj(f"{ssm}/{part}", f"B T D, D {X} -> B T {X}", xa, ("D", *X.split()), tuple(X.split()), block.ssm_in_bias,
             "attention", "ssm/in_proj")
    x = _conv(b, block, ssm, "x", X)
    out = {}
    for part, dim in (("dt_low", "Rs"), ("B", "Ns"), ("C", "Ns")):
        proj(f"{ssm}/{part}", f"B T {X}, {X} {dim} -> B T {dim}", x, (*X.split(), dim), (), False, "attention",
             "ssm/x_proj")
        out[part] = f"{ssm}/{part}"
        name = f"{ssm}/{part}_norm"
        if block.ssm_inner_weightless:      # FalconMamba: the same norms, their weights unused buffers
            b.elementwise(name, "plain_rmsnorm", [("x", out[part])], f"B T {dim}", repeat=block.count)
            out[part] = name
        elif block.ssm_inner_norms:       # Jamba: dt_layernorm, b_layernorm, c_layernorm
            b.elementwise(name, "rmsnorm", [("x", out[part]), ("w", f"{name}.w")], f"B T {dim}",
                          {f"{name}.w": (dim,)}, "norms", block.count)
            out[part] = name
    proj(f"{ssm}/dt", f"B T Rs, Rs {HEADS} -> B T {HEADS}", out["dt_low"], ("Rs", *HEADS.split()),
         tuple(HEADS.split()), True, "attention")
    gates = {f"{ssm}/A_log": (*HEADS.split(), "Ns"), f"{ssm}/D": tuple(HEADS.split())}
    return {"x": x, "B": out["B"], "C": out["C"]}, "Ns", gates


def _conv(b, block, ssm: str, part: str, dims: str) -> str:
    """Mamba's conv on one part of the x, B, C channels (``linear_attention.causal_conv``, W_ssm taps,
    a bias per channel where the class has one)."""
    return causal_conv(b, block, ssm, part, dims, "Ws", "ssm/conv1d", block.ssm_conv_bias)
