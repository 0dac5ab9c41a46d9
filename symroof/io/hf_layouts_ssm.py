"""Readers for models with Mamba mixers (core/ssm.py): Nemotron-H, Falcon-H1, Bamba, Granite 4.0, Mamba-2, Mamba,
Jamba.

What each key means and its default is from transformers 5.24's ``configuration_*.py`` and
``modeling_*.py`` of each class (read, never imported).

Nemotron-H (``NemotronHForCausalLM``, nemotron_h): every layer is an RMSNorm, one mixer and a
residual add. ``layers_block_type`` (or the original code's ``hybrid_override_pattern``, one character a
layer: M Mamba-2, * attention, - MLP, E MoE) lists the mixers, and its length is the layer count
(``num_hidden_layers``, deprecated, is ignored by transformers; here it must agree). The Mamba-2
mixer has ``mamba_num_heads`` heads of ``mamba_head_dim`` (d_inner is their product: ``expand`` is
not read), ``n_groups`` groups of ``ssm_state_size``, ``conv_kernel`` taps with a bias per channel
where ``use_conv_bias`` (default true), and ``use_bias`` on in_proj and out_proj; its gated RMSNorm
gates before it norms, per group. Attention layers are LLaMA's without RoPE or biases (q, k, v, o
hard-code bias=False); MLP layers are plain (up, ``mlp_hidden_act``, down) with ``mlp_bias``. The
original code's aliases (mamba_n_groups, mamba_d_conv, mamba_conv_bias, ...) are popped by its
__post_init__ and read the same way. Its head is never tied to the embedding (``_tied_weights_keys`` is
empty), whatever ``tie_word_embeddings`` says. MoE layers (E, Nemotron 3) route to ungated experts beside
an ungated shared expert (``_nemotron_moe``); their latent projections (``moe_latent_size``) are refused.

Falcon-H1 (``FalconH1ForCausalLM``, falcon_h1): every layer runs attention and a Mamba-2 mixer side by
side on one normed input and adds their outputs (a ``hybrid`` block), then a gated MLP. The mixer's
d_inner is ``mamba_d_ssm`` (null: ``mamba_expand`` x hidden_size), ``mamba_n_heads`` heads of
``mamba_d_head`` ("auto" or absent: d_inner / heads; their product must be d_inner), ``mamba_n_groups``
groups of ``mamba_d_state``, ``mamba_d_conv`` taps with ``mamba_conv_bias``; ``mamba_proj_bias`` on
in_proj, ``projectors_bias`` on out_proj; ``mamba_rms_norm`` builds its gated RMSNorm (default false: the
output times SiLU(z) only). Attention is LLaMA's with ``attention_bias`` on q, k, v and o, RoPE, and a
``head_dim`` key where given (else D // N). Its µP multipliers scale activations by constants (no
weights; elementwise, not counted): named in the card's left_out.

Bamba (``BambaForCausalLM``, bamba) and Granite 4.0 (``GraniteMoeHybridForCausalLM``, granitemoehybrid):
each layer is a norm, a Mamba-2 mixer or attention, a residual add, a norm and an MLP. The mixer's d_inner
is ``mamba_expand`` x hidden_size, in ``mamba_n_heads`` heads of ``mamba_d_head`` ("auto": d_inner / heads),
``mamba_n_groups`` groups of ``mamba_d_state``, ``mamba_d_conv`` taps with ``mamba_conv_bias``, and
``mamba_proj_bias`` on in_proj and out_proj; its gated RMSNorm always. Bamba's attention layers are those
``attn_layer_indices`` lists, with RoPE on half of each head (its __post_init__ hard-codes
partial_rotary_factor 0.5) and ``attention_bias``; its MLP is gated with ``mlp_bias``. Granite 4.0's
``layer_types`` lists ``mamba`` / ``attention`` (transformers' legacy names for linear_attention /
full_attention, remapped); its attention has ``attention_bias`` and RoPE only where
``position_embedding_type`` is "rope" (default None: no positions); its MLP is a shared gated MLP of
``shared_intermediate_size`` (``input_linear``: gate and up in one matrix) and, where
``num_local_experts`` > 0, routed experts of ``intermediate_size`` beside it (Granite MoE Shared's
block), and Granite's scalar multipliers (hf_layouts.granite).
"""

from __future__ import annotations

from fractions import Fraction

from ..errors import CardError
from .hf_layouts import _finite, _int, _short, granite

