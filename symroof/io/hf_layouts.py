"""Per-class readers for what a Hugging Face class builds beyond the LLaMA layer.

Each reader takes the parsed ``config.json`` and returns the card fields it decides and the
config keys it read. What a key means, and its default when absent, is from the transformers
5.x ``configuration_*.py`` / ``modeling_*.py`` of that class (read, never imported):

- GPT-2: ``Conv1D`` weights with biases on every projection, LayerNorms with biases, learned
  positions (``n_positions`` x D), a plain MLP of width ``n_inner`` (absent: 4 D), q, k, v as
  one matrix ``c_attn``, tied embeddings by default.
- GPT-NeoX: one ``query_key_value`` matrix, biases on it and on ``dense`` (``attention_bias``,
  default true) and on both MLP matrices (always), LayerNorms, a parallel residual
  (``use_parallel_residual``, default true), RoPE on ``rotary_pct`` of each head (default 1/4).
- Phi-3: ``qkv_proj`` and ``gate_up_proj`` fused, no biases, every layer sliding when
  ``sliding_window`` is set.
- OLMo 2: norms after attention and after the MLP (none before), q and k RMSNorms over all
  heads' width, ``attention_bias`` on q, k, v and o.
- Qwen2, Qwen3: with ``use_sliding_window`` true, layers from ``max_window_layers`` on slide (then
  required: transformers' default 28 is a reference model's constant); false (the default): no
  window, as transformers sets it to None, and both keys are still checked.
- Qwen3-MoE: Qwen3 attention; layer i is MoE unless listed in ``mlp_only_layers`` (distinct
  indices 0 .. L - 1) or ``(i + 1) % decoder_sparse_step != 0``; every layer sliding when
  ``use_sliding_window`` (its code reads no ``max_window_layers``: a nonzero one is checked and
  named as not read in the card's source).
- Gemma 3: Gemma 2's four norms plus q and k norms; ``layer_types`` (absent: every
  ``sliding_window_pattern``-th layer global, default 6). Both Gemmas' tanh soft-caps (Gemma 2's
  default 50 and 30, Gemma 3's none) are named in the card's left_out: their elementwise ops are not counted.
- DeepSeek-V2/V3: MLA (``q_lora_rank`` null: a plain q projection), the first
  ``first_k_dense_replace`` layers dense (width ``intermediate_size``), the rest MoE with
  ``n_shared_experts`` x ``moe_intermediate_size`` of shared experts. The router's weight is a
  parameter; V3's ``e_score_correction_bias`` is a buffer, not a parameter, so it is not counted.
  V3's multi-token-prediction module (``num_nextn_predict_layers``) is not built by transformers
  and is not counted either; the card's source says so. DeepSeek-V3.2 adds its sparse attention's
  indexer (hf_layouts_deepseek).
- Qwen2-MoE: Qwen3-MoE's placement of MoE layers; each has ``shared_expert_intermediate_size`` of
  shared expert scaled by ``sigmoid(x · w)`` (``shared_expert_gate``, D weights). With
  ``use_sliding_window`` true, layer i slides when i < ``max_window_layers`` and i is even (5.x's
  ``layer_types`` default); ``layer_types`` may list them instead.
- gpt-oss: every layer MoE, with biases on the router and on each expert's matrices, and a learned
  sink logit per query head in every attention (N weights a layer); ``layer_types`` (absent: even
  layers slide) with ``sliding_window`` required where a layer slides (transformers' 128 is a
  reference model's constant).
- Granite: the LLaMA layer; ``embedding_multiplier``, ``residual_multiplier`` and ``logits_scaling``
  scale the embeddings, each branch and the logits by a number (elementwise: not counted, and named
  in the card's left_out when not 1); ``attention_multiplier`` replaces the 1/sqrt(head_dim) scale.
"""

from __future__ import annotations

import math
import re
import reprlib
from fractions import Fraction

from ..errors import CardError

GLOBAL, SLIDING = "full_attention", "sliding_attention"


