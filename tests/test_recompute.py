"""Activation recompute against published numbers.

- Activation memory per GPT layer with tensor and sequence parallelism (t-way), 16-bit
  activations and 1-byte dropout masks: s·b·h·(34 + 5·a·s/h)/t bytes without recompute and
  34·s·b·h/t with selective recompute (Korthikanti et al. 2022, arXiv 2205.05198, section 4
  and table 2); 2·s·b·h/t with full recompute (the layer input only).
- Hardware FLOPs with full recompute: 96·B·s·l·h²·(1 + s/(6h) + V/(16·l·h)) per step, against
  model FLOPs 72·B·s·l·h²·(1 + s/(6h) + V/(12·l·h)) (Narayanan et al. 2021, arXiv 2104.04473,
  section 5.1 and appendix); selective recompute adds the attention core's forward, 4·b·s²·h
  per layer (QKᵀ and the attention over V, 2·b·s²·h each).
- ``--ckpt n`` is a named-list policy: n = 1 keeps the layer input ("full"), n = 2 also the
  MLP input.
"""

from __future__ import annotations

import pytest
import sympy as sp

from symroof.core import derive, recompute
from symroof.core.graph import Structure, build
from symroof.core.symbols import B, D, F, H, K, L, N, T, V, b_act, b_mask, n_ckpt, n_micro
from symroof.errors import UnknownNameError
from symroof.parallel.collectives import Axis
from symroof.parallel.roofline import memory_per_chip
from symroof.parallel.sharding import shard

GPT = Structure.uniform(gated_mlp=False, dropout=True)
t = sp.Symbol("t", positive=True, integer=True)
# A GPT layer: d_ff = 4h, multi-head attention (K = N), head dim h / a.
GPT_SIZES = {F: 4 * D, K: N, H: D / N}
WIDTHS = {b_act: 2, b_mask: 1, n_micro: 1}           # 16-bit activations, 1-byte masks; the batch b at once


def _per_layer_per_chip(policy, kernel="eager"):
    sg = shard(build(GPT, "causal", kernel), {"tensor": Axis("tensor", t)})
    memory = memory_per_chip(sg, recompute=policy)["checkpoints"] / L
    return sp.simplify(memory.xreplace(GPT_SIZES).xreplace(WIDTHS))


def test_no_recompute_matches_korthikanti():
    s, b, h, a = T, B, D, N
    want = s * b * h * (34 + 5 * a * s / h) / t
    assert sp.simplify(_per_layer_per_chip("none") - want) == 0


def test_a_cards_dropout_key_gives_korthikantis_gpt_layer():
    """A card saying ``dropout: true`` (the published Megatron GPT rows) builds the layer Korthikanti
    et al. count: its masks and dropout outputs make s·b·h·(34 + 5·a·s/h)/t bytes per chip (section 4.1's
    count, every activation split t ways as with tensor and sequence parallelism together)."""
    from symroof.io.cards import model_from_dict

    gpt = {"name": "gpt-22b", "architecture": "llama", "mlp": "plain", "n_layers": 48, "d_model": 6144,
           "d_ff": 24576, "n_heads": 64, "n_kv_heads": 64, "head_dim": 96, "vocab": 51200,
           "tie_embeddings": False, "source": "arXiv 2205.05198"}
    with_dropout = Structure.of(model_from_dict({**gpt, "dropout": True}, "test"))
    sg = shard(build(with_dropout, "causal", "eager"), {"tensor": Axis("tensor", t)})
    memory = sp.simplify((memory_per_chip(sg, recompute="none")["checkpoints"] / L)
                         .xreplace(GPT_SIZES).xreplace(WIDTHS))
    assert sp.simplify(memory - T * B * D * (34 + 5 * N * T / D) / t) == 0
    assert Structure.of(model_from_dict(gpt, "test")) != with_dropout     # off unless the card says so


def test_a_dropouts_bytes_per_chip_are_its_share_of_the_graphs():
    """Sharding splits a dropout's traffic, mask included (forward: read x, write y and the 1-byte
    mask; backward: read dy and the mask, write dx), over the chips that split its tensor."""
    sg = shard(build(GPT, "causal", "eager"), {"tensor": Axis("tensor", t)})
    drops = [d for _, d in sg.nodes(data=True) if d["op"] == "dropout"]
    assert len(drops) == 6           # attention probabilities, attention output, MLP output; and their gradients
    for d in drops:
        assert sp.simplify(d["bytes"] / d["local_bytes"]) == t


