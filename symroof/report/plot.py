"""Figures: the compute/communication ratio against batch size, and a per-op roofline chart.

matplotlib is an optional extra (``pip install 'symroof[plot]'``), imported only inside the
functions here. Each function returns a ``Plot``: the matplotlib ``Figure`` and the numbers
it draws, so a caller (or a test) can check the picture against the derivations.

``ratio``: the section-5 figure of the book's training chapter. The curves are the book's
simplified layer ``In[B,D]·W_in[D,F]·W_out[F,D]`` (``Structure.book_layer()``, with the
model card's D and F), sharded for each strategy and costed by ``roofline.step``; the
phase is the one the book reasons with (forward, but backward for DP, whose forward pass
has no communication). Each strategy's mesh is laid on the chip card's topology
(``mesh.layout``), which fixes its link and M. Mixed FSDP+TP uses the solver's continuous
``X_opt`` at each batch, as the book does, with the torus axes split M_X = n-1, M_Y = 1.

``roofline``: every op of the model's full forward and backward graph placed at its
derived arithmetic intensity ((flops + vector_flops) / bytes, ``instantiate.op_table``)
on the roof ``min(C, W_hbm·I)`` of the chip card.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import sympy as sp

from ..errors import CardError, SymroofError

FORMATS = (".png", ".svg")
SIZE_INCHES = (8.0, 5.5)
DPI = 100                     # PNGs are SIZE_INCHES × DPI pixels: 800 × 550
STRATEGIES = ("DP", "FSDP", "TP", "FSDP+TP")
#   strategy    logical axis   phase the book reasons with (DP's forward pass has no comms)
_SINGLE = {"DP": ("data", "backward"), "FSDP": ("fsdp", "forward"), "TP": ("tensor", "forward")}
# DP and FSDP have the same ratio (the book's B/X > α/M_X): draw FSDP dashed over a wider DP
_STYLE = {"DP": {"lw": 4, "alpha": 0.6}, "FSDP": {"lw": 2, "ls": (0, (5, 3))},
          "TP": {"lw": 2}, "FSDP+TP": {"lw": 2}}


class MissingExtraError(SymroofError, ImportError):
    """An optional dependency is not installed."""


@dataclass
class Plot:
    figure: object            # matplotlib.figure.Figure
    data: dict = field(default_factory=dict)

    def save(self, path: str | Path) -> Path:
        path = output_path(path)
        try:
            self.figure.savefig(path, dpi=DPI)
        except OSError as err:
            raise SymroofError(f"cannot write {path}: {err.strerror}") from None
        return path


def output_path(path: str | Path) -> Path:
    """The output file, refused (one line) unless it ends in .png or .svg and can be written;
    check before drawing."""
    from .commands import writable

    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise CardError(f"output {str(path)!r}: the file name must end in one of {', '.join(FORMATS)}")
    return Path(writable(str(path)))


def _figure():
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingExtraError("plotting needs matplotlib: pip install 'symroof[plot]'") from None
    return Figure(figsize=SIZE_INCHES, layout="constrained")


def _crossing(xs, ys, level: float = 1.0) -> float | None:
    """First x where y reaches ``level``, interpolated linearly in log-log (exact for a power law)."""
    for i in range(1, len(xs)):
        lo, hi = ys[i - 1] - level, ys[i] - level
        if lo < 0 <= hi or lo > 0 >= hi:
            a, b = math.log(ys[i - 1] / level), math.log(ys[i] / level)
            t = a / (a - b)
            return math.exp(math.log(xs[i - 1]) + t * (math.log(xs[i]) - math.log(xs[i - 1])))
    return None


# ----------------------------------------------------------------------------- ratio


def ratio_curves(card, chip, chips: int, seq: int | None = None, overlap: str = "sum", run=None) -> dict:
    """Per strategy: ``t_math / t_comms`` as a symbolic function of ``b``, tokens per chip.

    Returns ``{"b": symbol, "curves": {strategy: expr}, "meshes": {strategy: {axis: Axis}},
    "M": {strategy: {M_X/M_Y: value}}, "omitted": {strategy: why}}``.
    """
    from ..parallel import topology as meshlib
    from ..parallel.collectives import Axis
    from ..core.graph import Structure, build
    from ..io.bind import chip_values, mesh_m, model_values
    from ..parallel.roofline import step
    from ..io.run import RunSettings
    from ..parallel.sharding import shard
    from ..solve.training import fsdp_tp_optimum
    from ..core.symbols import B, M_X, M_Y, T, X, Y, n_chips

    seq = card.sequence(seq)
    card.check_positions(seq)
    if overlap not in ("sum", "max"):
        raise CardError(f"overlap must be 'sum' or 'max', not {overlap!r}")
    b = sp.Symbol("b", positive=True)           # tokens per chip, B·T/N
    values = {**model_values(card), **chip_values(chip), **(run or RunSettings()).values(),
              T: sp.Integer(seq)}
    per_chip = {B: b * chips / T}
    g = build(Structure.book_layer(), "causal")
    curves, meshes, ms, omitted = {}, {}, {}, {}

    def sharded_ratio(mesh, phase, extra=None):
        t = step(shard(g, mesh), overlap, phase)
        r = (t["t_math"] / t["t_comms"]).xreplace(extra or {}).xreplace(per_chip)
        return sp.simplify(r.xreplace(values))

    _one_slice(chip, chips)
    for name, (axis, phase) in _SINGLE.items():
        laid = meshlib.layout(chip, {axis: chips})[axis]
        meshes[name] = {axis: laid}
        ms[name] = {M_Y if axis == "tensor" else M_X: meshlib.effective_m(laid)}
        curves[name] = sharded_ratio({axis: laid}, phase)
    rule = mesh_m(chip, chips)        # the one M rule, shared with plan and formula
    if rule["link"] != "ici":
        omitted["FSDP+TP"] = f"{chips} chips span the scale-out network; the mixed curve is ICI only"
    else:
        # the book's split of the slice's torus axes: FSDP over all but one, TP over one
        m_x, m_y = rule["fsdp_tp"]
        mesh = {"fsdp": Axis("fsdp", X, "ici", m_x), "tensor": Axis("tensor", Y, "ici", m_y)}
        x_opt = fsdp_tp_optimum(overlap=overlap).expr.xreplace({M_X: m_x, M_Y: m_y, n_chips: chips})
        meshes["FSDP+TP"] = mesh
        ms["FSDP+TP"] = {M_X: m_x, M_Y: m_y}
        curves["FSDP+TP"] = sharded_ratio(mesh, "forward", {X: x_opt, Y: chips / x_opt})
    return {"b": b, "curves": curves, "meshes": meshes, "M": ms, "omitted": omitted}


def _one_slice(chip, chips: int) -> None:
    """The curves are one slice's axes: a TPU job past the largest slice has none to draw."""
    from ..parallel.topology import slice_limit

    if chip.family == "tpu" and chips > slice_limit(chip):
        from ..errors import InfeasibleError

        raise InfeasibleError(f"--chips {chips}: plot ratio draws one slice, and the largest {chip.name} slice "
                              f"has {slice_limit(chip)} chips; give --chips at most {slice_limit(chip)} "
                              "(symroof plan joins slices over DCN)")


