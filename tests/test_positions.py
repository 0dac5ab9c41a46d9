"""A learned position table (GPT-2's ``n_positions``, the card's ``max_positions``) ends where it ends:
a longer sequence is refused by every command that takes one, in one line naming the flag, and a
command given no ``--seq`` runs at the table's length where that is below its default of 4096."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLAN = ["--chip", "tpu-v5p", "--chips", "64", "--batch-tokens", "1048576"]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "symroof", *args], capture_output=True, text=True, cwd=ROOT)


@pytest.mark.parametrize("args", [
    ["count", "gpt2-124m", "--seq", "1025"],
    ["ops", "gpt2-124m", "--chip", "h100-sxm", "--seq", "2048"],
    ["plan", "gpt2-124m", *PLAN, "--seq", "4096"],
    ["sensitivity", "gpt2-124m", *PLAN, "--seq", "4096"],
    ["formula", "x_opt", "--model", "gpt2-124m", *PLAN, "--seq", "2048"],
    ["count", "gpt2-xl", "--seq", "1025"],
    ["plot", "ratio", "gpt2-124m", "--chip", "tpu-v5p", "--chips", "64", "--seq", "4096", "-o", "OUT"],
    ["plot", "roofline", "gpt2-124m", "--chip", "h100-sxm", "--seq", "2048", "-o", "OUT"],
])
def test_a_sequence_past_the_learned_positions_is_refused_in_one_line(args, tmp_path):
    done = _cli(*(str(tmp_path / "plot.png") if a == "OUT" else a for a in args))
    seq = int(args[args.index("--seq") + 1])
    assert done.returncode == 2 and done.stdout == ""
    line = done.stderr.strip()
    assert "\n" not in line and f"--seq {seq}" in line and "1024 positions" in line
    assert f"exceed it by {seq - 1024}" in line and "Traceback" not in done.stderr


def test_without_seq_a_gpt2_card_runs_at_its_1024_positions_and_says_so():
    """transformers' GPT2Config defaults n_positions to 1024; the shipped cards keep it."""
    out = _cli("count", "gpt2-124m").stdout
    assert out.startswith("gpt2-124m: 1 sequence(s) × 1024 tokens")
    assert _cli("count", "gpt2-124m", "--seq", "1024").stdout == out
    plan = _cli("plan", "gpt2-124m", *PLAN).stdout
    assert "(1024 × 1024)" in plan.splitlines()[0]
    assert _cli("count", "llama3-8b").stdout.startswith("llama3-8b: 1 sequence(s) × 4096 tokens")   # RoPE: no table


def test_serve_refuses_a_context_past_the_positions_too_and_defaults_to_them():
    serve = ("serve", "gpt2-124m", "--chip", "h100-sxm", "--chips", "1")
    done = _cli(*serve, "--context", "2048")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "--context 2048:" in done.stderr and "exceed it by 1024" in done.stderr
    done = _cli(*serve, "--prompt", "1000", "--generate", "100")
    assert done.returncode == 2 and "--prompt + --generate 1100:" in done.stderr and "exceed it by 76" in done.stderr
    assert "context 1024 tokens" in _cli(*serve).stdout.splitlines()[0]        # not serve's usual 8192
    assert _cli(*serve, "--prompt", "1000", "--generate", "24").returncode == 0


def test_a_runs_file_past_the_positions_is_refused_naming_the_run_and_key(tmp_path):
    from runsfile import ONE_RUN

    path = tmp_path / "runs.yaml"
    path.write_text(ONE_RUN.replace("model: llama3-8b", "model: gpt2-124m").replace("seq: 4096", "seq: 2048"))
    done = _cli("predict", str(path))
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "(r): key 'seq' is 2048: gpt2-124m has 1024 positions" in done.stderr


def test_cards_of_a_gpt2_card_reads_it_at_its_positions():
    assert _cli("cards", "gpt2-124m").returncode == 0
