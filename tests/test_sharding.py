"""Collectives placed by propagation, against the book's training.md summary (book-4-6.md 2.8).

The book's comms columns are "effective bytes" (time × W·M) per layer with bf16 (2-byte)
elements; an AllReduce counts twice its array. We compare t_comms · W_ici · M with them.
"""

import pytest
import sympy as sp

from symroof.parallel.collectives import Axis
from symroof.core.graph import Structure, build
from symroof.parallel.roofline import comms_by_axis, step
from symroof.parallel.sharding import shard
from symroof.core.symbols import B, C, D, F, L, M_X, M_Y, T, W_ici, X, Y, b_act, b_param, n_pods

TWO_BYTES = {b_act: 2, b_param: 2}
FSDP, TP = Axis("fsdp", X, "ici", M_X), Axis("tensor", Y, "ici", M_Y)


def effective_bytes(mesh, phase, axis, structure=Structure.book_layer()):
    sg = shard(build(structure), mesh)
    per_axis = comms_by_axis(sg, phase)
    time = per_axis.get(axis, sp.Integer(0)).subs(TWO_BYTES)
    return sp.factor(time * W_ici * mesh[axis].n_physical / L)      # per layer


def test_data_parallel_reduces_gradients_only_in_backward():
    mesh = {"data": Axis("data", X, "ici", M_X)}
    assert effective_bytes(mesh, "forward", "data") == 0
    assert effective_bytes(mesh, "backward", "data") == 8 * D * F          # 2 AllReduces of 2DF


def test_fsdp_gathers_weights_forward_and_backward():
    mesh = {"fsdp": FSDP}
    assert effective_bytes(mesh, "forward", "fsdp") == 4 * D * F           # 2 AllGathers
    assert effective_bytes(mesh, "backward", "fsdp") == 8 * D * F          # 2 RS + 2 re-gathers


# Hugging Face num_parameters() of the shipped cards (test_counts.py checks the cards against them)
HF_PARAMETERS = {"llama3-8b": 8_030_261_248, "llama2-13b": 13_015_864_320, "gpt2-124m": 124_439_808}
# What no backward reads, from each config.json: untied token tables (vocab_size x hidden_size; a
# lookup's backward scatters dy into the rows), GPT-2's position table (n_positions x n_embd) and
# biases (the qkv, attention-out, fc and proj biases of its 12 layers, 3 x 768 + 768 + 4 x 768 + 768,
# and its 25 LayerNorm biases of 768): the parameters a re-gather for the backward can skip.
NOT_READ_BACKWARD = {"llama3-8b": 128_256 * 4_096, "llama2-13b": 32_000 * 5_120,
                     "gpt2-124m": 1_024 * 768 + 12 * 9 * 768 + 25 * 768}
# FSDP shards weights on D (parallel/axes.py): GPT-2's qkv and fc biases have no D and stay whole on
# every chip, so their gradients are all-reduced, not reduce-scattered.
NO_D = {"gpt2-124m": 12 * (3 * 768 + 4 * 768)}


def _weight_volumes(name: str, mesh: dict) -> dict:
    """Elements moved per step by each (phase, kind) of the collectives of weights and their
    gradients, every layer's repeats counted, one chip's view (b_param = 1, axes of size n)."""
    from symroof.io.catalog import load_model
    from symroof.core.symbols import B as B_, L as L_

    card = load_model(name)
    sg = shard(build(Structure.of(card)), mesh)
    out: dict = {}
    for _, d in sg.nodes(data=True):
        for c in d.get("collectives", ()):
            if not c.on_critical_path:       # weights and weight gradients
                key = (d["phase"], c.kind)
                out[key] = out.get(key, 0) + d["repeat"] * c.volume
    nums = {L_: card.n_layers, b_param: 1, B_: 1}
    from symroof.io.bind import model_values
    return {k: sp.simplify(v.subs(model_values(card)).subs(nums)) for k, v in out.items()}


