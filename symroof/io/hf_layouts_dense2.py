"""Readers for more dense decoder classes: Helium, Seed-OSS, EXAONE 4.0, Arcee.

Each reader takes the parsed ``config.json`` and returns the card fields it decides, the per-layer
attention and MLP kinds, and the config keys it read, as ``hf_layouts``' do. What a key means and
its default is from transformers 5.x's ``configuration_*.py`` / ``modeling_*.py`` of the class
(read, never imported):

- Helium (``HeliumForCausalLM``): the LLaMA layer; ``attention_bias`` on q, k and v only (o has
  none), ``mlp_bias`` on the MLP. Its K and head_dim fall back to Helium 2B's 20 and 128 (5.x's
  type check refuses null), so both are required. ``o_proj`` maps ``hidden_size`` to
  ``hidden_size`` whatever the heads give, so its forward needs N·H = D: another head_dim is refused.
- Seed-OSS (``SeedOssForCausalLM``): the LLaMA layer with ``attention_bias`` (default true) on q, k
  and v, ``attention_out_bias`` (default false) on o and ``mlp_bias`` (default false) on the MLP.
  Its K and head_dim fall back to Seed-OSS-36B's 8 and 128 (null: N and D // N, its
  ``__post_init__``). Its dropouts (``attention_dropout`` and ``residual_dropout``, both 0.1 by
  default) are named in left_out (``hf_left_out.DROPOUT_KEYS``).
- EXAONE 4.0 (``Exaone4ForCausalLM``): norms after attention and after the MLP (none before), q and
  k RMSNorms per head (H weights each), no biases. Layers slide as ``layer_types`` says (absent or
  null: all but every ``sliding_window_pattern``-th, default 4); a sliding layer needs
  ``sliding_window`` (transformers' 4096 is a reference model's constant). Without ``layer_types``,
  a null window (its ``__post_init__`` makes the pattern 0) or a text pattern (the published
  files' "LLLG") or a null one fails in transformers, so they are refused. While the window is not null (its
  default is 4096), the full-attention layers rotate nothing (NoPE), named in left_out.
- Arcee (``ArceeForCausalLM``): the LLaMA layer with a plain MLP (``up_proj``, ``down_proj``;
  ``hidden_act`` default relu2, relu squared), ``attention_bias`` on q, k, v and o, ``mlp_bias``;
  K and head_dim absent or null: N and D // N. ArceeConfig refuses a ``hidden_size`` that is not a
  multiple of ``num_attention_heads`` (even with a head_dim), and so does symroof.
"""

from __future__ import annotations

from ..errors import CardError
from .hf_layouts import _bool, _int, _short, _unused_int
from .hf_layouts_dense import _kinds, _nope_note, _windowed


def _given_int(raw, key) -> int | None:
    """A size key's value where it is a positive integer, else None (hf.py refuses it, naming the key)."""
    value = raw.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def helium(raw, n, where):
    heads, width, head_dim = (_given_int(raw, k) for k in ("num_attention_heads", "hidden_size", "head_dim"))
    if heads and width and head_dim and heads * head_dim != width:
        raise CardError(f"{where}: key 'head_dim' ({head_dim}) x 'num_attention_heads' ({heads}) must equal "
                        f"'hidden_size' ({width}): transformers' Helium maps hidden_size to hidden_size in o_proj, "
                        "and its forward fails otherwise")
    return {}, None, None, set()


def seed_oss(raw, n, where):
    fields = {"o_bias": _bool(raw, "attention_out_bias", where, False), "mlp_bias": _bool(raw, "mlp_bias", where, False)}
    return fields, None, None, {"attention_out_bias", "mlp_bias"}


def exaone4(raw, n, where):
    window = raw.get("sliding_window", 4096)          # its default; only its being null changes RoPE
    if raw.get("layer_types") is None:
        if window is None:
            raise CardError(f"{where}: key 'sliding_window' is null without 'layer_types'; transformers' Exaone4 "
                            "then places layers by a sliding_window_pattern of 0 and fails; allowed: a positive "
                            "integer, or layer_types listing each layer")
        given = raw.get("sliding_window_pattern", 4)
        if given is None or isinstance(given, str):
            raise CardError(f"{where}: key 'sliding_window_pattern' is {'null' if given is None else _short(given)} "
                            "without 'layer_types'; "
                            "transformers' Exaone4 reads a text or null pattern only beside layer_types (it fails "
                            "otherwise); allowed: an integer >= 1, or layer_types")
        pattern = _int(raw, "sliding_window_pattern", where, 4)
        kinds = _kinds(raw, n, where, lambda i: (i + 1) % pattern)
    else:
        pattern = raw.get("sliding_window_pattern")
        if not isinstance(pattern, str):            # a text pattern ("LLLG") is kept, never read, beside layer_types
            _unused_int(raw, "sliding_window_pattern", where, 0)
        kinds = _kinds(raw, n, where, None)
    if "sliding" in kinds and window is None:
        raise CardError(f"{where}: key 'sliding_window' is null but 'layer_types' lists sliding layers; allowed: "
                        "a positive integer")
    rope = [int(window is None or kind == "sliding") for kind in kinds]
    note = _nope_note(rope, "its full-attention layers, while sliding_window is not null")
    fields, kinds = _windowed(raw, kinds, where, {"norm_placement": "post", **note})
    return fields, kinds, None, {"layer_types", "sliding_window", "sliding_window_pattern"}


def arcee(raw, n, where):
    heads, width = _given_int(raw, "num_attention_heads"), _given_int(raw, "hidden_size")
    if heads and width and width % heads:
        raise CardError(f"{where}: key 'hidden_size' ({width}) must be a multiple of 'num_attention_heads' "
                        f"({heads}): ArceeConfig refuses it (whatever head_dim says)")
    return {"mlp": "plain"}, None, None, set()
