"""`symroof reproduce`: the book's claims against the cards (oracle: book-4-6.md sections 1.8, 2.8, 2.9, 3, 6)."""

import json
import re
import subprocess
import sys

import pytest

from pathlib import Path

from symroof.claims import reproduce
from symroof.errors import CardError, SymroofError, UnknownNameError

ROOT_DERIVATIONS = Path(__file__).resolve().parent.parent / "derivations"

# Where the book contradicts itself (book-4-6.md section 6, items 1, 2, 3 and 5), and the
# input that reproduces its printed number.
SEED_ERRATA = {"memory-checkpoints": {"ckpt_per_layer": 4}, "min-chips-days": {"ckpt_per_layer": 4},
               "min-chips-years": {"ckpt_per_layer": 3}, "batch-sequences": {"seq": 4096},
               "chosen-mesh": {"X": 1792, "Y": 5}, "takeaway-mesh": None}


@pytest.fixture(scope="module")
def seed():
    return {r.id: r for r in reproduce.run("seed").results}


def test_every_seed_row_is_there(seed):
    # book-4-6.md section 3, rows 1-26 (row 10 is two claims: seconds and days; 16 is days and years)
    rows = ["ffw-params", "vocab-params", "attention-params", "total-params", "mlp-share", "flops-per-token",
            "one-chip-per-token", "total-flops", "one-chip-years", "pod-seconds", "pod-days", "memory-params",
            "memory-optimizer", "memory-checkpoints", "memory-total", "min-chips", "min-chips-days",
            "min-chips-years", "memory-per-chip", "memory-per-chip-12-ckpts", "batch-sequences", "max-pure-dp",
            "fsdp-per-chip-batch", "fsdp-bound", "mixed-bound", "x-opt", "chosen-mesh", "takeaway-mesh"]
    assert list(seed) == rows


def test_self_contradictions_differ_and_show_the_reproducing_input(seed):
    for cid, with_ in SEED_ERRATA.items():
        assert seed[cid].verdict == "differs", cid
        assert seed[cid].reason
        if with_:
            assert seed[cid].reproduce["with"] == with_
            assert seed[cid].reproduce["reproduces"], cid


def test_consistent_seed_claims_match_or_round(seed):
    for cid, r in seed.items():
        if cid not in SEED_ERRATA:
            assert r.verdict in ("match", "rounded"), (cid, r.verdict, r.reason)


@pytest.mark.parametrize("cid, exact, rel", [
    ("total-params", 70_553_706_496, 0),             # HF num_parameters(), book-4-6.md section 5
    ("ffw-params", 56_371_445_760, 0),
    ("attention-params", 12_079_595_520, 0),
    ("vocab-params", 2_101_346_304, 0),
    ("flops-per-token", 6 * 70_553_706_496, 0),
    ("fsdp-bound", 850, 0),                           # 2550 / 3
    ("mixed-bound", 2 * 2550 ** 2 / 28672, 1e-12),    # 453.58
    ("x-opt", (2 * 4194304 * 8960 / 28672) ** 0.5, 1e-12),   # 1619.09
    ("fsdp-per-chip-batch", 4194304 / 8960, 1e-12),
    ("max-pure-dp", 1024, 0),
    ("pod-days", 6 * 70_553_706_496 * 15e12 / (8960 * 4.59e14 * 0.4) / 86400, 1e-12),
])
def test_seed_derived_numbers(seed, cid, exact, rel):
    assert float(seed[cid].derived) == pytest.approx(exact, rel=rel, abs=0 if rel else 1e-9)


def test_checkpoint_memory_matches_book_arithmetic(seed):
    # the book's own expression "2 * 8192 * 4e6 * 3 * 80", and with the 4 checkpoints it asked for
    assert seed["memory-checkpoints"].derived == 2 * 8192 * 4_000_000 * 3 * 80
    assert seed["memory-checkpoints"].reproduce["derived"] == 2 * 8192 * 4_000_000 * 4 * 80


