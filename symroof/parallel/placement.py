"""What one chip of a pipeline runs in a step: a share of each block type's layers and of the ends.

The ends are the ops outside the layers: the *first* (the token embedding, before them) and the
*last* (the final norm, the head, the loss and any multi-token-prediction module, after them).

- **Even (the default).** Every stage takes the same share, 1/p, of every block type's layers. The
  chip the step model charges runs both ends as well, for the schedule's share of the microbatches
  (``pipeline.end_share``). That is the busiest chip of an even split.
- **A run's split** (``split``). Megatron-LM's ``num_layers_in_first_pipeline_stage`` and
  ``num_layers_in_last_pipeline_stage``, which NeMo's recipes set, put ``first`` layers on stage 0
  and ``last`` on stage p - 1, and the rest evenly on the stages between, in the model's layer order
  (NVIDIA/Megatron-LM@d98e8a6 megatron/core/transformer/transformer_block.py,
  ``get_num_layers_to_build``). Each stage is then a chip of its own. Under DualPipe, rank i runs
  stage i of one direction and stage p - 1 - i of the other, each for half the microbatches.

A share is of the layers of one block type, so a chip's instances of a node are its repeat (the
block's layers, or a replayed share of them) times that share. A placement moves work, collectives
and the bubble's F, B and W; the memory a chip holds (``roofline.memory_per_chip``) and its optimizer
step stay an even split's.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class Placement:
    """One chip's share of the model. ``shares``: (block type, share of its layers) pairs, empty for
    an even split (1/p of each); ``first`` and ``last``: the share of the step's microbatches it runs
    that end for (0 where it holds none)."""

    shares: tuple = ()
    first: Fraction = Fraction(1)
    last: Fraction = Fraction(1)

    def layers(self, block: str, stages):
        """The share of ``block``'s layers the chip runs (``stages``: the stage axis's size)."""
        if not self.shares:
            return Fraction(1, stages) if isinstance(stages, int) else 1 / stages
        return dict(self.shares).get(block, Fraction(0))

    def end(self, which: str) -> Fraction:
        """The share of the microbatches the chip runs end ``which`` (``first`` or ``last``) for."""
        return self.first if which == "first" else self.last


def even(end_share: Fraction) -> Placement:
    return Placement((), end_share, end_share)


def charged(mesh: dict, schedule, given: Placement | None = None) -> Placement | None:
    """The placement of the chip a step is charged for: ``given`` (one chip of a run's split, kept on its
    graph as ``placement``), else an even split's, whose ends run for the schedule's share of the
    microbatches (``pipeline.end_share``); None without a stage axis. The one rule every path reads."""
    if "stage" not in mesh:
        return None
    from .pipeline import end_share

    return given or even(end_share(schedule))


def split(segments, stages: int, first: int, last: int, copies: int = 1) -> list[Placement]:
    """Each chip's placement under a split of ``first`` and ``last`` layers (``segments``: the model's
    layers in order, ``[(block type, count), ...]``); ``copies`` 2 pairs stage i with p - 1 - i."""
    return from_layout(split_chunks(sum(count for _, count in segments), stages, first, last), segments, stages, copies)


def split_chunks(layers: int, stages: int, first: int, last: int) -> tuple[str, ...]:
    """The layout of a split of ``first`` and ``last`` layers: one chunk a stage, the rest even between."""
    middle = (layers - first - last) // (stages - 2) if stages > 2 else 0
    return ("E" + "t" * first, *("t" * middle,) * (stages - 2), "t" * last + "L")


def from_layout(chunks, segments, stages: int, copies: int = 1) -> list[Placement]:
    """Each chip's placement under a layout (``chunks``: Megatron-LM's, io/pipeline_layout.py, each a
    string over E, t, m and L; chunk j on chip j mod p, as its virtual stage j // p): the share of each
    block type's layers its chunks' ``t`` run, in the model's layer order, and whether they hold the
    embedding (E) and the loss (L; the MTP modules go with it). ``copies`` 2 (DualPipe, one chunk a
    stage) runs chunk i and chunk p - 1 - i on chip i, each for half the microbatches."""
    order = iter([kind for kind, count in segments for _ in range(count)])
    totals = dict(_merged(segments))
    held = []                            # per chunk: its layers by block type, and its ends
    for chunk in chunks:
        counts: dict = {}
        for kind in (next(order) for _ in range(chunk.count("t"))):
            counts[kind] = counts.get(kind, 0) + 1
        held.append(({kind: Fraction(n, totals[kind]) for kind, n in counts.items()}, "E" in chunk, "L" in chunk))
    out = []
    for i in range(stages):
        pair = [(i, Fraction(1, 2)), (stages - 1 - i, Fraction(1, 2))] if copies == 2 else \
            [(j, Fraction(1)) for j in range(i, len(chunks), stages)]
        shares: dict = {}
        ends = [Fraction(0), Fraction(0)]
        for j, weight in pair:
            layers, first, last = held[j]
            for kind, share in layers.items():
                shares[kind] = shares.get(kind, 0) + share * weight
            ends[0] += weight * first
            ends[1] += weight * last
        # a chip with no layers still says so: an empty tuple is the even split's
        got = tuple(sorted(shares.items())) or tuple((kind, Fraction(0)) for kind in sorted(totals))
        out.append(Placement(got, *ends))
    return out


def check(segments, stages: int, first: int, last: int) -> str | None:
    """Why a split cannot be laid out (None if it can), as Megatron-LM refuses it: the first and last
    stages need layers of their own within the model's, and the rest must divide evenly among the
    stages between (two stages: the first and last take them all)."""
    layers = sum(count for _, count in segments)
    if stages < 2:
        return f"a split needs at least 2 stages, not {stages}"
    if first + last > layers or (stages == 2 and first + last != layers):
        return (f"first {first} and last {last} layers {'must add up to' if stages == 2 else 'exceed'} "
                f"the model's {layers}")
    if stages > 2 and (layers - first - last) % (stages - 2):
        return (f"the {layers - first - last} layers between the first and last stages do not divide "
                f"evenly among the {stages - 2} stages between them")
    if stages > 2 and layers - first - last == 0:
        return f"the {stages - 2} stages between the first and last would hold no layers"
    return None


def check_layout(chunks, layers: int, stages: int, virtual: int, mtp: int, copies: int = 1) -> str | None:
    """Why a layout cannot run (None if it can): what Megatron-LM's ``validate_layer_layout`` refuses
    (the embedding first, the loss last, each once; the model's layers and MTP modules, the modules
    after every layer and in one chunk, a rank's last), chunks that are not ``virtual`` per stage, and
    what symroof does not model: MTP modules on a chip apart from the loss, virtual stages under DualPipe."""
    flat = "".join(chunks)
    if len(chunks) != stages * virtual:
        return (f"{len(chunks)} chunks on {stages} stages, not the {virtual} a stage the run's "
                f"interleave gives ({stages * virtual} chunks)")
    if copies == 2 and virtual > 1:
        return "virtual stages under DualPipe are not modelled"
    if flat.count("E") != 1 or flat.count("L") != 1 or not flat.startswith("E") or not flat.endswith("L"):
        return "the embedding (E) must come first and the loss (L) last, each once"
    if flat.count("t") != layers:
        return f"{flat.count('t')} layers (t), but the model has {layers}"
    if flat.count("m") != mtp:
        return f"{flat.count('m')} MTP modules (m), but the run trains {mtp} (mtp_layers)"
    if mtp:
        at = [j for j, chunk in enumerate(chunks) if "m" in chunk]
        loss = next(j for j, chunk in enumerate(chunks) if "L" in chunk)
        if "t" in flat[flat.index("m"):] or len(at) > 1:
            return "the MTP modules (m) must come after every layer, all in one chunk"
        if at[0] // stages != virtual - 1:
            return "the MTP modules (m) must be in their rank's last virtual stage"
        if at[0] % stages != loss % stages:
            return "MTP modules on a chip apart from the loss (L) are not modelled"
    return None


def _merged(segments):
    totals: dict = {}
    for kind, count in segments:
        totals[kind] = totals.get(kind, 0) + count
    return totals.items()
