"""Readers for more MoE classes: HunYuan MoE (v1).

Each reader takes the parsed ``config.json`` and returns the card fields it decides, the per-layer
attention and MLP kinds, and the config keys it read, as ``hf_layouts``' do; a class's ``prepare``
(``hf_rows.Row.prepare``) first turns its file into the flat dict ``hf`` reads. What a key means
and its default is from transformers 5.24's ``configuration_*.py`` / ``modeling_*.py`` of the class
(read, never imported):

- HunYuan MoE (``HunYuanMoEV1ForCausalLM``, Hunyuan-A13B): the LLaMA attention with per-head
  RMSNorms on q and k (``query_layernorm``, ``key_layernorm``) and ``attention_bias`` on q, k, v
  and o; every layer MoE: a router without a bias (``gate.wg``), ``num_experts`` experts of width
  ``intermediate_size`` and always one shared MLP of that width (``shared_mlp``, ungated). Its
  attention reads ``config.head_dim`` (default None: absent or null does not build), so head_dim is
  required. ``moe_topk`` may list one number per layer (``HunYuanMoEV1Gate`` reads
  ``moe_topk[layer_idx]``): a list of ``num_hidden_layers`` equal numbers is read as that number;
  different numbers per layer, or another length, are refused (the card has one k). ``num_experts``
  is one number (5.24's type check refuses a list). The original checkpoint's cross-layer attention
  (``use_cla``) is not in transformers' code: every layer has its own k, v and cache, so ``use_cla``
  true is refused; its other switches are accepted only at what transformers builds (hf_keys_moe).
"""

from __future__ import annotations

from ..errors import CardError
from .hf_layouts import _int, _short

_HY = "HunYuanMoEV1ForCausalLM"


def hunyuan_prepare(raw: dict, where: str) -> dict:
    """A uniform per-layer ``moe_topk`` (or its alias ``num_experts_per_tok``) list read as its one number."""
    layers, out = raw.get("num_hidden_layers"), dict(raw)     # a bad one is refused by hf.py after this
    for key in ("num_experts", "num_local_experts"):
        if isinstance(raw.get(key), list):
            raise CardError(f"{where}: key '{key}' is a list ({_short(raw[key])}); {_HY} takes one number of experts "
                            "for every layer (transformers' type check refuses a list); allowed: a positive integer")
    for key in ("moe_topk", "num_experts_per_tok"):
        value = raw.get(key)
        if not isinstance(value, list):
            continue
        if isinstance(layers, bool) or not isinstance(layers, int) or len(value) != layers:
            raise CardError(f"{where}: key '{key}' lists {len(value)} numbers; allowed: one per layer "
                            f"('num_hidden_layers': {_short(layers)}), or one integer for every layer")
        if not value or any(v != value[0] or type(v) is not int for v in value):
            raise CardError(f"{where}: key '{key}' is {_short(value)}; symroof reads one number of experts per token "
                            "for every layer; allowed: a list of equal positive integers, or one integer")
        out[key] = value[0]
    return out


def hunyuan_moe(raw, n, where):
    width = _int(raw, "intermediate_size", where)
    return {"d_ff_shared": width}, None, None, set()
