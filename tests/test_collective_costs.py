"""Collective counts, volumes and times on small concrete meshes, against formulas worked out here
by hand from their published sources (each cited where it is used); exact, no tolerance."""

import sympy as sp

from symroof.core.graph import Structure, build
from symroof.core.symbols import D, F, L, W_dcn, W_ici, b_param
from symroof.parallel.collectives import Axis, collective_time
from symroof.parallel.roofline import comms_by_axis
from symroof.parallel.sharding import shard

V = sp.Symbol("V", positive=True)


def nccl_ring_seconds(kind: str, volume, ranks: int, bus_bandwidth):
    """nccl-tests' PERFORMANCE.md (NVIDIA/nccl-tests@a0b82b2): busBw = algBw x 2(n-1)/n for
    AllReduce and (n-1)/n for AllGather and ReduceScatter (algBw = the gathered or unreduced bytes
    over the time), the bus bandwidth being what one rank's link moves: time = factor x V / busBw."""
    factor = {"AllReduce": 2, "AllGather": 1, "ReduceScatter": 1}[kind]
    return sp.Rational(factor * (ranks - 1), ranks) * volume / bus_bandwidth


def test_one_ring_over_two_network_axes_runs_at_one_nic():
    """Data parallelism over pod x data, both on the scale-out network (2 x 4 = 8 ranks, one GPU of
    each node in the ring): NCCL's ring AllReduce of the V-byte gradient takes 2 (7/8) V / W_dcn,
    W_dcn one GPU's NIC. Before, the two axes' bandwidths were added (2 W_dcn), as the book adds the
    links of two torus axes: half the time."""
    axes = [Axis("pod", sp.Integer(2), "dcn"), Axis("data", sp.Integer(4), "dcn")]
    for kind in ("AllReduce", "AllGather", "ReduceScatter"):
        assert collective_time(kind, V, axes, ring_factor=True) == nccl_ring_seconds(kind, V, 8, W_dcn)


def test_one_ring_over_two_axes_of_an_nvlink_switch_runs_at_one_gpus_nvlink():
    """Two logical axes inside one NVLink domain (data 2 x seq 4 of 8 H100s) are one ring through the
    same NVSwitch ports: a GPU's W_ici (the card's 450 GB/s one way), not twice it."""
    axes = [Axis("data", sp.Integer(2), "ici", 1, True, True), Axis("seq", sp.Integer(4), "ici", 1, True, True)]
    assert collective_time("AllReduce", V, axes, ring_factor=True) == nccl_ring_seconds("AllReduce", V, 8, W_ici)


def test_two_torus_axes_still_add_their_links():
    """The book's rule (sharding.md: T = V / (W_ici x n_axes) over several torus axes) stands on a
    TPU torus, where each axis has links of its own."""
    axes = [Axis("fsdp", sp.Integer(4), "ici", 1), Axis("data", sp.Integer(4), "ici", 1)]
    assert collective_time("AllGather", V, axes) == V / (2 * W_ici)


def test_ddp_over_pod_and_data_moves_its_gradients_at_one_nic():
    """The sharded graph's DDP gradient AllReduce over pod x data (Li et al. 2020, PyTorch DDP: one
    AllReduce of every gradient per step) on the book's layer (W_in D x F, W_out F x D): per layer
    2 x 2(n-1)/n x D F b_param / W_dcn, n = 8 ranks."""
    mesh = {"pod": Axis("pod", sp.Integer(2), "dcn"), "data": Axis("data", sp.Integer(4), "dcn")}
    sg = shard(build(Structure.book_layer()), mesh)
    ring = {key: sp.simplify(t.subs(L, 1)) for key, t in comms_by_axis(sg, "backward").items()}
    assert set(ring) == {"pod+data"}
    # comms_by_axis drops the ring factor (the book's convention): 2 V / W per AllReduce
    assert ring["pod+data"] == 2 * 2 * D * F * b_param / W_dcn


