"""Readers for dense decoder classes added after ``hf_layouts``: Mistral's window, OLMo 3 and others.

Each reader takes the parsed ``config.json`` and returns the card fields it decides, the per-layer
attention and MLP kinds, and the config keys it read, as ``hf_layouts``' do. What a key means and
its default is from transformers 5.x's ``configuration_*.py`` / ``modeling_*.py`` of the class
(read, never imported):

- Mistral (``MistralForCausalLM``): every layer slides when ``sliding_window`` is set, null: none. The
  key is required: MistralConfig defaults it to 4096 (4.x and 5.x), Mistral 7B's window, so a file
  without it slides every layer at that model's constant. Mixtral's (and StarCoder2's, Ministral 3's)
  default is None: an absent key is no window there (``hf_layouts.mistral``).
- OLMo 3 (``Olmo3ForCausalLM``): OLMo 2's layer (norms after attention and after the MLP, q and k
  RMSNorms over all heads' width, ``attention_bias`` on q, k, v and o) with ``layer_types``
  (absent or null: every fourth layer full, the others sliding, as its ``__post_init__`` writes
  them). A sliding layer needs ``sliding_window`` (transformers' 4096 is a reference model's
  constant); with no sliding layer it is checked and changes nothing. A null window is refused
  here, in Ministral and in Cohere 2: their forward builds the sliding mask whatever the layers,
  and fails without one.
- SmolLM3 (``SmolLM3ForCausalLM``): the LLaMA layer (``attention_bias`` on q, k, v and o,
  ``mlp_bias``) whose layer i rotates q and k only where ``no_rope_layers[i]`` is 1 (absent or
  null: every ``no_rope_layer_interval``-th layer, default 4, is NoPE); NoPE changes no weight or
  matmul and is named in the card's left_out. ``layer_types`` (absent or null: the NoPE layers slide
  when ``use_sliding_window`` is true and ``sliding_window`` set, else none) places the sliding
  layers; listing one with ``use_sliding_window`` false is refused, as transformers' eager and SDPA
  attention then slide it (the mask follows ``layer_types``) and its flash attention does not.
- Ministral (``MinistralForCausalLM``): Mistral's layer (no biases) with ``layer_types`` (absent or
  null: every layer sliding), ``sliding_window`` as OLMo 3's. ``head_dim`` is required: its
  attention reads the config's ``head_dim`` (default None) and fails without one.
- Ministral 3 (``Ministral3ForCausalLM``, also the text model of Mistral 3 wrappers): Mistral's
  layer, every layer sliding when ``sliding_window`` is set (default none); ``layer_types`` is
  not read (transformers warns), so a given one is refused. It multiplies q by
  1 + beta log(1 + floor(position / original_max_position_embeddings)) with both numbers from
  ``rope_parameters`` (absent: its default, beta 0.1), an elementwise op named in left_out; a
  ``rope_parameters`` without them fails in transformers, so it is refused.
- GLM-4 (``Glm4ForCausalLM``): four RMSNorms a layer (before and after attention and MLP, as
  Gemma 2's), ``gate_up_proj`` one matrix, ``attention_bias`` (default true) on q, k and v (o has
  none), RoPE on ``partial_rotary_factor`` of each head (default 1/2).
- Cohere (``CohereForCausalLM``) and Cohere 2 (``Cohere2ForCausalLM``): one norm feeds attention and
  MLP in parallel (x + attn(ln x) + mlp(ln x)); the norm is a LayerNorm without a bias, read as an
  RMSNorm (the same D weights; the mean subtraction, elementwise, named in left_out);
  ``attention_bias`` on q, k, v and o; tied embeddings by default; the logits multiplied by
  ``logit_scale`` (default 0.0625; named in left_out). Cohere's ``use_qk_norm`` adds such norms on
  q and k with a weight per head and channel (N·H and K·H, read as norms over all heads). Cohere 2
  places sliding layers by ``layer_types`` (absent or null: all but every
  ``sliding_window_pattern``-th, default 4), with ``sliding_window`` required where a layer slides,
  and rotates q and k on its sliding layers only (the others named as NoPE); its ``head_dim`` is
  D // N (its ``__post_init__`` overwrites a given one, so another value is refused).
"""

