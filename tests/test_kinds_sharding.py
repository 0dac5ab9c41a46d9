"""The newer attention kinds under a mesh and in ``serve``: linear heads on the tensor axis, DSA's replicated
no-grad indexer, and a linear layer's constant state beside the per-token cache.

Independent numbers (tolerance 0 unless said): divisibility by hand; the indexer's weights counted by hand
from DeepSeek-V3.2-Exp's config.json and DeepSeek's ``Indexer`` (inference/model.py: wq_b q_lora_rank x
N_idx·H_idx, wk D x H_idx, a LayerNorm of 2·H_idx, weights_proj D x N_idx, on every rank); Qwen3-Next's cache
by hand from its config.json and transformers' cache shapes (the recurrent state N_lv x H_lk x H_lv and the
conv state of W_cv inputs of the q, k, v channels per linear layer; K x H keys and values per token and full
layer), its weights 2 bytes times transformers' meta-device count, 79,674,391,296 (tests/validate).
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from symroof.cli import main
from symroof.io.cards import model_from_dict

ROOT = Path(__file__).resolve().parents[1]
HF = ROOT / "tests" / "data" / "hf"
QNEXT, DSA = HF / "Qwen3-Next-80B-A3B" / "config.json", HF / "DeepSeek-V3.2-Exp" / "config.json"

# 4 heads, 2 KV heads and d_ff 96 split two ways; its 3 linear key heads (6 value heads) do not
LIN3 = {"name": "lin3", "architecture": "qwen3_next", "source": "test", "n_layers": 2, "d_model": 64, "d_ff": 96,
        "n_heads": 4, "n_kv_heads": 2, "head_dim": 16, "vocab": 128, "tie_embeddings": False,
        "block_types": {"lin": {"attention": "linear"}, "full": {}}, "layers": [["lin", 1], ["full", 1]],
        "linear_key_heads": 3, "linear_value_heads": 6, "linear_key_head_dim": 8, "linear_value_head_dim": 8,
        "linear_conv_kernel": 4}


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "symroof", *args], capture_output=True, text=True, cwd=ROOT)


def _json(*argv):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([*argv, "--json"]) == 0
    return json.loads(out.getvalue())


def _one_line_refusal(done, message):
    assert done.returncode == 2 and "Traceback" not in done.stderr and message in done.stderr, done.stderr
    assert done.stderr.count("\n") <= 1


# ----------------------------------------------------------------------------- linear heads on the tensor axis

def test_the_tensor_degree_must_divide_the_linear_key_heads():
    from symroof.parallel.axes import tensor_problem
    from symroof.search.candidates import allowed_degrees, degree_problem

    card = model_from_dict(LIN3, "lin3.yaml")
    assert "3 linear key heads" in tensor_problem(card, 2)
    assert "linear value heads" not in tensor_problem(card, 2)          # 6 split two ways
    assert "3 linear key heads" in degree_problem(card, 8, 64, {"tensor": 2})
    assert allowed_degrees("tensor", card, 8, 64) == [1]          # gcd(4, 96, 3, 6) = 1
    fours = model_from_dict({**LIN3, "linear_key_heads": 2, "linear_value_heads": 4}, "lin2.yaml")
    assert tensor_problem(fours, 2) is None and allowed_degrees("tensor", fours, 8, 64) == [1, 2]
    assert "2 linear key heads" in tensor_problem(fours, 4) and "linear value heads" not in tensor_problem(fours, 4)


def test_plan_predict_and_serve_refuse_a_tensor_degree_the_linear_heads_do_not_take(tmp_path):
    card = tmp_path / "lin3.yaml"
    card.write_text(yaml.safe_dump(LIN3))
    _one_line_refusal(_cli("plan", str(card), "--chip", "h100-sxm", "--chips", "2", "--batch-tokens", "1024",
                           "--seq", "128", "--mesh", "tensor=2"), "tensor=2 does not divide the model's 3 linear key heads")
    _one_line_refusal(_cli("serve", str(card), "--chip", "h100-sxm", "--chips", "2", "--context", "128",
                           "--mesh", "tensor=2"), "--mesh tensor=2: tensor=2 does not divide the model's 3 linear key heads")
    runs = tmp_path / "runs.yaml"
    runs.write_text(yaml.safe_dump({"runs": [{"name": "t2", "source": "test", "model": LIN3, "chip": "h100-sxm",
                                              "chips": 2, "mesh": {"tensor": {"size": 2, "link": "ici"}},
                                              "batch": 2, "seq": 128}]}))
    _one_line_refusal(_cli("predict", str(runs)), "(t2): key 'mesh.tensor.size' (2) must divide the model's 3 linear key heads")
    # searched, not asked for: every row keeps tensor=1
    result = _json("serve", str(card), "--chip", "h100-sxm", "--chips", "2", "--context", "128")
    assert {r["mesh"]["tensor"] for r in result["pareto"]} == {1}


def test_serve_skips_tensor_degrees_that_do_not_divide_the_heads():
    """Qwen3-Next's 16 heads, 2 KV heads and 16 linear key heads on 6 H100s: tensor 3 and 6 do not
    divide 16, so only tensor 1 and 2 are evaluated; asked for, tensor=3 is refused."""
    result = _json("serve", str(QNEXT), "--chip", "h100-sxm", "--chips", "6")
    assert {r["mesh"]["tensor"] for r in result["pareto"]} <= {1, 2}
    _one_line_refusal(_cli("serve", str(QNEXT), "--chip", "h100-sxm", "--chips", "6", "--mesh", "tensor=3"),
                      "tensor=3 does not divide the model's 16 heads")


# ----------------------------------------------------------------------------- DSA's indexer under a mesh

# DeepSeek-V3.2-Exp's config.json: D 7168, q_lora_rank 1536, 64 indexer heads of 128, 61 layers
INDEXER = 61 * (1536 * 64 * 128 + 7168 * 128 + 2 * 128 + 7168 * 64)


@pytest.mark.parametrize("tensor", [1, 8])
def test_the_indexer_is_whole_on_every_chip_and_holds_no_gradient_or_optimizer_state(tensor):
    from symroof.core.graph import Structure, build
    from symroof.core.symbols import b_grad, b_opt, b_param
    from symroof.io.bind import evaluate, model_values
    from symroof.io.catalog import load_model
    from symroof.parallel.collectives import Axis
    from symroof.parallel.roofline import frozen_weights, memory_per_chip
    from symroof.parallel.sharding import shard

    assert INDEXER == 851_524_864
    card = load_model(str(DSA))
    sg = shard(build(Structure.of(card, 4096)), {"tensor": Axis("tensor", tensor)})
    values = {**model_values(card), b_param: 1, b_grad: 1, b_opt: 1}
    assert evaluate(frozen_weights(sg), values) == INDEXER
    memory = {k: evaluate(v, values) for k, v in memory_per_chip(sg).items() if k in ("params", "gradients", "optimizer")}
    assert memory["gradients"] == memory["optimizer"] == memory["params"] - INDEXER


def test_the_indexer_keys_are_cached_whole_on_every_chip():
    """serve's cache per chip at tensor 8: MLA's latent (512) and RoPE key (64) and the indexer's key (128),
    each whole on every chip (DeepSeek's k_cache is per rank), per token and layer."""
    from symroof.core.graph import Structure
    from symroof.core.symbols import B, S, b_kv
    from symroof.io.bind import evaluate, model_values
    from symroof.io.catalog import load_model
    from symroof.solve import inference as inf

    card = load_model(str(DSA))
    held = inf.kv_bytes_per_chip(Structure.of(card), 8)
    assert evaluate(held, {**model_values(card), B: 1, S: 1000, b_kv: 1}) == 61 * (512 + 64 + 128) * 1000


def test_the_optimizer_step_moves_only_the_trained_weights_on_both_paths(tmp_path):
    """step_model (symbolic) and step_numbers (exact) charge the optimizer step the same bytes on
    tensor=8: (2·b_param + b_grad + 2·b_opt) times the weights a chip trains, all it holds but the
    whole indexer."""
    from symroof.claims.published import load_runs, values
    from symroof.claims.sharded_family import sharded
    from symroof.core.symbols import b_grad, b_opt, b_param
    from symroof.parallel import step_model, step_numbers
    from symroof.parallel.roofline import memory_per_chip

    runs = tmp_path / "runs.yaml"
    runs.write_text(yaml.safe_dump({"runs": [{
        "name": "dsa", "source": "test", "model": str(DSA), "chip": "h100-sxm", "chips": 8, "batch": 8,
        "seq": 4096, "mesh": {"tensor": {"size": 8, "link": "ici"}}}]}))
    run = load_runs(runs, prediction=True)[0]
    nums = values(run)
    sg, exact_sg = sharded(run, nums), sharded(run, nums, exact=True)
    symbolic = step_model.Numbers(sg, nums).optimizer_bytes(sg)
    exact = step_numbers.Exact(exact_sg, nums).optimizer_bytes(exact_sg)
    held = memory_per_chip(sg)["params"].xreplace(nums) / nums[b_param]
    assert exact == float((2 * nums[b_param] + nums[b_grad] + 2 * nums[b_opt]) * (held - INDEXER)) == symbolic


# ----------------------------------------------------------------------------- serve: state beside the cache

def test_serve_prints_a_linear_layers_state_apart_from_the_per_token_cache():
    raw = json.loads(QNEXT.read_text())
    full = raw["num_hidden_layers"] // raw["full_attention_interval"]                  # 12 full layers
    linear = raw["num_hidden_layers"] - full                                            # 36 linear layers
    kv_token = 2 * raw["num_key_value_heads"] * raw["head_dim"] * full * 2             # keys and values, bf16
    nk, nv, dk, dv, w = (raw[k] for k in ("linear_num_key_heads", "linear_num_value_heads", "linear_key_head_dim",
                                          "linear_value_head_dim", "linear_conv_kernel_dim"))
    state = linear * (nv * dk * dv + (2 * nk * dk + nv * dv) * w) * 2
    assert (kv_token, state) == (24_576, 40_108_032)
    r = _json("serve", str(QNEXT), "--chip", "h100-sxm", "--chips", "4", "--batch", "8", "--mesh", "tensor=4")
    assert r["kv_bytes_per_token"] == kv_token and r["kv_state_bytes_per_sequence"] == state
    weights, hbm, context = 2 * 79_674_391_296, 80e9, 8192
    assert r["weight_bytes"] == weights
    assert r["chips_for_memory"] == pytest.approx((weights + 8 * (state + context * kv_token)) / hbm, rel=1e-12)
    # per chip: a quarter of the weights and of the state (its heads split), one of the 2 KV heads whole
    per_sequence = state / 4 + context * kv_token / 2
    assert r["max_batch"] == int((hbm - weights / 4) // per_sequence) == 362
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["serve", str(QNEXT), "--chip", "h100-sxm", "--chips", "4", "--batch", "8", "--mesh", "tensor=4"])
    assert "KV 24.58 kB per token (full-attention layers) + 40.11 MB of state per sequence (linear-attention, Mamba or short-conv layers)" in out.getvalue()


def test_serve_without_linear_layers_keeps_its_keys_and_lines():
    r = _json("serve", "llama3-70b", "--chip", "tpu-v5e", "--chips", "8", "--batch", "32", "--weights-dtype", "int8",
              "--mesh", "tensor=8")
    assert r["kv_bytes_per_token"] == 2 * 8 * 128 * 80 and r["kv_state_bytes_per_sequence"] == 0
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["serve", "llama3-70b", "--chip", "tpu-v5e", "--chips", "8", "--batch", "32", "--weights-dtype", "int8",
              "--mesh", "tensor=8"])
    assert "KV 163.8 kB per token; at most 42 sequences fit" in out.getvalue() and "state" not in out.getvalue()


def test_the_smallest_slice_serve_names_splits_the_heads():
    """Qwen3-Next, 1000 sequences of 8192 tokens on GB200 (186 GB): by hand, 2 chips hold 79.67 GB of
    weights and 1000 x (20.05 MB state + 100.7 MB of the 2 KV heads split two ways) each, 200.4 GB: too
    much; 3 chips would hold 53.1 + 1000 x (13.4 + 100.7 MB) = 167.2 GB, but 3 divides none of its 16
    heads; 4 chips hold 39.8 + 1000 x (10.0 + 100.7 MB) = 150.5 GB."""
    weights, state, kv_head = 2 * 79_674_391_296, 40_108_032, 8192 * 12 * 2 * 256 * 2      # one KV head's K and V
    held = {n: weights / n + 1000 * (state / n + kv_head * 2 / min(n, 2)) for n in (2, 3, 4)}
    assert held[2] > 186e9 and held[3] < 186e9 and held[4] < 186e9
    r = _json("serve", str(QNEXT), "--chip", "gb200-nvl72", "--chips", "8", "--mesh", "tensor=8", "--batch", "1000")
    assert r["min_chips"] == 4
