"""Compare symroof's step-time lower bound with published training runs (``symroof validate``).

Each run in ``derivations/published_runs.yaml`` gives a model, a chip, the published mesh, batch and
sequence length, the measured MFU and the FLOP-counting convention behind it. symroof shards the model's
graph over that mesh and takes ``roofline.step`` with the pinned book's overlap model ("sum"): only what
no implementation can avoid (the matmuls at peak FLOPs with the causal half of attention, HBM traffic, the
collectives at full link bandwidth, each ring its (n-1)/n share, the bubble of the most favourable
schedule the source allows). So it is a lower bound, and

    MFU ceiling = (model FLOPs per step, counted as the source counts them) / (chips · C · t_step)

is an upper bound on any MFU the source could have measured: one above it means symroof (or the recorded
convention) is wrong. The gap below it is what the model leaves out: kernels below peak, exposed
communication and latency, imperfect pipelines, the optimizer step. An optional efficiency factor per
family and matmul dtype (``fit_efficiency``) scales the ceiling to a prediction: a geometric mean of
measured / ceiling over the ``split: fit`` runs, checked on the ``split: check`` ones.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from fractions import Fraction
from functools import cached_property, lru_cache
from pathlib import Path

import sympy as sp

from ..core.symbols import B, T, n_micro, n_virtual
from ..errors import CardError
from ..io.bind import card_values, exact       # a run's numbers (values, mfu_peak: several times a run)
from ..io.run import recompute_share
from ..parallel.axes import BATCH_AXES, ORDER
from .efficiency_factor import Fit, fit_efficiency  # noqa: F401 (validate's; tests import them from here)

# How a source counts "model FLOPs" (the MFU numerator). The time bound never depends on it.
#   convention    what is counted per step
CONVENTIONS = {
    "6N":         "6 x parameters (embeddings included) x tokens; no attention core",
    "6N+causal":  "6N plus the attention core (QK^T, AV) forward and backward, causal half",
    "6N+full":    "6N plus the full T x T attention core (PaLM Appendix B: 12 L H Q T per token)",
    "ops+causal": "every matmul of the graph (logits included), causal attention core",
    "ops+full":   "every matmul of the graph, full attention core (Megatron 2021 formula)",
    "ops+full+recompute": "ops+full plus one more forward of every layer (full recompute; hardware "
                          "FLOPs as Narayanan et al. 2021 count them: 96BsLh^2(1+s/6h+V/16hL))",
}

_RUN_KEYS = {"name", "source", "model", "chip", "chips", "mesh", "batch", "seq",
             "microbatches", "interleave", "schedule", "recompute", "measured_mfu", "measured_tflops",
             "measured_tokens_per_s", "split", "convention", "measured_step_s", "overlap", "attention_kernel",
             "matmul_dtype", "recompute_layers", "gradient_overlap", "gradient_dtype", "dispatch_nodes", "mtp_layers",
             "stage_layers", "pipeline_layout", "expert_tensor"}
_CONFIG_REQUIRED = ("name", "source", "model", "chip", "chips", "mesh", "batch", "seq")   # symroof predict
_RUN_REQUIRED = _CONFIG_REQUIRED          # and measured_mfu or measured_step_s; split and convention have defaults
_AXES = ORDER          # the mesh axes a run may name: the one vocabulary (parallel/axes.py)
_CONVENTION_KEYS = ("flops", "stated", "peak", "note")


@dataclass(frozen=True)
class PublishedRun:
    name: str
    source: str
    model: object            # cards.ModelCard (GPT-style runs say mlp: plain in the card)
    chip: object             # chips.ChipCard
    chips: int
    mesh: dict               # axis name -> collectives.Axis
    batch: int
    seq: int
    microbatches: int
    interleave: int          # virtual stages per chip (v of the interleaved schedule)
    schedule: str            # a row of parallel/pipeline.SCHEDULES
    recompute: str | tuple   # activation recompute the source states: none, full, selective or kept tensors
    measured_mfu: sp.Rational | None          # None: a configuration to predict (symroof predict)
    measured_tflops: sp.Rational | None       # per chip, as published (optional)
    measured_tokens_per_s: sp.Rational | None  # whole system, as published (optional)
    split: str
    flops: str               # one of CONVENTIONS
    stated: bool
    peak: str
    note: str
    measured_step_s: sp.Rational | None = None  # seconds per step, as published (optional)
    spans: dict = None                          # dcn axis -> its chips inside one NVLink/ICI domain
    overlap: tuple = ()                         # axes whose activation collectives the source overlaps
    convention_given: bool = True               # False: a configuration that named none (the default counted)
    attention_kernel: str = "fused"             # fused | eager | another kernel the chip card names
    matmul_dtype: str = "bf16"                  # the blocks' weight matmuls' dtype (fp8: TransformerEngine's recipe)
    recompute_layers: int | None = None         # layers that replay under ``recompute`` (None: all of them)
    gradient_overlap: bool = True               # False: gradients reduced once the backward is done, in
    gradient_dtype: str | None = None           # this dtype (None: the parameters')
    dispatch_nodes: int | None = None           # MoE dispatch sent once per node, to at most this many
    mtp_layers: int = 0                         # multi-token-prediction modules trained (core/mtp.py)
    layout: tuple | None = None                 # its pipeline split's chunks (claims/pipeline_split.py)

    @cached_property
    def structure(self):
        """The model's graph structure (``core.graph.Structure.of``), worked out once per card."""
        from .run_checks import structure_of
        return structure_of(self.model, self.mtp_layers)

    @cached_property
    def digest(self) -> str:       # the on-disk caches' key for the run: its whole repr, digested once
        from .prediction_cache import run_repr
        return hashlib.sha256(run_repr(self).encode()).hexdigest()

    @cached_property         # ``values``: read several times a run (the run is frozen)
    def numbers(self) -> dict:
        return {**card_values(self.model, self.chip, self.rate_dtype), B: sp.Integer(self.batch), T: sp.Integer(self.seq),
                n_micro: sp.Integer(self.microbatches), n_virtual: sp.Integer(self.interleave),
                **recompute_share(self.model, self.recompute, self.recompute_layers, self.name)}

    @property
    def rate_dtype(self) -> str:
        """The dtype whose peak the ideal runs every matmul at: the MFU's, or the weight matmuls' where
        faster (an FP8 run counted against the BF16 peak), so the ideal stays a lower bound."""
        peaks = self.chip.peak_flops_per_s
        return self.matmul_dtype if peaks[self.matmul_dtype] > peaks[self.peak] else self.peak

    @property
    def graph_kernel(self) -> str:
        """The graph's attention: ``eager``, or ``fused`` for any fused kernel (their rates differ)."""
        return "eager" if self.attention_kernel == "eager" else "fused"

    @property
    def left_out(self) -> tuple:
        """The card's ``left_out`` less what this run models: the MTP modules it trains (``mtp_layers``)."""
        return tuple(n for n in self.model.left_out if not (self.mtp_layers and n.startswith("multi-token-prediction")))