_PATTERN = {"M": "linear_attention", "*": "full_attention", "-": "mlp", "E": "moe"}
# transformers' legacy layer-type names, remapped on load (configuration_utils._LEGACY_LAYER_TYPE_REMAP)
LEGACY = {"mamba": "linear_attention", "attention": "full_attention"}
# ours (attention kind, mlp kind) per Nemotron-H layer type
_KINDS = {"linear_attention": ("mamba", "none"), "full_attention": ("global", "none"), "mlp": ("none", "dense"),
          "moe": ("none", "moe")}
# the original code's names, popped by NemotronHConfig.__post_init__ into transformers' names (and its
# attribute_map's num_local_experts)
NEMOTRON_H_ALIASES = {"num_local_experts": "n_routed_experts", "mamba_n_groups": "n_groups", "mamba_d_conv": "conv_kernel", "mamba_expand": "expand",
                      "mamba_dt_min": "time_step_min", "mamba_dt_max": "time_step_max",
                      "mamba_dt_limit": "time_step_limit", "mamba_dt_init_floor": "time_step_floor",
                      "mamba_conv_bias": "use_conv_bias", "mamba_chunk_size": "chunk_size"}
# NemotronHConfig's head_dim default: what transformers builds where a file gives only attention_head_dim
NEMOTRON_H_HEAD_DIM = 128
SSM_NOTE = ("Mamba settings that change no count: time_step_limit, time_step_min, time_step_max, "
            "time_step_floor (the time step's clamp and init), mamba_ssm_cache_dtype (the SSM and conv states are "
            "counted at the KV cache's width b_kv), residual_in_fp32, rescale_prenorm_residual")


def _flag(raw, key, where, default):
    value = raw.get(key, default)
    if value is None:
        value = default
    if not isinstance(value, bool):
        raise CardError(f"{where}: key '{key}' must be true or false, got {value!r}")
    return value


def nemotron_h_prepare(raw, where):
    """transformers' names for the original code's (its __post_init__), and the layer count the pattern gives."""
    out = dict(raw)
    for old, new in NEMOTRON_H_ALIASES.items():
        if old in out:
            if new in out and out[new] != out[old]:
                raise CardError(f"{where}: keys '{old}' and '{new}' disagree; transformers reads '{old}' (popped "
                                f"into '{new}'): give one")
            out[new] = out.pop(old)
    types = _nemotron_types(out, where)
    given = out.get("num_hidden_layers")
    if given is not None and given != len(types):
        raise CardError(f"{where}: key 'num_hidden_layers' ({given}) disagrees with the {len(types)} layers the "
                        "layer pattern lists; transformers builds the pattern's (num_hidden_layers is ignored)")
    out["num_hidden_layers"] = len(types)
    out["layers_block_type"] = types
    out.pop("hybrid_override_pattern", None)
    return out


def _nemotron_types(raw, where) -> list:
    types = raw.get("layers_block_type", raw.get("layer_types"))
    pattern = raw.get("hybrid_override_pattern")
    if types is None and pattern is not None:
        if not (isinstance(pattern, str) and pattern and set(pattern) <= set(_PATTERN)):
            raise CardError(f"{where}: key 'hybrid_override_pattern' must be a non-empty string of M, *, - and E "
                            f"(one a layer), got {pattern!r}"[:300])
        return [_PATTERN[c] for c in pattern]
    if types is None:
        raise CardError(f"{where}: missing key 'layers_block_type' (or 'hybrid_override_pattern'): transformers' "
                        "default is a 4-layer example")
    if not (isinstance(types, list) and types and all(LEGACY.get(t, t) in _KINDS for t in types if isinstance(t, str))
            and all(isinstance(t, str) for t in types)):
        raise CardError(f"{where}: key 'layers_block_type' must list each layer's type, each one of "
                        f"{', '.join(_KINDS)}")
    return [LEGACY.get(t, t) for t in types]


def ssm_sizes(raw, where, keys: dict) -> dict:
    """The card's ssm_* sizes from a class's keys ({ours: its key}); each required (the defaults are
    reference models' constants)."""
    fields = {ours: _int(raw, key, where) for ours, key in keys.items()}
    if fields["ssm_heads"] % fields["ssm_groups"]:
        raise CardError(f"{where}: key '{keys['ssm_groups']}' ({fields['ssm_groups']}) must divide "
                        f"'{keys['ssm_heads']}' ({fields['ssm_heads']})")
    return fields