@pytest.mark.parametrize("name", sorted(HF_PARAMETERS))
def test_data_parallel_reduces_every_parameters_gradient_once(name):
    """PyTorch DDP all-reduces the gradient of every parameter once per step: the embedding table
    and the norm scales included, not only the matmul weights (the table is 6.5 % of Llama 3 8B)."""
    n = sp.Symbol("n", positive=True, integer=True)
    got = _weight_volumes(name, {"data": Axis("data", n, "dcn")})
    assert got == {("backward", "AllReduce"): HF_PARAMETERS[name]}


@pytest.mark.parametrize("name", sorted(HF_PARAMETERS))
def test_fsdp_moves_three_times_the_parameters_as_zero_3_does(name):
    """ZeRO-3 (Rajbhandari et al. 2020, section 7.2.2): every parameter is all-gathered for the
    forward and again for the backward, and every gradient reduce-scattered: 3 Psi in all, Psi the
    parameter count (in the book's convention a collective's volume is the gathered array). The
    backward's gather skips what no backward op reads."""
    n = sp.Symbol("n", positive=True, integer=True)
    got = _weight_volumes(name, {"fsdp": Axis("fsdp", n, "ici")})
    psi, whole = HF_PARAMETERS[name], NO_D.get(name, 0)
    want = {("forward", "AllGather"): psi - whole, ("backward", "AllGather"): psi - NOT_READ_BACKWARD[name],
            ("backward", "ReduceScatter"): psi - whole, ("backward", "AllReduce"): whole}
    assert got == {k: v for k, v in want.items() if v}


def test_tensor_parallel_moves_activations():
    mesh = {"tensor": TP}
    assert effective_bytes(mesh, "forward", "tensor") == 4 * B * T * D     # AG In + RS Out
    assert effective_bytes(mesh, "backward", "tensor") == 4 * B * T * D    # AG dOut + RS dIn


def test_fsdp_tp_matches_the_algorithm_not_the_misprinted_8BD():
    mesh = {"fsdp": FSDP, "tensor": TP}
    assert effective_bytes(mesh, "forward", "fsdp") == 4 * D * F / Y
    assert effective_bytes(mesh, "forward", "tensor") == 4 * B * T * D / X
    assert effective_bytes(mesh, "backward", "fsdp") == 8 * D * F / Y
    # the book's summary table prints 8BD/X; its own algorithm gives 4BD/X (book-4-6.md 2.4, erratum 13)
    assert effective_bytes(mesh, "backward", "tensor") == 4 * B * T * D / X


def test_compute_is_divided_over_every_axis():
    mesh = {"fsdp": FSDP, "tensor": TP}
    t = step(shard(build(Structure.book_layer()), mesh), phase="forward")
    assert sp.simplify(t["t_math"] - 4 * B * T * D * F * L / (X * Y * C)) == 0


def test_pods_allreduce_their_gradient_shards_over_dcn():
    mesh = {"pod": Axis("pod", n_pods, "dcn", 1), "fsdp": FSDP}
    sg = shard(build(Structure.book_layer()), mesh)
    colls = [c for _, d in sg.nodes(data=True) for c in d["collectives"] if c.axes == ("pod",)]
    assert {c.kind for c in colls} == {"AllReduce"}
    assert {sp.simplify(c.volume.subs(TWO_BYTES)) for c in colls} == {2 * D * F / X}


def test_tensor_parallel_gathers_a_shared_input_once():
    # q, k and v read the same normed activations: one AllGather serves all three, and the
    # three partial input-gradients are added locally before one ReduceScatter
    sg = shard(build(Structure()), {"tensor": TP})
    gathers = [(n, c) for n, d in sg.nodes(data=True) for c in d["collectives"]
               if c.tensor == "layer/attn_norm"]
    assert len(gathers) == 1
    scatters = [c for _, d in sg.nodes(data=True) for c in d["collectives"] if c.tensor == "d(layer/attn_norm)"]
    assert [c.kind for c in scatters] == ["ReduceScatter"]


def test_sequence_parallel_gathers_keys_and_values():
    mesh = {"fsdp": FSDP, "seq": Axis("seq", sp.Symbol("Z", positive=True), "ici", 1)}
    sg = shard(build(Structure()), mesh)
    seq = {(c.kind, c.tensor) for _, d in sg.nodes(data=True) for c in d["collectives"] if c.axes == ("seq",)}
    assert ("AllGather", "layer/attn/rope_k") in seq and ("AllGather", "layer/attn/v") in seq


