"""The README's table of calibrations says what the cards record.

`symroof calibrate --write` records each fitted chip's numbers and the errors on its held-out rows
in the card (``calibration:``: eta_mm, eta_mem, ``held_out``); the README's table quotes them. A
prose figure left from an earlier round is a wrong claim to a reader, so each quoted number is
compared with the card's at the precision the README prints it (half a unit of its last digit).
"""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
CARDS = sorted((ROOT / "models" / "chips").glob("*.yaml"))


def _fitted() -> list[tuple[str, dict]]:
    out = []
    for path in CARDS:
        card = yaml.safe_load(path.read_text())
        held = (card.get("calibration") or {}).get("held_out")
        if held:
            out.append((card["name"], card["calibration"]))
    return out


def _row(chip: str) -> str:
    rows = [line for line in README.splitlines() if line.startswith(f"| {chip} (")]
    assert len(rows) == 1, f"README: {len(rows)} table rows for {chip}"
    return rows[0]


def _close(printed: str, value: float) -> bool:
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    return abs(float(printed) - value) <= 0.5 * 10 ** -decimals + 1e-9


def test_every_fitted_card_has_a_row():
    assert len(_fitted()) >= 6        # H100, A100, GB200 and four TPUs at the time of writing


@pytest.mark.parametrize("chip, cal", _fitted(), ids=[c for c, _ in _fitted()])
def test_the_readme_row_quotes_the_cards_calibration(chip, cal):
    cells = [c.strip() for c in _row(chip).strip("|").split("|")]
    held = cal["held_out"]
    assert int(re.match(rf"{re.escape(chip)} \((\d+)", cells[0]).group(1)) == held["runs"]
    assert _close(cells[1], cal["eta_mm"]), (cells[1], cal["eta_mm"])
    eta_mem = re.match(r"[\d.]+", cells[3]).group(0)
    assert _close(eta_mem, cal.get("eta_mem", 1.0)), (cells[3], cal.get("eta_mem"))
    median, most = re.search(r"([\d.]+) / ([\d.]+) pt", cells[4]).groups()
    assert _close(median, 100 * held["mfu_error_median"]) and _close(most, 100 * held["mfu_error_max"]), cells[4]
    step = re.search(r"step(?: time)? ([\d.]+)(?: / ([\d.]+))? %", cells[4])
    assert (step is not None) == bool(held.get("step_runs")), cells[4]
    if step:
        assert _close(step.group(1), 100 * held["step_error_median"]), cells[4]
        if step.group(2):
            assert _close(step.group(2), 100 * held["step_error_max"]), cells[4]


def test_the_readme_counts_the_shipped_runs():
    """Each sentence that counts the published runs counts the runs file's."""
    runs = yaml.safe_load((ROOT / "derivations" / "published_runs.yaml").read_text())["runs"]
    counts = re.findall(r"of the (\d+) runs|all (\d+) published runs", README)
    assert counts and all(int(a or b) == len(runs) for a, b in counts), (counts, len(runs))
