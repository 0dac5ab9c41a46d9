"""GPT-J, CodeGen, StableLM, Nemotron, OLMo 1 and GPT-Neo read from config.json (hf_layouts_classic2), against
transformers 5.24.

Random configurations of each class, with the keys that decide its layout drawn at random (and left out, so that
transformers' defaults are used, where symroof reads the same default); the same dict goes to transformers'
config class (``from_dict``) and to ``model_from_hf_config``:

- parameters on the meta device, in total and per group (exact), and what each layer builds;
- FLOPs under FlopCounterMode (eager attention): forward and backward totals, forward per module, backward per
  decoder layer and for the head (exact);
- prefill T tokens and decode one: FLOPs, and the bytes of the keys and values transformers' cache holds after
  each (exact). GPT-Neo's local layers are read as sliding layers; transformers 5.24 keeps all their keys (its
  DynamicCache has no layer types) and scores them all in decode, which the card names: there the comparison
  adds, by hand, what a local layer computes and caches beyond its window (below);
- published configs (values of the public config.json files, written out inline): transformers' count is
  symroof's.

Each class draws from seeds of its own, so that adding a class changes no other class's cases.
"""

from __future__ import annotations

import random

import pytest

from hfcases import case_id as _case_id, case_sets, counted, divisors, flop_counter_torch, maybe, prefill_then_decode
from hfcompare import assert_phases_match, causal_lm, hf_counts, per_module

torch = flop_counter_torch()

from symroof.io.bind import count  # noqa: E402
from symroof.io.hf import model_from_hf_config  # noqa: E402

pytestmark = pytest.mark.validate

CLASSES = {"gptj": "GPTJForCausalLM", "codegen": "CodeGenForCausalLM", "stablelm": "StableLmForCausalLM",
           "nemotron": "NemotronForCausalLM", "olmo": "OlmoForCausalLM", "gpt_neo": "GPTNeoForCausalLM"}
_LLAMA_ATTN = {"self_attn.q_proj": ("attn/q",), "self_attn.k_proj": ("attn/k",), "self_attn.v_proj": ("attn/v",),
               "self_attn.o_proj": ("attn/o",)}
_GATED = {"mlp.gate_proj": ("mlp/gate",), "mlp.up_proj": ("mlp/up",), "mlp.down_proj": ("mlp/down",)}
_GPTJ_MLP = {"mlp.fc_in": ("mlp/up",), "mlp.fc_out": ("mlp/down",)}
# transformers module(s) below a decoder layer -> the symroof nodes (last two path parts) owning the same matmuls
MODULES = {"gptj": {"attn.q_proj": ("attn/q",), "attn.k_proj": ("attn/k",), "attn.v_proj": ("attn/v",),
                    "attn.out_proj": ("attn/o",), **_GPTJ_MLP},
           "codegen": {"attn.qkv_proj": ("attn/q", "attn/k", "attn/v"), "attn.out_proj": ("attn/o",), **_GPTJ_MLP},
           "stablelm": {**_LLAMA_ATTN, **_GATED}, "olmo": {**_LLAMA_ATTN, **_GATED},
           "nemotron": {**_LLAMA_ATTN, "mlp.up_proj": ("mlp/up",), "mlp.down_proj": ("mlp/down",)},
           "gpt_neo": {"attn.attention.q_proj": ("attn/q",), "attn.attention.k_proj": ("attn/k",),
                       "attn.attention.v_proj": ("attn/v",), "attn.attention.out_proj": ("attn/o",),
                       "mlp.c_fc": ("mlp/up",), "mlp.c_proj": ("mlp/down",)}}
# the module whose own FLOPs, beside its projections, are the attention core
ATTENTION = {"gptj": "attn", "codegen": "attn", "gpt_neo": "attn.attention"}
CORE = ("attn/scores", "attn/av")


def _shape(rng: random.Random, small: bool, head_dims: tuple = (4, 8, 16)):
    layers = rng.choice((1, 2, 3)) if small else rng.randint(1, 6)
    heads = rng.choice((1, 2, 4)) if small else rng.randint(1, 12)
    head_dim = rng.choice(head_dims) if small else rng.randrange(4, 65, 4)
    ff = rng.randrange(8, 65, 4) if small else rng.randint(4, 600)
    return layers, heads, head_dim, ff


