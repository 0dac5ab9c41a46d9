"""Block types: one kind of Transformer layer each, and the ops it adds to the graph.

A model is an ordered list of block types, each repeated; the graph holds every distinct
block type once, under its own name (``layer/`` for a uniform model), with ``repeat`` equal
to that type's layer-count symbol (``L``, or ``L_<name>``), so every total stays symbolic
in each count. What a block is made of is read off a model card (``Structure.of``); how
its ops cost is in ``ops``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .symbols import layers


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
    dropout: bool = False          # GPT-style dropout on the attention probabilities and on the
                                   # attention and MLP outputs (saves a mask: core/recompute.py)

    @property
    def count(self):
        """The symbol that counts this block type's layers."""
        return layers(self.name)


def add_block(b, block: Block, x: str) -> str:
    """Add one block's forward ops (repeat = its count) reading tensor ``x``; returns its output."""
    p, repeat = block.name, block.count
    b.g.graph["block_inputs"][p] = x

    def proj(name, signature, src, weight_dims, bias_dims, has_bias, group):
        params = {f"{name}.w": weight_dims}
        if has_bias:
            params[f"{name}.b"] = bias_dims
        b.contraction(name, signature, [("x", src), ("w", f"{name}.w")], params, group, repeat)

    def norm(name, src, dims, width="D"):
        b.elementwise(name, "rmsnorm", [("x", src), ("w", f"{name}.w")], dims,
                      {f"{name}.w": (width,)}, "norms", repeat)

    if not block.attention:
        return _mlp_block(b, block, proj, norm, x, x)
    if block.norms:
        norm(f"{p}/attn_norm", x, "B T D")
    xa = f"{p}/attn_norm" if block.norms else x
    attn_out = _attention(b, block, proj, norm, xa)
    if block.sandwich_norms:
        norm(f"{p}/post_attn_norm", attn_out, "B T D")
        attn_out = f"{p}/post_attn_norm"
    if not block.norms:
        return _mlp_block(b, block, proj, norm, attn_out, attn_out)
    b.elementwise(f"{p}/attn_residual", "add", [("x", x), ("y", attn_out)], "B T D", repeat=repeat)
    return _mlp_block(b, block, proj, norm, f"{p}/attn_residual", f"{p}/attn_residual")


