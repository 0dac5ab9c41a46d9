"""Which ``config.json`` keys each Hugging Face class reads, and which change no count.

``hf.py`` reads a config through these tables: every key of a config must be read (a size, a
flag, a layout key of ``hf_layouts``), neutral for every class or for its class, or accepted only
at a value that changes nothing counted (``NEUTRAL_ONLY``). What a key means is from
transformers' own ``configuration_*.py`` and ``modeling_*.py`` of each class (read, never imported).
"""

from __future__ import annotations

from . import hf_keys_classic2, hf_keys_moe

# Keys read as sizes; each must be a positive JSON integer. GPT-2 spells them its own way.
MAX_LAYERS = 10**6          # a config lists its layers one by one; real models have hundreds
SIZE_KEYS = ("num_hidden_layers", "hidden_size", "intermediate_size", "num_attention_heads", "vocab_size")
SPELLING = {"GPT2LMHeadModel": {"num_hidden_layers": "n_layer", "hidden_size": "n_embd",
                                "intermediate_size": "n_inner", "num_attention_heads": "n_head"},
            "FalconForCausalLM": {"intermediate_size": "ffn_hidden_size"},
            # DBRX's sub-configs read as dotted keys (hf_layouts_moe4.dbrx_prepare)
            "DbrxForCausalLM": {"num_hidden_layers": "n_layers", "hidden_size": "d_model", "num_attention_heads": "n_heads",
                                "intermediate_size": "ffn_config.ffn_hidden_size",
                                "num_key_value_heads": "attn_config.kv_n_heads"}}
FF_FROM_WIDTH = ("GPT2LMHeadModel", "FalconForCausalLM")    # their MLP width, absent or null: 4 x hidden
FLAG_DEFAULT = False         # transformers' default for attention_bias and mlp_bias, unless the row says otherwise
MOE_KEYS = {"MixtralForCausalLM": ("num_local_experts", "num_experts_per_tok"),   # both required: defaults are constants
            "Qwen3MoeForCausalLM": ("num_experts", "num_experts_per_tok"),
            "DeepseekV2ForCausalLM": ("n_routed_experts", "num_experts_per_tok"),
            "DeepseekV3ForCausalLM": ("n_routed_experts", "num_experts_per_tok"),
            "DeepseekV32ForCausalLM": ("n_routed_experts", "num_experts_per_tok"),
            "Qwen2MoeForCausalLM": ("num_experts", "num_experts_per_tok"),
            "GptOssForCausalLM": ("num_local_experts", "num_experts_per_tok"),
            "Llama4ForCausalLM": ("num_local_experts", "num_experts_per_tok"),
            "Glm4MoeForCausalLM": ("n_routed_experts", "num_experts_per_tok"),
            "OlmoeForCausalLM": ("num_experts", "num_experts_per_tok"),
            "Qwen3NextForCausalLM": ("num_experts", "num_experts_per_tok"),
            **hf_keys_moe.MOE_KEYS}
# transformers 5.x aliases Qwen3-MoE's num_experts to num_local_experts, the key its save_pretrained writes.
MOE_ALIAS = {"Qwen3MoeForCausalLM": "num_local_experts", "GptOssForCausalLM": "num_experts",   # gpt-oss: the other way
             "Glm4MoeForCausalLM": "num_local_experts", "OlmoeForCausalLM": "num_local_experts",
             "DeepseekV32ForCausalLM": "num_local_experts",      # its attribute_map
             **hf_keys_moe.MOE_ALIAS}
MOE_CHOSEN_ALIAS = hf_keys_moe.MOE_CHOSEN_ALIAS     # the same for the experts-per-token key
MOE_CHOSEN_FIXED = hf_keys_moe.MOE_CHOSEN_FIXED     # routers that pick a fixed number whatever the key says
ACTIVATION_KEYS = {"Gemma2ForCausalLM": ("hidden_activation", "hidden_act"),   # others: ("hidden_act",)
                   "Gemma3ForCausalLM": ("hidden_activation", "hidden_act"),
                   "GPT2LMHeadModel": ("activation_function",),
                   "GptOssForCausalLM": (),       # its experts' clamped SwiGLU is hard-coded; hidden_act is not read
                   "FalconForCausalLM": ("activation",),
                   "DbrxForCausalLM": ("ffn_config.ffn_act_fn.name",)}      # absent: silu
