"""Key tables of the classes of ``hf_layouts_classic2`` (GPT-J, CodeGen, StableLM, Nemotron, OLMo 1, GPT-Neo),
merged into ``hf_keys``' tables (and the dropout keys into ``hf_left_out.DROPOUT_KEYS``).

Each entry means what the same table of ``hf_keys`` means. What each key means is from transformers 5.24's
``configuration_*.py`` / ``modeling_*.py`` of the class (read, never imported).
"""

from __future__ import annotations

_GPT = {"num_hidden_layers": "n_layer", "hidden_size": "n_embd", "intermediate_size": "n_inner",
        "num_attention_heads": "n_head"}
# GPT-J and CodeGen spell their sizes as GPT-2 does (their attribute_map); GPT-Neo has num_layers / num_heads
SPELLING = {"GPTJForCausalLM": _GPT, "CodeGenForCausalLM": _GPT,
            "GPTNeoForCausalLM": {"num_hidden_layers": "num_layers", "num_attention_heads": "num_heads",
                                  "intermediate_size": "intermediate_size"}}
# their MLP width, absent or null: 4 x hidden (n_inner; GPT-Neo's intermediate_size)
FF_FROM_WIDTH = ("GPTJForCausalLM", "CodeGenForCausalLM", "GPTNeoForCausalLM")
ACTIVATION_KEYS = {name: ("activation_function",) for name in FF_FROM_WIDTH}
# up, act, down without a gate (Nemotron's default act is relu2: relu(x)^2)
PLAIN_MLP = ("GPTJForCausalLM", "CodeGenForCausalLM", "GPTNeoForCausalLM", "NemotronForCausalLM")
# The dropouts each class applies in training (named in the card's left_out where nonzero)
DROPOUT_KEYS = {"GPTJForCausalLM": ("attn_pdrop", "resid_pdrop", "embd_pdrop"),
                "CodeGenForCausalLM": ("attn_pdrop", "resid_pdrop", "embd_pdrop"),
                "StableLmForCausalLM": ("attention_dropout", "hidden_dropout"),
                "GPTNeoForCausalLM": ("attention_dropout", "resid_dropout", "embed_dropout")}

# Keys that change no count, per class: norm epsilons, dropouts (named where set), CodeGen's n_ctx (unused:
# "kept for backward compatibility"), GPT-Neo's classifier_dropout (its classification head's only).
NEUTRAL_FOR = {
    "GPTJForCausalLM": {"layer_norm_epsilon", "attn_pdrop", "resid_pdrop", "embd_pdrop"},
    "CodeGenForCausalLM": {"layer_norm_epsilon", "attn_pdrop", "resid_pdrop", "embd_pdrop", "n_ctx"},
    "StableLmForCausalLM": {"layer_norm_eps", "hidden_dropout"},
    "NemotronForCausalLM": {"norm_eps"},
    "OlmoForCausalLM": set(),
    "GPTNeoForCausalLM": {"layer_norm_epsilon", "resid_dropout", "embed_dropout", "classifier_dropout"},
}
