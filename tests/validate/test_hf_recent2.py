"""More recent config.json classes (hf_layouts_recent2, hf_keys_recent2) against transformers 5.24: Granite SWA,
Granite MoE SWA, Persimmon, Apertus, ...

Random configurations of each class, with the keys that decide its layout drawn at random (and left out,
so that transformers' defaults are used, where symroof reads the same default), go through
``model_from_hf_config`` exactly as a ``config.json`` does, and the same dict through transformers' config
class (``from_dict``):

- parameters on the meta device, in total and per group (exact); per layer, the window transformers gives
  the attention (None: global), its sinks, NoPE layers and the norms it builds;
- FLOPs under FlopCounterMode (eager attention, ``attention="full"``): forward and backward totals, forward
  per module, backward per decoder layer and for the head (exact);
- prefill T tokens and decode one: FLOPs, and the bytes of the keys and values transformers' cache holds
  after each (exact);
- each class's reference model (its config class's defaults, the file ``save_pretrained`` writes): parameters
  per group (exact, meta device);
- refusals: a key transformers reads that symroof does not model is a one-line CardError naming it.

Each class draws from seeds of its own (``case_sets`` per class), so that adding a class changes no other
class's cases.
"""

from __future__ import annotations

import random

import pytest

torch = pytest.importorskip("torch",
                            reason="torch not installed: install the 'validate' extra (pip install .[validate])")
transformers = pytest.importorskip("transformers", reason="transformers not installed: install the 'validate' extra")

from hfcases import case_id, case_sets, maybe  # noqa: E402
from hfcompare import base_config, card_of, cards_by_class, class_checks, hf_counts, layer_types, meta_layers  # noqa: E402
import test_blocks_vs_transformers as blocks  # noqa: E402
from symroof.errors import CardError  # noqa: E402

pytestmark = pytest.mark.validate

CLASSES = {"granite_swa": "GraniteSWAForCausalLM", "granitemoe_swa": "GraniteMoeSWAForCausalLM",
           "persimmon": "PersimmonForCausalLM", "apertus": "ApertusForCausalLM"}
_GRANITE_MOE = {**blocks.LLAMA_ATTENTION, "block_sparse_moe.router": ("moe/router",),
                "block_sparse_moe.experts": ("moe/gate", "moe/up", "moe/down"),
                "shared_mlp.input_linear": ("shared/gate", "shared/up"), "shared_mlp.output_linear": ("shared/down",)}
blocks.MODULES.update(granite_swa=blocks._LLAMA_LIKE, granitemoe_swa=_GRANITE_MOE,
                      persimmon={"self_attn.query_key_value": ("attn/q", "attn/k", "attn/v"),
                                 "self_attn.dense": ("attn/o",), "mlp.dense_h_to_4h": ("mlp/up",),
                                 "mlp.dense_4h_to_h": ("mlp/down",)},
                      apertus={**blocks.LLAMA_ATTENTION, "mlp.up_proj": ("mlp/up",), "mlp.down_proj": ("mlp/down",)})


def _granite_swa(rng, raw, layers, head_dim):
    """K given or null (N; absent: 4, its reference model's); head_dim read when given, else D // N; layer_types
    or every fourth layer full; layer_rope_theta with 0 (NoPE) layers; the multipliers; a window where a layer
    slides (absent: 128, its reference model's; null fails: its sliding mask is built on every forward)."""
    raw["num_key_value_heads"] = rng.choice((raw["num_key_value_heads"],) * 3 + (None,))
    if rng.random() < 0.3:
        del raw["head_dim"]
    if rng.random() < 0.5:
        raw["layer_types"] = layer_types(rng, layers)
    kinds = raw.get("layer_types") or ["full_attention" if i % 4 == 0 else "sliding_attention" for i in range(layers)]
    if "sliding_attention" in kinds:
        raw["sliding_window"] = rng.randint(2, 12)
    else:
        maybe(rng, raw, "sliding_window", rng.randint(2, 12))
    maybe(rng, raw, "layer_rope_theta", [rng.choice((0, 10000.0, 50000)) for _ in range(layers)])
    for key, values in (("embedding_multiplier", (1.0, 12.0)), ("residual_multiplier", (1.0, 0.22)),
                        ("logits_scaling", (1.0, 8.0)), ("attention_multiplier", (0.125, 1.0))):
        maybe(rng, raw, key, rng.choice(values))
    maybe(rng, raw, "attention_bias", rng.random() < 0.5, 0.7)


