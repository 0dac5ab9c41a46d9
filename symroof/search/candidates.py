"""Candidate meshes of one strategy family, generated as numpy arrays.

A candidate is a degree per logical axis, a physical placement of those degrees on a slice
the hardware can build (``topology.slices``), and a microbatch count for pipelines. Degrees
are drawn only from the divisors of what each axis splits (``axes.DIVIDES``: the batch of
sequences, the sequence, the heads and d_ff, the layers, the experts), so every row divides
evenly by construction; their cartesian product is filtered in numpy by the chip count, the
batch and the slice size. Only the placements of the surviving per-slice meshes are walked in
Python, once per distinct mesh.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

from ..parallel import topology as meshlib
from ..parallel.axes import BATCH_AXES, DIVIDES, split_sizes, tensor_problem

MICROBATCHES_PER_STAGE = 8       # pipeline microbatches tried: stages .. this × stages
# Meshes on fewer than this fraction of the chips are not tried: a power of two always lies
# between half the chips and all of them (the splits most models allow), and leaving out the
# smaller meshes halves the placements to walk. Where no split reaches it, the error says
# how many chips the largest even split uses.
MIN_FRACTION = 0.5
MAX_EXTRA_SLICES = 2             # multislice: up to this × the fewest slices that hold the job
MAX_GRID = 5 * 10**6      # degree combinations in one family's grid: 720720 chips need 4.3 M, 8648640 15 M


@dataclass
class Candidates:
    """Columns of candidate meshes; one row each."""

    family: str
    axes: tuple                   # logical axes, "pod" first
    degrees: dict                 # axis -> list of degrees
    micro: list                   # pipeline microbatches per row (1 without a stage axis)
    links: dict                   # axis -> list of "ici"/"dcn"
    m: dict                       # axis -> list of the bandwidth multiple evaluated (M, M/2 on a line)
    n_phys: dict                  # axis -> list of physical axes spanned (the report's M)
    wraps: dict                   # axis -> list of bool
    reasons: dict = field(default_factory=dict)   # why splits were dropped -> count
    inner: dict = field(default_factory=dict)     # axis -> its chips in one fast domain (1 unless it spans)

    def __len__(self) -> int:
        return len(self.micro)

    def take(self, idx: list[int]) -> "Candidates":
        pick = lambda col: [col[i] for i in idx]     # noqa: E731
        per = lambda d: {a: pick(v) for a, v in d.items()}     # noqa: E731
        return Candidates(self.family, self.axes, per(self.degrees), pick(self.micro), per(self.links),
                          per(self.m), per(self.n_phys), per(self.wraps), self.reasons, per(self.inner))


def _divisors(n: int) -> list[int]:
    return list(meshlib._divisors(n))


def padded(batch: int, seq: int, degrees: dict) -> tuple[int, int]:
    """The batch of sequences and the sequence length padded to multiples of their axes' degrees."""
    data = math.prod(d for a, d in degrees.items() if a in BATCH_AXES)
    z = degrees.get("seq", 1)
    return -(-batch // data) * data, -(-seq // z) * z


def allowed_degrees(axis: str, card, batch: int, seq: int, pad_chips: int | None = None) -> list[int]:
    """Degrees an axis may take for this model and batch: the divisors of what it splits (with
    ``pad_chips``, a batch or sequence axis may also take divisors of the chips: padding)."""
    sizes = split_sizes(card, batch, seq)
    common = 0
    for what in DIVIDES[axis]:
        if what != "kv_heads":          # below: divided or replicated
            common = math.gcd(common, sizes[what])
    out = _divisors(common)
    if pad_chips and DIVIDES[axis] in (("sequences",), ("tokens",)):
        top = batch if DIVIDES[axis] == ("sequences",) else seq
        out = sorted(set(out) | {d for d in _divisors(pad_chips) if d <= top})
    if "kv_heads" in DIVIDES[axis]:     # KV heads divide the degree or are replicated up to it
        kv = card.n_kv_heads
        out = [d for d in out if kv % d == 0 or d % kv == 0]
    return out


def degree_problem(card, batch: int, seq: int, degrees: dict, micro: int = 1) -> str | None:
    """Why a set of degrees cannot run this batch (None if it can). Divisibility only; memory later."""
    data = math.prod(d for a, d in degrees.items() if a in BATCH_AXES)
    if data > batch:
        return f"the data-parallel degree exceeds the {batch} sequences (shard the sequence instead)"
    if batch % data:
        return "the batch of sequences does not divide by the data-parallel degree"
    if seq % degrees.get("seq", 1):
        return "the sequence length does not divide by the sequence degree"
    if tensor_problem(card, degrees.get("tensor", 1)):
        return tensor_problem(card, degrees.get("tensor", 1))
    if card.n_layers % degrees.get("stage", 1):
        return "the stages do not divide the layers"
    if "stage" in degrees and (batch // data) % micro:
        return "the microbatches do not divide the per-replica batch"
    if card.n_experts % degrees.get("expert", 1):
        return "the expert degree does not divide the experts"
    return None


def _grid(inner: tuple, choices: list[list[int]], pods: list[int]):
    """The cartesian product of per-axis degree choices as numpy columns (pod first)."""
    import numpy as np

    arrays = [np.asarray(pods, dtype=np.int64)] + [np.asarray(c, dtype=np.int64) for c in choices]
    mesh = np.meshgrid(*arrays, indexing="ij")
    return [m.ravel() for m in mesh]


def degree_rows(family_axes: tuple, card, chip, chips: int, batch: int, seq: int, pods: int | None,
                min_fraction: float, exact: dict | None, continuous: bool, pad: bool = False):
    """Rows of degrees (pod first) that divide evenly, use between ``min_fraction`` and all of the
    chips, and whose per-slice part is no larger than a slice. Returns (list of tuples, reasons).

    ``pad``: the batch and sequence axes may also take any divisor of the chip count up to the
    sequences (tokens); the batch (sequence) is then padded to the next multiple (``padded``)."""
    import numpy as np

    inner = family_axes
    reasons: dict = {}
    if exact is not None:
        row = (exact.get("pod", 1),) + tuple(exact[a] for a in inner)
        named = dict(zip(("pod",) + inner, row))
        why = None if continuous else degree_problem(card, *padded(batch, seq, named) if pad else (batch, seq),
                                                     named)
        if why:
            reasons[why] = 1
            return [], reasons
        return [row], reasons
    if continuous:       # the book's layer: degrees are any split of the chips
        choices = [[d for d in _divisors(chips) if d > 1] for _ in inner]
    else:       # degree 1 too, kept below only where no other family has the axes left above 1
        choices = [allowed_degrees(a, card, batch, seq, chips if pad else None) for a in inner]
    limit = meshlib.slice_limit(chip) if chip.family == "tpu" else chips
    if pods is not None:
        pod_choices = [pods]
    elif chip.family == "tpu":
        pod_choices = [p for p in _divisors(batch) if p <= chips]
    else:
        pod_choices = [1]
    size = len(pod_choices) * math.prod(len(c) for c in choices)
    if size > MAX_GRID:
        from ..errors import InfeasibleError
        raise InfeasibleError(f"{chips} chips: {size} combinations of {', '.join(('pod',) + inner)} degrees to "
                              f"search, more than symroof searches ({MAX_GRID}); give the mesh with --mesh, "
                              f"or a chip count with fewer divisors")
    cols = _grid(inner, choices, pod_choices)
    per_slice = np.prod(np.stack(cols[1:]), axis=0) if inner else np.ones_like(cols[0])
    used = per_slice * cols[0]
    data = np.ones_like(used)
    for a, col in zip(("pod",) + inner, cols):
        if a in BATCH_AXES:
            data = data * col
    keep = used <= chips
    if not continuous:
        from .sweep import own_rows

        keep &= own_rows(inner, cols[1:])
        keep &= (data <= batch) if pad else (batch % data == 0)
    even = keep.copy()
    keep &= used >= min_fraction * chips
    if pods is None and chip.family == "tpu":
        fewest = -(-used // limit)
        keep &= (per_slice <= limit) & (cols[0] >= fewest) & (cols[0] <= MAX_EXTRA_SLICES * fewest)
    elif chip.family == "tpu":
        over = keep & (per_slice > limit)
        if over.any():
            # no chip name in a reason: reasons are cached under the topology, which chips share
            reasons[f"more chips per slice than the largest slice ({limit})"] = int(over.sum())
        keep &= per_slice <= limit
    rows = np.stack(cols, axis=1)[keep]
    if not len(rows):
        most = int(used[even].max()) if even.any() else 0
        reasons[f"no even split of the batch ({batch} sequences), sequence, heads, d_ff and layers uses "
                f"between {min_fraction:.0%} and all of the {chips} chips (the largest uses {most})"] = 1
    return [tuple(int(x) for x in r) for r in rows], reasons


def microbatch_counts(batch: int, degrees: dict) -> list[int]:
    """Pipeline microbatch counts to try: divisors of each replica's sequences, at least one per
    stage (fewer leaves a stage idle for good), up to MICROBATCHES_PER_STAGE per stage."""
    data = math.prod(d for a, d in degrees.items() if a in BATCH_AXES)
    stages, per_replica = degrees["stage"], max(-(-batch // data), 1)
    counts = [m for m in _divisors(per_replica) if stages <= m <= stages * MICROBATCHES_PER_STAGE]
    return counts


_PLACED: dict = {}


def pooled(chip) -> bool:
    """Whether a domain's NICs together are no slower than its own links (every card shipped): then
    an axis over the network with more of its chips in each domain is never slower (collectives.
    two_tier), and placements are compared on that share too (``_covers``)."""
    return chip.dcn_bytes_per_s_per_chip <= chip.ici_bidi_bytes_per_s


def placed(chip, per_slice: int, inner: tuple, degrees: tuple) -> list:
    """Distinct (link, M evaluated, physical axes, wrap, chips in one fast domain) per axis of every
    placement on every slice."""
    key = (chip.family, chip.pod_shape, chip.wraparound, chip.wraparound_unit, chip.max_slice_chips,
           per_slice, inner, degrees, pooled(chip))
    if key in _PLACED:
        return _PLACED[key]
    order = sorted(range(len(inner)), key=lambda i: -meshlib.ORDER.index(inner[i]))   # innermost first
    # an axis of degree 1 lies on no physical axis: the same attributes on every slice, so it is
    # left out of the search (whose memo, _rest's, then serves the families that lack that axis)
    order = [j for j in order if degrees[j] > 1]
    inner_first = tuple(degrees[j] for j in order)
    out: set = set()
    for box in meshlib.slices(chip, per_slice):
        state = _left(tuple((p.size, p.link, meshlib.SWITCHED if p.switched else p.ring, p.size) for p in box), (1,) * len(box))
        unused = _attrs(tuple(s[:3] for s in state), (1,) * len(state))
        for attrs in _rest(state, inner_first):
            by_axis = dict(zip(order, attrs))
            out.add(tuple(by_axis.get(j, unused) for j in range(len(inner))))
    out = _undominated(out, key[-1])
    _PLACED[key] = out
    return out


@lru_cache(maxsize=65536)
def _rest(state: tuple, degrees: tuple) -> tuple:
    """Undominated attribute tuples of axes of ``degrees`` (innermost first) laid on what is left.

    ``state`` is one (size, link, ring, room left) per physical axis with room left (``_left``),
    sorted: physical axes alike are interchangeable, so sorting lets every arrangement that
    differs only by swapping them share one memo entry.
    """
    if not degrees:
        return ((),) if not state else ()
    props = tuple(s[:3] for s in state)          # what an axis's attributes depend on (not the room)
    if len(degrees) == 1:           # the outermost axis takes all the room left, or none fits
        room = tuple(s[3] for s in state)
        return ((_attrs(props, room),),) if math.prod(room) == degrees[0] else ()
    # many factorings give the same attributes and leave the same room: recurse once per pair
    pairs = {(_attrs(props, f), _left(state, f)) for f in _distinct_factorings(degrees[0], state)}
    found = {(head,) + tail for head, left in pairs for tail in _rest(left, degrees[1:])}
    return tuple(_undominated(found, None))


def _left(state: tuple, factors: tuple) -> tuple:
    """The state after an axis takes ``factors``, in a canonical form so that more placements share
    a memo entry: a used-up physical axis goes, and a partly used one forgets its length and ring
    (no later axis can use all of it, so none wraps around it) unless it is a switch (any part wraps)."""
    out = []
    for s, x in zip(state, factors):
        room = s[3] // x
        if room > 1:      # (a switch stays one: any group of its chips is a clique)
            out.append(s if room == s[0] else (0, s[1], meshlib.SWITCHED if s[2] == meshlib.SWITCHED else False, room))
    return tuple(sorted(out))


@lru_cache(maxsize=65536)
def _distinct_factorings(degree: int, state: tuple) -> tuple:
    """``degree`` as one factor per physical axis of ``state`` (each dividing its room), up to
    swapping alike axes: among equal entries of the sorted state the factors do not increase, as
    any other order gives the same attributes and leaves the same room."""
    if not state:
        return ((),) if degree == 1 else ()
    out = []
    for f in meshlib._divisors(state[0][3]):
        if degree % f == 0:
            for rest in _distinct_factorings(degree // f, state[1:]):
                if len(state) < 2 or state[1] != state[0] or rest[0] <= f:
                    out.append((f,) + rest)
    return tuple(out)


def _undominated(rows: set, pool: bool | None) -> list:
    """Drop placements no faster than another on every axis (same links, no more bandwidth): a
    collective's time only falls as an axis's bandwidth multiple grows, and, where ``pool`` (the
    domain's NICs no slower than its links), as a network axis's share of each domain grows. With
    ``pool`` None (a partial placement: the share is not final) shares must be equal.

    Placements equal in links and bandwidth are one for the step time; the one kept has the
    fewest physical axes, then wraps, then comes first: a fixed order, so what is reported does
    not depend on the order a set happened to give (string hashes differ between processes)."""
    best: dict = {}
    for r in rows:
        k = tuple([(a[0], a[1], a[4]) for a in r])
        old = best.get(k)
        if old is None or _tie(r) < _tie(old):
            best[k] = r
    if len(best) == 1:
        return list(best.values())
    keep: list = []
    for k in sorted(best, key=_widest_first):
        if not any(_covers(c, k, pool) for c in keep):
            keep.append(k)
    return [best[k] for k in keep]


def _widest_first(k: tuple) -> tuple:
    return tuple([(-a[1], -a[2]) for a in k]), k


def _covers(c: tuple, k: tuple, pool: bool | None) -> bool:
    """Placement ``c`` is at least as fast as ``k`` on every axis (same link, no less bandwidth)."""
    for x, y in zip(c, k):
        if x[0] != y[0] or x[1] < y[1] or (x[2] < y[2] if pool else x[2] != y[2]):
            return False
    return True


def _tie(r: tuple) -> tuple:
    return tuple([a[2] for a in r]), tuple([not a[3] for a in r]), r


@lru_cache(maxsize=65536)
def _attrs(box, factors) -> tuple:
    """(link, bandwidth multiple, physical axes, wrap, chips in one fast domain) of one axis:
    ``topology.axes_of`` in plain numbers; an axis over the network has ``inner`` (the product of
    its factors on the fast axes) of its chips in each domain (collectives.two_tier)."""
    used = [(p, f) for p, f in zip(box, factors) if f > 1]      # p: (size, link, ring, ...)
    if any(p[1] == "dcn" for p, _ in used):
        return ("dcn", 1.0, 1, True, math.prod(f for p, f in used if p[1] != "dcn"))
    wrap = all(p[2] == meshlib.SWITCHED or (p[2] and f == p[0]) for p, f in used)
    m = max(len(used), 1)
    return ("ici", m / (1 if wrap else 2), m, wrap, 1)


def enumerate_candidates(family: str, inner: tuple, card, chip, chips: int, pods: int | None, batch: int,
                         seq: int, forced: dict, continuous: bool = False, exact: dict | None = None,
                         min_fraction: float = MIN_FRACTION, m_symbols: dict | None = None, pad: bool = False) -> Candidates:
    """Every degree split × placement × microbatch count of ``family`` on at most ``chips`` chips
    (plain numbers, kept in the on-disk cache under everything they depend on)."""
    from ..io import expression_cache as cache

    fields = {"family": family, "inner": inner, "chips": chips, "pods": pods, "batch": batch, "seq": seq,
              "forced": sorted(forced.items()), "continuous": continuous, "pad": pad,
              "exact": sorted(exact.items()) if exact else None, "min_fraction": min_fraction,
              "m_free": sorted(a for a, m in (m_symbols or {}).items() if m is None),
              "model": [card.n_layers, card.n_heads, card.n_kv_heads, card.d_ff, card.n_experts]
              + ([card.linear_key_heads, card.linear_value_heads] if card.linear_key_heads else [])
              + ([card.ssm_heads, card.ssm_groups] if card.ssm_heads else []),
              "topology": [chip.family, list(chip.pod_shape), chip.wraparound, chip.wraparound_unit,
                           chip.max_slice_chips, pooled(chip)]}
    data = cache.load_data("candidates", fields)
    if isinstance(data, dict):
        try:
            return Candidates(family, tuple(data["axes"]), data["degrees"], data["micro"], data["links"],
                              data["m"], data["n_phys"], data["wraps"], data["reasons"], data["inner"])
        except (KeyError, TypeError):
            pass
    cand = _enumerate(family, inner, card, chip, chips, pods, batch, seq, forced, continuous, exact,
                      min_fraction, m_symbols, pad)
    cache.store_data("candidates", fields, {k: getattr(cand, k) for k in (
        "axes", "degrees", "micro", "links", "m", "n_phys", "wraps", "reasons", "inner")})
    return cand


def _enumerate(family, inner, card, chip, chips, pods, batch, seq, forced, continuous, exact,
               min_fraction, m_symbols, pad=False) -> Candidates:
    axes = ("pod",) + inner
    cand = Candidates(family, axes, {a: [] for a in axes}, [], {a: [] for a in axes},
                      {a: [] for a in axes}, {a: [] for a in axes}, {a: [] for a in axes},
                      inner={a: [] for a in axes})
    rows, cand.reasons = degree_rows(inner, card, chip, chips, batch, seq, pods,
                                     1.0 if exact else min_fraction, exact, continuous, pad)
    m_symbols = m_symbols or {}
    for row in rows:
        degs = row[1:]
        named = dict(zip(axes, row))
        micro = microbatch_counts(batch, named) if "stage" in inner else [1]
        if not micro:
            cand.reasons["no microbatch count divides the per-replica batch"] = \
                cand.reasons.get("no microbatch count divides the per-replica batch", 0) + 1
            continue
        per_slice = math.prod(degs)
        places = placed(chip, per_slice, inner, degs)
        if not places:
            why = f"no slice of the pod holds {per_slice} chips in this shape"   # chip-neutral: cached
            cand.reasons[why] = cand.reasons.get(why, 0) + 1
            continue
        for place in places:
            for nm in micro:
                cand.micro.append(nm)
                for a, value in zip(axes, row):
                    cand.degrees[a].append(value)
                pod_attrs = ("dcn", 1.0, 1, True, 1)
                for a, (link, m, n_phys, wrap, share) in zip(axes, (pod_attrs,) + place):
                    one_link = m_symbols.get(a) is None or link == "dcn"
                    if a in forced:                      # what was evaluated: M rings
                        m, n_phys, wrap = float(forced[a]), forced[a], True
                    elif one_link:
                        m, n_phys, wrap = 1.0, 1, True
                    cand.links[a].append(link)
                    cand.m[a].append(m)
                    cand.n_phys[a].append(n_phys)
                    cand.wraps[a].append(wrap)
                    cand.inner[a].append(share)
    return cand

