"""Benchmark: how long `symroof count` takes, next to a bare SymPy import in the same run.

Reports (1) building the graph and deriving every quantity `count` prints for LLaMA 3 70B,
after import, with the caches cleared; (2) the wall time of `symroof count llama3-70b` as a
whole process next to `python -c "import sympy"`, as a ratio. Targets: (1) under 100 ms;
(2) within 1.3x. Machines are shared and noisy, so each figure is the median of several
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

ROOT = Path(__file__).resolve().parent.parent


def derive_once() -> float:
    from symroof import graph, instantiate, load_model

    graph.build.cache_clear()
    card = load_model("llama3-70b")
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
    sys.path.insert(0, str(ROOT))

    derive_ms = statistics.median(derive_once() for _ in range(repeat)) * 1e3
    bare, whole = [], []
    for _ in range(repeat):      # interleaved, so drift on a shared machine hits both alike
        bare.append(process([sys.executable, "-c", "import sympy"]))
        whole.append(process([sys.executable, "-m", "symroof", "count", "llama3-70b"]))
    bare_s, whole_s = statistics.median(bare), statistics.median(whole)
    print(f"graph + derivations for llama3-70b after import: {derive_ms:.1f} ms (target < 100 ms)")
    print(f"python -c 'import sympy':           {bare_s:.3f} s")
    print(f"symroof count llama3-70b:           {whole_s:.3f} s")
    print(f"ratio (count / bare sympy import):  {whole_s / bare_s:.2f}x (target <= 1.3x)")


if __name__ == "__main__":
    main()