def test_expert_parallelism_uses_alltoall():
    mesh = {"expert": Axis("expert", X, "ici", 1)}
    sg = shard(build(Structure.uniform(moe=True)), mesh)
    kinds = [c.kind for n, d in sg.nodes(data=True) for c in d["collectives"] if n.startswith("layer/moe/")]
    assert kinds.count("AllToAll") == 4                  # dispatch and combine, forward and backward


MOE_MESHES = {
    "data":          {"data": Axis("data", X, "dcn")},
    "fsdp":          {"fsdp": Axis("fsdp", X, "ici", 1)},
    "seq":           {"seq": Axis("seq", X, "ici", 1)},
    "expert+fsdp":   {"expert": Axis("expert", Y, "ici", 1), "fsdp": Axis("fsdp", X, "dcn")},
    "pod+data+seq":  {"pod": Axis("pod", n_pods, "dcn"), "data": Axis("data", X, "dcn"), "seq": Axis("seq", Y, "ici", 1)},
}


@pytest.mark.parametrize("name", MOE_MESHES)
def test_moe_expert_work_is_split_over_the_axes_that_split_the_tokens(name):
    """Each chip routes its own tokens: an axis that splits the batch or the sequence splits the
    experts' work the same way, so each expert matmul's per-chip FLOPs times the chips is its total
    (before, data, fsdp, seq and pod axes left it whole on every chip: 64 chips of pure data
    parallelism each did all 64 chips' expert matmuls). Only the expert axis moves tokens (its
    AllToAll); a batch or sequence axis sends nothing to dispatch or combine them."""
    mesh = MOE_MESHES[name]
    g = build(Structure.uniform(moe=True))
    sg = shard(g, mesh)
    chips = sp.Mul(*(a.size for a in mesh.values()))
    experts = [n for n, d in sg.nodes(data=True) if n.startswith("layer/moe/") and d["op"] == "contraction"]
    assert len(experts) >= 6                               # up, gate, down; forward and backward
    for n in experts:
        assert sp.simplify(sg.nodes[n]["local_flops"] * chips - g.nodes[n]["flops"]) == 0, n
    moves = {(c.kind, c.axes) for n, d in sg.nodes(data=True) if n.startswith("layer/moe/")
             for c in d["collectives"] if c.kind == "AllToAll"}
    assert moves == ({("AllToAll", ("expert",))} if "expert" in mesh else set())
    # each expert weight's gradient is summed over every axis that split the tokens it saw
    reduced = {a for n, d in sg.nodes(data=True) if n.startswith("layer/moe/")
               for c in d["collectives"] if c.kind in ("AllReduce", "ReduceScatter") and c.tensor.endswith(".w)")
               for a in c.axes}
    assert reduced >= {a for a in mesh if a in ("data", "fsdp", "seq", "pod")}


def test_moe_dispatch_and_combine_move_the_routed_copies_both_ways():
    """Each token goes to k experts and comes back from k: forward and backward, dispatch and
    combine each move B·T·k·D activations over the expert axis (before, a dispatch's forward and a
    combine's backward counted the B·T·D tokens, k times too few)."""
    from symroof.core.symbols import k

    sg = shard(build(Structure.uniform(moe=True)), {"expert": Axis("expert", X, "ici", 1)})
    volumes = [c.volume for _, d in sg.nodes(data=True) for c in d["collectives"] if c.kind == "AllToAll"]
    assert len(volumes) == 4
    assert all(sp.simplify(v - B * T * k * D * b_act) == 0 for v in volumes)


