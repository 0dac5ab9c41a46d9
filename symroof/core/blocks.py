"""Block types: one kind of Transformer layer each, and the ops it adds to the graph.

A model is an ordered list of block types, each repeated; the graph holds every distinct
block type once, under its own name (``layer/`` for a uniform model), with ``repeat`` equal
to that type's layer-count symbol (``L``, or ``L_<name>``), so every total stays symbolic
in each count. What a block is made of is read off a model card (``Structure.of``); how
its ops cost is in ``ops``.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .attention_shares import chunk_share
from .symbols import layers, rho, w, w_c


@dataclass(frozen=True)
class Block:
    """What changes one layer's shape (not its sizes)."""

    name: str = "layer"            # node-name prefix; its count symbol is symbols.layers(name)
    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    qk_norm: bool = False
    sandwich_norms: bool = False   # Gemma 2: a norm after attention and after the MLP too
    moe: bool = False
    # Switches for the book's simplified layer (Part 5): In·W_in·W_out and nothing else.
    attention: bool = True
    gated_mlp: bool = True
    norms: bool = True             # norms and residual adds
    # Layer variants (model cards: io/cards.py; each checked against transformers in tests/validate/)
    layer_norm: bool = False       # LayerNorm (a weight and a bias) instead of RMSNorm (GPT-2, GPT-NeoX)
    plain_norm: bool = False       # LayerNorm without a weight or a bias: no parameters (OLMo 1)
    post_norms: bool = False       # norms after attention and MLP only, none before (OLMo 2)
    qk_norm_all: bool = False      # q and k norms over all heads' width, not per head (OLMo 2)
    rope: bool = True              # False with learned positions (GPT-2)
    partial_rotary: bool = False   # RoPE rotates a share rho of each head (GPT-NeoX)
    fused_qkv: bool = False        # q, k, v one matrix: the nodes say so (fused="qkv"), same FLOPs
    fused_gate_up: bool = False    # gate and up one matrix (Phi-3)
    parallel_residual: bool = False   # x + attn(norm1 x) + mlp(norm2 x) (GPT-NeoX)
    shared_norm: bool = False      # parallel: one norm feeds both, x + attn(norm x) + mlp(norm x) (Phi)
    sliding: bool = False          # each query sees the last w keys (Mistral, Gemma, Phi-3)
    window_cache: bool = False     # a sliding layer whose window covers the context: its attention is a global
                                   # layer's, but its KV cache still keeps only the last w - 1 keys
    chunked: bool = False          # each query sees only the keys of its own chunk of w_c tokens (Llama 4)
    chunk_cache: bool = False      # a chunked layer whose chunk covers the context: a global layer's attention,
                                   # its KV cache the last w_c - 1 keys (transformers caches it as a sliding layer)
    linear: bool = False           # Gated DeltaNet instead of softmax attention (Qwen3-Next; linear_attention.py)
    output_gate: bool = False      # attention output times sigmoid(gate), the gate from q's projection doubled
    ssm: bool = False              # a Mamba-2 mixer instead of attention (ssm.py); with attention: both, summed
    ssm_conv_bias: bool = False    # Mamba-2: a bias per conv channel
    ssm_in_bias: bool = False      # Mamba-2: a bias on in_proj
    ssm_out_bias: bool = False     # Mamba-2: a bias on out_proj
    ssm_norm: bool = True          # Mamba-2: the gated RMSNorm (else the output times SiLU(z) only)
    mamba1: bool = False           # the Mamba-1 mixer (x_proj and a low-rank dt_proj; ssm.py)
    ssm_inner_norms: bool = False  # Mamba-1: RMSNorms on the time step's input, B and C (Jamba)
    ssm_inner_weightless: bool = False  # those norms without weights (FalconMamba)
    short_conv: bool = False       # LFM2's gated short conv instead of attention (short_conv.py)
    short_conv_bias: bool = False  # LFM2: biases on its in_proj, conv and out_proj (conv_bias)
    value_norm: bool = False       # Gemma 4's attention (attention_gemma4.py): an unweighted RMSNorm on each value head
    wide: bool = False             # Gemma 4's full layers: heads of H_g, K_g KV heads; k_eq_v: values from k's matrix
    k_eq_v: bool = False
    mlp: bool = True               # False: the layer is its token mixer alone (Mamba-2, Nemotron-H)
    mla: bool = False              # DeepSeek's multi-head latent attention (attention_mla.py)
    mla_absorbed: bool = False     # MLA decode with kv_b absorbed into the query and output (serving)
    indexed: bool = False          # DeepSeek-V3.2's sparse attention: an indexer picks each query's k_idx keys
    q_lora: bool = False           # MLA: the query through a rank-R_q projection and a norm
    shared_experts: bool = False   # MoE: an always-on MLP of width F_s beside the routed experts
    expert_width: bool = False     # MoE: experts of width F_e (else F, as Mixtral)
    shared_gate: bool = False      # MoE: the shared expert's output scaled by sigmoid(x·w_g), w_g of D (Qwen2-MoE)
    moe_bias: bool = False         # MoE: biases on the router and on every expert's gate, up and down (gpt-oss)
    router_bias: bool = False      # MoE: a bias of E beside the router only (ERNIE 4.5's e_score_correction_bias)
    moe_beside: bool = False       # MoE beside the dense MLP, each normed, summed (Gemma 4: moe_gemma4.py)
    sinks: bool = False            # a learned logit per query head joins each softmax row (gpt-oss)
    act_params: int = 0            # learned scalars in the MLP's activation (Apertus's xIELU: 2), no FLOPs counted
    sub_norms: bool = False        # norms on the attention output (N·H) before o and the MLP hidden before down (BitNet)
    dropout: bool = False          # GPT-style dropout on the attention probabilities and on the
                                   # attention and MLP outputs (saves a mask: core/recompute.py)
    once: bool = False             # one instance outside the stack (a multi-token-prediction module's: mtp.py)

    @property
    def count(self):
        """The symbol that counts this block type's layers (1 for a block built ``once``)."""
        return sp.Integer(1) if self.once else layers(self.name)


