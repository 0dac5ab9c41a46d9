"""Which ``config.json`` keys MPT, BLOOM, OPT and GPTBigCode read and which change no count (merged into
``hf_keys``' tables; the readers are ``hf_layouts_classic``'s). From transformers 5.24's
``configuration_*.py`` / ``modeling_*.py`` of each class, and the keys their published files carry."""

from __future__ import annotations

# Sizes under their own names; None: no key, the class hard-codes the width (4 x D: hf_layouts_classic)
SPELLING = {
    "MptForCausalLM": {"num_hidden_layers": "n_layers", "hidden_size": "d_model", "num_attention_heads": "n_heads",
                       "intermediate_size": None},
    "BloomForCausalLM": {"num_hidden_layers": "n_layer", "num_attention_heads": "n_head", "intermediate_size": None},
    "OPTForCausalLM": {"intermediate_size": "ffn_dim"},
    "GPTBigCodeForCausalLM": {"num_hidden_layers": "n_layer", "hidden_size": "n_embd", "intermediate_size": "n_inner",
                              "num_attention_heads": "n_head"},
}
FF_FROM_WIDTH = ("GPTBigCodeForCausalLM",)      # n_inner absent or null: 4 x n_embd
PLAIN_MLP = tuple(SPELLING)
ACTIVATION_KEYS = {"MptForCausalLM": (), "BloomForCausalLM": (),    # exact GELU and BLOOM's tanh GELU, hard-coded
                   "OPTForCausalLM": ("activation_function",), "GPTBigCodeForCausalLM": ("activation_function",)}
# The dropouts each applies in training (named in left_out where nonzero: hf_left_out.left_out_notes). MPT's
# attn_pdrop is on the probabilities and both residual branches; its resid_pdrop and emb_pdrop are stored,
# unused. OPT's dropout defaults to 0.1 (hf_layouts_classic.opt_prepare fills it in), GPTBigCode's three to 0.1.
DROPOUT_KEYS = {"MptForCausalLM": ("attn_config.attn_pdrop", "resid_pdrop", "emb_pdrop"),
                "BloomForCausalLM": ("attention_dropout", "hidden_dropout"),
                "OPTForCausalLM": ("dropout", "attention_dropout"),
                "GPTBigCodeForCausalLM": ("attn_pdrop", "resid_pdrop", "embd_pdrop")}
DROPOUT_DEFAULT = {"GPTBigCodeForCausalLM": 0.1}
# Keys that change no count: norm eps, initialisation, kernel and numerics switches, and the original
# training code's settings found in the published files (MPT's init_config, verbose and tokenizer_name; BLOOM's
# Megatron-DeepSpeed fusions, offset_alibi and unk_token_id; GPT-2's sequence-summary keys in SantaCoder's file)
NEUTRAL_FOR = {
    "MptForCausalLM": {"layer_norm_epsilon", "init_config", "verbose", "tokenizer_name", "resid_pdrop", "emb_pdrop",
                       "attn_config.attn_pdrop"},
    "BloomForCausalLM": {"layer_norm_epsilon", "hidden_dropout", "attention_softmax_in_fp32", "bias_dropout_fusion",
                         "masked_softmax_fusion", "offset_alibi", "skip_bias_add", "skip_bias_add_qkv", "unk_token_id"},
    "OPTForCausalLM": {"init_std"},
    "GPTBigCodeForCausalLM": {"layer_norm_epsilon", "attn_pdrop", "resid_pdrop", "embd_pdrop", "scale_attn_weights",
                              "attention_softmax_in_fp32", "scale_attention_softmax_in_fp32", "summary_type",
                              "summary_use_proj", "summary_activation", "summary_proj_to_labels",
                              "summary_first_dropout"},
}
