"""LFM2's short convolution: the token mixer of its ``conv`` layers (a block type's attention: shortconv).

As transformers 5.24 builds it (models/lfm2/modeling_lfm2.py, ``Lfm2ShortConv``; lfm2_moe copies it), on the
normed input x of D channels, with a kernel of W_sc taps (``conv_L_cache``) and a bias on every matrix and on the
conv where ``conv_bias``:

- ``in_proj`` D x 3D: three gates' inputs B, C and x̃ of D each (nodes B, C, x; one matrix);
- u = B·x̃ elementwise (node Bx);
- ``conv``: a depthwise causal convolution of W_sc taps over u's D channels, no activation (node conv_Bx);
- y = C·conv(u) elementwise (node Cy);
- ``out_proj`` D x D.

So 2·(3D + D)·D matmul FLOPs per token in the projections and 2·W_sc·D in the conv (``causal_conv``: each output
a W_sc-term dot product per channel), linear in T. No recurrent state: decode keeps only the conv's inputs
(transformers' cache, ``LinearAttentionLayer.update_conv_state``: the last W_sc of u's D channels; a kernel needs
W_sc - 1, it keeps W_sc), read and written back each step, as the Mamba and Gated DeltaNet conv states are.
"""

from __future__ import annotations

from .linear_attention import causal_conv


def add_short_conv(b, block, proj, xa: str) -> str:
    """The short-conv mixer on the normed input ``xa``; returns its output projection's node."""
    sc, repeat = f"{block.name}/conv", block.count
    for part in ("B", "C", "x"):
        proj(f"{sc}/{part}", "B T D, D Dc -> B T Dc", xa, ("D", "Dc"), ("Dc",), block.short_conv_bias, "attention",
             "conv/in_proj")
    b.elementwise(f"{sc}/Bx", "mul", [("x", f"{sc}/B"), ("y", f"{sc}/x")], "B T Dc", repeat=repeat)
    conv = causal_conv(b, block, sc, "Bx", "Dc", "Wsc", "conv/conv", block.short_conv_bias, act=False)
    b.elementwise(f"{sc}/Cy", "mul", [("x", f"{sc}/C"), ("y", conv)], "B T Dc", repeat=repeat)
    proj(f"{sc}/out", "B T Dc, Dc D -> B T D", f"{sc}/Cy", ("Dc", "D"), ("D",), block.short_conv_bias, "attention")
    return f"{sc}/out"
