"""The benchmarks still run: each imports, and the in-process parts of ``bench_count`` run once.

A benchmark is not a test of speed (its figures go in the README), but one that no longer runs
measures nothing: ``bench_count`` cleared a cache that had moved (``graph.build`` became a front
for the cached ``graph._build``) and failed for a whole round before anyone ran it.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(autouse=True)
def _on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))


@pytest.mark.parametrize("name", sorted(p.stem for p in BENCHMARKS.glob("bench_*.py")))
def test_each_benchmark_imports_and_has_a_main(name):
    module = importlib.import_module(name)
    assert callable(module.main)


def test_bench_counts_in_process_measurement_runs():
    bench_count = importlib.import_module("bench_count")
    seconds = bench_count.derive_warm("llama3-8b")
    assert 0 < seconds < 60
