"""The vectorised engine behind ``symroof plan``: compile a strategy family once, evaluate many meshes.

For each strategy family the step-time and memory expressions are derived ONCE from the
sharded graph (``shard`` → ``roofline.step`` / ``memory_per_chip`` / ``comms_by_axis``) with
symbolic mesh sizes and ``M`` symbols, the card and run numbers are substituted, and the
resulting trees are evaluated as data over numpy arrays (``tree_numpy``; ``lambdify`` only
for a tree off its whitelist). Every candidate mesh (degrees × physical placement × microbatches)
is then one row of numpy arrays: evaluation, feasibility and ranking are vectorised.

Per-axis ICI bandwidth enters through the ``M`` arguments: ``M`` on a ring, ``M/2`` on a
line (collectives.py). Which axes cross the scale-out network (DCN) is discrete, so each
such pattern (on GPU clusters) is compiled separately; the pod axis is always DCN.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..io.cards import ModelCard

from ..io.chips import ChipCard
from ..io.run import RunSettings
from . import tree_numpy
from .candidates import Candidates, enumerate_candidates  # noqa: F401

# Strategy families: the logical axes inside a pod, outermost first. "pod" (DCN) is added
# outermost whenever there are several pods. Expert families only for MoE cards.
FAMILIES = {
    "dp":          ("data",),
    "fsdp":        ("fsdp",),
    "tp":          ("tensor",),
    "dp_tp":       ("data", "tensor"),
    "fsdp_tp":     ("fsdp", "tensor"),
    "fsdp_seq":    ("fsdp", "seq"),
    "fsdp_tp_seq": ("fsdp", "seq", "tensor"),
    "pp_fsdp":     ("stage", "fsdp"),
    "pp_fsdp_tp":  ("stage", "fsdp", "tensor"),
    "fsdp_ep":     ("fsdp", "expert"),
    "fsdp_ep_tp":  ("fsdp", "expert", "tensor"),
}
MOE_ONLY = ("fsdp_ep", "fsdp_ep_tp")


def own_rows(inner: tuple, cols: list):
    """Rows of family ``inner`` (degrees per axis) that no smaller family holding the axes above
    degree 1 has: stage x tensor is pp_fsdp_tp's at fsdp = 1, seq x tensor fsdp_tp_seq's (with fewer
    sequences than chips no fsdp degree above 1 divides the batch), seq alone fsdp_seq's; tensor
    alone is tp's, and fsdp_tp_seq at tensor = 1 is fsdp_seq's."""
    import numpy as np
    from itertools import combinations

    keep = np.ones(len(cols[0]), dtype=bool)
    smaller = [set(g) for g in FAMILIES.values() if set(g) < set(inner)]
    for k in range(len(inner)):
        for above in combinations(inner, k):
            if any(set(above) <= g for g in smaller):
                keep &= ~np.all([(c > 1) == (a in above) for a, c in zip(inner, cols)], axis=0)
    return keep


def split_by_links(cand: Candidates, pool: bool = True) -> dict:
    """Candidates grouped by (several slices?, axes over DCN, those of them priced on two tiers):
    each group is one compiled expression. Where a domain's NICs are no faster than its links
    (``pool``, candidates.pooled: every card shipped) one chip in a domain is the two-tier rule's
    share 1 (a factor W_dcn / min(W_ici, W_dcn) = 1), so every network axis takes its share as an
    argument; else only those with more than one chip in a domain do."""
    groups: dict = {}
    for i in range(len(cand)):
        dcn = frozenset(a for a in cand.axes if a != "pod" and cand.links[a][i] == "dcn")
        key = (cand.degrees["pod"][i] > 1, dcn, frozenset(a for a in dcn if a in SPAN_NAMES and (pool or cand.inner[a][i] > 1)))
        groups.setdefault(key, []).append(i)
    if len(groups) == 1:
        return {key: cand for key in groups}
    return {key: cand.take(idx) for key, idx in groups.items()}


#   logical axis   size symbol   M symbol (None: one link, M = 1), by name in core/symbols.py
AXIS_NAMES = {
    "data":   ("X",        "M_X"),
    "fsdp":   ("X",        "M_X"),
    "tensor": ("Y",        "M_Y"),
    "seq":    ("Z",        "M_Z"),
    "stage":  ("n_stages", None),     # stage-to-stage sends go over one link
    "expert": ("n_ep",     "M_E"),
    "pod":    ("n_pods",   None),     # DCN
}
RUN_ARGS = ("B", "T", "n_micro")     # the other arguments of a family's expressions
# An axis over the network with some of its chips in each NVLink domain runs NCCL's hierarchical
# ring (collectives.two_tier): its chips in one domain, by name in core/symbols.py. The stage
# axis's sends go point to point (one NIC), and a pod holds no share of a domain.
SPAN_NAMES = {"data": "I_X", "fsdp": "I_X", "tensor": "I_Y", "seq": "I_Z", "expert": "I_E"}


def __getattr__(name: str):
    # ``AXIS_SYMBOLS`` (the table above as SymPy symbols) is made on first use: a plan whose
    # families are cached evaluates by name and never imports SymPy
    if name == "AXIS_SYMBOLS":
        from ..core.symbols import SYMBOLS

        return {a: tuple(SYMBOLS[n] if n else None for n in names) for a, names in AXIS_NAMES.items()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class Options:
    """How to evaluate: overlap rule, phase, and whether to use the book's simplified layer."""

    overlap: str = "sum"          # pinned book rule: comms on different axes add
    phase: str | None = None      # None: the whole step (forward + backward)
    book_layer: bool = False      # True: the book's In·W_in·W_out layer instead of the model
    m_override: tuple = ()        # ((axis, M), ...): force M for an axis (e.g. the book's M_X = 2)
    continuous: bool = False      # True: skip divisibility (the book treats tokens and F as continuous)
    pad: bool = False             # True: pad the batch and sequence to a multiple of their axes' degrees
    schedule: str | None = None   # pipeline schedule of a stage axis (pipeline.SCHEDULES; None: the default)
    search_schedule: bool = False     # True: try every schedule the plan costs (schedule_names.PLANNED)
    search_recompute: bool = False    # True: try the recompute policies none, selective, full
    mtp: int = 0                  # multi-token-prediction modules trained after the head (core/mtp.py)
    fold_experts: bool = False    # the tensor axis splits the routed experts whole (axes.folds_experts)


