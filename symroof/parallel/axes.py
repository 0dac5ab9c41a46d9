"""The one vocabulary of logical mesh axes: what each shards, what it must divide, where it goes.

Everything that names a mesh axis reads this table: the sharding rules (``sharding.py``),
the order in which axes are laid on the physical topology (``topology.ORDER``), the
planner's batch axes and divisibility checks (``search/``).

A row: the axis, the activation dimensions and the weight dimensions it shards (in the
graph's dimension letters, ``symbols.py``), and the model or run integers its degree must
divide. Axes are listed outermost first: the innermost axis gets the closest chips.
"""

from __future__ import annotations

#   axis      activations          weights           its degree must divide
AXES = (
    ("pod",    ("B", "R"),          (),               ("sequences",)),    # slices over DCN: data parallel
    ("stage",  (),                  (),               ("layers",)),       # pipeline: splits the layers
    ("data",   ("B", "R"),          (),               ("sequences",)),
    ("fsdp",   ("B", "R"),          ("D", "Rq", "Rkv"), ("sequences",)),  # ZeRO-3: weights sharded on D (MLA's latent-only ones on it)
    ("expert", ("B", "E"),          ("E",),           ("sequences", "experts")),
    ("seq",    ("T", "R"),          ("D",),           ("tokens",)),       # weights on D only beside fsdp
    ("tensor", ("K", "Nlk", "Qs", "F", "Fe", "Fs", "V", "Dm", "D"), ("K", "Nlk", "Qs", "F", "Fe", "Fs", "V", "Dm"),
     ("heads", "d_ff", "kv_heads", "linear_key_heads", "linear_value_heads", "ssm_heads_per_group")),
)
# Qs: a Mamba-2 layer's heads within each group (core/ssm.py): each chip its share of every group's heads
# (their z, x, dt, conv channels, states, norm and out_proj rows); B and C, one per group, stay whole on
# every chip, as vLLM's MambaMixer2 keeps them when n_groups is below the degree (it replicates the groups).
# A model without Mamba layers has 0, which every degree divides.
# Nlk: a linear-attention layer's key heads (core/linear_attention.py), split as attention heads are (each
# chip its heads' q, k, v, z, conv channels and recurrent states; the value heads N_lv = N_lk·G_lv go with
# them). The degree must divide both, as vLLM's Qwen3-Next GatedDeltaNet requires (num_k_heads // tp_size,
# num_v_heads // tp_size); a model without linear layers has 0 of each, which every degree divides.
# Which dimension claims an axis first when a tensor has several (a tensor uses an axis once).
# Fe and Fs are the routed and shared experts' hidden widths where they differ from F (DeepSeek).
DIM_PRIORITY = ("B", "T", "R", "E", "K", "Nlk", "Qs", "F", "Fe", "Fs", "V", "Dm", "D", "Rq", "Rkv")
# Dm: a multi-token-prediction module's two normed D-wide inputs side by side (core/mtp.py), split as an
# MLP's hidden width is: its 2D x D projection is row-parallel (each chip its rows, the partial sums
# reduce-scattered), and each chip's D-split halves side by side are its own rows of Dm (``side_by_side``).

# R counts an MoE layer's routed token copies per expert (B·T·k/E): each chip routes its own
# tokens, so an axis that splits the tokens (B or T) splits their copies the same way, and moving
# it from B or T to R (dispatch) or back (combine) sends nothing. Only the expert axis, which
# moves from the tokens to the experts (B to E), is an AllToAll.
ROUTED = "R"
ROUTED_FROM = ("B", "T")


def routes_locally(src_dim: str, dst_dim: str) -> bool:
    """An axis moving between a token dimension and the routed copies' R: no communication."""
    return {src_dim, dst_dim} in ({ROUTED, d} for d in ROUTED_FROM)


def whole_per_copy(dim: str, dims, axis: str, mesh) -> bool:
    """Whether routed copies keep D whole on the tensor axis: without an expert axis the tokens are
    gathered once before they are copied to their k experts (the router reads the same gather) and
    the experts' partial sums are reduce-scattered once the copies are summed back into tokens,
    2·B·T·D a layer, against 2k·B·T·D for gathering and scattering the copies. Megatron-Core's
    default dispatcher does the same (NVIDIA/Megatron-LM@d98e8a6 megatron/core/transformer/moe/
    token_dispatcher.py MoEAllGatherTokenDispatcher: AllGather of the [S·B, H] hidden states over
    TP, ReduceScatter after the unpermute). With an expert axis the copies are sent D-split as its
    AllToAll dispatcher does (A2A over EP, then AllGather of the copies over TP)."""
    return axis == "tensor" and dim == "D" and ROUTED in dims and "expert" not in mesh


# A concat's output dimension -> the dimension its operands are set side by side along: an axis splitting
# that dimension of each operand leaves each chip its own rows of the output (a fixed permutation of them,
# which the weight reading it is sharded by), so moving it from one to the other sends nothing.
SIDE_BY_SIDE = {"Dm": "D"}


def side_by_side(src_dim: str, dst_dim: str) -> bool:
    """An axis moving between an operand's dimension and the concat's output dimension it lies along."""
    return SIDE_BY_SIDE.get(dst_dim) == src_dim or SIDE_BY_SIDE.get(src_dim) == dst_dim


