"""The on-disk expression cache: JSON trees of whitelisted nodes, rebuilt without eval or pickle;
a stale, foreign or tampered entry is never used."""

import json

import pytest
import sympy as sp

from symroof.core.symbols import B, C, T, X, Y
from symroof.io import expression_cache as cache


@pytest.fixture
def where(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMROOF_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("SYMROOF_CACHE", raising=False)
    return tmp_path


def test_trees_round_trip_exactly():
    table = cache._symbols()
    expr = sp.Max(B * T / (X * Y) + sp.Rational(3, 7) * C, sp.sqrt(2 * B / C), evaluate=False)
    tree = cache.encode(expr, table)
    assert json.loads(json.dumps(tree)) == tree                       # plain JSON
    assert cache.decode(tree, table) == expr


def test_only_whitelisted_nodes_are_rebuilt():
    table = cache._symbols()
    for bad in (["Function", "print"], ["Sym", "__import__"], ["Int", "1e9"], ["Add"], "X", ["Float", "1.5"]):
        with pytest.raises(ValueError):
            cache.decode(bad, table)


def test_an_entry_is_reused_and_a_stale_one_never(where, monkeypatch):
    calls = []

    def compute():
        calls.append(1)
        return {"t": B * T / X}

    fields = {"structure": "S1", "family": "fsdp"}
    assert cache.cached("family", fields, compute) == {"t": B * T / X}
    assert cache.cached("family", fields, compute) == {"t": B * T / X} and len(calls) == 1    # reused
    # another symroof version or source: the same fields name another entry, so compute again
    monkeypatch.setattr(cache, "_FINGERPRINT", ["9.9:other-source"])
    assert cache.cached("family", fields, compute) == {"t": B * T / X} and len(calls) == 2
    # a different structure is a different key
    cache.cached("family", {**fields, "structure": "S2"}, compute)
    assert len(calls) == 3


def test_an_entry_whose_stored_key_differs_is_ignored(where):
    fields = {"structure": "S1"}
    cache.store("family", fields, {"t": B})
    (entry,) = where.glob("*.json")
    body = json.loads(entry.read_text())
    body["key"] = body["key"].replace("S1", "S0")        # e.g. a hash collision or a copied file
    entry.write_text(json.dumps(body))
    assert cache.load("family", fields) is None
    assert cache.cached("family", fields, lambda: {"t": T}) == {"t": T}


def test_a_tampered_entry_is_refused_and_recomputed(where):
    fields = {"structure": "S1"}
    cache.store("family", fields, {"t": B})
    (entry,) = where.glob("*.json")
    body = json.loads(entry.read_text())
    body["exprs"]["t"] = ["Function", "os.system", ["Sym", "B"]]
    entry.write_text(json.dumps(body))
    assert cache.load("family", fields) is None
    entry.write_text("not json")
    assert cache.cached("family", fields, lambda: {"t": T}) == {"t": T}
    assert cache.load("family", fields) == {"t": T}       # overwritten with a good entry


def test_location_and_switch(tmp_path, monkeypatch):
    monkeypatch.delenv("SYMROOF_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache.cache_dir() == tmp_path / "symroof"
    monkeypatch.setenv("SYMROOF_CACHE", "off")
    assert cache.cache_dir() is None and cache.store("family", {"s": 1}, {"t": B}) is False


def test_a_cached_plan_equals_a_fresh_one(where, monkeypatch):
    from symroof.io.catalog import load_chip, load_model
    from symroof.search import plan as planlib, sweep

    card, chip = load_model("llama3-8b"), load_chip("tpu-v5e")
    monkeypatch.setattr(sweep, "_CACHE", {})
    first = planlib.plan(card, chip, 256, 1024 * 4096, 4096, strategy="fsdp_tp")
    assert list(where.glob("*.json"))
    monkeypatch.setattr(sweep, "_CACHE", {})
    second = planlib.plan(card, chip, 256, 1024 * 4096, 4096, strategy="fsdp_tp")
    assert (second["mesh"], second["step_time_s"]) == (first["mesh"], first["step_time_s"])
    monkeypatch.setenv("SYMROOF_CACHE", "off")
    monkeypatch.setattr(sweep, "_CACHE", {})
    third = planlib.plan(card, chip, 256, 1024 * 4096, 4096, strategy="fsdp_tp")
    assert third["step_time_s"] == pytest.approx(first["step_time_s"], rel=1e-12)


# ----------------------------------------------------------------------------- evaluating trees as data

def test_trees_evaluate_as_sympy_evaluates_them():
    """search/tree_numpy walks a stored tree with numpy; SymPy's own numeric evaluation of the
    same expression is the reference, at random points (relative 1e-12)."""
    import numpy as np

    from symroof.search import tree_numpy

    table = cache._symbols()
    exprs = [B * T / (X * Y) + sp.Rational(3, 7) * C,
             sp.Max(B * T / X, sp.sqrt(2 * B / C), 3 * Y ** 2, evaluate=False),
             sp.Min(B / (X + Y), T ** sp.Rational(3, 2)) - 7 * C / X,
             (B + 2 ** 70) / (X ** 3 * Y),
             # terms sharing a denominator, a constant, and subtrees shared across expressions
             B * T / (X * Y) + 5 * T / (X * Y) + 7 + C / X + sp.Rational(1, 3) / X,
             sp.Max(B * T / (X * Y), 2 * Y ** -2, evaluate=False) * (X * Y) ** 2]
    rng = np.random.default_rng(0)
    args = (B, T, X, Y, C)
    point = [rng.uniform(1, 1000, 50) for _ in args]
    fn = tree_numpy.function([cache.encode(e, table) for e in exprs], tuple(s.name for s in args))
    for expr, got in zip(exprs, fn(*point)):
        for i in range(0, 50, 7):
            want = float(expr.evalf(30, subs={s: sp.Float(v[i], 30) for s, v in zip(args, point)}))
            assert got[i] == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("tree", [["Function", "os.system"], ["Sym", "W"], ["Int", "9" * 399],
                                  ["Add"], ["Pow", ["Sym", "X"]], "X", ["Int", 5]])
def test_a_tree_off_the_whitelist_is_unsupported(tree):
    from symroof.search import tree_numpy

    with pytest.raises(tree_numpy.Unsupported):
        tree_numpy.function([tree], ("X",))


def test_a_damaged_plan_entry_is_recomputed(where, monkeypatch):
    """A numeric entry whose tree the evaluator refuses falls back to the derivation."""
    from symroof.io.catalog import load_chip, load_model
    from symroof.search import plan as planlib, sweep

    card, chip = load_model("llama3-8b"), load_chip("tpu-v5e")
    monkeypatch.setattr(sweep, "_CACHE", {})
    first = planlib.plan(card, chip, 256, 1024 * 4096, 4096, strategy="fsdp_tp")
    damaged = 0
    for entry in where.glob("*.json"):
        body = json.loads(entry.read_text())
        if '"kind": "numeric_family"' in body["key"]:
            body["exprs"] = {k: ["Sym", "not_a_symbol"] for k in body["exprs"]}
            entry.write_text(json.dumps(body))
            damaged += 1
    assert damaged
    monkeypatch.setattr(sweep, "_CACHE", {})
    second = planlib.plan(card, chip, 256, 1024 * 4096, 4096, strategy="fsdp_tp")
    # the fallback is SymPy's generated code: the same sums in another order
    assert second["mesh"] == first["mesh"]
    assert second["step_time_s"] == pytest.approx(first["step_time_s"], rel=1e-12)


def test_to_float_equals_sympys_evaluation():
    """fractions_eval.to_float (fractions, and a float root at the last step) against SymPy's evalf at 30
    digits, on the book's closed forms and a Max of roots (relative 1e-14)."""
    from symroof.core.symbols import F, M_X, M_Y, W_ici, b_act, n_chips
    from symroof.io.fractions_eval import to_float
    from symroof.solve.training import fsdp_tp_optimum

    d = fsdp_tp_optimum()
    vals = {B: 1024, T: 4096, C: 459 * 10 ** 12, X: 64, Y: 8, M_X: 2, M_Y: 1, n_chips: 8960,
            F: 28672, W_ici: 9 * 10 ** 10, b_act: 2}
    for expr in (d.expr, d.extra["critical_batch"], sp.Max(sp.sqrt(B / X), T ** sp.Rational(1, 3)) + 1 / Y):
        want = float(expr.xreplace({s: sp.Integer(v) if isinstance(v, int) else v for s, v in vals.items()}).evalf(30))
        assert to_float(expr, vals) == pytest.approx(want, rel=1e-14)


def test_a_repeated_plan_command_is_read_back_whole(where):
    """The same command twice prints the same text and JSON; the second run reads the stored
    result and imports neither SymPy nor numpy; another command over the cached families imports
    numpy but not SymPy; changing a card number (--set) is another key."""
    import subprocess
    import sys

    cmd = [sys.executable, "-c", "import sys; from symroof.cli import main; rc = main(sys.argv[1:]); "
           "print('MODULES', 'sympy' in sys.modules, 'numpy' in sys.modules); sys.exit(rc)",
           "plan", "llama3-8b", "--chip", "tpu-v5e", "--chips", "64", "--batch-tokens", "262144", "--seq", "4096"]
    env = {**__import__("os").environ, "SYMROOF_CACHE_DIR": str(where)}
    run = lambda *extra, cache="on": subprocess.run(  # noqa: E731
        cmd + list(extra), capture_output=True, text=True, env={**env, "SYMROOF_CACHE": cache}, check=True).stdout
    first, second = run(), run()
    assert first.endswith("MODULES True True\n") and second.endswith("MODULES False False\n")
    assert first.replace("True True", "") == second.replace("False False", "")
    cached_json, fresh_json = run("--json"), run("--json", cache="off")     # the text run stored it
    assert cached_json.endswith("MODULES False False\n") and fresh_json.endswith("MODULES True True\n")
    assert cached_json.replace("False False", "") == fresh_json.replace("True True", "")
    # another command over the same strategy families and meshes: evaluated by name, no SymPy
    other = run("--tokens", "15e12")
    assert other.endswith("MODULES False True\n") and "training:" in other
    faster = run("--set", "peak_flops_per_s.bf16=4e15")
    assert faster.endswith("MODULES True True\n") and faster.splitlines()[1] != first.splitlines()[1]


def test_validate_reads_its_predictions_back_and_never_a_stale_one(where, monkeypatch, tmp_path):
    """The second validate of the same runs derives nothing (published.predict is not called) and
    gives the same JSON; a run changed in any number is derived afresh; a damaged entry too."""
    from runsfile import ONE_RUN

    from symroof.claims import published

    runs = tmp_path / "runs.yaml"
    runs.write_text(ONE_RUN)
    first = published.as_json(*published.validate(runs))
    real = published.predict
    calls = []
    monkeypatch.setattr(published, "predict", lambda run: calls.append(run.name) or real(run))
    assert published.as_json(*published.validate(runs)) == first and calls == []
    runs.write_text(ONE_RUN.replace("measured_mfu: 0.4", "measured_mfu: 0.41"))
    published.validate(runs)
    assert calls == ["r"]
    for entry in where.glob("*.json"):
        body = json.loads(entry.read_text())
        if '"kind": "predictions"' in body["key"]:
            body["data"][0]["parts"] = {"matmul": "not a list"}
            entry.write_text(json.dumps(body))
    runs.write_text(ONE_RUN)
    assert published.as_json(*published.validate(runs)) == first and calls == ["r", "r"]


def test_the_cache_keeps_at_most_its_limit_and_drops_the_oldest_first(where):
    import os

    for i in range(30):
        cache.store_data("item", {"i": i}, i)
        entry = cache._path(cache.full_key("item", {"i": i}))
        os.utime(entry, ns=(10 ** 18 + i, 10 ** 18 + i))      # written in order
    assert cache.prune(where, limit=20) == 12                   # down to 90 % of 20
    assert [cache.load_data("item", {"i": i}) for i in range(30)] == [None] * 12 + list(range(12, 30))
    assert cache.prune(where, limit=20) == 0


@pytest.mark.parametrize("model, recompute, switched, schedule, dcn", [
    ("llama3-70b", None, False, None, ()),
    ("mixtral-8x7b", "selective", True, "1f1b", ()),
    ("deepseek-v3", "full", False, None, ()),
    ("llama3-70b", None, True, None, ("data",)),     # the pod would merge with data on DCN
])
def test_one_pod_is_the_several_pod_family_with_one_pod(where, model, recompute, switched, schedule, dcn):
    """A family on one pod is taken from the several-pod family at n_pods = 1 (sweep.derive_family);
    every term must be the one a direct derivation without a pod axis gives."""
    from symroof.io.catalog import load_model
    from symroof.search import sweep

    card = load_model(model)
    options = sweep.Options(schedule=schedule)
    structure = sweep._structure(card, options)
    policy = recompute
    families = [f for f in sweep.FAMILIES if card.n_experts or f not in sweep.MOE_ONLY]
    for family in families:
        direct = sweep._derive(family, structure, options, False, frozenset(dcn), policy, switched)
        taken = sweep.derive_family(family, structure, options, False, frozenset(dcn), policy, switched)
        assert set(taken) == set(direct), family
        for name, expr in direct.items():
            assert taken[name] == expr or sp.simplify(taken[name] - expr) == 0, (family, name)


@pytest.mark.parametrize("model, chip_name", [("llama3-70b", "tpu-v5p"), ("mixtral-8x7b", "h100-sxm")])
def test_one_pods_numbers_are_the_several_pod_familys_at_one_pod(where, model, chip_name):
    """The same shortcut after the cards' numbers are in (sweep._numeric): each term equals the
    direct derivation without a pod axis with the numbers substituted, KV heads replicated."""
    from symroof.core.symbols import Y
    from symroof.io.bind import chip_values, model_values
    from symroof.io.catalog import load_chip, load_model
    from symroof.io.run import RunSettings
    from symroof.parallel.axes import replicate_kv
    from symroof.search import sweep

    card, chip, run, options = load_model(model), load_chip(chip_name), RunSettings(), sweep.Options()
    switched = chip.family == "gpu"
    values = replicate_kv({**model_values(card), **chip_values(chip), **run.values()}, Y)
    for family in ("fsdp_tp_seq", "pp_fsdp_tp"):
        direct = sweep._derive(family, sweep._structure(card, options), options, False, frozenset(), None, switched)
        taken = sweep._numeric(family, card, chip, run, options, False, frozenset(), True, switched)
        assert set(taken) == set(direct)
        for name, expr in direct.items():
            assert sp.simplify(taken[name] - expr.xreplace(values)) == 0, (family, name)


def test_the_predictions_matmul_pairs_are_stored_bit_for_bit():
    from symroof.claims.prediction_cache import _packed, _unpacked

    pairs = [(0.1, 2.5e-300), (-0.0, float("inf")), (5e-324, 1 / 3)]
    got = _unpacked(json.loads(json.dumps(_packed(pairs))))
    assert [tuple(map(float.hex, p)) for p in got] == [tuple(map(float.hex, p)) for p in pairs]
    assert _packed([(1, 0.5)]) == [(1, 0.5)]           # an int is kept as it is, not made a float
    for bad in ("not a list", _packed(pairs)[:-4]):
        with pytest.raises(ValueError):
            _unpacked(bad)


def test_an_edit_under_report_makes_another_fingerprint(monkeypatch):
    """The plan command's checks and result are made in report/plan_command.py, so a cached plan is
    keyed by report's sources too: a check added there is never skipped by an entry made before it."""
    import os
    from pathlib import Path

    import symroof.report.plan_command as plan_command

    monkeypatch.setattr(cache, "_FINGERPRINT", [])
    before = cache.fingerprint()
    path = Path(plan_command.__file__)
    st = path.stat()
    try:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        monkeypatch.setattr(cache, "_FINGERPRINT", [])
        assert cache.fingerprint() != before
    finally:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
