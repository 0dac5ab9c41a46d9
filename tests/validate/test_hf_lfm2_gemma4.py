"""LFM2 (``Lfm2ForCausalLM``) and LFM2-MoE (``Lfm2MoeForCausalLM``) against transformers 5.24: the gated short conv
(core/short_conv.py) beside GQA attention with q/k norms, LFM2's MLP width rule, LFM2-MoE's dense-then-sparse MLPs.

Independent numbers: the parameters transformers builds from each config (on the meta device, per group and in
total), FlopCounterMode over its modules in a training forward, a prefill and a decode step, and the tensors its
cache holds. Tolerance 0 throughout.

FlopCounterMode counts the depthwise conv differently, stated and asserted exactly: transformers pads both ends
(padding W - 1) and keeps the first T outputs, so torch counts T + W - 1 outputs per channel (D of them) where
symroof counts the T a causal kernel computes; where the forward keeps a cache (LFM2's use_cache defaults to true,
in training too) a prefill of T < W is first padded to W: max(T, W) + W - 1; in decode ``causal_conv1d_update``
convolves the W cached inputs and the new one, 2 outputs for 1. Each output is W multiply-adds per channel.
In the backward symroof counts the conv's dx and dW at its forward each (2·W per channel and output, as a
matmul's); FlopCounterMode's ``convolution_backward`` counts the padded T' = max(T, W) + W - 1 outputs for dx and
counts dW as if the conv were not depthwise (groups ignored: D x D x W weights), 2·T'·D·W + 2·T'·D²·W a sequence
and layer. Every other backward FLOP is equal.
"""

from __future__ import annotations

import json
import random

import pytest

from hfcases import counted, flop_counter_torch, hf_config, hf_group, prefill_then_decode
from hfcompare import group_counts

torch = flop_counter_torch()

from symroof.core import derive  # noqa: E402
from symroof.core.graph import Structure, build  # noqa: E402
from symroof.core.symbols import B, S, T, b_kv  # noqa: E402
from symroof.io.bind import count, evaluate, model_values  # noqa: E402
from symroof.io.hf import model_from_hf_config  # noqa: E402

pytestmark = pytest.mark.validate


def _lfm2(rng: random.Random) -> dict:
    layers, heads = rng.randint(2, 5), rng.choice((2, 4))
    raw = {"architectures": ["Lfm2ForCausalLM"], "model_type": "lfm2", "vocab_size": rng.randrange(16, 97),
           "num_hidden_layers": layers, "hidden_size": rng.randrange(16, 49, 8),
           "intermediate_size": rng.randrange(24, 97, 4), "num_attention_heads": heads,
           "num_key_value_heads": rng.choice([k for k in (1, 2) if heads % k == 0]),
           "conv_L_cache": rng.choice((2, 3, 4)), "conv_bias": rng.random() < 0.4,
           "block_auto_adjust_ff_dim": rng.random() < 0.7, "block_multiple_of": rng.choice((4, 8, 16)),
           "block_ffn_dim_multiplier": rng.choice((1.0, 1.5, 0.75, 2)), "tie_word_embeddings": rng.random() < 0.6,
           "pad_token_id": None, "bos_token_id": None, "eos_token_id": None}
    attn = sorted(rng.sample(range(layers), rng.randint(0, layers)))
    if rng.random() < 0.5:
        raw["layer_types"] = ["full_attention" if i in attn else "conv" for i in range(layers)]
    else:
        raw["full_attn_idxs"] = attn
    if rng.random() < 0.3:
        raw["head_dim"] = rng.choice((4, 8))
    if rng.random() < 0.3:      # the original code's names, popped by Lfm2Config
        raw["block_ff_dim"] = raw.pop("intermediate_size")
        raw["tie_embedding"] = raw.pop("tie_word_embeddings")
    return raw