@dataclass(frozen=True)
class Result:
    run: PublishedRun
    t_step: float            # predicted lower bound, seconds
    terms: dict              # t_math, t_hbm, t_comms, ... in seconds
    bound: str               # the term that sets t_step
    ceiling: float           # MFU ceiling under the run's convention
    ceilings: dict           # convention -> MFU ceiling
    t_measured: float | None  # the step time the measured MFU implies, same convention
    parts: object = None     # step_model.Parts: the step below the ideal, before calibration

    @cached_property         # SymPy's float of a Rational, asked a few thousand times by the fits
    def measured(self) -> float:
        return float(self.run.measured_mfu)

    @property
    def gap(self) -> float:
        """Ceiling minus measured, in MFU (fraction) points."""
        return self.ceiling - self.measured

    @property
    def achieved(self) -> float:
        """Measured MFU as a fraction of the ceiling (= predicted bound / measured step time)."""
        return self.measured / self.ceiling


def data_path() -> Path:
    from ..io.catalog import data_dir

    return data_dir("derivations") / "published_runs.yaml"


# ----------------------------------------------------------------------------- loading


def load_runs(path: str | Path | None = None, prediction: bool = False) -> list[PublishedRun]:
    """Read and check the published-runs file strictly; any problem is a one-line ``CardError``.
    ``prediction``: configurations to predict (``symroof predict``), measurements optional."""
    from ..io.readers import read_yaml

    path = Path(path) if path is not None else data_path()
    raw = read_yaml(path, "the published-runs file")
    if set(raw) != {"runs"} or not isinstance(raw["runs"], list) or not raw["runs"]:
        raise CardError(f"{path}: expected one key 'runs' holding a non-empty list of runs")
    runs, names, cards = [], set(), {}
    for i, entry in enumerate(raw["runs"]):
        where = f"{path}: runs[{i}]"
        if not isinstance(entry, dict):
            raise CardError(f"{where}: a run must be a mapping of keys to values")
        run = _run_from_dict(entry, where, path.parent, cards, prediction)
        if run.name in names:
            raise CardError(f"{where}: key 'name' {run.name!r} is used twice")
        names.add(run.name)
        runs.append(run)
    return runs


