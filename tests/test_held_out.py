"""A chip card's calibration records how far it was from the runs it was not fitted on (``held_out``),
and the shipped cards are what ``symroof calibrate`` derives from the shipped runs today."""

import json
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from symroof.claims import calibrate
from symroof.errors import CardError
from runsfile import h100_card_with

ROOT = Path(__file__).resolve().parent.parent
CARDS = sorted(p for p in (ROOT / "models/chips").glob("*.yaml")
               if "calibration" in yaml.safe_load(p.read_text()))


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "symroof", *args], capture_output=True, text=True, cwd=ROOT)


@pytest.fixture(scope="module")
def validated():
    done = _cli("validate", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("card", CARDS, ids=lambda p: p.stem)
def test_each_shipped_calibration_is_what_calibrate_derives_from_the_shipped_runs(card):
    """A card edited by hand, or left behind when the runs or the model changed, fails here: its block
    must equal, key for key, the one ``symroof calibrate --chip C`` prints (``--write`` mends it)."""
    block = calibrate.calibrate_chip(None, card.stem)
    text = card.read_text()
    assert yaml.safe_load(text)["calibration"] == yaml.safe_load(block)["calibration"]
    # the text too, with the comment on the intervals (fit_intervals.py): its words exactly, its
    # numbers (ends of a bisection on a flat profile, the last printed digit a platform's libm may
    # move) to 1e-3
    shipped = text[text.index("\ncalibration:") + 1:text.index("\nsources:")]
    number = r"[0-9]+\.[0-9]+(?:e[-+][0-9]+)?"
    assert re.sub(number, "#", shipped) == re.sub(number, "#", block)
    numbers = lambda t: [float(x) for x in re.findall(number, t)]      # noqa: E731
    assert numbers(shipped) == pytest.approx(numbers(block), rel=1e-3, abs=1e-9)


@pytest.mark.parametrize("card", CARDS, ids=lambda p: p.stem)
def test_held_out_is_the_check_rows_errors_validate_reports(card, validated):
    """Recomputed here from ``validate --json``'s rows (each check row's predicted and measured MFU
    and step time), not from the summary calibrate uses: median and maximum, as written (4 places)."""
    held = yaml.safe_load(card.read_text())["calibration"]["held_out"]
    rows = [r for r in validated["runs"] if r["hardware"] == card.stem and r["split"] == "check"]
    mfu = [abs(r["predicted_mfu"] - r["measured_mfu"]) for r in rows]
    assert held["runs"] == len(rows) and rows
    assert held["mfu_error_median"] == pytest.approx(statistics.median(mfu), abs=5e-5)
    assert held["mfu_error_max"] == pytest.approx(max(mfu), abs=5e-5)
    steps = [abs(r["predicted_step_s"] / r["measured_step_s"] - 1) for r in rows if r["step_published"]]
    assert held.get("step_runs", 0) == len(steps)
    if steps:
        assert held["step_error_median"] == pytest.approx(statistics.median(steps), abs=5e-5)
        assert held["step_error_max"] == pytest.approx(max(steps), abs=5e-5)


def test_predict_prints_and_returns_the_cards_held_out_errors():
    text = _cli("predict", "example_configs")
    assert text.returncode == 0, text.stderr
    held = yaml.safe_load((ROOT / "models/chips/h100-sxm.yaml").read_text())["calibration"]["held_out"]
    line = next(line for line in text.stdout.splitlines() if line.startswith("h100-sxm: the card's calibration"))
    assert f"held out from that fit (check rows, mostly of the fit rows' sources): {held['runs']} runs, MFU off by {100 * held['mfu_error_median']:.1f} points" in line
    out = json.loads(_cli("predict", "example_configs", "--json").stdout)
    assert out["configurations"][0]["calibration"]["held_out"]["runs"] == held["runs"]


def _card_with(tmp_path, held: str) -> Path:
    return h100_card_with(tmp_path, "held_out", held)


def test_a_calibration_without_held_out_still_reads_and_predicts(tmp_path):
    from symroof.io.catalog import load_chip

    chip = load_chip(str(_card_with(tmp_path, "")))
    assert "held_out" not in chip.calibration and calibrate.from_card(chip).eta_mm > 0


@pytest.mark.parametrize("held, message", [
    ("[1, 2]", "calibration.held_out' must be a mapping"),
    ("{runs: 3, mfu_error_median: 0.01}", "missing key 'mfu_error_max'"),
    ("{runs: 3, mfu_error_median: 0.01, mfu_error_max: 0.02, bias: 1}", "unknown key 'bias'"),
    ("{runs: 0, mfu_error_median: 0.01, mfu_error_max: 0.02}", "held_out.runs' must be a positive integer"),
    ("{runs: 3.5, mfu_error_median: 0.01, mfu_error_max: 0.02}", "held_out.runs' must be a positive integer"),
    ("{runs: 3, mfu_error_median: -0.01, mfu_error_max: 0.02}", "held_out.mfu_error_median' must be a fraction"),
    ("{runs: 3, mfu_error_median: 5e29, mfu_error_max: 6e29}", "mfu_error_median' must be a fraction from 0 to 1"),
    ("{runs: 3, mfu_error_median: 0.03, mfu_error_max: 0.02}", "mfu_error_median' is above mfu_error_max"),
    ("{runs: 3, mfu_error_median: 0.01, mfu_error_max: 0.02, step_runs: 4, step_error_median: 0.1,"
     " step_error_max: 0.2}", "step_runs' is above runs"),
    ("{runs: 3, mfu_error_median: 0.01, mfu_error_max: 0.02, step_runs: 2, step_error_median: 0.3,"
     " step_error_max: 0.2}", "step_error_median' is above step_error_max"),
    ("{runs: 3, mfu_error_median: .nan, mfu_error_max: 0.02}", "finite"),
    ("{runs: 3, mfu_error_median: 0.01, mfu_error_max: abc}", "held_out.mfu_error_max' must be a number"),
    ("{runs: 3, mfu_error_median: 0.01, mfu_error_max: 0.02, step_runs: 2}", "together or none"),
    ("{runs: " + "9" * 5000 + ", mfu_error_median: 0.01, mfu_error_max: 0.02}", "5000 digits"),
    ("{runs: 10000000000000, mfu_error_median: 0.01, mfu_error_max: 0.02}", "held_out.runs' is out of range"),
])
def test_a_bad_held_out_record_is_a_one_line_error(tmp_path, held, message):
    path = _card_with(tmp_path, held)
    from symroof.io.catalog import load_chip

    with pytest.raises(CardError, match=message) as err:
        load_chip(str(path))
    assert "\n" not in str(err.value) and str(path) in str(err.value)
    done = _cli("cards", str(path))
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1


def test_data_without_check_rows_records_no_held_out(tmp_path):
    """Every row a fit row: nothing was held out, so the block says nothing about held-out errors."""
    raw = yaml.safe_load((ROOT / "derivations/published_runs.yaml").read_text())
    raw["runs"] = [{**e, "split": "fit"} for e in raw["runs"] if e.get("chip") == "tpu-v4"]
    path = tmp_path / "runs.yaml"
    path.write_text(yaml.safe_dump(raw))
    block = yaml.safe_load(calibrate.calibrate_chip(str(path), "tpu-v4"))["calibration"]
    assert "held_out" not in block and len(block["fit_runs"]) == len(raw["runs"])
