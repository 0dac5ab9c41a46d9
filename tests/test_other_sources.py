"""A chip card's calibration records how far it is from a source it was not fitted on
(``other_sources``): each source's rows predicted by the calibration fitted on the other sources'
fit rows alone. Checked here through ``validate``'s own fit and predictions on files written to
hold exactly that split, not through the function that writes the record."""

import statistics
from pathlib import Path

import pytest
import yaml

from symroof.claims.across_sources import source_of
from symroof.errors import CardError
from runsfile import h100_card_with

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "derivations/published_runs.yaml"


@pytest.mark.parametrize("text, source", [
    ("NVIDIA/dgxc-benchmarking@35a9aec llama3.1/README_8b.md (NeMo 24.09)", "NVIDIA/dgxc-benchmarking"),
    ("llm-foundry@5e85bd62d benchmarking/README.md, H100 80GB BF16", "llm-foundry"),
    ("arXiv 2104.04473 (Narayanan et al. 2021), Table 1", "arXiv:2104.04473"),
    ("arXiv:2205.05198v2, Table 5", "arXiv:2205.05198"),
    ("https://github.com/mosaicml/llm-foundry/blob/main/README.md", "mosaicml/llm-foundry"),
    ("https://github.com/pytorch/torchtitan.git", "pytorch/torchtitan"),
    ("https://cloud.google.com/blog/products/compute/some-post", "cloud.google.com"),
    ("https://arxiv.org/abs/2104.04473, Table 1", "arXiv:2104.04473"),
    ("http://arxiv.org/pdf/2205.05198v2", "arXiv:2205.05198"),
    ("our-cluster, run 17", "our-cluster"),
    ("  pytorch/torchtitan@a1b2c3 docs/performance.md", "pytorch/torchtitan"),
])
def test_a_runs_source_is_the_publication_its_source_text_names_first(text, source):
    assert source_of(text) == source


def test_the_shipped_runs_come_from_nineteen_publications():
    raw = yaml.safe_load(RUNS.read_text())
    assert {source_of(r["source"]) for r in raw["runs"]} == {
        "AI-Hypercomputer/maxtext", "AI-Hypercomputer/tpu-recipes", "NVIDIA-NeMo/Automodel",
        "NVIDIA/Megatron-LM", "NVIDIA/dgxc-benchmarking", "llm-foundry", "pytorch/torchtitan",
        "arXiv:2104.04473", "arXiv:2204.02311", "arXiv:2205.05198", "arXiv:2407.21783",
        "arXiv:2402.15627", "arXiv:2402.16819",     # MegaScale and Nemotron-4 15B: check rows only
        "arXiv:2412.19437",                         # DeepSeek-V3 on H800s: a check row, its chip never fitted
        "yanring/Megatron-MoE-ModelZoo",            # Megatron-Core MoE recipes: check rows only
        "arXiv:2205.01068", "bigscience-workshop/bigscience",   # OPT-175B and BLOOM-176B: check rows only
        "arXiv:2201.11990",                         # MT-NLG 530B: check rows only
        "NVIDIA-NeMo/Megatron-Bridge"}              # NVIDIA's B200, H100 and GB200 tables (NeMo 25.09 and 25.11)


def _left_out_errors(chip: str, tmp_path: Path) -> tuple[int, list, list]:
    """For each source of ``chip``'s shipped runs: a runs file whose fit rows are the other sources'
    fit rows and whose check rows are every row of that source, through ``validate``; the MFU and
    published step-time errors of those check rows over all sources, and how many sources had any."""
    from symroof.claims.published import as_json, validate

    raw = yaml.safe_load(RUNS.read_text())
    mine = [r for r in raw["runs"] if r.get("chip") == chip]
    mfu, step, sources = [], [], 0
    for source in sorted({source_of(r["source"]) for r in mine}):
        rows = [{**r, "split": "check"} for r in mine if source_of(r["source"]) == source]
        fit = [r for r in mine if source_of(r["source"]) != source and r["split"] == "fit"]
        if not fit:
            continue
        path = tmp_path / f"{chip}-{sources}.yaml"
        path.write_text(yaml.safe_dump({**raw, "runs": fit + rows}))
        out = as_json(*validate(path))
        (cal,) = out["calibration"]
        assert cal["source"] == "fit" and set(cal["fit_runs"]) == {r["name"] for r in fit}
        checked = [r for r in out["runs"] if r["split"] == "check"]
        assert len(checked) == len(rows)
        mfu += [abs(r["predicted_mfu"] - r["measured_mfu"]) for r in checked]
        step += [abs(r["predicted_step_s"] / r["measured_step_s"] - 1) for r in checked if r["step_published"]]
        sources += 1
    return sources, mfu, step


