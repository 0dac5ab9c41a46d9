"""symroof: symbolic rooflines for Transformer training, derived from a dataflow graph.

The public API is what this module re-exports; everything else is internal.
"""

from . import symbols as symbols
from .cards import ChipCard as ChipCard
from .cards import ModelCard as ModelCard
from .cards import list_cards as list_cards
from .cards import load_chip as load_chip
from .cards import load_model as load_model
from .cards import override_chip as override_chip
from .collectives import Axis as Axis
from .derive import attention_crossover as attention_crossover
from .derive import breakdown as breakdown
from .derive import flops as flops
from .derive import params as params
from .derive import params_by_group as params_by_group
from .derive import training_flops_per_token as training_flops_per_token
from .derive import training_memory as training_memory
from .errors import CardError as CardError
from .errors import InfeasibleError as InfeasibleError
from .errors import NoClosedFormError as NoClosedFormError
from .errors import SymroofError as SymroofError
from .errors import UnknownNameError as UnknownNameError
from .formulas import FORMULAS as FORMULAS
from .formulas import formula as formula
from .graph import Structure as Structure
from .graph import build as build_graph
from .instantiate import Count as Count
from .instantiate import chip_values as chip_values
from .instantiate import count as count
from .instantiate import evaluate as evaluate
from .instantiate import graph_for as graph_for
from .instantiate import model_values as model_values
from .roofline import memory_per_chip as memory_per_chip
from .roofline import step as step
from .sharding import shard as shard
from .solve import Derivation as Derivation

from .run import RunSettings as RunSettings
from .instantiate import op_table as op_table
from .solve import data_parallel_batch as data_parallel_batch
from .solve import dcn_critical_batch as dcn_critical_batch
from .solve import fsdp_tp_optimum as fsdp_tp_optimum
from .solve import mixed_critical_batch as mixed_critical_batch
from .solve import tensor_parallel_degree as tensor_parallel_degree

__version__ = "0.1.0"

# Whole features, imported when first used so that `import symroof` stays light.
_LAZY = {
    "make_plan": ("plan", "plan"), "Plan": ("plan", "Plan"),
    "reproduce_derivation": ("reproduce", "run"), "list_derivations": ("reproduce", "list_derivations"),
    "latex_document": ("document", "latex_document"), "markdown_document": ("document", "markdown_document"),
    "validate_runs": ("validate", "validate"),
    "plot_ratio": ("plot", "ratio"), "plot_roofline": ("plot", "roofline"),
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
