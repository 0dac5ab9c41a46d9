"""A pipeline splits every layer among its stages, a block type of one layer too.

Hand derivation: a model written as two block types of identical layers, ``[[a, 1], [b, 31]]``,
is LLaMA 3 8B (32 layers of one kind) under another name. Its numbers on any mesh must be the
uniform card's: on 4 stages each chip runs 32 / 4 = 8 layers' work a microbatch, whichever type
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
