"""GLM-5's config.json class (GlmMoeDsaForCausalLM, hf_layouts_glm) against transformers 5.24: DeepSeek-V3.2's
MLA, MoE and DSA indexer (every layer's indexer full; shared layers are refused).

Random configurations go through ``model_from_hf_config`` exactly as a ``config.json`` does, and the same
dict through transformers' config class (``from_dict``); every comparison is exact (tolerance 0):

- parameters on the meta device, in total and per group; which layers have experts and an indexer;
- FLOPs under FlopCounterMode (eager attention and experts; the ``full`` convention: the eager model masks the
  keys the indexer leaves out and multiplies the whole score matrix): forward and backward totals, forward per
  module (MLA's and the indexer's projections, the attention core, the indexer's own scoring), backward per
  decoder layer and for the head;
- prefill T tokens and decode one: FLOPs, and the bytes transformers' cache holds after each (the MLA latent,
  the RoPE key and the indexer's keys).
"""

from __future__ import annotations

import random

import pytest

from hfcases import case_id, case_sets, counted, flop_counter_torch, hf_config, hf_group, maybe
from hfcompare import base_config, card_of, per_module

torch = flop_counter_torch()

from symroof.errors import CardError  # noqa: E402
from symroof.io.bind import count  # noqa: E402

pytestmark = pytest.mark.validate

CLASSES = {"glm_moe_dsa": "GlmMoeDsaForCausalLM"}
_MOE = {"mlp.gate": ("moe/router",), "mlp.experts": ("moe/gate", "moe/up", "moe/down")}
MODULES = {"self_attn.q_a_proj": ("attn/q_a",), "self_attn.q_b_proj": ("attn/q",),
           "self_attn.kv_a_proj_with_mqa": ("attn/kv_a", "attn/k_rope"), "self_attn.kv_b_proj": ("attn/k", "attn/v"),
           "self_attn.o_proj": ("attn/o",), "self_attn.indexer.wq_b": ("attn/idx_q",),
           "self_attn.indexer.wk": ("attn/idx_k",), "self_attn.indexer.weights_proj": ("attn/idx_w",),
           "mlp.gate_proj": ("mlp/gate",), "mlp.up_proj": ("mlp/up",), "mlp.down_proj": ("mlp/down",), **_MOE,
           "mlp.shared_experts.gate_proj": ("shared/gate",), "mlp.shared_experts.up_proj": ("shared/up",),
           "mlp.shared_experts.down_proj": ("shared/down",)}
PROJECTIONS = ("q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj", "indexer")


def _glm_moe_dsa(rng: random.Random, small: bool) -> dict:
    layers = rng.choice((1, 2, 3)) if small else rng.randint(1, 6)
    heads = rng.choice((1, 2, 4)) if small else rng.randint(1, 12)
    width = heads * rng.choice((4, 8, 12)) if small else rng.randrange(8, 257, 8)
    experts = rng.randint(2, 6)
    raw = base_config(rng, CLASSES, "glm_moe_dsa", small, layers, heads, width)
    raw["num_key_value_heads"] = heads              # required (64 is GLM-5's); MLA fails unless K = N
    rope = rng.choice((2, 4, 8))
    raw.update(kv_lora_rank=rng.choice((4, 8, 12)), qk_rope_head_dim=rope, qk_nope_head_dim=rng.choice((4, 8, 12)),
               v_head_dim=rng.choice((4, 6, 8)), moe_intermediate_size=rng.randrange(4, 33, 4),
               n_shared_experts=rng.choice((0, 1, 2)), n_routed_experts=experts,
               num_experts_per_tok=rng.randint(1, experts), q_lora_rank=rng.choice((4, 12)),
               index_topk=rng.randint(1, 12), index_n_heads=rng.randint(1, 4),
               index_head_dim=rope + rng.choice((0, 2, 4, 8)))   # the indexer rotates its first rope dims
    maybe(rng, raw, "tie_word_embeddings", rng.random() < 0.5, 0.6)
    maybe(rng, raw, "attention_bias", rng.random() < 0.5, 0.7)
    maybe(rng, raw, "n_group", 1, 0.3)
    maybe(rng, raw, "topk_group", 1, 0.3)
    maybe(rng, raw, "mlp_bias", False, 0.2)
    if rng.random() < 0.5:
        raw["mlp_layer_types"] = [rng.choice(("dense", "sparse")) for _ in range(layers)]
        maybe(rng, raw, "first_k_dense_replace", rng.randint(0, 3), 0.3)      # not read then
    else:
        raw["first_k_dense_replace"] = rng.randint(0, layers)               # required (3 is GLM-5's)
    choice = rng.choice(("none", "types", "pattern", "freq"))             # all full, said four ways
    if choice == "types":
        raw["indexer_types"] = ["full"] * layers
    elif choice == "pattern":
        raw["index_topk_pattern"] = "F" * layers
    elif choice == "freq":
        raw.update(index_topk_freq=rng.choice((0, 1)), index_skip_topk_offset=rng.randint(0, 3))
    maybe(rng, raw, "layer_types", ["indexed_attention"] * layers, 0.3)
    return raw


