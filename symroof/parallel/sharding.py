"""Shardings propagated through the graph: where each collective goes, on which array, how big.

A mesh is a set of named logical axes. What each axis shards is a fixed table (``RULES``),
read against the book's signatures (training.md):

    DP        In[B_X, D]   · W_in[D, F]     · W_out[F, D]
    FSDP      In[B_X, D]   · W_in[D_X, F]   · W_out[F, D_X]
    TP        In[B, D_Y]   · W_in[D, F_Y]   · W_out[F_Y, D]
    FSDP+TP   In[B_X, D_Y] · W_in[D_X, F_Y] · W_out[F_Y, D_X]

Every op then gets its collectives from the sharded-matmul cases (sharding.md): an operand
whose contracting dimension is sharded alone is AllGathered; a contraction sharded in both
operands leaves a partial sum that is ReduceScattered (or AllReduced) into the output's
layout; two operands sharding different free dimensions on one axis cannot both stay, so
one is gathered; an elementwise op that moves an axis from one dimension to another is an
AllToAll. A weight added rather than contracted (a norm scale, a bias, a lookup table: a one-hot
contraction over its rows) follows the same cases (``_weights``). Nothing is listed per strategy
by hand.

Every decision here reads an axis's name and link, never its size: a mesh whose sizes are
symbols gets the collectives a mesh of numbers gets (claims/sharded_family.py shards each family
of published runs once on that basis; tests/test_sharded_family.py checks it on every run).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import networkx as nx
import sympy as sp

from ..core import ops
from ..core.graph import with_own_nodes
from ..parallel import axes as axis_table, replicas, routed
from ..parallel.collectives import Axis
from ..core.symbols import b_act, b_kv, b_mask, b_param

@dataclass
class Collective:
    kind: str            # AllGather, ReduceScatter, AllReduce, AllToAll
    axes: tuple          # one logical axis, or several at once (their bandwidths add)
    tensor: str
    volume: sp.Expr      # the book's V in bytes (see collectives.py)
    # sent in one bucket with its layer's matmul weights (a FSDP flat parameter, a DDP bucket, XLA's
    # combined all-reduce): a norm scale's or a bias's bytes, not another launch (a table has its own)
    bucketed: bool = False
    ranks: sp.Expr | None = None     # a sub-group of the axes' chips (parallel/replicas.py), else all

    @property
    def on_critical_path(self) -> bool:
        """Activations (and their gradients) are needed by the very next op; weight gathers can be
        prefetched and gradient reductions run behind the rest of the backward pass."""
        return not self.tensor.rstrip(")").endswith((".w", ".b"))


def _merge(colls: list[Collective], mesh: dict[str, Axis]) -> list[Collective]:
    """One collective over several axes of the same link instead of one per axis (V = the largest)."""
    merged: list[Collective] = []
    for c in colls:
        link = mesh[c.axes[0]].link
        for m in merged:
            if m.kind == c.kind and m.tensor == c.tensor and mesh[m.axes[0]].link == link and m.ranks == c.ranks:
                m.axes += c.axes
                if c.kind == "AllGather":      # each gather grows the array: the last is the largest
                    m.volume = c.volume
                break
        else:      # a Collective of its own (axes grow above), made directly: dataclasses.replace is slower
            merged.append(Collective(c.kind, tuple(c.axes), c.tensor, c.volume, c.bucketed, c.ranks))
    return merged


@dataclass
class _State:
    mesh: dict[str, Axis]
    sizes: dict[str, sp.Expr]
    fused: bool = True                            # a fused attention kernel (see ops.stays_on_chip)
    other_kernel: bool = False                    # also the bytes under the other kernel (with_kernel)
    gathered: set = field(default_factory=set)   # (tensor, axis[, phase]) already gathered here
    reduced: set = field(default_factory=set)    # (gradient tensor, axis) already reduced
    pending: set = field(default_factory=set)    # (routed copies, axis): partial sums reduced once combined
    widths: dict = field(default_factory=dict)   # tensor -> bytes per element, where not b_act (the KV cache)
    shards: dict = field(default_factory=dict)   # _local's answers: one graph asks the same shapes often

    def width(self, ref: str, is_param: bool) -> sp.Expr:
        return b_param if is_param else self.widths.get(_strip(ref), b_act)


# Which tensor dimensions each logical axis shards, in priority order: the one table of mesh axes
# (axes.py), for activations and for weights (their gradients and optimizer state). A tensor uses an
# axis at most once. The pipeline axis ("stage") splits layers instead; see roofline.py.
layout = axis_table.layout      # the target sharding of a tensor: {axis: dim}


def _local(dims: ops.Dims, sharding: dict[str, str], st: _State, hbm: bool = False,
           fused: bool | None = None) -> sp.Expr:
    """Elements of one chip's shard; with ``hbm``, zero for a tensor a fused kernel keeps on chip
    (``fused``: the kernel, by default the graph's)."""
    fused = st.fused if fused is None else fused
    key = (dims, tuple(sharding.items()), hbm and fused)
    n = st.shards.get(key)
    if n is None:
        n = st.shards[key] = _shard_elements(dims, sharding, st, hbm, fused)
    return n


def _shard_elements(dims: ops.Dims, sharding: dict[str, str], st: _State, hbm: bool, fused: bool) -> sp.Expr:
    n = ops.hbm_elements(dims, st.sizes, fused) if hbm else ops.numel(dims, st.sizes)
    split = [st.mesh[axis].size for axis, dim in sharding.items() if dim in dims]
    return ops.over(n, sp.Mul(*split)) if split and n != 0 else n


def shard(g: nx.DiGraph, mesh: dict[str, Axis], other_kernel: bool = False) -> nx.DiGraph:
    """A copy of ``g`` whose nodes carry per-chip ``local_flops``, ``local_bytes``, ``collectives``;
    with ``other_kernel``, each op whose bytes the other attention kernel changes also carries
    those (``with_kernel`` reads them)."""
    st = _State(mesh, g.graph["sizes"], g.graph.get("fused_attention", True), other_kernel,
                widths=g.graph.get("widths", {}))
    tensor_dims = g.graph["tensor_dims"]
    param_dims = g.graph["param_dims"]
    out = with_own_nodes(g)

    layouts: dict = {}          # ref -> its layout, read and never changed by the callers

    def target(ref: str) -> dict[str, str]:
        got = layouts.get(ref)
        if got is None:
            if ref in param_dims:
                got = layouts[ref] = layout(param_dims[ref], mesh, weight=True)
            else:
                got = layouts[ref] = layout(tensor_dims[ref], mesh, weight=False)
        return got

    def dims_of(ref):
        return param_dims[ref] if ref in param_dims else tensor_dims[ref]

    for name in nx.topological_sort(g):
        node = out.nodes[name]
        if node["op"] == "input":
            node.update(local_flops=sp.Integer(0), local_bytes=sp.Integer(0), collectives=[])
            continue
        phase = node["phase"]
        fwd = g.nodes[node["forward"]] if phase == "backward" else node
        operands = [(r, ref) for r, ref in fwd["operands"] if r != "ids"]
        if node["op"] == "contraction":
            if phase == "forward":
                refs = [ref for _, ref in operands]
                out_ref = name
            else:
                i = [r for r, _ in operands].index(node["wrt"])
                refs = [f"d({node['forward']})"] + [ref for j, (_, ref) in enumerate(operands) if j != i]
                out_ref = f"d({operands[i][1]})"
            _contraction(node, refs, out_ref, phase, st, target, dims_of, fwd)
        else:
            _elementwise(node, name, operands, phase, st, target, dims_of, fwd)
    replicas.add(out, mesh)
    out.graph["mesh"] = mesh
    return out


def with_kernel(sg: nx.DiGraph, g: nx.DiGraph) -> nx.DiGraph:
    """``shard(g, mesh)``, from ``sg = shard(g2, mesh, other_kernel=True)`` where ``g2`` is ``g`` with
    either attention kernel: the kernel changes only the bytes of the ops that touch the score
    matrix (collectives and FLOPs never read it), so those are swapped in where the kernels
    differ and everything else is shared."""
    out = with_own_nodes(sg)
    swap = g.graph["fused_attention"] != sg.graph["fused_attention"]
    out.graph["fused_attention"] = g.graph["fused_attention"]
    for name, d in out.nodes(data=True):
        if "other_kernel_bytes" in d:
            other = d.pop("other_kernel_bytes")
            if swap:
                d["local_bytes"], d["bytes"] = other, g.nodes[name]["bytes"]
    return out


def _on_chip(*dims) -> bool:
    """Whether a fused kernel keeps one of these tensors on chip (their bytes depend on the kernel)."""
    return any(ops.stays_on_chip(d, True) for d in dims)


def _strip(ref: str) -> str:
    return ref[2:-1] if ref.startswith("d(") else ref


def _contraction(node, refs, out_ref, phase, st: _State, target, dims_of, fwd) -> None:
    sig, weights = node["sig"], _params_of(fwd)     # the weights it reads
    shardings = []
    for ref, dims in zip(refs, sig.operands):
        base = _strip(ref)
        tgt = target(base)
        own = dims_of(base)
        # rename to the signature's dimension names: by name where the signature has it (a tied table
        # read transposed, V D as D V), else by position (k's T is the scores' S)
        sh = {axis: d if d in dims else dims[own.index(d)] for axis, d in tgt.items()}
        # an activation already gathered on an axis (kept from the forward pass) is used as is
        if base not in weights:
            sh = {a: d for a, d in sh.items() if (ref, a) not in st.gathered}
        shardings.append(sh)
    out_base = _strip(out_ref)
    out_target = {a: d if d in sig.output else sig.output[dims_of(out_base).index(d)]
                  for a, d in target(out_base).items()}
    is_param = [_strip(r) in weights for r in refs]
    collectives: list[Collective] = []

    def gather(i: int, axis: str) -> None:
        ref = refs[i]
        key = (ref, axis, phase) if is_param[i] else (ref, axis)
        if key not in st.gathered:
            st.gathered.add(key)
            rest = {a: d for a, d in shardings[i].items() if a != axis}
            width = st.width(ref, is_param[i])
            collectives.append(Collective("AllGather", (axis,), ref,
                                          ops.times(_local(sig.operands[i], rest, st), width)))
        del shardings[i][axis]

    axes = sorted({a for s in shardings for a in s})
    for axis in axes:
        # contracting dimension sharded in only some of the operands that carry it: gather it
        for i, s in enumerate(shardings):
            d = s.get(axis)
            if d in sig.contracted and any(d in sig.operands[j] and shardings[j].get(axis) != d
                                           for j in range(len(refs)) if j != i):
                gather(i, axis)
        # two different free dimensions on one axis: keep the one the output wants
        holders = {i: s[axis] for i, s in enumerate(shardings) if axis in s}
        if len(set(holders.values())) > 1:
            keep = out_target.get(axis)
            losers = [i for i, d in holders.items() if d != keep]
            if len(losers) == len(holders):
                params = [i for i in losers if is_param[i]]
                losers = params or losers[1:]
            for i in losers:
                gather(i, axis)
    current: dict[str, str] = {}
    partial: list[str] = []
    for s in shardings:
        for axis, d in s.items():
            if d in sig.output:
                current[axis] = d
            elif axis not in partial:
                partial.append(axis)
    # every axis left on an operand splits the work, partial sums included
    factor = sp.Mul(*(st.mesh[a].size for a in {a for s in shardings for a in s}))

    def moved(fused: bool) -> sp.Expr:      # one sum of the operands read and the output written
        return sp.Add(*(ops.times(_local(dims, s, st, True, fused), st.width(refs[i], is_param[i]))
                        for i, (dims, s) in enumerate(zip(sig.operands, shardings))),
                      ops.times(_local(sig.output, current, st, True, fused), b_act))
    node["local_flops"] = ops.over(node["flops"], factor)
    node["local_bytes"] = moved(st.fused)
    if st.other_kernel and _on_chip(*sig.operands, sig.output):
        node["other_kernel_bytes"] = moved(not st.fused)
    width = b_param if _strip(out_ref) in weights else b_act
    collectives += _resolve(sig.output, current, partial, out_target, out_ref, st, width)
    added = sorted(set(fwd["params"]) - {ref for _, ref in fwd["operands"]})     # biases: added, not contracted
    if added and (phase == "forward" or node["wrt"] == "w"):                   # dW's node sums dy for them
        y = node["forward"] if phase == "backward" else out_ref
        collectives += _weights(added, y, dims_of(y), target(y), phase, st, target, dims_of)
    node["collectives"] = _merge(collectives, st.mesh)


def _params_of(fwd) -> set:
    """The weights an op reads: its own, or (tied embeddings) one it borrows."""
    return set(fwd["params"]) | {ref for role, ref in fwd["operands"] if role == "w"}


def _resolve(dims, current, partial, wanted, ref, st: _State, width) -> list[Collective]:
    """Bring an output from its computed layout (with partial sums) to the layout it should have."""
    colls = []
    order = sorted(partial, key=lambda a: st.mesh[a].link != "ici")   # fast links first
    for axis in order:
        key = (ref, axis)
        wanted_dim = wanted.get(axis)
        kind = "ReduceScatter" if wanted_dim is not None and current.get(axis) != wanted_dim else "AllReduce"
        if axis_table.ROUTED in dims and kind == "AllReduce":     # reduced once the copies are summed (routed.py)
            st.pending.add(key)
            continue
        if key not in st.reduced:      # partial sums into one gradient are added locally first
            st.reduced.add(key)
            colls.append(Collective(kind, (axis,), ref, ops.times(_local(dims, current, st), width)))
        if kind == "ReduceScatter":
            current[axis] = wanted_dim
    for axis, d in list(current.items()):
        if wanted.get(axis) != d:
            del current[axis]
            colls.append(Collective("AllGather", (axis,), ref, ops.times(_local(dims, current, st), width)))
    return colls


def _elementwise(node, name, operands, phase, st: _State, target, dims_of, fwd) -> None:
    """Elementwise ops keep their inputs' layout; moving an axis between dims is an AllToAll."""
    out_dims = dims_of(node["forward"]) if phase == "backward" else dims_of(name)
    out_layout = target(node["forward"] if phase == "backward" else name)
    colls, params = [], _params_of(fwd)
    for _, ref in operands:
        width = st.width(ref, ref in params)
        in_layout = target(ref)
        if ref in params or not out_dims:
            continue          # weights: _weights; scalar reductions: no collective
        src, dst = (out_layout, in_layout) if phase == "backward" else (in_layout, out_layout)
        src_dims, dst_dims = (out_dims, dims_of(ref)) if phase == "backward" else (dims_of(ref), out_dims)
        # an MoE dispatch or combine moves the routed copies (k per token) both ways: its volume is
        # the routed side's, whichever side the move starts from
        moved_dims, moved = (dst_dims, dst) if axis_table.ROUTED in dst_dims else (src_dims, src)
        groups: list = []      # axes of one link moving from or to one dim: one AllToAll among all their
        for axis, d in src.items():     # chips (the expert axis and a folded tensor axis, to E and back)
            if (axis in dst and dst[axis] != d and not axis_table.routes_locally(d, dst[axis])
                    and not (fwd["op"] == "concat" and axis_table.side_by_side(d, dst[axis]))):
                link = st.mesh[axis].link
                group = next((g for g in groups if g[0] == link and {d, dst[axis]} & g[1]), None)
                if group is None:
                    groups.append((link, {d, dst[axis]}, [axis]))
                else:
                    group[2].append(axis)
        colls += [Collective("AllToAll", tuple(axes), ref, _local(moved_dims, moved, st) * width
                             * sp.Mul(*(st.mesh[a].size for a in axes))) for *_, axes in groups]
        colls += routed.collectives(node["forward"] if phase == "backward" else name, ref, src, dst,
                                    src_dims, dst_dims, phase, st, width)
        if phase == "backward":
            # an input broadcast along an output dimension that an axis splits (MLA's shared RoPE key
            # beside K-split heads, MoE combine weights beside a D split): its gradient sums dy over
            # that dimension, a partial sum on each chip, all-reduced like a contraction's
            for axis, d in out_layout.items():
                key = (f"d({ref})", axis)
                if d not in dims_of(ref) and axis not in in_layout and key not in st.reduced:
                    st.reduced.add(key)
                    colls.append(Collective("AllReduce", (axis,), f"d({ref})",
                                            _local(dims_of(ref), in_layout, st) * width))
    # the chips one output element's work is split over: numel(out_dims) / its local elements
    factor = sp.Mul(*(st.mesh[axis].size for axis, d in out_layout.items() if d in out_dims))
    node["local_flops"] = sp.Integer(0)
    node["local_vector_flops"] = ops.over(node["vector_flops"], factor)

    def moved(fused: bool) -> sp.Expr:      # one sum of what is read and written
        traffic = [ops.times(_local(dims_of(ref), target(ref), st, True, fused), st.width(ref, ref in params))
                   for _, ref in operands]
        if node["op"] == "cache_append":       # only this step's entries are written into the cache
            (_, new), = operands
            written = ops.times(_local(dims_of(new), target(new), st, True, fused), b_kv)
        else:
            written = ops.times(_local(out_dims, out_layout, st, True, fused), b_act)
        if node["op"] == "dropout":     # as core/graph.py and core/backward.py: the forward also writes its
            mask = _local(out_dims, out_layout, st, True, fused) * b_mask   # mask; the backward reads dy
            return sp.Add(written, mask, *([written] if phase == "backward" else traffic))     # and it
        return sp.Add(*(traffic if phase != "backward" else (ops.times(2, t) for t in traffic)), written)
    node["local_bytes"] = moved(st.fused)
    if st.other_kernel and _on_chip(out_dims, *(dims_of(ref) for _, ref in operands)):
        node["other_kernel_bytes"] = moved(not st.fused)
    out_ref = node["forward"] if phase == "backward" else name
    weights = _weights(sorted(params), out_ref, out_dims, out_layout, phase, st, target, dims_of)
    node["collectives"] = colls + _merge(weights, st.mesh)


def _weights(refs, out_ref, out_dims, out_layout, phase, st: _State, target, dims_of) -> list[Collective]:
    """The collectives of weights added to an output rather than contracted (an embedding table,
    norm scales, biases), by the contraction cases with the weight as one operand (a lookup is a
    one-hot contraction over the table's rows): a weight dimension sharded where the output is not
    is gathered where it is read (ZeRO-3; the backward reads a scale, never a bias or a table), and
    a sharded row dimension (vocabulary-parallel) leaves partial sums for the output. The gradient
    is a partial sum over every axis that splits the tokens, reduced into the weight's layout, as
    every other weight's is. Scales and biases ride in their layer's bucket; a table does not."""
    colls: list[Collective] = []
    for ref in refs:
        dims, want = dims_of(ref), target(ref)
        rows = {a: d for a, d in want.items() if d not in out_dims}       # the looked-up dimension
        small = not rows and all(d in out_dims for d in dims)     # a scale or a bias, not a table
        if phase == "forward" or (ref.endswith(".w") and small):
            for axis, d in want.items():
                key = (ref, axis, phase)
                if d in out_dims and out_layout.get(axis) != d and key not in st.gathered:
                    st.gathered.add(key)
                    rest = {a: x for a, x in want.items() if a != axis and (ref, a, phase) not in st.gathered}
                    colls.append(Collective("AllGather", (axis,), ref, _local(dims, rest, st) * b_param, small))
        if phase == "forward":
            if rows:
                current = {a: d for a, d in out_layout.items() if a not in rows}
                colls += _resolve(out_dims, current, list(rows), out_layout, out_ref, st, b_act)
            continue
        dy = f"d({out_ref})"
        for axis in rows:       # each chip takes its rows' gradient from the whole of dy
            if axis in out_layout and (dy, axis) not in st.gathered:
                st.gathered.add((dy, axis))
                rest = {a: d for a, d in out_layout.items() if a != axis}
                colls.append(Collective("AllGather", (axis,), dy, ops.times(_local(out_dims, rest, st), b_act)))
        current = {a: d for a, d in out_layout.items() if d in dims and a not in rows}
        current.update(rows)
        partial = [a for a in out_layout if a not in current]
        colls += [replace(c, bucketed=small) for c in _resolve(dims, current, partial, want, f"d({ref})", st, b_param)]
    return colls
