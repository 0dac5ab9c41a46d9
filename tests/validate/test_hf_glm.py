"""GLM config.json classes (hf_layouts_glm) against transformers 5.24: GLM (GLM-4 9B's GlmForCausalLM) and
GLM-4.7-Flash (Glm4MoeLiteForCausalLM: DeepSeek-V3's MLA and MoE, eager experts: the routed tokens only).

Random configurations, with the keys that decide the layout drawn at random (and left out, so that
transformers' defaults are used, where symroof reads the same default), go through
``model_from_hf_config`` exactly as a ``config.json`` does, and the same dict through transformers'
config class (``from_dict``):

- parameters on the meta device, in total and per group (exact); the norms and RoPE frequencies a layer builds;
- FLOPs under FlopCounterMode (eager attention): forward and backward totals, forward per module, backward
  per decoder layer and for the head (test_blocks_vs_transformers' checks, exact);
- prefill T tokens and decode one: FLOPs, and the bytes of the keys and values transformers' cache holds
  (exact).
Each class draws from seeds of its own, so that adding a class changes no other class's cases.
"""

from __future__ import annotations

import random

import pytest

torch = pytest.importorskip("torch",
                            reason="torch not installed: install the 'validate' extra (pip install .[validate])")
transformers = pytest.importorskip("transformers", reason="transformers not installed: install the 'validate' extra")

from hfcases import case_id, case_sets, maybe  # noqa: E402
from hfcompare import base_config, card_of, cards_by_class, class_checks, meta_layers  # noqa: E402
import test_blocks_vs_transformers as blocks  # noqa: E402

from symroof.errors import CardError  # noqa: E402

pytestmark = pytest.mark.validate

CLASSES = {"glm": "GlmForCausalLM", "glm4_moe_lite": "Glm4MoeLiteForCausalLM"}
# transformers module(s) below a decoder layer -> the symroof nodes that own the same matmuls
blocks.MODULES["glm"] = {**blocks.LLAMA_ATTENTION, "mlp.gate_up_proj": ("mlp/gate", "mlp/up"),
                         "mlp.down_proj": ("mlp/down",)}
blocks.MODULES["glm4_moe_lite"] = blocks.MODULES["deepseek"]      # the same module names as DeepSeek-V3's


def _glm(rng: random.Random, small: bool) -> dict:
    layers = rng.choice((1, 2, 3, 4)) if small else rng.randint(1, 8)
    heads = rng.choice((1, 2, 4)) if small else rng.randint(1, 12)
    head_dim = rng.choice((8, 16, 20)) if small else rng.choice((8, 12, 16, 20, 40, 64))
    raw = base_config(rng, CLASSES, "glm", small, layers, heads, heads * head_dim)
    maybe(rng, raw, "tie_word_embeddings", rng.random() < 0.5, 0.6)
    raw["head_dim"] = rng.choice((4, 8, 12, head_dim))      # K and head_dim required (2 and 128: GLM-4 9B's)
    maybe(rng, raw, "attention_bias", rng.random() < 0.5, 0.7)
    factor = rng.choice((0.25, 0.5, 1.0))
    if raw["head_dim"] * factor % 2:         # an odd rotated width is refused (test_refusals_name_the_key)
        factor = 0.5
    where = rng.choice(("top", "rope_parameters", "absent"))            # absent: its default, 1/2
    if where == "top":
        raw["partial_rotary_factor"] = factor
    elif where == "rope_parameters":
        raw["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": factor}
    return raw


def _glm4_moe_lite(rng: random.Random, small: bool) -> dict:
    layers = rng.choice((1, 2, 3)) if small else rng.randint(1, 6)
    heads = rng.choice((1, 2, 4)) if small else rng.randint(1, 12)
    width = heads * rng.choice((4, 8, 12)) if small else rng.randrange(8, 257, 8)
    experts = rng.randint(2, 6)
    raw = base_config(rng, CLASSES, "glm4_moe_lite", small, layers, heads, width)
    raw["num_key_value_heads"] = heads              # required (20 is GLM-4.7-Flash's); MLA fails unless K = N
    raw.update(kv_lora_rank=rng.choice((4, 8, 12)), qk_rope_head_dim=rng.choice((2, 4, 8)),
               qk_nope_head_dim=rng.choice((4, 8, 12)), v_head_dim=rng.choice((4, 6, 8)),
               moe_intermediate_size=rng.randrange(4, 33, 4), n_shared_experts=rng.choice((0, 1, 2)),
               n_routed_experts=experts, num_experts_per_tok=rng.randint(1, experts),
               q_lora_rank=rng.choice((None, 4, 12)))     # required (768 is GLM-4.7-Flash's); null: a plain q
    maybe(rng, raw, "tie_word_embeddings", rng.random() < 0.5, 0.6)
    maybe(rng, raw, "attention_bias", rng.random() < 0.5, 0.7)
    maybe(rng, raw, "rope_interleave", rng.random() < 0.5, 0.5)
    maybe(rng, raw, "n_group", 1, 0.3)
    maybe(rng, raw, "topk_group", 1, 0.3)
    maybe(rng, raw, "norm_topk_prob", rng.random() < 0.5, 0.3)
    maybe(rng, raw, "routed_scaling_factor", 1.8, 0.3)
    if rng.random() < 0.5:       # absent or null: the first layer dense, the rest sparse
        raw["mlp_layer_types"] = [rng.choice(("dense", "sparse")) for _ in range(layers)]
    else:
        maybe(rng, raw, "mlp_layer_types", None, 0.3)
        maybe(rng, raw, "first_k_dense_replace", 1, 0.3)     # not read; accepted where it says the same
    maybe(rng, raw, "partial_rotary_factor", 1.0, 0.2)
    return raw