from __future__ import annotations

from ..errors import CardError
from fractions import Fraction

from .hf_layouts import SLIDING, _bool, _finite, _int, _layer_types, _short, _unused_int, _window, mistral, rotary_pct
from .hf_layouts_moe import _no_rope_layers


def _kinds(raw, n, where, default) -> list:
    """Per layer 'sliding' or 'global': ``layer_types`` where given, else ``default(i)`` (True: sliding)."""
    if raw.get("layer_types") is not None:
        return ["sliding" if t == SLIDING else "global" for t in _layer_types(raw, n, where)]
    return ["sliding" if default(i) else "global" for i in range(n)]


def _windowed(raw, kinds, where, fields=None) -> tuple:
    """The card fields and per-layer kinds of ``kinds``: the window required where a layer slides (its
    transformers default is a reference model's constant), else only checked."""
    fields = dict(fields or {})
    if "sliding" in kinds:
        fields["sliding_window"] = _window(raw, where)
        return fields, kinds
    _unused_int(raw, "sliding_window", where, 1)
    return fields, None


def mistral_required(raw, n, where):
    if "sliding_window" not in raw:
        raise CardError(f"{where}: missing key 'sliding_window' (transformers' Mistral then slides every layer at "
                        "4096, Mistral 7B's window); allowed: a positive integer, or null for no window")
    return mistral(raw, n, where)


def olmo3(raw, n, where):
    _mask_needs_window(raw, where, "Olmo3")
    fields, kinds = _windowed(raw, _kinds(raw, n, where, lambda i: (i + 1) % 4), where,
                              {"norm_placement": "post", "qk_norm_width": "all"})
    return fields, kinds, None, {"layer_types", "sliding_window"}


def _nope(raw, n, where) -> list:
    """Per layer, 1 where it rotates q and k (``no_rope_layers``); an empty list leaves transformers
    no entry for layer 0, so it is refused."""
    if raw.get("no_rope_layers") == [] and n:
        raise CardError(f"{where}: key 'no_rope_layers' is empty; allowed: a list of at least {n} entries "
                        "('num_hidden_layers'), each 0 (a NoPE layer) or 1 (RoPE), or null")
    return _no_rope_layers(raw, n, where)


def _nope_note(rope: list, keys: str) -> dict:
    nope = len(rope) - sum(rope)
    return {"note": f"no RoPE on {nope} of {len(rope)} layers ({keys}): RoPE's elementwise ops are counted on "
                    "every layer"} if nope else {}


def smollm3(raw, n, where):
    rope = _nope(raw, n, where)
    on, window = _bool(raw, "use_sliding_window", where, False), raw.get("sliding_window")
    kinds = _kinds(raw, n, where, lambda i: on and window is not None and not rope[i])
    if "sliding" in kinds and not on:
        raise CardError(f"{where}: key 'layer_types' lists sliding layers with use_sliding_window false; "
                        "transformers' SmolLM3 then slides them in eager and SDPA attention (its mask follows "
                        "layer_types) but not in flash attention; set use_sliding_window: true, or list none")
    fields, kinds = _windowed(raw, kinds, where, _nope_note(rope, "no_rope_layers"))
    return fields, kinds, None, {"no_rope_layers", "no_rope_layer_interval", "use_sliding_window",
                                 "sliding_window", "layer_types"}


def _mask_needs_window(raw, where, name) -> None:
    """OLMo 3, Ministral and Cohere 2 build the sliding mask on every forward, sliding layers or not:
    a null window fails there (an absent one is the class's default, needed only where a layer slides)."""
    if "sliding_window" in raw and raw["sliding_window"] is None:
        raise CardError(f"{where}: key 'sliding_window' is null; transformers' {name} builds a sliding mask on every "
                        "forward and fails without a window; allowed: a positive integer (layer_types decides which "
                        "layers slide)")