@pytest.mark.parametrize("name, errata", [
    ("transformers", {"gemma-crossover", "q1-params"}),
    ("training", {"figure-critical-batch", "l2-vocab-in-sum"}),
])
def test_sections_4_and_5(name, errata):
    results = {r.id: r for r in reproduce.run(name).results}
    for cid, r in results.items():
        expected = ("differs",) if cid in errata else ("match", "rounded")
        assert r.verdict in expected, (cid, r.verdict, r.reason)


def test_section_5_numbers():
    r = {x.id: x for x in reproduce.run("training").results}
    assert r["dcn-bound-text"].derived == 73440                  # 4.59e14 / (2.5e10 / 4)
    assert r["dp-bound-1-axis"].derived == 2550
    assert float(r["l2-mixed-bound"].derived) == pytest.approx(2 * 2550 ** 2 / 13824, rel=1e-12)
    assert r["l2-total"].derived == 13_015_864_320             # HF count, book-4-6.md 2.9
    assert r["l2-activations-16m"].derived == 2 * 40 * 16 * 10 ** 6 * (5120 + 2 * 13824)   # 4.194e13
    assert r["l2-pod-hbm"].derived == 4096 * 96 * 10 ** 9
    assert float(r["figure-critical-batch"].derived) == pytest.approx(4096 * 2 * 2550 ** 2 / (8192 * 4))


def test_section_4_numbers():
    r = {x.id: x for x in reproduce.run("transformers").results}
    assert r["attention-crossover-8d"].derived == 8 * 8192
    assert r["q5-attention-vs-qkvo"].derived == 2 * 4096
    assert r["kv-cache-example"].derived == 2 ** 33
    assert r["q1-kv-per-token"].derived == 2 * 64 * 4096
    # L(3DF + 4D^2 + D) + 2DV (book) plus the second norm per layer and the final norm
    assert r["q1-params"].derived == 17_442_275_328 + 64 * 4096 + 4096


def test_rerun_on_other_cards():
    report = reproduce.run("seed", model="llama3.1-405b", chip="tpu-v6e")
    r = {x.id: x for x in report.results}
    assert r["total-params"].derived == 405_853_388_800
    assert r["fsdp-per-chip-batch"].derived == sp_rational(4194304, 256)     # v6e pod: 16x16
    assert {x.verdict for x in report.results} == {"n/a"}


def sp_rational(a, b):
    import sympy as sp
    return sp.Rational(a, b)


def test_set_changes_a_setting():
    r = reproduce.run("seed", sets={"batch_tokens": "8388608"}, only="fsdp-per-chip-batch").results[0]
    assert r.derived == sp_rational(8388608, 8960)


@pytest.mark.parametrize("sets, words", [
    ({"n_layers": "1.5"}, r"--set: key 'n_layers' must be an integer from 1 to 10\^12, got '1.5'"),   # was 1
    ({"grad_bytes": "2.7"}, r"--set: key 'grad_bytes' must be an integer from 0 to 10\^12"),          # was 2
    ({"n_layers": "1e30"}, r"--set: key 'n_layers' must be an integer from 1 to 10\^12"),
    ({"mfu": "2"}, "--set: mfu must be at most 1"),
    ({"n_kv_heads": "5"}, r"with --set n_kv_heads=5: key 'n_kv_heads' \(5\) must divide 'n_heads' \(64\)"),
    ({"norms_per_layer": "3"}, "with --set norms_per_layer=3: key 'norms_per_layer' must be 1, 2 or 4"),
    ({"experts_per_token": "4"}, r"key 'experts_per_token' \(4\) must be at most 'n_experts' \(1\)"),
    ({"model": "mixtral-8x7b", "experts_per_token": "9"}, r"'experts_per_token' \(9\) must be at most 'n_experts' \(8\)"),
    ({"ring_factor": "maybe"}, "ring_factor must be one of true, false"),     # was a TypeError
    ({"recompute": "full"}, "unknown setting 'recompute'"),                  # no claim reads it
])
def test_set_values_get_the_card_checks(sets, words):
    with pytest.raises(CardError, match=words):
        reproduce.run("seed", sets=sets, only="total-params")


