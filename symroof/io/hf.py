"""Read a Hugging Face ``config.json`` into a ``ModelCard``, strictly.

What each key means, and what it is when the file leaves it out, follows transformers' own
``configuration_*.py`` and ``modeling_*.py`` for the class named in ``architectures``
(read from the transformers 5.x source; a 4.x difference is noted at the table). Two rules keep
the import from guessing:

- A size is filled in from other keys only where transformers itself derives it that way
  (``num_key_value_heads = num_attention_heads``, ``head_dim = hidden_size //
  num_attention_heads``). Where transformers falls back to a constant copied from its
  reference model (Mistral's 8 KV heads, Qwen3's head_dim 128, Gemma 2's 4 KV heads and
  head_dim 256) the key is required: that constant says nothing about this model.
- Every key must be known: read, accepted only at a value that changes nothing we count, or
  listed as changing no count. Anything else is a ``CardError``, so structure we do not model
  (experts on a Llama, per-layer attention types, quantised weights) never imports silently.

transformers is only read, never imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..io.cards import ModelCard, model_from_dict
from ..errors import CardError

ABSENT, NULL = "absent", "null"   # how a config.json can leave a key out
EITHER = (ABSENT, NULL)


@dataclass(frozen=True)
class Row:
    """How one transformers class is read. A ``str`` flag is the config key read; a ``bool`` is hard-coded."""

    architecture: str        # ours (ModelCard.architecture); also transformers' model_type
    kv_from_heads: tuple     # when K = N is transformers' own default: absent and/or null
    head_dim_from_width: tuple  # when H = D // N is transformers' own default
    tie: bool                # transformers' tie_word_embeddings default
    qkv_bias: str | bool
    o_bias: str | bool
    mlp_bias: str | bool
    qk_norm: bool            # q_norm and k_norm RMSNorms over head_dim
    norms_per_layer: int


ATTN, MLP = "attention_bias", "mlp_bias"   # a flag column naming a key reads it; True/False is hard-coded

#                         ours       K = N when  H = D//N when  tie    q,k,v  o      mlp    qk_norm  norms/layer
ROWS = {
    "LlamaForCausalLM":   Row("llama",   EITHER,     EITHER,        False, ATTN,  ATTN,  MLP,   False,   2),
    "MistralForCausalLM": Row("mistral", (NULL,),    EITHER,        False, False, False, False, False,   2),
    "MixtralForCausalLM": Row("mixtral", (NULL,),    EITHER,        False, False, False, False, False,   2),
    "Qwen2ForCausalLM":   Row("qwen2",   (NULL,),    (ABSENT,),     False, True,  False, False, False,   2),
    "Qwen3ForCausalLM":   Row("qwen3",   (NULL,),    (),            False, ATTN,  ATTN,  False, True,    2),
    "Gemma2ForCausalLM":  Row("gemma2",  (),         (),            True,  ATTN,  ATTN,  False, False,   4),
}
# Notes on the rows. Qwen2's code puts a bias on q, k and v and none on o, whatever
# attention_bias says. Qwen3 adds RMSNorms over head_dim on q and k. Gemma 2 norms before and
# after both attention and MLP, and ties embeddings unless told otherwise. Where a K or H column
# is empty, transformers' fallback is a reference model's constant, so the key is required.
# Mistral and Mixtral read a null K as K = N, as transformers 4.x does (5.x's type check
# refuses the null, although its __post_init__ still maps it to N).

# Keys read as sizes; each must be a positive JSON integer.
SIZE_KEYS = ("num_hidden_layers", "hidden_size", "intermediate_size", "num_attention_heads", "vocab_size")
FLAG_DEFAULT = False         # transformers' default for attention_bias and mlp_bias in every class that reads them
MOE_KEYS = {"MixtralForCausalLM": ("num_local_experts", "num_experts_per_tok")}  # both required: defaults are constants
ACTIVATION_KEYS = {"Gemma2ForCausalLM": ("hidden_activation", "hidden_act")}    # others: ("hidden_act",)
# The MLP of every class above is gated, act(gate(x)) * up(x); these are the SwiGLU and GeGLU activations.
GATED_ACTIVATIONS = ("silu", "swish", "gelu", "gelu_new", "gelu_fast", "gelu_pytorch_tanh")

# Keys that change no parameter, FLOP or byte we count, in every class above: metadata,
# generation settings, initialisation, dropout, RoPE, norm epsilon, token ids.
NEUTRAL = frozenset("""
    architectures model_type transformers_version torch_dtype dtype use_cache initializer_range
    max_position_embeddings rms_norm_eps rope_theta rope_scaling rope_parameters attention_dropout
    bos_token_id eos_token_id pad_token_id sep_token_id decoder_start_token_id
    return_dict output_hidden_states output_attentions torchscript use_bfloat16 tf_legacy_loss
    chunk_size_feed_forward is_decoder cross_attention_hidden_size id2label label2id problem_type
    finetuning_task tokenizer_class prefix task_specific_params
    max_length min_length do_sample early_stopping num_beams num_beam_groups diversity_penalty temperature
    top_k top_p typical_p repetition_penalty length_penalty no_repeat_ngram_size encoder_no_repeat_ngram_size
    bad_words_ids num_return_sequences output_scores return_dict_in_generate forced_bos_token_id
    forced_eos_token_id remove_invalid_values exponential_decay_length_penalty suppress_tokens
    begin_suppress_tokens
