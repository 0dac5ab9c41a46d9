"""Inference closed forms, solved by SymPy from the prefill and decode graphs.

The decode graph (``graph.build(..., phase="decode")``) is one new token per sequence
attending to ``S`` cached tokens; prefill is ``T`` new tokens writing the cache. From them:

- ``decode_parts``: the four terms of a decode step: FLOPs and HBM bytes of the weight
  matmuls, FLOPs of the attention core and the KV-cache bytes it reads;
- ``step_time``: per chip on ``n_chips`` chips, each class of op on its own roofline,
  ``max(t_math, t_hbm)`` for the attention core plus the same for the weights (the book's
  "attention + max(FLOPs, parameter loading)" once the core is memory-bound);
- critical batch, attention-bound prompt length, batch that fits, chips needed, the
  model-parallel limits, the latency-bound collective size and the 2D weight-stationary
  crossover: each ``solve`` of an equation between two of those terms.

Assumptions (stated on each ``Derivation``): the weights are read once per step, all of
them; an MoE's experts as far as the step's tokens are routed (``expert_share``) in the step
time, every expert where B is solved for (its limit once B·k >> E); activations' HBM traffic is left out next to weights and cache
(the book's B << D, F); the step's state is spread evenly over ``n_chips``.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import sympy as sp

from ..core import derive, ops
from ..core.graph import Structure, build
from ..core.symbols import B, C, K, M_Y, M_hbm, S, T, W_hbm, X, Y, b_act, b_kv, b_param, mfu, n_chips, t_hop
from ..errors import NoClosedFormError
from ..parallel.collectives import Axis, collective_time
from ..parallel.roofline import comms_by_axis
from ..parallel.sharding import shard
from .training import Derivation, _roots

# Bytes per element of each numeric format a weight, activation or cache may be stored in.
DTYPE_BYTES = {"fp32": sp.Integer(4), "bf16": sp.Integer(2), "fp16": sp.Integer(2),
               "fp8": sp.Integer(1), "int8": sp.Integer(1), "int4": sp.Rational(1, 2)}
BOOK = Structure.book_layer()
_NOTE_ACT = "activation HBM traffic left out (B << D, F), as the book does"


def graph(structure: Structure, phase: str, attention: str = "causal"):
    """The phase's graph; a decode step of MLA served as inference engines run it, kv_b absorbed
    (core/attention_mla.py), not transformers' eager expansion of the whole cache (``build``'s)."""
    if phase == "decode" and any(blk.mla for blk in structure.blocks):
        structure = replace(structure, blocks=tuple(replace(blk, mla_absorbed=blk.mla) for blk in structure.blocks))
    return build(structure, attention, "fused", phase)


def _core(d) -> bool:
    return bool(d.get("attention_core"))


def expert_share(g) -> sp.Expr:
    """The expected fraction of an MoE layer's E experts that a step's tokens are routed to.

    Each of the B·T tokens picks k of the E experts; under uniform routing one expert escapes one
    token with probability 1 - k/E, and all of them, independently, with (1 - k/E)^(B·T). So a step
    reads E·(1 - (1 - k/E)^(B·T)) experts' weights: k at one token, all of them once B·T >> E/k.
    The token count is the graph's own (its routed copies R = B·T·k/E, times E/k)."""
    sizes = g.graph["sizes"]
    e, k = sizes["E"], sizes["k"]
    return 1 - (1 - k / e) ** sp.expand(sizes["R"] * e / k)


def weight_bytes_read(g, routed: bool = False) -> sp.Expr:
    """Weight bytes one step reads: every weight operand in full, the embedding only its rows; with
    ``routed``, an MoE's expert weights (those with an E dimension) only for the experts its tokens
    are routed to (``expert_share``), else every expert (the limit of many tokens)."""
    sizes, params = g.graph["sizes"], g.graph["param_dims"]
    share = expert_share(g) if routed and any("E" in dims for dims in params.values()) else sp.Integer(1)
    total = sp.Integer(0)
    for name, d in g.nodes(data=True):
        if d["phase"] != "forward":
            continue
        if d["op"] == "gather":       # a lookup reads B·T rows of the table
            total += d["repeat"] * ops.numel(g.graph["tensor_dims"][name], sizes) * b_param
            continue
        refs = {ref for _, ref in d["operands"] if ref in params} | set(d["params"])
        total += d["repeat"] * sp.Add(*(ops.numel(params[r], sizes) * (share if "E" in params[r] else 1)
                                        for r in refs)) * b_param
    return total


