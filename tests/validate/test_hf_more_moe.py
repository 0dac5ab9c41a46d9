"""More MoE classes read from config.json, against transformers: MiniMax-M2.

Random configurations of each class, with the keys that decide its layout drawn at random (and
left out, so that transformers' defaults are used, where symroof reads the same default); the same
dict goes to transformers' config class (``from_dict``) and to ``model_from_hf_config``:

- parameters on the meta device, in total and per group, and which layers have experts;
- FLOPs under FlopCounterMode (eager attention, ``experts_implementation="eager"``: the routed
  tokens only, as for the other MoE classes; transformers' default grouped_mm path is an op
  FlopCounterMode does not count): forward and backward totals, forward per module, backward per
  decoder layer and for the head (test_blocks_vs_transformers.py's checks, its module map
  extended to these classes);
- prefill T tokens and decode one: FLOPs, and the keys and values transformers' cache holds after each.
"""

from __future__ import annotations

import random

import pytest

torch = pytest.importorskip("torch",
                            reason="torch not installed: install the 'validate' extra (pip install .[validate])")
transformers = pytest.importorskip("transformers", reason="transformers not installed: install the 'validate' extra")

from hfcases import case_id, case_sets, hf_config, prefill_then_decode  # noqa: E402
from test_blocks_vs_transformers import MODULES, hf_counts  # noqa: E402
from test_blocks_vs_transformers import test_flops_match_flop_counter_mode as training_flops_match  # noqa: E402
from symroof.io.bind import count  # noqa: E402
from symroof.io.hf import model_from_hf_config  # noqa: E402

pytestmark = pytest.mark.validate

CLASSES = {"minimax_m2": "MiniMaxM2ForCausalLM"}
_ATTN = {m: n for m, n in MODULES["olmoe"].items() if m.startswith("self_attn")}
_MOE = {"mlp.gate": ("moe/router",), "mlp.experts": ("moe/gate", "moe/up", "moe/down")}
MODULES.update(minimax_m2={**_ATTN, **_MOE})      # the training-FLOP check's map, extended to these classes


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _maybe(rng: random.Random, raw: dict, key: str, value, p: float = 0.5) -> None:
    if rng.random() < p:
        raw[key] = value