def _run_from_dict(raw: dict, where: str, base: Path = Path("."), cards: dict | None = None,
                   prediction: bool = False) -> PublishedRun:
    """One run, checked; ``cards`` keeps the cards already read from this file (many runs
    name the same chip and model); ``prediction``: a configuration, measurements optional."""
    from .run_checks import (_attention_kernel, _experts, _gradients, _matmul_dtype, _check_pod, _check_tensor, _check_throughput, _measured, _overlap,
                             _recompute, _recompute_layers, _resolve, _schedule, _dispatch, _mtp, _named)
    from .pipeline_split import layout
    from ..io.cards import _check_keys, _count, model_from_dict, shown_value
    from ..io.catalog import load_chip, load_model
    from ..parallel.collectives import Axis
    from ..errors import UnknownNameError

    _check_keys(raw, _RUN_KEYS, _CONFIG_REQUIRED if prediction else _RUN_REQUIRED, where)
    where = _named(raw, where)
    for key in ("name", "source"):
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise CardError(f"{where}: key '{key}' must be a non-empty string")
    cards = {} if cards is None else cards
    found = {}
    if isinstance(raw["model"], dict):     # a model written out in the run; runs that share it by a YAML
        key = ("inline", id(raw["model"]))    # alias share one mapping (alive while the file is read): one card
        got = cards.get(key)
        if got is None or got[0] is not raw["model"]:
            got = cards[key] = (raw["model"], model_from_dict(raw["model"], f"{where}: model"))
        found["model"] = got[1]
    for key in ("model", "chip"):
        if key not in found and not isinstance(raw[key], str):     # was read as str(): "unknown chip '{...}'"
            raise CardError(f"{where}: key '{key}' must be a {key} card name or path"
                            + (", or the card's keys written out" if key == "model" else "")
                            + f", got {shown_value(raw[key])}")
    try:          # a card read by name or path: its error is prefixed with the run and key that name it
        for key in ("model", "chip"):
            if key not in found:        # a model written out in the run is read above
                ref = _resolve(raw[key], base)
                load = load_model if key == "model" else load_chip
                found[key] = cards[(key, ref)] = cards.get((key, ref)) or load(ref)
    except UnknownNameError as err:
        raise CardError(f"{where}: {err}") from None
    except CardError as err:
        raise CardError(f"{where}: key '{key}': {err}") from None
    model, chip = found["model"], found["chip"]
    count = lambda value, key: _count(value, where, key)     # noqa: E731
    ints = {key: count(raw.get(key, default), key) for key, default in
            (("chips", None), ("batch", None), ("seq", None), ("microbatches", 1), ("interleave", 1))}
    model.check_positions(ints["seq"], f"{where}: key 'seq' is")
    if not isinstance(raw["mesh"], dict) or not raw["mesh"]:
        raise CardError(f"{where}: key 'mesh' must map axis names ({', '.join(_AXES)}) to {{size, link}}")
    mesh, spans = {}, {}
    for axis, spec in raw["mesh"].items():
        if axis not in _AXES:
            raise CardError(f"{where}: key 'mesh.{axis}' is not an axis; allowed: {', '.join(_AXES)}")
        if not isinstance(spec, dict):
            raise CardError(f"{where}: key 'mesh.{axis}' must be {{size: N, link: ici|dcn}}")
        _check_keys(spec, {"size", "link", "physical_axes", "inner", "wrap"}, ("size", "link"), f"{where}: mesh.{axis}")
        if spec["link"] not in ("ici", "dcn"):
            raise CardError(f"{where}: key 'mesh.{axis}.link' is {spec['link']!r}; allowed: ici, dcn")
        if not isinstance(spec.get("wrap", True), bool):
            raise CardError(f"{where}: key 'mesh.{axis}.wrap' must be true or false")
        size = count(spec["size"], f"mesh.{axis}.size")
        physical = count(spec.get("physical_axes", 1), f"mesh.{axis}.physical_axes")
        mesh[axis] = Axis(axis, sp.Integer(size), spec["link"], sp.Integer(physical), spec.get("wrap", True),
                          switched=chip.family == "gpu" and spec["link"] == "ici")
        if "inner" in spec:
            inner = count(spec["inner"], f"mesh.{axis}.inner")
            if spec["link"] != "dcn" or size % inner or inner >= size or inner > chip.pod_chips:
                raise CardError(f"{where}: key 'mesh.{axis}.inner' ({inner}) must be on a dcn axis, divide its "
                                f"size, be less than it (an axis inside one domain is ici) and fit in one "
                                f"{chip.pod_chips}-chip domain")
            spans[axis] = inner
    _check_pod(mesh, spans, chip, where)
    total = math.prod(int(a.size) for a in mesh.values())
    if total != ints["chips"]:
        raise CardError(f"{where}: key 'chips' is {ints['chips']} but the mesh sizes multiply to {total}")
    replicas = math.prod(int(mesh[a].size) for a in BATCH_AXES if a in mesh)
    if ints["batch"] % replicas:
        raise CardError(f"{where}: key 'batch' ({ints['batch']}) must divide by the batch axes' {replicas}")
    if "seq" in mesh and ints["seq"] % int(mesh["seq"].size):
        raise CardError(f"{where}: key 'seq' ({ints['seq']}) must divide by mesh.seq.size")
    _check_tensor(model, mesh, where)
    mesh = _experts(raw, model, mesh, where)
    if "stage" in mesh and "microbatches" not in raw:
        raise CardError(f"{where}: missing key 'microbatches' (required with a 'stage' axis)")
    schedule = _schedule(raw, ints, mesh, model, replicas, where)
    recompute = _recompute(raw.get("recompute", "none"), model, where, _mtp(raw, model, where).get("mtp_layers", 0))
    layers = _recompute_layers(raw, recompute, model, where)
    kernel = _attention_kernel(raw.get("attention_kernel", "fused"), chip, where)
    dtype = _matmul_dtype(raw.get("matmul_dtype", "bf16"), chip, where)
    measured = _measured(raw, chip, where, prediction, dtype, ints["batch"] * ints["seq"])
    run = PublishedRun(
        name=raw["name"], source=raw["source"].strip(), model=model, chip=chip, chips=ints["chips"], mesh=mesh,
        batch=ints["batch"], seq=ints["seq"], microbatches=ints["microbatches"], interleave=ints["interleave"],
        schedule=schedule, recompute=recompute, **measured, spans=spans, attention_kernel=kernel,
        overlap=_overlap(raw.get("overlap", []), mesh, where, _AXES), matmul_dtype=dtype, recompute_layers=layers,
        **_gradients(raw, where), **_dispatch(raw, mesh, where), **_mtp(raw, model, where),
        **layout(raw, model, mesh, ints["interleave"], schedule, _mtp(raw, model, where).get("mtp_layers", 0), where))
    step_given = run.measured_mfu is not None and run.measured_step_s is not None
    if run.measured_mfu is None and run.measured_step_s is not None:   # derived under the convention
        from .sharded_family import exact, plain

        derived = exact(model_flops(run), values(run), plain(values(run))) / (run.chips * mfu_peak(run) * run.measured_step_s)
        if not 0 < derived <= 1:
            key = "measured_step_s" if "measured_step_s" in raw else "measured_tokens_per_s"      # the key given
            raise CardError(f"{where}: key '{key}' implies an MFU of {float(derived):.3f}, not in (0, 1]")
        run = replace(run, measured_mfu=sp.Rational(derived))
    _check_throughput(run, where, step_given)
    return run


