"""Readers for more recent classes of transformers 5.24: Granite SWA, Granite MoE SWA, ...

Each reader takes the parsed ``config.json`` and returns what ``hf_layouts``' readers return (card fields,
per-layer attention kinds, per-layer MLP kinds, keys read). What a key means, and its default when absent, is
from transformers 5.24's ``configuration_*.py`` / ``modeling_*.py`` of the class (read, never imported):

- Granite SWA (``GraniteSWAForCausalLM``): Granite's layer and scalar multipliers (``hf_layouts.granite``) with
  a learned sink logit per query head in every attention (``self_attn.sinks``, N weights: gpt-oss's), sliding
  layers from ``layer_types`` (absent: every layer but each fourth from the first, ``i % 4 == 0`` full) and
  ``layer_rope_theta``, a RoPE base per layer whose 0 is a NoPE layer (named; absent: every layer rotates). Its
  model builds the sliding mask on every forward, so a null ``sliding_window`` fails there: refused; the
  default window, 128, is its reference model's: required where a layer slides.
- Granite MoE SWA (``GraniteMoeSWAForCausalLM``): Granite MoE Shared's layer (experts of ``intermediate_size``
  on every layer, a shared gated MLP of ``shared_intermediate_size``, 0 none) with Granite SWA's attention.
- Persimmon (``PersimmonForCausalLM``, Persimmon-8B): GPT-NeoX's sequential layer: one ``query_key_value`` matrix
  and ``dense`` with biases, K = N and head_dim D // N (no keys: a hidden_size not a multiple of the heads fails
  there), LayerNorms (weight and bias) before attention and MLP and at the end, a plain MLP with biases (default
  relu2), untied head; ``qk_layernorm`` (default true) a LayerNorm of head_dim (weight and bias) on q and on k;
  RoPE on ``partial_rotary_factor`` of each head (default 1/2), int(head_dim x factor) dims, the rotary
  embedding's width rounded up to even: an odd or zero width fails its forward, refused.
- Apertus (``ApertusForCausalLM``): the LLaMA attention with per-head q/k RMSNorms (``attention_bias`` on q, k, v
  and o) and a plain up/down MLP without biases; its default activation, xIELU (``hidden_act`` 'xielu', arXiv
  2411.13010), holds two learned scalars in each layer (``alpha_p``, ``alpha_n``: the card's
  ``activation_params``); its elementwise ops are not counted, as no activation's are.
"""

from __future__ import annotations

import math
from fractions import Fraction

from ..errors import CardError
from .hf_keys import PLAIN_ACTIVATIONS
from .hf_layouts import GLOBAL, SLIDING, _bool, _int, _layer_types, _short, rotary_pct
from .hf_layouts_dense import _mask_needs_window, _nope_note, _windowed
from .hf_layouts_moe3 import granite, granite_moe_shared


_SWA_KEYS = {"layer_types", "sliding_window", "layer_rope_theta"}


def _layer_rope(raw, n, where) -> list:
    """1 where a layer rotates q and k, 0 where ``layer_rope_theta`` gives it 0 (NoPE)."""
    thetas = raw.get("layer_rope_theta")
    if thetas is None:
        return [1] * n
    if not (isinstance(thetas, list) and len(thetas) == n and
            all((type(t) is int or type(t) is float and math.isfinite(t)) and t >= 0 for t in thetas)):
        raise CardError(f"{where}: key 'layer_rope_theta' must list {n} RoPE bases ('num_hidden_layers' is {n}), each "
                        f"a number >= 0 (0: no RoPE), got {_short(thetas)}")
    return [int(t != 0) for t in thetas]


def _granite_swa_attention(raw, n, where, fields):
    _mask_needs_window(raw, where, "GraniteSWA")
    types = _layer_types(raw, n, where) if raw.get("layer_types") is not None else \
        [GLOBAL if i % 4 == 0 else SLIDING for i in range(n)]
    kinds = ["sliding" if t == SLIDING else "global" for t in types]
    nope = _nope_note(_layer_rope(raw, n, where), "layer_rope_theta 0")
    notes = fields.pop("note", [])
    notes = (notes if isinstance(notes, list) else [notes]) + ([nope["note"]] if nope else [])
    return _windowed(raw, kinds, where, {**fields, "attention_sinks": True, "note": notes})


def granite_swa(raw, n, where):
    fields, _, _, keys = granite(raw, n, where)
    fields, kinds = _granite_swa_attention(raw, n, where, fields)
    return fields, kinds, None, keys | _SWA_KEYS


def granitemoe_swa(raw, n, where):
    fields, _, mlps, keys = granite_moe_shared(raw, n, where)
    fields, kinds = _granite_swa_attention(raw, n, where, fields)
    return fields, kinds, mlps, keys | _SWA_KEYS


def persimmon(raw, n, where):
    pct, _ = rotary_pct(raw, where, Fraction(1, 2))      # rotary_pct (GPT-NeoX's name) is not Persimmon's
    width, heads = _int(raw, "hidden_size", where), _int(raw, "num_attention_heads", where)
    if width % heads:
        raise CardError(f"{where}: key 'hidden_size' ({width}) must be a multiple of 'num_attention_heads' ({heads}): "
                        "transformers' Persimmon refuses it")
    rotated = width // heads * pct
    if rotated.denominator != 1 or rotated % 2 or not rotated:
        raise CardError(f"{where}: key 'partial_rotary_factor' is {float(pct)}: Persimmon rotates int({width // heads} "
                        f"x {float(pct)}) dims of each head and its rotary embedding that rounded up to even, so its "
                        "forward fails (or rotates a share other than the factor) unless head_dim x factor is an even "
                        "whole number above 0; allowed: such a share")
    fields = {"norm": "layer", "mlp": "plain", "fused_qkv": True, "rotary_pct": pct,
              "qk_norm": _bool(raw, "qk_layernorm", where, True)}
    return fields, None, None, {"partial_rotary_factor", "qk_layernorm"}


_XIELU_SCALARS = 2          # XIELUActivation's alpha_p and alpha_n (transformers 5.24 activations.py)


def apertus(raw, n, where):
    act = raw.get("hidden_act", "xielu")
    if act != "xielu" and act not in PLAIN_ACTIVATIONS:
        raise CardError(f"{where}: key 'hidden_act' is {_short(act)}; allowed (plain MLP activations): xielu, "
                        f"{', '.join(PLAIN_ACTIVATIONS)}")
    return {"mlp": "plain", "activation_params": _XIELU_SCALARS if act == "xielu" else 0}, None, None, {"hidden_act"}
