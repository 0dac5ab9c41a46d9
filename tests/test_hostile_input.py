"""Hostile input found by scripts/hostile_inputs.py that symroof accepted, or answered badly: each is
now one line on stderr, exit 2, naming the file or flag, the key and what is allowed."""

import json
from pathlib import Path

import pytest
import yaml

from symroof.cli import main

ROOT = Path(__file__).resolve().parent.parent
LLAMA = (ROOT / "models" / "llama3-8b.yaml").read_text()
CHIP = (ROOT / "models" / "chips" / "tpu-v5p.yaml").read_text()
CONFIG = (ROOT / "tests" / "data" / "hf" / "Meta-Llama-3-8B" / "config.json").read_text()


def refused(capsys, argv, *words):
    """``argv`` exits 2 with one line on stderr holding every one of ``words``."""
    try:
        rc = main(argv)
    except SystemExit as stop:           # argparse's own errors
        rc = stop.code
    err = capsys.readouterr().err
    assert rc == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    return err


@pytest.mark.parametrize("line, key, value", [
    ("tie_embeddings: false", "tie_embeddings", "yes"),
    ("qkv_bias: false", "qkv_bias", "off"),
    ("source: https", "source", "no"),
])
def test_a_yaml_yes_no_on_off_is_refused_not_read_as_a_boolean(tmp_path, capsys, line, key, value):
    # PyYAML (YAML 1.1) reads yes/no/on/off as booleans, YAML 1.2 as text: 'tie_embeddings: yes' tied
    # the embeddings without a word (8.03 G parameters became 7.5 G)
    card = tmp_path / "card.yaml"
    card.write_text("\n".join(f"{key}: {value}" if raw.startswith(line) else raw for raw in LLAMA.splitlines()))
    refused(capsys, ["count", str(card)], str(card), f"key '{key}' is {value}", "allowed: true or false")


def test_a_yaml_word_boolean_in_a_list_or_a_key_is_refused(tmp_path, capsys):
    card = tmp_path / "card.yaml"
    card.write_text(LLAMA + "left_out: [On]\n")
    refused(capsys, ["count", str(card)], "line 27: a list item is On", "allowed: true or false")
    card.write_text(LLAMA + "off: 1\n")
    refused(capsys, ["count", str(card)], "a key is off")


@pytest.mark.parametrize("line, value", [
    ("n_layers: 32", "1:20"),           # base 60: PyYAML read 80 layers (227.4 GB of training memory for 98.5)
    ("n_layers: 32", "3_2"),            # digits split by '_': 32 in YAML 1.1, text in 1.2
    ("n_layers: 32", "040"),            # octal 32 in YAML 1.1, 40 in 1.2
    ("n_layers: 32", "0b100000"),       # binary 32 in YAML 1.1, text in 1.2
    ("d_model: 4096", "1_0:16.0"),      # a base-60 float
])
def test_a_number_only_yaml_1_1_reads_is_refused_not_guessed(tmp_path, capsys, line, value):
    # each was read as YAML 1.1 reads it and counted without a word
    card = tmp_path / "card.yaml"
    key = line.split(":")[0]
    card.write_text(LLAMA.replace(line + " ", f"{key}: {value} ", 1))
    refused(capsys, ["count", str(card)], str(card), f"key '{key}' is '{value}'", "allowed: decimal digits")


def test_a_decimal_or_hex_integer_is_still_read(tmp_path, capsys):
    # 0x20 is 32 in YAML 1.1 and 1.2 alike; 00 is 0 in both (refused as a layer count, not as a form)
    card = tmp_path / "card.yaml"
    card.write_text(LLAMA.replace("n_layers: 32 ", "n_layers: 0x20 ", 1))
    assert main(["count", str(card), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["params"]["total"] == 8_030_261_248   # the 8B's count, 32 layers
    card.write_text(LLAMA.replace("n_layers: 32 ", "n_layers: 00 ", 1))
    refused(capsys, ["count", str(card)], "key 'n_layers' must be a positive integer, got 0")


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_a_config_number_that_is_not_finite_is_refused_naming_its_key(tmp_path, capsys, value):
    # Python's json reads NaN, Infinity and 1e400 (none of them JSON); a key symroof does not count
    # (rope_theta) took any of them silently
    path = tmp_path / "config.json"
    path.write_text(CONFIG.replace('"rope_theta": 500000.0', f'"rope_theta": {value}'))
    refused(capsys, ["count", str(path)], str(path), f"key 'rope_theta' is {value}", "allowed: a finite number")
    path.write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "rope_scaling": {"factor": [1, 2]}})
                    .replace("2]", f"{value}]"))
    refused(capsys, ["count", str(path)], f"key 'rope_scaling.factor[1]' is {value}")


