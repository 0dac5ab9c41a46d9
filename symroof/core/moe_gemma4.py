"""Gemma 4's MoE block (a card's ``moe_beside_mlp``): routed experts beside the layer's dense MLP, not in its place.

As transformers 5.24 builds it (models/gemma4/modeling_gemma4.py, ``Gemma4TextDecoderLayer`` with
``enable_moe_block``, ``Gemma4TextRouter``, ``Gemma4TextExperts``), on the attention block's output h:

- the dense MLP of F on pre_feedforward_layernorm(h), then ``post_feedforward_layernorm_1``;
- the router on h: an RMSNorm without weights times a learned ``scale`` of D (and D^-1/2: a constant), then
  ``proj`` D x E, softmax, top k, renormalised, each chosen weight times its expert's ``per_expert_scale`` (E);
- E gated experts of F_e on ``pre_feedforward_layernorm_2``(h), then ``post_feedforward_layernorm_2``;
- the two summed; the layer's post_feedforward_layernorm and residual add follow (blocks._mlp_block).
"""

from __future__ import annotations


def add_moe_beside(b, block, proj, norm, x: str, h: str) -> str:
    """The dense MLP on ``x`` (its normed input) and the experts on ``h`` (the residual stream); their sum."""
    from .blocks import _mlp, _moe

    p, repeat = block.name, block.count
    norm(f"{p}/mlp/post_norm_1", _mlp(b, block, proj, x), "B T D")
    router_in = f"{p}/moe/router_norm"      # an unweighted RMSNorm times the router's scale: one RMSNorm's work
    b.elementwise(router_in, "rmsnorm", [("x", h), ("w", f"{router_in}.w")], "B T D", {f"{router_in}.w": ("D",)},
                  "mlp", repeat)
    norm(f"{p}/moe/pre_norm_2", h, "B T D")
    norm(f"{p}/moe/post_norm_2", _moe(b, block, proj, f"{p}/moe/pre_norm_2", router_in), "B T D")
    b.elementwise(f"{p}/moe/beside", "add", [("x", f"{p}/mlp/post_norm_1"), ("y", f"{p}/moe/post_norm_2")], "B T D",
                  repeat=repeat)
    return f"{p}/moe/beside"
