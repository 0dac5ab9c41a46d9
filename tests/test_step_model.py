"""The step model below the roofline (parallel/step_model.py, parallel/kernels.py) and its
calibration (claims/calibrate.py), each term against an independent number: NVIDIA's matmul
quantization rules, NCCL's ring cost, the Korthikanti et al. 2022 recompute measurement, and the
published runs' trends; the calibrated model against a constant-MFU guess on held-out rows."""

import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import sympy as sp

from symroof.claims import calibrate
from symroof.claims.published import _built, load_runs, predict, values
from symroof.claims.sharded_family import sharded
from symroof.core import recompute
from symroof.core.symbols import W_dcn, W_ici
from symroof.errors import CardError
from symroof.parallel import collectives, kernels, step_model, step_numbers
from symroof.parallel.collectives import Axis
from symroof.parallel.sharding import Collective, shard
from runsfile import ONE_RUN  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RUNS = {run.name: run for run in load_runs()}


@pytest.fixture(scope="module")
def results():
    return [predict(run) for run in RUNS.values()]


@pytest.fixture(scope="module")
def preds(results):
    return {p.name: p for p in calibrate.predictions(results, calibrate.calibrations(results))}


# ----------------------------------------------------------------------------- cost terms vs independent numbers


def test_wave_quantization_as_nvidia_describes_it():
    """NVIDIA's matmul guide: tiles run in waves of one per SM; 108 SMs (A100) and 256x128 tiles.
    27 x 4 = 108 tiles fill one wave exactly; 27 x 5 = 135 need two waves, 135 of 216 slots used."""
    assert kernels.matmul_efficiency(27 * 256, 4 * 128, 4096, (256, 128), 108) == pytest.approx(1.0)
    assert kernels.matmul_efficiency(27 * 256, 5 * 128, 4096, (256, 128), 108) == pytest.approx(135 / 216)


def test_a_batched_gemms_tiles_share_the_waves():
    """A batched GEMM (an MoE layer's local experts in one launch) runs every matmul's tiles in the same
    waves: 8 experts of one 128x256 tile each fill 8 of H100's 132 SM slots, 132 fill one wave, 133 use
    133 of two waves' 264 slots (NVIDIA's wave rule over all the launch's thread blocks)."""
    assert kernels.matmul_efficiency(128, 256, 4096, (128, 256), 132, 8) == pytest.approx(8 / 132)
    assert kernels.matmul_efficiency(128, 256, 4096, (128, 256), 132, 132) == pytest.approx(1.0)
    assert kernels.matmul_efficiency(128, 256, 4096, (128, 256), 132, 133) == pytest.approx(133 / 264)


def test_matrix_vector_products_are_charged_their_bytes_not_a_tile_per_row(tmp_path):
    """A depthwise conv (each channel's taps against its own window: n = 1) and a scan's per-head step
    reuse neither operand, so no matrix unit runs them: the step model charges their HBM bytes, as the
    ideal roofline does. Charged as 1-wide matmul tiles (1/256 of each tile, a few tiles per wave),
    mamba-130m's compute on 16 H100s came out 370 times its ideal step (6.0 s for 0.016 s); now 4.3
    times, the rest its small GEMMs' tile and wave quantization (D = 768). The bound is an order of
    magnitude: what the test holds is that no op is charged as a near-empty matrix unit."""
    hf = ROOT / "tests/data/hf/mamba-130m-hf/config.json"
    path = tmp_path / "runs.yaml"
    path.write_text(ONE_RUN.replace("model: llama3-8b", f"model: {hf}").replace(
        "      tensor: {size: 8, link: ici}\n      data: {size: 2, link: dcn}\n", "      fsdp: {size: 16, link: dcn, inner: 8}\n")
        .replace("batch: 4", "batch: 64").replace("seq: 4096", "seq: 2048"))
    (run,) = load_runs(path)
    result = predict(run)
    ideal, compute = result.t_step, result.parts.compute()
    assert ideal < compute < 10 * ideal


def test_tile_quantization_pads_to_whole_tiles():
    """One row past a tile costs a whole extra tile: 257 rows on a 256-row tile use 257/512 of it."""
    assert kernels.quantized(257, 256) == pytest.approx(257 / 512)
    assert kernels.matmul_efficiency(257, 256, 256, (256, 256), 1) == pytest.approx(257 / 512)
    assert kernels.matmul_efficiency(257, 256, 256, None, None) == 1.0      # the ideal limit


def test_two_tier_allreduce_is_nccls_ring_at_the_slower_tiers_bus_bandwidth():
    """nccl-tests PERFORMANCE.md: a ring AllReduce of S bytes over n ranks takes 2(n-1)/n · S / busBW,
    busBW the slowest link a rank uses. 48 H100s in 6 nodes of 8: each node's 8 NICs (8 x 50 GB/s)
    carry the ring between nodes, so busBW = min(NVLink 450 GB/s, 400 GB/s) = 400 GB/s, 8x what one
    NIC gives; today's one-tier rule charges one NIC (50 GB/s)."""
    size = 10**9
    mesh = {"data": Axis("data", sp.Integer(48), "dcn")}
    nums = {W_ici: sp.Integer(450 * 10**9), W_dcn: sp.Integer(50 * 10**9)}
    c = Collective("AllReduce", ("data",), "layer/mlp/up.w", sp.Integer(size))
    nccl = 2 * 47 / 48 * size / 400e9
    two_tier = step_model._bandwidth(c, mesh, nums, step_model.Options(spans={"data": 8}))
    one_tier = step_model._bandwidth(c, mesh, nums, step_model.Options())
    assert two_tier == pytest.approx(nccl, rel=1e-12)
    assert one_tier == pytest.approx(8 * nccl, rel=1e-12)


@pytest.mark.parametrize("nodes", [1, 2, 4, 16])
def test_two_tier_alltoall_sends_each_peers_share_over_its_own_nic(nodes):
    """nccl-tests src/alltoall.cu: each of n ranks sends count/n elements to every peer. With 8
    H100s per node, a rank's shares to the n - 8 ranks of other nodes leave through its own NIC
    (50 GB/s; the node's other NICs carry their own GPUs' shares, so nothing pools) while its 7
    in-node shares cross NVLink (450 GB/s) at the same time. Pooling the 8 NICs, as the ring rule
    does, would be 8x too fast."""
    size, n = 2**30, 8 * nodes
    share = size / n / n                              # one rank's bytes to one peer
    nccl = max((n - 8) * share / 50e9, 7 * share / 450e9)
    mesh = {"expert": Axis("expert", sp.Integer(n), "dcn")}
    nums = {W_ici: sp.Integer(450 * 10**9), W_dcn: sp.Integer(50 * 10**9)}
    c = Collective("AllToAll", ("expert",), "layer/moe/dispatch", sp.Integer(size))
    opts = step_model.Options(spans={"expert": 8})
    assert step_model._bandwidth(c, mesh, nums, opts) == pytest.approx(nccl, rel=1e-12)
    rates = step_numbers.Rates(nums, mesh)                 # the exact path: the same rule in integers
    assert step_numbers._bandwidth(c, rates, opts) == pytest.approx(nccl, rel=1e-12)
    if nodes > 1:     # a ring collective over the same ranks does pool the node's NICs (test above)
        ring = replace(c, kind="AllGather")
        one_nic = step_model._bandwidth(ring, mesh, nums, step_model.Options())
        assert step_model._bandwidth(ring, mesh, nums, opts) == pytest.approx(one_nic / 8, rel=1e-12)


def test_ring_steps_are_the_alpha_beta_models():
    """Thakur et al. 2005 / NCCL's ring: an AllReduce over n ranks is n-1 ReduceScatter steps and n-1
    AllGather steps; over two tiers only the ranks outside the fast domain add slow steps (48 GPUs in
    nodes of 8: 6 node ranks, 2 x 5 = 10 steps)."""
    mesh = {"data": Axis("data", sp.Integer(48), "dcn")}
    assert collectives.ring_steps("AllReduce", ("data",), mesh, {}) == 2 * 47
    assert collectives.ring_steps("AllGather", ("data",), mesh, {}) == 47
    assert collectives.ring_steps("AllReduce", ("data",), mesh, {"data": 8}) == 10


def _one_matmul(t_mm, critical=None, paired=None, critical_overlap=0.0):
    return step_model.Parts([(t_mm, 0.0)], 0.0, 0.0, critical or {}, {}, {}, 0.0, 0.0, 0.0, {},
                            critical_overlap, paired or {})


def test_collective_matmul_hides_a_gather_behind_its_matmul_as_the_book_measures():
    """The book (jax-stuff.md, "Collective Matmul", after Wang et al. 2023) profiles
    A[B_X, D_Y] @ W[D, F_Y] on eight TPUs: AllGather then matmul 311 us, the collective matmul
    244 us, the same matmul with nothing to gather 224 us, so the gather alone waits 87 us. The
    collective-matmul option charges what the matmul cannot cover, max(0, 87 - 224) = 0: 224 us,
    within 10 % of the measured 244 us (the last chunk and the loop are not hidden). Without it the
    model charges the gather in full (311 us, 27 % over); the ideal limit hides it too."""
    t_mm, t_ag = 224e-6, 311e-6 - 224e-6
    overlapped = _one_matmul(t_mm, paired={"ici": [(t_ag, t_mm)]})
    exposed = _one_matmul(t_mm, critical={"ici": t_ag})
    assert overlapped.step() == pytest.approx(244e-6, rel=0.10)
    assert exposed.step() == pytest.approx(311e-6, rel=1e-12)
    assert exposed.step() / 244e-6 - 1 > 0.25                       # today's model misses the profile
    ideal = _one_matmul(t_mm, paired={"ici": [(t_ag, t_mm)]}, critical_overlap=1.0)
    assert ideal.step() <= overlapped.step() <= exposed.step()
    # a gather longer than its matmul still waits for the part the matmul cannot cover
    assert _one_matmul(t_mm, paired={"ici": [(3 * t_mm, t_mm)]}).step() == pytest.approx(3 * t_mm)


