"""Hostile or absurd input to plan, ops and the readers: one line, exit 2, no traceback, no hang
(each runs in a subprocess with a generous timeout that only catches a hang, not speed)."""

import json
import subprocess
import sys

import pytest

from symroof.cli import main

PLAN = ["plan", "llama3-70b", "--chip", "tpu-v5p", "--batch-tokens", "4194304", "--seq", "4096"]


def _cli(args, timeout=60):
    out = subprocess.run([sys.executable, "-m", "symroof", *args], capture_output=True, text=True,
                         timeout=timeout)
    return out.returncode, out.stdout, out.stderr


@pytest.mark.parametrize("args, message", [
    (PLAN + ["--chips", "8960", "--set", "pod_shape=" + ",".join(["2"] * 12)], "at most 4 axes"),
    (PLAN + ["--chips", "8960", "--set", "pod_shape=2000000,4,4"], "at most 1000000 chips"),
    # each axis within bounds, the pod not: a 1e24-chip pod overflowed numpy in plan, and cards and
    # serve walked its divisors for minutes; the pod's total is bounded, by the flag and key
    (["plan", "llama3-8b", "--chip", "tpu-v5p", "--chips", "256", "--batch-tokens", "1048576",
      "--set", "pod_shape=1e6x1e6x1e6x1e6"], "--set pod_shape: key 'pod_shape' must have at most 4 axes and at most 1000000 chips"),
    (["html", "plan", "llama3-8b", "-o", "/dev/null", "--chip", "tpu-v5p", "--chips", "256", "--batch-tokens",
      "1048576", "--set", "pod_shape=1e6x1e6x1e6x1e6"], "--set pod_shape: key 'pod_shape'"),
    (["cards", "tpu-v5p", "--set", "pod_shape=1e6x1e6x1e6"], "--set pod_shape: key 'pod_shape'"),
    (["serve", "llama3-8b", "--chip", "tpu-v5p", "--chips", "8", "--set", "pod_shape=1e6x1e6"],
     "--set pod_shape: key 'pod_shape'"),
    (PLAN + ["--chips", "1e9"], "slices over DCN"),
    (["plan", "llama3-70b", "--chip", "h100-sxm", "--batch-tokens", "4194304", "--chips", "1e9"],
     "between 50% and all of the 1000000000 chips"),
    (PLAN + ["--chips", "8960", "--set", "peak_flops_per_s.bf16=1e-300"], "out of range"),
    # found by fuzzing: an integer chip key overflowed a float, a 5001-digit value could not be read,
    # a chip count with 1344 divisors asked numpy for gigabytes, a tiny MFU made a step infinite
    (PLAN + ["--chips", "8960", "--set", "ici_links_per_axis=1e13"], "at most 10^12"),
    (PLAN + ["--chips", "8960", "--set", "hbm_bytes=1" + "0" * 5000], "(5001 characters)"),
    (["plan", "llama3-8b", "--chip", "tpu-v5p", "--chips", "735134400", "--batch-tokens", "735134400000",
      "--seq", "1000"], "more than symroof searches"),
    (PLAN + ["--chips", "8960", "--mfu", "1e-320"], "argument --mfu: must be a number in [1e-30, 1], got '1e-320'"),
    # float() read other scripts' digits: '٠.٥' was 0.5
    (PLAN + ["--chips", "8960", "--tokens", "1e12", "--mfu", "\u0660.\u0665"], "argument --mfu: must be a number"),
    (["serve", "llama3-8b", "--chip", "h100-sxm", "--chips", "8", "--batch", "8", "--prompt", "1024",
      "--mfu", "\u0660.\u0665"], "--mfu must be a number in [1e-30, 1]"),
    (["serve", "llama3-8b", "--chip", "h100-sxm", "--chips", "8", "--batch", "8", "--prompt", "1024",
      "--mfu", "1e-320"], "--mfu must be a number in [1e-30, 1], got '1e-320'"),
    (PLAN + ["--chips", "1e400"], "positive integer"),
    (PLAN + ["--chips", "1e20"], "more than symroof plans for"),
    (["plan", "llama3-70b", "--chip", "tpu-v5p", "--chips", "8960", "--batch-tokens", "1e29", "--seq", "1"],
     "more than symroof plans for"),
    (PLAN + ["--chips", "1" * 5000], "positive integer"),
    (PLAN + ["--chips", "1.5"], "positive integer"),
    # str.isdigit() takes a superscript digit that int() refuses (a traceback before); \\d and
    # int() take other scripts' digits ('٣' read as 3): only ASCII digits are numbers
    (PLAN + ["--chips", "256", "--mesh", "fsdp=²"], "--mesh 'fsdp=²': DEGREE must be a positive integer"),
    (PLAN + ["--chips", "256", "--m", "fsdp=²"], "--m 'fsdp=²': M must be a positive integer"),
    (["sensitivity", "llama3-8b", "--chip", "tpu-v5p", "--chips", "256", "--batch-tokens", "1048576",
      "--m", "fsdp=¹"], "--m 'fsdp=¹': M must be a positive integer"),
    (PLAN + ["--chips", "256", "--mesh", "fsdp=٢٥٦"], "DEGREE must be a positive integer"),
    (PLAN + ["--chips", "٢٥٦"], "positive integer"),
    (PLAN + ["--chips", "256", "--set", "hbm_bytes_per_s=٣e12"], "must be a number"),
    (["formula", "x_opt", "--at", "n_chips=1e٣"], "not a number"),
    # an axis given twice is refused, as a card's repeated key is (the last one won)
    (PLAN + ["--chips", "256", "--mesh", "fsdp=256", "--mesh", "fsdp=128"], "--mesh fsdp given twice"),
    (PLAN + ["--chips", "256", "--m", "fsdp=2,fsdp=1"], "--m fsdp given twice (fsdp=2, then fsdp=1)"),
    # flags that did nothing: --ckpt beside the searched policies (each sets its own), --mfu without --tokens
    (PLAN + ["--chips", "256", "--recompute", "auto", "--ckpt", "3"], "--recompute auto searches the policies"),
    (PLAN + ["--chips", "256", "--mfu", "0.5"], "add --tokens"),
])
def test_refused_in_one_line(args, message):
    rc, out, err = _cli(args)
    assert rc == 2 and "Traceback" not in err
    assert message in err and len(err.strip().splitlines()) == 1, err        # argparse's too


