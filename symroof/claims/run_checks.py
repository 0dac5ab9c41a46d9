"""Checks on a published run that need more than one key: impossible meshes and pipelines,
throughputs that disagree with the MFU, and card paths relative to the runs file."""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

from ..errors import CardError
from ..io.cards import shown_value


def _resolve(ref, base: Path) -> str:
    """A card named by a relative file path is read relative to the runs file, not the cwd."""
    ref = str(ref)
    path = Path(ref)
    if path.suffix in (".yaml", ".yml", ".json") and not path.is_absolute():
        return str(base / path)
    return ref


def _named(raw: dict, where: str) -> str:
    """``where`` with the run's name, which heads every error and row: one line of printable text (a line
    break, a NUL or a bidi override printed as it is), quoted cut short."""
    from ..io.cards import shown_text

    name = raw["name"]
    if not isinstance(name, str) or not name.strip() or not name.isprintable():
        raise CardError(f"{where}: key 'name' must be a non-empty line of printable text, got {shown_value(name)}")
    return f"{where} ({name if len(name) <= 60 else shown_text(name)})"


def _check_pod(mesh: dict, spans: dict, chip, where: str) -> None:
    """Fast-link axes must fit in one pod, on no more physical axes than its torus has."""
    for a in mesh.values():
        if a.n_physical != 1 and (a.link != "ici" or chip.family != "tpu"):
            # a switched NVLink domain and the scale-out network have no torus axes to span (it would
            # multiply the axis's bandwidth)
            raise CardError(f"{where}: key 'mesh.{a.name}.physical_axes' is {a.n_physical}; only an ici axis "
                            f"of a TPU torus spans more than one physical axis")
    fast = [a for a in mesh.values() if a.link == "ici"]
    inside = math.prod(int(a.size) for a in fast) * math.prod(spans.values())
    for a in fast:
        if int(a.size) > chip.pod_chips:
            raise CardError(f"{where}: key 'mesh.{a.name}.size' ({int(a.size)}) is larger than the "
                            f"{chip.pod_chips}-chip pod of {chip.name}")
    if inside > chip.pod_chips:
        raise CardError(f"{where}: key 'mesh' puts {inside} chips on ici links, more than the "
                        f"{chip.pod_chips}-chip pod of {chip.name}")
    physical = sum(int(a.n_physical) for a in fast)
    if chip.family == "tpu" and physical > len(chip.pod_shape):
        raise CardError(f"{where}: key 'mesh' spans {physical} physical axes, but the "
                        f"{chip.name} torus has {len(chip.pod_shape)}")



# A published throughput must agree with the published MFU and the card's peak to within the
# rounding of the printed numbers (2 %), or the run's convention, peak or batch is wrong.
_THROUGHPUT_TOLERANCE = 0.02


def _check_tensor(model, mesh: dict, where: str) -> None:
    """A tensor degree must divide what the tensor axis splits (axes.DIVIDES: heads, d_ff) and divide
    the KV heads or be a multiple of them (replicated, axes.kv_problem), as the planner requires."""
    from ..parallel.axes import DIVIDES, kv_problem, split_sizes

    if "tensor" not in mesh:
        return
    y = int(mesh["tensor"].size)
    if kv_problem(model, y):
        raise CardError(f"{where}: key 'mesh.tensor.size': {kv_problem(model, y)}")
    sizes = split_sizes(model, 1, 1)
    for what in DIVIDES["tensor"]:
        if what != "kv_heads" and sizes[what] and sizes[what] % y:
            raise CardError(f"{where}: key 'mesh.tensor.size' ({y}) must divide the model's {sizes[what]} "
                            f"{what.replace('_', ' ')}")


