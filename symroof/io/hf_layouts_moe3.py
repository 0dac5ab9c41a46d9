"""Readers for more MoE classes: PhiMoE, Granite MoE and Granite MoE with a shared expert.

Each reader takes the parsed ``config.json`` and returns the card fields it decides, the per-layer
attention and MLP kinds, and the config keys it read, as ``hf_layouts``' do. What a key means and
its default is from transformers 5.x's ``configuration_*.py`` / ``modeling_*.py`` of the class
(read, never imported):

- PhiMoE (``PhimoeForCausalLM``, Phi-3.5-MoE): Mixtral's layer (every layer MoE, experts of width
  ``intermediate_size``, a router without a bias) with LayerNorms (weight and bias),
  ``attention_bias`` on q, k, v and o and ``lm_head_bias`` on the head. Its router (``sparsemixer``)
  picks two experts per token whatever ``num_experts_per_tok`` says, so another number is refused
  (``hf_keys_moe.MOE_CHOSEN_FIXED``). Every layer slides when ``sliding_window`` is set (default
  None). ``input_jitter_noise`` scales the MLP's input in training (elementwise) and is named where
  set; ``hidden_dropout``, in Phi-3.5-MoE's file, is never read by transformers' class (only 0 is
  accepted: the original code's dropout would be one the card does not train with).
- Granite MoE (``GraniteMoeForCausalLM``): Granite's layer and scalar multipliers
  (``hf_layouts.granite``) with experts on every layer of width ``intermediate_size`` and a router
  without a bias (``block_sparse_moe``). Granite MoE Shared (``GraniteMoeSharedForCausalLM``) adds
  to each a shared gated MLP of ``shared_intermediate_size`` (``input_linear``, gate and up in one
  matrix, and ``output_linear``; no gate on its output); 0, the default, builds none.
"""

from __future__ import annotations

from ..errors import CardError
from .hf_layouts import _int, _short, granite, mistral


def phimoe(raw, n, where):
    fields, kinds, _, keys = mistral(raw, n, where)
    lm_head_bias = raw.get("lm_head_bias", False)
    if not isinstance(lm_head_bias, bool):
        raise CardError(f"{where}: key 'lm_head_bias' must be true or false, got {_short(lm_head_bias)}")
    fields = {**fields, "norm": "layer", "head_bias": lm_head_bias}
    jitter = raw.get("input_jitter_noise", 0.0)
    if isinstance(jitter, bool) or not isinstance(jitter, (int, float)) or not 0 <= jitter < 1:
        raise CardError(f"{where}: key 'input_jitter_noise' must be a number from 0 to below 1, got {_short(jitter)}")
    if jitter:
        fields["note"] = (f"input_jitter_noise ({jitter}): its elementwise scaling of each MLP's input in training "
                          "is not counted")
    return fields, kinds, None, keys | {"lm_head_bias", "input_jitter_noise"}


def granite_moe(raw, n, where):
    return granite(raw, n, where)


def granite_moe_shared(raw, n, where):
    fields, kinds, mlps, keys = granite(raw, n, where)
    shared = _int(raw, "shared_intermediate_size", where, 0, minimum=0)
    if shared:
        fields["d_ff_shared"] = shared
    return fields, kinds, mlps, keys | {"shared_intermediate_size"}
