"""``expert_tensor: 1``: Megatron-Core's --expert-tensor-parallel-size 1 (MoE parallel folding).

The experts get a parallel layout of their own: the tensor ranks join the expert-parallel group, so
each chip holds E/(expert x tensor) experts whole, a token's copies reach them by one AllToAll over
both axes, and the experts' matmuls need no tensor collectives (arXiv 2504.14960, section 3;
NVIDIA/Megatron-LM megatron/core/parallel_state.py builds the expert groups apart from the dense
ones). The numbers below are worked out by hand from Mixtral 8x7B's config (D 4096, F 14336, 8
experts, 2 a token: mistralai/Mixtral-8x7B-v0.1 config.json), not read from symroof.
"""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from symroof.claims.published import load_runs, values
from symroof.claims.sharded_family import sharded
from symroof.errors import CardError

ROOT = Path(__file__).resolve().parent.parent
D, F, E, TOP_K = 4096, 14336, 8, 2
B, T, DATA, EXPERT, TENSOR = 64, 4096, 2, 4, 2
BF16 = 2


def _runs(tmp_path, **extra) -> Path:
    run = {"name": "mixtral", "source": "test", "model": "mixtral-8x7b", "chip": "h100-sxm", "chips": 16,
           "mesh": {"tensor": {"size": TENSOR, "link": "ici"}, "expert": {"size": EXPERT, "link": "ici"},
                    "data": {"size": DATA, "link": "dcn"}},
           "batch": B, "seq": T, **extra}
    path = tmp_path / "runs.yaml"
    path.write_text(yaml.safe_dump({"runs": [run]}))
    return path


def _moe(tmp_path, **extra) -> dict:
    """The sharded graph's MoE nodes of one layer: name -> its node."""
    (run,) = load_runs(_runs(tmp_path, **extra), prediction=True)
    sg = sharded(run, values(run), exact=True)
    return {n: d for n, d in sg.nodes(data=True) if "/moe/" in n}


def test_folded_experts_are_whole_and_their_matmuls_send_nothing_over_the_tensor_axis(tmp_path):
    nodes = _moe(tmp_path, expert_tensor=1)
    for name in ("up", "gate", "down"):
        fwd = nodes[f"layer/moe/{name}"]
        assert all("tensor" not in c.axes for n, d in nodes.items() if n.startswith(f"layer/moe/{name}")
                   for c in d["collectives"]), name
        # each chip's share of the layer's expert FLOPs: 2·B·T·k·D·F over all 16 chips
        assert int(fwd["local_flops"]) == 2 * B * T * TOP_K * D * F // 16


def test_the_dispatch_is_one_alltoall_over_the_expert_and_tensor_axes(tmp_path):
    """Each data replica's B/data sequences send their k copies of D to the 8 chips holding the experts:
    the book's AllToAll volume, the whole routed array among the group, (B/data)·T·k·D bytes in bf16."""
    nodes = _moe(tmp_path, expert_tensor=1)
    for name in ("layer/moe/dispatch", "layer/moe/combine", "layer/moe/combine:grad", "layer/moe/dispatch:grad"):
        (a2a,) = [c for c in nodes[name]["collectives"] if c.kind == "AllToAll"]
        assert set(a2a.axes) == {"expert", "tensor"}, name
        assert int(a2a.volume) == B // DATA * T * TOP_K * D * BF16 == 2**31, name


def test_the_router_scores_each_chips_own_tokens_without_a_gather(tmp_path):
    """Folded, no AllGather of the tokens over the tensor axis before the router (width-split, the
    AllGather dispatcher's gather of B/(data·expert)·T·D). Each chip's partial scores are summed over
    the axis: B/(data·expert)·T·E numbers, in bf16."""
    folded, split = _moe(tmp_path, expert_tensor=1), _moe(tmp_path)
    (gather,) = [c for c in split["layer/moe/router"]["collectives"] if "tensor" in c.axes]
    assert gather.kind == "AllGather" and int(gather.volume) == B // (DATA * EXPERT) * T * D * BF16
    (scores,) = folded["layer/moe/router"]["collectives"]
    assert scores.kind == "AllReduce" and scores.axes == ("tensor",)
    assert int(scores.volume) == B // (DATA * EXPERT) * T * E * BF16