def _experts(raw: dict, model, mesh: dict, where: str) -> dict:
    """The mesh's expert axis checked against the model, and ``expert_tensor`` (Megatron-Core's
    --expert-tensor-parallel-size): the tensor axis's size (the default: the experts' width split
    over it) or 1 (MoE parallel folding: the experts whole, over the expert and tensor axes together,
    axes.folds_experts). The mesh, its tensor axis marked where it folds."""
    from dataclasses import replace
    from ..io.cards import _count

    ep = int(mesh["expert"].size) if "expert" in mesh else 1
    tp = int(mesh["tensor"].size) if "tensor" in mesh else 1
    etp = tp if raw.get("expert_tensor") is None else _count(raw["expert_tensor"], where, "expert_tensor")
    if "expert" in mesh and model.n_experts < 2:
        raise CardError(f"{where}: key 'mesh.expert': a dense model has no expert axis")
    if etp != tp and model.n_experts < 2:
        raise CardError(f"{where}: key 'expert_tensor': a dense model has no routed experts to lay out")
    if etp not in (1, tp):
        raise CardError(f"{where}: key 'expert_tensor' is {etp}; allowed: {tp} (mesh.tensor.size: each expert's "
                        f"width split over the tensor axis) or 1 (each expert whole, the tensor axis folded "
                        f"into the expert-parallel group)")
    group = ep * (tp if etp != tp else 1)
    if model.n_experts and model.n_experts % group:
        what = "mesh.expert.size" if etp == tp else "mesh.expert.size x mesh.tensor.size"
        raise CardError(f"{where}: key '{what}' ({group}) must divide the model's {model.n_experts} experts")
    return {**mesh, "tensor": replace(mesh["tensor"], experts=True)} if etp != tp else mesh


def _check_throughput(run, where: str, step_given: bool = False) -> None:
    """The published throughputs, where given, against the measured MFU (under the run's peak and
    FLOP convention); the step time too where the MFU was published beside it (``step_given``)."""
    if run.measured_tflops is None and run.measured_tokens_per_s is None and not step_given:
        return
    from .published import mfu_peak, model_flops, values
    from .sharded_family import exact, plain

    nums = values(run)
    peak = mfu_peak(run)
    counted = run.measured_tokens_per_s is not None or step_given
    flops = exact(model_flops(run), nums, plain(nums)) if counted else None
    mfu = float(run.measured_mfu)
    implied = {}
    if run.measured_tflops is not None:
        implied["measured_tflops"] = float(run.measured_tflops) * 1e12 / float(peak)
    if run.measured_tokens_per_s is not None:
        tokens = run.batch * run.seq
        implied["measured_tokens_per_s"] = float(run.measured_tokens_per_s * flops / tokens) / (run.chips * float(peak))
    if step_given:
        implied["measured_step_s"] = float(flops / (run.chips * peak * run.measured_step_s))
    for key, value in implied.items():
        if abs(value / mfu - 1) > _THROUGHPUT_TOLERANCE:
            raise CardError(f"{where}: key '{key}' implies an MFU of {value:.3f} with the {run.peak} peak "
                            f"and the {run.flops} count, but 'measured_mfu' is {mfu:.3f}")


# What ``symroof predict`` counts as MFU where a configuration states no convention: every matmul
# of the graph with the causal attention core, at the bf16 peak (its matmul_dtype's), the work the hardware must do (6N
# would count the embedding gather as matmul work: ceilings above 100 %). The output names it.
DEFAULT_CONVENTION = {"flops": "ops+causal", "stated": False, "peak": "bf16",
                      "note": "no convention given: symroof predict counts every matmul, causal attention core"}
NO_CONVENTION_NOTE = ("no convention given: the measured MFU read as every matmul with the causal attention core "
                      "at the peak of the run's matmul dtype; every convention checked")


