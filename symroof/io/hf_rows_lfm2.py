"""The rows (``hf_rows.Row``) of LFM2, LFM2-MoE and Gemma 4 (``hf_layouts_lfm2``, ``hf_layouts_gemma4``), merged
into ``hf_rows.ROWS``.

Each column follows transformers 5.24's ``configuration_*.py`` and ``modeling_*.py`` of the class (read, never
imported), as ``hf_rows``' own table does."""

from __future__ import annotations

from . import hf_layouts_gemma4, hf_layouts_lfm2
from .hf_rows import ABSENT, ATTN, Row

# LFM2 (hf_layouts_lfm2): K (8: a reference model's) required; head_dim a key, else D // N; bias=False on q, k, v, o and
# the MLPs (conv_bias is the layout's); per-head q/k norms; tied by default. Gemma 4 (hf_layouts_gemma4): K and
# head_dim (4, 256: reference models') required; attention_bias on q, k, v, o; per-head q/k norms; 4 norms; tied.
#                           ours            K = N when  H = D//N when  tie    q,k,v  o      mlp    qk_norm norms
ROWS = {
    "Lfm2ForCausalLM":      Row("lfm2",        (),         (ABSENT,),     True,  False, False, False, True,   2,
                                layout=hf_layouts_lfm2.lfm2, prepare=hf_layouts_lfm2.prepare),
    "Lfm2MoeForCausalLM":   Row("lfm2_moe",    (),         (ABSENT,),     True,  False, False, False, True,   2,
                                layout=hf_layouts_lfm2.lfm2_moe, prepare=hf_layouts_lfm2.prepare_moe),
    "Gemma4ForCausalLM":    Row("gemma4_text", (),         (),            True,  ATTN,  ATTN,  False, True,   4,
                                layout=hf_layouts_gemma4.gemma4_text),
}
