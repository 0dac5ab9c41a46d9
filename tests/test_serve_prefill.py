"""A prefill on a wide tensor axis waits for its collectives, as training does.

Hand derivation (jax-ml/scaling-book@0819a7d inference.md, "prefill": it is sharded as training
is, and ICI-bound once Y > F·n_axes/2550 on v5e; sharding.md: an AllGather or a ReduceScatter of V
bytes over one axis takes V / (M·W_ici), W_ici = 9e10 B/s bidirectional on v5e, tpus.md): LLaMA 3
70B (L = 80, D = 8192, F = 28672) prefilling one 8192-token prompt on a 4x8 TPU v5e slice, tensor = 32.
The axis spans both slice axes, neither wrapping (v5e wraps only at 16), so M = 2 × 1/2 = 1. Each layer
gathers its input before attention and before the MLP and reduce-scatters after each (Megatron
with sequence parallelism), 4 collectives of T·D·2 bytes; the embedding's output is reduce-
scattered and the head's input gathered once: (4·80 + 2) × 8192·8192·2 / 9e10 = 0.4802 s. The
FLOPs at peak take 2·70.55e9·8192 / (32·1.97e14) plus the attention core, about 0.195 s: the
prefill is ICI-bound, and serve printed the FLOP time (0.195 s) before. Tolerance: relative 1e-3
(the per-hop latency floor, 1 µs a hop, is far below each collective's 1.49 ms).
"""

from __future__ import annotations

import pytest

from symroof.io.catalog import load_chip, load_model
from symroof.search import serve as sv


def _prefill(chips: int, mfu=None) -> float:
    req = sv.request(chips, batch=1, context=8192, prompt=8192, mesh=[f"tensor={chips}"], mfu=mfu)
    return sv.serve(load_model("llama3-70b"), load_chip("tpu-v5e"), req)["prefill_s"]


def test_a_prefill_on_32_v5e_chips_is_ici_bound():
    want = (4 * 80 + 2) * 8192 * 8192 * 2 / 9e10
    assert _prefill(32) == pytest.approx(want, rel=1e-3)


def test_the_books_prefill_at_40_percent_mfu_is_still_its_flops():
    """inference.md's question: 8192 tokens on 16 v5e chips at 40 % MFU, 2·70e9·8192 / (16·1.97e14·0.4)
    = 0.91 s; the collectives (0.48 s, as above) hide under it. Counted per op: 2 FLOPs per weight
    in a matmul (the card's 70,553,706,496 parameters less the V·D token table, a lookup, and the
    2·L + 1 RMSNorm scales of D) per token, and the causal attention core, 2·T²·N·H a layer (N·H = 8192): 0.973 s. Tolerance 1e-9."""
    P, V, D, T, NH, L = 70_553_706_496, 128_256, 8192, 8192, 8192, 80
    flops = 2 * (P - V * D - (2 * L + 1) * D) * T + 2 * T * T * NH * L
    assert _prefill(16, "0.4") == pytest.approx(flops / (16 * 1.97e14 * 0.4), rel=1e-9)
