"""Readers for the GPT-style classes of 2022-23: MPT, BLOOM, OPT and GPTBigCode (SantaCoder, StarCoder 1).

Each reader takes the parsed ``config.json`` and returns the card fields it decides, the per-layer
attention and MLP kinds, and the config keys it read, as ``hf_layouts``' do; a ``prepare`` flattens or
fills what the file gives before the keys are checked. What a key means and its default is from
transformers 5.24's ``configuration_*.py`` / ``modeling_*.py`` of the class (read, never imported):

- MPT (``MptForCausalLM``): sizes under ``d_model``, ``n_heads``, ``n_layers``; the attention settings
  in ``attn_config``, read as dotted keys (``attn_config.clip_qkv``) as DBRX's are. transformers builds
  one ``Wqkv`` (3 D outputs), ``out_proj``, an MLP ``up_proj`` / ``down_proj`` of 4 D with exact GELU, no
  bias anywhere and LayerNorms without a bias (``norm_1``, ``norm_2``, ``norm_f``: D weights each,
  counted as RMSNorms and named), ALiBi on every layer (no position table), and ties the head by
  default. Its code hard-codes all of that: ``expansion_ratio`` other than 4, ``no_bias`` false,
  ``attn_config.alibi`` false, ``attn_type`` multi-query, ``qk_ln``, ``prefix_lm`` and
  ``attn_uses_sequence_id`` true describe a checkpoint transformers does not build, so they are
  refused. ``clip_qkv`` (a clamp of q, k, v) is named in left_out, as are MPT's original-code
  switches transformers does not apply (``logit_scale``, ``embedding_fraction``).
- BLOOM (``BloomForCausalLM``): ``n_layer``, ``n_head``, ``hidden_size`` (``n_embed``, an older name,
  wins where given, as BloomConfig's ``__post_init__`` does); ``query_key_value`` (3 D) and ``dense``,
  an MLP of 4 D (hard-coded), biases on all four, LayerNorms, one more LayerNorm on the word
  embeddings (``embedding_norm``), ALiBi, tied by default.
- OPT (``OPTForCausalLM``): q, k, v, ``out_proj``, ``fc1`` / ``fc2`` of ``ffn_dim`` (required: its
  default is a reference model's), ``enable_bias`` (default true) on all six, LayerNorms, learned
  positions: a table of ``max_position_embeddings`` + 2 rows (OPT's offset of 2), tied by default.
  ``word_embed_proj_dim`` other than ``hidden_size`` (``project_in`` / ``project_out``, opt-350m),
  ``do_layer_norm_before`` false (norms after the residual add, no final norm: opt-350m),
  ``_remove_final_layer_norm`` and ``layer_norm_elementwise_affine`` false are not modelled: refused.
- GPTBigCode (``GPTBigCodeForCausalLM``): GPT-2's keys and layer (``nn.Linear`` here) with
  ``multi_query`` (default true): one key/value head; else N. One ``c_attn`` of D + 2 K H outputs.
"""

from __future__ import annotations

import json

from ..errors import CardError
from .hf_keys import NEUTRAL, NEUTRAL_ONLY, NEUTRAL_SHAPES
from .hf_layouts import _bool, _finite, _int, _short

LAYER = {"norm": "layer", "mlp": "plain"}      # LayerNorm with a bias; act(up x), no gate
_MPT = "MptForCausalLM"
# MptAttentionConfig's keys (beside Hugging Face metadata)
MPT_ATTN = ("attn_type", "attn_pdrop", "attn_impl", "clip_qkv", "softmax_scale", "prefix_lm", "qk_ln",
            "attn_uses_sequence_id", "alibi", "alibi_bias_max")


def _heads_divide(raw, width_key, heads_key, where, hf_class):
    width, heads = _int(raw, width_key, where), _int(raw, heads_key, where)     # before hf.py's size checks
    if width % heads:
        raise CardError(f"{where}: key '{width_key}' ({width}) must be a multiple of '{heads_key}' ({heads}): "
                        f"{hf_class}'s heads are {width_key} // {heads_key} wide (transformers refuses a remainder)")
    return width, heads


def _only(raw, key, allowed, where, why):
    """A key transformers' code does not read, accepted only at the value it builds (absent or null too)."""
    value = raw.get(key)
    if value is not None and not (type(value) is type(allowed) and value == allowed):
        raise CardError(f"{where}: key '{key}' is {_short(value)}; allowed: {json.dumps(allowed)} or absent ({why})")


