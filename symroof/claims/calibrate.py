"""Calibrate the step model once per chip, and score it against a constant-MFU guess.

At most two numbers per chip card, fitted on the runs marked ``split: fit`` only:

- ``eta_mm``: the fraction of the kernel-efficiency model's rate the matmuls reach;
- the second number is what the card cannot state:
  - ``t_dcn``, the latency of one ring step on the scale-out (DCN) network, the alpha of the
    alpha-beta model, charged for every step of every collective on a dcn link (the step model's
    ``dcn_steps``), where the card records no ``dcn_step_latency_s`` (no TPU document states one;
    the published multi-slice runs lose MFU in proportion to their layer count times their
    slices, which is what it measures);
  - ``eta_mem``, the fraction of HBM bandwidth the memory-bound kernels reach (the norms,
    activations, softmax and optimizer update: an unfused framework moves each tensor more often
    than the graph's one read and one write), where the card does state the step latency (a GPU
    card: NCCL's own tuning table), so t_dcn is read, not fitted.

The objective is the squared log error of the step time (measured step time, or the one the
measured MFU implies under the source's convention). A second number is fitted only where the fit
rows can see it, else it keeps its ideal value: ``t_dcn`` when a fit run pays DCN ring steps (the
step model's ``dcn_steps``) and there are at least two fit runs (else 0; with one multi-slice row
beside single-slice ones, which pin eta_mm, t_dcn takes up that row's whole residual, so the
check rows are what tell whether it holds), ``eta_mem`` when the fit runs are of at least three models (else 1;
the memory-bound share is a property of a model's shapes, so runs of one or two models cannot tell
it from eta_mm). A number the rows cannot see would be fitted to noise.
Neither number ever enters the ceiling.

The baseline it must beat: the mean measured MFU of the same fit runs, predicted for every run
of that chip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import sympy as sp

from .fit_loss import fit_pairs, loss
from .step_options import step_options

# ----------------------------------------------------------------------------- a run's step-model parts


def numeric(sg, nums: dict):
    """The sharded graph with this run's numbers put into every per-chip cost (exact rationals):
    the model's symbols go, the hardware's (C, W_hbm, W_ici, W_dcn) are numbers too."""
    from dataclasses import replace

    out = sg.copy()
    for _, d in out.nodes(data=True):
        for key in ("local_flops", "local_bytes", "local_vector_flops", "repeat"):
            if key in d:
                d[key] = _sub(d[key], nums)
        if "collectives" in d:
            d["collectives"] = [replace(c, volume=_sub(c.volume, nums),
                                        ranks=None if c.ranks is None else _sub(c.ranks, nums))
                                for c in d["collectives"]]
    out.graph["sizes"] = {k: _sub(v, nums) for k, v in sg.graph["sizes"].items()}
    return out


def _sub(expr, nums: dict):
    return expr.xreplace(nums) if isinstance(expr, sp.Basic) else sp.Integer(expr)


def step_parts(run, nums: dict, sg=None, numbers: dict | None = None, place=None):
    """The step model's parts for this run (parallel/step_model.py), options from the chip card, computed
    with its numbers (parallel/step_numbers.py; ``sg``: the run's graph for its attention kernel with exact
    numbers in, ``sharded_family.numbered``'s; ``numbers``: ``plain(nums)``; ``place``: the chip charged)."""
    from ..parallel import step_model, step_numbers
    from .sharded_family import numbered, sharded

    opts = step_options(run)
    if sg is None:             # the ceiling keeps fused; sharded once per shape of run (sharded_family.py)
        sg = numbered(run, nums, run.graph_kernel, numbers=numbers, place=place)
    try:
        return step_numbers.parts(sg, nums, opts)
    except step_numbers.NotExact:        # a number the exact path does not take: SymPy's
        return step_model.parts(sharded(run, nums, run.graph_kernel, place=place), nums, opts)


# ----------------------------------------------------------------------------- fitting

# t_dcn up to 10 ms a ring step: far above any network's latency, so that a fit which loads a
# multi-slice slowdown onto it (v5p's: 1.2 ms) ends inside the range and its interval shows it
BOUNDS = {"eta_mm": (0.05, 1.0), "t_dcn": (0.0, 1e-2), "eta_mem": (0.05, 1.0)}
MEM_MODELS = 3           # eta_mem is fitted on runs of at least this many models


@dataclass(frozen=True)
class Calibration:
    chip: str
    eta_mm: float
    t_dcn: float
    fit_runs: tuple
    source: str                  # "fit" (this data's fit rows), "card" (the card's block) or "none"
    baseline_mfu: float | None   # mean measured MFU of the fit rows (those with BF16 matmuls, where any)
    eta_mem: float = 1.0
    fitted: tuple = ()           # the numbers fitted (the rest are the card's or the ideal limits)
    baselines: tuple = ()        # (matmul dtype, mean measured MFU of its fit rows) for the other dtypes
    baseline_dtypes: tuple = ()  # the matmul dtypes of the fit rows baseline_mfu is the mean of (a fit's)

    def baseline(self, run) -> float | None:
        """The constant-MFU guess for a run: its matmul dtype's (against that dtype's peak), else baseline_mfu."""
        return dict(self.baselines).get(run.matmul_dtype, self.baseline_mfu)

    @property
    def numbers(self) -> dict:
        """The step model's keyword arguments (``Parts.step``)."""
        return {"eta_mm": self.eta_mm, "t_dcn": self.t_dcn, "eta_mem": self.eta_mem}


@dataclass(frozen=True)
class Prediction:
    name: str
    chip: str
    split: str
    predicted_step_s: float
    measured_step_s: float
    step_published: bool         # the source printed the step time (else implied by its MFU)
    predicted_mfu: float
    measured_mfu: float
    baseline_mfu: float | None
    terms: dict


def target_step(result) -> tuple[float, bool]:
    run = result.run
    if run.measured_step_s is not None:
        return float(run.measured_step_s), True
    return result.t_measured, False


def _loss(rows, eta_mm, t_dcn, eta_mem=1.0) -> float:
    """Squared log step error over ``rows`` (``fit_pairs``: (parts, target step seconds) of each fit run)."""
    return loss(rows, eta_mm, t_dcn, eta_mem)


def _minimise(f, lo: float, hi: float, tol: float = 1e-9) -> float:
    """Minimise a unimodal ``f`` on [lo, hi] to within ``tol`` (relative) by Brent's method
    (Brent 1973, "Algorithms for Minimization without Derivatives", ch. 5): a parabola through
    the three best points where it lands well inside the bracket, a golden-section step where it
    does not. About fifteen evaluations on a smooth minimum where golden section takes fifty; the
    loss is flat to sqrt(machine epsilon) around its minimum, so nothing finer is meaningful.
    Brent never evaluates the ends: a minimum at one (t_dcn 0 where no latency shows) is that end,
    not a point a hair inside it."""
    golden = (3 - math.sqrt(5)) / 2
    a, b = lo, hi
    x = w = v = a + golden * (b - a)
    fx = fw = fv = f(x)
    step = before = 0.0                     # the last step, and the one before it
    for _ in range(200):
        mid = (a + b) / 2
        tol1 = tol * abs(x) + 1e-15
        if abs(x - mid) <= 2 * tol1 - (b - a) / 2:
            break
        parabolic = False
        if abs(before) > tol1:              # fit a parabola through x, w, v
            r = (x - w) * (fx - fv)
            q = (x - v) * (fx - fw)
            p = (x - v) * q - (x - w) * r
            q = 2 * (q - r)
            p, q = (-p, q) if q > 0 else (p, -q)
            if abs(p) < abs(q * before / 2) and q * (a - x) < p < q * (b - x):
                before, step = step, p / q
                parabolic = True
                if (x + step) - a < 2 * tol1 or b - (x + step) < 2 * tol1:
                    step = tol1 if x < mid else -tol1
        if not parabolic:                   # golden section into the larger part
            before = (b - x) if x < mid else (a - x)
            step = golden * before
        u = x + (step if abs(step) >= tol1 else math.copysign(tol1, step))
        fu = f(u)
        if fu <= fx:
            a, b = (a, x) if u < x else (x, b)
            v, w, x, fv, fw, fx = w, x, u, fw, fx, fu
        else:
            a, b = (u, b) if u < x else (a, u)
            if fu <= fw or w == x:
                v, w, fv, fw = w, u, fw, fu
            elif fu <= fv or v in (x, w):
                v, fv = u, fu
    f_end, end = min((f(lo), lo), (f(hi), hi))
    return end if f_end <= fx else x


def fit(results) -> dict:
    """The fitted numbers (``eta_mm``, ``t_dcn``, ``eta_mem`` and ``fitted``, their names)
    minimising the squared log step error over ``results`` (fit rows); read from the on-disk cache
    when the same runs were fitted before by the same symroof (the fit is a function of the runs
    alone: their parts follow from them)."""
    from ..io import expression_cache as cache

    key = fit_key(results)
    found = cache.load_data("calibration_fit", key)
    if _intact(found):
        return {**found, "fitted": tuple(found["fitted"])}
    out = _fit(results)
    cache.store_data("calibration_fit", key, {**out, "fitted": list(out["fitted"])})
    return out


def fit_key(results) -> dict:
    """The fit's key: its runs, each digested as the predictions' cache does (their reprs in full were a
    megabyte written and read back per chip)."""
    return {"runs": [r.run.digest for r in results]}


def _intact(found) -> bool:
    """A cached fit as ``_fit`` stores it: each number a float within its bounds, and the names of the
    fitted ones, eta_mm first and no name twice (a damaged entry is fitted again, not trusted)."""
    if not isinstance(found, dict) or set(found) != set(BOUNDS) | {"fitted"}:
        return False
    fitted = found["fitted"]
    return (all(isinstance(found[k], float) and lo <= found[k] <= hi for k, (lo, hi) in BOUNDS.items())
            and isinstance(fitted, list) and fitted[:1] == ["eta_mm"] and len(set(fitted)) == len(fitted)
            and all(name in BOUNDS for name in fitted) and len(fitted) <= 2)


def _fit(results) -> dict:
    rows = fit_pairs(results)
    stated = results[0].run.chip.dcn_step_latency_s
    numbers = {"t_dcn": 0.0 if stated is None else float(stated), "eta_mem": 1.0}
    if stated is not None:      # the card states t_dcn: the second number is eta_mem, seen across models
        second = "eta_mem" if len({r.run.model.name for r in results}) >= MEM_MODELS else None
    else:                       # t_dcn, seen by runs that pay DCN ring steps; with at least two runs
        # it and eta_mm are two numbers for as many rows or more (one such row beside single-slice
        # ones: that row's residual)
        second = "t_dcn" if any(r.parts.dcn_steps > 0 for r in results) and len(results) > 1 else None
    loss = lambda x, v: _loss(rows, x, **{**numbers, **({second: v} if second else {})})   # noqa: E731
    best_mm = lambda v: _minimise(lambda x: loss(x, v), *BOUNDS["eta_mm"])                  # noqa: E731
    if second:      # the two trade against each other: minimise the loss at each value's best eta_mm
        numbers[second] = _minimise(lambda v: loss(best_mm(v), v), *BOUNDS[second])
    eta_mm = best_mm(numbers[second] if second else None)
    return {"eta_mm": eta_mm, **numbers, "fitted": ("eta_mm", second) if second else ("eta_mm",)}


def calibrations(results) -> dict[str, Calibration]:
    """Per chip: fitted on this data's fit rows if it has any, else the card's recorded numbers, else none."""
    out = {}
    for chip in sorted({r.run.chip.name for r in results}):
        mine = [r for r in results if r.run.chip.name == chip]
        fit_rows = [r for r in mine if r.run.split == "fit"]
        card = mine[0].run.chip.calibration
        if fit_rows:
            out[chip] = fitted(chip, fit_rows)
        elif card:
            out[chip] = from_card(mine[0].run.chip)
        else:
            out[chip] = Calibration(chip, 1.0, 0.0, (), "none", None)
    return out


def fitted(chip: str, fit_rows: list) -> Calibration:
    """``fit``'s calibration of ``chip`` on its fit rows, and the constant-MFU baseline: their mean measured MFU."""
    got = fit(fit_rows)
    by_dtype: dict = {}
    for r in fit_rows:
        by_dtype.setdefault(r.run.matmul_dtype, []).append(r.measured)
    means = {dtype: sum(m) / len(m) for dtype, m in sorted(by_dtype.items())}
    baseline = means.pop("bf16", sum(r.measured for r in fit_rows) / len(fit_rows))
    return Calibration(chip, got["eta_mm"], got["t_dcn"], tuple(r.run.name for r in fit_rows), "fit", baseline,
                       got["eta_mem"], got["fitted"], tuple(means.items()),
                       ("bf16",) if "bf16" in by_dtype else tuple(sorted(by_dtype)))   # no BF16 row: all rows'


def from_card(chip) -> Calibration:
    """The calibration a chip card's block records (an older block, without eta_mem: 1). Where the
    card states its scale-out step latency, that is t_dcn, whatever the block says: a card whose
    stated latency changed after it was calibrated reads the card's number."""
    card = chip.calibration
    t_dcn = card["t_dcn"] if chip.dcn_step_latency_s is None else chip.dcn_step_latency_s
    constant = card.get("constant_mfu")
    return Calibration(chip.name, float(card["eta_mm"]), float(t_dcn), tuple(card["fit_runs"]), "card",
                       None if constant is None else float(constant), float(card.get("eta_mem", 1)),
                       baselines=tuple((k, float(v)) for k, v in card.get("constant_mfu_by_matmul_dtype", {}).items()))


def predictions(results, cals: dict[str, Calibration]) -> list[Prediction]:
    out = []
    for r in results:
        cal = cals[r.run.chip.name]
        t_pred = r.parts.step(eta_comm=1.0, **cal.numbers)
        t_meas, published = target_step(r)
        out.append(Prediction(r.run.name, r.run.chip.name, r.run.split, t_pred, t_meas, published,
                              r.ceiling * r.t_step / t_pred, r.measured, cal.baseline(r.run),
                              r.parts.terms(eta_comm=1.0, **cal.numbers)))
    return out


def _stats(errors: list[float]) -> dict | None:
    if not errors:
        return None
    errors = sorted(abs(e) for e in errors)
    n = len(errors)
    median = errors[n // 2] if n % 2 else (errors[n // 2 - 1] + errors[n // 2]) / 2
    return {"n": n, "median": median, "max": errors[-1]}


def summary(preds: list[Prediction], split: str = "check") -> dict:
    """Per chip, on the ``split`` rows: MFU errors (points) of the model and of the baseline, and
    step-time errors (fractions) of both on the rows whose source printed a step time."""
    out = {}
    for chip in sorted({p.chip for p in preds}):
        rows = [p for p in preds if p.chip == chip and p.split == split]
        if not rows:
            continue
        out[chip] = {
            "model_mfu_error": _stats([p.predicted_mfu - p.measured_mfu for p in rows]),
            "baseline_mfu_error": _stats([p.baseline_mfu - p.measured_mfu for p in rows
                                          if p.baseline_mfu is not None]),
            "model_step_error": _stats([p.predicted_step_s / p.measured_step_s - 1 for p in rows if p.step_published]),
            # the constant's step: the same FLOPs at its MFU, measured step x measured MFU / constant
            "baseline_step_error": _stats([p.measured_mfu / p.baseline_mfu - 1 for p in rows
                                           if p.step_published and p.baseline_mfu is not None]),
        }
    return out


def held_out(stats: dict | None) -> dict | None:
    """A chip's ``summary`` on its check rows as the card records it (``held_out``): how far the
    calibrated model was from the runs it was not fitted on, MFU errors as fractions of peak and
    step-time errors as fractions of the step, rounded as written."""
    if not stats or not stats["model_mfu_error"]:
        return None
    mfu, step = stats["model_mfu_error"], stats["model_step_error"]
    out = {"runs": mfu["n"], "mfu_error_median": round(mfu["median"], 4), "mfu_error_max": round(mfu["max"], 4)}
    if step:
        out.update(step_runs=step["n"], step_error_median=round(step["median"], 4),
                   step_error_max=round(step["max"], 4))
    return out


def card_block(cal: Calibration, data: str, checked: dict | None = None, spread: dict | None = None,
               across: dict | None = None) -> str:
    """The YAML block ``symroof calibrate`` writes into a chip card (``checked``: ``held_out``'s
    record of the check rows, where the data has any; ``spread``: fit_intervals' 95 % intervals,
    written as a comment for the reader; ``across``: ``other_sources``' record, where a source
    can be left out)."""
    import textwrap

    from ..io.card_edit import yaml_text as _scalar

    # a flow list may go on over indented lines: a card stays readable with dozens of fit runs
    lines = textwrap.wrap(", ".join(map(_scalar, cal.fit_runs)), 96, break_on_hyphens=False, break_long_words=False)
    runs = "\n    ".join(lines)
    extra = "" if not checked else \
        "  held_out: {" + ", ".join(f"{k}: {v}" for k, v in checked.items()) + "}\n"
    if across:
        extra += "  other_sources: {" + ", ".join(f"{k}: {v}" for k, v in across.items()) + "}\n"
    rows = f"{'/'.join(d.upper() for d in cal.baseline_dtypes)} fit runs'" if cal.baselines else "fit runs'"
    constant = "" if cal.baseline_mfu is None else \
        f"  constant_mfu: {cal.baseline_mfu:.4f}          # the baseline: the {rows} mean measured MFU\n"
    if cal.baselines:
        constant += ("  constant_mfu_by_matmul_dtype: {" + ", ".join(f"{k}: {v:.4f}" for k, v in cal.baselines)
                     + "}   # the same, of the fit runs with these matmuls\n")
    if spread:
        shown = {"eta_mm": "{:.4f}", "eta_mem": "{:.4f}", "t_dcn": "{:.3e}"}
        extra += ("  # 95 % intervals (profile likelihood over the fit runs; a bound of the search where the runs do not "
                 "pin that side): " + "; ".join(f"{k} {shown[k].format(lo)} to {shown[k].format(hi)}"
                                                for k, (lo, hi) in spread.items()) + "\n")
    return (f"calibration:                    # written by symroof calibrate; never part of the ceiling\n"
            f"  eta_mm: {cal.eta_mm:.4f}\n  t_dcn: {cal.t_dcn:.3e}\n  eta_mem: {cal.eta_mem:.4f}\n{constant}"
            f"  data: {_scalar(data)}\n  fit_runs: [{runs}]\n{extra}"
            f"  note: {_fitted_note(cal)}\n")


def _fitted_note(cal: Calibration) -> str:
    kept = [k for k in ("t_dcn", "eta_mem") if k not in cal.fitted]
    told = {"t_dcn": "t_dcn the card's dcn_step_latency_s" if cal.t_dcn else "t_dcn 0", "eta_mem": "eta_mem 1"}
    return (f"{' and '.join(cal.fitted)} fitted on the split-fit runs above (squared log step-time error)"
            + (f"; {', '.join(told[k] for k in kept)}" if kept else ""))


def calibrate_chip(data, chip: str, write: bool = False) -> str:
    """``symroof calibrate``: fit ``chip`` on the fit rows of ``data``; print (and with ``write``, store)
    the block the card records, with the runs it came from."""
    from pathlib import Path

    from ..errors import CardError
    from .published import data_path, load_runs, predict

    path = Path(data) if data else data_path()
    runs = [r for r in load_runs(path) if r.chip.name == chip]
    results = [predict(r) for r in runs]
    fit_rows = [r for r in results if r.run.split == "fit"]
    if not fit_rows:
        raise CardError(f"{path}: no run with chip {chip!r} and split: fit to calibrate on")
    cal = fitted(chip, fit_rows)
    checks = predictions([r for r in results if r.run.split == "check"], {chip: cal})
    from .across_sources import other_sources
    from .fit_intervals import intervals

    block = card_block(cal, "derivations/published_runs.yaml" if data is None else str(path),
                       held_out(summary(checks).get(chip)), intervals(fit_rows, cal), other_sources(results))
    if write:
        from ..io.card_edit import put_block

        put_block(Path(runs[0].chip.path), "calibration", block, before="sources", what="calibrate --write")
    return block.rstrip("\n")
