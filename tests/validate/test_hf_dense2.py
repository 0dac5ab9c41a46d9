"""More dense decoder classes read from config.json (hf_layouts_dense2), against transformers: Helium,
Seed-OSS, EXAONE 4.0, Arcee.

Random configurations of each class, with the keys that decide its layout drawn at random (and left
out, so that transformers' defaults are used, where symroof reads the same default), go through
``model_from_hf_config`` exactly as a ``config.json`` does, and the same dict through transformers'
config class (``from_dict``):

- parameters on the meta device, in total and per group (exact); per layer, the window
  transformers gives the attention (None: global), which layers rotate q and k, and the norms;
- FLOPs under FlopCounterMode (eager attention, ``attention="full"``): forward and backward totals,
  forward per module, backward per decoder layer and for the head (exact);
- prefill T tokens and decode one: FLOPs, and the bytes of the keys and values transformers' cache
  holds after each (exact; a sliding layer keeps its last w - 1), T up to 14, windows 2 to 12.
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

CLASSES = {"helium": "HeliumForCausalLM", "seed_oss": "SeedOssForCausalLM", "exaone4": "Exaone4ForCausalLM",
           "arcee": "ArceeForCausalLM"}
blocks.MODULES.update(helium=blocks._LLAMA_LIKE, seed_oss=blocks._LLAMA_LIKE, exaone4=blocks._LLAMA_LIKE,
                      arcee={**blocks.LLAMA_ATTENTION, "mlp.up_proj": ("mlp/up",), "mlp.down_proj": ("mlp/down",)})


def random_config(rng: random.Random, arch: str, small: bool) -> dict:
    """A random config of ``arch``; required keys always given, the others given or left out at random."""
    layers = rng.choice((1, 2, 3, 4)) if small else rng.randint(1, 8)
    heads = rng.choice((1, 2, 4)) if small else rng.randint(1, 12)
    head_dim = rng.choice((8, 16, 20)) if small else rng.choice((8, 12, 16, 20, 40, 64))
    raw = base_config(rng, CLASSES, arch, small, layers, heads, heads * head_dim, head_dim=head_dim)
    maybe(rng, raw, "tie_word_embeddings", rng.random() < 0.5, 0.6)
    window = rng.randint(2, 12)
    if arch == "helium":         # K and head_dim required (20 and 128), N·H = D
        for key in ("attention_bias", "mlp_bias"):
            maybe(rng, raw, key, rng.random() < 0.5, 0.7)
    elif arch == "seed_oss":     # K and head_dim given or null (N, D // N; absent: 8 and 128)
        raw["num_key_value_heads"] = rng.choice((raw["num_key_value_heads"], None))
        raw["head_dim"] = rng.choice((rng.choice((4, 8, 12)), None))
        for key in ("attention_bias", "attention_out_bias", "mlp_bias"):
            maybe(rng, raw, key, rng.random() < 0.5, 0.7)
        maybe(rng, raw, "attention_dropout", 0.0)      # the dropouts are off in eval and never counted
        maybe(rng, raw, "residual_dropout", 0.0)
    elif arch == "exaone4":      # K required (32); head_dim read when given, else D // N
        if rng.random() < 0.4:
            del raw["head_dim"]
        else:
            raw["head_dim"] = rng.choice((4, 8, 12, head_dim))
        choice = rng.choice(("layer_types", "pattern", "null"))
        if choice == "layer_types":
            raw["layer_types"] = layer_types(rng, layers)
            maybe(rng, raw, "sliding_window_pattern", rng.choice(("LLLG", 2)), 0.3)
        elif choice == "null":       # no window: layer_types required, every layer full and rotating
            raw.update(sliding_window=None, layer_types=["full_attention"] * layers)
        else:
            maybe(rng, raw, "sliding_window_pattern", rng.choice((1, 2, 3)))
        kinds = raw.get("layer_types") or ["sliding_attention" if (i + 1) % raw.get("sliding_window_pattern", 4)
                                           else "full" for i in range(layers)]
        if "sliding_attention" in kinds:
            raw["sliding_window"] = window
        elif choice != "null":
            maybe(rng, raw, "sliding_window", window)   # absent: 4096, unused (its full layers are NoPE)
    elif arch == "arcee":        # K and head_dim absent or null: N and D // N
        raw["num_key_value_heads"] = rng.choice((raw["num_key_value_heads"],) * 2 + (None, "absent"))
        raw["head_dim"] = rng.choice((raw["head_dim"], rng.choice((4, 12)), None, "absent"))
        for key in ("attention_bias", "mlp_bias"):
            maybe(rng, raw, key, rng.random() < 0.5, 0.7)
        maybe(rng, raw, "hidden_act", rng.choice(("relu2", "gelu", "silu")), 0.6)
    return {k: v for k, v in raw.items() if v != "absent"}


PARAM_CASES, FLOP_CASES, PHASE_CASES = case_sets(random_config, CLASSES, (20270601, 20270602, 20270603), 31,
                                                 (8, 5, 5), (16, 14))


# parameters, training FLOPs and prefill/decode against transformers: the checks every class module runs
test_params_match_transformers, test_flops_match_flop_counter_mode, test_prefill_decode_flops_and_cache_bytes = \
    class_checks(PARAM_CASES, FLOP_CASES, PHASE_CASES)


@pytest.mark.parametrize("raw", PARAM_CASES, ids=case_id)
def test_layers_match_the_layers_transformers_builds(raw):
    """Per layer: the window transformers gives the attention, which layers rotate q and k (EXAONE 4.0's
    NoPE full layers, named), and the norms it builds."""
    model, card, kinds = meta_layers(raw)
    ours = [card.sliding_window if k.attention == "sliding" else None for k in kinds]
    layers = model.model.layers
    if raw["model_type"] == "exaone4":
        attn = [layer.self_attn for layer in layers]
        assert [a.sliding_window if a.is_sliding else None for a in attn] == ours
        nope = sum(not (a.sliding_window is None or a.is_sliding) for a in attn)     # its forward's RoPE test
        notes = [n for n in card.left_out if n.startswith("no RoPE")]
        assert len(notes) == bool(nope) and all(n.startswith(f"no RoPE on {nope} of {card.n_layers} ") for n in notes)
        assert not hasattr(layers[0], "input_layernorm") and card.norm_placement == "post"
        assert attn[0].q_norm.weight.numel() == card.head_dim and card.qk_norm
    else:
        assert ours == [None] * card.n_layers
    if raw["model_type"] == "arcee":
        assert not hasattr(layers[0].mlp, "gate_proj") and card.mlp == "plain"
    if raw["model_type"] == "seed_oss":
        dropouts = [n for n in card.left_out if n.startswith("dropout")]
        given = [(key, getattr(model.config, key)) for key in ("attention_dropout", "residual_dropout")]
        assert dropouts == ([f"dropout ({', '.join(f'{k} {v}' for k, v in given if v)}): counted as training "
                             "without dropout masks"] if any(v for _, v in given) else [])


def test_cases_cover_the_variants():
    cards = cards_by_class(CLASSES, PARAM_CASES, FLOP_CASES, PHASE_CASES)
    for arch, group in cards.items():
        assert {c.tie_embeddings for _, c in group} == {True, False}
        assert {c.n_kv_heads == c.n_heads for _, c in group} == {True, False}
        assert {c.qkv_bias for _, c in group} == {True, False} or arch == "exaone4"
    assert {c.mlp_bias for _, c in cards["helium"]} == {True, False}
    seed = cards["seed_oss"]
    assert {(c.qkv_bias, c.o_bias) for _, c in seed} >= {(True, False), (False, True)}
    assert any(c.mlp_bias for _, c in seed) and any(c.left_out for _, c in seed)
    assert any(c.head_dim * c.n_heads != c.d_model for _, c in seed)
    exaone = cards["exaone4"]
    assert any(len(c.blocks) > 1 for _, c in exaone) and {bool(c.sliding_window) for _, c in exaone} == {True, False}
    assert any("layer_types" not in raw for raw, _ in exaone) and any(c.left_out for _, c in exaone)
    assert any(c.head_dim * c.n_heads != c.d_model for _, c in exaone)
    arcee = cards["arcee"]
    assert any(c.head_dim * c.n_heads != c.d_model for _, c in arcee) and {c.mlp_bias for _, c in arcee} == {True, False}
    assert any(raw.get("hidden_act", "relu2") == "relu2" for raw, _ in arcee)
