"""More MoE classes read from config.json (hf_layouts_moe4), against transformers 5.24: HunYuan MoE and DBRX.

Random configurations of each class, with the keys that decide its layout drawn at random (and left
out, so that transformers' defaults are used, where symroof reads the same default); the same dict goes
to transformers' config class (``from_dict``) and to ``model_from_hf_config``:

- parameters on the meta device, in total and per group (exact), and the layers' norms and experts;
- FLOPs under FlopCounterMode (eager attention, ``experts_implementation="eager"``: the routed tokens
  only, as for the other MoE classes): forward and backward totals, forward per module, backward per
  decoder layer and for the head (exact);
- prefill T tokens and decode one: FLOPs, and the bytes of the keys and values transformers' cache
  holds after each (exact).

Each class draws from seeds of its own, so that adding a class changes no other class's cases.
"""

from __future__ import annotations

import random

import pytest

from hfcases import case_id as _case_id, case_sets, counted, flop_counter_torch, hf_config, hf_group
import hfcompare
from hfcompare import assert_phases_match, per_module

torch = flop_counter_torch()

from symroof.io.bind import count  # noqa: E402
from symroof.io.hf import model_from_hf_config  # noqa: E402

pytestmark = pytest.mark.validate

CLASSES = {"hunyuan_v1_moe": "HunYuanMoEV1ForCausalLM", "dbrx": "DbrxForCausalLM"}
GROUPS = ("embedding", "attention", "mlp", "norms", "unembedding")
_ATTN = {"self_attn.q_proj": ("attn/q",), "self_attn.k_proj": ("attn/k",), "self_attn.v_proj": ("attn/v",),
         "self_attn.o_proj": ("attn/o",)}
# transformers module(s) below a decoder layer -> the symroof nodes (last two path parts) owning the same matmuls
MODULES = {"hunyuan_v1_moe": {**_ATTN, "mlp.gate": ("moe/router",), "mlp.experts": ("moe/gate", "moe/up", "moe/down"),
                              "mlp.shared_mlp.gate_proj": ("shared/gate",), "mlp.shared_mlp.up_proj": ("shared/up",),
                              "mlp.shared_mlp.down_proj": ("shared/down",)},
           "dbrx": {"norm_attn_norm.attn.Wqkv": ("attn/q", "attn/k", "attn/v"),
                    "norm_attn_norm.attn.out_proj": ("attn/o",), "ffn.router": ("moe/router",),
                    "ffn.experts": ("moe/gate", "moe/up", "moe/down")}}
ATTENTION = {"hunyuan_v1_moe": "self_attn", "dbrx": "norm_attn_norm.attn"}     # the module whose own FLOPs, beside its projections, are the core
CORE = ("attn/scores", "attn/av")


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _maybe(rng: random.Random, raw: dict, key: str, value, p: float = 0.5) -> None:
    if rng.random() < p:
        raw[key] = value


def _hunyuan(rng: random.Random, small: bool) -> dict:
    layers = rng.choice((1, 2, 3)) if small else rng.randint(1, 6)
    heads = rng.choice((1, 2, 4)) if small else rng.randint(1, 12)
    head_dim = rng.choice((4, 8, 16)) if small else rng.randrange(4, 65, 4)
    width = heads * head_dim if rng.random() < 0.5 else heads * rng.choice((2, 4, 6, 8))
    experts = rng.randint(2, 6)
    ff = rng.randrange(8, 65, 4) if small else rng.randint(4, 600)
    raw = {"architectures": [CLASSES["hunyuan_v1_moe"]], "model_type": "hunyuan_v1_moe",
           "vocab_size": rng.randrange(16, 97), "num_hidden_layers": layers, "hidden_size": width,
           "num_attention_heads": heads, "intermediate_size": ff, "head_dim": head_dim,   # required: None fails
           "max_position_embeddings": 64, "bos_token_id": None, "eos_token_id": None, "pad_token_id": None,
           "eod_token_id": None, "sep_token_id": None}
    # K given, absent or null: N
    raw["num_key_value_heads"] = rng.choice((rng.choice(_divisors(heads)),) * 2 + (None, "absent"))
    k = rng.randint(1, experts)
    raw.update(rng.choice(({"num_experts": experts}, {"num_local_experts": experts})))
    raw.update(rng.choice(({"moe_topk": k}, {"moe_topk": [k] * layers}, {"num_experts_per_tok": k})))
    _maybe(rng, raw, "tie_word_embeddings", rng.random() < 0.5, 0.6)
    _maybe(rng, raw, "attention_bias", rng.random() < 0.5, 0.7)
    if rng.random() < 0.4:       # the original checkpoint's switches, at what transformers builds
        raw.update(use_cla=False, cla_share_factor=2, use_qk_norm=True, use_mixed_mlp_moe=True, mlp_bias=False,
                   num_shared_expert=rng.choice((1, [1] * layers)),
                   moe_intermediate_size=rng.choice((ff, [ff] * layers)), attention_head_dim=head_dim)
    return {k: v for k, v in raw.items() if v != "absent"}


