"""The plan's memory per chip holds what the ops outside the layers keep for their backward.

Expected values are hand derivations from the model's public shapes (Llama 3 8B's config.json:
D = 4096, V = 128256, L = 32; 8,030,261,248 parameters as transformers counts them) and the
backward-read rules every framework applies to these three ops: RMSNorm's backward reads its
input, the output projection's its input (the norm's output), the loss's the logits
(softmax's gradient is p − onehot, p read from the B·T·V it saved). Exact: integers, no tolerance.
"""

from __future__ import annotations

import json

import pytest
import sympy as sp

from symroof.cli import main

D, V, L, PARAMS = 4096, 128256, 32, 8_030_261_248


def _plan(capsys, *extra) -> dict:
    assert main(["plan", "llama3-8b", "--chip", "h100-sxm", "--chips", "8", "--batch-tokens", str(16 * 8192),
                 "--seq", "8192", "--mesh", "fsdp=8", "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_llama3_8b_on_8_h100_holds_the_logits_and_the_final_norm(capsys):
    """fsdp=8, 16 sequences of 8192: each chip its 2 sequences (16384 tokens) through every op. Over
    the weights' 12 bytes each (bf16 weight and gradient, fp32 Adam moments, a share of 1/8) and
    2 [B,T,D] checkpoints a layer, the plan charges the final norm's input and output
    (2·D) and the logits (V), bf16, per token: 4.47 GB, 18% of the chip's 25.1 GB."""
    r = _plan(capsys)
    tokens = 2 * 8192
    state = 12 * PARAMS // 8
    checkpoints = 2 * L * tokens * D * 2
    head = tokens * (2 * D + V) * 2
    assert head == 4_471_128_064
    assert r["memory_per_chip_bytes"] - state - checkpoints == head
    # the same per token under full recompute: the head is no block, so no policy replays it
    full = _plan(capsys, "--recompute", "full")
    assert full["memory_per_chip_bytes"] - state - L * tokens * D * 2 == head


def test_a_pipeline_puts_the_head_on_the_last_stage_with_its_own_microbatches():
    """Four stages of 8 layers, eight microbatches of one 8192-token sequence. GPipe: both ends hold
    all eight, so the last stage, with the head's bytes, is the larger (by 2.24 GB: the head's less
    the final norm's weights; the table and the head are both V×D). 1F1B: the first stage holds
    four (Narayanan et al. 2021, 2.2.1: p), the last one (Megatron-LM's warm-up: p − rank − 1
    forwards, none on the last), so the first, with 4/8 of its layers' checkpoints against 1/8 of
    the last's plus the head, is the larger (by 0.12 GB)."""
    from symroof.core.graph import Structure, build
    from symroof.core.symbols import B, T, b_act, b_grad, b_opt, b_param, n_ckpt, n_micro
    from symroof.io.bind import model_values
    from symroof.io.catalog import load_model
    from symroof.parallel.collectives import Axis
    from symroof.parallel.roofline import memory_per_chip
    from symroof.parallel.sharding import shard

    card = load_model("llama3-8b")
    p, m, tokens = 4, 8, 8 * 8192
    mesh = {"stage": Axis("stage", sp.Integer(p), "ici", sp.Integer(1), True)}
    sg = shard(build(Structure.of(card), "causal"), mesh)
    values = {**model_values(card), B: sp.Integer(8), T: sp.Integer(8192), n_micro: sp.Integer(m),
              b_act: 2, b_param: 2, b_grad: 2, b_opt: 8, n_ckpt: 2}
    layers = PARAMS - 2 * V * D - D          # the 32 layers' weights: all but the table, the head, the final norm
    acts = 2 * tokens * D * 2 * L // p      # a stage's 8 layers, 2 checkpoints of [B·T, D] each, bf16
    head = tokens * (2 * D + V) * 2
    larger = {}
    for schedule, first_held, last_held in (("gpipe", m, m), ("1f1b", p, 1)):
        got = memory_per_chip(sg, schedule=schedule)
        first = 12 * (layers // p + V * D) + sp.Rational(first_held, m) * acts
        last = 12 * (layers // p + V * D + D) + sp.Rational(last_held, m) * (acts + head)
        assert got["total"].xreplace(values) == max(first, last), schedule
        assert got["head"].xreplace(values) == sp.Rational(last_held, m) * head, schedule
        larger[schedule] = "first" if first > last else "last"
    assert larger == {"gpipe": "last", "1f1b": "first"}


def test_a_pipelines_fsdp_axis_holds_the_stages_weights_and_gradients_whole():
    """The same four stages with an fsdp axis of 2 over them (16 sequences: 8 microbatches of one a
    replica). Each step gathers a stage's weights once and keeps them through its microbatches, its
    gradients summed whole until one reduce-scatter (torchtitan's FSDP2 under a pipeline turns
    reshard_after_forward off; Megatron-LM's distributed optimizer likewise splits only the optimizer
    state: 6 + 12/d bytes a bf16 weight with fp32 gradients), so only the optimizer state is split over
    fsdp. By hand: the weights and gradients whole, 4 bytes a weight, the Adam state 8 over 2, and the
    activations of the sequences a replica runs (its share of the batch: half the fsdp-less run's 16
    over 2)."""
    from symroof.core.graph import Structure, build
    from symroof.core.symbols import B, T, b_act, b_grad, b_opt, b_param, n_ckpt, n_micro
    from symroof.io.bind import model_values
    from symroof.io.catalog import load_model
    from symroof.parallel.collectives import Axis
    from symroof.parallel.roofline import memory_per_chip
    from symroof.parallel.sharding import shard

    card = load_model("llama3-8b")
    p, f, m, tokens = 4, 2, 8, 8 * 8192        # a replica's 8 microbatches of one sequence
    mesh = {"stage": Axis("stage", sp.Integer(p), "ici", sp.Integer(1), True),
            "fsdp": Axis("fsdp", sp.Integer(f), "ici", sp.Integer(1), True)}
    sg = shard(build(Structure.of(card), "causal"), mesh)
    values = {**model_values(card), B: sp.Integer(f * 8), T: sp.Integer(8192), n_micro: sp.Integer(m),
              b_act: 2, b_param: 2, b_grad: 2, b_opt: 8, n_ckpt: 2}
    layers = PARAMS - 2 * V * D - D
    acts = 2 * tokens * D * 2 * L // p
    head = tokens * (2 * D + V) * 2
    got = memory_per_chip(sg, schedule="1f1b")
    per_weight = 2 + 2 + sp.Rational(8, f)
    first = per_weight * (layers // p + V * D) + sp.Rational(p, m) * acts
    last = per_weight * (layers // p + V * D + D) + sp.Rational(1, m) * (acts + head)
    assert got["total"].xreplace(values) == max(first, last)
    # the parts stay as sharded: what the optimizer step reads and writes
    assert got["params"].xreplace(values) == sp.Rational(2, f) * (layers // p + V * D + D)


def test_a_pipelines_seq_axis_beside_fsdp_holds_the_weights_whole_too():
    """A seq axis beside fsdp splits the weights with it (ZeRO over both: torchtitan's dp_shard_cp mesh,
    as its context-parallel 405B runs in the runs file), and each weight is gathered over both at once
    (one AllGather over fsdp+seq, once a step under a pipeline). So the stage's weights and gradients
    are held whole over both, the Adam state split over 2 x 2; the activations are split over seq (each
    chip holds half of each sequence's tokens): by hand, as the fsdp-only case above."""
    from symroof.core.graph import Structure, build
    from symroof.core.symbols import B, T, b_act, b_grad, b_opt, b_param, n_ckpt, n_micro
    from symroof.io.bind import model_values
    from symroof.io.catalog import load_model
    from symroof.parallel.collectives import Axis
    from symroof.parallel.roofline import memory_per_chip
    from symroof.parallel.sharding import shard

    card = load_model("llama3-8b")
    p, f, z, m = 4, 2, 2, 8
    mesh = {"stage": Axis("stage", sp.Integer(p), "ici", sp.Integer(1), True),
            "fsdp": Axis("fsdp", sp.Integer(f), "ici", sp.Integer(1), True),
            "seq": Axis("seq", sp.Integer(z), "ici", sp.Integer(1), True)}
    sg = shard(build(Structure.of(card), "causal"), mesh)
    gathers = {c.axes for _, d in sg.nodes(data=True) for c in d.get("collectives", ())
               if c.kind == "AllGather" and not c.on_critical_path}
    assert gathers == {("fsdp", "seq")}
    values = {**model_values(card), B: sp.Integer(f * 8), T: sp.Integer(8192), n_micro: sp.Integer(m),
              b_act: 2, b_param: 2, b_grad: 2, b_opt: 8, n_ckpt: 2}
    layers = PARAMS - 2 * V * D - D
    tokens = 8 * 8192 // z                  # a replica's 8 sequences, half of each one's tokens a chip
    acts = 2 * tokens * D * 2 * L // p
    head = tokens * (2 * D + V) * 2
    got = memory_per_chip(sg, schedule="1f1b")
    per_weight = 2 + 2 + sp.Rational(8, f * z)
    first = per_weight * (layers // p + V * D) + sp.Rational(p, m) * acts
    last = per_weight * (layers // p + V * D + D) + sp.Rational(1, m) * (acts + head)
    assert got["total"].xreplace(values) == max(first, last)


@pytest.mark.parametrize("model", ["llama3-8b", "gpt2-124m", "deepseek-v3"])
def test_the_head_is_the_norms_input_and_output_and_the_logits_under_every_policy(model):
    """B·T·(2D + V) activation bytes on one chip for each of the n_micro microbatches in turn (gradient
    accumulation holds one), whatever the blocks' recompute policy (the head is no block: no policy
    replays it); LayerNorm (GPT-2) and RMSNorm both read only their input."""
    from symroof.core.graph import Structure, build
    from symroof.core.symbols import B, D, T, V, b_act, n_micro
    from symroof.io.catalog import load_model
    from symroof.parallel.roofline import memory_per_chip
    from symroof.parallel.sharding import shard

    sg = shard(build(Structure.of(load_model(model)), "causal"), {})
    for policy in (None, "none", "selective", "full"):
        head = memory_per_chip(sg, recompute=policy)["head"]
        assert sp.expand(head - B * T * (2 * D + V) * b_act / n_micro) == 0, (model, policy, head)