def test_selective_recompute_matches_korthikanti():
    assert sp.simplify(_per_layer_per_chip("selective") - 34 * T * B * D / t) == 0


def test_full_recompute_keeps_the_layer_input():
    assert sp.simplify(_per_layer_per_chip("full") - 2 * T * B * D / t) == 0


def test_full_recompute_on_a_share_of_the_layers_keeps_korthikantis_bytes_on_the_rest():
    """A quarter of the layers under full recompute keep their input (2sbh), the rest everything
    (sbh(34 + 5as/h)), Korthikanti's two counts (one chip) mixed layer by layer."""
    got = recompute.activation_memory(build(GPT, "causal", "eager"), "full", share=sp.Rational(1, 4)) / L
    s, b, h, a = T, B, D, N
    want = (2 * s * b * h) / 4 + 3 * (s * b * h * (34 + 5 * a * s / h)) / 4
    assert sp.simplify(got.xreplace(GPT_SIZES).xreplace(WIDTHS) - want) == 0


def test_cli_count_recompute_layers_replays_that_share():
    """``count --recompute full --recompute-layers 16`` on LLaMA 3 8B's 32 layers: half the layers' forward
    replayed; a count of layers without a policy, or above the model's, is one line and exit 2."""
    import json
    import subprocess
    import sys

    root = __import__("pathlib").Path(__file__).resolve().parent.parent

    def cli(*argv):
        return subprocess.run([sys.executable, "-m", "symroof", "count", "llama3-8b", *argv], capture_output=True,
                              text=True, cwd=root)

    none, half = (json.loads(cli("--json", *extra).stdout) for extra in ((), ("--recompute", "full",
                                                                             "--recompute-layers", "16")))
    layers_forward = sum(m["forward"] for name, m in none["flops"]["by_module"].items() if name.startswith("layer/"))
    assert 2 * (half["flops"]["hardware"] - half["flops"]["model"]) == layers_forward
    assert half["run"]["recompute_layers"] == 16
    for bad in (("--recompute-layers", "16"), ("--recompute", "full", "--recompute-layers", "33")):
        done = cli(*bad)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "recompute layers" in done.stderr


def test_a_fused_attention_kernel_saves_no_score_matrix():
    """FlashAttention keeps the s×s probabilities on chip: no recompute already saves 34·sbh."""
    assert sp.simplify(_per_layer_per_chip("none", kernel="fused") - 34 * T * B * D / t) == 0


def test_full_recompute_hardware_flops_match_megatron():
    g = build(GPT, "full")           # Megatron's formula counts the whole s×s attention core
    s, h, l = T, D, L
    model = sp.simplify(derive.flops(g).xreplace(GPT_SIZES))
    assert sp.simplify(model - 72 * B * s * l * h**2 * (1 + s / (6 * h) + V / (12 * l * h))) == 0
    hardware = derive.flops(recompute.apply(g, "full")).xreplace(GPT_SIZES)
    assert sp.simplify(hardware - 96 * B * s * l * h**2 * (1 + s / (6 * h) + V / (16 * l * h))) == 0
    # the model count leaves the replay out
    assert sp.simplify(derive.model_flops(recompute.apply(g, "full")).xreplace(GPT_SIZES) - model) == 0


def test_selective_recompute_adds_the_attention_core_forward():
    g = build(GPT, "full")
    extra = derive.flops(recompute.apply(g, "selective")) - derive.flops(g)
    assert sp.simplify(extra.xreplace(GPT_SIZES) - 4 * B * T**2 * D * L) == 0


def test_ckpt_is_a_named_list_policy():
    """The --ckpt convention (n_ckpt block inputs of [B, T, D] per layer) is the policy that keeps
    that many [B, T, D] tensors: 1 is "full", 2 adds the MLP block's input."""
    g = build(Structure(), "causal")
    ckpt = derive.training_memory(g)["checkpoints"]
    assert sp.simplify(recompute.activation_memory(g, "full") - ckpt.xreplace({n_ckpt: 1})) == 0
    two = recompute.activation_memory(g, ("layer/attn_residual",))
    assert sp.simplify(two - ckpt.xreplace({n_ckpt: 2})) == 0


