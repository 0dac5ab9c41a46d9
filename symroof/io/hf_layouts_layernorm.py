"""Readers for the LayerNorm classes added after ``hf_layouts``: Phi (phi-1, phi-1.5, phi-2), StarCoder2, Falcon.

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
- Falcon (``FalconForCausalLM``): one ``query_key_value`` matrix, ``dense``, a plain MLP of width
  ``ffn_hidden_size`` (absent or null: 4 D), ``bias`` (default false) on all four, LayerNorms, tied
  embeddings by default, head_dim D // N. Its attention, by ``new_decoder_architecture`` (default
  false) and ``multi_query`` (default true): the new one has ``num_kv_heads`` KV heads (absent or
  null: N) and is always parallel, with two norms (``ln_attn``, ``ln_mlp``) unless
  ``num_ln_in_parallel_attn`` is 1; the old one has one KV head with ``multi_query``, else N (a
  ``num_kv_heads`` other than N then breaks its forward, so it is refused), and is parallel with one
  norm when ``parallel_attn`` (default true), else sequential with two. ``alibi`` (default false)
  adds a fixed bias to the scores instead of RoPE (positions: alibi; elementwise, not counted). The
  new architecture broadcasts its K key/value heads to all N query heads before transformers'
  cache stores them: that cache holds N / K times the K heads counted, which the card names.
"""

from __future__ import annotations

from fractions import Fraction

from ..errors import CardError
from .hf_layouts import _bool, _int, _unused_int, mistral, rotary_pct

LAYER = {"norm": "layer", "mlp": "plain"}      # LayerNorm with a bias; act(up x), no gate


def phi(raw, n, where):
    pct, _ = rotary_pct(raw, where, Fraction(1, 2))     # rotary_pct (GPT-NeoX's name) is not Phi's: not read
    fields = {**LAYER, "rotary_pct": pct, "parallel_residual": True, "head_bias": True,
              "qk_norm": _bool(raw, "qk_layernorm", where, False)}
    return fields, None, None, {"partial_rotary_factor", "qk_layernorm"}


def starcoder2(raw, n, where):
    fields, kinds, mlps, keys = mistral(raw, n, where)
    return {**LAYER, **fields}, kinds, mlps, keys


def falcon(raw, n, where):
    new, parallel = _bool(raw, "new_decoder_architecture", where, False), _bool(raw, "parallel_attn", where, True)
    multi_query, alibi = _bool(raw, "multi_query", where, True), _bool(raw, "alibi", where, False)
    heads = raw["num_attention_heads"]          # checked a positive integer by hf.py before any layout reads it
    fields = {**LAYER, "fused_qkv": True, "positions": "alibi" if alibi else "rope"}
    norms = _int(raw, "num_ln_in_parallel_attn", where, 2 if new else 1)
    if new:
        if not parallel:
            raise CardError(f"{where}: key 'parallel_attn' is false with new_decoder_architecture: true; transformers' "
                            "Falcon then builds norms its forward does not call (its new architecture is parallel)")
        fields["n_kv_heads"] = _int(raw, "num_kv_heads", where, heads)
        if fields["n_kv_heads"] < heads:
            fields["note"] = (f"transformers' Falcon broadcasts the {fields['n_kv_heads']} key/value heads to all "
                              f"{heads} query heads before caching them: its KV cache holds "
                              f"{heads // fields['n_kv_heads'] if heads % fields['n_kv_heads'] == 0 else 'N/K'} "
                              "times the heads counted here")
    else:
        given = _unused_int(raw, "num_kv_heads", where, 1)
        fields["n_kv_heads"] = 1 if multi_query else heads
        if not multi_query and given not in (None, heads):
            raise CardError(f"{where}: key 'num_kv_heads' is {given}; with new_decoder_architecture and multi_query "
                            f"false, Falcon's query_key_value makes {heads} key heads ('num_attention_heads'), and "
                            "another number breaks its forward")
        if parallel and norms != 1:
            raise CardError(f"{where}: key 'num_ln_in_parallel_attn' is {norms}; Falcon's old architecture calls one "
                            "norm a parallel layer (allowed: 1 or null)")
    if parallel:
        fields.update(parallel_residual=True, norms_per_layer=norms)
        if norms not in (1, 2):
            raise CardError(f"{where}: key 'num_ln_in_parallel_attn' must be 1 or 2, got {norms}")
    return fields, None, None, {"new_decoder_architecture", "parallel_attn", "multi_query", "alibi",
                                "num_kv_heads", "num_ln_in_parallel_attn"}
