"""Run settings: numeric formats and training choices that are not part of a model or chip card.

These are conventions a user picks, not hardware or model constants; each default says why.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import sympy as sp

from ..errors import CardError
from ..core.symbols import b_act, b_grad, b_opt, b_param, n_ckpt


@dataclass(frozen=True)
class RunSettings:
    param_bytes: int = 2        # bf16 weights
    act_bytes: int = 2          # bf16 activations (and collectives of activations)
    grad_bytes: int = 2         # a bf16 gradient buffer; the book's seed counts none (0)
    optimizer_bytes: int = 8    # Adam: two fp32 moments per parameter
    ckpt_per_layer: int = 2     # saved [B, T, D] arrays per layer: the layer input and the
                                # MLP input (the book's later revision; its pinned seed says 4)

    def values(self) -> dict[sp.Symbol, sp.Integer]:
        return {b_param: sp.Integer(self.param_bytes), b_act: sp.Integer(self.act_bytes),
                b_grad: sp.Integer(self.grad_bytes), b_opt: sp.Integer(self.optimizer_bytes),
                n_ckpt: sp.Integer(self.ckpt_per_layer)}

    def with_options(self, **changes) -> "RunSettings":
        """A copy with some settings changed; each must be a non-negative integer."""
        known = {f.name for f in fields(self)}
        for key, value in changes.items():
            if key not in known:
                raise CardError(f"unknown run setting {key!r}; known: {', '.join(sorted(known))}")
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise CardError(f"run setting {key!r} must be a non-negative integer, got {value!r}")
        return replace(self, **changes)
