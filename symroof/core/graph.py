"""The dataflow graph of a decoder-only Transformer for one phase, as a ``networkx.DiGraph``.

A model is a ``Structure``: its distinct block types (``blocks``), each repeated by its own
count symbol, plus the embedding and unembedding around them. The graph is built for a
**phase**:

- ``train``: the forward pass over T tokens, the loss, and the backward pass made by rule
  (``backward.add_backward``);
- ``prefill``: the forward pass over T new tokens, each layer writing its keys and values
  to the KV cache (S = T);
- ``decode``: one new token per sequence (T = 1) attending to S cached tokens: each layer
  appends to the cache and reads all of it.

Nodes are ops; edges carry tensors (``dims`` names, ``shape`` symbolic sizes). Node
attributes (SymPy expressions, per single instance; ``repeat`` instances):

- ``flops``: contraction FLOPs, 2 × the product of the distinct dimensions (ops.py);
- ``vector_flops``: elementwise work (norms, softmax, activations), from ops.ELEMENTWISE;
- ``bytes``: bytes read and written, by element width (``b_param`` weights, ``b_act``
  activations, ``b_kv`` the KV cache);
- ``params``: the weights the node owns, ``{name: dims}``, and their ``param_group``;
- ``block``: the block type it belongs to (None for embedding, unembedding, loss).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import sympy as sp

from . import attention_sparse, ops
from .attention_shares import chunk_share, window_share
from .blocks import Block, add_block, add_norm, blocks_of
from .symbols import (B, D, E, F, F_e, F_s, H, H_idx, H_lk, H_lv, H_r, H_v, K, N, N_idx, N_lk, N_lv, R_kv, R_q, S,
                      T, V, V_pos, W_cv, b_act, b_kv, b_mask, b_param, k, N_ssm, G_ssm, H_ssm, d_st, W_ssm, R_ssm,
                      W_sc, K_g, H_g)

if TYPE_CHECKING:          # networkx is imported when a graph is built, not by `import symroof`
    import networkx as nx

PARAM_GROUPS = ("embedding", "attention", "mlp", "norms", "unembedding", "mtp")     # mtp: multi-token prediction's
PHASES = ("train", "prefill", "decode")


@dataclass(frozen=True)
class Structure:
    """A model's shape (not its sizes): its block types and what surrounds them."""

    blocks: tuple[Block, ...] = (Block(),)
    tied: bool = False
    embeddings: bool = True        # token embedding, final norm, unembedding and loss
    norm: str = "rms"              # the final norm: rms, or layer (LayerNorm with a bias)
    learned_positions: bool = False   # GPT-2: a V_pos x D table added to the token embeddings
    head_bias: bool = False        # a bias of V on the unembedding (Phi)
    embedding_norm: bool = False   # a norm of the final norm's kind on the token embeddings (BLOOM)
    mtp: int = 0                   # multi-token-prediction modules after the head, in training (mtp.py)

    def __post_init__(self):
        names = [blk.name for blk in self.blocks]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"a structure needs block types with distinct names, got {names}")
        if type(self.mtp) is not int or self.mtp < 0 or (self.mtp and not self.embeddings):
            raise ValueError(f"multi-token prediction needs a whole model and a count of modules, got {self.mtp!r}")

    @classmethod
    def uniform(cls, tied: bool = False, embeddings: bool = True, **block) -> "Structure":
        """Every layer the same block type (named ``layer``, counted by ``L``)."""
        return cls((Block(**block),), tied, embeddings)

    @classmethod
    def book_layer(cls) -> "Structure":
        """The layer training.md reasons with: ``In[B,D] · W_in[D,F] · W_out[F,D]``, no attention."""
        return cls.uniform(embeddings=False, attention=False, gated_mlp=False, norms=False)

    @classmethod
    def of(cls, card, context=None, mtp: int = 0) -> "Structure":
        """A card's structure. ``context`` (keys per query: T, or S in decode) clamps a sliding
        window that covers it: such layers see every earlier key and are drawn as global, while
        their KV cache keeps the last w - 1 keys (``Block.window_cache``), as transformers' does; a
        chunk that covers it likewise (``Block.chunk_cache``). ``mtp``: multi-token-prediction modules
        trained after the head (mtp.py)."""
        return cls(blocks_of(card, context), card.tie_embeddings, norm=card.norm,
                   learned_positions=card.positions == "learned", head_bias=card.head_bias,
                   embedding_norm=card.embedding_norm, mtp=mtp)


