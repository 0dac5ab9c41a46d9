"""A pipeline splits every layer among its stages, a block type of one layer too.

Hand derivation: a model written as two block types of identical layers, ``[[a, 1], [b, 31]]``,
is LLaMA 3 8B (32 layers of one kind) under another name. Its numbers on any mesh must be the
uniform card's: on 4 stages each chip runs 32 / 4 = 8 layers' work a microbatch and holds 8 layers' weights, whichever type
they are (Narayanan et al. 2021, arXiv 2104.04473, 2.2: each stage holds L/p layers). Before the
fix the one-layer type was taken for the embedding or the head (its repeat, 1 once the counts are
numbers, read as "not per layer"): each stage charged it whole, 1 + 31/4 = 8.75 layers, and the
step model's compute was 7.6 % high (1.704 s against 1.581 s on 32 H100s).
Tolerance: relative 1e-9 (the same numbers summed in another order).
"""

from __future__ import annotations

from pathlib import Path

import pytest

RUN = """\
runs:
  - name: pp4
    source: test
    model: {model}
    chip: h100-sxm
    chips: 32
    mesh:
      tensor: {{size: 8, link: ici}}
      stage: {{size: 4, link: dcn}}
    batch: 64
    seq: 4096
    microbatches: 16
"""
CARD = (Path(__file__).resolve().parent.parent / "models" / "llama3-8b.yaml").read_text()


def _split_card(tmp_path, segments: str) -> Path:
    path = tmp_path / f"split-{len(segments)}.yaml"
    path.write_text(CARD.replace("name: llama3-8b", "name: llama3-8b-split") + "block_types:\n"
                    "  a: {attention: global, mlp: dense}\n  b: {attention: global, mlp: dense}\n"
                    f"layers: {segments}\n")
    return path


def _forecast(tmp_path, model: str):
    from symroof.claims.forecast import forecast

    runs = tmp_path / f"runs-{abs(hash(model))}.yaml"
    runs.write_text(RUN.format(model=model))
    (row,) = forecast(str(runs))
    return row


@pytest.mark.parametrize("segments", ["[[a, 1], [b, 31]]", "[[a, 31], [b, 1]]", "[[a, 2], [b, 30]]"])
def test_a_one_layer_block_type_is_split_among_the_stages(tmp_path, segments):
    from symroof.claims.forecast import as_json

    want = as_json([_forecast(tmp_path, "llama3-8b")])["configurations"][0]
    got = as_json([_forecast(tmp_path, str(_split_card(tmp_path, segments)))])["configurations"][0]
    for key in ("t_ideal_s", "ceiling_mfu", "predicted_step_s"):
        assert got[key] == pytest.approx(want[key], rel=1e-9), key
    for key, value in want["terms"].items():
        assert got["terms"][key] == pytest.approx(value, rel=1e-9), key


def _weights_per_chip(card, stages: int) -> float:
    import sympy as sp

    from symroof.core.graph import Structure, build
    from symroof.core.symbols import B, T, n_micro
    from symroof.io.bind import evaluate, model_values
    from symroof.io.run import RunSettings
    from symroof.parallel.collectives import Axis
    from symroof.parallel.roofline import memory_per_chip
    from symroof.parallel.sharding import shard

    mesh = {"stage": Axis("stage", sp.Integer(stages), "dcn")}
    sg = shard(build(Structure.of(card), "causal"), mesh)
    values = {**model_values(card), **RunSettings().values(), B: 8, T: 4096, n_micro: 4}
    return float(evaluate(memory_per_chip(sg)["params"], values))


def test_a_pipeline_chip_holds_its_layers_and_one_end(tmp_path):
    """LLaMA 3 8B's bf16 weights on one chip of 4 stages, by hand: 8 of the 32 layers
    (D·(2·N·H + 2·K·H) + 3·D·F + 2·D each) and the larger end of the pipeline, the last stage's
    final norm and V×D head (D more than the first stage's V×D token table). Not both tables: the
    first stage holds the lookup, the last the head (Narayanan et al. 2021, 2.2; Llama 3, arXiv
    2407.21783, 3.3.2); counting both was 23 % high here (5.59 GB against 4.54 GB)."""
    from symroof.io.catalog import load_model

    D, F, N, K, H, V = 4096, 14336, 32, 8, 128, 128256
    layer = D * (2 * N * H + 2 * K * H) + 3 * D * F + 2 * D
    want = (8 * layer + V * D + D) * 2
    assert _weights_per_chip(load_model("llama3-8b"), 4) == pytest.approx(want, rel=1e-12)
    split = load_model(str(_split_card(tmp_path, "[[a, 1], [b, 31]]")))
    assert _weights_per_chip(split, 4) == pytest.approx(want, rel=1e-12)
    # without a pipeline the one chip holds both tables
    assert _weights_per_chip(load_model("llama3-8b"), 1) == pytest.approx((32 * layer + 2 * V * D + D) * 2, rel=1e-12)


def test_a_tied_table_is_on_both_ends_once_each():
    """GPT-2 124M (tied): the first stage holds the token and position tables (V·D + V_pos·D), the
    last the final LayerNorm (2·D) and its copy of the token table (Megatron-LM's embedding group);
    the first is the larger. On 3 stages a chip holds 4 of the 12 layers, each 12·D² + 13·D
    (c_attn 3·D² + 3·D, c_proj D² + D, c_fc 4·D² + 4·D, mlp c_proj 4·D² + D, two LayerNorms 4·D)."""
    from symroof.io.catalog import load_model

    D, V, Vp = 768, 50257, 1024
    layer = 12 * D * D + 13 * D
    want = (4 * layer + V * D + Vp * D) * 2
    assert _weights_per_chip(load_model("gpt2-124m"), 3) == pytest.approx(want, rel=1e-12)
