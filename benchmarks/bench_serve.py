"""Benchmark: a `symroof serve` search for LLaMA 3 70B, as a whole process, next to a bare SymPy import.

For each slice of 16 to 256 TPU v5e chips, `symroof serve llama3-70b --chip tpu-v5e --chips N
--weights-dtype int8` searches every tensor degree and a grid of batches and prints the
Pareto front; its wall time is reported as a ratio to `python -c "import sympy"` measured in
the same run, interleaved (the machine is shared). Target: within 3x.

    python benchmarks/bench_serve.py [--repeat 5]
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
CHIPS = (16, 32, 64, 128, 256)


def process(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    byte_compile()
    bare, serve = [], {n: [] for n in CHIPS}
    for _ in range(repeat):
        bare.append(process([sys.executable, "-c", "import sympy"]))
        for n in CHIPS:
            serve[n].append(process([sys.executable, "-m", "symroof", "serve", "llama3-70b", "--chip", "tpu-v5e",
                                     "--chips", str(n), "--weights-dtype", "int8"]))
    bare_s = statistics.median(bare)
    print(f"python -c 'import sympy':                     {bare_s:.3f} s")
    for n in CHIPS:
        s = statistics.median(serve[n])
        print(f"symroof serve llama3-70b on {n:3d} x tpu-v5e:   {s:.3f} s  ({s / bare_s:.2f}x, target 3x)")


if __name__ == "__main__":
    main()
