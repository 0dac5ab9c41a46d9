"""The inference and serving quantities a derivation claim can compute (book sections 7 and 8).

Each is a function of a ``Context`` returning a ``Quantity``, like those of ``quantities.py``:
expressions from the decode and prefill graphs (``solve.inference``), numbers from the
cards and the claim's settings. Settings added for inference (registered by ``register``):

- ``context`` (S, cached tokens each sequence attends to), ``sequences`` (B), ``seq`` (a
  prompt's T), ``generate`` (tokens generated per request), ``cached`` (prompt tokens
  already in a prefix cache), ``usd_per_hour`` (price of one chip-hour);
- ``weights_dtype``, ``kv_dtype``, ``act_dtype`` (bf16, fp16, fp8, int8, int4) and
  ``math_dtype`` (which of the chip's peaks the matmuls run at; default bf16);
- the book's stand-ins for a model: ``params`` (a parameter count in place of the graph's)
  and ``kv_bytes_per_token`` (cache bytes per token in place of the graph's), ``kv_heads``
  (K in the cache only: "keep the parameters, shrink the cache"); ``structure: book_layer``
  (the book's In·W_in·W_out layer).
"""

from __future__ import annotations

import sympy as sp

from ..core.graph import Structure
from ..core.symbols import B, C, D, K, M_Y, M_hbm, S, T, W_hbm, W_ici, Y, b_act, b_kv, b_param, n_chips
from ..errors import CardError
from ..solve import inference as inf
from .quantities import Quantity

NUMBERS = {
    "context": "tokens each sequence's KV cache holds (S)", "generate": "tokens generated per request",
    "cached": "prompt tokens found in a prefix cache", "usd_per_hour": "price of one chip-hour (USD)",
    "params": "a parameter count standing in for the graph's", "kv_bytes_per_token":
    "KV-cache bytes per token standing in for the graph's", "kv_heads": "K of the KV cache only",
}
DTYPES = tuple(inf.DTYPE_BYTES)
CHOICES = {"weights_dtype": DTYPES, "kv_dtype": DTYPES, "act_dtype": DTYPES, "math_dtype": DTYPES,
           "structure": ("model", "book_layer"), "attention": ("causal", "full")}
WHOLE = ("context", "generate", "cached", "kv_heads")


# ----------------------------------------------------------------------------- inputs


def _structure(ctx) -> Structure:
    if ctx.settings.get("structure") == "book_layer":
        return inf.BOOK
    return Structure.of(ctx.card)


def _values(ctx) -> dict:
    """Card, run and claim numbers; element widths and the peak follow the dtype settings."""
    s = ctx.settings
    out = ctx.values()
    out[S] = s.get("context", sp.Integer(1))
    out.setdefault(B, sp.Integer(1))
    out.setdefault(n_chips, sp.Integer(1))
    out.setdefault(M_Y, sp.Integer(1))     # one ICI axis unless the claim says more
    weights = s.get("weights_dtype", "bf16")
    out[b_param] = inf.DTYPE_BYTES[weights]
    out[b_kv] = inf.DTYPE_BYTES[s.get("kv_dtype", weights)]
    out[b_act] = inf.DTYPE_BYTES[s.get("act_dtype", "bf16")]
    math_dtype = s.get("math_dtype", "bf16")
    if ctx.chip is None:            # no chip given: C stays a symbol
        return out
    if math_dtype not in ctx.chip.peak_flops_per_s:
        raise CardError(f"{ctx.chip.name} has no {math_dtype} peak (peak_flops_per_s has "
                        f"{', '.join(ctx.chip.peak_flops_per_s)})")
    from ..io.bind import exact

    out[C] = exact(ctx.chip.peak_flops_per_s[math_dtype])
    return out


def _parts(ctx) -> dict:
    """The decode step's four terms, with the claim's stand-ins (params, cache size) put in."""
    s = ctx.settings
    parts = dict(inf.decode_parts(_structure(ctx)))
    if "kv_heads" in s:
        parts = {key: e.xreplace({K: s["kv_heads"]}) if key in ("bytes_kv", "bytes_kv_read", "flops_core") else e
                 for key, e in parts.items()}
    if "params" in s:      # the book's 2·P FLOPs and P·b_param bytes per token
        parts["flops_weights"] = 2 * B * s["params"]
        parts["bytes_weights"] = parts["bytes_weights_step"] = s["params"] * b_param
    if "kv_bytes_per_token" in s:
        parts["bytes_kv"] = B * S * s["kv_bytes_per_token"]
        parts.pop("bytes_kv_read", None)      # the stand-in is what a step reads, too
    return parts