def _dbrx(rng: random.Random, small: bool) -> dict:
    """Sizes at the top level, attention and MoE settings in attn_config / ffn_config, with the metadata
    transformers' to_dict writes into each sub-config at times."""
    layers = rng.choice((1, 2, 3)) if small else rng.randint(1, 6)
    heads = rng.choice((1, 2, 4)) if small else rng.randint(1, 12)
    width = heads * (rng.choice((4, 8, 16)) if small else rng.randrange(4, 65, 4))    # head_dim d_model // n_heads
    experts, kv = rng.randint(2, 6), rng.choice(_divisors(heads))
    attn = {"kv_n_heads": kv, "rope_theta": rng.choice((10000, 500000.0))}
    ffn = {"ffn_hidden_size": rng.randrange(8, 65, 4) if small else rng.randint(4, 600), "moe_num_experts": experts,
           "moe_top_k": rng.randint(1, experts)}
    attn["clip_qkv"] = rng.choice((8, 0.5, 0.05))     # required: transformers' forward fails without it
    _maybe(rng, attn, "attn_pdrop", rng.choice((0.0, 0.1)), 0.4)
    _maybe(rng, ffn, "moe_jitter_eps", rng.choice((None, 0.01)), 0.5)
    _maybe(rng, ffn, "ffn_act_fn", rng.choice(({"name": "silu"}, {"name": "gelu"}, None)), 0.5)
    _maybe(rng, ffn, "moe_normalize_expert_weights", rng.choice((1.0, 2.0, None)), 0.4)
    _maybe(rng, ffn, "moe_loss_weight", 0.05, 0.4)
    _maybe(rng, ffn, "hidden_size", width, 0.3)
    for sub in (attn, ffn):
        _maybe(rng, sub, "model_type", "", 0.5)
        if rng.random() < 0.3:
            sub.update(architectures=None, return_dict=True, is_encoder_decoder=False, _name_or_path="",
                       output_attentions=False, id2label={"0": "LABEL_0"}, label2id={"LABEL_0": 0})
    raw = {"architectures": [CLASSES["dbrx"]], "model_type": "dbrx", "vocab_size": rng.randrange(16, 97),
           "n_layers": layers, "d_model": width, "n_heads": heads, "max_seq_len": 64, "attn_config": attn,
           "ffn_config": ffn, "bos_token_id": None, "eos_token_id": None, "pad_token_id": None}
    _maybe(rng, raw, "tie_word_embeddings", False, 0.4)
    _maybe(rng, raw, "num_key_value_heads", kv, 0.3)          # to_dict writes it; transformers reads kv_n_heads
    _maybe(rng, raw, "resid_pdrop", rng.choice((0.0, 0.1)), 0.4)
    _maybe(rng, raw, "emb_pdrop", rng.choice((0.0, 0.1)), 0.4)
    _maybe(rng, raw, "router_aux_loss_coef", 0.05, 0.3)
    return raw


