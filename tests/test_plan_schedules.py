"""``plan --schedule``: what ``auto`` searches, what ZB1P and DualPipeV are charged, what they refuse.

ZB1P is ZB-H1 of Qi et al. 2024 ("Zero Bubble Pipeline Parallelism", arXiv 2401.10241); its bubble
is the DeepSeek-V3 report's Table 2 row (arXiv 2412.19437): (p-1)(F+B-2W) of idle time over the
ideal m(F+B), with F a chunk's forward, B its whole backward and W that backward's weight gradients.
DualPipeV's is the DualPipe README's row, (PP/2-1)(F&B+B-3W) with PP = 2p stages of half a chip's
layers each: (p-1)(F+2B-3W) over 2m(F+B) of the chip's. Here F, B and W are counted by hand from the
model's published shapes, as tests/test_plan_headlines.py counts a step: per token, the matmul weights
P (q/k/v/o, the gated MLP, the unembedding) cost 2P forward, 4P backward, of which the weight
gradients 2P; the causal attention core A = T·N·H·L costs 2A forward and 4A backward and has no
weights. A pipeline chip's chunk is the last stage's, the worst: 1/p of the layers and the head
(the embedding is a lookup).
"""

import subprocess
import sys
from pathlib import Path

import pytest

from symroof.io.catalog import load_chip, load_model
from symroof.parallel import pipeline
from symroof.parallel.schedule_names import CHUNKS, PLANNED
from symroof.search import plan as planlib

ROOT = Path(__file__).resolve().parent.parent
LLAMA3_70B = (8192, 80, 28672, 64, 8, 128, 128256)      # D, L, F, N, K, H, V (config.json)
SEQ = 4096


def _plan(schedule, mesh=None, batch_tokens=524288, model="llama3-70b", chip="tpu-v5e", chips=256,
          strategy="pp_fsdp_tp"):
    options = planlib.Options(schedule=None if schedule == "auto" else schedule, search_schedule=schedule == "auto")
    return planlib.plan(load_model(model), load_chip(chip), chips, batch_tokens, SEQ, strategy=strategy,
                        mesh=mesh, options=options)


def test_auto_searches_every_planned_schedule_and_picks_the_fastest():
    """Each schedule planned on its own, then ``auto``: auto's step is the least of theirs (to 1e-12,
    the same arithmetic) and it names the schedule whose own plan gave it. Compute-bound, the least
    bubble wins where memory allows: DualPipeV's is below ZB1P's by (p-1)(F-W)/(2m(F+B)) (W < F: the
    attention core has no weights), ZB1P's below 1F1B's and GPipe's (p-1)/m."""
    assert set(PLANNED) == {"gpipe", "1f1b", "zb1p", "dualpipev"}
    alone = {s: _plan(s) for s in PLANNED}
    auto = _plan("auto")
    best = min(alone, key=lambda s: alone[s]["step_time_s"])
    assert auto["step_time_s"] == pytest.approx(alone[best]["step_time_s"], rel=1e-12)
    assert auto["schedule"] == best == "dualpipev"
    assert auto["mesh"] == alone[best]["mesh"] and auto["n_micro"] == alone[best]["n_micro"]
    steps = [alone[s]["step_time_s"] for s in ("dualpipev", "zb1p", "1f1b")]
    assert steps == sorted(steps) and steps[0] < steps[1] < steps[2]
    assert {a.get("schedule") for a in auto["alternatives"]} - {"dualpipev"}      # the others were costed


@pytest.mark.parametrize("schedule", ["zb1p", "dualpipev"])
def test_the_bubble_is_the_published_row_on_work_counted_by_hand(schedule):
    """On stage=4 × fsdp=8 × tensor=8: 1F1B's bubble is (p-1)/m (Narayanan et al. 2021, 2.2.1), which gives
    the step's work; the schedule's t_math over that work, less one, is its bubble. By hand, ZB1P's is
    (p-1)(F+B-2W)/(m(F+B)), DualPipeV's (p-1)(F+2B-3W)/(2m(F+B)), with the last stage's F = 2P + 2A,
    B = 4P + 4A, W = 2P, P its 20 layers' matmul weights and the unembedding's, A its layers' attention
    core. Tolerance 1e-9 relative (the graph's norms, activations and softmax count no FLOPs: the two
    are the same sums in floats)."""
    D, L, F_ff, N, K, H, V = LLAMA3_70B
    mesh = {"stage": 4, "fsdp": 8, "tensor": 8}
    p = mesh["stage"]
    P = L // p * (D * N * H * 2 + 2 * D * K * H + 3 * D * F_ff) + D * V
    A = SEQ * N * H * L // p
    f, b, w = 2 * P + 2 * A, 4 * P + 4 * A, 2 * P
    one_f, got = _plan("1f1b", mesh, 1048576), _plan(schedule, mesh, 1048576)
    work = one_f["t_math_s"] / (1 + (p - 1) / one_f["n_micro"])
    m = got["n_micro"]
    by_hand = ((p - 1) * (f + b - 2 * w) / (m * (f + b)) if schedule == "zb1p"
               else (p - 1) * (f + 2 * b - 3 * w) / (2 * m * (f + b)))
    assert got["t_math_s"] / work - 1 == pytest.approx(by_hand, rel=1e-9)
    assert by_hand < (p - 1) / m                                   # below 1F1B's


