"""Chips symroof does not ship: a card for a PCIe GPU (one GPU per fast domain), ``--set`` on
shipped cards, and the messages a wrong or hostile number gets.

Independent numbers: the NVIDIA L40S datasheet (tests/data/chips/l40s.yaml) gives 362.05 TFLOP/s
dense BF16 and 864 GB/s, so its ridge point is 362.05e12 / 864e9 = 419.0 FLOPs/byte; it has no
NVLink, so each GPU is its own fast domain (pod_shape [1]) and a job of 8 GPUs crosses the
scale-out network on every axis.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from symroof.cli import main

ROOT = Path(__file__).resolve().parent.parent
PLAN = ["plan", "llama3-8b", "--batch-tokens", "12288", "--seq", "4096", "--strategy", "dp"]


def _cli(args, timeout=60):
    out = subprocess.run([sys.executable, "-m", "symroof", *args], capture_output=True, text=True,
                         timeout=timeout)
    return out.returncode, out.stdout, out.stderr


def test_a_cached_reason_names_the_chip_of_this_run(capsys):
    # v5e and v6e share a topology (16x16, wrap on a full axis), so they share the cached
    # candidates; the reason kept with them named the chip that filled the cache
    for chip in ("tpu-v5e", "tpu-v6e"):
        assert main(PLAN + ["--chip", chip, "--chips", "3"]) == 2
        err = capsys.readouterr().err
        assert f"on 3 {chip}:" in err and ("tpu-v5e" if chip == "tpu-v6e" else "tpu-v6e") not in err