def test_a_named_list_replays_only_what_it_dropped():
    g = build(Structure(), "causal", "eager")
    p = recompute.plan(g, ("layer/attn_residual", "layer/mlp/act"))["layer"]
    assert "layer/mlp/down" not in p["recomputed"] and "layer/attn/o" not in p["recomputed"]
    assert "layer/mlp/up" in p["recomputed"]         # the activation's input, remade from its norm


def test_keeping_a_fused_kernels_output_replays_no_scores():
    """A policy that keeps the attention output (MaxText's offloaded 'context', torchtitan's saved
    SDPA output) under a fused kernel: the kernel's backward reads q, k, v and that output and makes
    its T x S scores again itself (FlashAttention), so the replay is the projections, the norms and
    the MLP's up side, by hand 2BTD(NH + 2KH) + 2BT(NH)D + 2 x 2BTDF per layer, no QK^T; with the
    eager kernel, whose backward reads the stored probabilities, the replay adds the scores,
    2BT^2NH over the full square."""
    keep = ("layer/attn/av", "layer/mlp/down")
    by_hand = 2 * B * T * D * (N * H + 2 * K * H) + 2 * B * T * N * H * D + 2 * 2 * B * T * D * F
    replay = {kernel: derive.total(recompute.apply(build(Structure(), "full", kernel), keep), "flops", "recompute") / L
              for kernel in ("fused", "eager")}
    assert sp.simplify(replay["fused"] - by_hand) == 0
    assert sp.simplify(replay["eager"] - by_hand - 2 * B * T * T * N * H) == 0


@pytest.mark.parametrize("policy, message", [
    (("layer/attn/nope",), "'layer/attn/nope', which is not a tensor of the model's blocks"),
    ("some", "unknown recompute policy 'some'; allowed: none, full, selective"),
])
def test_a_policy_naming_a_missing_tensor_is_one_line(policy, message):
    with pytest.raises(UnknownNameError) as err:
        recompute.plan(build(Structure(), "causal"), policy)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_model_of_two_block_types_lists_each_tensor_once():
    """One block type's output is the next one's input: the names a policy may keep (and the error
    that lists them) give it once."""
    from symroof.io.catalog import load_model

    names = recompute.tensor_names(build(Structure.of(load_model("deepseek-v3")), "causal"))
    assert len(names) == len(set(names))
    assert {"dense/mlp_residual", "moe/mlp_residual", "moe/attn/q_a"} <= set(names)


RUN = """\
runs:
  - name: r
    source: somewhere
    model: {name: gpt-test, architecture: llama, mlp: plain, n_layers: 24, d_model: 2048, d_ff: 8192, n_heads: 16, n_kv_heads: 16, head_dim: 128, vocab: 51200, tie_embeddings: false, source: test}
    chip: h100-sxm
    chips: 2
    mesh:
      data: {size: 2, link: dcn}
    batch: 8
    seq: 2048
    measured_mfu: 0.4
    split: fit
    convention: {flops: ops+causal, stated: true, peak: bf16, note: test}
"""


def test_a_published_run_with_full_recompute_does_megatrons_hardware_flops(tmp_path):
    """A run stating full recompute must do 96 (1 + s/12h + V/16lh) where the model needs
    72 (1 + s/12h + V/12lh) (Narayanan et al. with the causal half of the core); MFU keeps
    the model count."""
    from symroof.claims.published import load_runs, predict

    path = tmp_path / "runs.yaml"
    path.write_text(RUN)
    (plain,) = load_runs(path)
    path.write_text(RUN.replace("    batch: 8\n", "    batch: 8\n    recompute: full\n"))
    (full,) = load_runs(path)
    a, b = predict(plain), predict(full)
    s, h, l, v = 2048, 2048, 24, 51200
    want = 96 * (1 + s / (12 * h) + v / (16 * l * h)) / (72 * (1 + s / (12 * h) + v / (12 * l * h)))
    assert b.terms["t_math"] / a.terms["t_math"] == pytest.approx(want, rel=1e-12)
    assert b.ceilings == pytest.approx({k: c * a.t_step / b.t_step for k, c in a.ceilings.items()}, rel=1e-12)
    path.write_text(RUN.replace("    batch: 8\n", "    batch: 8\n    recompute: some\n"))
    with pytest.raises(Exception, match="key 'recompute' is 'some'; allowed: none, full, selective"):
        load_runs(path)