""".split())

# Per class, keys that change no count. attention_bias and mlp_bias are listed where that
# class's code ignores them. A sliding window narrows attention but adds no weight; the
# engine counts full causal attention (an upper bound once T exceeds the window).
NEUTRAL_FOR = {
    "LlamaForCausalLM":   {"pretraining_tp"},
    "MistralForCausalLM": {"sliding_window", "attention_bias", "mlp_bias"},
    "MixtralForCausalLM": {"sliding_window", "attention_bias", "mlp_bias", "output_router_logits",
                           "router_aux_loss_coef", "router_jitter_noise"},
    "Qwen2ForCausalLM":   {"sliding_window", "max_window_layers", "attention_bias", "mlp_bias"},
    "Qwen3ForCausalLM":   {"sliding_window", "max_window_layers", "mlp_bias"},
    "Gemma2ForCausalLM":  {"sliding_window", "sliding_window_size", "query_pre_attn_scalar", "final_logit_softcapping",
                           "attn_logit_softcapping", "cache_implementation", "mlp_bias"},
}


def _null(value, raw) -> bool:
    return value is None


def _off(value, raw) -> bool:
    return value is None or value is False


def _empty(value, raw) -> bool:
    return value in (None, {}, [])


def _all_full_attention(value, raw) -> bool:
    return value is None or (isinstance(value, list) and all(t == "full_attention" for t in value))


def _gemma2_alternating(value, raw) -> bool:
    """Gemma 2's own pattern (sliding, full, sliding, ...) is its architecture; anything else is not."""
    layers = raw.get("num_hidden_layers")
    if value is None:
        return True
    return isinstance(layers, int) and value == ["sliding_attention", "full_attention"] * (layers // 2) + \
        ["sliding_attention"] * (layers % 2)


#   key                                  accepted when  said as        why any other value is refused
NEUTRAL_ONLY = {
    "layer_types":                     (_all_full_attention, "null or all 'full_attention'",
                                        "per-layer attention types are not modelled"),
    "use_sliding_window":              (_off, "false", "sliding layers from max_window_layers on are not modelled"),
    "num_local_experts":               (_null, "null", "experts are read only for MixtralForCausalLM"),
    "num_experts":                     (_null, "null", "experts are read only as Mixtral's num_local_experts"),
    "num_experts_per_tok":             (_null, "null", "experts are read only for MixtralForCausalLM"),
    "moe_intermediate_size":           (_null, "null", "expert MLPs of another width are not modelled"),
    "shared_expert_intermediate_size": (_null, "null", "shared experts are not modelled"),
    "quantization_config":             (_null, "null", "quantised weights change the bytes per parameter"),
    "auto_map":                        (_null, "null", "custom modelling code may change any count"),
    "pruned_heads":                    (_empty, "empty", "pruned heads change the attention shapes"),
    "is_encoder_decoder":              (_off, "false", "only decoder-only models are read"),
    "add_cross_attention":             (_off, "false", "cross-attention adds weights"),
    "tie_encoder_decoder":             (_off, "false", "only decoder-only models are read"),
    "use_bidirectional_attention":     (_off, "false or null", "the engine counts causal attention"),
}
NEUTRAL_ONLY_FOR = {"Gemma2ForCausalLM": {"layer_types": (_gemma2_alternating, "null or Gemma 2's alternating pattern",
                                                          "other attention patterns are not modelled")}}


def model_from_hf_config(raw: dict, where: str) -> ModelCard:
    """The ``ModelCard`` of a Hugging Face ``config.json`` already parsed as JSON; ``where`` names the file."""
    if not isinstance(raw, dict):
        raise CardError(f"{where}: a config.json must be a JSON object of keys to values")
    hf_class = _hf_class(raw, where)
    row = ROWS[hf_class]
    _check_keys(raw, hf_class, where)
    if raw.get("model_type", row.architecture) != row.architecture:
        raise CardError(f"{where}: key 'model_type' is {raw['model_type']!r} but architectures names {hf_class}; "
                        f"allowed: {row.architecture!r}")
    sizes = {key: _size(raw, key, where) for key in SIZE_KEYS}
    heads, width = sizes["num_attention_heads"], sizes["hidden_size"]
    kv_heads = _derived(raw, "num_key_value_heads", row.kv_from_heads, lambda: heads, hf_class, where)
    head_dim = _derived(raw, "head_dim", row.head_dim_from_width, lambda: _width_per_head(width, heads, where),
                        hf_class, where)
    if heads % kv_heads:
        raise CardError(f"{where}: key 'num_key_value_heads' ({kv_heads}) must divide "
                        f"'num_attention_heads' ({heads})")
    experts, per_token = _experts(raw, hf_class, where)
    card = {
        "name": _name(raw, where), "architecture": row.architecture, "source": f"{where} ({hf_class})",
        "n_layers": sizes["num_hidden_layers"], "d_model": width, "d_ff": sizes["intermediate_size"],
        "n_heads": heads, "n_kv_heads": kv_heads, "head_dim": head_dim, "vocab": sizes["vocab_size"],
        "tie_embeddings": _flag(raw, "tie_word_embeddings", row.tie, where),
        "qkv_bias": _read_flag(raw, row.qkv_bias, where), "o_bias": _read_flag(raw, row.o_bias, where),
        "mlp_bias": _read_flag(raw, row.mlp_bias, where), "qk_norm": row.qk_norm,
        "norms_per_layer": row.norms_per_layer, "n_experts": experts, "experts_per_token": per_token,
    }
    return model_from_dict(card, where)


def _hf_class(raw: dict, where: str) -> str:
    names = raw.get("architectures")
    allowed = ", ".join(ROWS)
    if names is None:
        raise CardError(f"{where}: missing key 'architectures'; allowed: [one of {allowed}]")
    if not (isinstance(names, list) and len(names) == 1 and isinstance(names[0], str)):
        raise CardError(f"{where}: key 'architectures' must list exactly one class name, got {names!r}")
    if names[0] not in ROWS:
        raise CardError(f"{where}: key 'architectures' is {names[0]!r}, which symroof does not read; "
                        f"allowed: {allowed}")
    return names[0]


def _check_keys(raw: dict, hf_class: str, where: str) -> None:
    read = {*SIZE_KEYS, "num_key_value_heads", "head_dim", "tie_word_embeddings",
            *MOE_KEYS.get(hf_class, ()), *ACTIVATION_KEYS.get(hf_class, ("hidden_act",))}
    row = ROWS[hf_class]
    read |= {flag for flag in (row.qkv_bias, row.o_bias, row.mlp_bias) if isinstance(flag, str)}
    checked = {**NEUTRAL_ONLY, **NEUTRAL_ONLY_FOR.get(hf_class, {})}
    for key, value in raw.items():
        if key in read or key in NEUTRAL or key in NEUTRAL_FOR[hf_class] or key.startswith("_"):
            continue
        if key not in checked:
            known = ", ".join(sorted(read | NEUTRAL_FOR[hf_class]))
            raise CardError(f"{where}: unknown key '{key}' for {hf_class}; symroof cannot tell whether it changes "
                            f"the counts. Allowed: {known}, and Hugging Face metadata keys")
        accepts, said_as, why = checked[key]
        if not accepts(value, raw):
            raise CardError(f"{where}: key '{key}' is {value!r}; {hf_class} is read only with {said_as} here: {why}")
    for key in ACTIVATION_KEYS.get(hf_class, ("hidden_act",)):
        if key in raw and raw[key] not in GATED_ACTIVATIONS:
            raise CardError(f"{where}: key '{key}' is {raw[key]!r}; allowed (gated MLP activations): "
                            f"{', '.join(GATED_ACTIVATIONS)}")


def _size(raw: dict, key: str, where: str, required: tuple = SIZE_KEYS) -> int:
    if key not in raw:
        raise CardError(f"{where}: missing key '{key}' (required: {', '.join(required)})")
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise CardError(f"{where}: key '{key}' must be a positive integer, got {value!r}")
    return value


def _derived(raw: dict, key: str, when: tuple, fallback, hf_class: str, where: str) -> int:
    """A size that transformers derives from other keys when the file says ``absent`` or ``null``."""
    state = ABSENT if key not in raw else NULL if raw[key] is None else None
    if state is None:
        return _size(raw, key, where)
    if state in when:
        return fallback()
    raise CardError(f"{where}: key '{key}' is {'missing' if state == ABSENT else 'null'}; {hf_class} needs it as a "
                    "positive integer (transformers would not derive it from this config's other sizes)")


def _width_per_head(width: int, heads: int, where: str) -> int:
    if width % heads:
        raise CardError(f"{where}: key 'head_dim' is needed: 'hidden_size' ({width}) is not a multiple of "
                        f"'num_attention_heads' ({heads})")
    return width // heads


def _flag(raw: dict, key: str, default: bool, where: str) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise CardError(f"{where}: key '{key}' must be true or false, got {value!r}")
    return value


def _read_flag(raw: dict, spec: str | bool, where: str) -> bool:
    return spec if isinstance(spec, bool) else _flag(raw, spec, FLAG_DEFAULT, where)


def _experts(raw: dict, hf_class: str, where: str) -> tuple[int, int]:
    if hf_class not in MOE_KEYS:
        return 1, 1
    total_key, chosen_key = MOE_KEYS[hf_class]
    total, chosen = (_size(raw, key, where, SIZE_KEYS + MOE_KEYS[hf_class]) for key in (total_key, chosen_key))
    if total < 2:
        raise CardError(f"{where}: key '{total_key}' must be at least 2 for {hf_class}, got {total}")
    if chosen > total:
        raise CardError(f"{where}: key '{chosen_key}' ({chosen}) must be at most '{total_key}' ({total})")
    return total, chosen


def _name(raw: dict, where: str) -> str:
    """``_name_or_path`` if given; else the folder of a ``config.json`` (as the Hub lays it out); else the stem."""
    given = raw.get("_name_or_path")
    if isinstance(given, str) and given:
        return given
    path = Path(where)
    if path.stem == "config" and path.resolve().parent.name:
        return path.resolve().parent.name
    return path.stem
