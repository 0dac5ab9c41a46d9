"""Configurations for the checks against transformers: random small ones, and the shipped cards.

Every configuration is a plain ``config.json``-style dict. The tests hand the *same* dict to
transformers (its config class, ``from_dict``, as loading a ``config.json`` does) and to
``symroof.io.hf.model_from_hf_config``, so the import path is what gets checked.

Which keys each architecture reads, and which it silently ignores, is from the transformers 5.x
source, checked by building each class on the meta device. The random choices include ignored
keys on purpose: a Mistral with ``attention_bias: true`` has no bias, and symroof must not count one.
"""

from __future__ import annotations

import random

#  ours       transformers class      K may be left out  head_dim may be left out
ARCHS = {
    "llama":   ("LlamaForCausalLM",   True,  True),
    "mistral": ("MistralForCausalLM", False, True),    # absent K means Mistral's own 8, not N
    "mixtral": ("MixtralForCausalLM", False, True),
    "qwen2":   ("Qwen2ForCausalLM",   False, True),    # absent K means 32
    "qwen3":   ("Qwen3ForCausalLM",   False, False),   # absent head_dim means 128
    "gemma2":  ("Gemma2ForCausalLM",  False, False),   # absent head_dim means 256, absent K 4
}
# The architectures read beyond the LLaMA layer; their configurations come from new_config below.
#   ours            transformers class
NEW_ARCHS = {
    "gpt2":        "GPT2LMHeadModel",         # Conv1D, LayerNorm, learned positions, fused qkv, plain MLP
    "gpt_neox":    "GPTNeoXForCausalLM",      # fused qkv, parallel residual, partial RoPE, biases
    "phi3":        "Phi3ForCausalLM",         # fused qkv and gate_up, sliding window
    "olmo2":       "Olmo2ForCausalLM",        # post-norms, q/k norms over all heads
    "qwen3_moe":   "Qwen3MoeForCausalLM",     # MoE on some layers (decoder_sparse_step, mlp_only_layers)
    "gemma3_text": "Gemma3ForCausalLM",       # sliding/global pattern, 4 norms + q/k norms
    "deepseek_v2": "DeepseekV2ForCausalLM",   # MLA, shared experts, first dense layers
    "deepseek_v3": "DeepseekV3ForCausalLM",
}
# Classes added later, drawn from seeds of their own (adding them to NEW_ARCHS would change its draws).
MORE_ARCHS = {
    "gemma":     "GemmaForCausalLM",          # GeGLU, (1 + w) RMSNorm, tied by default, head_dim != D/N
    "qwen2_moe": "Qwen2MoeForCausalLM",       # routed experts, a sigmoid-gated shared expert, dense/sparse mixes
    "gpt_oss":   "GptOssForCausalLM",         # router and expert biases, attention sinks, sliding/full layers
    "granite":   "GraniteForCausalLM",        # the LLaMA layer with scalar multipliers
}
# Which of them run their experts through transformers' experts_implementation switch.
EAGER_EXPERTS = ("mixtral", "qwen3_moe", "deepseek_v2", "deepseek_v3", "qwen2_moe", "gpt_oss", "olmoe")
EAGER_EXPERTS += ("minimax_m2", "dots1", "ernie4_5_moe")      # tests/validate/test_hf_more_moe_flops.py
EAGER_EXPERTS += ("phimoe", "granitemoe", "granitemoeshared")  # tests/validate/test_hf_moe3.py
EAGER_EXPERTS += ("glm4_moe",)                                 # tests/validate/test_hf_llama4_glm.py
EAGER_EXPERTS += ("glm4_moe_lite",)                            # tests/validate/test_hf_glm.py
EAGER_EXPERTS += ("solar_open", "cohere2_moe", "exaone_moe")  # tests/validate/test_hf_recent.py
EAGER_EXPERTS += ("granitemoe_swa",)                           # tests/validate/test_hf_recent2.py
EAGER_EXPERTS += ("flex_olmo", "afmoe")                       # tests/validate/test_hf_recent3.py
# The keys that add parameters in each class (attention_bias, mlp_bias); elsewhere they are ignored.
BIAS_KEYS = {"llama": ("attention_bias", "mlp_bias"), "qwen3": ("attention_bias",), "gemma2": ("attention_bias",)}


