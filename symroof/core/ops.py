"""Cost rules for single ops: contractions from their einsum signature, elementwise ops from a table.

A signature names dimensions, not letters: ``"B T D, D N H -> B T N H"``. Sizes come from
a mapping ``{dim name: expression}``, so the same rule serves every model and every
sharding (a sharded dimension simply has a smaller size).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import sympy as sp

Dims = tuple[str, ...]


@dataclass(frozen=True)
class Signature:
    """Operand dimension names and the output's, parsed once from ``"A B, B C -> A C"``."""

    operands: tuple[Dims, ...]
    output: Dims

    # worked out once per signature (a frozen value; sharding and the step model ask often)
    @cached_property
    def all_dims(self) -> Dims:
        seen: dict[str, None] = {}
        for dims in (*self.operands, self.output):
            seen.update(dict.fromkeys(dims))
        return tuple(seen)

    @cached_property
    def contracted(self) -> Dims:
        """Dimensions in two or more operands and not in the output (summed over)."""
        return tuple(d for d in self.all_dims
                     if d not in self.output and sum(d in op for op in self.operands) >= 2)

    @cached_property
    def matmul_dims(self) -> tuple[Dims, Dims, Dims]:
        """``(m, n, k)`` dimensions of a two-operand contraction: the first operand's free ones, the
        second's, the contracted ones (parallel/kernels.local_shape takes their extents)."""
        first, second = self.operands[0], self.operands[1]
        return (tuple(d for d in first if d in self.output and d not in second),
                tuple(d for d in second if d in self.output and d not in first), self.contracted)

    def __hash__(self) -> int:      # the generated hash, worked out once: the step model keys each node's by it
        return self._hash

    @cached_property
    def _hash(self) -> int:
        return hash((self.operands, self.output))

    def gradient(self, wrt: int) -> "Signature":
        """Backward rule: d(operand ``wrt``) contracts d(output) with the other operands.

        ``y = x·W`` gives ``dx = dy·Wᵀ`` and ``dW = xᵀ·dy``: the same dimensions, so the same FLOPs.
        """
        others = tuple(op for i, op in enumerate(self.operands) if i != wrt)
        return Signature((self.output, *others), self.operands[wrt])

    def __str__(self) -> str:
        return ", ".join(" ".join(op) for op in self.operands) + " -> " + " ".join(self.output)


@lru_cache(maxsize=None)
def parse(text: str) -> Signature:
    """Parse ``"B T D, D F -> B T F"``; dimension names are separated by spaces."""
    left, arrow, right = text.partition("->")
    if not arrow:
        raise ValueError(f"signature {text!r} has no '->'")
    operands = tuple(tuple(part.split()) for part in left.split(","))
    return Signature(operands, tuple(right.split()))


def numel(dims: Dims, sizes: dict[str, sp.Expr]) -> sp.Expr:
    """Elements of a tensor with these dimensions."""
    return sp.Mul(*(sizes[d] for d in dims))


def stays_on_chip(dims: Dims, fused_attention: bool) -> bool:
    """A fused attention kernel (FlashAttention-style) never writes the T×S score matrix to HBM."""
    return fused_attention and "T" in dims and "S" in dims


def hbm_elements(dims: Dims, sizes: dict[str, sp.Expr], fused_attention: bool) -> sp.Expr:
    """Elements of a tensor that travel to or from HBM (none for an on-chip score matrix)."""
    return sp.Integer(0) if stays_on_chip(dims, fused_attention) else numel(dims, sizes)


def contraction_flops(sig: Signature, sizes: dict[str, sp.Expr]) -> sp.Expr:
    """2 × the product of every distinct dimension (one multiply and one add per term).

    A product with nothing contracted (elementwise) costs one FLOP per term, not two.
    """
    terms = sp.Mul(*(sizes[d] for d in sig.all_dims))
    return 2 * terms if sig.contracted else terms


