"""Low-precision (FP8) training matmuls, as TransformerEngine's recipe runs them: which products
run at the low-precision peak, and what each casts through HBM.

The recipe (NVIDIA TransformerEngine user guide, "Using FP8 with Transformer Engine",
https://docs.nvidia.com/deeplearning/transformer-engine/user-guide/examples/fp8_primer.html;
Micikevicius et al. 2022, "FP8 Formats for Deep Learning", arXiv 2209.05433): the linear layers of
each transformer block run their three products (forward, dX, dW) in FP8; the attention core, the
embedding and the output layer stay in BF16. A product's inputs are cast to FP8 first: the
forward's activation, once however many products read it (q, k and v; gate and up read one
normed input), and the gradient the dX product reads. Each cast reads the BF16 tensor and writes
it twice in FP8, as is and transposed for the dW product, which reads both as cast already.
Weights are cast once a step (stored in FP8 with ``fp8_params``): not counted here.
"""

from __future__ import annotations

from . import kernels


def weight_matmul(sg, d: dict) -> bool:
    """A product of a weight matmul: its forward op (a backward or replayed one's) reads weights."""
    return bool((d if d["phase"] == "forward" else sg.nodes[d["forward"]]).get("params"))


def cast_elements(d: dict, flops: float, extent: dict, seen: set) -> float:
    """Elements a weight matmul's product casts (``seen``: the forward activations cast already, by
    phase and tensor). The cast operand is the product's first, of ``flops / 2n`` elements, ``n``
    the weight's free extent on one chip (``kernels.local_shape``)."""
    if d["phase"] == "backward":
        if d.get("wrt") != "x":
            return 0.0          # dW reads the cast activation and gradient
    else:
        ref = next(ref for role, ref in d["operands"] if role != "w")
        if (d["phase"], ref) in seen:
            return 0.0
        seen.add((d["phase"], ref))
    return flops / (2 * kernels.local_shape(d["sig"], extent)[1])
