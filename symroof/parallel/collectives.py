"""Collective cost rules (the book's sharding.md, section "collective costs"), one rule per line.

``V`` is the book's volume: for an AllGather the bytes of the gathered array on one ring,
for a ReduceScatter or AllReduce the bytes of the unreduced array, for an AllToAll the
bytes of the whole array spread over the ring. ``W`` is the bidirectional bandwidth of one
chip along one axis with wraparound, ``M`` the number of such physical axes the logical
axis spans. The ring factor (n-1)/n is dropped, as the book does, unless asked for.

A point-to-point send (``SendRecv``, pipeline stages) is not a ring collective: ``V`` bytes
go to one neighbour over one link in one direction, so neither ``M`` nor the wraparound
helps, and the bandwidth is the link's one-way figure (``ONE_WAY``). On ICI that is half of
``W_ici``: the book's W_ici is the bidirectional per-axis figure, twice the one-way per-link
bandwidth (https://github.com/jax-ml/scaling-book/blob/0819a7d/tpus.md, the ICI table and
its footnote). On DCN the card's number is already one direction of the host's NICs. Through a
switch (a GPU's NVLink domain) a send uses all of the chip's links, ``W_ici`` (``one_way``).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import sympy as sp

from ..core.symbols import W_dcn, W_ici, t_hop

#   collective       time factor × V / (W·M)    book rule
COST = {
    "AllGather":     sp.Integer(1),             # T = V / (W·M)
    "ReduceScatter": sp.Integer(1),             # T = V / (W·M)
    "AllReduce":     sp.Integer(2),             # ReduceScatter + AllGather
    "AllToAll":      sp.Rational(1, 4),         # a quarter of an AllGather on a bidirectional ring
    "SendRecv":      sp.Integer(1),             # T = V / W_one_way: one link, one direction (see above)
}
POINT_TO_POINT = ("SendRecv",)

# On a switched fabric (an NVLink switch, a data-centre network) every rank reaches every other in
# one hop, so an AllToAll no longer crosses a quarter of a ring: each of the n ranks sends its own
# V/n. nccl-tests times both on the same bus bandwidth (NVIDIA/nccl-tests@a0b82b2 src/all_gather.cu
# AllGatherGetBw: n·count elements, the gathered V; src/alltoall.cu AlltoAllGetBw: n·(count/n),
# one rank's buffer V/n; both × (n-1)/n), so the AllToAll takes 1/n of the AllGather's time.
#   collective       time factor × V / (W·M) on a switch, for n ranks
SWITCHED = {
    "AllToAll":      lambda n: 1 / n,           # each rank sends its V/n once
}

#   link     one-way bandwidth of the one link a send uses
ONE_WAY = {
    "ici":   W_ici / 2,         # W_ici counts both directions (tpus.md footnote)
    "dcn":   W_dcn,             # the card's DCN figure is one direction already
}

#   link     bandwidth symbol   what it is
LINKS = {
    "ici":   W_ici,             # TPU ICI torus axis (or NVLink domain), bidirectional per chip
    "dcn":   W_dcn,             # data-centre network between pods / nodes, per chip
}


@dataclass(frozen=True)
class Axis:
    """A logical mesh axis: its size, the link it runs over, and M (physical axes spanned).

    ``wrap=False`` marks an axis laid on a line rather than a ring: the book says losing the
    wraparound roughly doubles a collective's time.
    """

    name: str
    size: sp.Expr
    link: str = "ici"
    n_physical: sp.Expr = sp.Integer(1)
    wrap: bool = True
    switched: bool = False     # an ICI axis through a switch (GPUs' NVLink domain); DCN always is
    experts: bool = False      # the tensor axis splits the routed experts whole (axes.folds_experts)


def dispatch_share(kind: str, axes, dispatch_nodes: int):
    """``two_tier``'s ``per_node`` for a collective over ``axes`` (names): min(1, M/k) for an AllToAll over
    the expert axis (an MoE dispatch or combine) where the run's dispatcher sends each token once per
    node, to at most ``dispatch_nodes`` = M of them; None where it sends every expert's copy (0)."""
    if not dispatch_nodes or kind != "AllToAll" or "expert" not in axes:
        return None
    from ..core.symbols import k
    return sp.Min(1, sp.Integer(dispatch_nodes) / k)