def dim_sizes(phase: str = "train") -> dict[str, sp.Expr]:
    """Dimension name → size in a phase. Query heads are split as K groups of G = N/K (GQA).

    ``T`` counts the new tokens (1 in decode); ``S`` the keys each query sees (T, or the
    cache length in decode). ``one`` is an output of one value: named, so that its gradient
    ``dx = dy · wᵀ`` contracts it (2 FLOPs a term, as a matmul of inner size 1 runs).
    """
    t = sp.Integer(1) if phase == "decode" else T
    s = S if phase == "decode" else T
    return {"B": B, "T": t, "S": s, "D": D, "F": F, "K": K, "G": N / K, "H": H, "V": V,
            "E": E, "Er": E, "k": k, "R": B * t * k / E, "ids": sp.Integer(1),
            "Fe": F_e, "Fs": F_s, "Rq": R_q, "Rkv": R_kv, "Hr": H_r, "Hv": H_v, "Hq": H + H_r, "Vp": V_pos,
            "Ni": N_idx, "Hi": H_idx,      # DSA's indexer heads and their width (attention_sparse.py)
            "Nlk": N_lk, "Glv": N_lv / N_lk, "Hlk": H_lk, "Hlv": H_lv, "Wcv": W_cv,   # linear attention
            # the Mamba-2 mixer (ssm.py): groups, heads per group, head width, state size, conv taps
            "Gs": G_ssm, "Qs": N_ssm / G_ssm, "Hs": H_ssm, "Ns": d_st, "Ws": W_ssm, "Rs": R_ssm,
            "Kg": K_g, "Gg": N / K_g, "Hg": H_g,      # Gemma 4's full-attention layers (attention_gemma4.py)
            "Dc": D, "Wsc": W_sc,      # LFM2's short conv (short_conv.py): its D channels (a name of their own), taps
            "Dm": 2 * D,               # a multi-token-prediction module's two normed inputs side by side (mtp.py)
            "one": sp.Integer(1)}     # a projection to one value per token (Qwen2-MoE's shared-expert gate)


class _Builder:
    def __init__(self, attention: str, kernel: str, phase: str):
        self.phase = phase
        self.sizes = dim_sizes(phase)
        import networkx as nx

        self.g = nx.DiGraph(attention=attention, fused_attention=kernel == "fused", phase=phase,
                            sizes=self.sizes, block_inputs={}, widths={})
        self.fused = kernel == "fused"
        self.causal = attention == "causal" and phase != "decode"   # one query sees all S keys
        self.dims: dict[str, ops.Dims] = {}        # tensor name -> dims
        self.param_dims: dict[str, ops.Dims] = {}  # parameter name -> dims

    def _add(self, name, op, operands, out_dims, params, group, repeat, block, **extra):
        """``operands``: list of (role, tensor name or parameter name). Output tensor = ``name``."""
        self.dims[name] = out_dims
        self.param_dims.update(params or {})
        self.g.add_node(name, op=op, phase="forward", operands=operands, params=params or {},
                        param_group=group, repeat=repeat, block=block, **extra)
        for role, ref in operands:
            if ref in self.dims and ref not in (params or {}):
                self.g.add_edge(ref, name, tensor=ref, role=role, dims=self.dims[ref],
                                shape=tuple(self.sizes[d] for d in self.dims[ref]))

    @staticmethod
    def _block_of(name: str, repeat) -> str | None:
        return name.split("/")[0] if repeat != 1 else None

    def contraction(self, name, signature, operands, params=None, group=None, repeat=1, core=False):
        sig = ops.parse(signature)
        self._add(name, "contraction", operands, sig.output, params, group, repeat,
                  self._block_of(name, repeat), sig=sig, attention_core=core)

    def elementwise(self, name, kind, operands, out_dims, params=None, group=None, repeat=1,
                    core=False):
        self._add(name, kind, operands, tuple(out_dims.split()), params, group, repeat,
                  self._block_of(name, repeat), attention_core=core)

    def cache_append(self, name: str, src: str, repeat) -> str:
        """Write this step's keys or values into the cache; the cache (length S) is the output."""
        self._add(name, "cache_append", [("x", src)], ("B", "S") + self.dims[src][2:], None, None,
                  repeat, self._block_of(name, repeat), attention_core=False, cache=True)
        self.g.graph["widths"][name] = b_kv
        return name


def _input(b: _Builder, name: str, dims: str) -> None:
    b.g.add_node(name, op="input", phase="forward", operands=[], params={}, param_group=None,
                 repeat=1, block=None, attention_core=False, flops=sp.Integer(0),
                 vector_flops=sp.Integer(0), bytes=sp.Integer(0))
    b.dims[name] = tuple(dims.split())