# Elementwise and data-movement ops. FLOPs here are vector-unit work, kept apart from the
# contraction FLOPs (which is all PyTorch's FlopCounterMode and the book's MFU count).
#   name            fwd FLOPs/elt  bwd FLOPs/elt   what it is
ELEMENTWISE = {
    "gather":        (0, 0),       # embedding lookup; backward is a scatter-add into the table
    "rmsnorm":       (4, 8),       # square, mean, rsqrt·x, ·weight
    "layernorm":     (7, 10),      # mean, subtract, square, mean, rsqrt·x, ·weight, +bias
    "plain_layernorm": (5, 7),     # LayerNorm without a weight or a bias (OLMo 1): mean, subtract, square,
                                   # mean, rsqrt·x; bwd: a LayerNorm's less dy·weight and the weight and bias sums
    "plain_rmsnorm": (3, 6),       # RMSNorm without a weight (FalconMamba's B, C, dt): square, mean, rsqrt·x;
                                   # bwd: an RMSNorm's less dy·weight and the weight's sum
    "concat":        (0, 0),       # MLA: no-RoPE and RoPE key parts side by side (data movement)
    "rope":          (3, 3),       # x·cos + rotate(x)·sin
    "softmax":       (5, 5),       # max, subtract, exp, sum, divide
    "gated_act":     (5, 8),       # act(gate) · up (SiLU or GELU with its handful of ops)
    "act":           (4, 6),       # a plain activation (GELU) in the book's ungated MLP
    "add":           (1, 0),       # residual add; its gradient is a copy
    "dropout":       (2, 1),       # compare a random number with p, scale the kept; bwd: dy·mask·scale
    "route":         (5, 5),       # router softmax + top-k + combine weights
    "dispatch":      (0, 0),       # tokens to their experts (data movement only)
    "combine":       (2, 2),       # weighted sum of the k expert outputs
    "cross_entropy": (5, 2),       # log-softmax over the vocabulary, then pick the label
    "cache_append":  (0, 0),       # this step's keys or values written into the KV cache
    "relu":          (1, 1),       # max(x, 0) (DSA's indexer scores)
    "topk":          (1, 0),       # DSA: the k largest of each query's index scores (a compare an element);
                                   # run without gradients
    "state":         (0, 0),       # a linear-attention layer's recurrent or conv state kept for decode (bytes only)
    "l2norm":        (3, 6),       # Gated DeltaNet's q and k: square, sum, rsqrt·x
    "gdn_gates":     (8, 8),       # beta = sigmoid(b); g = -exp(A_log)·softplus(a + dt_bias)
    "gated_rmsnorm": (9, 16),      # RMSNorm of each value head, times SiLU(z) (Qwen3-Next's RMSNormGated)
    "plain_rmsnorm": (3, 6),       # RMSNorm without a weight (Gemma 4's v_norm): square, mean, rsqrt·x
    "mul":           (1, 2),       # x·y (LFM2's short-conv gates B·x and C·y); bwd: dy·y and dy·x
    "ssd_gates":     (6, 6),       # Mamba-2, per head: dt = softplus(dt + dt_bias); a = exp(dt·(-exp(A_log)))
}


def elementwise_flops(kind: str, elements: sp.Expr, phase: str) -> sp.Expr:
    fwd, bwd = ELEMENTWISE[kind]
    return (fwd if phase == "forward" else bwd) * elements


# A sharding (parallel/sharding.py) multiplies and divides the same few hundred expressions
# thousands of times: validate's 34 shardings make 9,800 products and quotients of 870 distinct
# pairs. SymPy's cache answers the repeats too, but through its decorators, sympify and its own
# keys (a few microseconds each); these answer them from one dict. The key holds each operand's
# type beside it, so an int is never taken for the equal SymPy Integer; the result is SymPy's own.
_KNOWN: dict = {}
_KEPT = 1 << 16           # then forgotten all at once (a long search shards many meshes)


def times(a, b):
    """``a * b``, remembered."""
    return _known("*", a, b)


def over(a, b):
    """``a / b``, remembered."""
    return _known("/", a, b)


def _known(op: str, a, b):
    key = (op, type(a), a, type(b), b)
    got = _KNOWN.get(key)
    if got is None:
        if len(_KNOWN) > _KEPT:
            _KNOWN.clear()
        got = _KNOWN[key] = a * b if op == "*" else a / b
    return got
