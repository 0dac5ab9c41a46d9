"""Where numbers meet symbols: card values for the symbol table, exact evaluation, and counts.

Upstream modules return expressions; this one substitutes card and run numbers into them.
Substitution is exact (SymPy ``Rational``); floats appear only when a caller asks for one.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import sympy as sp

from ..core import derive
from ..io.cards import ChipCard, ModelCard
from ..core.graph import Structure, build
from ..core.symbols import (B, C, D, E, F, H, K, L, M_hbm, N, T, V, W_dcn, W_hbm, W_ici, k, t_hop)


def exact(value) -> sp.Expr:
    """A card or run number as an exact SymPy number (ints stay ints, Fractions stay rational)."""
    if isinstance(value, Fraction):
        return sp.Rational(value.numerator, value.denominator)
    if isinstance(value, float):
        return sp.Rational(repr(value))   # the decimal as written, not the binary float
    return sp.Integer(value) if isinstance(value, int) else value


def _expr(value) -> sp.Basic:
    """A SymPy object from an expression or a Python number; text is refused, never parsed."""
    if isinstance(value, sp.Basic):
        return value
    if isinstance(value, (int, Fraction, float)) and not isinstance(value, bool):
        return exact(value)
    raise TypeError(f"expected a SymPy expression or a number, got {type(value).__name__}")


def model_values(card: ModelCard) -> dict[sp.Symbol, sp.Expr]:
    """Model card → the shape symbols (``D``, ``F``, ``N``, ...)."""
    values = {L: card.n_layers, D: card.d_model, F: card.d_ff, N: card.n_heads, K: card.n_kv_heads,
              H: card.head_dim, V: card.vocab, E: card.n_experts, k: card.experts_per_token}
    return {sym: sp.Integer(v) for sym, v in values.items()}


def chip_values(chip: ChipCard, dtype: str = "bf16") -> dict[sp.Symbol, sp.Expr]:
    """Chip card → ``C``, ``W_hbm``, ``W_ici`` (bidirectional per axis), ``W_dcn`` (per chip), ``M_hbm``."""
    if dtype not in chip.peak_flops_per_s:
        from ..errors import CardError

        raise CardError(f"{chip.path}: key 'peak_flops_per_s' has no {dtype!r}; "
                        f"it has {', '.join(chip.peak_flops_per_s)}")
    values = {C: exact(chip.peak_flops_per_s[dtype]), W_hbm: exact(chip.hbm_bytes_per_s),
              W_ici: exact(chip.ici_bidi_bytes_per_s), W_dcn: exact(chip.dcn_bytes_per_s_per_chip),
              M_hbm: exact(chip.hbm_bytes)}
    if chip.ici_hop_latency_s is not None:
        values[t_hop] = exact(chip.ici_hop_latency_s)
    return values


def evaluate(expr: sp.Expr, values: dict) -> sp.Expr:
    """Substitute numbers and insist that nothing symbolic is left."""
    result = _expr(expr).xreplace({s: exact(v) for s, v in values.items()})
    if result.free_symbols:
        from ..errors import SymroofError

        names = ", ".join(sorted(map(str, result.free_symbols)))
        raise SymroofError(f"cannot evaluate: no value for {names}")
    return result


def as_int(value: sp.Expr) -> int:
    """An exact integer result (a count), refusing a fractional one."""
    if not value.is_integer:
        raise ValueError(f"expected an integer count, got {value}")
    return int(value)


@dataclass(frozen=True)
class Count:
    """Exact parameter and FLOP counts of one model for one step of B sequences of T tokens."""

    model: str
    batch: int
    seq: int
    attention: str
    approximation: str | None
    params_total: int
    params_by_group: dict
    params_active: int
    flops_forward: int
    flops_backward: int
    flops_by_module: dict      # module -> {"forward": int, "backward": int}
    memory: dict               # training memory in bytes: params, gradients, optimizer, checkpoints, total

    @property
    def flops_per_token(self) -> Fraction:
        return Fraction(self.flops_forward + self.flops_backward, self.batch * self.seq)

    def _repr_html_(self) -> str:
        """Parameters by group, FLOPs per step and per token, and training memory, with units."""
        from ..core import markup

        params = [[group, markup.number_html(n, "params")] for group, n in self.params_by_group.items()]
        params.append(["total", markup.number_html(self.params_total, "params")])
        if self.params_active != self.params_total:
            params.append(["active per token", markup.number_html(self.params_active, "params")])
        flops = [["forward", markup.number_html(self.flops_forward, "FLOPs")],
                 ["backward", markup.number_html(self.flops_backward, "FLOPs")],
                 ["training per token", markup.number_html(self.flops_per_token, "FLOPs")]]
        memory = [[part, markup.number_html(b, "B")] for part, b in self.memory.items()]
        what = f"{self.batch} × {self.seq} tokens, {self.attention} attention"
        return markup.block(f"{self.model}: {what}", markup.table(params, ["parameters", ""]),
                            markup.table(flops, ["FLOPs per step", ""]),
                            markup.table(memory, ["training memory", ""]))


def graph_for(card: ModelCard, attention: str = "causal", kernel: str = "fused"):
    return build(Structure.of(card), attention, kernel)


def count(card: ModelCard, batch: int = 1, seq: int = 4096, attention: str = "causal",
          approximation: str | None = None, run=None) -> Count:
    """Parameters, FLOPs and training memory of ``card`` for ``batch`` sequences of ``seq`` tokens."""
    from ..io.run import RunSettings

    g = graph_for(card, attention)
    values = {**model_values(card), B: sp.Integer(batch), T: sp.Integer(seq),
              **(run or RunSettings()).values()}
    groups = {name: as_int(evaluate(expr, values)) for name, expr in derive.params_by_group(g).items()}
    modules: dict[str, dict[str, int]] = {}
    for phase in ("forward", "backward"):
        for name, expr in derive.breakdown(g, "flops", phase, depth=3).items():
            modules.setdefault(name, {"forward": 0, "backward": 0})[phase] = as_int(evaluate(expr, values))
    return Count(
        model=card.name, batch=batch, seq=seq, attention=attention, approximation=approximation,
        params_total=sum(groups.values()), params_by_group=groups,
        params_active=as_int(evaluate(derive.params(g, active=True), values)),
        flops_forward=as_int(evaluate(derive.flops(g, "forward", approximation), values)),
        flops_backward=as_int(evaluate(derive.flops(g, "backward", approximation), values)),
        flops_by_module=modules,
        memory={part: as_int(evaluate(expr, values)) for part, expr in derive.training_memory(g).items()},
    )


@dataclass(frozen=True)
class OpRow:
    """One forward or backward op of one layer (or of the embedding/unembedding), instantiated."""

    name: str
    phase: str
    repeat: int
    flops: int
    vector_flops: Fraction
    bytes: Fraction
    intensity: float          # (flops + vector flops) / bytes
    hbm_bound: bool           # intensity below the chip's C / W_hbm


def op_table(card: ModelCard, chip: ChipCard, batch: int = 1, seq: int = 4096,
             attention: str = "causal", dtype: str = "bf16", run=None,
             kernel: str = "fused") -> list[OpRow]:
    """Per-op FLOPs, bytes and arithmetic intensity, and whether each op is HBM-bound on ``chip``.

    Bytes assume every op reads its inputs from HBM and writes its output back, except that a
    fused attention kernel (``kernel="fused"``) keeps the T×S scores on chip.
    """
    from ..io.run import RunSettings

    g = graph_for(card, attention, kernel)
    hw = chip_values(chip, dtype)
    ridge = hw[C] / hw[W_hbm]
    values = {**model_values(card), B: sp.Integer(batch), T: sp.Integer(seq),
              **(run or RunSettings()).values()}
    rows = []
    for name, d in g.nodes(data=True):
        if d["op"] == "input":
            continue
        flops, vector, moved = (evaluate(d[key], values) for key in ("flops", "vector_flops", "bytes"))
        work = flops + vector
        intensity = work / moved if moved else sp.oo     # nothing leaves the chip
        rows.append(OpRow(name, d["phase"], int(evaluate(d["repeat"], values)), as_int(flops),
                          Fraction(str(vector)), Fraction(str(moved)), float(intensity),
                          bool(intensity < ridge)))
    return rows