@dataclass
class Compiled:
    family: str
    axes: tuple                   # all logical axes, pod first if any
    args: tuple                   # argument names (core/symbols.py): the mesh's, then RUN_ARGS
    names: list                   # what fn returns, in order: t_math, t_hbm, memory, comms:<axes>...
    fn: object                    # args -> list of values (or arrays): tree_numpy's, or lambdify's
    links: dict                   # axis -> "ici" | "dcn" (collectives are merged only within a link)


_CACHE: dict = {}


def _structure(card: ModelCard, options: Options):
    from ..core.graph import Structure

    return Structure.book_layer() if options.book_layer else Structure.of(card, mtp=options.mtp)


def derive_family(family: str, structure, options: Options, several_pods: bool,
                  dcn_axes: frozenset, recompute=None, switched: bool = False,
                  spanning: frozenset = frozenset()) -> dict:
    """One family's symbolic step terms, memory and per-axis comms (``comms:<axes>``), in the
    mesh, model and chip symbols; read from the on-disk cache when a valid entry exists.
    ``recompute``: the activation recompute policy (core/recompute.py), None for ``--ckpt``;
    ``switched``: the fast axes go through a switch (GPUs), not around a torus; ``spanning``: the
    dcn axes with more than one chip in each fast domain (``SPAN_NAMES``, collectives.two_tier)."""
    from ..io import expression_cache as cache

    full = frozenset(a for a in dcn_axes if a in SPAN_NAMES)
    if spanning != full:
        # An axis with one chip in each domain is the spanning family's at that share one (exactly:
        # collectives.at_one_chip): one derivation per set of network axes, not per subset of them
        key = repr((family, structure, options, several_pods, dcn_axes, recompute, switched, spanning))
        if key not in _DERIVED:
            from ..parallel.collectives import at_one_chip
            from ..core.symbols import SYMBOLS

            _DERIVED[key] = at_one_chip(derive_family(family, structure, options, several_pods, dcn_axes,
                                                      recompute, switched, full),
                                        [SYMBOLS[SPAN_NAMES[a]] for a in full - spanning])
        return _DERIVED[key]
    if not several_pods and not dcn_axes:
        # One pod is the several-pod family with n_pods = 1: the pod axis is alone on DCN, so no
        # collective merges it with another axis, and a factor of one pod changes no other term
        # (tests/test_plan_cache.py checks the terms equal a direct derivation's). Half the work.
        pods = derive_family(family, structure, options, True, dcn_axes, recompute, switched, spanning)
        one = {__getattr__("AXIS_SYMBOLS")["pod"][0]: 1}
        return {k: e.xreplace(one) for k, e in pods.items() if k != "comms:pod"}
    fields = {"structure": repr(structure), "family": family, "axes": FAMILIES[family],
              "phase": options.phase, "pods": several_pods,
              "dcn_axes": sorted(dcn_axes), "recompute": repr(recompute), "schedule": options.schedule,
              "switched": switched, "spanning": sorted(spanning),
              **({"experts": "folded"} if options.fold_experts else {})}
    key = repr(sorted(fields.items()))
    if key not in _DERIVED:        # this process's own (the one-pod family asks for it again)
        _DERIVED[key] = cache.cached("family", fields, lambda: _derive(
            family, structure, options, several_pods, dcn_axes, recompute, switched, spanning))
    return _DERIVED[key]


