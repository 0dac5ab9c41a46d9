"""More MoE classes read from config.json (hf_layouts_moe3), against transformers: PhiMoE, Granite MoE and
Granite MoE Shared.

Random configurations of each class, with the keys that decide its layout drawn at random (and left
out, so that transformers' defaults are used, where symroof reads the same default); the same dict goes
to transformers' config class (``from_dict``) and to ``model_from_hf_config``:

- parameters on the meta device, in total and per group (exact), and the layers' windows and norms;
- FLOPs under FlopCounterMode (eager attention, ``experts_implementation="eager"``: the routed tokens
  only, as for the other MoE classes): forward and backward totals, forward per module, backward per
  decoder layer and for the head (exact);
- prefill T tokens and decode one: FLOPs, and the bytes of the keys and values transformers' cache
  holds after each (exact).

PhiMoE's router (sparsemixer) samples its two experts in training: which two changes from run to run,
their FLOPs do not.
"""

from __future__ import annotations

import random

import pytest

torch = pytest.importorskip("torch",
                            reason="torch not installed: install the 'validate' extra (pip install .[validate])")
transformers = pytest.importorskip("transformers", reason="transformers not installed: install the 'validate' extra")

from hfcases import case_id, case_sets, maybe  # noqa: E402
from hfcompare import base_config, cards_by_class, class_checks, meta_layers  # noqa: E402
from test_blocks_vs_transformers import LLAMA_ATTENTION as _ATTN, MODULES  # noqa: E402

pytestmark = pytest.mark.validate

CLASSES = {"phimoe": "PhimoeForCausalLM", "granitemoe": "GraniteMoeForCausalLM",
           "granitemoeshared": "GraniteMoeSharedForCausalLM"}
_GRANITE = {**_ATTN, "block_sparse_moe.router": ("moe/router",),
            "block_sparse_moe.experts": ("moe/gate", "moe/up", "moe/down")}
MODULES.update(phimoe={**_ATTN, "mlp.router": ("moe/router",), "mlp.experts": ("moe/gate", "moe/up", "moe/down")},
               granitemoe=_GRANITE,
               granitemoeshared={**_GRANITE, "shared_mlp.input_linear": ("shared/gate", "shared/up"),
                                 "shared_mlp.output_linear": ("shared/down",)})


def random_config(rng: random.Random, arch: str, small: bool) -> dict:
    """A random config of ``arch``; required keys always given, the others given or left out at random."""
    layers = rng.choice((1, 2, 3)) if small else rng.randint(1, 6)
    heads = rng.choice((1, 2, 4)) if small else rng.randint(1, 12)
    head_dim = rng.choice((4, 8, 16)) if small else rng.randrange(4, 65, 4)
    width = heads * head_dim if rng.random() < 0.5 else heads * rng.choice((2, 4, 6, 8))
    experts = rng.randint(2, 6)
    raw = base_config(rng, CLASSES, arch, small, layers, heads, width, num_local_experts=experts)
    maybe(rng, raw, "tie_word_embeddings", rng.random() < 0.5, 0.6)
    maybe(rng, raw, "attention_bias", rng.random() < 0.5, 0.7)
    if (width // heads) % 2 == 0 and rng.random() < 0.4:
        pass                            # head_dim absent: D // N
    else:
        raw["head_dim"] = head_dim      # read when given (getattr): their config classes have none
    if arch == "phimoe":                # K given (absent: 8; null: N as 4.x reads it, refused by 5.x's type
        # check, so not drawn here); two experts per token, always
        maybe(rng, raw, "num_experts_per_tok", 2)
        maybe(rng, raw, "lm_head_bias", rng.random() < 0.5, 0.7)
        maybe(rng, raw, "sliding_window", rng.choice((rng.randint(2, 12), None)), 0.6)
        maybe(rng, raw, "input_jitter_noise", rng.choice((0.0, 0.01)), 0.4)
        maybe(rng, raw, "router_jitter_noise", 0.01, 0.4)
        maybe(rng, raw, "hidden_dropout", 0.0, 0.3)
        raw["experts"] = "absent"
    else:                               # K given, absent or null: N
        raw["num_key_value_heads"] = rng.choice((raw["num_key_value_heads"],) * 2 + (None, "absent"))
        raw["num_experts_per_tok"] = rng.randint(1, experts)
        raw.update(embedding_multiplier=rng.choice((1.0, 12.0)), residual_multiplier=rng.choice((1.0, 0.22)),
                   logits_scaling=rng.choice((1.0, 8.0)), attention_multiplier=rng.choice((0.125, 1.0)))
        if arch == "granitemoeshared":
            maybe(rng, raw, "shared_intermediate_size", rng.choice((0, rng.randrange(4, 33, 4))), 0.8)
    return {k: v for k, v in raw.items() if v != "absent"}


PARAM_CASES, FLOP_CASES, PHASE_CASES = case_sets(random_config, CLASSES, (20270701, 20270702, 20270703), 37,
                                                 (10, 6, 5), (16, 12))


# parameters, training FLOPs and prefill/decode against transformers: the checks every class module runs
test_params_match_transformers, test_flops_match_flop_counter_mode, test_prefill_decode_flops_and_cache_bytes = \
    class_checks(PARAM_CASES, FLOP_CASES, PHASE_CASES)


@pytest.mark.parametrize("raw", PARAM_CASES, ids=case_id)
def test_layers_match_the_layers_transformers_builds(raw):
    """Per layer: the window its attention takes, the norms (PhiMoE's LayerNorms have biases), the shared MLP."""
    model, card, kinds = meta_layers(raw)
    assert [model.config.sliding_window if raw["model_type"] == "phimoe" else None] * card.n_layers == \
        [card.sliding_window if k.attention == "sliding" else None for k in kinds]
    layer = model.model.layers[0]
    assert (getattr(layer.input_layernorm, "bias", None) is not None) == (card.norm == "layer")
    if raw["model_type"] == "phimoe":
        assert card.experts_per_token == 2 and layer.mlp.router.top_k == raw.get("num_experts_per_tok", 2)
        assert (model.lm_head.bias is not None) == card.head_bias
    if raw["model_type"] == "granitemoeshared":
        assert (layer.shared_mlp is not None) == bool(card.d_ff_shared)


def test_cases_cover_the_variants():
    cards = cards_by_class(CLASSES, PARAM_CASES, FLOP_CASES, PHASE_CASES)
    for group in cards.values():
        assert {c.tie_embeddings for _, c in group} == {True, False}
        assert {c.n_kv_heads == c.n_heads for _, c in group} == {True, False}
        assert {c.qkv_bias for _, c in group} == {True, False}
        assert any(c.head_dim * c.n_heads != c.d_model for _, c in group)
    phi = cards["phimoe"]
    assert {c.head_bias for _, c in phi} == {True, False} and {bool(c.sliding_window) for _, c in phi} == {True, False}
    assert any("num_experts_per_tok" not in raw for raw, _ in phi) and any(c.left_out for _, c in phi)
    assert any(c.experts_per_token > 1 for _, c in cards["granitemoe"])
    shared = cards["granitemoeshared"]
    assert any(c.d_ff_shared for _, c in shared) and any(not c.d_ff_shared for _, c in shared)
