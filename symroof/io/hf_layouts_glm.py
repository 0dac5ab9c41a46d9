"""Readers for GLM classes added after GLM-4 and GLM-4.5 (``hf_layouts_dense.glm4``, ``hf_layouts_moe.glm4_moe``).

What a key means and its default is from transformers 5.24's ``configuration_*.py`` / ``modeling_*.py`` of the
class (read, never imported):

- GLM (``GlmForCausalLM``, model_type ``glm``: GLM-4 9B's first transformers class): GLM-4's layer less its two
  post-norms: two RMSNorms a layer (before attention and before the MLP, as LLaMA's), ``gate_up_proj`` one matrix,
  ``attention_bias`` (default true) on q, k and v (o has none), RoPE on ``partial_rotary_factor`` of each head
  (default 1/2, set by GlmConfig's ``__post_init__``). Its K and head_dim fall back to 2 and 128 (GLM-4 9B's) and a
  null one fails to build (``N // None``, ``None * N``): both required. Its rotary embedding makes
  int(head_dim x factor) / 2 frequencies, rounded up, and rotates twice that many dims: a share whose width is not
  an even whole number rotates other dims than it says, so it is refused.
"""

from __future__ import annotations

from ..errors import CardError
from . import hf_layouts_dense
from .hf_layouts import _int


def _even_share(raw, pct, where, name):
    head = _int(raw, "head_dim", where)        # required (hf.py says so when absent or null)
    if (head * pct).denominator != 1 or (head * pct) % 2:
        raise CardError(f"{where}: key 'partial_rotary_factor' is {float(pct)}: {name} rotates "
                        f"2 x ceil(int({head} x {float(pct)}) / 2) dims of each head ({head} wide), not "
                        f"{head * pct}; allowed: a share whose width is an even whole number")


def glm(raw, n, where):
    fields, kinds, mlps, keys = hf_layouts_dense.glm4(raw, n, where)
    if raw.get("head_dim") is not None:        # else hf.py refuses the missing key
        _even_share(raw, fields["rotary_pct"], where, "GLM")
    return fields, kinds, mlps, keys
