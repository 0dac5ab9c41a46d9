"""Kernel efficiency as a function of shape: what fraction of peak one matmul can reach.

A matrix unit computes an output tile of ``tile_m × tile_n`` at a time; a chip has ``cores``
of them working on different tiles at once. Two quantizations follow, both as NVIDIA's
"Matrix Multiplication Background User's Guide" (docs.nvidia.com/deeplearning/performance/
dl-performance-matrix-multiplication) describes them:

- tile quantization: a dimension that is not a multiple of the tile is padded to one, so the
  useful fraction is ``m / (ceil(m / tile_m) · tile_m)`` (and the same for ``n``);
- wave quantization: tiles run in waves of ``cores``; the last wave may be partly idle, so the
  useful fraction is ``tiles / (ceil(tiles / cores) · cores)``.

A TPU's MXU is a systolic array of the same kind (128 × 128 on v4/v5e/v5p, 256 × 256 on v6e,
Google Cloud TPU system-architecture docs); its "cores" are the MXUs of the chip.

The ideal limit is a tile of one element (or an unknown tile): efficiency 1.
"""

from __future__ import annotations

import math
from functools import lru_cache

from .axes import ACTIVATION_RULES

# Which dimension letters of a contraction each logical axis splits on one chip: the activations'
# rules of the one axis table (axes.py), less D, which the weights gather before use. B and the
# MoE's routed copies R (B·T·k/E) are also cut by the microbatches.
SPLITS = {dim: axes for dim, axes in ACTIVATION_RULES if dim != "D"}
# Under MoE parallel folding (axes.folds_experts) a routed expert's matmul has the tensor axis on its
# experts E (FOLDED_ACTIVATION_RULES; a tensor uses an axis once): its widths stay whole on each chip.
FOLDED_SPLITS = {dim: axes + ("tensor",) if dim == "E" else tuple(a for a in axes if a != "tensor")
                 for dim, axes in SPLITS.items()}
PER_MICROBATCH = ("B", "R")


def quantized(extent: float, tile: int) -> float:
    """Useful fraction of one dimension padded to whole tiles."""
    if tile <= 1 or extent <= 0:
        return 1.0
    return extent / (math.ceil(extent / tile) * tile)


def waves(m: float, n: float, tile_m: int, tile_n: int, cores: int, batch: float = 1) -> float:
    """Useful fraction of the last wave: output tiles (of each of ``batch`` matmuls) over the slots
    of the waves they need."""
    if cores <= 1:
        return 1.0
    tiles = math.ceil(m / tile_m) * math.ceil(n / tile_n) * math.ceil(batch)
    return tiles / (math.ceil(tiles / cores) * cores)


@lru_cache(maxsize=65536)        # a run's few matmul shapes recur across the runs of one model
def matmul_efficiency(m: float, n: float, k: float, tile: tuple | None, cores: int | None, batch: float = 1) -> float:
    """Fraction of peak for ``batch`` matmuls of ``m × k`` by ``k × n`` at once (a batched GEMM: an
    MoE layer's local experts, one launch): tile times wave quantization, the waves over all their tiles.

    ``k`` streams through the unit and is padded to the tile's depth (taken as ``tile_n``).
    """
    if not tile:
        return 1.0
    tile_m, tile_n = tile
    eff = quantized(m, tile_m) * quantized(n, tile_n) * quantized(k, tile_n)
    return eff * waves(m, n, tile_m, tile_n, cores or 1, batch)


def extents(sizes: dict, mesh: dict, per_microbatch: float = 1.0, experts: bool = False) -> dict[str, float]:
    """Each dimension letter's extent on one chip: its size over the mesh axes that split it
    (``SPLITS``; ``experts``: a routed expert's matmul on a folded mesh, ``FOLDED_SPLITS``), the batch
    also over the microbatches the step is cut into; at least 1. ``sizes`` maps a letter to a number."""
    out = {}
    splits = FOLDED_SPLITS if experts else SPLITS
    for letter, size in sizes.items():
        n = float(size)
        if letter in PER_MICROBATCH:
            n /= per_microbatch
        for axis in splits.get(letter, ()):
            if axis in mesh:
                n /= float(mesh[axis].size)
        out[letter] = max(n, 1.0)
    return out


def local_shape(sig, extent: dict) -> tuple[float, float, float]:
    """``(m, n, k)`` of one chip's share of a contraction, from its signature and ``extents``:
    ``m`` the free dimensions of the first operand, ``n`` those of the second, ``k`` the
    contracted ones."""
    m, n, k = sig.matmul_dims      # worked out once per signature
    return math.prod([extent[d] for d in m]), math.prod([extent[d] for d in n]), math.prod([extent[d] for d in k])


def routed_experts(sig) -> bool:
    """A routed expert's matmul: its operands carry the experts E (the router's are Er)."""
    return any("E" in dims for dims in sig.operands)


def local_batch(sig, extent: dict) -> float:
    """How many matmuls of ``local_shape`` one chip runs at once: the extents of the dimensions both
    operands and the output keep (an MoE layer's local experts E, a per-head product's heads)."""
    first, second = sig.operands[0], sig.operands[1]
    return math.prod([extent[d] for d in first if d in second and d in sig.output])


@lru_cache(maxsize=None)        # signatures are frozen values, few and asked about often
def is_attention_core(sig) -> bool:
    """The T × S products (scores, weighted sum of values, and their gradients): the attention kernel."""
    dims = set(sig.output).union(*map(set, sig.operands))
    return "T" in dims and "S" in dims