def _lfm2_moe(rng: random.Random) -> dict:
    layers, heads = rng.randint(2, 5), rng.choice((2, 4))
    attn = sorted(rng.sample(range(layers), rng.randint(0, layers)))
    raw = {"architectures": ["Lfm2MoeForCausalLM"], "model_type": "lfm2_moe", "vocab_size": rng.randrange(16, 97),
           "num_hidden_layers": layers, "hidden_size": rng.randrange(16, 49, 8),
           "intermediate_size": rng.randrange(8, 65, 4), "moe_intermediate_size": rng.randrange(8, 33, 4),
           "num_attention_heads": heads, "num_key_value_heads": rng.choice([k for k in (1, 2) if heads % k == 0]),
           "conv_L_cache": rng.choice((2, 3, 4)), "conv_bias": rng.random() < 0.4,
           "num_dense_layers": rng.randint(0, layers - 1), "num_experts": rng.choice((4, 6)),
           "num_experts_per_tok": rng.choice((1, 2)), "use_expert_bias": rng.random() < 0.6,
           "routed_scaling_factor": rng.choice((1.0, 2.5)), "norm_topk_prob": rng.random() < 0.5,
           "layer_types": ["full_attention" if i in attn else "conv" for i in range(layers)],
           "tie_word_embeddings": rng.random() < 0.6, "pad_token_id": None, "bos_token_id": None,
           "eos_token_id": None}
    return raw


CASES = [_lfm2(random.Random(seed)) for seed in range(10)] + [_lfm2_moe(random.Random(seed)) for seed in range(8)]
CLASSES = {"lfm2": "Lfm2ForCausalLM", "lfm2_moe": "Lfm2MoeForCausalLM"}


def _id(raw) -> str:
    return f"{raw['model_type']}-L{raw['num_hidden_layers']}-D{raw['hidden_size']}-{len(str(raw))}"


def _card(raw):
    return model_from_hf_config(dict(raw), "lfm2/config.json")


def _types(raw) -> list:
    return hf_config(raw).layer_types


def _group(name: str) -> str:
    """hf_group's rules, with LFM2's short-conv token mixer (``layers.N.conv``) in attention's place."""
    return "attention" if name.split(".")[3:4] == ["conv"] else hf_group(name)


def _meta(raw):
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(hf_config(raw))


def _params_by_group(model) -> dict:
    return {k: v for k, v in group_counts(model, _group).items() if v}


@pytest.mark.parametrize("raw", CASES, ids=_id)
def test_params_per_group_and_layer_kinds_match_transformers(raw):
    card, model = _card(raw), _meta(raw)
    ours = count(card, batch=1, seq=1)
    assert ours.params_total == sum(p.numel() for p in model.parameters())
    assert {k: v for k, v in ours.params_by_group.items() if v} == _params_by_group(model)
    kinds = [card.blocks[name] for name, n in card.layers for _ in range(n)]
    c = hf_config(raw)
    dense = c.num_dense_layers if raw["model_type"] == "lfm2_moe" else len(c.layer_types)
    assert [(k.attention, k.mlp) for k in kinds] == [("shortconv" if t == "conv" else "global",
                                                      "dense" if i < dense else "moe")
                                                     for i, t in enumerate(c.layer_types)]
    # the MLP width transformers builds (w1: intermediate x hidden) is the card's d_ff
    widths = {m.feed_forward.w1.out_features for m in model.model.layers if hasattr(m.feed_forward, "w1")}
    assert widths <= {card.d_ff}


def _model(raw):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(hf_config(raw), attn_implementation="eager",
                                            experts_implementation="eager")     # the routed tokens only


def _conv(raw, batch, outputs) -> int:
    """Depthwise conv FLOPs over all conv layers: 2·W per channel (D) and output."""
    c = hf_config(raw)
    return sum(t == "conv" for t in c.layer_types) * 2 * batch * outputs * c.hidden_size * c.conv_L_cache


def _runs(cases) -> list:
    """Cases transformers can run with a cache: an all-conv model's fails (DynamicCache.get_seq_length needs an
    attention layer in 5.24)."""
    return [raw for raw in cases if "full_attention" in _types(raw)]


FLOPS = list(zip(_runs(CASES[:8]) + _runs(CASES[10:16]), (1, 2, 3, 2, 1, 2, 3) * 2, (7, 8, 2, 3, 12, 5, 1) * 2))


