"""The ``symroof`` command. Thin: parse, call the public API, render. Errors are one line, exit 2."""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import sys
from contextlib import contextmanager

from .errors import CardError, SymroofError
from .report.commands import Parser, add_result_commands, one_line, settings as _settings
from .report.commands import positive_int as _positive_int, size_int as _size_int
from .report.runs_commands import add_runs_commands


def _count(args) -> None:
    from .io.catalog import load_model
    from .io.bind import count
    from .report.render import grouped, si, table
    from .io.run import RunSettings

    card = load_model(args.model)
    args.seq = card.sequence(args.seq)
    run = RunSettings().with_options(**{k: v for k, v in vars(args).items()
                                        if k in RunSettings.__dataclass_fields__ and v is not None})
    result = count(card, args.batch, args.seq, args.attention, "6N" if args.six_n else None, run, args.recompute_layers)
    if args.json:
        print(json.dumps({
            "model": card.name, "batch": result.batch, "seq": result.seq, "attention": result.attention,
            "approximation": result.approximation,
            "params": {"total": result.params_total, "by_group": result.params_by_group,
                       "active": result.params_active},
            "flops": {"forward": result.flops_forward, "backward": result.flops_backward,
                      "per_token": float(result.flops_per_token), "by_module": result.flops_by_module,
                      "model": result.flops_model, "recompute": result.flops_recompute,
                      "hardware": result.flops_hardware},
            "memory_bytes": result.memory, "run": {**vars(run), "recompute_layers": result.recompute_layers},
            **({"notes": list(result.notes)} if result.notes else {}),
        }, indent=2))
        return
    rows = [["parameters", grouped(result.params_total), si(result.params_total)]]
    rows += [[f"  {group}", grouped(n), si(n)] for group, n in result.params_by_group.items()]
    if result.params_active != result.params_total:
        rows.append(["  active per token", grouped(result.params_active), si(result.params_active)])
    rows += [["forward FLOPs", grouped(result.flops_forward), si(result.flops_forward)],
             ["backward FLOPs", grouped(result.flops_backward), si(result.flops_backward)],
             ["training FLOPs / token", grouped(result.flops_per_token) if result.flops_per_token.denominator == 1
              else str(result.flops_per_token),
              si(result.flops_per_token)]]
    policy = "none" if result.recompute is None else result.recompute
    policy = policy if isinstance(policy, str) else "keep " + ", ".join(policy)
    if result.recompute_layers is not None:
        policy += f" on {result.recompute_layers} of {card.n_layers} layers"
    rows += [["model FLOPs (MFU numerator)", grouped(result.flops_model), si(result.flops_model)],
             [f"hardware FLOPs (HFU, recompute: {policy})", grouped(result.flops_hardware),
              si(result.flops_hardware)]]
    rows += [[f"memory: {part}", grouped(n), si(n, "B")] for part, n in result.memory.items()]
    how = "6·N rule" if args.six_n else f"per-op, {args.attention} attention"
    print(f"{card.name}: {args.batch} sequence(s) × {args.seq} tokens ({how})")
    print(table(rows, ["quantity", "exact", "approx"]))
    for note in result.notes:
        print(f"note: {note}")


