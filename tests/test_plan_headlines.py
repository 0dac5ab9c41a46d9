"""Headline plans, pinned: strategy, mesh and step time for the seed command, LLaMA 3.1 405B on
H100 and on v5p, one chip, and NVL72-style NVLink domains (the h100 card with its domain set to
72 by --set, identical per-GPU numbers). Where a plan is compute-bound its step time is checked
against FLOPs counted by hand from the model's published shapes: 6 x matmul parameters per token
plus the causal attention core 6·T·N·H·L (book section 4), over chips x peak.
Strategy and mesh are pins: a change must be deliberate and named (issue 11).
"""

import math

import pytest

from symroof.cli import main
from symroof.io.chips import override_chip
from symroof.io.catalog import load_chip, load_model
from symroof.io.run import RunSettings
from symroof.search import plan as planlib


def matmul_params(D, L, F, N, K, H, V):
    """Weights that take part in matmuls: attention q/k/v/o and the gated MLP per layer, and the
    unembedding (the embedding is a lookup)."""
    return L * (D * N * H * 2 + 2 * D * K * H + 3 * D * F) + D * V


def train_flops_per_token(shape, T):
    D, L, F, N, K, H, V = shape
    return 6 * matmul_params(*shape) + 6 * T * N * H * L


LLAMA3_70B = (8192, 80, 28672, 64, 8, 128, 128256)
LLAMA3_8B = (4096, 32, 14336, 32, 8, 128, 128256)
LLAMA31_405B = (16384, 126, 53248, 128, 8, 128, 128256)
V5P, H100 = 4.59e14, 9.89e14


def _plan(model, chip, chips, batch_tokens, seq, sets=None, **run):
    chip = override_chip(load_chip(chip), sets or {})
    return planlib.plan(load_model(model), chip, chips, batch_tokens, seq,
                        run=RunSettings().with_options(**run) if run else None)


def test_seed_plan_uses_8192_chips_at_half_the_old_step():
    r = _plan("llama3-70b", "tpu-v5p", 8960, 4194304, 4096)
    assert (r["strategy"], r["mesh"]) == ("fsdp_tp_seq", {"fsdp": 128, "seq": 8, "tensor": 8})
    assert r["chips_used"] == 8192 and r["bound"] == "compute"
    by_hand = train_flops_per_token(LLAMA3_70B, 4096) * 4194304 / (8192 * V5P)
    assert r["step_time_s"] == pytest.approx(by_hand, rel=2e-3)          # vector FLOPs aside: ~0.483 s
    assert r["step_time_s"] == pytest.approx(0.4831276774, rel=1e-9)     # pin


def test_405b_on_16384_h100():
    """Two pipeline stages of fsdp=512 x tensor=16, compute-bound with GPipe's bubble at four
    microbatches per stage; tensor=16 spans two 8-GPU nodes, its ring NCCL's hierarchical one at
    min(W_ici, 8 W_dcn) a GPU (collectives.two_tier). Until an axis across nodes was priced so (it
    was one NIC, W_dcn, however many of its GPUs shared a node) the plan was stage=2 x fsdp=1024 x
    tensor=8 at 3.939496868 s (two microbatches per stage, 1.5x the floor). Before that, until a ring
    over two network axes was charged one NIC per GPU, fsdp=1024 x seq=2 x tensor=8 at 3.684752238 s."""
    r = _plan("llama3.1-405b", "h100-sxm", 16384, 16777216, 8192)
    assert (r["strategy"], r["mesh"]) == ("pp_fsdp_tp", {"stage": 2, "fsdp": 512, "tensor": 16})
    assert r["axes"]["tensor"]["link"] == "dcn" and r["axes"]["tensor"]["inner"] == 8
    assert r["axes"]["fsdp"]["link"] == "dcn" and "inner" not in r["axes"]["fsdp"]
    assert r["bound"] == "compute" and r["n_micro"] == 4
    assert r["step_time_s"] == pytest.approx(3.315745152, rel=1e-9)        # pin (3.939496868 before)
    # GPipe's bubble, (p - 1) / m = 1/4, puts it at 1.25x the compute floor (within 1.2 to 1.3)
    floor = train_flops_per_token(LLAMA31_405B, 8192) * 16777216 / (16384 * H100)
    assert floor * 1.2 < r["step_time_s"] < floor * 1.3