def _attention(b, block: Block, proj, norm, xa: str) -> str:
    """Grouped-query attention (MHA and MQA are K = N and K = 1). Keys come from the KV cache
    when the phase keeps one: the cache is written in prefill and read (length S) in decode."""
    p, repeat = block.name, block.count
    proj(f"{p}/attn/q", "B T D, D K G H -> B T K G H", xa, ("D", "K", "G", "H"),
         ("K", "G", "H"), block.qkv_bias, "attention")
    proj(f"{p}/attn/k", "B T D, D K H -> B T K H", xa, ("D", "K", "H"),
         ("K", "H"), block.qkv_bias, "attention")
    proj(f"{p}/attn/v", "B T D, D K H -> B T K H", xa, ("D", "K", "H"),
         ("K", "H"), block.qkv_bias, "attention")
    q, kk = f"{p}/attn/q", f"{p}/attn/k"
    if block.qk_norm:
        norm(f"{p}/attn/q_norm", q, "B T K G H", "H")
        norm(f"{p}/attn/k_norm", kk, "B T K H", "H")
        q, kk = f"{p}/attn/q_norm", f"{p}/attn/k_norm"
    b.elementwise(f"{p}/attn/rope_q", "rope", [("x", q)], "B T K G H", repeat=repeat)
    b.elementwise(f"{p}/attn/rope_k", "rope", [("x", kk)], "B T K H", repeat=repeat)
    keys, values = f"{p}/attn/rope_k", f"{p}/attn/v"
    if b.phase in ("prefill", "decode"):
        keys = b.cache_append(f"{p}/attn/k_cache", keys, repeat)
        values = b.cache_append(f"{p}/attn/v_cache", values, repeat)
    b.contraction(f"{p}/attn/scores", "B T K G H, B S K H -> B K G T S",
                  [("q", f"{p}/attn/rope_q"), ("k", keys)], repeat=repeat, core=True)
    b.elementwise(f"{p}/attn/softmax", "softmax", [("x", f"{p}/attn/scores")], "B K G T S",
                  repeat=repeat, core=True)
    probs = _dropout(b, block, f"{p}/attn/dropout", f"{p}/attn/softmax", "B K G T S", core=True)
    b.contraction(f"{p}/attn/av", "B K G T S, B S K H -> B T K G H",
                  [("p", probs), ("v", values)], repeat=repeat, core=True)
    proj(f"{p}/attn/o", "B T K G H, K G H D -> B T D", f"{p}/attn/av", ("K", "G", "H", "D"),
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
    if block.norms:
        norm(f"{p}/mlp_norm", x, "B T D")
        x = f"{p}/mlp_norm"
    mlp_out = _moe(b, block, x) if block.moe else _mlp(b, block, proj, x)
    mlp_out = _dropout(b, block, f"{p}/mlp/dropout", mlp_out, "B T D")
    if block.sandwich_norms:
        norm(f"{p}/post_mlp_norm", mlp_out, "B T D")
        mlp_out = f"{p}/post_mlp_norm"
    if not block.norms:
        return mlp_out
    b.elementwise(f"{p}/mlp_residual", "add", [("x", residual), ("y", mlp_out)], "B T D",
                  repeat=block.count)
    return f"{p}/mlp_residual"


def _mlp(b, block: Block, proj, x: str) -> str:
    p = block.name
    proj(f"{p}/mlp/up", "B T D, D F -> B T F", x, ("D", "F"), ("F",), block.mlp_bias, "mlp")
    if block.gated_mlp:
        proj(f"{p}/mlp/gate", "B T D, D F -> B T F", x, ("D", "F"), ("F",), block.mlp_bias, "mlp")
        b.elementwise(f"{p}/mlp/act", "gated_act", [("gate", f"{p}/mlp/gate"), ("up", f"{p}/mlp/up")],
                      "B T F", repeat=block.count)
    else:
        b.elementwise(f"{p}/mlp/act", "act", [("x", f"{p}/mlp/up")], "B T F", repeat=block.count)
    proj(f"{p}/mlp/down", "B T F, F D -> B T D", f"{p}/mlp/act", ("F", "D"), ("D",), block.mlp_bias, "mlp")
    return f"{p}/mlp/down"


def _moe(b, block: Block, x: str) -> str:
    """Router, then E experts that together see B·T·k token copies (R = BTk/E each, on average)."""
    p, repeat = block.name, block.count
    # The router's expert axis is named Er (size E) so that sharding the experts (E) never shards it.
    b.contraction(f"{p}/moe/router", "B T D, D Er -> B T Er",
                  [("x", x), ("w", f"{p}/moe/router.w")],
                  {f"{p}/moe/router.w": ("D", "Er")}, "mlp", repeat)
    b.elementwise(f"{p}/moe/route", "route", [("x", f"{p}/moe/router")], "B T k", repeat=repeat)
    b.elementwise(f"{p}/moe/dispatch", "dispatch", [("x", x)], "E R D", repeat=repeat)
    for name in ("gate", "up"):
        b.contraction(f"{p}/moe/{name}", "E R D, E D F -> E R F",
                      [("x", f"{p}/moe/dispatch"), ("w", f"{p}/moe/{name}.w")],
                      {f"{p}/moe/{name}.w": ("E", "D", "F")}, "mlp", repeat)
        b.g.nodes[f"{p}/moe/{name}"]["experts"] = True
    b.elementwise(f"{p}/moe/act", "gated_act", [("gate", f"{p}/moe/gate"), ("up", f"{p}/moe/up")],
                  "E R F", repeat=repeat)
    b.contraction(f"{p}/moe/down", "E R F, E F D -> E R D",
                  [("x", f"{p}/moe/act"), ("w", f"{p}/moe/down.w")],
                  {f"{p}/moe/down.w": ("E", "F", "D")}, "mlp", repeat)
    b.g.nodes[f"{p}/moe/down"]["experts"] = True
    b.elementwise(f"{p}/moe/combine", "combine",
                  [("x", f"{p}/moe/down"), ("weights", f"{p}/moe/route")], "B T D", repeat=repeat)
    return f"{p}/moe/combine"
