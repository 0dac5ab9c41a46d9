"""The table of transformers classes ``hf`` reads: per class, which keys give K and the head width,
which biases and norms it builds, and the layout reader of what it adds to the LLaMA layer.

Each column follows transformers' own ``configuration_*.py`` and ``modeling_*.py`` for that class
(5.x source; a 4.x difference is noted beside the table)."""

from __future__ import annotations

from dataclasses import dataclass

from ..io import (hf_layouts, hf_layouts_deepseek, hf_layouts_dense, hf_layouts_dense2, hf_layouts_hybrid,
                hf_layouts_layernorm, hf_layouts_moe, hf_layouts_moe2, hf_layouts_moe3, hf_layouts_moe4)
from ..io import hf_layouts_classic
from ..io import hf_layouts_classic2
from ..io import hf_layouts_glm
from ..io import hf_layouts_recent
from ..io import hf_layouts_recent2

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
    prepare: object = None   # (raw, where) -> the dict hf reads, where a file nests or lists what others give flat


ATTN, MLP = "attention_bias", "mlp_bias"   # a flag column naming a key reads it; True/False is hard-coded
L_ = hf_layouts

#                           ours            K = N when  H = D//N when  tie    q,k,v  o      mlp    qk_norm norms
ROWS = {
    "LlamaForCausalLM":     Row("llama",       EITHER,     EITHER,        False, ATTN,  ATTN,  MLP,   False,  2),
    "MistralForCausalLM":   Row("mistral",     (NULL,),    EITHER,        False, False, False, False, False,  2,
                                layout=hf_layouts_dense.mistral_required),
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
    # DeepSeek-V3.2: V3's MLA and MoE plus DSA's indexer (hf_layouts_deepseek); its K is required (no null rule)
    "DeepseekV32ForCausalLM": Row("deepseek_v32", (),      None,          False, ATTN,  ATTN,  False, False,  2,
                                  layout=hf_layouts_deepseek.deepseek_v32),
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
    # Dense decoder classes (hf_layouts_dense). OLMo 3 and SmolLM3 read a head_dim key when given (getattr), else
    # D // N (null fails there); SmolLM3's K falls back to 4. Ministral's attention reads config.head_dim (default
    # None), so it is required; its null K is N as Mistral's. Ministral 3's K and head_dim fall back to 8 and 128,
    # GLM-4's to 2 and 128 (5.x's type checks refuse their nulls). Cohere reads a head_dim key when given.
    "Olmo3ForCausalLM":     Row("olmo3",       EITHER,     (ABSENT,),     False, ATTN,  ATTN,  False, True,   2,
                                layout=hf_layouts_dense.olmo3),
    "SmolLM3ForCausalLM":   Row("smollm3",     (NULL,),    (ABSENT,),     True,  ATTN,  ATTN,  MLP,   False,  2,
                                layout=hf_layouts_dense.smollm3),
    "MinistralForCausalLM": Row("ministral",   (NULL,),    (),            False, False, False, False, False,  2,
                                layout=hf_layouts_dense.ministral),
    "Ministral3ForCausalLM": Row("ministral3", (),         (),            False, False, False, False, False,  2,
                                 layout=hf_layouts_dense.ministral3),
    "Glm4ForCausalLM":      Row("glm4",        (),         (),            False, ATTN,  False, False, False,  4,
                                flag_default=True, layout=hf_layouts_dense.glm4),
    "CohereForCausalLM":    Row("cohere",      EITHER,     (ABSENT,),     True,  ATTN,  ATTN,  False, False,  1,
                                layout=hf_layouts_dense.cohere),
    "Cohere2ForCausalLM":   Row("cohere2",     EITHER,     None,          True,  ATTN,  ATTN,  False, False,  1,
                                layout=hf_layouts_dense.cohere2),
    "Qwen3NextForCausalLM": Row("qwen3_next",  (),         (),            False, ATTN,  ATTN,  False, True,   2,
                                layout=hf_layouts_hybrid.qwen3_next),
}
# Notes on the rows. Qwen2's code puts a bias on q, k and v and none on o, whatever
# attention_bias says. Qwen3 adds RMSNorms over head_dim on q and k. Gemma 2 norms before and
# after both attention and MLP, and ties embeddings unless told otherwise. Where a K or H column
# is empty, transformers' fallback is a reference model's constant, so the key is required.
# Mistral's sliding_window is required (its default, 4096, is Mistral 7B's; hf_layouts_dense.mistral_required);
# Mixtral's default is None. Mistral and Mixtral read a null K as K = N, as transformers 4.x does (5.x's type check
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