@pytest.mark.parametrize("chip", ["h100-sxm", "a100-sxm", "tpu-v4", "tpu-v5p", "tpu-v5e"])
def test_the_cards_other_sources_record_is_each_source_left_out_in_turn(chip, tmp_path):
    card = yaml.safe_load((ROOT / f"models/chips/{chip}.yaml").read_text())["calibration"]
    sources, mfu, step = _left_out_errors(chip, tmp_path)
    if not sources:       # v5e: every row is MaxText's; no source can be left out
        assert "other_sources" not in card
        return
    got = card["other_sources"]
    assert (got["sources"], got["runs"]) == (sources, len(mfu))
    assert got["mfu_error_median"] == pytest.approx(statistics.median(mfu), abs=5e-5)
    assert got["mfu_error_max"] == pytest.approx(max(mfu), abs=5e-5)
    assert got.get("step_runs", 0) == len(step)
    if step:
        assert got["step_error_median"] == pytest.approx(statistics.median(step), abs=5e-5)
        assert got["step_error_max"] == pytest.approx(max(step), abs=5e-5)


def test_leaving_a_source_out_is_no_better_than_the_check_rows_of_the_fit_sources():
    """The point of the record: on H100 and A100, where both exist, the worst run of a source the fit
    never saw is off by no less than the worst check row, and on H100 (five sources) the median run
    is further off. (A100's medians are equal to a tenth of a point: 2.1 and 2.1. H100's maxima are
    one row, Megatron-Core's Qwen3 on tensor 4: a check row of a source with no fit rows, so in both.)"""
    for chip in ("h100-sxm", "a100-sxm"):
        cal = yaml.safe_load((ROOT / f"models/chips/{chip}.yaml").read_text())["calibration"]
        assert cal["other_sources"]["mfu_error_max"] >= cal["held_out"]["mfu_error_max"]
        if chip == "h100-sxm":
            assert cal["other_sources"]["mfu_error_median"] > cal["held_out"]["mfu_error_median"]


def test_a_source_no_fit_has_seen_is_predicted_by_the_cards_calibration():
    """torchtitan's FSDP2 rows on 64 A100s (pytorch/torchtitan@0413364 docs/performance.md: no
    recompute, every block checkpointed, every other block, and its per-operator policy) were added
    as check rows after the A100 card was calibrated. On them the card's numbers meet the issue's
    targets (median within 3 MFU points, maximum within 8) and beat the constant MFU's median, and
    they tell the recompute settings apart as measured: LLaMA 2 13B without recompute 7.0 points
    above the same run replaying every other block (61.1 and 54.1 %), predicted within a point."""
    import statistics

    from symroof.claims.published import as_json, validate

    out = as_json(*validate())
    runs = {r["name"]: r for r in out["runs"] if r["source"].startswith("pytorch/torchtitan") and r["hardware"] == "a100-sxm"}
    assert len(runs) == 8 and all(r["split"] == "check" for r in runs.values())
    model = [abs(r["predicted_mfu"] - r["measured_mfu"]) for r in runs.values()]
    constant = [abs(r["baseline_mfu"] - r["measured_mfu"]) for r in runs.values()]
    assert statistics.median(model) <= 0.03 and max(model) <= 0.08
    assert statistics.median(model) < statistics.median(constant)
    gap = lambda a, b, key: runs[a][key] - runs[b][key]       # noqa: E731
    plain, layer = "torchtitan-llama2-13b-a100-64gpu", "torchtitan-llama2-13b-a100-64gpu-layer-ac"
    assert gap(plain, layer, "measured_mfu") == pytest.approx(0.070)
    assert abs(gap(plain, layer, "predicted_mfu") - 0.070) < 0.01
    assert runs[layer]["recompute_layers"] == 20


def _card_with(tmp_path, record: str) -> Path:
    return h100_card_with(tmp_path, "other_sources", record)


@pytest.mark.parametrize("record, message", [
    ("{runs: 3, mfu_error_median: 0.01, mfu_error_max: 0.02}", "missing key 'sources'"),
    ("{sources: 0, runs: 3, mfu_error_median: 0.01, mfu_error_max: 0.02}", "other_sources.sources' must be a positive"),
    ("{sources: 4, runs: 3, mfu_error_median: 0.01, mfu_error_max: 0.02}", "other_sources.sources' is above runs"),
    ("{sources: 2, runs: 3, mfu_error_median: 0.03, mfu_error_max: 0.02}", "other_sources.mfu_error_median' is above"),
    ("[1, 2]", "calibration.other_sources' must be a mapping"),
])
def test_a_bad_other_sources_record_is_a_one_line_error(tmp_path, record, message):
    from symroof.io.catalog import load_chip

    path = _card_with(tmp_path, record)
    with pytest.raises(CardError, match=message) as err:
        load_chip(str(path))
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_a_calibration_without_other_sources_reads(tmp_path):
    from symroof.io.catalog import load_chip

    chip = load_chip(str(_card_with(tmp_path, "")))
    assert "other_sources" not in chip.calibration and "held_out" in chip.calibration


