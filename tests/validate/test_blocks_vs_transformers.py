"""The block variants against transformers: parameters on the meta device, FLOPs under FlopCounterMode.

The eight architectures read beyond the LLaMA layer (GPT-2, GPT-NeoX, Phi-3, OLMo 2, Qwen3-MoE,
Gemma 3, DeepSeek-V2 and V3) go through ``model_from_hf_config`` exactly as a ``config.json`` does.

- Parameters: 48 random configurations (6 per architecture, fixed seed) must equal
  ``sum(p.numel())`` in total and per group. Buffers are not parameters: DeepSeek-V3's
  ``e_score_correction_bias`` is a buffer, and neither side counts it.
- Prefill and decode (16 configurations): FLOPs and the KV cache transformers holds.
- FLOPs: 32 small random configurations (4 per architecture) and a random batch and length each:
  forward and backward totals, forward per module (every projection, router, expert bank and shared
  expert, the attention core, the unembedding) and backward per decoder layer (all layers
  together) and for the unembedding, with ``attention="full"`` (eager attention multiplies the
  whole T x T score matrix, sliding window or not) and eager experts. The reasons for comparing
  backward per layer rather than per projection are in test_torch_flops.py.

Fused projections (GPT-2's ``c_attn``, GPT-NeoX's ``query_key_value``, Phi-3's ``qkv_proj`` and
``gate_up_proj``, DeepSeek's ``kv_a_proj_with_mqa`` and ``kv_b_proj``, the experts' ``gate_up_proj``)
are one module in transformers and several nodes in symroof's graph; the map below sums them.
"""

from __future__ import annotations

import random

import pytest

torch = pytest.importorskip("torch",
                            reason="torch not installed: install the 'validate' extra (pip install .[validate])")
transformers = pytest.importorskip("transformers", reason="transformers not installed: install the 'validate' extra")

from hfcases import MORE_ARCHS, NEW_ARCHS, case_id, counted, random_configs  # noqa: E402
from hfcompare import assert_params_match, assert_phases_match, card_of, causal_lm, meta_layers, per_module  # noqa: E402
from symroof.io.bind import count  # noqa: E402
from symroof.io.hf import model_from_hf_config  # noqa: E402

pytestmark = pytest.mark.validate

PARAM_CASES = random_configs(seed=20261129, count=48, small=False, archs=NEW_ARCHS)
FLOP_CONFIGS = random_configs(seed=20261130, count=32, small=True, archs=NEW_ARCHS)
_SHAPES = random.Random(11)
FLOP_CASES = [(raw, _SHAPES.randint(1, 3), _SHAPES.randint(1, 16)) for raw in FLOP_CONFIGS]
# Gemma, Qwen2-MoE, gpt-oss and Granite (added later): seeds of their own, so the cases above stay as they were.
PARAM_CASES += random_configs(seed=20270101, count=32, small=False, archs=MORE_ARCHS)
_MORE_FLOPS = random_configs(seed=20270102, count=16, small=True, archs=MORE_ARCHS)
_MORE_SHAPES = random.Random(13)
FLOP_CASES += [(raw, _MORE_SHAPES.randint(1, 3), _MORE_SHAPES.randint(1, 16)) for raw in _MORE_FLOPS]

# Per architecture: transformers module(s) below a decoder layer ("a|b": whichever exists) -> the symroof
# nodes (last two path parts, summed over block types) that own the same matmuls.
_LLAMA_LIKE = {"self_attn.q_proj": ("attn/q",), "self_attn.k_proj": ("attn/k",), "self_attn.v_proj": ("attn/v",),
               "self_attn.o_proj": ("attn/o",), "mlp.gate_proj": ("mlp/gate",), "mlp.up_proj": ("mlp/up",),
               "mlp.down_proj": ("mlp/down",)}
