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

from pathlib import Path

from ..io import hf_layouts, hf_left_out, hf_wrappers
from ..io.hf_rows import ABSENT, NULL, ROWS, TEXT_CLASSES, TEXT_ROWS, Row
from ..io.hf_layouts import _short
from ..io.hf_keys import (ACTIVATION_KEYS, FLAG_DEFAULT, GATED_ACTIVATIONS, LEFT_OUT, MAX_LAYERS, MOE_ALIAS,
                           MOE_CHOSEN_ALIAS, MOE_CHOSEN_FIXED,
                           FF_FROM_WIDTH, MOE_KEYS, NEUTRAL, NEUTRAL_FOR, NEUTRAL_ONLY, NEUTRAL_ONLY_FOR, NEUTRAL_SHAPES,
                           PLAIN_ACTIVATIONS, PLAIN_MLP, SIZE_KEYS, SPELLING)
from ..io.cards import ModelCard, model_from_dict, shown_value
from ..io.layers import MAX_SEGMENTS
from ..errors import CardError


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
    raw = row.prepare(raw, where) if row.prepare else raw      # DBRX's sub-configs, HunYuan's per-layer lists
    if raw.get("model_type", row.architecture) != row.architecture:
        raise CardError(f"{where}: key 'model_type' is {shown_value(raw['model_type'])} but architectures names {hf_class}; "
                        f"allowed: {row.architecture!r}")
    spelling = SPELLING.get(hf_class, {})
    layers_key = spelling.get("num_hidden_layers", "num_hidden_layers")
    n_layers = _size(raw, layers_key, where)
    if n_layers > MAX_LAYERS:        # the layouts below list every layer
        raise CardError(f"{where}: key '{layers_key}' is out of range (at most {MAX_LAYERS} layers), got {n_layers}")
    layout, attention_kinds, mlp_kinds, layout_keys = row.layout(raw, n_layers, where) if row.layout else ({}, None, None, set())
    _check_keys(raw, hf_class, where, layout_keys)
    sizes = {key: _size(raw, spelling.get(key, key), where) for key in SIZE_KEYS
             if not (key == "intermediate_size" and hf_class in FF_FROM_WIDTH) and spelling.get(key, key)}
    if spelling.get("intermediate_size", "") is None:      # no key: the class hard-codes it (MPT, BLOOM: 4 x D)
        sizes["intermediate_size"] = layout.pop("d_ff")
    heads, width = sizes.get("num_attention_heads") or layout.pop("n_heads"), sizes["hidden_size"]   # Mamba: no heads key
    if hf_class in FF_FROM_WIDTH:      # GPT-2's n_inner, Falcon's ffn_hidden_size: absent or null is 4 x D,
        ff_key = spelling["intermediate_size"]     # as transformers derives it
        sizes["intermediate_size"] = 4 * width if raw.get(ff_key) is None else _size(raw, ff_key, where)
    kv_key = spelling.get("num_key_value_heads", "num_key_value_heads")
    kv_heads = heads if row.kv_from_heads is None else \
        _derived(raw, kv_key, row.kv_from_heads, lambda: heads, hf_class, where)
    if row.head_dim_from_width is None:
        head_dim = layout.get("head_dim") or _width_per_head(width, heads, where)
    else:
        head_dim = _derived(raw, "head_dim", row.head_dim_from_width, lambda: _width_per_head(width, heads, where),
                            hf_class, where)
    if heads % kv_heads:
        raise CardError(f"{where}: key '{kv_key}' ({kv_heads}) must divide "
                        f"'{spelling.get('num_attention_heads', 'num_attention_heads')}' ({heads})")
    if layout.get("attention") == "mla" and kv_heads != heads:
        raise CardError(f"{where}: key 'num_key_value_heads' ({kv_heads}) must equal 'num_attention_heads' ({heads}) "
                        f"for {hf_class}: its MLA expands the latent to every head")
    experts, per_token = _experts(raw, hf_class, where)
    if mlp_kinds is not None and "moe" not in mlp_kinds:      # every layer dense: the experts are never built
        experts, per_token = 1, 1
        layout = {key: value for key, value in layout.items()
                  if key not in ("d_ff_expert", "d_ff_shared", "shared_expert_gate", "moe_bias", "router_bias")}
    notes = [*notes, *([LEFT_OUT[hf_class]] if hf_class in LEFT_OUT else []),
             *hf_left_out.left_out_notes(raw, hf_class, where)]
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
        if mixed_attention and mixed_mlp:     # a layer of one part (Nemotron-H's) is named by it
            return a if m == "none" else m if a == "none" else f"{a}_{m}"
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
        raise CardError(f"{where}: key 'architectures' must list exactly one class name, got {shown_value(names)}")
    if names[0] not in ROWS:
        raise CardError(f"{where}: key 'architectures' is {shown_value(names[0])}, which symroof does not read; "
                        f"allowed: {allowed}")
    return names[0]


