"""Named results instantiated for a run: ``symroof formula NAME --model M --chip C ...``.

Every result comes from the one registry (``claims/registry.py``). ``instantiate`` derives
it for the model's own structure (or the book's layer when asked), substitutes whatever
numbers the cards, the run and ``--at`` give, exactly, and keeps the rest free. The M values
(``M_X``, ``M_Y``) come from the one rule in ``io.bind.mesh_m`` for the chip's topology.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from ..core.graph import Structure
from ..core.symbols import B, C, M_X, M_Y, T, W_ici, X, Y, n_chips
from .registry import Context, Result, lookup, results


class _Formulas(dict):
    """``{name: (description, Result)}``, filled from the registry on first use."""

    def _fill(self):
        if not super().__len__():
            self.update({name: (r.description, r) for name, r in results().items()})

    def __getitem__(self, key):
        self._fill()
        return super().__getitem__(key)

    def __iter__(self):
        self._fill()
        return super().__iter__()

    def __len__(self):
        self._fill()
        return super().__len__()

    def __contains__(self, key):
        self._fill()
        return super().__contains__(key)

    def items(self):
        self._fill()
        return super().items()


FORMULAS = _Formulas()


def formula(name: str, structure: Structure | None = None):
    """The named closed form for a structure: a solver ``Derivation`` or an expression.

    ``structure=None`` is the book's layer for solver results and LLaMA-style for graph ones.
    """
    q = lookup(name).derive(Context(None, None, None, {}, structure, structure))
    return q.derivation if q.derivation is not None else q.expr


@dataclass
class Instantiated:
    name: str
    result: Result
    expr: sp.Expr                  # the closed form
    substituted: sp.Expr           # the same with the given numbers in (unevaluated arrangement)
    value: sp.Expr                 # the simplified result (a number when nothing is free)
    unit: str
    lhs: str
    values: dict                   # symbol -> exact number used
    structure: str                 # which graph the result was derived on
    notes: list = field(default_factory=list)
    derivation: object = None

    @property
    def free_symbols(self) -> list[str]:
        return sorted(map(str, self.value.free_symbols))

    @property
    def number(self) -> float | None:
        return None if self.value.free_symbols else float(self.value)


def structure_note(card, book_layer: bool, how: str) -> str:
    if book_layer:
        return "the book's layer In·W_in·W_out (training.md)"
    if card is not None:
        return f"{card.name}'s own graph (attention, MLP, norms, embeddings)"
    if how == "solver":
        return "the book's layer In·W_in·W_out (no --model given; --model uses a card's own graph)"
    return "a LLaMA-style layer (no --model given)"


def instantiate(name: str, card=None, chip=None, run=None, chips: int | None = None,
                batch_tokens: int | None = None, seq: int | None = None, at: dict | None = None,
                book_layer: bool = False, dtype: str = "bf16", overlap: str = "sum") -> Instantiated:
    """Derive ``name`` and put in every number given; what is not given stays a symbol."""
    result = lookup(name)
    at = dict(at or {})
    structure = (Structure.book_layer() if book_layer
                 else Structure.of(card) if card is not None else None)
    settings = {"overlap": overlap, **{k: at[s] for k, s in (("X", X), ("Y", Y)) if s in at}}
    ctx = Context(card, chip, run, settings, structure, structure, dtype)
    notes: list = []
    # M first: a job past one pod is refused before SymPy derives (within a second, not after it)
    rule = (_rule(chip, chips)
            if result.mesh and chip is not None and chips is not None and not ({M_X, M_Y} & set(at)) else None)
    m_values = _m_values(result.mesh, chip, chips, rule, notes) if rule else {}
    q = result.derive(ctx)
    expr = q.expr
    if rule and result.mesh == "fsdp_tp" and W_ici in expr.free_symbols and _crosses(chip, rule):
        notes.append(f"W_ici is the fast domain's for both axes: where FSDP crosses nodes its ring runs at "
                     f"{_crossing(chip)}, which this closed form (one W for both axes) does not tell apart")
    values = {}
    if card is not None:
        from ..io.bind import model_values

        values.update(model_values(card))
    chip_symbols = set()
    if chip is not None:
        from ..io.bind import chip_values

        chip_symbols = set(chip_values(chip, dtype))
        values.update(chip_values(chip, dtype))
    if run is not None:
        values.update(run.values())
    if chips is not None:
        values[n_chips] = sp.Integer(chips)
    if seq is not None:
        if card is not None:
            card.check_positions(seq)
        values[T] = sp.Integer(seq)
    if batch_tokens is not None:
        if seq is None:                      # B sequences of T tokens: only B·T is given
            expr = expr.xreplace({B: sp.Integer(batch_tokens) / T})
        else:
            values[B] = sp.Rational(batch_tokens, seq)
    values.update(m_values)
    if W_ici in m_values:      # the crossing ring's bandwidth, in the card's numbers
        values[W_ici] = m_values[W_ici].xreplace(chip_values(chip, dtype))
    values.update(at)
    used = {s: v for s, v in values.items() if s in expr.free_symbols}
    if chip is not None and used.keys() & chip_symbols:      # say which card (and peak) the numbers are
        notes.append(f"chip: {chip.label}" + (f"; C is its {dtype} peak" if C in used else ""))
    with sp.evaluate(False):
        substituted = expr.xreplace(used)
    # not sp.simplify'd: numbers in, SymPy folds them; on a large model's left-free terms (an MoE's expert
    # share, a power of B) simplify ran for minutes
    value = expr.xreplace(used) if used else expr
    return Instantiated(result.name, result, q.expr, substituted, value, q.unit or result.unit,
                        q.lhs or result.lhs, used, structure_note(card, book_layer, result.how), notes,
                        q.derivation)


def _m_values(mesh: str, chip, chips: int, m: dict, notes: list) -> dict:
    where = (f"{chips} × {chip.name}: {m['axes']} ICI axes{'' if m['wrap'] else ' without wraparound (M halved)'}"
             if m["link"] == "ici" else f"{chips} × {chip.name} cross the scale-out network (M = 1)")
    if mesh == "fsdp":
        notes.append(f"M_X = {m['fsdp']}: one axis over the whole slice ({where})")
        if _crosses(chip, m):        # the ring crosses nodes: the closed form's W is that ring's
            notes.append(f"W_ici = {_crossing(chip)}: the FSDP ring crosses nodes at the bus bandwidth of "
                         f"each domain's NICs together (NCCL's ring; collectives.two_tier)")
            return {M_X: m["fsdp"], W_ici: m["w_fsdp"]}
        return {M_X: m["fsdp"]}
    if mesh == "tensor":
        notes.append(f"M_Y = {m['fsdp']}: one axis over the whole slice ({where})")
        return {M_Y: m["fsdp"]}
    mx, my = m["fsdp_tp"]
    notes.append(f"M_X = {mx}, M_Y = {my}: TP on one physical axis, FSDP on the rest ({where})")
    return {M_X: mx, M_Y: my}


def _rule(chip, chips: int) -> dict:
    """``io.bind.mesh_m``: the one M rule (imported here, as the card modules are, on first use)."""
    from ..io.bind import mesh_m

    return mesh_m(chip, chips)


def _crosses(chip, m: dict) -> bool:
    """A ring across nodes slower than the fast domain's W_ici (NVL72's 72 NICs are not: no note)."""
    from ..io.bind import chip_values

    numbers = chip_values(chip)
    return m["w_fsdp"] != W_ici and m["w_fsdp"].xreplace(numbers) < numbers[W_ici]


def _crossing(chip) -> str:
    return f"min(W_ici, {chip.pod_shape[0]}·W_dcn)" if chip.family == "gpu" else "W_dcn"
