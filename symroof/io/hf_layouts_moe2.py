"""Readers for more MoE classes: MiniMax-M2, Qwen3-VL-MoE's language model, dots.llm1, ERNIE 4.5 MoE.

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
- dots.llm1 (``Dots1ForCausalLM``): Qwen3's attention (per-head q and k norms, ``attention_bias`` on
  q, k, v and o); the first ``first_k_dense_replace`` layers dense (width ``intermediate_size``), the
  rest MoE with ``n_routed_experts`` (alias ``num_local_experts``) experts of width
  ``moe_intermediate_size`` and ``n_shared_experts`` x that of shared expert (no gate); DeepSeek-V3's
  router (a weight; ``e_score_correction_bias`` a buffer, not counted). Layer i slides as
  ``layer_types`` says, else when ``sliding_window`` is not null and i >= ``max_window_layers``
  (then required: transformers' 62 is a reference model's constant, as is the window's 4096).
- ERNIE 4.5 MoE (``Ernie4_5_MoeForCausalLM``): layer i is MoE when ``moe_layer_start_index`` <= i <=
  ``moe_layer_end_index`` (-1, the default: the last layer) and (i + 1) % ``moe_layer_interval`` is 0
  (default 1); the start is required (its default, 1, is ERNIE-4.5-21B's choice). Other layers are dense
  (width ``intermediate_size``). An MoE layer has ``moe_num_experts`` (alias ``num_experts``) experts of
  width ``moe_intermediate_size``, top ``moe_k`` (alias ``num_experts_per_tok``), and
  ``moe_num_shared_experts`` x that width of shared expert (0: none); its router has a weight and
  ``moe_statics.e_score_correction_bias``, E frozen weights that shift the top-k choice: a parameter,
  counted (``router_bias``). ``use_bias`` puts biases on q, k, v, o, the dense and shared MLPs and the
  head (``lm_head``, V weights, kept when tied), never on the routed experts.
"""

from __future__ import annotations

from fractions import Fraction

from ..errors import CardError
from .hf_layouts import SLIDING, _bool, _fraction, _int, _layer_types, _moe_layers, _short, _unused_int


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


def dots1(raw, n, where):
    first_dense = _int(raw, "first_k_dense_replace", where, 0, minimum=0)
    mlps = ["dense" if i < first_dense else "moe" for i in range(n)]
    fields = {"d_ff_expert": _int(raw, "moe_intermediate_size", where)}
    if "moe" in mlps:        # transformers multiplies it into the shared expert's width: null fails there
        fields["d_ff_shared"] = _int(raw, "n_shared_experts", where, minimum=0) * fields["d_ff_expert"]
    else:
        _unused_int(raw, "n_shared_experts", where, 0)
    if raw.get("layer_types") is not None:
        kinds = ["sliding" if t == SLIDING else "global" for t in _layer_types(raw, n, where)]
        _unused_int(raw, "max_window_layers", where, 0)
    elif "sliding_window" in raw and raw["sliding_window"] is None:
        kinds = ["global"] * n
        _unused_int(raw, "max_window_layers", where, 0)
    else:
        if raw.get("max_window_layers") is None:
            raise CardError(f"{where}: missing key 'max_window_layers' (with a sliding_window that is not null, "
                            "layers from it on slide; transformers' default, 62, is a reference model's constant); "
                            "allowed: an integer >= 0, or sliding_window null for no sliding layers")
        start = _int(raw, "max_window_layers", where, minimum=0)
        kinds = ["sliding" if i >= start else "global" for i in range(n)]
    if "sliding" in kinds:
        if raw.get("sliding_window") is None:
            raise CardError(f"{where}: key 'sliding_window' is {'null' if 'sliding_window' in raw else 'missing'} "
                            "but layers slide; allowed: a positive integer (transformers' default, 4096, is a "
                            "reference model's constant)")
        fields["sliding_window"] = _int(raw, "sliding_window", where)
    else:
        _unused_int(raw, "sliding_window", where, 1)
    return fields, kinds if "sliding" in kinds else None, mlps, \
        {"first_k_dense_replace", "moe_intermediate_size", "n_shared_experts", "layer_types", "sliding_window",
         "max_window_layers"}


def ernie4_5_moe(raw, n, where):
    if raw.get("moe_layer_start_index") is None:
        raise CardError(f"{where}: missing key 'moe_layer_start_index' (the first MoE layer; transformers' default, "
                        "1, is ERNIE-4.5-21B's choice); allowed: an integer >= 0")
    start = _int(raw, "moe_layer_start_index", where, minimum=0)
    end = raw.get("moe_layer_end_index", -1)
    if end != -1:
        end = _int(raw, "moe_layer_end_index", where, -1, minimum=0)
    end = n - 1 if end == -1 else end
    interval = _int(raw, "moe_layer_interval", where, 1)
    mlps = ["moe" if start <= i <= end and (i + 1) % interval == 0 else "dense" for i in range(n)]
    width = _int(raw, "moe_intermediate_size", where)
    if "moe" in mlps:        # its default, 2, is ERNIE-4.5's; null fails in transformers' comparison with 0
        shared = _int(raw, "moe_num_shared_experts", where, minimum=0)
    else:
        shared = _unused_int(raw, "moe_num_shared_experts", where, 0)
    fields = {"d_ff_expert": width, "router_bias": True, "head_bias": _bool(raw, "use_bias", where, False)}
    if shared:               # 0: transformers builds no shared expert
        fields["d_ff_shared"] = shared * width
    return fields, None, mlps, {"moe_layer_start_index", "moe_layer_end_index", "moe_layer_interval",
                                "moe_intermediate_size", "moe_num_shared_experts"}
