"""Chips symroof does not ship: a card for a PCIe GPU (one GPU per fast domain), ``--set`` on
shipped cards, and the messages a wrong or hostile number gets.

Independent numbers: the NVIDIA L40S datasheet (tests/data/chips/l40s.yaml) gives 362.05 TFLOP/s
dense BF16 and 864 GB/s, so its ridge point is 362.05e12 / 864e9 = 419.0 FLOPs/byte; it has no
NVLink, so each GPU is its own fast domain (pod_shape [1]) and a job of 8 GPUs crosses the
scale-out network on every axis.
"""

import re
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


L40S = str(ROOT / "tests" / "data" / "chips" / "l40s.yaml")


def test_a_pcie_gpu_card_shows_its_datasheet_numbers(capsys):
    assert main(["cards", L40S, "--json"]) == 0
    import json

    out = json.loads(capsys.readouterr().out)
    assert out["ridge_flops_per_byte"]["bf16"]["hbm"] == pytest.approx(362.05e12 / 864e9)
    assert out["W_ici_bytes_per_s"] == 32e9          # PCIe Gen4 x16: 64 GB/s both directions


def test_gpus_without_nvlink_plan_over_the_network(capsys):
    # a domain of one GPU: every axis of a multi-GPU job is on the scale-out network (this was
    # "no l40s slice holds 8 chips"); the step at the compute floor is FLOPs / (8 × peak)
    assert main(["plan", "llama3-8b", "--chip", L40S, "--chips", "8", "--batch-tokens", "65536",
                 "--seq", "4096", "--json"]) == 0
    import json

    out = json.loads(capsys.readouterr().out)
    assert all(axis["link"] == "dcn" for axis in out["axes"].values())
    assert out["chips_used"] == 8 and out["bound"] == "compute"
    # two pipeline stages over the network, GPipe's bubble above the compute floor FLOPs / (8 x peak);
    # until a ring over two network axes was charged one NIC (not their sum), fsdp x seq reached
    # the floor itself (1.0917 s)
    floor = 48_249_176_064 * 65536 / (8 * 362.05e12)
    assert out["mesh"] == {"stage": 2, "fsdp": 4} and floor < out["step_time_s"] < 1.5 * floor
    assert out["step_time_s"] == pytest.approx(1.453799868, rel=1e-9)      # pin


@pytest.mark.parametrize("argv", [
    ["plot", "ratio", "llama3-70b", "--chip", L40S, "--chips", "8"],
    # 11 GPUs of 8-GPU nodes: no domain share divides 11, so one GPU per node
    ["plot", "ratio", "llama3-8b", "--chip", "h100-sxm", "--chips", "11"],
])
def test_a_job_no_domain_share_divides_is_laid_one_gpu_per_host(argv, tmp_path):
    assert main(argv + ["-o", str(tmp_path / "r.png")]) == 0


def test_sensitivity_chooses_the_slices_as_plan_does(capsys):
    # --pods defaulted to 1 in sensitivity only: past one slice it was refused, and the error said
    # "(or leave --pods out)" to a command line that had left it out. 1024 v5e chips are 4 slices.
    assert main(["sensitivity", "llama3-70b", "--chip", "tpu-v5e", "--chips", "1024",
                 "--batch-tokens", "4194304"]) == 0
    assert "pod=4" in capsys.readouterr().out


def _card_with(tmp_path, **changes):
    import yaml

    raw = yaml.safe_load(open(L40S))
    raw.update(changes)
    path = tmp_path / "chip.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def test_a_gpu_pod_is_one_nvlink_domain(tmp_path, capsys):
    # the planner reads a GPU's pod_shape[0] alone: [8, 2] was printed as a 16-chip pod and planned as 8
    path = _card_with(tmp_path, pod_shape=[8, 2])
    assert main(["cards", path]) == 2
    err = capsys.readouterr().err
    assert f"{path}: key 'pod_shape'" in err and "one NVLink domain" in err and "8x2" in err
    assert main(["cards", "h100-sxm", "--set", "pod_shape=8x2"]) == 2
    assert "--set pod_shape: key 'pod_shape'" in capsys.readouterr().err


