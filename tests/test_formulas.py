"""Named results: one registry, instantiated with units; one M rule for plan, plot and formula.

Independent numbers: the book's training.md / applied-training.md at 0819a7d. X_opt for
LLaMA 3 70B on a full v5p pod at a 4M-token batch is printed as 1618 (sqrt(2·B·N/F) with
B = 4,194,304 tokens, N = 8960, F = 28,672); FSDP on v5p is compute-bound above
C/W_ici/M_X = 2550/3 = 850 tokens per chip; with int8 the peak, and so the bound, doubles
(tpus.md table: 9.18e14 int8 vs 4.59e14 bf16).
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp

from symroof.claims import registry
from symroof.claims.formulas import instantiate
from symroof.claims.reproduce import load
from symroof.cli import main
from symroof.core.symbols import INFO, L, M_X, M_Y, n_chips
from symroof.io.catalog import load_chip, load_model
from symroof.io.run import RunSettings

ROOT = Path(__file__).resolve().parent.parent
SEED = ["--model", "llama3-70b", "--chip", "tpu-v5p", "--chips", "8960", "--batch-tokens", "4194304"]


def _json(capsys, *argv):
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_every_symbol_and_every_result_has_a_unit_entry():
    assert all(isinstance(info.unit, str) for info in INFO.values())
    assert INFO["W_ici"].unit == "B/s" and INFO["C"].unit == "FLOP/s" and INFO["n_chips"].unit == "chips"
    for name, r in registry.results().items():
        assert r.how in registry.HOW, name
        assert r.description, name
    assert registry.lookup("x_opt").unit == "chips"
    assert registry.lookup("fsdp_critical_batch").unit == "tokens"


def test_every_derivation_quantity_is_a_registered_result():
    for name in ("seed", "transformers", "training"):
        doc = load(name)
        for claim in doc["claims"]:
            registry.lookup(claim["quantity"])


def test_x_opt_on_the_books_inputs(capsys):
    out = _json(capsys, "formula", "x_opt", *SEED, "--seq", "4096", "--book-layer", "--json")
    assert set(out) >= {"expression", "latex", "value", "unit", "free_symbols"}
    assert out["value"] == pytest.approx(1618, rel=1e-3)          # applied-training.md prints 1618
    assert out["unit"] == "chips" and out["free_symbols"] == []
    assert out["expression"] == "sqrt(B*M_X*T*n_chips/(F*M_Y))"


def test_text_output_has_the_closed_form_the_substitution_and_the_number_with_its_unit(capsys):
    assert main(["formula", "fsdp_critical_batch", *SEED, "--book-layer"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("fsdp_critical_batch = ")
    assert any("M_X = 3" in line for line in lines)                # a whole v5p pod: three wrapped axes
    assert lines[-1] == "fsdp_critical_batch = 850 tokens"         # 2550 / 3, sharding.md


def test_partial_substitution_keeps_the_rest_free(capsys):
    out = _json(capsys, "formula", "x_opt", "--at", "n_chips=8960", "--json")
    assert out["value"] is None and "n_chips" not in out["free_symbols"] and "B" in out["free_symbols"]
    assert out["values"] == {"n_chips": "8960"}


def test_at_takes_values_with_units():
    out = subprocess.run([sys.executable, "-m", "symroof", "formula", "fsdp_critical_batch", "--book-layer",
                          "--at", "C=459TFLOP/s", "--at", "W_ici=180GB/s", "--at", "M_X=3", "--at", "b_act=2B",
                          "--json"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["value"] == pytest.approx(850)


@pytest.mark.parametrize("at, words", [
    ("Q=3", ["unknown symbol 'Q'"]),
    ("W_ici=1.8e11", ["give W_ici's unit", "B/s"]),           # unit-less bandwidth
    ("n_chips=-8", ["must be positive"]),
    ("n_chips=2*4096", ["not a number"]),                      # never parsed as an expression
    ("n_chips=__import__", ["not a number"]),
    ("W_ici=1.8e11GB", ["W_ici is in B/s"]),
    ("n_chips=1e400", ["out of range"]),
    ("W_hbm=1e12B/s", ["has no symbol W_hbm"]),
])
def test_bad_at_values_are_one_line_errors(at, words):
    out = subprocess.run([sys.executable, "-m", "symroof", "formula", "x_opt", "--at", at],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    for w in words:
        assert w in out.stderr


def test_a_models_own_structure_is_used_not_the_books_layer():
    card = load_model("llama3-70b")
    own = instantiate("x_opt", card)
    book = instantiate("x_opt", card, book_layer=True)
    assert L in own.expr.free_symbols and L not in book.expr.free_symbols
    assert "llama3-70b" in own.structure and "book" in book.structure
    # the book's layer is the model's MLP alone: with attention, norms and embeddings the
    # TP activations per layer grow, so X_opt (more FSDP, less TP) differs
    assert sp.simplify(own.expr - book.expr) != 0


def test_int8_math_uses_the_int8_peak(capsys):
    bf16 = _json(capsys, "formula", "fsdp_critical_batch", *SEED, "--book-layer", "--json")
    int8 = _json(capsys, "formula", "fsdp_critical_batch", *SEED, "--book-layer", "--dtype", "int8", "--json")
    assert int8["value"] == pytest.approx(2 * bf16["value"]) == pytest.approx(1700)
    out = subprocess.run([sys.executable, "-m", "symroof", "formula", "x_opt", "--chip", "tpu-v5p",
                          "--dtype", "fp8"], capture_output=True, text=True, cwd=ROOT)
    # the flag is named, not the chip card's file and key
    assert out.returncode == 2 and out.stderr.startswith("symroof: error: --dtype fp8: the chip card tpu-v5p has "
                                                         "peak_flops_per_s for bf16, int8"), out.stderr


def test_an_unused_peak_is_named_not_silently_kept(capsys):
    out = _json(capsys, "formula", "fsdp_critical_batch", *SEED, "--book-layer",
                "--set", "peak_flops_per_s.fp8=9e14", "--json")
    assert out["chip"] == "tpu-v5p (modified: peak_flops_per_s.fp8=9e14)"
    assert any("peak_flops_per_s.fp8=9e14 is not used" in n for n in out["notes"])


@pytest.mark.parametrize("chip, chips", [("tpu-v5e", 64), ("tpu-v5e", 256), ("tpu-v5p", 8960),
                                         ("tpu-v5p", 16), ("tpu-v4", 4096)])
def test_plan_plot_and_formula_use_one_m_rule(chip, chips):
    """Issue 8: for 64 v5e chips plan said M_X = 2 and the plot 1. Now all read io.bind.mesh_m."""
    pytest.importorskip("matplotlib")
    from symroof.report.plot import ratio_curves
    from symroof.search.plan import closed_forms

    card, c = load_model("llama3-70b"), load_chip(chip)
    cf = closed_forms(card, c, chips, 1024, 4096, RunSettings())
    curves = ratio_curves(card, c, chips)
    inst = instantiate("x_opt", card, c, RunSettings(), chips, 4194304, 4096, book_layer=True)
    single = instantiate("fsdp_critical_batch", card, c, RunSettings(), chips, book_layer=True)
    assert float(curves["M"]["FSDP+TP"][M_X]) == cf["fsdp_tp"]["M_X"] == float(inst.values[M_X])
    assert float(curves["M"]["FSDP+TP"][M_Y]) == cf["fsdp_tp"]["M_Y"] == float(inst.values[M_Y])
    assert float(curves["M"]["FSDP"][M_X]) == cf["fsdp"]["M_X"] == float(single.values[M_X])
    assert inst.number == pytest.approx(cf["fsdp_tp"]["x_opt"], rel=1e-12)
    assert inst.values[n_chips] == chips


@pytest.mark.parametrize("chips, bandwidth", [(8, 450e9), (512, 400e9)])
def test_an_fsdp_ring_across_nodes_runs_at_the_nodes_nics_together(chips, bandwidth):
    """nccl-tests PERFORMANCE.md: a ring's time is its volume over the bus bandwidth, the slowest
    link a rank uses. Inside one DGX H100 that is NVLink's 450 GB/s per GPU; across nodes each node's
    8 x 400 Gb/s NICs carry the ring, 400 GB/s. So the book's FSDP critical batch C·b/(2·M_X·W) is
    989e12 x 2 / (2 x 450e9) = 2198 tokens in one node and / (2 x 400e9) = 2472.5 across 64 nodes,
    in formula and in plan's book bounds alike."""
    from symroof.search.plan import closed_forms

    card, chip = load_model("llama3-70b"), load_chip("h100-sxm")
    want = 989e12 * 2 / (2 * bandwidth)
    single = instantiate("fsdp_critical_batch", card, chip, RunSettings(), chips, book_layer=True)
    assert single.number == pytest.approx(want, rel=1e-12)
    cf = closed_forms(card, chip, chips, 1024, 4096, RunSettings())
    assert cf["fsdp"]["critical_per_chip_batch"] == pytest.approx(want, rel=1e-12)


