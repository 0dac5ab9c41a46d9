"""Key tables of Qwen3.5 (``Qwen3_5ForCausalLM``, model_type ``qwen3_5_text``) and Qwen3.5-MoE
(``Qwen3_5MoeForCausalLM``, ``qwen3_5_moe_text``), merged into ``hf_keys``' tables.

From transformers 5.24's ``configuration_qwen3_5.py``, ``configuration_qwen3_5_moe.py`` and their
``modeling_*.py`` (read, never imported). The published files carry keys of Qwen's own code that
transformers never reads: ``attn_output_gate`` (transformers' attention always gates its output),
``mtp_num_hidden_layers`` / ``mtp_use_dedicated_embeddings`` (the multi-token-prediction weights,
``mtp.*``, are not built: ``_keys_to_ignore_on_load_unexpected``; named in LEFT_OUT) and
``mamba_ssm_dtype`` (the recurrent state's dtype; the card's note names the width it is counted at).
"""

from __future__ import annotations

DENSE, MOE = "Qwen3_5ForCausalLM", "Qwen3_5MoeForCausalLM"
_MTP = {"mtp_num_hidden_layers", "mtp_use_dedicated_embeddings", "mamba_ssm_dtype"}

MOE_KEYS = {MOE: ("num_experts", "num_experts_per_tok")}   # required: 256 and 8 are a reference model's
# Qwen3.5-MoE's config has no intermediate_size (its experts' width is moe_intermediate_size: hf_layouts_hybrid)
SPELLING = {MOE: {"intermediate_size": None}}
NEUTRAL_FOR = {
    DENSE: set(_MTP),
    # router_aux_loss_coef and output_router_logits set the training loss, not a count; its router always
    # normalises its top-k weights (Qwen3-VL-MoE's router), so norm_topk_prob is never read; intermediate_size
    # is not a field of its config and no module reads it
    MOE: _MTP | {"router_aux_loss_coef", "output_router_logits", "norm_topk_prob", "intermediate_size"},
}


def _gated(value, raw) -> bool:
    return value is None or value is True


def _none_or_empty(value, raw) -> bool:
    return value in (None, [])


def _one(value, raw) -> bool:
    return value is None or (type(value) is int and value == 1)


_GATE = {"attn_output_gate": (_gated, "true or null", "transformers' Qwen3.5 attention always gates its output")}
NEUTRAL_ONLY_FOR = {
    DENSE: {**_GATE, "mlp_only_layers": (_none_or_empty, "[] or null",
                                         "Qwen3.5 has no experts: every layer's MLP is dense whatever it lists")},
    MOE: {**_GATE,
          "mlp_only_layers": (_none_or_empty, "[] or null",
                              "transformers' Qwen3.5-MoE builds experts in every layer (it does not read the key)"),
          "decoder_sparse_step": (_one, "1 or null",
                                  "transformers' Qwen3.5-MoE builds experts in every layer (it does not read the key)")},
}
_NOTE = "multi-token-prediction weights of the checkpoint (mtp.*) not counted: transformers does not build them"
LEFT_OUT = {DENSE: _NOTE, MOE: _NOTE}
