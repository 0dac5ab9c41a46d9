"""The rows (``hf_rows.Row``) of the classes of ``hf_layouts_recent3``, merged into ``hf_rows.ROWS``.

Each column follows transformers 5.24's ``configuration_*.py`` and ``modeling_*.py`` of the class (read, never
imported), as ``hf_rows``' own table does."""

from __future__ import annotations

from . import hf_layouts_recent3 as R3
from .hf_rows import ABSENT, ATTN, EITHER, MLP, NULL, Row

# CWM: K and head_dim fall back to 8 and 128 (its reference model's; null refused by its type check): required; q, k,
# v and o hard-code bias=False; mlp_bias on gate, up and down; untied by default. FlexOlmo: K absent or null N (its
# __post_init__); its attention reads a head_dim key when there is one (the config class has none), else D // N;
# attention_bias on q, k, v and o; q/k norms over all heads' width (hf_layouts_recent3); untied by default.
# FalconMamba: Mamba's row (no attention or MLP; tied by default). BitNet: K falls back to 5 (bitnet-b1.58-2B-4T's):
# required; null N (its __post_init__); its attention reads a head_dim key when there is one (hf_layouts_recent3.bitnet:
# N x head_dim must be D), else D // N; attention_bias on q, k, v and o; its MLP hard-codes bias=False; untied by
# default. AFMoE: K absent or null N (its __post_init__); head_dim falls back to 128 (null fails): required;
# attention_bias read (only false) by its reader; no MLP bias; per-head q/k norms; four norms a layer; untied by
# default. Youtu: K falls back to 16 (its reference model's; null refused by its type check): required, and equal to
# N (MLA); head_dim is MLA's (hf_layouts_recent3.youtu); attention_bias on q_a (a plain q: none), kv_a and o, as
# DeepSeek-V3's; its MLP hard-codes bias=False; tied by default.
#                           ours            K = N when  H = D//N when  tie    q,k,v  o      mlp    qk_norm norms
ROWS = {
    "CwmForCausalLM":       Row("cwm",         (),         (),            False, False, False, MLP,   False,  2,
                                layout=R3.cwm),
    "FlexOlmoForCausalLM":  Row("flex_olmo",   EITHER,     (ABSENT,),     False, ATTN,  ATTN,  False, True,   2,
                                layout=R3.flex_olmo),
    "FalconMambaForCausalLM": Row("falcon_mamba", None,     None,          True,  False, False, False, False,  2,
                                  layout=R3.falcon_mamba),
    "BitNetForCausalLM":    Row("bitnet",      (NULL,),    (ABSENT,),     False, ATTN,  ATTN,  False, False,  2,
                                layout=R3.bitnet),
    "AfmoeForCausalLM":     Row("afmoe",       EITHER,     (),            False, False, False, False, True,   4,
                                layout=R3.afmoe),
    "YoutuForCausalLM":     Row("youtu",       (),         None,          True,  ATTN,  ATTN,  False, False,  2,
                                layout=R3.youtu),
}
