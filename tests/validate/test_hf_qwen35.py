"""Qwen3.5 (``Qwen3_5ForCausalLM``) and Qwen3.5-MoE (``Qwen3_5MoeForCausalLM``) against transformers 5.24.

Independent numbers: the parameters transformers builds on the meta device (per group, exact), FlopCounterMode
over its modules, and the tensors its cache holds. Both are Qwen3-Next's hybrid layers (Gated DeltaNet beside
gated full attention): what FlopCounterMode counts differently in the linear layers' conv and recurrent core is
stated and asserted exactly as in test_linear_attention.py (its helpers are reused: the conv's padded outputs,
the chunked fallback's matmuls, the decode core's uncounted elementwise products). Everything else is exact
(tolerance 0): the four projections Qwen3.5 splits Qwen3-Next's two into (in_proj_qkv, in_proj_z, in_proj_b,
in_proj_a), out_proj, the full-attention layers, the dense MLP or the MoE block, forward and backward.
"""

from __future__ import annotations

import random

import pytest

from hfcases import counted, flop_counter_torch, hf_config, prefill_then_decode
from hfcompare import assert_params_match, card_of
from test_linear_attention import _chunked_core, _conv, _hand_core, _held

torch = flop_counter_torch()

from symroof.core import derive  # noqa: E402
from symroof.core.graph import Structure, build  # noqa: E402
from symroof.core.symbols import B, S, T, b_kv  # noqa: E402
from symroof.errors import CardError  # noqa: E402
from symroof.io.bind import count, evaluate, model_values  # noqa: E402
from symroof.io.hf import model_from_hf_config  # noqa: E402

pytestmark = pytest.mark.validate
CLASSES = {"qwen3_5_text": "Qwen3_5ForCausalLM", "qwen3_5_moe_text": "Qwen3_5MoeForCausalLM"}


def _random(rng: random.Random, arch: str, small: bool) -> dict:
    layers, heads = rng.randint(2, 6), rng.choice((1, 2, 4, 6))
    raw = {"architectures": [CLASSES[arch]], "model_type": arch, "vocab_size": rng.randrange(16, 97),
           "num_hidden_layers": layers, "hidden_size": rng.randrange(8, 65 if small else 257, 8),
           "num_attention_heads": heads, "num_key_value_heads": rng.choice([k for k in (1, 2, 3, 6) if heads % k == 0]),
           "head_dim": rng.choice((8, 16, 24)), "attention_bias": rng.random() < 0.5,
           "tie_word_embeddings": rng.random() < 0.3, "max_position_embeddings": 64,
           "bos_token_id": None, "eos_token_id": None, "pad_token_id": None}
    key_heads = rng.choice((1, 2, 4))
    raw.update(linear_num_key_heads=key_heads, linear_num_value_heads=key_heads * rng.choice((1, 2, 3)),
               linear_key_head_dim=rng.choice((4, 8, 16)), linear_value_head_dim=rng.choice((4, 8, 12)),
               linear_conv_kernel_dim=rng.choice((2, 3, 4)))
    if rng.random() < 0.5:
        raw["full_attention_interval"] = rng.randint(1, 4)          # 1: no linear layers at all
    else:
        raw["layer_types"] = [rng.choice(("linear_attention", "full_attention")) for _ in range(layers)]
    if rng.random() < 0.5:
        raw["partial_rotary_factor"] = rng.choice((0.25, 0.5))
    if rng.random() < 0.5:      # the published files' keys transformers never reads
        raw.update(attn_output_gate=True, mtp_num_hidden_layers=1, mtp_use_dedicated_embeddings=False)
    if arch == "qwen3_5_text":
        raw["intermediate_size"] = rng.randrange(8, 65 if small else 401, 4)
    else:
        experts = rng.randint(2, 6)
        raw.update(num_experts=experts, num_experts_per_tok=rng.randint(1, experts),
                   moe_intermediate_size=rng.randrange(4, 33 if small else 129, 4),
                   shared_expert_intermediate_size=rng.randrange(4, 33 if small else 129, 4))
    return raw


