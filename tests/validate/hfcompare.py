"""The comparisons the per-class modules (test_hf_*.py) make against transformers, written once.

Each module draws random configs of its own classes (hfcases.case_sets) and hands each one here:
the same dict goes to transformers' config class (``from_dict``) and to ``model_from_hf_config``.
All comparisons are exact (tolerance 0): parameters per group on the meta device; FLOPs and cache
bytes of a prefill of T tokens and a decode step under FlopCounterMode.
"""

from __future__ import annotations

import re

from hfcases import EAGER_EXPERTS, case_id, divisors, hf_config, hf_group, prefill_then_decode

GROUPS = ("embedding", "attention", "mlp", "norms", "unembedding")
# A decoder layer's module path in FlopCounterMode's keys, whatever the class calls its layer list.
LAYER_KEY = re.compile(r"^[^.]+\.(?:model\.layers|transformer\.h|transformer\.blocks|gpt_neox\.layers|model\.decoder\.layers)\.(\d+)(?:\.(.+))?$")


def per_module(counter) -> dict[str, int]:
    """FLOPs per transformers module below a decoder layer, summed over layers: {'self_attn.q_proj': n,
    'layer': the layers whole, 'lm_head': n}."""
    out: dict[str, int] = {}
    for key, by_op in counter.get_flop_counts().items():
        flops = sum(by_op.values())
        match = LAYER_KEY.match(key)
        if match:
            name = match.group(2) or "layer"
            out[name] = out.get(name, 0) + flops
        elif key.endswith(".lm_head"):
            out["lm_head"] = flops
    return out


def base_config(rng, classes: dict, arch: str, small: bool, layers: int, heads: int, width: int, **given) -> dict:
    """The keys every class here takes, drawn in one order (V, then K a divisor of N, then F); ``given``
    (values already drawn) stand after K."""
    return {"architectures": [classes[arch]], "model_type": arch, "vocab_size": rng.randrange(16, 97),
            "num_hidden_layers": layers, "hidden_size": width, "num_attention_heads": heads,
            "num_key_value_heads": rng.choice(divisors(heads)), **given,
            "intermediate_size": rng.randrange(8, 65, 4) if small else rng.randint(4, 600),
            "max_position_embeddings": 64, "bos_token_id": None, "eos_token_id": None, "pad_token_id": None}


def layer_types(rng, layers: int) -> list[str]:
    """A random ``layer_types`` of sliding and full layers."""
    return [rng.choice(("sliding_attention", "full_attention")) for _ in range(layers)]


def phase_ids(cases) -> list[str]:
    """Test ids of (raw, batch, seq) cases."""
    return [f"{case_id(r)}-B{b}T{t}" for r, b, t in cases]


def card_of(raw: dict):
    from symroof.io.hf import model_from_hf_config

    return model_from_hf_config(dict(raw), f"random/{case_id(raw)}/config.json")


def cards_by_class(classes, *case_lists) -> dict:
    """``{arch: [(raw, card), ...]}`` over parameter cases (configs) and FLOP/phase cases ((raw, B, T))."""
    cards = {arch: [] for arch in classes}
    for cases in case_lists:
        for case in cases:
            raw = case[0] if isinstance(case, tuple) else case
            cards[raw["model_type"]].append((raw, card_of(raw)))
    return cards


def causal_lm(raw: dict, meta: bool = False):
    """transformers' model of ``raw``: on the meta device (parameters only), or seeded with eager attention
    (and eager experts for the EAGER_EXPERTS classes: the routed tokens only) to run under FlopCounterMode."""
    import torch
    from transformers import AutoModelForCausalLM

    if meta:
        with torch.device("meta"):
            return AutoModelForCausalLM.from_config(hf_config(raw))
    torch.manual_seed(0)
    extra = {"experts_implementation": "eager"} if raw["model_type"] in EAGER_EXPERTS else {}
    return AutoModelForCausalLM.from_config(hf_config(raw), attn_implementation="eager", **extra)


