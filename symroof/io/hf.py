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

A vision-language wrapper (``Gemma3ForConditionalGeneration`` and the others of
``hf_wrappers.WRAPPERS``) is read as its language model, from ``text_config``, by the same rules.

transformers is only read, never imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..io import hf_layouts, hf_layouts_layernorm, hf_layouts_moe, hf_wrappers
from ..io.hf_layouts import _short
from ..io.hf_keys import (ACTIVATION_KEYS, FLAG_DEFAULT, GATED_ACTIVATIONS, LEFT_OUT, MAX_LAYERS, MOE_ALIAS,
                           FF_FROM_WIDTH, MOE_KEYS, NEUTRAL, NEUTRAL_FOR, NEUTRAL_ONLY, NEUTRAL_ONLY_FOR, NEUTRAL_SHAPES,
                           PLAIN_ACTIVATIONS, PLAIN_MLP, SIZE_KEYS, SPELLING)
from ..io.cards import ModelCard, model_from_dict
from ..io.layers import MAX_SEGMENTS
from ..errors import CardError

ABSENT, NULL = "absent", "null"   # how a config.json can leave a key out
EITHER = (ABSENT, NULL)


@dataclass(frozen=True)
class Row:
    """How one transformers class is read. A ``str`` flag is the config key read; a ``bool`` is hard-coded."""

    architecture: str        # ours (ModelCard.architecture); also transformers' model_type
    kv_from_heads: tuple     # when K = N is transformers' own default: absent and/or null; None: always N
    head_dim_from_width: tuple  # when H = D // N is transformers' own default; None: always D // N
    tie: bool                # transformers' tie_word_embeddings default
    qkv_bias: str | bool
    o_bias: str | bool
    mlp_bias: str | bool
    qk_norm: bool            # q_norm and k_norm RMSNorms
    norms_per_layer: int
    flag_default: bool = False   # the default of the bias keys this class reads
    layout: object = None    # hf_layouts reader of what the class builds beyond the LLaMA layer


ATTN, MLP = "attention_bias", "mlp_bias"   # a flag column naming a key reads it; True/False is hard-coded
L_ = hf_layouts

