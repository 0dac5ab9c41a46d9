"""Readers for more classes of transformers 5.24: CWM, FlexOlmo, ...

Each reader takes the parsed ``config.json`` and returns what ``hf_layouts``' readers return (card fields,
per-layer attention kinds, per-layer MLP kinds, keys read). What a key means, and its default when absent, is
from transformers 5.24's ``configuration_*.py`` / ``modeling_*.py`` of the class (read, never imported):

- CWM (``CwmForCausalLM``, Code World Model): the LLaMA layer without attention biases (q, k, v and o hard-code
  none; ``mlp_bias`` on gate, up and down), sliding layers from ``layer_types`` (absent: every layer but each
  fourth from the first, ``i % 4 == 0`` full). Its config class refuses a null or 0 ``sliding_window`` (a
  strict int field), and its default, 8192, is its reference model's: required where a layer slides. The
  config class refuses a ``hidden_size`` not a multiple of the heads, even with ``head_dim`` given.
- FlexOlmo (``FlexOlmoForCausalLM``): OLMo 2's layer (norms after attention and after the MLP, none before; q and
  k RMSNorms over all heads' width, N x head_dim and K x head_dim) with experts on every layer: a router of
  ``num_experts`` x D without bias, experts of width ``intermediate_size`` (gated, no biases), no shared expert.
- FalconMamba (``FalconMambaForCausalLM``): Mamba's layer and keys (``hf_layouts_ssm.mamba``: the Mamba-1 mixer, a
  norm a layer, tied by default) with RMSNorms on the time step's rank-R input, B and C that hold no weights
  (``MambaWeightlessRMSNorm``: a buffer of ones, never read): the card's ``ssm_inner_norms_weightless``;
  ``mixer_rms_eps`` their epsilon.
- BitNet (``BitNetForCausalLM``, BitNet b1.58): the LLaMA layer with two more RMSNorms (the card's ``sub_norms``):
  ``attn_sub_norm`` on the attention's output before ``o_proj`` (``hidden_size`` weights, so N x head_dim must be
  D: a head_dim key is refused otherwise, as its forward fails) and ``ffn_sub_norm`` on act(gate) * up before
  ``down_proj`` (``intermediate_size`` weights); a gated MLP whose default activation is relu2 (``hidden_act``: relu2
  or a gated activation). Its published weights are ternary; transformers builds them as Linear weights, and they
  are counted as parameters one each (``hf_keys_recent3.LEFT_OUT`` says how their bytes are counted).
- AFMoE (``AfmoeForCausalLM``, Arcee's Trinity): four RMSNorms a layer (before and after attention and MLP), per-head
  q/k RMSNorms, an output gate (``gate_proj``, D x N·head_dim without bias: output · sigmoid(gate), the card's
  ``attention_output_gate``); RoPE on the sliding layers only (the full ones named as NoPE); ``layer_types`` or every
  ``global_attn_every_n_layers``-th layer full (default 4); the first ``num_dense_layers`` layers dense (width
  ``intermediate_size``), the rest MoE: a router of D x ``num_experts`` without bias, sigmoid scores, E frozen
  ``expert_bias`` weights that shift the top-k choice (a parameter: ``router_bias``), experts of
  ``moe_intermediate_size`` and ``num_shared_experts`` x that of shared MLP. ``mup_enabled`` scales the embeddings
  by sqrt(D) and ``route_scale`` the routed output (elementwise: named). The gate has no bias whatever
  ``attention_bias`` says, and a card's gate takes q's: attention_bias true is refused.
- Youtu (``YoutuForCausalLM``, Youtu-LLM): DeepSeek-V3's MLA (its attention class is DeepSeek-V3's, line for line:
  ``q_lora_rank`` null a plain q, ``attention_bias`` on q_a, kv_a and o) with a dense gated MLP on every layer; the
  MLA sizes fall back to a reference model's constants (required); ``head_dim`` and ``qk_head_dim``, set by its
  ``__post_init__`` whatever the file says, are accepted only as it derives them.
"""

from __future__ import annotations

from ..errors import CardError
from .hf_keys import GATED_ACTIVATIONS
from .hf_layouts import _bool, _finite, _int, _short, _unused_int
from .hf_layouts_dense import _kinds, _mask_needs_window, _nope_note, _windowed
from .hf_layouts_ssm import mamba


def _multiple_of_heads(raw, where, name) -> None:
    width, heads = _int(raw, "hidden_size", where), _int(raw, "num_attention_heads", where)
    if width % heads:
        raise CardError(f"{where}: key 'hidden_size' ({width}) must be a multiple of 'num_attention_heads' ({heads}): "
                        f"transformers' {name} config refuses it (head_dim given or not)")


