"""Key tables of the classes of ``hf_layouts_recent3`` (CWM, FlexOlmo, ...), merged into ``hf_keys``' tables.

Each entry means what the same table of ``hf_keys`` means. What each key means is from transformers 5.24's
``configuration_*.py`` / ``modeling_*.py`` of the class (read, never imported).
"""

from __future__ import annotations

from . import hf_keys_ssm

# FlexOlmo: every layer MoE; num_experts (aliased as num_local_experts by its attribute_map) and num_experts_per_tok
# fall back to 7 and 5, FlexOlmo-7x7B-1T's: required
MOE_KEYS = {"FlexOlmoForCausalLM": ("num_experts", "num_experts_per_tok"),
            "AfmoeForCausalLM": ("num_experts", "num_experts_per_tok")}      # AFMoE: 64 and 6, required
MOE_ALIAS = {"FlexOlmoForCausalLM": "num_local_experts"}

# FalconMamba: Mamba's spelling (no heads or MLP width: hf_layouts_ssm.mamba gives both) and activation (its conv's and
# gate's, read as Mamba's: not an MLP's)
FALCON_MAMBA = "FalconMambaForCausalLM"
SPELLING = {FALCON_MAMBA: {"num_attention_heads": None, "intermediate_size": None}}
ACTIVATION_KEYS = {FALCON_MAMBA: ()}

# BitNet: its activation (default relu2, applied to the gate of its gated MLP) is read by hf_layouts_recent3.bitnet
BITNET = "BitNetForCausalLM"
ACTIVATION_KEYS[BITNET] = ()
# Its weights: what transformers builds (Linear weights, one parameter each) is counted; the ternary storage is named
LEFT_OUT = {BITNET: "ternary weights (BitNet b1.58: each -1, 0 or 1, times a scale) not modelled: counted as one "
                    "parameter each, their bytes at the command's weight dtype, not 1.58 bits (transformers' "
                    "BitNetForCausalLM builds Linear weights; its BitNet quantizer stores four to a byte)"}

# Keys that change no count, per class. CWM: its attention hard-codes bias=False (an attention_bias key is never
# read), pretraining_tp is LLaMA's, never read. FlexOlmo: its router's normalisation and training loss.
NEUTRAL_FOR = {
    "CwmForCausalLM": {"attention_bias", "pretraining_tp"},
    "FlexOlmoForCausalLM": {"norm_topk_prob", "router_aux_loss_coef", "output_router_logits"},
    BITNET: set(),
    "AfmoeForCausalLM": {"output_router_logits"},
    # Youtu: RoPE's pair order (no count) and its embeddings' initialisation
    "YoutuForCausalLM": {"rope_interleave", "embedding_initializer_range"},
}
# FalconMamba: Mamba's (hf_keys_ssm), its mixer norms' epsilon, and the 4.x name of use_mambapy (the same scan)
NEUTRAL_FOR[FALCON_MAMBA] = hf_keys_ssm.NEUTRAL_FOR[hf_keys_ssm.MAMBA] | {"mixer_rms_eps", "use_falcon_mambapy"}