@pytest.mark.parametrize("raw,batch,seq", FLOPS, ids=lambda v: _id(v) if isinstance(v, dict) else str(v))
def test_forward_flops_per_module_exact_and_the_conv_by_torchs_padding(raw, batch, seq):
    model, card = _model(raw), _card(raw)
    forward, backward, _ = counted(model, raw["vocab_size"], batch, seq)
    g = build(Structure.of(card, seq), "full", phase="train")
    values = {**model_values(card), B: batch, T: seq}
    conv = evaluate(derive.total(g, "flops", "forward", where=lambda n, d: "/conv/conv_" in n), values)
    assert conv == _conv(raw, batch, seq)
    ours = count(card, batch=batch, seq=seq, attention="full").flops_forward
    width = raw["conv_L_cache"]
    padded = max(seq, width) + width - 1
    assert forward.get_total_flops() == ours + _conv(raw, batch, padded - seq)
    dense_dw = _conv(raw, batch, padded) * raw["hidden_size"]       # dW counted as a D x D x W conv
    ours_back = count(card, batch=batch, seq=seq, attention="full").flops_backward
    assert backward.get_total_flops() == ours_back - 2 * conv + _conv(raw, batch, padded) + dense_dw
    counts = forward.get_flop_counts()
    nodes = {n: evaluate(d["flops"], values) for n, d in g.nodes(data=True) if d["phase"] == "forward"}
    order = [name for name, n in card.layers for _ in range(n)]
    prefix = f"{CLASSES[raw['model_type']]}.model.layers"
    for i, (t, block) in enumerate(zip(_types(raw), order)):
        theirs = lambda mod: sum(counts.get(f"{prefix}.{i}.{mod}", {}).values())  # noqa: E731
        mine = lambda *parts: sum(v for n, v in nodes.items()  # noqa: E731
                                  if n.startswith(tuple(f"{block}/{p}" for p in parts)))
        if t == "conv":
            assert theirs("conv.in_proj") == mine("conv/B", "conv/C", "conv/x") > 0
            assert theirs("conv.out_proj") == mine("conv/out") > 0
        else:
            assert theirs("self_attn") == mine("attn/") > 0
        assert theirs("feed_forward") == mine("mlp/", "moe/") > 0


def _held(cache) -> int:
    total = 0
    for layer in cache.layers:
        held = getattr(layer, "conv_states", None) or {}
        total += sum(t.numel() for t in (held.values() if isinstance(held, dict) else held) if torch.is_tensor(t))
        total += sum(t.numel() for t in (getattr(layer, "keys", None), getattr(layer, "values", None))
                     if torch.is_tensor(t))
    return total


PHASES = list(zip(_runs(CASES[2:10]) + _runs(CASES[12:18]), (2, 1, 3, 1, 2, 1, 2) * 2, (3, 9, 5, 2, 11, 1, 4) * 2))


@pytest.mark.parametrize("raw,batch,seq", PHASES, ids=lambda v: _id(v) if isinstance(v, dict) else str(v))
def test_prefill_decode_flops_and_the_states_transformers_keeps(raw, batch, seq):
    model, card = _model(raw).eval(), _card(raw)
    prefill, decode, held_prefill, held_decode, _ = prefill_then_decode(model, raw["vocab_size"], batch, seq, _held)
    values = {**model_values(card), B: batch, b_kv: 1}
    pre = build(Structure.of(card, seq), "full", phase="prefill")
    dec = build(Structure.of(card, seq + 1), "full", phase="decode")
    ours_pre = evaluate(derive.flops(pre, "forward"), {**values, T: seq})
    ours_dec = evaluate(derive.flops(dec, "forward"), {**values, S: seq + 1})
    width = raw["conv_L_cache"]       # a prefill shorter than W is padded to W first (update_conv_state)
    assert prefill.get_total_flops() == ours_pre + _conv(raw, batch, max(seq, width) + width - 1 - seq)
    assert decode.get_total_flops() == ours_dec + _conv(raw, batch, 1)      # two outputs for one
    # the cache: conv layers the last W inputs of the D conv channels, attention layers their keys and values
    assert evaluate(derive.kv_cache_bytes(pre), {**values, T: seq}) == held_prefill
    assert evaluate(derive.kv_cache_bytes(dec), {**values, S: seq + 1}) == held_decode


@pytest.mark.parametrize("raw", CASES[::3], ids=_id)
def test_the_config_transformers_saves_reads_to_the_same_counts(raw):
    """What save_pretrained writes (every key of the class, the original code's names popped) reads to the same
    parameters, FLOPs and cache."""
    import json

    saved = json.loads(hf_config(raw).to_json_string())
    a, b = count(_card(raw), batch=2, seq=9), count(_card(saved), batch=2, seq=9)
    assert (a.params_total, a.flops_forward, a.params_by_group) == (b.params_total, b.flops_forward, b.params_by_group)


def _refused(raw, *words):
    from symroof.errors import CardError

    with pytest.raises(CardError) as err:
        _card(raw)
    message = str(err.value)
    assert "\n" not in message and message.startswith("lfm2/config.json: ")
    assert all(word in message for word in words), message


