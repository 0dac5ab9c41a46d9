"""FLOPs (asserted) and bytes (printed) against XLA's cost analysis of one LLaMA-style layer in jax.numpy.

XLA's ``compile().cost_analysis()["flops"]`` is one number for a whole program: dots at 2 FLOPs
per multiply-add *plus* one per element for every add, multiply, exp, ... it runs. To compare
the matmul FLOPs alone, the matmul test lowers a program that holds exactly the layer's matmuls,
forward and backward, and nothing that XLA would count besides:

- q, k and v read their own copies of the (normalised) layer input, and gate and up theirs.
  In the real layer the gradient of a shared input is the sum of its consumers' gradients: an
  elementwise add that XLA counts (and, we found, may even duplicate into two fusions, counting it
  twice) and that symroof files as vector work, not as matmul FLOPs.
- scores feed attn·V without a softmax and attn·V feeds o directly; down reads its own input
  instead of act(gate)·up. Softmax, SiLU and the gating product are elementwise work.

Every dot of the layer and of its gradient is still there with its real shape, so XLA's flops of
this program is the layer's matmul FLOPs, forward plus backward, to compare exactly with symroof's
``layer/*`` contraction FLOPs (``attention="full"``: nothing is masked). The bytes test lowers the
real layer (RMSNorm, RoPE, softmax, SiLU gate, residuals) and prints how XLA's "bytes accessed"
compares with symroof's per-op HBM bytes; the README's accuracy section explains the difference.
"""

from __future__ import annotations

import pytest

jax = pytest.importorskip("jax", reason="jax not installed: install the 'xla' extra (pip install .[xla])")

import jax.numpy as jnp  # noqa: E402
import sympy as sp  # noqa: E402

from symroof.io.hf import model_from_hf_config  # noqa: E402
from symroof.io.bind import count, evaluate, graph_for, model_values  # noqa: E402
from symroof.core.symbols import B, T, b_act, b_param  # noqa: E402

pytestmark = pytest.mark.validate

#        B  T   D   N  K  H   F   (N query heads, K kv heads, H head_dim)
SHAPES = [(2, 8, 32, 4, 2, 8, 48),      # GQA, H = D/N
          (1, 16, 24, 6, 3, 6, 40),     # GQA, H != D/N
          (3, 5, 32, 4, 4, 16, 64),     # MHA, H != D/N
          (2, 12, 48, 8, 1, 4, 80)]     # MQA


def _card(b, t, d, n, kv, h, f):
    raw = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "num_hidden_layers": 1, "hidden_size": d,
           "intermediate_size": f, "num_attention_heads": n, "num_key_value_heads": kv, "head_dim": h,
           "vocab_size": 16}
    return model_from_hf_config(raw, "xla/config.json")


def _cost(fn, *args) -> dict:
    cost = jax.jit(fn).lower(*args).compile().cost_analysis()
    return cost[0] if isinstance(cost, list) else cost      # older jax returns one dict per device


def _zeros(*shapes):
    return tuple(jnp.zeros(s, jnp.float32) for s in shapes)


def matmul_program(b, t, d, n, kv, h, f):
    """The layer's matmuls, forward then backward (vjp against given cotangents), and the arguments."""
    g = n // kv

    def layer(xq, xk, xv, xg, xu, xd, wq, wk, wv, wo, wg, wu, wd):
        q = jnp.einsum("btd,dkgh->btkgh", xq, wq)
        k = jnp.einsum("btd,dkh->btkh", xk, wk)
        v = jnp.einsum("btd,dkh->btkh", xv, wv)
        scores = jnp.einsum("btkgh,bskh->bkgts", q, k)
        av = jnp.einsum("bkgts,bskh->btkgh", scores, v)
        o = jnp.einsum("btkgh,kghd->btd", av, wo)
        gate = jnp.einsum("btd,df->btf", xg, wg)
        up = jnp.einsum("btd,df->btf", xu, wu)
        down = jnp.einsum("btf,fd->btd", xd, wd)
        return o, gate, up, down

    def forward_backward(args, cotangents):
        outputs, pullback = jax.vjp(layer, *args)
        return outputs, pullback(cotangents)

    args = _zeros((b, t, d), (b, t, d), (b, t, d), (b, t, d), (b, t, d), (b, t, f),
                  (d, kv, g, h), (d, kv, h), (d, kv, h), (kv, g, h, d), (d, f), (d, f), (f, d))
    cotangents = _zeros((b, t, d), (b, t, f), (b, t, f), (b, t, d))
    return forward_backward, (args, cotangents)


