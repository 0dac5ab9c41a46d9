"""Llama 4's text model and GLM-4.5/4.6 MoE against transformers, as test_blocks_vs_transformers.py checks the others.

Every configuration goes through ``model_from_hf_config`` exactly as a ``config.json`` does, and the
same dict through transformers' config class (``from_dict``).

- Parameters (meta device): in total and per group; per layer, where transformers chunks the
  attention and where it builds experts.
- FLOPs (FlopCounterMode, eager attention, ``attention="full"``): forward and backward totals,
  forward per module, backward per decoder layer and for the head; prefill and decode FLOPs and the
  KV cache transformers holds after prefill and after a decode step.

Llama 4's experts (``Llama4TextMoe``) run every expert on every token, the router's zeros scaling
away the E - k it did not choose: its expert matmuls are exactly E / k times the routed ones
symroof counts (``moe/gate``, ``moe/up``, ``moe/down``), so the comparison adds (E - k) / k of
symroof's expert FLOPs to symroof's side; everything else is compared as it is. GLM's experts run
with ``experts_implementation="eager"`` (the routed tokens only), as the other MoE classes' do.
"""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

torch = pytest.importorskip("torch",
                            reason="torch not installed: install the 'validate' extra (pip install .[validate])")
transformers = pytest.importorskip("transformers", reason="transformers not installed: install the 'validate' extra")

from hfcases import case_id, case_sets, class_configs, counted  # noqa: E402
from hfcompare import (assert_params_match, assert_phases_match, base_config, card_of, cards_by_class,  # noqa: E402
                       causal_lm, group_counts, meta_layers, phase_ids)
from test_blocks_vs_transformers import LLAMA_ATTENTION  # noqa: E402
from symroof.io.bind import count  # noqa: E402
from symroof.io.hf import model_from_hf_config  # noqa: E402

pytestmark = pytest.mark.validate

CLASSES = {"llama4_text": "Llama4ForCausalLM", "glm4_moe": "Glm4MoeForCausalLM"}
EXPERT_NODES = ("moe/gate", "moe/up", "moe/down")


def random_config(rng: random.Random, arch: str, small: bool) -> dict:
    """A random config of ``arch`` with the keys that decide its layout drawn at random; required keys given."""
    layers = rng.choice((1, 2, 3, 4)) if small else rng.randint(1, 8)
    heads = rng.choice((1, 2, 4)) if small else rng.randint(1, 12)
    head_dim = rng.choice((4, 8, 16)) if small else rng.randrange(4, 65, 4)
    width = heads * head_dim if rng.random() < 0.5 else heads * rng.choice((2, 4, 6, 8))
    experts = rng.randint(2, 6)
    raw = base_config(rng, CLASSES, arch, small, layers, heads, width, head_dim=head_dim)
    raw.update(num_experts_per_tok=rng.randint(1, experts), attention_bias=rng.random() < 0.5)
    if rng.random() < 0.6:
        raw["tie_word_embeddings"] = rng.random() < 0.5
    if arch == "glm4_moe":
        raw.update(n_routed_experts=experts, moe_intermediate_size=rng.randrange(4, 33, 4),
                   n_shared_experts=rng.choice((0, 1, 2)), first_k_dense_replace=rng.randint(0, layers),
                   use_qk_norm=rng.random() < 0.5, n_group=1, topk_group=1,
                   num_nextn_predict_layers=rng.choice((0, 1)))
        if rng.random() < 0.5:
            raw["partial_rotary_factor"] = rng.choice((0.25, 0.5, 1.0))
        if rng.random() < 0.3:
            del raw["head_dim"]                         # read when given, else D // N
        return raw
    raw.update(num_local_experts=experts, intermediate_size_mlp=rng.randrange(8, 65, 4) if small else rng.randint(4, 600),
               use_qk_norm=rng.random() < 0.6, attn_temperature_tuning=rng.random() < 0.6)
    if rng.random() < 0.5:
        raw["moe_layers"] = sorted(rng.sample(range(layers), rng.randint(0, layers)))
    else:
        raw["interleave_moe_layer_step"] = rng.choice((1, 1, 2, 3))
    if rng.random() < 0.5:
        raw["no_rope_layers"] = [rng.choice((0, 1)) for _ in range(layers)]
    else:
        raw["no_rope_layer_interval"] = rng.choice((1, 2, 4))
    choice = rng.random()
    if choice < 0.6:
        raw["attention_chunk_size"] = rng.randint(2, 12)
    elif choice < 0.8:
        raw["attention_chunk_size"] = None
    else:
        raw.update(attention_chunk_size=rng.randint(2, 12),
                   layer_types=[rng.choice(("full_attention", "chunked_attention")) for _ in range(layers)])
    return raw          # not K or head_dim null: 5.x's type check refuses them (4.x and __post_init__: N, D // N)


