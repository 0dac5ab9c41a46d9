"""Dense decoder classes read from config.json (hf_layouts_dense), against transformers.

Random configurations of each class, with the keys that decide its layout drawn at random (and left
out, so that transformers' defaults are used, where symroof reads the same default), go through
``model_from_hf_config`` exactly as a ``config.json`` does, and the same dict through transformers'
config class (``from_dict``):

- parameters on the meta device, in total and per group; per layer, the window transformers gives
  the attention (None: global), the mask it builds (``layer_types``) and the norms it builds;
- FLOPs under FlopCounterMode (eager attention, ``attention="full"``: eager attention multiplies the
  whole T x T score matrix, sliding window or not): forward and backward totals, forward per module,
  backward per decoder layer and for the head (test_blocks_vs_transformers' checks, its module map
  extended to these classes below);
- prefill T tokens and decode one: FLOPs, and the keys and values transformers' cache holds after
  each (a sliding layer keeps its last w - 1), with T drawn up to 14 and windows from 2 to 12.
"""

from __future__ import annotations

import random

import pytest

torch = pytest.importorskip("torch",
                            reason="torch not installed: install the 'validate' extra (pip install .[validate])")
transformers = pytest.importorskip("transformers", reason="transformers not installed: install the 'validate' extra")

from hfcases import case_id, case_sets, maybe  # noqa: E402
from hfcompare import base_config, cards_by_class, class_checks, layer_types, meta_layers  # noqa: E402
import test_blocks_vs_transformers as blocks  # noqa: E402

pytestmark = pytest.mark.validate

CLASSES = {"olmo3": "Olmo3ForCausalLM", "smollm3": "SmolLM3ForCausalLM", "ministral": "MinistralForCausalLM",
           "ministral3": "Ministral3ForCausalLM", "glm4": "Glm4ForCausalLM", "cohere": "CohereForCausalLM",
           "cohere2": "Cohere2ForCausalLM"}
# transformers module(s) below a decoder layer -> the symroof nodes that own the same matmuls
blocks.MODULES.update({arch: blocks._LLAMA_LIKE for arch in ("olmo3", "smollm3", "ministral", "ministral3", "cohere",
                                                              "cohere2")})
blocks.MODULES["glm4"] = {**blocks.LLAMA_ATTENTION, "mlp.gate_up_proj": ("mlp/gate", "mlp/up"),
                          "mlp.down_proj": ("mlp/down",)}