@lru_cache(maxsize=None)
def decode_parts(structure: Structure = Structure()) -> dict[str, sp.Expr]:
    """FLOPs and bytes of one decode step over B sequences of S cached tokens (whole model)."""
    g = graph(structure, "decode")
    return {
        "flops_weights": derive.total(g, "flops", "forward", where=lambda n, d: not _core(d)),
        "bytes_weights": weight_bytes_read(g),                  # every expert: what B is solved with
        "bytes_weights_step": weight_bytes_read(g, routed=True),    # the experts B tokens reach
        "flops_core": derive.total(g, "flops", "forward", where=lambda n, d: _core(d)),
        "bytes_kv": derive.kv_cache_bytes(g),
        # what the step reads of the cache, where less than it holds (chunked layers: the new token's chunk)
        **({"bytes_kv_read": derive.kv_cache_bytes(g, read=True)}
           if any(d.get("read_share") is not None for _, d in g.nodes(data=True)) else {}),
    }


@lru_cache(maxsize=None)
def prefill_parts(structure: Structure = Structure(), attention: str = "causal") -> dict[str, sp.Expr]:
    """FLOPs of a prefill of B prompts of T tokens, and the fused attention core's FLOPs and bytes."""
    g = graph(structure, "prefill", attention)
    core = [(n, d) for n, d in g.nodes(data=True) if _core(d)]
    return {"flops": derive.flops(g, "forward"),
            "flops_2p": derive.flops(g, "forward", "6N"),
            "flops_core": sp.Add(*(d["repeat"] * d["flops"] for _, d in core)),
            "bytes_core": sp.Add(*(d["repeat"] * d["bytes"] for _, d in core)),
            "bytes_kv": derive.kv_cache_bytes(g)}


def kv_bytes_per_token(structure: Structure = Structure()) -> sp.Expr:
    """Cache bytes one token adds (2·K·H·L·b_kv for GQA), from the decode graph's cache tensors that
    grow with S (a sliding or chunked layer's: its held share averaged over S); a linear layer's
    state, the same at any S, is ``kv_state_per_sequence``."""
    return sp.factor((decode_parts(structure)["bytes_kv"] - B * kv_state_per_sequence(structure)) / (B * S))


@lru_cache(maxsize=None)
def kv_state_per_sequence(structure: Structure = Structure()) -> sp.Expr:
    """Cache bytes a sequence holds whatever its length: the cache tensors without an S dimension
    (a linear layer's recurrent and conv states, core/linear_attention.py); 0 for attention alone."""
    g = graph(structure, "decode")
    return sp.factor(sp.Add(*(d["repeat"] * ops.numel(g.graph["tensor_dims"][n], g.graph["sizes"])
                              * derive.kv_share(d) * b_kv
                              for n, d in g.nodes(data=True)
                              if d.get("cache") and "S" not in g.graph["tensor_dims"][n])) / B)


def step_parts(parts: dict) -> dict[str, sp.Expr]:
    """Per-chip times of the four terms on ``n_chips`` chips (state spread evenly)."""
    per = n_chips
    return {"t_math_weights": parts["flops_weights"] / (per * C),
            "t_hbm_weights": parts["bytes_weights"] / (per * W_hbm),
            "t_hbm_weights_step": parts.get("bytes_weights_step", parts["bytes_weights"]) / (per * W_hbm),
            "t_math_core": parts["flops_core"] / (per * C),
            "t_hbm_kv": parts.get("bytes_kv_read", parts["bytes_kv"]) / (per * W_hbm)}


def step_time(parts: dict) -> sp.Expr:
    """Decode step lower bound: each op class on its own roofline, the two classes in sequence (an
    MoE's weights read as far as the step's tokens are routed: ``expert_share``)."""
    t = step_parts(parts)
    return sp.Max(t["t_math_core"], t["t_hbm_kv"]) + sp.Max(t["t_math_weights"], t["t_hbm_weights_step"])