# MoE classes added later, in a table of their own (merged into ROWS below).
M2, UB = hf_layouts_moe2, "use_bias"
#                           ours            K = N when  H = D//N when  tie    q,k,v  o      mlp    qk_norm norms
MOE_ROWS = {
    "MiniMaxM2ForCausalLM": Row("minimax_m2",  (),         (),            False, False, False, False, True,   2,
                                layout=M2.minimax_m2),
    "Dots1ForCausalLM":     Row("dots1",       (NULL,),    (ABSENT,),     False, ATTN,  ATTN,  False, True,   2,
                                layout=M2.dots1),
    "Ernie4_5_MoeForCausalLM": Row("ernie4_5_moe", (),    (ABSENT,),     True,  UB,    UB,    UB,    False,  2,
                                   layout=M2.ernie4_5_moe),
    "Ernie4_5ForCausalLM":  Row("ernie4_5",    (NULL,),    (NULL,),       True,  UB,    UB,    UB,    False,  2),
}
ROWS.update(MOE_ROWS)

# More dense classes (hf_layouts_dense2). Helium's K and head_dim fall back to 20 and 128 (null refused by 5.x's
# type check); attention_bias covers q, k and v (o has none). Seed-OSS's fall back to 8 and 128 (null: N and
# D // N); attention_bias defaults to true and covers q, k and v (its reader reads o's attention_out_bias and
# mlp_bias, both default false). EXAONE 4.0's K falls back to 32 (null refused); its attention reads a head_dim
# key when there is one (the config class has none), else D // N; no biases. Arcee's K and head_dim absent or
# null are N and D // N (its __post_init__); attention_bias covers q, k, v and o.
D2 = hf_layouts_dense2
#                           ours            K = N when  H = D//N when  tie    q,k,v  o      mlp    qk_norm norms
ROWS.update({
    "HeliumForCausalLM":    Row("helium",      (),         (),            False, ATTN,  False, MLP,   False,  2,
                                layout=D2.helium),
    "SeedOssForCausalLM":   Row("seed_oss",    (NULL,),    (NULL,),       False, ATTN,  False, False, False,  2,
                                flag_default=True, layout=D2.seed_oss),
    "Exaone4ForCausalLM":   Row("exaone4",     (),         (ABSENT,),     False, False, False, False, True,   2,
                                layout=D2.exaone4),
    "ArceeForCausalLM":     Row("arcee",       EITHER,     EITHER,        False, ATTN,  ATTN,  MLP,   False,  2,
                                layout=D2.arcee),
})
M3 = hf_layouts_moe3
ROWS.update({
    "PhimoeForCausalLM":    Row("phimoe",      (NULL,),    (ABSENT,),     False, ATTN,  ATTN,  False, False,  2,
                                layout=M3.phimoe),
    "GraniteMoeForCausalLM": Row("granitemoe", EITHER,     (ABSENT,),     False, ATTN,  ATTN,  False, False,  2,
                                 layout=M3.granite_moe),
    "GraniteMoeSharedForCausalLM": Row("granitemoeshared", EITHER, (ABSENT,), False, ATTN, ATTN, False, False, 2,
                                       layout=M3.granite_moe_shared),
})
M4 = hf_layouts_moe4
ROWS.update({
    "HunYuanMoEV1ForCausalLM": Row("hunyuan_v1_moe", EITHER, (),      False, ATTN,  ATTN,  False, True,   2,
                                   layout=M4.hunyuan_moe, prepare=M4.hunyuan_prepare),
    "DbrxForCausalLM":      Row("dbrx",        (),         None,          False, False, False, False, False,  2,
                                layout=M4.dbrx, prepare=M4.dbrx_prepare),
})
C_ = hf_layouts_classic
ROWS.update({
    "MptForCausalLM":       Row("mpt",         None,       None,          True,  False, False, False, False,  2,
                                layout=C_.mpt, prepare=C_.mpt_prepare),
    "BloomForCausalLM":     Row("bloom",       None,       None,          True,  True,  True,  True,  False,  2,
                                layout=C_.bloom, prepare=C_.bloom_prepare),
    "OPTForCausalLM":       Row("opt",         None,       None,          True,  "enable_bias", "enable_bias",
                                "enable_bias", False, 2, flag_default=True, layout=C_.opt, prepare=C_.opt_prepare),
    "GPTBigCodeForCausalLM": Row("gpt_bigcode", None,      None,          True,  True,  True,  True,  False,  2,
                                 layout=C_.gpt_bigcode),
})
# MPT, BLOOM, OPT and GPTBigCode (hf_layouts_classic): K = N and head_dim D // N, no keys for either (GPTBigCode's K,
# 1 or N by multi_query, and its to_dict's num_key_value_heads are its reader's); MPT has no biases, BLOOM and
# GPTBigCode a bias on every projection, OPT's enable_bias (default true) covers q, k, v, out_proj, fc1 and fc2;
# all four tie by default.
# HunYuan MoE's absent or null K is N (its __post_init__); its attention reads config.head_dim, whose default
# None does not build, so head_dim is required; attention_bias covers q, k, v and o; no MLP bias. DBRX's K is
# attn_config.kv_n_heads (hf_keys.SPELLING; its default, 1, says nothing about a model: required), its head_dim
# d_model // n_heads (no key); no biases anywhere; untied (DbrxConfig refuses tie_word_embeddings true).
# PhiMoE's K falls back to 8 (null: N, as Mistral's: 4.x and 5.x's __post_init__, though 5.x's type check
# refuses it); Granite MoE's absent or null K is N. All three
# read a head_dim key when there is one (their config classes have none), else D // N; attention_bias covers
# q, k, v and o; no MLP bias (a mlp_bias key is refused as unknown).
# MiniMax-M2's K and head_dim fall back to 8 and 128 (MiniMax-M2's own; its type check refuses null), so
# both are required; no biases anywhere; its q and k norms span all heads (hf_layouts_moe2.minimax_m2).
# dots.llm1's K falls back to 32 (null: N, its __post_init__); its attention reads a head_dim key when there
# is one (its config class has none), else D // N; attention_bias covers q, k, v and o. ERNIE 4.5's use_bias
# covers q, k, v, o and the dense and shared MLPs (not the routed experts), and in the MoE class the head
# (hf_layouts_moe2.ernie4_5_moe; the dense class's lm_head has none); both tie by default. The MoE
# class's K falls back to 4 (null fails), its attention reads a head_dim key when there is one; the dense
# class's K falls back to 2 and head_dim to 128 (null: N and D // N, its __post_init__). RoPE turns
# interleaved pairs (no count).