#                           ours            K = N when  H = D//N when  tie    q,k,v  o      mlp    qk_norm norms
ROWS = {
    "LlamaForCausalLM":     Row("llama",       EITHER,     EITHER,        False, ATTN,  ATTN,  MLP,   False,  2),
    "MistralForCausalLM":   Row("mistral",     (NULL,),    EITHER,        False, False, False, False, False,  2,
                                layout=L_.mistral),
    "MixtralForCausalLM":   Row("mixtral",     (NULL,),    EITHER,        False, False, False, False, False,  2,
                                layout=L_.mistral),
    "Qwen2ForCausalLM":     Row("qwen2",       (NULL,),    (ABSENT,),     False, True,  False, False, False,  2,
                                layout=L_.qwen_sliding),
    "Qwen3ForCausalLM":     Row("qwen3",       (NULL,),    (),            False, ATTN,  ATTN,  False, True,   2,
                                layout=L_.qwen_sliding),
    "Gemma2ForCausalLM":    Row("gemma2",      (),         (),            True,  ATTN,  ATTN,  False, False,  4,
                                layout=L_.gemma2),
    "GPT2LMHeadModel":      Row("gpt2",        None,       None,          True,  True,  True,  True,  False,  2,
                                layout=L_.gpt2),
    "GPTNeoXForCausalLM":   Row("gpt_neox",    None,       None,          False, ATTN,  ATTN,  True,  False,  2,
                                flag_default=True, layout=L_.gpt_neox),
    "Phi3ForCausalLM":      Row("phi3",        EITHER,     (ABSENT,),     False, False, False, False, False,  2,
                                layout=L_.phi3),
    "Olmo2ForCausalLM":     Row("olmo2",       EITHER,     (ABSENT,),     False, ATTN,  ATTN,  False, True,   2,
                                layout=L_.olmo2),
    "Qwen3MoeForCausalLM":  Row("qwen3_moe",   (),         (ABSENT,),     False, ATTN,  ATTN,  False, True,   2,
                                layout=L_.qwen3_moe),
    "Gemma3ForCausalLM":    Row("gemma3_text", (),         (),            True,  ATTN,  ATTN,  False, True,   4,
                                layout=L_.gemma3),
    "DeepseekV2ForCausalLM": Row("deepseek_v2", EITHER,    None,          False, ATTN,  ATTN,  MLP,   False,  2,
                                 layout=L_.deepseek(2)),
    "DeepseekV3ForCausalLM": Row("deepseek_v3", (NULL,),   None,          False, ATTN,  ATTN,  False, False,  2,
                                 layout=L_.deepseek(3)),
    "GemmaForCausalLM":     Row("gemma",       (),         (),            True,  ATTN,  ATTN,  False, False,  2),
    "Qwen2MoeForCausalLM":  Row("qwen2_moe",   (),         (ABSENT,),     False, "qkv_bias", False, False, False, 2,
                                flag_default=True, layout=L_.qwen2_moe),
    "GptOssForCausalLM":    Row("gpt_oss",     (NULL,),    (NULL,),       False, ATTN,  ATTN,  False, False,  2,
                                flag_default=True, layout=L_.gpt_oss),
    "GraniteForCausalLM":   Row("granite",     EITHER,     (ABSENT,),     False, ATTN,  ATTN,  MLP,   False,  2,
                                layout=L_.granite),
    "Llama4ForCausalLM":    Row("llama4_text", (NULL,),    (NULL,),       False, ATTN,  ATTN,  False, False,  2,
                                layout=hf_layouts_moe.llama4),
    "Glm4MoeForCausalLM":   Row("glm4_moe",    (),         (ABSENT,),     False, ATTN,  False, False, False,  2,
                                layout=hf_layouts_moe.glm4_moe),
    "PhiForCausalLM":       Row("phi",         EITHER,     None,          False, True,  True,  True,  False,  1,
                                layout=hf_layouts_layernorm.phi),
    "Starcoder2ForCausalLM": Row("starcoder2", (),         EITHER,        True,  "use_bias", "use_bias", "use_bias",
                                 False, 2, flag_default=True, layout=hf_layouts_layernorm.starcoder2),
    "OlmoeForCausalLM":     Row("olmoe",       EITHER,     None,          False, ATTN,  ATTN,  False, True,   2,
                                layout=hf_layouts_moe.olmoe),
    "FalconForCausalLM":    Row("falcon",      None,       None,          True,  "bias", "bias", "bias", False, 2,
                                layout=hf_layouts_layernorm.falcon),
}
# Notes on the rows. Qwen2's code puts a bias on q, k and v and none on o, whatever
# attention_bias says. Qwen3 adds RMSNorms over head_dim on q and k. Gemma 2 norms before and
# after both attention and MLP, and ties embeddings unless told otherwise. Where a K or H column
# is empty, transformers' fallback is a reference model's constant, so the key is required.
# Mistral and Mixtral read a null K as K = N, as transformers 4.x does (5.x's type check
# refuses the null, although its __post_init__ still maps it to N). GPT-2 and GPT-NeoX have no
# KV-head or head_dim key: K = N and H = D / N. DeepSeek's head_dim is qk_nope_head_dim (MLA);
# its attention_bias puts biases on q_a (or none on a plain q), kv_a and o. Gemma (1) is the
# LLaMA layer with GeGLU, a (1 + w) RMSNorm (the same D weights) and tied embeddings by default;
# its K and head_dim fall back to gemma-7b's 16 and 256. Qwen2-MoE's qkv_bias (5.x; 4.x hard-codes
# it) defaults to true, o has none; its K falls back to 16 (no null rule), and its attention reads
# a head_dim key when there is one. gpt-oss's attention_bias (default true) covers q, k, v and o;
# its null K and null head_dim are N and D // N (4.x, and 5.x's __post_init__, although 5.x's type
# check refuses the nulls, as Mistral's), absent ones 8 and 64. Granite is the LLaMA layer with
# scalar multipliers (hf_layouts.granite); its attention reads a head_dim key when there is one.
# Llama 4's null K and head_dim are N and D // N (its __post_init__), absent ones 8 and 128; its
# attention_bias covers q, k, v and o. GLM-4.5's attention_bias covers q, k and v (o has none); its K
# falls back to 8, and its attention reads a head_dim key when there is one (the config class has
# none); use_qk_norm (hf_layouts_moe.glm4_moe) decides its q and k norms. Phi (hf_layouts_layernorm.phi)
# has biases on q, k, v, dense, fc1, fc2 and the head, one LayerNorm a layer, K = N when absent or null
# (its __post_init__) and head_dim D // N (its q/k LayerNorms are that wide; a head_dim key is refused).
# StarCoder2's use_bias (default true) covers q, k, v, o and its MLP; its K falls back to 2, and its
# attention reads a head_dim key when there is one (getattr ... or D // N). OLMoE's K = N when absent or
# null; its q and k RMSNorms span all heads (D and K·D/N wide), so a head_dim key is refused. Falcon's
# bias covers query_key_value, dense and both MLP matrices; its K (num_kv_heads, by its layout) and its
# norms come from hf_layouts_layernorm.falcon; head_dim is D // N (a property: a head_dim key is refused).