def test_a_pipeline_send_through_an_nvlink_switch_uses_all_of_the_gpus_links():
    """Narayanan et al. 2021 (arXiv 2104.04473), 2.2: each microbatch sends its B_micro x T x D
    activations to the next stage and the gradients back. Two stages inside one H100 node: the
    send crosses the NVSwitch, where one GPU reaches a peer at its whole NVLink rate, 900 GB/s both
    ways (the datasheet) = 450 GB/s one way. Before, the send was charged at half that, the one
    link of a TPU torus axis (tpus.md: W_ici counts a ring's two neighbours)."""
    from fractions import Fraction

    from symroof.claims.calibrate import numeric
    from symroof.core.symbols import B, T, b_act, n_micro
    from symroof.io.bind import chip_values
    from symroof.io.catalog import load_chip
    from symroof.parallel import step_model
    from symroof.parallel.step_numbers import Exact

    chip = load_chip("h100-sxm")
    one_way = Fraction(chip.ici_link_bytes_per_s) / 2                    # 4.5e11 B/s
    nvlink = Axis("stage", sp.Integer(2), "ici", 1, True, True)
    w = chip_values(chip)
    assert collective_time("SendRecv", V, [nvlink]).subs(w) == V / sp.Rational(one_way)
    # a TPU torus axis: one link one way, half the axis's bidirectional W_ici (unchanged)
    assert collective_time("SendRecv", V, [Axis("stage", sp.Integer(4), "ici", 1)]) == 2 * V / W_ici

    sg = shard(build(Structure.book_layer()), {"stage": nvlink})
    # the roofline: per step and phase, m microbatches x (B/m) T D b_act bytes each
    sends = comms_by_axis(sg, "forward", schedule="1f1b")["stage"].subs(w)
    assert sp.simplify(sends - B * T * D * b_act / sp.Rational(one_way)) == 0
    # the step model, both ways, with numbers (8 sequences of 1024 tokens, D = 512, 2 bytes)
    nums = {**w, B: 8, T: 1024, D: 512, F: 2048, L: 4, b_act: 2, n_micro: 4}
    want = 2 * 8 * 1024 * 512 * 2 / float(one_way)
    opts = step_model.Options(microbatches=4)
    exact = numeric(sg, nums)          # step_numbers' path reads a graph whose costs are numbers
    for numbers, graph in ((step_model.Numbers(sg, nums), sg), (Exact(exact, nums), exact)):
        link, seconds = numbers.sends(graph, opts)
        assert link == "ici" and abs(seconds - want) <= 1e-12 * want


def test_a_key_shared_by_heads_split_over_the_tensor_axis_has_its_gradient_all_reduced():
    """MLA (DeepSeek-V2, arXiv 2405.04434, 2.1.3, eq. 17): the decoupled RoPE key k^R_t = RoPE(W^KR h_t)
    is shared by all heads, so its gradient is the sum over the heads of each head's key-gradient
    RoPE part. Heads split over t tensor ranks (Megatron-LM's head split) leave each rank the sum
    over its own heads: one AllReduce of B x T x H_r elements per layer's backward, every layer.
    Likewise an MoE combine's routing weights (B x T x k) beside outputs split on D: each rank sums
    dy x y over its slice of D. Before, neither sum was reduced (the gradient was a partial sum)."""
    from symroof.core.symbols import B, T, H_r, b_act, k, layers
    from symroof.io.catalog import load_model

    t = Axis("tensor", sp.Symbol("t", positive=True, integer=True), "ici")
    sg = shard(build(Structure.of(load_model("deepseek-v3"))), {"tensor": t})
    reduced = {}
    for _, d in sg.nodes(data=True):
        for c in d["collectives"]:
            if c.tensor.endswith(("rope_k)", "route)")) and d["phase"] == "backward":
                reduced.setdefault((c.tensor, c.kind, c.axes), []).append((d["repeat"], c.volume))
    tensor = ("tensor",)
    assert reduced == {("d(dense/attn/rope_k)", "AllReduce", tensor): [(layers("dense"), B * T * H_r * b_act)],
                       ("d(moe/attn/rope_k)", "AllReduce", tensor): [(layers("moe"), B * T * H_r * b_act)],
                       ("d(moe/moe/route)", "AllReduce", tensor): [(layers("moe"), B * T * k * b_act)]}