def test_collective_matmul_pairs_exactly_the_ici_activation_gathers_and_scatters(results):
    """maxtext-128b-v5e-1x256 (16-way tensor parallel): the option moves the critical ICI AllGathers
    and ReduceScatters of contractions onto their matmuls and nothing else; the step lies between
    the ideal (all hidden) and today's fully exposed charge."""
    r = next(r for r in results if r.run.name == "maxtext-128b-v5e-1x256")
    sg = shard(_built(r.run.model, "causal"), r.run.mesh)
    sg = calibrate.numeric(recompute.apply(sg, "full"), values(r.run))
    off = step_model.parts(sg, values(r.run), step_model.Options())
    on = step_model.parts(sg, values(r.run), step_model.Options(collective_matmul=True))
    moved = sum(c for c, _ in on.paired["ici"])
    assert moved > 0 and off.critical["ici"] == pytest.approx(on.critical.get("ici", 0.0) + moved, rel=1e-12)
    ideal = step_model.parts(sg, values(r.run), step_model.Options(critical_overlap=1.0))
    assert ideal.step() <= on.step() < off.step()


def test_optimizer_step_reads_and_writes_the_local_shard_at_hbm_bandwidth(results):
    """Adam over replicated weights (megatron-1.7b: data parallel only): read and write the bf16
    weights and the two fp32 moments, read the bf16 gradient, per parameter 2·2 + 2 + 2·8 = 22 bytes,
    at the H100's 3.35 TB/s. Parameters from Megatron's 12·L·h² + 2·V·h, not from the graph."""
    r = next(r for r in results if r.run.name == "megatron-1.7b")
    n = 12 * 24 * 2048**2 + 2 * 131072 * 2048
    assert r.parts.optimizer == pytest.approx(22 * n / 3.35e12, rel=0.01)   # norms: under 1 %