def _ops(args) -> None:
    from .io.chips import override_chip
    from .io.catalog import load_chip, load_model
    from .io.bind import op_table
    from .io.json_reader import dumps_finite as _dumps
    from .report.render import si, table

    unread = [f for k, f in (("ckpt_per_layer", "--ckpt"), ("grad_bytes", "--grad-bytes"),
                             ("optimizer_bytes", "--optimizer-bytes")) if getattr(args, k) is not None]
    if unread:          # memory kept between ops and steps: count prints it, no op moves it
        raise CardError(f"{unread[0]} sets training memory, which ops does not show (symroof count does)")
    card, chip = load_model(args.model), load_chip(args.chip)
    chip = override_chip(chip, _settings(args.set))
    args.seq = card.sequence(args.seq)
    from .io.run import RunSettings

    run = RunSettings().with_options(**{k: v for k, v in vars(args).items()
                                        if k in RunSettings.__dataclass_fields__ and v is not None})
    rows = op_table(card, chip, args.batch, args.seq, args.attention, run=run, kernel=args.kernel)
    if args.json:
        # an op whose bytes stay on chip (a fused kernel) has no HBM intensity: null, never Infinity
        print(_dumps([{"name": r.name, "phase": r.phase, "repeat": r.repeat, "flops": r.flops,
                       "vector_flops": float(r.vector_flops), "bytes": float(r.bytes),
                       "intensity": r.intensity if math.isfinite(r.intensity) else None,
                       "hbm_bound": r.hbm_bound} for r in rows]))
        return
    ridge = chip.peak_flops_per_s["bf16"] / chip.hbm_bytes_per_s
    print(f"{card.name} on {chip.label}: {args.batch} × {args.seq} tokens; "
          f"ops below {float(ridge):.0f} FLOPs/byte (bf16 peak / HBM bandwidth) are HBM-bound (per instance; layer ops repeat L times)")
    print(table([[r.name, r.phase, si(r.flops), si(r.vector_flops), si(r.bytes, "B"),
                  f"{r.intensity:.1f}" if math.isfinite(r.intensity) else "no HBM bytes",
                  "HBM" if r.hbm_bound else "compute"] for r in rows],
                ["op", "phase", "FLOPs", "vector FLOPs", "bytes", "FLOPs/byte", "bound"]))


def _plan_result(args):
    from .report.plan_command import plan_result

    return plan_result(args)


def _plan(args) -> None:
    from .report.plan_command import plan_command

    plan_command(args)


def _reproduce_report(args):
    from .claims.reproduce import run

    return run(args.derivation, args.model, args.chip, _settings(args.set), getattr(args, "claim", None))


def _reproduce(args) -> None:
    from .claims.reproduce import as_json
    from .report.tables import reproduction

    report = _reproduce_report(args)
    print(json.dumps(as_json(report), indent=2) if args.json else reproduction(report))


def _latex(args) -> None:
    from .report.commands import writable

    writable(args.output)           # before the document module's SymPy import and the run
    from .report.document import latex_document, write

    write(latex_document(_reproduce_report(args), args.fragment), args.output)
    print(f"wrote {args.output}")


def _markdown(args) -> None:
    from .report.commands import writable

    writable(args.output)
    from .report.document import markdown_document, write

    write(markdown_document(_reproduce_report(args)), args.output)
    print(f"wrote {args.output}")


def _plot(args) -> None:
    from .io.chips import override_chip
    from .io.catalog import load_chip, load_model
    from .report import plot

    plot.output_path(args.output)
    card, chip = load_model(args.model), override_chip(load_chip(args.chip), _settings(args.set))
    args.seq = card.sequence(getattr(args, "seq", None))         # pareto has none
    if args.kind == "ratio":
        figure = plot.ratio(card, chip, args.chips, args.seq, args.overlap)
    elif args.kind == "pareto":
        figure = plot.pareto_from(card, chip, args.chips, args.context, args.weights_dtype, args.kv_dtype)
    else:
        figure = plot.roofline(card, chip, args.batch, args.seq, args.attention, args.kernel)
    print(f"wrote {figure.save(args.output)}")


def _serve(args) -> None:
    from .report.serving import command

    command(args, _settings(args.set))


def _derivation_options(p, optional: bool) -> None:
    """The derivation to run and the inputs to re-run it on (these win over the file's)."""
    if optional:
        p.add_argument("derivation", nargs="?", default="seed", help="derivation name or .yaml path (default: seed)")
    else:
        p.add_argument("derivation", help="derivation name (seed, transformers, training) or .yaml path")
    p.add_argument("--model", help="re-run on this model card instead of the document's")
    p.add_argument("--chip", help="re-run on this chip card instead of the document's")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="re-run with a setting changed, e.g. batch_tokens=8388608, chips=4096, ckpt_per_layer=2")


