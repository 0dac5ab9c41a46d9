"""Readers for GPT-J, CodeGen, StableLM, Nemotron, OLMo 1 and GPT-Neo.

Each reader takes the parsed ``config.json`` and returns the card fields it decides, the per-layer
attention and MLP kinds, and the config keys it read, as ``hf_layouts``' do. What a key means and its
default is from transformers 5.24's ``configuration_*.py`` / ``modeling_*.py`` of the class (read,
never imported):

- GPT-J (``GPTJForCausalLM``): sizes under ``n_embd``, ``n_head``, ``n_layer``, ``n_inner`` (absent or
  null: 4 D); one LayerNorm (``ln_1``) feeds attention and MLP in parallel (x + attn(ln x) + mlp(ln x));
  q, k, v and ``out_proj`` without biases, a plain MLP (``fc_in``, ``fc_out``) with biases, and a head
  (``lm_head``) with a bias of ``vocab_size``; untied by default. RoPE turns the first ``rotary_dim`` of
  each head's D // N (its pairs interleaved: no count); ``rotary_dim`` is required (its default, 64, is
  GPT-J 6B's), even and at most the head's width (else the forward fails; null fails its type check).
- CodeGen (``CodeGenForCausalLM``): GPT-J's layer with q, k and v as one matrix (``qkv_proj``, its
  outputs interleaved over the 4 shards it was trained on: ``n_embd`` must be a multiple of 4, else its
  forward fails); ``n_ctx`` is unused.
- StableLM (``StableLmForCausalLM``): the LLaMA layer with LayerNorms (weight and bias), ``use_qkv_bias``
  on q, k and v (o has none), RoPE on ``partial_rotary_factor`` of each head (default 1/4, top level or
  in ``rope_parameters``); ``use_parallel_residual`` true drops ``post_attention_layernorm``: one norm
  feeds both branches. Its ``qk_layernorm`` builds a LayerNorm without a bias per head (N + K norms of
  D // N weights each, not one shared over the heads): the card's q/k norms are RMSNorms over all heads
  under an RMSNorm model and carry a bias under a LayerNorm one, so ``qk_layernorm`` true is refused.
  K falls back to 32 (its reference model's): required; head_dim is D // N (no key).
- Nemotron (``NemotronForCausalLM``): the LLaMA attention with ``attention_bias`` on q, k, v and o,
  RoPE on ``partial_rotary_factor`` (default 1/2); an ungated MLP (``up_proj``, ``down_proj``, relu² by
  default) with ``mlp_bias``; ``NemotronLayerNorm1P`` norms, a LayerNorm scaled by (1 + w): the same
  weight and bias, its + 1 elementwise (named). K absent or null fails to build (N // None): required;
  head_dim absent or null is D // N (its __post_init__).
- OLMo 1 (``OlmoForCausalLM``): the LLaMA layer with LayerNorms that have no weight and no bias
  (``OlmoLayerNorm``: no parameters, norm: nonparametric), ``attention_bias`` on q, k, v and o;
  ``clip_qkv`` clamps q, k and v (elementwise: named where set). K absent or null is N (its
  __post_init__); its attention reads a head_dim key when there is one (getattr), else D // N (null fails).
- GPT-Neo (``GPTNeoForCausalLM``): sizes under ``num_layers``, ``num_heads``; learned positions
  (``wpe``, ``max_position_embeddings`` x D: required), q, k, v without biases, ``out_proj`` with one, a
  plain MLP (``c_fc``, ``c_proj``, width ``intermediate_size``, absent or null 4 D) with biases, two
  LayerNorms a layer; tied by default. ``attention_types`` (``[[["global", "local"], 12]]`` when absent
  or null) lists the layer kinds in runs, which must cover ``num_layers`` exactly (transformers refuses
  otherwise); a local layer sees the last ``window_size`` keys (its mask keeps keys i - w < j <= i), read as
  a sliding layer of that window (required where a layer is local: 256 is a reference constant).
  transformers 5.24 keeps every key of its local layers in its cache (a DynamicCache without layer
  types) and scores them all in decode, masked: named in the card's left_out.
"""