def _measured(raw: dict, chip, where: str, prediction: bool = False, matmul_dtype: str = "bf16",
              tokens_per_step: int | None = None) -> dict:
    """A run's measurements, split and FLOP convention, checked (PublishedRun's fields). A run to
    validate needs a measured MFU, step time or throughput (a step of ``tokens_per_step`` tokens at
    that rate; TFLOP/s per chip over the convention's peak; split: check and the default convention
    where it names none); a
    configuration to predict (``prediction``) may have none of them (its MFU then at its weight
    matmuls' peak)."""
    import sympy as sp

    from .published import _CONVENTION_KEYS, CONVENTIONS
    from ..io.cards import _check_keys, parse_number

    alone = "measured_tokens_per_s" in raw or "measured_tflops" in raw       # a throughput, perhaps alone
    if "measured_mfu" not in raw and "measured_step_s" not in raw and not alone and not prediction:
        raise CardError(f"{where}: missing key 'measured_mfu' (or 'measured_step_s', 'measured_tokens_per_s' "
                        f"or 'measured_tflops' to derive it from)")
    out = {"measured_mfu": None}
    if "measured_mfu" in raw:
        mfu = parse_number(raw["measured_mfu"], where, "measured_mfu")
        if not 0 < mfu <= 1:
            raise CardError(f"{where}: key 'measured_mfu' must be a fraction in (0, 1], got {raw['measured_mfu']!r}")
        out["measured_mfu"] = sp.Rational(mfu.numerator, mfu.denominator)
    for key in ("measured_tflops", "measured_tokens_per_s", "measured_step_s"):
        number = parse_number(raw[key], where, key) if key in raw else None
        if number is not None and number <= 0:
            raise CardError(f"{where}: key '{key}' must be positive, got {raw[key]!r}")
        out[key] = None if number is None else sp.Rational(number.numerator, number.denominator)
    if alone and out["measured_mfu"] is None and out["measured_step_s"] is None and out["measured_tokens_per_s"]:
        out["measured_step_s"] = sp.Integer(tokens_per_step) / out["measured_tokens_per_s"]
    # A run without a split is never fitted; without a convention its MFU is read as the default
    # count, and every convention is checked as for a source that states none (the outputs say so).
    split = raw.get("split", "predict" if prediction else "check")
    if split not in ("fit", "check") and not (prediction and split == "predict"):
        raise CardError(f"{where}: key 'split' is {split!r}; allowed: fit, check" + (", predict" if prediction else ""))
    default = DEFAULT_CONVENTION if matmul_dtype == "bf16" else {**DEFAULT_CONVENTION, "peak": matmul_dtype}
    if not prediction:
        default = {**default, "note": NO_CONVENTION_NOTE}
    conv = raw.get("convention", default)
    if not isinstance(conv, dict):
        raise CardError(f"{where}: key 'convention' must be a mapping with {', '.join(_CONVENTION_KEYS)}")
    _check_keys(conv, set(_CONVENTION_KEYS), _CONVENTION_KEYS[:-1], f"{where}: convention")    # note optional
    if not isinstance(conv["flops"], str) or conv["flops"] not in CONVENTIONS:
        raise CardError(f"{where}: key 'convention.flops' is {conv['flops']!r}; "
                        f"allowed: {', '.join(CONVENTIONS)}")
    if not isinstance(conv["stated"], bool):
        raise CardError(f"{where}: key 'convention.stated' must be true or false")
    if not isinstance(conv["peak"], str) or conv["peak"] not in chip.peak_flops_per_s:
        raise CardError(f"{where}: key 'convention.peak' is {conv['peak']!r}; "
                        f"allowed: {', '.join(chip.peak_flops_per_s)}")
    if alone and out["measured_mfu"] is None and out["measured_step_s"] is None:     # TFLOP/s per chip alone
        mfu = out["measured_tflops"] * 10**12 / sp.Rational(chip.peak_flops_per_s[conv["peak"]])
        if not 0 < mfu <= 1:
            raise CardError(f"{where}: key 'measured_tflops' is {float(mfu):.3f} of the {conv['peak']} peak, not in (0, 1]")
        out["measured_mfu"] = mfu
    return {**out, "split": split, "flops": conv["flops"], "stated": conv["stated"], "peak": conv["peak"],
            "note": str(conv.get("note") or "").strip(), "convention_given": conv is not default}


def _attention_kernel(kernel, chip, where: str) -> str:
    """``fused`` (the card's default kernel), ``eager``, or another fused kernel the chip card names."""
    allowed = ("fused", "eager", *chip.attention_kernels)
    if kernel not in allowed:
        raise CardError(f"{where}: key 'attention_kernel' is {kernel!r}; allowed: {', '.join(allowed)}")
    return kernel


# The dtypes a run's weight matmuls may run in: bf16, or fp8 as TransformerEngine runs it (step_options.py)
MATMUL_DTYPES = ("bf16", "fp8")


def _matmul_dtype(dtype, chip, where: str) -> str:
    """The blocks' weight matmuls' dtype: one the chip card has a peak for (bf16 beside it, for the
    rest of the matmuls)."""
    allowed = [d for d in MATMUL_DTYPES if d in chip.peak_flops_per_s] if "bf16" in chip.peak_flops_per_s else []
    if dtype != "bf16" and dtype not in allowed:
        raise CardError(f"{where}: key 'matmul_dtype' is {dtype!r}; allowed for {chip.name}: "
                        f"{', '.join(allowed) or 'bf16 (the card has no bf16 peak for the other matmuls)'}")
    return dtype


