"""Multi-token prediction in training (core/mtp.py): DeepSeek-V3's MTP modules (arXiv 2412.19437,
section 2.2) against the checkpoint's shapes and Megatron-LM's FLOP count, where a pipeline puts
them, and the runs-file key that trains them."""

from dataclasses import replace
from pathlib import Path

import pytest
import sympy as sp

from symroof.claims.published import load_runs
from symroof.core import derive
from symroof.core.graph import Structure, build
from symroof.core.symbols import B, T, layers
from symroof.errors import CardError
from symroof.io.bind import model_values
from symroof.io.catalog import load_model
from symroof.parallel import roofline
from symroof.parallel.collectives import Axis
from symroof.parallel.sharding import shard
from runsfile import ONE_RUN

ROOT = Path(__file__).resolve().parent.parent


def _graphs(name: str, depth: int):
    card = load_model(name)
    structure = Structure.of(card)
    return card, build(structure, "causal"), build(replace(structure, mtp=depth), "causal")


def test_deepseek_v3s_mtp_module_has_the_checkpoints_shapes():
    """Layer 61 of the DeepSeek-V3 checkpoint (deepseek-ai/DeepSeek-V3 README_WEIGHTS.md: enorm, hnorm,
    eh_proj, a decoder layer, shared_head's norm; its embedding and head are the main model's) with the
    config.json's sizes (hidden 7168, MoE 256 x 2048 and one shared, MLA q_lora 1536, kv_lora 512, 128
    heads of 128 + 64 RoPE, values 128), worked by hand. README_WEIGHTS rounds it to "11.5B" unique
    parameters; the exact count is 11.61B."""
    d = 7168
    attention = (d * 1536 + 1536 + 1536 * 128 * 192 + d * (512 + 64) + 512 + 512 * 128 * (128 + 128)
                 + 128 * 128 * d)
    moe = 256 * 3 * d * 2048 + 3 * d * 2048 + 256 * d          # routed, shared, router
    by_hand = 2 * d * d + 3 * d + attention + 2 * d + moe     # eh_proj, enorm/hnorm/final norm, layer norms
    card, base, with_mtp = _graphs("deepseek-v3", 1)
    nums = model_values(card)
    groups = derive.params_by_group(with_mtp)
    assert groups["mtp"].xreplace(nums) == by_hand == 11_610_067_968
    assert "mtp" not in derive.params_by_group(base)        # no module, no group
    assert sp.expand(derive.params(with_mtp) - derive.params(base) - groups["mtp"]) == 0   # nothing else moves


@pytest.mark.parametrize("name, depth", [("deepseek-v3", 1), ("llama3-8b", 2)])
def test_each_module_costs_megatrons_one_more_layer_its_projection_and_one_more_logit(name, depth):
    """Megatron-LM's count (NVIDIA/Megatron-LM@d98e8a6 megatron/training/training.py,
    num_floating_point_operations): per token, each MTP depth adds one layer of the last layer's kind
    (num_moe_layers or num_dense_layers += mtp_num_layers), 3 x 2 x 2h x h for its projection and
    3 x 2 x h x V for its logits. (Megatron also counts 3h a depth for its norms, which symroof counts
    as vector work, not matmul FLOPs.)"""
    card, base, with_mtp = _graphs(name, depth)
    nums = model_values(card)
    h, vocab = card.d_model, card.vocab
    last = layers(list(base.graph["blocks"])[-1])        # the last block type's count (DeepSeek-V3's MoE layers)
    one_more = derive.flops(base).xreplace({last: last + depth}) - derive.flops(base)
    per_token = (derive.flops(with_mtp) - derive.flops(base) - one_more) / (B * T)
    assert sp.expand(per_token.xreplace(nums)) == depth * (3 * 2 * 2 * h * h + 3 * 2 * h * vocab)


def test_the_modules_are_trained_only():
    """Inference drops the modules (or drafts tokens with them): a prefill graph has none."""
    card = load_model("deepseek-v3")
    structure = replace(Structure.of(card), mtp=1)
    assert not any(n.startswith("mtp1/") for n in build(structure, "causal", phase="prefill"))
    assert any(n.startswith("mtp1/") for n in build(structure, "causal"))