@pytest.mark.parametrize("block, key, value, words", [
    ("calibration", "data", ["a", "b"], "key 'calibration.data' must be text"),
    ("calibration", "note", {"a": 1}, "key 'calibration.note' must be text"),
    ("calibration", "fit_runs", [{"a": 1}], "key 'calibration.fit_runs' must list the names"),
    ("sources", "hbm_bytes", None, "key 'sources.hbm_bytes' must say where the number comes from"),
    ("sources", "hbm_bytes", ["a", "b"], "key 'sources.hbm_bytes' must say where"),
])
def test_a_chip_cards_texts_must_be_text(tmp_path, capsys, block, key, value, words):
    # each was turned into text with str(): a list, a mapping or null was kept as "['a', 'b']" or "None"
    raw = yaml.safe_load(CHIP)
    raw[block][key] = value
    card = tmp_path / "chip.yaml"
    card.write_text(yaml.safe_dump(raw))
    refused(capsys, ["cards", str(card)], str(card), words)


@pytest.mark.parametrize("extra, words", [
    ("positions: learned\nmax_positions: 1024\nrotary_pct: 0.25\n", "key 'rotary_pct' is only read with positions: rope"),
    ("qk_norm_width: all\n", "key 'qk_norm_width' is only read with qk_norm: true"),
])
def test_a_model_cards_key_that_nothing_reads_is_refused(tmp_path, capsys, extra, words):
    # both counted as if the key were absent: learned positions have no RoPE to rotate a share of,
    # and a card without q/k norms has no width to give them
    card = tmp_path / "card.yaml"
    card.write_text(LLAMA.replace("qk_norm: false\n", "qk_norm: false\n" + extra))
    refused(capsys, ["count", str(card)], str(card), words)


@pytest.mark.parametrize("argv, words", [
    # 10^30 chips: a re-run printed 2e-17 bytes per chip and 4e-24 tokens per chip, n/a for every claim
    (["reproduce", "--set", "chips=1e30"], "--set: chips must be a whole number from 1 to 10^12, got '1e30'"),
    (["reproduce", "--set", "X=1e13"], "--set: X must be a whole number from 1 to 10^12"),
    (["formula", "x_opt", "--at", "n_chips=1e30"], "--at n_chips=1e30: n_chips counts chips, from 1 to 10^12"),
    (["formula", "x_opt", "--at", "B=1e13"], "--at B=1e13: B counts sequences, from 1 to 10^12"),
    # formula's flags took what --at refuses: 10^15 chips, 10^30 tokens, and 1000 tokens as 1000/4096 of a sequence
    # (x_opt = sqrt(125/512)*...)
    (["formula", "x_opt", "--chip", "h100-sxm", "--chips", "1e15"], "--chips 1e+15: n_chips counts chips, from 1 to 10^12"),
    (["formula", "x_opt", "--batch-tokens", "1e30"], "--batch-tokens 1e+30: B counts sequences, from 1 to 10^12"),
    (["formula", "x_opt", "--batch-tokens", "1000", "--seq", "4096"],
     "--batch-tokens 1000 is not a whole number of 4096-token sequences"),
    # a batch of 1.5 tokens re-ran the seed: 0.00016741 tokens a chip, an x_opt of 0.968 chips
    (["reproduce", "--set", "batch_tokens=1.5"], "--set: batch_tokens must be a whole number, got '1.5'"),
    (["reproduce", "--set", "batch_tokens=1e13"], "--set: batch_tokens must be a whole number from 1 to 10^12"),
    (["reproduce", "--set", "tokens=1.5"], "--set: tokens must be a whole number, got '1.5'"),
])
def test_a_count_past_any_real_one_is_refused_as_on_a_card(capsys, argv, words):
    refused(capsys, argv, words)