def blocks_of(card, context=None) -> tuple[Block, ...]:
    """A card's block types, in the order they first appear. One type is named ``layer`` (count L)."""
    types = card.blocks
    order = list(dict.fromkeys(name for name, _ in card.layers))
    clamp = context is not None and card.sliding_window and card.sliding_window >= context
    chunk = context is not None and card.attention_chunk and card.attention_chunk >= context
    out = []
    for name in order:
        kind = types[name]
        moe = kind.mlp == "moe"
        out.append(Block(
            name=name if len(order) > 1 else "layer", qkv_bias=card.qkv_bias, o_bias=card.o_bias,
            mlp_bias=card.mlp_bias, qk_norm=card.qk_norm, sandwich_norms=card.norms_per_layer == 4, moe=moe,
            gated_mlp=card.mlp == "gated", layer_norm=card.norm == "layer", plain_norm=card.norm == "nonparametric",
            post_norms=card.norm_placement == "post", qk_norm_all=card.qk_norm_width == "all",
            rope=card.positions == "rope", partial_rotary=card.rotary_pct != 1, fused_qkv=card.fused_qkv,
            fused_gate_up=card.fused_gate_up, parallel_residual=card.parallel_residual,
            shared_norm=card.norms_per_layer == 1,
            sliding=kind.attention == "sliding" and not clamp, window_cache=kind.attention == "sliding" and bool(clamp),
            chunked=kind.attention == "chunked" and not chunk, chunk_cache=kind.attention == "chunked" and bool(chunk),
            linear=kind.attention == "linear", output_gate=card.attention_output_gate,
            attention=kind.attention not in ("mamba", "none", "shortconv"), ssm=kind.attention in ("mamba", "hybrid"),
            short_conv=kind.attention == "shortconv", short_conv_bias=card.short_conv_bias,
            value_norm=card.value_norm, wide=kind.attention == "global" and bool(card.global_head_dim),
            k_eq_v=kind.attention == "global" and card.attention_k_eq_v,
            ssm_conv_bias=card.ssm_conv_bias, ssm_in_bias=card.ssm_in_bias, ssm_out_bias=card.ssm_out_bias,
            ssm_norm=card.ssm_norm, mamba1=bool(card.ssm_dt_rank),
            ssm_inner_norms=card.ssm_inner_norms, ssm_inner_weightless=card.ssm_inner_norms_weightless,
            mlp=kind.mlp != "none",
            mla=card.attention == "mla", indexed=kind.attention == "indexed",
            q_lora=bool(card.q_lora_rank), shared_experts=moe and bool(card.d_ff_shared),
            expert_width=moe and bool(card.d_ff_expert), dropout=card.dropout,
            shared_gate=moe and card.shared_expert_gate, moe_bias=moe and card.moe_bias, sinks=card.attention_sinks,
            router_bias=moe and card.router_bias, act_params=card.activation_params, sub_norms=card.sub_norms,
            moe_beside=moe and card.moe_beside_mlp))
    return tuple(out)