def test_the_default_is_the_tensor_axis_size_and_splits_each_experts_width(tmp_path):
    """Without the key, or with it at the tensor axis's size, the experts' width is split: the
    gate and up projections' input is gathered over the tensor axis and the down projection's partial sums
    reduce-scattered (Megatron-Core before folding: ETP = TP)."""
    for nodes in (_moe(tmp_path), _moe(tmp_path, expert_tensor=TENSOR)):
        kinds = {c.kind for n in ("layer/moe/gate", "layer/moe/up", "layer/moe/down") for c in nodes[n]["collectives"]
                 if "tensor" in c.axes}
        assert kinds == {"AllGather", "ReduceScatter"}


def test_folding_holds_the_same_expert_weights_a_chip(tmp_path):
    """E/(expert·tensor) experts whole, or E/expert experts split in width over the tensor axis: one
    expert's 3·D·F weights a chip either way (the layout the memory estimate reads)."""
    from symroof.parallel.axes import layout

    for extra in ({}, {"expert_tensor": 1}):
        (run,) = load_runs(_runs(tmp_path, **extra), prediction=True)
        held = 0
        for name in ("up", "gate", "down"):
            dims = ("E", "F", "D") if name == "down" else ("E", "D", "F")
            split = [int(run.mesh[axis].size) for axis in layout(dims, run.mesh, weight=True)]
            held += E * D * F // (split[0] * (split[1] if len(split) > 1 else 1))
        assert held == 3 * D * F, extra


@pytest.mark.parametrize("extra, mesh, model, message", [
    ({"expert_tensor": 3}, None, None, "key 'expert_tensor' is 3; allowed: 2 .*or 1"),
    ({"expert_tensor": True}, None, None, "expert_tensor"),
    ({"expert_tensor": "1"}, None, None, "expert_tensor"),
    ({"expert_tensor": 1}, {"tensor": {"size": 2, "link": "ici"}, "expert": {"size": 8, "link": "dcn"}}, None,
     "key 'mesh.expert.size x mesh.tensor.size' \\(16\\) must divide the model's 8 experts"),
    ({"expert_tensor": 1}, {"tensor": {"size": 2, "link": "ici"}}, "llama3-8b",
     "key 'expert_tensor': a dense model has no routed experts"),
])
def test_a_bad_expert_tensor_is_a_one_line_error(tmp_path, extra, mesh, model, message):
    path = _runs(tmp_path, **extra)
    raw = yaml.safe_load(path.read_text())
    if mesh:
        raw["runs"][0].update(mesh=mesh, chips=16 if "expert" in mesh else 2, batch=16)
    if model:
        raw["runs"][0]["model"] = model
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(CardError, match=message):
        load_runs(path, prediction=True)
    done = subprocess.run([sys.executable, "-m", "symroof", "predict", str(path)], capture_output=True,
                          text=True, cwd=ROOT)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_the_tensor_axis_overlap_does_not_hide_the_folded_alltoall(tmp_path):
    """A run's ``overlap: [tensor]`` is Megatron-Core's --tp-comm-overlap: the tensor-parallel layers'
    gathers and scatters beside their GEMMs. Folded, the dispatch and combine AllToAll over expert x tensor
    is expert-parallel traffic, which only the expert axis's overlap (--overlap-moe-expert-parallel-comm)
    hides. With every tensor-axis collective hidden, what still waits on NVLink is the four AllToAlls of
    each layer (dispatch, combine and their gradients), each 2**31 bytes (above) among 8 chips of a switch:
    each chip holds an eighth and sends 7/8 of it to the other seven, at the card's NVLink bandwidth one
    way (900 GB/s "both directions added": 450 GB/s; nccl-tests' AllToAll bus bandwidth)."""
    from symroof.claims.calibrate import step_options
    from symroof.claims.sharded_family import replicated
    from symroof.parallel import step_model

    card = yaml.safe_load((ROOT / "models" / "chips" / "h100-sxm.yaml").read_text())
    assert card["ici_link_direction"] == "bidirectional"
    one_way = float(card["ici_link_bytes_per_s"]) / 2
    layers = 32       # mistralai/Mixtral-8x7B-v0.1 config.json num_hidden_layers
    chips = EXPERT * TENSOR
    one = B // DATA * T * TOP_K * D * BF16 / chips * (chips - 1) / chips / one_way
    for overlap, exposed in ((["tensor"], 4 * layers * one), (["tensor", "expert"], 0.0)):
        (run,) = load_runs(_runs(tmp_path, expert_tensor=1, overlap=overlap), prediction=True)
        nums = replicated(run, values(run))
        parts = step_model.parts(sharded(run, nums), nums, step_options(run))
        # exact to float rounding (rel 1e-12); with the expert axis's overlap too, nothing waits on NVLink
        assert parts.critical.get("ici", 0.0) == pytest.approx(exposed, rel=1e-12, abs=0), overlap


