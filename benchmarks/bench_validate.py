"""Benchmark: `symroof validate` on every published run, next to a bare SymPy import in the same run.

Reports the wall time of `symroof validate --json` as a whole process (ceilings, step model,
calibration and the constant-MFU baseline for every run in derivations/published_runs.yaml)
next to `python -c "import sympy"`, as a ratio. Target: within 3x. Machines are shared and
noisy, so each figure is the median of several interleaved runs.

    python benchmarks/bench_validate.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _wall(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    floor, validate = [], []
    for _ in range(args.repeat):        # interleaved, so a noisy neighbour hits both
        floor.append(_wall([sys.executable, "-c", "import sympy"]))
        validate.append(_wall([sys.executable, "-m", "symroof", "validate", "--json"]))
    f, v = statistics.median(floor), statistics.median(validate)
    print(f"import sympy:              {f:.2f} s")
    print(f"symroof validate (all):    {v:.2f} s")
    print(f"ratio:                     {v / f:.1f}x (target 3x)")


if __name__ == "__main__":
    main()
