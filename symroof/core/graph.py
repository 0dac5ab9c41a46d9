"""The dataflow graph of a whole decoder-only Transformer, forward and backward, as a ``networkx.DiGraph``.

Nodes are ops; edges carry tensors (``dims`` names, ``shape`` symbolic sizes). The ``L``
identical layers are one set of nodes under ``layer/`` with ``repeat = L``, so every total
stays symbolic in ``L``. Node attributes (all SymPy expressions, per single instance):

- ``flops``: contraction FLOPs, 2 × the product of the distinct dimensions (ops.py);
- ``vector_flops``: elementwise work (norms, softmax, activations), from ops.ELEMENTWISE;
- ``bytes``: bytes read and written, by dtype (``b_act`` for activations, ``b_param`` for weights);
- ``params``: the weights the node owns, ``{name: dims}``, and their ``param_group``.

The backward graph is made from the forward one by rule (``ops.Signature.gradient``);
nothing in it is written out by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import networkx as nx
import sympy as sp

from ..core import ops
from ..core.symbols import B, D, E, F, H, K, L, N, T, V, b_act, b_param, k

PARAM_GROUPS = ("embedding", "attention", "mlp", "norms", "unembedding")


@dataclass(frozen=True)
class Structure:
    """What changes the graph's shape (not its sizes): read off a model card."""

    tied: bool = False
    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    qk_norm: bool = False
    sandwich_norms: bool = False   # Gemma 2: a norm after attention and after the MLP too
    moe: bool = False
    # Switches for the book's simplified layer (Part 5): In·W_in·W_out and nothing else.
    attention_block: bool = True
    gated_mlp: bool = True
    embeddings: bool = True        # token embedding, final norm, unembedding and loss
    norms: bool = True             # norms and residual adds

    @classmethod
    def book_layer(cls) -> "Structure":
        """The layer training.md reasons with: ``In[B,D] · W_in[D,F] · W_out[F,D]``, no attention."""
        return cls(attention_block=False, gated_mlp=False, embeddings=False, norms=False)

    @classmethod
    def of(cls, card) -> "Structure":
        return cls(card.tie_embeddings, card.qkv_bias, card.o_bias, card.mlp_bias, card.qk_norm,
                   card.norms_per_layer == 4, card.is_moe)


def dim_sizes() -> dict[str, sp.Expr]:
    """Dimension name → size. Query heads are split as K groups of G = N/K (GQA)."""
    return {"B": B, "T": T, "S": T, "D": D, "F": F, "K": K, "G": N / K, "H": H, "V": V,
            "E": E, "Er": E, "k": k, "R": B * T * k / E, "ids": sp.Integer(1)}


class _Builder:
    def __init__(self, attention: str, kernel: str = "fused"):
        self.g = nx.DiGraph(attention=attention, fused_attention=kernel == "fused")
        self.fused = kernel == "fused"
        self.sizes = dim_sizes()
        self.dims: dict[str, ops.Dims] = {}        # tensor name -> dims
        self.param_dims: dict[str, ops.Dims] = {}  # parameter name -> dims
        self.causal = attention == "causal"

    def _add(self, name, op, operands, out_dims, params, group, repeat, **extra):
        """``operands``: list of (role, tensor name or parameter name). Output tensor = ``name``."""
        self.dims[name] = out_dims
        self.param_dims.update(params or {})
        self.g.add_node(name, op=op, phase="forward", operands=operands, params=params or {},
                        param_group=group, repeat=repeat, **extra)
        for role, ref in operands:
            if ref in self.dims and ref not in (params or {}):
                self.g.add_edge(ref, name, tensor=ref, role=role, dims=self.dims[ref],
                                shape=tuple(self.sizes[d] for d in self.dims[ref]))

    def contraction(self, name, signature, operands, params=None, group=None, repeat=1, core=False):
        sig = ops.parse(signature)
        self._add(name, "contraction", operands, sig.output, params, group, repeat,
                  sig=sig, attention_core=core)

    def elementwise(self, name, kind, operands, out_dims, params=None, group=None, repeat=1,
                    core=False):
        self._add(name, kind, operands, tuple(out_dims.split()), params, group, repeat,
                  attention_core=core)


def _input(b: _Builder, name: str, dims: str) -> None:
    b.g.add_node(name, op="input", phase="forward", operands=[], params={}, param_group=None,
                 repeat=1, attention_core=False, flops=sp.Integer(0), vector_flops=sp.Integer(0),
                 bytes=sp.Integer(0))
    b.dims[name] = tuple(dims.split())