def _parser() -> argparse.ArgumentParser:
    parser = Parser(prog="symroof", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("count", help="exact parameters and FLOPs of a model")
    p.add_argument("model", help="card name (llama3-70b), card .yaml path, or HF config.json path")
    p.add_argument("--batch", type=_size_int, default=1, help="sequences per step (B)")
    p.add_argument("--seq", type=_size_int, help="tokens per sequence (T; default 4096, or a learned position table's length)")
    p.add_argument("--attention", choices=("causal", "full"), default="causal",
                   help="count the causal half of the attention core, or all of it (PyTorch's count)")
    p.add_argument("--6n", dest="six_n", action="store_true", help="use the 6·N approximation")
    _run_options(p, layers=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_count)

    p = sub.add_parser("ops", help="per-op FLOPs, bytes and arithmetic intensity on a chip")
    p.add_argument("model", help="card name, card .yaml path, or HF config.json path")
    p.add_argument("--chip", required=True, help="chip card name or .yaml path")
    p.add_argument("--batch", type=_size_int, default=1, help="sequences (B)")
    p.add_argument("--seq", type=_size_int, help="tokens per sequence (T; default 4096, or a learned position table's length)")
    p.add_argument("--attention", choices=("causal", "full"), default="causal")
    p.add_argument("--kernel", choices=("fused", "eager"), default="fused",
                   help="fused attention keeps the T×S scores on chip; eager writes them to HBM")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a chip number")
    _run_options(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_ops)

    add_result_commands(sub, _run_options, _positive_int)

    add_runs_commands(sub)

    p = sub.add_parser("plan", help="search parallelism strategies and meshes; rank by step time")
    p.add_argument("model", help="card name, card .yaml path, or HF config.json path")
    p.add_argument("--chip", required=True, help="chip card name or .yaml path")
    _plan_options(p, required=True)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a chip number")
    p.add_argument("--predict", type=_positive_int, metavar="N",
                   help="rank the N best meshes by the calibrated step model (as symroof predict)")
    p.add_argument("--matmul-dtype", dest="matmul_dtype", metavar="DTYPE",
                   help="with --predict: the layers' weight matmuls in this dtype (fp8: TransformerEngine's "
                        "recipe), the predicted MFU at its peak; the search itself is bf16")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_plan)

    p = sub.add_parser("serve", help="decode/prefill bounds on a slice; without --batch, the Pareto front")
    p.add_argument("model", help="card name, card .yaml path, or HF config.json path")
    for name in ("chip", "chips", "batch", "context", "prompt", "generate", "mfu", "json"):
        p.add_argument(f"--{name}", required=name in ("chip", "chips"), **({"action": "store_true"} if name == "json" else {}))
    for name in ("weights", "kv", "act", "math"):
        p.add_argument(f"--{name}-dtype", default=None if name == "kv" else "bf16", metavar="DTYPE")
    p.add_argument("--mesh", action="append", metavar="AXIS=DEGREE", help="tensor=Y, data=R")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a chip number")
    p.set_defaults(run=_serve)

    p = sub.add_parser("reproduce", help="check a document's claims (default: the seed) against symroof")
    _derivation_options(p, optional=True)
    p.add_argument("--claim", help="run one claim by id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_reproduce)

    p = sub.add_parser("latex", help="write a derivation as a LaTeX document (or equations only)")
    _derivation_options(p, optional=False)
    p.add_argument("-o", "--output", required=True, help="the .tex file to write")
    p.add_argument("--fragment", action="store_true", help="write just the equations, no preamble")
    p.set_defaults(run=_latex)

    p = sub.add_parser("markdown", help="write a derivation as Markdown with $$...$$ math")
    _derivation_options(p, optional=False)
    p.add_argument("-o", "--output", required=True, help="the .md file to write")
    p.set_defaults(run=_markdown)
    from .report.html import add_command

    add_command(sub, _plan_options, _plan_result, _reproduce_report)
    p = sub.add_parser("plot", help="draw a figure (PNG or SVG; needs the 'plot' extra)")
    kinds = p.add_subparsers(dest="kind", required=True)
    q = kinds.add_parser("ratio", help="T_math/T_comms against batch for DP, FSDP, TP, FSDP+TP (book layer)")
    q.add_argument("--chips", type=_positive_int, required=True, help="chips in the job (N)")
    q.add_argument("--overlap", choices=("sum", "max"), default="sum",
                   help="comms on different axes add (pinned book) or overlap (later revision)")
    r = kinds.add_parser("roofline", help="every op of the model at its arithmetic intensity on the chip's roof")
    r.add_argument("--batch", type=_size_int, default=1, help="sequences (B)")
    r.add_argument("--attention", choices=("causal", "full"), default="causal")
    r.add_argument("--kernel", choices=("fused", "eager"), default="fused")
    z = kinds.add_parser("pareto", help="decode latency per token against tokens/s per chip (symroof serve)")
    z.add_argument("--chips", required=True, help="chips serving the model")
    z.add_argument("--context", action="append", help="context length (repeat for several curves)")
    z.add_argument("--weights-dtype", default="bf16")
    z.add_argument("--kv-dtype")
    for q in (q, r, z):
        q.add_argument("model", help="card name, card .yaml path, or HF config.json path")
        q.add_argument("--chip", required=True, help="chip card name or .yaml path")
        if q is not z:           # pareto's curves are over --context
            q.add_argument("--seq", type=_size_int, help="tokens per sequence (T; default 4096, or a learned position table's length)")
        q.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a chip number")
        q.add_argument("-o", "--output", required=True, help="the .png or .svg file to write")
        q.set_defaults(run=_plot)
    return parser


def _plan_options(p, required: bool) -> None:
    """The plan's run and search options (shared by ``plan`` and ``html plan``)."""
    p.add_argument("--chips", type=_positive_int, required=required, help="chips in the job (e.g. 4096 or 4.096e3)")
    p.add_argument("--batch-tokens", dest="batch_tokens", type=_positive_int, required=required,
                   help="global batch in tokens (e.g. 4194304 or 4e6)")
    p.add_argument("--seq", type=_size_int, help="tokens per sequence (T; default 4096, or a learned position table's length)")
    p.add_argument("--pods", type=_positive_int, default=None,
                   help="slices joined over DCN (a 'pod' axis); default: chosen by the search")
    p.add_argument("--strategy", help="evaluate one family (dp, fsdp, tp, fsdp_tp, fsdp_seq, ...)")
    p.add_argument("--mesh", action="append", metavar="AXIS=DEGREE",
                   help="evaluate one mesh, e.g. --mesh fsdp=1024 --mesh tensor=4")
    p.add_argument("--overlap", choices=("sum", "max"), default="sum",
                   help="comms on different axes add (pinned book) or overlap (later revision)")
    p.add_argument("--book-layer", dest="book_layer", action="store_true",
                   help="the book's In·W_in·W_out layer, forward pass, degrees treated as continuous")
    p.add_argument("--m", dest="m_axes", action="append", metavar="AXIS=M",
                   help="force an axis's M (physical axes spanned), e.g. the book's --m fsdp=2 --m tensor=1")
    from .parallel.schedule_names import PLANNED
    p.add_argument("--schedule", choices=(*PLANNED, "auto"),
                   help=f"pipeline schedule of a stage axis (default gpipe); auto: search {', '.join(PLANNED)}")
    p.add_argument("--pad", action="store_true", help="allow uneven batch and sequence splits, padded (costed)")
    p.add_argument("--mtp-layers", dest="mtp_layers", type=_count_int, help="MTP modules trained after the head (D)")
    p.add_argument("--tokens", type=_positive_int, help="training tokens (for train_days), e.g. 15e12")
    p.add_argument("--mfu", type=_mfu, help="assumed MFU for train_days_at_mfu")
    _run_options(p)


def _run_options(p, layers: bool = False) -> None:
    """Training-memory settings (RunSettings), unset ones at defaults; ``layers``: --recompute-layers (count's)."""
    p.add_argument("--ckpt", dest="ckpt_per_layer", type=_count_int, help="checkpoints per layer (default 2)")
    p.add_argument("--param-bytes", dest="param_bytes", type=_count_int, help="bytes per weight (2)")
    p.add_argument("--grad-bytes", dest="grad_bytes", type=_count_int, help="bytes per gradient kept (2)")
    p.add_argument("--optimizer-bytes", dest="optimizer_bytes", type=_count_int,
                   help="optimizer bytes per parameter (8: Adam, fp32 moments)")
    p.add_argument("--act-bytes", dest="act_bytes", type=_count_int, help="bytes per activation (2)")
    p.add_argument("--mask-bytes", dest="mask_bytes", type=_count_int,
                   help="bytes per saved dropout-mask element (1)")
    p.add_argument("--recompute", help="activation recompute: none, full, selective, or the tensors "
                   "to keep, comma-separated (e.g. layer/attn_residual); sets memory and hardware "
                   "FLOPs instead of --ckpt")
    if layers:
        p.add_argument("--recompute-layers", dest="recompute_layers", type=_count_int,
                       help="how many layers run --recompute's policy, the rest keeping everything (default all: "
                       "Megatron-LM's recompute_num_layers x stages, torchtitan's every k-th block L / k)")


def _mfu(text: str) -> float:
    """A fraction of peak, read as a card reads a number (ASCII digits; float() would read other
    scripts' digits)."""
    from fractions import Fraction

    from .io.cards import parse_number, shown_text

    try:
        value = parse_number(text, "argument", "value")
    except CardError:
        value = None
    if value is None or not Fraction(1, 10 ** 30) <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number in [1e-30, 1], got {shown_text(text)}")
    return float(value)


def _count_int(text: str) -> int:
    return _positive_int(text) if text != "0" else 0


@contextmanager
def _collect_less(restore: bool):
    """A command is one short process whose expressions, graphs and tables live to its end, so the
    cyclic garbage collector is off while it runs: its passes re-examined SymPy's objects again
    and again (about 0.1 s of a cold ``validate``) and freed next to nothing (peak memory of
    reproduce, validate, plan at 131072 chips and DeepSeek-V3's plan within 1 MB either way).
    Reference counting still frees everything that is not a cycle. With ``restore`` the collector
    is put back as it was (turning it on examines everything the command made, once)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if restore and was:
            gc.enable()
        elif not restore:     # the process ends next, and its finalization runs one full collection even
            gc.freeze()       # with the collector off (~0.15 s of a cold validate): frozen objects are left out


def main(argv: list[str] | None = None) -> int:
    """Run one command; a caller in its own process gets the garbage collector back as it was."""
    return _main(argv, restore=True)


def command() -> int:
    """The console script and ``python -m symroof``: ``main``, the collector left off, since the
    process ends next (turning it back on would examine every object the command made: 0.07 s of
    a cold ``validate``)."""
    return _main(None, restore=False)


def _main(argv: list[str] | None, restore: bool) -> int:
    # Unless the user says otherwise: one BLAS thread (the numpy work here is elementwise; OpenBLAS's idle
    # threads burnt ~0.1 s at import on two cores), and SymPy's cache (read at its import) at 10000 results,
    # not 1000: a cold ``validate`` worked 2 % of its instructions out again, a warm one 12 %.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("SYMPY_CACHE_SIZE", "10000")
    args = _parser().parse_args(argv)
    try:
        with _collect_less(restore):
            args.run(args)
    except BrokenPipeError:
        return 0
    except (SymroofError, OSError) as err:       # OSError: a path the system refuses (a name too long)
        print(f"symroof: error: {one_line(str(err))}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(command())