def _granite_swa_dense(rng, raw, layers, head_dim):
    _granite_swa(rng, raw, layers, head_dim)
    maybe(rng, raw, "mlp_bias", rng.random() < 0.5, 0.7)


def _granitemoe_swa(rng, raw, layers, head_dim):
    """Granite SWA's attention (K also absent: N) with experts on every layer and a shared MLP (0: none)."""
    _granite_swa(rng, raw, layers, head_dim)
    if raw["num_key_value_heads"] is not None and rng.random() < 0.3:
        del raw["num_key_value_heads"]
    experts = rng.randint(2, 6)
    raw.update(num_local_experts=experts, num_experts_per_tok=rng.randint(1, experts))
    maybe(rng, raw, "shared_intermediate_size", rng.choice((0, rng.randrange(4, 33, 4))), 0.8)
    maybe(rng, raw, "router_aux_loss_coef", 0.01)


def _persimmon(rng, raw, layers, head_dim):
    """No K or head_dim keys (N and D // N); head_dim a multiple of 8, so that each drawn rotary share rotates an
    even number of dims; the factor at the top level (old files) or in rope_parameters; qk_layernorm default
    true; the plain MLP's activation (default relu2)."""
    del raw["num_key_value_heads"], raw["head_dim"]
    raw["hidden_size"] = raw["num_attention_heads"] * rng.choice((8, 16, 24, 40))
    factor = rng.choice((0.25, 0.5, 1.0))
    where = rng.choice(("absent", "top", "nested"))
    if where == "top":
        raw["partial_rotary_factor"] = factor
    elif where == "nested":
        raw["rope_parameters"] = {"rope_type": "default", "rope_theta": 25000.0, "partial_rotary_factor": factor}
    maybe(rng, raw, "qk_layernorm", rng.random() < 0.5, 0.6)
    maybe(rng, raw, "hidden_act", rng.choice(("relu2", "gelu", "silu")), 0.4)
    maybe(rng, raw, "hidden_dropout", rng.choice((0.0, 0.1)), 0.3)
    maybe(rng, raw, "layer_norm_eps", 1e-6, 0.3)


def _apertus(rng, raw, layers, head_dim):
    """K given, absent or null (N); head_dim read when given, else D // N; xIELU (its default) or another plain
    activation."""
    raw["num_key_value_heads"] = rng.choice((raw["num_key_value_heads"],) * 2 + (None, "absent"))
    if rng.random() < 0.3:
        del raw["head_dim"]
    maybe(rng, raw, "hidden_act", rng.choice(("xielu", "relu2", "gelu")), 0.5)
    maybe(rng, raw, "attention_bias", rng.random() < 0.5, 0.7)


DRAW = {"granite_swa": _granite_swa_dense, "granitemoe_swa": _granitemoe_swa, "persimmon": _persimmon,
        "apertus": _apertus}


def random_config(rng: random.Random, arch: str, small: bool) -> dict:
    """A random config of ``arch``; required keys always given, the others given or left out at random."""
    layers = rng.choice((1, 2, 3, 4, 5)) if small else rng.randint(1, 9)
    heads = rng.choice((1, 2, 4)) if small else rng.randint(1, 12)
    head_dim = rng.choice((8, 16, 20)) if small else rng.choice((8, 12, 16, 20, 40, 64))
    width = heads * head_dim if rng.random() < 0.6 else heads * rng.choice((4, 6, 10))
    raw = base_config(rng, CLASSES, arch, small, layers, heads, width, head_dim=head_dim)
    maybe(rng, raw, "tie_word_embeddings", rng.random() < 0.5, 0.6)
    DRAW[arch](rng, raw, layers, head_dim)
    return {k: v for k, v in raw.items() if v != "absent"}


def _cases(arch: str, seed: int):
    return case_sets(random_config, {arch: CLASSES[arch]}, (seed, seed + 1, seed + 2), seed + 3, (8, 4, 4), (16, 14))


SETS = {"granite_swa": _cases("granite_swa", 20271301), "granitemoe_swa": _cases("granitemoe_swa", 20271311),
        "persimmon": _cases("persimmon", 20271321), "apertus": _cases("apertus", 20271331)}
PARAM_CASES = [raw for sets in SETS.values() for raw in sets[0]]
FLOP_CASES = [case for sets in SETS.values() for case in sets[1]]
PHASE_CASES = [case for sets in SETS.values() for case in sets[2]]


