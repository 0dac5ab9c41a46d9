"""The one registry of named results: every formula, derivation quantity and closed form.

A ``Result`` has a name, a description, a unit, a LaTeX left-hand side, how it is derived
(``graph``: totals of the model's graph; ``solver``: SymPy solve/diff on sharded
expressions; ``run``: a product of such results with run settings) and a function of a
``Context`` returning a ``Quantity``. ``symroof formula``, the derivations' ``quantity:``
keys (``reproduce``) and the plan's and plots' closed forms all read from here, so one name
means one derivation everywhere. Entries are added with ``@register(...)`` in
``claims/quantities.py``; this module holds the table and what every entry shares.

Which structure an entry sees: graph results use the model card's structure (LLaMA-style
without a card); solver results use ``Context.solver``, the book's simplified layer
(training.md) unless a caller asks for the model's own graph, as ``symroof formula --model``
does.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import sympy as sp

from ..core.graph import Structure
from ..errors import CardError, UnknownNameError

HOW = ("graph", "solver", "run")


@dataclass(frozen=True)
class Quantity:
    expr: sp.Expr                 # what is computed (symbolic)
    values: dict                  # symbol -> exact number
    unit: str = ""
    display: sp.Expr | None = None   # an equal expression in the book's arrangement (e.g. 6·P)
    lhs: str = ""                 # LaTeX left-hand side
    derivation: object = None     # the solver's Derivation (assumptions, steps), where there is one


@dataclass
class Context:
    card: object                  # ModelCard, or None: the shape symbols stay free
    chip: object                  # ChipCard, or None: the hardware symbols stay free
    run: object                   # RunSettings, or None: the element widths stay free
    settings: dict = field(default_factory=dict)   # numeric settings, exact (see reproduce.SETTINGS)
    structure: Structure | None = None    # graph results: None = the card's (LLaMA-style without one)
    solver: Structure | None = None       # solver results: None = the book's layer (training.md)
    dtype: str = "bf16"                   # the math dtype: which peak of the chip card is C

    def need(self, key: str):
        if key not in self.settings:
            raise CardError(f"setting {key!r} is required by this quantity")
        return self.settings[key]

    def need_chip(self):
        """The chip card, for a result that reads more than its numbers (a topology, a slice rule)."""
        if self.chip is None:
            raise CardError("this result needs a chip card: give --chip (a card name or a .yaml path)")
        return self.chip

    def model_structure(self) -> Structure:
        if self.structure is not None:
            return self.structure
        return Structure.of(self.card) if self.card is not None else Structure()

    def solver_structure(self) -> Structure:
        return self.solver if self.solver is not None else Structure.book_layer()

    def values(self) -> dict:
        """Every symbol with a value from the cards, the run settings and the claim's settings."""
        from ..core.symbols import B, M_X, M_Y, T, X, Y, mfu, n_chips, n_pods, n_tokens
        from ..io.bind import chip_values, model_values

        s = self.settings
        out = {}
        if self.card is not None:
            out.update(model_values(self.card))
        if self.chip is not None:
            out.update(chip_values(self.chip, self.dtype))
        if self.run is not None:
            out.update(self.run.values())
        seq = s.get("seq", sp.Integer(1))
        out[T] = seq
        if "sequences" in s:
            out[B] = s["sequences"]
        elif "batch_tokens" in s:
            out[B] = s["batch_tokens"] / seq      # B counts sequences; B·T is the book's token batch
        direct = {"chips": n_chips, "tokens": n_tokens, "mfu": mfu, "M_X": M_X, "M_Y": M_Y,
                  "X": X, "Y": Y, "pods": n_pods}
        out.update({sym: s[key] for key, sym in direct.items() if key in s})
        return out


@dataclass(frozen=True)
class Result:
    name: str
    description: str
    unit: str                     # of the value: "chips", "tokens", "B", "FLOPs", "s"; "" a pure number
    lhs: str                      # LaTeX left-hand side
    how: str                      # one of HOW
    make: Callable                # Context -> sp.Expr or Quantity
    mesh: str | None = None       # the mesh the M values are for: "fsdp" (one axis), "fsdp_tp" or None

    def derive(self, ctx: Context) -> Quantity:
        made = self.make(ctx)
        if not isinstance(made, Quantity):
            made = Quantity(sp.Integer(made) if isinstance(made, int) else made, ctx.values())
        return replace(made, unit=made.unit or self.unit, lhs=made.lhs or self.lhs)


RESULTS: dict[str, Result] = {}
ALIASES = {"params": "params_total", "training_memory": "memory_total"}   # formula names of old


def register(name: str, unit: str, how: str, lhs: str, description: str = "", mesh: str | None = None):
    """Decorator: file ``fn(ctx)`` under ``name``; its docstring is the description by default."""
    if how not in HOW:
        raise ValueError(f"how must be one of {HOW}, not {how!r}")

    def add(fn):
        text = description or (fn.__doc__ or name).strip().splitlines()[0].rstrip(".")
        if name in RESULTS:
            raise ValueError(f"result {name!r} registered twice")
        RESULTS[name] = Result(name, text, unit, lhs, how, fn, mesh)
        return fn
    return add


def results() -> dict[str, Result]:
    """Every registered result (importing the modules that register them)."""
    from . import hardware_quantities, inference_formulas, quantities  # noqa: F401  (they register on import)

    return RESULTS


def lookup(name: str) -> Result:
    table = results()
    name = ALIASES.get(name, name)
    if name not in table:
        raise UnknownNameError(f"unknown formula or quantity {name!r}; known: {', '.join(table)}")
    return table[name]


def derive(name: str, ctx: Context) -> Quantity:
    return lookup(name).derive(ctx)
