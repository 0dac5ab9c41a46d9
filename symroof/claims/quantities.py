"""The named quantities a derivation claim can compute, each built from the public API.

A quantity is a function of a ``Context`` (model card, chip card, run settings and the claim's
numeric settings) that returns a ``Quantity``: the symbolic expression, the numbers to put in
it, and a unit. Nothing here holds a result: every expression comes from the graph
(``derive``), the solver (``solve``) or a product of their results with run settings; the
numbers come from the cards and the settings. Unit conversions (a day is 86,400 s, a year 365
days) are the only constants, and they are written where they are used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import sympy as sp

from ..core import derive

from ..solve import training as solve
from ..errors import CardError, UnknownNameError
from ..units import DAY, YEAR
from ..core.graph import PARAM_GROUPS, Structure, build
from ..io.bind import chip_values, model_values
from ..core.symbols import (B, C, D, F, H, K, L, M_X, M_Y, M_hbm, N, T, X, Y, b_act, mfu, n_chips,
                      n_pods, n_tokens)



@dataclass(frozen=True)
class Quantity:
    expr: sp.Expr                 # what is computed (symbolic)
    values: dict                  # symbol -> exact number
    unit: str = ""
    display: sp.Expr | None = None   # an equal expression in the book's arrangement (e.g. 6·P)
    lhs: str = ""                 # LaTeX left-hand side


@dataclass
class Context:
    card: object                  # ModelCard
    chip: object                  # ChipCard
    run: object                   # RunSettings
    settings: dict = field(default_factory=dict)   # numeric settings, exact (see reproduce.SETTINGS)

    def need(self, key: str):
        if key not in self.settings:
            raise CardError(f"setting {key!r} is required by this quantity")
        return self.settings[key]

    def values(self) -> dict:
        """Every symbol with a value from the cards, the run settings and the claim's settings."""
        s = self.settings
        out = {**model_values(self.card), **chip_values(self.chip), **self.run.values()}
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


_graph = build                # graph.build caches each structure's graph already


def _model_graph(ctx: Context, attention: str = "causal"):
    return _graph(Structure.of(ctx.card), attention)


def _q(ctx: Context, expr, unit: str = "", display=None, lhs: str = "") -> Quantity:
    return Quantity(sp.Integer(expr) if isinstance(expr, int) else expr, ctx.values(), unit, display, lhs)


def _groups(ctx: Context, key: str = "groups") -> list[str]:
    groups = ctx.settings.get(key)
    groups = [groups] if isinstance(groups, str) else list(groups or [])
    bad = [g for g in groups if g not in PARAM_GROUPS]
    if not groups or bad:
        raise CardError(f"setting {key!r} must name parameter groups from: {', '.join(PARAM_GROUPS)}")
    return groups


# ----------------------------------------------------------------------------- counts


def params_total(ctx):
    return _q(ctx, derive.params(_model_graph(ctx)), "params", lhs="P")


def params_group(ctx):
    by = derive.params_by_group(_model_graph(ctx))
    names = _groups(ctx)
    return _q(ctx, sp.Add(*(by[g] for g in names)), "params",
              lhs=r"P_{\text{%s}}" % "+".join(names))


def params_fraction(ctx):
    """Parameters of ``groups`` as a share of ``of`` (default: all parameters)."""
    by = derive.params_by_group(_model_graph(ctx))
    part = sp.Add(*(by[g] for g in _groups(ctx)))
    whole = sp.Add(*(by[g] for g in _groups(ctx, "of"))) if "of" in ctx.settings else sp.Add(*by.values())
    return _q(ctx, part / whole, "", lhs=r"\frac{P_{\text{part}}}{P_{\text{whole}}}")


def _six_n(ctx) -> sp.Expr:
    return derive.training_flops_per_token(_model_graph(ctx), "6N")


def _six_n_display(ctx) -> sp.Expr:
    """6·(P): the book's arrangement of the same polynomial."""
    per_token = _six_n(ctx)
    return sp.Mul(6, sp.UnevaluatedExpr(sp.expand(per_token / 6)), evaluate=False)


def flops_per_token_6n(ctx):
    return _q(ctx, _six_n(ctx), "FLOPs", _six_n_display(ctx), r"\text{FLOPs}_{\text{train}}/\text{token}")


def flops_per_token_per_param(ctx):
    """Per-op training FLOPs per token over the parameters, on the book's layer: the 6 of 6·N."""
    g = _graph(Structure.book_layer())
    return _q(ctx, sp.cancel(derive.training_flops_per_token(g) / derive.params(g)), "",
              lhs=r"\frac{\text{FLOPs}_{\text{train}}}{P \cdot BT}")


def train_to_forward(ctx):
    g = _graph(Structure.book_layer())
    return _q(ctx, sp.cancel(derive.flops(g) / derive.flops(g, "forward")), "",
              lhs=r"\frac{\text{FLOPs}_{\text{train}}}{\text{FLOPs}_{\text{fwd}}}")


