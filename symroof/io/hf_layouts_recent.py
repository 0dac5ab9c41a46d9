"""Readers for recent classes of transformers 5.24: VaultGemma, ...

Each reader takes the parsed ``config.json`` and returns what ``hf_layouts``' readers return (card fields,
per-layer attention kinds, per-layer MLP kinds, keys read). What a key means, and its default when absent, is
from transformers 5.24's ``configuration_*.py`` / ``modeling_*.py`` of the class (read, never imported):

- VaultGemma (``VaultGemmaForCausalLM``): Gemma 2's layer without the post-attention and post-MLP norms,
  the same sliding layers (``layer_types``, else even layers), soft-caps and GeGLU. Its model builds the
  sliding mask on every forward, so a null ``sliding_window`` fails there: refused.
"""

from __future__ import annotations

from . import hf_layouts
from .hf_layouts_dense import _mask_needs_window


def vaultgemma(raw, n, where):
    _mask_needs_window(raw, where, "VaultGemma")
    return hf_layouts.gemma2(raw, n, where)
