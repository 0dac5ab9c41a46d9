"""``symroof serve``: decode and prefill bounds for one model on one slice, or the Pareto front.

A serving configuration is a mesh ``data=R × tensor=Y`` (R model replicas of Y chips each,
the book's "model parallelism inside a replica, replicas beside it") and a batch of B
sequences per replica, each holding S tokens of cache. Its decode step per replica is the
roofline of the decode graph on Y chips (``solve.inference.step_time``: the attention core
and the weight matmuls each on their own roofline) next to the ICI time of the tensor axis's
collectives (from the sharding rules, with the card's per-hop latency as a floor when it has
one); the step is the larger (comms overlap compute), and so is a prefill's: its FLOPs at
``mfu``, its weight reads, or its tensor-axis collectives of ``T·D`` a matmul pair (the book's
inference.md: prefill turns ICI-bound past ``Y ≈ F·n_axes·W_ici/C``, as training does). Memory per chip
is the weights spread over Y chips and the cache as the axis splits it (``kv_bytes_per_chip``). Without ``batch`` every tensor degree and a grid of batches up
to the largest that fits are evaluated (lambdified) and the Pareto front of
latency per token against tokens/s per chip is returned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import sympy as sp

from ..core.graph import Structure
from ..core.symbols import B, C, M_Y, M_hbm, S, T, W_hbm, W_ici, Y, b_act, b_kv, b_param, n_chips, t_hop, mfu
from ..errors import CardError, InfeasibleError
from ..io.bind import chip_values, model_values
from ..io.cards import parse_number, shown_text
from ..parallel.axes import tensor_problem
from ..parallel.collectives import Axis
from ..solve import inference as inf

DTYPES = tuple(inf.DTYPE_BYTES)


CONTEXT = 8192          # serve's context when none is given (a learned position table's length where shorter)


@dataclass(frozen=True)
class Request:
    chips: int
    batch: int | None = None          # sequences per replica; None: search
    context: int = CONTEXT            # S: cached tokens each sequence attends to
    prompt: int | None = None         # tokens prefilled per request
    generate: int | None = None       # tokens generated per request
    weights_dtype: str = "bf16"
    kv_dtype: str | None = None       # default: the weights' dtype
    act_dtype: str = "bf16"
    math_dtype: str = "bf16"
    mesh: dict = field(default_factory=dict)   # {"tensor": Y, "data": R}
    mfu: float = 1.0                  # prefill: fraction of peak (1: the roofline bound)


def check(card, chip, req: Request) -> None:
    """Refuse what cannot be served, in one line each (exit 2 at the CLI)."""
    for name in ("chips", "context"):
        value = getattr(req, name)
        if not isinstance(value, int) or value < 1:
            raise CardError(f"--{name} must be a positive whole number, got {value!r}")
    for name in ("batch", "prompt", "generate"):
        value = getattr(req, name)
        if value is not None and (not isinstance(value, int) or value < 1):
            raise CardError(f"--{name} must be a positive whole number, got {value!r}")
    if not (isinstance(req.mfu, float) and math.isfinite(req.mfu) and 1e-30 <= req.mfu <= 1):
        raise CardError(f"--mfu must be a number in [1e-30, 1], got {req.mfu!r}")
    for name in ("weights_dtype", "kv_dtype", "act_dtype", "math_dtype"):
        value = getattr(req, name)
        if value is not None and value not in DTYPES:
            raise CardError(f"--{name.replace('_', '-')} {shown_text(str(value))}: allowed {', '.join(DTYPES)}")
    if req.math_dtype not in chip.peak_flops_per_s:
        raise CardError(f"{chip.name} has no {req.math_dtype} peak (peak_flops_per_s has "
                        f"{', '.join(chip.peak_flops_per_s)}); pick --math-dtype or --set "
                        f"peak_flops_per_s.{req.math_dtype}=...")
    kv = req.kv_dtype or req.weights_dtype
    if inf.DTYPE_BYTES[kv] > inf.DTYPE_BYTES[req.math_dtype]:
        raise CardError(f"--kv-dtype {kv} is wider than the math ({req.math_dtype}): the cache "
                        "would be read at more bytes than the matmuls use; store it at most as wide")
    unknown = [a for a in req.mesh if a not in ("tensor", "data")]
    if unknown:
        raise CardError(f"--mesh {unknown[0]}: serve takes tensor=Y and data=R (replicas)")
    longest = max(req.context, (req.prompt or 0) + (req.generate or 0))
    card.check_positions(longest, "--context" if req.context == longest else "--prompt + --generate")


@lru_cache(maxsize=None)
def _compiled(structure: Structure, latency: bool):
    """Lambdified per-replica step terms, memory and prefill, over (B, S, T, Y, M_Y, widths, chip)."""
    from ..parallel.roofline import comms_by_axis
    from ..parallel.sharding import shard

    parts = inf.decode_parts(structure)
    t = {k: v.xreplace({n_chips: Y}) for k, v in inf.step_parts(parts).items()}
    def ici(phase):       # the tensor axis's collectives of one forward pass
        sg = shard(inf.graph(structure, phase), {"tensor": Axis("tensor", Y, "ici", M_Y)})
        return comms_by_axis(sg, "forward", latency=latency).get("tensor", sp.Integer(0))
    t_ici = ici("decode")
    kv_chip = inf.kv_bytes_per_chip(structure, Y)       # GQA split up to K ways, MLA's latent whole
    t["t_hbm_kv"] = inf.kv_bytes_per_chip(structure, Y, read=True) / W_hbm    # a chunked layer: its chunk
    prefill = inf.prefill_parts(structure)
    exprs = {**t, "t_ici": t_ici, "memory": inf.weights_held(structure) / Y + kv_chip, "kv_chip": kv_chip,
             "weights": inf.weights_held(structure),
             "kv_per_token": inf.kv_bytes_per_token(structure),
             "kv_state": inf.kv_state_per_sequence(structure),      # linear layers' state, any S
             "prefill_math": prefill["flops"] / (Y * C * mfu),
             "prefill_hbm": inf.weight_bytes_read(inf.graph(structure, "prefill"), routed=True) / (Y * W_hbm),
             "prefill_ici": ici("prefill")}
    args = (B, S, T, Y, M_Y, b_param, b_kv, b_act, C, W_hbm, W_ici, M_hbm, t_hop, mfu)
    model = sorted({s for e in exprs.values() for s in e.free_symbols} - set(args), key=str)
    # scalar "math" functions: a serve search is a few hundred points, not worth importing numpy
    return {k: sp.lambdify(args + tuple(model), e, "math") for k, e in exprs.items()}, args, model


def _layout_m(chip, y: int, replicas: int) -> tuple[float, float, bool]:
    """M_Y of a tensor axis of degree y on the chip's topology, its hop count, and whether it fits.

    The rule table counts |Y|/2 hops for an axis; laid over n physical axes of about Y^(1/n)
    chips each, a collective crosses n·Y^(1/n)/2 hops on rings (n·(Y^(1/n) - 1) on lines).
    """
    from ..parallel.topology import effective_m, layout

    try:      # replicas never talk to each other in decode: only the tensor axis needs a place
        axes = layout(chip, {"tensor": y})
    except InfeasibleError:
        return 0.0, 1.0, False
    a = axes["tensor"]
    n = max(int(a.n_physical), 1)
    side = y ** (1 / n)
    hops = n * (side / 2 if a.wrap else side - 1)
    return float(effective_m(a)), hops / (y / 2) if y > 1 else 1.0, a.link == "ici"


def evaluate(card, chip, req: Request) -> dict:
    """Every configuration (or the one asked for): per-replica Y, batch, step and memory."""
    check(card, chip, req)
    structure = Structure.of(card)
    hw = chip_values(chip, req.math_dtype)
    latency = t_hop in hw
    fns, args, model = _compiled(structure, latency)
    mv = model_values(card)
    kv = req.kv_dtype or req.weights_dtype
    widths = [float(inf.DTYPE_BYTES[d]) for d in (req.weights_dtype, kv, req.act_dtype)]
    common = widths + [float(hw[C]), float(hw[W_hbm]), float(hw[W_ici]), float(hw[M_hbm]), float(hw.get(t_hop, 0)), req.mfu]
    extra = [float(mv[s]) for s in model]      # every other symbol is a model shape
    degrees = [req.mesh["tensor"]] if "tensor" in req.mesh else \
        [y for y in range(1, min(req.chips, chip.pod_chips) + 1) if req.chips % y == 0]
    rows, closest, widest = [], None, 0
    for y in degrees:
        replicas = req.mesh.get("data", req.chips // y)
        if y * replicas != req.chips:
            raise CardError(f"--mesh tensor={y} × data={replicas} uses {y * replicas} chips, not --chips {req.chips}")
        why = tensor_problem(card, y)       # the heads, d_ff, KV and linear heads the axis splits
        if why and "tensor" in req.mesh:
            raise CardError(f"--mesh tensor={y}: {why}")
        if why:           # tensor=1 always splits: the search never runs out of degrees here
            continue
        m_y, hop_scale, on_ici = _layout_m(chip, y, replicas)
        if not on_ici and "tensor" in req.mesh:      # asked for: say why, rather than "does not fit"
            where = f"one NVLink domain ({chip.pod_shape[0]} GPUs)" if chip.family == "gpu" else \
                f"one {chip.name} slice's ICI"
            raise CardError(f"--mesh tensor={y}: serve keeps the tensor axis within {where}, where its "
                            f"per-token collectives run; allowed: a tensor degree that fits there, with data= "
                            f"replicas for the other chips")
        if not on_ici:
            continue
        widest = max(widest, y)
        hop = common[:-2] + [common[-2] * hop_scale, common[-1]]     # per-hop latency × true/|Y|/2 hops
        call = lambda name, b, t=1: fns[name](b, req.context, t, y, m_y, *hop, *extra)  # noqa: E731
        kv_tok, kv_state = float(call("kv_per_token", 1)), float(call("kv_state", 1))
        weights = float(call("weights", 1))
        # sequences one chip's HBM holds beside its share of the weights (the cache is linear in B)
        fit = math.floor((float(hw[M_hbm]) - weights / y) / float(call("kv_chip", 1)))
        one = float(call("memory", 1))
        if closest is None or one < closest[1]:
            closest = (y, one)
        batches = [req.batch] if req.batch else _grid(fit)
        t = {k: [float(call(k, b)) for b in batches]
             for k in ("t_math_weights", "t_hbm_weights_step", "t_math_core", "t_hbm_kv", "t_ici", "memory")}
        t_mem = [max(t["t_math_core"][i], t["t_hbm_kv"][i]) + max(t["t_math_weights"][i], t["t_hbm_weights_step"][i])
                 for i in range(len(batches))]
        step = [max(t_mem[i], t["t_ici"][i]) for i in range(len(batches))]
        def splits(n: int) -> bool:            # a tensor axis of n chips lays out the heads
            return tensor_problem(card, n) is None

        def fits(n: int, b: int) -> bool:      # a replica of n chips holds the weights and b caches
            kv = fns["kv_chip"](b, req.context, 1, n, m_y, *hop, *extra)
            return weights / n + float(kv) <= float(hw[M_hbm])

        for i, b in enumerate(batches):
            bound = ("ici" if t["t_ici"][i] > t_mem[i] else
                     "compute" if t["t_math_weights"][i] > t["t_hbm_weights_step"][i] else "hbm")
            rows.append({"tensor": y, "data": replicas, "batch": int(b), "m_y": m_y, "step": float(step[i]),
                         "memory": float(t["memory"][i]), "fit": fit, "kv_per_token": kv_tok,
                         "kv_state": kv_state,
                         "weights": weights, "bound": bound,
                         "min_chips": next((n for n in slice_sizes(chip, y) if splits(n) and fits(n, b)), y),
                         "prefill": (max(float(call("prefill_math", 1, req.prompt)), float(call("prefill_hbm", 1, req.prompt)),
                                         float(call("prefill_ici", 1, req.prompt))) if req.prompt else None),
                         "critical": float(call("t_hbm_weights", 1) / (call("t_math_weights", 2) - call("t_math_weights", 1)))})
    return {"rows": rows, "hbm": float(hw[M_hbm]), "closest": closest, "widest": widest}


def _grid(fit: int) -> list[int]:
    """Batches tried: powers of two up to the largest that fits, quarters of it, and it."""
    if fit < 1:
        return []
    return sorted({1, fit} | {2 ** i for i in range(int(math.log2(fit)) + 1)}
                  | {int(fit * f) for f in (0.25, 0.5, 0.75) if fit * f >= 1})


def pareto(rows: list[dict], chips: int) -> list[dict]:
    """Configurations no other beats on both latency per token and tokens/s per chip."""
    pts = sorted(rows, key=lambda r: (r["decode_step_s"], -r["tokens_per_s_per_chip"]))
    front, best = [], -1.0
    for r in pts:
        if r["tokens_per_s_per_chip"] > best:
            front.append(r)
            best = r["tokens_per_s_per_chip"]
    return front


def serve(card, chip, req: Request) -> dict:
    """The JSON ``symroof serve`` prints: one configuration, or the Pareto front and its best."""
    result = evaluate(card, chip, req)
    rows = result["rows"]
    if req.batch:
        bad = [r for r in rows if r["memory"] > result["hbm"]]
        if rows and len(bad) == len(rows):
            r = min(bad, key=lambda r: r["memory"])
            raise CardError(f"--batch {req.batch} does not fit: {r['memory'] / 1e9:.3g} GB per chip on "
                            f"tensor={r['tensor']}, {(r['memory'] - result['hbm']) / 1e9:.3g} GB over the "
                            f"{result['hbm'] / 1e9:.3g} GB of HBM (at most {max(r['fit'], 0)} sequences of "
                            f"{req.context} tokens fit per replica)")
        rows = [r for r in rows if r["memory"] <= result["hbm"]]
    if not rows:
        y, need = result["closest"] or (req.chips, float("inf"))
        raise CardError(f"{card.name} does not fit {req.chips} × {chip.name} with one sequence of "
                        f"{req.context} tokens: at best (tensor={y}) {need / 1e9:.4g} GB per chip, "
                        f"{(need - result['hbm']) / 1e9:.4g} GB over the {result['hbm'] / 1e9:.3g} GB of HBM"
                        + (f"; the tensor axis stays on ICI ({'NVLink' if chip.family == 'gpu' else 'one slice'}): "
                           f"at most {result['widest']} of the {req.chips} chips" if result["widest"] < req.chips else ""))
    out = [_record(r, req, chip, result["hbm"]) for r in rows]
    front = pareto(out, req.chips)
    best = max(front, key=lambda r: r["tokens_per_s_per_chip"]) if not req.batch else \
        min(out, key=lambda r: r["decode_step_s"])
    return {**best, "pareto": front if not req.batch else [best]}


def _record(r: dict, req: Request, chip, hbm: float) -> dict:
    global_batch = r["batch"] * r["data"]
    kv_tok, weights = r["kv_per_token"], r["weights"]
    need = weights + global_batch / r["data"] * (r["kv_state"] + req.context * kv_tok)
    return {
        "decode_step_s": r["step"], "prefill_s": r["prefill"],
        "generation_s": r["step"] * req.generate if req.generate else None,
        "tokens_per_s": global_batch / r["step"],
        "tokens_per_s_per_chip": global_batch / r["step"] / req.chips,
        "requests_per_s_per_chip": (global_batch / (r["step"] * req.generate) / req.chips
                                    if req.generate else None),
        "batch": global_batch, "max_batch": max(r["fit"], 0) * r["data"],
        "min_chips": r["min_chips"], "chips_for_memory": need / hbm, "kv_bytes_per_token": kv_tok,
        "kv_state_bytes_per_sequence": r["kv_state"], "weight_bytes": weights,
        "critical_batch": r["critical"], "bound": r["bound"],
        "mesh": {"data": r["data"], "tensor": r["tensor"]}, "m_tensor": r["m_y"],
        "memory_per_chip_bytes": r["memory"],
    }


def slice_sizes(chip, most: int) -> list[int]:
    """Every legal slice's chip count up to ``most``, ascending: a GPU domain's divisors, then whole
    domains; a TPU pod's slices (``_slice_sizes``)."""
    from ..parallel.topology import _divisors, slice_limit

    if chip.family == "gpu":
        domain = chip.pod_shape[0]
        return [d for d in _divisors(domain) if d <= most] + list(range(2 * domain, most + 1, domain))
    return [n for n in _slice_sizes(chip.pod_shape, chip.wraparound, chip.wraparound_unit, slice_limit(chip))
            if n <= most]