def test_405b_on_16384_v5p_runs_as_two_slices_over_dcn():
    r = _plan("llama3.1-405b", "tpu-v5p", 16384, 16777216, 8192)
    assert r["mesh"]["pod"] == 2 and r["axes"]["pod"]["link"] == "dcn"    # 16384 > 8960: multislice
    assert r["strategy"] == "fsdp_seq" and r["chips_used"] == 16384 and r["bound"] == "compute"
    by_hand = train_flops_per_token(LLAMA31_405B, 8192) * 16777216 / (16384 * V5P)
    assert r["step_time_s"] == pytest.approx(by_hand, rel=2e-3)
    assert r["step_time_s"] == pytest.approx(5.630786340, rel=1e-9)


def test_one_chip():
    r = _plan("llama3-8b", "tpu-v5p", 1, 8192, 8192, optimizer_bytes=4)
    assert (r["strategy"], r["mesh"], r["chips_used"]) == ("dp", {"data": 1}, 1)
    by_hand = train_flops_per_token(LLAMA3_8B, 8192) * 8192 / V5P
    assert r["step_time_s"] == pytest.approx(by_hand, rel=2e-3)
    assert r["step_time_s"] == pytest.approx(0.9186177111, rel=1e-9)


def test_one_chip_cli_names_the_real_obstacle(capsys):
    # 70B does not fit one chip: the error says HBM, not "no mesh"
    assert main(["plan", "llama3-70b", "--chip", "tpu-v5p", "--chips", "1", "--batch-tokens", "4096"]) == 2
    assert "more HBM than the chip has" in capsys.readouterr().err


def test_nvl72_at_64_gpus_is_one_partial_domain():
    r = _plan("llama3-70b", "h100-sxm", 64, 1048576, 8192, {"pod_shape": "72"})
    # ties with fsdp=32 x seq=2 (chosen until a ring over two axes of one switch was charged one
    # NVLink, not the two axes' sum: their step is the same, the compute floor)
    assert (r["strategy"], r["mesh"]) == ("fsdp", {"fsdp": 64})
    assert all(a["link"] == "ici" and a["bandwidth_multiple"] == 1 for a in r["axes"].values())
    by_hand = train_flops_per_token(LLAMA3_70B, 8192) * 1048576 / (64 * H100)
    assert r["step_time_s"] == pytest.approx(by_hand, rel=2e-3)
    assert r["step_time_s"] == pytest.approx(7.441923273, rel=1e-9)


def test_nvl72_at_16384_gpus():
    """tensor 8 and 8 of fsdp's GPUs share each 72-GPU domain, tensor at the switch's full NVLink
    bandwidth (part of a switch is a clique, not a line), fsdp's ring at min(W_ici, 8 W_dcn) (NCCL's
    hierarchical ring, collectives.two_tier): the step is the FLOP floor. It was fsdp=256 x seq=8 x
    tensor=8 at the same step until an axis across domains was priced so (one NIC before: the fsdp
    ring's 1.36 s of comms now leave more headroom than that mesh's 1.41 s). Charged half the bandwidth
    each, as any two axes sharing a domain once were, the plan put tensor 16 alone in it at 2.82 s."""
    r = _plan("llama3.1-405b", "h100-sxm", 16384, 16777216, 8192, {"pod_shape": "72"})
    assert (r["strategy"], r["mesh"]) == ("fsdp_tp", {"fsdp": 2048, "tensor": 8})
    assert r["axes"]["tensor"]["link"] == "ici" and r["axes"]["tensor"]["bandwidth_multiple"] == 1
    assert r["axes"]["fsdp"]["link"] == "dcn" and r["axes"]["fsdp"]["inner"] == 8    # 64 of each domain
    by_hand = train_flops_per_token(LLAMA31_405B, 8192) * 16777216 / (16384 * H100)
    assert r["bound"] == "compute" and r["step_time_s"] == pytest.approx(by_hand, rel=2e-3)
    assert r["step_time_s"] == pytest.approx(2.613276977, rel=1e-9)