def add_norm(b, name: str, src: str, dims: str, width: tuple, layer_norm: bool | str, repeat) -> None:
    """RMSNorm (a weight) or LayerNorm (a weight and a bias) over the last dims ``width``; ``nonparametric``:
    a LayerNorm without either (OLMo 1), no parameters."""
    if layer_norm == "nonparametric":
        b.elementwise(name, "plain_layernorm", [("x", src)], dims, repeat=repeat)
        return
    params = {f"{name}.w": width}
    if layer_norm is True or layer_norm == "layer":
        params[f"{name}.b"] = width
    b.elementwise(name, "layernorm" if len(params) == 2 else "rmsnorm", [("x", src), ("w", f"{name}.w")],
                  dims, params, "norms", repeat)


def add_block(b, block: Block, x: str) -> str:
    """Add one block's forward ops (repeat = its count) reading tensor ``x``; returns its output."""
    p, repeat = block.name, block.count
    b.g.graph["block_inputs"][p] = x

    def proj(name, signature, src, weight_dims, bias_dims, has_bias, group, fused=None):
        params = {f"{name}.w": weight_dims}
        if has_bias:
            params[f"{name}.b"] = bias_dims
        b.contraction(name, signature, [("x", src), ("w", f"{name}.w")], params, group, repeat)
        if fused:       # one matrix in the checkpoint, several nodes here: same FLOPs and weights
            b.g.nodes[name]["fused"] = f"{p}/{fused}"

    def norm(name, src, dims, width=("D",)):
        add_norm(b, name, src, dims, width, "nonparametric" if block.plain_norm else block.layer_norm, repeat)

    if not block.attention and not block.ssm and not block.short_conv:
        return _mlp_block(b, block, proj, norm, x, x)
    pre = block.norms and not block.post_norms
    if pre:
        norm(f"{p}/attn_norm", x, "B T D")
    xa = f"{p}/attn_norm" if pre else x
    if block.ssm:
        from .ssm import add_ssm

        attn_out = add_ssm(b, block, proj, xa)
        if block.attention:      # Falcon-H1: attention beside the mixer on the same normed input, summed
            both = (attn_out, _attention(b, block, proj, norm, xa))
            b.elementwise(f"{p}/mixers", "add", [("x", both[0]), ("y", both[1])], "B T D", repeat=repeat)
            attn_out = f"{p}/mixers"
    elif block.short_conv:
        from .short_conv import add_short_conv

        attn_out = add_short_conv(b, block, proj, xa)
    elif block.linear:
        from .linear_attention import add_linear

        attn_out = add_linear(b, block, proj, xa)
    elif block.value_norm:
        from .attention_gemma4 import add_gemma4_attention

        attn_out = add_gemma4_attention(b, block, proj, norm, xa)
    elif block.mla:
        from .attention_mla import add_mla

        attn_out = add_mla(b, block, proj, norm, xa)
    else:
        attn_out = _attention(b, block, proj, norm, xa)
    if block.sandwich_norms or block.post_norms:
        norm(f"{p}/post_attn_norm", attn_out, "B T D")
        attn_out = f"{p}/post_attn_norm"
    if not block.norms:
        return _mlp_block(b, block, proj, norm, attn_out, attn_out)
    b.elementwise(f"{p}/attn_residual", "add", [("x", x), ("y", attn_out)], "B T D", repeat=repeat)
    if not block.mlp:
        return f"{p}/attn_residual"
    mlp_in = x if block.parallel_residual else f"{p}/attn_residual"    # parallel: both read the layer input
    return _mlp_block(b, block, proj, norm, mlp_in, f"{p}/attn_residual")


def rope(b, block: Block, name: str, src: str, dims: str, share=1) -> str:
    """RoPE on ``src`` (``share`` of its last dim rotates); none with learned positions."""
    if not block.rope:
        return src
    b.elementwise(name, "rope", [("x", src)], dims, repeat=block.count)
    share = share * (rho if block.partial_rotary else 1)
    if share != 1:
        b.g.nodes[name]["share"] = share
    return name


