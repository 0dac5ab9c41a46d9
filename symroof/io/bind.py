"""Where numbers meet symbols: card values for the symbol table, exact evaluation, and counts.

Upstream modules return expressions; this one substitutes card and run numbers into them.
Substitution is exact (SymPy ``Rational``); floats appear only when a caller asks for one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from typing import TYPE_CHECKING

import sympy as sp

from ..core import derive
from ..errors import CardError
from ..io.cards import ModelCard
from .attention_notes import chunk_notes, indexed_notes, window_notes
from .fractions_eval import real

if TYPE_CHECKING:                  # annotations only: counting a model needs no chip card
    from ..io.chips import ChipCard
from ..core.graph import Structure, build
from ..core.symbols import (B, C, D, E, F, H, K, L, M_hbm, N, T, V, W_dcn, W_hbm, W_ici, f_rc, k, t_hop)


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
    """Model card → the shape symbols (``D``, ``F``, ``N``, ..., each block type's count)."""
    from ..core import symbols as sy

    values = {L: card.n_layers, D: card.d_model, F: card.d_ff, N: card.n_heads, K: card.n_kv_heads,
              H: card.head_dim, V: card.vocab, E: card.n_experts, k: card.experts_per_token}
    counts = card.block_counts()
    if len(counts) > 1:
        values.update({sy.layers(name): count for name, count in counts.items()})
    optional = {sy.F_e: card.d_ff_expert, sy.F_s: card.d_ff_shared, sy.w: card.sliding_window,
                sy.w_c: card.attention_chunk, sy.k_idx: card.index_topk, sy.N_idx: card.index_heads,
                sy.H_idx: card.index_head_dim, sy.N_lk: card.linear_key_heads, sy.N_lv: card.linear_value_heads,
                sy.H_lk: card.linear_key_head_dim, sy.H_lv: card.linear_value_head_dim, sy.W_cv: card.linear_conv_kernel,
                sy.N_ssm: card.ssm_heads, sy.G_ssm: card.ssm_groups, sy.H_ssm: card.ssm_head_dim, sy.d_st: card.ssm_state,
                sy.W_ssm: card.ssm_conv_kernel, sy.R_ssm: card.ssm_dt_rank, sy.W_sc: card.short_conv_kernel,
                sy.K_g: card.global_kv_heads, sy.H_g: card.global_head_dim,
                sy.R_q: card.q_lora_rank, sy.R_kv: card.kv_lora_rank, sy.H_r: card.rope_head_dim,
                sy.H_v: card.v_head_dim, sy.V_pos: card.max_positions}
    values.update({sym: v for sym, v in optional.items() if v})
    out = {sym: sp.Integer(v) for sym, v in values.items()}
    out[sy.r_kv] = sp.Integer(1)      # each KV head on one chip; axes.replicate_kv for a tensor degree above K
    if card.rotary_pct != 1:
        out[sy.rho] = exact(card.rotary_pct)
    return out


def chip_values(chip: ChipCard, dtype: str = "bf16") -> dict[sp.Symbol, sp.Expr]:
    """Chip card → ``C``, ``W_hbm``, ``W_ici`` (bidirectional per axis), ``W_dcn`` (per chip), ``M_hbm``."""
    if dtype not in chip.peak_flops_per_s:
        raise CardError(f"{chip.path}: key 'peak_flops_per_s' has no {dtype!r}; "
                        f"it has {', '.join(chip.peak_flops_per_s)}")
    values = {C: exact(chip.peak_flops_per_s[dtype]), W_hbm: exact(chip.hbm_bytes_per_s),
              W_ici: exact(chip.ici_bidi_bytes_per_s), W_dcn: exact(chip.dcn_bytes_per_s_per_chip),
              M_hbm: exact(chip.hbm_bytes)}
    if chip.ici_hop_latency_s is not None:
        values[t_hop] = exact(chip.ici_hop_latency_s)
    return values


def card_values(model: ModelCard, chip: ChipCard, dtype: str = "bf16") -> dict[sp.Symbol, sp.Expr]:
    """``model_values``, ``chip_values`` and the default run settings' values in one dict, made once
    per card pair and dtype (the cards are frozen; a hundred published runs share a few pairs).
    Shared: read it, or copy it before adding to it."""
    got = _CARD_VALUES.get((id(model), id(chip), dtype))
    if got is None or got[0] is not model or got[1] is not chip:       # the cards kept: their ids stay theirs
        from .run import RunSettings

        got = _CARD_VALUES[(id(model), id(chip), dtype)] = (
            model, chip, {**model_values(model), **chip_values(chip, dtype), **RunSettings().values()})
    return got[2]


_CARD_VALUES: dict = {}



def evaluate(expr: sp.Expr, values: dict) -> sp.Expr:
    """Substitute numbers and insist that nothing symbolic is left. Sums, products, whole powers
    and Max/Min of numbers are taken in Python fractions (exact, no SymPy arithmetic)."""
    fast = real(_expr(expr), values)
    if isinstance(fast, Fraction):
        return sp.Rational(fast.numerator, fast.denominator)
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
    notes: tuple = ()          # conventions this count depends on beyond --attention (sliding windows)
    recompute: object = None   # the activation-recompute policy (None: the --ckpt convention)
    flops_recompute: int = 0   # forward FLOPs the backward pass replays under that policy
    recompute_layers: int | None = None   # the layers under that policy (None: all)

    @property
    def flops_model(self) -> int:
        """FLOPs the model needs per step: the MFU numerator."""
        return self.flops_forward + self.flops_backward

    @property
    def flops_hardware(self) -> int:
        """FLOPs the hardware runs per step, replayed forward ops included: the HFU numerator."""
        return self.flops_model + self.flops_recompute

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


def graph_for(card: ModelCard, attention: str = "causal", kernel: str = "fused", context: int | None = None):
    """The card's training graph; ``context`` (tokens each query may see) clamps a sliding window
    that covers it, so those layers count as global (see ``Structure.of``)."""
    return build(Structure.of(card, context), attention, kernel)


def count(card: ModelCard, batch: int = 1, seq: int | None = None, attention: str = "causal",
          approximation: str | None = None, run=None, recompute_layers: int | None = None) -> Count:
    """Parameters, FLOPs and training memory of ``card`` for ``batch`` sequences of ``seq`` tokens
    (``ModelCard.sequence``: 4096, or a learned position table's length where shorter);
    ``recompute_layers``: the run's recompute policy on that many of the layers only."""
    from ..io.run import RunSettings

    seq = card.sequence(seq)
    card.check_positions(seq)
    run = run or RunSettings()
    policy = run.recompute
    values = {**model_values(card), B: sp.Integer(batch), T: sp.Integer(seq), **run.values()}
    from ..io.run import recompute_share

    share = recompute_share(card, policy, recompute_layers, "recompute layers (--recompute-layers)")
    values.update(share)
    e = _count_exprs(Structure.of(card, seq), attention, approximation, policy, bool(share))
    num = lambda name: as_int(evaluate(e[name], values))      # noqa: E731
    groups = {name[len("params:"):]: num(name) for name in e if name.startswith("params:")}
    modules: dict[str, dict[str, int]] = {}
    for name in e:
        phase, _, module = name.partition(":")
        if phase in ("forward", "backward"):
            modules.setdefault(module, {"forward": 0, "backward": 0})[phase] = num(name)
    return Count(
        model=card.name, batch=batch, seq=seq, attention=attention, approximation=approximation,
        params_total=sum(groups.values()), params_by_group=groups, params_active=num("params_active"),
        flops_forward=num("flops_forward"), flops_backward=num("flops_backward"), flops_by_module=modules,
        memory={name[len("memory:"):]: num(name) for name in e if name.startswith("memory:")},
        notes=window_notes(card, seq, attention) + chunk_notes(card, seq, attention)
        + indexed_notes(card, seq, attention)
        + tuple(f"not modelled: {x}" for x in card.left_out),
        recompute=policy, flops_recompute=num("replay"), recompute_layers=recompute_layers if share else None,
    )


def _count_exprs(structure: Structure, attention: str, approximation: str | None, policy, partial: bool = False) -> dict:
    """Every expression ``count`` instantiates, keyed by name; read from the on-disk cache of
    derived expressions when the structure is known, so that no graph is rebuilt."""
    from . import expression_cache

    def derived() -> dict:
        from ..core import recompute

        g = build(structure, attention)
        out = {f"params:{name}": expr for name, expr in derive.params_by_group(g).items()}
        for phase in ("forward", "backward"):
            out.update({f"{phase}:{name}": expr for name, expr in derive.breakdown(g, "flops", phase, depth=3).items()})
        out["params_active"] = derive.params(g, active=True)
        out["flops_forward"] = derive.flops(g, "forward", approximation)
        out["flops_backward"] = derive.flops(g, "backward", approximation)
        share = f_rc if partial else 1          # the run's share of the layers under the policy, a number later
        out.update({f"memory:{part}": expr for part, expr in derive.training_memory(g, policy, share).items()})
        out["replay"] = (derive.total(recompute.apply(g, policy, share), "flops", "recompute") if policy is not None
                         else sp.Integer(0))
        return out
    fields = {"structure": repr(structure), "attention": attention, "approximation": approximation,
              "recompute": repr(policy), **({"partial": True} if partial else {})}
    return expression_cache.cached("count", fields, derived)


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


def op_table(card: ModelCard, chip: ChipCard, batch: int = 1, seq: int | None = None,
             attention: str = "causal", dtype: str = "bf16", run=None,
             kernel: str = "fused") -> list[OpRow]:
    """Per-op FLOPs, bytes and arithmetic intensity, and whether each op is HBM-bound on ``chip``.

    Bytes assume every op reads its inputs from HBM and writes its output back, except that a
    fused attention kernel (``kernel="fused"``) keeps the T×S scores on chip.
    """
    from ..io.run import RunSettings

    seq = card.sequence(seq)
    card.check_positions(seq)
    g = graph_for(card, attention, kernel)
    if run is not None and run.recompute is not None:     # the replayed forward ops, as rows
        from ..core.recompute import apply

        g = apply(g, run.recompute)
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


def mesh_m(chip: ChipCard, chips: int) -> dict:
    """The one rule for the book's ``M_X``, ``M_Y`` of a job of ``chips`` chips in one pod.

    The job's slice is laid on the card's topology (``topology.layout``; the largest slice
    that fits when ``chips`` is not one). A logical axis over the whole slice spans all its
    ICI axes: ``M`` is their count, halved without wraparound (a line, not a ring). FSDP+TP
    gives TP one physical axis and FSDP the rest (the book's split). A slice that crosses the
    scale-out network is one DCN axis (``M = 1``) whose ring runs at NCCL's bus bandwidth, the
    domain's NICs together: ``w_fsdp``, min(W_ici, domain · W_dcn) (collectives.two_tier), where
    inside one domain it is W_ici. Returns ``{"link", "axes", "wrap", "fsdp": M of one axis over
    all chips, "fsdp_tp": (M_X, M_Y), "w_fsdp"}`` with exact values (``w_fsdp`` in the symbols).
    """
    from ..errors import InfeasibleError

    if chip.family == "gpu":       # one switched NVLink domain, or domains joined by the network
        domain = chip.pod_shape[0]
        link, n, wrap = ("ici", 1, True) if chips <= domain else ("dcn", 1, True)
    elif chips > chip.pod_chips:
        raise InfeasibleError(f"{chips} chips exceed one {chip.name} pod ({chip.pod_chips}); M_X and M_Y "
                              "are for the chips of one pod: give them with --at M_X=... --at M_Y=...")
    else:
        link, n, wrap = _laid(chip, chips)
    if link != "ici":
        one = sp.Integer(1)
        return {"link": link, "axes": 1, "wrap": True, "fsdp": one, "fsdp_tp": (one, one),
                "w_fsdp": sp.Min(W_ici, chip.pod_shape[0] * W_dcn) if chip.family == "gpu" else W_dcn}
    half = sp.Integer(1) if wrap else sp.Rational(1, 2)
    return {"link": "ici", "axes": n, "wrap": wrap, "fsdp": n * half,
            "fsdp_tp": ((n - 1 if n > 1 else 1) * half, half), "w_fsdp": W_ici}


def _laid(chip: ChipCard, chips: int) -> tuple:
    """(link, ICI axes used, wraps) of one axis over ``chips`` chips of a TPU pod."""
    from ..errors import InfeasibleError
    from ..parallel import topology

    try:
        laid = topology.layout(chip, {"fsdp": chips})["fsdp"]
        link, n, wrap = laid.link, int(laid.n_physical), bool(laid.wrap)
    except InfeasibleError:
        box = (topology.slices(chip, chips) or [None])[0]
        unlimited = replace(chip, max_slice_chips=None) if box is None and chips > topology.slice_limit(chip) else None
        if unlimited is not None and topology.slices(unlimited, chips):    # the card's own limit, not the chips
            from .chips import origin

            raise InfeasibleError(f"{origin(chip, 'max_slice_chips')}: key 'max_slice_chips' is "
                                  f"{chip.max_slice_chips}: {chips} chips are more than one {chip.name} slice "
                                  f"holds, and M_X, M_Y are for one slice; allowed: max_slice_chips from "
                                  f"{chips} to the pod's {chip.pod_chips}") from None
        if box is None:
            raise InfeasibleError(f"{chips} chips do not fit the {chip.name} topology") from None
        used = [p for p in box if p.size > 1] or list(box[:1])
        link = "dcn" if any(p.link == "dcn" for p in used) else "ici"
        n, wrap = len(used), all(p.ring for p in used)
    return link, n, wrap


# Decimal SI prefixes a value given on the command line may carry before its unit.
_PREFIX = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
           "m": sp.Rational(1, 10**3), "u": sp.Rational(1, 10**6), "n": sp.Rational(1, 10**9)}
