"""Pipeline schedules, one row each, and pipeline stages as a partition of the block sequence.

``p`` stages (chips along the ``stage`` mesh axis), ``m`` microbatches per step, ``v`` virtual
stages (model chunks) per chip. Read the rows against Narayanan et al. 2021, "Efficient
Large-Scale Language Model Training on GPU Clusters Using Megatron-LM" (arXiv 2104.04473),
section 2.2, and for the interleaved schedule's memory Korthikanti et al. 2022, "Reducing
Activation Recomputation in Large Transformer Models" (arXiv 2205.05198), section 4.2.3:

- ``bubble``: idle time over ideal time, t_pb / t_id: (p-1)/m for GPipe and 1F1B (2.2.1),
  (p-1)/(v·m) interleaved (2.2.2);
- ``in_flight``: microbatches whose activations the first (worst) stage holds at once, each
  through all of that stage's layers: GPipe runs every forward before any backward (m);
  1F1B stashes "p or fewer" (2.2.1); interleaved holds p·(1 + (p-1)/(p·v)) (Korthikanti
  4.2.3, Megatron-LM's ``interleaved_schedule_memory_penalty``);
- ``in_flight_last``: the same on the last stage, which holds the head: GPipe m again; 1F1B
  one, each forward followed at once by its backward (2.2.1's warm-up runs fewer forwards the
  later the stage: Megatron-LM's ``get_pp_rank_microbatches``, NVIDIA/Megatron-LM@d98e8a6
  megatron/core/pipeline_parallel/schedules.py, warms up p - rank - 1, none on the last rank).
  The interleaved schedule's last-stage count is not published (Korthikanti 4.2.3 gives the
  first stage's): the first stage's, which is no less (the conservative choice);
- ``sends``: activation sends per microbatch across a stage boundary, each way (activations
  forward, their gradients backward): 1, and v interleaved, where each microbatch crosses
  every chip v times ("the amount of communication also increases by v", 2.2.2).

The zero-bubble and bidirectional rows are read against the DeepSeek-V3 technical report
(arXiv 2412.19437), Table 2, and the DualPipe repository's README (github.com/deepseek-ai/DualPipe),
whose bubbles are idle time in F, B and W: a chunk's forward, its whole backward, and that
backward's weight-gradient part (ZB1P is ZB-H1 of Qi et al. 2024, "Zero Bubble Pipeline
Parallelism", arXiv 2401.10241). Every bubble below is that idle time over the ideal m·(F + B),
so the first three rows are the Narayanan fractions they always were. symroof weighs F, B and W
by the chunk's FLOPs in the graph (``w_F``, ``w_B``, ``w_W``; a replayed forward is part of B), and
takes DualPipe's F&B, a forward and a backward chunk run together, as F + B: their compute does
not shrink; what the pair hides is its communication, which ``hides`` marks:

- ``copies``: copies of the model's layers a stage axis holds (DualPipe runs two, one per
  direction: "Parameter per device 2×"), whose gradients are summed across each pair of chips;
- ``together``: one chip holds both ends of the model, the embedding and the head (DualPipe's end
  ranks each hold stage 0 of one direction and the last stage of the other; DualPipeV's rank 0
  holds stages 0 and 2p-1, ``example_dualpipev.py``);
- ``hides``: a forward chunk of one microbatch runs beside the backward chunk of another, so each
  one's activation collectives and stage sends hide behind the other's compute ("achieves full
  overlap of forward and backward computation-communication phases", the README);
- ``alone``: the share of a chip's chunks that run unpaired, whose communication waits as 1F1B's
  does. Only the main loop's ``_forward_backward_chunk`` calls pair a forward with a backward
  (``dualpipe.py`` and ``dualpipev.py``, steps 4 and 5); the warm-up and cool-down run their chunks
  one at a time. Counted on rank 0, the rank with the fewest pairs and the one that holds both ends:
  DualPipe pairs m - 3p/2 + 1 of its m forward chunks, DualPipeV 2m - 3p + 1 of its 2m;
- DualPipe (p ranks, p even) puts stages i and p-1-i of the two directions on rank i and needs
  an even count of at least 2p microbatches (``dualpipe.py``'s asserts); its activations are
  "PP+1" per device on every rank. DualPipeV cuts it in half: 2p stages on p ranks in a V, two
  chunks per chip (v = 2), one copy, at least 2p microbatches; its table row, "(PP/2-1)(F&B+B-3W)"
  with PP = 2p stages and each chunk half a chip's layers, is (p-1)(F + 2B - 3W) / (2m(F + B)) of
  the chip's step, its "PP+1" activations are (2p+1)/2 of the chip's layers, and each microbatch
  crosses each boundary twice (down the V and back).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import TYPE_CHECKING

from .schedule_names import ASSERTS, COPIES, NAMES

if TYPE_CHECKING:      # annotations only; the table below imports sympy when first built
    import sympy as sp


@dataclass(frozen=True)
class Schedule:
    name: str
    bubble: sp.Expr          # idle fraction of the ideal step
    in_flight: sp.Expr       # microbatches the first stage holds activations for
    in_flight_last: sp.Expr  # ... the last stage (the head's)
    sends: sp.Expr           # sends per microbatch per stage boundary, each way
    source: str
    copies: int = 1          # copies of the layers the stage axis holds
    hides: bool = False      # paired chunks hide each other's activation collectives and sends
    together: bool = False   # one chip holds both ends of the model (the embedding and the head)
    micro_per_stage: int = 0  # at least this many microbatches per stage (the schedule's own asserts)
    even: bool = False       # an even number of stages and of microbatches
    alone: sp.Expr | int = 0  # share of a chip's chunks that run unpaired (their communication waits)


def _asserts(name: str) -> dict:
    least, even = ASSERTS[name]
    return {"micro_per_stage": least, "even": even}


def _table() -> dict:
    import sympy as sp

    from ..core.symbols import n_micro as m, n_stages as p, n_virtual as v, w_B as B, w_F as F, w_W as W

    ideal = m * (F + B)                      # every row's bubble is its idle time over this
    held = p * (1 + (p - 1) / (p * v))      # interleaved, first stage (and, unpublished, the last)
    #   schedule        bubble (idle / ideal)               in flight: first, last     sends   source
    return {s.name: s for s in (
        Schedule("gpipe",       (p - 1) * (F + B) / ideal,       m, m,                     1, "Narayanan et al. 2021, 2.2.1"),
        Schedule("1f1b",        (p - 1) * (F + B) / ideal,       sp.Min(p, m), 1,          1, "Narayanan et al. 2021, 2.2.1"),
        Schedule("interleaved", (p - 1) * (F + B) / (v * ideal), held, held,               v,
                 "Narayanan et al. 2021, 2.2.2; Korthikanti et al. 2022, 4.2.3"),
        # ZB-H1's last stage is not published apart: the first's (the conservative choice, as interleaved)
        Schedule("zb1p",        (p - 1) * (F + B - 2 * W) / ideal, sp.Min(p, m), sp.Min(p, m), 1,
                 "DeepSeek-V3 report (arXiv 2412.19437), Table 2; Qi et al. 2024 (arXiv 2401.10241)"),
        Schedule("dualpipe",    (p / 2 - 1) * ((F + B) + B - 3 * W) / ideal, p + 1, p + 1, 1,
                 "DeepSeek-V3 report (arXiv 2412.19437), Table 2", copies=COPIES["dualpipe"], hides=True,
                 together=True,
                 **_asserts("dualpipe"), alone=(3 * p / 2 - 1) / m),
        Schedule("dualpipev",   (p - 1) * ((F + B) + B - 3 * W) / (2 * ideal), p + sp.Rational(1, 2),
                 p + sp.Rational(1, 2), 2, "deepseek-ai/DualPipe README, DualPipeV row", hides=True, together=True,
                 **_asserts("dualpipev"), alone=(3 * p - 1) / (2 * m)),
    )}


_BUILT: dict = {}


def __getattr__(name: str):
    # ``SCHEDULES`` is built on first use: its SymPy arithmetic is the first a process does,
    # which costs a warm ``plan`` (that only needs the names) a tenth of a second
    if name == "SCHEDULES":
        if not _BUILT:
            _BUILT.update(_table())
        return _BUILT
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# The schedule the roofline assumes when none is named: GPipe's bubble and memory are what
# symroof charged before the table existed (the plan's numbers); 1F1B has the same bubble and
# holds fewer microbatches.
DEFAULT = "gpipe"


def schedule(name: str | Schedule | None = None) -> Schedule:
    """A row of the table by name (``None``: ``DEFAULT``)."""
    if isinstance(name, Schedule):
        return name
    name = DEFAULT if name is None else name
    if name not in NAMES:
        from ..errors import UnknownNameError

        raise UnknownNameError(f"unknown pipeline schedule {name!r}; known: {', '.join(NAMES)}")
    return __getattr__("SCHEDULES")[name]


def copies(name: str | Schedule | None) -> int:
    """The row's ``copies`` (of the layers a stage axis holds), read without building the table."""
    if isinstance(name, Schedule):
        return name.copies
    name = DEFAULT if name is None else name
    if name not in NAMES:
        schedule(name)            # refused, naming the known ones
    return COPIES.get(name, 1)