def core(b, block: Block, q: str, keys: str, values: str, qdim="H", vdim="H", k="K", g="G") -> str:
    """Scores, softmax and attention-weighted values; a sliding block marks them ``window``, a chunked
    one ``chunk``. ``k``, ``g``: the KV-head and group letters (Gemma 4's full layers have their own)."""
    p, repeat = block.name, block.count
    b.contraction(f"{p}/attn/scores", f"B T {k} {g} {qdim}, B S {k} {qdim} -> B {k} {g} T S",
                  [("q", q), ("k", keys)], repeat=repeat, core=True)
    sinks = {f"{p}/attn/sinks.w": (k, g)} if block.sinks else {}
    b.elementwise(f"{p}/attn/softmax", "softmax", [("x", f"{p}/attn/scores"), *(("sinks", s) for s in sinks)],
                  f"B {k} {g} T S", sinks, "attention" if sinks else None, repeat=repeat, core=True)
    if sinks:        # the sink is one more column of each row: the softmax works on S + 1 columns
        b.g.nodes[f"{p}/attn/softmax"]["share"] = (b.sizes["S"] + 1) / b.sizes["S"]
    probs = _dropout(b, block, f"{p}/attn/dropout", f"{p}/attn/softmax", f"B {k} {g} T S", core=True)
    b.contraction(f"{p}/attn/av", f"B {k} {g} T S, B S {k} {vdim} -> B T {k} {g} {vdim}",
                  [("p", probs), ("v", values)], repeat=repeat, core=True)
    if block.sliding or block.chunked:
        for op in ("scores", "softmax", "dropout", "av"):
            if f"{p}/attn/{op}" in b.g:
                b.g.nodes[f"{p}/attn/{op}"]["window" if block.sliding else "chunk"] = True
    return f"{p}/attn/av"


def _attention(b, block: Block, proj, norm, xa: str) -> str:
    """Grouped-query attention (MHA and MQA are K = N and K = 1). Keys come from the KV cache
    when the phase keeps one: the cache is written in prefill and read (length S) in decode."""
    p, repeat = block.name, block.count
    fused = "qkv" if block.fused_qkv else None
    q_fused = fused or ("q_proj" if block.output_gate else None)   # q and its gate: one matrix (Qwen3-Next)
    proj(f"{p}/attn/q", "B T D, D K G H -> B T K G H", xa, ("D", "K", "G", "H"),
         ("K", "G", "H"), block.qkv_bias, "attention", q_fused)
    proj(f"{p}/attn/k", "B T D, D K H -> B T K H", xa, ("D", "K", "H"),
         ("K", "H"), block.qkv_bias, "attention", fused)
    proj(f"{p}/attn/v", "B T D, D K H -> B T K H", xa, ("D", "K", "H"),
         ("K", "H"), block.qkv_bias, "attention", fused)
    q, kk = f"{p}/attn/q", f"{p}/attn/k"
    if block.qk_norm:
        wide = block.qk_norm_all
        norm(f"{p}/attn/q_norm", q, "B T K G H", ("K", "G", "H") if wide else ("H",))
        norm(f"{p}/attn/k_norm", kk, "B T K H", ("K", "H") if wide else ("H",))
        q, kk = f"{p}/attn/q_norm", f"{p}/attn/k_norm"
    q = rope(b, block, f"{p}/attn/rope_q", q, "B T K G H")
    keys, values = rope(b, block, f"{p}/attn/rope_k", kk, "B T K H"), f"{p}/attn/v"
    if b.phase in ("prefill", "decode"):
        keys = b.cache_append(f"{p}/attn/k_cache", keys, repeat)
        values = b.cache_append(f"{p}/attn/v_cache", values, repeat)
        if block.sliding or block.window_cache:   # a sliding layer keeps only the last w - 1 keys (the new one
            # makes w), as transformers' sliding cache layers do, also where the window covers the context
            for name in (keys, values):
                b.g.nodes[name]["share"] = sp.Min(w - 1, b.sizes["S"]) / b.sizes["S"]
        if block.chunked or block.chunk_cache:    # transformers 5.24's DynamicCache keeps a chunked layer as a
            # sliding one of window w_c (cache_utils.py, DYNAMIC_LAYER_TYPE_MAPPING -> DynamicSlidingWindowLayer):
            # the last w_c - 1 keys, though a query at a chunk's start needs none of them (chunk_share)
            for name in (keys, values):
                b.g.nodes[name]["share"] = sp.Min(w_c - 1, b.sizes["S"]) / b.sizes["S"]
                if block.chunked and b.phase == "decode" and b.g.graph["attention"] == "causal":
                    # a chunk-aware kernel reads only the new token's chunk, (S - 1) mod w_c + 1 entries; eager
                    # attention (full) all it holds (derive.kv_cache_bytes(read=True))
                    b.g.nodes[name]["read_share"] = chunk_share(b.sizes, "decode", "causal")
    av = core(b, block, q, keys, values)
    if block.output_gate:       # Qwen3-Next: attention output · sigmoid(x·W_gate), W_gate the doubled q's half
        proj(f"{p}/attn/gate", "B T D, D K G H -> B T K G H", xa, ("D", "K", "G", "H"),
             ("K", "G", "H"), block.qkv_bias, "attention", q_fused)
        b.elementwise(f"{p}/attn/gated", "gated_act", [("gate", f"{p}/attn/gate"), ("up", av)], "B T K G H",
                      repeat=repeat)
        av = f"{p}/attn/gated"
    if block.sub_norms:
        norm(f"{p}/attn/sub_norm", av, "B T K G H", ("K", "G", "H"))
        av = f"{p}/attn/sub_norm"
    proj(f"{p}/attn/o", "B T K G H, K G H D -> B T D", av, ("K", "G", "H", "D"),
         ("D",), block.o_bias, "attention")
    return _dropout(b, block, f"{p}/attn/o_dropout", f"{p}/attn/o", "B T D")


