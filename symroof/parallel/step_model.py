"""A step-time model below the ideal roofline: what a real step spends beyond the lower bound.

``roofline.step`` is the ideal: every matmul at peak, every collective at full bandwidth and
hidden behind compute. Here each part the ideal leaves out is derived from the sharded graph
and stated as an option whose limit is the ideal:

    part                      from the graph                                   option (ideal limit)
    matmul kernels            each contraction's local shape against the       tile=None (efficiency 1)
                              card's matrix unit and core count (kernels.py),
                              a batch's tiles in shared waves; a matrix-vector
                              product (m or n of 1) at its HBM bytes
    attention kernels         the T×S contractions at the card's attention     attention_efficiency=1
                              kernel efficiency; a fused kernel's backward
                              computes the scores again (FUSED_BACKWARD_WORK)
    low-precision matmuls     the blocks' weight matmuls at another dtype's     matmul_rates=(1, 1),
                              peak (FP8), each activation input and output     cast_bytes=0
                              gradient cast through HBM once (low_precision.py)
    memory-bound ops          norms, softmax, activations at HBM bandwidth     (each op: max(FLOPs, bytes))
    recompute                 the replayed forward ops (":recompute" nodes     a graph without them
                              of core/recompute.apply): hardware FLOPs
    pipeline bubble           the schedule's idle fraction (ZB1P and DualPipe  (the bubble the source allows)
                              weigh the graph's F, B and W: pipeline.py)
    exposed communication     critical-path (activation) collectives and       overlap[link]=1, critical=1
                              pipeline sends wait (DualPipe's paired chunks
                              hide them, its unpaired ones' share, ``alone``,
                              waits; its two copies sum their gradients
                              over the stage axis after the backward); weight gathers and gradient
                              reductions hide behind compute, except the last
                              layer's and the token table's gradient reductions
                              (over the batch axes, among a replicated KV head's
                              chips, between a tied table's two stages)
                              after the last backward (not the head's: its first);
                              an fsdp axis without a pipeline repeats its weight
                              gathers and gradient scatters per microbatch
    collective latency        count × (hops × per-hop latency + launch cost),   t_hop = t_launch = 0
                              a bucketed weight (norm scale, bias) none, nor a
                              layer's fsdp gathers and scatters after its first
                              of a kind (one flat buffer); an
                              overlapped axis's none but its last reduction's
    the optimizer step        HBM-bound over the local shard of weights,       optimizer=False
                              gradients and optimizer state
    two-tier networks         an axis spanning an NVLink domain and the        (one tier)
                              scale-out network runs at the slower tier's
                              per-rank bandwidth (NCCL ring: bus bandwidth);
                              an MoE dispatch sent once per node crosses the
                              scale-out tier min(1, M/k) as often (dispatch_nodes=0)

Numbers left to calibrate (claims/calibrate.py, at most two per chip): ``eta_mm`` scales every
kernel's compute rate, ``eta_mem`` the HBM rate of the memory-bound kernels (the norms,
activations, softmax and the optimizer update: what an unfused framework moves beyond the
graph's one read and one write), ``eta_comm`` every link's bandwidth. Each is 1 in the ideal
limit and never enters the ceiling. ``parts`` does the graph work once; ``combine`` is cheap, so a fit
can call it many times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sympy as sp

from ..core import ops
from ..parallel import kernels, low_precision, pipeline, placement
from ..parallel.axes import folds_experts
from ..parallel import collectives
from ..parallel.collectives import collective_time, dispatch_share, hops, ring_steps
from ..parallel.step_parts import Parts
from ..parallel.step_table import Numbered, node_table
from ..core.symbols import C, W_hbm, b_act, b_grad, b_param

if TYPE_CHECKING:     # Parts read back from the prediction cache need neither networkx nor the sharding
    import networkx as nx

RECOMPUTE = ("none", "selective", "full")
# A fused attention kernel keeps no T×S probabilities for its backward: it computes the scores
# again (one more Q·Kᵀ) beside the four gradient contractions the graph's backward has, five
# forward-sized matmuls for four. Its published rates count that work (FlashAttention-2 and -3
# count the backward as 2.5 forward passes), so on the graph's count its backward takes 5/4 as long.
FUSED_BACKWARD_WORK = 5 / 4


@dataclass(frozen=True)
class Options:
    """Everything the model needs beyond the graph; the defaults are the ideal limits."""

    tile: tuple | None = None            # matrix-unit output tile (m, n); None: no quantization
    cores: int | None = None             # matrix units working on tiles at once
    attention_efficiency: float = 1.0    # attention kernel's fraction of peak (ideal 1)
    microbatches: int = 1                # per pipeline per step
    virtual: int = 1                     # virtual stages per chip (interleaved schedule)
    schedule: str | None = None          # pipeline schedule name (parallel/pipeline.py when present)
    overlap: dict = field(default_factory=lambda: {"ici": 1.0, "dcn": 1.0})   # background comm hidden
    critical_overlap: float = 0.0        # fraction of critical-path comm hidden (ideal 1)
    t_hop: float = 0.0                   # seconds per hop
    t_launch: float = 0.0                # fixed cost of one collective
    optimizer: bool = True               # charge the optimizer update
    spans: dict = field(default_factory=dict)   # axis -> chips of it inside the fast domain
    dispatch_nodes: int = 0      # MoE dispatch sent once per node, to at most this many (0: once per expert)
    overlapped: tuple = ()               # axes whose activation collectives the source overlaps with compute
    collective_matmul: bool = False      # ICI activation gathers/scatters hide behind their own matmul, up to it
    matmul_rates: tuple = (1.0, 1.0)     # (the blocks' weight matmuls, every other matmul): FLOP rate over the peak C
    cast_bytes: float = 0.0              # HBM bytes per element of a low-precision matmul's cast operand
    gradients_wait: bool = False         # the batch axes' gradient reductions run after the backward (none hide)
    gradient_width: float = 1.0          # their bytes per element over the parameters' (fp32 of bf16: 2)


def _num(expr, nums) -> float:
    return float(expr.xreplace(nums) if isinstance(expr, sp.Basic) else expr)


def _name(opts: Options) -> str:
    return opts.schedule or ("interleaved" if opts.virtual > 1 else "1f1b")


def _row(stages: int, opts: Options, work=None) -> dict:
    """The schedule table's row (parallel/pipeline.py) for this pipeline; ``work``: a chunk's (F, B, W)."""
    return pipeline.row(_name(opts), stages, opts.microbatches, opts.virtual, work)


def bubble(stages: int, opts: Options, work=None) -> float:
    """Idle fraction of the pipeline, from the schedule table."""
    return float(_row(stages, opts, work)["bubble"]) if stages > 1 else 0.0


def _hiding_axes(kind: str, axes: tuple, mesh) -> tuple:
    """The axes whose overlap (``Options.overlapped``) hides a collective. A folded tensor axis's share of
    an MoE AllToAll (axes.folds_experts) is expert-parallel traffic: the expert axis's overlap hides it
    (Megatron-Core's --overlap-moe-expert-parallel-comm), not the tensor axis's (--tp-comm-overlap: the
    tensor-parallel layers' gathers and scatters beside their GEMMs)."""
    if kind == "AllToAll" and folds_experts(mesh):
        return tuple("expert" if a == "tensor" else a for a in axes)
    return axes


def _bandwidth(c, mesh, nums, opts: Options) -> float:
    """Seconds of one collective: the book's rule, with a two-tier axis at the slower tier's
    per-rank bandwidth (``collectives.two_tier``: the fast domain's W_ici, or its chips' NICs
    together), exact until the float."""
    return _seconds(c.kind, c.axes, c.volume, c.ranks, mesh, nums, opts)


def _seconds(kind: str, axes: tuple, volume, ranks, mesh, nums, opts: Options) -> float:
    return _num(collective_time(kind, volume, [mesh[a] for a in axes], ring_factor=True, spans=opts.spans,
                                ranks=ranks, per_node=dispatch_share(kind, axes, opts.dispatch_nodes)), nums)


class Numbers:
    """How ``parts`` reads a run's numbers: here each cost is a SymPy expression and the numbers
    are put in (``nums``: every symbol). ``step_numbers.Exact`` reads a graph whose costs are
    numbers already, with exact arithmetic, and gives the same floats."""

    def __init__(self, sg: nx.DiGraph, nums: dict):
        self.nums = nums
        self.mesh = sg.graph["mesh"]        # what the kernel shapes and ring steps read
        # dimensions this model has (a size whose symbols the card leaves unbound belongs to a
        # layer variant the model does not use)
        self.sizes = {k: _num(v, nums) for k, v in sg.graph["sizes"].items()
                      if not isinstance(v, sp.Basic) or v.free_symbols <= set(nums)}
        self.peak, self.hbm_rate = _num(C, nums), _num(W_hbm, nums)

    def number(self, expr) -> float:
        return _num(expr, self.nums)

    def seconds(self, kind: str, axes: tuple, volume, ranks, opts: Options) -> float:
        """One collective's seconds (``_bandwidth``)."""
        return _seconds(kind, axes, volume, ranks, self.mesh, self.nums, opts)

    def hops(self, axes: tuple) -> float:
        return _num(hops([self.mesh[a] for a in axes]), self.nums)

    def sends(self, sg: nx.DiGraph, opts: Options) -> tuple[str, float]:
        return _sends(sg, self.nums, opts)

    def gradient_bytes(self, sg: nx.DiGraph, schedule=None):
        """Bytes a reduction of the gradients a chip keeps under the pipeline ``schedule`` moves, exact: their
        elements at b_param, as the graph's gradient collectives carry them (``Options.gradient_width`` turns
        those into the run's gradient dtype's); a collective's volume, floated with its seconds."""
        from ..parallel.roofline import memory_per_chip

        return (memory_per_chip(sg, schedule)["gradients"] * b_param / b_grad).xreplace(self.nums)

    def optimizer_bytes(self, sg: nx.DiGraph, schedule=None) -> float:
        """Bytes the optimizer step moves: weights and state read and written, gradients read (the
        trained weights only: ``roofline.frozen_weights`` get no update), of every copy of the layers."""
        from ..core.symbols import b_param
        from ..parallel.roofline import frozen_weights, memory_per_chip

        mem = memory_per_chip(sg, schedule)
        copies = pipeline.schedule(schedule).copies if "stage" in self.mesh else 1
        return _num(2 * (mem["params"] - b_param * copies * frozen_weights(sg)) + mem["gradients"]
                    + 2 * mem["optimizer"], self.nums)


def parts(sg: nx.DiGraph, nums: dict, opts: Options = Options(), numbers: Numbers | None = None) -> Parts:
    """Take one sharded training graph apart into the model's numbers (``nums``: every symbol;
    ``numbers``: how they are read, ``Numbers`` by default). The graph's nodes are read as
    ``step_table.node_table``'s rows; a ``step_table.Numbered`` brings its family's rows, made once."""
    num = numbers or Numbers(sg, nums)
    mesh, number, seconds = num.mesh, num.number, num.seconds
    rows, values = (sg.rows, sg.values) if type(sg) is Numbered else node_table(sg)
    stages = int(mesh["stage"].size) if "stage" in mesh else 1
    sizes, peak, hbm_rate = num.sizes, num.peak, num.hbm_rate
    efficiency: dict = {}       # a signature's kernel efficiency: nodes of one signature share it
    extents: dict = {}          # each dimension's extent on one chip, once a matmul asks (folded experts' apart)
    folded = folds_experts(mesh)

    def extent_of(sig) -> dict:
        experts = folded and kernels.routed_experts(sig)
        got = extents.get(experts)
        if got is None:
            got = extents[experts] = kernels.extents(sizes, mesh, opts.microbatches, experts)
        return got
    matmul, memory = [], 0.0
    critical: dict = {}
    paired: dict = {}
    background: dict = {}
    tail: dict = {}
    latency, dcn_steps = 0.0, 0.0
    launched: set = set()       # weight collectives launched once a layer: (block or end, phase, kind, axes)
    overlapped = set(opts.overlapped)
    fused = sg.graph.get("fused_attention", False)
    cast: set = set()           # activations a low-precision matmul has cast already (phase, tensor)
    low = opts.matmul_rates != (1.0, 1.0) or bool(opts.cast_bytes)    # matmuls at two rates
    pipelined = stages > 1 and pipeline.weighs_work(_name(opts))
    work = []                   # (node, FLOPs on the chip), where the schedule's bubble weighs F, B and W
    # paired chunks (DualPipe): each one's activation collectives hide behind the other's compute
    pairs = stages > 1 and _row(stages, opts)["hides"]
    alone = float(_row(stages, opts)["alone"]) if pairs else 0.0     # the unpaired chunks' share: it waits
    # the chip charged (placement.py): the graph's, else an even split's whose ends run for the schedule's share
    place = placement.charged(mesh, _name(opts), sg.graph.get("placement")) if stages > 1 else None
    split = place is not None and bool(place.shares)
    for repeat, flops, hbm, layered, contraction, sig, core, weights, backward, d, colls in rows:
        repeat = number(values[repeat])
        if layered:
            per_stage = repeat * float(place.layers(d["block"], stages)) if split else repeat / stages
        else:
            per_stage = 1.0 if place is None else float(place.end(d.get("end")))
        if not per_stage:
            continue            # a split's chip without this block type's layers, or without this end
        flops, hbm = number(values[flops]), number(values[hbm]) / hbm_rate
        times = per_stage
        if pipelined:
            work.append((d, times * flops))
        mm, eff = 0.0, None
        if contraction and flops:
            eff = efficiency.get(sig, efficiency)
            if eff is efficiency:
                if core:
                    eff = opts.attention_efficiency
                else:
                    extent = extent_of(sig)
                    m, n, k = kernels.local_shape(sig, extent)
                    # a matrix-vector product or a dot (a depthwise conv's taps, a scan's per-head step)
                    # reuses neither operand: no matrix unit runs it, its bytes bound it (eff None)
                    eff = None if opts.tile and min(m, n) <= 1 else \
                        kernels.matmul_efficiency(m, n, k, opts.tile, opts.cores, kernels.local_batch(sig, extent))
                efficiency[sig] = eff
        if eff is not None:
            weights = low and weights
            mm = times * flops / (peak * eff * (opts.matmul_rates[0 if weights else 1] if low else 1.0))
            if weights and opts.cast_bytes:
                memory += times * low_precision.cast_elements(d, flops, extent_of(sig), cast) * opts.cast_bytes / hbm_rate
            if core and fused and backward:
                mm *= FUSED_BACKWARD_WORK
            matmul.append((mm, times * hbm))
        else:
            memory += times * hbm
        for kind, axes, link, on_path, bucketed, fsdp, grads, last, volume, ranks in colls:
            ranks = None if ranks is None else values[ranks]
            if ranks is not None and number(ranks) < 2:
                continue            # a weight with one copy (KV heads within the tensor degree): no launch
            # the ends' weights move once a step, on the chip that holds them
            share = per_stage if layered or on_path else 1.0 if place is None or place.end(d.get("end")) else 0.0
            one = t = share * seconds(kind, axes, values[volume], ranks, opts)
            count = share * (opts.microbatches if on_path else 1)
            if stages == 1 and not on_path and fsdp:
                # gradient accumulation over a sharded-weight axis (ZeRO-3: PyTorch FSDP, JAX): each
                # microbatch gathers the weights again and reduce-scatters its gradients
                t *= opts.microbatches
                count *= opts.microbatches
            hidden = not overlapped.isdisjoint(_hiding_axes(kind, axes, mesh))   # the source overlaps it, latency too
            waits = 0.0 if hidden else alone if pairs and on_path else 1.0     # the share that waits
            hidden = hidden or waits < 1
            # a bucketed one adds bytes to a launch, not a launch; so does every sharded-weight (ZeRO-3)
            # collective of a layer after its first of that kind and axes: a layer's weights are gathered,
            # and its gradients scattered, as one flat buffer (PyTorch FSDP's FlatParameter, FSDP2's
            # per-module all-gather, Megatron-FSDP's and DeepSpeed ZeRO-3's buckets)
            if fsdp and not bucketed and not on_path:
                group = (d.get("block") if layered else d.get("end"), d["phase"], kind, axes)
                bucketed = group in launched
                launched.add(group)
            if waits and not bucketed:
                latency += waits * count * (num.hops(axes) * opts.t_hop + opts.t_launch)
                if link == "dcn":
                    dcn_steps += waits * count * ring_steps(kind, axes, mesh, opts.spans, number(ranks)
                                                            if ranks is not None else None)
            if grads:       # a gradient reduction (step_table.node_table: which are)
                one, t = one * opts.gradient_width, t * opts.gradient_width
            if grads and opts.gradients_wait and not hidden:
                critical[link] = critical.get(link, 0.0) + t      # reduced once the backward is done
                continue
            if on_path and waits:       # what waits: all of it, or (DualPipe) the unpaired chunks' share
                if opts.collective_matmul and mm and link == "ici" and kind in ("AllGather", "ReduceScatter"):
                    # an operand's gather, the output's scatter
                    paired.setdefault(link, []).append((t, mm) if waits == 1 else (waits * t, waits * mm))
                else:
                    critical[link] = critical.get(link, 0.0) + (t if waits == 1 else waits * t)
                if waits == 1:
                    continue
                t *= 1 - waits          # the paired chunks' share hides
            background[link] = background.get(link, 0.0) + t
            if last:        # the last layer's gradient reduction (step_table.node_table: which are)
                last = one / share if layered else one  # one layer's share (of the last microbatch)
                tail[link] = tail.get(link, 0.0) + last
                background[link] -= last
                if hidden and not bucketed:    # nothing is left to hide the last one's latency behind either
                    latency += num.hops(axes) * opts.t_hop + opts.t_launch
                    if link == "dcn":
                        dcn_steps += ring_steps(kind, axes, mesh, opts.spans, number(ranks) if ranks is not None else None)
    if stages > 1:
        link, sends = num.sends(sg, opts)
        waits = 0.0 if "stage" in overlapped else alone if pairs else 1.0     # the share that waits
        for share, into in ((waits, critical), (1 - waits, background)):
            if share:
                into[link] = into.get(link, 0.0) + (sends if share == 1 else share * sends)
        if waits:      # each send waits its latency, both ways
            sends_per_step = float(_row(stages, opts)["sends_per_step"])
            latency += waits * 2 * sends_per_step * (opts.t_hop + opts.t_launch)
            if link == "dcn":
                dcn_steps += waits * 2 * sends_per_step
    schedule = _name(opts) if stages > 1 else None      # the optimizer updates every copy the schedule holds
    optimizer = num.optimizer_bytes(sg, schedule) / hbm_rate if opts.optimizer else 0.0
    if stages > 1 and _row(stages, opts)["copies"] > 1:
        # DualPipe: each chip sums its stages' gradients with the chip holding the other copy of each
        # once the backward is done (an AllReduce of two over the stage axis)
        link = mesh["stage"].link
        tail[link] = tail.get(link, 0.0) + opts.gradient_width * seconds(     # in the run's gradient dtype
            "AllReduce", ("stage",), num.gradient_bytes(sg, schedule), sp.Integer(2), opts)
        latency += num.hops(("stage",)) * opts.t_hop + opts.t_launch
        if link == "dcn":
            dcn_steps += ring_steps("AllReduce", ("stage",), mesh, opts.spans, 2)
    return Parts(matmul, memory, bubble(stages, opts, pipeline.chunk_work(work) if pipelined else None), critical, background,
                 tail, latency, dcn_steps, optimizer, dict(opts.overlap), opts.critical_overlap, paired)


def _sends(sg: nx.DiGraph, nums: dict, opts: Options) -> tuple[str, float]:
    """Stage-boundary sends: each microbatch's layer input forward and its gradient back, as many
    times per microbatch as the schedule's row says (v interleaved), one way over the stage axis's
    link (``collectives.one_way``: a torus's ICI half its bidirectional W)."""
    from ..parallel.sharding import layout

    mesh = sg.graph["mesh"]
    dims = sg.graph["tensor_dims"][sg.graph["layer_input"]]
    act = ops.numel(dims, sg.graph["sizes"]) * b_act
    for axis in layout(dims, mesh, weight=False):
        act = act / mesh[axis].size
    link = mesh["stage"].link
    one_way = _num(collectives.one_way(mesh["stage"]), nums)
    per_microbatch = float(_row(int(mesh["stage"].size), opts)["sends"])
    return link, 2 * per_microbatch * _num(act, nums) / one_way
