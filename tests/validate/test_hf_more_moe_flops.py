"""More MoE classes read from config.json, against transformers: MiniMax-M2, dots.llm1, ERNIE 4.5 (MoE
and dense); the language models of Qwen3-VL and Qwen3-VL-MoE inside their ``*ForConditionalGeneration``
wrappers.

Random configurations of each class, with the keys that decide its layout drawn at random (and
left out, so that transformers' defaults are used, where symroof reads the same default); the same
dict goes to transformers' config class (``from_dict``) and to ``model_from_hf_config``:

- parameters on the meta device, in total and per group, and which layers have experts;
- FLOPs under FlopCounterMode (eager attention, ``experts_implementation="eager"``: the routed
  tokens only, as for the other MoE classes; transformers' default grouped_mm path is an op
  FlopCounterMode does not count): forward and backward totals, forward per module, backward per
  decoder layer and for the head (test_blocks_vs_transformers.py's checks, its module map
  extended to these classes);
- prefill T tokens and decode one: FLOPs, and the keys and values transformers' cache holds after each.

The Qwen3-VL wrappers are built whole (a small vision tower, never counted by symroof) and run on token
ids only: the language model's and lm_head's parameters per group, and training, prefill and decode
FLOPs in total and the cache (the vision tower computes nothing without pixels).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

torch = pytest.importorskip("torch",
                            reason="torch not installed: install the 'validate' extra (pip install .[validate])")
transformers = pytest.importorskip("transformers", reason="transformers not installed: install the 'validate' extra")

from hfcases import case_id, case_sets, divisors, maybe  # noqa: E402
from hfcompare import assert_phases_match, base_config, cards_by_class, class_checks, layer_types, meta_layers  # noqa: E402
from test_blocks_vs_transformers import LLAMA_ATTENTION as _ATTN, MODULES  # noqa: E402
from symroof.io.bind import count  # noqa: E402
from symroof.io.hf import model_from_hf_config  # noqa: E402

pytestmark = pytest.mark.validate

CLASSES = {"minimax_m2": "MiniMaxM2ForCausalLM", "dots1": "Dots1ForCausalLM", "ernie4_5_moe": "Ernie4_5_MoeForCausalLM",
           "ernie4_5": "Ernie4_5ForCausalLM"}
_MOE = {"mlp.gate": ("moe/router",), "mlp.experts": ("moe/gate", "moe/up", "moe/down")}
_DENSE = {"mlp.gate_proj": ("mlp/gate",), "mlp.up_proj": ("mlp/up",), "mlp.down_proj": ("mlp/down",)}
_SHARED = {"mlp.shared_experts.gate_proj": ("shared/gate",), "mlp.shared_experts.up_proj": ("shared/up",),
           "mlp.shared_experts.down_proj": ("shared/down",)}
MODULES.update(minimax_m2={**_ATTN, **_MOE},      # the training-FLOP check's map, extended to these classes
               dots1={**_ATTN, **_DENSE, **_MOE, **_SHARED}, ernie4_5_moe={**_ATTN, **_DENSE, **_MOE, **_SHARED},
               ernie4_5={**_ATTN, **_DENSE})


def random_config(rng: random.Random, arch: str, small: bool) -> dict:
    """A random config of ``arch``; required keys always given, the others given or left out at random."""
    layers = rng.choice((1, 2, 3)) if small else rng.randint(1, 6)
    heads = rng.choice((1, 2, 4)) if small else rng.randint(1, 12)
    head_dim = rng.choice((4, 8, 16)) if small else rng.randrange(4, 65, 4)
    width = heads * head_dim if rng.random() < 0.5 else heads * rng.choice((2, 4, 6, 8))
    experts = rng.randint(2, 6)
    raw = base_config(rng, CLASSES, arch, small, layers, heads, width, head_dim=head_dim)
    raw["num_experts_per_tok"] = rng.randint(1, experts)
    maybe(rng, raw, "tie_word_embeddings", rng.random() < 0.5, 0.6)
    if arch == "minimax_m2":      # K and head_dim required (8 and 128); experts under either name
        raw[rng.choice(("num_local_experts", "num_experts"))] = experts
        share = rng.choice(("rotary_dim", "partial_rotary_factor", "rope_parameters", "absent"))
        if share == "rotary_dim":
            raw["rotary_dim"] = rng.choice((head_dim // 2, head_dim))
        elif share == "partial_rotary_factor":
            raw.update(partial_rotary_factor=rng.choice((0.5, 1.0)), rotary_dim=head_dim)   # the factor wins
        elif share == "rope_parameters":
            raw["rope_parameters"] = {"rope_type": "default", "rope_theta": 5e6, "partial_rotary_factor": 0.25}
        maybe(rng, raw, "attn_type_list", [1] * layers)
        maybe(rng, raw, "use_mtp", rng.random() < 0.5)
        maybe(rng, raw, "num_mtp_modules", rng.choice((0, 3)))
        maybe(rng, raw, "scoring_func", "sigmoid", 0.3)
    elif arch == "dots1":         # K given or null (N); head_dim read when given, else D // N
        raw["num_key_value_heads"] = rng.choice((raw["num_key_value_heads"], None))
        if rng.random() < 0.3 and (width // heads) % 2 == 0:
            del raw["head_dim"]
        raw.update({rng.choice(("n_routed_experts", "num_local_experts")): experts,
                    "moe_intermediate_size": rng.randrange(4, 33, 4), "n_shared_experts": rng.choice((0, 1, 2)),
                    "first_k_dense_replace": rng.randint(0, layers), "n_group": 1, "topk_group": 1})
        maybe(rng, raw, "attention_bias", rng.random() < 0.5, 0.7)
        maybe(rng, raw, "routed_scaling_factor", 2.5, 0.3)
        choice = rng.choice(("null", "max_window_layers", "layer_types"))
        if choice == "null":
            raw["sliding_window"] = None
        else:
            raw["sliding_window"] = rng.randint(2, 12)
            if choice == "max_window_layers":
                raw["max_window_layers"] = rng.randint(0, layers)
            else:
                raw["layer_types"] = layer_types(rng, layers)
    elif arch == "ernie4_5_moe":  # K required (4, null fails); head_dim read when given; start required
        if rng.random() < 0.3 and (width // heads) % 2 == 0:
            del raw["head_dim"]
        raw.update({rng.choice(("moe_num_experts", "num_experts")): experts,
                    rng.choice(("moe_k", "num_experts_per_tok")): raw.pop("num_experts_per_tok"),
                    "moe_intermediate_size": rng.randrange(4, 33, 4), "moe_num_shared_experts": rng.choice((0, 1, 2)),
                    "moe_layer_start_index": rng.randint(0, layers)})
        maybe(rng, raw, "moe_layer_end_index", rng.choice((-1, rng.randint(0, layers))))
        maybe(rng, raw, "moe_layer_interval", rng.choice((1, 2)))
        maybe(rng, raw, "use_bias", rng.random() < 0.5, 0.7)
    elif arch == "ernie4_5":      # dense; K and head_dim given or null (N, D // N; absent: 2 and 128)
        del raw["num_experts_per_tok"]
        raw["num_key_value_heads"] = rng.choice((raw["num_key_value_heads"], None))
        if (width // heads) % 2 == 0:
            raw["head_dim"] = rng.choice((head_dim, None))
        maybe(rng, raw, "use_bias", rng.random() < 0.5, 0.7)
    return raw


PARAM_CASES, FLOP_CASES, PHASE_CASES = case_sets(random_config, CLASSES, (20270501, 20270502, 20270503), 23,
                                                 (10, 6, 5), (16, 12))


# parameters, training FLOPs and prefill/decode against transformers: the checks every class module runs
test_params_match_transformers, test_flops_match_flop_counter_mode, test_prefill_decode_flops_and_cache_bytes = \
    class_checks(PARAM_CASES, FLOP_CASES, PHASE_CASES)


@pytest.mark.parametrize("raw", PARAM_CASES, ids=case_id)
def test_layers_match_the_layers_transformers_builds(raw):
    """Per layer: experts or not; q/k norms and their width; the share of each head RoPE turns."""
    model, card, kinds = meta_layers(raw)
    assert [hasattr(layer.mlp, "experts") for layer in model.model.layers] == [k.mlp == "moe" for k in kinds]
    attn = model.model.layers[0].self_attn
    assert hasattr(attn, "q_norm") == card.qk_norm
    if card.qk_norm_width == "all":
        assert attn.q_norm.weight.numel() == card.n_heads * card.head_dim
    factor = model.config.rope_parameters.get("partial_rotary_factor", 1.0)
    assert int(card.head_dim * factor) == card.head_dim * card.rotary_pct
    assert [getattr(layer.self_attn, "sliding_window", None) for layer in model.model.layers] == \
        [card.sliding_window if k.attention == "sliding" else None for k in kinds]


def test_cases_cover_the_variants():
    cards = cards_by_class(CLASSES, PARAM_CASES, FLOP_CASES, PHASE_CASES)
    for group in cards.values():
        assert {c.tie_embeddings for _, c in group} == {True, False}
        assert {c.n_kv_heads == c.n_heads for _, c in group} == {True, False}
        assert any(c.experts_per_token > 1 for _, c in group) or group is cards["ernie4_5"]
    dots = cards["dots1"]
    assert any(c.d_ff_shared for _, c in dots) and any(c.is_moe and not c.d_ff_shared for _, c in dots)
    assert any(len(c.blocks) > 1 for _, c in dots) and {bool(c.sliding_window) for _, c in dots} == {True, False}
    assert {c.qkv_bias for _, c in dots} == {True, False}
    ernie = cards["ernie4_5_moe"]
    assert any(c.d_ff_shared for _, c in ernie) and any(c.is_moe and not c.d_ff_shared for _, c in ernie)
    assert any(len(c.blocks) > 1 for _, c in ernie) and {c.head_bias for _, c in ernie} == {True, False}
    assert any("num_experts_per_tok" in raw for raw, _ in ernie) and any("moe_k" in raw for raw, _ in ernie)
    assert {c.qkv_bias for _, c in cards["ernie4_5"]} == {True, False}
    minimax = cards["minimax_m2"]
    assert len({c.rotary_pct for _, c in minimax}) >= 3 and any(c.left_out for _, c in minimax)
    assert {"num_experts", "num_local_experts"} <= {k for raw, _ in minimax for k in raw}


# ----------------------------------------------------------------------------- Qwen3-VL wrappers

WRAPPED = {"qwen3_vl": "Qwen3VLForConditionalGeneration", "qwen3_vl_moe": "Qwen3VLMoeForConditionalGeneration"}
_VISION = {"depth": 1, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2, "out_hidden_size": 16,
           "deepstack_visual_indexes": [0]}


def wrapped_config(rng: random.Random, arch: str, small: bool) -> dict:
    """A wrapper around a random text_config; K null (N) or given, MoE head_dim absent or null (D // N)."""
    layers, heads = rng.choice((1, 2, 3)), rng.choice((1, 2, 4))
    head_dim = rng.choice((4, 8, 16))
    text = {"model_type": f"{arch}_text", "num_hidden_layers": layers, "hidden_size": heads * rng.choice((4, 8, 12)),
            "num_attention_heads": heads, "num_key_value_heads": rng.choice(divisors(heads) + [None]),
            "head_dim": head_dim, "intermediate_size": rng.randrange(8, 65, 4), "vocab_size": rng.randrange(16, 97),
            "rope_scaling": {"mrope_interleaved": True, "mrope_section": [1, 1, 0], "rope_type": "default"},
            "bos_token_id": None, "eos_token_id": None, "pad_token_id": None}
    maybe(rng, text, "attention_bias", rng.random() < 0.5)
    if arch == "qwen3_vl_moe":
        text["num_key_value_heads"] = text["num_key_value_heads"] or heads      # 5.x's type check refuses null
        experts = rng.randint(2, 6)
        text.update({rng.choice(("num_experts", "num_local_experts")): experts,
                     "num_experts_per_tok": rng.randint(1, experts), "moe_intermediate_size": rng.randrange(4, 33, 4),
                     "decoder_sparse_step": rng.choice((1, 1, 2)),
                     "mlp_only_layers": sorted(rng.sample(range(layers), rng.randint(0, layers)))})
        maybe(rng, text, "norm_topk_prob", True)
        if (text["hidden_size"] // heads) % 2 == 0:     # RoPE turns pairs
            text["head_dim"] = rng.choice((head_dim, None, "absent"))
    raw = {"architectures": [WRAPPED[arch]], "model_type": arch, "vision_config": _VISION,
           "text_config": {k: v for k, v in text.items() if v != "absent"}}
    where = rng.choice(("top", "text", "absent"))
    tie = rng.random() < 0.5
    if where != "absent":
        (raw if where == "top" else raw["text_config"])["tie_word_embeddings"] = tie
    return raw


def _wrapped_id(raw: dict) -> str:
    text = raw["text_config"]
    return (f"{raw['model_type']}-L{text['num_hidden_layers']}-D{text['hidden_size']}-N{text['num_attention_heads']}"
            f"K{text['num_key_value_heads']}H{text.get('head_dim', '_')}-tie{raw.get('tie_word_embeddings', '_')}"
            f"{text.get('tie_word_embeddings', '_')}")


WRAPPED_PARAMS, WRAPPED_FLOPS, WRAPPED_PHASES = case_sets(wrapped_config, WRAPPED, (20270511, 20270512, 20270513), 29,
                                                          (8, 4, 4), (12, 10))


def _wrapper(raw: dict, meta: bool = True):
    from transformers import CONFIG_MAPPING, AutoModelForImageTextToText

    text = raw["text_config"]          # the tie 4.x read (text_config's, or its class default) at the top, as 5.x reads it
    tie = raw.get("tie_word_embeddings", text.get("tie_word_embeddings",
                                                  getattr(CONFIG_MAPPING[text["model_type"]](), "tie_word_embeddings", False)))
    config = CONFIG_MAPPING[raw["model_type"]].from_dict({**raw, "tie_word_embeddings": tie})
    if meta:
        with torch.device("meta"):
            return AutoModelForImageTextToText.from_config(config)
    torch.manual_seed(0)
    return AutoModelForImageTextToText.from_config(config, attn_implementation="eager", experts_implementation="eager")


@pytest.mark.parametrize("raw", WRAPPED_PARAMS, ids=_wrapped_id)
def test_wrapped_language_model_params_match_transformers(raw):
    from test_hf_vlm_params import language_model_counts

    card = model_from_hf_config(dict(raw), f"random/{_wrapped_id(raw)}/config.json")
    model = _wrapper(raw)
    assert count(card, batch=1, seq=1).params_by_group == language_model_counts(model)
    assert [hasattr(layer.mlp, "experts") for layer in model.model.language_model.layers] == \
        [card.blocks[name].mlp == "moe" for name, n in card.layers for _ in range(n)]
    assert card.left_out[0].startswith("vision tower and multimodal projector")
    if "tie_word_embeddings" not in raw:      # read as 4.x did; where 5.x's from_config ties otherwise, the card says so
        from transformers import CONFIG_MAPPING, AutoModelForImageTextToText

        with torch.device("meta"):
            v5 = AutoModelForImageTextToText.from_config(CONFIG_MAPPING[raw["model_type"]].from_dict(dict(raw)))
        tied = v5.lm_head.weight is v5.model.language_model.embed_tokens.weight
        assert any("tie_word_embeddings" in note for note in card.left_out) == (tied != card.tie_embeddings)


@pytest.mark.parametrize("raw, batch, seq", WRAPPED_FLOPS, ids=[f"{_wrapped_id(r)}-B{b}T{t}" for r, b, t in WRAPPED_FLOPS])
def test_wrapped_training_flops_match_flop_counter_mode(raw, batch, seq):
    from hfcases import counted

    card = model_from_hf_config(dict(raw), "random/config.json")
    ours = count(card, batch=batch, seq=seq, attention="full")
    forward, backward, _ = counted(_wrapper(raw, meta=False), raw["text_config"]["vocab_size"], batch, seq)
    assert (ours.flops_forward, ours.flops_backward) == (forward.get_total_flops(), backward.get_total_flops())
    head = next(v for k, v in forward.get_flop_counts().items() if k.endswith(".lm_head"))
    assert ours.flops_by_module["unembed"]["forward"] == sum(head.values())


@pytest.mark.parametrize("raw, batch, seq", WRAPPED_PHASES, ids=[f"{_wrapped_id(r)}-B{b}T{t}" for r, b, t in WRAPPED_PHASES])
def test_wrapped_prefill_decode_flops_and_cache_bytes(raw, batch, seq):
    card = model_from_hf_config(dict(raw), "random/config.json")
    assert_phases_match(card, _wrapper(raw, meta=False).eval(), raw["text_config"]["vocab_size"], batch, seq)


def test_wrapped_cases_cover_the_variants():
    cases = WRAPPED_PARAMS + [r for r, _, _ in WRAPPED_FLOPS + WRAPPED_PHASES]
    cards = [(raw, model_from_hf_config(dict(raw), "random/config.json")) for raw in cases]
    assert {c.architecture for _, c in cards} == {"qwen3", "qwen3_moe"}
    assert {c.tie_embeddings for _, c in cards} == {True, False} and any(c.qkv_bias for _, c in cards)
    assert any(len(c.blocks) > 1 for _, c in cards) and any(c.n_kv_heads < c.n_heads for _, c in cards)
    assert any(raw["text_config"].get("num_key_value_heads", 0) is None for raw, _ in cards)
    assert any("head_dim" not in raw["text_config"] for raw, _ in cards)


VLM_SHAPES = json.loads((Path(__file__).resolve().parents[1] / "data" / "published_vlm_shapes.json").read_text())


@pytest.mark.parametrize("name", sorted(VLM_SHAPES))
def test_published_wrapped_language_models_match_transformers(name):
    from test_hf_vlm_params import language_model_counts

    raw = {k: v for k, v in VLM_SHAPES[name].items() if k != "_source"}
    card = model_from_hf_config(dict(raw), f"{name}/config.json")
    assert count(card, batch=1, seq=1).params_by_group == language_model_counts(_wrapper(raw))