def _int(raw, key, where, default=None, minimum=1):
    """A non-negative integer key; ``default`` when absent (None: required)."""
    if key not in raw or raw[key] is None:
        if default is None:
            raise CardError(f"{where}: missing key '{key}' (transformers' default is a reference model's constant)")
        return default
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or value > 10**12:
        too_big = "" if isinstance(value, bool) or not isinstance(value, int) or value < minimum else " and at most 10^12"
        raise CardError(f"{where}: key '{key}' must be an integer >= {minimum}{too_big}, got {_short(value)}")
    return value


def _unused_int(raw, key, where, minimum):
    """A key that changes nothing in this config, still checked: null/absent, or an integer as ``_int`` reads it."""
    return None if raw.get(key) is None else _int(raw, key, where, minimum=minimum)


def _layer_indices(raw, key, n, where) -> set:
    """A list of distinct layer indices 0 .. n - 1 (null or absent: none), as a set (read once per layer)."""
    value = raw.get(key)
    if value is None:
        return set()
    allowed = f"a list of distinct integer layer indices from 0 to {n - 1} ('num_hidden_layers' is {n}), or null"
    if not isinstance(value, list):
        raise CardError(f"{where}: key '{key}' must be {allowed}, got {reprlib.repr(value)}")
    seen: set = set()
    for i in value:
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n:
            raise CardError(f"{where}: key '{key}' lists {reprlib.repr(i)}; allowed: {allowed}")
        if i in seen:
            raise CardError(f"{where}: key '{key}' lists layer {i} twice; allowed: {allowed}")
        seen.add(i)
    return seen


def _bool(raw, key, where, default):
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise CardError(f"{where}: key '{key}' must be true or false, got {value!r}")
    return value


def _fraction(raw, key, where, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise CardError(f"{where}: key '{key}' must be a number in (0, 1], got {value!r}")
    return Fraction(repr(value)) if isinstance(value, float) else Fraction(value)


def rotary_pct(raw: dict, where: str, default) -> tuple[Fraction, set]:
    """``rotary_pct`` (GPT-NeoX's old key), ``partial_rotary_factor``, or the one inside ``rope_parameters``."""
    nested = raw.get("rope_parameters") if isinstance(raw.get("rope_parameters"), dict) else {}
    top, inner = raw.get("partial_rotary_factor"), nested.get("partial_rotary_factor")
    if None not in (top, inner) and top != inner:       # transformers 5 reads the nested one: refuse, not guess
        raise CardError(f"{where}: key 'partial_rotary_factor' is {_short(top)} but rope_parameters' is {_short(inner)}; "
                        "allowed: one of them, or both equal")
    for key, source in (("rotary_pct", raw), ("partial_rotary_factor", raw), ("partial_rotary_factor", nested)):
        if key in source and source[key] is not None:
            return _fraction(raw, key, where, source[key]), {"rotary_pct", "partial_rotary_factor"}
    return Fraction(default), {"rotary_pct", "partial_rotary_factor"}


def _window(raw, where, key="sliding_window"):
    """The window of the sliding layers. One longer than the model's context (Phi-3.5-mini and
    Phi-4-mini publish 262144 over 131072 positions) is read as given: a window that covers the
    sequence counted is a global layer, and the output says so (``attention_notes.window_notes``)."""
    return _int(raw, key, where)


def _layer_types(raw, n_layers, where) -> list[str]:
    types = raw["layer_types"]
    if not (isinstance(types, list) and len(types) == n_layers and all(t in (GLOBAL, SLIDING) for t in types)):
        raise CardError(f"{where}: key 'layer_types' must list {n_layers} entries, each "
                        f"'{GLOBAL}' or '{SLIDING}'")
    return types


HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]{0,95}(/[A-Za-z0-9][\w.-]{0,95})?")    # owner/name on the Hub