def test_mixtral_on_64_h100s_takes_the_6n_time_of_its_active_parameters():
    """Kaplan et al. 2020 / the book's 6 · N · tokens, N the parameters a token uses: Mixtral 8x7B's
    12.9e9 active parameters (its config: 2 of 8 experts) on 64 H100s at 989 TFLOP/s, a 1M-token
    step, is 1.27 s of matmuls plus the attention core; the plan with pure FSDP took 48 s."""
    from symroof.io.catalog import load_model
    from symroof.search import plan as planlib
    from symroof.io.catalog import load_chip

    r = planlib.plan(load_model("mixtral-8x7b"), load_chip("h100-sxm"), 64, 2**20, 4096, mesh={"fsdp": 64})
    six_n = 6 * 12_879_925_248 * 2**20 / (64 * 9.89e14)
    assert six_n < r["t_math_s"] < 1.1 * six_n


def test_a_switched_alltoall_costs_one_nth_of_an_allgather():
    """nccl-tests (NVIDIA/nccl-tests@a0b82b2) times AllGather and AllToAll on one bus bandwidth:
    src/all_gather.cu counts n·count elements (the gathered array V), src/alltoall.cu n·(count/n)
    (one rank's buffer, V/n), both × (n-1)/n. So on a switch (an NVLink domain of 8 or 72, the
    data-centre network) the AllToAll of the same array takes 1/n of the AllGather's time. Around
    a torus the book's rule stands: a quarter (sharding.md)."""
    from symroof.parallel.collectives import collective_time

    v = sp.Symbol("V", positive=True)
    for n in (8, 72):
        for axis in (Axis("expert", sp.Integer(n), "ici", 1, True, True), Axis("expert", sp.Integer(n), "dcn")):
            ratio = collective_time("AllToAll", v, [axis]) / collective_time("AllGather", v, [axis])
            assert sp.simplify(ratio) == sp.Rational(1, n)
    ring = Axis("expert", sp.Integer(8), "ici", 1)
    assert collective_time("AllToAll", v, [ring]) / collective_time("AllGather", v, [ring]) == sp.Rational(1, 4)


def test_gpu_plans_charge_the_expert_alltoall_at_the_switch_rate():
    """The plan's family derivation knows a GPU's NVLink domain is a switch: on the expert axis,
    what remains once the AllToAlls are taken out of the sharded graph is the same either way,
    and the AllToAlls cost 4/n of their ring time on the switch (the two rules above)."""
    from symroof.search import sweep

    st, opts = Structure.uniform(moe=True), sweep.Options()
    torus = sweep._derive("fsdp_ep", st, opts, False, frozenset())["comms:expert"]
    switch = sweep._derive("fsdp_ep", st, opts, False, frozenset(), switched=True)["comms:expert"]
    sg = shard(build(st, "causal"), sweep._mesh_symbols("fsdp_ep", False, frozenset()))
    for _, d in sg.nodes(data=True):
        d["collectives"] = [c for c in d["collectives"] if c.kind != "AllToAll"]
    rest = comms_by_axis(sg, None)["expert"]
    n = sweep.AXIS_SYMBOLS["expert"][0]
    a2a = sp.simplify(torus - rest)
    assert a2a != 0
    assert sp.simplify(switch - rest - a2a * 4 / n) == 0


def test_latency_floor_crosses_bandwidth_where_the_book_says():
    # sharding.md: a ring collective is latency-bound while each hop's message is under
    # T_min · W_uni; over a full ring of |X| chips that is V = T_min · |X| · W_uni.
    from fractions import Fraction

    from symroof import load_chip
    from symroof.parallel.collectives import collective_time
    from symroof.io.bind import chip_values

    chip = load_chip("tpu-v5e")
    ring = Axis("x", sp.Integer(16), "ici", 1, wrap=True)
    one_way = chip.ici_link_bytes_per_s                      # the card states it one way
    crossover = chip.ici_hop_latency_s * 16 * one_way
    values = chip_values(chip)
    at = lambda v: collective_time("AllGather", sp.Rational(v), [ring], latency=True).subs(values)  # noqa: E731
    floor = sp.Rational(chip.ici_hop_latency_s) * 8                     # |X|/2 hops
    assert at(crossover / 10) == floor                                   # latency-bound
    assert at(crossover * 10) > floor                                    # bandwidth-bound
    assert at(crossover) == floor == sp.Rational(Fraction(crossover)) / values[W_ici]