def _forward(b: _Builder, s: Structure) -> None:
    x = "x"
    if s.embeddings:
        _input(b, "tokens", "B T")
        b.elementwise("embed", "gather", [("ids", "tokens"), ("w", "embed.w")], "B T D",
                      {"embed.w": ("V", "D")}, "embedding")
        x = "embed"
        if s.learned_positions:
            b.elementwise("pos_embed", "gather", [("ids", "tokens"), ("w", "pos_embed.w")], "B T D",
                          {"pos_embed.w": ("Vp", "D")}, "embedding")
            b.elementwise("embed_sum", "add", [("x", "embed"), ("y", "pos_embed")], "B T D")
            x = "embed_sum"
        if s.embedding_norm:
            add_norm(b, "embed_norm", x, "B T D", ("D",), s.norm, 1)
            x = "embed_norm"
    else:
        _input(b, "x", "B T D")
    for block in s.blocks:
        x = add_block(b, block, x)
    b.g.graph["layer_input"] = b.g.graph["block_inputs"][s.blocks[0].name]
    if not s.embeddings:
        return
    add_norm(b, "final_norm", x, "B T D", ("D",), s.norm, 1)
    unembed = {**({} if s.tied else {"unembed.w": ("D", "V")}), **({"unembed.b": ("V",)} if s.head_bias else {})}
    b.contraction("unembed", "B T D, D V -> B T V",
                  [("x", "final_norm"), ("w", "embed.w" if s.tied else "unembed.w")],
                  unembed, "unembedding")
    if b.phase == "train":
        b.elementwise("loss", "cross_entropy", [("logits", "unembed")], "")
        for depth in range(1, s.mtp + 1):
            from .mtp import add_mtp

            x = add_mtp(b, s, x, depth)


# ----------------------------------------------------------------------------- costs


def width(b: _Builder, ref: str) -> sp.Expr:
    """Bytes per element of a tensor or weight: weights b_param, the KV cache b_kv, else b_act."""
    if ref in b.param_dims:
        return b_param
    return b.g.graph["widths"].get(ref, b_act)


def operand(b: _Builder, ref: str) -> tuple[ops.Dims, sp.Expr]:
    """Dims of an operand and its bytes per element."""
    return (b.param_dims[ref] if ref in b.param_dims else b.dims[ref]), width(b, ref)


def core_scale(b: _Builder, node) -> sp.Expr:
    """The causal convention counts half of the T×S attention core (the useful half); a
    sliding window's core counts the (query, key) pairs its window allows (attention_shares.window_share), a
    chunked layer's those of each query's own chunk (attention_shares.chunk_share), a DSA layer's the keys its
    indexer selects and the indexer's the keys each query sees (attention_sparse.scale); a
    linear-attention recurrence its products per token (``flop_scale``: linear_attention.py)."""
    sparse = attention_sparse.scale(b, node)
    if sparse is not None:
        return sparse
    if node.get("flop_scale"):
        return node["flop_scale"]
    if node.get("window") and (b.g.graph["attention"] == "causal" or b.phase == "decode"):
        return window_share(b.sizes, b.phase)       # decode: eager attention too reads only the window
    if node.get("chunk") and (b.g.graph["attention"] == "causal" or b.phase == "decode"):
        return chunk_share(b.sizes, b.phase, b.g.graph["attention"])
    return sp.Rational(1, 2) if (b.causal and node["attention_core"]) else sp.Integer(1)


def elements(b: _Builder, name: str) -> sp.Expr:
    """Elements an elementwise op works on: its output, or its input when it reduces to a scalar (the loss)."""
    dims = b.dims[name] or b.dims[b.g.nodes[name]["operands"][0][1]]
    return ops.numel(dims, b.sizes) * b.g.nodes[name].get("share", 1)   # share: partial RoPE


def _cost_forward(b: _Builder, name: str) -> None:
    node = b.g.nodes[name]
    size = b.sizes
    out = ops.numel(b.dims[name], size)
    hbm = lambda dims: ops.hbm_elements(dims, size, b.fused)   # noqa: E731
    moved = []                             # bytes read and written, summed once at the end
    for role, ref in node["operands"]:
        if role == "ids":
            continue
        dims, w = operand(b, ref)
        # a gather reads only the rows it looks up, not the whole table
        moved.append((out if node["op"] == "gather" else hbm(dims)) * w)
    operand_refs = {ref for _, ref in node["operands"]}
    moved += [ops.numel(d, size) * b_param for p, d in node["params"].items() if p not in operand_refs]
    if node["op"] == "cache_append":       # writes only this step's entries, not the whole cache
        moved.append(ops.numel(b.dims[node["operands"][0][1]], size) * b_kv)
    else:
        moved.append(hbm(b.dims[name]) * b_act)
    if node["op"] == "dropout":            # the mask, kept for the backward pass
        moved.append(hbm(b.dims[name]) * b_mask)
    flops, vector = forward_flops(b, name, core_scale(b, node))
    # fixed_bytes: a linear-attention state kept for decode (linear_attention.py), which no operand or output shape says
    node.update(flops=flops, vector_flops=vector, bytes=node.get("fixed_bytes", sp.Add(*moved)))


