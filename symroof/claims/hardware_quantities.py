"""Quantities for the book's sections 1-3 (rooflines, TPU hardware, sharded collectives).

Each is built from the same rules the engine uses elsewhere: a matmul's FLOPs and bytes from
its einsum signature (``core.ops``), a collective's time from ``parallel.collectives`` on axes
whose wraparound the chip card decides (``parallel.topology.wrap_rule``), and thresholds solved
by SymPy. The numbers come from the cards and the claim's settings (the question's shapes and
mesh); nothing here holds a result.

Settings these quantities read (registered with ``reproduce`` through ``SETTINGS``):
``dtype`` picks the chip's peak; ``einsum`` a matmul (operand 0 and the output are
activations, ``act_bytes`` each; the others weights, ``param_bytes``); ``array``, ``sharding``
and ``over`` describe a sharded array and the mesh axes a collective runs over, in the book's
notation (``array: [B, D]``, ``sharding: {B: X, D: Y}``, ``over: XY``).
"""

from __future__ import annotations

import sympy as sp

from ..core import ops
from ..core.symbols import (SYMBOLS, B, C, D, F, M_hbm, W_dcn, W_hbm, W_ici, X, Y, Z, b_act,
                            b_param, n_chips, t_hop)
from ..errors import CardError
from ..io.bind import chip_values
from ..parallel import collectives
from ..parallel.collectives import Axis
from ..parallel.topology import wrap_rule
from .quantities import Quantity


n_flops, n_params = SYMBOLS["n_flops"], SYMBOLS["n_params"]
chips_per_host, links_per_axis = SYMBOLS["chips_per_host"], SYMBOLS["links_per_axis"]

MESH = {"X": X, "Y": Y, "Z": Z}
# Settings a section 1-3 claim may give, beyond reproduce's own: numbers, then choices
# (None: free-form, checked by the quantity that reads it).
NUMBERS = {"Z": "chips along mesh axis Z", "flops": "FLOPs of a job", "params": "parameters of a model"}
CHOICES = {"dtype": ("bf16", "fp8", "int8", "int4"), "link": ("hbm", "ici", "ici_link", "dcn"),
           "collective": tuple(collectives.COST), "ring_factor": (True, False), "latency": (True, False),
           "einsum": None, "array": None, "sharding": None, "over": None}


def _q(ctx, expr, unit: str, lhs: str, extra: dict | None = None) -> Quantity:
    values = ctx.values()
    dtype = ctx.settings.get("dtype", "bf16")
    values.update({sym: ctx.settings[key] for key, sym in (("Z", Z), ("flops", n_flops), ("params", n_params))
                   if key in ctx.settings})
    if ctx.chip is not None:        # without one the hardware symbols stay free
        values.update(chip_values(ctx.chip, dtype))
        values[chips_per_host] = sp.Integer(ctx.chip.chips_per_host)
        values[links_per_axis] = sp.Integer(ctx.chip.ici_links_per_axis)
    values.update(extra or {})
    return Quantity(sp.Integer(expr) if isinstance(expr, int) else expr, values, unit, None, lhs)


# ----------------------------------------------------------------------------- chips and pods


def pod_flops(ctx):
    return _q(ctx, n_chips * C, "FLOPs/s", r"C_{\text{pod}}")


def pod_hbm(ctx):
    return _q(ctx, n_chips * M_hbm, "B", r"M_{\text{pod}}")


def pod_hosts(ctx):
    return _q(ctx, n_chips / chips_per_host, "hosts", r"N_{\text{hosts}}")


def critical_intensity(ctx):
    """Peak FLOPs/s over one link's bandwidth: the intensity above which that link is not the bound."""
    link = ctx.settings.get("link", "hbm")
    # ici_link: one link, one way (an axis's W_ici is its links' sum, both ways on a ring)
    bandwidth = {"hbm": W_hbm, "ici": W_ici, "ici_link": W_ici / links_per_axis, "dcn": W_dcn}[link]
    return _q(ctx, C / bandwidth, "FLOPs/B", r"I_{\text{%s}}" % link.replace("_", " "))


def flops_time(ctx):
    return _q(ctx, n_flops / C, "s", r"T_{\text{math}}")


def hbm_load_time(ctx):
    """Reading every weight once from HBM, spread over ``chips`` chips."""
    return _q(ctx, n_params * b_param / (n_chips * W_hbm), "s", r"T_{\text{HBM}}")


# ----------------------------------------------------------------------------- matmuls