@pytest.mark.parametrize("argv, words", [
    # counted exactly and printed: 10^30 sequences took 2.1e15 YB of memory without a word
    (["count", "llama3-8b", "--batch", "1e30"], "argument --batch: expected a positive integer from 1 to 10^12"),
    (["count", "llama3-8b", "--seq", "1e13"], "argument --seq: expected a positive integer from 1 to 10^12"),
    (["ops", "llama3-8b", "--chip", "tpu-v5p", "--batch", "1e13"], "argument --batch: expected a positive integer from 1"),
    (["formula", "x_opt", "--seq", "1e13"], "argument --seq: expected a positive integer from 1 to 10^12"),
    (["count", "llama3-8b", "--param-bytes", "1e30"], "run setting 'param_bytes' must be an integer from 0 to 10^12"),
    (["count", "llama3-8b", "--ckpt", "1e13"], "run setting 'ckpt_per_layer' must be an integer from 0 to 10^12"),
    # a 5000-digit value was quoted whole in the error line
    (["count", "llama3-8b", "--batch", "1" * 5000], "(5000 characters)"),
    # and still was by serve's and plot pareto's own readers, and by --mfu
    (["serve", "llama3-8b", "--chip", "tpu-v5e", "--chips", "8", "--context", "1" * 5000], "--context must be a"),
    (["serve", "llama3-8b", "--chip", "tpu-v5e", "--chips", "8", "--batch", "8", "--prompt", "128", "--mfu", "1" * 5000],
     "--mfu must be a number in [1e-30, 1], got '1111"),
    (["serve", "llama3-8b", "--chip", "tpu-v5e", "--chips", "8", "--mesh", "tensor=" + "1" * 5000], "--mesh tensor must"),
    (["serve", "llama3-8b", "--chip", "tpu-v5e", "--chips", "8", "--kv-dtype", "x" * 5000], "allowed fp32, bf16"),
    (["plan", "llama3-8b", "--chip", "tpu-v5p", "--chips", "256", "--batch-tokens", "1048576", "--tokens", "1e12",
      "--mfu", "1" * 5000], "argument --mfu: must be a number"),
    # argparse's own: an unrecognized argument and an invalid choice, quoted whole
    (["count", "llama3-8b", "--bogus", "1" * 5000], "unrecognized arguments: --bogus 1111"),
    (["count", "llama3-8b", "--attention", "1" * 5000], "argument --attention: invalid choice: '1111"),
])
def test_a_sequence_count_or_width_past_any_real_one_is_refused(capsys, argv, words):
    err = refused(capsys, argv, words)
    assert len(err) < 300


PLAN8 = ["plan", "llama3-8b", "--chip", "tpu-v5p", "--chips", "256", "--batch-tokens", "1048576"]