def forward_flops(b: _Builder, name: str, scale) -> tuple:
    """(contraction FLOPs, vector FLOPs) of forward op ``name`` at ``scale`` (``core_scale``)."""
    node = b.g.nodes[name]
    if node["op"] == "contraction":
        flops, vector = scale * ops.contraction_flops(node["sig"], b.sizes), sp.Integer(0)
    else:
        flops, vector = sp.Integer(0), scale * ops.elementwise_flops(node["op"], elements(b, name), "forward")
    # vector_extra: a linear-attention recurrence's vector work on its state (linear_attention.py)
    return flops, vector + node.get("vector_extra", 0)


def build(structure: Structure = Structure(), attention: str = "causal", kernel: str = "fused",
          phase: str = "train") -> nx.DiGraph:
    """The graph of a model with this structure in one phase (see the module docstring).

    ``attention="causal"`` counts the useful half of the T×S attention-core work (the book's
    and MFU's convention); ``"full"`` counts all of it, as an unmasked kernel and PyTorch's
    FlopCounterMode do. In decode one query attends to all S keys, so both count the same.
    ``kernel="fused"`` keeps the T×S score matrix on chip (FlashAttention and XLA's fused
    attention); ``"eager"`` writes it to HBM and reads it back, as PyTorch's eager attention
    does. It changes bytes only, never FLOPs. The result is cached (one graph however the
    arguments are spelled, defaults included): treat it as read-only.
    """
    return _build(structure, attention, kernel, phase)


@lru_cache(maxsize=None)
def _build(structure: Structure, attention: str, kernel: str, phase: str) -> nx.DiGraph:
    if attention not in ("causal", "full"):
        raise ValueError(f"attention must be 'causal' or 'full', not {attention!r}")
    if kernel not in ("fused", "eager"):
        raise ValueError(f"kernel must be 'fused' or 'eager', not {kernel!r}")
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {', '.join(PHASES)}, not {phase!r}")
    if attention == "full" and phase != "decode":       # the causal graph's, its FLOPs rescored
        from .full_attention import rescored

        return rescored(_build(structure, "causal", kernel, phase), kernel)
    return _made(structure, attention, kernel, phase)


def _made(structure: Structure, attention: str, kernel: str, phase: str) -> nx.DiGraph:
    """The graph built op by op (``_build``'s, which derives a full-attention graph of training or
    prefill from the causal one's)."""
    from .backward import add_backward

    b = _Builder(attention, kernel, phase)
    _forward(b, structure)
    g = b.g
    for name, data in g.nodes(data=True):
        if data["op"] != "input":
            _cost_forward(b, name)
    if phase == "train":
        add_backward(b)
    if structure.embeddings:        # which end of a pipeline each op outside the layers is on
        import networkx as nx

        first = nx.ancestors(g, g.graph["layer_input"]) | {g.graph["layer_input"]}
        for name, d in g.nodes(data=True):
            if d["block"] is None and d["op"] != "input":
                d["end"] = "first" if d.get("forward", name) in first else "last"
    g.graph["blocks"] = {blk.name: blk.count for blk in structure.blocks}
    if structure.mtp and phase == "train":
        g.graph["mtp"] = structure.mtp
    g.graph["param_dims"] = dict(b.param_dims)
    g.graph["tensor_dims"] = dict(b.dims)
    return g


def per_layer(d) -> bool:
    """Whether a node repeats with its block's layers (a pipeline splits those among its stages) or
    is the embedding's, the head's or the loss's (on one stage each). Read from its block: a block
    type of one layer repeats once, which ``repeat != 1`` takes for the head once numbers are in."""
    return d.get("block") is not None


def with_own_nodes(g: nx.DiGraph, adjacency: bool = False) -> nx.DiGraph:
    """A copy of ``g`` whose graph and node attribute dicts are its own and whose edges are
    ``g``'s: for passes that rewrite node attributes only (sharding, a run's numbers put in),
    where ``g.copy()`` rebuilding every edge was a tenth of ``validate``'s work. Never add or
    remove an edge of the result: ``g`` would change too. With ``adjacency``, each node's lists
    of neighbours are the copy's own too (edges may then be added and removed), and only the edges'
    attribute dicts are ``g``'s: never change an edge's attributes (``recompute.apply`` adds nodes)."""
    out = g.__class__()
    out.graph.update(g.graph)
    out._node = {name: dict(d) for name, d in g._node.items()}
    if adjacency:
        out._succ = out._adj = {name: dict(nbrs) for name, nbrs in g._succ.items()}
        out._pred = {name: dict(nbrs) for name, nbrs in g._pred.items()}
    else:
        out._succ = out._adj = g._succ
        out._pred = g._pred
    return out
