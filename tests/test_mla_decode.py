"""MLA decode as it is served: kv_b absorbed into the query and the output (DeepSeek-V2, arXiv
2405.04434, section 2.1.3), against the FLOPs worked out by hand from the paper's equations and
against DeepSeek-V3's published parameter counts."""

from __future__ import annotations

import sympy as sp
import pytest

from symroof.core import derive
from symroof.core.graph import Structure, build
from symroof.core.symbols import B, C, D, H, H_r, H_v, K, N, R_kv, R_q, S, W_hbm, b_kv, b_param, n_chips
from symroof.io.bind import model_values
from symroof.io.catalog import load_model
from symroof.solve import inference as inf


def _attention_flops(g, block: str) -> sp.Expr:
    """One layer's matmul FLOPs in the attention (its weights and its core), of block type ``block``."""
    return sp.Add(*(d["flops"] for n, d in g.nodes(data=True)
                    if d["phase"] == "forward" and d["op"] == "contraction" and n.startswith(f"{block}/attn/")))


def test_absorbed_decode_flops_per_layer_are_the_papers():
    """DeepSeek-V2 eq. 9-19 for one new token per sequence over S cached ones, kv_b absorbed:
    q_a (D x R_q), q_b (R_q x N(H + H_r)), kv_a (D x (R_kv + H_r)), the query through kv_b's key half
    (N H R_kv), scores over the latent and the RoPE key (N S (R_kv + H_r)), weights over the latent
    (N S R_kv), kv_b's value half (N R_kv H_v), the output (N H_v D): 2 FLOPs a term, B sequences."""
    g = inf.graph(Structure.of(load_model("deepseek-v3")), "decode")
    by_hand = 2 * B * (D * R_q + R_q * N * (H + H_r) + D * (R_kv + H_r) + N * H * R_kv
                       + N * S * (R_kv + H_r) + N * S * R_kv + N * R_kv * H_v + N * H_v * D)
    for block in ("dense", "moe"):
        assert sp.expand(_attention_flops(g, block) - by_hand) == 0
    # transformers' eager path (``count``) expands the whole cache through kv_b instead: N S R_kv (H + H_v) more
    eager = build(Structure.of(load_model("deepseek-v3")), "causal", "fused", "decode")
    extra = (_attention_flops(eager, "moe") - _attention_flops(g, "moe")).xreplace({K: N})    # MLA: K = N heads
    assert sp.expand(extra - 2 * B * (N * S * R_kv * (H + H_v) - N * H * R_kv - N * R_kv * H_v
                                      + N * S * (H + H_r) - N * S * (R_kv + H_r) + N * S * H_v - N * S * R_kv)) == 0


def test_absorbed_decode_holds_the_same_weights_and_cache():
    """Absorbing moves no weight and caches the same latent and RoPE key: DeepSeek-V3's 671 B
    parameters (arXiv 2412.19437, section 1: "671B total parameters"; to its rounding) and
    (R_kv + H_r) x L x b_kv bytes per token (section 2.1.1)."""
    card = load_model("deepseek-v3")
    served = inf.graph(Structure.of(card), "decode")
    eager = build(Structure.of(card), "causal", "fused", "decode")
    values = model_values(card)
    assert derive.params(served).xreplace(values) == derive.params(eager).xreplace(values)
    assert float(derive.params(served).xreplace(values)) == pytest.approx(671e9, rel=0.001)
    per_token = inf.kv_bytes_per_token(Structure.of(card))
    assert per_token.xreplace({**values, b_kv: 1}) == (card.kv_lora_rank + card.rope_head_dim) * card.n_layers


def test_decode_critical_batch_reads_every_expert_over_the_active_flops():
    """With every expert read (671e9 weights) and each sequence's matmuls on its 37e9 activated
    parameters (arXiv 2412.19437: "37B activated"; the output head counted, the token table, which a
    token only looks up, not: with both tables the count is 37.6e9), the weight matmuls turn
    compute-bound at B = (671e9 b / W_hbm) / (2 x 37e9 / C): to the rounding of 37 (1.4 %). The
    cache expanded through kv_b at every step, as transformers' eager path does, put it near 25."""
    card = load_model("deepseek-v3")
    t = inf.step_parts(inf.decode_parts(Structure.of(card)))
    values = {**model_values(card), b_param: 1, C: sp.Float(2.5e15), W_hbm: sp.Float(8e12), n_chips: 1, B: 1}
    got = float((t["t_hbm_weights"] / sp.diff(t["t_math_weights"], B)).xreplace(values))
    by_hand = (671e9 / 8e12) / (2 * 37e9 / 2.5e15)
    assert got == pytest.approx(by_hand, rel=0.014)