def test_only_the_last_layer_and_the_token_table_wait_for_their_gradient_reduction(tmp_path):
    """PyTorch DDP (Li et al. 2020, VLDB, arXiv 2006.15704, 3.2.3): gradients become ready in the
    reverse order of the forward pass and each bucket is all-reduced as soon as it fills, so only
    the reductions of the last gradients computed wait after the backward: the first layer's and
    the token table's (the lookup is the forward's first op). The output head's gradient is the
    backward's first: its reduction hides behind every layer's backward. Llama 3 8B (its config:
    32 layers of 218,112,000 parameters, a 128256 x 4096 table, untied) over 2 hosts, bf16
    gradients, one H100 NIC (400 Gb/s = 5e10 B/s): the ring AllReduce's 2 (n-1)/n V / W_dcn."""
    from runsfile import ONE_RUN
    from symroof.claims.published import load_runs, values
    from symroof.claims.sharded_family import sharded
    from symroof.core.symbols import b_param as bp
    from symroof.parallel import step_model

    path = tmp_path / "r.yaml"
    path.write_text(ONE_RUN.replace("chips: 16", "chips: 2").replace("      tensor: {size: 8, link: ici}\n", ""))
    (run,) = load_runs(path)
    nums = values(run)
    assert nums[bp] == 2
    got = step_model.parts(sharded(run, nums), nums).tail
    want = 2 * sp.Rational(1, 2) * (218_112_000 + 128_256 * 4_096) * 2 / sp.Rational(5 * 10**10)
    assert set(got) == {"dcn"}
    assert abs(got["dcn"] - float(want)) <= 1e-12 * float(want)


def test_moe_under_tensor_parallelism_gathers_the_tokens_once_and_scatters_them_once():
    """Megatron-Core's default MoE dispatcher under tensor parallelism (NVIDIA/Megatron-LM@d98e8a6
    megatron/core/transformer/moe/token_dispatcher.py, MoEAllGatherTokenDispatcher; the default
    moe_token_dispatcher_type="allgather", transformer_config.py): token_dispatch AllGathers the
    [S·B/TP, H] hidden states over TP into [S·B, H], each rank permutes its tokens to its experts
    locally (k copies), and token_combine ReduceScatters the unpermuted [S·B, H] output (the k
    copies already summed). Per MoE layer forward: an AllGather of B·T·D and a ReduceScatter of
    B·T·D, 2·B·T·D·b_act of volume; the backward the same two transposed, plus the AllReduce of the
    routing weights' gradient (B·T·k, the test above). Before, the router gathered B·T·D for itself
    and the experts gathered and scattered the k copies: (1 + 2k)·B·T·D (5·B·T·D for Mixtral's
    k = 2)."""
    from symroof.core.symbols import B, T, b_act, k
    from symroof.io.catalog import load_model

    t = Axis("tensor", sp.Symbol("t", positive=True, integer=True), "ici")
    g = build(Structure.of(load_model("mixtral-8x7b")))
    sg = shard(g, {"tensor": t})
    moved = {"forward": 0, "backward": 0}
    for n, d in sg.nodes(data=True):
        if "/moe/" in n or n.startswith("layer/mlp_norm"):
            for c in d["collectives"]:
                if c.on_critical_path:
                    moved[d["phase"]] += c.volume
    assert sp.expand(moved["forward"]) == 2 * B * T * D * b_act
    assert sp.expand(moved["backward"]) == 2 * B * T * D * b_act + B * T * k * b_act
    # the experts' matmuls stay split over the t ranks (their F is), forward and backward
    for n, d in sg.nodes(data=True):
        if n.startswith("layer/moe/") and d["op"] == "contraction" and "router" not in n:
            assert sp.simplify(d["local_flops"] * t.size - g.nodes[n]["flops"]) == 0, n


def _llama_kv(tensor: int):
    """Llama 3 8B's sharded graph over ``tensor`` NVLink ranks and its numbers, KV heads replicated."""
    from symroof.io.bind import model_values
    from symroof.io.catalog import load_model
    from symroof.parallel.axes import replicate_kv

    card = load_model("llama3-8b")
    mesh = {"tensor": Axis("tensor", sp.Integer(tensor), "ici", 1, True, True)}
    nums = {s: sp.sympify(v).doit() for s, v in replicate_kv(model_values(card), tensor).items()}
    return shard(build(Structure.of(card)), mesh), mesh, nums


