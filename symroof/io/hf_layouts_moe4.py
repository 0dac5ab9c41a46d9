"""Readers for more MoE classes: HunYuan MoE (v1) and DBRX.

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
- DBRX (``DbrxForCausalLM``): sizes under ``d_model``, ``n_heads``, ``n_layers``; attention and MoE
  settings in the sub-dicts ``attn_config`` and ``ffn_config``, read here as dotted keys
  (``attn_config.kv_n_heads``) so that each is checked, and named in errors, as a top-level key is.
  One fused ``Wqkv`` (D + 2·K·D/N outputs) and ``out_proj``, no biases; LayerNorms without a bias
  (``norm_1``, ``norm_2``, ``norm_f``: D weights each, counted as RMSNorms and named); every layer
  MoE: a router without a bias and ``moe_num_experts`` gated experts of ``ffn_hidden_size``. Its
  head_dim is d_model // n_heads (no key); ``tie_word_embeddings`` true is refused as DbrxConfig
  refuses it. ``clip_qkv`` (a clamp of q, k and v) and ``moe_jitter_eps`` (a random scaling of the
  router's input in training) are elementwise: named in left_out where set. transformers' attention
  reads ``attn_config.rope_theta`` (the model does not build without it) and clamps by ``clip_qkv``
  (its forward fails on a null one: ``torch.clamp`` with neither bound), so both are required.
  ``kv_n_heads``, ``ffn_hidden_size``, ``moe_num_experts`` and ``moe_top_k`` fall back to constants
  (1, 3584, 4, 1), so they are required.
"""

from __future__ import annotations

from ..errors import CardError
from .hf_keys import NEUTRAL, NEUTRAL_ONLY, NEUTRAL_SHAPES
from .hf_layouts import _finite, _int, _short

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


# DBRX's sub-configs: the keys each holds (beside Hugging Face metadata), as DbrxAttentionConfig and
# DbrxFFNConfig declare them
DBRX_SUB = {"attn_config": ("attn_pdrop", "clip_qkv", "kv_n_heads", "rope_theta"),
            "ffn_config": ("hidden_size", "ffn_act_fn", "ffn_hidden_size", "moe_num_experts", "moe_top_k",
                           "moe_jitter_eps", "moe_loss_weight", "moe_normalize_expert_weights")}
_DBRX = "DbrxForCausalLM"


def dbrx_prepare(raw: dict, where: str) -> dict:
    """The file with ``attn_config`` and ``ffn_config`` flattened to dotted keys (``ffn_config.moe_top_k``);
    their metadata keys checked as top-level ones are, then dropped. A sub-config key it does not know
    stays, dotted, for hf.py's unknown-key refusal."""
    out = {key: value for key, value in raw.items() if key not in DBRX_SUB}
    for sub in DBRX_SUB:
        given = raw.get(sub)
        if given is None:
            continue
        if not isinstance(given, dict):
            raise CardError(f"{where}: key '{sub}' must be a mapping of {_DBRX}'s settings, got {_short(given)}")
        for key, value in given.items():
            dotted = f"{sub}.{key}"
            if not isinstance(key, str) or key.startswith("_"):
                continue
            if key in NEUTRAL_SHAPES and not NEUTRAL_SHAPES[key][0](value, given):
                raise CardError(f"{where}: key '{dotted}' is {_short(value)}; allowed: {NEUTRAL_SHAPES[key][1]}")
            if key in NEUTRAL and key not in DBRX_SUB[sub]:
                continue
            if key in NEUTRAL_ONLY and not NEUTRAL_ONLY[key][0](value, given):
                raise CardError(f"{where}: key '{dotted}' is {_short(value)}; {_DBRX} is read only with "
                                f"{NEUTRAL_ONLY[key][1]} here: {NEUTRAL_ONLY[key][2]}")
            if key in NEUTRAL_ONLY:
                continue
            if key == "ffn_act_fn":          # null: silu, as DbrxFFNConfig's __post_init__ sets it
                if value is not None and (not isinstance(value, dict) or set(value) - {"name"}):
                    raise CardError(f"{where}: key '{dotted}' is {_short(value)}; allowed: null or a mapping with "
                                    "only 'name' (transformers reads the name alone)")
                if value and "name" in value:
                    out[f"{dotted}.name"] = value["name"]
                continue
            out[dotted] = value
    return out


