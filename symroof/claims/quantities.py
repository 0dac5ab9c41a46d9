"""The named results (``claims/registry.py``): formulas and the quantities derivations claim.

Each is a function of a ``Context`` (model card, chip card, run settings and the claim's
numeric settings) filed with ``@register(name, unit, how, lhs)``; it returns an expression
(or a ``Quantity`` with the numbers to put in it). To add one, write a decorated function.
Nothing here holds a result: every expression comes from the graph (``derive``), the solver
(``solve``) or a product of their results with run settings; the numbers come from the cards
and the settings. Unit conversions (a day is 86,400 s, a year 365
days) are the only constants, and they are written where they are used.
"""

from __future__ import annotations

import sympy as sp

from ..core import derive

from ..solve import training as solve
from ..errors import CardError
from .registry import ALIASES, RESULTS, Context, Quantity, lookup, register  # noqa: F401
from ..units import DAY, YEAR
from ..core.graph import PARAM_GROUPS, Structure, build
from ..core.symbols import B, C, L, M_hbm, T, X, Y, b_act, mfu, n_chips, n_tokens


_graph = build                # graph.build caches each structure's graph already


def _model_graph(ctx: Context, attention: str = "causal"):
    return _graph(ctx.model_structure(), attention)


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


@register("params_total", "params", "graph", "P", "total parameter count")
def params_total(ctx):
    return derive.params(_model_graph(ctx))


@register("params_active", "params", "graph", r"P_{\text{active}}",
          "parameters one token uses (MoE: k of E experts)")
def params_active(ctx):
    return derive.params(_model_graph(ctx), active=True)


@register("params_group", "params", "graph", r"P_{\text{group}}", "parameters of the groups named by `groups`")
def params_group(ctx):
    by = derive.params_by_group(_model_graph(ctx))
    names = _groups(ctx)
    return _q(ctx, sp.Add(*(by[g] for g in names)), lhs=r"P_{\text{%s}}" % "+".join(names))


@register("params_fraction", "", "graph", r"\frac{P_{\text{part}}}{P_{\text{whole}}}")
def params_fraction(ctx):
    """Parameters of ``groups`` as a share of ``of`` (default: all parameters)."""
    by = derive.params_by_group(_model_graph(ctx))
    part = sp.Add(*(by[g] for g in _groups(ctx)))
    whole = sp.Add(*(by[g] for g in _groups(ctx, "of"))) if "of" in ctx.settings else sp.Add(*by.values())
    return part / whole


@register("flops_forward", "FLOPs", "graph", r"\text{FLOPs}_{\text{fwd}}",
          "forward contraction FLOPs of B sequences of T tokens (causal)")
def flops_forward(ctx):
    return derive.flops(_model_graph(ctx), "forward")


@register("flops_backward", "FLOPs", "graph", r"\text{FLOPs}_{\text{bwd}}",
          "backward contraction FLOPs (dX and dW of every contraction)")
def flops_backward(ctx):
    return derive.flops(_model_graph(ctx), "backward")


@register("flops_per_token", "FLOPs", "graph", r"\text{FLOPs}_{\text{train}}/\text{token}",
          "training FLOPs per token, per-op count (causal attention)")
def flops_per_token(ctx):
    return derive.training_flops_per_token(_model_graph(ctx))


def _six_n(ctx) -> sp.Expr:
    return derive.training_flops_per_token(_model_graph(ctx), "6N")


def _six_n_display(ctx) -> sp.Expr:
    """6·(P): the book's arrangement of the same polynomial."""
    per_token = _six_n(ctx)
    return sp.Mul(6, sp.UnevaluatedExpr(sp.expand(per_token / 6)), evaluate=False)


@register("flops_per_token_6n", "FLOPs", "graph", r"\text{FLOPs}_{\text{train}}/\text{token}",
          "training FLOPs per token by the 6·N rule")
def flops_per_token_6n(ctx):
    return _q(ctx, _six_n(ctx), display=_six_n_display(ctx))


