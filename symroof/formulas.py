"""Named closed forms a user can print: ``symroof formula NAME``. Each is derived on demand.

A formula is a function of the model's graph structure returning a SymPy expression (or
a ``Derivation`` from the solver). Nothing here is a typed-in result: each entry calls the
graph derivation or the solver.
"""

from __future__ import annotations

from typing import Callable

from . import derive
from .errors import UnknownNameError
from .graph import Structure, build


def _graph(structure: Structure, attention: str = "causal"):
    return build(structure, attention)


def _solved(name: str):
    def make(structure: Structure):
        from . import solve

        return getattr(solve, name)(structure)
    return make


#  name                       description                                                   derivation
FORMULAS: dict[str, tuple[str, Callable]] = {
    "params":                 ("total parameter count",
                               lambda s: derive.params(_graph(s))),
    "params_active":          ("parameters one token uses (MoE: k of E experts)",
                               lambda s: derive.params(_graph(s), active=True)),
    "flops_forward":          ("forward contraction FLOPs of B sequences of T tokens (causal)",
                               lambda s: derive.flops(_graph(s), "forward")),
    "flops_backward":         ("backward contraction FLOPs (dX and dW of every contraction)",
                               lambda s: derive.flops(_graph(s), "backward")),
    "flops_per_token":        ("training FLOPs per token, per-op count (causal attention)",
                               lambda s: derive.training_flops_per_token(_graph(s))),
    "flops_per_token_6n":     ("training FLOPs per token by the 6·N rule",
                               lambda s: derive.training_flops_per_token(_graph(s), "6N")),
    "attention_crossover":    ("sequence length where attention-core FLOPs equal the weight matmuls' (full count)",
                               lambda s: derive.attention_crossover(_graph(s, "full"))),
    "training_memory":        ("bytes of weights, gradients, optimizer state and checkpoints",
                               lambda s: derive.training_memory(_graph(s))["total"]),
}


def formula(name: str, structure: Structure = Structure()):
    """The named closed form for a model of this structure (LLaMA-style by default)."""
    if name not in FORMULAS:
        raise UnknownNameError(f"unknown formula {name!r}; known: {', '.join(FORMULAS)}")
    return FORMULAS[name][1](structure)