# ----------------------------------------------------------------------------- prediction


@lru_cache(maxsize=64)       # many runs share a model; the graph is read, never changed
def _built(model, attention: str, kernel: str = "fused"):
    from ..core.graph import Structure, build
    return build(Structure.of(model), attention, kernel)


def model_flops(run: PublishedRun, convention: str | None = None) -> sp.Expr:
    """Model FLOPs of one step (all chips) as ``convention`` (default: the run's) counts them."""
    return _structure_counts(run.structure)[convention or run.flops]


@lru_cache(maxsize=64)       # per model structure, every convention (symbolic in the model's sizes, B and T)
def _structure_counts(structure) -> dict:
    """Read from the on-disk expression cache by the structure's repr: a known structure's runs
    need no graph (nor networkx) to have their published throughputs checked."""
    from ..io import expression_cache as cache

    counts = cache.cached("structure_counts", {"structure": repr(structure)}, lambda: _count_conventions(structure))
    return counts if set(counts) == set(CONVENTIONS) else _count_conventions(structure)    # a damaged entry


def _count_conventions(structure) -> dict:
    from ..core import derive
    from ..core.graph import build
    from ..core.recompute import apply

    causal, full = build(structure, "causal"), build(structure, "full")
    core = {"causal": derive.attention_core(causal), "full": derive.attention_core(full)}
    six_n = derive.flops(causal, None, "6N")
    return {
        "6N":         six_n,
        "6N+causal":  six_n + 3 * core["causal"],      # backward of the core is twice its forward
        "6N+full":    six_n + 3 * core["full"],
        "ops+causal": derive.flops(causal),
        "ops+full":   derive.flops(full),
        # the replayed layer forwards of full recompute: work the source counts, not model FLOPs
        "ops+full+recompute": derive.hardware_flops(apply(full, "full")),
    }