def slice_chips(chip, need: float) -> int:
    """The fewest chips of a legal slice (``slice_sizes``) holding ``need`` chips' worth; past a GPU
    domain, whole domains."""
    most = chip.pod_shape[0] if chip.family == "gpu" else chip.pod_chips
    fitting = next((n for n in slice_sizes(chip, most) if n >= need), None)
    if fitting is not None:
        return fitting
    if chip.family == "gpu":
        return chip.pod_shape[0] * math.ceil(need / chip.pod_shape[0])
    raise InfeasibleError(f"needs {need:.1f} chips of HBM; a {chip.name} pod has {chip.pod_chips}")


@lru_cache(maxsize=64)
def _slice_sizes(pod: tuple, wraparound: str, unit: int, limit: int) -> tuple:
    """Every chip count of a slice ``topology.slices`` builds, sorted: serve asks once per Pareto row,
    and multiplying out every box each time took seconds on a large pod. Cubes (``full_cube``):
    a sub-cube (sides dividing the cube edge) or whole cubes; else a box whose sides divide the pod's."""
    from ..parallel.topology import _divisors

    per_axis = [_divisors(unit)] * len(pod) if wraparound == "full_cube" else [_divisors(n) for n in pod]
    sizes: set = {1}
    for sides in per_axis:
        sizes = {size * side for size in sizes for side in sides}
    if wraparound == "full_cube":
        cube = unit ** len(pod)
        sizes |= set(range(cube, limit + 1, cube))
    return tuple(sorted(s for s in sizes if s <= limit))