def test_a_pipeline_puts_the_modules_on_its_last_stage():
    """The MTP module sits after the head (DeepSeek-V3 3.2: the deepest layers and the output head on one
    rank; Megatron-LM's layouts end in "mL"): its weights are the last stage's, beside the head, and
    the first stage's end keeps the embedding alone."""
    card = load_model("llama3-8b")
    g = build(replace(Structure.of(card), mtp=1), "causal")
    mesh = {"stage": Axis("stage", sp.Integer(4), "dcn")}
    ends = roofline.pipeline_ends(shard(g, mesh))
    assert set(ends["first"]) == {"embed.w"}
    assert {"mtp1/eh_proj.w", "mtp1/attn/q.w", "mtp1/mlp/down.w", "unembed.w", "embed.w"} <= set(ends["last"])


def test_the_projection_is_split_over_the_tensor_axis():
    """Megatron-LM builds eh_proj as a tensor-parallel linear (NVIDIA/Megatron-LM@d98e8a6
    megatron/core/models/gpt/gpt_layer_specs.py, the MTP spec: eh_proj=TEColumnParallelLinear, 2h -> h),
    so each of 8 tensor ranks does 1/8 of its matmul and holds 1/8 of its weight (symroof splits its
    2h input rows, row-parallel, where Megatron-LM splits its h outputs: the same FLOPs and weight a
    chip; a ReduceScatter of the output in place of gathering the 2h-wide input). By hand on Llama 3 8B (D = 4096), one sequence of 4096
    tokens: 2 x 4096 x 8192 x 4096 / 8 = 34,359,738,368 FLOPs a chip in the forward, and as many in
    each backward matmul; 8192 x 4096 / 8 = 4,194,304 weight elements a chip. The two normed halves,
    each split on D, are each chip's own rows of the side-by-side input: the concat sends nothing.
    (It ran the whole matmul on every rank, 8x these FLOPs, and held the whole weight.)"""
    card = load_model("llama3-8b")
    g = build(replace(Structure.of(card), mtp=1), "causal")
    sg = shard(g, {"tensor": Axis("tensor", sp.Integer(8), "ici")})
    nums = {**model_values(card), B: 1, T: 4096}
    for name in ("mtp1/eh_proj", "mtp1/eh_proj:dx", "mtp1/eh_proj:dw"):
        assert sg.nodes[name]["local_flops"].xreplace(nums) == 34_359_738_368
    assert roofline._shard(sg.nodes["mtp1/eh_proj"]["params"]["mtp1/eh_proj.w"], sg.graph["mesh"],
                           sg.graph["sizes"]).xreplace(nums) == 4_194_304
    assert sg.nodes["mtp1/concat"]["collectives"] == [] and sg.nodes["mtp1/concat:grad"]["collectives"] == []
    # the partial sums go out as the main layers' row-parallel projections' do: one ReduceScatter over tensor
    assert [(c.kind, c.axes) for c in sg.nodes["mtp1/eh_proj"]["collectives"]] == [("ReduceScatter", ("tensor",))]


def test_on_a_pipeline_only_the_token_table_is_reduced_between_the_ends():
    """Megatron-LM's embedding group (megatron/core/distributed/finalize_model_grads.py,
    _allreduce_word_embedding_grads) all-reduces the word embedding's gradient between the first and last
    stages, where an MTP module keeps a copy of the table beside the head; an untied head has one copy,
    on the last stage with the module that shares it, so nothing reduces it over the stage axis (it got
    an AllReduce of its V x D gradient between two stages). Llama 3 8B (untied) on 4 stages x tensor 4:
    the one stage collective is the table's, D x V / 4 of it a chip."""
    card = load_model("llama3-8b")
    g = build(replace(Structure.of(card), mtp=1), "causal")
    sg = shard(g, {"stage": Axis("stage", sp.Integer(4), "dcn"), "tensor": Axis("tensor", sp.Integer(4), "ici")})
    got = [(n, c.kind, c.tensor) for n, d in sg.nodes(data=True) for c in d["collectives"] if "stage" in c.axes]
    assert got == [("embed:grad", "AllReduce", "d(embed.w)")]


@pytest.mark.parametrize("value", ["0", "-1", "1.5", '"1"', "true", "1e400", "33", "99999999999999999999"])
def test_the_runs_key_is_refused_in_one_line(tmp_path, value):
    path = tmp_path / "runs.yaml"
    path.write_text(ONE_RUN.replace("    batch: 4\n", f"    batch: 4\n    mtp_layers: {value}\n"))
    with pytest.raises(CardError, match="mtp_layers") as err:
        load_runs(path)
    assert "\n" not in str(err.value)