def test_the_m_rule_follows_the_books_wraparound():
    """tpus.md: a full 16-axis of v5e wraps, a 4x4x4 v5p cube wraps, a 2x2x4 v5p slice does not
    (half the bandwidth: M counts half per axis)."""
    from symroof.io.bind import mesh_m

    assert mesh_m(load_chip("tpu-v5e"), 256)["fsdp"] == 2
    assert mesh_m(load_chip("tpu-v5p"), 64)["fsdp"] == 3
    assert mesh_m(load_chip("tpu-v5p"), 16)["fsdp"] == sp.Rational(3, 2)
    assert mesh_m(load_chip("h100-sxm"), 64)["link"] == "dcn"


def test_an_moe_card_says_why_there_is_no_closed_form():
    out = subprocess.run([sys.executable, "-m", "symroof", "formula", "x_opt", "--model", "mixtral-8x7b"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2 and "dense models" in out.stderr and "--book-layer" in out.stderr


@pytest.mark.parametrize("model, seq, expected", [
    # DeepSeek-V3 (arXiv 2412.19437, 2.1.1): 61 layers, each caching its 512-wide latent and 64-wide RoPE key
    ("deepseek-v3", 8192, 61 * (512 + 64) * 2 * 8192),
    # Qwen3-Next-80B-A3B's config.json: 12 full-attention layers cache K and V (2 heads of 256) for every
    # token; 36 Gated DeltaNet layers hold a 128 x 128 state per value head (32) and their conv's last 4
    # inputs of q, k (16 heads of 128 each) and v (32 of 128), whatever the length
    ("tests/data/hf/Qwen3-Next-80B-A3B/config.json", 8192,
     (12 * 2 * 2 * 256 * 8192 + 36 * (32 * 128 * 128 + 4 * (2 * 16 * 128 + 32 * 128))) * 2),
    # Gemma 2 9B's config.json: 42 layers, every second one sliding (window 4096: transformers keeps its last
    # 4095 entries), 8 KV heads of 256
    ("tests/data/hf/gemma-2-9b/config.json", 8192, 2 * 8 * 256 * (21 * 8192 + 21 * 4095) * 2),
])
def test_kv_cache_bytes_of_models_whose_layers_differ(capsys, model, seq, expected):
    """Every block's cache, not one uniform layer's (the formula used to fail on these with a KeyError)."""
    out = _json(capsys, "formula", "kv_cache_bytes", "--model", model, "--seq", str(seq), "--json")
    assert out["value"] == expected


@pytest.mark.parametrize("model, chips", [("llama3-70b", 8), ("deepseek-v3", 64)])
def test_the_step_at_the_batch_that_fills_hbm_reads_about_all_of_it(capsys, model, chips):
    """At B_max the weights and the caches fill HBM, and a decode step reads all of it but the token table's
    unused rows: at least (M_hbm - V·D·b_param / chips) / W_hbm (h100-sxm: 80 GB at 3.35 TB/s). An MoE model's
    step (its expert share a power of B) used to hang in sp.simplify."""
    out = _json(capsys, "formula", "full_hbm_step_time", "--model", model, "--chip", "h100-sxm", "--chips",
                str(chips), "--at", "S=8192", "--at", "b_kv=2B", "--json")
    vocab_bytes = {"llama3-70b": 128256 * 8192 * 2, "deepseek-v3": 129280 * 7168 * 2}[model]
    assert out["value"] >= (80e9 - vocab_bytes / chips) / 3.35e12
    if model == "llama3-70b":      # memory-bound: nothing but the reads
        assert out["value"] <= 80e9 / 3.35e12


@pytest.mark.parametrize("model, chip", [
    ("deepseek-v3", []),
    ("tests/data/hf/gemma-2-9b/config.json", ["--chip", "h100-sxm", "--chips", "64", "--batch-tokens", "1048576",
                                              "--seq", "4096"])])
def test_every_result_on_a_model_whose_layers_differ_gives_a_value_or_a_one_line_error(capsys, model, chip):
    """DeepSeek-V3 (MLA, dense and MoE blocks) and Gemma 2 (sliding and global layers), with and without a
    chip: each named result prints its value, or says in one line why not (exit 2). Without a chip, 17 of
    them raised AttributeError; the KV crossover on Gemma 2, SymPy's NotImplementedError."""
    for name in sorted(registry.results()):
        code = main(["formula", name, "--model", str(ROOT / model) if model.endswith(".json") else model, *chip])
        err = capsys.readouterr().err
        assert code in (0, 2), name
        assert code == 0 or (err.startswith("symroof: error:") and err.count("\n") == 1), (name, err)