_DERIVED: dict = {}


def _mesh_symbols(family: str, several_pods: bool, dcn_axes: frozenset, switched: bool = False,
                  fold: bool = False) -> dict:
    import sympy as sp

    from ..parallel.collectives import Axis

    axes = (("pod",) if several_pods else ()) + FAMILIES[family]
    sym_mesh = {}
    table = __getattr__("AXIS_SYMBOLS")
    for name in axes:
        size, m = table[name]
        if name == "pod" or name in dcn_axes or m is None:
            m = sp.Integer(1)
        link = "dcn" if name == "pod" or name in dcn_axes else "ici"
        sym_mesh[name] = Axis(name, size, link, m, True, switched and link == "ici", fold and name == "tensor")
    return sym_mesh


def _derive(family, structure, options, several_pods, dcn_axes, recompute=None, switched=False,
            spanning=frozenset()) -> dict:
    from ..core.graph import build
    from ..core.symbols import SYMBOLS
    from ..parallel.roofline import comms_by_axis, memory_per_chip, work
    from ..parallel.sharding import shard

    _freeze_imported()

    sg = shard(build(structure, "causal"), _mesh_symbols(family, several_pods, dcn_axes, switched, options.fold_experts))
    if spanning:           # read by roofline.comms_by_axis, as a runs file's ``inner`` is
        sg.graph["spans"] = {a: SYMBOLS[SPAN_NAMES[a]] for a in sorted(spanning)}
    if recompute is not None:          # replayed forward ops: hardware FLOPs and their comms
        from ..core.recompute import apply

        sg = apply(sg, recompute)
    t_math, t_hbm = work(sg, options.phase, options.schedule)
    memory = memory_per_chip(sg, schedule=options.schedule, recompute=recompute)
    out = {"t_math": t_math, "t_hbm": t_hbm}
    # apart, what gradient accumulation divides (accumulation.py) and what it does not: a step with a
    # backward, not the book's forward layer (phase "forward", continuous degrees: no gradients,
    # fractional sequences). One expression each, which add up to the total: no term twice.
    accumulates = "stage" not in FAMILIES[family] and options.phase is None
    if accumulates:
        out["memory_fixed"] = memory["params"] + memory["gradients"] + memory["optimizer"]
        out["memory_activations"] = memory["checkpoints"] + memory["head"]
    else:
        out["memory"] = memory["total"]
    out.update({f"comms:{k}": e for k, e in comms_by_axis(
        sg, options.phase, schedule=options.schedule, accumulate=accumulates).items()})
    return out


def _numeric(family, card, chip, run, options, several_pods, dcn_axes, replicate, switched,
             spanning=frozenset()) -> dict:
    """The family's terms with both cards' numbers and the run settings substituted (kept for
    this process: the one-pod family is the several-pod one's at n_pods = 1, see derive_family)."""
    key = (family, repr(card), repr(chip), run, options, several_pods, dcn_axes, replicate, switched, spanning)
    if key in _NUMERIC:
        return _NUMERIC[key]
    if not several_pods and not dcn_axes:
        pods = _numeric(family, card, chip, run, options, True, dcn_axes, replicate, switched, spanning)
        one = {__getattr__("AXIS_SYMBOLS")["pod"][0]: 1}
        _NUMERIC[key] = {k: e.xreplace(one) for k, e in pods.items() if k != "comms:pod"}
        return _NUMERIC[key]
    from ..core.symbols import Y
    from ..io.bind import chip_values, model_values
    from ..parallel.axes import replicate_kv

    values = {**model_values(card), **chip_values(chip), **run.values()}
    if replicate:
        # KV heads replicated up to the tensor degree (axes.KV_REPLICATION): each chip holds
        # max(K, Y)/Y of them; queries stay N/Y since G = N/K follows K.
        values = replicate_kv(values, Y)
    symbolic = derive_family(family, _structure(card, options), options, several_pods, dcn_axes,
                             run.recompute, switched, spanning)
    from ..parallel.collectives import substitute

    _NUMERIC[key] = substitute(symbolic, values, _SWAPS.setdefault(key[1:4] + key[-3:-2], {}))
    return _NUMERIC[key]