def _held_weights(ctx) -> sp.Expr:
    s = ctx.settings
    return s["params"] * b_param if "params" in s else inf.weights_held(_structure(ctx))


def _kv_per_token(ctx) -> sp.Expr:
    return sp.factor(_parts(ctx)["bytes_kv"] / (B * S))


def _q(ctx, expr, unit, lhs="") -> Quantity:
    return Quantity(sp.Integer(expr) if isinstance(expr, int) else expr, _values(ctx), unit, None, lhs)


def _number(ctx, expr) -> sp.Expr:
    from ..io.bind import evaluate

    return evaluate(expr, _values(ctx))


# ----------------------------------------------------------------------------- memory


def param_count(ctx):
    """Parameters of the claim's structure (the book's layer with ``structure: book_layer``)."""
    from ..core import derive

    return _q(ctx, derive.params(inf.graph(_structure(ctx), "decode")), "params", "P")


def weight_bytes(ctx):
    return _q(ctx, _held_weights(ctx), "B", r"P \cdot b_{\text{param}}")


def kv_bytes_per_token(ctx):
    return _q(ctx, _kv_per_token(ctx), "B", r"\text{KV}/\text{token}")


def kv_bytes_per_sequence(ctx):
    return _q(ctx, _kv_per_token(ctx) * S, "B", r"\text{KV}/\text{seq}")


def kv_bytes_batch(ctx):
    return _q(ctx, _parts(ctx)["bytes_kv"], "B", r"\text{KV}")


def activation_bytes(ctx):
    """One [B, T, D] activation (the layer input), e.g. of an 8k-token prefill."""
    return _q(ctx, B * T * D * b_act, "B", r"|x|")


def decode_memory(ctx):
    return _q(ctx, _held_weights(ctx) + _parts(ctx)["bytes_kv"], "B", r"M_{\text{decode}}")


def chips_for_memory(ctx):
    return _q(ctx, (_held_weights(ctx) + _parts(ctx)["bytes_kv"]) / M_hbm, "chips", r"n_{\text{chips}}")


def chips_for_weights(ctx):
    return _q(ctx, _held_weights(ctx) / M_hbm, "chips", r"n_{\text{chips}}")


def smallest_slice(ctx, weights_only: bool = False):
    """Chips of the smallest slice of the chip's topology that holds the weights and caches."""
    held = _held_weights(ctx) + (0 if weights_only else _parts(ctx)["bytes_kv"])
    need = float(_number(ctx, held / M_hbm))
    from ..search.serve import slice_chips

    return _q(ctx, sp.Integer(slice_chips(ctx.need_chip(), need)), "chips", r"n_{\text{slice}}")


def smallest_slice_weights(ctx):
    return smallest_slice(ctx, weights_only=True)


def kv_weight_balance(ctx):
    """Sequences of S tokens whose caches weigh as much as the weights (the book's "just 4 of these")."""
    return _q(ctx, _held_weights(ctx) / (_kv_per_token(ctx) * S), "sequences", r"B_{\frac{1}{2}}")


def hbm_left_for_kv(ctx):
    return _q(ctx, n_chips * M_hbm - _held_weights(ctx), "B", r"M_{\text{KV}}")


def max_batch(ctx):
    """Whole sequences of S tokens whose caches fit beside the weights on n_chips."""
    per_seq = _kv_per_token(ctx) * S
    free = _number(ctx, n_chips * M_hbm - _held_weights(ctx))
    return _q(ctx, sp.floor(free / _number(ctx, per_seq)), "sequences", r"B_{\max}")


# ----------------------------------------------------------------------------- step times


def decode_critical_batch(ctx):
    return _q(ctx, inf.decode_critical_batch(inf.BOOK).expr, "sequences", r"B_{\text{crit}}")