def test_more_modules_than_layers_are_refused_at_once(tmp_path):
    """Each module is one more layer built node by node: a million of them stalled the check (minutes)
    where it must refuse in one line. Llama 3 8B has 32 layers: 32 modules run, 33 and 10^6 are refused,
    well within a second (measured: the refusal takes milliseconds)."""
    import time

    for value, refused in (("32", False), ("33", True), ("1000000", True)):
        path = tmp_path / "runs.yaml"
        path.write_text(ONE_RUN.replace("    batch: 4\n", f"    batch: 4\n    mtp_layers: {value}\n"))
        start = time.perf_counter()
        if not refused:
            assert load_runs(path)[0].mtp_layers == 32
            continue
        with pytest.raises(CardError, match="mtp_layers.*32 layers") as err:
            load_runs(path)
        assert "\n" not in str(err.value) and time.perf_counter() - start < 1.0


def test_a_run_that_trains_a_module_counts_and_runs_it(tmp_path):
    """The key reaches the run's model FLOPs and its step. Under the row's 6N convention the module adds
    6 x its parameters a token: on Llama 3 8B one layer of 218,112,000 (attention 2 x 4096² + 2 x 4096 x
    1024, MLP 3 x 4096 x 14336, two norms), the 2 x 4096 x 4096 projection and three norms of 4096."""
    from symroof.claims.published import model_flops, predict, values

    runs = {}
    for depth in (0, 1):
        path = tmp_path / f"runs{depth}.yaml"
        path.write_text(ONE_RUN.replace("    batch: 4\n", "    batch: 4\n" + (f"    mtp_layers: {depth}\n" if depth else "")))
        runs[depth] = load_runs(path)[0]
    assert runs[1].structure.mtp == 1 and runs[0].structure.mtp == 0
    added = (model_flops(runs[1]) - model_flops(runs[0])).xreplace(values(runs[1]))
    assert added == 6 * (218_112_000 + 2 * 4096 * 4096 + 3 * 4096) * 4 * 4096
    steps = [predict(runs[d]).parts.step(0.6, 0.5, 1e-5) for d in (0, 1)]
    assert steps[1] > steps[0]


def test_plan_trains_the_modules_it_is_told_to_and_caches_them_apart(tmp_path):
    """``plan --mtp-layers``: the same mesh with one module is slower, at a lower MFU, its model FLOPs counting the
    module; planned after the same plan without it, in the same on-disk cache, it is not read back from that plan's
    entries (each cached derivation is keyed by the module count). Refused beside --book-layer and above the layers."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "SYMROOF_CACHE_DIR": str(tmp_path)}
    base = [sys.executable, "-m", "symroof", "plan", "llama3-70b", "--chip", "h100-sxm", "--chips", "512",
            "--batch-tokens", "4194304", "--seq", "4096", "--mesh", "stage=2", "--mesh", "fsdp=64", "--mesh", "tensor=4"]

    def plan(*extra):
        done = subprocess.run(base + list(extra) + ["--json"], capture_output=True, text=True, cwd=ROOT, env=env)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)
    without, with_one = plan(), plan("--mtp-layers", "1")
    assert with_one["mtp_layers"] == 1 and without["mtp_layers"] == 0
    assert with_one["t_math_s"] > without["t_math_s"] and with_one["mfu"] < without["mfu"]
    assert with_one["memory_per_chip_bytes"] > without["memory_per_chip_bytes"]
    for extra, words in ((["--book-layer"], "--mtp-layers plans whole-model meshes"), ([], "more modules than")):
        done = subprocess.run(base + ["--mtp-layers", "81" if not extra else "1"] + extra, capture_output=True,
                              text=True, cwd=ROOT, env=env)
        assert done.returncode == 2 and words in done.stderr and done.stderr.count("\n") == 1


def test_a_run_that_trains_the_module_no_longer_names_it_as_left_out(tmp_path):
    """DeepSeek-V3's card names its MTP layers as not counted (transformers does not build them); a run
    that sets mtp_layers models them, so its output does not repeat that note; a run without keeps it."""
    got = {}
    for depth in (0, 1):
        path = tmp_path / f"runs{depth}.yaml"
        path.write_text(ONE_RUN.replace("model: llama3-8b", "model: deepseek-v3").replace(
            "    batch: 4\n", "    batch: 4\n" + (f"    mtp_layers: {depth}\n" if depth else "")))
        got[depth] = load_runs(path)[0].left_out
    assert any(n.startswith("multi-token-prediction") for n in got[0]) and got[1] == ()
