"""Readers for Liquid AI's LFM2 classes: ``Lfm2ForCausalLM`` (lfm2) and ``Lfm2MoeForCausalLM`` (lfm2_moe).

What each key means and its default is from transformers 5.24's ``configuration_lfm2*.py`` and
``modeling_lfm2*.py`` (read, never imported).

LFM2 (``Lfm2ForCausalLM``): every layer is an RMSNorm (``operator_norm``), a token mixer and a residual add, then
an RMSNorm (``ffn_norm``), a SwiGLU MLP (w1 the gate, w3 the up, w2 the down; bias=False, SiLU hard-coded) and a
residual add; the final RMSNorm is named ``embedding_norm`` but runs after the last layer (a standard final norm).
A layer's mixer is, by ``layer_types`` ("conv" or "full_attention"; null: from ``full_attn_idxs``, null: every
layer attention), either

- the gated short conv (``Lfm2ShortConv``; core/short_conv.py) of ``conv_L_cache`` taps, with biases on in_proj,
  the conv and out_proj where ``conv_bias``, or
- GQA attention with bias=False on q, k, v and out_proj, per-head RMSNorms on q and k (``q_layernorm``,
  ``k_layernorm``), RoPE over the whole head; head_dim a key where given (getattr), else hidden_size / heads.

The MLP's width (``Lfm2MLP``): with ``block_auto_adjust_ff_dim`` (default true) int(2·I/3) of I =
``intermediate_size``, then int(``block_ffn_dim_multiplier`` x that) rounded up to a multiple of
``block_multiple_of`` (Lfm2Config refuses a null multiplier); else I itself. The original code's names are popped
by Lfm2Config's __post_init__: ``block_ff_dim`` over intermediate_size, ``tie_embedding`` over
tie_word_embeddings (default true).

LFM2-MoE (``Lfm2MoeForCausalLM``): the same layers, ``layer_types`` required (the decoder indexes it), its MLP by
layer index: the first ``num_dense_layers`` a SwiGLU of ``intermediate_size`` itself (no adjusting), the rest a
sparse block: a router of num_experts x D (sigmoid scores; ``expert_bias``, where ``use_expert_bias``, is a buffer
that shifts the top-k choice, no parameter), ``num_experts_per_tok`` gated experts of ``moe_intermediate_size``,
no shared expert; ``routed_scaling_factor`` and ``norm_topk_prob`` scale the routing weights (elementwise).
"""

from __future__ import annotations

from ..errors import CardError
from .hf_layouts import _finite, _int, _short

_TYPES = ("conv", "full_attention")
_KIND = {"conv": "shortconv", "full_attention": "global"}


def _flag(raw, key, where, default):
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise CardError(f"{where}: key '{key}' must be true or false, got {_short(value)}")
    return value


def prepare(raw, where, popped=(("block_ff_dim", "intermediate_size"), ("tie_embedding", "tie_word_embeddings"))):
    """Lfm2Config's __post_init__: the original code's block_ff_dim and tie_embedding win over transformers'
    names (popped into them)."""
    out = dict(raw)
    for old, new in popped:
        if old in out:
            out[new] = out.pop(old)
    return out


def prepare_moe(raw, where):
    """Lfm2MoeConfig's __post_init__ pops tie_embedding only."""
    return prepare(raw, where, (("tie_embedding", "tie_word_embeddings"),))


def _types(raw, n, where, required: bool) -> list:
    types = raw.get("layer_types")
    if types is None and not required:        # Lfm2Config: attention at full_attn_idxs (null: every layer)
        idxs = raw.get("full_attn_idxs")
        idxs = list(range(n)) if idxs is None else idxs
        if not (isinstance(idxs, list) and all(type(i) is int for i in idxs)):
            raise CardError(f"{where}: key 'full_attn_idxs' must list layer indices or be null, got {_short(idxs)}")
        return ["full_attention" if i in idxs else "conv" for i in range(n)]
    if types is None:
        raise CardError(f"{where}: missing key 'layer_types': Lfm2MoeConfig has no default (its decoder indexes it)")
    if not (isinstance(types, list) and len(types) == n and all(isinstance(t, str) and t in _TYPES for t in types)):
        raise CardError(f"{where}: key 'layer_types' must list {n} entries (num_hidden_layers), each 'conv' or "
                        "'full_attention'")
    return types