# GPT-J, CodeGen, StableLM, Nemotron, OLMo 1, GPT-Neo (hf_layouts_classic2). GPT-J, CodeGen and GPT-Neo have no
# K or head_dim key: K = N, H = D // N. StableLM's K falls back to 32 (null refused by its type check): required;
# its head_dim is D // N; use_qkv_bias covers q, k and v. Nemotron's K absent or null fails to build (required),
# its head_dim absent or null is D // N; attention_bias covers q, k, v and o. OLMo 1's K absent or null is N,
# its attention reads a head_dim key when given (null fails); attention_bias covers q, k, v and o.
C2 = hf_layouts_classic2
#                           ours            K = N when  H = D//N when  tie    q,k,v  o      mlp    qk_norm norms
ROWS.update({
    "GPTJForCausalLM":      Row("gptj",        None,       None,          False, False, False, True,  False,  1,
                                layout=C2.gptj),
    "CodeGenForCausalLM":   Row("codegen",     None,       None,          False, False, False, True,  False,  1,
                                layout=C2.codegen),
    "StableLmForCausalLM":  Row("stablelm",    (),         None,          False, "use_qkv_bias", False, False, False, 2,
                                layout=C2.stablelm),
    "NemotronForCausalLM":  Row("nemotron",    (),         EITHER,        False, ATTN,  ATTN,  MLP,   False,  2,
                                layout=C2.nemotron),
    "OlmoForCausalLM":      Row("olmo",        EITHER,     (ABSENT,),     False, ATTN,  ATTN,  False, False,  2,
                                layout=C2.olmo),
    "GPTNeoForCausalLM":    Row("gpt_neo",     None,       None,          True,  False, True,  True,  False,  2,
                                layout=C2.gpt_neo),
})