def values(run: PublishedRun) -> dict:
    """Every symbol's number for this run: model card, chip card (``C`` the peak its fastest matmuls
    run at, ``rate_dtype``'s), run settings, batch, schedule. One dict per run: read it, or copy it."""
    return run.numbers


def mfu_peak(run: PublishedRun) -> sp.Rational:
    """The MFU's denominator per chip: the peak of the convention's dtype."""
    return exact(run.chip.peak_flops_per_s[run.peak])


def predict(run: PublishedRun) -> Result:
    """Step-time lower bound, MFU ceilings under every convention, and the measured step time."""
    from ..parallel import step_numbers

    nums = values(run)
    # The least work the hardware must do: the causal half of the attention core. The replayed
    # forward ops of recompute are work the hardware must do (sharded_family.py: sharded once per
    # shape of run, this run's numbers put in exactly). roofline.step's terms are computed with the
    # numbers (parallel/roofline_numbers.py: exact ints and Fractions, the same values as the symbolic
    # terms evaluated), on the chip the step is charged for (claims/busiest_chip.py).
    from .busiest_chip import charged
    from .sharded_family import exact_all, plain, replicated

    work_nums = replicated(run, nums)       # the work's numbers; the model FLOPs keep the card's KV heads
    numbers = plain(work_nums)
    _, seconds, parts = charged(run, work_nums, numbers)
    t_step = seconds["t_step"]
    bound = max(("t_math", "t_hbm", "t_comms"), key=lambda key: seconds[key])
    capacity = run.chips * step_numbers.exact(mfu_peak(run))     # exact: Python ints and Fractions from here on
    work = Fraction(capacity * t_step)
    by_convention = _structure_counts(run.structure)        # model_flops for each, looked up once
    counts = dict(zip(CONVENTIONS, exact_all(tuple(by_convention[conv] for conv in CONVENTIONS), nums,
                                             plain(nums) if work_nums is not nums else numbers)))
    ceilings, flops = {conv: _float_over(count, work) for conv, count in counts.items()}, counts[run.flops]
    measured_step = None if run.measured_mfu is None else \
        _float_over(flops, Fraction(capacity * step_numbers.exact(run.measured_mfu)))
    return Result(run, float(t_step), {k: float(v) for k, v in seconds.items()}, bound[2:],
                  ceilings[run.flops], ceilings, measured_step, parts)


def _float_over(a, b: Fraction) -> float:
    """``float(Fraction(a) / b)``: a whole ``a`` over ``b`` as one correctly rounded division of
    integers, as ``float`` of the reduced Fraction is, without reducing it (a gcd of big integers)."""
    if type(a) is int:
        return a * b.denominator / b.numerator
    return float(Fraction(a) / b)


def validate(path: str | Path | None = None) -> tuple[list[Result], list[Fit]]:
    from .prediction_cache import predict as cached
    results = cached(load_runs(path))
    return results, fit_efficiency(results)


# ----------------------------------------------------------------------------- output


def as_json(results: list[Result], fits: list[Fit]) -> dict:
    """The ceiling table, the efficiency factors, and the calibrated step model (claims/validate_json.py)."""
    from .validate_json import as_json as full, ceiling_json

    return full(results, fits, ceiling_json(results, fits))