def nemotron_h(raw, n, where):
    types = raw["layers_block_type"]
    fields = {"mlp": "plain", "positions": "none", "head_dim": _head_dim(raw, where)}
    keys = {"layers_block_type", "layer_types", "mlp_hidden_act", "use_bias", "use_conv_bias", "head_dim",
            "attention_head_dim", *_MOE_KEYS}
    notes = []
    if "moe" in types:
        fields.update(_nemotron_moe(raw, where))
    else:          # no E layer: the MoE keys build nothing, but a damaged value is refused
        for key in _MOE_KEYS:
            _int(raw, key, where, 1, minimum=0)
    if "linear_attention" in types:
        fields.update(ssm_sizes(raw, where, {"ssm_heads": "mamba_num_heads", "ssm_head_dim": "mamba_head_dim",
                                             "ssm_state": "ssm_state_size", "ssm_groups": "n_groups",
                                             "ssm_conv_kernel": "conv_kernel"}))
        bias = _flag(raw, "use_bias", where, False)
        fields.update(ssm_conv_bias=_flag(raw, "use_conv_bias", where, True), ssm_in_bias=bias, ssm_out_bias=bias)
        notes.append(SSM_NOTE)
    if _flag(raw, "tie_word_embeddings", where, False):     # 5.24's NemotronHForCausalLM: _tied_weights_keys = {}
        notes.append("tie_word_embeddings true: transformers' NemotronHForCausalLM ties nothing and builds its own "
                     "lm_head; counted untied, as it builds")
    fields["tie_embeddings"] = False
    if raw.get("num_nextn_predict_layers"):
        notes.append("multi-token-prediction layers (num_nextn_predict_layers) not counted: transformers does not "
                     "build them")
    fields["note"] = notes
    for key in ("mamba_num_heads", "mamba_head_dim", "ssm_state_size", "n_groups", "conv_kernel"):
        keys.add(key)
        _int(raw, key, where, 1)      # unused without Mamba layers, but a damaged value is refused
    kinds = [_KINDS[t] for t in types]
    return fields, [a for a, _ in kinds], [m for _, m in kinds], keys


_MOE_KEYS = ("n_routed_experts", "num_experts_per_tok", "moe_intermediate_size", "moe_shared_expert_intermediate_size")


def _nemotron_moe(raw, where) -> dict:
    """Nemotron-H's MoE layers (NemotronHMoE): a router of n_routed_experts x D (its e_score_correction_bias is a
    buffer, no parameter), ungated experts (up, mlp_hidden_act, down) of moe_intermediate_size, and one ungated
    shared expert of moe_shared_expert_intermediate_size (n_shared_experts is not read) with mlp_bias."""
    if raw.get("moe_latent_size") is not None:
        raise CardError(f"{where}: key 'moe_latent_size' is {_short(raw['moe_latent_size'])}; allowed: null (the "
                        "experts' latent projections, fc1/fc2_latent_proj, are not modelled)")
    experts, chosen = _int(raw, "n_routed_experts", where), _int(raw, "num_experts_per_tok", where)
    if experts < 2 or chosen > experts:
        raise CardError(f"{where}: keys 'n_routed_experts' ({experts}) and 'num_experts_per_tok' ({chosen}): at least "
                        "2 experts, and at most that many per token")
    return {"n_experts": experts, "experts_per_token": chosen,
            "d_ff_expert": _int(raw, "moe_intermediate_size", where),
            "d_ff_shared": _int(raw, "moe_shared_expert_intermediate_size", where)}


def _head_dim(raw, where) -> int:
    """head_dim, else the original code's attention_head_dim where it is what transformers builds (its default)."""
    if raw.get("head_dim") is not None:
        head = _int(raw, "head_dim", where)
        if raw.get("attention_head_dim") not in (None, head):
            raise CardError(f"{where}: keys 'head_dim' ({head}) and 'attention_head_dim' disagree; transformers "
                            "reads head_dim")
        return head
    given = raw.get("attention_head_dim")
    if given != NEMOTRON_H_HEAD_DIM or isinstance(given, bool):
        raise CardError(f"{where}: missing key 'head_dim': transformers builds its default, {NEMOTRON_H_HEAD_DIM} "
                        f"(a reference model's), whatever the original code's attention_head_dim ({given!r}) says")
    return given


