"""Qwen3-Next's hybrid layers (Gated DeltaNet and gated softmax attention) against transformers 5.24.

Independent numbers: the parameters transformers builds (``Qwen3NextForCausalLM``), FlopCounterMode
over its modules, the tensors its cache holds (cache_utils.py ``LinearAttentionLayer``: conv and
recurrent states), and a hand count of the delta rule from the paper's recurrent form (Yang et al.
2024, arXiv 2412.06464): per token and value head, decay d_k·d_v multiplies, read Sᵀk and write
S + k·deltaᵀ and readout Sᵀq d_k·d_v multiply-adds each, so 6·d_k·d_v matmul FLOPs.

FlopCounterMode counts three things differently, each stated and asserted exactly (tolerance 0):

- the depthwise conv: transformers pads both ends (padding W - 1) and keeps the first T outputs, so
  torch counts T + W - 1 outputs per channel where symroof counts the T a causal kernel computes (a
  prefill of T < W tokens into a cache is first padded to W: max(T, W) + W - 1); in decode ``causal_conv1d_update`` convolves the W cached inputs and the new one, 2 outputs for 1;
- the core in prefill and training: transformers' fallback ``torch_chunk_gated_delta_rule`` pads T
  to n = ceil(T / 64) chunks of C = 64 and per chunk and value head runs matmuls of
  4·C²·d_k + 2·C²·d_v + 6·C·d_k·d_v FLOPs (intra-chunk scores and UT system, state read, readout,
  intra-chunk attention·v, state update; its triangular solves are not in FlopCounterMode's table),
  against symroof's 6·T·d_k·d_v of the recurrent form;
- the core in decode: transformers' ``torch_recurrent_gated_delta_rule`` uses elementwise products
  and sums only, which FlopCounterMode does not count (0).
"""

from __future__ import annotations

import math

import pytest

from hfcases import counted, flop_counter_torch, hf_config, prefill_then_decode

torch = flop_counter_torch()

from symroof.core import derive  # noqa: E402
from symroof.core.graph import Structure, build  # noqa: E402
from symroof.core.symbols import B, S, T, b_kv  # noqa: E402
from symroof.io.bind import count, evaluate, model_values  # noqa: E402
from symroof.io.hf import model_from_hf_config  # noqa: E402

pytestmark = pytest.mark.validate
CHUNK = 64            # torch_chunk_gated_delta_rule's chunk_size default


def _raw(**over):
    raw = {"architectures": ["Qwen3NextForCausalLM"], "model_type": "qwen3_next", "hidden_size": 64,
           "intermediate_size": 96, "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2,
           "head_dim": 16, "vocab_size": 100, "linear_conv_kernel_dim": 4, "linear_key_head_dim": 8,
           "linear_value_head_dim": 12, "linear_num_key_heads": 2, "linear_num_value_heads": 4,
           "moe_intermediate_size": 24, "shared_expert_intermediate_size": 32, "num_experts": 4,
           "num_experts_per_tok": 2, "full_attention_interval": 2, "mlp_only_layers": [1], "tie_word_embeddings": False,
           "pad_token_id": None, "bos_token_id": None, "eos_token_id": None}
    raw.update(over)
    return raw


CASES = [_raw(), _raw(attention_bias=True, linear_num_value_heads=2, linear_conv_kernel_dim=3, mlp_only_layers=[]),
         _raw(layer_types=["linear_attention", "linear_attention", "full_attention", "linear_attention"],
              full_attention_interval=None, decoder_sparse_step=2, tie_word_embeddings=True, partial_rotary_factor=0.5)]


def _model(raw):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(hf_config(raw), attn_implementation="eager",
                                            experts_implementation="eager")


def _card(raw):
    return model_from_hf_config(dict(raw), "qwen3_next/config.json")


def _linear_layers(raw) -> int:
    card = _card(raw)
    return sum(n for name, n in card.layers if card.blocks[name].attention == "linear")


def _hand_core(raw, batch, tokens) -> int:
    """The recurrent form's matmul FLOPs over all linear layers: 6·d_k·d_v per token and value head."""
    return _linear_layers(raw) * 6 * batch * tokens * raw["linear_num_value_heads"] * \
        raw["linear_key_head_dim"] * raw["linear_value_head_dim"]


def _chunked_core(raw, batch, tokens) -> int:
    """FlopCounterMode's count of transformers' chunked fallback (module docstring)."""
    dk, dv, c = raw["linear_key_head_dim"], raw["linear_value_head_dim"], CHUNK
    per_chunk = 4 * c * c * dk + 2 * c * c * dv + 6 * c * dk * dv
    return _linear_layers(raw) * batch * raw["linear_num_value_heads"] * math.ceil(tokens / c) * per_chunk


