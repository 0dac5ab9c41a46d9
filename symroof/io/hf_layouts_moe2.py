"""Readers for more MoE classes: MiniMax-M2, Qwen3-VL-MoE's language model.

Each reader takes the parsed ``config.json`` and returns the card fields it decides, the per-layer
attention and MLP kinds, and the config keys it read, as ``hf_layouts``' do. What a key means and
its default is from transformers 5.x's ``configuration_*.py`` / ``modeling_*.py`` of the class
(read, never imported):

- MiniMax-M2 (``MiniMaxM2ForCausalLM``): every layer MoE, ``num_local_experts`` (alias
  ``num_experts``) experts of width ``intermediate_size``, a router without a bias (sigmoid scores;
  ``e_score_correction_bias`` is a buffer, not counted), no shared expert. q and k RMSNorms over all
  heads' width (N·H and K·H, before the split into heads); no biases. RoPE on a share of each head:
  ``rope_parameters.partial_rotary_factor``, else a top-level ``partial_rotary_factor``, else the
  published files' ``rotary_dim`` / ``head_dim`` (its config class's conversion), else all of it.
  The published files carry the original code's switches, which transformers' class never reads
  and builds as fixed: ``use_qk_norm`` / ``qk_norm_type`` (its norms are always there, over all
  heads), ``attn_type_list`` (1: softmax attention on every layer), ``shared_intermediate_size``
  (no shared expert), ``scoring_func`` / ``use_routing_bias`` (routing: no count), and the
  multi-token-prediction modules (``use_mtp``, ``num_mtp_modules``, ``mtp_transformer_layers``),
  which transformers does not build and the card names as not counted.
- Qwen3-VL-MoE's language model (``qwen3_vl_moe_text``, read inside ``Qwen3VLMoeForConditionalGeneration``):
  Qwen3-MoE's layer placement (``mlp_only_layers``, ``decoder_sparse_step``) and expert width
  (``moe_intermediate_size``), without sliding layers (its config sets ``sliding_window`` to None).
"""

from __future__ import annotations

from fractions import Fraction

from ..errors import CardError
from .hf_layouts import _bool, _fraction, _int, _moe_layers, _short


def minimax_m2(raw, n, where):
    fields = {"qk_norm_width": "all", "rotary_pct": _rotary_share(raw, where)}
    for key, allowed, said in (("use_qk_norm", (True,), "true (transformers' MiniMax-M2 always builds q and k norms)"),
                               ("qk_norm_type", ("per_layer",), "'per_layer' (transformers' norms span all heads)")):
        if key in raw and raw[key] not in allowed:
            raise CardError(f"{where}: key '{key}' is {_short(raw[key])}; MiniMaxM2ForCausalLM is read only with "
                            f"{said}")
    types = raw.get("attn_type_list")
    if types is not None and not (isinstance(types, list) and len(types) == n and all(
            t == 1 and not isinstance(t, bool) for t in types)):
        raise CardError(f"{where}: key 'attn_type_list' must list {n} entries ('num_hidden_layers'), each 1 (softmax "
                        f"attention, all transformers' MiniMax-M2 builds; 0 is MiniMax-01's lightning attention), "
                        f"got {_short(types)}")
    if raw.get("shared_intermediate_size") not in (None, 0):
        raise CardError(f"{where}: key 'shared_intermediate_size' is {_short(raw['shared_intermediate_size'])}; "
                        "MiniMaxM2ForCausalLM is read only with 0 or null (transformers builds no shared expert)")
    notes = []
    mtp = _bool(raw, "use_mtp", where, False)
    modules = _int(raw, "num_mtp_modules", where, 0, minimum=0)
    layers = _int(raw, "mtp_transformer_layers", where, 0, minimum=0)
    if mtp and modules:
        notes.append(f"multi-token-prediction modules (num_mtp_modules {modules}, mtp_transformer_layers {layers}) "
                     "not counted: transformers does not build them")
    if notes:
        fields["note"] = notes
    return fields, None, None, {"rotary_dim", "partial_rotary_factor", "use_qk_norm", "qk_norm_type", "attn_type_list",
                                "shared_intermediate_size", "use_mtp", "num_mtp_modules", "mtp_transformer_layers"}


def _rotary_share(raw, where) -> Fraction:
    """MiniMax-M2's RoPE share, in transformers' order: rope_parameters' (rope_scaling's where that is
    given), the top-level partial_rotary_factor, rotary_dim / head_dim, else 1."""
    scaling = raw.get("rope_scaling")
    nested = scaling if isinstance(scaling, dict) and scaling else raw.get("rope_parameters")
    for key, source in (("partial_rotary_factor", nested if isinstance(nested, dict) else {}),
                        ("partial_rotary_factor", raw)):
        if source.get(key) is not None:
            return _fraction(raw, key, where, source[key])
    if raw.get("rotary_dim") is None:
        return Fraction(1)
    dim, head_dim = _int(raw, "rotary_dim", where), _int(raw, "head_dim", where)
    if dim > head_dim:
        raise CardError(f"{where}: key 'rotary_dim' ({dim}) must be at most 'head_dim' ({head_dim})")
    return Fraction(dim, head_dim)


def qwen3_vl_moe_text(raw, n, where):
    return {"d_ff_expert": _int(raw, "moe_intermediate_size", where)}, None, _moe_layers(raw, n, where), \
        {"moe_intermediate_size", "mlp_only_layers", "decoder_sparse_step"}