def mpt_prepare(raw: dict, where: str) -> dict:
    """The file with ``attn_config`` flattened to dotted keys; its metadata keys checked as top-level ones
    are, then dropped. A key it does not know stays, dotted, for hf.py's unknown-key refusal."""
    out = {key: value for key, value in raw.items() if key != "attn_config"}
    given = raw.get("attn_config")
    if given is None:
        return out
    if not isinstance(given, dict):
        raise CardError(f"{where}: key 'attn_config' must be a mapping of {_MPT}'s attention settings, "
                        f"got {_short(given)}")
    for key, value in given.items():
        if not isinstance(key, str) or key.startswith("_"):
            continue
        dotted = f"attn_config.{key}"
        if key in NEUTRAL_SHAPES and not NEUTRAL_SHAPES[key][0](value, given):
            raise CardError(f"{where}: key '{dotted}' is {_short(value)}; allowed: {NEUTRAL_SHAPES[key][1]}")
        if key in NEUTRAL and key not in MPT_ATTN:
            continue
        if key in NEUTRAL_ONLY:
            if not NEUTRAL_ONLY[key][0](value, given):
                raise CardError(f"{where}: key '{dotted}' is {_short(value)}; {_MPT} is read only with "
                                f"{NEUTRAL_ONLY[key][1]} here: {NEUTRAL_ONLY[key][2]}")
            continue
        out[dotted] = value
    return out


def _positive_or_null(raw, key, where):
    value = raw.get(key)
    if value is not None and (not _finite(value) or value <= 0):
        raise CardError(f"{where}: key '{key}' must be a positive number or null, got {_short(value)}")
    return value


