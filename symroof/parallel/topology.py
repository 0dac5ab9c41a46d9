"""Logical meshes laid on a chip card's physical topology.

A *logical* mesh is an ordered set of named axes with degrees, outermost first (``pod``,
``stage``, ``data``/``fsdp``, ``expert``, ``seq``, ``tensor``): the innermost axis gets the
chips that sit closest together. The *physical* layout comes from the card:

- TPU: one pod is a torus of ``pod_shape`` ICI axes; a job uses a box (slice) inside it;
  several pods are joined over DCN by a ``pod`` axis (outermost, link ``dcn``).
- GPU: ``pod_shape[0]`` GPUs share a switched NVLink domain (link ``ici``); beyond that the
  scale-out network (link ``dcn``, per-GPU bandwidth = host NICs / GPUs per host).

Laying a logical axis of degree ``d`` on the slice means writing ``d`` as a product of
factors, one per physical axis. ``M`` (the book's ``M_X``, ``M_Y``) is the number of ICI
axes with a factor above 1. A factor that is a whole wrapping physical axis is a ring;
a factor that is part of an axis is a line (``wrap=False``, half the bandwidth).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import product

import sympy as sp

from ..parallel.collectives import Axis
from ..errors import InfeasibleError

# Logical axis names, outermost first: the order in which they are laid on the slice
# (inner axes first, on the closest chips). "pod" is always the DCN axis between pods.
ORDER = ("pod", "stage", "data", "fsdp", "expert", "seq", "tensor")


@dataclass(frozen=True)
class Physical:
    """One physical axis of a slice: its length, its link, and whether a full use of it is a ring."""

    size: int
    link: str        # "ici" or "dcn"
    ring: bool


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


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


def slices(chip, chips: int, min_fraction: float = 0.5) -> list[tuple[Physical, ...]]:
    """Candidate physical slices for ``chips`` chips in one pod, largest first.

    A TPU slice is a box inside ``pod_shape`` whose sides divide the pod's sides or are
    multiples of the wraparound unit; boxes below ``min_fraction`` of ``chips`` are skipped
    (they leave most chips idle). A GPU job is whole NVLink domains (or part of one).
    """
    if chips < 1:
        raise InfeasibleError(f"chip count must be positive, got {chips}")
    if chip.family == "gpu":
        domain = chip.pod_shape[0]
        if chips <= domain:
            return [(Physical(chips, "ici", True),)] if domain % chips == 0 else []
        out = []
        for nodes in range(chips // domain, 0, -1):
            if nodes * domain < min_fraction * chips:
                break
            out.append((Physical(domain, "ici", True), Physical(nodes, "dcn", True)))
        return out
    sides = []
    for size in chip.pod_shape:
        unit = chip.wraparound_unit
        options = set(_divisors(size)) | set(range(unit, size + 1, unit))
        sides.append(sorted(options))
    boxes = [b for b in product(*sides) if min_fraction * chips <= _prod(b) <= chips]
    boxes.sort(key=lambda b: (-_prod(b), b))
    out = []
    for box in boxes:
        rings = wrap_rule(chip, box)
        out.append(tuple(Physical(s, "ici", r) for s, r in zip(box, rings)))
    return out


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
    out = {}
    for name, factors in placement.items():
        used = [(p, f) for p, f in zip(box, factors) if f > 1]
        if any(p.link == "dcn" for p, _ in used):
            # spans the scale-out network: its slowest hop sets the pace
            out[name] = Axis(name, sp.Integer(degrees[name]), "dcn", sp.Integer(1), True)
            continue
        wrap = all(p.ring and f == p.size for p, f in used)
        out[name] = Axis(name, sp.Integer(degrees[name]), "ici", sp.Integer(max(len(used), 1)), wrap)
    return out


def effective_m(axis: Axis) -> sp.Rational:
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
    if chip.family == "tpu" and per_pod > chip.pod_chips:
        raise InfeasibleError(f"{per_pod} chips per pod do not fit one {chip.name} pod "
                              f"({'x'.join(map(str, chip.pod_shape))} = {chip.pod_chips}); add a 'pod' axis")
    names = tuple(sorted(inner, key=ORDER.index))
    degs = tuple(inner[n] for n in names)
    best, best_key = None, None
    for box in slices(chip, per_pod, min_fraction=1.0):
        for placement in placements(box, names, degs):
            axes = axes_of(box, placement, inner)
            # prefer fast links, then the most bandwidth for the inner axes
            key = tuple((a.link == "ici", effective_m(a)) for a in (axes[n] for n in reversed(names)))
            if best_key is None or key > best_key:
                best, best_key = axes, key
    if best is None:
        where = (f"{'x'.join(map(str, chip.pod_shape))} torus per pod" if chip.family == "tpu"
                 else f"whole NVLink domains of {chip.pod_shape[0]}")
        raise InfeasibleError(f"mesh {shown} does not fit the {chip.name} topology ({where})")
    if pods > 1:
        best = {"pod": Axis("pod", sp.Integer(pods), "dcn", sp.Integer(1), True), **best}
    return {n: best[n] for n in sorted(best, key=ORDER.index)}
