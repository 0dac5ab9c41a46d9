"""Readers for recent classes of transformers 5.24: VaultGemma, ...

Each reader takes the parsed ``config.json`` and returns what ``hf_layouts``' readers return (card fields,
per-layer attention kinds, per-layer MLP kinds, keys read). What a key means, and its default when absent, is
from transformers 5.24's ``configuration_*.py`` / ``modeling_*.py`` of the class (read, never imported):

- VaultGemma (``VaultGemmaForCausalLM``): Gemma 2's layer without the post-attention and post-MLP norms,
  the same sliding layers (``layer_types``, else even layers), soft-caps and GeGLU. Its model builds the
  sliding mask on every forward, so a null ``sliding_window`` fails there: refused.
- Solar Open (``SolarOpenForCausalLM``): the LLaMA attention (``attention_bias`` on q, k and v; o none) and
  GLM-4.5's MoE on every layer: ``n_routed_experts`` (alias ``num_local_experts``) of
  ``moe_intermediate_size``, a sigmoid router (E x D weights; its ``e_score_correction_bias`` a buffer, not
  counted) and ``n_shared_experts`` x ``moe_intermediate_size`` of shared MLP. Its config has no
  ``intermediate_size`` (the card's d_ff is the experts' width, used by no layer), no first dense layers,
  no q/k norms and no MTP layers (5.24 sets those attributes to AttributeError: a file giving one is refused
  as an unknown key). A ``partial_rotary_factor`` below 1 is refused: its rotary embedding narrows cos and sin,
  but its LlamaAttention rotates whole heads, and the forward fails.
- Jais 2 (``Jais2ForCausalLM``): the LLaMA attention with LayerNorms (weight and bias, before attention and
  MLP, and the final one) and a plain up/down MLP (default relu2); ``attention_bias`` (q, k, v, o) and
  ``mlp_bias`` default to true. Jais2Config refuses a hidden_size that is not a multiple of the heads.
- Cohere 2 MoE (``Cohere2MoeForCausalLM``): Cohere 2's parallel layer (one norm: an RMSNorm where
  ``rms_norm_eps`` is set, else Cohere's bias-free LayerNorm, the same D weights) with ``mlp_layer_types``
  ('dense': a gated MLP of ``prefix_dense_intermediate_size``, null ``intermediate_size``; else ``num_experts``
  experts of ``intermediate_size``, an E x D router and, where ``num_shared_experts`` > 0, a shared gated MLP of
  that many x ``intermediate_size``). Absent ``layer_types`` / ``mlp_layer_types`` come from
  ``first_k_dense_replace`` (dense, sliding every ``prefix_dense_sliding_window_pattern``-th layer but one) and
  ``sliding_window_pattern`` after them, as its ``__post_init__`` does. A layer rotates q and k where it slides,
  or where it is dense and the prefix pattern is 1; the others are NoPE, named. The sliding mask is built on
  every forward: a null window is refused.
- EXAONE MoE (``ExaoneMoeForCausalLM``): EXAONE 4.0's attention (per-head q/k norms, its sliding layers and
  NoPE full layers, read by ``hf_layouts_dense2.exaone4``) in a pre-norm layer (OLMoE's: norms before attention
  and MLP, none after); ``mlp_layer_types`` ('sparse' or 'dense'; absent: the first ``first_k_dense_replace``
  dense, required as its default 1 is its reference model's) with dense layers a gated MLP of
  ``intermediate_size`` and sparse ones DeepSeek-V3's block: ``num_experts`` experts of
  ``moe_intermediate_size``, an E x D router (its ``e_score_correction_bias`` a buffer) and
  ``num_shared_experts`` x ``moe_intermediate_size`` of shared MLP. Its config's type check refuses a null
  ``sliding_window`` (EXAONE 4.0's allows one): its full layers are always NoPE, named.
"""

from __future__ import annotations

from ..errors import CardError
from . import hf_layouts
from .hf_layouts import GLOBAL, SLIDING, _int, _layer_types, _short, rotary_pct
from .hf_layouts_dense import _COHERE_NORM, _logit_scale, _nope_note, _windowed
from .hf_layouts_dense import _mask_needs_window
from .hf_layouts_dense2 import arcee, exaone4


def vaultgemma(raw, n, where):
    _mask_needs_window(raw, where, "VaultGemma")
    return hf_layouts.gemma2(raw, n, where)


def solar_open(raw, n, where):
    pct, keys = rotary_pct(raw, where, 1)
    if pct != 1:
        raise CardError(f"{where}: key 'partial_rotary_factor' is {pct}; transformers' SolarOpen rotates whole heads "
                        "(LlamaAttention) and its forward fails on narrower cos and sin; allowed: 1 or absent")
    expert = _int(raw, "moe_intermediate_size", where)         # default 1280: Solar-Open-100B's, required
    if "n_shared_experts" in raw and raw["n_shared_experts"] is None:
        raise CardError(f"{where}: key 'n_shared_experts' is null; transformers' SolarOpen multiplies the shared "
                        "width by it (absent: 1); allowed: an integer >= 0")
    fields = {"d_ff": expert, "d_ff_expert": expert,
              "d_ff_shared": _int(raw, "n_shared_experts", where, 1, minimum=0) * expert}
    return fields, None, ["moe"] * n, keys | {"moe_intermediate_size", "n_shared_experts"}


