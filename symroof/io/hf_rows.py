"""The table of transformers classes ``hf`` reads: per class, which keys give K and the head width,
which biases and norms it builds, and the layout reader of what it adds to the LLaMA layer.

Each column follows transformers' own ``configuration_*.py`` and ``modeling_*.py`` for that class
(5.x source; a 4.x difference is noted beside the table)."""

from __future__ import annotations

from dataclasses import dataclass

from ..io import hf_layouts, hf_layouts_hybrid, hf_layouts_layernorm, hf_layouts_moe

ABSENT, NULL = "absent", "null"   # how a config.json can leave a key out
EITHER = (ABSENT, NULL)


@dataclass(frozen=True)
class Row:
    """How one transformers class is read. A ``str`` flag is the config key read; a ``bool`` is hard-coded."""

    architecture: str        # ours (ModelCard.architecture); also transformers' model_type
    kv_from_heads: tuple     # when K = N is transformers' own default: absent and/or null; None: always N
    head_dim_from_width: tuple  # when H = D // N is transformers' own default; None: always D // N
    tie: bool                # transformers' tie_word_embeddings default
    qkv_bias: str | bool
    o_bias: str | bool
    mlp_bias: str | bool
    qk_norm: bool            # q_norm and k_norm RMSNorms
    norms_per_layer: int
    flag_default: bool = False   # the default of the bias keys this class reads
    layout: object = None    # hf_layouts reader of what the class builds beyond the LLaMA layer


ATTN, MLP = "attention_bias", "mlp_bias"   # a flag column naming a key reads it; True/False is hard-coded
L_ = hf_layouts