def end_share(name: str | Schedule | None) -> Fraction:
    """The share of a step's microbatches for which a chip runs the model's ends (the embedding, the
    final norm, the head and the loss: the ops outside the layers). All of them, but under a schedule of
    ``copies`` directions: DualPipe feeds half of the microbatches in at each end rank (``dualpipe.py``
    scatters its inputs into ``num_chunks // 2``), so rank 0 runs its first stage's embedding for one
    half and its last stage's head and loss for the other. Read without building the table."""
    if isinstance(name, Schedule):
        return Fraction(1, name.copies)
    name = DEFAULT if name is None else name
    if name not in NAMES:
        schedule(name)            # refused, naming the known ones
    return Fraction(1, COPIES.get(name, 1))


def weighs_work(name: str | Schedule | None) -> bool:
    """Whether the row's bubble weighs a chunk's F, B and W (``row``'s ``work``)."""
    from ..core.symbols import w_B, w_F, w_W

    return bool(schedule(name).bubble.free_symbols & {w_F, w_B, w_W})


def chunk_work(items, total=sum) -> tuple:
    """(F, B, W) of a step from ``(node, work)`` pairs of a sharded graph's nodes: the forward ops, the
    backward ops with the replayed forward (a ``recompute`` phase runs inside the backward chunk), and
    of those the weight gradients (a contraction's ``dW``); each summed by ``total``. Only their
    ratios enter a bubble, so a step's sums serve for one chunk's."""
    sums: tuple = ([], [], [])
    for d, work in items:
        sums[d["phase"] != "forward"].append(work)
        if d["op"] == "contraction" and d.get("wrt") == "w":
            sums[2].append(work)
    return tuple(total(s) for s in sums)