def _quantized(extent: int, tile: int) -> float:
    return extent / (-(-extent // tile) * tile)


def test_folded_expert_matmuls_run_at_their_whole_width_kernel_shape(tmp_path):
    """The step model's kernel efficiency (NVIDIA's Matrix Multiplication Background guide: tile and wave
    quantization) of the experts' matmuls reads each chip's shape: folded, E/(expert·tensor) experts at
    their whole width. Qwen3-30B-A3B (Qwen/Qwen3-30B-A3B config.json: hidden 2048, 128 experts of 768, 8 a
    token, 48 layers) on tensor 2 x expert 4: 16 experts a chip at 768, three whole 256-wide tiles of the
    H100 card's 128 x 256 unit; split in width (ETP = TP) they would be 384, a tile and a half (0.75)."""
    from symroof.claims.calibrate import step_options
    from symroof.claims.sharded_family import replicated
    from symroof.parallel import step_model

    card = yaml.safe_load((ROOT / "models" / "chips" / "h100-sxm.yaml").read_text())
    (tile_m, tile_n), units, peak = card["matrix_unit"], card["matrix_units"], float(card["peak_flops_per_s"]["bf16"])
    hidden, width, experts, top_k, layers, batch, seq = 2048, 768, 128, 8, 48, 16, 4096
    path = _runs(tmp_path, expert_tensor=1, batch=batch, seq=seq, model=str(ROOT / "tests/data/hf/Qwen3-30B-A3B/config.json"),
                 chips=8, mesh={"tensor": {"size": 2, "link": "ici"}, "expert": {"size": 4, "link": "ici"}})
    (run,) = load_runs(path, prediction=True)
    nums = replicated(run, values(run))
    sg = sharded(run, nums)
    local = experts // 8                                   # experts a chip
    copies = batch * seq * top_k // experts                # R: each expert's token copies, the batch whole on each
    # (m, n, k) of each chip's forward gate, up and down matmuls, batched over its experts
    want = 0.0
    for m, n, k in ((copies, width, hidden), (copies, width, hidden), (copies, hidden, width)):
        tiles = -(-m // tile_m) * -(-n // tile_n) * local
        eff = _quantized(m, tile_m) * _quantized(n, tile_n) * _quantized(k, tile_n) * tiles / (-(-tiles // units) * units)
        want += layers * 2 * m * n * k * local / (peak * eff)
    only = sg.copy()         # the three forward matmuls' FLOPs alone
    for name, d in only.nodes(data=True):
        if name not in ("layer/moe/gate", "layer/moe/up", "layer/moe/down") and "local_flops" in d:
            d["local_flops"] = 0
    parts = step_model.parts(only, nums, step_options(run))
    assert sum(mm for mm, _ in parts.matmul) == pytest.approx(want, rel=1e-12)