# A gated MLP is act(gate(x)) * up(x) (SwiGLU, GeGLU); a plain one act(up(x)) (GPT-2, GPT-NeoX, Phi, StarCoder2).
PLAIN_MLP = ("GPT2LMHeadModel", "GPTNeoXForCausalLM", "PhiForCausalLM", "Starcoder2ForCausalLM", "FalconForCausalLM",
             "ArceeForCausalLM")
GATED_ACTIVATIONS = ("silu", "swish", "gelu", "gelu_new", "gelu_fast", "gelu_pytorch_tanh")
PLAIN_ACTIVATIONS = ("gelu", "gelu_new", "gelu_fast", "gelu_pytorch_tanh", "relu", "silu", "quick_gelu",
                     "relu2")        # relu2: relu(x)^2 (ACT2FN's ReLUSquaredActivation), Arcee's default

# Keys that change no parameter, FLOP or byte we count, in every class hf.ROWS reads: metadata, generation
# settings, initialisation, RoPE, norm eps, token ids; and keys named in the card's left_out where
# set (hf_left_out.left_out_notes): dropout, the checkpoint's own modelling code, its storage format.
NEUTRAL = frozenset("""
    architectures model_type transformers_version torch_dtype dtype use_cache initializer_range
    max_position_embeddings rms_norm_eps rope_theta rope_scaling rope_parameters attention_dropout
    bos_token_id eos_token_id pad_token_id sep_token_id decoder_start_token_id
    return_dict output_hidden_states output_attentions torchscript use_bfloat16 tf_legacy_loss
    chunk_size_feed_forward is_decoder cross_attention_hidden_size id2label label2id problem_type
    finetuning_task tokenizer_class prefix task_specific_params
    max_length min_length do_sample early_stopping num_beams num_beam_groups diversity_penalty temperature
    top_k top_p typical_p repetition_penalty length_penalty no_repeat_ngram_size encoder_no_repeat_ngram_size
    bad_words_ids num_return_sequences output_scores return_dict_in_generate forced_bos_token_id
    forced_eos_token_id remove_invalid_values exponential_decay_length_penalty suppress_tokens
    begin_suppress_tokens transformers.js_config auto_map quantization_config
""".split())

# Per class, keys that change no count. attention_bias and mlp_bias are listed where that
# class's code ignores them. Sliding windows are read (hf_layouts), not listed here.
_GEMMA = {"query_pre_attn_scalar", "final_logit_softcapping", "attn_logit_softcapping", "cache_implementation",
          "mlp_bias"}
_DEEPSEEK = {"n_group", "topk_group", "topk_method", "norm_topk_prob", "routed_scaling_factor", "scoring_func",
             "aux_loss_alpha", "seq_aux", "ep_size", "rope_interleave", "output_router_logits", "pretraining_tp",
             "num_nextn_predict_layers"}