def _configs(seed: int, each: int, small: bool) -> list[dict]:
    rng = random.Random(seed)
    return [_random(rng, arch, small) for _ in range(each) for arch in CLASSES]


def _all_full(raw: dict) -> dict:
    """``raw`` with every layer full attention (the linear sizes then unused)."""
    return {**{k: v for k, v in raw.items() if k != "layer_types"}, "full_attention_interval": 1}


PARAMS = _configs(35, 8, False)                                  # 8 of each class
PARAMS[-2:] = [_all_full(raw) for raw in PARAMS[-2:]]
# Seeds whose FLOP and phase configs all have a full-attention layer: with linear layers only, transformers 5.24's
# forward with its default use_cache fails (DynamicCache.get_seq_length needs an attention layer)
FLOPS = [(raw, b, t) for raw, b, t in zip(_configs(358, 2, True), (1, 2, 3, 2), (7, 64, 70, 12))]
PHASES = [(raw, b, t) for raw, b, t in zip(_configs(359, 2, True), (2, 1, 3, 1), (3, 9, 5, 2))]


def _id(raw) -> str:
    return f"{raw['model_type']}-L{raw['num_hidden_layers']}-D{raw['hidden_size']}"


def _model(raw):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(hf_config(raw), attn_implementation="eager",
                                            experts_implementation="eager")


@pytest.mark.parametrize("raw", PARAMS, ids=_id)
def test_params_per_group_match_transformers(raw):
    assert_params_match(raw)


@pytest.mark.parametrize("raw", PARAMS, ids=_id)
def test_layer_kinds_match_transformers(raw):
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(hf_config(raw))
    card = card_of(raw)
    kinds = [card.blocks[name] for name, n in card.layers for _ in range(n)] if card.layers else \
        [None] * raw["num_hidden_layers"]
    assert [hasattr(layer, "linear_attn") for layer in model.model.layers] == \
        [k is not None and k.attention == "linear" for k in kinds]
    moe = raw["model_type"] == "qwen3_5_moe_text"
    assert all(hasattr(layer.mlp, "experts") == moe for layer in model.model.layers)
    assert card.n_experts == (raw["num_experts"] if moe else 1)


def test_cases_cover_the_variants():
    cases = PARAMS + [r for r, _, _ in FLOPS + PHASES]
    linear = [raw_has_linear(card_of(r)) for r in cases]
    assert not all(linear) and any(linear)                              # all full attention, and hybrids
    assert {r["attention_bias"] for r in cases} == {True, False}
    assert {r.get("tie_word_embeddings") for r in cases} == {True, False}
    assert any("layer_types" in r for r in cases) and any("full_attention_interval" in r for r in cases)
    flop_cards = [card_of(r) for r, _, _ in FLOPS]
    assert sum(raw_has_linear(c) for c in flop_cards) >= 3


def _nodes(g, values, phase):
    return {n: evaluate(d["flops"], values) for n, d in g.nodes(data=True) if d["phase"] == phase}


def _of_forward(g, values):
    """symroof's backward FLOPs per forward node."""
    out: dict[str, int] = {}
    for n, d in g.nodes(data=True):
        if d["phase"] == "backward":
            out[d["forward"]] = out.get(d["forward"], 0) + evaluate(d["flops"], values)
    return out


