"""Rows of a runs file that state one configuration, measured apart (claims/same_configuration.py):
``validate`` names them, as a floor under any prediction read from the file: one number for both is
off by half their spread or more on one of them."""

import json
import subprocess
import sys
from pathlib import Path

import yaml

from symroof.claims.published import load_runs
from symroof.claims.same_configuration import groups

ROOT = Path(__file__).resolve().parent.parent
BASE = {"source": "test", "model": "llama3-8b", "chip": "h100-sxm", "chips": 8,
        "mesh": {"fsdp": {"size": 8, "link": "ici"}}, "batch": 64, "seq": 4096}


def _runs(tmp_path, rows) -> Path:
    path = tmp_path / "runs.yaml"
    path.write_text(yaml.safe_dump({"runs": [{**BASE, **r} for r in rows]}))
    return path


def test_rows_differing_only_in_name_source_measurement_and_split_are_one_configuration(tmp_path):
    path = _runs(tmp_path, [
        {"name": "a", "measured_mfu": 0.30, "split": "fit"},
        {"name": "b", "source": "another lab", "measured_step_s": 9.0, "split": "check"},
        {"name": "c", "measured_mfu": 0.40, "batch": 128},                   # another batch: not the same
        {"name": "d", "measured_mfu": 0.40, "recompute": "full"},             # another recompute: not the same
    ])
    (got,) = groups(load_runs(path))
    assert got["runs"] == ["a", "b"] and got["chip"] == "h100-sxm"
    mfu_b = got["measured_mfu"][1]          # b's step time read under the default convention
    assert 0 < mfu_b < 1 and abs(got["spread"] - abs(mfu_b - 0.30)) < 1e-12


def test_validate_names_the_pair_and_the_floor(tmp_path):
    path = _runs(tmp_path, [{"name": "a", "measured_mfu": 0.30, "split": "fit"},
                            {"name": "b", "measured_mfu": 0.40, "split": "check"},
                            {"name": "c", "measured_mfu": 0.35, "split": "fit", "batch": 128}])
    run = lambda *a: subprocess.run([sys.executable, "-m", "symroof", "validate", "--data", str(path), *a],   # noqa: E731
                                    capture_output=True, text=True, cwd=ROOT)
    text = run()
    assert text.returncode == 0, text.stderr
    assert ("h100-sxm: one configuration, measured 10.0 points apart (any prediction of it is off by 5.0 or "
            "more on one): a 30.0 %, b 40.0 %") in text.stdout
    (got,) = json.loads(run("--json").stdout)["same_configuration"]
    assert got["runs"] == ["a", "b"] and abs(got["spread"] - 0.10) < 1e-12


def test_the_shipped_runs_name_torchtitans_fp8_recipes_and_torch_compile():
    """torchtitan's rowwise and tensorwise Float8 rows (the runs file has one FP8 recipe) and its rows
    with and without torch.compile (not a runs-file fact) state the same configurations; their
    sources measured them 15.5 and 5.3 points apart."""
    got = groups(load_runs())
    spreads = {frozenset(g["runs"]): round(100 * g["spread"], 1) for g in got}
    assert spreads[frozenset({"torchtitan-llama31-8b-h100-8gpu", "torchtitan-llama31-8b-h100-8gpu-compile"})] == 5.3
    assert max(spreads.values()) == 15.5