DRAW = {"glm": _glm, "glm4_moe_lite": _glm4_moe_lite}


def random_config(rng: random.Random, arch: str, small: bool) -> dict:
    return DRAW[arch](rng, small)


PARAM_CASES, FLOP_CASES, PHASE_CASES = case_sets(random_config, {"glm": CLASSES["glm"]},
                                                 (20271101, 20271102, 20271103), 47, (8, 4, 4), (16, 14))
_LITE_CASES = case_sets(random_config, {"glm4_moe_lite": CLASSES["glm4_moe_lite"]},
                        (20271111, 20271112, 20271113), 53, (8, 4, 4), (16, 14))
PARAM_CASES, FLOP_CASES, PHASE_CASES = (ours + theirs for ours, theirs in
                                        zip((PARAM_CASES, FLOP_CASES, PHASE_CASES), _LITE_CASES))


# parameters, training FLOPs and prefill/decode against transformers: the checks every class module runs
test_params_match_transformers, test_flops_match_flop_counter_mode, test_prefill_decode_flops_and_cache_bytes = \
    class_checks(PARAM_CASES, FLOP_CASES, PHASE_CASES)


@pytest.mark.parametrize("raw", [r for r in PARAM_CASES if r["model_type"] == "glm"], ids=case_id)
def test_glm_layers_match_the_layers_transformers_builds(raw):
    """Two RMSNorms a layer (GLM-4's post-norms absent), the RoPE share transformers' frequencies span."""
    model, card, _ = meta_layers(raw)
    layer = model.model.layers[0]
    assert card.norms_per_layer == 2 and not hasattr(layer, "post_self_attn_layernorm")
    assert not hasattr(layer, "post_mlp_layernorm") and card.fused_gate_up and hasattr(layer.mlp, "gate_up_proj")
    assert model.model.rotary_emb.inv_freq.numel() * 2 == card.head_dim * card.rotary_pct
    assert card.qkv_bias == (layer.self_attn.q_proj.bias is not None) and layer.self_attn.o_proj.bias is None


@pytest.mark.parametrize("raw", [r for r in PARAM_CASES if r["model_type"] == "glm4_moe_lite"], ids=case_id)
def test_glm4_moe_lite_layers_match_the_layers_transformers_builds(raw):
    """Per layer, whether its MLP has experts (mlp_layer_types); MLA's q path and the experts' sizes."""
    model, card, kinds = meta_layers(raw)
    layers = model.model.layers
    assert [hasattr(layer.mlp, "experts") for layer in layers] == [k.mlp == "moe" for k in kinds]
    attn = layers[0].self_attn
    assert (attn.q_a_proj is None) == (not card.q_lora_rank) and card.attention == "mla"
    assert attn.kv_b_proj.out_features == card.n_heads * (card.head_dim + card.v_head_dim)
    assert (attn.o_proj.bias is not None) == card.qkv_bias
    for layer in layers:
        if hasattr(layer.mlp, "experts"):
            assert (layer.mlp.gate.num_experts, layer.mlp.gate.top_k) == (card.n_experts, card.experts_per_token)
            assert layer.mlp.shared_experts.up_proj.out_features == card.d_ff_shared