# GLM classes (hf_layouts_glm). GLM (GLM-4 9B): K and head_dim required (2 and 128 are GLM-4 9B's; null does not
# build); attention_bias (default true) covers q, k and v, o has none; two norms a layer.
GL = hf_layouts_glm
#                           ours            K = N when  H = D//N when  tie    q,k,v  o      mlp    qk_norm norms
ROWS.update({
    "GlmForCausalLM":       Row("glm",         (),         (),            False, ATTN,  False, False, False,  2,
                                flag_default=True, layout=GL.glm),
    "Glm4MoeLiteForCausalLM": Row("glm4_moe_lite", (),    None,          False, ATTN,  ATTN,  False, False,  2,
                                  layout=GL.glm4_moe_lite),
    "GlmMoeDsaForCausalLM": Row("glm_moe_dsa", (),       None,          False, ATTN,  ATTN,  False, False,  2,
                                layout=GL.glm_moe_dsa),
})
# GLM-4.7-Flash (Glm4MoeLiteForCausalLM): DeepSeek-V3's MLA and MoE; its K falls back to 20 (null refused by its
# type check) and must equal N; attention_bias covers q_a (or a plain q: none), kv_a and o; head_dim is MLA's.
# GLM-5 (GlmMoeDsaForCausalLM): DeepSeek-V3.2's, the same columns; its K falls back to 64 (GLM-5's): required.

# Language models read only inside a vision-language wrapper (hf_wrappers), never named by architectures,
# keyed by their text_config model_type. Qwen2.5-VL's (qwen2_5_vl_text) is Qwen2's decoder (q, k, v biases,
# no o bias) with multimodal RoPE (no weights): its card is a qwen2 one. Its attention always takes
# head_dim = D // N (a head_dim key is refused as unknown); an absent tie_word_embeddings is untied.
TEXT_ROWS = {
    "qwen2_5_vl_text": ("Qwen2_5_VLTextModel",
                        Row("qwen2",   (NULL,),     None,          False, True,  False, False, False,  2,
                            layout=L_.qwen_sliding)),
    # Qwen3-VL's (qwen3_vl_text): Qwen3's decoder without sliding layers; its K falls back to 32 (null: N) and
    # head_dim to 128 (null refused by 5.x's type check): the file's are required. Qwen3-VL-MoE's
    # (qwen3_vl_moe_text): Qwen3-MoE's, no sliding layers either; K falls back to 16 (null: N, its
    # __post_init__), head_dim absent or null is D // N; its class ties by default (Qwen3-VL's has no key: untied).
    "qwen3_vl_text": ("Qwen3VLTextModel",
                      Row("qwen3",     (NULL,),     (),            False, ATTN,  ATTN,  False, True,   2)),
    "qwen3_vl_moe_text": ("Qwen3VLMoeTextModel",
                          Row("qwen3_moe", (NULL,), EITHER,        True,  ATTN,  ATTN,  False, True,   2,
                              layout=M2.qwen3_vl_moe_text)),
}
TEXT_CLASSES = {**{row.architecture: (name, row.tie) for name, row in ROWS.items()},
                **{model_type: (name, row.tie) for model_type, (name, row) in TEXT_ROWS.items()}}

