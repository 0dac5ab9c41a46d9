"""Key tables of the classes of ``hf_layouts_recent`` (VaultGemma, HunYuan Dense, ...), merged into ``hf_keys``'
tables.

Each entry means what the same table of ``hf_keys`` means. What each key means is from transformers 5.24's
``configuration_*.py`` / ``modeling_*.py`` of the class (read, never imported).
"""

from __future__ import annotations

# VaultGemma's MLP reads hidden_activation (Gemma 2's names: hidden_act checked as Gemma 2's is)
ACTIVATION_KEYS = {"VaultGemmaForCausalLM": ("hidden_activation", "hidden_act")}

# Solar Open has no intermediate_size (its layout reader gives the card's d_ff); its experts' keys (both required:
# the defaults, 128 and 8, are Solar-Open-100B's), n_routed_experts aliased as num_local_experts (attribute_map)
SPELLING = {"SolarOpenForCausalLM": {"intermediate_size": None}}
MOE_KEYS = {"SolarOpenForCausalLM": ("n_routed_experts", "num_experts_per_tok"),
            "Cohere2MoeForCausalLM": ("num_experts", "num_experts_per_tok"),       # defaults 8 and 2: required
            "ExaoneMoeForCausalLM": ("num_experts", "num_experts_per_tok")}        # 64 and 8: required
MOE_ALIAS = {"SolarOpenForCausalLM": "num_local_experts"}
# up, act, down without a gate (Jais 2's default act is relu2)
PLAIN_MLP = ("Jais2ForCausalLM",)

# Keys that change no count, per class. VaultGemma: Gemma 2's (query_pre_attn_scalar scales the scores, the
# soft-caps are named in left_out by the reader); its attention is causal whatever use_bidirectional_attention says
# (5.24 hard-codes is_causal), so that key is refused only by the generic rule. HunYuan Dense: eod_token_id is a
# token id, pretraining_tp (LLaMA's) is never read by its code. Solar Open: GLM-4.5's router settings (group
# selection, scaling, normalisation: no weights).
NEUTRAL_FOR = {
    "VaultGemmaForCausalLM": {"query_pre_attn_scalar", "final_logit_softcapping", "attn_logit_softcapping",
                              "cache_implementation", "mlp_bias"},
    "HunYuanDenseV1ForCausalLM": {"eod_token_id", "pretraining_tp"},
    "Jais2ForCausalLM": {"layer_norm_eps"},
    # Cohere 2 MoE: its router's normalisation switch; the norm epsilons (rms_norm_eps also chooses the norm kind,
    # the same D weights: hf_layouts_recent.cohere2_moe names it)
    "Cohere2MoeForCausalLM": {"layer_norm_eps", "norm_topk_prob", "output_router_logits"},
    "ExaoneMoeForCausalLM": {"n_group", "topk_group", "norm_topk_prob", "routed_scaling_factor", "output_router_logits"},
    "SolarOpenForCausalLM": {"n_group", "topk_group", "norm_topk_prob", "routed_scaling_factor", "output_router_logits"},
}


def _off(value, raw) -> bool:
    return value is None or value is False


def _on(value, raw) -> bool:
    return value is None or value is True


# HunYuan Dense: the original checkpoint's switches (Hunyuan-7B's files carry HunYuan MoE's); transformers 5.24's
# class reads none of them and builds per-head q/k norms, a gated MLP without bias and its own k and v (and cache)
# in every layer: no cross-layer attention
NEUTRAL_ONLY_FOR = {
    "HunYuanDenseV1ForCausalLM": {
        "use_cla": (_off, "false", "transformers' HunYuan Dense builds no cross-layer attention"),
        "cla_share_factor": (lambda value, raw: raw.get("use_cla") in (None, False) and
                             (value is None or (type(value) is int and value > 0)),
                             "null or a positive integer, with use_cla false", "it sets cross-layer attention"),
        "use_qk_norm": (_on, "true", "transformers always builds the q and k norms"),
        "mlp_bias": (_off, "false", "transformers builds no MLP bias"),
        "attention_head_dim": (lambda value, raw: value is None or (type(value) is int and value == raw.get("head_dim")),
                               "head_dim", "transformers reads head_dim"),
    },
}
