"""Recent config.json classes (hf_layouts_recent, hf_keys_recent) against transformers 5.24: VaultGemma,
HunYuan Dense, ...

Random configurations of each class, with the keys that decide its layout drawn at random (and left out,
so that transformers' defaults are used, where symroof reads the same default), go through
``model_from_hf_config`` exactly as a ``config.json`` does, and the same dict through transformers' config
class (``from_dict``):

- parameters on the meta device, in total and per group (exact); per layer, the window transformers gives
  the attention (None: global) and the norms it builds;
- FLOPs under FlopCounterMode (eager attention, ``attention="full"``): forward and backward totals, forward
  per module, backward per decoder layer and for the head (exact);
- prefill T tokens and decode one: FLOPs, and the bytes of the keys and values transformers' cache holds
  after each (exact);
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
from hfcompare import base_config, card_of, cards_by_class, class_checks, layer_types, meta_layers  # noqa: E402
import test_blocks_vs_transformers as blocks  # noqa: E402
from symroof.errors import CardError  # noqa: E402

pytestmark = pytest.mark.validate

CLASSES = {"vaultgemma": "VaultGemmaForCausalLM", "hunyuan_v1_dense": "HunYuanDenseV1ForCausalLM",
           "solar_open": "SolarOpenForCausalLM", "jais2": "Jais2ForCausalLM", "cohere2_moe": "Cohere2MoeForCausalLM",
           "exaone_moe": "ExaoneMoeForCausalLM"}
_SHARED = {f"mlp.shared_experts.{m}_proj": (f"shared/{m}",) for m in ("gate", "up", "down")}
blocks.MODULES.update(vaultgemma=blocks._LLAMA_LIKE, hunyuan_v1_dense=blocks._LLAMA_LIKE,
                      solar_open={**blocks.LLAMA_ATTENTION, **blocks._MOE, **_SHARED},
                      jais2={**blocks.LLAMA_ATTENTION, "mlp.up_proj": ("mlp/up",), "mlp.down_proj": ("mlp/down",)},
                      cohere2_moe={**blocks._LLAMA_LIKE, **blocks._MOE, **_SHARED},
                      exaone_moe={**blocks._LLAMA_LIKE, **blocks._MOE, **_SHARED})


def _vaultgemma(rng, raw, layers, head_dim):
    """K and head_dim required (4 and 256: its reference model's); layer_types or even layers sliding."""
    if rng.random() < 0.5:
        raw["layer_types"] = layer_types(rng, layers)
    kinds = raw.get("layer_types") or ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(layers)]
    if "sliding_attention" in kinds:
        raw["sliding_window"] = rng.randint(2, 12)
    else:
        maybe(rng, raw, "sliding_window", 7)          # absent: 4096; null fails (its sliding mask is built anyway)
    maybe(rng, raw, "attention_bias", rng.random() < 0.5, 0.7)
    maybe(rng, raw, "hidden_activation", rng.choice(("gelu_pytorch_tanh", "gelu", "silu")))
    maybe(rng, raw, "query_pre_attn_scalar", rng.choice((head_dim, 16)))
    maybe(rng, raw, "final_logit_softcapping", rng.choice((None, 30.0)))
    maybe(rng, raw, "attn_logit_softcapping", rng.choice((None, 50.0)))


def _hunyuan_dense(rng, raw, layers, head_dim):
    """K given, absent or null (N); head_dim required (None does not build), not always D // N."""
    raw["num_key_value_heads"] = rng.choice((raw["num_key_value_heads"],) * 2 + (None, "absent"))
    raw["head_dim"] = rng.choice((head_dim, rng.choice((4, 8, 12))))
    maybe(rng, raw, "attention_bias", rng.random() < 0.5, 0.7)
    maybe(rng, raw, "eod_token_id", None)
    if rng.random() < 0.4:       # the original checkpoint's switches, at what transformers builds
        raw.update(use_cla=False, cla_share_factor=2, use_qk_norm=True, mlp_bias=False,
                   attention_head_dim=raw["head_dim"])