# parameters, training FLOPs and prefill/decode against transformers: the checks every class module runs
test_params_match_transformers, test_flops_match_flop_counter_mode, test_prefill_decode_flops_and_cache_bytes = \
    class_checks(PARAM_CASES, FLOP_CASES, PHASE_CASES)


def _nope_layers(model, arch) -> int:
    """Layers transformers runs without RoPE."""
    if arch in ("granite_swa", "granitemoe_swa"):
        return sum(theta == 0 for theta in model.config.layer_rope_theta)
    return 0


@pytest.mark.parametrize("raw", PARAM_CASES, ids=case_id)
def test_layers_match_the_layers_transformers_builds(raw):
    """Per layer: the window transformers gives the attention, its sinks, NoPE layers and the norms it builds."""
    model, card, kinds = meta_layers(raw)
    layers, arch = model.model.layers, raw["model_type"]
    assert [getattr(layer.self_attn, "sliding_window", None) for layer in layers] == \
        [card.sliding_window if k.attention == "sliding" else None for k in kinds]
    norms = [m for m in layers[0]._modules if "norm" in m]
    assert len(norms) == card.norms_per_layer
    nope = _nope_layers(model, arch)
    notes = [n for n in card.left_out if n.startswith("no RoPE")]
    assert len(notes) == bool(nope) and all(n.startswith(f"no RoPE on {nope} of {card.n_layers} ") for n in notes)
    if arch in ("granite_swa", "granitemoe_swa"):
        assert layers[0].self_attn.sinks.numel() == card.n_heads and card.attention_sinks
    if arch == "persimmon":
        attn = layers[0].self_attn
        assert hasattr(attn, "q_layernorm") == card.qk_norm and attn.query_key_value.bias is not None
        assert not card.qk_norm or attn.q_layernorm.bias.numel() == card.head_dim
        assert attn.rotary_ndims == card.head_dim * card.rotary_pct and card.norm == "layer"
        drop = [n for n in card.left_out if n.startswith("dropout")]
        assert bool(drop) == bool(raw.get("hidden_dropout"))
    if arch == "apertus":
        act = layers[0].mlp.act_fn
        assert sum(p.numel() for p in act.parameters()) == card.activation_params and card.mlp == "plain"
        assert layers[0].self_attn.q_norm.weight.numel() == card.head_dim and card.qk_norm
    if arch == "granitemoe_swa":
        assert all(hasattr(layer, "block_sparse_moe") for layer in layers) and all(k.mlp == "moe" for k in kinds)
        assert (getattr(layers[0], "shared_mlp", None) is not None) == bool(card.d_ff_shared)


def test_cases_cover_the_variants():
    cards = cards_by_class(CLASSES, PARAM_CASES, [c[0] for c in FLOP_CASES], [c[0] for c in PHASE_CASES])
    for arch, group in cards.items():
        assert {c.tie_embeddings for _, c in group} == {True, False}
        if arch == "persimmon":        # K = N, head_dim D // N, biases always
            continue
        assert {c.n_kv_heads == c.n_heads for _, c in group} == {True, False}
        assert {c.qkv_bias for _, c in group} == {True, False}
        assert any(c.head_dim * c.n_heads != c.d_model for _, c in group)
        if arch == "apertus":          # no sliding or NoPE layers
            continue
        assert any(n.startswith("no RoPE") for _, c in group for n in c.left_out)
        assert any(len(c.blocks) > 1 for _, c in group) and any("layer_types" not in raw for raw, _ in group)
    assert {c.activation_params for _, c in cards["apertus"]} == {0, 2}
    persimmon = cards["persimmon"]
    assert {c.qk_norm for _, c in persimmon} == {True, False} and len({c.rotary_pct for _, c in persimmon}) == 3
    assert any("partial_rotary_factor" in raw for raw, _ in persimmon) and any("rope_parameters" in raw
                                                                             for raw, _ in persimmon)
    assert {c.mlp_bias for _, c in cards["granite_swa"]} == {True, False}
    assert {c.d_ff_shared > 0 for _, c in cards["granitemoe_swa"]} == {True, False}


# Reference models: each class's config defaults, as save_pretrained writes them (Granite SWA's are
# granite-swash-2b's, Persimmon's Persimmon-8B's, Apertus's an Apertus-8B style model's).
REFERENCE = {"granite_swa": {}, "granitemoe_swa": {}, "persimmon": {}, "apertus": {}}