# Language models read only inside a vision-language wrapper (hf_wrappers), never named by architectures,
# keyed by their text_config model_type. Qwen2.5-VL's (qwen2_5_vl_text) is Qwen2's decoder (q, k, v biases,
# no o bias) with multimodal RoPE (no weights): its card is a qwen2 one. Its attention always takes
# head_dim = D // N (a head_dim key is refused as unknown); an absent tie_word_embeddings is untied.
TEXT_ROWS = {
    "qwen2_5_vl_text": ("Qwen2_5_VLTextModel",
                        Row("qwen2",   (NULL,),     None,          False, True,  False, False, False,  2,
                            layout=L_.qwen_sliding)),
}
TEXT_CLASSES = {**{row.architecture: (name, row.tie) for name, row in ROWS.items()},
                **{model_type: (name, row.tie) for model_type, (name, row) in TEXT_ROWS.items()}}


def _row(hf_class: str) -> Row:
    return ROWS[hf_class] if hf_class in ROWS else next(row for name, row in TEXT_ROWS.values() if name == hf_class)


def model_from_hf_config(raw: dict, where: str) -> ModelCard:
    """The ``ModelCard`` of a Hugging Face ``config.json`` already parsed as JSON; ``where`` names the file.
    A vision-language wrapper (``hf_wrappers.WRAPPERS``) gives the card of its language model."""
    if not isinstance(raw, dict):
        raise CardError(f"{where}: a config.json must be a JSON object of keys to values")
    wrapper = hf_wrappers.names(raw)
    if wrapper is None:
        hf_class = _hf_class(raw, where)
        return _language_model(raw, hf_class, where, _name(raw, where), f"{where} ({hf_class})", [])
    text, hf_class, notes, prefix = hf_wrappers.language_model(raw, wrapper, where, TEXT_CLASSES)
    try:
        return _language_model(text, hf_class, where, _name(raw, where),
                               f"{where} ({wrapper}: its language model, read as {hf_class})", notes)
    except CardError as err:
        raise hf_wrappers.text_config_error(err, where, text, prefix) from None