def _matmul(ctx) -> tuple[sp.Expr, sp.Expr]:
    """FLOPs and HBM bytes of the claim's einsum, by the engine's contraction rule."""
    text = str(ctx.settings.get("einsum", "B D, D F -> B F"))
    try:
        sig = ops.parse(text)
    except ValueError as err:
        raise CardError(f"setting 'einsum': {err}") from None
    unknown = [d for d in sig.all_dims if d not in SYMBOLS]
    if unknown or len(sig.operands) != 2:
        raise CardError(f"setting 'einsum' must be two operands over symbols such as B, D, F; got {text!r}")
    sizes = {d: SYMBOLS[d] for d in sig.all_dims}
    flops = ops.contraction_flops(sig, sizes)
    widths = (b_act, b_param)
    moved = sum(w * ops.numel(dims, sizes) for w, dims in zip(widths, sig.operands))
    return flops, moved + b_act * ops.numel(sig.output, sizes)


def matmul_flops(ctx):
    return _q(ctx, _matmul(ctx)[0], "FLOPs", r"\text{FLOPs}")


def matmul_time(ctx):
    return _q(ctx, _matmul(ctx)[0] / C, "s", r"T_{\text{math}}")


def _small_batch_intensity(ctx) -> sp.Expr:
    """FLOPs per byte when the weight dimensions dwarf the batch (the book's B ≪ D, F)."""
    flops, moved = _matmul(ctx)
    intensity = flops / moved
    for dim in (D, F):
        intensity = sp.limit(intensity, dim, sp.oo)
    return sp.simplify(intensity)


def matmul_intensity_limit(ctx):
    return _q(ctx, _small_batch_intensity(ctx), "FLOPs/B", r"\text{Intensity}")


def matmul_critical_batch(ctx):
    """Batch at which the small-batch intensity reaches the chip's C / W_hbm."""
    root = _one_root(sp.Eq(_small_batch_intensity(ctx), C / W_hbm), B)
    return _q(ctx, root, "tokens", r"B_{\text{crit}}")


def matmul_critical_batch_exact(ctx):
    """Batch at which T_math = T_HBM with every term of the byte count kept."""
    flops, moved = _matmul(ctx)
    return _q(ctx, _one_root(sp.Eq(flops / C, moved / W_hbm), B), "tokens", r"B_{\text{crit}}")


def _one_root(equation, unknown) -> sp.Expr:
    roots = [r for r in sp.solve(equation, unknown) if r.is_positive is not False]
    if len(roots) != 1:
        raise CardError(f"expected one positive {unknown} solving {equation}, got {roots}")
    return roots[0]


def _contracting_split(ctx) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """``[B, D_X] ·_D [D_X, F]``, then AllReduce_X of the [B, F] partial sums (book Case 3).
    Returns per-chip T_math, T_comms of that strategy, and T_math unsharded with the weight gathered."""
    flops, _ = _matmul(ctx)
    axis = _axes(ctx, "X")
    t_reduce = collectives.collective_time("AllReduce", b_act * B * F, axis, ring_factor=_ring(ctx))
    return flops / (X * C), t_reduce, flops / C


def _ring(ctx) -> bool:
    return bool(ctx.settings.get("ring_factor", False))


def sharded_matmul_critical_dim(ctx):
    """Contracting dimension D at which the sharded matmul's math equals its AllReduce."""
    t_math, t_comms, _ = _contracting_split(ctx)
    return _q(ctx, _one_root(sp.Eq(t_math, t_comms), D), "", r"D_{\text{crit}}")


def sharded_matmul_max_shards(ctx):
    """Most shards X of the contracting dimension that keep the matmul compute-bound."""
    t_math, t_comms, _ = _contracting_split(ctx)
    return _q(ctx, _one_root(sp.Eq(t_math, t_comms), X), "chips", r"X_{\max}")


def allreduce_beats_allgather_dim(ctx):
    """D above which AllReduce-ing the output (Strategy 2) costs less than the unsharded math."""
    _, t_comms, t_math_gathered = _contracting_split(ctx)
    return _q(ctx, _one_root(sp.Eq(t_comms, t_math_gathered), D), "", r"D^{*}")


def allgather_weights_critical_batch(ctx):
    """Batch below which gathering the weight [D_X, F] costs more than the full local matmul."""
    flops, _ = _matmul(ctx)
    t_gather = collectives.collective_time("AllGather", b_param * D * F, _axes(ctx, "X"), ring_factor=_ring(ctx))
    return _q(ctx, _one_root(sp.Eq(flops / C, t_gather), B), "tokens", r"B_{\text{crit}}")


# ----------------------------------------------------------------------------- sharded arrays


