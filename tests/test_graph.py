"""The graph's op rules against the book's per-op table (book-4-6.md section 1.3), symbolically."""

import networkx as nx
import pytest
import sympy as sp

from symroof.core import derive

from symroof.core import ops
from symroof.core.graph import Structure, build
from symroof.core.symbols import B, D, E, F, H, K, L, N, T, V, k


def node(g, name):
    return g.nodes[name]


def test_einsum_rule_matches_book_examples():
    # book Q3: A[I,J,K,L]·B[I,J,M,N,O] -> C[K,L,M,N,O] costs 2·I·J·K·L·M·N·O
    sizes = {d: sp.Symbol(d, positive=True) for d in "IJKLMNO"}
    sig = ops.parse("I J K L, I J M N O -> K L M N O")
    assert ops.contraction_flops(sig, sizes) == 2 * sp.Mul(*sizes.values())
    # an elementwise product (nothing contracted) is one FLOP per term
    assert ops.contraction_flops(ops.parse("I J, I J -> I J"), sizes) == sizes["I"] * sizes["J"]


def test_backward_rule_is_the_transposed_contraction():
    sig = ops.parse("B T D, D F -> B T F")
    assert str(sig.gradient(0)) == "B T F, D F -> B T D"     # dx = dy · Wᵀ
    assert str(sig.gradient(1)) == "B T F, B T D -> D F"     # dW = xᵀ · dy


def test_per_op_forward_flops_match_book_table():
    g = build(Structure(), "full")
    expected = {
        "layer/attn/q": 2 * B * T * D * N * H,
        "layer/attn/k": 2 * B * T * D * K * H,
        "layer/attn/v": 2 * B * T * D * K * H,
        "layer/attn/scores": 2 * B * T * T * N * H,     # independent of K: GQA saves no core FLOPs
        "layer/attn/av": 2 * B * T * T * N * H,
        "layer/attn/o": 2 * B * T * D * N * H,
        "layer/mlp/gate": 2 * B * T * D * F,
        "layer/mlp/up": 2 * B * T * D * F,
        "layer/mlp/down": 2 * B * T * D * F,
        "unembed": 2 * B * T * D * V,
    }
    for name, flops in expected.items():
        assert sp.expand(node(g, name)["flops"] - flops) == 0, name
    assert node(g, "embed")["flops"] == 0          # a gather, not a matmul


def test_training_is_three_times_forward_for_every_contraction():
    g = build(Structure.uniform(qkv_bias=True, qk_norm=True), "full")
    fwd, bwd = derive.flops(g, "forward"), derive.flops(g, "backward")
    assert sp.expand(bwd - 2 * fwd) == 0


def test_causal_counts_half_the_attention_core():
    full, causal = build(Structure(), "full"), build(Structure(), "causal")
    diff = sp.expand(derive.flops(full, "forward") - derive.flops(causal, "forward"))
    assert diff == 2 * B * T * T * N * H * L        # half of 4BT²NH per layer


def test_six_n_rule_emerges_from_the_graph_without_attention():
    # per token, the per-op count minus the attention core is 6 × (matmul params); the book's
    # 6·P_total over-counts by the embedding gather and the norms (book-4-6.md 1.3)
    g = build(Structure(), "full")
    per_token = derive.training_flops_per_token(g)
    core = 12 * T * N * H * L
    matmul_params = derive.params(g) - derive.params_by_group(g)["embedding"] - derive.params_by_group(g)["norms"]
    assert sp.expand(per_token - core - 6 * matmul_params) == 0


def test_parameter_formula_matches_book_llama_form():
    g = build(Structure())
    P = 3 * D * F * L + 2 * D * (N + K) * H * L + 2 * D * L + D + 2 * V * D
    assert sp.expand(derive.params(g) - P) == 0
    tied = build(Structure.uniform(tied=True))
    assert sp.expand(derive.params(g) - derive.params(tied) - V * D) == 0


def test_moe_active_parameters_use_k_of_e_experts():
    g = build(Structure.uniform(moe=True))
    groups = derive.params_by_group(g)
    assert sp.expand(groups["mlp"] - (3 * D * F * E * L + D * E * L)) == 0
    active = derive.params_by_group(g, active=True)["mlp"]
    assert sp.expand(active - (3 * D * F * k * L + D * E * L)) == 0       # the router stays dense
    fwd = derive.flops(g, "forward")
    assert sp.expand(sp.diff(fwd, F) - 6 * B * T * D * k * L) == 0       # experts cost k, not E


def test_graph_is_a_dag_with_hierarchical_names():
    g = build(Structure.uniform(sandwich_norms=True, qk_norm=True))
    assert nx.is_directed_acyclic_graph(g)
    names = set(g.nodes)
    assert {"layer/attn/q", "layer/mlp/down", "layer/post_attn_norm", "layer/attn/q_norm"} <= names
    assert {"layer/attn/q:dx", "layer/attn/q:dw"} <= names        # made by rule, not by hand
    for _, _, data in g.edges(data=True):
        assert len(data["shape"]) == len(data["dims"])