def _solar_open(rng, raw, layers, head_dim):
    """K, head_dim, experts and their width required; no intermediate_size; every layer MoE."""
    ff = raw.pop("intermediate_size")
    experts = rng.randint(2, 6)
    raw.update(rng.choice(({"n_routed_experts": experts}, {"num_local_experts": experts})),
               num_experts_per_tok=rng.randint(1, experts), moe_intermediate_size=ff, n_group=1, topk_group=1)
    raw["head_dim"] = rng.choice((head_dim, rng.choice((4, 8, 12))))
    maybe(rng, raw, "n_shared_experts", rng.choice((0, 1, 2)), 0.7)
    maybe(rng, raw, "attention_bias", rng.random() < 0.5, 0.7)
    maybe(rng, raw, "norm_topk_prob", rng.random() < 0.5)
    maybe(rng, raw, "routed_scaling_factor", rng.choice((1.0, 2.5)))
    if rng.random() < 0.4:
        raw["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000.0,
                                  "partial_rotary_factor": 1.0}


def _jais2(rng, raw, layers, head_dim):
    """K and head_dim given, absent or null (N, D // N); both biases default true; relu2 by default."""
    raw["num_key_value_heads"] = rng.choice((raw["num_key_value_heads"],) * 2 + (None, "absent"))
    raw["head_dim"] = rng.choice((raw["head_dim"], rng.choice((4, 12)), None, "absent"))
    for key in ("attention_bias", "mlp_bias"):
        maybe(rng, raw, key, rng.random() < 0.5, 0.7)
    maybe(rng, raw, "hidden_act", rng.choice(("relu2", "gelu", "silu")), 0.5)
    maybe(rng, raw, "layer_norm_eps", 1e-6)


def _cohere2_moe(rng, raw, layers, head_dim):
    """K given, absent or null (N); head_dim required (128); layers from lists, first_k_dense_replace or patterns."""
    raw["num_key_value_heads"] = rng.choice((raw["num_key_value_heads"],) * 2 + (None, "absent"))
    raw["head_dim"] = rng.choice((head_dim, rng.choice((4, 8, 12))))
    experts = rng.randint(2, 6)
    raw.update(num_experts=experts, num_experts_per_tok=rng.randint(1, experts))
    how = rng.choice(("lists", "first_k", "patterns"))
    if how == "lists":
        raw["layer_types"] = layer_types(rng, layers)
        raw["mlp_layer_types"] = [rng.choice(("dense", "sparse")) for _ in range(layers)]
    elif how == "first_k":
        raw["first_k_dense_replace"] = rng.randint(0, layers)
    maybe(rng, raw, "prefix_dense_sliding_window_pattern", rng.choice((1, 2, 3)))
    maybe(rng, raw, "sliding_window_pattern", rng.choice((1, 2, 3, 4)))
    maybe(rng, raw, "sliding_window", rng.randint(2, 12), 0.9)      # absent: 4096; null fails (its mask)
    maybe(rng, raw, "num_shared_experts", rng.choice((0, 1, 2)), 0.7)
    maybe(rng, raw, "shared_expert_combination_strategy", rng.choice(("sum", "average")))
    maybe(rng, raw, "expert_selection_fn", rng.choice(("softmax", "sigmoid")))
    maybe(rng, raw, "prefix_dense_intermediate_size", rng.randrange(4, 65, 4))
    maybe(rng, raw, "rms_norm_eps", 1e-5)
    maybe(rng, raw, "attention_bias", rng.random() < 0.5, 0.7)
    maybe(rng, raw, "logit_scale", rng.choice((0.0625, 1.0)))


