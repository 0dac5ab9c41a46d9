"""Chunked attention (Llama 4's ``attention_chunk_size``) against transformers 5.24.

transformers decides which keys a query of a chunked layer sees with
``masking_utils.chunked_causal_mask_function(C, left_padding)``: the causal mask and'ed with
``kv // C == q // C`` (its own chunk). Summing that mask over a T x T grid (prefill), or over the
new token's row (decode at cache length S), is an independent count of the useful (query, key)
pairs; symroof's causal attention core of a chunked layer must be exactly 2 x B x heads x head_dim
x that count for scores (and the same for attention x V). The sequences cover T < C, T a multiple
of C and a tail (T = 2C + 3).

Eager attention computes the whole score matrix whatever the mask, so FlopCounterMode checks the
``full`` convention: training, prefill and decode FLOPs (decode: the min(C, S) keys transformers'
sliding-window cache hands a chunked layer), and the KV cache bytes transformers' cache tensors
hold after a prefill and after a decode step (a chunked layer keeps its last C - 1 keys). Exact
equality throughout (tolerance 0).
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="torch not installed: install the 'validate' extra")
pytest.importorskip("transformers", reason="transformers not installed: install the 'validate' extra")

from hfcases import counted, hf_config, prefill_then_decode  # noqa: E402
from symroof.core import derive  # noqa: E402
from symroof.core.graph import Structure, build  # noqa: E402
from symroof.core.symbols import B, S, T, b_kv  # noqa: E402
from symroof.io.bind import count, evaluate, model_values  # noqa: E402
from symroof.io.hf import model_from_hf_config  # noqa: E402

pytestmark = pytest.mark.validate

HEADS, HEAD_DIM, BATCH = 4, 8, 2
KINDS = ["chunked_attention", "full_attention", "chunked_attention"]    # two chunked layers and a global one


def _raw(chunk, kinds=KINDS):
    return {"architectures": ["Llama4ForCausalLM"], "model_type": "llama4_text", "vocab_size": 40,
            "num_hidden_layers": len(kinds), "hidden_size": 32, "num_attention_heads": HEADS,
            "num_key_value_heads": 2, "head_dim": HEAD_DIM, "intermediate_size": 16, "intermediate_size_mlp": 24,
            "moe_layers": [], "num_local_experts": 2, "num_experts_per_tok": 1, "attention_chunk_size": chunk,
            "layer_types": kinds, "max_position_embeddings": 128, "bos_token_id": None, "eos_token_id": None,
            "pad_token_id": None}


def _card(raw):
    return model_from_hf_config(dict(raw), "chunked/config.json")


def _visible(chunk: int, queries, keys) -> int:
    """Keys transformers' chunked causal mask lets the queries see, summed."""
    from transformers.masking_utils import chunked_causal_mask_function

    allowed = chunked_causal_mask_function(chunk, torch.zeros(1, dtype=torch.long))
    q, kv = torch.as_tensor(queries)[:, None], torch.as_tensor(keys)[None, :]
    return int(allowed(torch.tensor(0), torch.tensor(0), q, kv).sum())


def _per_key() -> int:
    """FLOPs of scores and attn·V per (query, key) pair and layer: 2 each x B x query heads x head_dim."""
    return 2 * (2 * BATCH * HEADS * HEAD_DIM)


def _core(c, block):
    return sum(c.flops_by_module[f"{block}/attn/{op}"]["forward"] for op in ("scores", "av"))


@pytest.mark.parametrize("chunk, seq", [(4, 11), (4, 8), (8, 19), (8, 16), (3, 10), (1, 5), (5, 7), (4, 5)])
def test_causal_core_counts_the_pairs_the_chunk_mask_allows(chunk, seq):
    card = _card(_raw(chunk))
    pairs = _visible(chunk, range(seq), range(seq))
    assert pairs < seq * (seq + 1) // 2                          # the chunks do hide keys here
    causal = count(card, batch=BATCH, seq=seq, attention="causal")
    assert _core(causal, "chunked") == 2 * _per_key() * pairs   # two chunked layers
    assert _core(causal, "global") == _per_key() * seq * seq // 2    # the global layer: the causal half
    full = count(card, batch=BATCH, seq=seq, attention="full")
    assert _core(full, "chunked") == 2 * _per_key() * seq * seq
    assert f"causal counts the {pairs} (query, key) pairs" in causal.notes[0]