def test_a_run_replaying_a_share_of_its_layers_does_that_share_of_megatrons_extra_flops(tmp_path):
    """``recompute_layers``: 6 of the 24 layers replay (Megatron-LM's recompute_method block, 6 layers):
    the hardware does 72 (1 + s/12h + V/12lh) + (6/24) x 24 (1 + s/12h), full recompute's extra
    forward (Narayanan et al.: 96 (1 + s/12h + V/16lh) in all) on a quarter of the layers."""
    from symroof.claims.published import load_runs, predict

    path = tmp_path / "runs.yaml"
    path.write_text(RUN)
    (plain,) = load_runs(path)
    path.write_text(RUN.replace("    batch: 8\n", "    batch: 8\n    recompute: full\n    recompute_layers: 6\n"))
    (part,) = load_runs(path)
    assert part.recompute_layers == 6
    s, h, l, v = 2048, 2048, 24, 51200
    model = 72 * (1 + s / (12 * h) + v / (12 * l * h))
    want = (model + 6 / 24 * 24 * (1 + s / (12 * h))) / model
    assert predict(part).terms["t_math"] / predict(plain).terms["t_math"] == pytest.approx(want, rel=1e-12)
    path.write_text(RUN.replace("    batch: 8\n", "    batch: 8\n    recompute: full\n    recompute_layers: 24\n"))
    assert load_runs(path)[0].recompute_layers is None          # every layer: the policy as it is


@pytest.mark.parametrize("lines, message", [
    ("    recompute_layers: 6\n", "key 'recompute_layers' needs a recompute policy"),
    ("    recompute: full\n    recompute_layers: 25\n", "key 'recompute_layers' is 25, above the model's 24 layers"),
    ("    recompute: full\n    recompute_layers: 0\n", "key 'recompute_layers' must be a positive integer"),
    ("    recompute: full\n    recompute_layers: half\n", "key 'recompute_layers' must be a positive integer"),
])
def test_a_bad_recompute_layers_is_one_line(tmp_path, lines, message):
    from symroof.claims.published import load_runs
    from symroof.errors import CardError

    path = tmp_path / "runs.yaml"
    path.write_text(RUN.replace("    batch: 8\n", "    batch: 8\n" + lines))
    with pytest.raises(CardError, match=message) as err:
        load_runs(path)
    assert "\n" not in str(err.value) and "runs[0] (r)" in str(err.value)


def test_cli_count_reports_model_and_hardware_flops_apart():
    import contextlib
    import io
    import json

    from symroof.cli import main

    def run(*argv):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["count", "llama3-8b", "--json", *argv]) == 0
        return json.loads(out.getvalue())

    none, full = run(), run("--recompute", "full")
    assert none["flops"]["hardware"] == none["flops"]["model"] == none["flops"]["forward"] + none["flops"]["backward"]
    assert full["flops"]["model"] == none["flops"]["model"]
    # full recompute replays every layer's forward: hardware - model = forward minus the unembedding
    layers_forward = sum(m["forward"] for name, m in none["flops"]["by_module"].items() if name.startswith("layer/"))
    assert full["flops"]["hardware"] - full["flops"]["model"] == layers_forward
    assert full["memory_bytes"]["checkpoints"] * 2 == none["memory_bytes"]["checkpoints"]   # 1 vs --ckpt 2


def test_cli_bad_recompute_exits_2_with_one_line():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "symroof", "count", "llama3-8b", "--recompute",
                           "layer/attn/nope"], capture_output=True, text=True,
                          cwd=__import__("pathlib").Path(__file__).resolve().parent.parent)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "layer/attn/nope" in done.stderr


@pytest.mark.parametrize("value", ["", ",", 3])
def test_an_empty_or_non_text_policy_is_refused(value):
    from symroof.errors import CardError
    from symroof.io.run import RunSettings

    with pytest.raises(CardError, match="must be none, full, selective or a list of tensor names"):
        RunSettings().with_options(recompute=value)