def random_config(rng: random.Random, arch: str, small: bool) -> dict:
    """A random config of ``arch``; required keys always given, the others given or left out at random."""
    layers = rng.choice((1, 2, 3)) if small else rng.randint(1, 6)
    heads = rng.choice((1, 2, 4)) if small else rng.randint(1, 12)
    head_dim = rng.choice((4, 8, 16)) if small else rng.randrange(4, 65, 4)
    width = heads * head_dim if rng.random() < 0.5 else heads * rng.choice((2, 4, 6, 8))
    experts = rng.randint(2, 6)
    raw = {"architectures": [CLASSES[arch]], "model_type": arch, "vocab_size": rng.randrange(16, 97),
           "num_hidden_layers": layers, "hidden_size": width, "num_attention_heads": heads,
           "num_key_value_heads": rng.choice(_divisors(heads)), "head_dim": head_dim,
           "intermediate_size": rng.randrange(8, 65, 4) if small else rng.randint(4, 600),
           "num_experts_per_tok": rng.randint(1, experts), "max_position_embeddings": 64,
           "bos_token_id": None, "eos_token_id": None, "pad_token_id": None}
    _maybe(rng, raw, "tie_word_embeddings", rng.random() < 0.5, 0.6)
    if arch == "minimax_m2":      # K and head_dim required (8 and 128); experts under either name
        raw[rng.choice(("num_local_experts", "num_experts"))] = experts
        share = rng.choice(("rotary_dim", "partial_rotary_factor", "rope_parameters", "absent"))
        if share == "rotary_dim":
            raw["rotary_dim"] = rng.choice((head_dim // 2, head_dim))
        elif share == "partial_rotary_factor":
            raw.update(partial_rotary_factor=rng.choice((0.5, 1.0)), rotary_dim=head_dim)   # the factor wins
        elif share == "rope_parameters":
            raw["rope_parameters"] = {"rope_type": "default", "rope_theta": 5e6, "partial_rotary_factor": 0.25}
        _maybe(rng, raw, "attn_type_list", [1] * layers)
        _maybe(rng, raw, "use_mtp", rng.random() < 0.5)
        _maybe(rng, raw, "num_mtp_modules", rng.choice((0, 3)))
        _maybe(rng, raw, "scoring_func", "sigmoid", 0.3)
    return raw


PARAM_CASES, FLOP_CASES, PHASE_CASES = case_sets(random_config, CLASSES, (20270501, 20270502, 20270503), 23,
                                                 (10, 6, 5), (16, 12))


def _card(raw: dict):
    return model_from_hf_config(dict(raw), f"random/{case_id(raw)}/config.json")


@pytest.mark.parametrize("raw", PARAM_CASES, ids=case_id)
def test_params_match_transformers(raw):
    ours, theirs = count(_card(raw), batch=1, seq=1), hf_counts(raw)
    assert ours.params_by_group == theirs, (case_id(raw), ours.params_by_group, theirs)
    assert ours.params_total == sum(theirs.values())


@pytest.mark.parametrize("raw", PARAM_CASES, ids=case_id)
def test_layers_match_the_layers_transformers_builds(raw):
    """Per layer: experts or not; q/k norms and their width; the share of each head RoPE turns."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(hf_config(raw))
    card = _card(raw)
    kinds = [card.blocks[name] for name, n in card.layers for _ in range(n)]
    assert [hasattr(layer.mlp, "experts") for layer in model.model.layers] == [k.mlp == "moe" for k in kinds]
    attn = model.model.layers[0].self_attn
    assert hasattr(attn, "q_norm") == card.qk_norm
    if card.qk_norm_width == "all":
        assert attn.q_norm.weight.numel() == card.n_heads * card.head_dim
    factor = model.config.rope_parameters.get("partial_rotary_factor", 1.0)
    assert int(card.head_dim * factor) == card.head_dim * card.rotary_pct


@pytest.mark.parametrize("raw, batch, seq", FLOP_CASES, ids=[f"{case_id(r)}-B{b}T{t}" for r, b, t in FLOP_CASES])
def test_flops_match_flop_counter_mode(raw, batch, seq):
    training_flops_match(raw, batch, seq)


@pytest.mark.parametrize("raw, batch, seq", PHASE_CASES, ids=[f"{case_id(r)}-B{b}T{t}" for r, b, t in PHASE_CASES])
def test_prefill_decode_flops_and_cache_bytes(raw, batch, seq):
    from transformers import AutoModelForCausalLM

    from symroof.core import derive
    from symroof.core.graph import Structure, build
    from symroof.core.symbols import B, S, T, b_kv
    from symroof.io.bind import evaluate, model_values

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(hf_config(raw), attn_implementation="eager",
                                             experts_implementation="eager").eval()
    prefill, decode, after_prefill, after_decode, width = prefill_then_decode(model, raw["vocab_size"], batch, seq)
    card = _card(raw)
    values = {**model_values(card), B: batch, b_kv: width}
    for phase, context, at, theirs, held in (("prefill", seq, {T: seq}, prefill, after_prefill),
                                             ("decode", seq + 1, {S: seq + 1}, decode, after_decode)):
        g = build(Structure.of(card, context), "full", phase=phase)
        assert evaluate(derive.flops(g), {**values, **at}) == theirs.get_total_flops(), phase
        assert evaluate(derive.kv_cache_bytes(g), {**values, **at}) == held, phase


def test_cases_cover_the_variants():
    cards = {arch: [] for arch in CLASSES}
    for raw in PARAM_CASES + [r for r, _, _ in FLOP_CASES + PHASE_CASES]:
        cards[raw["model_type"]].append((raw, _card(raw)))
    for group in cards.values():
        assert {c.tie_embeddings for _, c in group} == {True, False}
        assert {c.n_kv_heads == c.n_heads for _, c in group} == {True, False}
        assert any(c.experts_per_token > 1 for _, c in group)
    minimax = cards["minimax_m2"]
    assert len({c.rotary_pct for _, c in minimax}) >= 3 and any(c.left_out for _, c in minimax)
    assert {"num_experts", "num_local_experts"} <= {k for raw, _ in minimax for k in raw}