def mpt(raw, n, where):
    width, _ = _heads_divide(raw, "d_model", "n_heads", where, _MPT)
    built = "transformers' MPT builds"
    _only(raw, "expansion_ratio", 4, where, f"{built} an MLP of 4 x d_model whatever it says")
    _only(raw, "no_bias", True, where, f"{built} no biases whatever it says")
    _only(raw, "attn_config.alibi", True, where, f"{built} ALiBi on every layer and no position table")
    _only(raw, "attn_config.attn_type", "multihead_attention", where, f"{built} 3 x d_model Wqkv outputs")
    for key, what in (("qk_ln", "no q/k LayerNorms"), ("prefix_lm", "causal attention only"),
                      ("attn_uses_sequence_id", "no per-sequence attention mask")):
        _only(raw, f"attn_config.{key}", False, where, f"{built} {what}")
    _only(raw, "norm_type", "low_precision_layernorm", where, f"{built} LayerNorms without a bias")
    _bool(raw, "learned_pos_emb", where, True)      # with ALiBi MPT's own code builds no table either
    for key in ("attn_config.softmax_scale", "attn_config.alibi_bias_max"):
        _positive_or_null(raw, key, where)
    for key in ("attn_config.attn_impl", "init_device"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise CardError(f"{where}: key '{key}' must be a name or null, got {_short(raw[key])}")
    seq = _int(raw, "max_seq_len", where, 2048)
    notes = [f"transformers' MPT builds its ALiBi bias for max_seq_len ({seq}) keys: a longer sequence fails "
             "there (not checked here)"]
    clip = _positive_or_null(raw, "attn_config.clip_qkv", where)
    if clip:
        notes.append(f"clip_qkv ({clip}): its elementwise clamp of q, k and v is not counted")
    scale = raw.get("logit_scale")
    if scale is not None:
        if not (scale == "inv_sqrt_d_model" or (_finite(scale) and scale > 0)):
            raise CardError(f"{where}: key 'logit_scale' must be a positive number, 'inv_sqrt_d_model' or null, "
                            f"got {_short(scale)}")
        notes.append(f"logit_scale ({scale}): MPT's own code scales the logits by it; transformers' MPT does not "
                     "(elementwise, not counted)")
    fraction = raw.get("embedding_fraction", 1.0)
    if not _finite(fraction) or not 0 < fraction <= 1:
        raise CardError(f"{where}: key 'embedding_fraction' must be a number in (0, 1], got {_short(fraction)}")
    if fraction != 1:
        notes.append(f"embedding_fraction ({fraction}): MPT's own code scales the embeddings' gradient by it; "
                     "transformers' MPT does not (elementwise, not counted)")
    notes.append("LayerNorms without a bias (norm_1, norm_2, norm_f) counted as RMSNorms: the same D weights; their "
                 "mean subtraction's elementwise ops are not counted")
    fields = {"mlp": "plain", "positions": "alibi", "fused_qkv": True, "d_ff": 4 * width, "note": notes}
    return fields, None, None, {"d_model", "n_heads", "expansion_ratio", "no_bias", "attn_config.alibi",
                                "attn_config.attn_type", "attn_config.qk_ln", "attn_config.prefix_lm",
                                "attn_config.attn_uses_sequence_id", "norm_type", "learned_pos_emb",
                                "attn_config.softmax_scale", "attn_config.alibi_bias_max", "attn_config.attn_impl",
                                "init_device", "max_seq_len", "attn_config.clip_qkv", "logit_scale",
                                "embedding_fraction"}


def bloom_prepare(raw: dict, where: str) -> dict:
    """BloomConfig's ``__post_init__`` takes ``n_embed`` (an older name) as hidden_size where given."""
    if raw.get("n_embed") is None:
        return {key: value for key, value in raw.items() if key != "n_embed"}
    width = _int(raw, "n_embed", where)
    return {**{key: value for key, value in raw.items() if key != "n_embed"}, "hidden_size": width}


def bloom(raw, n, where):
    width, _ = _heads_divide(raw, "hidden_size", "n_head", where, "BloomForCausalLM")
    _only(raw, "n_inner", None, where, "transformers' BLOOM builds an MLP of 4 x hidden_size")
    notes = []
    if _bool(raw, "apply_residual_connection_post_layernorm", where, False):
        notes.append("apply_residual_connection_post_layernorm: the residual adds the normed input (same ops; the "
                     "saved activations are counted as for the plain residual)")
    tp = _int(raw, "pretraining_tp", where, 1)
    if _bool(raw, "slow_but_exact", where, False) and tp > 1:
        notes.append(f"slow_but_exact with pretraining_tp {tp}: dense and dense_4h_to_h run as {tp} slices summed "
                     "elementwise (the same matmul FLOPs; the sums are not counted)")
    fields = {**LAYER, "positions": "alibi", "fused_qkv": True, "embedding_norm": True, "d_ff": 4 * width,
              **({"note": notes} if notes else {})}
    return fields, None, None, {"n_inner", "apply_residual_connection_post_layernorm", "pretraining_tp",
                                "slow_but_exact"}


OPT_DROPOUT = 0.1       # OPTConfig's dropout (on the attention and MLP outputs) when absent


def opt_prepare(raw: dict, where: str) -> dict:
    """OPT's ``dropout`` defaults to 0.1 (its ``attention_dropout`` to 0): filled in, so that left_out names it."""
    return {"dropout": OPT_DROPOUT, **raw}


def opt(raw, n, where):
    width, _ = _heads_divide(raw, "hidden_size", "num_attention_heads", where, "OPTForCausalLM")
    proj = raw.get("word_embed_proj_dim")
    if proj is not None and proj != width:
        raise CardError(f"{where}: key 'word_embed_proj_dim' is {_short(proj)}; symroof reads OPT only with it equal to "
                        f"'hidden_size' ({width}) or null: other widths add project_in / project_out (opt-350m), "
                        "which are not modelled")
    if not _bool(raw, "do_layer_norm_before", where, True):
        raise CardError(f"{where}: key 'do_layer_norm_before' is false; OPT then norms after each residual add and "
                        "builds no final norm (opt-350m), which is not modelled; allowed: true")
    if _bool(raw, "_remove_final_layer_norm", where, False):
        raise CardError(f"{where}: key '_remove_final_layer_norm' is true; OPT then builds no final norm, which is not "
                        "modelled; allowed: false")
    if not _bool(raw, "layer_norm_elementwise_affine", where, True):
        raise CardError(f"{where}: key 'layer_norm_elementwise_affine' is false; LayerNorms without weights are not "
                        "modelled; allowed: true")
    positions = _int(raw, "max_position_embeddings", where)
    notes = [f"learned positions: OPT's table has max_position_embeddings + 2 rows ({positions + 2}, its offset "
             f"of 2), counted as max_positions; transformers' OPT reads at most {positions} positions, 2 fewer "
             "than the sequences accepted here"]
    drop = raw.get("layerdrop", 0.0)
    if not _finite(drop) or not 0 <= drop <= 1:
        raise CardError(f"{where}: key 'layerdrop' must be a probability from 0 to 1, got {_short(drop)}")
    if drop:
        notes.append(f"layerdrop ({drop}): training skips each layer at random; every layer is counted")
    unused = raw.get("activation_dropout")         # in OPT's published files; transformers' OPT never reads it
    if unused is not None and (isinstance(unused, bool) or unused not in (0, 0.0)):
        raise CardError(f"{where}: key 'activation_dropout' is {_short(unused)}; allowed: 0 or null (transformers' "
                        "OPT applies no such dropout)")
    fields = {**LAYER, "positions": "learned", "max_positions": positions + 2, "note": notes}
    return fields, None, None, {"word_embed_proj_dim", "do_layer_norm_before", "_remove_final_layer_norm",
                                "layer_norm_elementwise_affine", "max_position_embeddings", "layerdrop",
                                "activation_dropout", "dropout"}


def gpt_bigcode(raw, n, where):
    width, heads = _heads_divide(raw, "n_embd", "n_head", where, "GPTBigCodeForCausalLM")
    kv = 1 if _bool(raw, "multi_query", where, True) else heads
    given = raw.get("num_key_value_heads")      # to_dict writes what __post_init__ set; transformers reads multi_query
    if given is not None and (type(given) is not int or given != kv):
        raise CardError(f"{where}: key 'num_key_value_heads' is {_short(given)}; GPTBigCodeConfig sets it from "
                        f"'multi_query' ({kv}) whatever it says; allowed: that or absent")
    fields = {**LAYER, "positions": "learned", "fused_qkv": True, "n_kv_heads": kv,
              "max_positions": _int(raw, "n_positions", where)}
    return fields, None, None, {"multi_query", "num_key_value_heads", "n_positions"}