# Keys found in published files that the class's code never reads: SmolLM2's nanotron export marks
# (is_llama_config, rope_interleaved), Qwen2.5's use_mrope (Qwen2-VL's), OpenAI GPT's n_special and
# predict_special_tokens in GPT-2 medium, large and xl.
NEUTRAL_FOR = {
    "LlamaForCausalLM":   {"pretraining_tp", "is_llama_config", "rope_interleaved"},
    "MistralForCausalLM": {"attention_bias", "mlp_bias"},
    "MixtralForCausalLM": {"attention_bias", "mlp_bias", "output_router_logits",
                           "router_aux_loss_coef", "router_jitter_noise"},
    "Qwen2ForCausalLM":   {"attention_bias", "mlp_bias", "use_mrope"},
    "Qwen3ForCausalLM":   {"mlp_bias"},
    "Gemma2ForCausalLM":  {"sliding_window_size"} | _GEMMA,
    "GPT2LMHeadModel":    {"resid_pdrop", "embd_pdrop", "attn_pdrop", "layer_norm_epsilon", "summary_type",
                           "summary_use_proj", "summary_activation", "summary_proj_to_labels", "summary_first_dropout",
                           "scale_attn_weights", "scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn", "n_ctx",
                           "n_special", "predict_special_tokens"},
    "GPTNeoXForCausalLM": {"hidden_dropout", "classifier_dropout", "layer_norm_eps", "rotary_emb_base", "mlp_bias",
                           "attention_probs_dropout_prob", "hidden_dropout_prob"},   # dropouts of older configs
    "Phi3ForCausalLM":    {"resid_pdrop", "embd_pdrop", "original_max_position_embeddings", "attention_bias",
                           "mlp_bias", "full_attn_mod", "interpolate_factor"},      # the last two: Phi-4-mini's
    "Olmo2ForCausalLM":   {"mlp_bias"},
    "Qwen3MoeForCausalLM": {"norm_topk_prob", "router_aux_loss_coef", "output_router_logits", "mlp_bias"},
    "Gemma3ForCausalLM":  {"rope_local_base_freq"} | _GEMMA,
    "DeepseekV2ForCausalLM": _DEEPSEEK,
    "DeepseekV3ForCausalLM": _DEEPSEEK | {"mlp_bias"},
    "DeepseekV32ForCausalLM": _DEEPSEEK | {"mlp_bias"},     # its MLPs hard-code bias=False
    "GemmaForCausalLM":   {"hidden_activation"},          # 4.x's (saved as null); 5.x reads hidden_act only
    "Qwen2MoeForCausalLM": {"norm_topk_prob", "router_aux_loss_coef", "output_router_logits"},
    # gpt-oss's swiglu_* clamp and scale its activation; experts_per_token and initial_context_length
    # are the original checkpoint's names, in the published files, never read by transformers
    "GptOssForCausalLM":  {"swiglu_alpha", "swiglu_limit", "router_aux_loss_coef", "output_router_logits",
                           "hidden_act", "experts_per_token", "initial_context_length"},
    "GraniteForCausalLM": set(),
    # Llama 4: for_llm_compressor and cache_implementation are in published files, never read by the model
    "Llama4ForCausalLM":  {"output_router_logits", "router_aux_loss_coef", "router_jitter_noise", "for_llm_compressor",
                           "cache_implementation"},
    "Glm4MoeForCausalLM": {"n_group", "topk_group", "norm_topk_prob", "routed_scaling_factor", "output_router_logits"},
    "Qwen2_5_VLTextModel": set(),        # read only inside Qwen2_5_VLForConditionalGeneration (hf_wrappers)
    "PhiForCausalLM":     {"layer_norm_eps", "resid_pdrop", "embd_pdrop"},
    # StarCoder2: layer_norm_epsilon is the original code's name (transformers reads norm_epsilon)
    "Starcoder2ForCausalLM": {"norm_epsilon", "layer_norm_epsilon", "residual_dropout", "embedding_dropout"},
    "OlmoeForCausalLM":   {"norm_topk_prob", "router_aux_loss_coef", "output_router_logits"},
    "FalconForCausalLM":  {"layer_norm_epsilon", "hidden_dropout"},
    "Qwen3NextForCausalLM": {"norm_topk_prob", "router_aux_loss_coef", "output_router_logits"},
}
# dense decoder classes (hf_layouts_dense)
NEUTRAL_FOR.update({
    "Olmo3ForCausalLM":   set(),
    "SmolLM3ForCausalLM": {"pretraining_tp"},      # LLaMA's, in SmolLM3-3B's published file; never read
    "MinistralForCausalLM": set(),
    "Ministral3ForCausalLM": set(),
    "Glm4ForCausalLM":    set(),
    "CohereForCausalLM":  {"layer_norm_eps"},
    "Cohere2ForCausalLM": {"layer_norm_eps"},
    # hf_layouts_dense2; Seed-OSS's residual_dropout is named in left_out (hf_left_out.DROPOUT_KEYS), and its
    # pretraining_tp (LLaMA's) is never read by its code
    "HeliumForCausalLM":  set(),
    "SeedOssForCausalLM": {"residual_dropout", "pretraining_tp"},
    "Exaone4ForCausalLM": set(),
    "ArceeForCausalLM":   set(),
})
# Models whose code transformers builds without part of the published checkpoint; said in the card's source.
LEFT_OUT = {"DeepseekV3ForCausalLM": "multi-token-prediction layers (num_nextn_predict_layers) not counted: "
                                     "transformers does not build them; a runs file's mtp_layers trains them",
            "DeepseekV32ForCausalLM": "multi-token-prediction layers (num_nextn_predict_layers) not counted: "
                                      "transformers does not build them; a runs file's mtp_layers trains them; the indexer's own training (the paper's "
                                      "KL loss) not counted: transformers runs it without gradients",
            "Qwen3NextForCausalLM": "multi-token-prediction weights of the checkpoint (mtp.*) not counted: "
                                    "transformers does not build them"}