@pytest.mark.parametrize("argv, words", [
    # each flag was taken and did nothing: the output was byte for byte the one without it
    (["sensitivity", "llama3-8b", "--chip", "tpu-v5p", "--chips", "256", "--batch-tokens", "1048576", "-o", "s.png"],
     "the file is --plot's figure; add --plot SYMBOL or leave out -o"),
    (["html", "seed", "-o", "h.html", "--chips", "8960"], "html seed: --chips is a plan option"),
    (["html", "seed", "-o", "h.html", "--ckpt", "3"], "html seed: --ckpt is a plan option"),
    (["html", "seed", "-o", "h.html", "--overlap", "max"], "html seed: --overlap is a plan option"),
    (["html", "plan", "llama3-8b", "-o", "h.html", "--model", "llama3-70b", "--chip", "tpu-v5p", "--chips", "256",
      "--batch-tokens", "1048576"], "html plan: --model llama3-70b re-runs a derivation"),
    (["plot", "pareto", "llama3-8b", "--chip", "tpu-v5e", "--chips", "8", "--seq", "100", "-o", "p.svg"],
     "unrecognized arguments: --seq 100"),
    (PLAN8 + ["--book-layer", "--pad"], "--pad plans whole-model meshes; --book-layer plans the book's layer"),
    (PLAN8 + ["--book-layer", "--schedule", "1f1b"], "--schedule 1f1b plans whole-model meshes"),
    (PLAN8 + ["--book-layer", "--recompute", "auto"], "--recompute auto plans whole-model meshes"),
    (["ops", "llama3-8b", "--chip", "tpu-v5p", "--ckpt", "3"], "--ckpt sets training memory, which ops does not show"),
    (["ops", "llama3-8b", "--chip", "tpu-v5p", "--optimizer-bytes", "4"], "--optimizer-bytes sets training memory"),
    # a context length given twice drew one curve over another (200 times over for 200 repeats)
    (["plot", "pareto", "llama3-8b", "--chip", "tpu-v5e", "--chips", "8", "--context", "1024", "--context", "1.024e3",
      "-o", "p.svg"], "--context 1024 given twice; give each context length once"),
    # a tensor kept twice: the policy was printed with each repeat (5000 of them, one line of 100 kB)
    (["count", "llama3-8b", "--recompute", "layer/attn_residual,layer/attn_residual"],
     "run setting 'recompute' (--recompute) names 'layer/attn_residual' twice"),
    # count alone reads --recompute-layers; the others took it (1, 32 or 10^13 of 32 layers) and ran the
    # policy on every layer
    (PLAN8 + ["--recompute", "full", "--recompute-layers", "1"], "unrecognized arguments: --recompute-layers 1"),
    (PLAN8 + ["--recompute", "full", "--recompute-layers", "1e13"], "unrecognized arguments: --recompute-layers"),
    (["sensitivity", "llama3-8b", "--chip", "tpu-v5p", "--chips", "256", "--batch-tokens", "1048576", "--recompute",
      "full", "--recompute-layers", "1"], "unrecognized arguments: --recompute-layers 1"),
    (["ops", "llama3-8b", "--chip", "tpu-v5p", "--recompute", "full", "--recompute-layers", "1"],
     "unrecognized arguments: --recompute-layers 1"),
    (["formula", "x_opt", "--recompute", "full", "--recompute-layers", "1"], "unrecognized arguments: --recompute-layers"),
    (["html", "plan", "llama3-8b", "-o", "h.html", "--chip", "tpu-v5p", "--chips", "256", "--batch-tokens", "1048576",
      "--recompute", "full", "--recompute-layers", "1"], "unrecognized arguments: --recompute-layers 1"),
])
def test_a_flag_the_command_would_not_read_is_refused(tmp_path, monkeypatch, capsys, argv, words):
    monkeypatch.chdir(tmp_path)
    refused(capsys, argv, words)
    assert not list(tmp_path.iterdir())        # nothing written


@pytest.mark.parametrize("key, value", [("max_position_embeddings", -1), ("max_position_embeddings", "x"),
                                        ("rope_scaling", "linear"), ("rope_theta", 0), ("torch_dtype", 16)])