@pytest.mark.parametrize("raw,batch,seq", FLOPS, ids=lambda v: _id(v) if isinstance(v, dict) else str(v))
def test_training_flops_per_module(raw, batch, seq):
    model, card = _model(raw), card_of(raw)
    forward, backward, both = counted(model, raw["vocab_size"], batch, seq)
    ours = count(card, batch=batch, seq=seq, attention="full")
    g = build(Structure.of(card, seq), "full", phase="train")
    values = {**model_values(card), B: batch, T: seq}
    # forward total: exact but for the linear layers' conv padding and chunked core (module docstring)
    expected = ours.flops_forward
    if raw_has_linear(card):
        expected += _chunked_core(raw, batch, seq) - _hand_core(raw, batch, seq) + \
            _conv(raw, batch, raw["linear_conv_kernel_dim"] - 1)
    assert forward.get_total_flops() == expected
    fwd, bwd = _nodes(g, values, "forward"), _of_forward(g, values)
    # backward per module: the combined count less the forward (FlopCounterMode files a backward run alone
    # under Global only)
    f_counts, b_counts = forward.get_flop_counts(), {
        key: {"all": sum(ops.values()) - sum(forward.get_flop_counts().get(key, {}).values())}
        for key, ops in both.get_flop_counts().items()}

    order = [name for name, n in card.layers for _ in range(n)] or ["layer"] * raw["num_hidden_layers"]
    prefix = f"{CLASSES[raw['model_type']]}.model.layers"
    for i, block in enumerate(order):
        def theirs(counts, mod):
            return sum(counts.get(f"{prefix}.{i}.{mod}", {}).values())

        def mine(table, part, *names):
            return sum(table.get(f"{block}/{part}/{n}", 0) for n in names)

        if card.blocks[block].attention == "linear":
            for mod, names in (("in_proj_qkv", ("q", "k", "v")), ("in_proj_z", ("z",)), ("in_proj_b", ("b",)),
                               ("in_proj_a", ("a",)), ("out_proj", ("out",))):
                assert theirs(f_counts, f"linear_attn.{mod}") == mine(fwd, "lin", *names), (i, mod)
        else:
            attn = [n.split("/")[-1] for n in fwd if n.startswith(f"{block}/attn/")]
            assert theirs(f_counts, "self_attn") == mine(fwd, "attn", *attn), i     # q doubled for its gate
            # a full-attention layer's backward whole (FlopCounterMode files part of a module's backward
            # under its neighbours, so per layer, as the other classes' tests; a linear layer's holds the
            # chunked core's backward, not stated: its rule is test_linear_attention's)
            layer = sum(v for n, v in bwd.items() if n.startswith(f"{block}/"))
            assert sum(b_counts.get(f"{prefix}.{i}", {}).values()) == layer, i
        # the MLP module: dense (mlp/), or router, routed experts (moe/) and the gated shared expert (shared/)
        mlp = sum(v for n, v in fwd.items() if n.split("/")[:2] in ([block, "mlp"], [block, "moe"], [block, "shared"]))
        assert theirs(f_counts, "mlp") == mlp > 0, i
    head = f"{CLASSES[raw['model_type']]}.lm_head"
    assert sum(f_counts[head].values()) == fwd["unembed"]
    assert sum(b_counts[head].values()) == bwd["unembed"]


def raw_has_linear(card) -> bool:
    return any(card.blocks[name].attention == "linear" for name, _ in card.layers)


@pytest.mark.parametrize("raw,batch,seq", PHASES, ids=lambda v: _id(v) if isinstance(v, dict) else str(v))
def test_prefill_decode_flops_and_the_states_transformers_keeps(raw, batch, seq):
    model, card = _model(raw).eval(), card_of(raw)
    prefill, decode, held_prefill, held_decode, _ = prefill_then_decode(model, raw["vocab_size"], batch, seq, _held)
    values = {**model_values(card), B: batch, b_kv: 1}
    pre = build(Structure.of(card, seq), "full", phase="prefill")
    dec = build(Structure.of(card, seq + 1), "full", phase="decode")
    ours_pre = evaluate(derive.flops(pre, "forward"), {**values, T: seq})
    ours_dec = evaluate(derive.flops(dec, "forward"), {**values, S: seq + 1})
    if raw_has_linear(card):
        width = raw["linear_conv_kernel_dim"]     # a prefill shorter than W is padded to W first
        ours_pre += _chunked_core(raw, batch, seq) - _hand_core(raw, batch, seq) + \
            _conv(raw, batch, max(seq, width) + width - 1 - seq)
        ours_dec += _conv(raw, batch, 1) - _hand_core(raw, batch, 1)
    assert prefill.get_total_flops() == ours_pre
    assert decode.get_total_flops() == ours_dec
    assert evaluate(derive.kv_cache_bytes(pre), {**values, T: seq}) == held_prefill
    assert evaluate(derive.kv_cache_bytes(dec), {**values, S: seq + 1}) == held_decode