# Falcon-H1's µP multipliers: constant scalings of activations (and the mup_vector buffer over in_proj's output)
FALCON_H1_MULTIPLIERS = ("embedding_multiplier", "lm_head_multiplier", "mlp_multipliers", "key_multiplier",
                         "attention_in_multiplier", "attention_out_multiplier", "ssm_multipliers",
                         "ssm_in_multiplier", "ssm_out_multiplier")


def falcon_h1(raw, n, where):
    heads = _int(raw, "mamba_n_heads", where)
    if raw.get("mamba_d_ssm", 0) is None:       # transformers: mamba_expand x hidden_size
        inner = _int(raw, "mamba_expand", where) * _int(raw, "hidden_size", where)
    else:
        inner = _int(raw, "mamba_d_ssm", where)
    head = raw.get("mamba_d_head", "auto")
    if head == "auto":
        if inner % heads:
            raise CardError(f"{where}: key 'mamba_n_heads' ({heads}) must divide the Mamba width d_inner ({inner})")
        head = inner // heads
    head = _int({"mamba_d_head": head}, "mamba_d_head", where)
    if head * heads != inner:
        raise CardError(f"{where}: keys 'mamba_d_head' ({head}) x 'mamba_n_heads' ({heads}) must be the Mamba width "
                        f"d_inner ({inner}: mamba_d_ssm, or mamba_expand x hidden_size)")
    fields = ssm_sizes({**raw, "mamba_n_heads": heads}, where, {
        "ssm_heads": "mamba_n_heads", "ssm_state": "mamba_d_state", "ssm_groups": "mamba_n_groups",
        "ssm_conv_kernel": "mamba_d_conv"})
    fields.update(ssm_head_dim=head, ssm_conv_bias=_flag(raw, "mamba_conv_bias", where, True),
                  ssm_in_bias=_flag(raw, "mamba_proj_bias", where, False),
                  ssm_out_bias=_flag(raw, "projectors_bias", where, False),
                  ssm_norm=_flag(raw, "mamba_rms_norm", where, False))
    _flag(raw, "mamba_norm_before_gate", where, True)      # the same FLOPs either way
    for key in FALCON_H1_MULTIPLIERS:
        values = raw.get(key)
        values = [] if values is None else values if isinstance(values, list) else [values]
        if not all(_finite(v) for v in values):
            raise CardError(f"{where}: key '{key}' must be a number (or a list of numbers), got {_short(raw[key])}")
    given = [k for k in FALCON_H1_MULTIPLIERS if raw.get(k) is not None and  # 1 (a list of 1s) scales nothing
             any(v != 1 for v in (raw[k] if isinstance(raw[k], list) else [raw[k]]))]
    fields["note"] = [SSM_NOTE] + ([f"µP multipliers ({', '.join(given)}): constant scalings of activations, "
                                    "elementwise, not counted"] if given else [])
    return fields, ["hybrid"] * n, None, {"mamba_n_heads", "mamba_d_ssm", "mamba_expand", "mamba_d_head",
                                          "mamba_d_state", "mamba_n_groups", "mamba_d_conv", "mamba_conv_bias",
                                          "mamba_proj_bias", "projectors_bias", "mamba_rms_norm",
                                          "mamba_norm_before_gate", *FALCON_H1_MULTIPLIERS}


def _expanded_mixer(raw, where) -> dict:
    """Bamba's and Granite 4.0's mixer: d_inner = mamba_expand x hidden_size, heads of mamba_d_head ("auto")."""
    heads = _int(raw, "mamba_n_heads", where)
    head = raw.get("mamba_d_head", "auto")
    # mamba_expand absent: transformers' 2 (the Mamba-2 paper's), read only where mamba_d_head is given, so that
    # heads x head checks it (transformers' validate_architecture refuses a mismatch)
    inner = _int(raw, "mamba_expand", where, None if head == "auto" else 2) * _int(raw, "hidden_size", where)
    if head == "auto":
        head = inner // heads
    head = _int({"mamba_d_head": head}, "mamba_d_head", where)
    if head * heads != inner:
        raise CardError(f"{where}: keys 'mamba_d_head' ({head}) x 'mamba_n_heads' ({heads}) must be the Mamba width "
                        f"mamba_expand x hidden_size ({inner})")
    fields = ssm_sizes(raw, where, {"ssm_heads": "mamba_n_heads", "ssm_state": "mamba_d_state",
                                    "ssm_groups": "mamba_n_groups", "ssm_conv_kernel": "mamba_d_conv"})
    bias = _flag(raw, "mamba_proj_bias", where, False)
    fields.update(ssm_head_dim=head, ssm_conv_bias=_flag(raw, "mamba_conv_bias", where, True), ssm_in_bias=bias,
                  ssm_out_bias=bias, note=[SSM_NOTE])
    return fields