def test_replicated_kv_heads_all_reduce_their_weight_gradients_among_their_copies():
    """Llama 3 8B (config.json: hidden 4096, 32 heads, 8 KV heads of 128, 32 layers) on t = 16
    tensor ranks: each KV head on t/K = 2 ranks, each computing the head's K and V for its own 2 of
    the head's 4 query heads, so each holds a partial sum of the head's W_K and W_V gradients
    (D x H = 4096 x 128 each): one AllReduce of 2 x 4096 x 128 x b_param among 2 ranks per layer,
    NCCL's ring 2 (2-1)/2 V / busBw = V / W_ici (nccl-tests PERFORMANCE.md). Megatron-Core itself
    shards the QKV output over all t ranks and all-gathers the activations instead (attention.py,
    num_query_groups < world_size, NVIDIA/Megatron-LM@d98e8a6); a layout that replicates the heads
    must reduce their copies. Before, nothing was reduced. At t = 8 = K nothing is replicated."""
    sg, mesh, nums = _llama_kv(16)
    per_step = {}
    for _, d in sg.nodes(data=True):
        for c in d["collectives"]:
            if c.ranks is not None:
                assert (c.kind, c.axes, c.ranks.xreplace(nums)) == ("AllReduce", ("tensor",), 2)
                per_step[c.tensor] = c.volume.xreplace(nums) * d["repeat"].xreplace(nums)
    assert per_step == {"d(layer/attn/k.w)": 32 * 4096 * 128 * b_param,
                        "d(layer/attn/v.w)": 32 * 4096 * 128 * b_param}
    seconds = collective_time("AllReduce", V, [mesh["tensor"]], ring_factor=True, ranks=sp.Integer(2))
    assert seconds == nccl_ring_seconds("AllReduce", V, 2, W_ici)
    sg8, mesh8, nums8 = _llama_kv(8)
    assert {c.ranks.xreplace(nums8) for _, d in sg8.nodes(data=True) for c in d["collectives"] if c.ranks} == {1}
    assert collective_time("AllReduce", V, [mesh8["tensor"]], ranks=sp.Integer(1)) == 0


def test_the_last_layers_kv_copies_reduce_after_the_backward():
    """As every gradient reduction in the step model (DDP's order, the test above): the reductions
    hide behind the backward but the last one computed, the first layer's, waits: 2 x 4096 x 128
    bf16 elements among 2 ranks, 2 (1/2) V / W_ici, at an H100's W_ici (its card)."""
    from symroof.core.symbols import B, T
    from symroof.io.bind import chip_values
    from symroof.io.catalog import load_chip
    from symroof.io.run import RunSettings
    from symroof.parallel import step_model

    sg, _, nums = _llama_kv(16)
    chip = chip_values(load_chip("h100-sxm"))
    nums = {**nums, **chip, **RunSettings().values(), B: sp.Integer(16), T: sp.Integer(4096)}
    assert nums[b_param] == 2
    tail = step_model.parts(sg, nums).tail
    want = 2 * 4096 * 128 * 2 / chip[W_ici]
    assert set(tail) == {"ici"} and abs(tail["ici"] - float(want)) <= 1e-12 * float(want)


