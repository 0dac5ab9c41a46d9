"""Reader for Gemma 4's text model: ``Gemma4ForCausalLM`` (gemma4_text), also the language model of
``Gemma4ForConditionalGeneration`` (hf_wrappers).

What each key means and its default is from transformers 5.24's ``configuration_gemma4.py`` and
``modeling_gemma4.py`` (read, never imported). A layer (``Gemma4TextDecoderLayer``) is Gemma 3's: four RMSNorms
(input, post-attention, pre- and post-feedforward), attention (core/attention_gemma4.py) and a gated MLP of
``hidden_activation``, plus a ``layer_scalar`` buffer (no parameter). ``layer_types`` lists sliding and full layers
(null: every sixth full); Gemma4TextConfig forces the last layer to full attention, whatever the list says. Full
layers take their head width and KV heads from a per-layer override: ``per_layer_config`` where the file gives one
(what save_pretrained writes: each full layer's head_dim and num_key_value_heads), else ``global_head_dim`` and,
where ``attention_k_eq_v``, ``num_global_key_value_heads`` (popped by its __post_init__).

What the card does not model is refused unless it is off: per-layer input embeddings (``hidden_size_per_layer_input``
> 0: embed_tokens_per_layer, its projections and the per-layer gates), KV shared across layers
(``num_kv_shared_layers`` > 0, whose layers also skip tokens in training) and bidirectional attention over all
tokens (``use_bidirectional_attention`` "all"). The MoE block (``enable_moe_block``: routed experts beside the dense
MLP on every layer) is core/moe_gemma4.py's.
"""

from __future__ import annotations

from ..errors import CardError
from .hf_layouts import _bool, _finite, _int, _short, _window

GLOBAL, SLIDING = "full_attention", "sliding_attention"
_OFF = {"hidden_size_per_layer_input": "per-layer input embeddings (PLE)",
        "num_kv_shared_layers": "key/value states shared across layers"}
_MOE = ("num_experts", "top_k_experts", "moe_intermediate_size")


def _types(raw, n, where) -> tuple[list, list]:
    types = raw.get("layer_types")
    if types is None:          # Gemma4TextConfig: sliding_window_pattern 6 (5 sliding : 1 full)
        types = [SLIDING if (i + 1) % 6 else GLOBAL for i in range(n)]
    if not (isinstance(types, list) and len(types) == n and all(t in (GLOBAL, SLIDING) for t in types)):
        raise CardError(f"{where}: key 'layer_types' must list {n} entries, each '{GLOBAL}' or '{SLIDING}'")
    notes = []
    if types[-1] != GLOBAL and raw.get("layer_types") is not None:
        notes.append("layer_types: its last layer is full attention, as Gemma4TextConfig forces it whatever the "
                     "list says")
    return [*types[:-1], GLOBAL], notes


def _full_layers(raw, types, where) -> tuple[int, int]:
    """The full layers' head width and KV heads (module docstring); every full layer alike, or refused."""
    heads, kv = _int(raw, "head_dim", where), _int(raw, "num_key_value_heads", where)
    k_eq_v = _bool(raw, "attention_k_eq_v", where, False)
    given = raw.get("per_layer_config")
    if given is None:
        global_kv = _int(raw, "num_global_key_value_heads", where, kv) if k_eq_v else kv
        if not k_eq_v:
            _int(raw, "num_global_key_value_heads", where, 1)     # not read without attention_k_eq_v; checked
        return _int(raw, "global_head_dim", where), global_kv
    full = {i for i, t in enumerate(types) if t == GLOBAL}
    allowed = f"a mapping of each full-attention layer's index ({', '.join(map(str, sorted(full)))}) to the same " \
              "{head_dim, num_key_value_heads}"
    # save_pretrained writes the indices as strings, zero-padded to sort ("05", "11")
    indices = {int(k) for k in given if type(k) is int or (isinstance(k, str) and k.isascii() and k.isdigit()
                                                          and len(k) < 9)} if isinstance(given, dict) else set()
    if not (isinstance(given, dict) and indices == full and len(given) == len(full)
            and all(isinstance(v, dict) and set(v) <= {"head_dim", "num_key_value_heads"} for v in given.values())):
        raise CardError(f"{where}: key 'per_layer_config' must be {allowed}, got {_short(given)}")
    values = {(v.get("head_dim", heads), v.get("num_key_value_heads", kv)) for v in given.values()}
    if len(values) != 1:
        raise CardError(f"{where}: key 'per_layer_config' gives the full-attention layers different shapes "
                        f"({_short(sorted(values))}); symroof reads one shape for them all")
    head, global_kv = values.pop()
    head = _int({"per_layer_config.head_dim": head}, "per_layer_config.head_dim", where)
    global_kv = _int({"per_layer_config.num_key_value_heads": global_kv}, "per_layer_config.num_key_value_heads",
                     where)
    for key, value in (("global_head_dim", head), ("num_global_key_value_heads", global_kv)):
        if raw.get(key) not in (None, value):
            raise CardError(f"{where}: keys '{key}' ({_short(raw[key])}) and 'per_layer_config' ({value}) disagree; "
                            "transformers reads per_layer_config")
    return head, global_kv