def kv_bytes_per_chip(structure: Structure, degree, read: bool = False) -> sp.Expr:
    """Cache bytes one chip of a tensor axis of ``degree`` chips holds after a decode step (with
    ``read``, that the step reads: ``derive.kv_share``): a cache
    tensor the axis splits (GQA's K heads, each on degree/K chips past K heads:
    ``axes.KV_REPLICATION``) its share; one no axis splits (MLA's latent and RoPE key, read by every
    head) whole on every chip, as inference engines keep it."""
    from ..parallel.axes import kv_heads_replicated
    from ..parallel.sharding import layout

    g = graph(structure, "decode")
    mesh = {"tensor": Axis("tensor", degree)}
    total = sp.Integer(0)
    for name, d in g.nodes(data=True):
        if not d.get("cache"):
            continue
        dims = g.graph["tensor_dims"][name]
        held = d["repeat"] * ops.numel(dims, g.graph["sizes"]) * derive.kv_share(d, read) * b_kv
        split = layout(dims, mesh, weight=False).get("tensor")
        if split == "K":
            held = held.xreplace({K: kv_heads_replicated(K, degree)})
        total += held / degree if split else held
    return total


def weights_held(structure: Structure = Structure()) -> sp.Expr:
    """Bytes of all weights (the embedding table included), from the graph's parameter count."""
    return derive.params(graph(structure, "decode")) * b_param


# ----------------------------------------------------------------------------- closed forms


@lru_cache(maxsize=None)
def decode_critical_batch(structure: Structure = BOOK) -> Derivation:
    """Sequences per step above which the weight matmuls are compute-bound: C·b_param/(2·W_hbm)."""
    t = step_parts(decode_parts(structure))
    b_crit = sp.factor(_roots(t["t_math_weights"] - t["t_hbm_weights"], B, "decode critical batch"))
    return Derivation("decode_critical_batch", b_crit,
                      "decode batch (sequences) above which the weight matmuls are compute-bound",
                      ("decode: T = 1 new token per sequence", _NOTE_ACT,
                       "all weights read once per step (MoE: every expert, the limit B·k >> E)"),
                      (("T_math (weights)", t["t_math_weights"]), ("T_hbm (weights)", t["t_hbm_weights"]),
                       ("solve T_math = T_hbm for B", b_crit)),
                      latex_name=r"B_{\text{crit}}")


@lru_cache(maxsize=None)
def prefill_attention_length(structure: Structure = Structure(), attention: str = "full") -> Derivation:
    """Prompt length above which the fused attention core of prefill is compute-bound (MHA: 2C/W)."""
    p = prefill_parts(structure, attention)
    t_math, t_hbm = p["flops_core"] / C, p["bytes_core"] / W_hbm
    length = sp.factor(_roots(sp.numer(sp.together(t_math - t_hbm)), T, "prefill attention length"))
    return Derivation("prefill_attention_length", length,
                      "prompt length above which prefill attention is compute-bound",
                      (f"{attention} attention count", "fused kernel: reads Q, K, V, writes O"),
                      (("T_math (attention core)", t_math), ("T_hbm (attention core)", t_hbm),
                       ("solve for T", length)), latex_name=r"T_{\text{attn}}")


@lru_cache(maxsize=None)
def max_batch(structure: Structure = Structure()) -> Derivation:
    """Sequences of S tokens whose caches fit next to the weights on n_chips chips."""
    parts = decode_parts(structure)
    held = weights_held(structure) + parts["bytes_kv"]
    b_max = sp.factor(_roots(held - n_chips * M_hbm, B, "max batch"))
    return Derivation("max_batch", b_max, "sequences whose KV caches fit beside the weights (floor it)",
                      ("weights and caches spread evenly over n_chips", "no working memory"),
                      (("HBM held", held), ("solve held = n_chips·M_hbm for B", b_max)),
                      latex_name=r"B_{\max}")


