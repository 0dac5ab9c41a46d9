"""FLOPs against PyTorch: one forward and one backward on the CPU under ``FlopCounterMode``.

24 random small configs (4 per architecture, fixed seed; GQA, MQA, head_dim != D/N, biases,
tied embeddings, Mixtral experts) and a random batch B and length T each. symroof's
``count(card, batch=B, seq=T, attention="full")`` must equal PyTorch's count exactly:

- forward and backward totals;
- forward per module: q, k, v, o, the attention core (scores and attn·V), gate, up, down, the
  MoE router and experts, and the unembedding;
- backward per decoder layer (all layers together) and for the unembedding.

What FlopCounterMode counts (torch 2.13): matmuls only (mm, addmm, bmm, ...), 2 FLOPs per
multiply-add, with a bias add inside addmm not counted. Norms, RoPE, softmax, activations and the
loss count 0, as symroof's ``flops`` (contraction FLOPs) does; symroof keeps that other work in
``vector_flops``, which is not compared here. The causal mask does not halve PyTorch's count
(eager attention multiplies the full T×T score matrix), hence ``attention="full"``.

Why backward is compared per decoder layer and not per projection: FlopCounterMode attributes a
backward matmul to a module through hooks that fire when the gradient of the module's *input* is
complete. Siblings that share an input (q, k, v; gate, up) therefore absorb each other's backward
(k_proj shows 3x its share, v_proj 4x), and self_attn misses o_proj's. A whole decoder layer and
lm_head have no such sibling, so their backward is attributed correctly; the per-projection
backward is checked only through those sums and the total.
"""

from __future__ import annotations

import random

import pytest

from hfcases import case_id, counted, flop_counter_torch, hf_config, random_configs
from hfcompare import per_module
from symroof.io.hf import model_from_hf_config
from symroof.io.bind import count

pytestmark = pytest.mark.validate
torch = flop_counter_torch()

CONFIGS = random_configs(seed=20260406, count=24, small=True)
_SHAPES = random.Random(7)
CASES = [(raw, _SHAPES.randint(1, 3), _SHAPES.randint(1, 10)) for raw in CONFIGS]

# transformers module (below model.layers.i) -> the symroof nodes it owns, per layer
LAYER_MODULES = {
    "self_attn.q_proj": ("layer/attn/q",), "self_attn.k_proj": ("layer/attn/k",),
    "self_attn.v_proj": ("layer/attn/v",), "self_attn.o_proj": ("layer/attn/o",),
    "mlp.gate_proj": ("layer/mlp/gate",), "mlp.up_proj": ("layer/mlp/up",), "mlp.down_proj": ("layer/mlp/down",),
    "mlp.gate": ("layer/moe/router",),                                    # Mixtral's router
    "mlp.experts": ("layer/moe/gate", "layer/moe/up", "layer/moe/down"),  # fused expert weights
}
CORE = ("layer/attn/scores", "layer/attn/av")


def run_counted(raw: dict, batch: int, seq: int):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    extra = {}
    if raw["model_type"] == "mixtral":
        # The default experts implementation, grouped_mm, runs aten._grouped_mm, for which
        # FlopCounterMode has no formula: the experts would count 0. "eager" loops over experts with mm.
        extra["experts_implementation"] = "eager"
    # sdpa (the default for most classes) runs a CPU attention kernel FlopCounterMode does not count.
    model = AutoModelForCausalLM.from_config(hf_config(raw), attn_implementation="eager", **extra)
    return counted(model, raw["vocab_size"], batch, seq)


def _by_layer_path(ours, phase: str) -> dict[str, int]:
    """FLOPs per node path within a layer, summed over block types (Gemma 2's sliding/ and global/
    layers both own an attn/q): ``layer/attn/q`` -> n."""
    out: dict[str, int] = {}
    for name, phases in ours.flops_by_module.items():
        key = "layer/" + name.split("/", 1)[1] if "/" in name else name
        out[key] = out.get(key, 0) + phases[phase]
    return out


@pytest.mark.parametrize("raw, batch, seq", CASES, ids=[f"{case_id(r)}-B{b}T{t}" for r, b, t in CASES])
def test_flops_match_flop_counter_mode(raw, batch, seq):
    card = model_from_hf_config(dict(raw), f"random/{case_id(raw)}/config.json")
    ours = count(card, batch=batch, seq=seq, attention="full")
    forward, backward, both = run_counted(raw, batch, seq)

    assert ours.flops_forward == forward.get_total_flops()
    assert ours.flops_backward == backward.get_total_flops()

    theirs = per_module(forward)
    mine = _by_layer_path(ours, "forward")
    for module, nodes in LAYER_MODULES.items():
        assert sum(mine.get(n, 0) for n in nodes) == theirs.get(module, 0), module
    projections = sum(theirs.get(f"self_attn.{p}_proj", 0) for p in "qkvo")
    assert sum(mine[n] for n in CORE) == theirs["self_attn"] - projections, "attention core"
    assert mine["unembed"] == theirs["lm_head"], "unembedding"
    assert sum(v for n, v in mine.items() if n.startswith("layer/")) == theirs["layer"]

    # backward = (forward and backward under one counter) - forward, where attribution is sound
    combined = per_module(both)
    mine_bwd = _by_layer_path(ours, "backward")
    assert sum(v for n, v in mine_bwd.items() if n.startswith("layer/")) == combined["layer"] - theirs["layer"]
    assert mine_bwd["unembed"] == combined["lm_head"] - theirs["lm_head"]


def test_cases_cover_the_variants():
    cards = [model_from_hf_config(dict(raw), "random") for raw in CONFIGS]
    assert {c.architecture for c in cards} == {"llama", "mistral", "mixtral", "qwen2", "qwen3", "gemma2"}
    assert any(1 < c.n_kv_heads < c.n_heads for c in cards), "GQA"
    assert any(c.n_kv_heads == 1 < c.n_heads for c in cards), "MQA"
    assert any(c.head_dim * c.n_heads != c.d_model for c in cards), "head_dim != D/N"
    assert any(c.tie_embeddings for c in cards) and any(not c.tie_embeddings for c in cards)
    assert any(c.qkv_bias for c in cards) and any(c.o_bias for c in cards) and any(c.mlp_bias for c in cards)
    assert any(c.is_moe and c.experts_per_token > 1 for c in cards)