def _whole(text, name: str, allow_none: bool = True):
    if text is None and allow_none:
        return None
    from ..io.cards import parse_number

    try:
        number = parse_number(str(text), f"--{name}", name) if len(str(text)) <= 4300 else None
    except CardError:
        number = None
    if number is None or number.denominator != 1:
        raise CardError(f"--{name} must be a positive whole number (e.g. 64 or 6.4e1), got {shown_text(str(text))}")
    value = int(number)
    if value < 1 or value > 10 ** 12:
        raise CardError(f"--{name} must be a whole number from 1 to 1e12, got {shown_text(str(text))}")
    return value


def request(chips, batch=None, context=None, prompt=None, generate=None, weights_dtype="bf16",
            kv_dtype=None, act_dtype="bf16", math_dtype="bf16", mesh=None, mfu=None) -> Request:
    """A ``Request`` from command-line text: whole numbers checked here, one line per refusal."""
    degrees = {}
    for pair in mesh or []:
        axis, eq, degree = (part.strip() for part in str(pair).partition("="))
        if not eq:
            raise CardError(f"--mesh {shown_text(str(pair))}: expected AXIS=DEGREE, e.g. tensor=8")
        if axis in degrees:         # refused, as a card refuses a repeated key: the last never wins
            raise CardError(f"--mesh {axis} given twice ({axis}={degrees[axis]}, then {axis}={degree}); give it once")
        degrees[axis] = _whole(degree, f"mesh {axis}", False)
    if mfu is not None and prompt is None:       # its one use is the prefill time
        raise CardError(f"--mfu {mfu} sets the prefill's fraction of peak: add --prompt (tokens prefilled)")
    try:          # the card reader's number rules: ASCII digits (float() reads other scripts' digits)
        fraction = 1.0 if mfu is None else float(parse_number(mfu, "--mfu", "value"))
    except CardError:
        raise CardError(f"--mfu must be a number in [1e-30, 1], got {shown_text(str(mfu))}") from None
    return Request(_whole(chips, "chips", False), _whole(batch, "batch"),
                   _whole(CONTEXT if context is None else context, "context", False), _whole(prompt, "prompt"),
                   _whole(generate, "generate"), weights_dtype, kv_dtype, act_dtype, math_dtype, degrees, fraction)
