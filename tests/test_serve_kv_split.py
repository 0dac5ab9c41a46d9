"""The KV cache one chip of a serving replica holds, against the cache's layout worked out by hand:
GQA's K heads split over the tensor axis up to K chips, each chip past K holding one head whole
(Megatron-style replication of KV heads); MLA's latent and RoPE key, read by every head, whole on
every chip. Before, the cache was spread evenly over all Y chips in both cases."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _serve(*argv) -> dict:
    done = subprocess.run([sys.executable, "-m", "symroof", "serve", *argv, "--json"], capture_output=True,
                          text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_gqa_past_its_kv_heads_holds_one_head_per_chip():
    """LLaMA 3 70B (8 KV heads of 128, 80 layers) on tensor = 32, bf16 cache: each chip holds one KV
    head's keys and values for every layer, 2 x 80 x 128 x 2 B per token, for 64 sequences of 8192."""
    out = _serve("llama3-70b", "--chip", "gb200-nvl72", "--chips", "32", "--mesh", "tensor=32", "--batch", "64",
                 "--context", "8192")
    cache = 2 * 80 * 128 * 2 * 8192 * 64
    assert out["memory_per_chip_bytes"] - out["weight_bytes"] / 32 == pytest.approx(cache, rel=1e-12)
    # up to K chips the heads split: on 8, one head each too; on 4, two
    for y, heads in ((8, 1), (4, 2)):
        out = _serve("llama3-70b", "--chip", "gb200-nvl72", "--chips", str(y), "--mesh", f"tensor={y}", "--batch",
                     "8", "--context", "8192")
        assert out["memory_per_chip_bytes"] - out["weight_bytes"] / y == pytest.approx(cache / 8 * heads, rel=1e-12)


def test_mla_keeps_its_latent_whole_on_every_chip():
    """DeepSeek-V3 (arXiv 2412.19437, 2.1.1: a latent of 512 and a RoPE key of 64 per token and layer,
    61 layers) on tensor = 16, bf16: (512 + 64) x 61 x 2 B per token on every chip, 64 sequences of 8192;
    the decode step reads it from every chip's HBM (at least that over the card's 8 TB/s)."""
    out = _serve("deepseek-v3", "--chip", "gb200-nvl72", "--chips", "16", "--mesh", "tensor=16", "--batch", "64",
                 "--context", "8192")
    cache = (512 + 64) * 61 * 2 * 8192 * 64
    assert out["memory_per_chip_bytes"] - out["weight_bytes"] / 16 == pytest.approx(cache, rel=1e-12)
    assert out["decode_step_s"] > cache / 8e12