def test_what_transformers_would_not_build_is_refused_in_one_line():
    base = _lfm2(random.Random(1))
    _refused({**base, "layer_types": ["conv", "mamba"] + ["conv"] * (base["num_hidden_layers"] - 2)},
             "'layer_types'")
    _refused({**base, "block_ffn_dim_multiplier": 1e300}, "'block_ffn_dim_multiplier'")
    _refused({**base, "layer_types": ["conv"]}, "'layer_types'")
    _refused({**base, "block_ffn_dim_multiplier": None}, "'block_ffn_dim_multiplier'")
    _refused({**base, "conv_L_cache": 0}, "'conv_L_cache'")
    _refused({**base, "num_heads": base["num_attention_heads"] + 1}, "'num_heads'")
    _refused({**base, "block_use_swiglu": False}, "'block_use_swiglu'")
    _refused({**base, "hidden_act": "gelu"}, "unknown key 'hidden_act'")
    _refused({k: v for k, v in base.items() if k != "num_key_value_heads"}, "'num_key_value_heads'")
    moe = _lfm2_moe(random.Random(2))
    _refused({k: v for k, v in moe.items() if k != "layer_types"}, "'layer_types'")
    _refused({k: v for k, v in moe.items() if k != "num_dense_layers"}, "'num_dense_layers'")
    _refused({**moe, "block_ff_dim": 64}, "unknown key 'block_ff_dim'")       # Lfm2MoeConfig does not pop it


def test_what_changes_no_count_is_named():
    moe = {**_lfm2_moe(random.Random(3)), "use_expert_bias": True, "num_dense_layers": 0}
    assert any("use_expert_bias" in note for note in _card(moe).left_out)
    dense = {**_lfm2(random.Random(4)), "layer_types": None, "full_attn_idxs": [0]}
    card = _card({**dense, "layer_types": ["conv"] * dense["num_hidden_layers"]})
    assert any("full_attn_idxs" in note for note in card.left_out)
    assert not any("full_attn_idxs" in note for note in _card(dense).left_out)
    assert any("short-conv layers' channels are not split" in note for note in card.left_out)


# ------------------------------------------------------------------------------------------------ Gemma 4

def _gemma4(rng: random.Random) -> dict:
    """A Gemma 4 text config: sliding and full layers of their own head widths and KV heads, keys equal to values
    on the full layers or not, the full layers' shape as global_head_dim (and num_global_key_value_heads) or as the
    per_layer_config save_pretrained writes, the MoE block beside the MLP or not."""
    layers, heads = rng.randint(2, 6), rng.choice((2, 4))
    kv = rng.choice([k for k in (1, 2) if heads % k == 0])
    raw = {"architectures": ["Gemma4ForCausalLM"], "model_type": "gemma4_text", "vocab_size": rng.randrange(16, 97),
           "num_hidden_layers": layers, "hidden_size": rng.randrange(16, 49, 8),
           "intermediate_size": rng.randrange(8, 65, 4), "num_attention_heads": heads, "num_key_value_heads": kv,
           "head_dim": rng.choice((4, 8)), "hidden_size_per_layer_input": 0, "sliding_window": rng.choice((2, 3, 5)),
           "attention_k_eq_v": rng.random() < 0.5, "attention_bias": rng.random() < 0.3,
           "tie_word_embeddings": rng.random() < 0.7, "pad_token_id": None, "bos_token_id": None,
           "eos_token_id": None}
    if rng.random() < 0.4:        # the MoE block beside the MLP on every layer
        raw.update(enable_moe_block=True, num_experts=rng.choice((4, 6)), top_k_experts=rng.choice((1, 2)),
                   moe_intermediate_size=rng.randrange(8, 33, 4))
    if rng.random() < 0.7:
        raw["layer_types"] = [rng.choice(("sliding_attention", "full_attention")) for _ in range(layers - 1)] + \
            ["full_attention"]
    wide, wide_kv = rng.choice((8, 16)), rng.choice([k for k in (1, 2) if heads % k == 0])
    if rng.random() < 0.5:
        raw["global_head_dim"] = wide
        if raw["attention_k_eq_v"]:
            raw["num_global_key_value_heads"] = wide_kv
    else:
        types = hf_config({**raw, "global_head_dim": wide}).layer_types
        shape = {"head_dim": wide, **({"num_key_value_heads": wide_kv} if rng.random() < 0.5 else {})}
        raw["per_layer_config"] = {str(i): dict(shape) for i, t in enumerate(types) if t == "full_attention"}
    return raw


