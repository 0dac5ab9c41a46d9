"""The command line: JSON shapes, human output, and one-line errors without tracebacks."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from symroof.cli import main

ROOT = Path(__file__).resolve().parent.parent


def run(*args):
    """Run the real console entry (``python -m symroof``) in a fresh process."""
    return subprocess.run([sys.executable, "-m", "symroof", *args], capture_output=True, text=True, cwd=ROOT)


def test_count_json_has_exact_integers(capsys):
    assert main(["count", "llama3-70b", "--batch", "2", "--seq", "128", "--attention", "full", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["params"]["total"] == 70_553_706_496
    assert isinstance(out["flops"]["forward"], int)
    assert out["flops"]["backward"] == 2 * out["flops"]["forward"]
    assert out["flops"]["by_module"]["layer/attn/q"]["forward"] == 80 * 2 * 256 * 8192 * 64 * 128


def test_count_accepts_a_hugging_face_config(capsys):
    path = ROOT / "tests" / "data" / "hf"
    config = next(path.glob("*Llama-3*8B*/config.json"), None) or next(path.glob("*/config.json"))
    assert main(["count", str(config), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["params"]["total"] > 0


def test_count_human_output_is_a_table(capsys):
    assert main(["count", "llama3-8b"]) == 0
    out = capsys.readouterr().out
    assert "8,030,261,248" in out and "8.03 G" in out


def test_six_n_switch(capsys):
    main(["count", "llama3-70b", "--6n", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["flops"]["forward"] + out["flops"]["backward"] == 6 * 70_553_706_496 * 4096


def test_memory_settings(capsys):
    main(["count", "llama3-70b", "--ckpt", "4", "--grad-bytes", "0", "--json"])
    memory = json.loads(capsys.readouterr().out)["memory_bytes"]
    assert memory["gradients"] == 0
    assert memory["checkpoints"] == 4 * 80 * 4096 * 8192 * 2


def test_formula_prints_a_derived_closed_form(capsys):
    assert main(["formula", "x_opt", "--latex"]) == 0
    assert r"X_{\text{opt}} = \sqrt{\frac{B \, M_X \, T \, N_{\text{chips}}}{F \, M_Y}}" in capsys.readouterr().out
    assert main(["formula", "params"]) == 0
    assert "3*D*F*L" in capsys.readouterr().out


def test_ops_marks_hbm_bound_ops(capsys):
    assert main(["ops", "llama3-8b", "--chip", "tpu-v5p", "--batch", "1", "--seq", "2048", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["layer/attn_norm"]["hbm_bound"] is True            # a norm does ~1 FLOP per byte
    assert rows["layer/mlp/up"]["hbm_bound"] is False              # 2048 tokens > C / W_hbm
    # an op whose bytes stay on chip has no intensity: said so in the table, never 'inf'
    assert main(["ops", "llama3-8b", "--chip", "tpu-v5p", "--batch", "1", "--seq", "2048"]) == 0
    text = capsys.readouterr().out
    assert "no HBM bytes" in text and "inf" not in text


@pytest.mark.parametrize("args, words", [
    (["count", "no-such-model"], ["unknown model", "llama3-70b"]),
    (["count", "missing.yaml"], ["missing.yaml", "cannot read"]),
    (["formula", "nope"], ["unknown formula", "x_opt"]),
    (["ops", "llama3-8b", "--chip", "tpu-v9"], ["unknown chip", "tpu-v5p"]),
    (["ops", "llama3-8b", "--chip", "tpu-v5p", "--set", "hbm_bytes_per_s=fast"], ["hbm_bytes_per_s", "number"]),
    (["ops", "llama3-8b", "--chip", "tpu-v5p", "--set", "warp_drive=1"], ["warp_drive", "allowed"]),
    (["ops", "llama3-8b", "--chip", "tpu-v5p", "--set", "hbm_bytes=1e400"], ["hbm_bytes", "out of range"]),
    (["reproduce", "seed", "--set", "chips=0"], ["chips", "positive"]),
    (["reproduce", "seed", "--set", "seq=1.5"], ["seq", "whole number"]),
    (["reproduce", "seed", "--set", "n_kv_heads=5"], ["--set n_kv_heads=5", "must divide 'n_heads' (64)"]),
    (["latex", "seed", "-o", "/nonexistent-dir/x.tex"], ["cannot write", "/nonexistent-dir/x.tex"]),
    (["formula", "x_opt", "--model", "mixtral-8x7b"], ["dense models"]),
    (["validate", "--data", "/dev/zero"], ["/dev/zero", "not a regular file"]),   # read forever before
    (["count", "no\nsuch.yaml"], ["no\\nsuch.yaml", "cannot read"]),          # a newline, escaped
    (["plan", "llama3-8b", "--chips", "0"], ["--chips", "positive integer", "--help"]),   # no usage block
    # a value given twice, or by two flags, is refused as a card's repeated key is (the last won)
    (["cards", "tpu-v5p", "--set", "hbm_bytes=1e12", "--set", "hbm_bytes=1"],
     ["--set hbm_bytes given twice", "hbm_bytes=1e12, then hbm_bytes=1"]),
    (["reproduce", "seed", "--set", "chips=4096", "--set", "chips=8960"], ["--set chips given twice"]),
    (["formula", "x_opt", "--at", "n_chips=8960", "--at", "n_chips=16"], ["--at n_chips given twice"]),
    (["formula", "x_opt", "--book-layer", "--chip", "tpu-v5p", "--chips", "8960", "--at", "n_chips=16"],
     ["--at n_chips=16 and --chips 8960 both set n_chips"]),          # M_X was still 8960's
    (["formula", "x_opt", "--book-layer", "--batch-tokens", "4194304", "--seq", "4096", "--at", "T=1024"],
     ["--at T=1024 and --seq 4096 both set T"]),                      # B was still 4194304 / 4096
    (["formula", "memory_total", "--model", "llama3-8b", "--act-bytes", "4", "--at", "b_act=2B"],
     ["--at b_act=2B and --act-bytes 4 both set b_act"]),
    (["plan", "llama3-8b", "--chip", "tpu-v5p", "--chips", "256", "--chips", "512", "--batch-tokens", "1e6"],
     ["argument --chips: given twice (256, then 512)", "--help"]),       # argparse kept the last
    (["count", "llama3-8b", "--seq", "128", "--seq=256"], ["argument --seq: given twice (128, then 256)"]),
])
def test_bad_input_is_one_line_and_exit_2(args, words):
    result = run(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0]


def test_bad_card_names_file_and_key(tmp_path):
    card = (ROOT / "models" / "llama3-8b.yaml").read_text().replace("n_kv_heads: 8", "n_kv_heads: 7")
    path = tmp_path / "odd.yaml"
    path.write_text(card)
    result = run("count", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert str(path) in result.stderr and "n_kv_heads" in result.stderr


@pytest.mark.parametrize("change, words", [
    ({"mlp_only_layers": 0}, ["'mlp_only_layers'", "got 0"]),
    ({"mlp_only_layers": [48]}, ["'mlp_only_layers'", "lists 48", "0 to 47"]),
    ({"max_window_layers": "abc"}, ["'max_window_layers'", "integer >= 0"]),
])
def test_a_bad_qwen3_moe_config_is_one_line_naming_file_and_key(tmp_path, change, words):
    """Found by an audit: these were read as no dense layers, or passed over."""
    raw = {"architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "num_hidden_layers": 48,
           "hidden_size": 2048, "intermediate_size": 6144, "num_attention_heads": 32, "num_key_value_heads": 4,
           "head_dim": 128, "vocab_size": 151936, "num_experts": 128, "num_experts_per_tok": 8,
           "moe_intermediate_size": 768, "use_sliding_window": False, "max_window_layers": 48, **change}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(raw))
    result = run("count", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for word in [str(path), *words]:
        assert word in result.stderr


def test_a_card_that_is_not_utf8_is_one_line(tmp_path):
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00name")
    result = run("count", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "not UTF-8" in result.stderr


def test_main_gives_the_garbage_collector_back_and_the_console_command_leaves_it_off(capsys, monkeypatch):
    """A command runs with the cyclic collector off; ``main`` (a caller's own process) turns it back
    on, ``command`` (the console script, ``python -m symroof``: the process ends next) does not,
    since turning it on would examine every object the command made, and freezes them, which the
    interpreter's last collection at exit would examine too."""
    import gc

    from symroof import cli

    assert gc.isenabled()
    with cli._collect_less(restore=True):
        assert not gc.isenabled()
    assert gc.isenabled()
    assert main(["cards"]) == 0 and gc.isenabled()
    monkeypatch.setattr(sys, "argv", ["symroof", "cards"])
    try:
        assert cli.command() == 0 and not gc.isenabled() and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.enable()


@pytest.mark.parametrize("args", [
    ["latex", "seed", "-o", "{dir}"],
    ["markdown", "seed", "-o", "{dir}"],
    ["html", "seed", "-o", "{dir}"],
    ["html", "plan", "llama3-8b", "--chip", "tpu-v5p", "--chips", "256", "--batch-tokens", "1048576", "-o", "{dir}"],
    ["latex", "seed", "-o", "{missing}/x.tex"],
    ["markdown", "seed", "-o", "{file}/x.md"],
    ["plot", "ratio", "llama3-8b", "--chip", "tpu-v5p", "--chips", "256", "-o", "{missing}/x.png"],
])
def test_an_output_path_that_cannot_be_written_is_refused_before_the_work(tmp_path, monkeypatch, capsys, args):
    """A directory or a missing folder was named only after the whole run (2 to 3 s of it)."""
    import symroof.claims.reproduce
    import symroof.report.plan_command
    import symroof.report.plot

    def work(*_args, **_kwargs):
        raise AssertionError("the run started before the output path was checked")

    for module, name in ((symroof.claims.reproduce, "run"), (symroof.report.plan_command, "plan_result"),
                         (symroof.report.plot, "ratio")):
        monkeypatch.setattr(module, name, work)
    (tmp_path / "file").write_text("")
    argv = [a.format(dir=tmp_path, missing=tmp_path / "missing", file=tmp_path / "file") for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"symroof: error: cannot write {argv[-1]}: ") and err.count("\n") == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]          # nothing created
