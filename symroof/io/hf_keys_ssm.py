"""Key tables of the classes with Mamba-2 mixers (hf_layouts_ssm), merged into ``hf_keys``' tables.

From transformers 5.24's ``configuration_*.py`` and ``modeling_*.py`` of each class (read, never imported).
"""

from __future__ import annotations

NEMOTRON_H, FALCON_H1 = "NemotronHForCausalLM", "FalconH1ForCausalLM"
BAMBA, GRANITE_4 = "BambaForCausalLM", "GraniteMoeHybridForCausalLM"
MAMBA2, MAMBA, JAMBA = "Mamba2ForCausalLM", "MambaForCausalLM", "JambaForCausalLM"
_MAMBA_NEUTRAL = {
    # numerics, init and kernels: no count (the ones a run's numbers could depend on are named in left_out by
    # the layout: time_step_limit, time_step_min/max/floor, mamba_ssm_cache_dtype, residual_in_fp32)
    "time_step_limit", "time_step_min", "time_step_max", "time_step_floor", "time_step_rank",
    "mamba_ssm_cache_dtype", "residual_in_fp32", "rescale_prenorm_residual", "use_mamba_kernels",
    "chunk_size",            # the chunked scan's block length: the same outputs (core/ssm.py counts the recurrence)
    "mamba_hidden_act",      # the conv's and the gate's activation: one elementwise op either way
    "num_logits_to_keep",    # generation: logits of the last token only
}
NEUTRAL_FOR = {
    NEMOTRON_H: _MAMBA_NEUTRAL | {
        "layer_norm_epsilon", "hidden_dropout",      # hidden_dropout: not read by NemotronHModel
        "attention_bias",       # NemotronHAttention hard-codes bias=False on q, k, v and o
        "expand", "mamba_proj_bias",      # not read by the 5.24 mixer (d_inner = heads x head_dim; use_bias)
        # the MoE layers' routing (which experts, how weighted) and training loss: no count; n_shared_experts is not
        # read (the shared expert's width is moe_shared_expert_intermediate_size); moe_latent_size is read (null)
        "n_shared_experts", "moe_shared_expert_overlap", "moe_latent_size",
        "routed_scaling_factor", "n_group", "topk_group", "norm_topk_prob", "output_router_logits",
        "router_aux_loss_coef",
        # multi-token prediction: not built by transformers (named in left_out where set: hf_layouts_ssm)
        "num_nextn_predict_layers", "mtp_layers_block_type", "mtp_hybrid_override_pattern"},
}
NEUTRAL_FOR[FALCON_H1] = _MAMBA_NEUTRAL | {"mamba_chunk_size"}     # the chunked scan's block length
NEUTRAL_FOR[BAMBA] = _MAMBA_NEUTRAL | {"mamba_chunk_size", "z_loss_coefficient"}     # z-loss: the training loss
NEUTRAL_FOR[GRANITE_4] = _MAMBA_NEUTRAL | {"mamba_chunk_size", "output_router_logits", "router_aux_loss_coef"}
# Mamba-2: hidden_act is its conv's and gate's activation (no MLP); layer_norm_epsilon its norms' eps
NEUTRAL_FOR[MAMBA2] = _MAMBA_NEUTRAL | {"layer_norm_epsilon", "hidden_act"}
# Mamba-2 names its heads num_heads and has no MLP (hf_layouts_ssm.mamba2 gives the card's d_ff)
# Mamba (Mamba-1): the same, and its init settings and scan switches (the same outputs)
NEUTRAL_FOR[MAMBA] = NEUTRAL_FOR[MAMBA2] | {"time_step_scale", "time_step_init_scheme", "use_mambapy",
                                            "use_associative_scan"}
# Jamba: its router's loss and the scan's switches; num_local_experts is its attribute_map's name for num_experts
NEUTRAL_FOR[JAMBA] = _MAMBA_NEUTRAL | {"output_router_logits", "router_aux_loss_coef", "use_mambapy",
                                       "use_associative_scan"}
SPELLING = {MAMBA2: {"num_attention_heads": "num_heads", "intermediate_size": None},
            MAMBA: {"num_attention_heads": None, "intermediate_size": None}}    # hf_layouts_ssm.mamba gives both
ACTIVATION_KEYS = {NEMOTRON_H: ("mlp_hidden_act",), MAMBA2: (), MAMBA: ()}
PLAIN_MLP = (NEMOTRON_H,)


def _null(value, raw) -> bool:
    return value is None


_TRUE = (lambda value, raw: value in (None, True), "true or null")
NEUTRAL_ONLY_FOR = {
    # the original mamba_ssm code's switches, in published Mamba-2 files; transformers' mixer always norms, gate first
    MAMBA2: {"rms_norm": (*_TRUE, "transformers' Mamba2Mixer always builds its gated RMSNorm"),
             "norm_before_gate": (lambda value, raw: value in (None, False), "false or null",
                                  "transformers' gated RMSNorm gates before it norms")},
    NEMOTRON_H: {"sliding_window": (_null, "null", "NemotronHAttention has no sliding window")},
    # BambaConfig's __post_init__ sets 0.5 whatever the file says
    BAMBA: {"partial_rotary_factor": (lambda value, raw: value in (None, 0.5) and not isinstance(value, bool),
                                      "0.5 or null", "Bamba rotates half of each head whatever the key says")},
    # in published Granite 4.0 files, from IBM's own code; transformers builds RMSNorms
    GRANITE_4: {"normalization_function": (lambda value, raw: value in (None, "rmsnorm"), "'rmsnorm' or null",
                                           "transformers' GraniteMoeHybrid builds RMSNorms")},
}