GEMMA4 = [_gemma4(random.Random(seed)) for seed in range(10)]


def _g4_group(name: str) -> str:
    parts = name.split(".")
    if name.startswith("lm_head."):
        return "unembedding"
    if parts[-2] == "embed_tokens":
        return "embedding"
    if "norm" in parts[-2]:
        return "norms"
    return "mlp" if parts[3] in ("mlp", "router", "experts") else "attention"


@pytest.mark.parametrize("raw", GEMMA4, ids=_id)
def test_gemma4_params_per_group_match_transformers(raw):
    card, model = _card(raw), _meta(raw)
    ours = count(card, batch=1, seq=1)
    theirs = group_counts(model, _g4_group)
    assert ours.params_total == sum(theirs.values())
    assert {k: v for k, v in ours.params_by_group.items() if v} == {k: v for k, v in theirs.items() if v}
    kinds = [card.blocks[name].attention for name, n in card.layers for _ in range(n)]
    assert kinds == ["global" if t == "full_attention" else "sliding" for t in hf_config(raw).layer_types]


def test_gemma4_wrapper_reads_its_language_model_as_transformers_builds_it():
    """Gemma4ForConditionalGeneration without towers: its parameters are the language model's and lm_head."""
    from transformers import Gemma4Config, Gemma4ForConditionalGeneration

    for raw in GEMMA4[:4]:
        text = {k: v for k, v in raw.items() if k not in ("architectures", "tie_word_embeddings")}
        wrapped = {"architectures": ["Gemma4ForConditionalGeneration"], "model_type": "gemma4", "text_config": text,
                   "vision_config": None, "audio_config": None, "tie_word_embeddings": raw["tie_word_embeddings"]}
        config = Gemma4Config.from_dict(json.loads(json.dumps(wrapped)))
        with torch.device("meta"):
            model = Gemma4ForConditionalGeneration(config)
        card = _card(wrapped)
        assert count(card, batch=1, seq=1).params_total == sum(p.numel() for p in model.parameters())
        assert any("not counted" in note for note in card.left_out)


def test_gemma4_the_config_transformers_saves_reads_to_the_same_counts():
    """save_pretrained writes the full layers' shape as per_layer_config, its indices zero-padded past 9 layers."""
    twelve = {**GEMMA4[1], "num_hidden_layers": 12, "layer_types": None, "global_head_dim": 16}
    twelve.pop("layer_types")
    twelve.pop("per_layer_config", None)
    for raw in GEMMA4[::2] + [twelve]:
        saved = json.loads(hf_config(raw).to_json_string())
        a, b = count(_card(raw), batch=2, seq=9), count(_card(saved), batch=2, seq=9)
        assert (a.params_total, a.flops_forward, a.params_by_group) == \
            (b.params_total, b.flops_forward, b.params_by_group)
    assert "05" in json.loads(hf_config(twelve).to_json_string())["per_layer_config"]


G4_FLOPS = list(zip(GEMMA4[:8], (1, 2, 3, 2, 1, 2, 1, 3), (7, 8, 2, 3, 12, 5, 1, 6)))


@pytest.mark.parametrize("raw,batch,seq", G4_FLOPS, ids=lambda v: _id(v) if isinstance(v, dict) else str(v))
def test_gemma4_training_flops_per_module_exact(raw, batch, seq):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(hf_config(raw), attn_implementation="eager",
                                             experts_implementation="eager")     # the routed tokens only
    card = _card(raw)
    forward, backward, _ = counted(model, raw["vocab_size"], batch, seq)
    ours = count(card, batch=batch, seq=seq, attention="full")
    assert forward.get_total_flops() == ours.flops_forward
    assert backward.get_total_flops() == ours.flops_backward
    g = build(Structure.of(card, seq), "full", phase="train")
    values = {**model_values(card), B: batch, T: seq}
    nodes = {n: evaluate(d["flops"], values) for n, d in g.nodes(data=True) if d["phase"] == "forward"}
    counts = forward.get_flop_counts()
    order = [name for name, n in card.layers for _ in range(n)]
    for i, block in enumerate(order):
        moe = raw.get("enable_moe_block", False)
        for mod, part in (("self_attn", "attn/"), ("mlp", "mlp/"), ("router", "moe/router"), ("experts", "moe/")):
            theirs = sum(counts.get(f"Gemma4ForCausalLM.model.layers.{i}.{mod}", {}).values())
            mine = sum(v for n, v in nodes.items() if n.startswith(f"{block}/{part}")
                       and not (mod == "experts" and n.startswith(f"{block}/moe/router")))
            assert theirs == mine and (mine > 0) == (moe or mod in ("self_attn", "mlp")), (i, mod)