def test_set_model_keys_rebuild_the_card():
    # the card is rebuilt, its layer list with it (was: n_layers 40 beside a list of 80 layers)
    card = reproduce.context({"n_layers": "40", "n_kv_heads": "16"}, "test").card
    assert (card.n_layers, card.n_kv_heads, card.layers) == (40, 16, (("layer", 40),))
    same = reproduce.run("seed", sets={"n_layers": "8e1"}, only="total-params").results[0]    # '8e1' is 80
    assert same.derived == 70_553_706_496


def _write(tmp_path, text):
    path = tmp_path / "d.yaml"
    path.write_text(text)
    return str(path)


def test_missing_field(tmp_path):
    path = _write(tmp_path, "name: x\ntitle: x\nclaims:\n  - {id: a, claim: a, quantity: params_total}\n")
    with pytest.raises(CardError, match="missing key 'document'"):
        reproduce.run(path)


@pytest.mark.parametrize("claim, words", [
    ("{id: a, claim: a, quantity: params_total, document: 1, settings: [1]}", "settings: expected a mapping"),
    ("{id: a, claim: a, quantity: params_total, document: x}", "document: expected a number"),
    ("{id: a, claim: a, quantity: params_total, document: 1, tolerance: big}", "tolerance: expected a number"),
    ("{id: a, claim: a, quantity: params_total, document: 1, colour: red}", "unknown key 'colour'"),
])
def test_bad_claim_fields(tmp_path, claim, words):
    path = _write(tmp_path, f"name: x\ntitle: x\nclaims:\n  - {claim}\n")
    with pytest.raises(CardError, match=words):
        reproduce.run(path)


@pytest.mark.parametrize("head, claim, words", [
    ("", "id: a, quantity: params_total, document: 0", r"claim 1 \(a\): key 'document' must be a non-zero number, got 0"),
    ("", "id: [a], quantity: params_total, document: 1", r"claim 1: key 'id' must be non-empty text, got \['a'\]"),
    ("", "id: a, quantity: [x], document: 1", r"claim 1 \(a\): key 'quantity' must be non-empty text"),
    ("defaults: {tolerance: abc}\n", "id: a, quantity: params_total, document: 1",
     "defaults: tolerance: expected a number, got 'abc'"),
    ("defaults: {foo: 1}\n", "id: a, quantity: params_total, document: 1",
     "defaults: unknown key 'foo'; allowed: rounded_tolerance"),
    ("fix_in_formula: 5\n", "id: a, quantity: params_total, document: 1",
     "key 'fix_in_formula' must be a list of symbol names"),
    ("fix_in_formula: [M_Q]\n", "id: a, quantity: params_total, document: 1",
     "key 'fix_in_formula': unknown symbol 'M_Q'; allowed: B"),
    ("notation: trianing\n", "id: a, quantity: params_total, document: 1",
     "key 'notation' is 'trianing'; allowed: model, tokens, training"),
    ("", "id: a, quantity: params_total, document: 1, tolerance: 2",
     r"claim 1 \(a\): tolerance is relative: from 0 to 1, got 2"),
    ("", "id: a, quantity: params_total, document: 1, settings: {n_layers: 1.5}",
     r"claim 1 \(a\): settings: key 'n_layers' must be an integer"),
    # a group symroof has not was refused only when the claim ran, naming neither the file nor the claim
    ("", "id: a, quantity: params_group, document: 1, settings: {groups: [mlp, bogus]}",
     r"claim 1 \(a\): settings: groups must name parameter groups from: embedding, attention, mlp, norms, "
     r"unembedding, mtp, got \['mlp', 'bogus'\]"),
    ("", "id: a, quantity: params_fraction, document: 1, settings: {groups: mlp, of: 5}",
     r"claim 1 \(a\): settings: of must name parameter groups"),
    # a 4000-digit number was quoted whole (a 4101-character line)
    ("", "id: a, quantity: params_total, document: 1" + "0" * 4000,
     r"claim 1 \(a\): document: expected a number, got 1000000000\S*\.\.\.\S*$"),
])
def test_bad_file_keys_are_refused_on_reading(tmp_path, head, claim, words):
    # before: a ZeroDivisionError, TypeErrors and a ValueError when run or printed, or silently ignored
    path = _write(tmp_path, f"name: x\ntitle: x\n{head}claims:\n  - {{claim: a, {claim}}}\n")
    with pytest.raises(CardError, match=f"^{re.escape(path)}: {words}"):
        reproduce.load(path)


