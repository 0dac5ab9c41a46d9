"""Key tables of Liquid AI's LFM2 classes (hf_layouts_lfm2), merged into ``hf_keys``' tables.

From transformers 5.24's ``configuration_lfm2*.py`` and ``modeling_lfm2*.py`` (read, never imported). Published LFM2
files also carry the original code's own keys, which transformers keeps as attributes and never reads: accepted
only where they agree with what it builds (NEUTRAL_ONLY_FOR), or neutral (init and eps).
"""

from __future__ import annotations

LFM2, LFM2_MOE = "Lfm2ForCausalLM", "Lfm2MoeForCausalLM"

_NEUTRAL = {
    "norm_eps",              # the RMSNorms' eps
    # the original code's init settings and its norms' eps
    "block_norm_eps", "block_mlp_init_scale", "block_out_init_scale", "block_use_xavier_init", "conv_use_xavier_init",
}
NEUTRAL_FOR = {LFM2: set(_NEUTRAL),
               # the router's weights (how the top k are weighted and scaled) and its training loss: no count
               LFM2_MOE: _NEUTRAL | {"routed_scaling_factor", "norm_topk_prob", "output_router_logits"}}
ACTIVATION_KEYS = {LFM2: (), LFM2_MOE: ()}       # SiLU hard-coded in the MLPs and experts; no activation key
MOE_KEYS = {LFM2_MOE: ("num_experts", "num_experts_per_tok")}    # both required: the defaults are LFM2-8B-A1B's


def _width(value, raw) -> bool:
    return value is None or (type(value) is int and value == raw.get("hidden_size"))


def _true(value, raw) -> bool:
    return value in (None, True)


_ORIGINAL = {
    "block_dim": (_width, "hidden_size (or null)", "transformers builds every block of hidden_size"),
    "conv_dim": (_width, "hidden_size (or null)", "transformers' short conv has hidden_size channels"),
    "conv_dim_out": (_width, "hidden_size (or null)", "transformers' short conv projects back to hidden_size"),
    "num_heads": (lambda value, raw: value is None or (type(value) is int and value == raw.get("num_attention_heads")),
                  "num_attention_heads (or null)", "transformers reads num_attention_heads"),
    "block_use_swiglu": (_true, "true or null", "transformers' Lfm2MLP is always SwiGLU"),
    "use_pos_enc": (_true, "true or null", "transformers' attention layers always apply RoPE"),
}
NEUTRAL_ONLY_FOR = {LFM2: dict(_ORIGINAL), LFM2_MOE: dict(_ORIGINAL)}