def random_config(rng: random.Random, arch: str, small: bool) -> dict:
    return _glm_moe_dsa(rng, small)


PARAM_CASES, FLOP_CASES, PHASE_CASES = case_sets(random_config, CLASSES, (20271121, 20271122, 20271123), 59,
                                                 (8, 4, 4), (16, 14))


def _model(raw: dict, meta: bool = False):
    from transformers import AutoModelForCausalLM

    if meta:
        with torch.device("meta"):
            return AutoModelForCausalLM.from_config(hf_config(raw))
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(hf_config(raw), attn_implementation="eager",
                                            experts_implementation="eager")


@pytest.mark.parametrize("raw", PARAM_CASES, ids=case_id)
def test_params_match_transformers(raw):
    model, card = _model(raw, meta=True), card_of(raw)
    theirs: dict[str, int] = {}
    for name, p in model.named_parameters():
        theirs[hf_group(name)] = theirs.get(hf_group(name), 0) + p.numel()
    ours = count(card, batch=1, seq=1)
    assert {g: n for g, n in ours.params_by_group.items() if n} == theirs
    assert ours.params_total == sum(p.numel() for p in model.parameters())
    kinds = [card.blocks[name] for name, n in card.layers for _ in range(n)]
    assert [hasattr(layer.mlp, "experts") for layer in model.model.layers] == [k.mlp == "moe" for k in kinds]
    assert all(layer.self_attn.indexer is not None for layer in model.model.layers)
    assert {k.attention for k in kinds} == {"indexed"}


@pytest.mark.parametrize("raw, batch, seq", FLOP_CASES, ids=[f"{case_id(r)}-B{b}T{t}" for r, b, t in FLOP_CASES])
def test_flops_match_flop_counter_mode(raw, batch, seq):
    ours = count(card_of(raw), batch=batch, seq=seq, attention="full")
    forward, backward, both = counted(_model(raw), raw["vocab_size"], batch, seq)
    assert (ours.flops_forward, ours.flops_backward) == (forward.get_total_flops(), backward.get_total_flops())
    theirs, mine = per_module(forward), {}
    for name, phases in ours.flops_by_module.items():
        if name != "unembed":
            owner = "/".join(name.split("/")[-2:])
            mine[owner] = mine.get(owner, 0) + phases["forward"]
    for module, nodes in MODULES.items():
        assert sum(mine.get(n, 0) for n in nodes) == theirs.get(module, 0), module
    indexer_projections = sum(theirs[f"self_attn.indexer.{m}"] for m in ("wq_b", "wk", "weights_proj"))
    assert mine["attn/idx_scores"] + mine["attn/idx_sum"] == theirs["self_attn.indexer"] - indexer_projections
    core = theirs["self_attn"] - sum(theirs.get(f"self_attn.{m}", 0) for m in PROJECTIONS)
    assert mine["attn/scores"] + mine["attn/av"] == core, "attention core"
    assert ours.flops_by_module["unembed"]["forward"] == theirs["lm_head"]
    layer_nodes = [n for n in ours.flops_by_module if n != "unembed" and "/" in n]
    assert sum(ours.flops_by_module[n]["forward"] for n in layer_nodes) == theirs["layer"]
    combined = per_module(both)
    assert sum(ours.flops_by_module[n]["backward"] for n in layer_nodes) == combined["layer"] - theirs["layer"]
    assert ours.flops_by_module["unembed"]["backward"] == combined["lm_head"] - theirs["lm_head"]


def _held(cache) -> int:
    return sum(t.numel() * t.element_size() for layer in cache.layers
               for t in (layer.keys, layer.values, layer.indexer_keys))