def _mesh(ctx) -> dict[str, sp.Expr]:
    return {name: sym for name, sym in MESH.items() if name in ctx.settings}


def _axes(ctx, names: str) -> list[Axis]:
    """Mesh axes laid one per physical axis of a slice; the chip card decides which wrap."""
    mesh = _mesh(ctx)
    bad = [n for n in names if n not in mesh]
    if bad or not names:
        raise CardError(f"setting 'over' names mesh axes {names!r}; the claim's mesh has {', '.join(mesh) or 'none'}")
    box = tuple(int(ctx.settings[n]) for n in mesh)
    wraps = dict(zip(mesh, wrap_rule(ctx.need_chip(), box)))
    return [Axis(n, mesh[n], "ici", sp.Integer(1), wraps[n]) for n in names]


def _array(ctx) -> tuple[list[sp.Symbol], dict]:
    dims = ctx.settings.get("array", ["B", "D"])
    sharding = ctx.settings.get("sharding") or {}
    if not isinstance(dims, list) or any(str(d) not in SYMBOLS for d in dims):
        raise CardError(f"setting 'array' must list dimension symbols such as [B, D]; got {dims!r}")
    if not isinstance(sharding, dict) or any(str(k) not in dims for k in sharding):
        raise CardError(f"setting 'sharding' maps dimensions of 'array' to mesh axes, e.g. {{B: X}}; got {sharding!r}")
    used = "".join(str(v) for v in sharding.values())
    if any(a not in MESH for a in used) or len(set(used)) != len(used):
        raise CardError(f"setting 'sharding' may use each of the mesh axes X, Y, Z once; got {sharding!r}")
    return [SYMBOLS[str(d)] for d in dims], {str(k): str(v) for k, v in sharding.items()}


def _array_bytes(ctx) -> sp.Expr:
    dims, _ = _array(ctx)
    return b_act * sp.Mul(*dims)


def array_bytes(ctx):
    return _q(ctx, _array_bytes(ctx), "B", r"V")


def shard_bytes(ctx):
    """Bytes one device holds: the array over the product of the axes sharding it."""
    _, sharding = _array(ctx)
    return _q(ctx, _array_bytes(ctx) / sp.Mul(*(MESH[a] for a in "".join(sharding.values()))), "B",
              r"V_{\text{device}}")


def total_bytes(ctx):
    """Bytes over all devices: each device's shard times the devices in the mesh."""
    _, sharding = _array(ctx)
    per_device = _array_bytes(ctx) / sp.Mul(*(MESH[a] for a in "".join(sharding.values())))
    return _q(ctx, per_device * sp.Mul(*_mesh(ctx).values()), "B", r"V_{\text{total}}")


def hop_time(ctx):
    """One device's shard over one ICI link one way: a ring collective's time per hop."""
    _, sharding = _array(ctx)
    shard = _array_bytes(ctx) / sp.Mul(*(MESH[a] for a in "".join(sharding.values())))
    return _q(ctx, shard * links_per_axis / W_ici, "s", r"T_{\text{hop}}")


def replication_factor(ctx):
    """Copies of the array across the mesh: the product of the axes that do not shard it."""
    _, sharding = _array(ctx)
    used = "".join(sharding.values())
    return _q(ctx, sp.Mul(*(sym for name, sym in _mesh(ctx).items() if name not in used)), "", r"\text{copies}")


def _collective(ctx) -> sp.Expr:
    """The book's V: bytes of the array on one ring of the collected axes (sharding elsewhere divides)."""
    kind = ctx.settings.get("collective", "AllGather")
    over = str(ctx.settings.get("over", "X"))
    _, sharding = _array(ctx)
    elsewhere = [MESH[a] for a in "".join(sharding.values()) if a not in over]
    volume = _array_bytes(ctx) / sp.Mul(*elsewhere)
    return collectives.collective_time(kind, volume, _axes(ctx, over),
                                       ring_factor=_ring(ctx),
                                       latency=bool(ctx.settings.get("latency", False)))


def collective_time(ctx):
    kind = ctx.settings.get("collective", "AllGather")
    return _q(ctx, _collective(ctx), "s", r"T_{\text{%s}}" % kind)


def collective_latency_floor(ctx):
    """T_min per hop along the longest path the collective's data travels."""
    over = str(ctx.settings.get("over", "X"))
    return _q(ctx, t_hop * collectives.hops(_axes(ctx, over)), "s", r"T_{\text{min}} \cdot \text{hops}")