def _gradients(raw: dict, where: str) -> dict:
    """How the source reduces gradients over the batch axes: overlapped with the backward (the
    default) or once it is done, and in which dtype (default: the parameters')."""
    overlap, dtype = raw.get("gradient_overlap", True), raw.get("gradient_dtype")
    if not isinstance(overlap, bool):
        raise CardError(f"{where}: key 'gradient_overlap' must be true or false, got {overlap!r}")
    if dtype is not None and dtype not in ("fp32", "bf16", "fp16"):
        raise CardError(f"{where}: key 'gradient_dtype' is {dtype!r}; allowed: fp32, bf16, fp16")
    if not overlap:
        from ..parallel.step_table import BATCH_AXES

        # the two keys would disagree on whether those reductions hide; ZeRO-3 reduces each
        # layer's gradients during the backward, as no after-the-backward framework does
        both = [a for a in raw.get("overlap") or () if a in BATCH_AXES] + (["fsdp"] if "fsdp" in raw["mesh"] else [])
        if both:
            raise CardError(f"{where}: key 'gradient_overlap' is false, but the run overlaps or shards weights "
                            f"over {', '.join(dict.fromkeys(both))}; drop one")
    return {"gradient_overlap": overlap, "gradient_dtype": dtype}


def _dispatch(raw: dict, mesh: dict, where: str) -> dict:
    """``dispatch_nodes``: the run's MoE dispatcher sends each token over the scale-out network once
    per node that holds its experts, to at most this many nodes (node-limited routing with the
    DeepSeek-V3 report's all-to-all, arXiv 2412.19437, 2.1.2 and 3.2.2); absent, once per expert."""
    if "dispatch_nodes" not in raw:
        return {}
    from ..io.cards import _count

    nodes = _count(raw["dispatch_nodes"], where, "dispatch_nodes")
    if "expert" not in mesh or mesh["expert"].link != "dcn":
        raise CardError(f"{where}: key 'dispatch_nodes' needs an expert axis on the dcn link (mesh.expert.link: dcn); "
                        f"inside one fast domain every copy crosses it anyway")
    return {"dispatch_nodes": nodes}


def _mtp(raw: dict, model, where: str) -> dict:
    """``mtp_layers``: the run trains this many multi-token-prediction modules after the head (DeepSeek-V3's
    D; a config's num_nextn_predict_layers says how many the checkpoint holds, not whether a run trains
    them); absent, none. At most the model's layers (each module is one more)."""
    if "mtp_layers" not in raw:
        return {}
    from ..io.cards import _count

    got = _count(raw["mtp_layers"], where, "mtp_layers")
    if got > model.n_layers:
        raise CardError(f"{where}: key 'mtp_layers' is {got}, more modules than the model's {model.n_layers} layers")
    return {"mtp_layers": got}


def _overlap(axes, mesh: dict, where: str, known: tuple) -> tuple:
    """Axes whose activation collectives the source overlaps with compute; axes the mesh lacks are
    dropped (one anchor can serve rows with different meshes)."""
    if not isinstance(axes, list) or any(a not in known for a in axes) or len(set(axes)) < len(axes):
        raise CardError(f"{where}: key 'overlap' must list axis names ({', '.join(known)}), each once")
    return tuple(a for a in axes if a in mesh)


def _recompute(value, model, where: str, mtp: int = 0):
    """A policy name, or a list of the block's tensors kept for the backward pass (the rest of
    what it reads is replayed, as a JAX checkpoint policy does; [] keeps only the block input);
    ``mtp``: the run's multi-token-prediction modules (``_tensor_names``)."""
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise CardError(f"{where}: key 'recompute' must list tensor names, got {value!r}")
        known = _tensor_names(model, mtp)
        if len(set(value)) < len(value):
            raise CardError(f"{where}: key 'recompute' must list each tensor once, got {shown_value(value)}")
        unknown = [v for v in value if v not in known]
        if unknown:
            raise CardError(f"{where}: key 'recompute' keeps {unknown[0]!r}, not a tensor of the model's "
                            f"blocks; known: {', '.join(known)}")
        return tuple(value)
    if value not in ("none", "full", "selective"):
        raise CardError(f"{where}: key 'recompute' is {value!r}; allowed: none, full, selective, "
                        f"or a list of tensor names to keep")
    return value