def _forward(b: _Builder, s: Structure) -> None:
    if not s.embeddings:
        _input(b, "x", "B T D")
        _layer(b, s, "x")
        return
    _input(b, "tokens", "B T")
    b.elementwise("embed", "gather", [("ids", "tokens"), ("w", "embed.w")], "B T D",
                  {"embed.w": ("V", "D")}, "embedding")
    x = _layer(b, s, "embed")
    b.elementwise("final_norm", "rmsnorm", [("x", x), ("w", "final_norm.w")], "B T D",
                  {"final_norm.w": ("D",)}, "norms")
    unembed = {} if s.tied else {"unembed.w": ("D", "V")}
    b.contraction("unembed", "B T D, D V -> B T V",
                  [("x", "final_norm"), ("w", "embed.w" if s.tied else "unembed.w")],
                  unembed, "unembedding")
    b.elementwise("loss", "cross_entropy", [("logits", "unembed")], "")


def _layer(b: _Builder, s: Structure, x: str) -> str:
    """One layer under ``layer/`` (repeat L); returns the name of its output tensor."""
    b.g.graph["layer_input"] = x
    def proj(name, signature, src, weight_dims, bias_dims, has_bias, group):
        params = {f"{name}.w": weight_dims}
        if has_bias:
            params[f"{name}.b"] = bias_dims
        b.contraction(name, signature, [("x", src), ("w", f"{name}.w")], params, group, L)

    def norm(name, src, dims, width="D"):
        b.elementwise(name, "rmsnorm", [("x", src), ("w", f"{name}.w")], dims,
                      {f"{name}.w": (width,)}, "norms", L)

    if not s.attention_block:
        return _mlp_block(b, s, proj, norm, x, x)
    if s.norms:
        norm("layer/attn_norm", x, "B T D")
    xa = "layer/attn_norm" if s.norms else x
    proj("layer/attn/q", "B T D, D K G H -> B T K G H", xa, ("D", "K", "G", "H"),
         ("K", "G", "H"), s.qkv_bias, "attention")
    proj("layer/attn/k", "B T D, D K H -> B T K H", xa, ("D", "K", "H"),
         ("K", "H"), s.qkv_bias, "attention")
    proj("layer/attn/v", "B T D, D K H -> B T K H", xa, ("D", "K", "H"),
         ("K", "H"), s.qkv_bias, "attention")
    q, kk = "layer/attn/q", "layer/attn/k"
    if s.qk_norm:
        norm("layer/attn/q_norm", q, "B T K G H", "H")
        norm("layer/attn/k_norm", kk, "B T K H", "H")
        q, kk = "layer/attn/q_norm", "layer/attn/k_norm"
    b.elementwise("layer/attn/rope_q", "rope", [("x", q)], "B T K G H", repeat=L)
    b.elementwise("layer/attn/rope_k", "rope", [("x", kk)], "B T K H", repeat=L)
    b.contraction("layer/attn/scores", "B T K G H, B S K H -> B K G T S",
                  [("q", "layer/attn/rope_q"), ("k", "layer/attn/rope_k")], repeat=L, core=True)
    b.elementwise("layer/attn/softmax", "softmax", [("x", "layer/attn/scores")], "B K G T S",
                  repeat=L, core=True)
    b.contraction("layer/attn/av", "B K G T S, B S K H -> B T K G H",
                  [("p", "layer/attn/softmax"), ("v", "layer/attn/v")], repeat=L, core=True)
    proj("layer/attn/o", "B T K G H, K G H D -> B T D", "layer/attn/av", ("K", "G", "H", "D"),
         ("D",), s.o_bias, "attention")
    attn_out = "layer/attn/o"
    if s.sandwich_norms:
        norm("layer/post_attn_norm", attn_out, "B T D")
        attn_out = "layer/post_attn_norm"
    if not s.norms:
        return _mlp_block(b, s, proj, norm, attn_out, attn_out)
    b.elementwise("layer/attn_residual", "add", [("x", x), ("y", attn_out)], "B T D", repeat=L)
    return _mlp_block(b, s, proj, norm, "layer/attn_residual", "layer/attn_residual")


def _mlp_block(b: _Builder, s: Structure, proj, norm, x: str, residual: str) -> str:
    if s.norms:
        norm("layer/mlp_norm", x, "B T D")
        x = "layer/mlp_norm"
    mlp_out = _moe(b, s, x) if s.moe else _mlp(b, s, proj, x)
    if s.sandwich_norms:
        norm("layer/post_mlp_norm", mlp_out, "B T D")
        mlp_out = "layer/post_mlp_norm"
    if not s.norms:
        return mlp_out
    b.elementwise("layer/mlp_residual", "add", [("x", residual), ("y", mlp_out)], "B T D", repeat=L)
    return "layer/mlp_residual"