def _common(arch: str, rng: random.Random) -> dict:
    return {"architectures": [CLASSES[arch]], "model_type": arch, "vocab_size": rng.randrange(16, 97),
            "bos_token_id": None, "eos_token_id": None, "pad_token_id": None}


def _gptj(rng: random.Random, small: bool, arch: str = "gptj") -> dict:
    """GPT-J and CodeGen: GPT-2's names, rotary_dim (required) even and at most the head; n_inner absent or null
    is 4 D. CodeGen's n_embd a multiple of 4 (its 4-shard qkv_proj)."""
    layers, heads, head_dim, ff = _shape(rng, small, (4, 8, 16) if arch == "codegen" else (2, 4, 6, 8, 16))
    raw = {**_common(arch, rng), "n_layer": layers, "n_head": heads, "n_embd": heads * head_dim,
           "n_positions": 64, "rotary_dim": rng.randrange(2, head_dim + 1, 2)}
    raw["n_inner"] = rng.choice((ff, ff, None, "absent"))
    maybe(rng, raw, "tie_word_embeddings", rng.random() < 0.5, 0.6)
    maybe(rng, raw, "activation_function", rng.choice(("gelu_new", "gelu", "relu")))
    maybe(rng, raw, "resid_pdrop", rng.choice((0.0, 0.1)), 0.4)
    if arch == "codegen":
        maybe(rng, raw, "n_ctx", 2048, 0.4)
    return {k: v for k, v in raw.items() if v != "absent"}


def _llama_like(arch: str, rng: random.Random, small: bool) -> dict:
    layers, heads, head_dim, ff = _shape(rng, small)
    return {**_common(arch, rng), "num_hidden_layers": layers, "num_attention_heads": heads,
            "hidden_size": heads * head_dim, "intermediate_size": ff, "max_position_embeddings": 64,
            "num_key_value_heads": rng.choice(divisors(heads))}


def _rotary(rng: random.Random, raw: dict, default: float) -> None:
    """partial_rotary_factor at the top, inside rope_parameters, or absent (the class's default), rotating an even
    number of each head's dims (StableLM's forward breaks on an odd one)."""
    head = raw["hidden_size"] // raw["num_attention_heads"]
    factor = rng.choice([f for f in (0.25, 0.5, 1.0) if int(head * f) % 2 == 0 and int(head * f)])
    where = rng.choice(("top", "rope_parameters", "absent" if factor == default else "top"))
    if where == "top":
        raw["partial_rotary_factor"] = factor
    elif where == "rope_parameters":
        raw["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": factor}


def _stablelm(rng: random.Random, small: bool) -> dict:
    raw = _llama_like("stablelm", rng, small)       # K required (transformers: 32)
    _rotary(rng, raw, 0.25)
    maybe(rng, raw, "use_qkv_bias", rng.random() < 0.5, 0.7)
    maybe(rng, raw, "use_parallel_residual", rng.random() < 0.5, 0.7)
    maybe(rng, raw, "qk_layernorm", False, 0.3)
    maybe(rng, raw, "tie_word_embeddings", rng.random() < 0.5, 0.6)
    maybe(rng, raw, "hidden_act", rng.choice(("silu", "gelu")))
    maybe(rng, raw, "hidden_dropout", rng.choice((0.0, 0.1)), 0.4)
    return raw


def _nemotron(rng: random.Random, small: bool) -> dict:
    raw = _llama_like("nemotron", rng, small)       # K required (absent or null does not build)
    raw["head_dim"] = rng.choice((rng.choice((4, 8, 12)), None, "absent"))     # null or absent: D // N
    _rotary(rng, raw, 0.5)
    for key in ("attention_bias", "mlp_bias", "tie_word_embeddings"):
        maybe(rng, raw, key, rng.random() < 0.5, 0.7)
    maybe(rng, raw, "hidden_act", rng.choice(("relu2", "gelu", "relu")))
    return {k: v for k, v in raw.items() if v != "absent"}