LLAMA_ATTENTION = {m: n for m, n in _LLAMA_LIKE.items() if m.startswith("self_attn")}
_MOE = {"mlp.gate": ("moe/router",), "mlp.experts": ("moe/gate", "moe/up", "moe/down")}
MODULES = {
    "gpt2": {"attn.c_attn": ("attn/q", "attn/k", "attn/v"), "attn.c_proj": ("attn/o",),
             "mlp.c_fc": ("mlp/up",), "mlp.c_proj": ("mlp/down",)},
    "gpt_neox": {"attention.query_key_value": ("attn/q", "attn/k", "attn/v"), "attention.dense": ("attn/o",),
                 "mlp.dense_h_to_4h": ("mlp/up",), "mlp.dense_4h_to_h": ("mlp/down",)},
    "phi3": {"self_attn.qkv_proj": ("attn/q", "attn/k", "attn/v"), "self_attn.o_proj": ("attn/o",),
             "mlp.gate_up_proj": ("mlp/gate", "mlp/up"), "mlp.down_proj": ("mlp/down",)},
    "olmo2": _LLAMA_LIKE, "gemma3_text": _LLAMA_LIKE, "qwen3_moe": {**_LLAMA_LIKE, **_MOE}, "gemma": _LLAMA_LIKE,
    "granite": _LLAMA_LIKE,
    "qwen2_moe": {**_LLAMA_LIKE, **_MOE, "mlp.shared_expert.gate_proj": ("shared/gate",),
                  "mlp.shared_expert.up_proj": ("shared/up",), "mlp.shared_expert.down_proj": ("shared/down",),
                  "mlp.shared_expert_gate": ("moe/shared_gate",)},
    "gpt_oss": {**LLAMA_ATTENTION, "mlp.router": ("moe/router",), "mlp.experts": ("moe/gate", "moe/up", "moe/down")},
    "phi": {"self_attn.q_proj": ("attn/q",), "self_attn.k_proj": ("attn/k",), "self_attn.v_proj": ("attn/v",),
            "self_attn.dense": ("attn/o",), "mlp.fc1": ("mlp/up",), "mlp.fc2": ("mlp/down",)},
    "starcoder2": {**LLAMA_ATTENTION, "mlp.c_fc": ("mlp/up",), "mlp.c_proj": ("mlp/down",)},
    "olmoe": {**LLAMA_ATTENTION, **_MOE},
    "falcon": {"self_attention.query_key_value": ("attn/q", "attn/k", "attn/v"), "self_attention.dense": ("attn/o",),
               "mlp.dense_h_to_4h": ("mlp/up",), "mlp.dense_4h_to_h": ("mlp/down",)},
    "deepseek": {"self_attn.q_a_proj": ("attn/q_a",), "self_attn.q_b_proj|self_attn.q_proj": ("attn/q",),
                 "self_attn.kv_a_proj_with_mqa": ("attn/kv_a", "attn/k_rope"),
                 "self_attn.kv_b_proj": ("attn/k", "attn/v"), "self_attn.o_proj": ("attn/o",),
                 "mlp.gate_proj": ("mlp/gate",), "mlp.up_proj": ("mlp/up",), "mlp.down_proj": ("mlp/down",), **_MOE,
                 "mlp.shared_experts.gate_proj": ("shared/gate",), "mlp.shared_experts.up_proj": ("shared/up",),
                 "mlp.shared_experts.down_proj": ("shared/down",)},
}
ATTENTION = ("self_attn", "attn", "attention", "self_attention")
# Falcon's backward matmuls land in FlopCounterMode's other modules (its attention core's under
# mlp.dense_h_to_4h, most under the model and "Global"): its backward is compared in total only.
UNATTRIBUTED_BACKWARD = ("falcon",)
CORE = ("attn/scores", "attn/av")


def _owner(node: str) -> str:
    """``dense/attn/q`` (or ``layer/attn/q``) -> ``attn/q``; ``moe/moe/shared/up`` -> ``shared/up``."""
    return "/".join(node.split("/")[-2:])


@pytest.mark.parametrize("raw", PARAM_CASES, ids=case_id)
def test_params_match_transformers(raw):
    assert_params_match(raw)


@pytest.mark.parametrize("raw", [r for r in PARAM_CASES if r["model_type"] in MORE_ARCHS], ids=case_id)
def test_layer_kinds_match_the_layers_transformers_builds(raw):
    """Per layer, the window transformers gives the attention (None: global) and whether its MLP has experts.
    Parameters and FLOPs (eager attention computes every pair) cannot see where the sliding layers are."""
    model, card, kinds = meta_layers(raw)
    assert [getattr(layer.self_attn, "sliding_window", None) for layer in model.model.layers] == \
        [card.sliding_window if k.attention == "sliding" else None for k in kinds]
    assert [hasattr(layer.mlp, "experts") for layer in model.model.layers] == [k.mlp == "moe" for k in kinds]