def real_layer_program(b, t, d, n, kv, h, f):
    """One whole LLaMA layer (pre-norm, RoPE, GQA softmax attention, SiLU-gated MLP), forward + backward."""
    g = n // kv

    def rmsnorm(x, w):
        return x * jax.lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + 1e-6) * w

    def rope(x, cos, sin):                       # rotate pairs of the head dimension
        x1, x2 = x[..., : h // 2], x[..., h // 2:]
        return jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)

    def layer(x, n1, wq, wk, wv, wo, n2, wg, wu, wd, cos, sin):
        a = rmsnorm(x, n1)
        q = jnp.einsum("btd,dkgh->btkgh", a, wq)
        k = jnp.einsum("btd,dkh->btkh", a, wk)
        v = jnp.einsum("btd,dkh->btkh", a, wv)
        q, k = rope(q, cos[:, None, None, :], sin[:, None, None, :]), rope(k, cos[:, None, :], sin[:, None, :])
        p = jax.nn.softmax(jnp.einsum("btkgh,bskh->bkgts", q, k) * h ** -0.5, axis=-1)
        x = x + jnp.einsum("btkgh,kghd->btd", jnp.einsum("bkgts,bskh->btkgh", p, v), wo)
        m = rmsnorm(x, n2)
        return x + jnp.einsum("btf,fd->btd", jax.nn.silu(m @ wg) * (m @ wu), wd)

    def forward_backward(args, cotangent):
        out, pullback = jax.vjp(lambda *w: layer(*w, *args[-2:]), *args[:-2])
        return out, pullback(cotangent)

    args = _zeros((b, t, d), (d,), (d, kv, g, h), (d, kv, h), (d, kv, h), (kv, g, h, d), (d,), (d, f), (d, f),
                  (f, d), (t, h // 2), (t, h // 2))
    return forward_backward, (args, jnp.zeros((b, t, d), jnp.float32))


def _layer_sum(card, b, t, key: str, phases=("forward", "backward")) -> int:
    """Σ over symroof's ``layer/*`` nodes of ``key`` (flops, vector_flops or bytes at 4-byte elements)."""
    g = graph_for(card, "full")
    values = {**model_values(card), B: sp.Integer(b), T: sp.Integer(t), b_act: sp.Integer(4), b_param: sp.Integer(4)}
    return sum(evaluate(data["repeat"] * data[key], values) for name, data in g.nodes(data=True)
               if name.startswith("layer/") and data["phase"] in phases)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "B{}T{}D{}N{}K{}H{}F{}".format(*s))
def test_layer_matmul_flops_match_xla(shape):
    card = _card(*shape)
    ours = count(card, batch=shape[0], seq=shape[1], attention="full")
    ours_layer = sum(p["forward"] + p["backward"] for name, p in ours.flops_by_module.items()
                     if name.startswith("layer/"))
    fn, args = matmul_program(*shape)
    assert int(_cost(fn, *args)["flops"]) == ours_layer


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "B{}T{}D{}N{}K{}H{}F{}".format(*s))
def test_layer_bytes_against_xla_reported(shape):
    """Printed, not asserted: XLA fuses, symroof counts each op as a round trip to HBM."""
    card = _card(*shape)
    fn, args = real_layer_program(*shape)
    xla = _cost(fn, *args)
    matmul = _layer_sum(card, shape[0], shape[1], "flops")
    vector = _layer_sum(card, shape[0], shape[1], "vector_flops")
    moved = _layer_sum(card, shape[0], shape[1], "bytes")
    print(f"\n{'B{}T{}D{}N{}K{}H{}F{}'.format(*shape)} float32, one layer forward+backward:"
          f"\n  flops: XLA {int(xla['flops'])}, symroof matmul {matmul} + vector {float(vector):.0f} = "
          f"{float(matmul + vector):.0f} (XLA/symroof {float(xla['flops'] / (matmul + vector)):.3f})"
          f"\n  bytes: XLA bytes accessed {int(xla['bytes accessed'])}, symroof HBM bytes {float(moved):.0f} "
          f"(XLA/symroof {float(xla['bytes accessed'] / moved):.3f})")
    assert xla["flops"] >= matmul                    # the real layer holds at least its matmuls