def _recompute_layers(raw: dict, recompute, model, where: str):
    """How many of the model's layers replay under ``recompute`` (the rest keep every tensor), or
    None: all of them. Megatron-LM's recompute_method block with recompute_num_layers n per stage of
    p stages (and v virtual ones) is n x p x v; torchtitan's selective_ac_option k (every k-th
    block) is L // k. A model of several block types replays the same share of each."""
    if "recompute_layers" not in raw:
        return None
    from ..io.run import recompute_share
    from ..io.cards import _count

    n = _count(raw["recompute_layers"], where, "recompute_layers")
    return n if recompute_share(model, recompute, n, f"{where}: key 'recompute_layers'") else None


def _schedule(raw: dict, ints: dict, mesh: dict, model, replicas: int, where: str) -> str:
    """The run's pipeline schedule: as named, else interleaved when ``interleave`` > 1, else 1F1B
    (Megatron-LM's default); refused where the pipeline cannot run (pipeline.check)."""
    from ..parallel import pipeline
    from ..errors import InfeasibleError

    v = ints["interleave"]
    name = raw.get("schedule", "interleaved" if v > 1 else "1f1b")
    if name not in pipeline.NAMES:
        raise CardError(f"{where}: key 'schedule' is {name!r}; allowed: {', '.join(pipeline.NAMES)}")
    if name == "dualpipev":     # two chunks per chip, in a V
        if "interleave" in raw and v != 2:
            raise CardError(f"{where}: key 'interleave' is {v}, but DualPipeV runs 2 chunks per chip (say 2 or leave it out)")
        v = ints["interleave"] = 2
    elif v > 1 and name != "interleaved":
        raise CardError(f"{where}: key 'interleave' is {v}, but only the interleaved schedule has "
                        f"virtual stages (key 'schedule' is {name!r})")
    if "stage" not in mesh:
        if name in ("zb1p", "dualpipe", "dualpipev"):
            raise CardError(f"{where}: key 'schedule' is {name!r}, a pipeline schedule, but the mesh has no 'stage' axis")
        if v > 1:
            raise CardError(f"{where}: key 'interleave' is {v}, but virtual stages need a 'stage' axis")
        if ints["microbatches"] > ints["batch"] // replicas:
            raise CardError(f"{where}: key 'microbatches' ({ints['microbatches']}) is more than the "
                            f"{ints['batch'] // replicas} sequences each data-parallel replica has")
    else:
        try:
            n_blocks = sum(count for _, count in pipeline.blocks(model.n_layers))
            pipeline.check(n_blocks, int(mesh["stage"].size), v, ints["microbatches"],
                           ints["batch"] // replicas, where, name)
        except InfeasibleError as err:
            raise CardError(str(err)) from None
    return name


def structure_of(model, mtp: int = 0):
    """``Structure.of(model)``, made once per card (frozen: it cannot change), with ``mtp`` multi-token-
    prediction modules: the runs of one model (a card read once per runs file, or written out once and
    shared by a YAML alias) share it, where each run made its blocks again (a Block of forty fields per
    block type)."""
    got = _STRUCTURES.get((id(model), mtp))
    if got is None or got[0] is not model:
        from dataclasses import replace

        from ..core.graph import Structure

        if len(_STRUCTURES) > 4096:
            _STRUCTURES.clear()
        structure = Structure.of(model)
        got = _STRUCTURES[id(model), mtp] = (model, replace(structure, mtp=mtp) if mtp else structure)
    return got[1]


_STRUCTURES: dict = {}      # (id(card), MTP modules) -> (card, its structure); the card kept: its id is not reused


def _tensor_names(model, mtp: int = 0) -> list:
    """The tensors a list policy may keep, from the graph of the model's structure (kept in the
    on-disk cache by the structure's repr: a known structure's runs need no graph, and the many
    models of one structure share one entry); ``mtp``: the run's modules, which add no such tensor
    but make the graph the run's other uses build."""
    from ..io import expression_cache as cache

    structure = structure_of(model, mtp)
    key = {"structure": repr(structure)}
    if key["structure"] in _NAMES:
        return _NAMES[key["structure"]]
    found = cache.load_data("tensor_names", key)
    if isinstance(found, list) and all(isinstance(n, str) for n in found):
        names = found
    else:
        names = list(_structure_names(structure))
        cache.store_data("tensor_names", key, names)
    _NAMES[key["structure"]] = names
    return names


_NAMES: dict = {}         # this process's, by structure


@lru_cache(maxsize=None)      # the names follow from the graph, so from the model's structure
def _structure_names(structure) -> tuple:
    from ..core.graph import build
    from ..core.recompute import tensor_names

    return tuple(tensor_names(build(structure, "causal")))