def _olmo(rng: random.Random, small: bool) -> dict:
    raw = _llama_like("olmo", rng, small)
    raw["num_key_value_heads"] = rng.choice((raw["num_key_value_heads"],) * 2 + (None, "absent"))   # N
    maybe(rng, raw, "head_dim", rng.choice((4, 8, 12)), 0.3)      # read when given (getattr), else D // N
    maybe(rng, raw, "clip_qkv", rng.choice((None, 8.0)))
    for key in ("attention_bias", "tie_word_embeddings"):
        maybe(rng, raw, key, rng.random() < 0.5, 0.7)
    return {k: v for k, v in raw.items() if v != "absent"}


def _gpt_neo(rng: random.Random, small: bool) -> dict:
    """num_layers / num_heads; attention_types as runs of kinds covering every layer; window_size where local."""
    layers, heads, head_dim, ff = _shape(rng, small)
    raw = {**_common("gpt_neo", rng), "num_layers": layers, "num_heads": heads, "hidden_size": heads * head_dim,
           "max_position_embeddings": 64, "window_size": rng.randint(2, 12)}
    raw["intermediate_size"] = rng.choice((ff, ff, None, "absent"))
    runs, left = [], layers
    while left:
        kinds = rng.choice((["global"], ["local"], ["global", "local"], ["local", "global"]))
        repeat = rng.randint(0, left // len(kinds)) if left >= len(kinds) else 0
        kinds, repeat = (kinds, repeat) if repeat else ([rng.choice(("global", "local"))], 1)
        runs.append([kinds, repeat])
        left -= len(kinds) * repeat
    raw["attention_types"] = runs
    maybe(rng, raw, "tie_word_embeddings", rng.random() < 0.5, 0.6)
    maybe(rng, raw, "activation_function", rng.choice(("gelu_new", "gelu", "relu")))
    maybe(rng, raw, "attention_layers", [k for kinds, r in runs for k in kinds * r], 0.3)   # to_dict writes it
    maybe(rng, raw, "embed_dropout", rng.choice((0.0, 0.1)), 0.4)
    return {k: v for k, v in raw.items() if v != "absent"}


DRAW = {"gptj": _gptj, "codegen": lambda rng, small: _gptj(rng, small, "codegen"), "stablelm": _stablelm,
        "nemotron": _nemotron, "olmo": _olmo, "gpt_neo": _gpt_neo}


def random_config(rng: random.Random, arch: str, small: bool) -> dict:
    return DRAW[arch](rng, small)


SEEDS = {"gptj": 20270901, "codegen": 20270911, "stablelm": 20270921, "nemotron": 20270931, "olmo": 20270941,
         "gpt_neo": 20270951}
PARAM_CASES, FLOP_CASES, PHASE_CASES = [], [], []
for _arch, _seed in SEEDS.items():
    for _all, _mine in zip((PARAM_CASES, FLOP_CASES, PHASE_CASES),
                           case_sets(random_config, {_arch: CLASSES[_arch]}, (_seed, _seed + 1, _seed + 2), _seed,
                                     (10, 6, 5), (16, 12))):
        _all += _mine


def case_id(raw: dict) -> str:
    """hfcases' test id, the sizes read under each class's own names."""
    names = {"n_layer": "num_hidden_layers", "n_embd": "hidden_size", "n_head": "num_attention_heads",
             "n_inner": "intermediate_size", "num_layers": "num_hidden_layers", "num_heads": "num_attention_heads"}
    return _case_id({**{names.get(k, k): v for k, v in raw.items()}})


def card_of(raw: dict):
    return model_from_hf_config(dict(raw), f"random/{case_id(raw)}/config.json")


def phase_ids(cases) -> list[str]:
    return [f"{case_id(r)}-B{b}T{t}" for r, b, t in cases]


@pytest.mark.parametrize("raw", PARAM_CASES, ids=case_id)
def test_params_match_transformers(raw):
    ours, theirs = count(card_of(raw), batch=1, seq=1), hf_counts(raw)
    assert ours.params_by_group == theirs, (case_id(raw), ours.params_by_group, theirs)
    assert ours.params_total == sum(theirs.values())


@pytest.mark.parametrize("raw", PARAM_CASES, ids=case_id)
def test_layers_match_the_layers_transformers_builds(raw):
    """Per layer: norms, biases, the head's bias, fused q/k/v, the head width; GPT-Neo's local layers and window."""
    model, card = causal_lm(raw, meta=True), card_of(raw)
    arch = raw["model_type"]
    kinds = [card.blocks[name].attention for name, n in card.layers for _ in range(n)] or ["global"] * card.n_layers
    if arch in ("gptj", "codegen", "gpt_neo"):
        layers = model.transformer.h
        assert (model.lm_head.bias is not None) == card.head_bias == (arch != "gpt_neo")
        norms = [n for n in ("ln_1", "ln_2") if hasattr(layers[0], n)]
        assert len(norms) == card.norms_per_layer and card.parallel_residual == (arch != "gpt_neo")
        assert (hasattr(layers[0].attn, "qkv_proj")) == card.fused_qkv
        if arch == "gpt_neo":
            assert [layer.attn.attention_type for layer in layers] == \
                ["local" if k == "sliding" else "global" for k in kinds]
            assert card.sliding_window in (0, model.config.window_size) and card.positions == "learned"
            assert model.transformer.wpe.num_embeddings == card.max_positions
        return
    layers = model.model.layers
    assert [layer.post_attention_layernorm is not None for layer in layers] == [card.norms_per_layer == 2] * len(layers)
    assert layers[0].self_attn.o_proj.in_features == card.n_heads * card.head_dim
    assert (layers[0].self_attn.q_proj.bias is not None) == card.qkv_bias
    assert not list(layers[0].input_layernorm.parameters()) if arch == "olmo" else card.norm == "layer"


def _per_module_match(raw: dict, ours, forward, both) -> None:
    theirs, mine = per_module(forward), {}
    for name, phases in ours.flops_by_module.items():
        if name != "unembed":
            owner = "/".join(name.split("/")[-2:])
            mine[owner] = mine.get(owner, 0) + phases["forward"]
    arch = raw["model_type"]
    for module, nodes in MODULES[arch].items():
        assert sum(mine.get(n, 0) for n in nodes) == theirs.get(module, 0), module
    attention = ATTENTION.get(arch, "self_attn")
    inside = sum(v for m, v in theirs.items() if m.startswith(attention + "."))
    assert sum(mine.get(n, 0) for n in CORE) == theirs[attention] - inside, "attention core"
    assert ours.flops_by_module["unembed"]["forward"] == theirs["lm_head"]
    layer_nodes = [n for n in ours.flops_by_module if n != "unembed" and "/" in n]
    assert sum(ours.flops_by_module[n]["forward"] for n in layer_nodes) == theirs["layer"]
    if arch == "gpt_neo":     # FlopCounterMode files part of its backward under transformer (as Falcon's): in total only
        return
    combined = per_module(both)
    assert sum(ours.flops_by_module[n]["backward"] for n in layer_nodes) == combined["layer"] - theirs["layer"]
    assert ours.flops_by_module["unembed"]["backward"] == combined["lm_head"] - theirs["lm_head"]


@pytest.mark.parametrize("raw, batch, seq", FLOP_CASES, ids=phase_ids(FLOP_CASES))
def test_flops_match_flop_counter_mode(raw, batch, seq):
    """Training FLOPs with attention="full": eager attention multiplies the whole T x T score matrix, GPT-Neo's
    local layers too (their mask is applied after)."""
    ours = count(card_of(raw), batch=batch, seq=seq, attention="full")
    forward, backward, both = counted(causal_lm(raw), raw["vocab_size"], batch, seq)
    assert ours.flops_forward == forward.get_total_flops()
    assert ours.flops_backward == backward.get_total_flops()
    _per_module_match(raw, ours, forward, both)


def _neo_beyond_window(card, batch: int, seq: int, width: int) -> tuple[int, int, int]:
    """What transformers' GPT-Neo computes and caches beyond symroof's sliding layers, by hand: each local layer
    keeps all S keys and values (symroof: the last min(w - 1, S)), 2 x B x N x H elements each a token, and in
    decode scores the new query against all S keys and sums all S values (symroof: min(w, S)), 2 B N H FLOPs a key
    for each of the two products. (prefill cache, decode cache, decode FLOPs) beyond symroof's."""
    local = sum(n for name, n in card.layers if card.blocks[name].attention == "sliding")
    w, per_key = card.sliding_window, 2 * batch * card.n_heads * card.head_dim
    cached = lambda s: local * per_key * (s - min(w - 1, s)) * width      # noqa: E731
    return cached(seq), cached(seq + 1), local * 2 * per_key * (seq + 1 - min(w, seq + 1))


@pytest.mark.parametrize("raw, batch, seq", PHASE_CASES, ids=phase_ids(PHASE_CASES))
def test_prefill_decode_flops_and_cache_bytes(raw, batch, seq):
    card, model = card_of(raw), causal_lm(raw).eval()
    if raw["model_type"] != "gpt_neo" or not card.sliding_window:
        assert_phases_match(card, model, raw["vocab_size"], batch, seq)
        return
    from symroof.core import derive
    from symroof.core.graph import Structure, build
    from symroof.core.symbols import B, S, T, b_kv
    from symroof.io.bind import evaluate, model_values

    prefill, decode, after_prefill, after_decode, width = prefill_then_decode(model, raw["vocab_size"], batch, seq)
    cache_p, cache_d, decode_extra = _neo_beyond_window(card, batch, seq, width)
    values = {**model_values(card), B: batch, b_kv: width}
    g = build(Structure.of(card, seq), "full", phase="prefill")
    assert evaluate(derive.flops(g), {**values, T: seq}) == prefill.get_total_flops()
    assert evaluate(derive.kv_cache_bytes(g), {**values, T: seq}) + cache_p == after_prefill
    g = build(Structure.of(card, seq + 1), "full", phase="decode")
    assert evaluate(derive.flops(g), {**values, S: seq + 1}) + decode_extra == decode.get_total_flops()
    assert evaluate(derive.kv_cache_bytes(g), {**values, S: seq + 1}) + cache_d == after_decode


def _all_cases():
    return PARAM_CASES + [r for r, _, _ in FLOP_CASES + PHASE_CASES]


def test_cases_cover_the_variants():
    cards = {arch: [(raw, card_of(raw)) for raw in _all_cases() if raw["model_type"] == arch] for arch in CLASSES}
    for arch, group in cards.items():
        assert {c.tie_embeddings for _, c in group} == {True, False}, arch
    for arch in ("gptj", "codegen", "stablelm", "nemotron"):
        assert len({c.rotary_pct for _, c in cards[arch]}) >= 3, arch
    for arch in ("stablelm", "nemotron", "olmo"):
        assert {c.n_kv_heads == c.n_heads for _, c in cards[arch]} == {True, False}, arch
        assert {c.qkv_bias for _, c in cards[arch]} == {True, False}, arch
    assert {c.d_ff == 4 * c.d_model for _, c in cards["gptj"]} == {True, False}
    assert {c.norms_per_layer for _, c in cards["stablelm"]} == {1, 2}
    assert {c.mlp_bias for _, c in cards["nemotron"]} == {True, False}
    assert any(c.head_dim * c.n_heads != c.d_model for _, c in cards["nemotron"] + cards["olmo"])
    assert {any(n.startswith("clip_qkv") for n in c.left_out) for _, c in cards["olmo"]} == {True, False}
    assert {bool(c.sliding_window) for _, c in cards["gpt_neo"]} == {True, False}
    assert any(len(c.layers) > 1 for _, c in cards["gpt_neo"])
    assert any(c.sliding_window and c.sliding_window < seq for raw, _, seq in PHASE_CASES
               if raw["model_type"] == "gpt_neo" for c in [card_of(raw)])


# Published configs, their values as in the public config.json files; transformers' count is symroof's.
PUBLISHED = {
    # EleutherAI/gpt-j-6b (its model card says 6,053,381,344; transformers 5.24 builds 6,050,882,784)
    "gpt-j-6b": {"architectures": ["GPTJForCausalLM"], "model_type": "gptj", "n_layer": 28, "n_embd": 4096,
                 "n_head": 16, "n_inner": None, "rotary_dim": 64, "n_positions": 2048, "vocab_size": 50400,
                 "activation_function": "gelu_new", "tie_word_embeddings": False, "attn_pdrop": 0.0,
                 "resid_pdrop": 0.0, "embd_pdrop": 0.0, "layer_norm_epsilon": 1e-05, "bos_token_id": 50256,
                 "eos_token_id": 50256},
    # Salesforce/codegen-350M-mono
    "codegen-350M-mono": {"architectures": ["CodeGenForCausalLM"], "model_type": "codegen", "n_layer": 20,
                          "n_embd": 1024, "n_head": 16, "n_inner": None, "rotary_dim": 32, "n_ctx": 2048,
                          "n_positions": 2048, "vocab_size": 51200, "activation_function": "gelu_new",
                          "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 50256},
    # stabilityai/stablelm-2-1_6b (its model card: hidden 2048, 24 layers, 32 heads)
    "stablelm-2-1_6b": {"architectures": ["StableLmForCausalLM"], "model_type": "stablelm",
                        "num_hidden_layers": 24, "hidden_size": 2048, "intermediate_size": 5632,
                        "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 100352,
                        "partial_rotary_factor": 0.25, "rope_theta": 10000, "use_qkv_bias": True,
                        "qk_layernorm": False, "use_parallel_residual": False, "hidden_act": "silu",
                        "layer_norm_eps": 1e-05, "max_position_embeddings": 4096, "tie_word_embeddings": False,
                        "bos_token_id": 100257, "eos_token_id": 100257},
    # nvidia/Nemotron-Mini-4B-Instruct
    "Nemotron-Mini-4B": {"architectures": ["NemotronForCausalLM"], "model_type": "nemotron",
                         "num_hidden_layers": 32, "hidden_size": 3072, "intermediate_size": 9216,
                         "num_attention_heads": 24, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 256000,
                         "partial_rotary_factor": 0.5, "hidden_act": "relu2", "norm_eps": 1e-05,
                         "max_position_embeddings": 4096, "tie_word_embeddings": False, "rope_theta": 10000,
                         "bos_token_id": 2, "eos_token_id": 3},
    # allenai/OLMo-1B-hf
    "OLMo-1B-hf": {"architectures": ["OlmoForCausalLM"], "model_type": "olmo", "num_hidden_layers": 16,
                   "hidden_size": 2048, "intermediate_size": 8192, "num_attention_heads": 16,
                   "num_key_value_heads": 16, "vocab_size": 50304, "clip_qkv": None, "attention_bias": False,
                   "hidden_act": "silu", "max_position_embeddings": 2048, "rope_theta": 10000.0,
                   "tie_word_embeddings": True, "pad_token_id": 1, "eos_token_id": 50279},
    # EleutherAI/gpt-neo-125m
    "gpt-neo-125m": {"architectures": ["GPTNeoForCausalLM"], "model_type": "gpt_neo", "num_layers": 12,
                     "hidden_size": 768, "num_heads": 12, "intermediate_size": None, "vocab_size": 50257,
                     "max_position_embeddings": 2048, "window_size": 256,
                     "attention_types": [[["global", "local"], 6]], "activation_function": "gelu_new",
                     "attention_dropout": 0, "embed_dropout": 0, "resid_dropout": 0, "layer_norm_epsilon": 1e-05,
                     "bos_token_id": 50256, "eos_token_id": 50256},
}


@pytest.mark.parametrize("name", PUBLISHED)
def test_published_configs_count_as_transformers_builds_them(name):
    raw = PUBLISHED[name]
    ours, theirs = count(card_of(raw), batch=1, seq=1), hf_counts(raw)
    assert ours.params_by_group == theirs and ours.params_total == sum(theirs.values())
    if name == "gpt-j-6b":
        assert ours.params_total == 6_050_882_784