def test_a_neutral_config_key_of_the_wrong_kind_is_refused(key, value, tmp_path):
    """Keys that change no count are still of one kind in every config transformers writes: a
    negative length or a text where a mapping goes is a damaged file, refused naming the key."""
    import json
    import subprocess
    import sys

    raw = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
           "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 100, key: value}
    (tmp_path / "config.json").write_text(json.dumps(raw))
    done = subprocess.run([sys.executable, "-m", "symroof", "count", str(tmp_path / "config.json")],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"key '{key}'" in done.stderr and len(done.stderr.strip().splitlines()) == 1



@pytest.mark.parametrize("file, text, filler", [
    # a 4000-digit layer count (under Python's 4300-digit limit) was quoted whole: a 4096-character line
    ("card.yaml", LLAMA.replace("n_layers: 32 ", "n_layers: " + "9" * 4000 + " ", 1), "9" * 100),
    ("card.yaml", LLAMA.replace("name: llama3-8b", "name: [" + ", ".join(["x"] * 20000) + "]", 1), "'x', " * 20),
    # a megabyte class name was quoted whole: a 1,002,234-character line
    ("config.json", json.dumps({**json.loads(CONFIG), "architectures": ["X" * 1_000_000]}), "X" * 100),
    ("config.json", json.dumps({**json.loads(CONFIG), "architectures": ["A"] * 50_000}), "'A', " * 20),
])
def test_a_huge_value_is_quoted_cut_short(tmp_path, capsys, file, text, filler):
    path = tmp_path / file
    path.write_text(text)
    err = refused(capsys, ["count", str(path)], str(path), "key '")
    assert filler not in err and len(err) < 3000, err[:400]      # the allowed classes' list is 2,200 characters


def test_a_parameter_group_symroof_has_not_is_refused_naming_the_flag(capsys):
    # was "setting 'groups' must name ...", after the cards were read, naming no flag
    refused(capsys, ["reproduce", "--set", "groups=bogus"],
            "--set: groups must name parameter groups from: embedding, attention, mlp, norms, unembedding, mtp, "
            "got 'bogus'")


def test_a_config_json_of_millions_of_values_is_refused_before_it_is_walked(tmp_path, capsys):
    # a 14 MB config.json (under the 16 MB file limit) holding one list of 7 million numbers took 18 s and
    # 1.7 GB to refuse, walking every number for one that is not finite; as a YAML file's, its values are
    # counted first (at most 100,000: the 24 config.json files in tests/data hold at most 137)
    path = tmp_path / "config.json"
    path.write_text(CONFIG.rstrip().rstrip("}") + ', "x": [' + ",".join(["1"] * 2_000_000) + "]}")
    refused(capsys, ["count", str(path)], str(path), "it holds more than 100000 values")


@pytest.mark.parametrize("name", ["llama\nfake", "a\x00b", "\u202ellama", "tab\there"])
def test_a_name_that_cannot_be_printed_as_it_is_is_refused(tmp_path, capsys, name):
    # a card's or run's name is printed as it is at the head of the output and of each row: a line break split
    # the line, a NUL went to the terminal, a bidi override reversed what followed it
    card = tmp_path / "card.yaml"
    card.write_text(LLAMA.replace("name: llama3-8b", "name: " + json.dumps(name), 1))
    refused(capsys, ["count", str(card)], str(card), "key 'name' must be a non-empty string of printable characters")
    chip = yaml.safe_load(CHIP)
    chip["name"] = name
    card.write_text(yaml.safe_dump(chip))
    refused(capsys, ["cards", str(card)], str(card), "key 'name' must be a non-empty string of printable characters")
    runs = yaml.safe_load((ROOT / "derivations" / "example_configs.yaml").read_text())["runs"][:1]
    runs[0]["name"] = name
    card.write_text(yaml.safe_dump({"runs": runs}))
    refused(capsys, ["predict", str(card)], "runs[0]: key 'name' must be a non-empty line of printable text")


def test_a_config_json_in_a_folder_named_oddly_is_still_read(tmp_path, capsys):
    # its name is the folder's; what cannot be printed is shown as '?'
    folder = tmp_path / "odd\nname"
    folder.mkdir()
    (folder / "config.json").write_text(CONFIG)
    assert main(["count", str(folder / "config.json")]) == 0
    assert capsys.readouterr().out.startswith("odd?name: 1 sequence(s)")


def test_a_long_run_name_heads_its_errors_cut_short(tmp_path, capsys):
    runs = yaml.safe_load((ROOT / "derivations" / "example_configs.yaml").read_text())["runs"][:1]
    runs[0].update(name="x" * 100_000, chips=0)
    path = tmp_path / "runs.yaml"
    path.write_text(yaml.safe_dump({"runs": runs}))
    err = refused(capsys, ["predict", str(path)], "(100000 characters)): key 'chips' must be a positive integer, got 0")
    assert len(err) < 300 + len(str(path))       # the name was quoted whole: a 100,000-character line


LONG = "x" * 5000


@pytest.mark.parametrize("argv", [
    # a name or path past the system's 255-character file name: Python's Path.is_file() raised OSError,
    # a traceback, in each of these
    ["reproduce", LONG], ["latex", LONG, "-o", "x.tex"], ["predict", LONG], ["cards", LONG + ".yaml"],
    ["latex", "seed", "-o", LONG + ".tex"], ["html", "seed", "-o", LONG + ".html"],
    ["plot", "ratio", "llama3-8b", "--chip", "tpu-v5p", "--chips", "256", "-o", LONG + ".svg"],
    # and each of these quoted the 5000 characters whole
    ["count", LONG], ["formula", "x_opt", "--at", LONG + "=1"], ["reproduce", "--claim", LONG],
    ["plan", "llama3-8b", "--chip", "tpu-v5p", "--chips", "256", "--batch-tokens", "1048576", "--strategy", LONG],
    ["validate", "--data", LONG],
])
def test_a_name_or_path_of_thousands_of_characters_is_one_short_line(tmp_path, monkeypatch, capsys, argv):
    monkeypatch.chdir(tmp_path)
    err = refused(capsys, argv, "(50")
    assert "x" * 400 not in err