from __future__ import annotations

from fractions import Fraction

from ..errors import CardError
from .hf_layouts import _bool, _finite, _int, _short, _unused_int, rotary_pct

LAYER = {"norm": "layer", "mlp": "plain"}      # LayerNorm with a bias; act(up x), no gate


def _rotary_dim(raw, where):
    """GPT-J / CodeGen: ``rotary_dim`` of each head's ``n_embd // n_head`` as the card's rotary share."""
    width, heads = _int(raw, "n_embd", where), _int(raw, "n_head", where)     # before hf.py's size checks
    if width % heads:
        raise CardError(f"{where}: key 'n_embd' ({width}) must be a multiple of 'n_head' ({heads}): "
                        f"{raw['architectures'][0]}'s heads are n_embd // n_head wide")
    head = width // heads
    if raw.get("rotary_dim") is None:
        raise CardError(f"{where}: missing key 'rotary_dim' (null fails transformers' type check, and its default, "
                        f"64, is a reference model's); allowed: an even integer from 2 to the head width {head}")
    dim = _int(raw, "rotary_dim", where)
    if dim % 2 or dim > head:
        raise CardError(f"{where}: key 'rotary_dim' is {dim}; allowed: an even integer from 2 to the head width "
                        f"{head} ('n_embd' // 'n_head'): RoPE turns pairs of the head, and another breaks the forward")
    _unused_int(raw, "n_positions", where, 1)       # the length of its sin/cos table: no weights
    return Fraction(dim, head)


def gptj(raw, n, where):
    fields = {**LAYER, "rotary_pct": _rotary_dim(raw, where), "parallel_residual": True, "head_bias": True}
    return fields, None, None, {"rotary_dim", "n_positions"}


def codegen(raw, n, where):
    fields = {**LAYER, "rotary_pct": _rotary_dim(raw, where), "parallel_residual": True, "head_bias": True,
              "fused_qkv": True}
    if raw["n_embd"] % 4:
        raise CardError(f"{where}: key 'n_embd' is {raw['n_embd']}; CodeGen splits its qkv_proj over 4 shards "
                        "(mp_num), and its forward fails unless n_embd is a multiple of 4")
    _unused_int(raw, "n_ctx", where, 1)
    return fields, None, None, {"rotary_dim", "n_positions", "n_ctx"}


def stablelm(raw, n, where):
    pct, _ = rotary_pct(raw, where, Fraction(1, 4))     # rotary_pct (GPT-NeoX's name) is not StableLM's
    if _bool(raw, "qk_layernorm", where, False):
        raise CardError(f"{where}: key 'qk_layernorm' is true; StableLM then builds a bias-free LayerNorm per head "
                        "on q and k (N + K separate norms), which symroof does not model; allowed: false")
    head = _int(raw, "hidden_size", where) // _int(raw, "num_attention_heads", where)    # hf.py checks the rest
    if int(head * pct) % 2 or not int(head * pct):      # its attention rotates int(head_dim x factor) dims; the
        # rotary embedding's cos and sin are that rounded up to even, and an odd width widens q and k (no error)
        raise CardError(f"{where}: key 'partial_rotary_factor' is {float(pct)}: StableLM rotates int({head} x "
                        f"{float(pct)}) = {int(head * pct)} dims of each head ({head} wide), and its forward then "
                        "computes with wrong shapes unless that is even and nonzero; allowed: such a share")
    fields = {**LAYER, "mlp": "gated", "rotary_pct": pct}
    if _bool(raw, "use_parallel_residual", where, False):     # no post_attention_layernorm: one norm, both branches
        fields.update(parallel_residual=True, norms_per_layer=1)
    return fields, None, None, {"partial_rotary_factor", "qk_layernorm", "use_parallel_residual"}


