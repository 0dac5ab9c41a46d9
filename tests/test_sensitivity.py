"""Sensitivities: SymPy's elasticities against finite differences of the planner's numeric step
time, the book's regimes, and break-evens against the book's critical batch.

The finite differences re-run ``plan`` (its lambdified numpy path, not the expressions the
elasticities differentiate) on the same mesh with one chip number changed by ±0.1 %.
The book (training.md, sharding.md at 0819a7d): FSDP on a v5p pod is compute-bound above
C/W_ici/M_X = 2550/3 = 850 tokens per chip, so at 4,194,304 tokens on 8960 chips (468 per
chip) ICI must be 850/468.1 = 1.816× faster.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from symroof.claims.sensitivity import analyse
from symroof.core.symbols import B, C, M_hbm, W_hbm, W_ici, t_hop
from symroof.io.chips import override_chip
from symroof.io.catalog import load_chip, load_model
from symroof.io.run import RunSettings
from symroof.search.plan import Options, plan

ROOT = Path(__file__).resolve().parent.parent
CARD, CHIP, RUN = load_model("llama3-70b"), load_chip("tpu-v5p"), RunSettings()
BOOK = Options("sum", "forward", True, (), continuous=True)
KEYS = {C: "peak_flops_per_s.bf16", W_hbm: "hbm_bytes_per_s", W_ici: "ici_link_bytes_per_s"}


@pytest.fixture(scope="module")
def seed():
    """The README's seed plan: compute-bound fsdp_tp_seq."""
    p = plan(CARD, CHIP, 8960, 4194304, 4096, run=RUN)
    return p, analyse(p, CARD, CHIP, RUN)


@pytest.fixture(scope="module")
def fsdp():
    """The book's FSDP on a whole v5p pod at 4M tokens: ICI-bound."""
    p = plan(CARD, CHIP, 8960, 4194304, 4096, strategy="fsdp", run=RUN, options=BOOK)
    return p, analyse(p, CARD, CHIP, RUN)


def _rows(point):
    return {r.symbol: r for r in point.rows}


def _step(p, options, x, factor):
    chip = override_chip(CHIP, {KEYS[x]: str(float(CHIP_VALUE[x]) * factor)})
    return plan(CARD, chip, p["chips_used"], p["batch_tokens"], p["seq"], mesh=dict(p["mesh"]), run=RUN,
                options=options)["step_time_s"]


CHIP_VALUE = {C: CHIP.peak_flops_per_s["bf16"], W_hbm: CHIP.hbm_bytes_per_s, W_ici: CHIP.ici_link_bytes_per_s}


def test_the_point_is_the_plans_step(seed, fsdp):
    for p, point in (seed, fsdp):
        assert point.t_step == pytest.approx(p["step_time_s"], rel=1e-12)
        assert {"compute": "t_math", "ici": "t_comms"}[p["bound"]] == point.bound


@pytest.mark.parametrize("which", ["seed", "fsdp"])
@pytest.mark.parametrize("x", [C, W_hbm, W_ici])
def test_elasticities_match_finite_differences_of_the_numeric_step(request, which, x):
    p, point = request.getfixturevalue(which)
    options = BOOK if which == "fsdp" else Options()
    h = 1e-3
    up, down = _step(p, options, x, 1 + h), _step(p, options, x, 1 - h)
    numeric = (math.log(up) - math.log(down)) / (math.log(1 + h) - math.log(1 - h))
    assert _rows(point)[x].elasticity == pytest.approx(numeric, abs=1e-6)


def test_the_books_regimes(seed, fsdp):
    compute, ici = _rows(seed[1]), _rows(fsdp[1])
    assert (compute[C].elasticity, compute[W_ici].elasticity) == (-1.0, 0.0)     # compute-bound
    assert (ici[C].elasticity, ici[W_ici].elasticity) == (0.0, -1.0)             # ICI-bound
    assert ici[B].elasticity == 0.0            # FSDP's weight gathers do not grow with the batch
    assert compute[B].elasticity == 1.0
    assert compute[M_hbm].elasticity == 0.0 and compute[t_hop].elasticity == 0.0


def test_break_even_is_the_books_critical_batch(fsdp):
    p, point = fsdp
    row = _rows(point)[W_ici]
    per_chip = 4194304 / 8960
    assert float(row.break_even / row.value) == pytest.approx(850 / per_chip, rel=1e-9)   # 1.816×
    assert row.new_bound == "t_math"
    # the same change seen from the batch: 850 tokens per chip
    batch = _rows(point)[B]
    assert float(batch.break_even) * 4096 / 8960 == pytest.approx(850, rel=1e-9)


