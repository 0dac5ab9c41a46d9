"""``symroof html``: one self-contained HTML page for a derivation run or a plan.

Math is presentation MathML from SymPy's printer (``core.notation``), which browsers render
natively, so the page needs no script and loads nothing from the network. Figures are inlined
as SVG when matplotlib (the ``plot`` extra) is installed; without it the page is still written
and says where the figure would be and why it is not.
"""

from __future__ import annotations

import io

from ..core import markup
from ..errors import CardError

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.45; color: #1f2328; }
table.symroof { border-collapse: collapse; margin: 1rem 0; font-size: 0.92rem; }
table.symroof td, table.symroof th { border-bottom: 1px solid #d0d7de; padding: 0.25rem 0.6rem;
       text-align: left; vertical-align: top; }
div.claim { border-top: 1px solid #d0d7de; margin-top: 1rem; padding-top: 0.5rem; }
math[display="block"] { margin: 0.6rem 0; font-size: 1.1rem; }
p.note, p.missing { color: #57606a; }
figure svg { max-width: 100%; height: auto; }
"""


def page(title: str, *parts: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{markup.text(title)}</title><style>{_STYLE}</style></head>"
            f"<body><h1>{markup.text(title)}</h1>{''.join(parts)}</body></html>\n")


def figure(make, caption: str) -> str:
    """An inline SVG figure from ``make()`` (a ``report.plot.Plot``), or a line saying why it is missing."""
    from .plot import MissingExtraError

    try:
        plot = make()
    except MissingExtraError:
        return (f'<p class="missing">Figure not drawn ({markup.text(caption)}): matplotlib is not '
                "installed; <code>pip install 'symroof[plot]'</code> adds it.</p>")
    buffer = io.StringIO()
    plot.figure.savefig(buffer, format="svg")
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]            # drop the XML prolog and DOCTYPE: HTML takes the element
    return f"<figure>{svg}<figcaption>{markup.text(caption)}</figcaption></figure>"


def derivation_page(report, plots: bool = True) -> str:
    """Every claim of a derivation run with its formula, numbers and verdict, and the chip's roofline."""
    from ..claims.display import report_html

    d = report.derivation
    parts = [report_html(report)]
    if plots:
        from ..io.catalog import load_chip, load_model
        from . import plot

        settings = {**((d.get("defaults") or {}).get("settings") or {}), **report.overrides}
        model, chip = str(settings.get("model", "llama3-70b")), str(settings.get("chip", "tpu-v5p"))
        card, chip_card = load_model(model), load_chip(chip)
        seq = card.sequence(None)
        parts.append("<h2>Roofline</h2>" + figure(lambda: plot.roofline(card, chip_card, 1, seq),
                                                  f"every op of {card.name} (1 × {seq} tokens) on the "
                                                  f"{chip_card.name} roof"))
    return page(f"symroof reproduce {d['name']}", *parts)


def plan_page(result, card, chip, chips: int, seq: int, overlap: str, plots: bool = True) -> str:
    """The chosen mesh and why, the runners-up, and the compute/communication ratio figure."""
    from ..search.plan import Plan
    from ..solve.training import fsdp_tp_optimum

    plan = result if isinstance(result, Plan) else Plan(result)
    parts = [plan._repr_html_(), "<h2>Where X_opt comes from</h2>", fsdp_tp_optimum(overlap=overlap)._repr_html_()]
    if plots:
        from . import plot

        parts.append("<h2>Compute over communication</h2>" + figure(
            lambda: plot.ratio(card, chip, chips, seq, overlap),
            f"T_math / T_comms against tokens per chip on {chips} × {chip.name}"))
    return page(f"{card.name} on {chips} × {chip.name}", *parts)


# The plan's options (cli._plan_options) by their dest, which a derivation page does not read.
_PLAN_ONLY = {**{k: "--" + k.replace("_", "-") for k in ("chips", "batch_tokens", "seq", "pods", "strategy", "mesh",
                                                         "book_layer", "schedule", "pad", "tokens", "mfu", "param_bytes",
                                                         "grad_bytes", "optimizer_bytes", "act_bytes", "mask_bytes",
                                                         "recompute", "mtp_layers")},
              "m_axes": "--m", "ckpt_per_layer": "--ckpt"}


def write_page(args, plan_result, reproduce_report) -> str:
    """``symroof html``: ``plan_result(args)`` and ``reproduce_report(args)`` are the commands' own."""
    from .commands import writable

    writable(args.output)           # before the document module's SymPy import and the run
    from .document import write

    if args.target == "plan":
        needed = (("MODEL", args.model_name), ("--chip", args.chip), ("--chips", args.chips),
                  ("--batch-tokens", args.batch_tokens))
        if any(value is None for _, value in needed):
            raise CardError(f"html plan needs {', '.join(f for f, v in needed if v is None)} (as symroof plan does)")
        if args.model is not None:
            raise CardError(f"html plan: --model {args.model} re-runs a derivation; give the plan's model as MODEL")
        args.model = args.model_name
        result, card, chip = plan_result(args)
        text = plan_page(result, card, chip, args.chips, args.seq, args.overlap, not args.no_plots)
    elif args.model_name is not None:
        raise CardError(f"html {args.target}: unexpected {args.model_name!r}; use --model to re-run on a model")
    else:
        given = [flag for k, flag in _PLAN_ONLY.items() if getattr(args, k, None) not in (None, False)]
        if given or args.overlap != "sum":
            raise CardError(f"html {args.target}: {(given or ['--overlap'])[0]} is a plan option; a derivation "
                            f"takes --model, --chip and --set (or write html plan MODEL ...)")
        args.derivation = args.target
        text = derivation_page(reproduce_report(args), not args.no_plots)
    write(text, args.output)
    return args.output


def add_command(sub, plan_options, plan_result, reproduce_report) -> None:
    """The ``html`` subcommand: a derivation by name, or ``plan`` with the plan's own options."""
    p = sub.add_parser("html", help="write a derivation or a plan as one self-contained HTML page (MathML, inline SVG)")
    p.add_argument("target", help="a derivation (seed, roofline, ...) or 'plan'")
    p.add_argument("model_name", nargs="?", metavar="MODEL", help="for 'plan': card name, card .yaml or config.json")
    p.add_argument("-o", "--output", required=True, help="the .html file to write")
    p.add_argument("--no-plots", dest="no_plots", action="store_true", help="leave the figures out")
    p.add_argument("--model", help="derivation: re-run on this model card instead of the document's")
    p.add_argument("--chip", help="plan: the chip card; derivation: re-run on this chip card")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting or chip number")
    plan_options(p, required=False)
    p.set_defaults(run=lambda args: print(f"wrote {write_page(args, plan_result, reproduce_report)}"))
