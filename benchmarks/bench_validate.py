"""Benchmark: `symroof validate` on every published run, next to a bare SymPy import in the same run.

Reports the wall time of `symroof validate --json` as a whole process (ceilings, step model,
calibration and the constant-MFU baseline for every run in derivations/published_runs.yaml)
next to `python -c "import sympy"`, as a ratio, in CPU time (user + sys of the child): cold
(an empty cache: every run derived) and warm (the same runs again: each run's prediction and
each chip's fit read back from the on-disk cache). Target: within 3x. Machines are shared and
noisy, so each figure is the median of several interleaved runs.

    python benchmarks/bench_validate.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from compiled import byte_compile

ROOT = Path(__file__).resolve().parent.parent


def _cpu(argv: list[str], env: dict) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, check=True, capture_output=True, cwd=ROOT, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    byte_compile()
    cache = Path(tempfile.mkdtemp(prefix="symroof-bench-cache-"))
    env = {**os.environ, "SYMROOF_CACHE_DIR": str(cache)}
    cmd = [sys.executable, "-m", "symroof", "validate", "--json"]
    floor, cold, warm = [], [], []
    for _ in range(args.repeat):        # interleaved, so a noisy neighbour hits all three
        floor.append(_cpu([sys.executable, "-c", "import sympy"], env))
        shutil.rmtree(cache, ignore_errors=True)
        cold.append(_cpu(cmd, env))
        warm.append(_cpu(cmd, env))
    shutil.rmtree(cache, ignore_errors=True)
    f, c, w = (statistics.median(x) for x in (floor, cold, warm))
    print(f"import sympy:                    {f:.2f} s CPU")
    print(f"symroof validate (all), cold:    {c:.2f} s CPU, {c / f:.1f}x (target 3x)")
    print(f"symroof validate (all), warm:    {w:.2f} s CPU, {w / f:.1f}x (target 3x)")


if __name__ == "__main__":
    main()