def test_an_fsdp_axis_gathers_its_weights_once_per_accumulated_microbatch():
    """PyTorch's FSDP docs (torch.distributed.fsdp, FULL_SHARD): each unit all-gathers its
    parameters before its forward and again before its backward, frees them after, and
    reduce-scatters its gradients after its backward; with gradient accumulation outside
    no_sync, every microbatch does all three. MosaicML's MPT-70B on 32 H100s accumulates 16
    microbatches: its weight traffic on the fsdp axis is 16 times one pass's (same model, same
    mesh, one microbatch); only the last microbatch's last-layer scatter waits after the backward."""
    run = RUNS["mpt-70b-h100-s2048-32gpu"]
    assert run.microbatches == 16 and "stage" not in run.mesh and set(run.mesh) == {"fsdp"}
    once = predict(replace(run, microbatches=1, batch=run.batch // 16)).parts
    every = predict(run).parts
    assert every.background["dcn"] + every.tail["dcn"] == pytest.approx(
        16 * (once.background["dcn"] + once.tail["dcn"]), rel=1e-12)
    assert every.tail == once.tail


def test_pipeline_sends_are_narayanans_per_microbatch_volume(results):
    """Narayanan et al. 2021, 2.2.2 and 4.1: each microbatch crosses every stage boundary v times each
    way, b·s·h/t elements per send (scattered over the tensor-parallel ranks), here one way over
    each GPU's own 50 GB/s NIC. megatron-70b: 384 sequences over 48 data ranks, s 4096, h 8192, t 8, v 42."""
    r = next(r for r in results if r.run.name == "megatron-70b")
    sg = shard(_built(r.run.model, "causal"), r.run.mesh)
    link, seconds = step_model._sends(sg, values(r.run), step_model.Options(virtual=42))
    per_send = (384 // 48) * 4096 * 8192 // 8 * 2            # bytes, whole batch of microbatches
    assert link == "dcn" and seconds == pytest.approx(2 * 42 * per_send / 5e10, rel=1e-12)


@pytest.mark.parametrize("size, full_s, selective_s", [
    ("22b", 1.42, 1.10), ("175b", 18.13, 13.75), ("530b", 49.05, 37.83), ("1t", 94.42, 71.49)])
def test_selective_recompute_beats_full_by_about_the_measured_ratio(size, full_s, selective_s, preds):
    """Korthikanti et al. 2022, end-to-end iteration times: full recompute vs sequence parallelism
    with selective recompute (22B 1.42 / 1.10 s, 175B 18.13 / 13.75, 530B 49.05 / 37.83, 1T 94.42 /
    71.49; ratios 1.29-1.32). The model (one calibration for both) must give each ratio to within
    5 %; the absolute step times are held to the step-time targets below."""
    full = preds[f"megatron-{size}-a100-full-recompute"]
    selective = preds[f"megatron-{size}-a100-selective-recompute"]
    assert full.predicted_step_s / selective.predicted_step_s == pytest.approx(full_s / selective_s, rel=0.05)


def test_eager_attention_moves_the_score_matrix_through_hbm():
    """Korthikanti et al. 2022 (activation memory, section 4) count the attention scores of a
    Megatron layer of that time as a·s²·b elements (2 bytes each; a heads, s tokens, b sequences),
    kept in HBM. 22B on 8 GPUs: 8 heads per GPU, s 2048, b 4, 48 layers, A100 HBM 2.039 TB/s. With
    ``attention_kernel: eager`` the softmax passes over that tensor at HBM bandwidth: forward read
    and write, the full-recompute replay's read and write, the backward's reads of y and dy and
    write of dx (dx = y·(dy − Σ y·dy)): 7 passes. Its dropout (Megatron's --attention-dropout, the
    row's ``dropout: true``) writes a 1-byte mask beside its output (Korthikanti's as²b): forward
    and replay read, write and mask (2.5 passes each), the backward reads dy and the mask and writes
    dx (2.5): 7.5 more. The four attention contractions move it 8 times (forward: scores write, AV
    read; replay: 2; backward: dP write, P read, dS read twice), charged with their kernels. Fused
    (the default) is the limit; the ceiling never changes."""
    run = RUNS["megatron-22b-a100-full-recompute"]
    assert run.attention_kernel == "eager"
    eager, fused = predict(run), predict(replace(run, attention_kernel="fused"))
    scores = 2 * 8 * 2048**2 * 4 * 48                      # bytes of one pass, all layers
    assert (eager.parts.memory - fused.parts.memory) * 2.039e12 == pytest.approx(14.5 * scores, rel=1e-9)
    moved = sum(h for _, h in eager.parts.matmul) - sum(h for _, h in fused.parts.matmul)
    assert moved * 2.039e12 == pytest.approx(8 * scores, rel=1e-9)
    assert eager.ceiling == fused.ceiling and eager.t_step == fused.t_step


def test_a_fused_attention_backward_is_flashattentions_two_and_a_half_forwards():
    """FlashAttention-2 (arXiv 2307.08691, section 4.1) counts the backward of its fused kernel as
    2.5 times the forward's FLOPs (it computes the scores again; its rates are quoted on that
    count), where autodiff of the graph's two core contractions gives 2. So a fused run's attention
    core takes 2.5 forward times in its backward; an eager one (the probabilities kept in HBM) 2."""
    def core_seconds(run):
        got: dict = {}
        sg = sharded(run, values(run), run.graph_kernel)
        times = predict(run).parts.matmul
        mm = [d for _, d in sg.nodes(data=True) if d["op"] == "contraction" and d["local_flops"] != 0]
        assert len(mm) == len(times)
        for d, (t, _) in zip(mm, times):
            if kernels.is_attention_core(d["sig"]):
                got[d["phase"]] = got.get(d["phase"], 0.0) + t     # recompute: a replayed forward
        return got
    fused = next(r for r in RUNS.values() if r.graph_kernel == "fused" and r.recompute == "none"
                 and r.chip.name == "h100-sxm" and r.layout is None)     # an even split: the graph's nodes, all charged
    eager = RUNS["megatron-22b-a100-selective-recompute"]
    assert eager.graph_kernel == "eager"
    for run, ratio in ((fused, 2.5), (eager, 2.0)):
        t = core_seconds(run)
        assert t["backward"] / t["forward"] == pytest.approx(ratio, rel=1e-12), run.name


def test_a_named_attention_kernel_runs_the_attention_core_at_its_own_rate():
    """A run naming the card's flash2 (FlashAttention-2 on H100: 35 % of peak, the FlashAttention-3
    paper's abstract) instead of the default fused kernel (FlashAttention-3's 75 %): the attention
    core's contractions take 75/35 as long; every other matmul, byte and collective is the same,
    and so is the ceiling (the graph is the fused one either way)."""
    run = next(r for r in RUNS.values() if r.chip.name == "h100-sxm" and r.attention_kernel == "fused")
    fused, flash2 = predict(run), predict(replace(run, attention_kernel="flash2"))
    assert run.chip.attention_kernels["flash2"] == sp.Rational(35, 100)
    pairs = list(zip(fused.parts.matmul, flash2.parts.matmul))
    slower = [(a, b) for a, b in pairs if a != b]
    assert slower and len(slower) < len(pairs)
    for (t_fused, hbm_fused), (t_flash2, hbm_flash2) in slower:
        assert t_flash2 / t_fused == pytest.approx(0.75 / 0.35, rel=1e-12) and hbm_flash2 == hbm_fused
    assert flash2.parts.memory == fused.parts.memory and flash2.parts.background == fused.parts.background
    assert flash2.ceiling == fused.ceiling and flash2.t_step == fused.t_step


def test_flashattention2s_h100_rate_is_what_mosaicmls_long_sequences_measure(results, preds):
    """MosaicML's H100 table (llm-foundry@5e85bd62d) runs llm-foundry's Triton attention, built
    before Hopper's wgmma and TMA. At 16K to 64K tokens, where attention is most of the work, the
    rows come out within the issue's 8 MFU points at FlashAttention-2's H100 rate (the card's
    flash2, 35 %: the FlashAttention-3 paper's abstract; 0.7 to 5.1 points, 0.1 to 6.3 while the
    checkpoint's replay was overcounted);
    at FlashAttention-3's 75 % (the card's default) every one would be predicted more than 8 points
    above what was measured."""
    long = [r for r in RUNS.values() if r.name.startswith("mpt-") and r.chip.name == "h100-sxm" and r.seq >= 16384]
    assert len(long) >= 10 and all(r.attention_kernel == "flash2" for r in long)
    cals = calibrate.calibrations(results)
    fa3 = {p.name: p for p in calibrate.predictions([predict(replace(r, attention_kernel="fused")) for r in long], cals)}
    for r in long:
        assert abs(preds[r.name].predicted_mfu - preds[r.name].measured_mfu) <= 0.08, r.name
        assert fa3[r.name].predicted_mfu - fa3[r.name].measured_mfu > 0.08, r.name


def test_jax_rematerialisation_replays_what_palm_reports():
    """PaLM (arXiv 2204.02311) Table 3: 57.8 % hardware FLOPs utilisation against 46.2 % model FLOPs
    utilisation, so rematerialisation adds 25.1 % to the model FLOPs. Keeping only the layer input
    and replaying what the backward reads (recompute: [], jax.checkpoint saving nothing) gives that
    within 2 %; replaying the whole layer (full, Megatron's) overshoots by more than 5 %."""
    run = RUNS["palm-540b-6144tpu"]
    nums = values(run)
    g = _built(run.model, "full")

    def ratio(policy):
        h = recompute.apply(g, policy)
        total = lambda keep: sp.Add(*(d["flops"] * d["repeat"] for _, d in h.nodes(data=True) if keep(d)))  # noqa: E731
        extra = total(lambda d: d["phase"] == "recompute").xreplace(nums)
        return float(1 + extra / total(lambda d: d["phase"] != "recompute").xreplace(nums))

    assert run.recompute == ()
    assert ratio(()) == pytest.approx(57.8 / 46.2, rel=0.02)
    assert ratio("full") / (57.8 / 46.2) - 1 > 0.05


def test_an_moe_run_is_predicted_from_its_active_work(results, preds):
    """NeMo's Grok-1 314B (8 experts, top 2; EP 8 over InfiniBand, TP 4 x CP 2 in a node, PP 8) on
    512 to 2048 H100s: each step within the issue's 10 % step-time bound of the printed seconds
    (20.83, 21.0, 21.09; predicted 4.4, 3.5 and 3.1 % slow), the held-out 1024-GPU row among them. Each chip
    computes its own tokens' share of the experts' work, so the ceiling stays above every measured
    MFU; charged the whole batch's expert work, as before sharding split the routed tokens, the
    1024- and 2048-GPU ceilings were 26.6 % and 13.6 %."""
    by_name = {r.run.name: r for r in results}
    for gpus in (512, 1024, 2048):
        name = f"dgxc-grok1-314b-bf16-{gpus}gpu"
        assert by_name[name].measured <= by_name[name].ceiling
        p = preds[name]
        assert p.step_published and abs(p.predicted_step_s / p.measured_step_s - 1) <= 0.10, name


def test_mfu_falls_as_slices_are_added_over_dcn(preds):
    """MaxText's v5e table: MFU falls from 1 to 32 slices for every size. The model must not rise."""
    for size in (16, 32, 64, 128):
        ladder = [preds[f"maxtext-{size}b-v5e-{n}x256"].predicted_mfu for n in (1, 2, 4, 8, 16, 32)]
        assert all(b <= a for a, b in zip(ladder, ladder[1:])), (size, ladder)
        assert ladder[-1] < ladder[0]


def test_gemma3_steps_grow_with_v6e_slices_as_measured(preds):
    """The Trillium recipe for Gemma 3 12B at 32K tokens: 7.318, 7.793 and 8.390 s per step on one,
    two and four v6e-256 slices (6.5 % and 14.6 % longer). The model's step must grow by at least
    half of that, and the two-slice row (a check row: t_dcn is fitted on the four-slice one) must
    come out within the issue's 5 %."""
    steps = [preds[f"maxtext-gemma3-12b-{n}xv6e-256"].predicted_step_s for n in (1, 2, 4)]
    assert steps[1] / steps[0] - 1 >= 0.065 / 2 and steps[2] / steps[0] - 1 >= 0.146 / 2, steps
    two = preds["maxtext-gemma3-12b-2xv6e-256"]
    assert two.split == "check" and abs(two.predicted_step_s / 7.793 - 1) <= 0.05


def test_mfu_falls_as_v4_slices_are_added(preds):
    """MaxText's 2023 v4 table: the 22B model at 56.7, 55.2, 54.3 and 53.2 % MFU on one, two, four and
    eight v4-128 slices. With t_dcn fitted on its four-slice row, the model must fall at every step,
    and its two check rows (two and eight slices) come out within the issue's 3 points."""
    ladder = [preds[f"maxtext-22b-{n}xv4-128"] for n in (1, 2, 4, 8)]
    mfu = [p.predicted_mfu for p in ladder]
    assert all(b < a for a, b in zip(mfu, mfu[1:])), mfu
    for p, measured in zip(ladder, (0.567, 0.552, 0.543, 0.532)):
        assert p.measured_mfu == pytest.approx(measured, abs=5e-4)
        if p.split == "check":
            assert abs(p.predicted_mfu - measured) <= 0.03, p.name


def test_mfu_falls_from_one_to_two_v5p_slices(preds):
    """MaxText's v5p table: every model loses 2 to 9 MFU points from one slice to two. The model must fall too."""
    pairs = [(name, name.replace("-1xv5p", "-2xv5p")) for name in preds
             if "-1xv5p-" in name and name.replace("-1xv5p", "-2xv5p") in preds]
    assert len(pairs) == 8
    for one, two in pairs:
        assert preds[two].predicted_mfu < preds[one].predicted_mfu, (one, two)
@pytest.mark.parametrize("size, gpus", [("175b", (384, 768, 1536)), ("530b", (560, 1120, 2240))])
def test_mfu_falls_as_gpus_are_added_at_a_fixed_batch(size, gpus, preds):
    """Narayanan et al. 2021, Table 2 (PTD parallelism): at a fixed global batch, doubling the GPUs
    (more data-parallel replicas, fewer microbatches per pipeline) lowers the throughput per GPU
    (175B: 153, 149, 141; 530B: 171, 167, 159 teraFLOP/s). The model's MFU must fall the same way."""
    measured = [preds[f"narayanan-{size}-{n}gpu"].measured_mfu for n in gpus]
    model = [preds[f"narayanan-{size}-{n}gpu"].predicted_mfu for n in gpus]
    assert measured[0] > measured[1] > measured[2]
    assert model[0] > model[1] > model[2], model


def test_mfu_falls_with_more_pipeline_stages_at_a_fixed_batch():
    """Narayanan et al. 2021: at a fixed batch, more stages leave fewer microbatches per pipeline
    and a larger bubble, so the step model's MFU must fall."""
    base = RUNS["megatron-70b"]
    mfus = []
    for stages in (2, 4, 8):
        data = 96 // stages
        mesh = dict(base.mesh, stage=Axis("stage", sp.Integer(stages), "dcn"), data=Axis("data", sp.Integer(data), "dcn"))
        run = replace(base, mesh=mesh, microbatches=base.batch // data, interleave=1, schedule="1f1b")
        r = predict(run)
        mfus.append(r.ceiling * r.t_step / r.parts.step())
    assert mfus[0] > mfus[1] > mfus[2]


# ----------------------------------------------------------------------------- calibration and targets


@pytest.mark.parametrize("f, lo, hi, best, most", [
    (lambda x: (x - 0.3) ** 2, 0.05, 1.0, 0.3, 10),                      # a parabola: found at once
    (lambda x: math.log(1 + (x - 0.67) ** 2) + abs(x - 0.67) ** 3, 0.05, 1.0, 0.67, 20),
    (lambda x: -x * math.exp(-x / 0.4), 0.05, 1.0, 0.4, 20),             # x e^(-x/s): peak at s, by hand
    (lambda x: math.cosh(40 * (x - 0.123)), 0.05, 1.0, 0.123, 50),      # steep walls: golden steps
    (lambda x: (x - 2e-3) ** 2, 0.0, 1e-3, 1e-3, 60),                    # the minimum at the upper bound
    (lambda x: (x + 1e-4) ** 2, 0.0, 1e-3, 0.0, 60),                     # at the lower bound: exactly 0
])
def test_the_fit_minimiser_finds_known_minima(f, lo, hi, best, most):
    """Brent's method against minima worked out by hand, to 1e-8 of the bracket: a smooth minimum
    inside the bracket in at most 20 evaluations (golden section alone takes 50), steep walls in no
    more than golden section, a minimum at a bound (t_dcn's ceiling, or 0) in about as many; each
    plus the two ends, looked at last."""
    calls = []
    got = calibrate._minimise(lambda x: calls.append(x) or f(x), lo, hi)
    assert abs(got - best) <= 1e-8 * (hi - lo) and lo <= got <= hi
    if best in (lo, hi):                # a minimum at a bound is the bound, not a point inside it
        assert got == best
    assert all(lo <= x <= hi for x in calls) and len(calls) <= most + 2 and calls[-2:] == [lo, hi]


def test_calibration_uses_fit_rows_only_and_stays_out_of_the_ceiling(results):
    cals = calibrate.calibrations(results)
    for chip, cal in cals.items():
        fit_rows = {r.run.name for r in results if r.run.chip.name == chip and r.run.split == "fit"}
        assert 0 < cal.eta_mm <= 1 and 0 <= cal.t_dcn <= 1e-2 and 0 < cal.eta_mem <= 1     # 10 ms: calibrate.BOUNDS
        if cal.source == "card":      # a chip with no fit rows (the H800) reads a card: its twin's fit rows
            twin = next(r.run.chip.calibrated_as for r in results if r.run.chip.name == chip)
            assert not fit_rows and set(cal.fit_runs) == set(cals[twin].fit_runs)
            continue
        assert set(cal.fit_runs) == fit_rows
        assert len(cal.fitted) <= 2 and cal.fitted[0] == "eta_mm"      # the issue: at most two per chip
    for r in results:             # the ceiling is the ideal's, whatever the calibration
        assert r.measured <= r.ceiling


# NCCL's own latency of one inter-node ring step (NVIDIA/nccl@5067397c src/graph/tuning.cc,
# ncclTunerConstantsDefaults.hwLatencies[NET][Ring][Simple]), microseconds.
NCCL_NET_RING_SIMPLE_US = 14.0


def test_the_second_fitted_number_is_the_one_the_card_cannot_state(results):
    """GPU cards state the scale-out step latency (NCCL's tuning table), so their calibration reads
    t_dcn and fits eta_mem instead, where the fit rows span at least three models; TPU cards state
    none, so t_dcn is fitted (where a fit run pays DCN ring steps, among at least two) and eta_mem
    stays at its ideal 1."""
    cals = calibrate.calibrations(results)
    models = {chip: {r.run.model.name for r in results if r.run.chip.name == chip and r.run.split == "fit"}
              for chip in cals}
    for chip, cal in cals.items():
        card = next(r.run.chip for r in results if r.run.chip.name == chip)
        if card.family == "gpu":
            assert float(card.dcn_step_latency_s) * 1e6 == pytest.approx(NCCL_NET_RING_SIMPLE_US)
            assert cal.t_dcn == float(card.dcn_step_latency_s) and "t_dcn" not in cal.fitted
            assert ("eta_mem" in cal.fitted) == (len(models[chip]) >= calibrate.MEM_MODELS), chip
        else:
            assert card.dcn_step_latency_s is None and cal.eta_mem == 1.0 and "eta_mem" not in cal.fitted
    assert cals["gb200-nvl72"].eta_mem == 1.0             # two runs of one model cannot see it
    for chip in ("h100-sxm", "a100-sxm"):                  # MosaicML's unfused PyTorch rows can
        assert 0.3 < cals[chip].eta_mem < 0.9, chip


def test_t_dcn_is_fitted_where_a_fit_run_pays_dcn_steps(results):
    """On subsets of v6e's fit rows (Gemma 3 12B on one and four v6e-256 slices, Llama 3.1 8B on one
    v6e-8): no multi-slice row, or a multi-slice row alone, leaves t_dcn at 0 with eta_mm the one
    number fitted; the four-slice row beside a single-slice one fits t_dcn, which then reproduces
    both rows' step times (two numbers, two rows), a latency between 10 us and 1 ms."""
    fit = {r.run.name: r for r in results if r.run.chip.name == "tpu-v6e" and r.run.split == "fit"}
    one, four, small = (fit[n] for n in ("maxtext-gemma3-12b-1xv6e-256", "maxtext-gemma3-12b-4xv6e-256",
                                         "maxtext-llama3.1-8b-1xv6e-8"))
    assert one.parts.dcn_steps == 0 < four.parts.dcn_steps and small.parts.dcn_steps == 0
    for rows in ([one, small], [four]):
        got = calibrate.fit(rows)
        assert got["fitted"] == ("eta_mm",) and got["t_dcn"] == 0.0
    got = calibrate.fit([one, four])
    assert got["fitted"] == ("eta_mm", "t_dcn") and 1e-5 < got["t_dcn"] < 1e-3
    for r in (one, four):
        step = r.parts.step(got["eta_mm"], 1.0, got["t_dcn"], 1.0)
        assert step == pytest.approx(calibrate.target_step(r)[0], rel=1e-6)


def test_eta_mem_slows_the_memory_bound_kernels_and_the_optimizer_and_so_hides_more():
    """A step worked by hand: one matmul of 2 s (HBM 0.1 s), 0.5 s of memory-bound ops, a bubble of
    a quarter, 0.3 s of optimizer, 5 s of weight traffic that may hide. At eta_mm 0.5 and eta_mem 1
    the compute is (4 + 0.5) x 1.25 = 5.625 s, so 5 s of traffic hides and the step is 5.925 s; at
    eta_mem 0.25 the compute is (4 + 2) x 1.25 = 7.5 s, the optimizer 1.2 s, the step 8.7 s; with
    7 s of traffic, 1.375 s of it waits at eta_mem 1 and none at 0.25 (the longer compute hides it)."""
    def parts(background):
        return step_model.Parts([(2.0, 0.1)], 0.5, 0.25, {}, {"ici": background}, {}, 0.0, 0.0, 0.3,
                                {"ici": 1.0, "dcn": 1.0}, 0.0)

    assert parts(5.0).step(0.5) == pytest.approx(5.925, rel=1e-12)
    assert parts(5.0).step(0.5, eta_mem=0.25) == pytest.approx(8.7, rel=1e-12)
    assert parts(5.0).terms(0.5, eta_mem=0.25)["t_optimizer"] == pytest.approx(1.2, rel=1e-12)
    assert parts(7.0).exposed(0.5) == pytest.approx(1.375, rel=1e-12)
    assert parts(7.0).exposed(0.5, eta_mem=0.25) == 0.0


def test_a_damaged_cached_fit_is_fitted_again(results):
    """The on-disk fit is trusted only whole: numbers within their bounds, the fitted names known,
    eta_mm first; anything else is fitted again, as a damaged entry of FLOP counts is counted again."""
    from symroof.io import expression_cache as cache

    rows = [r for r in results if r.run.chip.name == "gb200-nvl72" and r.run.split == "fit"]
    want = calibrate.fit(rows)
    key = calibrate.fit_key(rows)
    for bad in ({**want, "fitted": ["eta_mm", 7]}, {**want, "fitted": ["t_dcn"]}, {**want, "eta_mm": 3.0},
                {**want, "fitted": ["eta_mm", "eta_mm"]}, [0.5, 0.0], {"eta_mm": 0.5}):
        cache.store_data("calibration_fit", key, bad if not isinstance(bad, dict) or "fitted" not in bad
                         else {**bad, "fitted": list(bad["fitted"])})
        assert calibrate.fit(rows) == want, bad


def test_a_card_whose_stated_latency_changed_is_predicted_at_the_stated_one(tmp_path):
    """A card's block records the t_dcn it was fitted with; a card that now states another scale-out
    step latency is predicted at the stated one (the block is not recalibrated by editing the card)."""
    from symroof.claims.forecast import forecast

    card = (ROOT / "models/chips/h100-sxm.yaml").read_text()
    (tmp_path / "slow.yaml").write_text(card.replace("dcn_step_latency_s: 14e-6", "dcn_step_latency_s: 5e-4"))
    configs = (ROOT / "derivations/example_configs.yaml").read_text()
    assert "chip: h100-sxm" in configs
    (tmp_path / "configs.yaml").write_text(configs.replace("chip: h100-sxm", "chip: slow.yaml"))
    base = {f.name: f for f in forecast("example_configs")}
    slower = 0
    for f in forecast(tmp_path / "configs.yaml"):
        if f.chip == "h100-sxm":
            assert f.t_dcn == pytest.approx(5e-4) and f.calibrated
            assert f.predicted_step_s >= base[f.name].predicted_step_s
            slower += f.predicted_step_s > base[f.name].predicted_step_s
    assert slower >= 1          # FSDP over InfiniBand, not overlapped (NeMo's layouts overlap theirs)


def test_nemo_step_times_come_closer_when_the_memory_bound_kernels_are_fitted_apart(results):
    """NVIDIA's NeMo rows (Megatron-Core with Transformer Engine's fused norms and activations) are
    in the same H100 fit as MosaicML's unfused PyTorch rows. With one efficiency for everything
    (eta_mem held at 1) their held-out step times come out 7.4 % off at the median; with the
    memory-bound kernels' rate fitted apart, 5.8 %. The dense rows' worst comes closer too (15.2 ->
    11.1 %). The worst of all is NeMo's DeepSeek-V3 row either way (16.8 and 17.0 % fast), an MoE
    row whose miss the memory-bound rate does not explain (its step is a third exposed all-to-all)."""
    h100 = [r for r in results if r.run.chip.name == "h100-sxm"]
    fit = [r for r in h100 if r.run.split == "fit"]
    nemo = [r for r in h100 if r.run.name.startswith("dgxc-") and r.run.split == "check"
            and calibrate.target_step(r)[1]]
    assert len(nemo) >= 10
    t_dcn = float(fit[0].run.chip.dcn_step_latency_s)

    def errors(eta_mm: float, eta_mem: float, rows=nemo) -> list:
        return sorted((abs(r.parts.step(eta_mm, 1.0, t_dcn, eta_mem) / calibrate.target_step(r)[0] - 1), r.run.name)
                      for r in rows)

    apart = calibrate.fit(fit)
    assert apart["fitted"] == ("eta_mm", "eta_mem")
    rows = [(r.parts, calibrate.target_step(r)[0]) for r in fit]
    alone = calibrate._minimise(lambda x: calibrate._loss(rows, x, t_dcn, 1.0), *calibrate.BOUNDS["eta_mm"])
    with_mem, without = errors(apart["eta_mm"], apart["eta_mem"]), errors(alone, 1.0)
    half = len(nemo) // 2
    assert with_mem[half][0] < without[half][0]
    assert with_mem[-1][1] == without[-1][1] == "dgxc-deepseek-v3-bf16-1024gpu"
    dense = [r for r in nemo if r.run.model.n_experts < 2]
    assert errors(apart["eta_mm"], apart["eta_mem"], dense)[-1][0] < errors(alone, 1.0, dense)[-1][0]


CHIPS = ["h100-sxm", "a100-sxm", "tpu-v4", "tpu-v5e", "tpu-v5p", "tpu-v6e"]

# Chips where the model's largest check-row error is not below the constant guess's, with the numbers.
NOT_BETTER: dict[str, str] = {}


@pytest.mark.parametrize("chip", CHIPS)
def test_step_model_beats_the_constant_mfu_guess_on_check_rows(chip, preds, request):
    """On the held-out rows, the calibrated model's largest MFU error is below the constant guess's."""
    if chip in NOT_BETTER:
        request.applymarker(pytest.mark.xfail(reason=NOT_BETTER[chip], strict=True))
    s = calibrate.summary(list(preds.values()))[chip]
    assert s["model_mfu_error"]["max"] < s["baseline_mfu_error"]["max"]


# Chips where the model misses the targets (median <= 3, max <= 8 MFU points), with the numbers.
MISSES = {
    "h100-sxm": "median 2.6, max 10.0 pt on 52 rows: MosaicML's MPT rows, the 30B at 8K tokens with "
                "activation checkpointing (10.0 pt) and the 13B without it on 8 GPUs (7.3 pt), run slower "
                "than the model says; NeMo's rows are within 5.3 pt, Megatron-LM's 2.3, Llama 3's 1.8",
    "a100-sxm": "median 2.2, max 11.2 pt on 42 rows: MosaicML's PyTorch-FSDP rows of 2023 spread both ways "
                "(MPT-760M at 512 tokens 11.2 pt slower than predicted; MPT-13B with activation "
                "checkpointing 7.0 pt faster, against the 2021-22 Megatron rows the same eta_mm serves); "
                "Megatron's rows are within 4.9 pt",
    "tpu-v5p": "median 5.1, max 10.6 pt, step 18 % (t_dcn fitted at its 1 ms bound): the table's full-"
               "recompute 512B and 1024B rows on one v5p-1024 and one v5p-4096 run 5 and 6 pt faster than "
               "predicted, the 256B on two v5p-1024 6 pt and the 1024B on two v5p-2048 7 pt slower, and "
               "the 2025 Llama 3.1 405B recipe 10 pt faster than the 2023 table's calibration",
}


@pytest.mark.parametrize("chip", CHIPS)
def test_targets_on_check_rows(chip, preds, request):
    if chip in MISSES:
        request.applymarker(pytest.mark.xfail(reason=MISSES[chip], strict=True))
    s = calibrate.summary(list(preds.values()))[chip]
    assert s["model_mfu_error"]["median"] <= 0.03 and s["model_mfu_error"]["max"] <= 0.08


def test_h100_calibration_carries_across_frameworks(preds):
    """H100's eta_mm is fitted on NVIDIA's NeMo 24.09 rows, the Megatron-LM README's and MosaicML's
    MPT rows; Meta's Llama 3 405B rows (arXiv 2407.21783 Table 4: their own stack, 8192 and 16384
    GPUs, 8K and 131K tokens) are in no fit. They come out within the issue's 3 MFU points (0.6,
    1.0 and 1.8 low); fitted on the 2023 Megatron-LM README table alone they were 4.0-5.4 points
    low."""
    llama3 = [p for name, p in preds.items() if name.startswith("llama3-405b-")]
    assert len(llama3) == 3 and all(p.split == "check" for p in llama3)
    for p in llama3:
        assert abs(p.predicted_mfu - p.measured_mfu) <= 0.03, p.name


WITHOUT_MOSAICML = {
    # Narayanan et al. 2021 and Korthikanti et al. 2022 on A100s: 2.1 / 4.7 pt (the constant 4.4 / 9.1),
    # step times 2.9 / 9.8 % (1.9 / 5.3 pt and 3.1 / 10.3 % until their gradients were reduced after the
    # backward, as Megatron-LM then did)
    "a100-sxm": (("narayanan-", "megatron-"), 25, 13),
    # NVIDIA's NeMo recipes (BF16 and FP8) and Automodel, the Megatron-LM README's table and Meta's
    # Llama 3 on H100s: 2.1 / 4.3 pt (the constant 3.7 / 33.3), step times 4.7 / 19.8 %: NeMo's DeepSeek-V3
    # row's step is predicted 19.8 % short (4.6 / 9.4 % without it; BF16 dense rows alone: 1.7 / 5.1 pt,
    # the constant 4.0 / 11.9, step times 2.8 / 5.3 %)
    "h100-sxm": (("dgxc-", "automodel-", "megatron-", "llama3-"), 74, 34),
}
# Where those stacks miss the step-time targets, with the numbers.
WITHOUT_MOSAICML_STEP_MISSES = {"h100-sxm": "step times 4.7 / 19.8 %: NeMo's DeepSeek-V3 on 1024 H100s (MoE, expert parallel "
                           "over 8 nodes) runs 52.0 s where the model says 41.7 s; the dense rows are within 9.4 %"}


def _without_mosaicml(chip, results) -> dict:
    sources, rows, checks = WITHOUT_MOSAICML[chip]
    mine = [r for r in results if r.run.chip.name == chip and r.run.name.startswith(sources)]
    assert len(mine) == rows
    s = calibrate.summary(calibrate.predictions(mine, calibrate.calibrations(mine)))[chip]
    assert s["model_mfu_error"]["n"] == checks
    return s


@pytest.mark.parametrize("chip", sorted(WITHOUT_MOSAICML))
def test_fitted_without_mosaicmls_rows_each_gpu_meets_the_mfu_targets(chip, results):
    """Each GPU's other software stacks, calibrated on their own fit rows without MosaicML's MPT
    table (PyTorch FSDP, the rows one eta_mm per chip cannot follow beside them): their check rows
    meet the issue's MFU targets and beat the constant guess on the same rows."""
    s = _without_mosaicml(chip, results)
    model, constant = s["model_mfu_error"], s["baseline_mfu_error"]
    assert model["median"] <= 0.03 and model["max"] <= 0.08
    assert model["median"] < constant["median"] and model["max"] < constant["max"]


@pytest.mark.parametrize("chip", sorted(WITHOUT_MOSAICML))
def test_fitted_without_mosaicmls_rows_each_gpu_meets_the_step_targets(chip, results, request):
    if chip in WITHOUT_MOSAICML_STEP_MISSES:
        request.applymarker(pytest.mark.xfail(reason=WITHOUT_MOSAICML_STEP_MISSES[chip], strict=True))
    step = _without_mosaicml(chip, results)["model_step_error"]
    assert step["n"] >= 5 and step["median"] <= 0.05 and step["max"] <= 0.10


def test_v5p_2023_table_alone_scatters_as_much_as_the_target(results):
    """Why v5p misses: MaxText's 2023 v5p table, calibrated on its own fit rows, does not beat a
    constant on its own check rows by median (3.8 against 3.6 points), though it does by maximum
    (6.5 against 12.4); the same per-chip work on 1024 and 2048 chips measures 55.4 and 64.8 %."""
    mine = [r for r in results if r.run.chip.name == "tpu-v5p" and "maxtext@76bd53b0f" in r.run.source]
    assert len(mine) == 16
    s = calibrate.summary(calibrate.predictions(mine, calibrate.calibrations(mine)))["tpu-v5p"]
    model, constant = s["model_mfu_error"], s["baseline_mfu_error"]
    assert model["median"] == pytest.approx(0.038, abs=0.002) and constant["median"] == pytest.approx(0.036, abs=0.002)
    assert model["max"] < 0.08 < constant["max"]
    pair = {r.run.name: r.run.measured_mfu for r in mine if r.run.name.startswith("maxtext-1024b-1xv5p")}
    assert sorted(round(float(v), 4) for v in pair.values()) == [0.5535, 0.648]


# Chips with check rows that publish step times, where the model misses the step-time targets.
STEP_MISSES = {
    "h100-sxm": "median 5.7 %, max 11.2 % on NeMo's 13 rows, all slow (Llama 3.1 405B on 1152 GPUs the "
                "largest): H100's eta_mm, 0.588, is set mostly by MosaicML's slower PyTorch rows",
    "a100-sxm": "median 4.6 %, max 12.4 % on Korthikanti's 5 rows: 1T with full recompute 12.4 % slow, "
                "while Narayanan's 2021 rows at the same per-GPU setting are within 5 pt",
}


# Chips with at least 4 check rows that print their step time (v5p has one; it is in MISSES).
@pytest.mark.parametrize("chip", ["a100-sxm", "h100-sxm", "tpu-v6e"])
def test_step_time_targets_on_check_rows(chip, preds, request):
    """Median <= 5 %, max <= 10 % on the held-out rows whose source prints its step time."""
    if chip in STEP_MISSES:
        request.applymarker(pytest.mark.xfail(reason=STEP_MISSES[chip], strict=True))
    step = calibrate.summary(list(preds.values()))[chip]["model_step_error"]
    assert step["n"] >= 4 and step["median"] <= 0.05 and step["max"] <= 0.10


# ----------------------------------------------------------------------------- the runs file

GOOD = ONE_RUN


@pytest.mark.parametrize("old, new, message", [
    ("tensor: {size: 8, link: ici}", "tensor: {size: 16, link: ici}", "larger than the 8-chip pod"),
    ("data: {size: 2, link: dcn}", "data: {size: 2, link: ici, inner: 2}", "must be on a dcn axis"),
    ("measured_mfu: 0.4", "measured_mfu: 0.4\n    overlap: [tensr]", "key 'overlap' must list axis names"),
    ("measured_mfu: 0.4", "measured_mfu: 0.4\n    measured_tflops: 500", "implies an MFU of 0.506"),
    # 6N: 6 x 8.03e9 parameters x 4 x 4096 tokens over 16 x 9.89e14 FLOP/s x 0.25 s = 0.1996 (was unchecked)
    ("measured_mfu: 0.4", "measured_mfu: 0.4\n    measured_step_s: 0.25", "key 'measured_step_s' implies an MFU of 0.200"),
    ("measured_mfu: 0.4", "measured_mfu: 0.4\n    attention_kernel: flash", "key 'attention_kernel' is 'flash'; allowed: fused, eager, flash2"),
    ("measured_mfu: 0.4", "measured_mfu: 0.4\n    gradient_overlap: maybe", "key 'gradient_overlap' must be true or false, got 'maybe'"),
    ("measured_mfu: 0.4", "measured_mfu: 0.4\n    gradient_dtype: fp8", "key 'gradient_dtype' is 'fp8'; allowed: fp32, bf16, fp16"),
    ("    measured_mfu: 0.4\n", "", "missing key 'measured_mfu' (or 'measured_step_s'"),
    ("measured_mfu: 0.4", "measured_mfu: 0.4\n    recompute: [layer/attn/nope]", "keeps 'layer/attn/nope', not a tensor"),
    ("measured_mfu: 0.4", "measured_mfu: 0.4\n    recompute: partial", "allowed: none, full, selective, or a list"),
    # integers of hundreds of digits overflowed a float into a traceback
    ("batch: 4", "batch: 4" + "0" * 300, "key 'batch' is out of range (at most 10^12), got an integer of 301 digits"),
    ("seq: 4096", "seq: 1" + "0" * 200, "key 'seq' is out of range"),
    ("batch: 4", "batch: 4\n    microbatches: 1" + "0" * 13, "key 'microbatches' is out of range"),
    ("chips: 16", "chips: 1" + "0" * 40, "key 'chips' is out of range"),
    ("tensor: {size: 8, link: ici}", "tensor: {size: 8, link: ici, wrap: 1}", "key 'mesh.tensor.wrap' must be true or false"),
    # without a pipeline, microbatches are gradient-accumulation steps over each replica's 2 sequences
    ("batch: 4", "batch: 4\n    microbatches: 3", "key 'microbatches' (3) is more than the 2 sequences"),
    ("batch: 4", "batch: 4\n    interleave: 2\n    schedule: interleaved", "virtual stages need a 'stage' axis"),
    # physical_axes multiplied a dcn or NVLink axis's bandwidth (audit: ceiling 0.87 -> 0.999)
    ("data: {size: 2, link: dcn}", "data: {size: 2, link: dcn, physical_axes: 2}", "key 'mesh.data.physical_axes' is 2"),
    ("tensor: {size: 8, link: ici}", "tensor: {size: 8, link: ici, physical_axes: 3}", "only an ici axis of a TPU torus"),
    ("flops: 6N,", "flops: [6N],", "key 'convention.flops' is ['6N']"),     # was unhashable: a traceback
    ("peak: bf16,", "peak: {a: 1},", "key 'convention.peak' is {'a': 1}"),
])
def test_impossible_settings_are_one_line_errors(tmp_path, old, new, message):
    path = tmp_path / "runs.yaml"
    path.write_text(GOOD.replace(old, new, 1))
    with pytest.raises(CardError) as err:
        [predict(run) for run in load_runs(path)]
    assert message in str(err.value) and "\n" not in str(err.value)
    assert "(r)" in str(err.value) or str(err.value).startswith("r:")


def test_too_many_torus_axes_are_refused(tmp_path):
    path = tmp_path / "runs.yaml"
    path.write_text(GOOD.replace("chip: h100-sxm", "chip: tpu-v5e").replace(
        "tensor: {size: 8, link: ici}", "tensor: {size: 8, link: ici, physical_axes: 3}"))
    with pytest.raises(CardError, match="spans 3 physical axes, but the tpu-v5e torus has 2"):
        load_runs(path)


def test_step_time_gives_the_mfu_and_card_paths_resolve_next_to_the_file(tmp_path):
    (tmp_path / "cards").mkdir()
    (tmp_path / "cards" / "chip.yaml").write_text((ROOT / "models/chips/h100-sxm.yaml").read_text())
    path = tmp_path / "runs.yaml"
    path.write_text(GOOD.replace("chip: h100-sxm", "chip: cards/chip.yaml")
                    .replace("measured_mfu: 0.4", "measured_step_s: 2.5"))
    (run,) = load_runs(path)
    # 6N: 6 x 8.03e9 parameters x 4 x 4096 tokens over 16 x 9.89e14 FLOP/s x 2.5 s
    n = 8_030_261_248
    assert float(run.measured_mfu) == pytest.approx(6 * n * 4 * 4096 / (16 * 9.89e14 * 2.5), rel=1e-9)


def test_a_card_a_run_cannot_read_is_named_with_the_run_and_key(tmp_path):
    path = tmp_path / "runs.yaml"
    path.write_text(GOOD.replace("chip: h100-sxm", "chip: missing/chip.yaml"))
    with pytest.raises(CardError) as err:
        load_runs(path)
    assert str(err.value).startswith(f"{path}: runs[0] (r): key 'chip': {tmp_path / 'missing/chip.yaml'}: cannot read")


def test_a_step_time_that_agrees_with_the_mfu_is_kept(tmp_path):
    """Published beside the MFU, the step time is checked, not replaced: 0.125 s is 0.399 under 6N."""
    path = tmp_path / "runs.yaml"
    path.write_text(GOOD.replace("measured_mfu: 0.4", "measured_mfu: 0.4\n    measured_step_s: 0.125"))
    (run,) = load_runs(path)
    assert float(run.measured_mfu) == 0.4 and float(run.measured_step_s) == 0.125


@pytest.mark.parametrize("block, message", [
    ("{eta_mm: 1.5, t_dcn: 0, data: x, fit_runs: [a], note: n}", "calibration.eta_mm' must be a fraction"),
    ("{eta_mm: 0.5, t_dcn: 0, eta_mem: 2, data: x, fit_runs: [a], note: n}", "calibration.eta_mem' must be a fraction"),
    ("{eta_mm: 0.5, t_dcn: 0, eta_mem: -1, data: x, fit_runs: [a], note: n}", "calibration.eta_mem"),
    ("{eta_mm: 0.5, t_dcn: 0, eta_io: 1, data: x, fit_runs: [a], note: n}", "unknown key 'eta_io'"),
    ("{eta_mm: 0.5, t_dcn: 0, constant_mfu: 1.2, data: x, fit_runs: [a], note: n}", "calibration.constant_mfu' must be a fraction"),
    ("{eta_mm: 0.5, t_dcn: 0, constant_mfu: .nan, data: x, fit_runs: [a], note: n}", "calibration.constant_mfu"),
])
def test_a_calibration_above_one_is_refused(tmp_path, block, message):
    card = (ROOT / "models/chips/h100-sxm.yaml").read_text()
    head, sources = card.split("\nsources:\n")
    if "\ncalibration:" in head:
        head = head[:head.index("\ncalibration:")]
    bad = head + f"\ncalibration: {block}\nsources:\n" + sources
    path = tmp_path / "chip.yaml"
    path.write_text(bad)
    from symroof.io.catalog import load_chip
    with pytest.raises(CardError, match=message):
        load_chip(str(path))


def test_a_calibration_block_written_before_eta_mem_reads_as_its_ideal(tmp_path):
    """A card calibrated before eta_mem existed keeps working: its block has none, so it is 1."""
    card = (ROOT / "models/chips/h100-sxm.yaml").read_text()
    old = "\n".join(line for line in card.split("\n") if not line.startswith("  eta_mem:"))
    path = tmp_path / "chip.yaml"
    path.write_text(old)
    from symroof.io.catalog import load_chip
    chip = load_chip(str(path))
    assert "eta_mem" not in chip.calibration
    assert calibrate.from_card(chip).eta_mem == 1.0


@pytest.mark.parametrize("value", ["0", "2", "-1e-6", ".nan"])
def test_a_bad_scale_out_step_latency_is_a_one_line_error(tmp_path, value):
    card = (ROOT / "models/chips/h100-sxm.yaml").read_text().replace(
        "dcn_step_latency_s: 14e-6", f"dcn_step_latency_s: {value}")
    path = tmp_path / "chip.yaml"
    path.write_text(card)
    from symroof.io.catalog import load_chip
    with pytest.raises(CardError, match="dcn_step_latency_s") as err:
        load_chip(str(path))
    assert "\n" not in str(err.value)


def _card_with(tmp_path, extra: str, name: str = "chip.yaml"):
    """The H100 card with its overlap_fraction (and the sources of it) replaced by ``extra``."""
    card = (ROOT / "models/chips/h100-sxm.yaml").read_text()
    card = "\n".join(line for line in card.split("\n") if not line.lstrip().startswith("overlap_fraction"))
    head, sources = card.split("\nsources:\n")
    path = tmp_path / name
    path.write_text(head + "\n" + extra + "\nsources:\n" + sources)
    return str(path)


def test_a_cards_overlap_fraction_leaves_the_rest_of_the_background_traffic_waiting(tmp_path):
    """``overlap_fraction: {ici: f}``: of the weight gathers and gradient reductions on NVLink (MPT-13B's
    FSDP on one 8-H100 node), f hides behind compute and 1 - f waits; the last layer's
    gradient reduction waits either way. f = 1, the book's full overlap, is a card without it. The
    shipped GPU cards state 0.811 on both link classes (Lee et al. 2025: 18.9 % slower compute)."""
    from symroof.io.catalog import load_chip

    shipped = RUNS["mpt-13b-h100-s2048-8gpu"]
    run = replace(shipped, chip=load_chip(_card_with(tmp_path, "", "bare.yaml")))
    half = replace(run, chip=load_chip(_card_with(tmp_path, "overlap_fraction: {ici: 0.5}")))
    full, partial = (calibrate.step_parts(r, values(r)) for r in (run, half))
    background = full.background["ici"]
    assert background > 0.05 * full.compute()          # an FSDP run: traffic worth hiding
    assert partial.step() - full.step() == pytest.approx(0.5 * background, rel=1e-9)
    assert calibrate.step_options(run).overlap == {"ici": 1.0, "dcn": 1.0}
    assert calibrate.step_options(shipped).overlap == {"ici": 0.811, "dcn": 0.811}


@pytest.mark.parametrize("extra, message", [
    ("overlap_fraction: {ici: 1.5}", "'overlap_fraction.ici' must be a fraction in \\[0, 1\\]"),
    ("overlap_fraction: {nvlink: 0.5}", "'overlap_fraction.nvlink' names no link class; allowed: ici, dcn"),
    ("overlap_fraction: 0.5", "'overlap_fraction' must map link classes"),
])
def test_a_bad_overlap_fraction_is_a_one_line_error(tmp_path, extra, message):
    from symroof.io.catalog import load_chip
    with pytest.raises(CardError, match=message):
        load_chip(_card_with(tmp_path, extra))


# ----------------------------------------------------------------------------- CLI


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "symroof", *args], capture_output=True, text=True, cwd=ROOT)


def test_cli_validate_json_carries_the_prediction_and_the_baseline():
    done = _cli("validate", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    for row in out["runs"]:
        for key in ("ceiling_mfu", "predicted_step_s", "predicted_mfu", "measured_mfu", "error",
                    "baseline_mfu", "baseline_error"):
            assert key in row
        assert row["predicted_mfu"] <= row["ceiling_mfu"]
        for convention, mfu in row["predicted_mfu_by_convention"].items():   # every count, inferred or not
            assert mfu <= row["ceilings_by_convention"][convention]
        assert row["predicted_mfu_by_convention"][row["convention"]["flops"]] == pytest.approx(row["predicted_mfu"])
    assert set(CHIPS) <= set(out["summary"])
    assert "constant MFU" in _cli("validate").stdout


def test_cli_calibrate_prints_the_card_block_and_refuses_a_chip_without_fit_rows(tmp_path):
    done = _cli("calibrate", "--chip", "a100-sxm")
    assert done.returncode == 0, done.stderr
    assert "eta_mm:" in done.stdout and "megatron-22b-a100-full-recompute" in done.stdout
    path = tmp_path / "runs.yaml"
    path.write_text(GOOD.replace("split: fit", "split: check"))
    bad = _cli("calibrate", "--chip", "h100-sxm", "--data", str(path))
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def _flow_sources(text: str) -> str:
    """The card with its sources as a one-line flow mapping (``sources: {a: b, ...}``), valid YAML."""
    import yaml

    head, sources = text.split("\nsources:\n")
    flow = yaml.safe_dump(yaml.safe_load("sources:\n" + sources)["sources"], default_flow_style=True, width=10**9)
    return head + "\nsources: " + flow.strip() + "  # one line\n"


def _no_calibration_then_sources_first(text: str) -> str:
    """The card without a calibration block and with sources first, as a hand-written card may be."""
    head, sources = text.split("\nsources:\n")
    start = head.index("\ncalibration:")
    rest = [line for line in head[start + 1:].split("\n") if not line.startswith("  ")][1:]
    return "sources:\n" + sources.rstrip("\n") + "\n" + head[:start] + "\n" + "\n".join(rest) + "\n"


@pytest.mark.parametrize("layout", [_flow_sources, _no_calibration_then_sources_first])
def test_calibrate_write_keeps_any_block_layout_of_a_card(tmp_path, layout):
    """--write put its block before a line 'sources:' alone and crashed (ValueError) on a card
    whose sources is a flow mapping; any layout of top-level keys now gets the block, the rest kept."""
    import yaml

    from symroof.io.catalog import load_chip

    card = tmp_path / "gpu.yaml"
    card.write_text(layout((ROOT / "models/chips/h100-sxm.yaml").read_text()))
    before = yaml.safe_load(card.read_text())
    runs = tmp_path / "runs.yaml"
    runs.write_text(GOOD.replace("chip: h100-sxm", f"chip: {card}"))
    block = calibrate.calibrate_chip(str(runs), "h100-sxm", write=True)
    after = yaml.safe_load(card.read_text())
    assert after.pop("calibration") == yaml.safe_load(block)["calibration"]
    before.pop("calibration", None)
    assert after == before
    assert load_chip(str(card)).calibration["fit_runs"] == ("r",)
    text = card.read_text()
    calibrate.calibrate_chip(str(runs), "h100-sxm", write=True)      # a second write changes nothing
    assert card.read_text() == text


@pytest.mark.parametrize("name", ["yes", "1e3", "a, b", "null", "#x"])
def test_calibrate_write_keeps_a_run_name_a_reader_would_read_otherwise(tmp_path, name):
    """--write wrote the fit runs' names unquoted: a run named yes or 1e3 came back as a boolean or a
    number (the card then refused to load), and 'a, b' as two names. Such a name is quoted."""
    from symroof.io.catalog import load_chip

    card = tmp_path / "gpu.yaml"
    card.write_text((ROOT / "models/chips/h100-sxm.yaml").read_text())
    runs = tmp_path / "runs.yaml"
    runs.write_text(GOOD.replace("chip: h100-sxm", f"chip: {card}").replace("name: r", f"name: {json.dumps(name)}"))
    calibrate.calibrate_chip(str(runs), "h100-sxm", write=True)
    assert load_chip(str(card)).calibration["fit_runs"] == (name,)


def test_calibrate_write_refuses_a_card_it_cannot_edit_in_place(tmp_path):
    """A card written as one flow mapping has no line to put the block on: one line, card untouched."""
    import yaml

    card = tmp_path / "gpu.yaml"
    card.write_text(yaml.safe_dump(yaml.safe_load((ROOT / "models/chips/h100-sxm.yaml").read_text()),
                                   default_flow_style=True, width=10**9))
    text = card.read_text()
    runs = tmp_path / "runs.yaml"
    runs.write_text(GOOD.replace("chip: h100-sxm", f"chip: {card}"))
    done = _cli("calibrate", "--chip", "h100-sxm", "--data", str(runs), "--write")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert f"{card}:" in done.stderr and "block style" in done.stderr
    assert card.read_text() == text


def test_calibrate_write_that_cannot_write_is_one_line_and_a_linked_card_stays_linked(tmp_path):
    """A temporary file that cannot be written beside the card was an IsADirectoryError traceback;
    a card reached by a symbolic link was replaced by a regular file (review)."""
    real = tmp_path / "cards" / "gpu.yaml"
    real.parent.mkdir()
    real.write_text((ROOT / "models/chips/h100-sxm.yaml").read_text())
    link = tmp_path / "gpu.yaml"
    link.symlink_to(real)
    runs = tmp_path / "runs.yaml"
    runs.write_text(GOOD.replace("chip: h100-sxm", f"chip: {link}"))
    (real.parent / "gpu.yaml.tmp").mkdir()
    text = real.read_text()
    done = _cli("calibrate", "--chip", "h100-sxm", "--data", str(runs), "--write")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "cannot write gpu.yaml.tmp beside the card" in done.stderr and real.read_text() == text
    (real.parent / "gpu.yaml.tmp").rmdir()
    calibrate.calibrate_chip(str(runs), "h100-sxm", write=True)
    assert link.is_symlink() and "fit_runs: [r]" in real.read_text()


def test_a_runs_file_of_todays_format_gets_the_cards_calibration(tmp_path):
    """Old-format runs (no new keys) still load; a chip without fit rows in the file is predicted
    with the calibration its card records (written by ``symroof calibrate``)."""
    path = tmp_path / "runs.yaml"
    path.write_text(GOOD.replace("split: fit", "split: check"))
    results = [predict(run) for run in load_runs(path)]
    (cal,) = calibrate.calibrations(results).values()
    card = RUNS["megatron-1.7b"].chip.calibration
    assert cal.source == "card" and cal.eta_mm == pytest.approx(float(card["eta_mm"]))
    assert cal.eta_mem == pytest.approx(float(card.get("eta_mem", 1)))
    (p,) = calibrate.predictions(results, {cal.chip: cal})
    assert 0 < p.predicted_mfu <= results[0].ceiling


def test_the_constant_baseline_is_the_fit_rows_mean_and_the_card_keeps_it(tmp_path):
    """The constant-MFU baseline fitted beside the card's numbers is the fit rows' mean measured MFU
    (0.3, 0.4, 0.5: 0.4); the card keeps it (constant_mfu), so a file of check rows alone is compared
    with the card's constant: 0.4321 against a measured 0.4 is off by 0.0321."""
    import re

    rows = "".join(GOOD.replace("runs:\n", "").replace("name: r", f"name: r{i}").replace("measured_mfu: 0.4", f"measured_mfu: {m}")
                   for i, m in enumerate(("0.3", "0.4", "0.5")))
    path = tmp_path / "fit.yaml"
    path.write_text("runs:\n" + rows)
    (cal,) = calibrate.calibrations([predict(run) for run in load_runs(path)]).values()
    assert cal.baseline_mfu == pytest.approx(0.4, abs=1e-12)
    assert "  constant_mfu: 0.4000" in calibrate.card_block(cal, "fit.yaml")
    card = re.sub(r"constant_mfu: [0-9.]+", "constant_mfu: 0.4321", (ROOT / "models/chips/h100-sxm.yaml").read_text())
    (tmp_path / "chip.yaml").write_text(card)
    check = tmp_path / "check.yaml"
    check.write_text(GOOD.replace("split: fit", "split: check").replace("chip: h100-sxm", "chip: chip.yaml"))
    results = [predict(run) for run in load_runs(check)]
    (cal,) = calibrate.calibrations(results).values()
    assert cal.source == "card" and cal.baseline_mfu == 0.4321
    errors = calibrate.summary(calibrate.predictions(results, {cal.chip: cal}))["h100-sxm"]["baseline_mfu_error"]
    assert errors["n"] == 1 and errors["max"] == pytest.approx(0.0321, abs=1e-12)


def test_the_card_names_the_matmul_dtype_its_constant_baseline_is_the_mean_of(tmp_path):
    """calibrate --write labels constant_mfu by the rows it is the mean of: fit rows all in FP8 give
    "the FP8 fit runs' mean" (0.3, 0.4, 0.5: 0.4), not the BF16 label; with two BF16 rows beside them
    (0.2, 0.4: 0.3) it is the BF16 rows' mean, the FP8 rows' 0.4 listed by dtype."""
    def rows(dtype, mfus, start):
        return "".join(GOOD.replace("runs:\n", "").replace("name: r", f"name: r{start + i}")
                       .replace("measured_mfu: 0.4", f"measured_mfu: {m}\n    matmul_dtype: {dtype}")
                       .replace("peak: bf16", f"peak: {dtype}") for i, m in enumerate(mfus))

    fp8 = rows("fp8", ("0.3", "0.4", "0.5"), 0)
    for text, constant, label in ((fp8, "0.4000", "FP8"), (fp8 + rows("bf16", ("0.2", "0.4"), 3), "0.3000", "BF16")):
        path = tmp_path / "fit.yaml"
        path.write_text("runs:\n" + text)
        (cal,) = calibrate.calibrations([predict(run) for run in load_runs(path)]).values()
        block = calibrate.card_block(cal, "fit.yaml")
        assert f"  constant_mfu: {constant}          # the baseline: the {label} fit runs' mean measured MFU" in block
        assert "constant_mfu_by_matmul_dtype: {fp8: 0.4000}" in block


def test_card_block_lists_every_fit_run_readably():
    """The block calibrate writes: a long fit_runs list goes on over indented lines, and reads back
    as the same names, a name longer than a line kept whole."""
    import yaml

    names = tuple(f"run-{i}-of-a-long-table" for i in range(30)) + ("x" * 120,)
    cal = calibrate.Calibration("h100-sxm", 0.5, 0.0, names, "fit", None)
    block = calibrate.card_block(cal, "runs.yaml")
    assert yaml.safe_load(block)["calibration"]["fit_runs"] == list(names)
    lines = [line for line in block.splitlines() if "x" * 120 not in line and not line.startswith("calibration")]
    assert max(map(len, lines)) <= len("  fit_runs: [") + 96


def test_the_compute_time_is_each_matmuls_longer_of_hbm_and_flops_over_eta(results):
    """``Parts.compute`` sorts the matmuls by flop/hbm once and bisects per eta_mm; it must equal
    the definition, sum of max(hbm, flop / eta_mm), at any eta_mm (ties included)."""
    for r in results[::17]:
        parts = replace(r.parts, _roof=None)
        ratios = sorted({flop / hbm for flop, hbm in parts.matmul if hbm > 0})
        for eta in [0.05, 0.3, 0.5661, 0.9, 1.0] + ratios[:3]:
            want = (sum(max(hbm, flop / eta) for flop, hbm in parts.matmul) + parts.memory) * (1 + parts.bubble)
            assert parts.compute(eta) == pytest.approx(want, rel=1e-12), r.run.name


def test_an_overlapped_batch_axis_still_waits_its_last_reductions_ring_steps(tmp_path):
    """A source that overlaps the data axis's gradient reductions hides them behind the backward, all
    but the last: after the last backward op nothing is left to hide its ring behind, its latency as
    well as its bytes. LLaMA 3 8B on tensor 8 x data 2 (dcn): the last layer's seven weight matrices
    and the token table each all-reduce over data in a ring of 2(N - 1) = 2 steps (NCCL's ring
    AllReduce), so the step waits 8 x 2 = 16 scale-out ring steps; without the overlap every layer's
    reductions wait theirs and the two tables', the token table and the (untied) head, 32 x 7 + 2 = 226
    all-reduces, 452 steps."""
    path = tmp_path / "runs.yaml"
    path.write_text(ONE_RUN)
    (plain,) = load_runs(path)
    path.write_text(ONE_RUN + "    overlap: [data]\n")
    (overlapped,) = load_runs(path)
    assert predict(plain).parts.dcn_steps == 452
    assert predict(overlapped).parts.dcn_steps == 16


def test_gradients_reduced_after_the_backward_wait_their_whole_all_reduce(tmp_path):
    """A framework that all-reduces the gradients once the backward is done (Megatron-LM's local DDP
    until 2023: train_step calls reduce_model_grads after forward_backward_func) hides none of it.
    LLaMA 3 8B on tensor 8 x data 2, by hand: each chip holds an eighth of every weight (32 layers of
    q, k, v, o, gate, up, down, 218,103,808 parameters; the token table and the head, 525,336,576 each)
    and reduces an eighth of the 65 norm scales' gradients (4096 each: the sharding scatters their
    partial sums over the tensor axis first, 0.02 % of the total), 1,003,782,656 gradients; a ring of two
    moves each once, at the card's 4e11 B/s per 8-GPU host: 2 B each is 40.2 ms of waiting on the
    scale-out network, and fp32 gradients (gradient_dtype, as Megatron-LM reduces bf16 training's)
    twice that. Overlapped (the default), none of it waits but the last layer's share."""
    grads = (32 * 218_103_808 + 2 * 525_336_576 + 65 * 4096) // 8
    parts = {}
    for name, extra in (("overlapped", ""), ("after", "    gradient_overlap: false\n"),
                        ("fp32", "    gradient_overlap: false\n    gradient_dtype: fp32\n")):
        path = tmp_path / f"{name}.yaml"
        path.write_text(ONE_RUN + extra)
        (run,) = load_runs(path)
        parts[name] = predict(run).parts
    assert "dcn" not in parts["overlapped"].critical and parts["overlapped"].tail["dcn"] > 0
    assert parts["after"].critical["dcn"] == pytest.approx(grads * 2 / 50e9, rel=1e-9)
    assert parts["fp32"].critical["dcn"] == pytest.approx(grads * 4 / 50e9, rel=1e-9)
    assert not parts["after"].tail and not parts["after"].background.get("dcn")
    # fp32 gradients still overlapped: the hidden share and the last layer's both double
    path = tmp_path / "fp32-overlapped.yaml"
    path.write_text(ONE_RUN + "    gradient_dtype: fp32\n")
    (run,) = load_runs(path)
    doubled = predict(run).parts
    assert doubled.background["dcn"] == pytest.approx(2 * parts["overlapped"].background["dcn"], rel=1e-12)
    assert doubled.tail["dcn"] == pytest.approx(2 * parts["overlapped"].tail["dcn"], rel=1e-12)


@pytest.mark.parametrize("extra, axes", [("    overlap: [data]\n", "data"), ("", "fsdp")])
def test_gradients_after_the_backward_are_refused_beside_an_overlapped_or_fsdp_axis(tmp_path, extra, axes):
    """overlap: [data] says the data axis's reductions hide, gradient_overlap: false that they wait; an
    fsdp axis (ZeRO-3) reduces each layer's gradients during the backward. Either pair is one line."""
    text = ONE_RUN + extra + "    gradient_overlap: false\n"
    if axes == "fsdp":
        text = text.replace("data: {size: 2, link: dcn}", "fsdp: {size: 2, link: dcn}")
    path = tmp_path / "runs.yaml"
    path.write_text(text)
    with pytest.raises(CardError, match=f"key 'gradient_overlap' is false, but the run overlaps or shards weights over {axes}; drop one"):
        load_runs(path)


@pytest.mark.parametrize("microbatches", [1, 2])
def test_a_sharded_weight_axis_launches_one_gather_and_one_scatter_a_layer(tmp_path, microbatches):
    """PyTorch FSDP gathers a wrapped block's weights as one flat buffer (its FlatParameter; FSDP2 one
    all-gather a module) and reduce-scatters the block's gradients as one; Megatron-FSDP and DeepSpeed
    ZeRO-3 bucket them likewise. So a layer waits three launches a microbatch over the fsdp axis (the
    forward's gather, the backward's gather and its scatter), not three for each weight matrix. LLaMA 3
    8B on tensor 8 x fsdp 2 (dcn), by hand: a ring of two takes one scale-out step per AllGather or
    ReduceScatter (NCCL: N - 1), so 32 layers x 3 = 96 steps, plus the token table's forward gather and
    gradient scatter (2) and the head's forward gather, backward gather and scatter (3; the final norm's
    scale rides with it): 101 a microbatch. Charged a launch per matrix, as before, it was 32 x 3 x 7 + 5
    = 677."""
    path = tmp_path / "runs.yaml"
    path.write_text(ONE_RUN.replace("data: {size: 2, link: dcn}", "fsdp: {size: 2, link: dcn}")
                    + f"    microbatches: {microbatches}\n")
    (run,) = load_runs(path)
    assert predict(run).parts.dcn_steps == 101 * microbatches
