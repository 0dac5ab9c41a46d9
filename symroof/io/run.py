"""Run settings: numeric formats and training choices that are not part of a model or chip card.

These are conventions a user picks, not hardware or model constants; each default says why.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from ..errors import CardError


@dataclass(frozen=True)
class RunSettings:
    param_bytes: int = 2        # bf16 weights
    act_bytes: int = 2          # bf16 activations (and collectives of activations)
    grad_bytes: int = 2         # a bf16 gradient buffer; the book's seed counts none (0)
    optimizer_bytes: int = 8    # Adam: two fp32 moments per parameter
    ckpt_per_layer: int = 2     # saved [B, T, D] arrays per layer: the layer input and the
                                # MLP input (the book's later revision; its pinned seed says 4)
    mask_bytes: int = 1         # a saved dropout mask: one byte per element (Korthikanti et al. 2022)
    recompute: str | tuple | None = None
    # Activation recompute policy (core/recompute.py): "none", "full", "selective" or a tuple of
    # tensor names to keep. None keeps today's convention: memory counts ckpt_per_layer
    # checkpoints and FLOPs count no replay. Given, memory and hardware FLOPs both follow the
    # policy (ckpt_per_layer = 1 is "full"; 2 is keeping the block input and the MLP input).

    def values(self) -> dict:
        """The settings as exact numbers for their symbols (SymPy is imported here, not with the
        module: a plan read from the cache needs none)."""
        import sympy as sp

        from ..core.symbols import b_act, b_grad, b_mask, b_opt, b_param, n_ckpt

        return {b_param: sp.Integer(self.param_bytes), b_act: sp.Integer(self.act_bytes),
                b_grad: sp.Integer(self.grad_bytes), b_opt: sp.Integer(self.optimizer_bytes),
                n_ckpt: sp.Integer(self.ckpt_per_layer), b_mask: sp.Integer(self.mask_bytes)}

    def with_options(self, **changes) -> "RunSettings":
        """A copy with some settings changed; each a non-negative integer but ``recompute``
        (a policy name, a tuple of tensor names, or names joined by commas)."""
        known = {f.name for f in fields(self)}
        if changes.get("recompute") is not None and "ckpt_per_layer" in changes:
            raise CardError("give checkpoints per layer (ckpt_per_layer, --ckpt) or a recompute "
                            "policy (recompute, --recompute), not both")
        for key, value in changes.items():
            if key not in known:
                raise CardError(f"unknown run setting {key!r}; known: {', '.join(sorted(known))}")
            if key == "recompute":
                from ..core.recompute import POLICIES

                if isinstance(value, str) and value not in POLICIES:     # tensor names, comma-separated
                    value = tuple(part.strip() for part in value.split(",") if part.strip())
                if not (isinstance(value, str) or value is None or
                        (isinstance(value, tuple) and value and all(isinstance(v, str) for v in value))):
                    raise CardError(f"run setting 'recompute' must be none, full, selective or a list "
                                    f"of tensor names, got {value!r}")
                twice = [v for i, v in enumerate(value) if isinstance(value, tuple) and v in value[:i]]
                if twice:           # as a key given twice is refused: the policy was printed with each repeat
                    raise CardError(f"run setting 'recompute' (--recompute) names {twice[0]!r} twice; give each "
                                    f"tensor once")
                changes = {**changes, "recompute": value}
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**12:
                raise CardError(f"run setting {key!r} must be an integer from 0 to 10^12 (bytes or checkpoints "
                                f"per element or layer), got {value!r}")
        return replace(self, **changes)


def recompute_share(card, policy, layers: int | None, what: str) -> dict:
    """``{f_rc: layers / L}``: a recompute policy on ``layers`` of the card's L layers (the rest keep every
    tensor); ``{}`` for all of them (None or L). ``what`` names the setting in the one-line refusal."""
    if layers is None:
        return {}
    import sympy as sp

    from ..core.symbols import f_rc

    if policy in (None, "none"):
        raise CardError(f"{what} needs a recompute policy (full, selective or a list of tensors), not none")
    if layers > card.n_layers:
        raise CardError(f"{what} is {layers}, above the model's {card.n_layers} layers")
    return {} if layers == card.n_layers else {f_rc: sp.Rational(layers, card.n_layers)}