def _exaone_moe(rng, raw, layers, head_dim):
    """K required (32); head_dim read when given, else D // N; EXAONE 4.0's layer kinds; MoE placement by list or
    first_k_dense_replace (required: 1 is its reference model's)."""
    if rng.random() < 0.4:
        del raw["head_dim"]
    else:
        raw["head_dim"] = rng.choice((4, 8, 12, head_dim))
    experts = rng.randint(2, 6)
    raw.update(num_experts=experts, num_experts_per_tok=rng.randint(1, experts), n_group=1, topk_group=1,
               moe_intermediate_size=rng.randrange(4, 33, 4), num_shared_experts=rng.choice((0, 1, 2)))
    if rng.random() < 0.5:
        raw["mlp_layer_types"] = [rng.choice(("dense", "sparse")) for _ in range(layers)]
        maybe(rng, raw, "first_k_dense_replace", 1)
    else:
        raw["first_k_dense_replace"] = rng.randint(0, layers)
    choice = rng.choice(("layer_types", "pattern"))      # a null window fails its type check
    if choice == "layer_types":
        raw["layer_types"] = layer_types(rng, layers)
    else:
        maybe(rng, raw, "sliding_window_pattern", rng.choice((1, 2, 3)))
    kinds = raw.get("layer_types") or ["sliding_attention" if (i + 1) % raw.get("sliding_window_pattern", 4)
                                       else "full" for i in range(layers)]
    if "sliding_attention" in kinds:
        raw["sliding_window"] = rng.randint(2, 12)
    else:
        maybe(rng, raw, "sliding_window", rng.randint(2, 12))
    maybe(rng, raw, "routed_scaling_factor", rng.choice((1.0, 2.5)))


DRAW = {"exaone_moe": _exaone_moe, "vaultgemma": _vaultgemma, "hunyuan_v1_dense": _hunyuan_dense, "solar_open": _solar_open, "jais2": _jais2,
        "cohere2_moe": _cohere2_moe}


def random_config(rng: random.Random, arch: str, small: bool) -> dict:
    """A random config of ``arch``; required keys always given, the others given or left out at random."""
    layers = rng.choice((1, 2, 3, 4)) if small else rng.randint(1, 8)
    heads = rng.choice((1, 2, 4)) if small else rng.randint(1, 12)
    head_dim = rng.choice((8, 16, 20)) if small else rng.choice((8, 12, 16, 20, 40, 64))
    raw = base_config(rng, CLASSES, arch, small, layers, heads, heads * head_dim, head_dim=head_dim)
    maybe(rng, raw, "tie_word_embeddings", rng.random() < 0.5, 0.6)
    DRAW[arch](rng, raw, layers, head_dim)
    return {k: v for k, v in raw.items() if v != "absent"}


def _cases(arch: str, seed: int):
    return case_sets(random_config, {arch: CLASSES[arch]}, (seed, seed + 1, seed + 2), seed + 3, (8, 4, 4), (16, 14))


SETS = {"vaultgemma": _cases("vaultgemma", 20271201), "hunyuan_v1_dense": _cases("hunyuan_v1_dense", 20271211),
        "solar_open": _cases("solar_open", 20271221), "jais2": _cases("jais2", 20271231),
        "cohere2_moe": _cases("cohere2_moe", 20271241), "exaone_moe": _cases("exaone_moe", 20271251)}
PARAM_CASES = [raw for sets in SETS.values() for raw in sets[0]]
FLOP_CASES = [case for sets in SETS.values() for case in sets[1]]
PHASE_CASES = [case for sets in SETS.values() for case in sets[2]]


# parameters, training FLOPs and prefill/decode against transformers: the checks every class module runs
test_params_match_transformers, test_flops_match_flop_counter_mode, test_prefill_decode_flops_and_cache_bytes = \
    class_checks(PARAM_CASES, FLOP_CASES, PHASE_CASES)