def _moe(raw, where) -> dict:
    """The MoE block (enable_moe_block; core/moe_gemma4.py): on every layer, num_experts gated experts of
    moe_intermediate_size, top_k_experts a token, beside the dense MLP; each key required (its class has none)."""
    experts, chosen = _int(raw, "num_experts", where), _int(raw, "top_k_experts", where)
    if experts < 2 or chosen > experts:
        raise CardError(f"{where}: keys 'num_experts' ({experts}) and 'top_k_experts' ({chosen}): at least 2 experts, "
                        "and at most that many per token")
    return {"n_experts": experts, "experts_per_token": chosen, "d_ff_expert": _int(raw, "moe_intermediate_size", where),
            "moe_beside_mlp": True}


def gemma4_text(raw, n, where):
    for key, what in _OFF.items():         # Gemma4TextConfig's defaults: PLE of 256 on, no sharing
        value = raw.get(key, 256 if key == "hidden_size_per_layer_input" else 0)
        if type(value) is not int or value != 0:
            raise CardError(f"{where}: key '{key}' is {'absent (256)' if key not in raw else _short(value)}; "
                            f"allowed: 0 ({what} are not modelled)")
    moe = _moe(raw, where) if _bool(raw, "enable_moe_block", where, False) else {}
    for key in (*_MOE, "vocab_size_per_layer_input"):
        _int(raw, key, where, 1)               # unread here (no MoE block, no PLE), but a damaged value is refused
    _bool(raw, "use_double_wide_mlp", where, False)     # widens only KV-shared layers' MLPs: none here
    bidirectional = raw.get("use_bidirectional_attention")
    if bidirectional not in (None, "vision"):
        raise CardError(f"{where}: key 'use_bidirectional_attention' is {_short(bidirectional)}; allowed: null or "
                        "'vision' (every token attending both ways is not modelled)")
    cap = raw.get("final_logit_softcapping")
    if cap is not None and not _finite(cap):
        raise CardError(f"{where}: key 'final_logit_softcapping' must be a number or null, got {_short(cap)}")
    types, notes = _types(raw, n, where)
    head, global_kv = _full_layers(raw, types, where)
    if _int(raw, "num_attention_heads", where) % global_kv:
        raise CardError(f"{where}: the full-attention layers' KV heads ({global_kv}) must divide "
                        "'num_attention_heads'")
    kinds = ["global" if t == GLOBAL else "sliding" for t in types]
    fields = {**moe, "value_norm": True, "global_head_dim": head, "global_kv_heads": global_kv,
              "attention_k_eq_v": _bool(raw, "attention_k_eq_v", where, False),
              "note": notes + ["tensor parallelism: the full-attention layers' heads (their own width and KV heads) "
                               "are not split, counted whole on every chip"]}
    if bidirectional == "vision":
        fields["note"].append("use_bidirectional_attention 'vision': image tokens attend both ways; text is "
                              "counted causal")
    if "sliding" in kinds:
        fields["sliding_window"] = _window(raw, where)
    else:
        _int(raw, "sliding_window", where, 1)
    keys = {"layer_types", "sliding_window", "per_layer_config", "global_head_dim", "num_global_key_value_heads",
            "attention_k_eq_v", "enable_moe_block", "use_double_wide_mlp", "use_bidirectional_attention",
            "final_logit_softcapping", "vocab_size_per_layer_input", *_OFF, *_MOE}
    return fields, kinds, ["moe"] * n if moe else None, keys
