"""Key tables of the MoE classes added after ``hf_keys`` (read by ``hf.py`` through ``hf_keys``, which merges them).

Kept apart so that ``hf_keys`` stays short; each entry means what the same table of ``hf_keys`` means.
What each key means is from transformers 5.x's ``configuration_*.py`` / ``modeling_*.py`` of the class.
"""

from __future__ import annotations

# (total experts, experts per token): both required, their defaults being a reference model's constants
MOE_KEYS = {"MiniMaxM2ForCausalLM": ("num_local_experts", "num_experts_per_tok"),
            "Qwen3VLMoeTextModel": ("num_experts", "num_experts_per_tok"),
            "Dots1ForCausalLM": ("n_routed_experts", "num_experts_per_tok"),
            "Ernie4_5_MoeForCausalLM": ("moe_num_experts", "moe_k"),
            "PhimoeForCausalLM": ("num_local_experts", "num_experts_per_tok"),
            "GraniteMoeForCausalLM": ("num_local_experts", "num_experts_per_tok"),
            "GraniteMoeSharedForCausalLM": ("num_local_experts", "num_experts_per_tok"),
            "HunYuanMoEV1ForCausalLM": ("num_experts", "moe_topk"),      # defaults 1 and 1: required
            "DbrxForCausalLM": ("ffn_config.moe_num_experts", "ffn_config.moe_top_k")}     # 4 and 1: required
# Classes whose router picks a fixed number of experts whatever the key says: absent is that number, and
# another is refused (PhiMoE's sparsemixer always picks two)
MOE_CHOSEN_FIXED = {"PhimoeForCausalLM": 2}
# transformers' attribute_map aliases: one number under either name
MOE_ALIAS = {"MiniMaxM2ForCausalLM": "num_experts", "Qwen3VLMoeTextModel": "num_local_experts",
             "Dots1ForCausalLM": "num_local_experts", "Ernie4_5_MoeForCausalLM": "num_experts",
             "HunYuanMoEV1ForCausalLM": "num_local_experts"}
# ... and of the experts-per-token key
MOE_CHOSEN_ALIAS = {"Ernie4_5_MoeForCausalLM": "num_experts_per_tok", "HunYuanMoEV1ForCausalLM": "num_experts_per_tok"}
# Keys that change no count in each class: router settings and losses (routing is elementwise), and the
# published MiniMax-M2 files' scoring_func and use_routing_bias (transformers' class reads neither: its
# router is a sigmoid with a correction-bias buffer whatever they say)
NEUTRAL_FOR = {
    "MiniMaxM2ForCausalLM": {"output_router_logits", "router_aux_loss_coef", "router_jitter_noise",
                             "scoring_func", "use_routing_bias"},
    # read only inside Qwen3VLForConditionalGeneration / Qwen3VLMoeForConditionalGeneration (hf_wrappers);
    # norm_topk_prob is in the published Qwen3-VL-MoE files (5.x's config class has no such field)
    "Qwen3VLTextModel": set(),
    "Qwen3VLMoeTextModel": {"norm_topk_prob", "router_aux_loss_coef", "output_router_logits"},
    "Dots1ForCausalLM": {"n_group", "topk_group", "norm_topk_prob", "routed_scaling_factor", "output_router_logits"},
    "Ernie4_5_MoeForCausalLM": {"moe_norm_min", "output_router_logits", "router_aux_loss_coef"},
    "Ernie4_5ForCausalLM": set(),
    # PhiMoE: router_jitter_noise only shifts which experts win; original_max_position_embeddings is RoPE's
    "PhimoeForCausalLM": {"output_router_logits", "router_aux_loss_coef", "router_jitter_noise",
                          "original_max_position_embeddings"},
    "GraniteMoeForCausalLM": {"output_router_logits", "router_aux_loss_coef"},
    "GraniteMoeSharedForCausalLM": {"output_router_logits", "router_aux_loss_coef"},
    # HunYuan MoE: eod_token_id is a token id; pretraining_tp (LLaMA's) is never read by its code
    "HunYuanMoEV1ForCausalLM": {"output_router_logits", "eod_token_id", "pretraining_tp"},
    # DBRX: max_seq_len is max_position_embeddings (its attribute_map); moe_loss_weight and router_aux_loss_coef
    # weigh the auxiliary loss (hf_layouts_moe4.dbrx checks moe_loss_weight and moe_normalize_expert_weights are
    # numbers: the latter's p-norm of the chosen weights is elementwise)
    # (its dropouts are named in left_out: hf_left_out.DROPOUT_KEYS)
    "DbrxForCausalLM": {"max_seq_len", "output_router_logits", "router_aux_loss_coef", "resid_pdrop", "emb_pdrop",
                        "attn_config.attn_pdrop"},
}


def _one_or_all(expected):
    """A value, or a list of it (one per layer), equal to ``expected(raw)``; null as absent."""
    def accepts(value, raw):
        want = expected(raw)
        values = value if isinstance(value, list) and value else [value]
        return value is None or all(type(v) is type(want) and v == want for v in values)
    return accepts


def _on(value, raw) -> bool:
    return value is None or value is True


# Per class, keys accepted only at a value that changes nothing counted (merged into hf_keys.NEUTRAL_ONLY_FOR).
# HunYuan MoE: the original checkpoint's switches, in its files; transformers 5.24's class reads none of them and
# builds per-head q/k norms, one ungated shared MLP and experts of intermediate_size, no MLP bias, and its own
# k and v (and cache) in every layer: no cross-layer attention (CLA) whatever use_cla says
NEUTRAL_ONLY_FOR = {
    "HunYuanMoEV1ForCausalLM": {
        "use_cla": (lambda value, raw: value in (None, False), "false",
                    "transformers' HunYuan MoE builds no cross-layer attention (every layer its own k, v and cache)"),
        "cla_share_factor": (lambda value, raw: raw.get("use_cla") in (None, False) and
                             (value is None or (type(value) is int and value > 0)),
                             "null or a positive integer, with use_cla false", "it sets cross-layer attention"),
        "use_qk_norm": (_on, "true", "transformers always builds the q and k norms"),
        "use_mixed_mlp_moe": (_on, "true", "transformers always builds the shared MLP"),
        "num_shared_expert": (_one_or_all(lambda raw: 1), "1 (or one per layer)",
                              "transformers builds one shared MLP of intermediate_size"),
        "moe_intermediate_size": (_one_or_all(lambda raw: raw.get("intermediate_size")),
                                  "intermediate_size (or it per layer)",
                                  "transformers' experts are intermediate_size wide"),
        "mlp_bias": (lambda value, raw: value in (None, False), "false", "transformers builds no MLP bias"),
        "attention_head_dim": (_one_or_all(lambda raw: raw.get("head_dim")), "head_dim",
                               "transformers reads head_dim"),
    },
}