def prefill_attention_length(ctx):
    d = inf.prefill_attention_length(_structure(ctx), ctx.settings.get("attention", "full"))
    return _q(ctx, d.expr, "tokens", r"T_{\text{attn}}")


def decode_step_time(ctx):
    return _q(ctx, inf.step_time(_parts(ctx)), "s", r"t_{\text{step}}")


def weight_load_time(ctx):
    return _q(ctx, _held_weights(ctx) / (n_chips * W_hbm), "s", r"t_{\text{weights}}")


def decode_throughput(ctx):
    return _q(ctx, B / inf.step_time(_parts(ctx)), "tokens/s", r"\text{tokens/s}")


def decode_throughput_per_chip(ctx):
    return _q(ctx, B / (inf.step_time(_parts(ctx)) * n_chips), "tokens/s/chip", r"\text{tokens/s/chip}")


def throughput_per_chip_limit(ctx):
    """Tokens/s per chip as B grows without bound (memory allowing): 1/(t_kv + t_math) per token."""
    t = inf.step_parts(_parts(ctx))
    per_token = sp.diff(t["t_hbm_kv"] + t["t_math_weights"], B)
    return _q(ctx, 1 / (per_token * n_chips), "tokens/s/chip", r"\lim_{B\to\infty}")


def _full_batch_step(ctx) -> sp.Expr:
    """Step time with the batch that fills HBM exactly (continuous B_max)."""
    parts = _parts(ctx)
    b_max = sp.solve(_held_weights(ctx) + parts["bytes_kv"] - n_chips * M_hbm, B)[0]
    return inf.step_time(parts).xreplace({B: b_max})


def full_hbm_step_time(ctx):
    # not sp.simplify'd: on an MoE model's step (its expert share a power of B) that ran for minutes
    return _q(ctx, _full_batch_step(ctx), "s", r"t_{\text{step}}(B_{\max})")


def generation_time(ctx):
    return _q(ctx, ctx.need("generate") * _full_batch_step(ctx), "s", r"G \cdot t_{\text{step}}")


def qps_per_chip(ctx):
    """Requests per second per chip at the largest whole batch that fits: B/(t_step·G·n)."""
    b = _number(ctx, max_batch(ctx).expr)
    step = inf.step_time(_parts(ctx)).xreplace({B: b})
    return _q(ctx, b / (step * ctx.need("generate") * n_chips), "requests/s/chip", r"\text{QPS/chip}")


# ----------------------------------------------------------------------------- sharding


def mp_limit_memory(ctx):
    return _q(ctx, inf.model_parallel_limit_memory(_structure(ctx)).expr, "chips", r"Y_{\max}")


def mp_limit_compute(ctx):
    return _q(ctx, inf.model_parallel_limit_compute(_structure(ctx)).expr, "chips", r"Y_{\max}")


def latency_bound_bytes(ctx):
    return _q(ctx, inf.latency_bound_bytes().expr, "B", r"\frac{V}{Y}")


def latency_bound_buffer(ctx):
    return _q(ctx, inf.latency_bound_bytes().expr * Y, "B", r"V_{\text{lat}}")


def decode_activation_bytes(ctx):
    return _q(ctx, B * D * b_act, "B", r"|x_{B,D}|")


def _one_matmul(ctx) -> dict:
    """One Y-way sharded W_in matmul of the book's layer in decode: ICI, HBM and FLOP times."""
    t_math, t_hbm, t_ici = inf.tensor_sharded_times(inf.BOOK)
    from ..core.symbols import L

    return {"ici": t_ici / (2 * L), "hbm": t_hbm / (2 * L), "math": t_math / (2 * L)}


def matmul_ici_time(ctx):
    return _q(ctx, _one_matmul(ctx)["ici"].xreplace({M_Y: 1}), "s", r"T_{\text{ici}}")


def matmul_hbm_time(ctx):
    return _q(ctx, _one_matmul(ctx)["hbm"], "s", r"T_{\text{hbm}}")


def matmul_math_time(ctx):
    return _q(ctx, _one_matmul(ctx)["math"], "s", r"T_{\text{math}}")


def crossover_2d(ctx):
    return _q(ctx, inf.weight_stationary_2d(inf.BOOK).expr, "chips", r"N_{\text{2D}}")


