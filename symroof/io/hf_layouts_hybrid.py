"""Readers for hybrid models whose layers mix softmax attention with linear attention: Qwen3-Next, Qwen3.5.

What each key means and its default is from transformers 5.24's ``configuration_qwen3_next.py`` and
``modeling_qwen3_next.py`` (read, never imported):

- ``layer_types`` lists each layer's mixer, ``linear_attention`` (Gated DeltaNet:
  core/linear_attention.py) or ``full_attention``; absent or null, layer i is full attention when
  (i + 1) is a multiple of ``full_attention_interval`` (default 4; popped from the config's kwargs,
  so read only then). A full-attention layer is Qwen3's attention with its q projection doubled for
  an output gate (attention output · sigmoid(gate), ``attention_output_gate``), per-head q and k
  RMSNorms, RoPE on ``partial_rotary_factor`` of each head (default 0.25) and biases on q, k, v and
  o with ``attention_bias``.
- The linear layers' sizes ``linear_num_key_heads``, ``linear_num_value_heads``,
  ``linear_key_head_dim``, ``linear_value_head_dim`` and ``linear_conv_kernel_dim`` are required
  where a layer is linear: transformers' defaults (16, 32, 128, 128, 4) are its reference model's.
- The MLP is Qwen2-MoE's: layer i sparse unless listed in ``mlp_only_layers`` or (i + 1) is not a
  multiple of ``decoder_sparse_step``; ``num_experts`` experts of ``moe_intermediate_size`` and a
  shared expert of ``shared_expert_intermediate_size`` scaled by a sigmoid gate; dense layers
  have ``intermediate_size``. Its RMSNorms scale by (1 + w): the same D weights.
- The checkpoint's multi-token-prediction weights (``mtp.*``) are not built by transformers
  (``_keys_to_ignore_on_load_unexpected``): named in the card's left_out (hf_keys.LEFT_OUT).
"""

from __future__ import annotations

from fractions import Fraction

from ..errors import CardError
from .hf_layouts import _int, _moe_layers, rotary_pct

LINEAR, FULL = "linear_attention", "full_attention"
_SIZES = {"linear_key_heads": "linear_num_key_heads", "linear_value_heads": "linear_num_value_heads",
          "linear_key_head_dim": "linear_key_head_dim", "linear_value_head_dim": "linear_value_head_dim",
          "linear_conv_kernel": "linear_conv_kernel_dim"}


def _hybrid(raw, n, where):
    """The layer pattern, the gated full attention's RoPE share and the linear layers' sizes: what
    Qwen3-Next and Qwen3.5 read alike."""
    interval = _int(raw, "full_attention_interval", where, 4)
    pattern = [LINEAR if (i + 1) % interval else FULL for i in range(n)]
    if raw.get("layer_types") is not None:
        types = raw["layer_types"]
        if not (isinstance(types, list) and len(types) == n and all(t in (LINEAR, FULL) for t in types)):
            raise CardError(f"{where}: key 'layer_types' must list {n} entries, each '{LINEAR}' or '{FULL}'")
        if raw.get("full_attention_interval") is not None and types != pattern:
            raise CardError(f"{where}: keys 'layer_types' and 'full_attention_interval' ({interval}) disagree; "
                            "transformers reads layer_types and ignores the interval: give one")
        pattern = types
    pct, keys = rotary_pct(raw, where, Fraction(1, 4))
    fields = {"rotary_pct": pct, "attention_output_gate": True}
    if LINEAR in pattern:
        fields.update({ours: _int(raw, key, where) for ours, key in _SIZES.items()})
        if fields["linear_value_heads"] % fields["linear_key_heads"]:
            raise CardError(f"{where}: key 'linear_num_key_heads' ({fields['linear_key_heads']}) must divide "
                            f"'linear_num_value_heads' ({fields['linear_value_heads']})")
        fields["note"] = ["the linear layers' recurrent state counted at the KV cache's width (b_kv); "
                          "transformers keeps it in float32 whatever the weights' dtype"]
    else:
        for key in _SIZES.values():
            _int(raw, key, where, 1)      # unused, but a damaged value is refused
    kinds = ["linear" if t == LINEAR else "global" for t in pattern]
    return fields, kinds if LINEAR in pattern else None, \
        keys | {"layer_types", "full_attention_interval", *_SIZES.values()}


def qwen3_next(raw, n, where):
    fields, kinds, keys = _hybrid(raw, n, where)
    fields.update({"shared_expert_gate": True, "d_ff_expert": _int(raw, "moe_intermediate_size", where),
                   "d_ff_shared": _int(raw, "shared_expert_intermediate_size", where)})
    return fields, kinds, _moe_layers(raw, n, where), \
        keys | {"decoder_sparse_step", "mlp_only_layers", "moe_intermediate_size", "shared_expert_intermediate_size"}


def qwen3_5_text(raw, n, where):
    """Qwen3.5's dense model: Qwen3-Next's layers with one SwiGLU MLP of ``intermediate_size`` in every
    layer (its config drops the MoE keys). Its Gated DeltaNet projects q, k, v (``in_proj_qkv``), z, b
    and a with four matrices where Qwen3-Next fuses two: the same weights and FLOPs per output."""
    fields, kinds, keys = _hybrid(raw, n, where)
    return fields, kinds, None, keys


def qwen3_5_moe_text(raw, n, where):
    """Qwen3.5-MoE: Qwen3-Next's sparse MLP (routed experts of ``moe_intermediate_size``, a sigmoid-gated
    shared expert) in every layer; its config has no ``intermediate_size``, ``decoder_sparse_step`` or
    ``mlp_only_layers``. The experts' width is the card's d_ff."""
    fields, kinds, keys = _hybrid(raw, n, where)
    fields.update({"shared_expert_gate": True, "d_ff": _int(raw, "moe_intermediate_size", where),
                   "d_ff_expert": _int(raw, "moe_intermediate_size", where),
                   "d_ff_shared": _int(raw, "shared_expert_intermediate_size", where)})
    return fields, kinds, ["moe"] * n, keys | {"moe_intermediate_size", "shared_expert_intermediate_size"}
