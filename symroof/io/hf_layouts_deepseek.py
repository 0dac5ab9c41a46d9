"""The reader of DeepSeek-V3.2 (``DeepseekV32ForCausalLM``): DeepSeek-V3's MLA and MoE layout plus the
lightning indexer of DeepSeek Sparse Attention on every layer (core/attention_sparse.py).

From transformers 5.24's ``configuration_deepseek_v32.py`` and ``modeling_deepseek_v32.py`` (read, never
imported):

- ``index_topk``, ``index_n_heads``, ``index_head_dim``: the keys each query attends to, the indexer's heads
  and their width. Required: the class's defaults (2048, 64, 128) are its reference model's constants.
- ``q_lora_rank`` must be a number: the indexer's query reads MLA's query latent, and the class's type check
  refuses null (as it does a null ``num_key_value_heads``).
- ``layer_types`` (absent or null: every layer ``indexed_attention``) decides only the cache class; any
  other kind would build a cache without the indexer's keys, which the indexer then fails to update, so
  only ``indexed_attention`` is read.
- ``mlp_layer_types`` (``dense`` or ``sparse`` per layer) decides the MLPs where given, and then
  ``first_k_dense_replace`` is not read (its __post_init__ derives the list from it only when absent).
- its MLPs have no bias whatever ``mlp_bias`` says (hf_keys NEUTRAL_FOR); ``attention_bias`` covers q_a,
  kv_a and o, as in DeepSeek-V3; the indexer's projections have none.
"""

from __future__ import annotations

from ..errors import CardError
from .hf_layouts import _int, _short, deepseek

INDEXED = "indexed_attention"
_MLP_KINDS = {"dense": "dense", "sparse": "moe"}


def deepseek_v32(raw, n, where):
    mlp_types = raw.get("mlp_layer_types")
    base = raw
    if mlp_types is not None:            # first_k_dense_replace is not read then: any value stands for it
        base = {**raw, "first_k_dense_replace": raw.get("first_k_dense_replace", 0)}
    if raw.get("q_lora_rank", 1536) is None:
        raise CardError(f"{where}: key 'q_lora_rank' is null; DeepseekV32ForCausalLM needs it as a positive integer "
                        "(its indexer's query reads MLA's query latent; transformers' type check refuses null)")
    fields, _, mlps, keys = deepseek(3)(base, n, where)
    if mlp_types is not None:
        if not (isinstance(mlp_types, list) and len(mlp_types) == n and all(t in _MLP_KINDS for t in mlp_types)):
            raise CardError(f"{where}: key 'mlp_layer_types' must list {n} entries, each 'dense' or 'sparse', "
                            f"got {_short(mlp_types)}")
        mlps = [_MLP_KINDS[t] for t in mlp_types]
    kinds = raw.get("layer_types")
    if kinds is not None and not (isinstance(kinds, list) and len(kinds) == n and all(t == INDEXED for t in kinds)):
        raise CardError(f"{where}: key 'layer_types' must be null or list {n} entries, each '{INDEXED}' (another "
                        "kind builds a cache without the indexer's keys), got " + _short(kinds))
    fields.update(index_topk=_int(raw, "index_topk", where), index_heads=_int(raw, "index_n_heads", where),
                  index_head_dim=_int(raw, "index_head_dim", where))
    return fields, ["indexed"] * n, mlps, keys | {"index_topk", "index_n_heads", "index_head_dim", "layer_types",
                                                   "mlp_layer_types"}