def _mlp(b: _Builder, s: Structure, proj, x: str) -> str:
    proj("layer/mlp/up", "B T D, D F -> B T F", x, ("D", "F"), ("F",), s.mlp_bias, "mlp")
    if s.gated_mlp:
        proj("layer/mlp/gate", "B T D, D F -> B T F", x, ("D", "F"), ("F",), s.mlp_bias, "mlp")
        b.elementwise("layer/mlp/act", "gated_act", [("gate", "layer/mlp/gate"), ("up", "layer/mlp/up")],
                      "B T F", repeat=L)
    else:
        b.elementwise("layer/mlp/act", "act", [("x", "layer/mlp/up")], "B T F", repeat=L)
    proj("layer/mlp/down", "B T F, F D -> B T D", "layer/mlp/act", ("F", "D"), ("D",), s.mlp_bias, "mlp")
    return "layer/mlp/down"


def _moe(b: _Builder, s: Structure, x: str) -> str:
    """Router, then E experts that together see B·T·k token copies (R = BTk/E each, on average)."""
    # The router's expert axis is named Er (size E) so that sharding the experts (E) never shards it.
    b.contraction("layer/moe/router", "B T D, D Er -> B T Er",
                  [("x", x), ("w", "layer/moe/router.w")],
                  {"layer/moe/router.w": ("D", "Er")}, "mlp", L)
    b.elementwise("layer/moe/route", "route", [("x", "layer/moe/router")], "B T k", repeat=L)
    b.elementwise("layer/moe/dispatch", "dispatch", [("x", x)], "E R D", repeat=L)
    for name, signature, wdims in (("gate", "E R D, E D F -> E R F", ("E", "D", "F")),
                                   ("up", "E R D, E D F -> E R F", ("E", "D", "F"))):
        b.contraction(f"layer/moe/{name}", signature,
                      [("x", "layer/moe/dispatch"), ("w", f"layer/moe/{name}.w")],
                      {f"layer/moe/{name}.w": wdims}, "mlp", L)
        b.g.nodes[f"layer/moe/{name}"]["experts"] = True
    b.elementwise("layer/moe/act", "gated_act", [("gate", "layer/moe/gate"), ("up", "layer/moe/up")],
                  "E R F", repeat=L)
    b.contraction("layer/moe/down", "E R F, E F D -> E R D",
                  [("x", "layer/moe/act"), ("w", "layer/moe/down.w")],
                  {"layer/moe/down.w": ("E", "F", "D")}, "mlp", L)
    b.g.nodes["layer/moe/down"]["experts"] = True
    b.elementwise("layer/moe/combine", "combine",
                  [("x", "layer/moe/down"), ("weights", "layer/moe/route")], "B T D", repeat=L)
    return "layer/moe/combine"


# ----------------------------------------------------------------------------- costs


def _operand_dims(b: _Builder, ref: str) -> tuple[ops.Dims, sp.Expr]:
    """Dims of an operand and its bytes per element (weights and activations differ)."""
    if ref in b.param_dims:
        return b.param_dims[ref], b_param
    return b.dims[ref], b_act


def _elements(b: _Builder, name: str) -> sp.Expr:
    """Elements an elementwise op works on: its output, or its input when it reduces to a scalar (the loss)."""
    dims = b.dims[name] or b.dims[b.g.nodes[name]["operands"][0][1]]
    return ops.numel(dims, b.sizes)


def _cost_forward(b: _Builder, name: str) -> None:
    node = b.g.nodes[name]
    size = b.sizes
    out = ops.numel(b.dims[name], size)
    hbm = lambda dims: ops.hbm_elements(dims, size, b.fused)   # noqa: E731
    scale = sp.Rational(1, 2) if (b.causal and node["attention_core"]) else sp.Integer(1)
    read = sp.Integer(0)
    for role, ref in node["operands"]:
        if role == "ids":
            continue
        dims, width = _operand_dims(b, ref)
        # a gather reads only the rows it looks up, not the whole table
        read += (out if node["op"] == "gather" else hbm(dims)) * width
    operand_refs = {ref for _, ref in node["operands"]}
    read += sum((ops.numel(d, size) * b_param for p, d in node["params"].items()
                 if p not in operand_refs), sp.Integer(0))
    if node["op"] == "contraction":
        flops, vector = scale * ops.contraction_flops(node["sig"], size), sp.Integer(0)
    else:
        flops, vector = sp.Integer(0), scale * ops.elementwise_flops(node["op"], _elements(b, name), "forward")
    node.update(flops=flops, vector_flops=vector, bytes=read + hbm(b.dims[name]) * b_act)


