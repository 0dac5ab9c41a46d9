"""Logical meshes laid on a chip card's physical topology, as the hardware builds slices.

A *logical* mesh is an ordered set of named axes with degrees, outermost first (``axes.ORDER``:
``pod``, ``stage``, ``data``/``fsdp``, ``expert``, ``seq``, ``tensor``): the innermost axis
gets the chips that sit closest together. The *physical* slice comes from the card:

- TPU with ``wraparound: full_cube`` (v4, v5p): a pod is cubes of ``wraparound_unit``³ chips
  joined by optical switches, so a slice is any box of whole cubes, in any shape, up to the
  pod's cube count (or the card's ``max_slice_chips``); every axis of such a slice wraps. A
  job smaller than a cube gets a sub-cube box (sides dividing the cube edge, no wraparound).
- Other TPUs (v5e, v6e: ``full_axis``): a box inside ``pod_shape`` whose sides divide the pod's
  sides; an axis wraps only at the full length.
- Beyond one slice, slices are joined over DCN by a ``pod`` axis (outermost, link ``dcn``).
- GPU: ``pod_shape[0]`` GPUs share a switched NVLink domain (link ``ici``). A job uses ``d``
  GPUs of each domain, any ``d`` up to the domain's size (a job of 64 on NVL72 hardware uses
  64 of one domain's 72); beyond that the scale-out network (link ``dcn``, per-GPU bandwidth
  = host NICs / GPUs per host). A logical axis may span both: its slowest hop sets its pace.

Laying a logical axis of degree ``d`` on the slice means writing ``d`` as a product of
factors, one per physical axis. ``M`` (the book's ``M_X``, ``M_Y``) is the number of ICI
axes with a factor above 1. A factor that is a whole wrapping physical axis is a ring;
a factor that is part of a torus axis is a line (``wrap=False``, half the bandwidth); any part
of a switched axis (a GPU's NVLink domain) is a clique, which wraps.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from typing import TYPE_CHECKING

from ..parallel.axes import ORDER
from ..errors import InfeasibleError

if TYPE_CHECKING:      # Axis (and SymPy) are imported where an Axis is made: a plan read from
    from ..parallel.collectives import Axis    # the cache lays no mesh symbolically

__all__ = ["ORDER", "Physical", "wrap_rule", "slices", "slice_limit", "placements", "axes_of",
           "effective_m", "layout", "shares_ports"]

# A physical axis's "ring" entry in the placement search's state (search/candidates.py): False (a
# line), True (a ring), or SWITCHED (a switch: any part of it is a clique, so any share of it wraps).
SWITCHED = 2


def shares_ports(link: str, switched: bool) -> bool:
    """Whether the collectives of different axes on ``link`` go through the same ports of a chip,
    so that they cannot overlap one another: the scale-out NICs always, the ICI only through a
    switch (a GPU's NVLink); a torus gives each of its axes links of its own."""
    return link == "dcn" or switched


@dataclass(frozen=True)
class Physical:
    """One physical axis of a slice: its length, its link, and whether a full use of it is a ring."""

    size: int
    link: str        # "ici" or "dcn"
    ring: bool
    switched: bool = False   # every chip one hop from every other (a GPU's NVLink domain)


@lru_cache(maxsize=4096)
def _divisors(n: int) -> tuple[int, ...]:
    small = [d for d in range(1, int(n ** 0.5) + 1) if n % d == 0]
    return tuple(sorted(set(small) | {n // d for d in small}))


def wrap_rule(chip, box: tuple[int, ...]) -> tuple[bool, ...]:
    """Which axes of a TPU slice (or GPU domain) wrap around, by the card's ``wraparound`` rule."""
    rule, unit = chip.wraparound, chip.wraparound_unit
    if rule == "always":
        return tuple(True for _ in box)
    if rule == "none":
        return tuple(False for _ in box)
    if rule == "full_cube":      # optical links close every axis iff the slice is whole cubes
        whole = all(s % unit == 0 for s in box)
        return tuple(whole for _ in box)
    return tuple(s == unit for s in box)      # full_axis: only an axis of the full length wraps


def slice_limit(chip) -> int:
    """The most chips one slice (TPU) or one job's ICI island (GPU: a domain) can hold."""
    if chip.family == "gpu":
        return chip.pod_shape[0]
    return chip.max_slice_chips or chip.pod_chips


@lru_cache(maxsize=4096)
def _sorted_boxes(volume: int, sides: int, options: tuple | None) -> tuple[tuple[int, ...], ...]:
    """Non-decreasing ``sides``-tuples with product ``volume`` (each side in ``options`` if given)."""
    def rec(left, k, low):
        if k == 1:
            if left >= low and (options is None or left in options):
                yield (left,)
            return
        for d in _divisors(left):
            if d >= low and d * d <= left and (options is None or d in options):
                for rest in rec(left // d, k - 1, d):
                    yield (d,) + rest
    return tuple(rec(volume, sides, 1))


def slices(chip, chips: int) -> list[tuple[Physical, ...]]:
    """The physical slices of exactly ``chips`` chips the hardware can build (maybe none).

    Boxes that differ only by a permutation of axes are the same slice (the axes are alike);
    the pod's fixed-shape boxes (``full_axis``) keep their orientation.
    """
    if chips < 1:
        raise InfeasibleError(f"chip count must be positive, got {chips}")
    if chip.family == "gpu":
        domain = chip.pod_shape[0]
        if chips <= domain:
            return [(Physical(chips, "ici", True, True),)]
        boxes = [(Physical(d, "ici", True, True), Physical(chips // d, "dcn", True))
                 for d in reversed(_divisors(chips)) if 1 < d <= domain]
        # no share of a domain divides the job (a PCIe GPU's domain of 1; 11 GPUs of 8-GPU
        # nodes): one GPU per host, every axis on the scale-out network
        return boxes or [(Physical(chips, "dcn", True),)]
    if chips > slice_limit(chip):
        return []
    n, unit = len(chip.pod_shape), chip.wraparound_unit
    boxes: list[tuple[int, ...]] = []
    if chip.wraparound == "full_cube":
        cube = unit ** n
        if chips % cube == 0:
            boxes = [tuple(unit * s for s in b) for b in _sorted_boxes(chips // cube, n, None)]
        else:
            boxes = list(_sorted_boxes(chips, n, _divisors(unit)))
    else:
        fits = [b for b in _sorted_boxes(chips, n, None)]
        seen = set()
        for b in fits:
            for perm in _orientations(b, chip.pod_shape):
                if perm not in seen:
                    seen.add(perm)
                    boxes.append(perm)
    return [tuple(Physical(s, "ici", r) for s, r in zip(box, wrap_rule(chip, box))) for box in boxes]


def describe(chip) -> str:
    """How the card's slices are built, in a few words (for error lines)."""
    shape = "x".join(map(str, chip.pod_shape))
    if chip.wraparound == "full_cube":
        u = chip.wraparound_unit
        return (f"slices of whole {u}x{u}x{u} cubes up to {slice_limit(chip)} chips of the {shape} pod, "
                f"or a sub-cube")
    return f"boxes inside the {shape} pod whose sides divide its sides"


def _orientations(box: tuple[int, ...], pod: tuple[int, ...]):
    """Orderings of ``box``'s sides that fit inside ``pod`` with each side dividing the pod's."""
    from itertools import permutations

    for perm in set(permutations(box)):
        if all(s <= p and p % s == 0 for s, p in zip(perm, pod)):
            yield perm


def _prod(xs) -> int:
    out = 1
    for x in xs:
        out *= x
    return out


@lru_cache(maxsize=4096)
def _factorings(degree: int, capacity: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    """Ways to write ``degree`` as a product of one factor per physical axis, each dividing its room."""
    if not capacity:
        return ((),) if degree == 1 else ()
    out = []
    for f in _divisors(capacity[0]):
        if degree % f == 0:
            for rest in _factorings(degree // f, capacity[1:]):
                out.append((f,) + rest)
    return tuple(out)


def placements(box: tuple[Physical, ...], names: tuple[str, ...], degrees: tuple[int, ...]):
    """Every way to lay the logical axes (outermost first) on ``box`` using all of it.

    Yields ``{name: (factor per physical axis)}``. Inner axes are placed first.
    """
    if _prod(degrees) != _prod(p.size for p in box):
        return
    order = sorted(range(len(names)), key=lambda i: -ORDER.index(names[i]))

    def rec(i, room):
        if i == len(order):
            yield {}
            return
        j = order[i]
        for f in _factorings(degrees[j], room):
            left = tuple(r // x for r, x in zip(room, f))
            for rest in rec(i + 1, left):
                yield {names[j]: f, **rest}

    yield from rec(0, tuple(p.size for p in box))


def axes_of(box: tuple[Physical, ...], placement: dict, degrees: dict) -> dict[str, Axis]:
    """Numeric ``Axis`` objects (size, link, M, wrap) of one placement."""
    import sympy as sp

    from ..parallel.collectives import Axis

    out = {}
    for name, factors in placement.items():
        used = [(p, f) for p, f in zip(box, factors) if f > 1]
        if any(p.link == "dcn" for p, _ in used):
            # spans the scale-out network: its slowest hop sets the pace
            out[name] = Axis(name, sp.Integer(degrees[name]), "dcn", sp.Integer(1), True)
            continue
        # a switch makes any group of its chips a clique: part of a switched axis still wraps
        wrap = all(p.switched or (p.ring and f == p.size) for p, f in used)
        out[name] = Axis(name, sp.Integer(degrees[name]), "ici", sp.Integer(max(len(used), 1)), wrap,
                         bool(used) and all(p.switched for p, _ in used))
    return out


def effective_m(axis: Axis):
    """Bandwidth multiple of ``W`` the collective rule gives this axis: M on a ring, M/2 on a line."""
    return axis.n_physical / (1 if axis.wrap else 2)


def layout(chip, degrees: dict[str, int], chips: int | None = None) -> dict[str, Axis]:
    """Lay a logical mesh (``{name: degree}``) on ``chip``'s topology; the best-connected placement.

    ``chips`` (default: the product of the degrees) is what the job was given; the mesh
    must use exactly that many. Raises ``InfeasibleError`` (one line) when the degrees do
    not multiply to the chips or do not fit the topology.
    """
    for name, d in degrees.items():
        if name not in ORDER:
            raise InfeasibleError(f"unknown mesh axis {name!r}; allowed: {', '.join(ORDER)}")
        if not isinstance(d, int) or d < 1:
            raise InfeasibleError(f"mesh axis {name!r} needs a positive integer degree, got {d!r}")
    total = _prod(degrees.values())
    chips = total if chips is None else chips
    shown = " × ".join(f"{n}={d}" for n, d in degrees.items())
    if total != chips:
        raise InfeasibleError(f"mesh {shown} uses {total} chips, but the job has {chips}")
    pods = degrees.get("pod", 1)
    inner = {n: d for n, d in degrees.items() if n != "pod"}
    per_pod = chips // pods
    if chip.family == "tpu" and per_pod > slice_limit(chip):
        raise InfeasibleError(f"{per_pod} chips per slice exceed the largest {chip.name} slice "
                              f"({slice_limit(chip)} chips); add a 'pod' axis (slices over DCN)")
    names = tuple(sorted(inner, key=ORDER.index))
    degs = tuple(inner[n] for n in names)
    best, best_key = None, None
    for box in slices(chip, per_pod):
        for placement in placements(box, names, degs):
            axes = axes_of(box, placement, inner)
            # prefer fast links, then the most bandwidth for the inner axes
            key = tuple((a.link == "ici", effective_m(a)) for a in (axes[n] for n in reversed(names)))
            if best_key is None or key > best_key:
                best, best_key = axes, key
    if best is None:
        where = (describe(chip) if chip.family == "tpu"
                 else f"NVLink domains of up to {chip.pod_shape[0]} GPUs")
        raise InfeasibleError(f"mesh {shown} does not fit the {chip.name} topology ({where})")
    if pods > 1:
        import sympy as sp

        from ..parallel.collectives import Axis

        best = {"pod": Axis("pod", sp.Integer(pods), "dcn", sp.Integer(1), True), **best}
    return {n: best[n] for n in sorted(best, key=ORDER.index)}