def ratio(card, chip, chips: int, seq: int | None = None, overlap: str = "sum", run=None,
          tokens_per_chip=(1.0, 1e5), points: int = 400) -> Plot:
    """T_math / T_comms against tokens per chip for DP, FSDP, TP and FSDP+TP at X_opt."""
    _one_slice(chip, chips)          # before matplotlib's import: a wrong --chips is told within a second
    fig = _figure()                  # first: a missing matplotlib is the error to report
    import numpy as np

    derived = ratio_curves(card, chip, chips, seq, overlap, run)
    fns = {name: sp.lambdify(derived["b"], expr, "numpy") for name, expr in derived["curves"].items()}
    lo, hi = tokens_per_chip
    # widen the batch range (up to 1e9 tokens per chip) until every rising curve reaches the line
    while hi < 1e9 and any(fn(hi) < 1 and fn(hi) > fn(lo) for fn in fns.values()):
        hi *= 10
    xs = np.geomspace(lo, hi, points)
    ax = fig.add_subplot()
    lines, crossings = {}, {}
    for name, fn in fns.items():
        ys = np.broadcast_to(np.asarray(fn(xs), dtype=float), xs.shape)
        ms = ", ".join(f"{k}={_num(v)}" for k, v in derived["M"][name].items())
        style = _STYLE.get(name, {})
        never = "" if (ys >= 1).any() else ", never compute-bound"
        line, = ax.plot(xs, ys, label=f"{name} ({ms}{never})", **style)
        lines[name] = ys
        crossings[name] = _crossing(xs, ys)
        if crossings[name] is not None:
            ax.plot([crossings[name]], [1.0], "o", color=line.get_color(), ms=6)
            ax.annotate(f"{crossings[name]:.0f}", (crossings[name], 1.0), textcoords="offset points",
                        xytext=(4, -14), color=line.get_color(), fontsize=9)
    ax.axhline(1.0, color="black", ls="--", lw=1, label="compute-bound line (ratio = 1)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("batch per chip B·T/N (tokens)")
    ax.set_ylabel("T_math / T_comms (dimensionless)")
    top = ax.secondary_xaxis("top", functions=(lambda x: x * chips, lambda x: x / chips))
    top.set_xlabel(f"global batch B·T on {chips} chips (tokens)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper left", fontsize=9)
    d, f = (card.d_model, card.d_ff)
    note = "; ".join(f"{k} not drawn: {why}" for k, why in derived["omitted"].items())
    fig.suptitle(f"{card.name} on {chips} × {chip.name}: compute / communication ratio\n"
                 f"book layer In·W_in·W_out (D={d}, F={f}), forward pass (DP: backward), "
                 f"overlap {overlap}" + (f"\n{note}" if note else ""), fontsize=10)
    return Plot(fig, {"tokens_per_chip": xs, "ratio": lines, "crossing": crossings,
                      "M": derived["M"], "curves": derived["curves"], "omitted": derived["omitted"]})


def _num(v) -> str:
    return str(v) if sp.Integer(1) * v == int(v) else f"{float(v):g}"


# ----------------------------------------------------------------------------- roofline


def roofline(card, chip, batch: int = 1, seq: int | None = None, attention: str = "causal",
             kernel: str = "fused") -> Plot:
    """Each op of the model at its arithmetic intensity, on the chip's roof min(C, W_hbm·I)."""
    fig = _figure()
    import numpy as np

    from ..io.bind import chip_values, op_table
    from ..core.symbols import C, W_hbm

    hw = chip_values(chip)
    peak, bw = float(hw[C]), float(hw[W_hbm])
    ridge = peak / bw
    seq = card.sequence(seq)
    table = op_table(card, chip, batch, seq, attention, kernel=kernel)
    # a log axis has no place for an op that moves no HBM bytes (fused on chip: I = ∞) or does
    # no arithmetic (a gather, a pass-through gradient: I = 0); they are counted in the title
    rows = [r for r in table if math.isfinite(r.intensity) and r.intensity > 0]
    omitted = {"no HBM traffic": [r.name for r in table if not math.isfinite(r.intensity)],
               "no FLOPs": [r.name for r in table if r.intensity == 0]}
    if not rows:
        raise SymroofError(f"{card.name}: no op moves any bytes; nothing to place on a roofline")
    lo = min(min(r.intensity for r in rows), ridge) / 4
    hi = max(max(r.intensity for r in rows), ridge) * 4
    xs = np.geomspace(lo, hi, 200)
    ax = fig.add_subplot()
    ax.plot(xs, np.minimum(peak, bw * xs), color="black", lw=2,
            label=f"{chip.name} roof: min(C, W_hbm·I), ridge at {ridge:.0f} FLOPs/byte")
    ax.axvline(ridge, color="black", ls=":", lw=1)
    #   group                        which rows                                    marker colour
    groups = (("backward matmuls",    lambda r: r.phase == "backward" and r.flops > 0, "s", "C1"),
              ("forward matmuls",     lambda r: r.phase == "forward" and r.flops > 0,  "o", "C0"),
              ("forward vector ops",  lambda r: r.phase == "forward" and r.flops == 0, "^", "C2"),
              ("backward vector ops", lambda r: r.phase == "backward" and r.flops == 0, "v", "C3"))
    placed = {}
    for label, keep, marker, color in groups:
        chosen = [r for r in rows if keep(r)]
        if not chosen:
            continue
        x = np.array([r.intensity for r in chosen])
        y = np.minimum(peak, bw * x)
        hollow = label == "forward matmuls"     # drawn last and open, so the backward ones show through
        ax.scatter(x, y, marker=marker, s=70 if hollow else 30, label=f"{label} ({len(chosen)})",
                   facecolors="none" if hollow else color, edgecolors=color,
                   linewidths=1.5, zorder=4 if hollow else 3)
        placed.update({r.name: (r.intensity, float(min(peak, bw * r.intensity))) for r in chosen})
    # name the forward matmuls (the ops that carry the FLOPs) in a column below the roof,
    # in order of intensity, each with a leader line to its point
    named = sorted((r for r in rows if r.phase == "forward" and r.flops > 0), key=lambda r: r.intensity)
    for i, r in enumerate(named):
        x, y = placed[r.name]
        ax.annotate(f"{r.name.split('/')[-1]}  I={r.intensity:.0f}", (x, y),
                    xytext=(ridge * 1.3, peak / 2.2 / 1.45 ** i), fontsize=7, color="C0", va="center",
                    arrowprops={"arrowstyle": "-", "color": "C0", "lw": 0.5, "alpha": 0.6})
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity I (FLOPs/byte of HBM traffic)")
    ax.set_ylabel("attainable throughput (FLOPs/s)")
    ax.set_ylim(bw * lo / 2, peak * 3)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    left_out = ", ".join(f"{len(v)} with {k}" for k, v in omitted.items() if v)
    fig.suptitle(f"{card.name} on {chip.name}: roofline of every op (B={batch}, T={seq}, bf16, "
                 f"{attention} attention, {kernel} kernel)"
                 + (f"\nnot placed (no finite, non-zero intensity): {left_out}" if left_out else ""),
                 fontsize=10)
    return Plot(fig, {"peak": peak, "hbm_bandwidth": bw, "ridge": ridge, "ops": placed, "omitted": omitted})


# ----------------------------------------------------------------------------- sensitivity


def sensitivity_symbol(point, name: str):
    """The symbol ``--plot`` names, if the step time at this plan point depends on it (checked
    before anything is printed, so a bad name gives the error line alone)."""
    from ..core.symbols import SYMBOLS

    x = SYMBOLS.get(name)
    if x is None or x not in point.values or not any(e.has(x) for e in point.terms.values()):
        usable = [str(s) for s in point.values if any(e.has(s) for e in point.terms.values())]
        raise CardError(f"--plot {name!r}: the step time here depends on {', '.join(usable)}")
    return x


def sensitivity(point, name: str, span: float = 10.0, points: int = 400) -> Plot:
    """Step time against one number of the chip or run (÷ ``span`` to × ``span``), other numbers
    held at the plan point; the regime changes (where the bounding term changes) are marked at
    the values SymPy solves for exactly."""
    from ..claims.sensitivity import NAMES, TERMS
    from ..core.symbols import INFO

    x = sensitivity_symbol(point, name)
    fig = _figure()
    import numpy as np

    here = point.values[x]
    real = sp.Dummy(name, positive=True)
    others = {**{s: v for s, v in point.values.items() if s != x}, x: real}
    terms = {k: point.terms[k].xreplace(others) for k in TERMS}
    xs = np.geomspace(float(here) / span, float(here) * span, points)
    ys = {k: np.broadcast_to(np.asarray(sp.lambdify(real, e, "numpy")(xs), dtype=float), xs.shape)
          for k, e in terms.items()}
    step = np.max(np.stack(list(ys.values())), axis=0)
    changes = []                     # (x, from-term, to-term): exact roots where the top term changes
    for i, a in enumerate(TERMS):
        for b in TERMS[i + 1:]:
            for r in sp.solve(sp.Eq(terms[a], terms[b]), real):
                if r.is_positive and float(here) / span <= float(r) <= float(here) * span:
                    at = {k: float(e.subs(real, r)) for k, e in terms.items()}
                    if max(at.values()) <= at[a] * (1 + 1e-9):      # a and b are the top two there
                        changes.append((float(r), a, b))
    ax = fig.add_subplot()
    unit = INFO[name].unit
    ax.plot(xs, step, color="black", lw=3, alpha=0.5, label="t_step = max(terms)")
    for k, y in ys.items():
        ax.plot(xs, y, lw=1.5, ls="--", label=f"{k} ({NAMES[k]})")
    ax.axvline(float(here), color="grey", lw=1, label=f"plan point {name} = {float(here):.4g} {unit}")
    for value, a, b in sorted(changes):
        ax.axvline(value, color="red", lw=1, ls=":")
        ax.annotate(f"{NAMES[a]} = {NAMES[b]}\n{value:.4g} {unit}", (value, float(step.max())),
                    textcoords="offset points", xytext=(4, -24), color="red", fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"{name}: {INFO[name].meaning} ({unit or 'count'})")
    ax.set_ylabel("time per step (s)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    p = point.plan
    mesh = " × ".join(f"{a}={d}" for a, d in p["mesh"].items())
    fig.suptitle(f"{p['model']} on {p['chips']} × {p['chip']}: {p['strategy']} on {mesh}\n"
                 f"step time against {name}; red lines: the bound changes", fontsize=10)
    return Plot(fig, {name: xs, "t_step": step, "terms": ys, "changes": sorted(changes)})


# ----------------------------------------------------------------------------- pareto


def pareto_from(card, chip, chips, contexts, weights_dtype="bf16", kv_dtype=None) -> Plot:
    """``symroof plot pareto``: command-line text checked by ``search.serve.request``."""
    from ..search.serve import CONTEXT, request

    req = request(chips, weights_dtype=weights_dtype, kv_dtype=kv_dtype)
    lengths = tuple(request(1, context=c).context for c in contexts or [card.sequence(None, CONTEXT)])
    twice = [n for i, n in enumerate(lengths) if n in lengths[:i]]
    if twice:      # one curve drawn over another (200 times, for --context 1024 given 200 times)
        raise CardError(f"--context {twice[0]} given twice; give each context length once")
    return pareto(card, chip, req, lengths)


def pareto(card, chip, req, contexts: tuple[int, ...] = ()) -> Plot:
    """Latency per token against tokens/s per chip over batches and tensor degrees (the book's
    Pareto figure), one front per context length; every configuration evaluated is a faint dot."""
    from dataclasses import replace

    from ..search.serve import evaluate, serve

    fig = _figure()
    ax = fig.add_subplot()
    data = {}
    for i, context in enumerate(contexts or (req.context,)):
        r = replace(req, context=context, batch=None)
        rows = evaluate(card, chip, r)["rows"]
        pts = [(row["step"] * 1e3, row["batch"] * row["data"] / row["step"] / req.chips) for row in rows]
        front = serve(card, chip, r)["pareto"]
        xs = [f["decode_step_s"] * 1e3 for f in front]
        ys = [f["tokens_per_s_per_chip"] for f in front]
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=8, color=f"C{i}", alpha=0.25)
        ax.plot(xs, ys, "o-", color=f"C{i}", label=f"context {context} tokens ({len(front)} on the front)")
        data[context] = {"front": list(zip(xs, ys)), "points": pts}
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("decode latency per token (ms)")
    ax.set_ylabel("throughput (tokens/s per chip)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    kv = req.kv_dtype or req.weights_dtype
    fig.suptitle(f"{card.name} on {req.chips} × {chip.name}: decode latency against throughput\n"
                 f"(weights {req.weights_dtype}, KV {kv}, math {req.math_dtype}; bounds, not measurements)",
                 fontsize=10)
    return Plot(fig, data)
