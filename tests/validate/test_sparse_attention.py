"""DeepSeek Sparse Attention (DeepSeek-V3.2) against transformers 5.24's DeepseekV32ForCausalLM.

Independent numbers, all from transformers and torch (tolerance 0: every comparison is exact):

- parameters: ``sum(p.numel())`` of tiny random models, per symroof group (the indexer's wq_b, wk and
  weights_proj in attention, its k_norm LayerNorm in norms);
- FLOPs under the ``full`` convention: FlopCounterMode over a training step, a prefill and a decode step
  of the eager model (it masks the keys the indexer leaves out and runs dense attention; the indexer scores
  every key it is handed; the indexer has no backward, as it runs under torch.no_grad);
- the ``causal`` convention: the (query, key) pairs MLA attends to, counted from transformers' own
  selection (the top-k indices each layer's indexer returns, hooked, scattered into a mask and and'ed with
  the causal mask the indexer is given), for sequences below and above index_topk, in prefill and in a
  decode step; and the indexer's scored pairs, the True entries of that causal mask;
- the cache: the bytes of every tensor transformers' DynamicIndexedLayer holds (the MLA latent, the RoPE
  key and the indexer's keys) after a prefill and after a decode step.
"""

from __future__ import annotations

import pytest

from hfcases import counted, flop_counter_torch, hf_config, hf_group
from symroof.core import derive
from symroof.core.graph import Structure, build
from symroof.core.symbols import B, S, T, b_kv
from symroof.io.bind import count, evaluate, model_values
from symroof.io.hf import model_from_hf_config

pytestmark = pytest.mark.validate
torch = flop_counter_torch()

HEADS, NOPE, ROPE, VDIM = 4, 8, 4, 6
IDX_HEADS, IDX_DIM = 3, 8
BATCH = 2


def _raw(topk, **extra):
    raw = {"architectures": ["DeepseekV32ForCausalLM"], "model_type": "deepseek_v32", "vocab_size": 40,
           "num_hidden_layers": 2, "hidden_size": 32, "intermediate_size": 24, "moe_intermediate_size": 8,
           "num_attention_heads": HEADS, "num_key_value_heads": HEADS, "n_routed_experts": 4, "num_experts_per_tok": 2,
           "n_shared_experts": 1, "kv_lora_rank": 8, "q_lora_rank": 12, "qk_rope_head_dim": ROPE,
           "qk_nope_head_dim": NOPE, "v_head_dim": VDIM, "index_topk": topk, "index_head_dim": IDX_DIM,
           "index_n_heads": IDX_HEADS, "first_k_dense_replace": 1, "n_group": 1, "topk_group": 1,
           "max_position_embeddings": 64, "bos_token_id": None, "eos_token_id": None, "pad_token_id": None}
    return {**raw, **extra}


def _card(raw):
    return model_from_hf_config(dict(raw), "dsa/config.json")


def _model(raw):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(hf_config(raw), attn_implementation="eager", experts_implementation="eager")


SHAPES = [_raw(5), _raw(2, attention_bias=True, first_k_dense_replace=0),
          _raw(7, index_head_dim=ROPE, index_n_heads=1, q_lora_rank=4),
          _raw(3, mlp_layer_types=["sparse", "dense", "sparse"], num_hidden_layers=3, first_k_dense_replace=2)]


@pytest.mark.parametrize("raw", SHAPES)
def test_parameters_per_group_are_transformers(raw):
    with torch.device("meta"):
        model = _model(raw)
    theirs: dict[str, int] = {}
    for name, p in model.named_parameters():
        theirs[hf_group(name)] = theirs.get(hf_group(name), 0) + p.numel()
    ours = count(_card(raw), batch=1, seq=4)
    assert {g: n for g, n in ours.params_by_group.items() if n} == theirs
    assert ours.params_total == sum(p.numel() for p in model.parameters())


def test_the_published_config_counts_as_transformers_builds_it():
    """deepseek-ai/DeepSeek-V3.2-Exp's config.json (tests/data/hf), built on the meta device."""
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "data" / "hf" / "DeepSeek-V3.2-Exp" / "config.json"
    raw = json.loads(path.read_text())
    with torch.device("meta"):
        model = _model(raw)
    assert count(_card(raw), batch=1, seq=4).params_total == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("raw, seq", [(SHAPES[0], 3), (SHAPES[0], 9), (SHAPES[1], 6), (SHAPES[2], 5), (SHAPES[3], 8)])
def test_training_flops_are_flop_counter_modes(raw, seq):
    """Forward and backward: the backward has none of the indexer (torch.no_grad in transformers)."""
    forward, backward, _ = counted(_model(raw), raw["vocab_size"], BATCH, seq)
    ours = count(_card(raw), batch=BATCH, seq=seq, attention="full")
    assert (ours.flops_forward, ours.flops_backward) == (forward.get_total_flops(), backward.get_total_flops())


def _hooked(model):
    """Per forward call of each layer's indexer: (the causal mask it is given, as allowed, and its top-k indices)."""
    calls = []

    def hook(module, args, output):
        mask = args[3]
        allowed = mask if mask.dtype == torch.bool else mask == 0
        calls.append((allowed.expand(output.shape[0], -1, -1), output.long()))

    for layer in model.model.layers:
        layer.self_attn.indexer.register_forward_hook(hook)
    return calls