def two_tier(axes: list[Axis], spans: dict, kind: str = "AllReduce", per_node=None) -> sp.Expr:
    """The factor on a collective's time by the rule above (one chip's W_dcn) when its dcn axes have
    ``spans[name]`` of their chips inside each fast (NVLink or ICI) domain; 1 where no axis spans
    two tiers. Over several spanning axes at once the collective's group has the product of their
    shares in each domain (``inner`` below; ``ring_steps`` below divides by each the same way).

    - A ring collective: NCCL's hierarchical ring runs at the slower tier's per-rank rate,
      min(W_ici, inner · W_dcn), the domain's NICs together (nccl-tests' bus bandwidth).
    - An AllToAll sends each of its n-1 peers the same share, each over one path: the n - d peers
      outside its d-chip domain through its own NIC (every chip of the domain sends as much, so the
      NICs cannot pool), the d - 1 inside over the fast tier at once. Against all n - 1 shares at
      W_dcn: max((n - d) / (n - 1), (d - 1) / (n - 1) · W_dcn / W_ici); the domain holds the
      collective's fast (ici) axes too.
    - ``per_node``: an MoE dispatch that crosses the scale-out network once per node holding a
      token's experts, not once per expert (the DeepSeek-V3 report, arXiv 2412.19437, 3.2.2: each
      token goes "via IB to the GPUs with the same in-node index on its target nodes", then is
      forwarded over NVLink; node-limited routing sends it to at most M nodes). ``per_node`` is the
      share of a token's k copies that still cross, min(1, M/k). Every copy then also crosses the
      fast tier, forwarded from the chip that received it, (d - 1)/d of them to another chip:
      max(per_node · (n - d) / (n - 1), (d - 1)/d · n / (n - 1) · W_dcn / W_ici).
    """
    spanning = [spans[a.name] for a in axes if a.link == "dcn" and a.name in spans]
    if per_node is not None and kind == "AllToAll":
        n = sp.Mul(*(a.size for a in axes))
        d = sp.Mul(*spanning) * sp.Mul(*(a.size for a in axes if a.link != "dcn"))
        if n == 1:          # one rank: nothing moves
            return sp.Integer(1)
        return sp.Max(per_node * (n - d) / (n - 1), (d - 1) * n / (d * (n - 1)) * W_dcn / W_ici)
    if not spanning:
        return sp.Integer(1)
    inner = sp.Mul(*spanning)       # the collective's chips in one domain: each spanning axis's share
    if kind not in SWITCHED:
        return _tier_factor(inner)
    n = sp.Mul(*(a.size for a in axes))
    d = inner * sp.Mul(*(a.size for a in axes if a.link != "dcn"))
    if n == 1:              # one rank: nothing moves (the loader refuses such an axis's inner)
        return sp.Integer(1)
    return _tier_factor(inner, n, d)


@lru_cache(maxsize=1024)
def _tier_factor(inner, n=None, d=None) -> sp.Expr:
    """``two_tier``'s factor, built once per share (and ranks): SymPy's Min and Max of symbols
    compare their arguments on construction, most of a plan's derivation time if made per collective."""
    if n is None:
        return W_dcn / sp.Min(W_ici, inner * W_dcn)
    return sp.Max((n - d) / (n - 1), (d - 1) / (n - 1) * W_dcn / W_ici)


def substitute(exprs: dict, values: dict, swap: dict | None = None) -> dict:
    """``xreplace(values)`` of each expression, each distinct Min and Max (``two_tier``'s factors)
    rebuilt once and put in whole (SymPy compares their arguments on every rebuild); ``swap``: those
    already rebuilt with these ``values``, kept by the caller across expressions."""
    swap = {} if swap is None else swap
    for e in exprs.values():
        for m in e.atoms(sp.Min, sp.Max):
            if m not in swap:
                swap[m] = m.xreplace(values)
    return {k: e.xreplace({**swap, **values}) for k, e in exprs.items()}


def at_one_chip(exprs: dict, shares: list) -> dict:
    """Expressions derived with ``shares`` (symbols of spanning axes' chips in a domain) as they would
    be derived without those spans: each such share at one chip, where ``two_tier``'s ring factor
    W_dcn / min(W_ici, W_dcn) is 1 (the ring has no fast hop; so even where W_dcn > W_ici) and its
    AllToAll factor (n - 1) / (n - 1) is 1 already. Each Min and Max holding a share is rebuilt once,
    then put in whole: rebuilding one per occurrence is SymPy's slowest step."""
    ones = {x: sp.Integer(1) for x in shares}
    swap = _ONE_CHIP.setdefault(tuple(sorted(ones, key=str)), {})
    for e in exprs.values():
        for m in e.atoms(sp.Min, sp.Max):
            if m not in swap and m.free_symbols & ones.keys():
                new = m.xreplace(ones)
                swap[m] = W_dcn if isinstance(new, sp.Min) and set(new.args) == {W_ici, W_dcn} else new
    return {k: e.xreplace({**swap, **ones}) for k, e in exprs.items()}


_ONE_CHIP: dict = {}        # shares -> each Min and Max already rebuilt at one chip


def hops(axes: list[Axis]) -> sp.Expr:
    """The longest path a collective's data travels: |X|/2 hops on a ring, |X|-1 on a line.

    An axis over M physical axes is a box of M sides whose product is its size; the path runs
    along each side (the book's T_min·Σ|X_i|/2 over the physical axes, sharding.md), the
    diameter of that torus or grid. The sides are not recorded, so each is taken as size^(1/M),
    the even split: by the AM-GM inequality their sum is at most that of any real box, so the
    hop count stays a lower bound (exact for 4x4, 8x8, 8x8x8).
    """
    def one(a: Axis) -> sp.Expr:
        side = a.size ** (sp.Integer(1) / a.n_physical)
        return a.n_physical * (side / 2 if a.wrap else side - 1)

    return sp.Add(*(one(a) for a in axes))


