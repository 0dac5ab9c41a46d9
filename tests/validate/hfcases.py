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
# The keys that add parameters in each class (attention_bias, mlp_bias); elsewhere they are ignored.
BIAS_KEYS = {"llama": ("attention_bias", "mlp_bias"), "qwen3": ("attention_bias",), "gemma2": ("attention_bias",)}


def _divisors(n: int) -> list[int]:
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
    kv = rng.choice(_divisors(heads))
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
    if arch == "gemma2":
        raw.update(query_pre_attn_scalar=rng.choice((head_dim, 7)), attn_logit_softcapping=50.0,
                   final_logit_softcapping=30.0, hidden_activation="gelu_pytorch_tanh")
    if arch == "qwen2" and rng.random() < 0.5:
        raw["use_sliding_window"] = False
    return raw


def random_configs(seed: int, count: int, small: bool) -> list[dict]:
    """``count`` configurations cycling through every architecture, from a fixed seed."""
    rng = random.Random(seed)
    names = list(ARCHS)
    return [random_config(rng, names[i % len(names)], small) for i in range(count)]


def case_id(raw: dict) -> str:
    """A short readable test id: arch, L, D, F, N/K, head_dim, V, flags."""
    flags = "".join(tag for key, tag in (("tie_word_embeddings", "t"), ("attention_bias", "a"), ("mlp_bias", "m"))
                    if raw.get(key))
    experts = f"-E{raw['num_local_experts']}k{raw['num_experts_per_tok']}" if "num_local_experts" in raw else ""
    return (f"{raw['model_type']}-L{raw['num_hidden_layers']}-D{raw['hidden_size']}-F{raw['intermediate_size']}"
            f"-N{raw['num_attention_heads']}K{raw.get('num_key_value_heads', '_')}H{raw.get('head_dim', '_')}"
            f"-V{raw['vocab_size']}{experts}{'-' + flags if flags else ''}")


def card_to_hf(card) -> dict:
    """The transformers configuration a symroof card describes; a card its architecture cannot express fails."""
    arch = card.architecture
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
    if "mlp" in parts or "block_sparse_moe" in parts:   # gate/up/down, the router (mlp.gate), the experts
        return "mlp"
    raise AssertionError(f"no symroof group for transformers parameter {name!r}")