# MoE parallel folding (Megatron-Core's --expert-tensor-parallel-size 1): the experts get a parallel
# layout of their own, in which the tensor ranks join the expert-parallel group. The tensor axis then
# splits the routed experts whole (E), as the expert axis does, and not their width (Fe): each chip
# holds E/(expert·tensor) experts at full width, its tokens reach them by one AllToAll over both axes
# (one per link where they lie on two: sharding._elementwise), and the experts' matmuls need no tensor
# collectives (arXiv 2504.14960, "MoE Parallel Folding";
# NVIDIA/Megatron-LM megatron/core/parallel_state.py, the expert groups built apart from the dense ones).
# Attention and the shared experts keep the tensor axis's usual rows; the router's weight is D-split
# (FOLDED_WEIGHT_RULES below).
def folds_experts(mesh) -> bool:
    """Whether the mesh's tensor axis splits the routed experts whole (``Axis.experts``)."""
    tensor = mesh.get("tensor")
    return tensor is not None and tensor.experts


ORDER = tuple(row[0] for row in AXES)
BATCH_AXES = tuple(row[0] for row in AXES if "sequences" in row[3])
DIVIDES = {row[0]: row[3] for row in AXES}


def split_sizes(card, sequences: int, tokens: int) -> dict:
    """The integers DIVIDES names, for a model card, a batch of sequences and a sequence length."""
    return {"sequences": sequences, "tokens": tokens, "layers": card.n_layers, "experts": card.n_experts,
            "heads": card.n_heads, "d_ff": card.d_ff, "kv_heads": card.n_kv_heads,
            "linear_key_heads": card.linear_key_heads, "linear_value_heads": card.linear_value_heads,
            "ssm_heads_per_group": card.ssm_heads // card.ssm_groups if card.ssm_groups else 0}


def tensor_problem(card, tensor: int) -> str | None:
    """Why a tensor degree cannot split the card (None if it can): it must divide everything the
    tensor axis splits (DIVIDES) and divide the KV heads or be a multiple of them (``kv_problem``).
    The one rule plan, predict and serve apply."""
    sizes = split_sizes(card, 1, 1)
    bad = [what for what in DIVIDES["tensor"] if what != "kv_heads" and sizes[what] % tensor]
    if bad:
        return (f"tensor={tensor} does not divide the model's "
                + ", ".join(f"{sizes[w]} {w if w == 'd_ff' else w.replace('_', ' ')}" for w in bad))
    return kv_problem(card, tensor)


# KV heads on the tensor axis: a degree above K replicates each KV head on degree/K chips (each
# chip computes and stores its group's K/V projection), as Megatron-LM does for GQA; the degree
# must then be a multiple of K. The planner evaluates the graph with K_eff = max(K, degree).
KV_REPLICATION = "replicate"


def kv_problem(card, tensor: int) -> str | None:
    """Why a tensor degree cannot lay out the card's KV heads under KV_REPLICATION (None if it can)."""
    if card.n_kv_heads % tensor and tensor % card.n_kv_heads:
        return (f"tensor={tensor} neither divides the {card.n_kv_heads} KV heads nor is a multiple of them "
                f"(to replicate each KV head on tensor/K chips)")
    return None


def kv_heads_replicated(kv_heads, tensor_degree):
    """The KV heads the graph is evaluated with under KV_REPLICATION: max(K, tensor degree)."""
    import sympy as sp

    return sp.Max(kv_heads, tensor_degree, evaluate=False)


def replicate_kv(values: dict, tensor_degree) -> dict:
    """``values`` with the KV heads replicated up to the tensor degree: K = max(K, degree) and r_kv,
    the chips holding each head, max(1, degree / K) (1 within the heads). Each of those chips
    computes its own share of the head's K/V weight gradients, all-reduced among them
    (parallel/replicas.py)."""
    import sympy as sp

    from ..core.symbols import K, r_kv

    heads = values[K]
    return {**values, K: kv_heads_replicated(heads, tensor_degree),
            r_kv: sp.Max(1, tensor_degree / heads, evaluate=False)}


def _rules(column: int) -> tuple:
    return tuple((dim, tuple(row[0] for row in AXES if dim in row[column]))
                 for dim in DIM_PRIORITY if any(dim in row[column] for row in AXES))


ACTIVATION_RULES = _rules(1)
WEIGHT_RULES = _rules(2)


def _folded(rules: tuple, also: str | None = None) -> tuple:
    return tuple((dim, axes + ("tensor",) if dim in ("E", also) else axes) for dim, axes in rules)


# Under folds_experts the tokens reach the MoE layer split over the tensor axis (Megatron's sequence
# parallelism; symroof lays them D-split, the same bytes a chip), and each chip routes its own: the
# router's weight is D-split too, so it scores its share with no gather (each chip's partial scores
# summed over the axis, E numbers a token, where a gather would move D).
FOLDED_ACTIVATION_RULES = _folded(ACTIVATION_RULES)     # tensors with E (the routed experts and copies)
FOLDED_WEIGHT_RULES = _folded(WEIGHT_RULES, "D")        # ... and the router's weight (Er)


def layout(dims, mesh: dict, weight: bool) -> dict[str, str]:
    """The target sharding of a tensor of dimensions ``dims`` on ``mesh``: ``{axis: dim}``, each axis
    on the first of its dimensions in DIM_PRIORITY the tensor has."""
    if ("E" in dims or "Er" in dims) and folds_experts(mesh):   # a routed expert's, or the router's
        rules = FOLDED_WEIGHT_RULES if weight else FOLDED_ACTIVATION_RULES
    else:
        rules = WEIGHT_RULES if weight else ACTIVATION_RULES
    out: dict[str, str] = {}
    for dim, axes in rules:
        if dim not in dims:
            continue
        for axis in axes:
            if axis in mesh and axis not in out:
                if (weight and axis == "seq" and "fsdp" not in mesh) or \
                        (not weight and whole_per_copy(dim, dims, axis, mesh)):
                    continue       # seq splits weights only beside fsdp; routed copies keep D whole
                out[axis] = dim
    return out
