"""Benchmark: configurations per second of the plan search, next to hand-written numpy.

LLaMA 3 70B on 8960 TPU v5p chips, FSDP+TP. The search's step-time, comms and memory
expressions are derived from the graph once and evaluated as numpy trees (symroof.search.sweep,
search/tree_numpy.py); the baseline
writes the same closed forms by hand from the card numbers (book-4-6.md sections 2 and 5):

    t_math = B·T·(6·P_mm + 6·N·H·L·T) / (X·Y·C)       (matmul FLOPs, causal attention)
    t_ici  = [b·(8L+2)·D·B·T/(X·M_Y) + 3·b·P_mm/(Y·M_X)] / W_ici
    memory = (b_p+b_g+b_o)·(P_w/(X·Y) + P_norm/X) + n_ckpt·L·D·b·B·T/(X·Y)

Both evaluate the same random grid of (X, Y, M_X, M_Y, B) in the same process, compute
t_step = max(t_math, t_ici), mask what does not fit in HBM and take the argmin. The two
results are checked equal first. Target: >= 1e6 configurations/s, within 2x of numpy.
The full search evaluation (t_hbm, per-link comms, bound) is timed too, for reference.

    python benchmarks/bench_sweep.py [--n 2000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # run from a checkout, installed or not


def grid(n: int, rng):
    import numpy as np

    x = 2.0 ** rng.integers(4, 12, n)
    y = 8960.0 / x
    return {"X": x, "Y": y, "M_X": rng.integers(1, 4, n).astype(float),
            "M_Y": rng.integers(1, 3, n).astype(float), "B": 2.0 ** rng.integers(8, 13, n),
            "T": np.full(n, 4096.0), "n_micro": np.ones(n)}


def hand_numpy(card, chip, run, g):
    """The closed forms written directly in numpy (no SymPy)."""
    import numpy as np

    L, D, F, N, K, H, V = (card.n_layers, card.d_model, card.d_ff, card.n_heads, card.n_kv_heads,
                           card.head_dim, card.vocab)
    p_mm = L * (3 * D * F + 2 * D * H * (N + K)) + V * D          # weights that feed a matmul
    p_norm = (2 * L + 1) * D                                      # RMSNorm scales (not TP-sharded)
    p_w = p_mm + V * D                                            # + the input embedding
    C, W = float(chip.peak_flops_per_s["bf16"]), float(chip.ici_bidi_bytes_per_s)
    b = run.act_bytes
    state = run.param_bytes + run.grad_bytes + run.optimizer_bytes
    X, Y, MX, MY, B, T = g["X"], g["Y"], g["M_X"], g["M_Y"], g["B"], g["T"]
    tokens = B * T
    t_math = tokens * (6 * p_mm + 6 * N * H * L * T) / (X * Y * C)
    t_ici = (b * (8 * L + 2) * D * tokens / (X * MY) + 3 * b * p_mm / (Y * MX)) / W
    memory = state * (p_w / (X * Y) + p_norm / X) + run.ckpt_per_layer * L * D * b * tokens / (X * Y)
    t_step = np.where(memory <= float(chip.hbm_bytes), np.maximum(t_math, t_ici), np.inf)
    return t_step, int(np.argmin(t_step))


def ours(comp, chip, g):
    import numpy as np

    argv = [g[name] for name in comp.args]      # the family's arguments, by symbol name
    got = dict(zip(comp.names, comp.fn(*argv)))
    t_math = got["t_math"]
    t_ici = sum(v for k, v in got.items() if k.startswith("comms:"))
    memory = got["memory_fixed"] + got["memory_activations"] if "memory_activations" in got else got["memory"]
    t_step = np.where(memory <= float(chip.hbm_bytes), np.maximum(t_math, t_ici), np.inf)
    return t_step, int(np.argmin(t_step))


def enumeration(repeat: int) -> dict:
    """Time to generate every family's candidate meshes (divisor grids in numpy, placements
    memoised), without the on-disk cache, for the plans of the speed issue."""
    import os

    from symroof.io.catalog import load_chip, load_model
    from symroof.search import candidates
    from symroof.search.sweep import AXIS_NAMES, FAMILIES

    os.environ["SYMROOF_CACHE"] = "off"
    out = {}
    for name, model, chip, chips, batch, seq in (
            ("70B on 8960 v5p", "llama3-70b", "tpu-v5p", 8960, 1024, 4096),
            ("405B on 65536 H100", "llama3.1-405b", "h100-sxm", 65536, 2048, 8192),
            ("405B on 131072 H100", "llama3.1-405b", "h100-sxm", 131072, 2048, 8192)):
        card, ch = load_model(model), load_chip(chip)
        m = {a: AXIS_NAMES[a][1] for a in AXIS_NAMES}

        def run():
            candidates._PLACED.clear()
            candidates._rest.cache_clear()
            return sum(len(candidates.enumerate_candidates(f, axes, card, ch, chips, None, batch, seq, {},
                                                           m_symbols=m))
                       for f, axes in FAMILIES.items())
        rows = run()
        out[name] = (best_of(run, repeat), rows)
    return out


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    import numpy as np

    from symroof.search import evaluation, sweep
    from symroof.io.catalog import load_chip, load_model
    from symroof.io.run import RunSettings
    from symroof.search.candidates import Candidates

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    card, chip, run = load_model("llama3-70b"), load_chip("tpu-v5p"), RunSettings()
    start = time.perf_counter()
    # continuous: degrees as numbers, no KV-head replication (the hand formulas have none)
    comp = sweep.compile_family("fsdp_tp", card, chip, run, sweep.Options(continuous=True))
    compile_s = time.perf_counter() - start
    g = grid(args.n, np.random.default_rng(0))
    got, hand = ours(comp, chip, g), hand_numpy(card, chip, run, g)
    ok = np.isfinite(hand[0])
    assert np.array_equal(np.isfinite(got[0]), ok), "memory masks differ"
    assert np.allclose(got[0][ok], hand[0][ok], rtol=1e-9, atol=0), "step times differ"
    t_ours = best_of(lambda: ours(comp, chip, g), args.repeat)
    t_hand = best_of(lambda: hand_numpy(card, chip, run, g), args.repeat)
    cand = Candidates("fsdp_tp", ("fsdp", "tensor"), {"fsdp": g["X"], "tensor": g["Y"]}, g["n_micro"],
                      {"fsdp": ["ici"] * args.n, "tensor": ["ici"] * args.n},
                      {"fsdp": g["M_X"], "tensor": g["M_Y"]}, {}, {})
    t_full = best_of(lambda: evaluation.evaluate(comp, cand, card, chip, 1024, 4096), args.repeat)
    enum = enumeration(args.repeat)
    n = args.n
    print(f"LLaMA 3 70B, FSDP+TP on {chip.name}; {n:,} configurations; compile once: {compile_s:.2f} s")
    print(f"  symroof (numpy trees):  {n / t_ours:12,.0f} configs/s")
    print(f"  hand-written numpy:     {n / t_hand:12,.0f} configs/s")
    print(f"  time symroof / numpy:   {t_ours / t_hand:.2f}  (target: <= 2, and >= 1e6 configs/s)")
    print(f"  full search evaluate (t_hbm, links, bound, fixed batch): {n / t_full:12,.0f} configs/s")
    for name, (seconds, rows) in enum.items():
        print(f"  candidate enumeration, {name}: {seconds * 1e3:.0f} ms for {rows:,} candidates (every family)")


if __name__ == "__main__":
    main()