def _null(value, raw) -> bool:
    return value is None


def _off(value, raw) -> bool:
    return value is None or value is False


def _empty(value, raw) -> bool:
    return value in (None, {}, [])


def _all_full_attention(value, raw) -> bool:
    return value is None or (isinstance(value, list) and all(t == "full_attention" for t in value))


_MOE_ONLY = "experts are read only for " + ", ".join(MOE_KEYS)
#   key                                  accepted when  said as        why any other value is refused
NEUTRAL_ONLY = {
    "layer_types":                     (_all_full_attention, "null or all 'full_attention'",
                                        "per-layer attention types are not modelled"),
    "use_sliding_window":              (_off, "false", "this class has no sliding-window layers"),
    "num_local_experts":               (_null, "null", _MOE_ONLY),
    "num_experts":                     (_null, "null", _MOE_ONLY),
    "num_experts_per_tok":             (_null, "null", _MOE_ONLY),
    "moe_intermediate_size":           (_null, "null", "expert MLPs of another width are not modelled"),
    "shared_expert_intermediate_size": (_null, "null", "shared experts are not modelled"),
    "pruned_heads":                    (_empty, "empty", "pruned heads change the attention shapes"),
    "is_encoder_decoder":              (_off, "false", "only decoder-only models are read"),
    "add_cross_attention":             (_off, "false", "cross-attention adds weights"),
    "tie_encoder_decoder":             (_off, "false", "only decoder-only models are read"),
    "use_bidirectional_attention":     (_off, "false or null", "the engine counts causal attention"),
}
def _is(expected):
    return lambda value, raw: value == expected


NEUTRAL_ONLY_FOR: dict = {
    # in Phi-3.5-MoE's file, from its original code; transformers' Phimoe applies no such dropout
    "PhimoeForCausalLM": {"hidden_dropout": (lambda value, raw: value in (None, 0) and not isinstance(value, bool),
                                             "0 or null", "transformers' PhiMoE applies no such dropout")},
    "Phi3ForCausalLM": {"lm_head_bias": (_off, "false", "a head bias is not modelled")},
    # the original StarCoder2 code's switches; transformers builds its LayerNorm and plain MLP only
    "Starcoder2ForCausalLM": {"norm_type": (_is("layer_norm"), "'layer_norm'", "transformers builds LayerNorms"),
                              "mlp_type": (_is("default"), "'default'", "transformers builds the plain MLP")},
    # Falcon: 4.x's names that 5.x does not read (it builds its defaults, falcon-7b's, instead); BLOOM's switch
    "FalconForCausalLM": {
        **{key: (_null, "null or absent", f"transformers 5.x does not read this 4.x name; give {name}") for key, name in
           (("n_head", "num_attention_heads"), ("n_layer", "num_hidden_layers"), ("n_head_kv", "num_kv_heads"))},
        "n_embed": (lambda value, raw: value is None or value == raw.get("hidden_size"), "null or equal to hidden_size",
                    "transformers reads it as hidden_size"),
        "apply_residual_connection_post_layernorm": (_off, "false", "transformers' Falcon does not build it")},
}


# The shape a neutral key's value has in every config transformers writes: it changes no count,
# but a value of another kind (a negative length, a text where a number goes) is a damaged file.
def _count(value, raw) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and value > 0)


