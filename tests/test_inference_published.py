"""Published serving measurements never beat symroof's decode bounds (derivations/published_serving.yaml).

The bound is a roofline (weights and cache at full HBM bandwidth, matmuls at peak, the
shortest cache a decode step can have), so a measured output throughput above it, or a
measured inter-token latency below the single-sequence step, fails.
"""

from __future__ import annotations

import pytest

from symroof.claims.serving_runs import rows


@pytest.fixture(scope="module")
def results():
    return rows()


def test_every_row_is_checked(results):
    assert len(results) == 13
    assert {r.chip for r in results} == {"h100-sxm"}


def test_measured_throughput_below_the_bound(results):
    for r in results:
        assert r.measured_tokens_per_s <= r.bound_tokens_per_s, (r.run, r.concurrency, r.input)


def test_measured_latency_above_the_floor(results):
    for r in results:
        if r.measured_itl_s is not None:
            assert r.measured_itl_s >= r.itl_floor_s, (r.run, r.concurrency)


def test_memory_caps_the_batch(results):
    # 5000-token caches of LLaMA 3 70B in fp8 beside 70.6 GB of fp8 weights on 2 x 80 GB:
    # (160e9 - 70.55e9) / (5000 * 163840) = 109 sequences, so concurrency 150+ cannot all decode
    capped = [r for r in results if r.concurrency >= 150]
    assert capped and all(r.batch_used == 109 for r in capped)


def test_a_model_change_gets_the_cards_checks(tmp_path):
    """model_changes went through int(): a vocabulary of 32000.5 was read as 32000."""
    from symroof.errors import CardError
    from symroof.io.catalog import data_dir

    text = (data_dir("derivations") / "published_serving.yaml").read_text()
    path = tmp_path / "serving.yaml"
    path.write_text(text.replace("model_changes: {vocab: 32000}", "model_changes: {vocab: 32000.5}"))
    with pytest.raises(CardError, match="model_changes: key 'vocab'"):
        rows(path)