def test_tensor_beyond_the_kv_heads_replicates_them_at_a_cost():
    # 8 KV heads on tensor=16: each KV head is held and computed by 2 chips, so the k/v projections
    # cost each chip 1/8 of them (not 1/16): compute and memory are above a mesh of the same size
    # whose tensor degree divides the heads
    rc, out, err = _cli(PLAN + ["--chips", "8192", "--mesh", "fsdp=512,tensor=16", "--json"])
    assert rc == 0, err
    rep = json.loads(out)
    rc, out, err = _cli(PLAN + ["--chips", "8192", "--mesh", "fsdp=1024,tensor=8", "--json"])
    div = json.loads(out)
    assert rep["t_math_s"] > div["t_math_s"]


def test_a_tensor_degree_that_neither_divides_nor_replicates_kv_heads_is_refused():
    from dataclasses import replace

    from symroof.io.catalog import load_model
    from symroof.search.candidates import allowed_degrees, degree_problem

    card = replace(load_model("llama3-70b"), n_kv_heads=6, n_heads=48, d_ff=24576)
    assert "neither divides the 6 KV heads" in degree_problem(card, 1024, 4096, {"tensor": 4, "fsdp": 8})
    assert 4 not in allowed_degrees("tensor", card, 1024, 4096)
    assert {2, 3, 6, 12, 24, 48} <= set(allowed_degrees("tensor", card, 1024, 4096))


def test_numbers_parse_the_same_everywhere(capsys):
    # exact decimal integers in any notation; 4.194304e6 is 4194304 exactly
    assert main(["plan", "llama3-70b", "--chip", "tpu-v5p", "--chips", "8.96e3", "--batch-tokens",
                 "4.194304e6", "--tokens", "15e12", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["chips"] == 8960 and r["batch_tokens"] == 4194304 and "train_days" in r


def test_ops_json_has_no_infinity():
    rc, out, err = _cli(["ops", "llama3-8b", "--chip", "tpu-v5p", "--json"])
    assert rc == 0 and "Infinity" not in out and "NaN" not in out
    rows = json.loads(out)
    assert any(r["intensity"] is None and r["bytes"] == 0 for r in rows)   # a fused kernel's on-chip op


@pytest.mark.parametrize("name, text, message", [
    ("bomb.yaml", "kind: model\n" + "\n".join(
        f"{c}: &{c} [" + ",".join([f"*{p}"] * 9 if p else ['"x"'] * 9) + "]"
        for p, c in zip([None, *"abcdefgh"], "abcdefghi")), "alias bomb"),
    ("deep.json", '{"a":' * 100000 + "1" + "}" * 100000, "nested too deeply"),
    ("deep.yaml", "kind: model\nx: " + "[" * 5000 + "]" * 5000, "nest"),
    # an integer longer than Python converts: named by line and key, not only by file
    ("bigint.json", '{"vocab_size": 1' + "0" * 5000 + "}", "line 1: key 'vocab_size' is an integer of 5001 digits"),
    ("bigint.yaml", "kind: model\nname: x\nn_layers: 1" + "0" * 5000,
     "line 3: key 'n_layers' is an integer of 5001 digits; at most 4300"),
    ("biglist.yaml", "kind: model\nname: x\nlayers: [1" + "0" * 5000 + "]", "line 3: a list item is an integer"),
])
def test_hostile_files_are_refused_fast(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    rc, out, err = _cli(["count", str(path)], timeout=30)
    assert rc == 2 and "Traceback" not in err and message in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("extra, what", [(["--strategy", "fsdp"], "the strategy fsdp"),
                                         (["--mesh", "fsdp=64"], "the mesh")])
def test_a_schedule_without_a_stage_axis_is_refused(extra, what):
    """--schedule is read only where a pipeline is planned; given beside a family or mesh without a
    stage axis it had been taken and ignored."""
    code, _, err = _cli(["plan", "llama3-8b", "--chip", "tpu-v5p", "--chips", "64", "--batch-tokens", "1048576",
                         "--schedule", "1f1b", *extra])
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"--schedule 1f1b: {what} has no stage axis" in err
    # what is allowed, by name: the pipelined strategies and the schedules `plan --help` offers
    assert "--strategy pp_fsdp or pp_fsdp_tp" in err and "gpipe, 1f1b, zb1p, dualpipev or auto" in err



def test_a_library_caller_asking_for_an_unplanned_schedule_gets_one_line():
    """The command line offers only the schedules the plan costs (--schedule); the library refused
    'interleaved' with a NameError from inside the generated code (its virtual-stage count is no
    argument of the plan's families)."""
    from symroof.errors import InfeasibleError
    from symroof.io.catalog import load_chip, load_model
    from symroof.search.plan import Options, plan

    with pytest.raises(InfeasibleError, match="schedule 'interleaved' is not planned; allowed: gpipe, 1f1b"):
        plan(load_model("llama3-70b"), load_chip("h100-sxm"), 64, 1048576, 8192, strategy="pp_fsdp_tp",
             options=Options(schedule="interleaved"))