def _dropout(b, block: Block, name: str, x: str, dims: str, core: bool = False) -> str:
    """Dropout of tensor ``x`` where the block has it (training only); returns what follows reads."""
    if not block.dropout or b.phase != "train":
        return x
    b.elementwise(name, "dropout", [("x", x)], dims, repeat=block.count, core=core)
    return name


def _mlp_block(b, block: Block, proj, norm, x: str, residual: str) -> str:
    p = block.name
    if block.shared_norm:        # the attention's norm, read again
        x = f"{p}/attn_norm"
    elif block.norms and not block.post_norms:
        norm(f"{p}/mlp_norm", x, "B T D")
        x = f"{p}/mlp_norm"
    if block.moe_beside:        # Gemma 4: its MLP and the routed experts side by side (moe_gemma4.py)
        from .moe_gemma4 import add_moe_beside

        mlp_out = add_moe_beside(b, block, proj, norm, x, residual)
    else:
        mlp_out = _moe(b, block, proj, x) if block.moe else _mlp(b, block, proj, x)
    mlp_out = _dropout(b, block, f"{p}/mlp/dropout", mlp_out, "B T D")
    if block.sandwich_norms or block.post_norms:
        norm(f"{p}/post_mlp_norm", mlp_out, "B T D")
        mlp_out = f"{p}/post_mlp_norm"
    if not block.norms:
        return mlp_out
    b.elementwise(f"{p}/mlp_residual", "add", [("x", residual), ("y", mlp_out)], "B T D",
                  repeat=block.count)
    return f"{p}/mlp_residual"


def _mlp(b, block: Block, proj, x: str, prefix: str = "mlp", width: str = "F", bias=None) -> str:
    p = f"{block.name}/{prefix}"
    bias = block.mlp_bias if bias is None else bias
    fused = "gate_up" if block.fused_gate_up else None
    proj(f"{p}/up", f"B T D, D {width} -> B T {width}", x, ("D", width), (width,), bias, "mlp", fused)
    if block.gated_mlp:
        proj(f"{p}/gate", f"B T D, D {width} -> B T {width}", x, ("D", width), (width,), bias, "mlp", fused)
        b.elementwise(f"{p}/act", "gated_act", [("gate", f"{p}/gate"), ("up", f"{p}/up")],
                      f"B T {width}", repeat=block.count)
    else:
        scalars = {f"{p}/act.a{i}": ("one",) for i in range(block.act_params if prefix == "mlp" else 0)}
        b.elementwise(f"{p}/act", "act", [("x", f"{p}/up")], f"B T {width}", scalars, "mlp", block.count)
    hidden = f"{p}/act"
    if block.sub_norms and prefix == "mlp":
        add_norm(b, f"{p}/sub_norm", hidden, f"B T {width}", (width,), block.layer_norm, block.count)
        hidden = f"{p}/sub_norm"
    proj(f"{p}/down", f"B T {width}, {width} D -> B T D", hidden, (width, "D"), ("D",), bias, "mlp")
    return f"{p}/down"