@pytest.mark.parametrize("raw", PARAM_CASES, ids=case_id)
def test_layers_match_the_layers_transformers_builds(raw):
    """Per layer: the window transformers gives the attention, and the norms it builds."""
    model, card, kinds = meta_layers(raw)
    layers = model.model.layers
    assert [getattr(layer.self_attn, "sliding_window", None) if getattr(layer.self_attn, "is_sliding", True) else None
            for layer in layers] == \
        [card.sliding_window if k.attention == "sliding" else None for k in kinds]
    norms = [m for m in layers[0]._modules if "norm" in m]
    assert len(norms) == card.norms_per_layer
    if raw["model_type"] == "hunyuan_v1_dense":
        assert layers[0].self_attn.query_layernorm.weight.numel() == card.head_dim and card.qk_norm
    if raw["model_type"] == "solar_open":
        assert all(hasattr(layer.mlp, "experts") for layer in layers) and all(k.mlp == "moe" for k in kinds)
        assert layers[0].self_attn.o_proj.bias is None and not card.o_bias
    if raw["model_type"] == "cohere2_moe":
        assert [hasattr(layer.mlp, "experts") for layer in layers] == [k.mlp == "moe" for k in kinds]
        nope = sum(not (layer.self_attn.sliding_window is not None or layer.self_attn.force_rope) for layer in layers)
        notes = [n for n in card.left_out if n.startswith("no RoPE")]
        assert len(notes) == bool(nope) and all(n.startswith(f"no RoPE on {nope} of {card.n_layers} ") for n in notes)
        rms = type(layers[0].input_layernorm).__name__ == "Cohere2MoeRMSNorm"
        assert rms == (raw.get("rms_norm_eps") is not None) and card.norm == "rms" and card.parallel_residual
        assert any(n.startswith("LayerNorm without a bias") for n in card.left_out) != rms
    if raw["model_type"] == "exaone_moe":
        assert [hasattr(layer.mlp, "experts") for layer in layers] == [k.mlp == "moe" for k in kinds]
        attn = [layer.self_attn for layer in layers]
        nope = sum(not (a.sliding_window is None or a.is_sliding) for a in attn)     # its forward's RoPE test
        notes = [n for n in card.left_out if n.startswith("no RoPE")]
        assert len(notes) == bool(nope) and all(n.startswith(f"no RoPE on {nope} of {card.n_layers} ") for n in notes)
        assert hasattr(layers[0], "input_layernorm") and card.norm_placement == "pre"
        assert attn[0].q_norm.weight.numel() == card.head_dim and card.qk_norm
    if raw["model_type"] == "jais2":
        assert not hasattr(layers[0].mlp, "gate_proj") and card.mlp == "plain"
        assert layers[0].input_layernorm.bias is not None and card.norm == "layer"
    if raw["model_type"] == "vaultgemma":
        assert not hasattr(layers[0], "post_attention_layernorm") and card.norm_placement == "pre"
        caps = [n for n in card.left_out if n.startswith("tanh soft-capping")]
        assert bool(caps) == any(getattr(model.config, k) is not None
                                 for k in ("final_logit_softcapping", "attn_logit_softcapping"))


