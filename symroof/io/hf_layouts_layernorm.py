"""Readers for the LayerNorm classes added after ``hf_layouts``: Phi (phi-1, phi-1.5, phi-2) and StarCoder2.

Each reader takes the parsed ``config.json`` and returns the card fields it decides, the per-layer
attention and MLP kinds, and the config keys it read, as ``hf_layouts``' do. What a key means and
its default is from transformers 5.x's ``configuration_*.py`` / ``modeling_*.py`` of the class
(read, never imported):

- Phi (``PhiForCausalLM``): one LayerNorm (``input_layernorm``) feeds both the attention and the
  MLP, whose outputs are added to the layer's input (x + attn(ln x) + mlp(ln x)); q, k, v and
  ``dense`` all have biases, as do the plain MLP's ``fc1`` and ``fc2`` and the head (``lm_head``,
  a bias of ``vocab_size`` also when the weight is tied); a final LayerNorm. RoPE rotates
  ``partial_rotary_factor`` of each head (default 1/2; top level or inside ``rope_parameters``).
  ``qk_layernorm`` (default false) adds a LayerNorm of ``hidden_size // num_attention_heads``
  (weight and bias) on each head's q and k. The attention takes head_dim = D // N: PhiConfig has no
  ``head_dim``, and a given one is refused (its q/k LayerNorms are D // N wide whatever it says).
- StarCoder2 (``Starcoder2ForCausalLM``): the LLaMA layout with LayerNorms (weight and bias), a
  plain MLP (``c_fc``, ``c_proj``), and ``use_bias`` (default true) on q, k, v, o and both MLP
  matrices; no bias on the head; tied embeddings by default. Every layer slides when
  ``sliding_window`` is set (null: none). Its K falls back to 2 (a reference model's constant), so
  ``num_key_value_heads`` is required; ``head_dim`` is read where given (``getattr``), else D // N.
"""

from __future__ import annotations

from fractions import Fraction

from .hf_layouts import _bool, mistral, rotary_pct

LAYER = {"norm": "layer", "mlp": "plain"}      # LayerNorm with a bias; act(up x), no gate


def phi(raw, n, where):
    pct, _ = rotary_pct(raw, where, Fraction(1, 2))     # rotary_pct (GPT-NeoX's name) is not Phi's: not read
    fields = {**LAYER, "rotary_pct": pct, "parallel_residual": True, "head_bias": True,
              "qk_norm": _bool(raw, "qk_layernorm", where, False)}
    return fields, None, None, {"partial_rotary_factor", "qk_layernorm"}


def starcoder2(raw, n, where):
    fields, kinds, mlps, keys = mistral(raw, n, where)
    return {**LAYER, **fields}, kinds, mlps, keys
