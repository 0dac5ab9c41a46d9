"""Mamba-2 mixers (core/ssm.py) against transformers 5.24: Nemotron-H (``NemotronHForCausalLM``), Falcon-H1
(``FalconH1ForCausalLM``), Bamba (``BambaForCausalLM``), Granite 4.0 (``GraniteMoeHybridForCausalLM``) and Mamba-2
(``Mamba2ForCausalLM``), and Mamba-1's mixer: Mamba (``MambaForCausalLM``) and Jamba (``JambaForCausalLM``).

Independent numbers: the parameters transformers builds (on the meta device, per group and in total, for small
configs and for published shapes of each class but Bamba: tests/data/hf), FlopCounterMode over its
modules, the tensors its cache holds, and a hand count of the SSD scan from the paper's recurrent form (Dao and Gu
2024, arXiv 2405.21060): per token and head, the state h of P x N written by a rank-1 update (dt·x)Bᵀ and read by C,
P·N multiply-adds each, so 4·P·N matmul FLOPs.

FlopCounterMode counts three things differently, each stated and asserted exactly (tolerance 0):

- the depthwise conv: transformers pads both ends (padding W - 1) and keeps the first T outputs, so torch counts
  T + W - 1 outputs per channel (of d_inner + 2·G·N; Mamba-1's d_inner) where symroof counts the T a causal kernel
  computes, and where the forward keeps a cache T < W tokens are first padded to W: max(T, W) + W - 1 (in prefill,
  and in a training forward of Nemotron-H, Falcon-H1, Bamba and Granite 4.0, whose use_cache defaults to true there;
  Mamba's and Mamba-2's turn it off while training); in decode ``causal_conv1d_update``
  convolves the W cached inputs and the new one, 2 outputs for 1;
- the scan in prefill and training: transformers' fallback ``mamba2_chunk_scan`` pads T to c = ceil(T / Q) chunks
  of Q = chunk_size and runs five einsums per head: C·Bᵀ scores 2·c·Q²·N, scores·x 2·c·Q²·P, chunk states
  2·c·Q·P·N, the inter-chunk recurrence 2·(c + 1)²·P·N, the states' readout 2·c·Q·P·N; symroof counts 4·T·P·N;
- the scan in decode: ``mamba2_selective_state_update`` writes the state elementwise (dt·B·x, uncounted) and reads
  it with one bmm, 2·P·N a head, against symroof's 4·P·N;
- Mamba-1's scan (Mamba, Gu and Dao 2023, arXiv 2312.00752: the same recurrence with d_inner heads of P = 1 and A
  per channel and state): transformers' ``mamba_selective_scan`` (sequential, without mambapy) and
  ``mamba_selective_state_update`` write the state elementwise and read it with one matmul a token, 2·N a channel:
  half symroof's count, in every phase.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from hfcases import counted, flop_counter_torch, hf_config, prefill_then_decode
from hfcompare import group_counts

torch = flop_counter_torch()

from symroof.core import derive  # noqa: E402
from symroof.core.graph import Structure, build  # noqa: E402
from symroof.core.symbols import B, S, T, b_kv  # noqa: E402
from symroof.io.bind import count, evaluate, model_values  # noqa: E402
from symroof.io.hf import model_from_hf_config  # noqa: E402

pytestmark = pytest.mark.validate
DATA = Path(__file__).resolve().parents[1] / "data/hf"


def _nemotron(rng: random.Random) -> dict:
    layers = rng.randint(3, 7)
    pattern = "".join(rng.choice("M*-E") for _ in range(layers - 3)) + "M*-"
    pattern = "".join(rng.sample(pattern, len(pattern)))
    heads = rng.choice((2, 4, 6))
    groups = rng.choice((1, 2))
    raw = {"architectures": ["NemotronHForCausalLM"], "model_type": "nemotron_h", "vocab_size": rng.randrange(16, 97),
           "hidden_size": rng.randrange(16, 65, 8), "intermediate_size": rng.randrange(8, 65, 4),
           "num_attention_heads": heads, "num_key_value_heads": rng.choice([k for k in (1, 2, 3) if heads % k == 0]),
           "head_dim": rng.choice((8, 16)), "mamba_num_heads": groups * rng.choice((2, 3, 4)),
           "mamba_head_dim": rng.choice((4, 8)), "n_groups": groups, "ssm_state_size": rng.choice((8, 16)),
           "conv_kernel": rng.choice((2, 3, 4)), "use_conv_bias": rng.random() < 0.7, "use_bias": rng.random() < 0.3,
           "mlp_bias": rng.random() < 0.3, "tie_word_embeddings": rng.random() < 0.3, "chunk_size": 8,
           "pad_token_id": None, "bos_token_id": None, "eos_token_id": None}
    if "E" in pattern:        # ungated routed experts and an ungated shared expert
        raw.update(n_routed_experts=4, num_experts_per_tok=2, moe_intermediate_size=rng.randrange(8, 33, 4),
                   moe_shared_expert_intermediate_size=rng.randrange(8, 33, 4))
    if rng.random() < 0.5:
        raw["hybrid_override_pattern"] = pattern
    else:
        raw["layers_block_type"] = [{"M": "linear_attention", "*": "full_attention", "-": "mlp", "E": "moe"}[c]
                                    for c in pattern]
    return raw


def _falcon(rng: random.Random) -> dict:
    heads, groups = rng.choice((2, 4)), rng.choice((1, 2))
    mheads, mhead = groups * rng.choice((1, 2, 3)), rng.choice((4, 8))
    raw = {"architectures": ["FalconH1ForCausalLM"], "model_type": "falcon_h1", "vocab_size": rng.randrange(16, 97),
           "num_hidden_layers": rng.randint(1, 3), "hidden_size": rng.randrange(16, 49, 8),
           "intermediate_size": rng.randrange(8, 65, 4), "num_attention_heads": heads,
           "num_key_value_heads": rng.choice([k for k in (1, 2) if heads % k == 0]),
           "mamba_n_heads": mheads, "mamba_d_ssm": mheads * mhead, "mamba_n_groups": groups,
           "mamba_d_state": rng.choice((8, 16)), "mamba_d_conv": rng.choice((2, 4)), "mamba_chunk_size": 8,
           "mamba_conv_bias": rng.random() < 0.7, "mamba_proj_bias": rng.random() < 0.3,
           "projectors_bias": rng.random() < 0.3, "mamba_rms_norm": rng.random() < 0.5,
           "mamba_norm_before_gate": rng.random() < 0.5, "attention_bias": rng.random() < 0.3,
           "mlp_bias": rng.random() < 0.3, "tie_word_embeddings": rng.random() < 0.3,
           "pad_token_id": None, "bos_token_id": None, "eos_token_id": None}
    if rng.random() < 0.5:
        raw["head_dim"] = rng.choice((4, 8))
    if rng.random() < 0.5:
        raw["mamba_d_head"] = mhead
    return raw


def _expanded(rng: random.Random, granite: bool) -> dict:
    """Bamba or Granite 4.0: d_inner = mamba_expand x hidden_size."""
    layers, heads, groups = rng.randint(2, 5), rng.choice((2, 4)), rng.choice((1, 2))
    width, expand = rng.randrange(16, 49, 8), rng.choice((1, 2))
    mheads = groups * rng.choice((1, 2, 4))
    raw = {"architectures": ["GraniteMoeHybridForCausalLM" if granite else "BambaForCausalLM"],
           "model_type": "granitemoehybrid" if granite else "bamba", "vocab_size": rng.randrange(16, 97),
           "num_hidden_layers": layers, "hidden_size": width, "intermediate_size": rng.randrange(8, 65, 4),
           "num_attention_heads": heads, "num_key_value_heads": rng.choice([k for k in (1, 2) if heads % k == 0]),
           "mamba_n_heads": mheads, "mamba_expand": expand, "mamba_n_groups": groups,
           "mamba_d_state": rng.choice((8, 16)), "mamba_d_conv": rng.choice((2, 4)), "mamba_chunk_size": 8,
           "mamba_conv_bias": rng.random() < 0.7, "mamba_proj_bias": rng.random() < 0.3,
           "attention_bias": rng.random() < 0.3, "tie_word_embeddings": rng.random() < 0.3,
           "pad_token_id": None, "bos_token_id": None, "eos_token_id": None}
    attn = sorted(rng.sample(range(layers), rng.randint(1, layers - 1)))
    if granite:
        experts = rng.choice((0, 4))
        raw.update(layer_types=["attention" if i in attn else "mamba" for i in range(layers)],
                   shared_intermediate_size=rng.randrange(8, 49, 4), num_local_experts=experts,
                   num_experts_per_tok=2 if experts else 0,
                   position_embedding_type=rng.choice((None, "rope", "nope")), residual_multiplier=0.5)
    else:
        raw.update(attn_layer_indices=attn, mlp_bias=rng.random() < 0.3)
    if rng.random() < 0.5:
        raw["mamba_d_head"] = expand * width // mheads
    return raw


def _mamba2(rng: random.Random) -> dict:
    groups, width, expand = rng.choice((1, 2)), rng.randrange(16, 49, 8), rng.choice((1, 2))
    heads = groups * rng.choice((1, 2, 4))
    return {"architectures": ["Mamba2ForCausalLM"], "model_type": "mamba2", "vocab_size": rng.randrange(16, 97),
            "num_hidden_layers": rng.randint(1, 3), "hidden_size": width, "expand": expand, "num_heads": heads,
            "head_dim": expand * width // heads, "n_groups": groups, "state_size": rng.choice((8, 16)),
            "conv_kernel": rng.choice((2, 4)), "chunk_size": 8, "use_bias": rng.random() < 0.3,
            "use_conv_bias": rng.random() < 0.7, "tie_word_embeddings": rng.random() < 0.3,
            "pad_token_id": None, "bos_token_id": None, "eos_token_id": None}


def _mamba(rng: random.Random) -> dict:
    width = rng.randrange(16, 49, 8)
    raw = {"architectures": ["MambaForCausalLM"], "model_type": "mamba", "vocab_size": rng.randrange(16, 97),
           "num_hidden_layers": rng.randint(1, 3), "hidden_size": width, "expand": rng.choice((1, 2)),
           "state_size": rng.choice((4, 8)), "conv_kernel": rng.choice((2, 4)), "use_bias": rng.random() < 0.3,
           "use_conv_bias": rng.random() < 0.7, "tie_word_embeddings": rng.random() < 0.7,
           "pad_token_id": None, "bos_token_id": None, "eos_token_id": None}
    if rng.random() < 0.5:
        raw["time_step_rank"] = rng.choice((2, 5))
    return raw


def _jamba(rng: random.Random) -> dict:
    layers, heads, width = rng.randint(2, 5), rng.choice((2, 4)), rng.randrange(16, 41, 8)
    period = rng.randint(2, layers)
    raw = {"architectures": ["JambaForCausalLM"], "model_type": "jamba", "vocab_size": rng.randrange(16, 97),
           "num_hidden_layers": layers, "hidden_size": width, "intermediate_size": rng.randrange(8, 49, 4),
           "num_attention_heads": heads, "num_key_value_heads": rng.choice([k for k in (1, 2) if heads % k == 0]),
           "attn_layer_period": period, "attn_layer_offset": rng.randrange(period), "expert_layer_period": 2,
           "expert_layer_offset": rng.randrange(2), "num_experts": rng.choice((1, 4)), "num_experts_per_tok": 1,
           "mamba_expand": rng.choice((1, 2)), "mamba_d_state": rng.choice((4, 8)), "mamba_d_conv": rng.choice((2, 4)),
           "mamba_dt_rank": rng.choice(("auto", 3)), "mamba_conv_bias": rng.random() < 0.7,
           "mamba_proj_bias": rng.random() < 0.3, "tie_word_embeddings": rng.random() < 0.3,
           "pad_token_id": None, "bos_token_id": None, "eos_token_id": None}
    return raw


MAMBA1 = ("mamba", "jamba")       # the Mamba-1 mixer
CASES = [_nemotron(random.Random(seed)) for seed in range(8)] + [_falcon(random.Random(seed)) for seed in range(8)] + \
    [_expanded(random.Random(seed), False) for seed in range(6)] + [_expanded(random.Random(seed), True) for seed in range(8)] \
    + [_mamba2(random.Random(seed)) for seed in range(6)] + [_mamba(random.Random(seed)) for seed in range(6)] \
    + [_jamba(random.Random(seed)) for seed in range(8)]
CLASSES = {"nemotron_h": "NemotronHForCausalLM", "falcon_h1": "FalconH1ForCausalLM", "bamba": "BambaForCausalLM",
           "granitemoehybrid": "GraniteMoeHybridForCausalLM", "mamba2": "Mamba2ForCausalLM",
           "mamba": "MambaForCausalLM", "jamba": "JambaForCausalLM"}


def _id(raw) -> str:
    return f"{raw['model_type']}-{''.join(raw.get('hybrid_override_pattern', 'list'))}-D{raw['hidden_size']}"


def _card(raw):
    return model_from_hf_config(dict(raw), "ssm/config.json")


def _spec(raw) -> dict:
    """The mixer's sizes as transformers' config object holds them (P, N, W, heads, groups, chunk, d_inner)."""
    c = hf_config(raw)
    if raw["model_type"] == "jamba":
        return {"heads": c.mamba_expand * c.hidden_size, "P": 1, "N": c.mamba_d_state, "W": c.mamba_d_conv,
                "groups": 1, "chunk": None}
    if raw["model_type"] == "mamba":          # Mamba-1: d_inner channels, each a head of width 1
        return {"heads": c.intermediate_size, "P": 1, "N": c.state_size, "W": c.conv_kernel, "groups": 1,
                "chunk": None}
    if raw["model_type"] == "mamba2":
        return {"heads": c.num_heads, "P": c.head_dim, "N": c.state_size, "W": c.conv_kernel, "groups": c.n_groups,
                "chunk": c.chunk_size}
    if raw["model_type"] == "nemotron_h":
        return {"heads": c.mamba_num_heads, "P": c.mamba_head_dim, "N": c.ssm_state_size, "W": c.conv_kernel,
                "groups": c.n_groups, "chunk": c.chunk_size}
    return {"heads": c.mamba_n_heads, "P": c.mamba_d_head, "N": c.mamba_d_state, "W": c.mamba_d_conv,     # the rest
            "groups": c.mamba_n_groups, "chunk": c.mamba_chunk_size}


def _types(raw) -> list[str]:
    """Each layer's type, in transformers' names (Falcon-H1's: 'hybrid', attention and Mamba side by side)."""
    c = hf_config(raw)
    return c.layer_types if raw["model_type"] in ("mamba2", "mamba", "jamba") else c.layers_block_type


def _group(raw):
    """symroof's group of a transformers parameter name: a mixer's by the layer's type, a mixer's norm a norm."""
    types = _types(raw)

    def group(name: str) -> str:
        parts = name.split(".")
        if name.startswith("lm_head."):
            return "unembedding"
        if parts[1] in ("embeddings", "embed_tokens"):
            return "embedding"
        if "norm" in parts[-2] or parts[1] in ("norm_f", "final_layernorm"):
            return "norms"
        if parts[3] in ("feed_forward", "shared_mlp", "block_sparse_moe") or types[int(parts[2])] in ("mlp", "moe"):
            return "mlp"
        return "attention"
    return group


def _meta(raw):
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(hf_config(raw))


def _params_by_group(model, group) -> dict:
    return {k: v for k, v in group_counts(model, group).items() if v}


@pytest.mark.parametrize("raw", CASES, ids=_id)
def test_params_per_group_and_layer_kinds_match_transformers(raw):
    card, model = _card(raw), _meta(raw)
    ours = count(card, batch=1, seq=1)
    assert {k: v for k, v in ours.params_by_group.items() if v} == _params_by_group(model, _group(raw))
    kinds = [card.blocks[name] for name, n in card.layers for _ in range(n)] if card.layers else []
    assert [(k.attention, k.mlp) for k in kinds] == [
        {"linear_attention": ("mamba", "none"), "full_attention": ("global", "none"), "mlp": ("none", "dense"),
         "moe": ("none", "moe"),
         "hybrid": ("hybrid", "dense")}[t] if raw["model_type"] in ("nemotron_h", "falcon_h1") else
        ("mamba", "none") if raw["model_type"] in ("mamba2", "mamba") else
        ("mamba" if t == "linear_attention" else "global",
         "moe" if card.n_experts > 1 and hf_config(raw).layers_num_experts[i] > 1 else "dense")
        if raw["model_type"] == "jamba" else
        ("mamba" if t == "linear_attention" else "global", "moe" if card.n_experts > 1 else "dense")
        for i, t in enumerate(_types(raw))]


@pytest.mark.parametrize("name, billions", [("NVIDIA-Nemotron-Nano-9B-v2", 9), ("Nemotron-H-8B-Base-8K", 8),
                                           ("Falcon-H1-7B-Instruct", 7), ("granite-4.0-h-350m", 0.35),
                                           ("Mamba-Codestral-7B-v0.1", 7), ("mamba-130m-hf", 0.13),
                                           ("Jamba-v0.1", 52)])
def test_published_shapes_count_as_transformers_builds_them(name, billions):
    """The published shapes (tests/data/hf/<name>/config.json, each folder's SOURCE.md): transformers' parameters on
    the meta device equal symroof's, in total and per group; the total is near the size the model's name gives (from
    10% below it to 1e9 above: Nano-9B-v2 has 8.89e9, granite-4.0-h-350m 3.40e8)."""
    raw = json.loads((DATA / name / "config.json").read_text())
    card, model = _card(raw), _meta(raw)
    ours = count(card, batch=1, seq=4096)
    assert ours.params_total == sum(p.numel() for p in model.parameters())
    assert {k: v for k, v in ours.params_by_group.items() if v} == _params_by_group(model, _group(raw))
    assert billions * 0.9 <= ours.params_total / 1e9 < billions + 1


def _mamba_layers(raw) -> int:
    return sum(t in ("linear_attention", "hybrid") for t in _types(raw))


def _hand_scan(raw, batch, tokens) -> int:
    """The recurrent form's matmul FLOPs over all Mamba layers: 4·P·N per token and head."""
    m = _spec(raw)
    return _mamba_layers(raw) * 4 * batch * tokens * m["heads"] * m["P"] * m["N"]


def _chunked_scan(raw, batch, tokens) -> int:
    """FlopCounterMode's count of transformers' mamba2_chunk_scan (module docstring); Mamba-1's sequential
    mamba_selective_scan reads the state with one matmul a token and writes it elementwise: half the hand count."""
    if raw["model_type"] in MAMBA1:
        return _hand_scan(raw, batch, tokens) // 2
    m = _spec(raw)
    q, p, n = m["chunk"], m["P"], m["N"]
    c = math.ceil(tokens / q)
    per_head = 2 * c * q * q * n + 2 * c * q * q * p + 2 * c * q * p * n + 2 * (c + 1) ** 2 * p * n + \
        2 * c * q * p * n
    return _mamba_layers(raw) * batch * m["heads"] * per_head


def _conv(raw, batch, outputs) -> int:
    """Depthwise conv FLOPs over all Mamba layers: 2·W per channel (x, B and C; Mamba-1's x alone) and output."""
    m = _spec(raw)
    channels = m["heads"] * m["P"] + (0 if raw["model_type"] in MAMBA1 else 2 * m["groups"] * m["N"])   # Mamba-1: x
    return _mamba_layers(raw) * 2 * batch * outputs * channels * m["W"]


def _model(raw):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(hf_config(raw), attn_implementation="eager",
                                            experts_implementation="eager")     # the routed tokens only


FLOPS = [(raw, b, t) for raw, b, t in zip(CASES[:6] + CASES[8:14] + CASES[16:20] + CASES[22:28],
                                          (1, 2, 3, 2, 1, 2) * 4, (7, 8, 17, 3, 12, 5) * 4)] + \
    [(raw, b, t) for raw, b, t in zip(CASES[30:34] + CASES[36:40] + CASES[42:46], (1, 2, 3, 2) * 3, (7, 8, 17, 3) * 3)]


@pytest.mark.parametrize("raw,batch,seq", FLOPS, ids=lambda v: _id(v) if isinstance(v, dict) else str(v))
def test_forward_flops_outside_the_scan_exact_and_the_scan_by_its_convention(raw, batch, seq):
    model, card = _model(raw), _card(raw)
    forward, _, _ = counted(model, raw["vocab_size"], batch, seq)
    g = build(Structure.of(card, seq), "full", phase="train")
    values = {**model_values(card), B: batch, T: seq}
    scan = evaluate(derive.total(g, "flops", "forward", where=lambda n, d: d.get("ssm", False)), values)
    conv = evaluate(derive.total(g, "flops", "forward", where=lambda n, d: "/ssm/conv_" in n), values)
    assert scan == _hand_scan(raw, batch, seq)
    assert conv == _conv(raw, batch, seq)
    ours = count(card, batch=batch, seq=seq, attention="full").flops_forward
    width = _spec(raw)["W"]       # where a cache is kept in training too (use_cache), T < W is first padded to W
    padded = seq if raw["model_type"] in ("mamba", "mamba2") else max(seq, width)
    assert forward.get_total_flops() == ours - scan + _chunked_scan(raw, batch, seq) + \
        _conv(raw, batch, padded + width - 1 - seq)
    # per module: each Mamba layer's in_proj and out_proj, each attention and MLP layer whole
    counts = forward.get_flop_counts()
    nodes = {n: evaluate(d["flops"], values) for n, d in g.nodes(data=True) if d["phase"] == "forward"}
    order = [name for name, n in card.layers for _ in range(n)]
    prefix = f"{CLASSES[raw['model_type']]}.{'backbone' if raw['model_type'] in ('mamba2', 'mamba') else 'model'}.layers"
    for i, (t, block) in enumerate(zip(_types(raw), order or ["layer"] * len(_types(raw)))):
        theirs = lambda mod: sum(counts.get(f"{prefix}.{i}.{mod}", {}).values())  # noqa: E731
        mine = lambda *parts: sum(nodes[f"{block}/{p}"] for p in parts)  # noqa: E731
        if t == "hybrid":         # Falcon-H1: the mixer's projections, the attention and the MLP whole
            assert theirs("mamba.in_proj") == mine(*(f"ssm/{p}" for p in ("z", "x", "B", "C", "dt")))
            assert theirs("mamba.out_proj") == mine("ssm/out")
            for mod, part in (("self_attn", "attn/"), ("feed_forward", "mlp/")):
                assert theirs(mod) == sum(v for n, v in nodes.items() if n.startswith(f"{block}/{part}")) > 0, i
        elif t == "linear_attention" and raw["model_type"] in ("bamba", "granitemoehybrid"):   # their module: mamba
            assert theirs("mamba.in_proj") == mine(*(f"ssm/{p}" for p in ("z", "x", "B", "C", "dt")))
            assert theirs("mamba.out_proj") == mine("ssm/out")
        elif t == "full_attention" and raw["model_type"] in ("bamba", "granitemoehybrid"):
            assert theirs("self_attn") == sum(v for n, v in nodes.items() if n.startswith(f"{block}/attn/")) > 0, i
        elif t == "linear_attention" and raw["model_type"] in MAMBA1:     # Mamba-1: in_proj, x_proj, dt_proj
            mod = "mixer" if raw["model_type"] == "mamba" else "mamba"
            assert theirs(f"{mod}.in_proj") == mine("ssm/z", "ssm/x")
            assert theirs(f"{mod}.x_proj") == mine("ssm/dt_low", "ssm/B", "ssm/C")
            assert theirs(f"{mod}.out_proj") == mine("ssm/out")
            if raw["model_type"] == "jamba":
                assert theirs("feed_forward") == sum(v for n, v in nodes.items() if n.startswith(
                    (f"{block}/mlp/", f"{block}/moe/"))) > 0, i
        elif t == "full_attention" and raw["model_type"] == "jamba":
            for mod, parts in (("self_attn", ("attn/",)), ("feed_forward", ("mlp/", "moe/"))):
                assert theirs(mod) == sum(v for n, v in nodes.items()
                                          if n.startswith(tuple(f"{block}/{p}" for p in parts))) > 0, i
        elif t == "linear_attention":
            assert theirs("mixer.in_proj") == mine(*(f"ssm/{p}" for p in ("z", "x", "B", "C", "dt")))
            assert theirs("mixer.out_proj") == mine("ssm/out")
        else:
            parts = {"full_attention": ("attn/",), "mlp": ("mlp/",), "moe": ("moe/", "shared/")}[t]
            assert theirs("mixer") == sum(v for n, v in nodes.items()
                                          if n.startswith(tuple(f"{block}/{p}" for p in parts))) > 0, i


@pytest.mark.parametrize("raw", CASES[:3] + CASES[8:10] + CASES[16:17] + CASES[22:23] + CASES[30:31] + CASES[36:37]
                         + CASES[42:43], ids=_id)
def test_training_backward_of_the_scan_follows_the_usual_rule(raw):
    """The scan's backward is twice its forward, as a matmul's dx and dW are (its four operands' gradients each
    cost half its forward): 8·P·N per token and head."""
    card = _card(raw)
    g = build(Structure.of(card), "full", phase="train")
    values = {**model_values(card), B: 2, T: 12}
    back = derive.total(g, "flops", "backward", where=lambda n, d: g.nodes[d["forward"]].get("ssm", False))
    assert evaluate(back, values) == 2 * _hand_scan(raw, 2, 12)


def _held(cache) -> int:
    total = 0
    for layer in cache.layers:
        for states in ("conv_states", "recurrent_states"):
            held = getattr(layer, states, None) or {}
            total += sum(t.numel() for t in (held.values() if isinstance(held, dict) else held) if torch.is_tensor(t))
        total += sum(t.numel() for t in (getattr(layer, "keys", None), getattr(layer, "values", None))
                     if torch.is_tensor(t))
    return total


PHASES = [(raw, b, t) for raw, b, t in zip(CASES[2:7] + CASES[10:15] + CASES[18:22] + CASES[24:30],
                                           (2, 1, 3, 1, 2) * 4, (3, 9, 5, 2, 11) * 4)] + \
    [(raw, b, t) for raw, b, t in zip(CASES[32:36] + CASES[38:42] + CASES[44:50], (2, 1, 3, 1) * 3, (3, 9, 5, 2) * 3)]


@pytest.mark.parametrize("raw,batch,seq", PHASES, ids=lambda v: _id(v) if isinstance(v, dict) else str(v))
def test_prefill_decode_flops_and_the_states_transformers_keeps(raw, batch, seq):
    model, card = _model(raw).eval(), _card(raw)
    prefill, decode, held_prefill, held_decode, _ = prefill_then_decode(model, raw["vocab_size"], batch, seq, _held)
    values = {**model_values(card), B: batch, b_kv: 1}
    pre = build(Structure.of(card, seq), "full", phase="prefill")
    dec = build(Structure.of(card, seq + 1), "full", phase="decode")
    ours_pre = evaluate(derive.flops(pre, "forward"), {**values, T: seq})
    ours_dec = evaluate(derive.flops(dec, "forward"), {**values, S: seq + 1})
    width = _spec(raw)["W"]           # a prefill shorter than W is padded to W first (update_conv_state)
    assert prefill.get_total_flops() == ours_pre - _hand_scan(raw, batch, seq) + _chunked_scan(raw, batch, seq) + \
        _conv(raw, batch, max(seq, width) + width - 1 - seq)
    # decode: the state read by one bmm (2·P·N a head, the write uncounted), the conv's two outputs for one
    assert decode.get_total_flops() == ours_dec - _hand_scan(raw, batch, 1) // 2 + _conv(raw, batch, 1)
    # the cache: Mamba layers a constant state (conv: the last W inputs of x, B, C; the B x heads x P x N SSM
    # state), attention layers their keys and values (elements: b_kv = 1)
    assert evaluate(derive.kv_cache_bytes(pre), {**values, T: seq}) == held_prefill
    assert evaluate(derive.kv_cache_bytes(dec), {**values, S: seq + 1}) == held_decode