def _graph_data(g):
    return {n: {k: v for k, v in d.items()} for n, d in g.nodes(data=True)}, dict(g.graph)


def test_one_sharding_serves_both_attention_kernels():
    """with_kernel(shard(g_fused, mesh, other_kernel=True), g_eager) is shard(g_eager, mesh), every
    attribute of every node, and the other way round; including a seq axis (keys and values
    gathered, so the score matrix's operands change layout) and a dropout model (its mask)."""
    from dataclasses import replace

    from symroof.io.catalog import load_model
    from symroof.parallel.sharding import with_kernel

    seq = Axis("seq", sp.Symbol("Z", positive=True), "ici", 1)
    gpt = replace(load_model("gpt2-xl"), dropout=True)
    cases = [(Structure(), {"fsdp": FSDP, "seq": seq, "tensor": TP}),
             (Structure.of(gpt), {"tensor": TP, "data": Axis("data", X, "dcn", 1)}),
             (Structure.of(load_model("deepseek-v3")), {"expert": Axis("expert", X, "ici", 1), "tensor": TP})]
    for structure, mesh in cases:
        fused, eager = build(structure, "causal", "fused"), build(structure, "causal", "eager")
        for g, other in ((fused, eager), (eager, fused)):
            both = shard(g, mesh, other_kernel=True)
            assert any("other_kernel_bytes" in d for _, d in both.nodes(data=True))
            for want in (g, other):
                got = with_kernel(both, want)
                assert _graph_data(got) == _graph_data(shard(want, mesh)), (structure, want.graph["fused_attention"])


def test_the_small_weights_ride_in_their_layers_bucket(tmp_path):
    """DDP buckets gradients and FSDP flattens a layer's weights into one parameter, so a norm scale
    adds bytes to a reduction already launched, not a launch of its own; a token table (0.5e9
    parameters, twenty 25 MB DDP buckets) is a launch of its own. Llama 3 8B over 2 hosts, one launch
    costing 1 s: one second per matmul weight's reduction, 7 per layer (q, k, v, o, gate, up, down)
    x 32 layers + the output head + the input table = 226 s, while the bytes are every parameter's
    (test above)."""
    from runsfile import ONE_RUN
    from symroof.claims.published import load_runs, values
    from symroof.claims.sharded_family import sharded
    from symroof.parallel import step_model

    path = tmp_path / "r.yaml"
    path.write_text(ONE_RUN.replace("chips: 16", "chips: 2").replace("      tensor: {size: 8, link: ici}\n", ""))
    (run,) = load_runs(path)
    nums = values(run)
    got = step_model.parts(sharded(run, nums), nums, step_model.Options(t_launch=1.0))
    assert got.latency == pytest.approx(7 * 32 + 1 + 1, rel=1e-12)


@pytest.mark.parametrize("axes", [("tensor",), ("fsdp", "tensor"), ("data", "tensor")])
def test_a_tied_table_is_sharded_as_its_untied_head_would_be(axes):
    """Megatron-LM shares the table between the lookup and the output layer, split by vocabulary over
    the tensor axis in both: the head gathers the final norm's output (B·T·D) and computes its slice
    of the logits, whether or not the table is tied. The tied table is read transposed (V D as D V);
    read by position it looked split on D and the head reduce-scattered the logits (B·T·V, 65x the
    bytes on GPT-2). Every activation collective of the head's three ops is the untied head's (a
    tied table's weight gathers sit where it is first read, the lookup)."""
    from dataclasses import replace as with_

    from symroof.io.catalog import load_model

    mesh = {a: Axis(a, sp.Symbol(f"n_{a}", positive=True, integer=True), "ici") for a in axes}
    tied = Structure.of(load_model("gpt2-124m"))

    def head(structure):
        sg = shard(build(structure), mesh)
        return sorted((n, c.kind, c.axes, c.volume) for n in ("unembed", "unembed:dx", "unembed:dw")
                      for c in sg.nodes[n]["collectives"] if c.on_critical_path)
    assert tied.tied and head(tied) == head(with_(tied, tied=False))