@pytest.mark.parametrize("chunk, seq", [(8, 8), (9, 8), (8192, 100)])
def test_a_chunk_covering_the_context_counts_as_global(chunk, seq):
    chunked, plain = _card(_raw(chunk)), _card(_raw(chunk, ["full_attention"] * 3))
    for attention in ("causal", "full"):
        assert count(chunked, batch=2, seq=seq, attention=attention).flops_forward == \
            count(plain, batch=2, seq=seq, attention=attention).flops_forward
    assert "count as global" in count(chunked, batch=2, seq=seq).notes[0]


def _decode(card, context, attention):
    """The decode step's chunked attention core FLOPs, and the cache bytes the step reads (b_kv = 1)."""
    g = build(Structure.of(card, context), attention, phase="decode")
    core = derive.total(g, "flops", "forward", where=lambda n, d: n in ("chunked/attn/scores", "chunked/attn/av"))
    values = {**model_values(card), B: BATCH, S: context, b_kv: 1}
    return evaluate(core, values), evaluate(derive.kv_cache_bytes(g, read=True), values)


@pytest.mark.parametrize("chunk", [1, 3, 4])
def test_a_decode_step_attends_to_its_own_chunk(chunk):
    """The token at position S - 1 (cache length S): causal counts its chunk's (S - 1) mod C + 1 keys and
    reads their keys and values (a chunk-aware kernel; the global layer reads all S), full the min(C, S) keys
    the cache hands eager attention."""
    card = _card(_raw(chunk))
    per_entry = BATCH * 2 * HEAD_DIM * 2           # one token's keys and values of the K = 2 heads, one layer
    for context in range(1, 3 * chunk + 3):
        keys = _visible(chunk, [context - 1], range(context))
        core, read = _decode(card, context, "causal")
        assert core == 2 * _per_key() * keys, context
        if context > chunk:                        # else the chunk covers the context: a global layer's reads
            assert read == per_entry * (2 * keys + context), context
        assert _decode(card, context, "full")[0] == 2 * _per_key() * min(chunk, context), context


def _model(raw):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(hf_config(raw), attn_implementation="eager")


@pytest.mark.parametrize("chunk, seq", [(4, 11), (4, 8), (8, 19), (8, 16), (8, 5)])
def test_training_flops_match_flop_counter_mode(chunk, seq):
    raw = _raw(chunk)
    forward, backward, _ = counted(_model(raw), raw["vocab_size"], BATCH, seq)
    ours = count(_card(raw), batch=BATCH, seq=seq, attention="full")
    assert (ours.flops_forward, ours.flops_backward) == (forward.get_total_flops(), backward.get_total_flops())


@pytest.mark.parametrize("chunk, seq", [(4, 11), (4, 8), (4, 3), (8, 19), (8, 16), (8, 7)])
def test_prefill_decode_flops_and_the_cache_transformers_keeps(chunk, seq):
    """Prefill seq tokens, decode one: FLOPs (full), and the cache's bytes after each: a chunked layer holds
    min(C - 1, tokens) keys and values, the global layer all of them."""
    raw = _raw(chunk)
    model = _model(raw).eval()
    prefill, decode, after_prefill, after_decode, width = prefill_then_decode(model, raw["vocab_size"], BATCH, seq)
    card = _card(raw)
    values = {**model_values(card), B: BATCH, b_kv: width}
    per_token = 2 * BATCH * 2 * HEAD_DIM * width                # keys and values of the K = 2 heads, one layer
    for phase, context, at, theirs, held in (("prefill", seq, {T: seq}, prefill, after_prefill),
                                             ("decode", seq + 1, {S: seq + 1}, decode, after_decode)):
        assert held == per_token * (context + 2 * min(chunk - 1, context)), phase     # independent of symroof
        g = build(Structure.of(card, context), "full", phase=phase)
        assert evaluate(derive.flops(g), {**values, **at}) == theirs.get_total_flops(), phase
        assert evaluate(derive.kv_cache_bytes(g), {**values, **at}) == held, phase