PARAM_CASES, FLOP_CASES, PHASE_CASES = case_sets(random_config, CLASSES, (20270301, 20270302, 20270303), 17, (10, 8, 6), (16, 12))


@pytest.mark.parametrize("raw", PARAM_CASES, ids=case_id)
def test_params_match_transformers(raw):
    assert_params_match(raw)


@pytest.mark.parametrize("raw", PARAM_CASES, ids=case_id)
def test_layer_kinds_match_the_layers_transformers_builds(raw):
    """Per layer: chunked (Llama 4, a chunked block type with attention_chunk = attention_chunk_size) or not,
    experts or not."""
    model, card, kinds = meta_layers(raw)
    mlp = "feed_forward" if raw["model_type"] == "llama4_text" else "mlp"
    assert [hasattr(getattr(layer, mlp), "experts") for layer in model.model.layers] == [k.mlp == "moe" for k in kinds]
    if raw["model_type"] == "llama4_text":
        chunked = [t == "chunked_attention" for t in model.config.layer_types]
        assert chunked == [k.attention == "chunked" for k in kinds]
        assert card.attention_chunk == (model.config.attention_chunk_size if any(chunked) else 0)
        assert card.sliding_window == 0
        assert [hasattr(layer.self_attn, "qk_norm") for layer in model.model.layers] == \
            [bool(r and model.config.use_qk_norm) for r in model.config.no_rope_layers[:len(kinds)]]
    else:
        assert [hasattr(layer.self_attn, "q_norm") for layer in model.model.layers] == [card.qk_norm] * len(kinds)


MODULES = {
    "llama4_text": {**LLAMA_ATTENTION, "feed_forward.gate_proj": ("mlp/gate",), "feed_forward.up_proj": ("mlp/up",),
                    "feed_forward.down_proj": ("mlp/down",), "feed_forward.router": ("moe/router",),
                    "feed_forward.shared_expert.gate_proj": ("shared/gate",),
                    "feed_forward.shared_expert.up_proj": ("shared/up",),
                    "feed_forward.shared_expert.down_proj": ("shared/down",)},
    "glm4_moe": {**LLAMA_ATTENTION, "mlp.gate_proj": ("mlp/gate",), "mlp.up_proj": ("mlp/up",),
                 "mlp.down_proj": ("mlp/down",), "mlp.gate": ("moe/router",), "mlp.experts": EXPERT_NODES,
                 "mlp.shared_experts.gate_proj": ("shared/gate",), "mlp.shared_experts.up_proj": ("shared/up",),
                 "mlp.shared_experts.down_proj": ("shared/down",)},
}


def _all_experts(raw: dict, card) -> Fraction:
    """What transformers' experts compute per routed matmul symroof counts: E / k for Llama 4, else 1."""
    return Fraction(card.n_experts, card.experts_per_token) if raw["model_type"] == "llama4_text" else Fraction(1)


@pytest.mark.parametrize("raw, batch, seq", FLOP_CASES, ids=phase_ids(FLOP_CASES))
def test_flops_match_flop_counter_mode(raw, batch, seq):
    from hfcompare import per_module
    from test_blocks_vs_transformers import _owner

    card = card_of(raw)
    ours = count(card, batch=batch, seq=seq, attention="full")
    scale = _all_experts(raw, card)
    experts = {phase: sum(Fraction(v[phase]) for n, v in ours.flops_by_module.items() if _owner(n) in EXPERT_NODES)
               for phase in ("forward", "backward")}
    forward, backward, both = _counted(raw, batch, seq)
    assert ours.flops_forward + experts["forward"] * (scale - 1) == forward.get_total_flops()
    assert ours.flops_backward + experts["backward"] * (scale - 1) == backward.get_total_flops()

    theirs = per_module(forward)
    mine: dict[str, int] = {}
    for name, phases in ours.flops_by_module.items():
        if name != "unembed":
            mine[_owner(name)] = mine.get(_owner(name), 0) + phases["forward"]
    for modules, nodes in MODULES[raw["model_type"]].items():
        assert sum(mine.get(n, 0) for n in nodes) == sum(theirs.get(m, 0) for m in modules.split("|")), modules
    if raw["model_type"] == "llama4_text":
        assert experts["forward"] * scale == theirs.get("feed_forward.experts", 0)
    inside = sum(v for m, v in theirs.items() if m.startswith("self_attn."))
    assert sum(mine.get(n, 0) for n in ("attn/scores", "attn/av")) == theirs["self_attn"] - inside
    assert ours.flops_by_module["unembed"]["forward"] == theirs["lm_head"]
    layer_nodes = [n for n in ours.flops_by_module if n != "unembed" and "/" in n]
    assert sum(ours.flops_by_module[n]["forward"] for n in layer_nodes) + experts["forward"] * (scale - 1) == \
        theirs["layer"]
    combined = per_module(both)
    assert sum(ours.flops_by_module[n]["backward"] for n in layer_nodes) + experts["backward"] * (scale - 1) == \
        combined["layer"] - theirs["layer"]
    assert ours.flops_by_module["unembed"]["backward"] == combined["lm_head"] - theirs["lm_head"]