_EXPANDED_KEYS = {"mamba_n_heads", "mamba_expand", "mamba_d_head", "mamba_d_state", "mamba_n_groups", "mamba_d_conv",
                  "mamba_conv_bias", "mamba_proj_bias"}


def bamba(raw, n, where):
    indices = raw.get("attn_layer_indices")
    if indices is None:
        indices = []
    if not (isinstance(indices, list) and all(type(i) is int and 0 <= i < n for i in indices)):
        raise CardError(f"{where}: key 'attn_layer_indices' must list layer indices from 0 to {n - 1}, got "
                        f"{_short(indices)}")
    kinds = ["global" if i in indices else "mamba" for i in range(n)]
    fields = _expanded_mixer(raw, where) if "mamba" in kinds else {"note": []}
    fields["rotary_pct"] = Fraction(1, 2)
    return fields, kinds if len(set(kinds)) > 1 or "mamba" in kinds else None, None, \
        _EXPANDED_KEYS | {"attn_layer_indices", "head_dim"}


def granitemoehybrid(raw, n, where):
    types = raw.get("layer_types")
    types = ["linear_attention"] * n if types is None else types
    if not (isinstance(types, list) and len(types) == n and all(isinstance(t, str) and LEGACY.get(t, t) in
                                                                 ("linear_attention", "full_attention") for t in types)):
        raise CardError(f"{where}: key 'layer_types' must list {n} entries, each 'mamba' or 'attention' (or "
                        "'linear_attention' / 'full_attention')")
    kinds = ["mamba" if LEGACY.get(t, t) == "linear_attention" else "global" for t in types]
    note, _, _, keys = granite(raw, n, where)
    fields = _expanded_mixer(raw, where) if "mamba" in kinds else {"note": []}
    fields["note"] += [note["note"]] if note else []
    position = raw.get("position_embedding_type")
    if position not in (None, "rope", "nope"):
        raise CardError(f"{where}: key 'position_embedding_type' is {_short(position)}; allowed: 'rope', 'nope' or "
                        "null (no RoPE)")
    shared = _int(raw, "shared_intermediate_size", where)
    experts = _int(raw, "num_local_experts", where, minimum=0)
    fields.update(positions="rope" if position == "rope" else "none", fused_gate_up=True)
    if experts == 0:           # no block_sparse_moe: the shared MLP is the layer's MLP
        fields["d_ff"] = shared
        _int(raw, "num_experts_per_tok", where, 0, minimum=0)      # unread without experts (0 in published files)
        mlps = None
    else:
        if experts < 2:
            raise CardError(f"{where}: key 'num_local_experts' must be 0 (no experts) or at least 2, got {experts}")
        chosen = _int(raw, "num_experts_per_tok", where)
        if chosen > experts:
            raise CardError(f"{where}: key 'num_experts_per_tok' ({chosen}) must be at most 'num_local_experts' "
                            f"({experts})")
        fields.update(n_experts=experts, experts_per_token=chosen, d_ff_shared=shared)
        mlps = ["moe"] * n
    return fields, kinds if len(set(kinds)) > 1 or "mamba" in kinds else None, mlps, \
        keys | _EXPANDED_KEYS | {"layer_types", "position_embedding_type", "shared_intermediate_size",
                                 "num_local_experts", "num_experts_per_tok", "head_dim"}


def mamba2(raw, n, where):
    fields = ssm_sizes(raw, where, {"ssm_heads": "num_heads", "ssm_head_dim": "head_dim", "ssm_state": "state_size",
                                    "ssm_groups": "n_groups", "ssm_conv_kernel": "conv_kernel"})
    inner = _int(raw, "expand", where) * _int(raw, "hidden_size", where)
    if fields["ssm_heads"] * fields["ssm_head_dim"] != inner:
        raise CardError(f"{where}: keys 'num_heads' ({fields['ssm_heads']}) x 'head_dim' ({fields['ssm_head_dim']}) "
                        f"must be expand x hidden_size ({inner}), as transformers' Mamba2Config requires")
    bias = _flag(raw, "use_bias", where, False)
    fields.update(ssm_conv_bias=_flag(raw, "use_conv_bias", where, True), ssm_in_bias=bias, ssm_out_bias=bias,
                  positions="none", d_ff=inner, head_dim=fields["ssm_head_dim"], note=[SSM_NOTE])
    return fields, ["mamba"] * n, ["none"] * n, {"num_heads", "head_dim", "state_size", "n_groups", "conv_kernel",
                                                 "expand", "use_bias", "use_conv_bias"}