def _language_model(raw: dict, hf_class: str, where: str, name: str, source: str, notes: list) -> ModelCard:
    row = _row(hf_class)
    if raw.get("model_type", row.architecture) != row.architecture:
        raise CardError(f"{where}: key 'model_type' is {raw['model_type']!r} but architectures names {hf_class}; "
                        f"allowed: {row.architecture!r}")
    spelling = SPELLING.get(hf_class, {})
    layers_key = spelling.get("num_hidden_layers", "num_hidden_layers")
    n_layers = _size(raw, layers_key, where)
    if n_layers > MAX_LAYERS:        # the layouts below list every layer
        raise CardError(f"{where}: key '{layers_key}' is out of range (at most {MAX_LAYERS} layers), got {n_layers}")
    layout, attention_kinds, mlp_kinds, layout_keys = row.layout(raw, n_layers, where) if row.layout else ({}, None, None, set())
    _check_keys(raw, hf_class, where, layout_keys)
    sizes = {key: _size(raw, spelling.get(key, key), where) for key in SIZE_KEYS
             if not (key == "intermediate_size" and hf_class in FF_FROM_WIDTH)}
    heads, width = sizes["num_attention_heads"], sizes["hidden_size"]
    if hf_class in FF_FROM_WIDTH:      # GPT-2's n_inner, Falcon's ffn_hidden_size: absent or null is 4 x D,
        ff_key = spelling["intermediate_size"]     # as transformers derives it
        sizes["intermediate_size"] = 4 * width if raw.get(ff_key) is None else _size(raw, ff_key, where)
    kv_heads = heads if row.kv_from_heads is None else \
        _derived(raw, "num_key_value_heads", row.kv_from_heads, lambda: heads, hf_class, where)
    if row.head_dim_from_width is None:
        head_dim = layout.get("head_dim") or _width_per_head(width, heads, where)
    else:
        head_dim = _derived(raw, "head_dim", row.head_dim_from_width, lambda: _width_per_head(width, heads, where),
                            hf_class, where)
    if heads % kv_heads:
        raise CardError(f"{where}: key 'num_key_value_heads' ({kv_heads}) must divide "
                        f"'num_attention_heads' ({heads})")
    if layout.get("attention") == "mla" and kv_heads != heads:
        raise CardError(f"{where}: key 'num_key_value_heads' ({kv_heads}) must equal 'num_attention_heads' ({heads}) "
                        f"for {hf_class}: its MLA expands the latent to every head")
    experts, per_token = _experts(raw, hf_class, where)
    if mlp_kinds is not None and "moe" not in mlp_kinds:      # every layer dense: the experts are never built
        experts, per_token = 1, 1
        layout = {key: value for key, value in layout.items()
                  if key not in ("d_ff_expert", "d_ff_shared", "shared_expert_gate", "moe_bias")}
    notes = [*notes, *([LEFT_OUT[hf_class]] if hf_class in LEFT_OUT else []),
             *hf_layouts.left_out_notes(raw, hf_class, where)]
    note = layout.pop("note", [])      # what a layout key sets that the card does not model, in words
    notes += note if isinstance(note, list) else [note]
    card = {          # what it leaves out is the card's left_out (count and cards print it), not its source
        "name": name, "architecture": row.architecture, "source": source,
        "left_out": notes,
        "n_layers": n_layers, "d_model": width, "d_ff": sizes["intermediate_size"],
        "n_heads": heads, "n_kv_heads": kv_heads, "head_dim": head_dim, "vocab": sizes["vocab_size"],
        "tie_embeddings": _flag(raw, "tie_word_embeddings", row.tie, where),
        "qkv_bias": _read_flag(raw, row.qkv_bias, where, row.flag_default),
        "o_bias": _read_flag(raw, row.o_bias, where, row.flag_default),
        "mlp_bias": _read_flag(raw, row.mlp_bias, where, row.flag_default), "qk_norm": row.qk_norm,
        "norms_per_layer": row.norms_per_layer, "n_experts": experts, "experts_per_token": per_token,
        **{key: value for key, value in layout.items() if key != "head_dim"},
    }
    if attention_kinds is not None or (mlp_kinds is not None and len(set(mlp_kinds)) > 1):
        card.update(_segments(attention_kinds or ["global"] * n_layers,
                              mlp_kinds or ["moe" if experts > 1 else "dense"] * n_layers))
        _check_runs(raw, card["layers"], layers_key, n_layers, layout_keys, where)
    return model_from_dict(card, where)


# Keys that can make many runs of alternating layer kinds; a card holds at most MAX_SEGMENTS runs.
PATTERN_KEYS = ("layer_types", "mlp_only_layers", "decoder_sparse_step", "sliding_window_pattern")


def _check_runs(raw: dict, segments: list, layers_key: str, n_layers: int, layout_keys: set, where: str) -> None:
    """Too many runs of alternating layers is refused naming the config's keys, not the card's 'layers'."""
    if len(segments) <= MAX_SEGMENTS:
        return
    given = [f"'{key}'" for key in PATTERN_KEYS if key in layout_keys and raw.get(key) not in (None, 1)]
    keys = f"key '{layers_key}' ({n_layers})" if not given else \
        f"{'keys' if len(given) > 1 else 'key'} {' and '.join(given)} over '{layers_key}' ({n_layers})"
    raise CardError(f"{where}: {keys} give{'' if len(given) > 1 else 's'} {len(segments)} runs of alternating layer kinds; symroof reads at most "
                    f"{MAX_SEGMENTS} (real models have a few)")


def _segments(attention: list, mlp: list) -> dict:
    """Per-layer kinds → the card's block types and ordered (type, count) segments."""
    mixed_attention, mixed_mlp = len(set(attention)) > 1, len(set(mlp)) > 1     # once, not per layer
    def name(a, m):
        if mixed_attention and mixed_mlp:
            return f"{a}_{m}"
        return a if mixed_attention else m if mixed_mlp else "layer"
    types, segments = {}, []
    for a, m in zip(attention, mlp):
        label = name(a, m)
        types[label] = {"attention": a, "mlp": m}
        if segments and segments[-1][0] == label:
            segments[-1][1] += 1
        else:
            segments.append([label, 1])
    return {"block_types": types, "layers": segments}


