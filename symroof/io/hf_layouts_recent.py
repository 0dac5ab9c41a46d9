"""Readers for recent classes of transformers 5.24: VaultGemma, ...

Each reader takes the parsed ``config.json`` and returns what ``hf_layouts``' readers return (card fields,
per-layer attention kinds, per-layer MLP kinds, keys read). What a key means, and its default when absent, is
from transformers 5.24's ``configuration_*.py`` / ``modeling_*.py`` of the class (read, never imported):

- VaultGemma (``VaultGemmaForCausalLM``): Gemma 2's layer without the post-attention and post-MLP norms,
  the same sliding layers (``layer_types``, else even layers), soft-caps and GeGLU. Its model builds the
  sliding mask on every forward, so a null ``sliding_window`` fails there: refused.
- Solar Open (``SolarOpenForCausalLM``): the LLaMA attention (``attention_bias`` on q, k and v; o none) and
  GLM-4.5's MoE on every layer: ``n_routed_experts`` (alias ``num_local_experts``) of
  ``moe_intermediate_size``, a sigmoid router (E x D weights; its ``e_score_correction_bias`` a buffer, not
  counted) and ``n_shared_experts`` x ``moe_intermediate_size`` of shared MLP. Its config has no
  ``intermediate_size`` (the card's d_ff is the experts' width, used by no layer), no first dense layers,
  no q/k norms and no MTP layers (5.24 sets those attributes to AttributeError: a file giving one is refused
  as an unknown key). A ``partial_rotary_factor`` below 1 is refused: its rotary embedding narrows cos and sin,
  but its LlamaAttention rotates whole heads, and the forward fails.
- Jais 2 (``Jais2ForCausalLM``): the LLaMA attention with LayerNorms (weight and bias, before attention and
  MLP, and the final one) and a plain up/down MLP (default relu2); ``attention_bias`` (q, k, v, o) and
  ``mlp_bias`` default to true. Jais2Config refuses a hidden_size that is not a multiple of the heads.
"""

from __future__ import annotations

from ..errors import CardError
from . import hf_layouts
from .hf_layouts import _int, rotary_pct
from .hf_layouts_dense import _mask_needs_window
from .hf_layouts_dense2 import arcee


def vaultgemma(raw, n, where):
    _mask_needs_window(raw, where, "VaultGemma")
    return hf_layouts.gemma2(raw, n, where)


def solar_open(raw, n, where):
    pct, keys = rotary_pct(raw, where, 1)
    if pct != 1:
        raise CardError(f"{where}: key 'partial_rotary_factor' is {pct}; transformers' SolarOpen rotates whole heads "
                        "(LlamaAttention) and its forward fails on narrower cos and sin; allowed: 1 or absent")
    expert = _int(raw, "moe_intermediate_size", where)         # default 1280: Solar-Open-100B's, required
    if "n_shared_experts" in raw and raw["n_shared_experts"] is None:
        raise CardError(f"{where}: key 'n_shared_experts' is null; transformers' SolarOpen multiplies the shared "
                        "width by it (absent: 1); allowed: an integer >= 0")
    fields = {"d_ff": expert, "d_ff_expert": expert,
              "d_ff_shared": _int(raw, "n_shared_experts", where, 1, minimum=0) * expert}
    return fields, None, ["moe"] * n, keys | {"moe_intermediate_size", "n_shared_experts"}


def jais2(raw, n, where):
    arcee(raw, n, where)        # the same check: hidden_size a multiple of num_attention_heads
    return {"norm": "layer", "mlp": "plain"}, None, None, set()