def ministral(raw, n, where):
    _mask_needs_window(raw, where, "Ministral")
    fields, kinds = _windowed(raw, _kinds(raw, n, where, lambda i: True), where)
    return fields, kinds, None, {"layer_types", "sliding_window"}


def ministral3(raw, n, where):
    if raw.get("layer_types") is not None:
        raise CardError(f"{where}: key 'layer_types' is given; transformers' Ministral3 does not read it (every "
                        "layer slides when sliding_window is set), so it is refused; allowed: null or absent")
    name = "rope_scaling" if raw.get("rope_scaling") is not None else "rope_parameters"    # the first replaces it
    rope = raw.get(name)
    if rope is not None and not isinstance(rope, dict):
        raise CardError(f"{where}: key '{name}' must be a mapping or null, got {_short(rope)}")
    for key in ("llama_4_scaling_beta", "original_max_position_embeddings") if rope is not None else ():
        value = rope.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise CardError(f"{where}: key '{name}.{key}' is {_short(value)}; transformers' Ministral3 "
                            "scales q by it on every layer and fails without it; allowed: a number")
    fields, kinds, mlps, keys = mistral(raw, n, where)
    beta = "its default rope_parameters'" if rope is None else rope["llama_4_scaling_beta"]
    fields["note"] = (f"position-dependent scaling of q (llama_4_scaling_beta, {beta}): its elementwise ops are "
                      "not counted")
    return fields, kinds, mlps, keys | {"layer_types"}


def glm4(raw, n, where):
    pct, keys = rotary_pct(raw, where, Fraction(1, 2))
    return {"fused_gate_up": True, "rotary_pct": pct}, None, None, keys


_COHERE_NORM = ("LayerNorm without a bias (CohereLayerNorm) counted as an RMSNorm: the same D weights; its mean "
                "subtraction's elementwise ops are not counted")


def _logit_scale(raw, where) -> str:
    value = raw.get("logit_scale", 0.0625)          # CohereConfig's default; the logits are multiplied by it
    if not _finite(value):
        raise CardError(f"{where}: key 'logit_scale' must be a number (the logits are multiplied by it), "
                        f"got {_short(value)}")
    return f"logit_scale ({value}): its elementwise scaling of the logits is not counted"


def cohere(raw, n, where):
    qk = raw.get("use_qk_norm") is not None and _bool(raw, "use_qk_norm", where, False)    # null: none
    fields = {"parallel_residual": True, "qk_norm": qk, **({"qk_norm_width": "all"} if qk else {}),
              "note": [_COHERE_NORM, _logit_scale(raw, where)]}
    return fields, None, None, {"use_qk_norm", "logit_scale"}


def cohere2(raw, n, where):
    heads, width = _int(raw, "num_attention_heads", where), _int(raw, "hidden_size", where)   # before hf.py's checks
    if raw.get("head_dim") not in (None, width // heads) or isinstance(raw.get("head_dim"), bool):
        raise CardError(f"{where}: key 'head_dim' is {_short(raw['head_dim'])}; Cohere2's __post_init__ sets it "
                        f"to hidden_size // num_attention_heads ({width // heads}) whatever it says; allowed: that "
                        "or null")
    _mask_needs_window(raw, where, "Cohere2")
    if raw.get("layer_types") is None:
        pattern = _int(raw, "sliding_window_pattern", where, 4)
        kinds = _kinds(raw, n, where, lambda i: (i + 1) % pattern)
    else:
        _unused_int(raw, "sliding_window_pattern", where, 1)
        kinds = _kinds(raw, n, where, None)
    nope = _nope_note([int(k == "sliding") for k in kinds], "its full-attention layers")
    fields, kinds = _windowed(raw, kinds, where, {"parallel_residual": True, "note": [_COHERE_NORM, _logit_scale(raw, where),
                                                           *([nope["note"]] if nope else [])]})
    return fields, kinds, None, {"layer_types", "sliding_window", "sliding_window_pattern", "logit_scale",
                                 "head_dim"}
