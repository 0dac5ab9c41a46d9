"""Gradient accumulation for a mesh without a pipeline: the fewest microbatches that fit in HBM.

Without a ``stage`` axis a step may still run its batch as microbatches, one after another, adding
their gradients before one optimizer step (Megatron-LM's and NeMo's global batch over micro batch
size, PyTorch's ``no_sync`` steps): only one microbatch's activations are held at a time
(``roofline.memory_per_chip``), the weights, gradients and optimizer state as before. The ideal step
reads the same FLOPs and bytes whatever the count, and an fsdp axis's gathers and scatters once per
microbatch (``roofline.comms_by_axis``), so the fewest that fit are the fastest: the search takes
them, a divisor of each replica's sequences, as a microbatch holds whole sequences.
"""

from __future__ import annotations

from .candidates import _divisors


def fewest(fixed, activations, per_replica, hbm: float):
    """Per row: (microbatches, memory) for the fewest microbatches m dividing the replica's
    sequences with ``fixed + activations / m <= hbm``; where none does, the most (one sequence
    each), whose memory then exceeds ``hbm`` and the row stays infeasible. Arrays in, arrays out."""
    import numpy as np

    fixed, activations = np.asarray(fixed, dtype=float), np.asarray(activations, dtype=float)
    per_replica = np.asarray(per_replica, dtype=float)
    whole = (per_replica >= 1) & (per_replica == np.floor(per_replica))
    with np.errstate(invalid="ignore"):
        short = ~(fixed + activations <= hbm)       # the rows one microbatch does not fit (most fit)
        hopeless = short & ~(fixed < hbm)           # ... nor any count: the most, one sequence each
    # a microbatch holds whole sequences: a fractional share (continuous degrees) runs at once
    micro = np.where(hopeless & whole, per_replica, 1.0)
    searched = short & ~hopeless & whole
    for sequences in sorted(set(per_replica[searched].tolist())):   # (np.unique's first call: 13 ms)
        rows = searched & (per_replica == sequences)
        counts = np.asarray(_divisors(int(sequences)), dtype=float)
        # each row's memory at each count, in the sum the caller's ``<= hbm`` reads back: a count
        # taken by a need (activations / room) rounded the other way could hold a byte too many
        with np.errstate(invalid="ignore"):
            fits = fixed[rows, None] + activations[rows, None] / counts <= hbm
        micro[rows] = counts[np.where(fits.any(axis=1), fits.argmax(axis=1), len(counts) - 1)]
    return micro, fixed + activations / micro
