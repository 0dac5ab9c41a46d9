"""The inference closed forms (book sections 7-8) filed in the one registry of named results.

Every claim quantity of ``inference_quantities`` is registered under its name; the closed
forms ``symroof formula`` lists also answer without a model card, on the given structure
(the book's layer where the book states the form on it).
"""

from __future__ import annotations

from ..core.graph import Structure
from ..errors import CardError
from ..solve import inference as inf
from .inference_quantities import QUANTITIES
from .quantities import Quantity


def _book_or(structure: Structure) -> Structure:
    return inf.BOOK if structure == Structure() else structure


#  name                        description                                                 derivation
FORMULAS = {
    "kv_bytes_per_token":      ("KV-cache bytes one token adds (decode graph's cache tensors)",
                                lambda s: inf.kv_bytes_per_token(s)),
    "decode_step_time":        ("decode step lower bound on n_chips: attention core + weight matmuls, each on its roofline",
                                lambda s: inf.step_time(inf.decode_parts(s))),
    "decode_critical_batch":   ("decode batch above which the weight matmuls are compute-bound (book: 240 on v5e)",
                                lambda s: inf.decode_critical_batch(_book_or(s))),
    "prefill_attention_length": ("prompt length above which prefill attention is compute-bound (MHA: 2C/W_hbm)",
                                lambda s: inf.prefill_attention_length(s)),
    "max_batch":               ("sequences of S tokens whose caches fit beside the weights on n_chips",
                                lambda s: inf.max_batch(s)),
    "kv_compute_crossover":    ("context above which a sequence's cache read outweighs its matmul FLOPs",
                                lambda s: inf.kv_compute_crossover(s)),
    "mp_limit_memory":         ("decode TP degree where ICI overtakes weight loading (book: F/(B beta))",
                                lambda s: inf.model_parallel_limit_memory(_book_or(s))),
    "mp_limit_compute":        ("decode TP degree where ICI overtakes the FLOPs (book: M F / alpha)",
                                lambda s: inf.model_parallel_limit_compute(_book_or(s))),
    "latency_bound_bytes":     ("bytes per shard below which an AllGather is latency-bound (T_min W_ici / 2)",
                                lambda s: inf.latency_bound_bytes()),
    "latency_bound_degree":    ("TP degree above which the decode [B, D] AllGather is latency-bound",
                                lambda s: inf.latency_bound_degree(_book_or(s))),
    "crossover_2d":            ("chips above which 2D weight-stationary beats 1D Megatron (book: 18 F/D)",
                                lambda s: inf.weight_stationary_2d(_book_or(s))),
    "prefill_time":            ("seconds to prefill B prompts of T tokens at MFU (2 P T FLOPs)",
                                lambda s: inf.prefill_time(s)),
}


# ----------------------------------------------------------------------------- the one registry

#  closed form                 unit          what one of it is
FORMULA_UNITS = {
    "kv_bytes_per_token":       "B",
    "decode_step_time":         "s",
    "decode_critical_batch":    "sequences",
    "prefill_attention_length": "tokens",
    "max_batch":                "sequences",
    "kv_compute_crossover":     "tokens",
    "mp_limit_memory":          "chips",
    "mp_limit_compute":         "chips",
    "latency_bound_bytes":      "B",
    "latency_bound_degree":     "chips",
    "crossover_2d":             "chips",
    "prefill_time":             "s",
}


def _entry(name: str):
    """A claim quantity under its name; with no model card (``symroof formula NAME``) the closed
    form on the given structure (the book's layer where the book states it so)."""
    quantity = QUANTITIES.get(name)

    def make(ctx):
        if ctx.card is None and name in FORMULAS:
            expr = FORMULAS[name][1](ctx.structure or Structure())
            return Quantity(getattr(expr, "expr", expr), {}, FORMULA_UNITS[name])
        if quantity is None:
            raise CardError(f"{name} is a closed form: give no --model, or use the serving claims")
        return quantity(ctx)
    make.__doc__ = FORMULAS[name][0] if name in FORMULAS else (quantity.__doc__ or name)
    return make


def _register_all() -> None:
    from .registry import register

    for name in dict.fromkeys([*QUANTITIES, *FORMULAS]):
        how = "solver" if name in FORMULAS and name not in ("kv_bytes_per_token", "prefill_time") else "graph"
        register(name, FORMULA_UNITS.get(name, ""), how, "")(_entry(name))


_register_all()