def through_switch(axis: Axis) -> bool:
    """A send along ``axis`` goes through a switch (a GPU's NVLink), over all of the chip's links."""
    return axis.switched and axis.link == "ici"


def one_way(axis: Axis):
    """The bandwidth of a send along ``axis``: one link one way (``ONE_WAY``), but through a switch
    all of the chip's links, whose one-way sum the GPU cards give as W_ici (the h100-sxm card:
    900 GB/s both ways, 450 GB/s to any one peer)."""
    return W_ici if through_switch(axis) else ONE_WAY[axis.link]


def joint_bandwidth(per_axis: list, axes: list):
    """A chip's bandwidth for one collective over several axes at once, from each axis's own.

    Torus axes add: each has links of its own (the book's V / (W·n_axes)). Axes through the same
    ports of a chip (its scale-out NICs, a GPU's NVLink switch: ``topology.shares_ports``) share
    them: a ring over pod × data on the network still runs at one NIC's W_dcn (nccl-tests' bus
    bandwidth is one rank's, however many nodes the ring spans)."""
    if all(a.link == "dcn" or a.switched for a in axes):
        return max(per_axis) if all(isinstance(w, (int, Fraction)) for w in per_axis) else sp.Max(*per_axis)
    return sum(per_axis) if all(isinstance(w, (int, Fraction)) for w in per_axis) else sp.Add(*per_axis)


def live_axes(axes: list) -> list:
    """The axes of more than one chip: an axis of one (a mesh's ``fsdp=1``) lies on no link, so it
    adds no bandwidth beside another axis, and over such axes alone nothing moves (the book's rule
    drops the ring's (n-1)/n, which is 0 at n = 1)."""
    return [a for a in axes if a.size != 1]


def collective_time(kind: str, volume: sp.Expr, axes: list[Axis], ring_factor: bool = False,
                    latency: bool = False, spans: dict | None = None, ranks=None, per_node=None) -> sp.Expr:
    """Time of one collective of ``volume`` bytes over one or more axes of one link.

    Over several torus axes at once the bandwidths add (the book's ``V / (W·n_axes)``); over axes
    that share a chip's ports they do not (``joint_bandwidth``). An axis without wraparound counts
    half (a line, not a ring). ``spans``: dcn axes that also run inside fast domains
    (``two_tier``; ``per_node``: an MoE dispatch sent once per node, ``two_tier``'s). With ``latency`` the time is at least ``T_min`` per hop along the longest path (the book's ``max(T_min·Σ|X_i|/2, V/(W·n_axes))``).
    ``ranks``: a collective among a sub-group of the axes' chips (the chips sharing a replicated
    weight, the two stages sharing a tied table; ``sharding.Collective.ranks``). Its ring factor
    (r-1)/r is always kept: the book drops (n-1)/n as near 1 on a whole axis, but for a pair it is
    1/2, and for one rank (no replication) there is nothing to send.
    """
    axes = live_axes(axes)
    if not axes:
        return sp.Integer(0)
    if kind in POINT_TO_POINT:
        bandwidth = one_way(axes[0])
    else:
        bandwidth = joint_bandwidth([LINKS[a.link] * a.n_physical / (1 if a.wrap else 2) for a in axes], axes)
    time = COST[kind] * volume / bandwidth
    if kind in SWITCHED and all(a.switched or a.link == "dcn" for a in axes):
        time = SWITCHED[kind](sp.Mul(*(a.size for a in axes))) * volume / bandwidth
    if ranks is not None:
        time *= (ranks - 1) / ranks
    elif ring_factor:
        size = sp.Mul(*(a.size for a in axes))
        time *= (size - 1) / size
    if spans or per_node is not None:
        time *= two_tier(axes, spans or {}, kind, per_node)
    if latency and ranks != 1:      # one rank sends nothing: no hop to wait for
        time = sp.Max(time, t_hop * (1 if kind in POINT_TO_POINT else hops(axes)))
    return time


# Ring steps of one collective over n ranks (the alpha term of the alpha-beta model; NCCL's ring
# AllReduce is a ReduceScatter then an AllGather, n-1 steps each).
#   collective      steps
RING_STEPS = {
    "AllGather":     1,          # x (n - 1)
    "ReduceScatter": 1,
    "AllReduce":     2,
    "AllToAll":      1,
}


def ring_steps(kind: str, axes, mesh, spans: dict, ranks: float | None = None) -> float:
    """Steps on the slow tier: ranks of the ring outside the fast domain, minus one, per RING_STEPS
    (``ranks``: a sub-group's, taken as all on the slow tier)."""
    n = 1.0
    for a in axes:
        n *= float(mesh[a].size) / spans.get(a, 1)
    return RING_STEPS[kind] * ((n if ranks is None else ranks) - 1)