@pytest.mark.parametrize("model, chips, batch_tokens", [
    ("llama3-70b", 64, 1048576), ("llama3-70b", 1024, 4194304), ("llama3.1-405b", 16384, 16777216)])
def test_a_larger_nvlink_domain_is_never_slower(model, chips, batch_tokens):
    steps = [_plan(model, "h100-sxm", chips, batch_tokens, 8192, {"pod_shape": str(d)})["step_time_s"]
             for d in (8, 16, 72, 256)]
    assert all(later <= earlier * (1 + 1e-12) for earlier, later in zip(steps, steps[1:])), steps


def test_pad_uses_every_chip_and_pays_for_the_padding():
    chip = load_chip("tpu-v5p")
    r = planlib.plan(load_model("llama3-70b"), chip, 8960, 4194304, 4096,
                     options=planlib.Options(pad=True))
    pad = r["padding"]
    assert r["chips_used"] == 8960 and pad["seq"] % r["mesh"]["seq"] == 0 and pad["seq"] > 4096
    # compute-bound on the padded tokens: the padding is computed, not free
    by_hand = train_flops_per_token(LLAMA3_70B, pad["seq"]) * pad["sequences"] * pad["seq"] / (8960 * V5P)
    assert r["bound"] == "compute" and r["step_time_s"] == pytest.approx(by_hand, rel=2e-3)
    plain = _plan("llama3-70b", "tpu-v5p", 8960, 4194304, 4096)
    assert r["step_time_s"] < plain["step_time_s"]            # 8960 padded chips beat 8192 even ones
    assert r["mfu"] < 1                                       # MFU counts only the real tokens


def test_recompute_and_schedule_are_searched_when_asked(capsys):
    """--recompute auto and --schedule auto: the plan names what it chose; recompute replays
    forward work, so without memory pressure no recompute wins, and 1F1B (same bubble as GPipe,
    at most p microbatches in flight: Narayanan et al. 2021, 2.2.1) never needs more memory. The chip
    has 32 GB: a stage's weights and gradients are held whole over its fsdp axis (roofline.
    memory_per_chip), 17.6 GB on this mesh, which v5e's 16 GB no longer leaves room for."""
    assert main(["plan", "llama3-70b", "--chip", "tpu-v5e", "--chips", "256", "--batch-tokens", "1048576",
                 "--recompute", "auto", "--schedule", "auto", "--strategy", "pp_fsdp_tp", "--set", "hbm_bytes=32e9",
                 "--json"]) == 0
    import json

    r = json.loads(capsys.readouterr().out)
    # ZB1P's bubble (p-1)(F+B-2W)/(m(F+B)) is below 1F1B's and GPipe's; DualPipeV's is less still, but its
    # first chip holds both ends and p + 1/2 microbatches: 34.9 GB on this mesh without recompute, over 32
    assert r["recompute"] in ("none", "selective", "full") and r["schedule"] == "zb1p"
    lost = [a for a in r["alternatives"] if a["mesh"] == r["mesh"] and a.get("recompute") != r["recompute"]]
    assert lost and all(a["t_math_s"] >= r["t_math_s"] for a in lost)
    # half the batch: GPipe's last stage holds every microbatch's logits (33.0 GB at 1048576 tokens)
    assert main(["plan", "llama3-70b", "--chip", "tpu-v5e", "--chips", "256", "--batch-tokens", "524288",
                 "--schedule", "gpipe", "--strategy", "pp_fsdp_tp", "--mesh", "stage=2,fsdp=16,tensor=8",
                 "--set", "hbm_bytes=32e9", "--json"]) == 0
    gpipe = json.loads(capsys.readouterr().out)
    assert main(["plan", "llama3-70b", "--chip", "tpu-v5e", "--chips", "256", "--batch-tokens", "524288",
                 "--schedule", "1f1b", "--strategy", "pp_fsdp_tp", "--mesh", "stage=2,fsdp=16,tensor=8",
                 "--set", "hbm_bytes=32e9", "--json"]) == 0
    one_f = json.loads(capsys.readouterr().out)
    assert one_f["memory_per_chip_bytes"] <= gpipe["memory_per_chip_bytes"]
    assert one_f["t_math_s"] == pytest.approx(gpipe["t_math_s"], rel=1e-12)      # the same bubble