def comms_2d_coefficient(ctx):
    """T_2D·√n·W_ici/(B·D·b_act/2) at the optimum: the book's √128 for F = 4D."""
    t_2d = inf.weight_stationary_2d(inf.BOOK).extra["t_2d_layer"]
    return _q(ctx, sp.simplify(t_2d * sp.sqrt(n_chips) * W_ici / (B * D * b_act / 2)), "", r"\sqrt{128}")


# ----------------------------------------------------------------------------- serving


def prefill_time(ctx):
    return _q(ctx, inf.prefill_time(_structure(ctx)).xreplace({B: 1}), "s", r"t_{\text{prefill}}")


def sequences_finished(ctx):
    return _q(ctx, B / ctx.need("generate"), "sequences/step", "")


def kv_tokens_evicted(ctx):
    return _q(ctx, B * (T + ctx.need("generate")) / ctx.need("generate"), "tokens/step", "")


def disaggregated_ratio(ctx):
    """Prefill servers per generate server: t_prefill·B / (t_step·G), both at the claim's inputs."""
    t_prefill = inf.prefill_time(_structure(ctx)).xreplace({B: 1})
    ratio = t_prefill * B / (_full_batch_step(ctx).xreplace({B: 1}) * ctx.need("generate"))
    return _q(ctx, ratio, "", r"\frac{N_{\text{prefill}}}{N_{\text{gen}}}")


def prefix_cache_fraction(ctx):
    """Share of a prompt's prefill FLOPs still needed when ``cached`` of its T tokens are cached."""
    flops = inf.prefill_parts(_structure(ctx))["flops_2p"]
    return _q(ctx, flops.xreplace({T: T - ctx.need("cached")}) / flops, "", "")


def flops_per_usd_hour(ctx):
    return _q(ctx, C / ctx.need("usd_per_hour"), "FLOP/s per USD/h", r"\frac{C}{\$/\text{h}}")


def slice_hbm(ctx):
    return _q(ctx, n_chips * M_hbm, "B", "")


def slice_hbm_bandwidth(ctx):
    return _q(ctx, n_chips * W_hbm, "B/s", "")


def slice_flops(ctx):
    return _q(ctx, n_chips * C, "FLOP/s", "")


def kv_compute_crossover(ctx):
    return _q(ctx, inf.kv_compute_crossover(_structure(ctx)).expr, "tokens", r"S^{*}")


def moe_expert_batch(ctx):
    return _q(ctx, inf.moe_expert_batch(_structure(ctx)), "tokens", r"\frac{Bk}{E}")


def model_critical_batch(ctx):
    """Decode critical batch of the whole model graph (MoE: about E/k times the dense one)."""
    return _q(ctx, inf.decode_critical_batch(_structure(ctx)).expr, "sequences", r"B_{\text{crit}}")


QUANTITIES = {f.__name__: f for f in (
    param_count, weight_bytes, kv_bytes_per_token, kv_bytes_per_sequence, kv_bytes_batch, activation_bytes,
    decode_memory, chips_for_memory, chips_for_weights, smallest_slice, smallest_slice_weights, kv_weight_balance, hbm_left_for_kv, max_batch,
    decode_critical_batch, prefill_attention_length, decode_step_time, weight_load_time,
    decode_throughput, decode_throughput_per_chip, throughput_per_chip_limit, full_hbm_step_time,
    generation_time, qps_per_chip, mp_limit_memory, mp_limit_compute, latency_bound_bytes,
    latency_bound_buffer, decode_activation_bytes, matmul_ici_time, matmul_hbm_time,
    matmul_math_time, crossover_2d, comms_2d_coefficient, prefill_time, sequences_finished,
    kv_tokens_evicted, disaggregated_ratio, prefix_cache_fraction, flops_per_usd_hour, slice_hbm,
    slice_hbm_bandwidth, slice_flops, kv_compute_crossover, moe_expert_batch, model_critical_batch)}


def register(quantities: dict, numbers: dict, choices: dict, whole: tuple) -> tuple:
    """Add the inference quantities and settings to the claims tables; returns the new WHOLE."""
    from .registry import lookup

    quantities.update({name: lookup(name).derive for name in QUANTITIES})
    numbers.update(NUMBERS)
    choices.update(CHOICES)
    return tuple(dict.fromkeys(whole + WHOLE))
