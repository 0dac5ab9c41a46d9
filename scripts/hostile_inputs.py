"""Hostile and malformed input against every subcommand: each case must end in one line on stderr,
exit status 2, no traceback, within about a second (cases marked ``ok`` must succeed instead).

    PYTHONPATH=. python3 scripts/hostile_inputs.py [--only SUBSTRING] [--all]

Prints one row per case that breaks the rule (``--all``: every case), then a count. Files are made
in a temporary folder; nothing in the checkout is written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TMP = Path(tempfile.mkdtemp(prefix="symroof-hostile-"))
SLOW_S = 1.5            # a bad input costs no more than importing (plus a margin for a busy machine)


def _card(filename: str, base: dict, changes: dict | None = None) -> str:
    raw = {**base, **(changes or {})}
    for key, value in list(raw.items()):
        if value is DROP:
            del raw[key]
    path = TMP / filename
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return str(path)


def _text(name: str, text, mode="w") -> str:
    path = TMP / name
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return str(path)


DROP = object()
MODEL = yaml.safe_load((ROOT / "models/llama3-8b.yaml").read_text())
CHIP = yaml.safe_load((ROOT / "models/chips/tpu-v5p.yaml").read_text())
HF = json.loads((ROOT / "tests/data/hf/Meta-Llama-3-8B/config.json").read_text())
RUNS = yaml.safe_load((ROOT / "derivations/example_configs.yaml").read_text())


def _json(name: str, raw) -> str:
    folder = TMP / name
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(raw if isinstance(raw, str) else json.dumps(raw))
    return str(folder / "config.json")


def _runs(filename: str, changes: dict) -> str:
    run = {k: v for k, v in RUNS["runs"][0].items()}
    run.update(changes)
    for key, value in list(run.items()):
        if value is DROP:
            del run[key]
    return _text(filename, yaml.safe_dump({"runs": [run]}, sort_keys=False))


CASES: list[tuple[str, list[str], str]] = []     # (group, argv, "bad" | "ok")


def bad(group, *argv):
    CASES.append((group, list(argv), "bad"))


def ok(group, *argv):
    CASES.append((group, list(argv), "ok"))


# ----------------------------------------------------------------------------- files of any kind
files = {
    "empty": _text("empty.yaml", ""),
    "blank": _text("blank.yaml", "   \n\n"),
    "comment": _text("comment.yaml", "# nothing\n"),
    "docmark": _text("docmark.yaml", "---\n"),
    "two-docs": _text("twodocs.yaml", "kind: model\n---\nkind: model\n"),
    "list": _text("list.yaml", "- 1\n- 2\n"),
    "scalar": _text("scalar.yaml", "42\n"),
    "binary": _text("binary.yaml", bytes(range(256)) * 4),
    "nul": _text("nul.yaml", b"kind: model\x00\n"),
    "utf16": _text("utf16.yaml", "kind: model\n".encode("utf-16")),
    "latin1": _text("latin1.yaml", "name: caf\xe9\n".encode("latin-1")),
    "tab": _text("tab.yaml", "kind: model\n\tname: x\n"),
    "bad-yaml": _text("badyaml.yaml", "kind: [model\n"),
    "python-tag": _text("pytag.yaml", "kind: !!python/object/apply:os.system ['true']\n"),
    "custom-tag": _text("ctag.yaml", "kind: !foo bar\n"),
    "complex-key": _text("ckey.yaml", "? [a, b]\n: 1\n"),
    "dict-key": _text("dkey.yaml", "? {a: 1}\n: 1\n"),
    "merge-bad": _text("merge.yaml", "<<: 5\n"),
    "dup": _text("dup.yaml", "kind: model\nkind: model\n"),
    "dup-nested": _text("dupn.yaml", "a:\n  b: 1\n  b: 2\n"),
    "dup-int-vs-str": _text("dupis.yaml", "1: a\n'1': b\n"),
    "deep": _text("deep.yaml", "a: " + "[" * 5000 + "]" * 5000 + "\n"),
    "deep-map": _text("deepmap.yaml", "".join("  " * i + f"k{i}:\n" for i in range(300)) + "  " * 300 + "v\n"),
    "bomb": _text("bomb.yaml", "\n".join(
        f"{c}: &{c} [" + ",".join([f"*{p}"] * 9 if p else ['"x"'] * 9) + "]"
        for p, c in zip([None] + list("abcdefgh"), "abcdefghi"))),
    "big-int": _text("bigint.yaml", "n_layers: " + "9" * 5000 + "\n"),
    "big-float": _text("bigfloat.yaml", "n_layers: 1." + "9" * 100000 + "\n"),
    "timestamp": _text("ts.yaml", "kind: 2024-01-01\n"),
    "binary-tag": _text("bintag.yaml", "kind: !!binary aGVsbG8=\n"),
    "set-tag": _text("settag.yaml", "kind: !!set {a, b}\n"),
    "long-line": _text("longline.yaml", "name: " + "x" * 2_000_000 + "\n"),
    "many-keys": _text("manykeys.yaml", "".join(f"k{i}: {i}\n" for i in range(90000))),
}
os.mkfifo(TMP / "fifo.yaml")
files["fifo"] = str(TMP / "fifo.yaml")
(TMP / "dir.yaml").mkdir()
files["directory"] = str(TMP / "dir.yaml")
files["missing"] = str(TMP / "missing.yaml")
(TMP / "loop.yaml").symlink_to(TMP / "loop.yaml")
files["symlink-loop"] = str(TMP / "loop.yaml")
files["dev-zero"] = "/dev/zero"
files["dev-null"] = "/dev/null"
big = TMP / "huge.yaml"
with open(big, "wb") as f:
    f.truncate(20 * 2**20)
files["20MB"] = str(big)

for label, path in files.items():
    bad("model-file:" + label, "count", path)
    bad("chip-file:" + label, "cards", path)
    bad("runs-file:" + label, "validate", "--data", path)
    bad("predict-file:" + label, "predict", path)
    bad("derivation-file:" + label, "reproduce", path)
bad("model-file:dev-zero-noext", "count", "/dev/zero")
bad("model-file:unknown-name", "count", "llama9-1t")
bad("model-file:dot", "count", ".")
bad("model-file:txt", "count", str(TMP / "card.txt"))
bad("model-file:emptyname", "count", "")
bad("model-file:newline-name", "count", "llama\n3")
bad("chip-file:unknown-name", "ops", "llama3-8b", "--chip", "tpu-v9")

# ----------------------------------------------------------------------------- model cards
model_bad = {
    "n_layers=0": {"n_layers": 0}, "n_layers=-1": {"n_layers": -1}, "n_layers=1.5": {"n_layers": 1.5},
    "n_layers=nan": {"n_layers": float("nan")}, "n_layers=inf": {"n_layers": float("inf")},
    "n_layers='32'": {"n_layers": "32"}, "n_layers=true": {"n_layers": True}, "n_layers=[32]": {"n_layers": [32]},
    "n_layers=null": {"n_layers": None}, "n_layers={}": {"n_layers": {}}, "n_layers=10^13": {"n_layers": 10**13},
    "n_layers=10^30": {"n_layers": 10**30}, "n_layers=32.0": {"n_layers": 32.0},
    "d_model=0": {"d_model": 0}, "vocab=-5": {"vocab": -5}, "head_dim=1e400": {"head_dim": "1e400"},
    "n_heads=7(kv8)": {"n_heads": 7}, "n_kv_heads=0": {"n_kv_heads": 0}, "n_kv_heads>heads": {"n_kv_heads": 64},
    "tie=yes-string": {"tie_embeddings": "yes"}, "tie=1": {"tie_embeddings": 1}, "tie=null": {"tie_embeddings": None},
    "name=123": {"name": 123}, "name=''": {"name": ""}, "name=list": {"name": ["a"]},
    "architecture=gpt5": {"architecture": "gpt5"}, "architecture=list": {"architecture": ["llama"]},
    "kind=chip": {"kind": "chip"}, "kind=bogus": {"kind": "bogus"}, "kind=list": {"kind": ["model"]},
    "unknown key": {"n_layer": 32}, "missing n_layers": {"n_layers": DROP}, "missing source": {"source": DROP},
    "experts 0": {"n_experts": 0}, "k>E": {"n_experts": 8, "experts_per_token": 9},
    "norms 3": {"norms_per_layer": 3}, "sliding -1": {"sliding_window": -1}, "sliding 1.5": {"sliding_window": 1.5},
    "sliding yes": {"sliding_window": True}, "rotary 0": {"rotary_pct": 0}, "rotary 2": {"rotary_pct": 2},
    "rotary nan": {"rotary_pct": float("nan")}, "rotary -0.5": {"rotary_pct": -0.5}, "rotary str": {"rotary_pct": "half"},
    "mlp=dense": {"mlp": "dense"}, "norm=list": {"norm": ["rms"]}, "positions=learned no max": {"positions": "learned"},
    "max_positions w/o learned": {"max_positions": 1024}, "left_out str": {"left_out": "dropout"},
    "left_out [1]": {"left_out": [1]}, "left_out ['']": {"left_out": [""]},
    "layers only": {"layers": [["layer", 32]]}, "block_types only": {"block_types": {"a": {}}},
    "layers sum wrong": {"block_types": {"a": {}}, "layers": [["a", 31]]},
    "layers neg": {"block_types": {"a": {}}, "layers": [["a", -32]]},
    "layers unknown type": {"block_types": {"a": {}}, "layers": [["b", 32]]},
    "layers str": {"block_types": {"a": {}}, "layers": "a"},
    "layers repeat bomb": {"block_types": {"a": {}, "b": {}}, "layers": [{"repeat": [["a", 1], ["b", 1]], "times": 10**12}]},
    "layers repeat 0": {"block_types": {"a": {}}, "layers": [{"repeat": [["a", 32]], "times": 0}]},
    "block type bad opt": {"block_types": {"a": {"attention": "local"}}, "layers": [["a", 32]]},
    "block type name": {"block_types": {"1a": {}}, "layers": [["1a", 32]]},
    "d_ff_expert dense": {"d_ff_expert": 1024}, "q_lora dense mha": {"q_lora_rank": 512},
    "kv_lora mha": {"kv_lora_rank": 512},
    "d_ff_shared dense": {"d_ff_shared": 1024},
    "mla no ranks": {"attention": "mla"},
    "fused_gate_up plain": {"mlp": "plain", "fused_gate_up": True},
    "qk_norm_width all no qknorm": {"qk_norm_width": "all"},
    "sliding>positions": {"positions": "learned", "max_positions": 16, "sliding_window": 32},
}
for label, change in model_bad.items():
    path = _card(f"m-{abs(hash(label))}.yaml", MODEL, change)
    bad("model-card:" + label, "count", path)
# a huge but allowed model: must not hang in count or ops or plan
huge = _card("m-huge.yaml", MODEL, dict(n_layers=10**12, d_model=10**12, d_ff=10**12, n_heads=10**12,
                                         n_kv_heads=10**12, head_dim=10**12, vocab=10**12))
bad("model-card:all 10^12 count", "count", huge)
bad("model-card:all 10^12 ops", "ops", huge, "--chip", "tpu-v5p")
bad("model-card:all 10^12 plan", "plan", huge, "--chip", "tpu-v5p", "--chips", "256", "--batch-tokens", "1e6")
bad("model-card:all 10^12 serve", "serve", huge, "--chip", "tpu-v5p", "--chips", "8")
heads = _card("m-heads.yaml", MODEL, dict(n_heads=10**12, n_kv_heads=1, head_dim=1))
bad("model-card:10^12 heads plan", "plan", heads, "--chip", "tpu-v5p", "--chips", "256", "--batch-tokens", "1e6")
learned = _card("m-learned.yaml", MODEL, dict(positions="learned", max_positions=1024))
bad("model-card:learned --seq 2048", "count", learned, "--seq", "2048")
ok("model-card:learned count", "count", learned)

# ----------------------------------------------------------------------------- chip cards
chip_bad = {
    "peak not dict": {"peak_flops_per_s": 4.59e14}, "peak no bf16": {"peak_flops_per_s": {"int8": 1e15}},
    "peak fp64": {"peak_flops_per_s": {"bf16": 1e14, "fp64": 1e13}}, "peak 0": {"peak_flops_per_s": {"bf16": 0}},
    "peak -1": {"peak_flops_per_s": {"bf16": -1e14}}, "peak nan": {"peak_flops_per_s": {"bf16": float("nan")}},
    "peak inf": {"peak_flops_per_s": {"bf16": float("inf")}}, "peak '1e400'": {"peak_flops_per_s": {"bf16": "1e400"}},
    "peak str": {"peak_flops_per_s": {"bf16": "fast"}}, "peak true": {"peak_flops_per_s": {"bf16": True}},
    "peak list": {"peak_flops_per_s": {"bf16": [1e14]}}, "peak 1e-31": {"peak_flops_per_s": {"bf16": 1e-31}},
    "hbm 0": {"hbm_bytes": 0}, "hbm_bw nan": {"hbm_bytes_per_s": float("nan")}, "hbm_bw -1": {"hbm_bytes_per_s": -1},
    "hbm_bw yes": {"hbm_bytes_per_s": True}, "ici 0": {"ici_link_bytes_per_s": 0},
    "dir bogus": {"ici_link_direction": "both"}, "links 0": {"ici_links_per_axis": 0}, "links 1.5": {"ici_links_per_axis": 1.5},
    "pod []": {"pod_shape": []}, "pod [0]": {"pod_shape": [0, 4, 4]}, "pod [-4]": {"pod_shape": [-4, 4, 4]},
    "pod str": {"pod_shape": "16x20x28"}, "pod nested": {"pod_shape": [[16], 20, 28]}, "pod 1.5": {"pod_shape": [1.5, 4, 4]},
    "pod 10^30": {"pod_shape": [10**30, 4, 4]}, "pod 5 axes": {"pod_shape": [4, 4, 4, 4, 4]},
    "pod not cubes": {"pod_shape": [16, 20, 30]}, "wrap bogus": {"wraparound": "yes"}, "wrap unit 0": {"wraparound_unit": 0},
    "dcn 0": {"dcn_bytes_per_s_per_host": 0}, "cph 0": {"chips_per_host": 0}, "cph 1e13": {"chips_per_host": 10**13},
    "family cpu": {"family": "cpu"}, "name 5": {"name": 5}, "sources list": {"sources": ["a"]},
    "sources bad key": {"sources": {"bogus": "x"}}, "kind model": {"kind": "model"}, "unknown key": {"hbm": 1},
    "missing hbm": {"hbm_bytes": DROP}, "latency 0": {"ici_hop_latency_s": 0}, "latency nan": {"ici_hop_latency_s": float("nan")},
    "matrix_unit 3": {"matrix_unit": [1, 2, 3]}, "matrix_unit 0": {"matrix_unit": [0, 128]},
    "matrix_units -1": {"matrix_units": -1}, "attn eff 2": {"attention_efficiency": 2},
    "collective_matmul str": {"collective_matmul": "yes"}, "overlap bogus link": {"overlap_fraction": {"nvlink": 0.5}},
    "overlap 2": {"overlap_fraction": {"ici": 2}}, "calibration list": {"calibration": []},
    "calibration eta 2": {"calibration": {**CHIP["calibration"], "eta_mm": 2}},
    "calibration eta nan": {"calibration": {**CHIP["calibration"], "eta_mm": float("nan")}},
    "calibration t_dcn -1": {"calibration": {**CHIP["calibration"], "t_dcn": -1}},
    "calibration fit_runs str": {"calibration": {**CHIP["calibration"], "fit_runs": "a"}},
    "calibration data list": {"calibration": {**CHIP["calibration"], "data": [1, 2]}},
    "calibration note dict": {"calibration": {**CHIP["calibration"], "note": {"a": 1}}},
    "calibration fit_runs dicts": {"calibration": {**CHIP["calibration"], "fit_runs": [{"a": 1}]}},
    "max_slice 3": {"max_slice_chips": 3}, "max_slice big": {"max_slice_chips": 10**6},
    "ici_scope bogus": {"ici_scope": "pod"}, "attention_kernels fused": {"attention_kernels": {"fused": 0.5}},
    "sources value list": {"sources": {"hbm_bytes": ["a", "b"]}},
    "sources value null": {"sources": {"hbm_bytes": None}},
}
for label, change in chip_bad.items():
    path = _card(f"c-{abs(hash(label))}.yaml", CHIP, change)
    bad("chip-card:" + label, "cards", path)
ok("chip-card:shipped copy", "cards", _card("c-copy.yaml", CHIP))

# ----------------------------------------------------------------------------- config.json
hf_bad = {
    "list": [], "string": "\"x\"", "null": "null", "empty obj": {}, "NaN layers": HF | {"num_hidden_layers": "NaN"},
    "Infinity": '{"architectures": ["LlamaForCausalLM"], "num_hidden_layers": Infinity}',
    "-Infinity heads": json.dumps(HF)[:-1] + ', "num_attention_heads_x": -Infinity}',
    "1e400 layers": json.dumps(HF).replace('"num_hidden_layers": 32', '"num_hidden_layers": 1e400'),
    "NaN layers literal": json.dumps(HF).replace('"num_hidden_layers": 32', '"num_hidden_layers": NaN'),
    "NaN rope_theta": json.dumps(HF).replace('"rope_theta": 500000.0', '"rope_theta": NaN'),
    "NaN rms_norm_eps": json.dumps(HF).replace('"rms_norm_eps": 1e-05', '"rms_norm_eps": NaN'),
    "float layers": HF | {"num_hidden_layers": 32.0}, "str layers": HF | {"num_hidden_layers": "32"},
    "bool layers": HF | {"num_hidden_layers": True}, "neg layers": HF | {"num_hidden_layers": -32},
    "zero vocab": HF | {"vocab_size": 0}, "big int": json.dumps(HF).replace('"vocab_size": 128256', '"vocab_size": ' + "9" * 5000),
    "10^13 vocab": HF | {"vocab_size": 10**13}, "layers 10^7": HF | {"num_hidden_layers": 10**7},
    "dup key": json.dumps(HF)[:-1] + ', "vocab_size": 5}', "deep": "[" * 100000 + "]" * 100000,
    "deep obj": '{"a": ' * 5000 + "1" + "}" * 5000,
    "unknown key": HF | {"num_experts_bogus": 8}, "arch unknown": HF | {"architectures": ["GPT5ForCausalLM"]},
    "arch two": HF | {"architectures": ["LlamaForCausalLM", "MistralForCausalLM"]}, "arch str": HF | {"architectures": "LlamaForCausalLM"},
    "arch missing": {k: v for k, v in HF.items() if k != "architectures"}, "model_type wrong": HF | {"model_type": "mistral"},
    "kv 0": HF | {"num_key_value_heads": 0}, "kv 3": HF | {"num_key_value_heads": 3}, "kv float": HF | {"num_key_value_heads": 8.0},
    "hidden_act bogus": HF | {"hidden_act": "tanh"}, "hidden_act list": HF | {"hidden_act": ["silu"]},
    "tie str": HF | {"tie_word_embeddings": "false"}, "tie null": HF | {"tie_word_embeddings": None},
    "attention_bias str": HF | {"attention_bias": "no"}, "head_dim 0": HF | {"head_dim": 0},
    "head_dim null": HF | {"head_dim": None}, "layer_types sliding": HF | {"layer_types": ["sliding_attention"] * 32},
    "use_sliding true": HF | {"use_sliding_window": True}, "num_experts 8": HF | {"num_experts": 8},
    "is_encoder_decoder": HF | {"is_encoder_decoder": True}, "pruned_heads": HF | {"pruned_heads": {"0": [1]}},
    "hidden not divisible": HF | {"hidden_size": 4095},
    "bom": "\ufeff" + json.dumps(HF), "trailing garbage": json.dumps(HF) + "xx", "two objects": json.dumps(HF) * 2,
    "key not str": json.dumps(HF)[:-1] + ', "": 1}', "lone surrogate": json.dumps(HF)[:-1] + ', "x\\ud800": 1}',
    "underscore key": HF | {"_name_or_path": ["x"]}, "dropout nonzero": HF | {"attention_dropout": 0.1},
    "max_pos -1": HF | {"max_position_embeddings": -1}, "max_pos str": HF | {"max_position_embeddings": "x"},
    "rope_scaling str": HF | {"rope_scaling": "linear"}, "torch_dtype number": HF | {"torch_dtype": 16},
    "quantization_config": HF | {"quantization_config": {"quant_method": "fp8"}},
}
for label, raw in hf_bad.items():
    bad("config.json:" + label, "count", _json(f"hf-{abs(hash(label))}", raw))
ok("config.json:shipped copy", "count", _json("hf-copy", HF))
bad("config.json:directory", "count", str(TMP / "dir.json") if (TMP / "dir.json").mkdir() is None else "")
bad("config.json:missing", "count", str(TMP / "nope/config.json"))
bad("config.json:binary", "count", _text("bin.json", bytes(range(256))))
bad("config.json:empty", "count", _text("empty.json", ""))
bad("config.json:dev-zero", "count", "/dev/zero/config.json")

# ----------------------------------------------------------------------------- runs files
runs_bad = {
    "chips 0": {"chips": 0}, "chips -512": {"chips": -512}, "chips nan": {"chips": float("nan")},
    "chips str": {"chips": "512"}, "chips 10^30": {"chips": 10**30}, "chips 1.5": {"chips": 1.5},
    "chips yes": {"chips": True}, "batch 0": {"batch": 0}, "batch -1": {"batch": -1}, "batch inf": {"batch": float("inf")},
    "batch list": {"batch": [512]}, "seq 0": {"seq": 0}, "seq 10^13": {"seq": 10**13}, "seq 1.5": {"seq": 1.5},
    "microbatches 0": {"microbatches": 0}, "microbatches > batch": {"microbatches": 10**6},
    "interleave 0": {"interleave": 0}, "interleave 1000": {"interleave": 1000},
    "mesh list": {"mesh": ["tensor"]}, "mesh bogus axis": {"mesh": {"bogus": {"size": 512, "link": "ici"}}},
    "mesh size 0": {"mesh": {"tensor": {"size": 0, "link": "ici"}, "data": {"size": 512, "link": "dcn"}}},
    "mesh size product": {"mesh": {"tensor": {"size": 4, "link": "ici"}}},
    "mesh link bogus": {"mesh": {"data": {"size": 512, "link": "nvlink"}}},
    "mesh size str": {"mesh": {"data": {"size": "512", "link": "dcn"}}},
    "mesh axis null": {"mesh": {"data": None}}, "mesh axis int": {"mesh": {"data": 512}},
    "mesh extra key": {"mesh": {"data": {"size": 512, "link": "dcn", "color": "red"}}},
    "mesh wrap str": {"mesh": {"data": {"size": 512, "link": "dcn", "wrap": "no"}}},
    "mesh physical_axes 0": {"mesh": {"data": {"size": 512, "link": "dcn", "physical_axes": 0}}},
    "mesh 10^30 chips": {"chips": 10**30, "mesh": {"data": {"size": 10**30, "link": "dcn"}}},
    "mesh 10^12 chips": {"chips": 10**12, "batch": 10**12, "microbatches": 1, "interleave": 1, "overlap": [],
                         "mesh": {"data": {"size": 10**12, "link": "dcn"}}},
    "model unknown": {"model": "llama9"}, "model list": {"model": ["llama3-8b"]}, "model int": {"model": 5},
    "model inline bad": {"model": {"name": "x"}}, "chip unknown": {"chip": "tpu-v9"}, "chip int": {"chip": 7},
    "chip path missing": {"chip": "nope.yaml"}, "model path dir": {"model": "../"},
    "model path abs dev": {"model": "/dev/zero.yaml"},
    "schedule bogus": {"schedule": "zerobubble"}, "recompute bogus": {"recompute": "half"},
    "recompute tensor bogus": {"recompute": ["layer/nope"]}, "recompute int": {"recompute": 3},
    "overlap bogus": {"overlap": ["nope"]}, "overlap str": {"overlap": "tensor"},
    "attention_kernel bogus": {"attention_kernel": "flash9"}, "name missing": {"name": DROP},
    "name int": {"name": 5}, "name list": {"name": [1]}, "unknown key": {"colour": "red"},
    "measured_mfu 2": {"measured_mfu": 2}, "measured_mfu nan": {"measured_mfu": float("nan")},
    "measured_mfu -0.1": {"measured_mfu": -0.1}, "measured_step_s 0": {"measured_step_s": 0},
    "measured_step_s inf": {"measured_step_s": float("inf")}, "split bogus": {"split": "train"},
    "convention bogus": {"convention": "6N"}, "convention flops bogus": {"convention": {"flops": "7N", "stated": True, "peak": "bf16", "note": "x"}},
    "source missing": {"source": DROP}, "source int": {"source": 3}, "chips missing": {"chips": DROP},
    "seq yes": {"seq": "yes"}, "seq on": {"seq": True},
}
for label, change in runs_bad.items():
    path = _runs(f"r-{abs(hash(label))}.yaml", change)
    bad("runs:" + label, "predict", path)
for label in ("chips 0", "mesh size product", "measured_mfu 2", "model unknown", "batch -1", "split bogus"):
    path = _runs(f"rv-{abs(hash(label))}.yaml", runs_bad[label])
    bad("validate-runs:" + label, "validate", "--data", path)
    bad("calibrate-runs:" + label, "calibrate", "--data", path, "--chip", "h100-sxm")
runs_shape = {
    "runs missing": {"other": []}, "runs dict": {"runs": {"a": 1}}, "runs empty": {"runs": []},
    "runs null": {"runs": None}, "runs str": {"runs": "x"}, "run int": {"runs": [5]}, "run null": {"runs": [None]},
    "dup names": {"runs": [RUNS["runs"][0], RUNS["runs"][0]]}, "extra top key": {"runs": RUNS["runs"][:1], "colour": 1},
}
for label, raw in runs_shape.items():
    path = _text(f"rs-{abs(hash(label))}.yaml", yaml.safe_dump(raw))
    bad("runs-shape:" + label, "predict", path)
    bad("runs-shape-validate:" + label, "validate", "--data", path)
ok("runs:shipped copy", "predict", _text("rs-copy.yaml", yaml.safe_dump({"runs": RUNS["runs"][:1]})))
bad("predict:unknown name", "predict", "example_configz")
bad("calibrate:unknown chip", "calibrate", "--chip", "tpu-v9")
bad("calibrate:chip path", "calibrate", "--chip", _card("c-copy2.yaml", CHIP))
bad("calibrate:no fit runs", "calibrate", "--chip", "a100-sxm", "--data", _text("rs-copy2.yaml", yaml.safe_dump({"runs": RUNS["runs"][:1]})))

# ----------------------------------------------------------------------------- options
INT_BAD = ["0", "-1", "1.5", "nan", "inf", "-inf", "1e400", "", " ", "abc", "0x10", "1_000", "٣", "1e-5", "10" * 3000,
           "1e13", "1e30", "+5", "5 ", "true", "yes"]
for value in INT_BAD:
    bad(f"count --batch {value[:12]!r}", "count", "llama3-8b", "--batch", value)
    bad(f"count --seq {value[:12]!r}", "count", "llama3-8b", "--seq", value)
    bad(f"plan --chips {value[:12]!r}", "plan", "llama3-8b", "--chip", "tpu-v5p", "--chips", value, "--batch-tokens", "1e6")
    bad(f"plan --batch-tokens {value[:12]!r}", "plan", "llama3-8b", "--chip", "tpu-v5p", "--chips", "256", "--batch-tokens", value)
    bad(f"serve --batch {value[:12]!r}", "serve", "llama3-8b", "--chip", "tpu-v5e", "--chips", "8", "--batch", value)
    bad(f"serve --chips {value[:12]!r}", "serve", "llama3-8b", "--chip", "tpu-v5e", "--chips", value)
    bad(f"serve --context {value[:12]!r}", "serve", "llama3-8b", "--chip", "tpu-v5e", "--chips", "8", "--context", value)
    bad(f"serve --prompt {value[:12]!r}", "serve", "llama3-8b", "--chip", "tpu-v5e", "--chips", "8", "--batch", "8", "--prompt", value)
    bad(f"serve --generate {value[:12]!r}", "serve", "llama3-8b", "--chip", "tpu-v5e", "--chips", "8", "--batch", "8", "--generate", value)
    bad(f"formula --chips {value[:12]!r}", "formula", "x_opt", "--chip", "tpu-v5p", "--chips", value)
    bad(f"plot ratio --chips {value[:12]!r}", "plot", "ratio", "llama3-8b", "--chip", "tpu-v5p", "--chips", value, "-o", str(TMP / "r.png"))
    bad(f"plot pareto --chips {value[:12]!r}", "plot", "pareto", "llama3-8b", "--chip", "tpu-v5e", "--chips", value, "-o", str(TMP / "p.png"))
    bad(f"plot pareto --context {value[:12]!r}", "plot", "pareto", "llama3-8b", "--chip", "tpu-v5e", "--chips", "8", "--context", value, "-o", str(TMP / "p.png"))
for value in ["-1", "1.5", "nan", "1e30", "10" * 2000]:
    bad(f"count --param-bytes {value[:12]!r}", "count", "llama3-8b", "--param-bytes", value)
    bad(f"plan --act-bytes {value[:12]!r}", "plan", "llama3-8b", "--chip", "tpu-v5p", "--chips", "256", "--batch-tokens", "1e6", "--act-bytes", value)
    bad(f"plan --ckpt {value[:12]!r}", "plan", "llama3-8b", "--chip", "tpu-v5p", "--chips", "256", "--batch-tokens", "1e6", "--ckpt", value)
for value in ["0", "-0.5", "2", "nan", "inf", "abc", ""]:
    bad(f"serve --mfu {value!r}", "serve", "llama3-8b", "--chip", "tpu-v5e", "--chips", "8", "--batch", "8", "--prompt", "1024", "--mfu", value)
    bad(f"plan --mfu {value!r}", "plan", "llama3-8b", "--chip", "tpu-v5p", "--chips", "256", "--batch-tokens", "1e6", "--tokens", "1e12", "--mfu", value)
PLAN8 = ["plan", "llama3-8b", "--chip", "tpu-v5p", "--chips", "256", "--batch-tokens", "1048576"]
for mesh in ["fsdp", "=4", "fsdp=0", "fsdp=-4", "bogus=4", "fsdp=1e400", "fsdp=256,", "fsdp=3", "fsdp=1" + "0" * 20,
             "fsdp=256=3", "FSDP=256", "fsdp =256", "tensor=256", "fsdp=512"]:
    bad(f"plan --mesh {mesh[:20]!r}", *PLAN8, "--mesh", mesh)
for m in ["fsdp", "fsdp=0", "fsdp=nan", "fsdp=100", "bogus=1", "fsdp=1.5"]:
    bad(f"plan --m {m!r}", *PLAN8, "--mesh", "fsdp=256", "--m", m)
for pods in ["0", "-1", "1e12", "3"]:
    bad(f"plan --pods {pods}", *PLAN8, "--pods", pods)
for strategy in ["bogus", "", "FSDP", "fsdp,tp"]:
    bad(f"plan --strategy {strategy!r}", *PLAN8, "--strategy", strategy)
for rec in ["bogus", "", ",", "layer/nope", "full,selective", "auto"]:
    bad(f"count --recompute {rec!r}", "count", "llama3-8b", "--recompute", rec)
bad("plan --recompute auto --ckpt", *PLAN8, "--recompute", "auto", "--ckpt", "1")
for setting in ["bogus=1", "hbm_bytes=nan", "hbm_bytes=-1", "hbm_bytes=0", "hbm_bytes=inf", "hbm_bytes=1e400",
                "hbm_bytes=", "=5", "hbm_bytes", "pod_shape=", "pod_shape=0x4", "pod_shape=4x4x4x4x4",
                "pod_shape=1e6x1e6", "pod_shape=abc", "ici_scope=pod", "peak_flops_per_s.bf16=0",
                "peak_flops_per_s.fp64=1e15", "peak_flops_per_s=1e15", "ici_links_per_axis=1.5",
                "chips_per_host=0", "wraparound_unit=3", "max_slice_chips=3", "wraparound=none", "family=gpu",
                "name=x", "hbm_bytes=1e30", "hbm_bytes_per_s=1e-30", "ici_link_bytes_per_s=1e-30",
                "dcn_bytes_per_s_per_host=1e-30", "peak_flops_per_s.bf16=1e30"]:
    bad(f"plan --set {setting[:30]!r}", *PLAN8, "--set", setting)
    bad(f"cards --set {setting[:30]!r}", "cards", "tpu-v5p", "--set", setting)
bad("cards model --set", "cards", "llama3-8b", "--set", "hbm_bytes=1e9")
bad("plan --set twice", *PLAN8, "--set", "hbm_bytes=1e9", "--set", "hbm_bytes=2e9")
for dtype in ["bogus", "fp64", "", "int4"]:
    bad(f"formula --dtype {dtype!r}", "formula", "x_opt", "--chip", "tpu-v5p", "--chips", "8960", "--dtype", dtype)
    bad(f"cards --dtype {dtype!r}", "cards", "tpu-v5p", "--dtype", dtype)
    bad(f"serve --weights-dtype {dtype!r}", "serve", "llama3-8b", "--chip", "tpu-v5e", "--chips", "8", "--weights-dtype", dtype)
    bad(f"serve --kv-dtype {dtype!r}", "serve", "llama3-8b", "--chip", "tpu-v5e", "--chips", "8", "--kv-dtype", dtype)
    bad(f"serve --math-dtype {dtype!r}", "serve", "llama3-8b", "--chip", "tpu-v5e", "--chips", "8", "--math-dtype", dtype)
for at in ["W_ici=nan", "W_ici=-1B/s", "W_ici=1e400B/s", "W_ici=1.8e11", "bogus=3", "n_chips=0", "n_chips=-5",
           "n_chips=1e30", "n_chips=1.5", "W_ici=1.8e11GB", "x", "=", "n_chips=", "n_chips=2**10", "n_chips=__import__('os')",
           "C=inf", "C=0FLOP/s", "T=0", "B=nan"]:
    bad(f"formula --at {at!r}", "formula", "x_opt", "--at", at)
for name in ["bogus", "", "x_opt; rm"]:
    bad(f"formula name {name!r}", "formula", name)
bad("formula --model missing", "formula", "x_opt", "--model", "nope")
bad("formula --chips w/o chip", "formula", "x_opt", "--chips", "0")
for mesh in ["tensor=0", "tensor=3", "data=0", "bogus=2", "tensor=16", "tensor=1e3", "tensor"]:
    bad(f"serve --mesh {mesh!r}", "serve", "llama3-8b", "--chip", "tpu-v5e", "--chips", "8", "--mesh", mesh)
bad("serve prompt w/o batch", "serve", "llama3-8b", "--chip", "tpu-v5e", "--chips", "8", "--prompt", "1024")
bad("serve context 10^12", "serve", "llama3-8b", "--chip", "tpu-v5e", "--chips", "8", "--context", "1e12")
bad("serve batch 10^12", "serve", "llama3-8b", "--chip", "tpu-v5e", "--chips", "8", "--batch", "1e12")
bad("serve chips 10^30", "serve", "llama3-8b", "--chip", "tpu-v5e", "--chips", "1e30")
bad("plan chips 10^30", "plan", "llama3-8b", "--chip", "tpu-v5p", "--chips", "1e30", "--batch-tokens", "1e6")
bad("plan seq > batch tokens", *PLAN8, "--seq", "2097152")
bad("plan seq 10^12", "plan", "llama3-8b", "--chip", "tpu-v5p", "--chips", "256", "--batch-tokens", "1e12", "--seq", "1e12")
bad("count seq 10^13", "count", "llama3-8b", "--seq", "1e13")
bad("count batch 10^30", "count", "llama3-8b", "--batch", "1e30")
bad("ops batch 10^30", "ops", "llama3-8b", "--chip", "tpu-v5p", "--batch", "1e30")
bad("sensitivity --plot bogus", "sensitivity", "llama3-8b", "--chip", "tpu-v5p", "--chips", "256", "--batch-tokens", "1048576", "--plot", "bogus", "-o", str(TMP / "s.png"))
bad("sensitivity --plot w/o -o", "sensitivity", "llama3-8b", "--chip", "tpu-v5p", "--chips", "256", "--batch-tokens", "1048576", "--plot", "C")
bad("sensitivity -o w/o --plot", "sensitivity", "llama3-8b", "--chip", "tpu-v5p", "--chips", "256", "--batch-tokens", "1048576", "-o", str(TMP / "s.png"))
bad("sensitivity mesh bad", "sensitivity", "llama3-8b", "--chip", "tpu-v5p", "--chips", "256", "--batch-tokens", "1048576", "--mesh", "fsdp=3")
for target in ["bogus", "plan", ""]:
    bad(f"html {target!r}", "html", target, "-o", str(TMP / "h.html"))
bad("html plan no chip", "html", "plan", "llama3-8b", "-o", str(TMP / "h.html"))
bad("html seed with model arg", "html", "seed", "llama3-8b", "-o", str(TMP / "h.html"))
bad("html seed with --chips", "html", "seed", "--chips", "5", "-o", str(TMP / "h.html"))
for out in [str(TMP), str(TMP / "nope/x.tex"), "/dev/full", str(TMP / "empty.yaml/x.tex"), ""]:
    bad(f"latex -o {out[-20:]!r}", "latex", "seed", "-o", out)
    bad(f"markdown -o {out[-20:]!r}", "markdown", "seed", "-o", out)
    bad(f"html -o {out[-20:]!r}", "html", "seed", "-o", out)
    bad(f"plot -o {out[-20:]!r}", "plot", "ratio", "llama3-8b", "--chip", "tpu-v5p", "--chips", "256", "-o", out)
bad("plot -o .txt", "plot", "ratio", "llama3-8b", "--chip", "tpu-v5p", "--chips", "256", "-o", str(TMP / "x.txt"))
for setting in ["bogus=1", "chips=0", "chips=-5", "batch_tokens=nan", "chips=1e30", "n_kv_heads=7", "n_layers=0",
                "ckpt_per_layer=-1", "chips", "=1", "chips=1.5", "seq=0", "hbm_bytes=nan"]:
    bad(f"reproduce --set {setting!r}", "reproduce", "--set", setting)
for claim in ["bogus", ""]:
    bad(f"reproduce --claim {claim!r}", "reproduce", "--claim", claim)
bad("reproduce unknown derivation", "reproduce", "bogus")
bad("reproduce --model bogus", "reproduce", "--model", "bogus")
bad("reproduce --chip bogus", "reproduce", "--chip", "bogus")
bad("reproduce --chip model", "reproduce", "--chip", "llama3-8b")
bad("reproduce --model chip", "reproduce", "--model", "tpu-v5p")
bad("count chip name", "count", "tpu-v5p")
bad("ops chip=model", "ops", "llama3-8b", "--chip", "llama3-8b")
bad("validate --data model", "validate", "--data", str(ROOT / "models/llama3-8b.yaml"))
bad("predict model card", "predict", str(ROOT / "models/llama3-8b.yaml"))
bad("predict derivation", "predict", str(ROOT / "derivations/seed.yaml"))
bad("reproduce runs file", "reproduce", str(ROOT / "derivations/published_runs.yaml"))
bad("calibrate --write read-only?", "calibrate", "--chip", "tpu-v9", "--write")
bad("unknown subcommand", "bogus")
bad("no subcommand")
bad("flag twice", "count", "llama3-8b", "--seq", "4096", "--seq", "2048")
bad("unknown flag", "count", "llama3-8b", "--bogus")
bad("abbreviated flag ambiguity", "count", "llama3-8b", "--a", "full")


# Cases above that are valid input after all: each is read as stated or named in the output.
VALID = {
    "model-card:sliding>positions",            # the window is clamped, said in a note
    "model-card:all 10^12 count", "model-card:all 10^12 ops",   # every size at the cards' 10^12 limit
    "config.json:head_dim null", "config.json:underscore key",   # transformers' own default; its private keys
    "config.json:dropout nonzero", "config.json:quantization_config",   # named in the output as not modelled
    "runs:mesh 10^12 chips",                   # the runs file's count limit
    "plan --mesh 'fsdp =256'", "serve --weights-dtype 'int4'", "serve --kv-dtype 'int4'", "serve prompt w/o batch",
    *(f"{c} {f} {v!r}" for c, f in (("count", "--batch"), ("count", "--seq"), ("serve", "--batch"),
                                    ("serve", "--context"), ("serve", "--prompt"), ("serve", "--generate"))
      for v in ("+5", "5 ")),
    *(f"{c} --set {v!r}" for c in ("plan", "cards") for v in    # the cards' range, 1e-30 to 1e30
      ("hbm_bytes=1e30", "hbm_bytes_per_s=1e-30", "ici_link_bytes_per_s=1e-30", "dcn_bytes_per_s_per_host=1e-30",
       "peak_flops_per_s.bf16=1e30")),
}
CASES = [(group, argv, "ok" if group in VALID else expect) for group, argv, expect in CASES]


def _run(argv):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SYMROOF_CACHE": "off"}
    start = time.perf_counter()
    try:
        out = subprocess.run([sys.executable, "-m", "symroof", *argv], capture_output=True, text=True, timeout=10,
                             env=env, cwd=TMP, errors="replace")
        rc, stdout, stderr = out.returncode, out.stdout, out.stderr
    except subprocess.TimeoutExpired:
        rc, stdout, stderr = "timeout", "", ""
    return rc, stdout, stderr, time.perf_counter() - start


def main() -> int:
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else ""
    show_all = "--all" in sys.argv
    failures = 0
    cases = [c for c in CASES if only in c[0]]
    for group, argv, expect in cases:
        rc, out, err, wall = _run(argv)
        lines = err.strip().splitlines()
        problems = []
        if expect == "bad":
            if rc != 2:
                problems.append(f"rc={rc}")
            if "Traceback" in err:
                problems.append("traceback")
            if len(lines) != 1:
                problems.append(f"{len(lines)} lines")
            if wall > SLOW_S:
                problems.append(f"{wall:.1f}s")
        elif rc != 0:
            problems.append(f"rc={rc}")
        failures += bool(problems)
        if problems or show_all:
            shown = (lines[-1] if lines else out.strip().splitlines()[-1:] or [""])
            shown = shown if isinstance(shown, str) else shown[0]
            print(f"{'FAIL' if problems else 'ok  '} {group} [{', '.join(problems)}] {wall:.2f}s rc={rc}: {shown[:300]}",
                  flush=True)
    print(f"{failures} of {len(cases)} cases break the rule (files in {TMP})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