DRAW = {"hunyuan_v1_moe": _hunyuan, "dbrx": _dbrx}


def random_config(rng: random.Random, arch: str, small: bool) -> dict:
    return DRAW[arch](rng, small)


def _cases(arch: str, seeds: tuple, shapes: int):
    return case_sets(random_config, {arch: CLASSES[arch]}, seeds, shapes, (10, 6, 5), (16, 12))


PARAM_CASES, FLOP_CASES, PHASE_CASES = _cases("hunyuan_v1_moe", (20270801, 20270802, 20270803), 41)
_DBRX_CASES = _cases("dbrx", (20270811, 20270812, 20270813), 43)
PARAM_CASES, FLOP_CASES, PHASE_CASES = (ours + theirs for ours, theirs in
                                        zip((PARAM_CASES, FLOP_CASES, PHASE_CASES), _DBRX_CASES))


def case_id(raw: dict) -> str:
    """hfcases' test id; DBRX's sizes under its own names."""
    if raw["model_type"] != "dbrx":
        return _case_id(raw)
    attn, ffn = raw["attn_config"], raw["ffn_config"]
    return _case_id({"model_type": "dbrx", "num_hidden_layers": raw["n_layers"], "hidden_size": raw["d_model"],
                     "intermediate_size": ffn["ffn_hidden_size"], "num_attention_heads": raw["n_heads"],
                     "num_key_value_heads": attn["kv_n_heads"], "vocab_size": raw["vocab_size"],
                     "num_experts": ffn["moe_num_experts"], "num_experts_per_tok": ffn["moe_top_k"]})


def _card(raw: dict):
    return model_from_hf_config(dict(raw), f"random/{case_id(raw)}/config.json")


def _group(name: str) -> str:
    """hf_group, and DBRX's router (ffn.router.layer): the MLP's."""
    return "mlp" if "ffn" in name.split(".") else hf_group(name)


def _model(raw: dict, **extra):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_config(hf_config(raw), **extra)


def hf_counts(raw: dict) -> dict[str, int]:
    return hfcompare.hf_counts(raw, _group)


@pytest.mark.parametrize("raw", PARAM_CASES, ids=case_id)
def test_params_match_transformers(raw):
    ours, theirs = count(_card(raw), batch=1, seq=1), hf_counts(raw)
    assert ours.params_by_group == theirs, (case_id(raw), ours.params_by_group, theirs)
    assert ours.params_total == sum(theirs.values())


@pytest.mark.parametrize("raw", PARAM_CASES, ids=case_id)
def test_layers_match_the_layers_transformers_builds(raw):
    """Per layer: experts and their top-k, the shared MLP, the q/k norms' width; DBRX's fused Wqkv and
    bias-free LayerNorms."""
    with torch.device("meta"):
        model = _model(raw)
    card = _card(raw)
    assert card.layers == (("layer", card.n_layers),) and card.blocks["layer"].mlp == "moe"
    if raw["model_type"] == "dbrx":
        for block in model.transformer.blocks:
            assert (block.ffn.router.layer.out_features, block.ffn.top_k) == (card.n_experts, card.experts_per_token)
            assert block.norm_attn_norm.attn.Wqkv.out_features == (card.n_heads + 2 * card.n_kv_heads) * card.head_dim
            assert block.norm_attn_norm.norm_1.bias is None and card.norm == "rms" and card.fused_qkv
        assert model.lm_head.weight is not model.transformer.wte.weight and not card.tie_embeddings
        return
    for layer in model.model.layers:
        assert (layer.mlp.gate.num_experts, layer.mlp.gate.top_k) == (card.n_experts, card.experts_per_token)
        assert layer.mlp.shared_mlp.up_proj.out_features == card.d_ff_shared == card.d_ff
        assert layer.self_attn.query_layernorm.weight.numel() == card.head_dim and card.qk_norm


