"""Key tables of the classes of ``hf_layouts_recent2`` (Granite SWA, Granite MoE SWA, ...), merged into ``hf_keys``'
tables.

Each entry means what the same table of ``hf_keys`` means. What each key means is from transformers 5.24's
``configuration_*.py`` / ``modeling_*.py`` of the class (read, never imported).
"""

from __future__ import annotations

# Granite MoE SWA: Granite MoE Shared's experts (num_local_experts 8 and num_experts_per_tok 2 are defaults of no
# model of its own: required)
MOE_KEYS = {"GraniteMoeSWAForCausalLM": ("num_local_experts", "num_experts_per_tok")}

# Apertus's activation (default xielu, with weights of its own) is read by hf_layouts_recent2.apertus
ACTIVATION_KEYS = {"ApertusForCausalLM": ()}
# up, act, down without a gate (Persimmon's default act is relu2)
PLAIN_MLP = ("PersimmonForCausalLM",)
# The dropouts each class applies in training (named in the card's left_out where nonzero)
DROPOUT_KEYS = {"PersimmonForCausalLM": ("attention_dropout", "hidden_dropout")}

# Keys that change no count, per class: Granite MoE's router settings; norm epsilons; dropouts (named where set)
NEUTRAL_FOR = {
    "GraniteSWAForCausalLM": set(),
    "PersimmonForCausalLM": {"layer_norm_eps", "hidden_dropout"},
    "ApertusForCausalLM": set(),
    "GraniteMoeSWAForCausalLM": {"output_router_logits", "router_aux_loss_coef"},
}