G4_PHASES = list(zip(GEMMA4[2:10], (2, 1, 3, 1, 2, 1, 2, 1), (3, 9, 5, 2, 11, 1, 4, 7)))


@pytest.mark.parametrize("raw,batch,seq", G4_PHASES, ids=lambda v: _id(v) if isinstance(v, dict) else str(v))
def test_gemma4_prefill_decode_flops_and_kv_cache(raw, batch, seq):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(hf_config(raw), attn_implementation="eager",
                                             experts_implementation="eager").eval()
    card = _card(raw)
    prefill, decode, held_prefill, held_decode, width = prefill_then_decode(model, raw["vocab_size"], batch, seq)
    values = {**model_values(card), B: batch, b_kv: width}
    pre = build(Structure.of(card, seq), "full", phase="prefill")
    dec = build(Structure.of(card, seq + 1), "full", phase="decode")
    assert prefill.get_total_flops() == evaluate(derive.flops(pre, "forward"), {**values, T: seq})
    assert decode.get_total_flops() == evaluate(derive.flops(dec, "forward"), {**values, S: seq + 1})
    assert evaluate(derive.kv_cache_bytes(pre), {**values, T: seq}) == held_prefill
    assert evaluate(derive.kv_cache_bytes(dec), {**values, S: seq + 1}) == held_decode


def _g4_refused(raw, *words):
    from symroof.errors import CardError

    with pytest.raises(CardError) as err:
        model_from_hf_config(dict(raw), "g4/config.json")
    assert "\n" not in str(err.value) and all(word in str(err.value) for word in words), str(err.value)


def test_gemma4_what_is_not_modelled_is_refused_in_one_line():
    base = GEMMA4[0]
    _g4_refused({k: v for k, v in base.items() if k != "hidden_size_per_layer_input"}, "'hidden_size_per_layer_input'")
    _g4_refused({**base, "hidden_size_per_layer_input": 8}, "'hidden_size_per_layer_input'", "PLE")
    _g4_refused({**base, "num_kv_shared_layers": 1}, "'num_kv_shared_layers'")
    _g4_refused({**{k: v for k, v in base.items() if k != "moe_intermediate_size"}, "enable_moe_block": True,
                 "num_experts": 4, "top_k_experts": 2}, "'moe_intermediate_size'")
    _g4_refused({**base, "enable_moe_block": True, "num_experts": 1, "top_k_experts": 1, "moe_intermediate_size": 8},
                "'num_experts'")
    _g4_refused({**base, "use_bidirectional_attention": "all"}, "'use_bidirectional_attention'")
    _g4_refused({**base, "per_layer_config": {"0": {"head_dim": 8, "intermediate_size": 4}}}, "'per_layer_config'")
    _g4_refused({k: v for k, v in base.items() if k not in ("global_head_dim", "per_layer_config")},
                "'global_head_dim'")
    _g4_refused({**base, "hidden_act": "gelu"}, "unknown key 'hidden_act'")


def test_cards_hold_the_new_keys_only_where_a_block_type_reads_them():
    from symroof.errors import CardError
    from symroof.io.cards import model_from_dict

    base = {"name": "x", "architecture": "lfm2", "source": "s", "n_layers": 2, "d_model": 16, "d_ff": 32,
            "n_heads": 2, "n_kv_heads": 1, "head_dim": 8, "vocab": 10, "tie_embeddings": True}
    conv = {"block_types": {"conv": {"attention": "shortconv"}, "attn": {"attention": "global"}},
            "layers": [["conv", 1], ["attn", 1]]}
    assert model_from_dict({**base, **conv, "short_conv_kernel": 3}, "c.yaml").short_conv_kernel == 3
    for bad, key in (({**base, **conv}, "short_conv_kernel"), ({**base, "short_conv_kernel": 3}, "short_conv_kernel"),
                     ({**base, "global_head_dim": 16, "global_kv_heads": 1}, "global_head_dim"),
                     ({**base, "value_norm": True, "global_head_dim": 16, "global_kv_heads": 3}, "global_kv_heads")):
        with pytest.raises(CardError, match=key):
            model_from_dict(bad, "c.yaml")