def _pairs(calls):
    """(pairs MLA attends to: selected and allowed; pairs the indexer scores: allowed), summed over the calls."""
    attended = scored = 0
    for allowed, top in calls:
        chosen = torch.zeros(allowed.shape, dtype=torch.bool).scatter(-1, top, True)
        attended += int((chosen & allowed).sum())
        scored += int(allowed.sum())
    return attended, scored


def _core(c, blocks, ops):
    return sum(c.flops_by_module[f"{blk}/attn/{op}"]["forward"] for blk in blocks for op in ops)


@pytest.mark.parametrize("topk, seq", [(5, 3), (5, 5), (5, 6), (5, 12), (2, 9), (1, 4), (8, 20)])
def test_causal_counts_the_pairs_transformers_selects(topk, seq):
    raw = _raw(topk)
    model = _model(raw).eval()
    calls = _hooked(model)
    ids = torch.randint(0, raw["vocab_size"], (BATCH, seq), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        model(input_ids=ids)
    attended, scored = _pairs(calls)
    assert attended == BATCH * 2 * sum(min(t, topk) for t in range(1, seq + 1))   # a sanity check of the hook
    c = count(_card(raw), batch=BATCH, seq=seq, attention="causal")
    blocks = ("dense", "moe")
    assert _core(c, blocks, ("scores",)) == 2 * HEADS * (NOPE + ROPE) * attended
    assert _core(c, blocks, ("av",)) == 2 * HEADS * VDIM * attended
    assert _core(c, blocks, ("idx_scores",)) == 2 * IDX_HEADS * IDX_DIM * scored
    assert _core(c, blocks, ("idx_sum",)) == 2 * IDX_HEADS * scored


def _held(cache) -> int:
    return sum(t.numel() * t.element_size() for layer in cache.layers
               for t in (layer.keys, layer.values, layer.indexer_keys))


@pytest.mark.parametrize("topk, seq", [(5, 3), (5, 4), (5, 5), (5, 11), (2, 6)])
def test_prefill_decode_flops_selection_and_cache(topk, seq):
    """Prefill seq tokens, decode one: FlopCounterMode (full), the keys the decode step attends to (causal:
    min(k, S) per layer, from transformers' selection) and the bytes its cache holds after each."""
    from torch.utils.flop_counter import FlopCounterMode

    raw = _raw(topk)
    model = _model(raw).eval()
    ids = torch.randint(0, raw["vocab_size"], (BATCH, seq + 1), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        with FlopCounterMode(display=False) as prefill:
            cache = model(input_ids=ids[:, :seq], use_cache=True).past_key_values
        after_prefill, width = _held(cache), cache.layers[0].keys.element_size()
        calls = _hooked(model)
        with FlopCounterMode(display=False) as decode:
            cache = model(input_ids=ids[:, seq:], cache=cache, use_cache=True).past_key_values
    card = _card(raw)
    values = {**model_values(card), B: BATCH, b_kv: width}
    for phase, at, theirs, held in (("prefill", {T: seq}, prefill, after_prefill),
                                    ("decode", {S: seq + 1}, decode, _held(cache))):
        g = build(Structure.of(card), "full", phase=phase)
        assert evaluate(derive.flops(g), {**values, **at}) == theirs.get_total_flops(), phase
        assert evaluate(derive.kv_cache_bytes(g), {**values, **at}) == held, phase
    attended, scored = _pairs(calls)
    g = build(Structure.of(card), "causal", phase="decode")
    core = derive.total(g, "flops", "forward", where=lambda n, d: n.endswith("/attn/scores"))
    assert evaluate(core, {**values, S: seq + 1}) == 2 * HEADS * (NOPE + ROPE) * attended
    idx = derive.total(g, "flops", "forward", where=lambda n, d: n.endswith("/attn/idx_scores"))
    assert evaluate(idx, {**values, S: seq + 1}) == 2 * IDX_HEADS * IDX_DIM * scored == \
        2 * IDX_HEADS * IDX_DIM * BATCH * 2 * (seq + 1)


@pytest.mark.parametrize("raw", SHAPES[:2])
def test_training_memory_holds_no_gradient_or_optimizer_state_for_the_indexer(raw):
    """The indexer runs under torch.no_grad: after transformers' backward its weights' .grad is None and
    torch.optim.AdamW, stepping, keeps no exp_avg / exp_avg_sq for them. symroof's gradient and optimizer
    bytes are the RunSettings widths times exactly the elements torch gives a gradient and a state."""
    from symroof.io.run import RunSettings

    model = _model(raw)
    ids = torch.randint(0, raw["vocab_size"], (BATCH, 6))
    model(input_ids=ids, labels=ids).loss.backward()
    with_grad = sum(p.numel() for p in model.parameters() if p.grad is not None)
    adam = torch.optim.AdamW(model.parameters())
    adam.step()
    state = sum(s["exp_avg"].numel() for s in adam.state.values())
    indexer = sum(p.numel() for n, p in model.named_parameters() if ".indexer." in n)
    assert indexer and state == with_grad == sum(p.numel() for p in model.parameters()) - indexer
    run = RunSettings()
    memory = count(_card(raw), batch=BATCH, seq=6, run=run).memory
    assert memory["gradients"] == run.grad_bytes * with_grad
    assert memory["optimizer"] == run.optimizer_bytes * state