@pytest.mark.parametrize("raw, batch, seq", FLOP_CASES, ids=[f"{case_id(r)}-B{b}T{t}" for r, b, t in FLOP_CASES])
def test_flops_match_flop_counter_mode(raw, batch, seq):
    card = _card(raw)
    ours = count(card, batch=batch, seq=seq, attention="full")
    torch.manual_seed(0)
    model = _model(raw, attn_implementation="eager", experts_implementation="eager")
    forward, backward, both = counted(model, raw["vocab_size"], batch, seq)
    assert ours.flops_forward == forward.get_total_flops()
    assert ours.flops_backward == backward.get_total_flops()

    theirs, mine = per_module(forward), {}
    for name, phases in ours.flops_by_module.items():
        if name != "unembed":
            owner = "/".join(name.split("/")[-2:])
            mine[owner] = mine.get(owner, 0) + phases["forward"]
    arch = raw["model_type"]
    for module, nodes in MODULES[arch].items():
        assert sum(mine.get(n, 0) for n in nodes) == theirs.get(module, 0), module
    attention = ATTENTION[arch]
    inside = sum(v for m, v in theirs.items() if m.startswith(attention + "."))
    assert sum(mine.get(n, 0) for n in CORE) == theirs[attention] - inside, "attention core"
    assert ours.flops_by_module["unembed"]["forward"] == theirs["lm_head"]
    layer_nodes = [n for n in ours.flops_by_module if n != "unembed" and "/" in n]
    assert sum(ours.flops_by_module[n]["forward"] for n in layer_nodes) == theirs["layer"]
    combined = per_module(both)
    assert sum(ours.flops_by_module[n]["backward"] for n in layer_nodes) == combined["layer"] - theirs["layer"]
    assert ours.flops_by_module["unembed"]["backward"] == combined["lm_head"] - theirs["lm_head"]


@pytest.mark.parametrize("raw, batch, seq", PHASE_CASES, ids=[f"{case_id(r)}-B{b}T{t}" for r, b, t in PHASE_CASES])
def test_prefill_decode_flops_and_cache_bytes(raw, batch, seq):
    torch.manual_seed(0)
    model = _model(raw, attn_implementation="eager", experts_implementation="eager").eval()
    # DBRX's experts index views of their weights inside the forward: under no_grad such a view still
    # requires grad, without a grad_fn, and FlopCounterMode's module tracker refuses it; frozen weights
    # change no FLOP
    model.requires_grad_(False)
    assert_phases_match(_card(raw), model, raw["vocab_size"], batch, seq)


def _all_cases():
    return PARAM_CASES + [r for r, _, _ in FLOP_CASES + PHASE_CASES]


def test_cases_cover_the_variants():
    dbrx = [(raw, _card(raw)) for raw in _all_cases() if raw["model_type"] == "dbrx"]
    assert {c.n_kv_heads == c.n_heads for _, c in dbrx} == {True, False}
    assert any(c.experts_per_token > 1 for _, c in dbrx)
    assert all(any(n.startswith("clip_qkv") for n in c.left_out) for _, c in dbrx)
    assert {any(n.startswith("dropout") for n in c.left_out) for _, c in dbrx} == {True, False}
    assert {any(n.startswith("moe_jitter_eps") for n in c.left_out) for _, c in dbrx} == {True, False}
    assert any("return_dict" in raw["attn_config"] for raw, _ in dbrx)
    group = [(raw, _card(raw)) for raw in _all_cases() if raw["model_type"] == "hunyuan_v1_moe"]
    assert {c.tie_embeddings for _, c in group} == {True, False}
    assert {c.n_kv_heads == c.n_heads for _, c in group} == {True, False}
    assert {c.qkv_bias for _, c in group} == {True, False}
    assert any(c.head_dim * c.n_heads != c.d_model for _, c in group)
    assert any(c.experts_per_token > 1 for _, c in group)
    assert {type(raw.get("moe_topk")) for raw, _ in group} == {int, list, type(None)}
    assert any("use_cla" in raw for raw, _ in group) and any("num_key_value_heads" not in raw for raw, _ in group)
