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
- GLM-4.7-Flash (``Glm4MoeLiteForCausalLM``, model_type ``glm4_moe_lite``): DeepSeek-V3's decoder as transformers
  builds it (MLA with its latent cache, sigmoid top-k routing, shared experts, fused expert gate_up; the modeling
  files differ only in names), with two differences. Which layers are MoE is ``mlp_layer_types`` (``dense`` or
  ``sparse`` per layer; absent or null: the first dense, the rest sparse, as its ``__post_init__`` writes it);
  the class has no ``first_k_dense_replace``, so one is accepted only where it says the same. Its rotary
  embedding reads ``partial_rotary_factor`` (default 1), but the attention rotates all ``qk_rope_head_dim`` dims
  and fails on any other share: only 1 is read. ``q_lora_rank`` falls back to 768 (GLM-4.7-Flash's): required,
  null a plain q projection as DeepSeek's. K must equal N (hf.py: MLA's eager attention fails otherwise).
- GLM-5 (``GlmMoeDsaForCausalLM``, model_type ``glm_moe_dsa``): DeepSeek-V3.2's decoder (MLA, MoE and DSA's
  indexer; ``hf_layouts_deepseek.deepseek_v32``; its indexer rotates interleaved pairs, the same ops) with
  cross-layer top-k sharing: a ``shared`` layer of ``indexer_types`` builds no indexer and reuses the previous
  full layer's selection. Only ``full`` layers are read: a shared layer (from ``indexer_types``, or, when that is
  absent or null, ``index_topk_pattern`` or ``index_topk_freq`` / ``index_skip_topk_offset``, as its
  ``__post_init__`` derives them; defaults: every layer full) is refused, as its cache and selection are not
  modelled. ``q_lora_rank`` falls back to 2048 and ``first_k_dense_replace`` to 3 (GLM-5's): required, the latter
  where ``mlp_layer_types`` is absent or null.
"""

from __future__ import annotations

from ..errors import CardError
from . import hf_layouts_dense, hf_layouts_deepseek
from .hf_layouts import _int, _short, deepseek, rotary_pct


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


_MLP_KINDS = {"dense": "dense", "sparse": "moe"}


def glm4_moe_lite(raw, n, where):
    if "q_lora_rank" not in raw:
        raise CardError(f"{where}: missing key 'q_lora_rank' (transformers' default, 768, is GLM-4.7-Flash's; null: "
                        "a plain q projection)")
    pct, _ = rotary_pct({k: v for k, v in raw.items() if k != "rotary_pct"}, where, 1)
    if pct != 1:
        raise CardError(f"{where}: key 'partial_rotary_factor' is {float(pct)}; Glm4MoeLite's attention rotates all "
                        "qk_rope_head_dim dims and fails on a shorter rotary embedding; allowed: 1 or absent")
    fields, _, _, keys = deepseek(3)({**raw, "first_k_dense_replace": 0}, n, where)
    types = raw.get("mlp_layer_types")
    if types is None:
        mlps = ["dense"] + ["moe"] * (n - 1)
    elif isinstance(types, list) and len(types) == n and all(isinstance(t, str) and t in _MLP_KINDS for t in types):
        mlps = [_MLP_KINDS[t] for t in types]
    else:
        raise CardError(f"{where}: key 'mlp_layer_types' must be null or list {n} entries, each 'dense' or "
                        f"'sparse', got {_short(types)}")
    if raw.get("first_k_dense_replace") is not None:
        first = _int(raw, "first_k_dense_replace", where, minimum=0)
        if mlps != ["dense"] * min(first, n) + ["moe"] * (n - first):
            raise CardError(f"{where}: key 'first_k_dense_replace' is {first}; Glm4MoeLite does not read it "
                            "(mlp_layer_types decides its MoE layers) and the two disagree; allowed: null, absent "
                            "or the count of leading dense layers")
    return fields, None, mlps, keys | {"mlp_layer_types", "partial_rotary_factor"}


def _indexer_types(raw, n, where) -> list:
    """The per-layer indexer kinds GlmMoeDsaConfig's __post_init__ derives; (types, the key that decided them)."""
    types, key = raw.get("indexer_types"), "indexer_types"
    if types is None and raw.get("index_topk_pattern") is not None:
        key, pattern = "index_topk_pattern", raw["index_topk_pattern"]
        types = [{"F": "full", "S": "shared"}.get(c) for c in pattern] if isinstance(pattern, str) else pattern
    if types is None:
        freq = _int(raw, "index_topk_freq", where, 1, minimum=0) or 1
        offset = _int(raw, "index_skip_topk_offset", where, 2, minimum=0)
        key, types = "index_topk_freq", ["full" if max(i - offset + 1, 0) % freq == 0 else "shared" for i in range(n)]
    if not (isinstance(types, list) and len(types) == n and all(t in ("full", "shared") for t in types)):
        raise CardError(f"{where}: key '{key}' must give {n} layers, each 'full' or 'shared' ('F' or 'S'), "
                        f"got {_short(types)}")
    if "shared" in types:
        raise CardError(f"{where}: key '{key}' gives {types.count('shared')} of {n} layers a shared indexer (the "
                        "previous full layer's top-k, no indexer of their own), which symroof does not model; "
                        "allowed: every layer full")
    return types


def glm_moe_dsa(raw, n, where):
    if "q_lora_rank" not in raw:
        raise CardError(f"{where}: missing key 'q_lora_rank' (transformers' default, 2048, is GLM-5's)")
    if raw.get("mlp_layer_types") is None and raw.get("first_k_dense_replace") is None:
        raise CardError(f"{where}: missing key 'first_k_dense_replace' (transformers' default, 3, is GLM-5's; or "
                        "give mlp_layer_types)")
    _indexer_types(raw, n, where)
    fields, kinds, mlps, keys = hf_layouts_deepseek.deepseek_v32(raw, n, where)
    return fields, kinds, mlps, keys | {"indexer_types", "index_topk_pattern", "index_topk_freq",
                                        "index_skip_topk_offset"}