def cwm(raw, n, where):
    _multiple_of_heads(raw, where, "Cwm")
    if "sliding_window" in raw and raw["sliding_window"] is None:
        raise CardError(f"{where}: key 'sliding_window' is null; transformers' CwmConfig refuses it (a whole number "
                        "is required; layer_types decides which layers slide); allowed: a positive integer")
    fields, kinds = _windowed(raw, _kinds(raw, n, where, lambda i: i % 4 != 0), where)
    return fields, kinds, None, {"layer_types", "sliding_window"}


def flex_olmo(raw, n, where):
    return {"norm_placement": "post", "qk_norm_width": "all"}, None, None, set()


def falcon_mamba(raw, n, where):
    fields, kinds, mlps, keys = mamba(raw, n, where)
    return {**fields, "ssm_inner_norms": True, "ssm_inner_norms_weightless": True}, kinds, mlps, keys


def bitnet(raw, n, where):
    act = raw.get("hidden_act", "relu2")
    if act != "relu2" and act not in GATED_ACTIVATIONS:
        raise CardError(f"{where}: key 'hidden_act' is {_short(act)}; allowed (gated MLP activations): relu2, "
                        f"{', '.join(GATED_ACTIVATIONS)}")
    width, heads = _int(raw, "hidden_size", where), _int(raw, "num_attention_heads", where)
    if raw.get("head_dim") is not None and _int(raw, "head_dim", where) * heads != width:
        raise CardError(f"{where}: key 'head_dim' ({_short(raw['head_dim'])}) x 'num_attention_heads' ({heads}) must "
                        f"be 'hidden_size' ({width}): BitNet's attn_sub_norm is hidden_size wide and norms the heads' "
                        "output, so its forward fails otherwise; allowed: that, or absent")
    return {"sub_norms": True}, None, None, {"hidden_act"}


def afmoe(raw, n, where):
    if _bool(raw, "attention_bias", where, False):
        raise CardError(f"{where}: key 'attention_bias' is true; AFMoE's output gate has no bias while q, k, v and o "
                        "have, which a card does not model; allowed: false")
    _mask_needs_window(raw, where, "Afmoe")
    if raw.get("layer_types") is None:
        every = _int(raw, "global_attn_every_n_layers", where, 4)
        kinds = _kinds(raw, n, where, lambda i: (i + 1) % every)
    else:
        _unused_int(raw, "global_attn_every_n_layers", where, 1)
        kinds = _kinds(raw, n, where, None)
    fields, kinds = _windowed(raw, kinds, where)
    kinds = kinds or ["global"] * n
    if "num_dense_layers" in raw and raw["num_dense_layers"] is None:
        raise CardError(f"{where}: key 'num_dense_layers' is null; transformers' AFMoE compares each layer's index "
                        "with it and fails; allowed: an integer >= 0")
    dense = _int(raw, "num_dense_layers", where, 1, minimum=0)
    width = _int(raw, "moe_intermediate_size", where)
    notes = [_nope_note([int(k == "sliding") for k in kinds], "its full-attention layers").get("note")]
    notes += ["mup_enabled: its embeddings times sqrt(hidden_size), elementwise, not counted"] \
        if _bool(raw, "mup_enabled", where, False) else []
    scale = raw.get("route_scale", 1.0)
    if not _finite(scale) or scale <= 0:       # null: its router multiplies by None and fails
        raise CardError(f"{where}: key 'route_scale' must be a positive number, got {_short(scale)}")
    notes += [f"route_scale ({scale}): its elementwise scaling of the routed output is not counted"] \
        if scale != 1 else []
    fields.update(attention_output_gate=True, d_ff_expert=width, router_bias=True,
                  d_ff_shared=_int(raw, "num_shared_experts", where, minimum=0) * width,
                  note=[note for note in notes if note])
    return fields, kinds if "sliding" in kinds else None, ["dense" if i < dense else "moe" for i in range(n)], \
        {"layer_types", "sliding_window", "global_attn_every_n_layers", "num_dense_layers", "moe_intermediate_size",
         "num_shared_experts", "mup_enabled", "route_scale", "attention_bias"}


def youtu(raw, n, where):
    q_lora = raw.get("q_lora_rank", 1536)       # null: a plain q projection
    fields = {"attention": "mla", "q_lora_rank": 0 if q_lora is None else _int(raw, "q_lora_rank", where),
              "kv_lora_rank": _int(raw, "kv_lora_rank", where), "head_dim": _int(raw, "qk_nope_head_dim", where),
              "rope_head_dim": _int(raw, "qk_rope_head_dim", where), "v_head_dim": _int(raw, "v_head_dim", where)}
    for key, derived in (("head_dim", fields["rope_head_dim"]),
                         ("qk_head_dim", fields["head_dim"] + fields["rope_head_dim"])):
        if raw.get(key) is not None and (type(raw[key]) is not int or raw[key] != derived):
            raise CardError(f"{where}: key '{key}' is {_short(raw[key])}; Youtu's config sets it to {derived} "
                            "whatever the file says; allowed: that, or null")
    return fields, None, None, {"q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim",
                                "head_dim", "qk_head_dim"}