def _hf_class(raw: dict, where: str) -> str:
    names = raw.get("architectures")
    allowed = ", ".join(ROWS) + "; the language model of " + ", ".join(hf_wrappers.WRAPPERS)
    if names is None:
        raise CardError(f"{where}: missing key 'architectures'; allowed: [one of {allowed}]")
    if not (isinstance(names, list) and len(names) == 1 and isinstance(names[0], str)):
        raise CardError(f"{where}: key 'architectures' must list exactly one class name, got {names!r}")
    if names[0] not in ROWS:
        raise CardError(f"{where}: key 'architectures' is {names[0]!r}, which symroof does not read; "
                        f"allowed: {allowed}")
    return names[0]


def _check_keys(raw: dict, hf_class: str, where: str, layout_keys: set) -> None:
    spelling = SPELLING.get(hf_class, {})
    read = {*(spelling.get(key, key) for key in SIZE_KEYS), "tie_word_embeddings", *layout_keys,
            *MOE_KEYS.get(hf_class, ()), *ACTIVATION_KEYS.get(hf_class, ("hidden_act",))}
    read |= {MOE_ALIAS[hf_class]} if hf_class in MOE_ALIAS else set()
    row = _row(hf_class)
    read |= {key for key, spec in (("num_key_value_heads", row.kv_from_heads), ("head_dim", row.head_dim_from_width))
             if spec is not None}
    read |= {flag for flag in (row.qkv_bias, row.o_bias, row.mlp_bias) if isinstance(flag, str)}
    checked = {**NEUTRAL_ONLY, **NEUTRAL_ONLY_FOR.get(hf_class, {})}
    for key, value in raw.items():
        if key in NEUTRAL_SHAPES and not NEUTRAL_SHAPES[key][0](value, raw):
            raise CardError(f"{where}: key '{key}' is {_short(value)}; allowed: {NEUTRAL_SHAPES[key][1]} (it changes "
                            "no count, but no config transformers writes has this)")
        if key in read or key in NEUTRAL or key in NEUTRAL_FOR[hf_class] or key.startswith("_"):
            continue
        if key not in checked:
            known = ", ".join(sorted(read | NEUTRAL_FOR[hf_class]))
            raise CardError(f"{where}: unknown key '{key}' for {hf_class}; symroof cannot tell whether it changes "
                            f"the counts. Allowed: {known}, and Hugging Face metadata keys")
        accepts, said_as, why = checked[key]
        if not accepts(value, raw):
            raise CardError(f"{where}: key '{key}' is {value!r}; {hf_class} is read only with {said_as} here: {why}")
    plain = hf_class in PLAIN_MLP
    allowed, kind = (PLAIN_ACTIVATIONS, "plain") if plain else (GATED_ACTIVATIONS, "gated")
    for key in ACTIVATION_KEYS.get(hf_class, ("hidden_act",)):
        if key in raw and raw[key] not in allowed:
            raise CardError(f"{where}: key '{key}' is {raw[key]!r}; allowed ({kind} MLP activations): "
                            f"{', '.join(allowed)}")


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


def _read_flag(raw: dict, spec: str | bool, where: str, default: bool = FLAG_DEFAULT) -> bool:
    return spec if isinstance(spec, bool) else _flag(raw, spec, default, where)


def _experts(raw: dict, hf_class: str, where: str) -> tuple[int, int]:
    if hf_class not in MOE_KEYS:
        return 1, 1
    total_key, chosen_key = MOE_KEYS[hf_class]
    alias = MOE_ALIAS.get(hf_class)
    if alias and raw.get(alias) is not None:          # one number under either name; two must agree
        if raw.get(total_key) not in (None, raw[alias]):
            raise CardError(f"{where}: keys '{total_key}' ({raw[total_key]!r}) and '{alias}' ({raw[alias]!r}) "
                            f"disagree; {hf_class} reads them as one number (transformers aliases one to the other)")
        total_key = alias
    total, chosen = (_size(raw, key, where, SIZE_KEYS + MOE_KEYS[hf_class]) for key in (total_key, chosen_key))
    if total < 2:
        raise CardError(f"{where}: key '{total_key}' must be at least 2 for {hf_class}, got {total}")
    if chosen > total:
        raise CardError(f"{where}: key '{chosen_key}' ({chosen}) must be at most '{total_key}' ({total})")
    return total, chosen


def _name(raw: dict, where: str) -> str:
    """``_name_or_path`` if a Hub id; else the folder of a ``config.json`` (as the Hub lays it out); else the stem."""
    given = raw.get("_name_or_path")      # a Hub id names it; a directory of the machine that saved it does not
    if isinstance(given, str) and hf_layouts.HUB_ID.fullmatch(given):
        return given
    path = Path(where)
    if path.stem == "config" and path.resolve().parent.name:
        return path.resolve().parent.name
    return path.stem