def test_a_default_tolerance_of_0_is_kept(tmp_path):
    # 70.55e9 is 3e-5 off the card's 70,553,706,496: a match by the printed digits, not exactly
    path = _write(tmp_path, "name: x\ntitle: x\ndefaults: {tolerance: 0}\nclaims:\n"
                            "  - {id: a, claim: a, quantity: params_total, document: 70.55e9}\n")
    assert reproduce.run(path).results[0].verdict == "rounded"


def test_unknown_quantity(tmp_path):
    path = _write(tmp_path, "name: x\ntitle: x\nclaims:\n  - {id: a, claim: a, quantity: nope, document: 1}\n")
    with pytest.raises(UnknownNameError, match="unknown quantity 'nope'; known: params_total"):
        reproduce.run(path)


def test_yaml_cannot_run_code(tmp_path):
    path = _write(tmp_path, "name: !!python/object/apply:os.system ['echo pwned']\ntitle: x\nclaims: []\n")
    with pytest.raises(CardError, match="not valid YAML"):
        reproduce.run(path)


def test_unknown_names():
    with pytest.raises(UnknownNameError, match="known: .*seed"):
        reproduce.run("nope")
    with pytest.raises(UnknownNameError, match="unknown claim 'nope'"):
        reproduce.run("seed", only="nope")
    with pytest.raises(SymroofError, match="--set: unknown setting 'foo'"):
        reproduce.run("seed", sets={"foo": "1"})


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "symroof", *args], capture_output=True, text=True)


def test_cli_default_runs_the_seed_json():
    out = _cli("reproduce", "--json")
    assert out.returncode == 0, out.stderr
    claims = json.loads(out.stdout)
    assert len(claims) == 28
    for c in claims:
        assert {"id", "claim", "expression", "derived", "document", "verdict"} <= set(c)
    assert {c["id"]: c for c in claims}["chosen-mesh"]["reproduce_with"]["with"] == {"X": 1792, "Y": 5}


@pytest.mark.parametrize("args, words", [
    (("reproduce", "nope"), "unknown derivation 'nope'"),
    (("reproduce", "--claim", "nope"), "unknown claim 'nope'"),
    (("reproduce", "--model", "nope"), "--model: unknown model 'nope'"),     # blamed the seed file's claim
    (("reproduce", "--chip", "nope"), "--chip: unknown chip 'nope'"),
    # a card that lists its layers: the count cannot change alone (said only that 'layers' adds up to 61)
    (("reproduce", "--model", "deepseek-v3", "--set", "n_layers=12"), "deepseek-v3 lists its layers (61 of 2 kinds)"),
    # two flags for one value: --model won silently over --set model=
    (("reproduce", "--set", "model=llama3-8b", "--model", "llama3-70b"), "both name the model; give one"),
])
def test_cli_errors_are_one_line(args, words):
    out = _cli(*args)
    assert out.returncode == 2
    assert words in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_cli_bad_derivation_file_is_one_line(tmp_path):
    # fix_in_formula: 5 was a TypeError from `latex`, after every claim had run
    text = (ROOT_DERIVATIONS / "seed.yaml").read_text().replace("fix_in_formula: [M_X", "fix_in_formula: 5 #")
    path = tmp_path / "seed.yaml"
    path.write_text(text)
    out = _cli("latex", str(path), "-o", str(tmp_path / "x.tex"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [f"symroof: error: {path}: key 'fix_in_formula' must be a list "
                                               "of symbol names, e.g. [M_X, M_Y], got 5"]


def test_a_claims_card_that_cannot_be_read_names_the_file_claim_and_key(tmp_path):
    # said only "unknown model '5'", naming neither the derivation file nor the claim
    text = (ROOT_DERIVATIONS / "seed.yaml").read_text().replace("settings: {groups: [mlp]}",
                                                                "settings: {groups: [mlp], model: 5}", 1)
    path = tmp_path / "seed.yaml"
    path.write_text(text)
    out = _cli("reproduce", str(path))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert out.stderr.startswith(f"symroof: error: {path}: claim ffw-params: key 'model': unknown model '5'")