def _check_keys(raw: dict, hf_class: str, where: str, layout_keys: set) -> None:
    spelling = SPELLING.get(hf_class, {})
    read = {*filter(None, (spelling.get(key, key) for key in SIZE_KEYS)), "tie_word_embeddings", *layout_keys,
            *MOE_KEYS.get(hf_class, ()), *ACTIVATION_KEYS.get(hf_class, ("hidden_act",))}
    read |= {table[hf_class] for table in (MOE_ALIAS, MOE_CHOSEN_ALIAS) if hf_class in table}
    row = _row(hf_class)
    read |= {key for key, spec in ((spelling.get("num_key_value_heads", "num_key_value_heads"), row.kv_from_heads),
                                   ("head_dim", row.head_dim_from_width)) if spec is not None}
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
        raise CardError(f"{where}: key '{key}' must be a positive integer, got {_short(value)}")
    if value > 10**12:          # the card's own bound, named here by the file's key
        raise CardError(f"{where}: key '{key}' is out of range (at most 10^12), got {_short(value)}")
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
    total_key, chosen_key = (_aliased(raw, key, table.get(hf_class), hf_class, where)
                             for key, table in zip(MOE_KEYS[hf_class], (MOE_ALIAS, MOE_CHOSEN_ALIAS)))
    fixed = MOE_CHOSEN_FIXED.get(hf_class)
    given = raw.get(chosen_key, fixed)
    if fixed and (type(given) is not int or given != fixed):
        raise CardError(f"{where}: key '{chosen_key}' is {'null' if given is None else _short(given)}; {hf_class}'s "
                        f"router picks {fixed} "
                        f"experts per token whatever it says; allowed: {fixed} or absent")
    total, chosen = (_size(raw, key, where, SIZE_KEYS + MOE_KEYS[hf_class]) if key != chosen_key or not fixed else fixed
                     for key in (total_key, chosen_key))
    if total < 2:
        raise CardError(f"{where}: key '{total_key}' must be at least 2 for {hf_class}, got {total}")
    if chosen > total:
        raise CardError(f"{where}: key '{chosen_key}' ({chosen}) must be at most '{total_key}' ({total})")
    return total, chosen


def _aliased(raw: dict, key: str, alias: str | None, hf_class: str, where: str) -> str:
    """The key a count is read from: ``alias`` where the file gives it (one number under either name;
    two must agree), else ``key``."""
    if not alias or raw.get(alias) is None:
        return key
    if raw.get(key) not in (None, raw[alias]):
        raise CardError(f"{where}: keys '{key}' ({raw[key]!r}) and '{alias}' ({raw[alias]!r}) disagree; {hf_class} "
                        "reads them as one number (transformers aliases one to the other)")
    return alias


def _name(raw: dict, where: str) -> str:
    """``_name_or_path`` if a Hub id; else the folder of a ``config.json`` (as the Hub lays it out); else the stem."""
    given = raw.get("_name_or_path")      # a Hub id names it; a directory of the machine that saved it does not
    if isinstance(given, str) and hf_layouts.HUB_ID.fullmatch(given):
        return given
    path = Path(where)       # a folder's name is the file system's: what cannot be printed is shown as '?'
    name = path.resolve().parent.name if path.stem == "config" and path.resolve().parent.name else path.stem
    return "".join(c if c.isprintable() else "?" for c in name)