_UNIT_ALIASES = {"FLOPs/s": "FLOP/s", "bytes/s": "B/s", "bytes": "B", "sec": "s"}


def parse_value(symbol_name: str, text: str, where: str) -> sp.Expr:
    """``"1.8e11B/s"``, ``"180 GB/s"``, ``"2048"`` for a symbol: an exact positive number.

    The text is read as a decimal number and an optional unit, never evaluated. A symbol
    with a physical unit (bytes, seconds, FLOP/s) must be given with one, so a number
    meant per link or per direction cannot be taken for the table's unit silently; counts
    take a bare number or their own unit word.
    """
    import re

    from ..core.symbols import INFO
    from ..errors import CardError
    from .cards import MAX_COUNT, parse_number

    info = INFO[symbol_name]
    match = re.match(r"^\s*([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z/]*)\s*$", text)
    if not match:
        raise CardError(f"{where}: {text!r} is not a number (e.g. {symbol_name}=2048)")
    number_text, unit = match.groups()
    if number_text.startswith("-"):
        raise CardError(f"{where}: {symbol_name} must be positive, got {text!r}")
    value = sp.Rational(parse_number(number_text, where, symbol_name))
    physical = info.unit in ("B", "B/s", "FLOP/s", "s")
    if not unit:
        if physical:
            raise CardError(f"{where}: give {symbol_name}'s unit, e.g. {symbol_name}={number_text}{info.unit} "
                            f"({symbol_name} is {info.meaning}, in {info.unit})")
    else:
        unit = _UNIT_ALIASES.get(unit, unit)
        scale = next((f for p, f in _PREFIX.items() if p and unit == p + info.unit), None)
        if unit == info.unit and info.unit:
            scale = 1
        if scale is None:
            raise CardError(f"{where}: {symbol_name} is in {info.unit or 'plain numbers'}, not {unit!r}")
        value = value * scale
    if value <= 0:
        raise CardError(f"{where}: {symbol_name} must be positive, got {text!r}")
    if info.integer and not value.is_integer:
        raise CardError(f"{where}: {symbol_name} counts {info.unit or 'whole units'}; got {text!r}")
    if info.integer and value > MAX_COUNT:       # a count or a size, as on a card: past any real one
        raise CardError(f"{where}: {symbol_name} counts {info.unit or 'whole units'}, from 1 to 10^12; got {text!r}")
    return value