def random_config(rng: random.Random, arch: str, small: bool) -> dict:
    """A random config of ``arch``; required keys always given, the others given or left out at random."""
    layers = rng.choice((1, 2, 3, 4)) if small else rng.randint(1, 8)
    heads = rng.choice((1, 2, 4)) if small else rng.randint(1, 12)
    head_dim = rng.choice((8, 16, 20)) if small else rng.choice((8, 12, 16, 20, 40, 64))
    raw = base_config(rng, CLASSES, arch, small, layers, heads, heads * head_dim)
    maybe(rng, raw, "tie_word_embeddings", rng.random() < 0.5, 0.6)
    window = rng.randint(2, 12)
    if arch == "olmo3":          # K absent or null: N; head_dim read when given, else D // N
        raw["num_key_value_heads"] = rng.choice((raw["num_key_value_heads"],) * 2 + (None, "absent"))
        maybe(rng, raw, "head_dim", rng.choice((4, 8, 12)), 0.3)
        maybe(rng, raw, "attention_bias", rng.random() < 0.5, 0.7)
        maybe(rng, raw, "layer_types", layer_types(rng, layers), 0.5)
        kinds = raw.get("layer_types") or ["sliding_attention" if (i + 1) % 4 else "full" for i in range(layers)]
        if "sliding_attention" in kinds or rng.random() < 0.5:
            raw["sliding_window"] = window          # else absent: 4096, unused (null fails in transformers)
    elif arch == "smollm3":      # K absent: 4 (required), null: N; head_dim read when given, else D // N
        raw["num_key_value_heads"] = rng.choice((raw["num_key_value_heads"], None))
        maybe(rng, raw, "head_dim", rng.choice((4, 8, 12)), 0.3)
        for key in ("attention_bias", "mlp_bias"):
            maybe(rng, raw, key, rng.random() < 0.5, 0.6)
        if rng.random() < 0.5:
            raw["no_rope_layers"] = [rng.choice((0, 1)) for _ in range(layers + rng.choice((0, 0, 2)))]
        else:
            maybe(rng, raw, "no_rope_layer_interval", rng.choice((1, 2, 3)))
        if rng.random() < 0.6:
            raw.update(use_sliding_window=True, sliding_window=window)
            maybe(rng, raw, "layer_types", layer_types(rng, layers), 0.4)
        else:
            maybe(rng, raw, "use_sliding_window", False)
    elif arch == "ministral":    # K, head_dim and sliding_window required (5.x refuses a null K; see the reader)
        raw.update(head_dim=rng.choice((4, 8, 12, head_dim)), sliding_window=window)
        maybe(rng, raw, "layer_types", layer_types(rng, layers), 0.5)
    elif arch == "ministral3":   # K and head_dim required (8 and 128 are a reference model's)
        raw["head_dim"] = rng.choice((4, 8, 12, head_dim))
        maybe(rng, raw, "sliding_window", rng.choice((window, None)), 0.7)
        maybe(rng, raw, "rope_parameters", {"rope_type": "default", "rope_theta": 1e4, "llama_4_scaling_beta": 0.2,
                                             "original_max_position_embeddings": 4})
    elif arch == "glm4":         # K and head_dim required (2 and 128 are a reference model's)
        raw["head_dim"] = rng.choice((4, 8, 12, head_dim))
        maybe(rng, raw, "attention_bias", rng.random() < 0.5, 0.7)
        factor = rng.choice((0.25, 0.5, 1.0))
        where = rng.choice(("top", "rope_parameters", "absent"))            # absent: its default, 1/2
        if where == "top":
            raw["partial_rotary_factor"] = factor
        elif where == "rope_parameters":
            raw["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": factor}
    elif arch in ("cohere", "cohere2"):   # K absent or null: N
        raw["num_key_value_heads"] = rng.choice((raw["num_key_value_heads"],) * 2 + (None, "absent"))
        maybe(rng, raw, "attention_bias", rng.random() < 0.5, 0.7)
        maybe(rng, raw, "logit_scale", rng.choice((0.25, 1.0)))
        if arch == "cohere":             # head_dim read when given, else D // N
            maybe(rng, raw, "head_dim", rng.choice((4, 8, 12)), 0.3)
            maybe(rng, raw, "use_qk_norm", rng.choice((True, True, False, None)), 0.7)
        else:                             # head_dim D // N whatever it says
            maybe(rng, raw, "head_dim", rng.choice((None, head_dim)), 0.3)
            if rng.random() < 0.5:
                raw["layer_types"] = layer_types(rng, layers)
            else:
                maybe(rng, raw, "sliding_window_pattern", rng.choice((1, 2, 3)))
            kinds = raw.get("layer_types") or ["sliding_attention" if (i + 1) % raw.get("sliding_window_pattern", 4)
                                               else "full" for i in range(layers)]
            raw["sliding_window"] = window if "sliding_attention" in kinds else rng.choice((window, "absent"))
    return {k: v for k, v in raw.items() if v != "absent"}


PARAM_CASES, FLOP_CASES, PHASE_CASES = case_sets(random_config, CLASSES, (20270501, 20270502, 20270503), 23,
                                                 (10, 6, 6), (16, 14))


# parameters, training FLOPs and prefill/decode against transformers: the checks every class module runs
test_params_match_transformers, test_flops_match_flop_counter_mode, test_prefill_decode_flops_and_cache_bytes = \
    class_checks(PARAM_CASES, FLOP_CASES, PHASE_CASES)