def test_cases_cover_the_variants():
    cards = cards_by_class(CLASSES, PARAM_CASES, FLOP_CASES, PHASE_CASES)
    glm = cards["glm"]
    assert {c.tie_embeddings for _, c in glm} == {True, False}
    assert {c.n_kv_heads == c.n_heads for _, c in glm} == {True, False}
    assert {c.rotary_pct for _, c in glm} == {0.25, 0.5, 1} and {c.qkv_bias for _, c in glm} == {True, False}
    assert any(c.head_dim * c.n_heads != c.d_model for _, c in glm)
    lite = cards["glm4_moe_lite"]
    assert {c.tie_embeddings for _, c in lite} == {True, False} and {c.qkv_bias for _, c in lite} == {True, False}
    assert {bool(c.q_lora_rank) for _, c in lite} == {True, False} and any(c.d_ff_shared for _, c in lite)
    assert {"mlp_layer_types" in r for r, _ in lite} == {True, False} and any(len(c.blocks) > 1 for _, c in lite)
    assert any(r.get("first_k_dense_replace") for r, _ in lite)


_GLM = {"architectures": ["GlmForCausalLM"], "model_type": "glm", "vocab_size": 32, "hidden_size": 16,
        "intermediate_size": 24, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
        "head_dim": 8}


@pytest.mark.parametrize("change, key", [
    ({"num_key_value_heads": None}, "num_key_value_heads"),      # transformers: N // None fails
    ({"num_key_value_heads": "absent"}, "num_key_value_heads"),  # transformers: 2, GLM-4 9B's
    ({"head_dim": None}, "head_dim"),                            # transformers: None * N fails
    ({"head_dim": "absent"}, "head_dim"),                        # transformers: 128, GLM-4 9B's
    ({"partial_rotary_factor": 0.3}, "partial_rotary_factor"),   # int(8 x 0.3) = 2 rotated, not 2.4
    ({"partial_rotary_factor": 0.125}, "partial_rotary_factor"),  # 1 of 8: transformers rotates 2
    ({"rope_parameters": {"rope_theta": 1e4, "partial_rotary_factor": 0.375}}, "partial_rotary_factor"),  # 3: 4
])
def test_refusals_name_the_key(change, key):
    raw = {**_GLM, **change}
    raw = {k: v for k, v in raw.items() if v != "absent"}
    with pytest.raises(CardError, match=key):
        card_of(raw)


_LITE = {"architectures": ["Glm4MoeLiteForCausalLM"], "model_type": "glm4_moe_lite", "vocab_size": 32,
         "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 2, "num_attention_heads": 2,
         "num_key_value_heads": 2, "kv_lora_rank": 8, "q_lora_rank": 8, "qk_rope_head_dim": 4, "qk_nope_head_dim": 4,
         "v_head_dim": 4, "moe_intermediate_size": 8, "n_shared_experts": 1, "n_routed_experts": 4,
         "num_experts_per_tok": 2}


@pytest.mark.parametrize("change, key", [
    ({"q_lora_rank": "absent"}, "q_lora_rank"),                   # transformers: 768, GLM-4.7-Flash's
    ({"num_key_value_heads": "absent"}, "num_key_value_heads"),   # transformers: 20
    ({"num_key_value_heads": 1}, "num_key_value_heads"),          # MLA's eager attention fails unless K = N
    ({"partial_rotary_factor": 0.5}, "partial_rotary_factor"),   # the attention fails on a shorter embedding
    ({"rope_parameters": {"rope_theta": 1e4, "partial_rotary_factor": 0.5}}, "partial_rotary_factor"),
    ({"mlp_layer_types": ["dense"]}, "mlp_layer_types"),          # one entry a layer
    ({"mlp_layer_types": ["dense", "moe"]}, "mlp_layer_types"),   # transformers' word is sparse
    ({"first_k_dense_replace": 2}, "first_k_dense_replace"),      # not read; layer 1 is sparse
    ({"first_k_dense_replace": 0, "mlp_layer_types": ["dense", "dense"]}, "first_k_dense_replace"),
    ({"kv_lora_rank": "absent"}, "kv_lora_rank"),                 # transformers: 512
    ({"v_head_dim": None}, "v_head_dim"),                         # its type check refuses null
])
def test_glm4_moe_lite_refusals_name_the_key(change, key):
    raw = {k: v for k, v in {**_LITE, **change}.items() if v != "absent"}
    with pytest.raises(CardError, match=key):
        card_of(raw)


def test_glm4_moe_lite_reads_the_layers_it_builds():
    """The first layer dense by default; first_k_dense_replace accepted where it agrees; the MTP layer named."""
    assert [k.mlp for k in meta_layers(_LITE)[2]] == ["dense", "moe"]
    assert [k.mlp for k in meta_layers({**_LITE, "first_k_dense_replace": 1})[2]] == ["dense", "moe"]
    card = card_of({**_LITE, "mlp_layer_types": ["sparse", "dense"], "first_k_dense_replace": None})
    assert [card.blocks[name].mlp for name, n in card.layers for _ in range(n)] == ["moe", "dense"]
    assert any("num_nextn_predict_layers" in note for note in card.left_out)
