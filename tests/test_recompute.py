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
from symroof.core.symbols import B, D, F, H, K, L, N, T, V, b_act, b_mask, n_ckpt
from symroof.errors import UnknownNameError
from symroof.parallel.collectives import Axis
from symroof.parallel.roofline import memory_per_chip
from symroof.parallel.sharding import shard

GPT = Structure.uniform(gated_mlp=False, dropout=True)
t = sp.Symbol("t", positive=True, integer=True)
# A GPT layer: d_ff = 4h, multi-head attention (K = N), head dim h / a.
GPT_SIZES = {F: 4 * D, K: N, H: D / N}
WIDTHS = {b_act: 2, b_mask: 1}                       # 16-bit activations, 1-byte masks


def _per_layer_per_chip(policy, kernel="eager"):
    sg = shard(build(GPT, "causal", kernel), {"tensor": Axis("tensor", t)})
    memory = memory_per_chip(sg, recompute=policy)["checkpoints"] / L
    return sp.simplify(memory.xreplace(GPT_SIZES).xreplace(WIDTHS))


def test_no_recompute_matches_korthikanti():
    s, b, h, a = T, B, D, N
    want = s * b * h * (34 + 5 * a * s / h) / t
    assert sp.simplify(_per_layer_per_chip("none") - want) == 0


def test_selective_recompute_matches_korthikanti():
    assert sp.simplify(_per_layer_per_chip("selective") - 34 * T * B * D / t) == 0


def test_full_recompute_keeps_the_layer_input():
    assert sp.simplify(_per_layer_per_chip("full") - 2 * T * B * D / t) == 0


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


@pytest.mark.parametrize("policy, message", [
    (("layer/attn/nope",), "'layer/attn/nope', which is not a tensor of the model's blocks"),
    ("some", "unknown recompute policy 'some'; allowed: none, full, selective"),
])
def test_a_policy_naming_a_missing_tensor_is_one_line(policy, message):
    with pytest.raises(UnknownNameError) as err:
        recompute.plan(build(Structure(), "causal"), policy)
    assert message in str(err.value) and "\n" not in str(err.value)