def _conv(raw, batch, outputs) -> int:
    """Depthwise conv FLOPs over all linear layers: 2·W per channel and output."""
    channels = 2 * raw["linear_num_key_heads"] * raw["linear_key_head_dim"] + \
        raw["linear_num_value_heads"] * raw["linear_value_head_dim"]
    return _linear_layers(raw) * 2 * batch * outputs * channels * raw["linear_conv_kernel_dim"]


@pytest.mark.parametrize("raw", CASES)
def test_params_and_layer_kinds_match_transformers(raw):
    model, card = _model(raw), _card(raw)
    values = model_values(card)
    assert evaluate(derive.params(build(Structure.of(card))), values) == sum(p.numel() for p in model.parameters())
    kinds = [card.blocks[name] for name, n in card.layers for _ in range(n)]
    assert [t == "linear_attention" for t in model.config.layer_types] == [k.attention == "linear" for k in kinds]
    assert [hasattr(layer.mlp, "experts") for layer in model.model.layers] == [k.mlp == "moe" for k in kinds]


@pytest.mark.parametrize("raw", CASES)
@pytest.mark.parametrize("seq", [10, 64, 70])
def test_forward_flops_outside_the_core_exact_and_the_core_by_its_convention(raw, seq):
    batch, model = 2, _model(raw)
    forward, _, _ = counted(model, raw["vocab_size"], batch, seq)
    card = _card(raw)
    ours = count(card, batch=batch, seq=seq, attention="full")
    g = build(Structure.of(card, seq), "full", phase="train")
    values = {**model_values(card), B: batch, T: seq}
    core = evaluate(derive.total(g, "flops", "forward", where=lambda n, d: d.get("linear", False)), values)
    conv = evaluate(derive.total(g, "flops", "forward", where=lambda n, d: "/lin/conv_" in n), values)
    assert core == _hand_core(raw, batch, seq)
    assert conv == _conv(raw, batch, seq)
    # every other op exactly as torch counts it; the conv's padded outputs and the chunked core as stated
    expected = ours.flops_forward - core + _chunked_core(raw, batch, seq) + _conv(raw, batch, raw[
        "linear_conv_kernel_dim"] - 1)
    assert forward.get_total_flops() == expected
    # per module, the projections of the first linear layer and the whole first full-attention layer
    counts = forward.get_flop_counts()
    i = next(i for i, t in enumerate(model.config.layer_types) if t == "linear_attention")
    lin = {n: evaluate(d["flops"], values) for n, d in g.nodes(data=True) if "/lin/" in n and d["phase"] == "forward"}
    name = next(n for n in lin if n.endswith("/lin/q")).split("/")[0]
    mine = lambda *parts: sum(lin[f"{name}/lin/{p}"] for p in parts)  # noqa: E731
    theirs = lambda mod: sum(counts[f"Qwen3NextForCausalLM.model.layers.{i}.linear_attn.{mod}"].values())  # noqa: E731
    assert theirs("in_proj_qkvz") == mine("q", "k", "v", "z")
    assert theirs("in_proj_ba") == mine("b", "a")
    assert theirs("out_proj") == mine("out")
    j = model.config.layer_types.index("full_attention")
    attn = {n: evaluate(d["flops"], values) for n, d in g.nodes(data=True) if "/attn/" in n and d["phase"] == "forward"}
    full = [name for name, n in card.layers for _ in range(n)][j]       # layer j's block type
    assert sum(counts[f"Qwen3NextForCausalLM.model.layers.{j}.self_attn"].values()) == \
        sum(v for n, v in attn.items() if n.startswith(f"{full}/"))     # q doubled for its gate: counted


@pytest.mark.parametrize("raw", CASES[:2])
def test_training_backward_follows_the_usual_rule(raw):
    """The recurrence's backward is twice its forward, as a matmul's dx and dW are (its four operands'
    gradients each cost half its forward): 12·d_k·d_v per token and value head."""
    card = _card(raw)
    g = build(Structure.of(card), "full", phase="train")
    values = {**model_values(card), B: 2, T: 12}
    back = derive.total(g, "flops", "backward", where=lambda n, d: g.nodes[d["forward"]].get("linear", False))
    assert evaluate(back, values) == 2 * _hand_core(raw, 2, 12)


@pytest.mark.parametrize("raw", CASES[:2])
def test_training_conv_backward_as_torch_counts_it(raw):
    """The depthwise conv's gradients in a training step. FlopCounterMode on the model's step counts
    aten.convolution_backward: its dx (a transposed conv) as the forward, 2·W a channel and output over
    the T + W - 1 outputs transformers' padding makes, and its dW C_in / groups = C times that (the
    counter's rule ignores a grouped conv's groups for the weight gradient), so the total is
    (1 + C)·forward; symroof's dx and dW are 2·W a channel and output each over the T a causal kernel
    computes. dx folds its windows back (one add per tap): counted once, it was half."""
    batch, seq, model = 2, 12, _model(raw)
    _, _, both = counted(model, raw["vocab_size"], batch, seq)
    ops = {str(op): n for op, n in both.get_flop_counts()["Global"].items()}
    w = raw["linear_conv_kernel_dim"]
    channels = 2 * raw["linear_num_key_heads"] * raw["linear_key_head_dim"] + \
        raw["linear_num_value_heads"] * raw["linear_value_head_dim"]
    padded = _conv(raw, batch, seq + w - 1)
    assert ops["aten.convolution"] == padded and ops["aten.convolution_backward"] == (1 + channels) * padded
    card = _card(raw)
    g = build(Structure.of(card, seq), "full", phase="train")
    values = {**model_values(card), B: batch, T: seq}

    def ours(role):
        return evaluate(derive.total(g, "flops", "backward", where=lambda n, d: "/lin/conv_" in n and
                                     n.endswith(f":d{role}")), values)
    assert ours("x") == ours("w") == _conv(raw, batch, seq)