@lru_cache(maxsize=None)
def kv_compute_crossover(structure: Structure = Structure()) -> Derivation:
    """Context above which reading one sequence's cache takes longer than its matmul FLOPs."""
    t = step_parts(decode_parts(structure))
    per_seq_kv, per_seq_math = sp.diff(t["t_hbm_kv"], B), sp.diff(t["t_math_weights"], B)
    s_star = sp.factor(_roots(per_seq_kv - per_seq_math, S, "KV/FLOPs crossover"))
    return Derivation("kv_compute_crossover", s_star,
                      "context above which each sequence's cache read outweighs its matmul FLOPs",
                      ("decode step, large batch",),
                      (("d T_kv / dB", per_seq_kv), ("d T_math / dB", per_seq_math), ("solve for S", s_star)),
                      latex_name=r"S^{*}")


def tensor_sharded_times(structure: Structure):
    """Per-chip decode t_math, t_hbm (weights: an MoE's as far as the B tokens are routed, a
    coefficient where Y is solved for) and t_ici of a Y-way tensor-parallel replica."""
    sg = shard(graph(structure, "decode"), {"tensor": Axis("tensor", Y, "ici", M_Y)})
    t_ici = comms_by_axis(sg, "forward")["tensor"]
    t_math = derive.total(graph(structure, "decode"), "flops", "forward") / (Y * C)
    t_hbm = weight_bytes_read(graph(structure, "decode"), routed=True) / (Y * W_hbm)
    return t_math, t_hbm, t_ici


#   which   name                the other term    bound      its label          latex
_TP_LIMITS = {
    "hbm":  ("mp_limit_memory",  "weight loading", "memory",  "T_hbm (weights)", r"Y_{\max}^{\text{hbm}}"),
    "math": ("mp_limit_compute", "the FLOPs",      "compute", "T_math",          r"Y_{\max}^{\text{math}}"),
}


def _tp_limit(structure: Structure, which: str) -> Derivation:
    """The tensor-parallel degree where decode's ICI time overtakes weight loading or the FLOPs."""
    t_math, t_hbm, t_ici = tensor_sharded_times(structure)
    other = t_hbm if which == "hbm" else t_math
    name, what, bound, label, latex = _TP_LIMITS[which]
    y = sp.factor(_roots(sp.numer(sp.together(t_ici - other)), Y, f"{bound}-bound TP limit"))
    return Derivation(name, y, f"TP degree above which decode ICI time exceeds {what}",
                      (f"decode, {bound}-bound", "Megatron sharding: collectives from the rule tables"),
                      (("T_ici", t_ici), (label, other), ("solve for Y", y)), latex_name=latex)


@lru_cache(maxsize=None)
def model_parallel_limit_memory(structure: Structure = BOOK) -> Derivation:
    """Tensor-parallel degree where ICI time overtakes weight loading in decode: F/(B·β)."""
    return _tp_limit(structure, "hbm")


@lru_cache(maxsize=None)
def model_parallel_limit_compute(structure: Structure = BOOK) -> Derivation:
    """Tensor-parallel degree where ICI time overtakes the matmul FLOPs: M_Y·F/α."""
    return _tp_limit(structure, "math")


@lru_cache(maxsize=None)
def latency_bound_bytes() -> Derivation:
    """Per-shard bytes below which a Y-way AllGather is latency-bound: T_min·W_ici/2."""
    volume = sp.Dummy("V", positive=True)
    axis = Axis("tensor", Y, "ici")
    bandwidth = collective_time("AllGather", volume, [axis])
    floor = collective_time("AllGather", volume, [axis], latency=True).args
    latency = next(a for a in floor if a != bandwidth)
    v = _roots(bandwidth - latency, volume, "latency-bound volume")
    per_shard = sp.factor(v / Y)
    return Derivation("latency_bound_bytes", per_shard,
                      "bytes per shard below which an AllGather is latency-bound (per-hop T_min)",
                      ("ring with wraparound: |X|/2 hops",),
                      (("bandwidth term", bandwidth), ("latency term", latency), ("solve for V", v),
                       ("per shard V / Y", per_shard)), latex_name=r"\frac{V}{Y}_{\text{lat}}")