def _counted(raw, batch, seq):
    """hfcases.counted on the model (GLM's experts eager)."""
    return counted(causal_lm(raw), raw["vocab_size"], batch, seq)


@pytest.mark.parametrize("raw, batch, seq", PHASE_CASES, ids=phase_ids(PHASE_CASES))
def test_prefill_decode_flops_and_cache_bytes(raw, batch, seq):
    """Prefill T tokens and decode one: FLOPs, and the keys and values transformers' cache holds after each
    (a chunked layer keeps the last C - 1, as a sliding one; eager attention scores the new token against
    all min(C, S) keys the cache hands it, the mask zeroing earlier chunks')."""
    card = card_of(raw)
    assert_phases_match(card, causal_lm(raw).eval(), raw["vocab_size"], batch, seq,
                        routed_scale=_all_experts(raw, card))


def test_cases_cover_the_variants():
    llama4, glm = cards_by_class(CLASSES, PARAM_CASES, FLOP_CASES, PHASE_CASES).values()
    for group in (llama4, glm):
        assert any(len(c.blocks) > 1 for _, c in group) and any(c.is_moe for _, c in group)
        assert any(not c.is_moe for _, c in group) and {c.tie_embeddings for _, c in group} == {True, False}
    assert any(c.attention_chunk for _, c in llama4) and any(not c.attention_chunk for _, c in llama4)
    assert any(c.experts_per_token > 1 for _, c in llama4) and any(raw.get("layer_types") for raw, _ in llama4)
    assert any(c.d_ff_shared and c.qk_norm for _, c in glm) and any(c.rotary_pct != Fraction(1, 2) for _, c in glm)
    assert any(c.is_moe and not c.d_ff_shared for _, c in glm)


_VISION = {"hidden_size": 16, "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
           "image_size": 28, "patch_size": 14, "vision_output_dim": 16, "projector_input_dim": 16,
           "projector_output_dim": 16}
_TIES = [("absent", "absent"), ("absent", True), (True, "absent"), (True, False), (False, True)]
WRAPPED = [(raw, tie) for raw, tie in zip(class_configs(random_config, CLASSES, 20270304, 5, True)[::2], _TIES)]


@pytest.mark.parametrize("raw, tie", WRAPPED, ids=[f"{case_id(r)}-tie{t}" for r, t in WRAPPED])
def test_llama4_wrapper_reads_its_language_model_as_transformers_builds_it(raw, tie):
    """Llama4ForConditionalGeneration's language_model is a whole Llama4ForCausalLM built from text_config,
    lm_head included, tied as text_config says (the wrapper's own tie_word_embeddings is not read)."""
    from transformers import CONFIG_MAPPING, AutoModelForImageTextToText

    outer, inner = tie
    text = {k: v for k, v in raw.items() if k not in ("architectures", "tie_word_embeddings")}
    text.update({} if inner == "absent" else {"tie_word_embeddings": inner})
    wrapper = {"architectures": ["Llama4ForConditionalGeneration"], "model_type": "llama4", "text_config": text,
               "vision_config": _VISION, **({} if outer == "absent" else {"tie_word_embeddings": outer})}
    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(CONFIG_MAPPING["llama4"].from_dict(dict(wrapper)))
    card = model_from_hf_config(dict(wrapper), "wrapped/config.json")
    assert count(card, batch=1, seq=1).params_by_group == group_counts(model.language_model)
    tied = model.language_model.lm_head.weight is model.language_model.model.embed_tokens.weight
    assert card.tie_embeddings == tied
    assert any("tie_word_embeddings" in note for note in card.left_out) == (outer not in ("absent", tied))
