"""Benchmark: how long `symroof count` takes, next to a bare SymPy import in the same run.

Reports (1) building the graph and deriving every quantity `count` prints for LLaMA 3 70B
and for DeepSeek-V3 (MLA, dense x 3 then MoE x 58), after import, with the caches cleared;
(2) the wall time of `symroof count llama3-70b` as a whole process next to `python -c "import
sympy"`, as a ratio, and of `symroof count deepseek-v3` next to it. Targets: (1) under 100 ms;
(2) within 1.3x, and DeepSeek-V3 within 1.3x of LLaMA 3 70B. Machines are shared and noisy, so each figure is the median of several
runs and the process figures are interleaved.

    python benchmarks/bench_count.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from compiled import byte_compile

ROOT = Path(__file__).resolve().parent.parent


COLD = """
import sys, time, sympy
from symroof import load_model
from symroof.io import bind as instantiate
card = load_model(sys.argv[1])
sympy.Symbol("a") + sympy.Symbol("b")      # SymPy's own lazy imports on its first Add
start = time.perf_counter()
instantiate.count(card, batch=1, seq=4096)
print(time.perf_counter() - start)
"""
# The floor any SymPy + networkx + YAML program pays before doing its own work.
FLOOR = "import sympy, networkx, yaml; sympy.Symbol('a') + sympy.Symbol('b')"


def derive_cold(model: str) -> float:
    """Graph + derivations in a fresh process (nothing cached), after import and card loading."""
    out = subprocess.run([sys.executable, "-c", COLD, model], check=True, capture_output=True, text=True, cwd=ROOT)
    return float(out.stdout)


def derive_warm(model: str) -> float:
    from symroof import load_model
    from symroof.core import graph
    from symroof.io import bind as instantiate

    graph._build.cache_clear()        # build is a thin front for the cached _build
    card = load_model(model)
    start = time.perf_counter()
    instantiate.count(card, batch=1, seq=4096)
    return time.perf_counter() - start


def process(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    repeat = parser.parse_args().repeat
    byte_compile()
    sys.path.insert(0, str(ROOT))

    models = ("llama3-70b", "deepseek-v3")
    for model in models:
        cold_ms = statistics.median(derive_cold(model) for _ in range(repeat)) * 1e3
        warm_ms = statistics.median(derive_warm(model) for _ in range(repeat)) * 1e3
        print(f"graph + derivations for {model} after import, fresh process: {cold_ms:.1f} ms "
              f"(target < 100 ms); again in a warm process: {warm_ms:.1f} ms")
    bare, floor = [], []
    whole = {m: [] for m in models}
    for _ in range(repeat):      # interleaved, so drift on a shared machine hits all alike
        bare.append(process([sys.executable, "-c", "import sympy"]))
        floor.append(process([sys.executable, "-c", FLOOR]))
        for m in models:
            whole[m].append(process([sys.executable, "-m", "symroof", "count", m]))
    bare_s, floor_s = statistics.median(bare), statistics.median(floor)
    llama, deepseek = (statistics.median(whole[m]) for m in models)
    print(f"python -c 'import sympy':                        {bare_s:.3f} s")
    print(f"sympy + networkx + yaml imports, first Add:      {floor_s:.3f} s  ({floor_s / bare_s:.2f}x)")
    print(f"symroof count llama3-70b:                        {llama:.3f} s")
    print(f"symroof count deepseek-v3:                       {deepseek:.3f} s")
    print(f"ratio (count llama3-70b / bare sympy import):    {llama / bare_s:.2f}x (target <= 1.3x)")
    print(f"ratio (count llama3-70b / the dependencies' floor): {llama / floor_s:.2f}x")
    print(f"ratio (count deepseek-v3 / count llama3-70b):    {deepseek / llama:.2f}x (target <= 1.3x)")


if __name__ == "__main__":
    main()