@pytest.mark.parametrize("raw, batch, seq", PHASE_CASES, ids=[f"{case_id(r)}-B{b}T{t}" for r, b, t in PHASE_CASES])
def test_prefill_decode_flops_and_cache_bytes(raw, batch, seq):
    from torch.utils.flop_counter import FlopCounterMode

    from symroof.core import derive
    from symroof.core.graph import Structure, build
    from symroof.core.symbols import B, S, T, b_kv
    from symroof.io.bind import evaluate, model_values

    model = _model(raw).eval()
    ids = torch.randint(0, raw["vocab_size"], (batch, seq + 1), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        with FlopCounterMode(display=False) as prefill:
            cache = model(input_ids=ids[:, :seq], use_cache=True).past_key_values
        after_prefill, width = _held(cache), cache.layers[0].keys.element_size()
        with FlopCounterMode(display=False) as decode:
            cache = model(input_ids=ids[:, seq:], cache=cache, use_cache=True).past_key_values
    card = card_of(raw)
    values = {**model_values(card), B: batch, b_kv: width}
    for phase, context, at, theirs, held in (("prefill", seq, {T: seq}, prefill, after_prefill),
                                             ("decode", seq + 1, {S: seq + 1}, decode, _held(cache))):
        g = build(Structure.of(card, context), "full", phase=phase)
        assert evaluate(derive.flops(g), {**values, **at}) == theirs.get_total_flops(), phase
        assert evaluate(derive.kv_cache_bytes(g), {**values, **at}) == held, phase


def test_cases_cover_the_variants():
    group = [(raw, card_of(raw)) for raw in PARAM_CASES + [r for r, _, _ in FLOP_CASES + PHASE_CASES]]
    assert {c.tie_embeddings for _, c in group} == {True, False} and {c.qkv_bias for _, c in group} == {True, False}
    assert any(c.d_ff_shared for _, c in group) and any(len(c.blocks) > 1 for _, c in group)
    assert {"mlp_layer_types" in r for r, _ in group} == {True, False}
    assert {k for r, _ in group for k in ("indexer_types", "index_topk_pattern", "index_topk_freq") if k in r} == \
        {"indexer_types", "index_topk_pattern", "index_topk_freq"}
    assert any(c.index_topk < s for (r, _, s) in FLOP_CASES + PHASE_CASES for c in [card_of(r)])


_DSA = {"architectures": ["GlmMoeDsaForCausalLM"], "model_type": "glm_moe_dsa", "vocab_size": 32, "hidden_size": 16,
        "intermediate_size": 24, "num_hidden_layers": 3, "num_attention_heads": 2, "num_key_value_heads": 2,
        "kv_lora_rank": 8, "q_lora_rank": 8, "qk_rope_head_dim": 4, "qk_nope_head_dim": 4, "v_head_dim": 4,
        "moe_intermediate_size": 8, "n_shared_experts": 1, "n_routed_experts": 4, "num_experts_per_tok": 2,
        "first_k_dense_replace": 1, "index_topk": 4, "index_n_heads": 2, "index_head_dim": 8}


@pytest.mark.parametrize("change, key", [
    ({"q_lora_rank": "absent"}, "q_lora_rank"),                   # transformers: 2048, GLM-5's
    ({"q_lora_rank": None}, "q_lora_rank"),                       # its type check refuses null; no plain q
    ({"first_k_dense_replace": "absent"}, "first_k_dense_replace"),    # transformers: 3, GLM-5's
    ({"index_topk": "absent"}, "index_topk"),                     # transformers: 2048
    ({"num_key_value_heads": 1}, "num_key_value_heads"),          # MLA's eager attention fails unless K = N
    ({"indexer_types": ["full", "shared", "full"]}, "indexer_types"),      # shared layers: not modelled
    ({"indexer_types": ["full", "full"]}, "indexer_types"),                # one a layer
    ({"index_topk_pattern": "FSF"}, "index_topk_pattern"),
    ({"index_topk_pattern": "FXF"}, "index_topk_pattern"),
    ({"index_topk_freq": 2, "index_skip_topk_offset": 1}, "index_topk_freq"),   # layer 1 shared
    ({"index_topk_freq": "2"}, "index_topk_freq"),
    ({"layer_types": ["full_attention"] * 3}, "layer_types"),     # a cache without the indexer's keys
])
def test_refusals_name_the_key(change, key):
    raw = {k: v for k, v in {**_DSA, **change}.items() if v != "absent"}
    with pytest.raises(CardError, match=key):
        card_of(raw)


def test_shared_layers_are_what_transformers_builds_without_an_indexer():
    """The schedules refused above do give transformers shared layers (no indexer): the refusals are not vacuous;
    and one that leaves every layer full (offset past the last layer) is read."""
    for change in ({"index_topk_pattern": "FSF"}, {"index_topk_freq": 2, "index_skip_topk_offset": 1}):
        model = _model({**_DSA, **change}, meta=True)
        assert [layer.self_attn.indexer is None for layer in model.model.layers] == [False, True, False]
    raw = {**_DSA, "index_topk_freq": 2, "index_skip_topk_offset": 3}
    assert all(layer.self_attn.indexer is not None for layer in _model(raw, meta=True).model.layers)
    assert card_of(raw).n_layers == 3