def test_zb1p_holds_p_microbatches_on_both_ends_and_dualpipev_more_on_one_chip():
    """ZB-H1 holds at most p microbatches on every stage (Qi et al. 2024, section 3.1: 1F1B's peak); the
    table charges Min(p, m) on the first and the last stage. With one microbatch per stage (m = p: two
    sequences per replica over two stages) that is GPipe's m on both ends, so the two cost the same
    memory; 1F1B holds one microbatch on the last stage, which holds the head's logits. DualPipeV's
    first chip holds both ends and p + 1/2 microbatches ("PP+1" of half a chip's layers): more than ZB1P."""
    args = dict(mesh={"stage": 2, "fsdp": 8}, batch_tokens=16 * SEQ, model="llama3-8b", chip="h100-sxm",
                chips=16, strategy=None)
    gpipe, one_f, zb = (_plan(s, **args) for s in ("gpipe", "1f1b", "zb1p"))
    assert gpipe["n_micro"] == one_f["n_micro"] == zb["n_micro"] == 2
    assert zb["memory_per_chip_bytes"] == pytest.approx(gpipe["memory_per_chip_bytes"], rel=1e-12)
    assert one_f["memory_per_chip_bytes"] < zb["memory_per_chip_bytes"]
    args["batch_tokens"] = 32 * SEQ            # four per replica: DualPipeV's 2p
    zb, v = _plan("zb1p", **args), _plan("dualpipev", **args)
    assert zb["n_micro"] == v["n_micro"] == 4 and v["memory_per_chip_bytes"] > zb["memory_per_chip_bytes"]


def test_the_schedules_own_asserts_are_deepseeks():
    """pipeline.check refuses what DualPipe's own asserts refuse (github.com/deepseek-ai/DualPipe@030ce43):
    dualpipe.py, ``num_ranks % 2 == 0`` and ``num_chunks % 2 == 0 and num_chunks >= num_ranks * 2``;
    dualpipev.py:318, only ``num_chunks >= num_ranks * 2`` (chunks: microbatches). And without building
    the schedule table (no SymPy: a plan read from the cache evaluates without it)."""
    from symroof.errors import InfeasibleError

    def refused(name, p, m):
        try:
            pipeline.check(100, p, CHUNKS.get(name, 1), m, name=name)
        except InfeasibleError:
            return True
        return False
    for p in (3, 4, 5):
        for m in range(p, 4 * p + 2):
            assert refused("dualpipev", p, m) == (m < 2 * p), (p, m)
            assert refused("dualpipe", p, m) == (p % 2 == 1 or m % 2 == 1 or m < 2 * p), (p, m)
            assert not refused("zb1p", p, m) and not refused("1f1b", p, m)
    assert set(PLANNED) & set(CHUNKS) == {"dualpipev"} and CHUNKS["dualpipev"] == 2      # the V: two chunks
    code = ("import sys; from symroof.parallel import pipeline; pipeline.check(34, 4, 2, 8, name='dualpipev'); "
            "print('sympy' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize("mesh, tokens, words", [
    # four sequences a replica: at most 4 microbatches, DualPipeV needs 2 x 4 (dualpipev.py's assert)
    ("stage=4,fsdp=16", 262144, "dualpipev needs at least 2 x 4 = 8 microbatches per step, not 4"),
    # 32 layers, the embedding and the head over 32 chips: one block a chip, and the V needs two
    ("stage=32,fsdp=2", 4194304, "2 virtual stages per chip but 34 blocks over 32 stages leave 1 per stage"),
])
def test_dualpipev_refuses_what_it_cannot_run_in_one_line(mesh, tokens, words):
    done = subprocess.run([sys.executable, "-m", "symroof", "plan", "llama3-8b", "--chip", "h100-sxm", "--chips",
                           "64", "--batch-tokens", str(tokens), "--mesh", mesh, "--schedule", "dualpipev"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and words in done.stderr, done.stderr