def mamba(raw, n, where):
    width = _int(raw, "hidden_size", where)
    inner = _int(raw, "expand", where) * width
    rank = raw.get("time_step_rank", "auto")
    rank = -(-width // 16) if rank == "auto" else _int(raw, "time_step_rank", where)      # MambaConfig: ceil(D / 16)
    if raw.get("intermediate_size", inner) != inner:
        raise CardError(f"{where}: key 'intermediate_size' ({_short(raw['intermediate_size'])}) must be expand x "
                        f"hidden_size ({inner}): MambaConfig sets it so whatever the file says")
    bias = _flag(raw, "use_bias", where, False)
    fields = {"ssm_heads": inner, "ssm_head_dim": 1, "ssm_groups": 1, "ssm_state": _int(raw, "state_size", where),
              "ssm_conv_kernel": _int(raw, "conv_kernel", where), "ssm_dt_rank": rank, "ssm_norm": False,
              "ssm_conv_bias": _flag(raw, "use_conv_bias", where, True), "ssm_in_bias": bias, "ssm_out_bias": bias,
              "positions": "none", "d_ff": inner, "n_heads": inner, "head_dim": 1, "note": [SSM_NOTE]}
    return fields, ["mamba"] * n, ["none"] * n, {"expand", "time_step_rank", "state_size", "conv_kernel",
                                                 "use_bias", "use_conv_bias", "intermediate_size"}


_JAMBA_PATTERN = ("attn_layer_period", "attn_layer_offset", "expert_layer_period", "expert_layer_offset")


def jamba(raw, n, where):
    attn_period, attn_offset, exp_period, exp_offset = (_int(raw, k, where, minimum=0 if "offset" in k else 1)
                                                        for k in _JAMBA_PATTERN)
    if not (attn_offset < attn_period and exp_offset < exp_period):
        raise CardError(f"{where}: keys 'attn_layer_offset' and 'expert_layer_offset' must be below their periods "
                        f"({attn_offset} of {attn_period}, {exp_offset} of {exp_period})")
    experts, chosen = _int(raw, "num_experts", where), _int(raw, "num_experts_per_tok", where)
    if chosen > experts:
        raise CardError(f"{where}: key 'num_experts_per_tok' ({chosen}) must be at most 'num_experts' ({experts})")
    kinds = ["global" if i % attn_period == attn_offset else "mamba" for i in range(n)]
    mlps = ["moe" if experts > 1 and i % exp_period == exp_offset else "dense" for i in range(n)]
    fields = {"positions": "none", "note": []}
    if "mamba" in kinds:
        width = _int(raw, "hidden_size", where)
        inner = _int(raw, "mamba_expand", where) * width
        rank = raw.get("mamba_dt_rank", "auto")
        bias = _flag(raw, "mamba_proj_bias", where, False)
        fields.update(ssm_heads=inner, ssm_head_dim=1, ssm_groups=1, ssm_state=_int(raw, "mamba_d_state", where),
                      ssm_conv_kernel=_int(raw, "mamba_d_conv", where), ssm_norm=False, ssm_inner_norms=True,
                      ssm_dt_rank=-(-width // 16) if rank == "auto" else _int(raw, "mamba_dt_rank", where),
                      ssm_conv_bias=_flag(raw, "mamba_conv_bias", where, True), ssm_in_bias=bias, ssm_out_bias=bias,
                      note=[SSM_NOTE])
    if "moe" in mlps:
        fields.update(n_experts=experts, experts_per_token=chosen)
    return fields, kinds if "mamba" in kinds else None, mlps if "moe" in mlps else None, \
        {*_JAMBA_PATTERN, "num_experts", "num_experts_per_tok", "mamba_expand", "mamba_d_state", "mamba_d_conv",
         "mamba_dt_rank", "mamba_conv_bias", "mamba_proj_bias", "head_dim"}