def test_405b_on_16384_gb200_keeps_its_model_axes_inside_the_72_gpu_domain():
    r = _plan("llama3.1-405b", "gb200-nvl72", 16384, 16777216, 8192)
    # the model axes' GPUs in one domain: an ici axis whole, an axis across domains its share (inner)
    inside = {a: r["mesh"][a] if r["axes"][a]["link"] == "ici" else r["axes"][a].get("inner", 1)
              for a in ("seq", "tensor")}
    assert math.prod(inside.values()) > 8           # more than an 8-GPU node holds
    floor = train_flops_per_token(LLAMA31_405B, 8192) * 16777216 / (r["chips_used"] * 2.5e15)
    assert r["step_time_s"] >= floor
    h100 = _plan("llama3.1-405b", "h100-sxm", 16384, 16777216, 8192)
    assert r["step_time_s"] < h100["step_time_s"] / 2          # 2.5x the FLOPs, 9x the fast domain
    # was fsdp=256 x seq=8 x tensor=8 at 1.408577605 s, DCN-bound, until an axis across domains was
    # priced by NCCL's hierarchical ring: seq=32 now puts 16 GPUs in each domain (with tensor=4: 64),
    # its ring at min(W_ici, 16 W_dcn), and the step is the FLOP floor
    assert (r["strategy"], r["mesh"], r["chips_used"]) == ("fsdp_tp_seq", {"fsdp": 128, "seq": 32, "tensor": 4}, 16384)
    assert r["axes"]["seq"]["inner"] == 16 and r["bound"] == "compute"
    assert r["step_time_s"] == pytest.approx(1.033812372, rel=1e-9)     # pin (1.408577605 before; 1.404123364 before the table's moves)


def test_overlap_max_keeps_collectives_that_share_a_switch_apart_from_a_torus():
    """``--overlap max`` lets collectives on different axes overlap (the book's later revision),
    which needs links of their own: a torus's axes have them, a GPU's axes share its NVLink ports
    (and every chip's axes its NICs). So on GB200 the ICI time under max is the sum's; on v5p's
    torus it is less."""
    def times(chip, chips, tokens, seq, mesh, overlap):
        model = "llama3-70b"
        r = planlib.plan(load_model(model), load_chip(chip), chips, tokens, seq, mesh=mesh,
                         options=planlib.Options(overlap=overlap))
        return r["t_ici_s"], r["t_dcn_s"]

    # 64 GPUs of one domain: one placement (at 16384 GPUs, fsdp=256 x seq=8 x tensor=8, used here until
    # an axis across domains was priced by NCCL's hierarchical ring, max and sum now choose different
    # placements of the mesh: a tie at the compute floor broken by each rule's comms)
    gpu = {"fsdp": 8, "seq": 8}
    ici_max, dcn_max = times("gb200-nvl72", 64, 1048576, 8192, gpu, "max")
    assert (ici_max, dcn_max) == pytest.approx(times("gb200-nvl72", 64, 1048576, 8192, gpu, "sum"), rel=1e-12)
    assert ici_max > 0 and dcn_max == 0
    tpu = {"fsdp": 128, "seq": 8, "tensor": 8}
    ici_max, _ = times("tpu-v5p", 8192, 4194304, 4096, tpu, "max")
    ici_sum, _ = times("tpu-v5p", 8192, 4194304, 4096, tpu, "sum")
    assert ici_max < 0.8 * ici_sum
