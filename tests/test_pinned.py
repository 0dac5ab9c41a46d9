"""Today's headline outputs, pinned before the graph-v2 refactor (issue 8).

Each file in ``tests/data/pinned/`` holds what a README command printed when it was
pinned: the verdicts and derived values of the three derivations, the seed's plan line,
the published-runs table and ``count`` for every shipped card. A refactor must leave them
unchanged; a number that changes on purpose is re-pinned in a commit that names the fix
(run this file with ``SYMROOF_REPIN=1``) and in the README.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
from pathlib import Path

import pytest

from symroof.cli import main

PINNED = Path(__file__).parent / "data" / "pinned"
REL = 1e-9      # floats printed through different but exact paths may differ in the last bits


def _run(*argv: str):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(list(argv)) == 0
    return json.loads(out.getvalue())


def _headline_reproduce(records):
    return [{k: r.get(k) for k in ("id", "verdict", "derived", "derived_exact", "document", "unit")}
            for r in records]


def _headline_plan(p):
    keys = ("strategy", "mesh", "chips_used", "idle_chips", "bound", "step_time_s", "t_math_s",
            "t_comms_s", "memory_per_chip_bytes", "mfu", "mesh_x_opt")
    return {"plan": {k: p[k] for k in keys}, "closed_forms": p["closed_forms"]}


def _headline_validate(v):
    runs = [{k: r[k] for k in ("name", "measured_mfu", "mfu_ceiling", "t_step_lower_bound_s", "bound")}
            for r in v["runs"]]
    return {"runs": runs, "efficiency": [{k: e[k] for k in ("family", "factor", "fit_runs")}
                                         for e in v["efficiency"]]}


CASES = {
    **{f"reproduce-{d}": (("reproduce", d, "--json"), _headline_reproduce)
       for d in ("seed", "transformers", "training")},
    "plan-seed": (("plan", "llama3-70b", "--chip", "tpu-v5p", "--chips", "8960", "--batch-tokens",
                   "4194304", "--seq", "4096", "--json"), _headline_plan),
    "validate": (("validate", "--json"), _headline_validate),
    **{f"count-{m}": (("count", m, "--json"), lambda c: c)
       for m in ("llama2-13b", "llama3-8b", "llama3-70b", "llama3.1-405b", "mixtral-8x7b", "palm-540b")},
}


def _same(got, want, where=""):
    if isinstance(want, float) and isinstance(got, (int, float)):
        assert math.isclose(got, want, rel_tol=REL, abs_tol=1e-12), f"{where}: {got} != pinned {want}"
    elif isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), f"{where}: keys {sorted(got)} != {sorted(want)}"
        for key in want:
            _same(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), f"{where}: {len(got)} items != {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            _same(g, w, f"{where}[{i}]")
    else:
        assert got == want, f"{where}: {got!r} != pinned {want!r}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_headline_output_is_unchanged(name):
    argv, headline = CASES[name]
    got = headline(_run(*argv))
    path = PINNED / f"{name}.json"
    if os.environ.get("SYMROOF_REPIN"):
        path.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    _same(got, json.loads(path.read_text()), name)