def train_flops_total(ctx):
    return _q(ctx, _six_n(ctx) * n_tokens, "FLOPs", lhs=r"\text{FLOPs}_{\text{run}}")


def seconds_per_token_one_chip(ctx):
    return _q(ctx, _six_n(ctx) / C, "s", lhs=r"t_{\text{token}}")


def _run_seconds(ctx, chips) -> sp.Expr:
    return _six_n(ctx) * n_tokens / (chips * C * mfu)


def train_seconds(ctx):
    return _q(ctx, _run_seconds(ctx, n_chips), "s", lhs=r"t_{\text{run}}")


def train_days(ctx):
    return _q(ctx, _run_seconds(ctx, n_chips) / DAY, "days", lhs=r"t_{\text{run}}")


def train_years(ctx):
    return _q(ctx, _run_seconds(ctx, n_chips) / YEAR, "years", lhs=r"t_{\text{run}}")


def train_days_min_chips(ctx):
    return _q(ctx, _run_seconds(ctx, _memory(ctx)["total"] / M_hbm) / DAY, "days", lhs=r"t_{\text{run}}")


def train_years_min_chips(ctx):
    return _q(ctx, _run_seconds(ctx, _memory(ctx)["total"] / M_hbm) / YEAR, "years", lhs=r"t_{\text{run}}")


# ----------------------------------------------------------------------------- memory


def _memory(ctx) -> dict:
    return derive.training_memory(_model_graph(ctx))


def _memory_part(part: str):
    def quantity(ctx):
        return _q(ctx, _memory(ctx)[part], "B", lhs=r"M_{\text{%s}}" % part)
    quantity.__doc__ = f"training memory: {part} (bytes)"
    return quantity


def memory_mlp_checkpoints(ctx):
    """Shape-aware checkpoints: the outputs of the MLP's matmuls, every layer (book Part 5 Q2)."""
    g = _model_graph(ctx)
    from ..core import ops

    outputs = [n for n, d in g.nodes(data=True) if d["phase"] == "forward" and n.startswith("layer/mlp/")
               and d["op"] == "contraction"]
    per_layer = sum(ops.numel(g.graph["tensor_dims"][n], g.graph["sizes"]) for n in outputs)
    return _q(ctx, sp.factor(L * per_layer * b_act), "B", lhs=r"M_{\text{MLP ckpt}}")


def hbm_total(ctx):
    return _q(ctx, n_chips * M_hbm, "B", lhs=r"M_{\text{HBM}}")


def memory_per_chip(ctx):
    return _q(ctx, _memory(ctx)["total"] / n_chips, "B", lhs=r"M_{\text{chip}}")


def min_chips(ctx):
    return _q(ctx, _memory(ctx)["total"] / M_hbm, "chips", lhs=r"N_{\min}")


def bytes_per_param(ctx):
    p = derive.params(_model_graph(ctx))
    m = _memory(ctx)
    return _q(ctx, sp.cancel((m["params"] + m["gradients"] + m["optimizer"]) / p), "B",
              lhs=r"\text{bytes}/\text{param}")


def kv_cache_bytes_per_token(ctx):
    """K and V outputs of every layer for one token, from the graph's tensor shapes (b_act each)."""
    g = _model_graph(ctx)
    dims = g.graph["tensor_dims"]
    from ..core import ops

    per_layer = sum(ops.numel(dims[f"layer/attn/{x}"], g.graph["sizes"]) for x in ("k", "v")) / (B * T)
    return _q(ctx, sp.factor(L * per_layer * b_act), "B", lhs=r"M_{\text{KV}}/\text{token}")


def kv_cache_bytes(ctx):
    q = kv_cache_bytes_per_token(ctx)
    return _q(ctx, q.expr * T, "B", lhs=r"M_{\text{KV}}")


# ----------------------------------------------------------------------------- batches and meshes


def batch_tokens(ctx):
    return _q(ctx, B * T, "tokens", lhs=r"B_{\text{tok}}")


def max_pure_dp(ctx):
    """Sequences in the batch: the most data-parallel shards without sharding sequences."""
    return _q(ctx, B, "sequences", lhs=r"X_{\max}")


def per_chip_batch(ctx):
    return _q(ctx, B * T / n_chips, "tokens", lhs=r"B_{\text{chip}}")


def _solved(name: str, **options):
    def quantity(ctx):
        overlap = ctx.settings.get("overlap", "sum")
        kwargs = dict(options, overlap=overlap) if name in ("fsdp_tp_optimum", "mixed_critical_batch") else options
        d = getattr(solve, name)(**kwargs)
        return _q(ctx, d.expr, "", lhs=d.latex_name)
    quantity.__doc__ = f"solve.{name}({options or ''}) on the book's layer"
    return quantity