@pytest.mark.parametrize("setting, words", [
    # the number as given, not Python's Fraction(0, 1)
    ("pod_shape=0", "got '0'"), ("chips_per_host=2.5", "got '2.5'"), ("ici_links_per_axis=0", "got '0'"),
    # a shape's separators were read as numbers: "8x" said "must be a number (e.g. 1.25e14), got ''"
    ("pod_shape=8x", "axis sizes, e.g. pod_shape=16x20x28, got '8x'"),
    ("pod_shape=abc", "axis sizes, e.g. pod_shape=16x20x28, got 'abc'"),
    # a negative number is a number: it is refused for its sign
    ("hbm_bytes_per_s=-1", "must not be negative, got '-1'"),
    ("pod_shape=-8", "must not be negative, got '-8'"),
])
def test_a_bad_setting_is_named_as_given(setting, words, capsys):
    assert main(["cards", "tpu-v5p", "--set", setting]) == 2
    err = capsys.readouterr().err
    assert words in err and "Fraction" not in err and len(err.strip().splitlines()) == 1


def test_a_negative_number_in_a_card_is_refused_for_its_sign(tmp_path, capsys):
    path = _card_with(tmp_path, hbm_bytes="-48e9")
    assert main(["cards", path]) == 2
    assert f"{path}: key 'hbm_bytes' must not be negative, got '-48e9'" in capsys.readouterr().err