def _backward(b: _Builder) -> None:
    """Add the backward ops by rule, wired from the gradient producers of each op's consumers."""
    g, size = b.g, b.sizes
    hbm = lambda dims: ops.hbm_elements(dims, size, b.fused)   # noqa: E731
    forward = [n for n in nx.topological_sort(g) if g.nodes[n]["op"] != "input"]
    grad_of: dict[tuple[str, str], str] = {}     # (forward op, operand role) -> backward node
    for name in reversed(forward):
        node = g.nodes[name]
        scale = sp.Rational(1, 2) if (b.causal and node["attention_core"]) else sp.Integer(1)
        dy = hbm(b.dims[name]) * b_act
        operands = [(r, ref) for r, ref in node["operands"] if r != "ids"]
        new = []
        if node["op"] == "contraction":
            for i, (role, ref) in enumerate(operands):
                sig = node["sig"].gradient(i)
                others = [_operand_dims(b, o) for j, (_, o) in enumerate(operands) if j != i]
                dims, width = _operand_dims(b, ref)
                traffic = dy + sum((hbm(d) * w for d, w in others), sp.Integer(0))
                traffic += hbm(dims) * width
                grad = f"{name}:d{role}"
                g.add_node(grad, op="contraction", sig=sig, flops=scale * ops.contraction_flops(sig, size),
                           vector_flops=sp.Integer(0), bytes=traffic, wrt=role)
                grad_of[(name, role)] = grad
                new.append(grad)
        else:
            saved = sum((hbm(b.dims[r] if r in b.dims else b.param_dims[r]) * b_act
                         for _, r in operands), sp.Integer(0))
            grad = f"{name}:grad"
            g.add_node(grad, op=node["op"], flops=sp.Integer(0),
                       vector_flops=scale * ops.elementwise_flops(node["op"], _elements(b, name), "backward"),
                       bytes=dy + 2 * saved, wrt="all")
            for role, _ in operands:
                grad_of[(name, role)] = grad
            new.append(grad)
        for grad in new:
            g.nodes[grad].update(phase="backward", forward=name, repeat=node["repeat"],
                                 param_group=node["param_group"], params={},
                                 attention_core=node["attention_core"])
            for _, consumer, data in g.out_edges(name, data=True):
                if g.nodes[consumer]["phase"] == "forward":
                    g.add_edge(grad_of[(consumer, data["role"])], grad, tensor=f"d({name})",
                               dims=b.dims[name], shape=tuple(size[d] for d in b.dims[name]))
            for _, ref in operands:            # tensors saved from the forward pass
                if ref in b.dims and ref != name:
                    g.add_edge(ref, grad, tensor=ref, saved=True, dims=b.dims[ref],
                               shape=tuple(size[d] for d in b.dims[ref]))


@lru_cache(maxsize=None)
def build(structure: Structure = Structure(), attention: str = "causal", kernel: str = "fused") -> nx.DiGraph:
    """The forward and backward graph of a model with this structure.

    ``attention="causal"`` counts the useful half of the T×S attention-core work (the book's
    and MFU's convention); ``"full"`` counts all of it, as an unmasked kernel and PyTorch's
    FlopCounterMode do. ``kernel="fused"`` keeps the T×S score matrix on chip (FlashAttention
    and XLA's fused attention); ``"eager"`` writes it to HBM and reads it back, as PyTorch's
    eager attention does. It changes bytes only, never FLOPs. The result is cached: treat it
    as read-only.
    """
    if attention not in ("causal", "full"):
        raise ValueError(f"attention must be 'causal' or 'full', not {attention!r}")
    if kernel not in ("fused", "eager"):
        raise ValueError(f"kernel must be 'fused' or 'eager', not {kernel!r}")
    b = _Builder(attention, kernel)
    _forward(b, structure)
    g = b.g
    for name, data in g.nodes(data=True):
        if data["op"] != "input":
            _cost_forward(b, name)
    _backward(b)
    g.graph["param_dims"] = dict(b.param_dims)
    g.graph["tensor_dims"] = dict(b.dims)
    return g