@pytest.mark.parametrize("raw", PARAM_CASES, ids=case_id)
def test_layers_match_the_layers_transformers_builds(raw):
    """Per layer: the window transformers gives the attention and the mask it builds (``layer_types``:
    a sliding layer's mask and cache take ``config.sliding_window``)."""
    model, card, kinds = meta_layers(raw)
    ours = [card.sliding_window if k.attention == "sliding" else None for k in kinds]
    arch, layers = raw["model_type"], model.model.layers
    if arch == "ministral3":     # every layer takes config.sliding_window; it has no layer_types
        assert [model.config.sliding_window] * card.n_layers == ours
    else:                        # GLM-4 and Cohere have no windows
        assert [getattr(layer.self_attn, "sliding_window", None) for layer in layers] == ours
        types = getattr(model.config, "layer_types", None) or ["full_attention"] * card.n_layers
        assert [model.config.sliding_window if t == "sliding_attention" else None for t in types] == ours
    # NoPE layers: named, with their count (SmolLM3's use_rope; Cohere 2 rotates on its sliding layers only)
    nope = sum(not getattr(layer.self_attn, "use_rope", True) for layer in layers) if arch != "cohere2" else \
        sum(layer.self_attn.sliding_window is None for layer in layers)
    notes = [n for n in card.left_out if n.startswith("no RoPE")]
    assert len(notes) == bool(nope) and all(n.startswith(f"no RoPE on {nope} of {card.n_layers} ") for n in notes)
    # the share of each head RoPE rotates: the frequencies transformers makes (GLM-4's partial RoPE)
    frequencies = [b for name, b in model.model.rotary_emb.named_buffers() if name.endswith("inv_freq")]
    assert {f.numel() * 2 for f in frequencies} == {card.head_dim * card.rotary_pct}
    if arch.startswith("cohere"):   # one norm a layer, no bias; q/k norms of N x H and K x H weights
        assert card.norms_per_layer == 1 and not hasattr(layers[0], "post_attention_layernorm")
        assert card.qk_norm == hasattr(layers[0].self_attn, "q_norm")
        assert getattr(layers[0].input_layernorm, "bias", None) is None and card.norm == "rms"


def test_cases_cover_the_variants():
    cards = cards_by_class(CLASSES, PARAM_CASES, FLOP_CASES, PHASE_CASES)
    for arch, group in cards.items():
        assert {c.tie_embeddings for _, c in group} == {True, False}
        assert {c.n_kv_heads == c.n_heads for _, c in group} == {True, False}
        assert {bool(c.sliding_window) for _, c in group} == {True, False} or arch in ("glm4", "cohere")
        assert any(len(c.blocks) > 1 for _, c in group) or arch in ("ministral3", "glm4", "cohere")
    olmo3 = cards["olmo3"]
    assert {c.qkv_bias for _, c in olmo3} == {True, False} and any("layer_types" not in r for r, _ in olmo3)
    assert any(c.head_dim * c.n_heads != c.d_model for _, c in olmo3)
    smol = cards["smollm3"]
    assert {c.mlp_bias for _, c in smol} == {True, False} and any(c.left_out for _, c in smol)
    assert any("layer_types" not in r and c.sliding_window for r, c in smol)
    assert any("layer_types" not in r for r, c in cards["ministral"])
    assert any(c.sliding_window for _, c in cards["ministral3"])
    assert any(c.head_dim * c.n_heads != c.d_model for _, c in cards["ministral3"])
    assert {c.rotary_pct for _, c in cards["glm4"]} == {0.25, 0.5, 1} and {c.qkv_bias for _, c in cards["glm4"]} == \
        {True, False}
    assert {c.qk_norm for _, c in cards["cohere"]} == {True, False} and any(c.qkv_bias for _, c in cards["cohere"])
