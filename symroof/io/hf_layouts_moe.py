"""Readers for the MoE classes added after ``hf_layouts``: Llama 4's text model, GLM-4.5/4.6 and OLMoE.

Each reader takes the parsed ``config.json`` and returns the card fields it decides, the
per-layer attention and MLP kinds, and the config keys it read, as ``hf_layouts``' do. What a key
means and its default is from transformers 5.x's ``configuration_*.py`` / ``modeling_*.py`` of
the class (read, never imported):

- Llama 4 (``Llama4ForCausalLM``, ``llama4_text``): layer i is MoE when listed in ``moe_layers``
  (absent or null: every ``interleave_moe_layer_step``-th layer, from step - 1), else a dense
  SwiGLU MLP of width ``intermediate_size_mlp`` (then required: its default 16384 is a reference
  model's constant). An MoE layer has ``num_local_experts`` experts of width ``intermediate_size``,
  a shared expert of the same width (no gate) and a router without a bias (sigmoid of the top-k
  logits; elementwise, as the routing of every MoE here). Layer i rotates q and k (RoPE) when
  ``no_rope_layers[i]`` is 1 (absent, null or empty: every ``no_rope_layer_interval``-th layer
  is NoPE, default 4); a RoPE layer attends in chunks of ``attention_chunk_size`` tokens where
  that is set, unless ``layer_types`` lists the kinds. Such a layer is a card's ``chunked`` block
  type with ``attention_chunk`` C: a query sees only its own chunk's earlier keys (masking_utils.py,
  ``chunked_overlay``), and transformers caches it as a sliding window of C (its last C - 1 keys;
  core/attention_shares.py ``chunk_share`` counts both). The weightless parts are named in the card's
  left_out: the L2 norm of q and k on RoPE layers (``use_qk_norm``), the NoPE layers'
  attention-temperature scaling (``attn_temperature_tuning``), and RoPE's elementwise ops, counted
  on every layer although NoPE layers have none. transformers' Llama 4 runs every expert on every
  token (the router's zeros scale the rest), E / k times the routed matmuls counted here.
- GLM-4.5 / 4.6 (``Glm4MoeForCausalLM``): the first ``first_k_dense_replace`` layers dense
  (width ``intermediate_size``), the rest MoE with ``n_routed_experts`` experts of width
  ``moe_intermediate_size`` and ``n_shared_experts`` x that of shared expert (no gate). The
  router's weight is a parameter; ``e_score_correction_bias`` is a buffer (not counted). Biases on
  q, k and v (``attention_bias``), none on o; per-head q and k RMSNorms with ``use_qk_norm``; RoPE
  on ``partial_rotary_factor`` of each head (default 1/2). ``head_dim`` is read where given
  (``getattr``), else D // N. The multi-token-prediction layers (``num_nextn_predict_layers``) are
  not built by transformers and are named as not counted.
- OLMoE (``OlmoeForCausalLM``): every layer MoE, ``num_experts`` (or its alias ``num_local_experts``)
  experts of width ``intermediate_size``, top ``num_experts_per_tok``, a router without a bias and no
  shared expert; q and k RMSNorms over all heads' width (D and K · D / N), as OLMo 2's; ``attention_bias``
  on q, k, v and o. ``clip_qkv`` clamps q, k and v (elementwise, no weights) and is named where set.
"""

from __future__ import annotations

import reprlib
from fractions import Fraction

from ..errors import CardError
from .hf_layouts import _bool, _int, _layer_indices, _unused_int, rotary_pct

FULL, CHUNKED = "full_attention", "chunked_attention"


def llama4(raw, n, where):
    moe = _llama4_moe_layers(raw, n, where)
    rope = _no_rope_layers(raw, n, where)
    chunk = raw.get("attention_chunk_size", "absent")
    if raw.get("layer_types") is not None:
        types = raw["layer_types"]
        if not (isinstance(types, list) and len(types) == n and all(t in (FULL, CHUNKED) for t in types)):
            raise CardError(f"{where}: key 'layer_types' must list {n} entries, each '{FULL}' or '{CHUNKED}'")
        chunked = [t == CHUNKED for t in types]
    else:
        chunked = [bool(r) and chunk is not None for r in rope]
    fields, notes = {}, []
    if any(chunked):
        if chunk in ("absent", None):
            raise CardError(f"{where}: missing key 'attention_chunk_size' (chunked layers need it; transformers' "
                            "default, 8192, is a reference model's constant; null: no chunked layers)")
        fields["attention_chunk"] = _int(raw, "attention_chunk_size", where)
    elif chunk != "absent":
        _unused_int(raw, "attention_chunk_size", where, 1)
    nope = n - sum(1 for r in rope if r)
    weightless = []
    if _bool(raw, "use_qk_norm", where, True) and nope < n:
        weightless.append(f"an L2 norm of q and k on the {n - nope} RoPE layers (use_qk_norm)")
    if _switch(raw, "attn_temperature_tuning", where) and nope:
        weightless.append(f"attention-temperature scaling of q on the {nope} NoPE layers (attn_temperature_tuning)")
    if nope:
        weightless.append(f"no RoPE on those {nope} NoPE layers (RoPE's elementwise ops are counted on every layer)")
    if weightless:
        notes.append("weightless elementwise attention ops not counted as such: " + "; ".join(weightless))
    for key in ("floor_scale", "attn_scale"):
        value = raw.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value != value):
            raise CardError(f"{where}: key '{key}' must be a number, got {reprlib.repr(value)}")
    mlps = ["moe" if i in moe else "dense" for i in range(n)]
    if moe:     # transformers' Llama 4 feeds every token to every expert, the router's zeros cancelling
        notes.append("experts counted as routed (k of E per token); transformers' Llama4TextMoe runs every "
                     "expert on every token, so FlopCounterMode on it counts E/k times these expert FLOPs")
    width = _int(raw, "intermediate_size", where)
    fields.update(d_ff_expert=width, d_ff_shared=width)
    if "dense" in mlps:
        fields["d_ff"] = _int(raw, "intermediate_size_mlp", where)
    else:
        _unused_int(raw, "intermediate_size_mlp", where, 1)
    if notes:
        fields["note"] = notes
    kinds = ["chunked" if c else "global" for c in chunked]
    return fields, kinds if any(chunked) else None, mlps, \
        {"moe_layers", "interleave_moe_layer_step", "intermediate_size_mlp", "no_rope_layers", "no_rope_layer_interval",
         "attention_chunk_size", "layer_types", "use_qk_norm", "attn_temperature_tuning", "floor_scale", "attn_scale"}