@pytest.mark.parametrize("raw", CASES)
@pytest.mark.parametrize("seq", [3, 9])
def test_prefill_decode_flops_and_the_states_transformers_keeps(raw, seq):
    batch, model = 2, _model(raw).eval()
    prefill, decode, held_prefill, held_decode, _ = prefill_then_decode(model, raw["vocab_size"], batch, seq, _held)
    card = _card(raw)
    values = {**model_values(card), B: batch, b_kv: 1}
    pre = build(Structure.of(card, seq), "full", phase="prefill")
    dec = build(Structure.of(card, seq + 1), "full", phase="decode")
    ours_pre = evaluate(derive.flops(pre, "forward"), {**values, T: seq})
    ours_dec = evaluate(derive.flops(dec, "forward"), {**values, S: seq + 1})
    width = raw["linear_conv_kernel_dim"]      # a prefill shorter than W is padded to W first (update_conv_state)
    assert prefill.get_total_flops() == ours_pre - _hand_core(raw, batch, seq) + _chunked_core(raw, batch, seq) + \
        _conv(raw, batch, max(seq, width) + width - 1 - seq)
    # decode: the recurrent core uncounted by torch, the conv's two outputs for one
    assert decode.get_total_flops() == ours_dec - _hand_core(raw, batch, 1) + _conv(raw, batch, 1)
    # the cache: linear layers a constant state (conv: the last W inputs; the B x N_lv x d_k x d_v recurrent
    # state), full-attention layers their keys and values (elements: b_kv = 1)
    assert evaluate(derive.kv_cache_bytes(pre), {**values, T: seq}) == held_prefill
    assert evaluate(derive.kv_cache_bytes(dec), {**values, S: seq + 1}) == held_decode


def _held(cache) -> int:
    total = 0
    for layer in cache.layers:
        for states in ("conv_states", "recurrent_states"):
            total += sum(t.numel() for t in getattr(layer, states, {}).values() if t is not None)
        total += sum(t.numel() for t in (getattr(layer, "keys", None), getattr(layer, "values", None))
                     if torch.is_tensor(t))
    return total


def test_a_decode_step_reads_and_writes_the_whole_state():
    """The bytes a decode step moves of a linear layer's cache do not grow with S; its full-attention
    layers' do."""
    raw = _raw()
    card = _card(raw)
    g = build(Structure.of(card), phase="decode")
    values = {**model_values(card), B: 1, b_kv: 1}
    read = [evaluate(derive.kv_cache_bytes(g, read=True), {**values, S: s}) for s in (100, 200)]
    kv_per_token = 2 * raw["num_key_value_heads"] * raw["head_dim"] * 2          # two full-attention layers
    assert read[1] - read[0] == 100 * kv_per_token
    state = raw["linear_num_value_heads"] * raw["linear_key_head_dim"] * raw["linear_value_head_dim"]
    conv = (2 * raw["linear_num_key_heads"] * raw["linear_key_head_dim"] + raw["linear_num_value_heads"] *
            raw["linear_value_head_dim"]) * raw["linear_conv_kernel_dim"]
    assert read[0] == 100 * kv_per_token + 2 * 2 * (state + conv)        # two linear layers, read and written


def test_qwen3_next_80b_counts_as_transformers_builds_it():
    """The published 80B-A3B shape (tests/data/hf/Qwen3-Next-80B-A3B): transformers' parameters on the meta
    device equal symroof's, about the 80B total and 3B active the model's name gives."""
    import json
    from pathlib import Path

    raw = json.loads((Path(__file__).resolve().parents[1] / "data/hf/Qwen3-Next-80B-A3B/config.json").read_text())
    card = _card(raw)
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(hf_config(raw))
    ours = count(card, batch=1, seq=4096)
    assert ours.params_total == sum(p.numel() for p in model.parameters())
    assert round(ours.params_total / 1e9) == 80
    assert 3e9 < ours.params_active < 4e9          # "A3B": 3.87e9 with the embedding and the head
    assert [k.attention for name, n in card.layers for k in [card.blocks[name]] for _ in range(n)] == \
        (["linear"] * 3 + ["global"]) * 12