def row(name: str | Schedule | None, stages, microbatches=None, virtual=None, work=None) -> dict:
    """The row's quantities with ``p``, ``m``, ``v`` replaced (numbers or symbols; the
    microbatches and virtual stages stay symbols when not given), ``sends_per_step``: ``m × sends``
    per stage boundary, each way, and ``copies`` and ``hides``. ``work``: a chunk's (F, B, W)
    (``roofline.chunk_work``), for the rows whose bubble weighs them; else they stay symbols."""
    # the cache tells a row of floats from one of exact numbers: equal work, different arithmetic
    return dict(_row(name, stages, microbatches, virtual, work, None if work is None else tuple(map(type, work))))


@lru_cache(maxsize=4096, typed=True)      # a step model asks for one run's row several times
def _row(name, stages, microbatches, virtual, work=None, _kinds=None) -> dict:
    import sympy as sp

    from ..core.symbols import n_micro as m, n_stages as p, n_virtual as v, w_B, w_F, w_W

    microbatches = m if microbatches is None else microbatches
    virtual = v if virtual is None else virtual
    s = schedule(name)
    def exact(x):
        if isinstance(x, int):
            return sp.Integer(x)
        if isinstance(x, Fraction):
            return sp.Rational(x.numerator, x.denominator)
        return sp.Float(x) if isinstance(x, float) else x
    subs = {p: exact(stages), m: exact(microbatches), v: exact(virtual)}
    if work is not None:
        subs.update(zip((w_F, w_B, w_W), (exact(x) for x in work)))
    out = {key: (sp.Integer(1) * getattr(s, key)).xreplace(subs)
           for key in ("bubble", "in_flight", "in_flight_last", "sends", "alone")}
    if work is not None and work[0] + work[1] == 0:
        # a chip with no F or B (a layout's empty or embedding-only chip): every row's idle time is a
        # sum of F, B and W, so none; its bubble over an ideal of 0 would be 0/0
        out["bubble"] = sp.Integer(0)
    out["sends_per_step"] = subs[m] * out["sends"]
    out.update(copies=s.copies, hides=s.hides, together=s.together)
    return out