def fsdp_max_chips(ctx):
    """Chips FSDP can use at this batch and stay compute-bound: B·T over the critical per-chip batch."""
    return _q(ctx, B * T / solve.data_parallel_batch().expr, "chips", lhs=r"N_{\max}")


def fsdp_min_batch(ctx):
    return _q(ctx, solve.data_parallel_batch().expr * n_chips, "tokens", lhs=r"(BT)_{\min}")


def mixed_min_batch(ctx):
    d = solve.mixed_critical_batch(overlap=ctx.settings.get("overlap", "sum"))
    return _q(ctx, d.expr * n_chips, "tokens", lhs=r"(BT)_{\min}")


def mesh_chips(ctx):
    s = ctx.settings
    expr = X * Y if "Y" in s else X
    return _q(ctx, expr, "chips", lhs=r"N_{\text{chips}}")


def mesh_ratio(ctx):
    """T_math / T_comms of FSDP (X) × TP (Y) on the book's layer, with n_chips = X·Y."""
    d = solve.fsdp_tp_optimum(overlap=ctx.settings.get("overlap", "sum"))
    ratio = sp.factor(d.extra["t_math"] / d.extra["t_comms"])
    q = _q(ctx, ratio, "", lhs=r"\frac{T_{\text{math}}}{T_{\text{comms}}}")
    q.values[n_chips] = ctx.need("X") * ctx.need("Y")
    return q


def attention_crossover(ctx):
    """Sequence length where the (full) attention core's FLOPs equal all weight matmuls'."""
    return _q(ctx, derive.attention_crossover(_model_graph(ctx, "full")), "tokens", lhs=r"T^{*}")


def attention_qkvo_crossover(ctx):
    """Sequence length where the (full) attention core's FLOPs equal the Q, K, V, O projections'."""
    g = _model_graph(ctx, "full")
    qkvo = derive.total(g, "flops", "forward",
                        where=lambda n, d: n.startswith("layer/attn/") and not d["attention_core"])
    roots = [r for r in sp.solve(sp.Eq(derive.attention_core(g), qkvo), T) if r.is_positive is not False]
    if len(roots) != 1:
        from ..errors import NoClosedFormError

        raise NoClosedFormError(f"expected one crossover length, got {roots}")
    return _q(ctx, roots[0], "tokens", lhs=r"T^{*}_{\text{QKVO}}")


#  name                          function                                   what it computes
QUANTITIES: dict[str, Callable[[Context], Quantity]] = {
    "params_total":               params_total,
    "params_group":               params_group,
    "params_fraction":            params_fraction,
    "flops_per_token_6n":         flops_per_token_6n,
    "flops_per_token_per_param":  flops_per_token_per_param,
    "train_to_forward":           train_to_forward,
    "train_flops_total":          train_flops_total,
    "seconds_per_token_one_chip": seconds_per_token_one_chip,
    "train_seconds":              train_seconds,
    "train_days":                 train_days,
    "train_years":                train_years,
    "train_days_min_chips":       train_days_min_chips,
    "train_years_min_chips":      train_years_min_chips,
    "memory_params":              _memory_part("params"),
    "memory_optimizer":           _memory_part("optimizer"),
    "memory_checkpoints":         _memory_part("checkpoints"),
    "memory_total":               _memory_part("total"),
    "memory_mlp_checkpoints":     memory_mlp_checkpoints,
    "hbm_total":                  hbm_total,
    "memory_per_chip":            memory_per_chip,
    "min_chips":                  min_chips,
    "bytes_per_param":            bytes_per_param,
    "kv_cache_bytes_per_token":   kv_cache_bytes_per_token,
    "kv_cache_bytes":             kv_cache_bytes,
    "batch_tokens":               batch_tokens,
    "max_pure_dp":                max_pure_dp,
    "per_chip_batch":             per_chip_batch,
    "fsdp_critical_batch":        _solved("data_parallel_batch"),
    "dp_critical_batch":          _solved("data_parallel_batch", fsdp=False),
    "tp_max_degree":              _solved("tensor_parallel_degree"),
    "mixed_critical_batch":       _solved("mixed_critical_batch"),
    "x_opt":                      _solved("fsdp_tp_optimum"),
    "dcn_critical_batch":         _solved("dcn_critical_batch"),
    "fsdp_max_chips":             fsdp_max_chips,
    "fsdp_min_batch":             fsdp_min_batch,
    "mixed_min_batch":            mixed_min_batch,
    "mesh_chips":                 mesh_chips,
    "mesh_ratio":                 mesh_ratio,
    "attention_crossover":        attention_crossover,
    "attention_qkvo_crossover":   attention_qkvo_crossover,
}


def quantity(name: str, ctx: Context) -> Quantity:
    if name not in QUANTITIES:
        raise UnknownNameError(f"unknown quantity {name!r}; known: {', '.join(QUANTITIES)}")
    return QUANTITIES[name](ctx)
