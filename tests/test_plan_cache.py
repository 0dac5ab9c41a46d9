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
