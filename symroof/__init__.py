"""symroof: symbolic rooflines for Transformer training, derived from a dataflow graph.

The public API is what this module re-exports; everything else is internal.
"""

from .core import symbols
from .io.chips import ChipCard as ChipCard
from .io.cards import ModelCard as ModelCard
from .io.catalog import list_cards as list_cards
from .io.catalog import load_chip as load_chip
from .io.catalog import load_model as load_model
from .io.chips import override_chip as override_chip
from .parallel.collectives import Axis as Axis
from .core.derive import attention_crossover as attention_crossover
from .core.derive import breakdown as breakdown
from .core.derive import flops as flops
from .core.derive import params as params
from .core.derive import params_by_group as params_by_group
from .core.derive import training_flops_per_token as training_flops_per_token
from .core.derive import training_memory as training_memory
from .errors import CardError as CardError
from .errors import InfeasibleError as InfeasibleError
from .errors import NoClosedFormError as NoClosedFormError
from .errors import SymroofError as SymroofError
from .errors import UnknownNameError as UnknownNameError
from .claims.formulas import FORMULAS as FORMULAS
from .claims.formulas import formula as formula
from .core.graph import Structure as Structure
from .core.graph import build as build_graph
from .io.bind import Count as Count
from .io.bind import chip_values as chip_values
from .io.bind import count as count
from .io.bind import evaluate as evaluate
from .io.bind import graph_for as graph_for
from .io.bind import model_values as model_values
from .parallel.roofline import memory_per_chip as memory_per_chip
from .parallel.roofline import step as step
from .parallel.sharding import shard as shard
from .solve.training import Derivation as Derivation

from .io.run import RunSettings as RunSettings
from .io.bind import op_table as op_table
from .solve.training import data_parallel_batch as data_parallel_batch
from .solve.training import dcn_critical_batch as dcn_critical_batch
from .solve.training import fsdp_tp_optimum as fsdp_tp_optimum
from .solve.training import mixed_critical_batch as mixed_critical_batch
from .solve.training import tensor_parallel_degree as tensor_parallel_degree

__version__ = "0.1.0"

# Whole features, imported when first used so that `import symroof` stays light.
_LAZY = {
    "make_plan": ("search.plan", "plan"), "Plan": ("search.plan", "Plan"),
    "reproduce_derivation": ("claims.reproduce", "run"), "list_derivations": ("claims.reproduce", "list_derivations"),
    "latex_document": ("report.document", "latex_document"), "markdown_document": ("report.document", "markdown_document"),
    "validate_runs": ("claims.published", "validate"),
    "plot_ratio": ("report.plot", "ratio"), "plot_roofline": ("report.plot", "roofline"),
}


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        module, attribute = _LAZY[name]
        return getattr(import_module(f".{module}", __name__), attribute)
    raise AttributeError(f"module 'symroof' has no attribute {name!r}")

__all__ = [
    "Axis", "CardError", "ChipCard", "Count", "Derivation", "FORMULAS", "InfeasibleError",
    "ModelCard", "NoClosedFormError", "Structure", "SymroofError", "UnknownNameError",
    "attention_crossover", "breakdown", "build_graph", "chip_values", "count", "evaluate",
    "flops", "formula", "graph_for", "list_cards", "load_chip", "load_model", "memory_per_chip",
    "model_values", "override_chip", "params", "params_by_group", "shard", "step", "symbols",
    "training_flops_per_token", "training_memory", "RunSettings", "op_table", "data_parallel_batch",
    "dcn_critical_batch", "fsdp_tp_optimum", "mixed_critical_batch", "tensor_parallel_degree",
    *_LAZY,
]