def _finite(value) -> bool:
    """A JSON number a float holds: not a bool, NaN or infinity, nor an integer past a float's range
    (math.isfinite raises OverflowError on one; a config may carry hundreds of digits)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return abs(value) < 2 ** 1023 if isinstance(value, int) else math.isfinite(value)


def _short(value) -> str:
    """A config value as an error quotes it: its repr, cut short (a config may hold megabytes)."""
    return reprlib.repr(value)


# Each reader returns (card fields, per-layer attention kinds or None, per-layer MLP kinds or None, keys read).

def gpt2(raw, n, where):
    fields = {"norm": "layer", "mlp": "plain", "positions": "learned", "fused_qkv": True,
              "max_positions": _int(raw, "n_positions", where)}
    return fields, None, None, {"n_positions"}


def gpt_neox(raw, n, where):
    pct, keys = rotary_pct(raw, where, Fraction(1, 4))
    fields = {"norm": "layer", "mlp": "plain", "fused_qkv": True, "rotary_pct": pct, "mlp_bias": True,
              "parallel_residual": _bool(raw, "use_parallel_residual", where, True)}
    return fields, None, None, keys | {"use_parallel_residual"}


def phi3(raw, n, where):
    pct, keys = rotary_pct(raw, where, 1)
    window = raw.get("sliding_window")
    fields = {"fused_qkv": True, "fused_gate_up": True, "rotary_pct": pct}
    kinds = None if window is None else ["sliding"] * n
    if window is not None:
        fields["sliding_window"] = _window(raw, where)
    return fields, kinds, None, keys | {"sliding_window"}


def olmo2(raw, n, where):
    return {"norm_placement": "post", "qk_norm_width": "all"}, None, None, set()


def _sliding_from(raw, n, where, switch="use_sliding_window"):
    """Qwen2/Qwen3 style: with ``use_sliding_window`` true, layers from ``max_window_layers`` on slide.

    With it false (the default) transformers sets the window to None and no layer slides; both keys
    are still checked, so a broken value is refused rather than passed over.
    """
    if not _bool(raw, switch, where, False):
        _unused_int(raw, "max_window_layers", where, 0)
        _unused_int(raw, "sliding_window", where, 1)
        return {}, None
    if raw.get("layer_types") is not None:
        raise CardError(f"{where}: key 'layer_types' is given with {switch}: true; symroof reads the sliding "
                        "layers from max_window_layers only (give one or the other)")
    if raw.get("max_window_layers") is None:
        raise CardError(f"{where}: missing key 'max_window_layers' (with {switch}: true, layers from it on slide; "
                        "transformers' default, 28, is a reference model's constant); allowed: an integer >= 0")
    start = _int(raw, "max_window_layers", where, minimum=0)
    kinds = ["global" if i < start else "sliding" for i in range(n)]
    if "sliding" not in kinds:
        _unused_int(raw, "sliding_window", where, 1)
        return {}, kinds
    return {"sliding_window": _window(raw, where)}, kinds


def qwen_sliding(raw, n, where):
    fields, kinds = _sliding_from(raw, n, where)
    return fields, kinds, None, {"use_sliding_window", "max_window_layers", "sliding_window"}


def qwen3_moe(raw, n, where):
    # transformers' Qwen3-MoE slides every layer when use_sliding_window is true: its attention takes
    # config.sliding_window on every layer and it has no max_window_layers (that key is Qwen2's and Qwen3's).
    fields, kinds = {}, None
    start = _unused_int(raw, "max_window_layers", where, 0)
    if _bool(raw, "use_sliding_window", where, False):
        fields, kinds = {"sliding_window": _window(raw, where)}, ["sliding"] * n
        if start:        # Qwen2/Qwen3 would keep layers 0 .. start - 1 global; say that it is not read
            fields["note"] = (f"max_window_layers ({start}) not read: transformers' Qwen3-MoE slides all {n} layers "
                              "when use_sliding_window is true (Qwen2 and Qwen3 keep the layers below it global)")
    else:
        _unused_int(raw, "sliding_window", where, 1)
    mlps = _moe_layers(raw, n, where)
    fields["d_ff_expert"] = _int(raw, "moe_intermediate_size", where)
    return fields, kinds, mlps, {"use_sliding_window", "sliding_window", "decoder_sparse_step", "mlp_only_layers",
                                 "moe_intermediate_size", "max_window_layers"}


def mistral(raw, n, where):
    window = raw.get("sliding_window")
    if window is None:
        return {}, None, None, {"sliding_window"}
    return {"sliding_window": _window(raw, where)}, ["sliding"] * n, None, {"sliding_window"}


def _soft_caps(raw, defaults, where) -> dict:
    """Gemma's tanh soft-caps of the attention scores and the logits (absent: the class's default)."""
    given = []
    for key, default in zip(("attn_logit_softcapping", "final_logit_softcapping"), defaults):
        value = raw.get(key, default)
        if value is not None and (not _finite(value) or value <= 0):
            raise CardError(f"{where}: key '{key}' must be a positive number or null (a tanh soft-cap), "
                            f"got {_short(value)}")
        given += [f"{key} {value}"] if value is not None else []
    return {"note": f"tanh soft-capping ({', '.join(given)}): its elementwise ops on the scores and logits "
                    "are not counted"} if given else {}


def gemma2(raw, n, where):
    if raw.get("layer_types") is not None:
        kinds = ["sliding" if t == SLIDING else "global" for t in _layer_types(raw, n, where)]
    else:      # Gemma 2: even layers slide
        kinds = ["sliding" if i % 2 == 0 else "global" for i in range(n)]
    fields = {"sliding_window": _window(raw, where)} if "sliding" in kinds else {}
    return {**fields, **_soft_caps(raw, (50.0, 30.0), where)}, kinds, None, {"layer_types", "sliding_window"}


def gemma3(raw, n, where):
    if raw.get("layer_types") is not None:
        kinds = ["sliding" if t == SLIDING else "global" for t in _layer_types(raw, n, where)]
    else:
        pattern = _int(raw, "sliding_window_pattern", where, 6)
        kinds = ["sliding" if (i + 1) % pattern else "global" for i in range(n)]
    fields = {"sliding_window": _window(raw, where)} if "sliding" in kinds else {}
    fields.update(_soft_caps(raw, (None, None), where))
    return fields, kinds, None, {"layer_types", "sliding_window", "sliding_window_pattern"}


def deepseek(version):
    def read(raw, n, where):
        q_lora = raw.get("q_lora_rank", 1536)       # both versions default to 1536; null means a plain q
        fields = {"attention": "mla", "q_lora_rank": 0 if q_lora is None else _int(raw, "q_lora_rank", where),
                  "kv_lora_rank": _int(raw, "kv_lora_rank", where), "head_dim": _int(raw, "qk_nope_head_dim", where),
                  "rope_head_dim": _int(raw, "qk_rope_head_dim", where), "v_head_dim": _int(raw, "v_head_dim", where),
                  "d_ff_expert": _int(raw, "moe_intermediate_size", where)}
        shared = _int(raw, "n_shared_experts", where, minimum=0)
        if not shared and version == 2 and raw.get("mlp_bias") is True:
            raise CardError(f"{where}: key 'n_shared_experts' is 0 with mlp_bias: true; transformers then builds an "
                            "empty shared expert whose down-projection bias (hidden_size weights) is not modelled")
        fields["d_ff_shared"] = shared * fields["d_ff_expert"]
        first_dense = _int(raw, "first_k_dense_replace", where, 0 if version == 2 else None, minimum=0)
        mlps = ["dense" if i < first_dense else "moe" for i in range(n)]
        for key, expected in (("head_dim", fields["rope_head_dim"]),
                              ("qk_head_dim", fields["head_dim"] + fields["rope_head_dim"])):
            if raw.get(key) not in (None, expected):   # saved by transformers' __post_init__; nothing new
                raise CardError(f"{where}: key '{key}' is {raw[key]!r}; {version and 'DeepSeek'} derives it as "
                                f"{expected} and it changes nothing else")
        if raw.get("moe_layer_freq", 1) != 1:
            raise CardError(f"{where}: key 'moe_layer_freq' is {raw['moe_layer_freq']!r}; only 1 is read "
                            "(transformers ignores it and builds every layer from first_k_dense_replace on as MoE)")
        keys = {"q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim",
                "moe_intermediate_size", "n_shared_experts", "first_k_dense_replace", "head_dim", "qk_head_dim",
                "moe_layer_freq"}
        return fields, None, mlps, keys
    return read


def _moe_layers(raw, n, where) -> list:
    """Qwen-MoE style: layer i is MoE unless listed in ``mlp_only_layers`` or ``(i + 1) % decoder_sparse_step``."""
    step = _int(raw, "decoder_sparse_step", where, 1)
    dense = _layer_indices(raw, "mlp_only_layers", n, where)
    return ["dense" if (i in dense or (i + 1) % step) else "moe" for i in range(n)]


def qwen2_moe(raw, n, where):
    on = _bool(raw, "use_sliding_window", where, False)
    if raw.get("layer_types") is not None:
        kinds = ["sliding" if t == SLIDING else "global" for t in _layer_types(raw, n, where)]
        _unused_int(raw, "max_window_layers", where, 0)
        if "sliding" in kinds and not on:
            raise CardError(f"{where}: key 'layer_types' lists sliding layers with use_sliding_window false; "
                            "transformers then gives them a window of 0 (set use_sliding_window: true)")
    elif on:
        if raw.get("max_window_layers") is None:
            raise CardError(f"{where}: missing key 'max_window_layers' (with use_sliding_window: true, the even "
                            "layers below it slide; transformers' default, 28, is a reference model's constant)")
        start = _int(raw, "max_window_layers", where, minimum=0)
        kinds = ["sliding" if i < start and (i + 1) % 2 else "global" for i in range(n)]
    else:
        _unused_int(raw, "max_window_layers", where, 0)
        kinds = ["global"] * n
    fields = {"d_ff_expert": _int(raw, "moe_intermediate_size", where),
              "d_ff_shared": _int(raw, "shared_expert_intermediate_size", where), "shared_expert_gate": True}
    if "sliding" in kinds:
        fields["sliding_window"] = _window(raw, where)
    else:
        _unused_int(raw, "sliding_window", where, 1)
    return fields, kinds if "sliding" in kinds else None, _moe_layers(raw, n, where), \
        {"use_sliding_window", "sliding_window", "max_window_layers", "layer_types", "decoder_sparse_step",
         "mlp_only_layers", "moe_intermediate_size", "shared_expert_intermediate_size"}


def gpt_oss(raw, n, where):
    if raw.get("layer_types") is not None:
        kinds = ["sliding" if t == SLIDING else "global" for t in _layer_types(raw, n, where)]
    else:      # transformers' default: even layers slide
        kinds = ["sliding" if (i + 1) % 2 else "global" for i in range(n)]
    fields = {"attention_sinks": True, "moe_bias": True}
    if "sliding" in kinds:
        fields["sliding_window"] = _window(raw, where)
    else:
        _unused_int(raw, "sliding_window", where, 1)
    return fields, kinds, None, {"layer_types", "sliding_window"}


def granite(raw, n, where):
    given = []
    for key in ("embedding_multiplier", "residual_multiplier", "logits_scaling", "attention_multiplier"):
        value = raw.get(key, 1.0)
        if not _finite(value) or value <= 0:
            raise CardError(f"{where}: key '{key}' must be a positive number, got {_short(value)}")
        given += [f"{key} {value}"] if value != 1 and key != "attention_multiplier" else []
    note = {"note": f"scalar multipliers ({', '.join(given)}): their elementwise ops on the embeddings, "
                    "residual branches and logits are not counted"} if given else {}
    return note, None, None, {"embedding_multiplier", "residual_multiplier", "logits_scaling", "attention_multiplier"}