@register("flops_per_token_per_param", "", "graph", r"\frac{\text{FLOPs}_{\text{train}}}{P \cdot BT}")
def flops_per_token_per_param(ctx):
    """Per-op training FLOPs per token over the parameters, on the book's layer: the 6 of 6·N."""
    g = _graph(Structure.book_layer())
    return sp.cancel(derive.training_flops_per_token(g) / derive.params(g))


@register("train_to_forward", "", "graph", r"\frac{\text{FLOPs}_{\text{train}}}{\text{FLOPs}_{\text{fwd}}}")
def train_to_forward(ctx):
    """Training over forward FLOPs on the book's layer (3: forward, dX, dW)."""
    g = _graph(Structure.book_layer())
    return sp.cancel(derive.flops(g) / derive.flops(g, "forward"))


@register("train_flops_total", "FLOPs", "run", r"\text{FLOPs}_{\text{run}}")
def train_flops_total(ctx):
    """Training FLOPs of the whole run (6·N per token)."""
    return _six_n(ctx) * n_tokens


@register("seconds_per_token_one_chip", "s", "run", r"t_{\text{token}}")
def seconds_per_token_one_chip(ctx):
    """Seconds one chip at peak needs for one token's training FLOPs."""
    return _six_n(ctx) / C


def _run_seconds(ctx, chips) -> sp.Expr:
    return _six_n(ctx) * n_tokens / (chips * C * mfu)


@register("train_seconds", "s", "run", r"t_{\text{run}}")
def train_seconds(ctx):
    """Training time of the run on n_chips at the given MFU."""
    return _run_seconds(ctx, n_chips)


@register("train_days", "days", "run", r"t_{\text{run}}")
def train_days(ctx):
    """Training time in days."""
    return _run_seconds(ctx, n_chips) / DAY


@register("train_years", "years", "run", r"t_{\text{run}}")
def train_years(ctx):
    """Training time in years."""
    return _run_seconds(ctx, n_chips) / YEAR


@register("train_days_min_chips", "days", "run", r"t_{\text{run}}")
def train_days_min_chips(ctx):
    """Training time in days on the fewest chips whose HBM holds the training state."""
    return _run_seconds(ctx, _memory(ctx)["total"] / M_hbm) / DAY


@register("train_years_min_chips", "years", "run", r"t_{\text{run}}")
def train_years_min_chips(ctx):
    """Training time in years on the fewest chips whose HBM holds the training state."""
    return _run_seconds(ctx, _memory(ctx)["total"] / M_hbm) / YEAR


# ----------------------------------------------------------------------------- memory


def _memory(ctx) -> dict:
    return derive.training_memory(_model_graph(ctx))


def _memory_part(part: str):
    def quantity(ctx):
        return _memory(ctx)[part]
    return quantity


for _part in ("params", "gradients", "optimizer", "checkpoints", "total"):
    register(f"memory_{_part}", "B", "graph", r"M_{\text{%s}}" % _part,
             f"training memory: {_part} (bytes)")(_memory_part(_part))


@register("memory_mlp_checkpoints", "B", "graph", r"M_{\text{MLP ckpt}}")
def memory_mlp_checkpoints(ctx):
    """Shape-aware checkpoints: the outputs of the MLP's matmuls, every layer (book Part 5 Q2)."""
    g = _model_graph(ctx)
    from ..core import ops

    outputs = [n for n, d in g.nodes(data=True) if d["phase"] == "forward" and n.startswith("layer/mlp/")
               and d["op"] == "contraction"]
    per_layer = sum(ops.numel(g.graph["tensor_dims"][n], g.graph["sizes"]) for n in outputs)
    return sp.factor(L * per_layer * b_act)


@register("hbm_total", "B", "run", r"M_{\text{HBM}}")
def hbm_total(ctx):
    """HBM of all chips of the job."""
    return n_chips * M_hbm