def _positive(value, raw) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0)


def _mapping(value, raw) -> bool:
    return value is None or isinstance(value, dict)


def _text(value, raw) -> bool:
    return value is None or isinstance(value, str)


#   key                         accepted when                 said as
NEUTRAL_SHAPES = {
    "max_position_embeddings":  (_count,    "a positive whole number or null"),
    "rope_theta":               (_positive, "a positive number or null"),
    "rms_norm_eps":             (_positive, "a positive number or null"),
    "rope_scaling":             (_mapping,  "a mapping or null"),
    "rope_parameters":          (_mapping,  "a mapping or null"),
    "torch_dtype":              (_text,     "a dtype name or null"),
    "dtype":                    (_text,     "a dtype name or null"),
    "transformers_version":     (_text,     "a version string or null"),
}


NEUTRAL_FOR.update(hf_keys_moe.NEUTRAL_FOR)      # the MoE classes of hf_keys_moe
NEUTRAL_ONLY_FOR.update(hf_keys_moe.NEUTRAL_ONLY_FOR)

# GLM classes (hf_layouts_glm)
NEUTRAL_FOR.update({"GlmForCausalLM": set(),
                    "Glm4MoeLiteForCausalLM": _DEEPSEEK | {"mlp_bias"},    # its MLPs hard-code bias=False
                    "GlmMoeDsaForCausalLM": _DEEPSEEK | {"mlp_bias"}})     # so do GLM-5's
MOE_KEYS["GlmMoeDsaForCausalLM"] = ("n_routed_experts", "num_experts_per_tok")
MOE_ALIAS["GlmMoeDsaForCausalLM"] = "num_local_experts"        # its attribute_map
LEFT_OUT["GlmMoeDsaForCausalLM"] = LEFT_OUT["DeepseekV32ForCausalLM"]    # its MTP layer, its indexer's training
MOE_KEYS["Glm4MoeLiteForCausalLM"] = ("n_routed_experts", "num_experts_per_tok")
MOE_ALIAS["Glm4MoeLiteForCausalLM"] = "num_local_experts"      # its attribute_map
LEFT_OUT["Glm4MoeLiteForCausalLM"] = ("multi-token-prediction layers (num_nextn_predict_layers) not counted: "
                                      "transformers does not build them; a runs file's mtp_layers trains them")

# The tables of the later classes' modules, merged into these: every table a module defines (dicts by
# update, tuples appended), in this order. MPT, BLOOM, OPT, GPTBigCode (classic); GPT-J, CodeGen, StableLM,
# Nemotron, OLMo 1, GPT-Neo (classic2); Qwen3.5 and Qwen3.5-MoE (qwen35); VaultGemma, HunYuan Dense, ...
# (recent); Granite SWA, Granite MoE SWA, Persimmon, Apertus (recent2); the Mamba classes (ssm); CWM, FlexOlmo, ...
# (recent3); LFM2 (lfm2); Gemma 4 (gemma4); Qwen3-VL's sliding_window, ... (recent4).
from . import hf_keys_classic, hf_keys_qwen35, hf_keys_recent, hf_keys_recent2, hf_keys_recent3, hf_keys_ssm  # noqa: E402
from . import hf_keys_gemma4, hf_keys_lfm2, hf_keys_recent4  # noqa: E402
_MERGED = ("SPELLING", "FF_FROM_WIDTH", "PLAIN_MLP", "ACTIVATION_KEYS", "NEUTRAL_FOR", "NEUTRAL_ONLY_FOR", "MOE_KEYS",
           "MOE_ALIAS", "LEFT_OUT")
for _module in (hf_keys_classic, hf_keys_classic2, hf_keys_qwen35, hf_keys_recent, hf_keys_recent2, hf_keys_ssm,
                hf_keys_recent3, hf_keys_lfm2, hf_keys_gemma4, hf_keys_recent4):
    for _name in _MERGED:
        if hasattr(_module, _name):
            if isinstance(globals()[_name], dict):
                globals()[_name].update(getattr(_module, _name))
            else:
                globals()[_name] += getattr(_module, _name)
del _module, _name