def dbrx(raw, n, where):
    width, heads = _int(raw, "d_model", where), _int(raw, "n_heads", where)    # before hf.py's size checks
    if width % heads:
        raise CardError(f"{where}: key 'd_model' ({width}) must be a multiple of 'n_heads' ({heads}): DBRX's heads "
                        "are d_model // n_heads wide and its Wqkv gives q d_model outputs")
    if raw.get("tie_word_embeddings") is True:
        raise CardError(f"{where}: key 'tie_word_embeddings' is true; DbrxConfig refuses it (DBRX unties its head); "
                        "allowed: false or absent")
    kv = _int(raw, "attn_config.kv_n_heads", where)
    if raw.get("num_key_value_heads") not in (None, kv) or isinstance(raw.get("num_key_value_heads"), bool):
        raise CardError(f"{where}: key 'num_key_value_heads' is {_short(raw['num_key_value_heads'])}; DbrxConfig sets "
                        f"it from 'attn_config.kv_n_heads' ({kv}) whatever it says; allowed: that or absent")
    if raw.get("ffn_config.hidden_size") not in (None, width) or isinstance(raw.get("ffn_config.hidden_size"), bool):
        raise CardError(f"{where}: key 'ffn_config.hidden_size' is {_short(raw['ffn_config.hidden_size'])}; DbrxConfig "
                        f"sets it to 'd_model' ({width}) whatever it says; allowed: that or absent")
    theta = raw.get("attn_config.rope_theta")
    if not _finite(theta) or theta <= 0:
        raise CardError(f"{where}: key 'attn_config.rope_theta' is {'missing' if theta is None else _short(theta)}; "
                        "transformers' DbrxAttention reads it (the model does not build without it); allowed: a "
                        "positive number")
    clip = raw.get("attn_config.clip_qkv")
    if not _finite(clip) or clip <= 0:     # torch.clamp with neither bound raises
        raise CardError(f"{where}: key 'attn_config.clip_qkv' is {'missing' if clip is None else _short(clip)}; "
                        "transformers' DbrxAttention clamps q, k and v to it, and its forward fails without one; "
                        "allowed: a positive number")
    notes = [f"clip_qkv ({clip}): its elementwise clamp of q, k and v is not counted"]
    jitter = raw.get("ffn_config.moe_jitter_eps")
    if jitter is not None:
        if not _finite(jitter) or not 0 <= jitter < 1:
            raise CardError(f"{where}: key 'ffn_config.moe_jitter_eps' must be a number from 0 to below 1 or null, "
                            f"got {_short(jitter)}")
        if jitter:
            notes.append(f"moe_jitter_eps ({jitter}): its random elementwise scaling of each router's input in "
                         "training is not counted")
    for key in ("ffn_config.moe_normalize_expert_weights", "ffn_config.moe_loss_weight"):
        if raw.get(key) is not None and not _finite(raw[key]):
            raise CardError(f"{where}: key '{key}' must be a number or null, got {_short(raw[key])}")
    notes.append("LayerNorms without a bias (norm_1, norm_2, norm_f) counted as RMSNorms: the same D weights; their "
                 "mean subtraction's elementwise ops are not counted")
    fields = {"fused_qkv": True, "note": notes}
    return fields, None, None, {"attn_config.kv_n_heads", "attn_config.rope_theta", "attn_config.clip_qkv",
                                "ffn_config.hidden_size", "ffn_config.moe_jitter_eps",
                                "ffn_config.moe_normalize_expert_weights", "ffn_config.moe_loss_weight",
                                "num_key_value_heads", "d_model", "n_heads"}