def run_counted(raw: dict, batch: int, seq: int):
    return counted(causal_lm(raw), raw["vocab_size"], batch, seq)


@pytest.mark.parametrize("raw, batch, seq", FLOP_CASES, ids=[f"{case_id(r)}-B{b}T{t}" for r, b, t in FLOP_CASES])
def test_flops_match_flop_counter_mode(raw, batch, seq):
    if raw.get("n_positions", seq) < seq:
        seq = raw["n_positions"]                       # GPT-2 has no position beyond its table
    ours = count(card_of(raw), batch=batch, seq=seq, attention="full")
    forward, backward, both = run_counted(raw, batch, seq)
    assert ours.flops_forward == forward.get_total_flops()
    assert ours.flops_backward == backward.get_total_flops()

    theirs = per_module(forward)
    mine: dict[str, int] = {}
    for name, phases in ours.flops_by_module.items():
        if name != "unembed":
            mine[_owner(name)] = mine.get(_owner(name), 0) + phases["forward"]
    arch = "deepseek" if raw["model_type"].startswith("deepseek") else raw["model_type"]
    for modules, nodes in MODULES[arch].items():
        assert sum(mine.get(n, 0) for n in nodes) == sum(theirs.get(m, 0) for m in modules.split("|")), modules
    attention = next(a for a in ATTENTION if a in theirs)
    inside = sum(v for m, v in theirs.items() if m.startswith(attention + "."))
    assert sum(mine.get(n, 0) for n in CORE) == theirs[attention] - inside, "attention core"
    assert ours.flops_by_module["unembed"]["forward"] == theirs["lm_head"]
    layer_nodes = [n for n in ours.flops_by_module if n != "unembed" and "/" in n]
    assert sum(ours.flops_by_module[n]["forward"] for n in layer_nodes) == theirs["layer"]

    combined = per_module(both)
    if raw["model_type"] in UNATTRIBUTED_BACKWARD:
        return
    assert sum(ours.flops_by_module[n]["backward"] for n in layer_nodes) == combined["layer"] - theirs["layer"]
    assert ours.flops_by_module["unembed"]["backward"] == combined["lm_head"] - theirs["lm_head"]


def test_cases_cover_the_variants():
    cards = [model_from_hf_config(dict(raw), "random") for raw in FLOP_CONFIGS + PARAM_CASES]
    assert {c.architecture for c in cards} == set(NEW_ARCHS) | set(MORE_ARCHS)
    assert any(c.attention == "mla" and c.q_lora_rank for c in cards)
    assert any(c.attention == "mla" and not c.q_lora_rank for c in cards)
    assert any(c.d_ff_shared for c in cards) and any(len(c.blocks) > 1 for c in cards)
    assert any(c.sliding_window for c in cards) and any(c.parallel_residual for c in cards)
    assert any(c.rotary_pct < 1 for c in cards) and any(c.positions == "learned" for c in cards)
    assert any(c.norm_placement == "post" for c in cards) and any(c.norm == "layer" for c in cards)


PHASE_CASES = [(raw, _SHAPES.randint(1, 3), _SHAPES.randint(1, 12))
               for raw in random_configs(seed=20261131, count=16, small=True, archs=NEW_ARCHS)]
# T equal to the window included: blocks_of counts such sliding layers as global (w >= T), and their
# cache still keeps w - 1 keys, as transformers' sliding cache layers do.
PHASE_CASES += [(raw, _MORE_SHAPES.randint(1, 3), _MORE_SHAPES.randint(1, 12))
                for raw in random_configs(seed=20270103, count=12, small=True, archs=MORE_ARCHS)]