_NUMERIC: dict = {}
_SWAPS: dict = {}       # (cards, run, KV replication) -> Min and Max with those numbers in


def _freeze_imported() -> None:
    """Once a plan derives, what it has imported (SymPy, networkx, numpy, symroof) lives as long as
    the process: taken out of the garbage collector's passes, which would otherwise walk it again
    at every full collection of the expressions built from here on (a library caller's process;
    the command line turns the collector off, cli._collect_less). Once per process; a plan read from the cache never gets here."""
    if not _FROZEN:
        import gc

        import numpy  # noqa: F401  (evaluates the families next)

        _FROZEN.append(True)
        gc.freeze()


_FROZEN: list = []


def _printer():
    """lambdify's NumPy printer, told not to sort the terms of every sum (the order of a sum's
    terms does not matter to numpy, and sorting them is most of the printing time)."""
    from sympy.printing.numpy import NumPyPrinter

    return NumPyPrinter({"fully_qualified_modules": False, "inline": True, "allow_unknown_functions": True,
                         "user_functions": {}, "order": "none"})


def compile_family(family: str, card: ModelCard, chip: ChipCard, run: RunSettings,
                   options: Options, pods: int = 1, dcn_axes: frozenset = frozenset(),
                   spanning: frozenset = frozenset()) -> Compiled:
    """Derive (or read from the cache) one family's step time, memory and per-axis comms, ready to
    evaluate over numpy arrays. A cached family is read and evaluated by name: no SymPy.

    ``dcn_axes``: the axes laid over the scale-out network (GPU clusters); the pod axis always is.
    ``spanning``: those of them with more than one chip in each NVLink domain (an argument each,
    ``SPAN_NAMES``: NCCL's hierarchical ring, collectives.two_tier).
    """
    from ..io import expression_cache as cache

    key = (family, repr(card), repr(chip), run, options, pods > 1, dcn_axes, spanning)
    if key in _CACHE:
        return _CACHE[key]
    switched = chip.family == "gpu"        # an NVLink domain is a switch, a TPU slice a torus
    axes = (("pod",) if pods > 1 else ()) + FAMILIES[family]
    links = {a: "dcn" if a == "pod" or a in dcn_axes else "ici" for a in axes}
    replicate = "tensor" in axes and not options.continuous
    # everything the numbers substituted below come from: both cards and the run settings
    fields = {"model": repr(card), "book_layer": options.book_layer, "chip": repr(chip), "run": repr(run),
              "family": family, "phase": options.phase, "pods": pods > 1,
              "dcn_axes": sorted(dcn_axes), "replicate_kv": replicate, "schedule": options.schedule,
              "switched": switched, "spanning": sorted(spanning), **({"mtp": options.mtp} if options.mtp else {}),
              **({"experts": "folded"} if options.fold_experts else {})}

    def numeric():
        return _numeric(family, card, chip, run, options, pods > 1, dcn_axes, replicate, switched, spanning)
    # the card's numbers substituted: small trees in the mesh symbols, evaluated by numpy as data
    trees, exprs = cache.cached_trees("numeric_family", fields, numeric)
    args = (tuple(n for a in axes for n in AXIS_NAMES[a] if n is not None)
            + tuple(SPAN_NAMES[a] for a in sorted(spanning)) + RUN_ARGS)
    names = list(trees if trees is not None else exprs)
    fn = None
    if trees is not None:
        try:
            fn = tree_numpy.function([trees[n] for n in names], args)
        except tree_numpy.Unsupported:      # e.g. a number beyond float range, or a damaged entry
            exprs = numeric()
    if fn is None:      # off the evaluator's whitelist: SymPy's generated code
        import numpy
        import sympy as sp

        from ..core.symbols import SYMBOLS

        fn = sp.lambdify([SYMBOLS[n] for n in args], [exprs[n] for n in names], modules=[numpy],
                         docstring_limit=0, printer=_printer())
    compiled = Compiled(family, axes, args, names, fn, links)
    _CACHE[key] = compiled
    return compiled