# ----------------------------------------------------------------------------- stages


def blocks(layers, embeddings: bool = True) -> list[tuple[str, int]]:
    """The block sequence a pipeline cuts: the layers (a count, or the model's ordered
    ``[(block type, count), ...]``), with the token embedding before them and the head (final
    norm, unembedding, loss) after them as blocks of their own. Llama 3 places them so: "the
    first model chunk on the first stage has only the embedding, and the last model chunk on
    the last stage has only output projection and loss calculation" (arXiv 2407.21783, 3.3.2),
    which balances 126 layers into 16 × 8 chunks.
    """
    inner = [("layer", layers)] if isinstance(layers, int) else list(layers)
    return [("embedding", 1), *inner, ("head", 1)] if embeddings else inner


def partition(segments, stages: int, virtual: int = 1) -> list[list[list[tuple[str, int]]]]:
    """Cut the ordered block sequence into ``stages × virtual`` contiguous chunks, as even as the
    counts allow (earlier chunks take the remainder), and deal chunk ``j`` to stage ``j mod p``
    (the interleaved assignment of Narayanan et al. 2.2.2; with ``virtual = 1``, one chunk per
    stage). ``segments`` is the model as ``[(block type, count), ...]``; today one segment
    ``[("layer", L)]``. Returns, per stage, its chunks, each a list of (block type, count).
    """
    blocks = sum(count for _, count in segments)
    check(blocks, stages, virtual)
    chunks = stages * virtual
    sizes = [blocks // chunks + (1 if j < blocks % chunks else 0) for j in range(chunks)]
    flat = iter([kind for kind, count in segments for _ in range(count)])
    out: list[list[list[tuple[str, int]]]] = [[] for _ in range(stages)]
    for j, size in enumerate(sizes):
        chunk: list[tuple[str, int]] = []
        for _ in range(size):
            kind = next(flat)
            if chunk and chunk[-1][0] == kind:
                chunk[-1] = (kind, chunk[-1][1] + 1)
            else:
                chunk.append((kind, 1))
        out[j % stages].append(chunk)
    return out


def check(blocks: int, stages: int, virtual: int = 1, microbatches: int | None = None,
          sequences: int | None = None, where: str = "pipeline", name: str | None = None) -> None:
    """Refuse a pipeline that cannot run, in one line: more stages than blocks, more virtual
    stages than blocks per stage, more microbatches than sequences per pipeline, and what DualPipe's
    own asserts refuse (``dualpipe.py``: an even count of ranks, an even count of at least twice as
    many microbatches; ``dualpipev.py``: at least twice as many microbatches as ranks)."""
    from ..errors import InfeasibleError

    name = DEFAULT if name is None else name
    if name not in NAMES:
        schedule(name)            # refused, naming the known ones
    per_stage, even = ASSERTS.get(name, (0, False))     # its own asserts (the table's columns), no SymPy
    if even and stages % 2:
        raise InfeasibleError(f"{where}: {name} pairs stage i with stage p-1-i, so it needs an even "
                              f"number of stages, not {stages}")
    least = per_stage * stages
    if microbatches is not None and (microbatches < least or (even and microbatches % 2)):
        evenly = "an even number of " if even else ""
        raise InfeasibleError(f"{where}: {name} needs {evenly}at least {per_stage} x {stages} = "
                              f"{least} microbatches per step, not {microbatches}")

    if stages > blocks:
        raise InfeasibleError(f"{where}: {stages} stages but the model has only {blocks} blocks to "
                              f"split among them; use at most {blocks}")
    if virtual > blocks // stages:
        raise InfeasibleError(f"{where}: {virtual} virtual stages per chip but {blocks} blocks over "
                              f"{stages} stages leave {blocks // stages} per stage; use at most "
                              f"{blocks // stages}")
    if microbatches is not None and sequences is not None and microbatches > sequences:
        raise InfeasibleError(f"{where}: {microbatches} microbatches but each pipeline gets only "
                              f"{sequences} sequences per step; use at most {sequences}")