@lru_cache(maxsize=None)
def latency_bound_degree(structure: Structure = BOOK) -> Derivation:
    """TP degree above which the decode step's [B, D] AllGather is latency-bound: 2·B·D·b_act/(T_min·W)."""
    g = graph(structure, "decode")
    x = g.graph["tensor_dims"][g.graph["layer_input"]]
    volume = ops.numel(x, g.graph["sizes"]) * b_act
    axis = Axis("tensor", Y, "ici")
    bandwidth = collective_time("AllGather", volume, [axis])
    latency = t_hop * Y / 2
    y = sp.factor(_roots(bandwidth - latency, Y, "latency-bound degree"))
    return Derivation("latency_bound_degree", y, "TP degree above which the activation AllGather is latency-bound",
                      ("decode: the layer input [B, D]",),
                      (("bandwidth term", bandwidth), ("latency term", latency), ("solve for Y", y)),
                      latex_name=r"Y_{\text{lat}}")


@lru_cache(maxsize=None)
def weight_stationary_2d(structure: Structure = BOOK, axes_1d: int = 3) -> Derivation:
    """The ESTI 2D weight-stationary layout: optimal X and the chip count above which it beats 1D.

    The 1D (Megatron) comms come from the sharding rules on the decode graph, over ``axes_1d``
    physical axes; the 2D comms follow the paper's algorithm (AllGather_YZ, AllReduce_X,
    ReduceScatter_YZ) on the graph's [B, D] and [B, F] tensors, with YZ = n_chips / X.
    """
    g = graph(structure, "decode")
    dims, sizes = g.graph["tensor_dims"], g.graph["sizes"]
    x_dims = dims[g.graph["layer_input"]]
    hidden = next(dims[n] for n in dims if "F" in dims[n])
    bd, bf = (ops.numel(d, sizes) * b_act for d in (x_dims, hidden))
    yz = n_chips / X
    two = Axis("yz", yz, "ici", 2)
    layers = sp.Add(*g.graph["blocks"].values())
    t_2d = layers * (collective_time("AllGather", bd / X, [two])
                     + collective_time("AllReduce", bf / yz, [Axis("x", X)])
                     + collective_time("ReduceScatter", bd / X, [two]))
    x_opt = _roots(sp.numer(sp.together(sp.diff(t_2d, X))), X, "2D optimum")
    t_2d_opt = sp.factor(sp.powdenest(t_2d.xreplace({X: x_opt}), force=True))
    sg = shard(g, {"tensor": Axis("tensor", Y, "ici", axes_1d)})
    t_1d = comms_by_axis(sg, "forward")["tensor"]
    n_cross = sp.factor(_roots(t_1d - t_2d_opt, n_chips, "2D crossover"))
    return Derivation("crossover_2d", n_cross, "chips above which 2D weight-stationary comms beat 1D Megatron",
                      (f"1D over {axes_1d} ICI axes", "2D: X·YZ = n_chips, YZ over 2 axes"),
                      (("T_2D", t_2d), ("X_opt", x_opt), ("T_2D at X_opt", t_2d_opt), ("T_1D", t_1d),
                       ("solve T_1D = T_2D for n_chips", n_cross)),
                      {"x_opt": x_opt, "t_2d": t_2d_opt, "t_1d": t_1d, "t_2d_layer": sp.factor(t_2d_opt / layers)},
                      latex_name=r"N_{\text{2D}}")


@lru_cache(maxsize=None)
def moe_expert_batch(structure: Structure) -> sp.Expr:
    """Tokens each expert sees per decode step (uniform routing): B·k/E, from the graph's R dim."""
    if not any(blk.moe for blk in structure.blocks):
        raise NoClosedFormError("moe_expert_batch needs an MoE model")
    return graph(structure, "decode").graph["sizes"]["R"]


def prefill_time(structure: Structure = Structure(), rule: str = "2p") -> sp.Expr:
    """Seconds to prefill B prompts of T tokens on n_chips at MFU ``mfu`` (2·P·T FLOPs, or per op)."""
    p = prefill_parts(structure)
    return p["flops_2p" if rule == "2p" else "flops"] / (n_chips * C * mfu)
