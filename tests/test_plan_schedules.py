"""``plan --schedule``: what ``auto`` searches, and what ZB1P is charged.

ZB1P is ZB-H1 of Qi et al. 2024 ("Zero Bubble Pipeline Parallelism", arXiv 2401.10241); its bubble
is the DeepSeek-V3 report's Table 2 row (arXiv 2412.19437): (p-1)(F+B-2W) of idle time over the
ideal m(F+B), with F a chunk's forward, B its whole backward and W that backward's weight gradients.
Here F, B and W are counted by hand from the model's published shapes, as tests/test_plan_headlines.py
counts a step: per token, the matmul weights P (q/k/v/o, the gated MLP, the unembedding) cost 2P
forward, 4P backward, of which the weight gradients 2P; the causal attention core A = T·N·H·L costs
2A forward and 4A backward and has no weights. A pipeline chip's chunk is the last stage's, the
worst: 1/p of the layers and the head (the embedding is a lookup).
"""

import pytest

from symroof.io.catalog import load_chip, load_model
from symroof.parallel.schedule_names import PLANNED
from symroof.search import plan as planlib

LLAMA3_70B = (8192, 80, 28672, 64, 8, 128, 128256)      # D, L, F, N, K, H, V (config.json)
SEQ = 4096


def _plan(schedule, mesh=None, batch_tokens=524288, model="llama3-70b", chip="tpu-v5e", chips=256,
          strategy="pp_fsdp_tp"):
    options = planlib.Options(schedule=None if schedule == "auto" else schedule, search_schedule=schedule == "auto")
    return planlib.plan(load_model(model), load_chip(chip), chips, batch_tokens, SEQ, strategy=strategy,
                        mesh=mesh, options=options)


def test_auto_searches_every_planned_schedule_and_picks_the_fastest():
    """Each schedule planned on its own, then ``auto``: auto's step is the least of theirs (to 1e-12,
    the same arithmetic) and it names the schedule whose own plan gave it. ZB1P's bubble is below
    GPipe's and 1F1B's (F+B-2W < F+B), so here, where memory allows it, auto must pick ZB1P: it did not
    search it before."""
    assert set(PLANNED) >= {"gpipe", "1f1b", "zb1p"}
    alone = {s: _plan(s) for s in PLANNED}
    auto = _plan("auto")
    best = min(alone, key=lambda s: alone[s]["step_time_s"])
    assert auto["step_time_s"] == pytest.approx(alone[best]["step_time_s"], rel=1e-12)
    assert auto["schedule"] == best == "zb1p"
    assert auto["mesh"] == alone["zb1p"]["mesh"] and auto["n_micro"] == alone["zb1p"]["n_micro"]
    assert auto["step_time_s"] < min(alone["gpipe"]["step_time_s"], alone["1f1b"]["step_time_s"])
    assert any(a.get("schedule") == "1f1b" for a in auto["alternatives"])      # the others were costed


def test_zb1p_bubble_is_the_deepseek_v3_table_row_on_work_counted_by_hand():
    """On stage=4 × fsdp=8 × tensor=8: 1F1B's bubble is (p-1)/m (Narayanan et al. 2021, 2.2.1), which gives
    the step's work; ZB1P's t_math over that work, less one, is its bubble. By hand it is
    (p-1)(F+B-2W)/(m(F+B)) with the last stage's F = 2P + 2A, B = 4P + 4A, W = 2P, P its 20 layers'
    matmul weights and the unembedding's, A its layers' attention core. Tolerance 1e-9 relative (the
    graph's norms, activations and softmax count no FLOPs: the two are the same sums in floats)."""
    D, L, F_ff, N, K, H, V = LLAMA3_70B
    mesh = {"stage": 4, "fsdp": 8, "tensor": 8}
    p = mesh["stage"]
    P = L // p * (D * N * H * 2 + 2 * D * K * H + 3 * D * F_ff) + D * V
    A = SEQ * N * H * L // p
    f, b, w = 2 * P + 2 * A, 4 * P + 4 * A, 2 * P
    one_f, zb = _plan("1f1b", mesh, 1048576), _plan("zb1p", mesh, 1048576)
    work = one_f["t_math_s"] / (1 + (p - 1) / one_f["n_micro"])
    m = zb["n_micro"]
    by_hand = (p - 1) * (f + b - 2 * w) / (m * (f + b))
    assert zb["t_math_s"] / work - 1 == pytest.approx(by_hand, rel=1e-9)
    assert by_hand < (p - 1) / m                                   # below 1F1B's


def test_zb1p_holds_p_microbatches_on_both_ends():
    """ZB-H1 holds at most p microbatches on every stage (Qi et al. 2024, section 3.1: ZB-H1 keeps 1F1B's
    peak, p microbatches); the table charges Min(p, m) on the first and the last stage. With one microbatch
    per stage (m = p: two sequences per replica over two stages) that is GPipe's m on both ends, so the two
    cost the same memory; 1F1B holds one microbatch on the last stage, which holds the head's logits."""
    mesh = {"stage": 2, "fsdp": 8}
    args = dict(mesh=mesh, batch_tokens=16 * SEQ, model="llama3-8b", chip="h100-sxm", chips=16, strategy=None)
    gpipe, one_f, zb = (_plan(s, **args) for s in ("gpipe", "1f1b", "zb1p"))
    assert gpipe["n_micro"] == one_f["n_micro"] == zb["n_micro"] == 2
    assert zb["memory_per_chip_bytes"] == pytest.approx(gpipe["memory_per_chip_bytes"], rel=1e-12)
    assert one_f["memory_per_chip_bytes"] < zb["memory_per_chip_bytes"]