@pytest.mark.parametrize("arch", sorted(REFERENCE))
def test_reference_model_params_match_transformers(arch):
    from symroof.io.bind import count

    raw = {**transformers.AutoConfig.for_model(arch).to_dict(), **REFERENCE[arch], "architectures": [CLASSES[arch]]}
    for key in ("transformers_version", "_name_or_path", "id2label", "label2id", "torch_dtype", "dtype"):
        raw.pop(key, None)
    ours, theirs = count(card_of(raw), batch=1, seq=1), hf_counts(raw)
    assert ours.params_by_group == theirs and ours.params_total == sum(theirs.values())


def _base(arch: str) -> dict:
    return dict(SETS[arch][0][0])


REFUSALS = [
    ("granite_swa", {"sliding_window": None}, "key 'sliding_window' is null"),
    ("granite_swa", {"layer_types": ["sliding_attention"] * 99}, "layer_types"),
    ("granite_swa", {"layer_rope_theta": [10000.0] * 99}, "layer_rope_theta"),
    ("granite_swa", {"layer_rope_theta": "10000"}, "layer_rope_theta"),
    ("granite_swa", {"layer_rope_theta": [float("inf")] * _base("granite_swa")["num_hidden_layers"]},
     "layer_rope_theta"),
    ("granite_swa", {"num_key_value_heads": "absent"}, "num_key_value_heads"),
    ("granite_swa", {"num_local_experts": 4}, "num_local_experts"),
    ("granite_swa", {"embedding_multiplier": -1.0}, "embedding_multiplier"),
    ("granitemoe_swa", {"num_local_experts": None}, "num_local_experts"),
    ("granitemoe_swa", {"layer_rope_theta": [-1.0] * _base("granitemoe_swa")["num_hidden_layers"]}, "layer_rope_theta"),
    ("granitemoe_swa", {"sliding_window": None}, "key 'sliding_window' is null"),
    ("persimmon", {"num_key_value_heads": 1}, "unknown key 'num_key_value_heads'"),
    ("persimmon", {"head_dim": 8}, "unknown key 'head_dim'"),
    ("persimmon", {"hidden_size": 30, "num_attention_heads": 4}, "multiple of 'num_attention_heads'"),
    ("persimmon", {"partial_rotary_factor": 0.3}, "partial_rotary_factor"),
    ("persimmon", {"hidden_act": "swiglu"}, "hidden_act"),
    ("persimmon", {"partial_rotary_factor": 0.25, "rope_parameters": {"rope_type": "default",
                                                                      "partial_rotary_factor": 1.0}},
     "rope_parameters' is 1.0"),
    ("persimmon", {"qk_layernorm": "yes"}, "qk_layernorm"),
    ("apertus", {"hidden_act": "swiglu"}, "hidden_act"),
    ("apertus", {"mlp_bias": True}, "unknown key 'mlp_bias'"),
    ("apertus", {"head_dim": None}, "head_dim"),
]


@pytest.mark.parametrize("arch, change, message", REFUSALS, ids=[f"{a}-{next(iter(c))}" for a, c, _ in REFUSALS])
def test_refusals_name_the_key(arch, change, message):
    raw = {**_base(arch), **change}
    raw = {k: v for k, v in raw.items() if v != "absent"}
    with pytest.raises(CardError, match=message) as err:
        card_of(raw)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("arch", ["persimmon", "stablelm", "phi"])
def test_two_rotary_shares_are_refused_where_transformers_reads_the_nested_one(arch):
    """The refusal (hf_layouts.rotary_pct, every class) is of a file transformers reads by rope_parameters'
    share, not the top-level key's."""
    from hfcases import hf_config

    rope = {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 1.0}
    if arch == "persimmon":
        raw = {**_base("persimmon"), "partial_rotary_factor": 0.25, "rope_parameters": rope}
    else:
        raw = {"architectures": [{"stablelm": "StableLmForCausalLM", "phi": "PhiForCausalLM"}[arch]],
               "model_type": arch, "hidden_size": 32, "num_attention_heads": 4, "num_key_value_heads": 4,
               "intermediate_size": 48, "num_hidden_layers": 2, "vocab_size": 64, "partial_rotary_factor": 0.25,
               "rope_parameters": rope}
    assert hf_config(raw).rope_parameters["partial_rotary_factor"] == 1.0
    with pytest.raises(CardError, match="'partial_rotary_factor' is 0.25 but rope_parameters' is 1.0"):
        card_of(raw)