# Qwen3.5 and Qwen3.5-MoE (hf_layouts_hybrid.qwen3_5_text / qwen3_5_moe_text): Qwen3-Next's attention (q doubled
# for the output gate, q and k RMSNorms over head_dim, attention_bias on q, k, v and o); K and head_dim fall back to
# 4 and 256 (dense) or 2 and 256 (MoE), reference models' (null refused by the type check): required. Untied.
QWEN35 = {
    "Qwen3_5ForCausalLM":   Row("qwen3_5_text", (),        (),            False, ATTN,  ATTN,  False, True,   2,
                                layout=hf_layouts_hybrid.qwen3_5_text),
    "Qwen3_5MoeForCausalLM": Row("qwen3_5_moe_text", (),   (),            False, ATTN,  ATTN,  False, True,   2,
                                 layout=hf_layouts_hybrid.qwen3_5_moe_text),
}
ROWS.update(QWEN35)
TEXT_CLASSES.update({row.architecture: (name, row.tie) for name, row in QWEN35.items()})
# VaultGemma: Gemma 2 without the post-attention and post-MLP norms (2 norms a layer), the same sliding layers
# (layer_types, else even layers), soft-caps and (1 + w) norms; K and head_dim fall back to 4 and 256 (its
# reference model's): required; attention_bias covers q, k, v and o. HunYuan Dense: HunYuan MoE's attention
# (per-head q/k norms, attention_bias on q, k, v and o) with a gated MLP; K absent or null N (its __post_init__);
# head_dim read by getattr, whose None does not build: required.
ROWS.update({
    "VaultGemmaForCausalLM": Row("vaultgemma", (),      (),            True,  ATTN,  ATTN,  False, False,  2,
                                 layout=hf_layouts_recent.vaultgemma),
    "HunYuanDenseV1ForCausalLM": Row("hunyuan_v1_dense", EITHER, (),   False, ATTN,  ATTN,  False, True,   2),
})
# Solar Open: K and head_dim fall back to 8 and 128 (Solar-Open-100B's; null refused by its type check): required;
# attention_bias covers q, k and v (its o_proj has none); MoE on every layer (hf_layouts_recent.solar_open).
ROWS.update({
    "SolarOpenForCausalLM": Row("solar_open",  (),         (),            False, ATTN,  False, False, False,  2,
                                layout=hf_layouts_recent.solar_open),
})
# Jais 2: K and head_dim absent or null are N and D // N (its __post_init__); attention_bias (q, k, v, o) and
# mlp_bias (up, down) default to true; LayerNorms and a plain MLP (hf_layouts_recent.jais2).
ROWS.update({
    "Jais2ForCausalLM":     Row("jais2",       EITHER,     EITHER,        False, ATTN,  ATTN,  MLP,   False,  2,
                                flag_default=True, layout=hf_layouts_recent.jais2),
})
# Cohere 2 MoE: K absent or null N (its __post_init__); head_dim falls back to 128 (no __post_init__ of its own,
# unlike Cohere 2's): required; attention_bias on q, k, v and o; one norm a layer; ties by default.
ROWS.update({
    "Cohere2MoeForCausalLM": Row("cohere2_moe", EITHER,    (),            True,  ATTN,  ATTN,  False, False,  1,
                                 layout=hf_layouts_recent.cohere2_moe),
})
# EXAONE MoE: K falls back to 32 (null refused): required; its attention reads a head_dim key when there is one
# (the config class has none), else D // N; no biases; q/k norms per head; two pre-norms a layer.
ROWS.update({
    "ExaoneMoeForCausalLM": Row("exaone_moe",  (),         (ABSENT,),     False, False, False, False, True,   2,
                                layout=hf_layouts_recent.exaone_moe),
})
# Granite SWA: K falls back to 4 (its reference model's; null: N, Granite's __post_init__): required; its
# attention (LLaMA's) reads a head_dim key when there is one, else D // N; attention_bias on q, k, v and o, mlp_bias
# on gate, up and down; ties by default. Granite MoE SWA: K absent or null N; the same head_dim; attention_bias
# only (its experts have none); untied by default.
R2 = hf_layouts_recent2
ROWS.update({
    "GraniteSWAForCausalLM": Row("granite_swa", (NULL,),     (ABSENT,),     True,  ATTN,  ATTN,  MLP,   False,  2,
                                 layout=R2.granite_swa),
    "GraniteMoeSWAForCausalLM": Row("granitemoe_swa", EITHER, (ABSENT,),   False, ATTN,  ATTN,  False, False,  2,
                                    layout=R2.granitemoe_swa),
})
# Persimmon: K = N and head_dim D // N (no keys); biases on query_key_value, dense and both MLP matrices, always;
# its q/k LayerNorms (qk_layernorm) read by hf_layouts_recent2.persimmon; untied by default.
ROWS.update({
    "PersimmonForCausalLM": Row("persimmon",   None,       None,          False, True,  True,  True,  False,  2,
                                layout=R2.persimmon),
})
# Apertus: K absent or null N (its __post_init__); its attention reads a head_dim key when there is one (the config
# class has none), else D // N; attention_bias on q, k, v and o; no MLP bias; per-head q/k RMSNorms; untied.
ROWS.update({
    "ApertusForCausalLM":   Row("apertus",     EITHER,     (ABSENT,),     False, ATTN,  ATTN,  False, True,   2,
                                layout=R2.apertus),
})
# Classes with Mamba-2 mixers (hf_layouts_ssm). Nemotron-H: K falls back to 8 (its reference model's; null: N, its
# __post_init__): required; head_dim from hf_layouts_ssm (its default 128 is a reference model's); q, k, v and o
# hard-code bias=False; mlp_bias on up and down; untied by default; one norm a layer (the card's two norm slots, of
# which a layer of one mixer builds one).
from ..io import hf_layouts_ssm  # noqa: E402
SS = hf_layouts_ssm
ROWS.update({
    "NemotronHForCausalLM": Row("nemotron_h",  (NULL,),    None,          False, False, False, MLP,   False,  2,
                                layout=SS.nemotron_h, prepare=SS.nemotron_h_prepare),
    "FalconH1ForCausalLM":  Row("falcon_h1",   (NULL,),    (ABSENT,),     False, ATTN,  ATTN,  MLP,   False,  2,
                                layout=SS.falcon_h1),
    "BambaForCausalLM":     Row("bamba",       (NULL,),    (ABSENT,),     False, ATTN,  ATTN,  MLP,   False,  2,
                                layout=SS.bamba),
    "GraniteMoeHybridForCausalLM": Row("granitemoehybrid", EITHER, (ABSENT,), False, ATTN, ATTN, False, False, 2,
                                       layout=SS.granitemoehybrid),
    "Mamba2ForCausalLM":    Row("mamba2",      None,       None,          False, False, False, False, False,  2,
                                layout=SS.mamba2),
    "MambaForCausalLM":     Row("mamba",       None,       None,          True,  False, False, False, False,  2,
                                layout=SS.mamba),
    "JambaForCausalLM":     Row("jamba",       (NULL,),    (ABSENT,),     False, False, False, False, False,  2,
                                layout=SS.jamba),
})
# Jamba: K falls back to 8 (null: N, its __post_init__): required; head_dim by getattr (a key where given, else
# D // N); no biases on attention or MLP (hard-coded); untied by default.
# Bamba: K falls back to 8 (null: N): required; head_dim read by getattr (a key where given, else D // N);
# attention_bias on q, k, v and o, mlp_bias on its gated MLP. Granite 4.0: K absent or null is N (its
# __post_init__); head_dim by getattr as Bamba's; attention_bias on q, k, v and o; no MLP bias (hard-coded).
# Mamba-2: no attention and no MLP (its card's attention sizes are the mixer's: hf_layouts_ssm.mamba2); untied by
# default. Mamba (Mamba-1): the same, tied by default.
# Falcon-H1: K falls back to 8 (null: N, its __post_init__): required; its attention reads a head_dim key when there
# is one (getattr; its config class has none), else D // N; attention_bias on q, k, v and o, mlp_bias on gate, up
# and down; ties lm_head to the embedding where tie_word_embeddings (default false).
# CWM, FlexOlmo, FalconMamba, BitNet, AFMoE, ...: hf_rows_recent3 (a table of its own, merged here).
from ..io import hf_rows_recent3  # noqa: E402
ROWS.update(hf_rows_recent3.ROWS)
# LFM2, LFM2-MoE and Gemma 4: hf_rows_lfm2 (a table of its own, merged here).
from ..io import hf_rows_lfm2  # noqa: E402
ROWS.update(hf_rows_lfm2.ROWS)
TEXT_CLASSES["gemma4_text"] = ("Gemma4ForCausalLM", True)