def allgather_to_alltoall(ctx):
    """How many AllToAlls cost one AllGather of the same array over the same axes."""
    over = str(ctx.settings.get("over", "X"))
    axes, volume = _axes(ctx, over), _array_bytes(ctx)
    ratio = (collectives.collective_time("AllGather", volume, axes)
             / collectives.collective_time("AllToAll", volume, axes))
    return _q(ctx, sp.simplify(ratio), "", r"\frac{T_{\text{AllGather}}}{T_{\text{AllToAll}}}")


def link_latency_bytes(ctx):
    """A message that one ICI link moves, one way, in one hop's latency: smaller ones are latency bound."""
    return _q(ctx, t_hop * W_ici / links_per_axis, "B", r"V_{\text{latency}}")


def point_to_point_time(ctx):
    """One array from corner to corner of a slice: split over the ``over`` axes' links (one way
    each, as on a line), plus one hop latency per chip on the way (the first byte's arrival)."""
    over = str(ctx.settings.get("over", "XY"))
    axes = _axes(ctx, over)
    one_way = [Axis(a.name, a.size, a.link, a.n_physical, wrap=False) for a in axes]
    transfer = collectives.collective_time("AllGather", _array_bytes(ctx), one_way)
    return _q(ctx, transfer + t_hop * collectives.hops(one_way), "s", r"T_{\text{p2p}}")


def point_to_point_transfer(ctx):
    over = str(ctx.settings.get("over", "XY"))
    one_way = [Axis(a.name, a.size, a.link, a.n_physical, wrap=False) for a in _axes(ctx, over)]
    return _q(ctx, collectives.collective_time("AllGather", _array_bytes(ctx), one_way), "s",
              r"T_{\text{transfer}}")


def point_to_point_first_byte(ctx):
    over = str(ctx.settings.get("over", "XY"))
    one_way = [Axis(a.name, a.size, a.link, a.n_physical, wrap=False) for a in _axes(ctx, over)]
    return _q(ctx, t_hop * collectives.hops(one_way), "s", r"T_{\text{first byte}}")


#  name                              function                            book question
QUANTITIES = {
    "pod_flops":                     pod_flops,                        # tpus.md Q2
    "pod_hbm":                       pod_hbm,                          # tpus.md Q2
    "pod_hosts":                     pod_hosts,                        # tpus.md Q2
    "critical_intensity":            critical_intensity,               # roofline.md, sharding.md Q4
    "flops_time":                    flops_time,                       # roofline.md intro
    "hbm_load_time":                 hbm_load_time,                    # tpus.md Q1
    "matmul_flops":                  matmul_flops,                     # tpus.md Q4, Q6
    "matmul_time":                   matmul_time,                      # tpus.md Q6
    "matmul_intensity_limit":        matmul_intensity_limit,           # roofline.md dot product, Q4
    "matmul_critical_batch":         matmul_critical_batch,            # roofline.md, Q1, Q2, P5
    "matmul_critical_batch_exact":   matmul_critical_batch_exact,      # tpus.md Q4
    "sharded_matmul_critical_dim":   sharded_matmul_critical_dim,      # roofline.md two chips
    "sharded_matmul_max_shards":     sharded_matmul_max_shards,        # sharding.md Q4
    "allreduce_beats_allgather_dim": allreduce_beats_allgather_dim,    # sharding.md Q4
    "allgather_weights_critical_batch": allgather_weights_critical_batch,  # sharding.md Q4
    "array_bytes":                   array_bytes,                      # sharding.md pop quiz 2
    "shard_bytes":                   shard_bytes,                      # sharding.md pop quizzes 1, 2
    "total_bytes":                   total_bytes,                      # sharding.md pop quiz 1
    "replication_factor":            replication_factor,               # sharding.md Q1
    "hop_time":                      hop_time,                         # sharding.md pop quiz 2
    "collective_time":               collective_time,                  # sharding.md pop quiz 2, Q2, Q3
    "collective_latency_floor":      collective_latency_floor,         # sharding.md Q2
    "allgather_to_alltoall":         allgather_to_alltoall,            # sharding.md AllToAll, Q10
    "link_latency_bytes":            link_latency_bytes,               # sharding.md ICI latency note
    "point_to_point_time":           point_to_point_time,              # tpus.md Q5
    "point_to_point_transfer":       point_to_point_transfer,          # tpus.md Q5
    "point_to_point_first_byte":     point_to_point_first_byte,        # tpus.md Q5
}


def _register_all() -> None:
    """File every quantity in the one registry (a name is one derivation everywhere)."""
    from .registry import register

    for name, make in QUANTITIES.items():
        register(name, "", "run", "")(make)


_register_all()