def _switch(raw, key, where) -> bool:
    """A flag the modelling code tests for truth: true or false, or an integer as Meta's published Llama 4
    files write attn_temperature_tuning (4), which transformers 4.x reads (5.x's type check refuses it)."""
    value = raw.get(key, True)
    if not isinstance(value, int) or value < 0:
        raise CardError(f"{where}: key '{key}' must be true, false or an integer >= 0, got {reprlib.repr(value)}")
    return bool(value)


def _llama4_moe_layers(raw, n, where) -> set:
    """``moe_layers`` where given (an empty list: none), else range(step - 1, n, step)."""
    step = _int(raw, "interleave_moe_layer_step", where, 1)
    if raw.get("moe_layers") is not None:
        return _layer_indices(raw, "moe_layers", n, where)
    return set(range(step - 1, n, step))


def _no_rope_layers(raw, n, where) -> list:
    """Per layer, 1 where it rotates q and k. transformers reads the first n entries of a longer list;
    an absent, null or empty one is made from ``no_rope_layer_interval`` (every interval-th layer NoPE)."""
    interval = _int(raw, "no_rope_layer_interval", where, 4)
    given = raw.get("no_rope_layers")
    if not given:
        if given not in (None, []):
            raise CardError(f"{where}: key 'no_rope_layers' must be a list of 0 and 1, got {reprlib.repr(given)}")
        return [int((i + 1) % interval != 0) for i in range(n)]
    if not (isinstance(given, list) and len(given) >= n and all(v in (0, 1) and not isinstance(v, float)
                                                                 for v in given)):
        raise CardError(f"{where}: key 'no_rope_layers' must list at least {n} entries ('num_hidden_layers'), each 0 "
                        f"(a NoPE layer) or 1 (RoPE), got {reprlib.repr(given)}")
    return [int(v) for v in given[:n]]


def glm4_moe(raw, n, where):
    pct, keys = rotary_pct(raw, where, Fraction(1, 2))
    fields = {"rotary_pct": pct, "qk_norm": _bool(raw, "use_qk_norm", where, False),
              "d_ff_expert": _int(raw, "moe_intermediate_size", where)}
    fields["d_ff_shared"] = _int(raw, "n_shared_experts", where, minimum=0) * fields["d_ff_expert"]
    first_dense = _int(raw, "first_k_dense_replace", where, minimum=0)
    mlps = ["dense" if i < first_dense else "moe" for i in range(n)]
    mtp = _mtp_layers(raw, where)
    if mtp:
        fields["note"] = (f"multi-token-prediction layers (num_nextn_predict_layers {mtp}) not counted: "
                          "transformers does not build them; a runs file's mtp_layers trains them")
    return fields, None, mlps, keys | {"use_qk_norm", "moe_intermediate_size", "n_shared_experts",
                                        "first_k_dense_replace", "num_nextn_predict_layers", "num_mtp_layers"}


def _mtp_layers(raw, where) -> int:
    """GLM's num_nextn_predict_layers, or its 5.x name num_mtp_layers (default 1); two given must agree."""
    given = {key: _int(raw, key, where, minimum=0) for key in ("num_nextn_predict_layers", "num_mtp_layers")
             if raw.get(key) is not None}
    if len(set(given.values())) > 1:
        raise CardError(f"{where}: keys 'num_nextn_predict_layers' ({given['num_nextn_predict_layers']}) and "
                        f"'num_mtp_layers' ({given['num_mtp_layers']}) disagree; transformers reads them as one number")
    return next(iter(given.values()), 1)


def olmoe(raw, n, where):
    """OLMoE: every layer MoE (experts of width ``intermediate_size``, a router without bias, no shared
    expert), q and k RMSNorms over all heads' width, as OLMo 2's; ``clip_qkv`` clamps q, k and v
    (elementwise, no weights) and is named where set."""
    fields = {"qk_norm_width": "all"}
    clip = raw.get("clip_qkv")
    if clip is not None:
        if isinstance(clip, bool) or not isinstance(clip, (int, float)) or not clip > 0:
            raise CardError(f"{where}: key 'clip_qkv' must be a positive number or null, got {reprlib.repr(clip)}")
        fields["note"] = f"clip_qkv ({clip}): its elementwise clamp of q, k and v is not counted"
    return fields, None, None, {"clip_qkv"}