def test_phase_cases_hold_linear_state():
    assert sum(raw_has_linear(card_of(r)) for r, _, _ in PHASES) >= 3


@pytest.mark.parametrize("moe", (False, True))
def test_the_vision_language_wrapper_reads_its_language_model(moe):
    """Qwen3_5ForConditionalGeneration / Qwen3_5MoeForConditionalGeneration: the language model and lm_head
    transformers builds (meta device, vision tower left out) are the card's parameters."""
    from transformers import AutoModelForImageTextToText

    text = _configs(353 + moe, 1, True)[moe]
    inner = {k: v for k, v in text.items() if k != "architectures"}
    arch = "Qwen3_5MoeForConditionalGeneration" if moe else "Qwen3_5ForConditionalGeneration"
    raw = {"architectures": [arch], "model_type": "qwen3_5_moe" if moe else "qwen3_5", "text_config": inner,
           "vision_config": {"depth": 1, "hidden_size": 16, "num_heads": 2, "intermediate_size": 8,
                             "out_hidden_size": inner["hidden_size"]},
           "tie_word_embeddings": text["tie_word_embeddings"]}
    card = model_from_hf_config(dict(raw), "qwen3_5/config.json")
    from transformers import CONFIG_MAPPING

    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(CONFIG_MAPPING[raw["model_type"]].from_dict(dict(raw)))
    theirs = sum(p.numel() for name, p in model.named_parameters() if ".visual." not in f".{name}")
    assert count(card, batch=1, seq=1).params_total == theirs
    assert any("vision tower" in note for note in card.left_out)
    with pytest.raises(CardError, match="text_config.model_type"):
        model_from_hf_config({**raw, "text_config": {**inner, "model_type": "qwen3_next"}}, "qwen3_5/config.json")


def _base(moe=False, **over):
    rng = random.Random(7)
    raw = _random(rng, "qwen3_5_moe_text" if moe else "qwen3_5_text", True)
    raw.update(over)
    return {k: v for k, v in raw.items() if v != "DROP"}


@pytest.mark.parametrize("moe,change,words", [
    (False, {"num_key_value_heads": "DROP"}, "'num_key_value_heads' is missing"),
    (False, {"head_dim": "DROP"}, "'head_dim' is missing"),
    (False, {"head_dim": None}, "'head_dim' is null"),
    (False, {"linear_num_key_heads": "DROP", "full_attention_interval": 2, "layer_types": "DROP"},
     "linear_num_key_heads"),
    (False, {"linear_num_key_heads": 2, "linear_num_value_heads": 3, "full_attention_interval": 2,
             "layer_types": "DROP"}, "must divide"),
    (False, {"attn_output_gate": False}, "always gates its output"),
    (False, {"num_experts": 4}, "experts are read only"),
    (False, {"mlp_only_layers": [0]}, "every layer's MLP is dense"),
    (False, {"layer_types": ["sliding_attention"] * 3}, "'layer_types' must list"),
    (False, {"model_type": "qwen3_next"}, "allowed: 'qwen3_5_text'"),
    (True, {"moe_intermediate_size": "DROP"}, "moe_intermediate_size"),
    (True, {"num_experts": "DROP"}, "num_experts"),
    (True, {"num_experts_per_tok": 9, "num_experts": 4}, "must be at most"),
    (True, {"mlp_only_layers": [1]}, "experts in every layer"),
    (True, {"decoder_sparse_step": 2}, "experts in every layer"),
    (True, {"shared_expert_intermediate_size": 0}, "shared_expert_intermediate_size"),
])
def test_refusals(moe, change, words):
    with pytest.raises(CardError, match=words) as err:
        model_from_hf_config(_base(moe, **change), "qwen3_5/config.json")
    assert "\n" not in str(err.value)
