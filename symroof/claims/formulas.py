"""Named closed forms a user can print: ``symroof formula NAME``. Each is derived on demand.

A formula is a function of the model's graph structure returning a SymPy expression (or
a ``Derivation`` from the solver). Nothing here is a typed-in result: each entry calls the
graph derivation or the solver.
"""

from __future__ import annotations

from typing import Callable

from ..core import derive
from ..errors import NoClosedFormError, UnknownNameError
from ..core.graph import Structure, build


def _graph(structure: Structure, attention: str = "causal"):
    return build(structure, attention)


def _solved(name: str, **options):
    """A solver result. The default structure is the book's simplified layer (training.md)."""
    def make(structure: Structure):
        from ..solve import training as solve

        chosen = Structure.book_layer() if structure == Structure() else structure
        if any(blk.moe for blk in chosen.blocks):
            # routed expert tokens (B·T·k/E per expert) leave SymPy no closed form in reasonable time
            raise NoClosedFormError(f"formula {name!r} is solved for dense models; for an MoE card "
                                    "use the book's layer (omit --model) or `symroof plan`")
        return getattr(solve, name)(chosen, **options)
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
    "x_opt":                  ("optimal FSDP degree for FSDP+TP on n_chips (book: sqrt(2BN/F))",
                               _solved("fsdp_tp_optimum")),
    "x_opt_max":              ("X_opt when the FSDP and TP comms overlap each other (later revision)",
                               _solved("fsdp_tp_optimum", overlap="max")),
    "mixed_critical_batch":   ("tokens per chip above which FSDP+TP at X_opt is compute-bound",
                               _solved("mixed_critical_batch")),
    "mixed_critical_batch_max": ("the same, with FSDP and TP comms overlapping (later revision)",
                               _solved("mixed_critical_batch", overlap="max")),
    "fsdp_critical_batch":    ("tokens per chip above which FSDP is compute-bound (alpha / M_X)",
                               _solved("data_parallel_batch")),
    "dp_critical_batch":      ("tokens per chip above which pure data parallelism is compute-bound",
                               _solved("data_parallel_batch", fsdp=False)),
    "tp_max_degree":          ("largest compute-bound tensor-parallel degree (M_Y F / alpha)",
                               _solved("tensor_parallel_degree")),
    "dcn_critical_batch":     ("tokens per pod above which data parallelism over DCN is compute-bound",
                               _solved("dcn_critical_batch")),
}


def formula(name: str, structure: Structure = Structure()):
    """The named closed form for a model of this structure (LLaMA-style by default)."""
    if name not in FORMULAS:
        raise UnknownNameError(f"unknown formula {name!r}; known: {', '.join(FORMULAS)}")
    return FORMULAS[name][1](structure)