#                           ours            K = N when  H = D//N when  tie    q,k,v  o      mlp    qk_norm norms
ROWS = {
    "LlamaForCausalLM":     Row("llama",       EITHER,     EITHER,        False, ATTN,  ATTN,  MLP,   False,  2),
    "MistralForCausalLM":   Row("mistral",     (NULL,),    EITHER,        False, False, False, False, False,  2,
                                layout=L_.mistral),
    "MixtralForCausalLM":   Row("mixtral",     (NULL,),    EITHER,        False, False, False, False, False,  2,
                                layout=L_.mistral),
    "Qwen2ForCausalLM":     Row("qwen2",       (NULL,),    (ABSENT,),     False, True,  False, False, False,  2,
                                layout=L_.qwen_sliding),
    "Qwen3ForCausalLM":     Row("qwen3",       (NULL,),    (),            False, ATTN,  ATTN,  False, True,   2,
                                layout=L_.qwen_sliding),
    "Gemma2ForCausalLM":    Row("gemma2",      (),         (),            True,  ATTN,  ATTN,  False, False,  4,
                                layout=L_.gemma2),
    "GPT2LMHeadModel":      Row("gpt2",        None,       None,          True,  True,  True,  True,  False,  2,
                                layout=L_.gpt2),
    "GPTNeoXForCausalLM":   Row("gpt_neox",    None,       None,          False, ATTN,  ATTN,  True,  False,  2,
                                flag_default=True, layout=L_.gpt_neox),
    "Phi3ForCausalLM":      Row("phi3",        EITHER,     (ABSENT,),     False, False, False, False, False,  2,
                                layout=L_.phi3),
    "Olmo2ForCausalLM":     Row("olmo2",       EITHER,     (ABSENT,),     False, ATTN,  ATTN,  False, True,   2,
                                layout=L_.olmo2),
    "Qwen3MoeForCausalLM":  Row("qwen3_moe",   (),         (ABSENT,),     False, ATTN,  ATTN,  False, True,   2,
                                layout=L_.qwen3_moe),
    "Gemma3ForCausalLM":    Row("gemma3_text", (),         (),            True,  ATTN,  ATTN,  False, True,   4,
                                layout=L_.gemma3),
    "DeepseekV2ForCausalLM": Row("deepseek_v2", EITHER,    None,          False, ATTN,  ATTN,  MLP,   False,  2,
                                 layout=L_.deepseek(2)),
    "DeepseekV3ForCausalLM": Row("deepseek_v3", (NULL,),   None,          False, ATTN,  ATTN,  False, False,  2,
                                 layout=L_.deepseek(3)),
    "GemmaForCausalLM":     Row("gemma",       (),         (),            True,  ATTN,  ATTN,  False, False,  2),
    "Qwen2MoeForCausalLM":  Row("qwen2_moe",   (),         (ABSENT,),     False, "qkv_bias", False, False, False, 2,
                                flag_default=True, layout=L_.qwen2_moe),
    "GptOssForCausalLM":    Row("gpt_oss",     (NULL,),    (NULL,),       False, ATTN,  ATTN,  False, False,  2,
                                flag_default=True, layout=L_.gpt_oss),
    "GraniteForCausalLM":   Row("granite",     EITHER,     (ABSENT,),     False, ATTN,  ATTN,  MLP,   False,  2,
                                layout=L_.granite),
    "Llama4ForCausalLM":    Row("llama4_text", (NULL,),    (NULL,),       False, ATTN,  ATTN,  False, False,  2,
                                layout=hf_layouts_moe.llama4),
    "Glm4MoeForCausalLM":   Row("glm4_moe",    (),         (ABSENT,),     False, ATTN,  False, False, False,  2,
                                layout=hf_layouts_moe.glm4_moe),
    "PhiForCausalLM":       Row("phi",         EITHER,     None,          False, True,  True,  True,  False,  1,
                                layout=hf_layouts_layernorm.phi),
    "Starcoder2ForCausalLM": Row("starcoder2", (),         EITHER,        True,  "use_bias", "use_bias", "use_bias",
                                 False, 2, flag_default=True, layout=hf_layouts_layernorm.starcoder2),
    "OlmoeForCausalLM":     Row("olmoe",       EITHER,     None,          False, ATTN,  ATTN,  False, True,   2,
                                layout=hf_layouts_moe.olmoe),
    "FalconForCausalLM":    Row("falcon",      None,       None,          True,  "bias", "bias", "bias", False, 2,
                                layout=hf_layouts_layernorm.falcon),
    "Qwen3NextForCausalLM": Row("qwen3_next",  (),         (),            False, ATTN,  ATTN,  False, True,   2,
                                layout=hf_layouts_hybrid.qwen3_next),
}
# Notes on the rows. Qwen2's code puts a bias on q, k and v and none on o, whatever
# attention_bias says. Qwen3 adds RMSNorms over head_dim on q and k. Gemma 2 norms before and
# after both attention and MLP, and ties embeddings unless told otherwise. Where a K or H column
# is empty, transformers' fallback is a reference model's constant, so the key is required.
# Mistral and Mixtral read a null K as K = N, as transformers 4.x does (5.x's type check
# refuses the null, although its __post_init__ still maps it to N). GPT-2 and GPT-NeoX have no
# KV-head or head_dim key: K = N and H = D / N. DeepSeek's head_dim is qk_nope_head_dim (MLA);
# its attention_bias puts biases on q_a (or none on a plain q), kv_a and o. Gemma (1) is the
# LLaMA layer with GeGLU, a (1 + w) RMSNorm (the same D weights) and tied embeddings by default;
# its K and head_dim fall back to gemma-7b's 16 and 256. Qwen2-MoE's qkv_bias (5.x; 4.x hard-codes
# it) defaults to true, o has none; its K falls back to 16 (no null rule), and its attention reads
# a head_dim key when there is one. gpt-oss's attention_bias (default true) covers q, k, v and o;
# its null K and null head_dim are N and D // N (4.x, and 5.x's __post_init__, although 5.x's type
# check refuses the nulls, as Mistral's), absent ones 8 and 64. Granite is the LLaMA layer with
# scalar multipliers (hf_layouts.granite); its attention reads a head_dim key when there is one.
# Llama 4's null K and head_dim are N and D // N (its __post_init__), absent ones 8 and 128; its
# attention_bias covers q, k, v and o. GLM-4.5's attention_bias covers q, k and v (o has none); its K
# falls back to 8, and its attention reads a head_dim key when there is one (the config class has
# none); use_qk_norm (hf_layouts_moe.glm4_moe) decides its q and k norms. Phi (hf_layouts_layernorm.phi)
# has biases on q, k, v, dense, fc1, fc2 and the head, one LayerNorm a layer, K = N when absent or null
# (its __post_init__) and head_dim D // N (its q/k LayerNorms are that wide; a head_dim key is refused).
# StarCoder2's use_bias (default true) covers q, k, v, o and its MLP; its K falls back to 2, and its
# attention reads a head_dim key when there is one (getattr ... or D // N). OLMoE's K = N when absent or
# null; its q and k RMSNorms span all heads (D and K·D/N wide), so a head_dim key is refused. Falcon's
# bias covers query_key_value, dense and both MLP matrices; its K (num_kv_heads, by its layout) and its
# norms come from hf_layouts_layernorm.falcon; head_dim is D // N (a property: a head_dim key is refused).
# Qwen3-Next's K and head_dim fall back to 2 and 256 (its reference model's): required; its attention_bias
# covers q (doubled for the output gate), k, v and o; hf_layouts_hybrid.qwen3_next reads its linear layers.


# Language models read only inside a vision-language wrapper (hf_wrappers), never named by architectures,
# keyed by their text_config model_type. Qwen2.5-VL's (qwen2_5_vl_text) is Qwen2's decoder (q, k, v biases,
# no o bias) with multimodal RoPE (no weights): its card is a qwen2 one. Its attention always takes
# head_dim = D // N (a head_dim key is refused as unknown); an absent tie_word_embeddings is untied.
TEXT_ROWS = {
    "qwen2_5_vl_text": ("Qwen2_5_VLTextModel",
                        Row("qwen2",   (NULL,),     None,          False, True,  False, False, False,  2,
                            layout=L_.qwen_sliding)),
}
TEXT_CLASSES = {**{row.architecture: (name, row.tie) for name, row in ROWS.items()},
                **{model_type: (name, row.tie) for model_type, (name, row) in TEXT_ROWS.items()}}