def test_a_tied_table_across_a_pipeline_all_reduces_its_two_copies_after_the_step():
    """Megatron-LM keeps the tied word embeddings on the first and the last pipeline stage and, in
    finalize_model_grads after the data-parallel reduction, all-reduces the two copies' gradients
    over the embedding group, those two ranks (NVIDIA/Megatron-LM@d98e8a6 megatron/core/distributed/
    finalize_model_grads.py, _allreduce_word_embedding_grads): nothing runs beside it, so all of it
    waits. GPT-2 124M (config.json: vocab 50257, n_embd 768, tied) over 4 stages x 2 tensor ranks
    (the table split by vocabulary): 50257 x 768 / 2 bf16 elements among 2 ranks, NCCL's
    2 (2-1)/2 V / busBw = V / W_ici. Before, nothing was reduced."""
    from symroof.core.symbols import B, T, n_micro
    from symroof.io.bind import chip_values, model_values
    from symroof.io.catalog import load_chip, load_model
    from symroof.io.run import RunSettings
    from symroof.parallel import step_model

    card = load_model("gpt2-124m")
    mesh = {"stage": Axis("stage", sp.Integer(4), "ici", 1, True, True),
            "tensor": Axis("tensor", sp.Integer(2), "ici", 1, True, True)}
    sg = shard(build(Structure.of(card)), mesh)
    pairs = [(n, c) for n, d in sg.nodes(data=True) for c in d["collectives"] if c.axes == ("stage",)]
    assert [(n, c.kind, c.tensor, c.ranks) for n, c in pairs] == [("embed:grad", "AllReduce", "d(embed.w)", 2)]
    model = model_values(card)
    assert pairs[0][1].volume.xreplace(model) == 50257 * 768 // 2 * b_param
    chip = chip_values(load_chip("h100-sxm"))
    nums = {**model, **chip, **RunSettings().values(), B: sp.Integer(8), T: sp.Integer(1024), n_micro: 8}
    tail = step_model.parts(sg, nums, step_model.Options(microbatches=8)).tail
    want = 50257 * 768 // 2 * 2 / chip[W_ici]
    assert set(tail) == {"ici"} and abs(tail["ici"] - float(want)) <= 1e-12 * float(want)
    # untied, or without a pipeline, there is no such reduction
    from dataclasses import replace

    untied = shard(build(replace(Structure.of(card), tied=False)), mesh)
    flat = shard(build(Structure.of(card)), {"tensor": mesh["tensor"]})
    assert not [c for g in (untied, flat) for _, d in g.nodes(data=True) for c in d["collectives"] if c.ranks == 2]


def test_the_plan_prices_an_fsdp_axis_over_two_nodes_at_the_nodes_nics():
    """LLaMA 3 8B, pure FSDP over 16 H100s in two 8-GPU nodes (fsdp=16 across the network, 8 of it in
    each node). ZeRO-3's traffic in bf16 (2 bytes an element): every weight gathered before the
    forward and again before the backward, and its gradient reduce-scattered (3 passes), except the
    embedding table, whose lookup needs no weight in the backward (2 passes). From the published
    shapes (D 4096, L 32, F 14336, N 32, K 8, H 128, V 128256): the matmul weights, the 2L + 1 norm
    scales, the untied embedding and unembedding. NCCL's hierarchical ring runs at the bus bandwidth
    of the node's 8 NICs together, min(NVLink 450 GB/s, 8 x 50 GB/s) = 400 GB/s a GPU (nccl-tests'
    rule; the h100-sxm card: 4e11 B/s of NICs a host of 8, NVLink 900 GB/s both ways), with the ring's
    (n-1)/n dropped as the book and the plan do. Charged one NIC (50 GB/s) it was 0.943 s, DCN-bound."""
    import pytest

    from symroof.io.catalog import load_chip, load_model
    from symroof.search import plan as planlib

    D, L, F, N, K, H, vocab = 4096, 32, 14336, 32, 8, 128, 128256
    matmul = L * (2 * D * N * H + 2 * D * K * H + 3 * D * F)
    norms, table = (2 * L + 1) * D, D * vocab
    gathered = 2 * (matmul + norms + table) + table          # forward and backward gathers, no table in backward
    reduced = matmul + norms + 2 * table                     # every gradient, both tables
    bus = min(sp.Integer(450 * 10 ** 9), 8 * sp.Integer(50 * 10 ** 9))
    by_hand = sum(nccl_ring_seconds(kind, 2 * elements, 16, bus) * sp.Rational(16, 15)
                  for kind, elements in (("AllGather", gathered), ("ReduceScatter", reduced)))
    r = planlib.plan(load_model("llama3-8b"), load_chip("h100-sxm"), 16, 262144, 4096, mesh={"fsdp": 16})
    assert r["t_dcn_s"] == pytest.approx(float(by_hand), rel=1e-12)       # 0.1178 s (the plan evaluates in floats)
    assert r["axes"]["fsdp"]["link"] == "dcn" and r["axes"]["fsdp"]["inner"] == 8
    assert r["bound"] == "compute"
