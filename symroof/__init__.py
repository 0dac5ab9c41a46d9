"""symroof: symbolic rooflines for Transformer training and serving, derived from a dataflow graph.

The public API is the table below: each name, where it is defined, and what it is for. A name
is imported when first used, so that `import symroof` stays light (no networkx, no numpy).
"""

from importlib import import_module

__version__ = "0.1.0"

#   public name                 module              defined as
_PUBLIC = {
    "ChipCard":                  ("io.chips", "ChipCard"),
    "ModelCard":                 ("io.cards", "ModelCard"),
    "list_cards":                ("io.catalog", "list_cards"),
    "load_chip":                 ("io.catalog", "load_chip"),
    "load_model":                ("io.catalog", "load_model"),
    "override_chip":             ("io.chips", "override_chip"),
    "Axis":                      ("parallel.collectives", "Axis"),
    "attention_crossover":       ("core.derive", "attention_crossover"),
    "breakdown":                 ("core.derive", "breakdown"),
    "flops":                     ("core.derive", "flops"),
    "params":                    ("core.derive", "params"),
    "params_by_group":           ("core.derive", "params_by_group"),
    "training_flops_per_token":  ("core.derive", "training_flops_per_token"),
    "training_memory":           ("core.derive", "training_memory"),
    "CardError":                 ("errors", "CardError"),
    "InfeasibleError":           ("errors", "InfeasibleError"),
    "NoClosedFormError":         ("errors", "NoClosedFormError"),
    "SymroofError":              ("errors", "SymroofError"),
    "UnknownNameError":          ("errors", "UnknownNameError"),
    "FORMULAS":                  ("claims.formulas", "FORMULAS"),
    "formula":                   ("claims.formulas", "formula"),
    "Structure":                 ("core.graph", "Structure"),
    "build_graph":               ("core.graph", "build"),
    "Count":                     ("io.bind", "Count"),
    "chip_values":               ("io.bind", "chip_values"),
    "count":                     ("io.bind", "count"),
    "evaluate":                  ("io.bind", "evaluate"),
    "graph_for":                 ("io.bind", "graph_for"),
    "model_values":              ("io.bind", "model_values"),
    "memory_per_chip":           ("parallel.roofline", "memory_per_chip"),
    "step":                      ("parallel.roofline", "step"),
    "shard":                     ("parallel.sharding", "shard"),
    "Derivation":                ("solve.training", "Derivation"),
    "RunSettings":               ("io.run", "RunSettings"),
    "op_table":                  ("io.bind", "op_table"),
    "data_parallel_batch":       ("solve.training", "data_parallel_batch"),
    "dcn_critical_batch":        ("solve.training", "dcn_critical_batch"),
    "fsdp_tp_optimum":           ("solve.training", "fsdp_tp_optimum"),
    "mixed_critical_batch":      ("solve.training", "mixed_critical_batch"),
    "tensor_parallel_degree":    ("solve.training", "tensor_parallel_degree"),
    "make_plan":                 ("search.plan", "plan"),
    "Plan":                      ("search.plan", "Plan"),
    "reproduce_derivation":      ("claims.reproduce", "run"),
    "list_derivations":          ("claims.reproduce", "list_derivations"),
    "latex_document":            ("report.document", "latex_document"),
    "markdown_document":         ("report.document", "markdown_document"),
    "validate_runs":             ("claims.published", "validate"),
    "plot_ratio":                ("report.plot", "ratio"),
    "plot_roofline":             ("report.plot", "roofline"),
}
_PUBLIC["symbols"] = ("core.symbols", None)


def __getattr__(name: str):
    if name in _PUBLIC:
        module, attribute = _PUBLIC[name]
        found = import_module(f".{module}", __name__)
        return found if attribute is None else getattr(found, attribute)
    raise AttributeError(f"module 'symroof' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(_PUBLIC)


__all__ = sorted(_PUBLIC)
