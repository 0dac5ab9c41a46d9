"""The layer sequence of a model card: block types and the ordered ``(type, count)`` segments.

A card that says nothing has one block type, ``layer``, repeated ``n_layers`` times, with
sliding-window attention if the card has a window (chunked attention if it has a chunk, DeepSeek's
sparse attention if it has an index_topk) and an
MoE MLP if it has experts. A card
whose layers differ names its block types and lists them in order::

    block_types:
      dense: {mlp: dense}
      moe:   {mlp: moe}
    layers: [[dense, 3], [moe, 58]]              # DeepSeek-V3

    block_types:
      sliding: {attention: sliding}
      global:  {attention: global}
    layers: [{repeat: [[sliding, 5], [global, 1]], times: 10}, [sliding, 2]]   # Gemma 3 27B

A block type's options are ``attention`` (global | sliding | chunked | indexed | linear | mamba | hybrid |
none | shortconv) and ``mlp`` (dense | moe | none); every
other option (norms, biases, widths) is the card's own and the same in every block.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import CardError

ATTENTION_KINDS = ("global", "sliding", "chunked", "indexed", "linear", "mamba", "hybrid", "none", "shortconv")
MLP_KINDS = ("dense", "moe", "none")
SSM_KINDS = ("mamba", "hybrid")      # block types with a Mamba-2 mixer (core/ssm.py)
MAX_SEGMENTS = 4096          # a pattern that expands past this is refused (alias and repeat bombs)


@dataclass(frozen=True)
class BlockType:
    """What one kind of layer does differently from the others."""

    attention: str = "global"   # global: every earlier key; sliding: the last `sliding_window` keys;
                                # chunked: the earlier keys of its own chunk of `attention_chunk` tokens;
                                # indexed: the `index_topk` earlier keys an indexer picks (DeepSeek-V3.2, MLA)
                                # linear: Gated DeltaNet, a recurrent state per head (the card's linear_* keys)
                                # mamba: a Mamba-2 mixer instead of attention (the card's ssm_* keys);
                                # hybrid: global attention and a Mamba-2 mixer side by side, summed (Falcon-H1);
                                # none: no token mixer, the layer is its MLP alone (Nemotron-H's '-' layers);
                                # shortconv: LFM2's gated short conv instead of attention (short_conv_kernel)
    mlp: str = "dense"          # dense: the card's MLP of width d_ff; moe: routed (and shared) experts;
                                # none: no MLP, the layer is its token mixer alone (Mamba-2, Nemotron-H)


def default_layers(n_layers: int, sliding: bool, moe: bool, chunked: bool = False,
                   indexed: bool = False) -> tuple[dict, tuple]:
    kind = BlockType("sliding" if sliding else "chunked" if chunked else "indexed" if indexed else "global",
                     "moe" if moe else "dense")
    return {"layer": kind}, (("layer", n_layers),)


def block_types_from(raw, where: str) -> dict[str, BlockType]:
    if not isinstance(raw, dict) or not raw:
        raise CardError(f"{where}: key 'block_types' must map block names to {{attention, mlp}} options")
    types = {}
    for name, options in raw.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise CardError(f"{where}: key 'block_types' has the name {name!r}; use letters, digits and _")
        options = {} if options is None else options
        if not isinstance(options, dict):
            raise CardError(f"{where}: key 'block_types.{name}' must be a mapping of attention and mlp")
        unknown = sorted(set(map(str, options)) - {"attention", "mlp"})
        if unknown:
            raise CardError(f"{where}: unknown key 'block_types.{name}.{unknown[0]}'; allowed: attention, mlp")
        for key, allowed in (("attention", ATTENTION_KINDS), ("mlp", MLP_KINDS)):
            if key in options and options[key] not in allowed:
                raise CardError(f"{where}: key 'block_types.{name}.{key}' is {options[key]!r}; "
                                f"allowed: {', '.join(allowed)}")
        types[name] = BlockType(**options)
    return types


def segments_from(raw, types: dict, where: str) -> tuple:
    """``[[name, count], {repeat: [...], times: n}, ...]`` → merged ``((name, count), ...)``."""
    out: list = []
    _expand(raw, types, where, "layers", out, 0)
    merged: list = []
    for name, count in out:
        if merged and merged[-1][0] == name:
            merged[-1] = (name, merged[-1][1] + count)
        else:
            merged.append((name, count))
    return tuple(merged)


def _expand(raw, types, where, key, out, depth) -> None:
    if depth > 4:
        raise CardError(f"{where}: key '{key}' nests 'repeat' more than 4 deep")
    if not isinstance(raw, list) or not raw:
        raise CardError(f"{where}: key '{key}' must be a non-empty list of [block type, count] "
                        "or {repeat: [...], times: n}")
    for i, item in enumerate(raw):
        here = f"{key}[{i}]"
        if isinstance(item, dict):
            if set(map(str, item)) != {"repeat", "times"}:
                raise CardError(f"{where}: key '{here}' must be [block type, count] or {{repeat: [...], times: n}}")
            times = _count(item["times"], where, f"{here}.times")
            inner: list = []
            _expand(item["repeat"], types, where, f"{here}.repeat", inner, depth + 1)
            if len(out) + times * len(inner) > MAX_SEGMENTS:
                raise CardError(f"{where}: key '{here}' expands to more than {MAX_SEGMENTS} segments")
            out.extend(inner * times)
            continue
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
            raise CardError(f"{where}: key '{here}' must be [block type, count], got {item!r}")
        if item[0] not in types:
            raise CardError(f"{where}: key '{here}' names the block type {item[0]!r}; "
                            f"allowed: {', '.join(types)}")
        out.append((item[0], _count(item[1], where, f"{here}[1]")))
        if len(out) > MAX_SEGMENTS:
            raise CardError(f"{where}: key '{key}' has more than {MAX_SEGMENTS} segments")


def _count(value, where: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 10**6:
        raise CardError(f"{where}: key '{key}' must be a positive integer (at most 10^6), got {value!r}")
    return value


def check_layers(card, where: str) -> None:
    """The sequence covers exactly ``n_layers``, and every block type used has what it needs."""
    total = sum(count for _, count in card.layers)
    if total != card.n_layers:
        raise CardError(f"{where}: key 'layers' adds up to {total} layers but 'n_layers' is {card.n_layers}")
    used = {name for name, _ in card.layers}
    for name in card.blocks:
        if name not in used:
            raise CardError(f"{where}: key 'block_types.{name}' is not used in 'layers'")
    kinds = [card.blocks[name] for name in used]
    if any(t.attention == "sliding" for t in kinds) and not card.sliding_window:
        raise CardError(f"{where}: a block type has attention: sliding but the card has no 'sliding_window'")
    if card.sliding_window and not any(t.attention == "sliding" for t in kinds):
        raise CardError(f"{where}: key 'sliding_window' is set but no block type has attention: sliding")
    if any(t.attention == "chunked" for t in kinds) and not card.attention_chunk:
        raise CardError(f"{where}: a block type has attention: chunked but the card has no 'attention_chunk'")
    if card.attention_chunk and not any(t.attention == "chunked" for t in kinds):
        raise CardError(f"{where}: key 'attention_chunk' is set but no block type has attention: chunked")
    _check_indexed(card, any(t.attention == "indexed" for t in kinds), where)
    _check_linear(card, kinds, where)
    _check_ssm(card, kinds, where)
    _check_short_conv(card, kinds, where)
    _check_gemma4(card, kinds, where)
    if any(t.mlp == "moe" for t in kinds) != (card.n_experts > 1):
        raise CardError(f"{where}: key 'n_experts' ({card.n_experts}) and the block types disagree: "
                        "a block type with mlp: moe needs n_experts >= 2, and experts need such a block")


_INDEX_KEYS = ("index_topk", "index_heads", "index_head_dim")


def _check_indexed(card, indexed: bool, where: str) -> None:
    """DeepSeek's sparse attention: an indexer over MLA's query latent (transformers' DeepseekV32Indexer reads
    q_a's output; its RoPE rotates the first rope_head_dim of each indexer head)."""
    if not indexed:
        for key in _INDEX_KEYS:
            if getattr(card, key):
                raise CardError(f"{where}: key '{key}' is set but no block type has attention: indexed")
        return
    for key in _INDEX_KEYS:
        if not getattr(card, key):
            raise CardError(f"{where}: key '{key}' is needed (a positive integer) with attention: indexed")
    if card.attention != "mla" or not card.q_lora_rank:
        raise CardError(f"{where}: attention: indexed needs attention: mla with a q_lora_rank (the indexer's "
                        "query reads MLA's query latent)")
    if card.index_head_dim < card.rope_head_dim:
        raise CardError(f"{where}: key 'index_head_dim' ({card.index_head_dim}) must be at least 'rope_head_dim' "
                        f"({card.rope_head_dim}): RoPE rotates that many of each indexer head's dims")


def _check_linear(card, kinds, where: str) -> None:
    """A linear block type needs every linear_* size; they are read only with one."""
    from .cards import LINEAR_KEYS

    linear = any(t.attention == "linear" for t in kinds)
    for key in LINEAR_KEYS:
        if linear and not getattr(card, key):
            raise CardError(f"{where}: key '{key}' is needed (a positive integer) with a block type of attention: linear")
        if not linear and getattr(card, key):
            raise CardError(f"{where}: key '{key}' is only read with a block type of attention: linear")
    if linear and card.linear_value_heads % card.linear_key_heads:
        raise CardError(f"{where}: key 'linear_key_heads' ({card.linear_key_heads}) must divide "
                        f"'linear_value_heads' ({card.linear_value_heads})")
    if linear and (card.attention == "mla" or card.sliding_window or card.attention_chunk):
        raise CardError(f"{where}: a block type of attention: linear is read only beside global attention "
                        "(no mla, sliding_window or attention_chunk)")


def _check_ssm(card, kinds, where: str) -> None:
    """A Mamba-2 block type needs every ssm_* size; they are read only with one. A layer needs a mixer or an MLP."""
    from .cards import SSM_KEYS

    if any(t.attention == "none" and t.mlp == "none" for t in kinds):
        raise CardError(f"{where}: a block type has attention: none and mlp: none; a layer needs one of them")
    ssm = any(t.attention in SSM_KINDS for t in kinds)
    for key in SSM_KEYS:
        if ssm and not getattr(card, key):
            raise CardError(f"{where}: key '{key}' is needed (a positive integer) with a block type of attention: "
                            "mamba or hybrid")
        if not ssm and getattr(card, key):
            raise CardError(f"{where}: key '{key}' is only read with a block type of attention: mamba or hybrid")
    if not ssm and (card.ssm_conv_bias or card.ssm_in_bias or card.ssm_out_bias or not card.ssm_norm):
        raise CardError(f"{where}: keys 'ssm_conv_bias', 'ssm_in_bias', 'ssm_out_bias' and 'ssm_norm' are only read "
                        "with a block type of attention: mamba or hybrid")
    if card.ssm_inner_norms and not card.ssm_dt_rank:
        raise CardError(f"{where}: key 'ssm_inner_norms' is only read with 'ssm_dt_rank' (the Mamba-1 mixer)")
    if card.sub_norms and (card.is_moe or card.attention == "mla" or card.d_ff_shared):
        raise CardError(f"{where}: key 'sub_norms' is read only with a dense MLP and grouped-query attention (BitNet's)")
    if card.ssm_inner_norms_weightless and not card.ssm_inner_norms:
        raise CardError(f"{where}: key 'ssm_inner_norms_weightless' is only read with 'ssm_inner_norms: true'")
    if card.ssm_dt_rank and not ssm:
        raise CardError(f"{where}: key 'ssm_dt_rank' is only read with a block type of attention: mamba or hybrid")
    if card.ssm_dt_rank and (card.ssm_head_dim != 1 or card.ssm_groups != 1 or card.ssm_norm):
        raise CardError(f"{where}: key 'ssm_dt_rank' (the Mamba-1 mixer) needs ssm_head_dim 1 and ssm_groups 1 (its "
                        "d_inner channels are the heads) and ssm_norm: false (it has no gated norm)")
    if ssm and card.ssm_heads % card.ssm_groups:
        raise CardError(f"{where}: key 'ssm_groups' ({card.ssm_groups}) must divide 'ssm_heads' ({card.ssm_heads})")


def _check_short_conv(card, kinds, where: str) -> None:
    """LFM2's short conv needs its kernel; its keys are read only with such a block type."""
    conv = any(t.attention == "shortconv" for t in kinds)
    if conv and not card.short_conv_kernel:
        raise CardError(f"{where}: key 'short_conv_kernel' is needed (a positive integer) with a block type of "
                        "attention: shortconv")
    if not conv and (card.short_conv_kernel or card.short_conv_bias):
        raise CardError(f"{where}: keys 'short_conv_kernel' and 'short_conv_bias' are only read with a block type of "
                        "attention: shortconv")


def _check_gemma4(card, kinds, where: str) -> None:
    """Gemma 4's full-layer widths go together, beside global layers and its value norm (attention_gemma4.py)."""
    wide = bool(card.global_head_dim or card.global_kv_heads or card.attention_k_eq_v)
    if wide and not (card.value_norm and card.global_head_dim and card.global_kv_heads):
        raise CardError(f"{where}: keys 'global_head_dim', 'global_kv_heads' and 'attention_k_eq_v' are read only "
                        "together with value_norm: true, global_head_dim and global_kv_heads (Gemma 4's attention)")
    if wide and card.n_heads % card.global_kv_heads:
        raise CardError(f"{where}: key 'global_kv_heads' ({card.global_kv_heads}) must divide 'n_heads' "
                        f"({card.n_heads})")
    if card.moe_beside_mlp and not (card.n_experts > 1 and card.d_ff_expert and not card.d_ff_shared):
        raise CardError(f"{where}: key 'moe_beside_mlp' needs experts with their own width (n_experts, d_ff_expert) "
                        "and no d_ff_shared (the dense MLP of d_ff runs beside them)")
    if card.value_norm and (card.attention == "mla" or any(t.attention not in ("global", "sliding") for t in kinds)):
        raise CardError(f"{where}: key 'value_norm' (Gemma 4's attention) is read only with global and sliding "
                        "block types")


def layers_to_dict(card) -> dict:
    """The YAML form of a card's block types and segments (for writing a card back out)."""
    return {"block_types": {name: {"attention": t.attention, "mlp": t.mlp} for name, t in card.block_types},
            "layers": [[name, count] for name, count in card.layers]}


def check_layout(card, where: str) -> None:
    """Layout keys of a model card whose allowed values depend on one another."""
    if card.positions == "learned" and not card.max_positions:
        raise CardError(f"{where}: key 'max_positions' is needed (a positive integer) with positions: learned")
    if card.positions != "learned" and card.max_positions:
        raise CardError(f"{where}: key 'max_positions' is only read with positions: learned")
    if card.positions != "rope" and card.rotary_pct != 1:
        raise CardError(f"{where}: key 'rotary_pct' is only read with positions: rope")
    if card.qk_norm_width != "head" and not card.qk_norm:
        raise CardError(f"{where}: key 'qk_norm_width' is only read with qk_norm: true")
    mla = ("kv_lora_rank", "rope_head_dim", "v_head_dim")
    if card.attention == "mla":
        for key in mla:
            if not getattr(card, key):
                raise CardError(f"{where}: key '{key}' is needed (a positive integer) with attention: mla")
        if card.n_kv_heads != card.n_heads:
            raise CardError(f"{where}: key 'n_kv_heads' must equal 'n_heads' with attention: mla "
                            "(MLA expands its latent to every head)")
        if card.fused_qkv or card.qk_norm or card.attention_sinks:
            raise CardError(f"{where}: keys 'fused_qkv', 'qk_norm' and 'attention_sinks' are not read with attention: mla")
    else:
        for key in ("q_lora_rank",) + mla:
            if getattr(card, key):
                raise CardError(f"{where}: key '{key}' is only read with attention: mla")
    if card.fused_gate_up and card.mlp != "gated":
        raise CardError(f"{where}: key 'fused_gate_up' needs mlp: gated (a plain MLP has no gate)")
    if (card.d_ff_expert or card.d_ff_shared or card.moe_bias or card.router_bias) and not card.is_moe:
        raise CardError(f"{where}: keys 'd_ff_expert', 'd_ff_shared', 'moe_bias' and 'router_bias' need experts "
                        "(n_experts >= 2)")
    if card.activation_params and (card.is_moe or card.mlp != "plain"):
        raise CardError(f"{where}: key 'activation_params' is read only with a dense plain MLP (mlp: plain, "
                        "n_experts 1): a gate's or an expert's activation is not modelled with weights")
    if card.shared_expert_gate and not card.d_ff_shared:
        raise CardError(f"{where}: key 'shared_expert_gate' needs a shared expert (d_ff_shared >= 1)")
    if card.norm_placement == "post" and card.norms_per_layer != 2:
        raise CardError(f"{where}: key 'norm_placement' is post, which needs norms_per_layer: 2")
    if card.parallel_residual and (card.norms_per_layer not in (1, 2) or card.norm_placement != "pre"):
        raise CardError(f"{where}: key 'parallel_residual' needs norms_per_layer: 1 or 2 and norm_placement: pre")
    if card.norms_per_layer == 1 and not card.parallel_residual:
        raise CardError(f"{where}: key 'norms_per_layer' is 1, which needs parallel_residual: true (one norm "
                        "feeding both attention and MLP)")