@register("memory_per_chip", "B", "graph", r"M_{\text{chip}}")
def memory_per_chip(ctx):
    """Training memory spread evenly over n_chips."""
    return _memory(ctx)["total"] / n_chips


@register("min_chips", "chips", "graph", r"N_{\min}")
def min_chips(ctx):
    """The fewest chips whose HBM holds the training state."""
    return _memory(ctx)["total"] / M_hbm


@register("bytes_per_param", "B", "graph", r"\text{bytes}/\text{param}")
def bytes_per_param(ctx):
    """Bytes of weights, gradients and optimizer state per parameter."""
    p = derive.params(_model_graph(ctx))
    m = _memory(ctx)
    return sp.cancel((m["params"] + m["gradients"] + m["optimizer"]) / p)


@register("kv_cache_bytes_per_token", "B", "graph", r"M_{\text{KV}}/\text{token}")
def kv_cache_bytes_per_token(ctx):
    """The cache one sequence of T tokens holds, over T (b_act each entry): every block's cache
    tensors from the prefill graph (an MLA latent, a sliding layer's window, a linear or Mamba layer's
    state as they are kept), so per token only where every layer's cache grows with T."""
    return sp.factor(kv_cache_bytes(ctx) / T)


@register("kv_cache_bytes", "B", "graph", r"M_{\text{KV}}")
def kv_cache_bytes(ctx):
    """KV cache of one sequence of T tokens (derive.kv_cache_bytes on the prefill graph, b_act each)."""
    from ..core.symbols import b_kv
    from ..solve import inference

    g = inference.graph(ctx.model_structure(), "prefill")
    return sp.factor((derive.kv_cache_bytes(g) / B).xreplace({b_kv: b_act}))


# ----------------------------------------------------------------------------- batches and meshes


@register("batch_tokens", "tokens", "run", r"B_{\text{tok}}")
def batch_tokens(ctx):
    """Tokens per global batch."""
    return B * T


@register("max_pure_dp", "sequences", "run", r"X_{\max}")
def max_pure_dp(ctx):
    """Sequences in the batch: the most data-parallel shards without sharding sequences."""
    return B


@register("per_chip_batch", "tokens", "run", r"B_{\text{chip}}")
def per_chip_batch(ctx):
    """Tokens per chip per step."""
    return B * T / n_chips


def _solve(ctx, name: str, **options):
    """A solver result on the context's solver structure (the book's layer unless asked)."""
    structure = ctx.solver_structure()
    if any(blk.moe for blk in structure.blocks):
        from ..errors import NoClosedFormError

        # routed expert tokens (B·T·k/E per expert) leave SymPy no closed form in reasonable time
        raise NoClosedFormError(f"{name} is solved for dense models; for an MoE card use the book's "
                                "layer (--book-layer) or `symroof plan`")
    if name in ("fsdp_tp_optimum", "mixed_critical_batch"):
        options.setdefault("overlap", ctx.settings.get("overlap", "sum"))
    return getattr(solve, name)(structure, **options)


def _solved(name: str, **options):
    def quantity(ctx):
        d = _solve(ctx, name, **options)
        return Quantity(d.expr, ctx.values(), lhs=d.latex_name, derivation=d)
    return quantity


