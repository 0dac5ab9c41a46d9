"""An MoE's decode step reads only the experts its tokens are routed to (the book's inference.md
on MoE: all experts are loaded only once the batch is large enough to reach every one), checked
against the published active parameter counts and a simulation of uniform top-k routing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from symroof.core.graph import Structure
from symroof.core.symbols import B, b_param
from symroof.io.bind import model_values
from symroof.io.catalog import load_model
from symroof.solve import inference as inf

ROOT = Path(__file__).resolve().parent.parent


def _weights_read(card, batch: int) -> float:
    parts = inf.decode_parts(Structure.of(card))
    return float(parts["bytes_weights_step"].xreplace({**model_values(card), B: batch, b_param: 1}))


def test_one_token_reads_the_active_parameters():
    """Mixtral 8x7B: "12.9B active parameters" (Mistral AI's release post, mistral.ai/news/mixtral-of-experts,
    Dec 2023; arXiv 2401.04088 says 13B), the token table included. One decode token reads all but
    that table, of which it reads one row: 12.9e9 - 32000 x 4096 (+ 4096), to the post's rounding (0.4 %)."""
    card = load_model("mixtral-8x7b")
    published = 12.9e9 - card.vocab * card.d_model + card.d_model
    assert _weights_read(card, 1) == pytest.approx(published, rel=0.004)
    # every expert once the tokens reach them all: the same bytes as the dense count of all weights
    every = float(inf.decode_parts(Structure.of(card))["bytes_weights"].xreplace(
        {**model_values(card), B: 1, b_param: 1}))
    assert _weights_read(card, 4096) == pytest.approx(every + 4095 * card.d_model, rel=1e-9)


@pytest.mark.parametrize("batch", [1, 2, 3, 8, 32])
def test_experts_read_match_a_simulation_of_uniform_routing(batch):
    """Each of ``batch`` tokens picks k = 2 of E = 8 experts at random (uniform, without replacement):
    the mean count of distinct experts over 40,000 simulated steps, against the experts' weight
    bytes the step reads over one expert's (to 1.5 %, about six standard errors at one token)."""
    card = load_model("mixtral-8x7b")
    trials, e, k = 40_000, card.n_experts, card.experts_per_token
    rng = np.random.default_rng(0)
    picks = np.argsort(rng.random((trials, batch, e)), axis=2)[:, :, :k].reshape(trials, -1)
    hit = np.zeros((trials, e), bool)
    np.put_along_axis(hit, picks, True, axis=1)
    # the step's bytes, less those of a step that reached no expert (its share set to 0)
    g = inf.graph(Structure.of(card), "decode")
    read = inf.weight_bytes_read(g, routed=True)
    none = read.xreplace({inf.expert_share(g): 0})
    one_expert = 3 * card.d_model * card.d_ff * card.n_layers
    experts = float((read - none).xreplace({**model_values(card), B: batch, b_param: 1})) / one_expert
    assert experts == pytest.approx(hit.sum(axis=1).mean(), rel=0.015)


def test_serve_at_batch_one_is_bound_by_the_active_weights(tmp_path):
    """gpt-oss-20b (OpenAI's model card, arXiv 2508.10925, Table 1: 3.6B active parameters, the
    unembedding counted and the token table not): one sequence on 8 H100s reads those and one table
    row at 3.35 TB/s per GPU, plus a cache of 1024 tokens; to the card's rounding (1.5 %: 3.6 of
    3.55 to 3.65)."""
    path = ROOT / "tests" / "data" / "published_shapes.json"
    config = {k: v for k, v in json.loads(path.read_text())["gpt-oss-20b"].items() if not k.startswith("_")}
    (tmp_path / "config.json").write_text(json.dumps(config))
    done = subprocess.run([sys.executable, "-m", "symroof", "serve", str(tmp_path / "config.json"), "--chip",
                           "h100-sxm", "--chips", "8", "--mesh", "tensor=8", "--batch", "1", "--context",
                           "1024", "--json"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    weights = (3.6e9 + config["hidden_size"]) * 2
    kv = out["kv_bytes_per_token"] * 1024
    assert out["bound"] == "hbm"
    assert out["decode_step_s"] == pytest.approx((weights + kv) / (8 * 3.35e12), rel=0.015)