def mlp_width(raw, where) -> int:
    """Lfm2MLP's width (the module docstring's rule, integer arithmetic as transformers' int() of floats)."""
    width = _int(raw, "intermediate_size", where)
    mult = raw.get("block_ffn_dim_multiplier", 1.0)
    if not (_finite(mult) and 0 < mult <= 10**6):   # Lfm2Config (strict) refuses null, though Lfm2MLP would skip it
        raise CardError(f"{where}: key 'block_ffn_dim_multiplier' must be a positive number (at most 10^6), got "
                        f"{_short(mult)}")
    adjust = _flag(raw, "block_auto_adjust_ff_dim", where, True)
    step = _int(raw, "block_multiple_of", where, None if adjust else 1)    # unread unless adjusting; checked
    if not adjust:
        return width
    width = 2 * width // 3            # int(2 * I / 3): I < 2^52, so the float quotient truncates as the exact one
    # transformers multiplies in double precision and truncates: the same product, the same integer
    width = step * -(-int(float(mult) * width) // step)
    if not 0 < width <= 10**12:
        raise CardError(f"{where}: keys 'intermediate_size', 'block_ffn_dim_multiplier' and 'block_multiple_of' give "
                        f"an MLP width of {width}; allowed: 1 to 10^12")
    return width


def _conv(raw, where, kinds) -> dict:
    if "shortconv" not in kinds:       # no conv layer: its keys build nothing, but a damaged value is refused
        _int(raw, "conv_L_cache", where, 1)
        _flag(raw, "conv_bias", where, False)
        return {}
    return {"short_conv_kernel": _int(raw, "conv_L_cache", where),
            "short_conv_bias": _flag(raw, "conv_bias", where, False),
            "note": ["tensor parallelism: the short-conv layers' channels are not split, counted whole on every chip"]}


def _ignored_idxs(raw, types) -> list:
    """full_attn_idxs beside layer_types is not read (Lfm2Config reads it only where layer_types is null)."""
    idxs = raw.get("full_attn_idxs")
    if idxs is None or raw.get("layer_types") is None:
        return []
    if isinstance(idxs, list) and sorted(idxs) == [i for i, t in enumerate(types) if t == "full_attention"]:
        return []
    return [f"full_attn_idxs ({_short(idxs)}) disagrees with layer_types; transformers reads layer_types"]


_KEYS = {"conv_L_cache", "conv_bias", "layer_types", "full_attn_idxs", "head_dim"}


def lfm2(raw, n, where):
    types = _types(raw, n, where, required=False)
    kinds = [_KIND[t] for t in types]
    conv = _conv(raw, where, kinds)
    fields = {"d_ff": mlp_width(raw, where), **conv, "note": conv.get("note", []) + _ignored_idxs(raw, types)}
    return fields, kinds if "shortconv" in kinds else None, None, \
        _KEYS | {"block_auto_adjust_ff_dim", "block_ffn_dim_multiplier", "block_multiple_of"}


def lfm2_moe(raw, n, where):
    types = _types(raw, n, where, required=True)
    kinds = [_KIND[t] for t in types]
    dense = _int(raw, "num_dense_layers", where, minimum=0)
    mlps = ["dense" if i < dense else "moe" for i in range(n)]
    fields = _conv(raw, where, kinds)
    fields["note"] = fields.get("note", [])
    expert = _int(raw, "moe_intermediate_size", where)
    if "moe" in mlps:
        fields["d_ff_expert"] = expert
        if _flag(raw, "use_expert_bias", where, True):
            fields["note"].append("expert bias (use_expert_bias): a buffer of num_experts that shifts the top-k "
                                  "choice, no parameter; elementwise, not counted")
    for key in ("routed_scaling_factor",):
        if key in raw and not _finite(raw[key]):
            raise CardError(f"{where}: key '{key}' must be a number, got {_short(raw[key])}")
    _flag(raw, "norm_topk_prob", where, True)
    return fields, kinds if "shortconv" in kinds else None, mlps if "moe" in mlps else ["dense"] * n, \
        _KEYS | {"num_dense_layers", "moe_intermediate_size", "use_expert_bias"}