def nemotron(raw, n, where):
    pct, _ = rotary_pct(raw, where, Fraction(1, 2))
    note = ("LayerNorm1P ((1 + w) · normalised x + b): counted as a LayerNorm, the same weight and bias; its + 1 "
            "is not counted")
    return {**LAYER, "rotary_pct": pct, "note": note}, None, None, {"partial_rotary_factor"}


def olmo(raw, n, where):
    fields = {"norm": "nonparametric"}
    clip = raw.get("clip_qkv")
    if clip is not None:
        if not _finite(clip) or clip <= 0:
            raise CardError(f"{where}: key 'clip_qkv' must be a positive number or null, got {_short(clip)}")
        fields["note"] = f"clip_qkv ({clip}): its elementwise clamp of q, k and v is not counted"
    return fields, None, None, {"clip_qkv"}


_NEO_DEFAULT = [[["global", "local"], 12]]      # GPTNeoConfig's __post_init__ when attention_types is null


def _neo_layers(raw, n, where) -> list:
    """``attention_types`` expanded as GPTNeoConfig does: each [kinds, repeat] adds kinds, repeat times."""
    given = raw.get("attention_types")
    runs = _NEO_DEFAULT if given is None else given
    allowed = ("a list of [kinds, repeat] pairs, kinds a list of 'global' / 'local' and repeat a whole number, "
               f"listing {n} layers ('num_layers')")
    if not isinstance(runs, list):
        raise CardError(f"{where}: key 'attention_types' is {_short(runs)}; allowed: {allowed}")
    kinds: list = []
    for run in runs:
        if not (isinstance(run, list) and len(run) == 2 and isinstance(run[0], list) and type(run[1]) is int
                and run[1] >= 0 and all(k in ("global", "local") for k in run[0])):
            raise CardError(f"{where}: key 'attention_types' lists {_short(run)}; allowed: {allowed}")
        kinds += run[0] * min(run[1], n + 1)       # past num_layers is refused below, whatever the count
        if len(kinds) > n:
            break
    if len(kinds) != n:
        said = "is absent or null: transformers' default, [[['global', 'local'], 12]], lists" if given is None \
            else "lists"
        raise CardError(f"{where}: key 'attention_types' {said} {len(kinds) if len(kinds) <= n else 'more than ' + str(n)}"
                        f" layers, and 'num_layers' is {n}; transformers refuses the config; allowed: {allowed}")
    listed = raw.get("attention_layers")     # to_dict writes the expansion; __post_init__ recomputes it
    if listed is not None and listed != kinds:
        raise CardError(f"{where}: key 'attention_layers' is {_short(listed)}; GPTNeoConfig sets it from "
                        "'attention_types' whatever it says; allowed: that expansion, or absent")
    return kinds


def gpt_neo(raw, n, where):
    kinds = ["sliding" if k == "local" else "global" for k in _neo_layers(raw, n, where)]
    if raw.get("max_position_embeddings") is None:
        raise CardError(f"{where}: missing key 'max_position_embeddings' (GPT-Neo's learned position table; "
                        "transformers' 2048 is a reference model's); allowed: a positive integer")
    fields = {**LAYER, "positions": "learned", "max_positions": _int(raw, "max_position_embeddings", where)}
    if "sliding" in kinds:
        fields["sliding_window"] = _int(raw, "window_size", where)
        fields["note"] = (f"transformers' GPT-Neo keeps every key of its {kinds.count('sliding')} local layers in "
                          "its cache and scores them all in decode, masked: counted here as sliding layers of "
                          f"window_size ({fields['sliding_window']}) keys, caching the last window_size - 1")
    else:
        _unused_int(raw, "window_size", where, 1)
    keys = {"attention_types", "attention_layers", "window_size", "max_position_embeddings"}
    return fields, kinds if "sliding" in kinds else None, None, keys