def test_break_even_of_a_compute_bound_plan_is_the_next_terms_ratio(seed):
    p, point = seed
    row = _rows(point)[C]
    # C can grow until t_math falls to t_comms: by t_math / t_comms, the plan's "2.22× the next term"
    assert float(row.break_even / row.value) == pytest.approx(p["t_math_s"] / p["t_comms_s"], rel=1e-9)
    # HBM: the least this mesh runs in, accumulating the replica's 8 sequences (1024 over fsdp=128) one
    # at a time. The activations at once, by hand (bf16; seq=8 and tensor=8 split them to 512 tokens and
    # D/8 = 1024, V/8 = 16032): the run default's 2 saved arrays a layer over 80 layers, the embedding's
    # and the final norm's outputs, the logits; one sequence holds an eighth of them
    at_once = 8 * (2 * 80 * 512 * 1024 + 2 * 512 * 1024 + 512 * 16032) * 2
    least = p["memory_per_chip_bytes"] - at_once * (1 - 1 / 8)
    assert float(_rows(point)[M_hbm].break_even) == pytest.approx(least, rel=1e-9)


def test_cli_text_and_json():
    args = [sys.executable, "-m", "symroof", "sensitivity", "llama3-70b", "--chip", "tpu-v5p", "--chips", "8960",
            "--batch-tokens", "4194304", "--strategy", "fsdp", "--book-layer"]
    out = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "× 1.82 (326.8 GB/s): comms-bound → compute-bound" in out.stdout
    data = json.loads(subprocess.run(args + ["--json"], capture_output=True, text=True, cwd=ROOT).stdout)
    w = next(n for n in data["numbers"] if n["symbol"] == "W_ici")
    assert w["elasticity"] == -1.0 and w["unit"] == "B/s" and w["break_even_factor"] == pytest.approx(1.816, rel=1e-3)


def test_plot_marks_the_regime_change(fsdp, tmp_path):
    pytest.importorskip("matplotlib")
    from symroof.report.plot import sensitivity

    _, point = fsdp
    figure = sensitivity(point, "W_ici")
    assert [round(x / 1e9, 1) for x, _, _ in figure.data["changes"]] == [326.8]
    assert figure.save(tmp_path / "s.png").stat().st_size > 0
    with pytest.raises(Exception, match="depends on"):
        sensitivity(point, "W_dcn")


@pytest.mark.parametrize("model, chip, chips, batch, strategy", [
    ("mixtral-8x7b", "tpu-v5p", 256, 1048576, None),        # experts: fsdp_ep_tp
    ("llama3-8b", "h100-sxm", 64, 1048576, "pp_fsdp"),       # pipeline stages and microbatches
])
def test_other_families_reproduce_the_plans_step(model, chip, chips, batch, strategy):
    card, c = load_model(model), load_chip(chip)
    p = plan(card, c, chips, batch, 4096, strategy=strategy, run=RUN)
    assert analyse(p, card, c, RUN).t_step == pytest.approx(p["step_time_s"], rel=1e-12)


def test_a_dcn_bound_plan_depends_on_dcn_alone():
    """FSDP over 8 H100 nodes gathers weights over the network: -1 for W_dcn, 0 for W_ici and C.
    Its ring is NCCL's hierarchical one through a node's 8 NICs, min(W_ici, 8 W_dcn) = 400 GB/s a GPU
    (collectives.two_tier, as the plan prices it). Until the plan priced it so (one NIC a GPU) this
    test ran 262144 tokens of 4096, DCN-bound at 0.943 s; that batch is now compute-bound (0.118 s of
    DCN against 0.200 s of compute), so it runs a quarter of the tokens, and the break-even of the
    network went with the kink: past 56.25 GB/s a NIC the NVLink tier sets the ring's pace."""
    card, chip = load_model("llama3-8b"), load_chip("h100-sxm")
    p = plan(card, chip, 64, 65536, 1024, strategy="fsdp", run=RUN)
    rows = {str(r.symbol): r for r in analyse(p, card, chip, RUN).rows}
    assert p["bound"] == "dcn" and p["axes"]["fsdp"]["inner"] == 8
    assert (rows["W_dcn"].elasticity, rows["W_ici"].elasticity, rows["C"].elasticity) == (-1.0, 0.0, 0.0)
    # t_dcn / t_math = 2.5: a network 2.5x faster would reach 8 W_dcn = 1000 GB/s, past NVLink's 450,
    # so no W_dcn alone makes the step compute-bound (it was t_dcn / t_math faster, one NIC a GPU)
    assert p["t_dcn_s"] / p["t_math_s"] > 450 / 400 and rows["W_dcn"].break_even is None


def test_a_tiny_peak_gives_finite_break_evens():
    """Found by fuzzing: with a peak of 1e-30 FLOP/s a break-even ratio underflowed a float (division
    by zero), and nsimplify rounded a tiny root to 0. Ratios are now taken exactly."""
    args = [sys.executable, "-m", "symroof", "sensitivity", "llama3-8b", "--chip", "h100-sxm", "--chips", "64",
            "--batch-tokens", "4194304", "--set", "peak_flops_per_s.bf16=1e-30"]
    out = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    # "× 4.52e+45", C's break-even on fsdp=64; it was "÷ 4.37e+45" on fsdp=16 × seq=4 until the plan
    # priced an axis across nodes by NCCL's hierarchical ring (fsdp=64, 8 a node, then has the most headroom)
    assert "× 4.52e+45" in out.stdout and "inf" not in out.stdout and "zoo" not in out.stdout
    # the network's break-even is found through the two-tier ring's min(W_ici, 8 W_dcn): a branch is
    # solved and kept where it holds (SymPy's solve gave up on the Min, and the line read "the bound
    # does not change at any value", false: at small enough W_dcn the ring's network tier sets the step)
    dcn = next(line for line in out.stdout.splitlines() if line.startswith("W_dcn"))
    assert "compute-bound → comms-bound" in dcn and "does not change" not in out.stdout