def _moe(b, block: Block, proj, x: str, router_in: str | None = None) -> str:
    """Router, then E experts (gated, or plain where the card's MLP is) that together see B·T·k token copies
    (R = BTk/E each, on average);
    with shared experts, an always-on MLP of width F_s beside them (DeepSeek), added in, in
    Qwen2-MoE scaled by a sigmoid gate of its own; gpt-oss has biases on the router and experts."""
    p, repeat = block.name, block.count
    f = "Fe" if block.expert_width else "F"
    # The router's expert axis is named Er (size E) so that sharding the experts (E) never shards it.
    def biased(name, dims, bias_dims):     # gpt-oss: a bias on the router and on each expert matrix
        return {f"{name}.w": dims, **({f"{name}.b": bias_dims} if block.moe_bias else {})}
    router = biased(f"{p}/moe/router", ("D", "Er"), ("Er",))
    if block.router_bias:       # ERNIE 4.5: E weights that only shift the top-k choice (elementwise, no matmul)
        router[f"{p}/moe/router.b"] = ("Er",)
    b.contraction(f"{p}/moe/router", "B T D, D Er -> B T Er", [("x", router_in or x), ("w", f"{p}/moe/router.w")],
                  router, "mlp", repeat)
    scale = {f"{p}/moe/expert_scale": ("Er",)} if block.moe_beside else {}    # Gemma 4's per_expert_scale
    b.elementwise(f"{p}/moe/route", "route", [("x", f"{p}/moe/router"), *(("scale", s) for s in scale)], "B T k",
                  scale, "mlp" if scale else None, repeat)
    b.elementwise(f"{p}/moe/dispatch", "dispatch", [("x", x)], "E R D", repeat=repeat)
    for name in ("gate", "up") if block.gated_mlp else ("up",):     # plain experts: up, act, down (Nemotron-H)
        b.contraction(f"{p}/moe/{name}", f"E R D, E D {f} -> E R {f}",
                      [("x", f"{p}/moe/dispatch"), ("w", f"{p}/moe/{name}.w")],
                      biased(f"{p}/moe/{name}", ("E", "D", f), ("E", f)), "mlp", repeat)
        b.g.nodes[f"{p}/moe/{name}"]["experts"] = True
    if block.gated_mlp:
        b.elementwise(f"{p}/moe/act", "gated_act", [("gate", f"{p}/moe/gate"), ("up", f"{p}/moe/up")],
                      f"E R {f}", repeat=repeat)
    else:
        b.elementwise(f"{p}/moe/act", "act", [("x", f"{p}/moe/up")], f"E R {f}", repeat=repeat)
    b.contraction(f"{p}/moe/down", f"E R {f}, E {f} D -> E R D",
                  [("x", f"{p}/moe/act"), ("w", f"{p}/moe/down.w")],
                  biased(f"{p}/moe/down", ("E", f, "D"), ("E", "D")), "mlp", repeat)
    b.g.nodes[f"{p}/moe/down"]["experts"] = True
    b.elementwise(f"{p}/moe/combine", "combine",
                  [("x", f"{p}/moe/down"), ("weights", f"{p}/moe/route")], "B T D", repeat=repeat)
    if not block.shared_experts:
        return f"{p}/moe/combine"
    shared = _mlp(b, block, proj, x, "shared", "Fs")
    if block.shared_gate:       # Qwen2-MoE: sigmoid(x·w_g) · shared(x), one gate value per token
        proj(f"{p}/moe/shared_gate", "B T D, D one -> B T one", x, ("D", "one"), (), False, "mlp")
        b.elementwise(f"{p}/moe/shared_scale", "gated_act", [("gate", f"{p}/moe/shared_gate"), ("up", shared)],
                      "B T D", repeat=repeat)
        shared = f"{p}/moe/shared_scale"
    b.elementwise(f"{p}/moe/shared_add", "add", [("x", f"{p}/moe/combine"), ("y", shared)], "B T D",
                  repeat=repeat)
    return f"{p}/moe/shared_add"