def test_cases_cover_the_variants():
    cards = cards_by_class(CLASSES, PARAM_CASES, [c[0] for c in FLOP_CASES], [c[0] for c in PHASE_CASES])
    for arch, group in cards.items():
        assert {c.tie_embeddings for _, c in group} == {True, False}
        assert {c.n_kv_heads == c.n_heads for _, c in group} == {True, False}
        assert {c.qkv_bias for _, c in group} == {True, False} or arch == "exaone_moe"
        assert {c.n_experts > 1 for _, c in group} == {arch in ("solar_open", "cohere2_moe", "exaone_moe")} or \
            arch in ("cohere2_moe", "exaone_moe")
        assert any(c.head_dim * c.n_heads != c.d_model for _, c in group) or arch == "vaultgemma"
    vault = cards["vaultgemma"]
    assert any(len(c.blocks) > 1 for _, c in vault) and any("layer_types" not in raw for raw, _ in vault)
    solar = cards["solar_open"]
    assert {c.d_ff_shared // c.d_ff_expert for _, c in solar} == {0, 1, 2}
    assert any("rope_parameters" in raw for raw, _ in solar)
    cohere = cards["cohere2_moe"]
    assert any({b.mlp for b in c.blocks.values()} == {"dense", "moe"} for _, c in cohere)
    assert any("first_k_dense_replace" in raw and 0 < raw["first_k_dense_replace"] for raw, _ in cohere)
    assert {c.d_ff_shared > 0 for _, c in cohere} == {True, False} and any(c.d_ff != c.d_ff_expert for _, c in cohere)
    assert any(n.startswith("no RoPE") for _, c in cohere for n in c.left_out)
    exaone = cards["exaone_moe"]
    assert any({b.mlp for b in c.blocks.values()} == {"dense", "moe"} for _, c in exaone)
    assert any("mlp_layer_types" not in raw for raw, _ in exaone) and {c.d_ff_shared > 0 for _, c in exaone} == {True, False}
    assert any(n.startswith("no RoPE") for _, c in exaone for n in c.left_out)
    jais = cards["jais2"]
    assert {c.mlp_bias for _, c in jais} == {True, False} and any(raw.get("hidden_act", "relu2") == "relu2"
                                                                   for raw, _ in jais)
    hunyuan = cards["hunyuan_v1_dense"]
    assert any("num_key_value_heads" not in raw for raw, _ in hunyuan) and any("use_cla" in raw for raw, _ in hunyuan)


def _base(arch: str) -> dict:
    return dict(SETS[arch][0][0])


REFUSALS = [
    ("vaultgemma", {"head_dim": None}, "key 'head_dim' is null"),
    ("vaultgemma", {"num_key_value_heads": None}, "num_key_value_heads"),
    ("vaultgemma", {"layer_types": ["sliding_attention"] * 99}, "layer_types"),
    ("vaultgemma", {"use_bidirectional_attention": True}, "use_bidirectional_attention"),
    ("vaultgemma", {"sliding_window": None}, "key 'sliding_window' is null"),
    ("solar_open", {"intermediate_size": 64}, "unknown key 'intermediate_size'"),
    ("solar_open", {"first_k_dense_replace": 1}, "unknown key 'first_k_dense_replace'"),
    ("solar_open", {"use_qk_norm": True}, "unknown key 'use_qk_norm'"),
    ("solar_open", {"n_shared_experts": None}, "key 'n_shared_experts' is null"),
    ("solar_open", {"rope_parameters": {"rope_type": "default", "partial_rotary_factor": 0.5}}, "partial_rotary_factor"),
    ("solar_open", {"moe_intermediate_size": None}, "moe_intermediate_size"),
    ("solar_open", {"num_key_value_heads": None}, "num_key_value_heads"),
    ("jais2", {"hidden_size": 30, "num_attention_heads": 4, "head_dim": 8}, "must be a multiple of"),
    ("jais2", {"hidden_act": "swiglu"}, "hidden_act"),
    ("jais2", {"use_qk_norm": True}, "unknown key 'use_qk_norm'"),
    ("cohere2_moe", {"sliding_window": None}, "key 'sliding_window' is null"),
    ("cohere2_moe", {"head_dim": None}, "key 'head_dim' is null"),
    ("cohere2_moe", {"mlp_layer_types": ["moe"]}, "mlp_layer_types"),
    ("cohere2_moe", {"first_k_dense_replace": 999}, "first_k_dense_replace"),
    ("cohere2_moe", {"expert_selection_fn": "topk"}, "expert_selection_fn"),
    ("cohere2_moe", {"shared_expert_combination_strategy": "max"}, "shared_expert_combination_strategy"),
    ("exaone_moe", {"mlp_layer_types": None, "first_k_dense_replace": None}, "first_k_dense_replace"),
    ("exaone_moe", {"mlp_layer_types": ["moe"]}, "mlp_layer_types"),
    ("exaone_moe", {"num_shared_experts": None}, "num_shared_experts"),
    ("exaone_moe", {"moe_intermediate_size": None}, "moe_intermediate_size"),
    ("exaone_moe", {"sliding_window": None}, "key 'sliding_window' is null"),
    ("exaone_moe", {"num_key_value_heads": None}, "num_key_value_heads"),
    ("hunyuan_v1_dense", {"head_dim": None}, "head_dim"),
    ("hunyuan_v1_dense", {"use_cla": True}, "use_cla"),
    ("hunyuan_v1_dense", {"mlp_bias": True}, "mlp_bias"),
    ("hunyuan_v1_dense", {"num_experts": 4}, "num_experts"),
]


@pytest.mark.parametrize("arch, change, message", REFUSALS, ids=[f"{a}-{next(iter(c))}" for a, c, _ in REFUSALS])
def test_refusals_name_the_key(arch, change, message):
    raw = {**_base(arch), **change}
    with pytest.raises(CardError, match=message) as err:
        card_of(raw)
    assert "\n" not in str(err.value)