def test_formula_names_the_card_and_the_peak_it_put_in(capsys):
    # "with C = 1.979 PFLOP/s" named neither the dtype whose peak C is nor a card changed by --set
    args = ["formula", "fsdp_critical_batch", "--model", "llama3-70b", "--chip", "h100-sxm", "--chips", "512",
            "--batch-tokens", "4194304", "--seq", "4096", "--dtype", "fp8", "--set", "ici_link_bytes_per_s=1.8e12"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "chip: h100-sxm (modified: ici_link_bytes_per_s=1.8e12); C is its fp8 peak" in out
    assert main(args + ["--json"]) == 0
    assert any("C is its fp8 peak" in n for n in __import__("json").loads(capsys.readouterr().out)["notes"])


def test_cards_says_which_runs_use_the_other_peaks(capsys):
    # "peaks for fp16, fp8, int8 are used only by a run with --dtype fp16": fp8's and int8's are not
    # used by --dtype fp16, and serve --math-dtype uses them too
    assert main(["cards", "h100-sxm"]) == 0
    out = capsys.readouterr().out
    assert ("peaks for fp8, int8 are used only by a run that names that dtype "
            "(formula and cards --dtype, serve --math-dtype, a runs file's matmul_dtype or convention.peak)") in out


@pytest.mark.parametrize("setting", ["pod_shape=72", "peak_flops_per_s.fp8=4e15", "ici_link_direction=one_way"])
def test_reproduce_takes_every_chip_setting_plan_takes(setting, capsys):
    # reproduce --set knew the chip numbers and the bf16 peak only: pod_shape=72 on h100-sxm (the
    # README's NVL72 question) was "unknown setting" here and a chip setting in plan
    assert main(["reproduce", "seed", "--chip", "h100-sxm", "--set", setting]) == 0
    assert f"re-run with {setting}, chip=h100-sxm" in capsys.readouterr().out


def test_plot_ratio_past_one_slice_says_what_it_draws(tmp_path, capsys):
    # it said "add a 'pod' axis (slices over DCN)": plot ratio has no flag that adds one
    assert main(["plot", "ratio", "llama3-70b", "--chip", "tpu-v5e", "--chips", "1024",
                 "-o", str(tmp_path / "r.png")]) == 2
    err = capsys.readouterr().err
    assert "plot ratio draws one slice" in err and "at most 256" in err and "'pod' axis" not in err


def test_serve_names_a_slice_the_pod_builds():
    # serve's "smallest slice per replica" counted any box of pod-side divisors: 7 chips (1x1x7) on
    # v5p, whose slices are sub-cubes of a 4x4x4 cube or whole cubes (topology.slices builds none of 7)
    from symroof.io.catalog import load_chip
    from symroof.parallel import topology
    from symroof.search.serve import slice_chips

    v5p = load_chip("tpu-v5p")
    for need in (5, 6.5, 7, 65, 200.5):
        n = slice_chips(v5p, need)
        assert n >= need and topology.slices(v5p, n)
        assert not any(topology.slices(v5p, m) for m in range(int(-(-need // 1)), n))
    assert slice_chips(v5p, 7) == 8 and slice_chips(v5p, 65) == 128


def test_serve_says_the_tensor_axis_stays_on_the_fast_domain(capsys):
    # "at best (tensor=1) 143.8 GB per chip" on 8 GPUs, without saying that serve never lays the
    # tensor axis across the network (a PCIe GPU's domain is itself)
    assert main(["serve", "llama3-70b", "--chip", L40S, "--chips", "8"]) == 2
    err = capsys.readouterr().err
    assert "at best (tensor=1)" in err and "the tensor axis stays on ICI (NVLink): at most 1 of the 8 chips" in err


def test_formula_refuses_a_job_past_one_pod_before_deriving(monkeypatch):
    # the M rule's refusal came after SymPy's derivation (seconds on a cold cache; 10 s for x_opt
    # on LLaMA 70B's graph, by the README), so a wrong --chips was told late
    from symroof.claims.formulas import instantiate
    from symroof.claims.registry import Result
    from symroof.errors import InfeasibleError
    from symroof.io.catalog import load_chip, load_model

    monkeypatch.setattr(Result, "derive", lambda self, ctx: pytest.fail("derived before checking --chips"))
    with pytest.raises(InfeasibleError, match="1024 chips exceed one tpu-v5e pod"):
        instantiate("x_opt", load_model("llama3-70b"), load_chip("tpu-v5e"), chips=1024, batch_tokens=4194304)


def test_ops_names_the_peak_its_ridge_is_from(capsys):
    # "ops below 247 FLOPs/byte are HBM-bound" named no peak: the bf16 one, whatever else the card has
    assert main(["ops", "llama3-8b", "--chip", L40S]) == 0
    assert "ops below 419 FLOPs/byte (bf16 peak / HBM bandwidth) are HBM-bound" in capsys.readouterr().out


@pytest.mark.parametrize("setting", ["wraparound_unit=3", "pod_shape=16x20x30"])
def test_a_cube_pod_is_whole_cubes(setting, capsys):
    # cards said "8960 chips do not fit the tpu-v5p topology" and plan "no slice of the pod holds
    # 8192 chips", naming neither the --set nor the rule (a full_cube pod's sides are whole cube edges)
    assert main(["cards", "tpu-v5p", "--set", setting]) == 2
    err = capsys.readouterr().err
    assert f"--set {setting.split('=')[0]}: " in err and "every side must be a multiple of" in err


def test_cards_of_a_one_chip_domain_says_every_job_crosses_the_network(capsys):
    # the pod row read "1 = 1 chips | switched: every pair of chips has a direct path"
    assert main(["cards", L40S]) == 0
    out = capsys.readouterr().out
    assert "one chip: no ICI axis; a job of more chips crosses the scale-out network on every axis" in out
    assert "every pair of chips has a direct path" not in out


def test_no_prediction_falls_below_its_ideal_step():
    """On 8 PCIe GPUs a comms-bound mesh (data=2 x tensor=4, 8192 tokens) was predicted at 0.43 s against
    an ideal of 0.524 s while the ideal dropped the ring's (N-1)/N as the book does and the step model
    kept it. The ideal beside each prediction now keeps it too (README, Conventions): every planned
    mesh's prediction is at least its ideal step, and nothing is marked below it."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "symroof", "plan", "llama3-8b", "--chip", str(L40S), "--chips", "8",
                           "--batch-tokens", "8192", "--seq", "4096", "--predict", "3"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line[:2] in ("1 ", "2 ", "3 ")]
    assert len(rows) == 3 and "‡" not in done.stdout
    for line in rows:                  # the ideal step column, then the predicted one
        ideal, predicted = (float(x) for x in re.findall(r"(\d+(?:\.\d+)?) s", line)[:2])
        assert predicted >= ideal