def test_predict_prints_and_returns_the_cards_other_sources_record():
    import json
    import subprocess
    import sys

    def cli(*args):
        done = subprocess.run([sys.executable, "-m", "symroof", *args], capture_output=True, text=True, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        return done.stdout

    got = yaml.safe_load((ROOT / "models/chips/h100-sxm.yaml").read_text())["calibration"]["other_sources"]
    line = next(line for line in cli("predict", "example_configs").splitlines() if line.startswith("h100-sxm: "))
    assert (f"each source left out of the fit in turn ({got['sources']} sources): {got['runs']} runs, MFU off by "
            f"{100 * got['mfu_error_median']:.1f} points median, {100 * got['mfu_error_max']:.1f} max") in line
    out = json.loads(cli("predict", "example_configs", "--json"))
    assert out["configurations"][0]["calibration"]["other_sources"] == got


def test_validate_reports_each_sources_median_step_error_beside_the_one_calibration():
    """``by_source`` against the runs' own rows in ``validate --json``, grouped here by the text their
    source starts with."""
    from symroof.claims.published import as_json, validate

    out = as_json(*validate())
    h100 = [r for r in out["runs"] if r["hardware"] == "h100-sxm"]
    got = out["by_source"]["h100-sxm"]
    assert sum(s["runs"] for s in got.values()) == len(h100)
    for prefix, name in (("NVIDIA/dgxc-benchmarking@", "NVIDIA/dgxc-benchmarking"), ("llm-foundry@", "llm-foundry"),
                         ("arXiv 2407.21783", "arXiv:2407.21783")):
        errors = [r["step_error"] for r in h100 if r["source"].startswith(prefix)]
        assert got[name] == {"runs": len(errors), "step_error_median": pytest.approx(statistics.median(errors))}
    # NeMo's step times run faster than the H100 calibration predicts, MosaicML's slower
    assert got["NVIDIA/dgxc-benchmarking"]["step_error_median"] > 0 > got["llm-foundry"]["step_error_median"]
    assert "tpu-v5e" not in out["by_source"]                              # one source
    assert set(out["by_source"]["gb200-nvl72"]) == {"NVIDIA/dgxc-benchmarking", "NVIDIA/Megatron-LM",
                                                   "yanring/Megatron-MoE-ModelZoo", "NVIDIA-NeMo/Megatron-Bridge"}


def _per_source_fit_errors(chip: str, tmp_path: Path) -> tuple[list, list]:
    """Each source with fit rows of ``chip`` calibrated on its own fit rows (``validate`` on a file of
    that source's rows alone): its check rows' MFU and published step-time errors, over all such sources."""
    from symroof.claims.published import as_json, validate

    raw = yaml.safe_load(RUNS.read_text())
    mine = [r for r in raw["runs"] if r.get("chip") == chip]
    mfu, step = [], []
    for i, source in enumerate(sorted({source_of(r["source"]) for r in mine})):
        rows = [r for r in mine if source_of(r["source"]) == source]
        if not {r["split"] for r in rows} >= {"fit", "check"}:
            continue
        path = tmp_path / f"{chip}-own-{i}.yaml"
        path.write_text(yaml.safe_dump({**raw, "runs": rows}))
        checked = [r for r in as_json(*validate(path))["runs"] if r["split"] == "check"]
        mfu += [abs(r["error"]) for r in checked]
        step += [abs(r["step_error"]) for r in checked if r["step_published"]]
    return mfu, step


def test_fitted_per_source_the_h100_check_rows_meet_the_targets_the_one_calibration_misses(tmp_path):
    """What the README reports: the model, calibrated on each source's own fit rows, is off on H100's
    check rows (those of sources with fit rows) by 1.8 / 7.5 MFU points (1.9 / 8.4 before a layer's
    weight collectives over an fsdp axis were one launch) and on NeMo's step times by 3.4 / 20.6 %, NeMo's DeepSeek-V3 row predicted fast (20.7 % before its folded experts' kernels were shaped whole, 19.1 % before its recipe's expert_tensor: 1, 18.0 % before the module's 2D x D projection was
    split over the tensor axis; 16.4 % before that row trained the multi-token-prediction module and uneven stages its recipe sets; 9.9 % at most before NeMo's
    DeepSeek-V3 row; 3.3 before the
    last layer's all-reduce latency over an overlapped data axis was charged); the shipped one
    calibration per chip by 2.8 / 10.0 and 5.8 / 17.0 %. (1.6 / 8.4 and
    1.2 / 3.7 % before NeMo's FP8 rows, whose speedup over BF16 the model overstates by 2-14 %;
    1.0 / 3.1 % on NeMo's steps until a ring over two network axes was charged one NIC, not two;
    1.2 / 3.5 % until a pipeline stage held one end of the model, not both tables.)"""
    mfu, step = _per_source_fit_errors("h100-sxm", tmp_path)
    assert (len(mfu), len(step)) == (63, 27)
    assert (round(100 * statistics.median(mfu), 1), round(100 * max(mfu), 1)) == (1.8, 7.5)
    assert (round(100 * statistics.median(step), 1), round(100 * max(step), 1)) == (3.4, 20.6)


def test_leaving_one_source_out_by_hand(tmp_path):
    """Two sources measure one configuration at 30 % and 34 % MFU (a fit and a check row each; the
    step model reaches 38 % on it at eta_mm 1). A calibration fitted on one configuration's rows
    alone (eta_mm only: one model) reproduces them, so each source predicted from the other is off
    by exactly 4 points, on all four rows."""
    from runsfile import ONE_RUN
    from symroof.claims import calibrate

    base = yaml.safe_load(ONE_RUN)["runs"][0]
    rows = [{**base, "name": f"{source}-{split}", "source": f"{source}@abc1234 table", "split": split,
             "measured_mfu": mfu}
            for source, mfu in (("lab-a", 0.30), ("lab-b", 0.34)) for split in ("fit", "check")]
    path = tmp_path / "runs.yaml"
    path.write_text(yaml.safe_dump({"runs": rows}))
    got = yaml.safe_load(calibrate.calibrate_chip(str(path), "h100-sxm"))["calibration"]["other_sources"]
    assert got == {"sources": 2, "runs": 4, "mfu_error_median": 0.04, "mfu_error_max": 0.04}
    # validate asked for it on the same file says the same, and names a chip with one source
    import json
    import subprocess
    import sys

    def cli(*args):
        done = subprocess.run([sys.executable, "-m", "symroof", "validate", "--data", *args, "--across-sources"],
                              capture_output=True, text=True, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert json.loads(cli(str(path), "--json"))["other_sources"] == {"h100-sxm": got}
    assert cli(str(path)).endswith("h100-sxm: each source left out of the fit in turn (2 sources): 4 runs, MFU off by "
                                   "4.0 points median, 4.0 max\n")
    one = tmp_path / "one.yaml"
    one.write_text(yaml.safe_dump({"runs": [r for r in rows if r["source"].startswith("lab-a")]}))
    assert cli(str(one)).endswith("h100-sxm: one source: none to leave out\n")


def test_one_publication_spelled_two_ways_is_one_source():
    from types import SimpleNamespace as Run

    from symroof.claims.across_sources import sources

    texts = ["llm-foundry@5e85bd6 README", "mosaicml/llm-foundry@abc1234 table", "https://github.com/mosaicml/llm-foundry",
             "arXiv 2104.04473", "https://arxiv.org/abs/2104.04473", "NVIDIA/Megatron-LM README", "nvidia/megatron-lm"]
    got = sources([Run(run=Run(name=str(i), source=t)) for i, t in enumerate(texts)])
    assert list(got.values()) == ["llm-foundry"] * 3 + ["arXiv:2104.04473"] * 2 + ["NVIDIA/Megatron-LM"] * 2


def test_the_constants_step_error_by_hand(tmp_path):
    """The constant-MFU baseline predicts a step as the run's FLOPs at its one MFU, so on a row that
    prints its step time it is off by measured MFU / constant - 1. One fit row at 30 % and a check
    row whose printed step is LLaMA 3 8B's 6N FLOPs (6 x 8,030,261,248 x 4 x 4096) at 36 % of
    16 x 989 TFLOP/s: the constant's step is 20 % long, beside the model's own error."""
    from runsfile import ONE_RUN
    from symroof.claims import calibrate, published

    base = yaml.safe_load(ONE_RUN)["runs"][0]
    step = 6 * 8_030_261_248 * 4 * 4096 / (16 * 989e12 * 0.36)
    check = {k: v for k, v in base.items() if k != "measured_mfu"}
    rows = [{**base, "name": "fit", "measured_mfu": 0.30},
            {**check, "name": "check", "split": "check", "measured_step_s": round(step, 6)}]
    path = tmp_path / "runs.yaml"
    path.write_text(yaml.safe_dump({"runs": rows}))
    results = [published.predict(run) for run in published.load_runs(path)]
    got = calibrate.summary(calibrate.predictions(results, calibrate.calibrations(results)))["h100-sxm"]
    assert got["baseline_step_error"]["n"] == 1
    assert got["baseline_step_error"]["median"] == pytest.approx(0.20, abs=0.002)    # the card's peak to 0.1 %
    assert got["model_step_error"]["n"] == 1