def test_an_accumulating_plans_gathers_are_charged_once_per_microbatch():
    """LLaMA 3 8B on 8 H100s at 1M tokens of 8192 (tests/test_accumulation.py): fsdp=8 accumulates 2
    microbatches, each gathering the sharded weights for its forward and its backward and
    reduce-scattering its gradients (ZeRO-3), as the plan charges them. The point's comms are the
    plan's: by hand, per microbatch 2·P − V·D bf16 elements gathered (the embedding's backward reads
    no weight) and P scattered, at NVLink 4's 450 GB/s a direction (the book's V / W_ici); rel 1e-9.
    Until the point passed the accumulation on, it charged them once a step: half of this."""
    card, chip = load_model("llama3-8b"), load_chip("h100-sxm")
    params, table = 8_030_261_248, 128_256 * 4096      # meta-llama/Meta-Llama-3-8B config.json
    p = plan(card, chip, 8, 1048576, 8192, mesh={"fsdp": 8}, run=RUN)
    assert p["n_micro"] == 2
    point = analyse(p, card, chip, RUN)
    per_microbatch = (2 * params - table + params) * 2 / 450e9
    assert float(point.terms["t_comms"].xreplace(point.values)) == pytest.approx(2 * per_microbatch, rel=1e-9)


@pytest.mark.parametrize("strategy, schedule, recompute", [
    ("pp_fsdp", "1f1b", None),          # at most p microbatches in flight, not GPipe's m
    ("pp_fsdp", "zb1p", None),          # ZB1P's bubble weighs the graph's F, B and W
    ("pp_fsdp", "dualpipev", None),     # both ends on the first chip, p + 1/2 in flight
    ("fsdp", None, "full"),             # every block's forward replayed in its backward
])
def test_the_point_keeps_the_plans_schedule_and_recompute(strategy, schedule, recompute):
    """A plan's pipeline schedule and recompute policy set its step and its memory; the point is
    that plan's (rel 1e-12), not the default schedule's or the --ckpt convention's. Before the
    point read them, a 1F1B plan of LLaMA 3 8B on 64 H100s held 19.3 GB where the point said 34.6
    (GPipe's), and full recompute's 1.048 s step was the point's 0.799 (no forward replayed)."""
    card, chip = load_model("llama3-8b"), load_chip("h100-sxm")
    run = RunSettings(recompute=recompute)
    p = plan(card, chip, 64, 1048576, 4096, strategy=strategy, run=run, options=Options(schedule=schedule))
    assert p.get("schedule") == schedule and p["run"]["recompute"] == recompute
    point = analyse(p, card, chip, run)
    assert point.t_step == pytest.approx(p["step_time_s"], rel=1e-12)
    if schedule is not None:        # a pipeline's memory is the plan's count; without, the least (more microbatches)
        assert float(point.memory) == pytest.approx(p["memory_per_chip_bytes"], rel=1e-12)


def test_the_point_keeps_the_plans_mtp_modules():
    """A plan that trains DeepSeek-V3's MTP module (Options(mtp=1), the command line's --mtp-layers)
    costs its extra layer and head pass; the point is that plan's step (rel 1e-12), not the model's
    without it."""
    card, chip = load_model("deepseek-v3"), load_chip("h100-sxm")
    p = plan(card, chip, 2048, 16777216, 4096, run=RUN, options=Options(mtp=1))
    bare = plan(card, chip, 2048, 16777216, 4096, mesh=p["mesh"], strategy=p["strategy"], run=RUN)
    assert p["mtp_layers"] == 1 and p["step_time_s"] > bare["step_time_s"]
    assert analyse(p, card, chip, RUN).t_step == pytest.approx(p["step_time_s"], rel=1e-12)


def test_a_symbol_the_step_does_not_depend_on_prints_only_the_error(tmp_path):
    # before: the whole table was printed, then the error; now the error line alone, exit 2
    out = subprocess.run([sys.executable, "-m", "symroof", "sensitivity", "llama3-70b", "--chip", "tpu-v5p",
                          "--chips", "8960", "--batch-tokens", "16777216", "--plot", "W_dcn",
                          "-o", str(tmp_path / "s.png")], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().splitlines() == [
        "symroof: error: --plot 'W_dcn': the step time here depends on C, W_hbm, W_ici, B, T"]
    assert not (tmp_path / "s.png").exists()
