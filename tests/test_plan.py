"""``symroof plan``: the seed's sharding numbers from derived expressions, other chips, bad input.

Independent numbers: book-4-6.md sections 2 and 3 (rows 20-25), written from the book's
closed forms by hand, not by running this code.
"""

import json

import pytest

from symroof.search import plan as planlib
from symroof.io.chips import override_chip
from symroof.io.catalog import load_chip, load_model
from symroof.cli import main
from symroof.errors import InfeasibleError
from symroof.io.run import RunSettings
from symroof.search.sweep import Options

BATCH = 4 * 1024 * 1024      # the seed's 4M tokens, 1024 sequences of 4096
SEED_RUN = RunSettings(grad_bytes=0, ckpt_per_layer=4)
BOOK = Options(phase="forward", book_layer=True, m_override=(("fsdp", 2), ("tensor", 1)), continuous=True)


@pytest.fixture(scope="module")
def seed():
    card, chip = load_model("llama3-70b"), load_chip("tpu-v5p")
    return card, chip, planlib.closed_forms(card, chip, 8960, BATCH // 4096, 4096, SEED_RUN)


def test_seed_per_chip_batch_and_pure_fsdp_is_ici_bound(seed):
    *_, cf = seed
    assert cf["per_chip_batch"] == pytest.approx(468.11, abs=0.01)          # row 21
    assert cf["fsdp"]["M_X"] == 3
    assert cf["fsdp"]["critical_per_chip_batch"] == pytest.approx(850)    # 2550 / 3, row 22
    assert cf["fsdp"]["bound"] == "ici"
    assert cf["max_data_parallel"] == 1024                                  # row 20


def test_seed_fsdp_tp_is_compute_bound_and_x_opt(seed):
    *_, cf = seed
    mixed = cf["fsdp_tp"]
    assert (mixed["M_X"], mixed["M_Y"]) == (2, 1)
    assert mixed["critical_per_chip_batch"] == pytest.approx(453.58, abs=0.01)   # 2·2550²/28672, row 23
    assert mixed["bound"] == "compute"
    assert mixed["x_opt"] == pytest.approx(1618, rel=1e-3)                        # row 24 (1619.09 exact)
    # rounded to powers of two as the book did: 2048 x 4 leaves 768 of 8960 chips idle (row 25)
    assert mixed["power_of_two_mesh"] == {"fsdp": 2048, "tensor": 4}
    assert (mixed["chips_used"], mixed["idle_chips"]) == (8192, 768)
    assert mixed["fits_topology"] is True       # 128 whole 4x4x4 cubes, e.g. 16x16x32: a v5p slice


@pytest.mark.parametrize("x, y, ratio", [(896, 10, 0.861), (1120, 8, 0.951), (1280, 7, 0.989),
                                         (1792, 5, 1.011), (2240, 4, 0.965)])
def test_pinned_rule_ratios_on_8960_chips(seed, x, y, ratio):
    card, chip, _ = seed
    r = planlib.plan(card, chip, 8960, BATCH, 4096, mesh={"fsdp": x, "tensor": y}, options=BOOK, run=SEED_RUN)
    assert r["t_math_s"] / r["t_comms_s"] == pytest.approx(ratio, abs=0.0015)     # book-4-6.md row 25
    assert r["bound"] == ("compute" if ratio > 1 else "ici")


def test_book_layer_pure_fsdp_ratio_is_468_over_850(seed):
    card, chip, _ = seed
    r = planlib.plan(card, chip, 8960, BATCH, 4096, mesh={"fsdp": 8960},
                     options=Options(phase="forward", book_layer=True, continuous=True), run=SEED_RUN)
    assert r["axes"]["fsdp"]["M"] == 3 and r["bound"] == "ici"
    assert r["t_math_s"] / r["t_comms_s"] == pytest.approx((BATCH / 8960) / 850, rel=1e-9)


def test_search_picks_a_feasible_mesh_and_explains(capsys):
    assert main(["plan", "llama3-70b", "--chip", "tpu-v5p", "--chips", "8960", "--batch-tokens", str(BATCH),
                 "--seq", "4096", "--tokens", "15e12", "--mfu", "0.4", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    for key in ("per_chip_batch", "mesh_x_opt", "mesh", "bound", "step_time_s", "t_math_s", "t_comms_s",
                "memory_per_chip_bytes", "train_days"):
        assert key in r
    chips = 1
    for d in r["mesh"].values():
        chips *= d
    assert chips == r["chips_used"] <= 8960 and r["idle_chips"] == 8960 - chips
    data = r["mesh"].get("fsdp", 1) * r["mesh"].get("data", 1)
    assert 1024 % data == 0                                    # whole sequences per replica
    assert r["memory_per_chip_bytes"] <= 96e9
    assert r["bound"] in ("compute", "hbm", "ici", "dcn")
    assert r["step_time_s"] == max(r["t_math_s"], r["t_hbm_s"], r["t_comms_s"])
    # FLOPs/token, by hand: 6 x matmul params (book-4-6.md section 5) + causal attention 6·T·N·H·L
    per_token = 6 * 69_501_714_432 + 6 * 4096 * 64 * 128 * 80
    # both day figures count the chips the plan uses (8192 of 8960), not the chips it was given
    days = 15e12 * per_token / (r["chips_used"] * 4.59e14 * 0.4) / 86400
    assert r["train_days_at_mfu"] == pytest.approx(days, rel=5e-3)    # vector FLOPs excluded
    assert r["train_days"] == pytest.approx(15e12 / BATCH * r["step_time_s"] / 86400)
    assert 2 <= len(r["explanation"]) <= 4 + 1


def test_human_output_names_the_dominant_term(capsys):
    assert main(["plan", "llama3-70b", "--chip", "tpu-v5p", "--chips", "8960", "--batch-tokens", str(BATCH),
                 "--strategy", "fsdp_tp"]) == 0
    out = capsys.readouterr().out
    assert "-bound:" in out and "t_math" in out and "t_comms" in out


def test_set_and_other_chips_change_the_answer_without_code():
    card = load_model("llama3-70b")
    v5p = load_chip("tpu-v5p")
    slow = override_chip(v5p, {"ici_link_bytes_per_s": "4.5e10"})
    cf = planlib.closed_forms(card, slow, 8960, 1024, 4096, RunSettings())
    assert cf["fsdp"]["critical_per_chip_batch"] == pytest.approx(4.59e14 / (2 * 4.5e10 * 3))   # 1700
    h100 = load_chip("h100-sxm")
    cf = planlib.closed_forms(card, h100, 1024, 1024, 4096, RunSettings())
    # one axis across 128 nodes: its ring at each node's 8 NICs together, 8 x 50 GB/s (NCCL's bus bandwidth)
    assert cf["fsdp"]["critical_per_chip_batch"] == pytest.approx(9.89e14 / 4e11)
    r = planlib.plan(card, h100, 1024, BATCH, 4096)
    assert r["chip"] == "h100-sxm" and r["memory_per_chip_bytes"] <= 80e9
    assert all(ax["link"] in ("ici", "dcn") for ax in r["axes"].values())


@pytest.mark.parametrize("args, message", [
    (["--chips", "8960", "--mesh", "fsdp=1000", "--mesh", "tensor=8"], "uses 8000 chips"),
    (["--chips", "48", "--mesh", "fsdp=48"], "does not fit"),      # neither whole cubes nor a sub-cube
    (["--chips", "2048", "--mesh", "data=2048"], "exceeds the 1024 sequences"),
    (["--chips", "8960", "--strategy", "magic"], "unknown strategy"),
    (["--chips", "8960", "--strategy", "fsdp_ep"], "mixture-of-experts"),
    (["--chips", "17920", "--pods", "1"], "--pods 2"),
    (["--chips", "8960", "--set", "hbm_bytes=1e8"], "more HBM than the chip has"),     # 70B x 16 bytes over 8192 chips: 137 MB
    (["--chips", "8960", "--mesh", "fsdp=x"], "--mesh 'fsdp=x': DEGREE must be a positive integer"),
    (["--chips", "8960", "--book-layer", "--m", "fsdp=x"], "--m 'fsdp=x': M must be a positive integer"),
    (["--chips", "8960", "--book-layer", "--m", "pipe=2"], "--m 'pipe=2': expected AXIS=M"),
    (["--chips", "8960", "--seq", "5000"], "whole number of 5000-token sequences"),
])
def test_bad_input_is_one_line(capsys, args, message):
    assert main(["plan", "llama3-70b", "--chip", "tpu-v5p", "--batch-tokens", str(BATCH), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_small_chip_reports_hbm_infeasibility():
    """70B's weights, gradients and Adam moments (the run defaults' 2 + 2 + 8 bytes a parameter: 0.85
    TB) outgrow 32 v5e chips of 16 GB (512 GB) however few sequences a microbatch holds. (256 of them
    hold it since gradient accumulation: 4 microbatches, 15.2 GB a chip.)"""
    with pytest.raises(InfeasibleError, match="HBM"):
        planlib.plan(load_model("llama3-70b"), load_chip("tpu-v5e"), 32, BATCH, 4096)


@pytest.mark.parametrize("model, chip, chips, pods, strategy", [
    ("llama3-70b", "tpu-v5p", 8960, 1, "fsdp_tp"),
    ("llama3-70b", "tpu-v5p", 8960, 1, "pp_fsdp_tp"),
    ("llama3-70b", "tpu-v5p", 17920, 2, "fsdp_tp"),          # pod axis over DCN
    ("llama3-70b", "h100-sxm", 256, 1, "fsdp_tp_seq"),       # NVLink inside a node, IB across
    ("mixtral-8x7b", "h100-sxm", 256, 1, "fsdp_ep_tp"),
])
def test_lambdified_search_agrees_with_exact_substitution(model, chip, chips, pods, strategy):
    """The vectorised row of the chosen mesh equals shard → step → exact evaluation of that mesh."""
    import sympy as sp

    from symroof.parallel.collectives import Axis
    from symroof.core.graph import Structure, build
    from symroof.io.bind import chip_values, evaluate, model_values
    from symroof.parallel.topology import layout
    from symroof.parallel.roofline import memory_per_chip, step
    from symroof.parallel.sharding import shard
    from symroof.core.symbols import B, K, T, n_micro, r_kv

    card, chip = load_model(model), load_chip(chip)
    r = planlib.plan(card, chip, chips, BATCH, 4096, pods=pods, strategy=strategy)
    layout(chip, r["mesh"], r["chips_used"])                 # the chosen mesh fits the topology
    # a GPU's NVLink axes go through a switch (an AllToAll over n ranks: 1/n of the volume each), as the
    # plan lays them; and the experts' layout it chose
    mesh = {a: Axis(a, sp.Integer(d["degree"]), d["link"], sp.Integer(d["M"]), d["wrap"],
                    chip.family == "gpu" and d["link"] == "ici", a == "tensor" and r.get("expert_tensor") == 1)
            for a, d in r["axes"].items()}
    sg = shard(build(Structure.of(card), "causal"), mesh)
    # an axis across nodes with more than one chip in each: its share, as a runs file's ``inner``
    sg.graph["spans"] = {a: d["inner"] for a, d in r["axes"].items() if "inner" in d}
    values = {**model_values(card), **chip_values(chip), **RunSettings().values(),
              B: sp.Integer(1024), T: sp.Integer(4096), n_micro: sp.Integer(r.get("n_micro", 1))}
    # tensor above the KV heads: each KV head is replicated on tensor/K chips (axes.KV_REPLICATION),
    # whose K/V weight gradients are all-reduced among them (parallel/replicas.py)
    tensor = r["mesh"].get("tensor", 1)
    values[K] = sp.Integer(max(card.n_kv_heads, tensor))
    values[r_kv] = sp.Integer(max(1, tensor // card.n_kv_heads))
    times = step(sg, "sum")
    for key, ours in (("t_math", "t_math_s"), ("t_hbm", "t_hbm_s"), ("t_comms", "t_comms_s")):
        assert float(evaluate(times[key], values)) == pytest.approx(r[ours], rel=1e-9)
    assert float(evaluate(memory_per_chip(sg)["total"], values)) == pytest.approx(
        r["memory_per_chip_bytes"], rel=1e-9)


def test_pure_data_parallelism_is_capped_by_the_sequences(capsys):
    # 1024 sequences of 4096 (seed row 20): pure FSDP on a v5p pod has no split of >= 3584 chips
    assert main(["plan", "llama3-70b", "--chip", "tpu-v5p", "--chips", "8960", "--batch-tokens", str(BATCH),
                 "--strategy", "fsdp"]) == 2
    assert "the largest uses 1024" in capsys.readouterr().err
    r = planlib.plan(load_model("llama3-8b"), load_chip("tpu-v5p"), 1024, BATCH, 4096, strategy="fsdp")
    assert r["mesh"] == {"fsdp": 1024} and r["per_chip_batch"] == 4096


def test_cli_book_layer_reproduces_row_25(capsys):
    assert main(["plan", "llama3-70b", "--chip", "tpu-v5p", "--chips", "8960", "--batch-tokens", str(BATCH),
                 "--book-layer", "--mesh", "fsdp=1792,tensor=5", "--m", "fsdp=2", "--m", "tensor=1",
                 "--grad-bytes", "0", "--ckpt", "4", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["t_math_s"] / r["t_comms_s"] == pytest.approx(1.011, abs=0.0015)
    assert r["bound"] == "compute" and r["per_chip_batch"] == pytest.approx(468.11, abs=0.01)
    assert r["mesh_x_opt"] == pytest.approx(1618, rel=1e-3) and r["mfu"] is None


def test_forced_m_cannot_exceed_the_torus(capsys):
    assert main(["plan", "llama3-70b", "--chip", "tpu-v5p", "--chips", "8960", "--batch-tokens", "4194304",
                 "--m", "fsdp=9"]) == 2
    assert "between 1 and 3" in capsys.readouterr().err


def test_both_expert_layouts_of_a_mesh_are_listed(capsys):
    """Mixtral's fsdp=64 x expert=2 x tensor=2 on 256 H100s: expert x tensor = 4 divides its 8 experts
    (mistralai/Mixtral-8x7B-v0.1 config.json: num_local_experts 8), so the plan evaluates the mesh
    folded (expert_tensor 1) and with each expert's width split over tensor; the layout it does not
    take is the next plan, as another recompute policy or schedule of one mesh is."""
    args = ["plan", "mixtral-8x7b", "--chip", "h100-sxm", "--chips", "256", "--batch-tokens", "4194304",
            "--seq", "4096", "--mesh", "fsdp=64,expert=2,tensor=2"]
    assert main(args + ["--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    layouts = {c.get("expert_tensor") for c in [r] + r["alternatives"] if c["mesh"] == r["mesh"]}
    assert layouts == {None, 1}
