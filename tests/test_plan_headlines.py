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
    """Two pipeline stages of fsdp=1024 x tensor=8, compute-bound with GPipe's bubble at two
    microbatches per stage. Until a ring over two network axes was charged one NIC per GPU (it had
    been two: the axes' bandwidths added as a torus's do), fsdp=1024 x seq=2 x tensor=8 was DCN-bound
    at 3.684752238 s; that mesh's weight gathers over fsdp x seq now take twice as long."""
    r = _plan("llama3.1-405b", "h100-sxm", 16384, 16777216, 8192)
    assert (r["strategy"], r["mesh"]) == ("pp_fsdp_tp", {"stage": 2, "fsdp": 1024, "tensor": 8})
    assert r["axes"]["tensor"]["link"] == "ici" and r["axes"]["fsdp"]["link"] == "dcn"
    assert r["bound"] == "compute" and r["n_micro"] == 2
    assert r["step_time_s"] == pytest.approx(3.939496868, rel=1e-9)        # pin
    # GPipe's bubble, (p - 1) / m = 1/2, puts it at 1.5x the compute floor (within 1.4 to 1.6)
    floor = train_flops_per_token(LLAMA31_405B, 8192) * 16777216 / (16384 * H100)
    assert floor * 1.4 < r["step_time_s"] < floor * 1.6


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
    """seq 8 x tensor 8 share each 72-GPU domain, each at the switch's full NVLink bandwidth (part of
    a switch is a clique, not a line): the step is the FLOP floor. Charged half the bandwidth each,
    as any two axes sharing a domain once were, the plan put tensor 16 alone in it at 2.82 s."""
    r = _plan("llama3.1-405b", "h100-sxm", 16384, 16777216, 8192, {"pod_shape": "72"})
    assert (r["strategy"], r["mesh"]) == ("fsdp_tp_seq", {"fsdp": 256, "seq": 8, "tensor": 8})
    for axis in ("seq", "tensor"):                            # 64 of each 72-GPU domain
        assert r["axes"][axis]["link"] == "ici" and r["axes"][axis]["bandwidth_multiple"] == 1
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
    at most p microbatches in flight: Narayanan et al. 2021, 2.2.1) never needs more memory."""
    assert main(["plan", "llama3-70b", "--chip", "tpu-v5e", "--chips", "256", "--batch-tokens", "1048576",
                 "--recompute", "auto", "--schedule", "auto", "--strategy", "pp_fsdp_tp", "--json"]) == 0
    import json

    r = json.loads(capsys.readouterr().out)
    assert r["recompute"] in ("none", "selective", "full") and r["schedule"] in ("gpipe", "1f1b")
    lost = [a for a in r["alternatives"] if a["mesh"] == r["mesh"] and a.get("recompute") != r["recompute"]]
    assert lost and all(a["t_math_s"] >= r["t_math_s"] for a in lost)
    assert main(["plan", "llama3-70b", "--chip", "tpu-v5e", "--chips", "256", "--batch-tokens", "1048576",
                 "--schedule", "gpipe", "--strategy", "pp_fsdp_tp", "--mesh", "stage=2,fsdp=16,tensor=8",
                 "--json"]) == 0
    gpipe = json.loads(capsys.readouterr().out)
    assert main(["plan", "llama3-70b", "--chip", "tpu-v5e", "--chips", "256", "--batch-tokens", "1048576",
                 "--schedule", "1f1b", "--strategy", "pp_fsdp_tp", "--mesh", "stage=2,fsdp=16,tensor=8",
                 "--json"]) == 0
    one_f = json.loads(capsys.readouterr().out)
    assert one_f["memory_per_chip_bytes"] <= gpipe["memory_per_chip_bytes"]
    assert one_f["t_math_s"] == pytest.approx(gpipe["t_math_s"], rel=1e-12)      # the same bubble


def test_405b_on_16384_gb200_keeps_its_model_axes_inside_the_72_gpu_domain():
    r = _plan("llama3.1-405b", "gb200-nvl72", 16384, 16777216, 8192)
    inside = [a for a in ("seq", "tensor") if r["axes"][a]["link"] == "ici"]
    assert math.prod(r["mesh"][a] for a in inside) > 8           # more than an 8-GPU node holds
    floor = train_flops_per_token(LLAMA31_405B, 8192) * 16777216 / (r["chips_used"] * 2.5e15)
    assert r["step_time_s"] >= floor
    h100 = _plan("llama3.1-405b", "h100-sxm", 16384, 16777216, 8192)
    assert r["step_time_s"] < h100["step_time_s"] / 2          # 2.5x the FLOPs, 9x the fast domain
    assert (r["strategy"], r["mesh"], r["chips_used"]) == ("fsdp_tp_seq", {"fsdp": 256, "seq": 8, "tensor": 8}, 16384)
    assert r["step_time_s"] == pytest.approx(1.408577605, rel=1e-9)     # pin (1.404123364 before the table's moves)


def test_overlap_max_keeps_collectives_that_share_a_switch_apart_from_a_torus():
    """``--overlap max`` lets collectives on different axes overlap (the book's later revision),
    which needs links of their own: a torus's axes have them, a GPU's axes share its NVLink ports
    (and every chip's axes its NICs). So on GB200 the ICI time under max is the sum's; on v5p's
    torus it is less."""
    def times(chip, chips, tokens, seq, mesh, overlap):
        model = "llama3.1-405b" if chip == "gb200-nvl72" else "llama3-70b"
        r = planlib.plan(load_model(model), load_chip(chip), chips, tokens, seq, mesh=mesh,
                         options=planlib.Options(overlap=overlap))
        return r["t_ici_s"], r["t_dcn_s"]

    gpu = {"fsdp": 256, "seq": 8, "tensor": 8}
    assert times("gb200-nvl72", 16384, 16777216, 8192, gpu, "max") == \
        pytest.approx(times("gb200-nvl72", 16384, 16777216, 8192, gpu, "sum"), rel=1e-12)
    tpu = {"fsdp": 128, "seq": 8, "tensor": 8}
    ici_max, _ = times("tpu-v5p", 8192, 4194304, 4096, tpu, "max")
    ici_sum, _ = times("tpu-v5p", 8192, 4194304, 4096, tpu, "sum")
    assert ici_max < 0.8 * ici_sum