@pytest.mark.parametrize("raw, batch, seq", PHASE_CASES, ids=[f"{case_id(r)}-B{b}T{t}" for r, b, t in PHASE_CASES])
def test_prefill_decode_flops_and_cache_bytes(raw, batch, seq):
    """As tests/validate/test_phases.py, for the block variants: MLA caches its latent and RoPE key
    (R_kv + H_r per token); a sliding layer keeps its last w - 1 keys and a decode step reads w."""
    from torch.utils.flop_counter import FlopCounterMode

    from symroof.core import derive
    from symroof.core.graph import Structure, build
    from symroof.core.symbols import B, S, T, b_kv
    from symroof.io.bind import evaluate, model_values

    seq = min(seq, raw.get("n_positions", seq + 1) - 1)
    model = causal_lm(raw).eval()
    ids = torch.randint(0, raw["vocab_size"], (batch, seq), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        with FlopCounterMode(display=False) as prefill:
            cache = model(input_ids=ids, use_cache=True).past_key_values
        cached = sum(t.numel() * t.element_size() for layer in cache.layers for t in (layer.keys, layer.values))
        width = cache.layers[0].keys.element_size()
        with FlopCounterMode(display=False) as decode:
            model(input_ids=ids[:, -1:], cache=cache, use_cache=True)
    card = card_of(raw)
    values = {**model_values(card), B: batch}
    g_prefill = build(Structure.of(card, seq), "full", phase="prefill")
    g_decode = build(Structure.of(card, seq + 1), "full", phase="decode")
    assert evaluate(derive.flops(g_prefill), {**values, T: seq}) == prefill.get_total_flops()
    assert evaluate(derive.flops(g_decode), {**values, S: seq + 1}) == decode.get_total_flops()
    assert evaluate(derive.kv_cache_bytes(g_prefill), {**values, T: seq, b_kv: width}) == cached


def _sliding(model_type: str, window: int) -> dict:
    """A small config of a sliding class: every layer sliding (Mistral, StarCoder2), or sliding and global
    (Gemma 3, gpt-oss)."""
    raw = {"model_type": model_type, "architectures": [{"mistral": "MistralForCausalLM", "gemma3_text":
           "Gemma3ForCausalLM", "gpt_oss": "GptOssForCausalLM", "starcoder2": "Starcoder2ForCausalLM"}[model_type]],
           "num_hidden_layers": 3,
           "hidden_size": 16, "intermediate_size": 24, "num_attention_heads": 4, "num_key_value_heads": 2,
           "head_dim": 4, "vocab_size": 32, "sliding_window": window, "max_position_embeddings": 128,
           "bos_token_id": None, "eos_token_id": None, "pad_token_id": None}
    if model_type == "gemma3_text":
        raw.update(sliding_window_pattern=2, query_pre_attn_scalar=4, hidden_activation="gelu_pytorch_tanh")
    if model_type == "gpt_oss":
        raw.update(num_local_experts=2, num_experts_per_tok=1)
    return raw


WINDOW = 6
EDGE_CASES = [(arch, seq) for arch in ("mistral", "gemma3_text", "gpt_oss", "starcoder2")
              for seq in (WINDOW - 2, WINDOW - 1, WINDOW, WINDOW + 1, 4 * WINDOW)]


@pytest.mark.parametrize("arch, seq", EDGE_CASES, ids=[f"{a}-w{WINDOW}-T{t}" for a, t in EDGE_CASES])
def test_sliding_cache_at_the_window_edge(arch, seq):
    """Prefill T tokens, then decode one, around a window of w = 6 (Mistral, Gemma 3, gpt-oss, StarCoder2): T < w, T = w - 1 (the decode step
    makes S = w), T = w, T = w + 1 and T >> w. Each sliding layer of transformers' cache keeps
    min(S, w - 1) keys (DynamicSlidingWindowLayer: ``[-sliding_window + 1:]``); symroof's cache bytes
    after prefill (S = T) and after the decode step (S = T + 1) must equal the tensors it holds, and
    both phases' FLOPs must equal FlopCounterMode's, where the window covers the context too."""
    raw, batch = _sliding(arch, WINDOW), 2
    card = model_from_hf_config(dict(raw), f"edge/{arch}/config.json")
    assert any(kind.attention == "sliding" for kind in card.blocks.values())
    assert_phases_match(card, causal_lm(raw).eval(), raw["vocab_size"], batch, seq)