def group_counts(module, group=hf_group) -> dict[str, int]:
    """transformers' parameters of ``module`` in symroof's groups (``group``: a parameter name's group)."""
    groups = dict.fromkeys(GROUPS, 0)
    for name, p in module.named_parameters():
        groups[group(name)] += p.numel()
    return groups


def hf_counts(raw: dict, group=hf_group) -> dict[str, int]:
    return group_counts(causal_lm(raw, meta=True), group)


def assert_params_match(raw: dict) -> None:
    """symroof's parameters per group and in total are transformers' (meta device)."""
    from symroof.io.bind import count

    ours, theirs = count(card_of(raw), batch=1, seq=1), hf_counts(raw)
    assert ours.params_by_group == theirs, (case_id(raw), ours.params_by_group, theirs)
    assert ours.params_total == sum(theirs.values())


def class_checks(param_cases, flop_cases, phase_cases):
    """The three checks every class module runs on its cases, as test functions the module binds by these
    names (pytest collects them there): parameters per group against transformers on the meta device,
    training FLOPs against FlopCounterMode (test_blocks_vs_transformers' per-module check), and prefill
    then decode FLOPs and cache bytes (``assert_phases_match``)."""
    import pytest
    from test_blocks_vs_transformers import test_flops_match_flop_counter_mode as training_flops_match

    @pytest.mark.parametrize("raw", param_cases, ids=case_id)
    def test_params_match_transformers(raw):
        assert_params_match(raw)

    @pytest.mark.parametrize("raw, batch, seq", flop_cases, ids=phase_ids(flop_cases))
    def test_flops_match_flop_counter_mode(raw, batch, seq):
        training_flops_match(raw, batch, seq)

    @pytest.mark.parametrize("raw, batch, seq", phase_cases, ids=phase_ids(phase_cases))
    def test_prefill_decode_flops_and_cache_bytes(raw, batch, seq):
        assert_phases_match(card_of(raw), causal_lm(raw).eval(), raw["vocab_size"], batch, seq)

    return test_params_match_transformers, test_flops_match_flop_counter_mode, test_prefill_decode_flops_and_cache_bytes


def meta_layers(raw: dict):
    """(transformers' model on the meta device, the card, the card's block per layer)."""
    card = card_of(raw)
    return causal_lm(raw, meta=True), card, [card.blocks[name] for name, n in card.layers for _ in range(n)]


def assert_phases_match(card, model, vocab: int, batch: int, seq: int, cache_scale=1, routed_scale=1) -> None:
    """Prefill ``seq`` tokens and decode one on ``model`` (eval mode): symroof's FLOPs (``attention="full"``)
    are FlopCounterMode's and its KV-cache bytes the bytes transformers' cache holds after each. Where
    transformers computes more than symroof counts, in a known ratio: ``routed_scale`` times symroof's
    routed-expert FLOPs (every expert on every token), ``cache_scale`` times its cache."""
    from symroof.core import derive
    from symroof.core.graph import Structure, build
    from symroof.core.symbols import B, S, T, b_kv
    from symroof.io.bind import evaluate, model_values

    prefill, decode, after_prefill, after_decode, width = prefill_then_decode(model, vocab, batch, seq)
    values = {**model_values(card), B: batch, b_kv: width}
    for phase, context, at, theirs, held in (("prefill", seq, {T: seq}, prefill, after_prefill),
                                             ("decode", seq + 1, {S: seq + 1}, decode, after_decode)):
        g = build(Structure.of(card, context), "full", phase=phase)
        flops = evaluate(derive.flops(g), {**values, **at})
        if routed_scale != 1:
            routed = evaluate(derive.total(g, "flops", where=lambda n, d: d.get("experts")), {**values, **at})
            flops += routed * (routed_scale - 1)
        assert flops == theirs.get_total_flops(), phase
        assert evaluate(derive.kv_cache_bytes(g), {**values, **at}) * cache_scale == held, phase
