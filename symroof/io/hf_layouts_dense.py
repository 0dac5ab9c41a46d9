"""Readers for dense decoder classes added after ``hf_layouts``: OLMo 3.

Each reader takes the parsed ``config.json`` and returns the card fields it decides, the per-layer
attention and MLP kinds, and the config keys it read, as ``hf_layouts``' do. What a key means and
its default is from transformers 5.x's ``configuration_*.py`` / ``modeling_*.py`` of the class
(read, never imported):

- OLMo 3 (``Olmo3ForCausalLM``): OLMo 2's layer (norms after attention and after the MLP, q and k
  RMSNorms over all heads' width, ``attention_bias`` on q, k, v and o) with ``layer_types``
  (absent or null: every fourth layer full, the others sliding, as its ``__post_init__`` writes
  them). A sliding layer needs ``sliding_window`` (transformers' 4096 is a reference model's
  constant); with no sliding layer it is checked and changes nothing.
"""

from __future__ import annotations

from .hf_layouts import SLIDING, _layer_types, _unused_int, _window


def _kinds(raw, n, where, default) -> list:
    """Per layer 'sliding' or 'global': ``layer_types`` where given, else ``default(i)`` (True: sliding)."""
    if raw.get("layer_types") is not None:
        return ["sliding" if t == SLIDING else "global" for t in _layer_types(raw, n, where)]
    return ["sliding" if default(i) else "global" for i in range(n)]


def _windowed(raw, kinds, where, fields=None) -> tuple:
    """The card fields and per-layer kinds of ``kinds``: the window required where a layer slides (its
    transformers default is a reference model's constant), else only checked."""
    fields = dict(fields or {})
    if "sliding" in kinds:
        fields["sliding_window"] = _window(raw, where)
        return fields, kinds
    _unused_int(raw, "sliding_window", where, 1)
    return fields, None


def olmo3(raw, n, where):
    fields, kinds = _windowed(raw, _kinds(raw, n, where, lambda i: (i + 1) % 4), where,
                              {"norm_placement": "post", "qk_norm_width": "all"})
    return fields, kinds, None, {"layer_types", "sliding_window"}