def jais2(raw, n, where):
    arcee(raw, n, where)        # the same check: hidden_size a multiple of num_attention_heads
    return {"norm": "layer", "mlp": "plain"}, None, None, set()


def _cohere2_moe_kinds(raw, n, where):
    """Per layer (attention kind, MLP kind), and the prefix pattern: as Cohere2MoeConfig.__post_init__ makes them."""
    first = 0
    if "first_k_dense_replace" in raw:        # popped by its __post_init__; read where the lists below are absent
        first = raw["first_k_dense_replace"]
        if type(first) is not int or not 0 <= first <= n:
            raise CardError(f"{where}: key 'first_k_dense_replace' must be an integer from 0 to num_hidden_layers "
                            f"({n}), got {_short(first)}")
    prefix = _int(raw, "prefix_dense_sliding_window_pattern", where, 1)
    if raw.get("layer_types") is not None:
        _int(raw, "sliding_window_pattern", where, 4)
        types = _layer_types(raw, n, where)
    else:
        pattern = _int(raw, "sliding_window_pattern", where, 4)
        types = [SLIDING if (i + 1) % prefix else GLOBAL for i in range(first)] + \
                [SLIDING if (i + 1) % pattern else GLOBAL for i in range(n - first)]
    mlps = raw.get("mlp_layer_types")
    if mlps is None:
        mlps = ["dense" if i < first else "sparse" for i in range(n)]
    elif not (isinstance(mlps, list) and len(mlps) == n and all(m in ("dense", "sparse") for m in mlps)):
        raise CardError(f"{where}: key 'mlp_layer_types' must list {n} entries, each 'dense' or 'sparse', "
                        f"got {_short(mlps)}")
    return ["sliding" if t == SLIDING else "global" for t in types], \
        ["dense" if m == "dense" else "moe" for m in mlps], prefix


def cohere2_moe(raw, n, where):
    _mask_needs_window(raw, where, "Cohere2Moe")
    kinds, mlps, prefix = _cohere2_moe_kinds(raw, n, where)
    for key, allowed in (("shared_expert_combination_strategy", ("sum", "average")),
                         ("expert_selection_fn", ("softmax", "sigmoid"))):
        if key in raw and raw[key] not in allowed:       # its forward raises on any other
            raise CardError(f"{where}: key '{key}' is {_short(raw[key])}; allowed: {', '.join(allowed)}")
    width = _int(raw, "intermediate_size", where)
    shared = _int(raw, "num_shared_experts", where, 0, minimum=0)
    dense = raw.get("prefix_dense_intermediate_size")
    rope = [int(k == "sliding" or (m == "dense" and prefix == 1)) for k, m in zip(kinds, mlps)]
    notes = [] if raw.get("rms_norm_eps") is not None else [_COHERE_NORM]
    notes.append(_logit_scale(raw, where))
    if shared and raw.get("shared_expert_combination_strategy", "average") == "average":
        notes.append("shared_expert_combination_strategy average: its halving of the routed plus shared output "
                     "is not counted")
    notes += [_nope_note(rope, "layers neither sliding nor dense under prefix pattern 1")["note"]] if 0 in rope else []
    fields = {"parallel_residual": True, "d_ff_expert": width, "d_ff_shared": shared * width, "note": notes,
              "d_ff": width if dense is None else _int(raw, "prefix_dense_intermediate_size", where)}
    fields, kinds = _windowed(raw, kinds, where, fields)
    return fields, kinds, mlps, {"layer_types", "mlp_layer_types", "sliding_window", "sliding_window_pattern",
                                 "prefix_dense_sliding_window_pattern", "first_k_dense_replace",
                                 "prefix_dense_intermediate_size", "num_shared_experts", "logit_scale",
                                 "shared_expert_combination_strategy", "expert_selection_fn"}


def exaone_moe(raw, n, where):
    if "sliding_window" in raw and raw["sliding_window"] is None:
        raise CardError(f"{where}: key 'sliding_window' is null; ExaoneMoeConfig's type check refuses it (EXAONE "
                        "4.0's allows it); allowed: a positive integer")
    fields, kinds, _, keys = exaone4(raw, n, where)
    del fields["norm_placement"]                  # its layer norms before attention and MLP (OLMoE's layer)
    mlps = raw.get("mlp_layer_types")
    if mlps is None:
        first = _int(raw, "first_k_dense_replace", where, minimum=0)
        mlps = ["dense" if i < first else "sparse" for i in range(n)]
    elif not (isinstance(mlps, list) and len(mlps) == n and all(m in ("dense", "sparse") for m in mlps)):
        raise CardError(f"{where}: key 'mlp_layer_types' must list {n} entries, each 'dense' or 'sparse', "
                        f"got {_short(mlps)}")
    else:
        _int(raw, "first_k_dense_replace", where, 1, minimum=0)     # not read beside the list; still checked
    expert = _int(raw, "moe_intermediate_size", where)
    fields.update(d_ff_expert=expert, d_ff_shared=_int(raw, "num_shared_experts", where, minimum=0) * expert)
    return fields, kinds, ["moe" if m == "sparse" else "dense" for m in mlps], \
        keys | {"mlp_layer_types", "first_k_dense_replace", "moe_intermediate_size", "num_shared_experts"}