#   name                       unit      mesh       solver function, options                 description
for _name, _unit, _mesh, _fn, _opts, _text in (
    ("fsdp_critical_batch",     "tokens", "fsdp",    "data_parallel_batch", {},
     "tokens per chip above which FSDP is compute-bound (alpha / M_X)"),
    ("dp_critical_batch",       "tokens", "fsdp",    "data_parallel_batch", {"fsdp": False},
     "tokens per chip above which pure data parallelism is compute-bound"),
    ("tp_max_degree",           "chips",  "tensor",  "tensor_parallel_degree", {},
     "largest compute-bound tensor-parallel degree (M_Y F / alpha)"),
    ("mixed_critical_batch",    "tokens", "fsdp_tp", "mixed_critical_batch", {},
     "tokens per chip above which FSDP+TP at X_opt is compute-bound"),
    ("mixed_critical_batch_max", "tokens", "fsdp_tp", "mixed_critical_batch", {"overlap": "max"},
     "the same, with FSDP and TP comms overlapping (later revision)"),
    ("x_opt",                   "chips",  "fsdp_tp", "fsdp_tp_optimum", {},
     "optimal FSDP degree for FSDP+TP on n_chips (book: sqrt(2BN/F))"),
    ("x_opt_max",               "chips",  "fsdp_tp", "fsdp_tp_optimum", {"overlap": "max"},
     "X_opt when the FSDP and TP comms overlap each other (later revision)"),
    ("dcn_critical_batch",      "tokens", "fsdp",    "dcn_critical_batch", {},
     "tokens per pod above which data parallelism over DCN is compute-bound"),
):
    register(_name, _unit, "solver", "", _text, _mesh)(_solved(_fn, **_opts))


@register("fsdp_max_chips", "chips", "solver", r"N_{\max}", mesh="fsdp")
def fsdp_max_chips(ctx):
    """Chips FSDP can use at this batch and stay compute-bound: B·T over the critical per-chip batch."""
    return B * T / _solve(ctx, "data_parallel_batch").expr


@register("fsdp_min_batch", "tokens", "solver", r"(BT)_{\min}", mesh="fsdp")
def fsdp_min_batch(ctx):
    """The smallest global batch at which FSDP on n_chips is compute-bound."""
    return _solve(ctx, "data_parallel_batch").expr * n_chips


@register("mixed_min_batch", "tokens", "solver", r"(BT)_{\min}", mesh="fsdp_tp")
def mixed_min_batch(ctx):
    """The smallest global batch at which FSDP+TP at X_opt on n_chips is compute-bound."""
    return _solve(ctx, "mixed_critical_batch").expr * n_chips


@register("mesh_chips", "chips", "run", r"N_{\text{chips}}")
def mesh_chips(ctx):
    """Chips of an X (× Y) mesh."""
    return X * Y if "Y" in ctx.settings else X


@register("mesh_ratio", "", "solver", r"\frac{T_{\text{math}}}{T_{\text{comms}}}", mesh="fsdp_tp")
def mesh_ratio(ctx):
    """T_math / T_comms of FSDP (X) × TP (Y) on the book's layer, with n_chips = X·Y."""
    d = _solve(ctx, "fsdp_tp_optimum")
    ratio = sp.factor(d.extra["t_math"] / d.extra["t_comms"])
    q = _q(ctx, ratio)
    q.values[n_chips] = ctx.need("X") * ctx.need("Y")
    return q


@register("attention_crossover", "tokens", "graph", r"T^{*}")
def attention_crossover(ctx):
    """Sequence length where the (full) attention core's FLOPs equal all weight matmuls'."""
    return derive.attention_crossover(_model_graph(ctx, "full"))


@register("attention_qkvo_crossover", "tokens", "graph", r"T^{*}_{\text{QKVO}}")
def attention_qkvo_crossover(ctx):
    """Sequence length where the (full) attention core's FLOPs equal the Q, K, V, O projections'."""
    g = _model_graph(ctx, "full")
    qkvo = derive.total(g, "flops", "forward",
                        where=lambda n, d: n.startswith("layer/attn/") and not d["attention_core"])
    roots = [r for r in sp.solve(sp.Eq(derive.attention_core(g), qkvo), T) if r.is_positive is not False]
    if len(roots) != 1:
        from ..errors import NoClosedFormError

        raise NoClosedFormError(f"expected one crossover length, got {roots}")
    return roots[0]


# name -> function of a Context returning a Quantity (what reproduce's `quantity:` keys name)
QUANTITIES = {name: r.derive for name, r in RESULTS.items()}


def quantity(name: str, ctx: Context) -> Quantity:
    return lookup(name).derive(ctx)