def test_book_layer_is_two_matmuls():
    g = build(Structure.book_layer())
    assert sp.expand(derive.flops(g, "forward") - 4 * B * T * D * F * L) == 0
    assert sp.expand(derive.flops(g, "backward") - 8 * B * T * D * F * L) == 0


def test_attention_crossover_is_solved_from_the_graph():
    t_star = derive.attention_crossover(build(Structure(), "full"))
    assert sp.simplify(t_star - (18 * D * F + 12 * D * (N + K) * H) / (12 * N * H)) == 0


def test_bad_attention_mode_is_rejected():
    with pytest.raises(ValueError, match="attention"):
        build(Structure(), "sparse")


def test_decode_costs_two_flops_per_parameter_per_token_plus_attention():
    """The book's decode rule (inference.md): each new token costs 2 FLOPs per weight it
    multiplies (every matrix: not the embedding table, which is gathered, nor the norm scales,
    which are elementwise), plus the attention
    core, 2·2·N·H per cached key, unhalved: one query sees every key."""
    from symroof.core.symbols import S

    g = build(Structure(), "causal", phase="decode")
    groups = derive.params_by_group(g)
    weights = derive.params(g) - groups["embedding"] - groups["norms"]
    core = derive.attention_core(g)
    assert sp.expand(core - 4 * B * S * N * H * L) == 0
    assert sp.expand(derive.flops(g) - core - 2 * B * weights) == 0
    assert T not in derive.flops(g).free_symbols
    assert all(d["phase"] == "forward" for _, d in g.nodes(data=True))


def test_prefill_writes_the_cache_and_decode_reads_all_of_it():
    from symroof.core.symbols import S, b_kv

    prefill, decode = build(Structure(), phase="prefill"), build(Structure(), phase="decode")
    assert sp.expand(derive.kv_cache_bytes(prefill) - 2 * B * T * K * H * L * b_kv) == 0
    assert sp.expand(derive.kv_cache_bytes(decode) - 2 * B * S * K * H * L * b_kv) == 0
    read = sum(d["repeat"] * d["bytes"] for n, d in decode.nodes(data=True) if d["attention_core"])
    assert sp.expand(read).coeff(b_kv) != 0, "the decode core reads the cache at its own width"
    assert "loss" not in prefill and "loss" in build(Structure())
    with pytest.raises(ValueError, match="phase"):
        build(Structure(), phase="serve")


def test_each_block_type_is_counted_by_its_own_symbol():
    from symroof.core.blocks import Block
    from symroof.core.symbols import layers

    s = Structure((Block("dense"), Block("moe", moe=True)))
    p = derive.params(build(s))
    assert {layers("dense"), layers("moe")} <= p.free_symbols and L not in p.free_symbols
    one_moe_layer = derive.params(build(Structure.uniform(moe=True))) - derive.params(build(Structure.uniform(moe=True))).subs(L, 0)
    assert sp.expand(p.coeff(layers("moe")) - one_moe_layer.coeff(L)) == 0
    with pytest.raises(ValueError, match="distinct names"):
        Structure((Block("x"), Block("x")))


def test_with_own_nodes_copies_node_attributes_and_shares_edges():
    """The sharding's copy: node and graph attributes its own (rewriting them leaves the built
    graph alone, which ``build`` caches for every caller), nodes, edges and their order as ``copy()``."""
    from symroof.core.graph import with_own_nodes

    g = build()
    full, own = g.copy(), with_own_nodes(g)
    assert list(own.nodes(data=True)) == list(full.nodes(data=True))
    assert list(own.edges(data=True)) == list(full.edges(data=True))
    assert list(own.predecessors("layer/mlp/down")) == list(full.predecessors("layer/mlp/down"))
    assert own.graph == full.graph
    before = dict(g.nodes["layer/mlp/down"])
    own.nodes["layer/mlp/down"]["flops"] = -1
    own.graph["mesh"] = "changed"
    assert g.nodes["layer/mlp/down"] == before and "mesh" not in g.graph


def test_with_own_adjacency_takes_new_edges_and_leaves_the_graph_alone():
    """``recompute.apply``'s copy: as ``copy()`` (nodes, edges, predecessors, in order), and a node and
    an edge added to it are its own: the built graph keeps its nodes and edges."""
    from symroof.core.graph import with_own_nodes

    g = build()
    full, own = g.copy(), with_own_nodes(g, adjacency=True)
    assert list(own.nodes(data=True)) == list(full.nodes(data=True))
    assert list(own.edges(data=True)) == list(full.edges(data=True))
    assert list(own.predecessors("layer/mlp/down")) == list(full.predecessors("layer/mlp/down"))
    nodes, edges = list(g.nodes), list(g.edges)
    own.add_node("new", op="input")
    own.add_edge("layer/mlp/down", "new", tensor="layer/mlp/down")
    assert list(g.nodes) == nodes and list(g.edges) == edges and "new" not in g.succ["layer/mlp/down"]
    assert ("layer/mlp/down", "new") in own.edges and list(own.predecessors("new")) == ["layer/mlp/down"]