def flop_counter_torch():
    """torch, where it is the version whose FlopCounterMode op table the FLOP checks are written
    against (the 'validate' extra pins torch==2.13.0), with transformers; else the calling module is
    skipped with the reason."""
    import pytest

    torch = pytest.importorskip("torch",
                                reason="torch not installed: install the 'validate' extra (pip install .[validate])")
    pytest.importorskip("transformers", reason="transformers not installed: install the 'validate' extra")
    if not torch.__version__.startswith("2.13."):
        pytest.skip(f"FlopCounterMode's op table is pinned by the 'validate' extra (torch==2.13.0); found "
                    f"{torch.__version__}", allow_module_level=True)
    return torch


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def random_config(rng: random.Random, arch: str, small: bool) -> dict:
    """A random configuration of ``arch``. ``small`` keeps it cheap enough to run on the CPU."""
    hf_class, k_optional, head_dim_optional = ARCHS[arch]
    if small:
        layers, heads = rng.choice((1, 2)), rng.choice((1, 2, 3, 4, 6))
        head_dim = rng.choice((2, 4, 6, 8, 12, 16))    # even: RoPE rotates pairs
        width, ff, vocab = heads * rng.randint(2, 12), rng.randrange(8, 65, 4), rng.randrange(16, 97)
    else:
        layers, heads = rng.randint(1, 4), rng.randint(1, 16)
        head_dim = rng.randrange(2, 97, 2)
        width, ff, vocab = heads * rng.randint(1, 40), rng.randint(4, 1024), rng.randint(8, 5000)
    # transformers checks hidden % heads == 0 even where head_dim is given, so D is a multiple of N
    kv = rng.choice(divisors(heads))
    raw = {"architectures": [hf_class], "model_type": arch, "num_hidden_layers": layers, "hidden_size": width,
           "intermediate_size": ff, "num_attention_heads": heads, "num_key_value_heads": kv,
           "head_dim": head_dim, "vocab_size": vocab, "max_position_embeddings": 128}
    # head_dim = hidden/heads where transformers derives it that way (an even quotient, for RoPE)
    if head_dim_optional and width % heads == 0 and (width // heads) % 2 == 0 and rng.random() < 0.3:
        del raw["head_dim"]
    if k_optional and rng.random() < 0.2:
        del raw["num_key_value_heads"]                 # Llama: K = N
    if arch != "gemma2" or rng.random() < 0.7:         # Gemma 2 ties by default: leave it out sometimes
        raw["tie_word_embeddings"] = rng.random() < 0.5
    for key in ("attention_bias", "mlp_bias"):         # read by some classes, ignored by others
        if rng.random() < 0.6:
            raw[key] = rng.random() < 0.5
    if arch == "mixtral":
        experts = rng.randint(2, 6)
        raw.update(num_local_experts=experts, num_experts_per_tok=rng.randint(1, experts))
    if arch in ("mistral", "mixtral", "qwen2", "gemma2") and rng.random() < 0.5:
        raw["sliding_window"] = rng.randint(2, 64)     # narrows attention, adds no weight
    if arch == "mistral":             # required: MistralConfig's default, 4096, is Mistral 7B's (no draw: the
        raw.setdefault("sliding_window", None)        # other cases keep their values)
    if arch == "gemma2":
        # required (transformers' default is Gemma 2's constant, 4096); at most the context
        raw.setdefault("sliding_window", raw["max_position_embeddings"])
        raw.update(query_pre_attn_scalar=rng.choice((head_dim, 7)), attn_logit_softcapping=50.0,
                   final_logit_softcapping=30.0, hidden_activation="gelu_pytorch_tanh")
    if arch == "qwen2" and rng.random() < 0.5:
        raw["use_sliding_window"] = False
    return raw


def random_configs(seed: int, count: int, small: bool, archs=None) -> list[dict]:
    """``count`` configurations cycling through ``archs`` (default: the six LLaMA-like ones), from a fixed seed."""
    rng = random.Random(seed)
    names = list(archs or ARCHS)
    return [(random_config if name in ARCHS else new_config)(rng, name, small) for i, name in
            ((i, names[i % len(names)]) for i in range(count))]


def new_config(rng: random.Random, arch: str, small: bool) -> dict:
    """A random configuration of one of NEW_ARCHS, with the keys that decide its layout drawn at random."""
    layers = rng.choice((1, 2, 3)) if small else rng.randint(1, 6)
    heads = rng.choice((1, 2, 4)) if small else rng.randint(1, 12)
    head_dim = rng.choice((4, 8, 16)) if small else rng.randrange(4, 65, 4)
    width = heads * head_dim if rng.random() < 0.5 else heads * rng.choice((2, 4, 6, 8))
    ff, vocab = rng.randrange(8, 65, 4) if small else rng.randint(4, 600), rng.randrange(16, 97)
    kv = rng.choice(divisors(heads))
    raw = {"architectures": [{**NEW_ARCHS, **MORE_ARCHS}[arch]], "model_type": arch, "vocab_size": vocab,
           "bos_token_id": None, "eos_token_id": None, "pad_token_id": None}     # the defaults are out of range
    base = {"num_hidden_layers": layers, "hidden_size": width, "intermediate_size": ff,
            "num_attention_heads": heads, "max_position_embeddings": 64}
    if rng.random() < 0.6:
        raw["tie_word_embeddings"] = rng.random() < 0.5
    if arch == "gpt2":
        width = heads * rng.choice((4, 8, 12))
        raw.update(n_layer=layers, n_embd=width, n_head=heads, n_positions=rng.randint(16, 80),
                   activation_function=rng.choice(("gelu_new", "relu")))
        if rng.random() < 0.6:
            raw["n_inner"] = ff
        return raw
    raw.update(base)
    if arch == "gpt_neox":
        width = heads * rng.choice((8, 16, 24))
        raw.update(hidden_size=width, hidden_act="gelu", use_parallel_residual=rng.random() < 0.6,
                   attention_bias=rng.random() < 0.7, rotary_pct=rng.choice((0.25, 0.5, 1.0)))
        return raw
    raw["num_key_value_heads"] = kv
    if arch in MORE_ARCHS:
        return _more_config(rng, arch, raw, head_dim, layers)
    if arch in ("phi3", "olmo2"):
        raw["hidden_size"] = heads * head_dim            # these read head_dim only as hidden / heads
        if arch == "phi3" and rng.random() < 0.5:
            raw["sliding_window"] = rng.randint(2, 12)
        if arch == "olmo2":
            raw["attention_bias"] = rng.random() < 0.5
        return raw
    if arch == "qwen3_moe":
        experts = rng.randint(2, 6)
        raw.update(head_dim=head_dim, attention_bias=rng.random() < 0.4, num_experts=experts,
                   num_experts_per_tok=rng.randint(1, experts), moe_intermediate_size=rng.randrange(4, 33, 4),
                   decoder_sparse_step=rng.choice((1, 1, 2)),
                   mlp_only_layers=sorted(rng.sample(range(layers), rng.randint(0, layers))))
        if rng.random() < 0.4:
            raw.update(use_sliding_window=True, sliding_window=rng.randint(2, 12))
        return raw
    if arch == "gemma3_text":
        raw.update(head_dim=head_dim, attention_bias=rng.random() < 0.4, sliding_window=rng.randint(2, 12),
                   query_pre_attn_scalar=head_dim, hidden_activation="gelu_pytorch_tanh")
        if rng.random() < 0.5:
            raw["layer_types"] = [rng.choice(("sliding_attention", "full_attention")) for _ in range(layers)]
        else:
            raw["sliding_window_pattern"] = rng.choice((2, 3, 6))
        return raw
    # DeepSeek: MLA (q_lora_rank may be null), dense first layers, routed and shared experts
    experts = rng.choice((2, 4, 6))
    raw.update(num_key_value_heads=heads, kv_lora_rank=rng.randrange(4, 33, 4),
               q_lora_rank=rng.choice((None, rng.randrange(4, 33, 4))), qk_nope_head_dim=rng.choice((4, 8, 12)),
               qk_rope_head_dim=rng.choice((2, 4, 8)), v_head_dim=rng.choice((4, 6, 8)), n_routed_experts=experts,
               num_experts_per_tok=rng.randint(1, experts), moe_intermediate_size=rng.randrange(4, 33, 4),
               n_shared_experts=rng.choice((0, 1, 2)), first_k_dense_replace=rng.randint(0, layers),
               attention_bias=rng.random() < 0.4, n_group=1, topk_group=1)
    if arch == "deepseek_v2":
        raw["mlp_bias"] = rng.random() < 0.4 and raw["n_shared_experts"] > 0   # see hf_layouts.deepseek
    return raw


def maybe(rng: random.Random, raw: dict, key: str, value, p: float = 0.5) -> None:
    if rng.random() < p:
        raw[key] = value


def _more_config(rng: random.Random, arch: str, raw: dict, head_dim: int, layers: int) -> dict:
    """The keys of one of MORE_ARCHS that decide its layout, drawn at random; required ones always given."""
    kinds = lambda: [rng.choice(("sliding_attention", "full_attention")) for _ in range(layers)]   # noqa: E731
    if arch == "gemma":                              # K and head_dim required: the defaults are gemma-7b's
        raw.update(head_dim=head_dim, hidden_act=rng.choice(("gelu", "gelu_pytorch_tanh")))
        maybe(rng, raw, "attention_bias", rng.random() < 0.5, 0.7)
        return raw
    if arch == "granite":                            # K absent: N; head_dim read when given, else D // N
        raw.update(embedding_multiplier=rng.choice((1.0, 12.0)), residual_multiplier=rng.choice((1.0, 0.22)),
                   logits_scaling=rng.choice((1.0, 8.0)), attention_multiplier=rng.choice((0.125, 1.0)))
        for key, value in (("head_dim", head_dim), ("attention_bias", rng.random() < 0.5),
                           ("mlp_bias", rng.random() < 0.5)):
            maybe(rng, raw, key, value, 0.6)
        if rng.random() < 0.3:
            del raw["num_key_value_heads"]
        return raw
    experts = rng.randint(2, 6)
    raw.update(num_experts_per_tok=rng.randint(1, experts), sliding_window=rng.randint(2, 12))
    if arch == "qwen2_moe":
        raw.update(num_experts=experts, moe_intermediate_size=rng.randrange(4, 33, 4),
                   shared_expert_intermediate_size=rng.randrange(4, 33, 4), decoder_sparse_step=rng.choice((1, 1, 2)),
                   mlp_only_layers=sorted(rng.sample(range(layers), rng.randint(0, layers))))
        maybe(rng, raw, "qkv_bias", rng.random() < 0.5, 0.6)
        maybe(rng, raw, "head_dim", head_dim, 0.5)     # read when given (getattr), else D // N
        choice = rng.choice(("off", "max_window_layers", "layer_types"))
        if choice != "off":
            raw["use_sliding_window"] = True
            raw.update(max_window_layers=rng.randint(0, layers)) if choice == "max_window_layers" else \
                raw.update(layer_types=kinds())
        return raw
    raw.update(num_local_experts=experts, head_dim=head_dim)     # gpt_oss
    maybe(rng, raw, "attention_bias", rng.random() < 0.5, 0.6)
    maybe(rng, raw, "layer_types", kinds(), 0.5)
    return raw          # not head_dim null: 5.x's type check refuses it (4.x and __post_init__ read D // N)


def case_id(raw: dict) -> str:
    """A short readable test id: arch, L, D, F, N/K, head_dim, V, flags."""
    if raw["model_type"] == "gpt2":
        raw = {**raw, "num_hidden_layers": raw["n_layer"], "hidden_size": raw["n_embd"],
               "intermediate_size": raw.get("n_inner"), "num_attention_heads": raw["n_head"]}
    flags = "".join(tag for key, tag in (("tie_word_embeddings", "t"), ("attention_bias", "a"), ("mlp_bias", "m"))
                    if raw.get(key))
    total = raw.get("num_local_experts", raw.get("num_experts", raw.get("n_routed_experts", raw.get("moe_num_experts"))))
    experts = f"-E{total}k{raw.get('num_experts_per_tok', raw.get('moe_k'))}" if total else ""
    ff, kv = raw.get("intermediate_size", raw.get("ffn_hidden_size")), raw.get("num_key_value_heads", raw.get("num_kv_heads", "_"))
    return (f"{raw['model_type']}-L{raw['num_hidden_layers']}-D{raw['hidden_size']}-F{ff}"
            f"-N{raw['num_attention_heads']}K{kv}H{raw.get('head_dim', '_')}"
            f"-V{raw['vocab_size']}{experts}{'-' + flags if flags else ''}")


def card_to_hf(card) -> dict:
    """The transformers configuration a symroof card describes; a card its architecture cannot express fails."""
    arch = card.architecture
    if arch in NEW_ARCHS:
        return _new_card_to_hf(card)
    raw = {"architectures": [ARCHS[arch][0]], "model_type": arch, "num_hidden_layers": card.n_layers,
           "hidden_size": card.d_model, "intermediate_size": card.d_ff, "num_attention_heads": card.n_heads,
           "num_key_value_heads": card.n_kv_heads, "head_dim": card.head_dim, "vocab_size": card.vocab,
           "tie_word_embeddings": card.tie_embeddings}
    # What each class hard-codes, as (qkv bias, o bias, mlp bias, qk norm, norms per layer);
    # None where a config key decides it.
    fixed = {"llama": (None, None, None, False, 2), "mistral": (False, False, False, False, 2),
             "mixtral": (False, False, False, False, 2), "qwen2": (True, False, False, False, 2),
             "qwen3": (None, None, False, True, 2), "gemma2": (None, None, False, False, 4)}[arch]
    have = (card.qkv_bias, card.o_bias, card.mlp_bias, card.qk_norm, card.norms_per_layer)
    for name, want, got in zip(("qkv_bias", "o_bias", "mlp_bias", "qk_norm", "norms_per_layer"), fixed, have):
        assert want is None or want == got, f"{card.path}: {arch} has {name}={want}, the card says {got}"
    if "attention_bias" in BIAS_KEYS.get(arch, ()):
        assert card.qkv_bias == card.o_bias, f"{card.path}: {arch} has one attention_bias for q, k, v and o"
        raw["attention_bias"] = card.qkv_bias
    if "mlp_bias" in BIAS_KEYS.get(arch, ()):
        raw["mlp_bias"] = card.mlp_bias
    if arch == "mixtral":
        raw.update(num_local_experts=card.n_experts, num_experts_per_tok=card.experts_per_token)
    else:
        assert card.n_experts == 1, f"{card.path}: {arch} has no experts"
    return raw


def hf_config(raw: dict):
    """transformers' config object for ``raw``, read the way a ``config.json`` is."""
    from transformers import CONFIG_MAPPING

    return CONFIG_MAPPING[raw["model_type"]].from_dict(dict(raw))


def hf_group(name: str) -> str:
    """symroof's parameter group of a transformers parameter name (q_norm/k_norm are norms; the router is mlp)."""
    parts = name.split(".")
    owner = parts[-2] if parts[-1] in ("weight", "bias") else parts[-1]
    if name.startswith("lm_head."):
        return "unembedding"
    if owner == "embed_tokens":
        return "embedding"
    if "norm" in owner:                      # input_layernorm, post_*, pre_*, model.norm, q_norm, k_norm
        return "norms"
    if "self_attn" in parts:
        return "attention"
    if {"mlp", "block_sparse_moe", "feed_forward", "shared_mlp"} & set(parts):   # gate/up/down, routers, experts
        return "mlp"
    if {"attn", "attention", "self_attention", "linear_attn"} & set(parts):   # GPT-2, GPT-NeoX, Falcon; Qwen3-Next
        return "attention"
    if owner in ("wte", "embed_in", "word_embeddings"):
        return "embedding"
    if owner == "wpe":                                    # GPT-2's learned positions
        return "embedding"
    if owner in ("ln_1", "ln_2", "ln_f", "final_layer_norm", "ln_attn", "ln_mlp"):     # GPT-2's, Falcon's
        return "norms"
    if owner in ("embed_out",):
        return "unembedding"
    if owner == "embeddings":                             # Nemotron-H's and Mamba-2's token embedding
        return "embedding"
    if "mamba" in parts:                                  # Falcon-H1's, Bamba's, Granite 4.0's Mamba-2 mixer
        return "attention"
    if "mixer" in parts:     # Nemotron-H's one mixer a layer (Mamba-2, attention, MLP or MoE) and Mamba-2's
        return "mlp" if owner in ("up_proj", "down_proj", "gate") else "attention"     # gate: the MoE's router
    raise AssertionError(f"no symroof group for transformers parameter {name!r}")


def _new_card_to_hf(card) -> dict:
    """GPT-2 and DeepSeek-V3 cards (the new architectures with shipped cards) as config.json keys."""
    arch = card.architecture
    raw = {"architectures": [NEW_ARCHS[arch]], "model_type": arch, "vocab_size": card.vocab,
           "tie_word_embeddings": card.tie_embeddings}
    if arch == "gpt2":
        assert (card.mlp, card.norm, card.positions, card.fused_qkv) == ("plain", "layer", "learned", True)
        assert card.qkv_bias and card.o_bias and card.mlp_bias and card.n_kv_heads == card.n_heads
        raw.update(n_layer=card.n_layers, n_embd=card.d_model, n_head=card.n_heads, n_inner=card.d_ff,
                   n_positions=card.max_positions)
        return raw
    assert arch == "deepseek_v3", f"{card.path}: no config.json mapping for {arch}"
    first_dense = card.layers[0][1] if card.blocks[card.layers[0][0]].mlp == "dense" else 0
    raw.update(num_hidden_layers=card.n_layers, hidden_size=card.d_model, intermediate_size=card.d_ff,
               num_attention_heads=card.n_heads, num_key_value_heads=card.n_kv_heads,
               q_lora_rank=card.q_lora_rank or None, kv_lora_rank=card.kv_lora_rank,
               qk_nope_head_dim=card.head_dim, qk_rope_head_dim=card.rope_head_dim, v_head_dim=card.v_head_dim,
               n_routed_experts=card.n_experts, num_experts_per_tok=card.experts_per_token,
               moe_intermediate_size=card.d_ff_expert, n_shared_experts=card.d_ff_shared // card.d_ff_expert,
               first_k_dense_replace=first_dense, n_group=1, topk_group=1)
    return raw


def counted(model, vocab: int, batch: int, seq: int):
    """FlopCounterMode over a training step of ``model`` on random token ids: the forward, the
    backward, and both under one counter (entering a counter again would reset it, so the module
    keys of the third include the backward)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    ids = torch.randint(0, vocab, (batch, seq), generator=torch.Generator().manual_seed(1))

    def forward_backward():
        model.zero_grad(set_to_none=True)
        return model(input_ids=ids, labels=ids).loss

    forward, backward = FlopCounterMode(display=False), FlopCounterMode(display=False)
    with forward:
        loss = forward_backward()
    with backward:
        loss.backward()
    with FlopCounterMode(display=False) as both:
        forward_backward().backward()
    return forward, backward, both


def prefill_then_decode(model, vocab: int, batch: int, seq: int, held=None):
    """Prefill ``seq`` random tokens, then decode one, under FlopCounterMode: ``(prefill counter,
    decode counter, what transformers' cache holds after each, bytes per cached element)``; ``held``
    measures a cache (default: the bytes of every layer's keys and values; a module whose layers keep
    recurrent or conv states gives its own, and then the width is None)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    ids = torch.randint(0, vocab, (batch, seq + 1), generator=torch.Generator().manual_seed(1))

    def kv_bytes(cache) -> int:
        return sum(t.numel() * t.element_size() for layer in cache.layers for t in (layer.keys, layer.values))

    measure = held or kv_bytes
    with torch.no_grad():
        with FlopCounterMode(display=False) as prefill:
            cache = model(input_ids=ids[:, :seq], use_cache=True).past_key_values
        after_prefill = measure(cache)
        width = None if held else cache.layers[0].keys.element_size()
        with FlopCounterMode(display=False) as decode:
            cache = model(input_ids=ids[:, seq:], cache=cache, use_cache=True).past_key_values
    return prefill, decode, after_prefill, measure(cache), width


def class_configs(random_config, classes, seed: int, count_each: int, small: bool) -> list[dict]:
    """``count_each`` configs of each class, drawn by ``random_config(rng, arch, small)``."""
    rng = random.Random(seed)
    return [random_config(rng, arch, small) for _ in range(count_each) for arch in classes]


def case_sets(random_config, classes, seeds: tuple, shapes: int, counts: tuple, longest: tuple):
    """A test module's cases of its own classes: parameter configs (full size), FLOP configs and
    prefill/decode configs (small) each with a batch of 1 to 3 and a sequence of 1 to ``longest``;
    ``seeds``, ``counts``: one per set."""
    def configs(i: int, small: bool) -> list[dict]:
        return class_configs(random_config, classes, seeds[i], counts[i], small)

    draw = random.Random(shapes)
    flops = [(raw, draw.randint(1, 3), draw.randint(1, longest[0])) for raw in configs(1, True)]
    phases = [(raw, draw.randint(1, 3), draw.randint(1, longest[1])) for raw in configs(2, True)]
    return configs(0, False), flops, phases

