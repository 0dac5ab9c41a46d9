"""``symroof serve`` and ``symroof plot pareto``: JSON keys, the book's worked serving numbers, refusals."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from symroof.cli import main

KEYS = ("decode_step_s", "prefill_s", "tokens_per_s", "tokens_per_s_per_chip", "max_batch", "min_chips",
        "kv_bytes_per_token", "weight_bytes", "critical_batch", "bound", "mesh", "memory_per_chip_bytes")


def _run(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def _json(*argv):
    code, out, err = _run(*argv, "--json")
    assert code == 0, err
    return json.loads(out)


def test_serve_book_4x2_int8():
    # applied-inference.md: LLaMA 3-70B, int8 weights and cache, batch 32 at 8192, TPU v5e 4x2:
    # "112e9 / (8 * 8.1e11) = 17ms", "235 tokens / sec / chip", about 7 chips of HBM
    r = _json("serve", "llama3-70b", "--chip", "tpu-v5e", "--chips", "8", "--batch", "32",
              "--weights-dtype", "int8", "--mesh", "tensor=8")
    assert set(KEYS) <= set(r)
    assert r["decode_step_s"] == pytest.approx(17e-3, rel=0.03)
    assert r["tokens_per_s_per_chip"] == pytest.approx(235, rel=0.03)
    assert r["kv_bytes_per_token"] == 163840                           # 2 * 8 * 128 * 80 in int8
    assert r["min_chips"] == 8 and r["bound"] == "hbm"
    assert r["critical_batch"] == pytest.approx(1.97e14 / (2 * 8.1e11), rel=0.02)   # ~120 (int8 weights)


def test_serve_prefill_and_generation():
    # "2 * 70e9 * 8192 / (16 * 1.97e14 * 0.4) = 0.91s" is 2·P·T; the graph's per-op count adds attention
    r = _json("serve", "llama3-70b", "--chip", "tpu-v5e", "--chips", "16", "--batch", "8",
              "--prompt", "8192", "--generate", "512", "--mfu", "0.4", "--weights-dtype", "int8")
    assert 0.91 < r["prefill_s"] < 0.91 * 1.15
    assert r["generation_s"] == pytest.approx(512 * r["decode_step_s"])


def test_serve_search_front_is_a_pareto_front():
    r = _json("serve", "llama3-70b", "--chip", "tpu-v5e", "--chips", "16", "--weights-dtype", "int8")
    front = r["pareto"]
    assert len(front) > 3
    steps = [p["decode_step_s"] for p in front]
    rates = [p["tokens_per_s_per_chip"] for p in front]
    assert steps == sorted(steps) and rates == sorted(rates)
    assert all(p["memory_per_chip_bytes"] <= 16e9 for p in front)
    # the book's 4x4 pareto: from about 5.5 ms at batch 1 up to about 20 ms at full HBM
    assert front[0]["decode_step_s"] == pytest.approx(5.5e-3, rel=0.05)
    assert front[-1]["decode_step_s"] < 21e-3


@pytest.mark.parametrize("args, words", [
    (["--batch", "0"], "--batch"),
    (["--batch", "-4"], "--batch"),
    (["--context", "nan"], "--context"),
    (["--chips", "inf"], "--chips"),
    (["--batch", "5000"], "does not fit"),
    (["--math-dtype", "fp8"], "no fp8 peak"),
    (["--kv-dtype", "fp32"], "wider than the math"),
    (["--weights-dtype", "int3"], "allowed"),
    (["--mfu", "2", "--prompt", "8"], "--mfu"),
    (["--mesh", "tensor=3"], "uses"),
    (["--mesh", "stage=2"], "tensor=Y"),
    (["--batch", "8", "--mesh", "tensor=8", "--mesh", "tensor=4"], "--mesh tensor given twice"),   # the last won
    (["--batch", "8", "--mfu", "0.4"], "add --prompt"),                   # was ignored: no prefill to time
])
def test_serve_refusals_are_one_line(args, words):
    argv = ["serve", "llama3-70b", "--chip", "tpu-v5e", "--chips", "16"]
    if "--chips" in args:
        argv = argv[:-2]
    code, out, err = _run(*argv, *args)
    assert code == 2
    assert words in err and err.count("\n") == 1 and "Traceback" not in err


def test_batch_that_does_not_fit_says_by_how_much():
    code, _, err = _run("serve", "llama3-70b", "--chip", "tpu-v5e", "--chips", "8", "--batch", "64",
                        "--weights-dtype", "int8", "--mesh", "tensor=8")
    assert code == 2 and "GB over" in err and "at most 42 sequences" in err


def test_tensor_axis_beyond_one_nvlink_domain_is_refused_naming_the_domain():
    """An H100 NVLink domain is 8 GPUs (the card's pod_shape): tensor=16 was answered 'inf GB per chip,
    at most 0 of the 16 chips' before; it is a mesh serve does not lay out, and says so."""
    code, _, err = _run("serve", "llama3-8b", "--chip", "h100-sxm", "--chips", "16", "--mesh", "tensor=16",
                        "--batch", "4")
    assert code == 2 and "--mesh tensor=16" in err and "NVLink domain (8 GPUs)" in err
    assert "inf" not in err and err.count("\n") == 1
    code, _, err = _run("serve", "llama3-8b", "--chip", "h100-sxm", "--chips", "16", "--mesh", "tensor=8",
                        "--batch", "4")
    assert code == 0, err


def test_context_beyond_a_learned_position_table_says_by_how_much():
    """GPT-2's table has n_positions = 1024 rows (its config.json); a 1536-token context cannot run."""
    code, _, err = _run("serve", "gpt2-124m", "--chip", "h100-sxm", "--chips", "1", "--context", "1536")
    assert code == 2 and "exceed it by 512" in err and err.count("\n") == 1
    code, _, err = _run("serve", "gpt2-124m", "--chip", "h100-sxm", "--chips", "1", "--context", "1024", "--batch", "8")
    assert code == 0, err


def test_serve_reads_whole_numbers_as_plan_does():
    """'40.0' and '4e1' are the whole number 40, as `plan --chips 8.96e3` is 8960; 1.5 is refused."""
    base = ("serve", "llama3-8b", "--chip", "tpu-v5e", "--chips", "8", "--json")
    runs = [_run(*base, "--batch", text) for text in ("40", "40.0", "4e1")]
    assert all(code == 0 for code, _, _ in runs) and len({out for _, out, _ in runs}) == 1
    code, _, err = _run(*base, "--batch", "1.5")
    assert code == 2 and "whole number" in err


def test_plot_pareto(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "pareto.png"
    code, out, err = _run("plot", "pareto", "llama3-70b", "--chip", "tpu-v5e", "--chips", "16",
                          "--weights-dtype", "int8", "--context", "2048", "--context", "8192", "-o", str(path))
    assert code == 0, err
    assert path.stat().st_size > 10_000


def test_reproduce_inference_and_serving_render():
    for name in ("inference", "serving"):
        code, out, err = _run("reproduce", name, "--json")
        assert code == 0, err
        assert len(json.loads(out)) > 60


@pytest.mark.parametrize("chips, words", [(8, "for this batch: 1 chip\n"), (16, "for this batch: 4 chips\n")])
def test_the_smallest_slice_is_counted_in_words(chips, words):
    """GPT-2 XL's 3.1 GB of weights fit one H100: "1 chip", not "1 chips". Llama 3 70B's 141 GB and
    16 sequences' 43 GB of 8K-token cache need three 80 GB H100s, so four (a tensor degree that
    divides its 8 KV heads)."""
    model = "gpt2-xl" if chips == 8 else "llama3-70b"
    code, out, err = _run("serve", model, "--chip", "h100-sxm", "--chips", str(chips), "--batch", "16",
                          "--prompt", "512", "--generate", "128")
    assert code == 0, err
    assert words in out
