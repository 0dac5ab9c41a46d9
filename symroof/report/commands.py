"""The ``formula``, ``sensitivity`` and ``cards`` commands: their arguments and what they print.

``cli.py`` registers them with ``add_result_commands``; each command loads the cards it names,
calls the registry, the planner or the card checks, and prints text or JSON. ``Parser`` is the
command line's parser, its errors on one line; ``settings``, ``parse_mesh`` and ``writable`` read
and check the flags other commands share (--set, --mesh and --m, -o).
"""

from __future__ import annotations

import argparse
import json

from ..errors import CardError


class Parser(argparse.ArgumentParser):
    """argparse's parser, its errors on one line like every other error (the usage it would print
    first is one ``--help`` away), and a flag that takes one value refused when given twice."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.register("action", None, _Once)
        self.register("action", "store", _Once)

    def parse_known_args(self, args=None, namespace=None):
        namespace, rest = super().parse_known_args(args, namespace)
        vars(namespace).pop(_GIVEN, None)        # _Once's record of this parse, not a setting
        return namespace, rest

    def error(self, message: str):
        # argparse quotes an unrecognized argument or an invalid choice whole, however long
        message = " ".join(f"{word[:30]}... ({len(word)} characters)" if len(word) > 60 else word
                           for word in message.split(" "))
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


_GIVEN = "_flags_given"


class _Once(argparse.Action):
    """argparse's plain store, but a flag given twice is refused, as a card's repeated key is:
    argparse would keep the last value without a word (``--chips 256 --chips 512``)."""

    def __call__(self, parser, namespace, values, option_string=None):
        given = vars(namespace).setdefault(_GIVEN, {})
        if option_string is not None:
            if self.dest in given:
                raise argparse.ArgumentError(self, f"given twice ({given[self.dest]}, then {values}); give it once")
            given[self.dest] = values
        setattr(namespace, self.dest, values)


def one_line(message: str) -> str:
    """A message with any line break escaped (a name or path read from a file may carry one), and a word
    past 300 characters cut short (a name given on the command line was quoted whole, however long)."""
    message = message.replace("\r", "\\r").replace("\n", "\\n")
    return " ".join(f"{word[:60]}... ({len(word)} characters)" if len(word) > 300 else word
                    for word in message.split(" "))


def settings(pairs: list[str] | None) -> dict[str, str]:
    """``--set KEY=VALUE`` pairs as a dict (values stay text; the card checks parse them)."""
    out = {}
    for pair in pairs or []:
        key, eq, value = pair.partition("=")
        if not eq or not key or not value:
            raise CardError(f"--set {pair!r}: expected KEY=VALUE, e.g. hbm_bytes_per_s=3.35e12")
        out[once(out, key.strip(), value.strip(), "--set")] = value.strip()
    return out


def once(seen: dict, key: str, value, flag: str) -> str:
    """``key``, refused if ``seen`` has it: a card or config.json refuses a repeated key, and so
    does the command line, rather than let the last one win silently."""
    if key in seen:
        raise CardError(f"{flag} {key} given twice ({key}={seen[key]}, then {key}={value}); give it once")
    return key


def parse_mesh(pairs: list[str] | None, flag: str = "--mesh", value_name: str = "DEGREE") -> dict[str, int] | None:
    """``--mesh AXIS=DEGREE`` pairs (also ``a=1,b=2``) as a dict; one-line errors, naming ``flag``, for bad text."""
    from ..parallel.topology import ORDER

    if not pairs:
        return None
    out: dict[str, int] = {}
    for pair in (p for item in pairs for p in item.split(",")):
        name, eq, value = (part.strip() for part in pair.partition("="))
        if not eq or name not in ORDER:
            raise CardError(f"{flag} {pair!r}: expected AXIS={value_name} with AXIS one of {', '.join(ORDER)}")
        # isascii: isdigit alone takes '²', which int() refuses
        if not (value.isascii() and value.isdigit()) or len(value) > 12 or int(value) < 1:
            raise CardError(f"{flag} {pair[:40]!r}: {value_name} must be a positive integer below 1e12")
        out[once(out, name, value, flag)] = int(value)
    return out


def writable(path: str) -> str:
    """``path``, refused in ``document.write``'s words if it cannot be written: checked before the
    seconds of work that fill it, not after (here, not in the document module, whose SymPy import
    alone takes half a second). Creates nothing, so a failed run leaves no empty file."""
    import errno
    import os
    from pathlib import Path

    from ..errors import SymroofError

    target = Path(path)
    parent = target.parent
    why = (errno.EISDIR if target.is_dir() else errno.ENOENT if not parent.exists()
           else errno.ENOTDIR if not parent.is_dir()
           else errno.EACCES if not os.access(target if target.exists() else parent, os.W_OK) else None)
    if why is not None:
        raise SymroofError(f"cannot write {path}: {os.strerror(why)}")
    return path


def cards_and_run(args):
    """The model card, chip card (with --set) and run settings a command names; None where not named."""
    from ..io.chips import override_chip
    from ..io.catalog import load_chip, load_model
    from ..io.run import RunSettings

    card = load_model(args.model) if getattr(args, "model", None) else None
    chip = load_chip(args.chip) if getattr(args, "chip", None) else None
    if getattr(args, "set", None):
        if chip is None:
            raise CardError("--set changes a chip card's numbers; name the chip with --chip")
        chip = override_chip(chip, settings(args.set))
    given = {k: v for k, v in vars(args).items() if k in RunSettings.__dataclass_fields__ and v is not None}
    run = RunSettings().with_options(**given) if (card or chip or given) else None
    return card, chip, run


def unused_peaks(chip, dtype: str) -> list[str]:
    """Peaks set with --set for a dtype this run does not compute in: named, never silently kept."""
    return [m for m in getattr(chip, "modified", ()) if m.startswith("peak_flops_per_s.")
            and m.split("=")[0].split(".", 1)[1] != dtype]


def math_dtype(chip, dtype: str | None, command: str) -> str:
    """``--dtype`` checked against the chip card: it picks one of the card's peaks, so without a
    chip card it would do nothing, and one the card lacks is the flag's fault, not the file's."""
    if dtype is None:
        return "bf16"
    if chip is None:
        raise CardError(f"--dtype {dtype}: {command} without a chip card uses no peak; name one "
                        f"(e.g. --chip tpu-v5p) or leave out --dtype")
    if dtype not in chip.peak_flops_per_s:
        from ..io.chips import DTYPES

        how = (f"--set peak_flops_per_s.{dtype}=... adds one" if dtype in DTYPES
               else f"{dtype} is no dtype; dtypes: {', '.join(DTYPES)}")
        raise CardError(f"--dtype {dtype}: the chip card {chip.name} has peak_flops_per_s for "
                        f"{', '.join(chip.peak_flops_per_s)} ({how})")
    return dtype


def _note_unused(chip, dtype: str) -> list[str]:
    return [f"note: --set {m} is not used: this run computes in {dtype} (--dtype {m.split('=')[0].split('.')[1]} "
            "would use it)" for m in unused_peaks(chip, dtype)] if chip is not None else []


# ----------------------------------------------------------------------------- formula


def formula(args) -> None:
    from ..claims.formulas import FORMULAS, instantiate
    from ..core.symbols import symbol
    from ..io.bind import parse_value
    from .results import formula_json, formula_text

    if args.name is None:
        for name, (description, result) in FORMULAS.items():
            print(f"{name:26s} {result.unit or '-':9s} {result.how:7s} {description}")
        return
    card, chip, run = cards_and_run(args)
    dtype = math_dtype(chip, args.dtype, "formula")
    _whole_batch(args.chips, args.batch_tokens, args.seq)
    at, given = {}, {}
    for pair in args.at or []:
        name, eq, value = pair.partition("=")
        if not eq:
            raise CardError(f"--at {pair!r}: expected SYMBOL=VALUE, e.g. --at n_chips=4096")
        sym = symbol(name.strip())
        given[once(given, name.strip(), value.strip(), "--at")] = value.strip()
        at[sym] = parse_value(name.strip(), value, f"--at {pair}")
        _at_beside_flag(args, name.strip(), value.strip())
    inst = instantiate(args.name, card, chip, run, args.chips, args.batch_tokens, args.seq, at,
                       args.book_layer, dtype, args.overlap)
    unused = sorted(str(s) for s in at if s not in inst.expr.free_symbols)
    if unused:
        raise CardError(f"--at {unused[0]}: {args.name} has no symbol {unused[0]} "
                        f"(its symbols: {', '.join(sorted(map(str, inst.expr.free_symbols)))})")
    notes = _note_unused(chip, dtype)
    if args.json:
        print(json.dumps({**formula_json(inst), "chip": chip.label if chip else None,
                          "notes": inst.notes + notes}, indent=2))
    else:
        print(formula_text(inst, args.latex) + "".join("\n" + n for n in notes))


def _whole_batch(chips, batch_tokens, seq) -> None:
    """formula's --chips, and --batch-tokens over --seq, as --at n_chips and B are: counts of at most
    10^12 (B·T at most 10^24 without --seq), the batch whole sequences."""
    if chips is not None and chips > 10**12:
        raise CardError(f"--chips {chips:.3g}: n_chips counts chips, from 1 to 10^12")
    if batch_tokens is not None and batch_tokens > 10**12 * (seq or 10**12):
        raise CardError(f"--batch-tokens {batch_tokens:.3g}: B counts sequences, from 1 to 10^12 "
                        f"({'of ' + str(seq) + ' tokens' if seq else 'of T tokens, T at most 10^12'})")
    if batch_tokens is not None and seq is not None and batch_tokens % seq:
        raise CardError(f"--batch-tokens {batch_tokens} is not a whole number of {seq}-token sequences")


# The symbols a formula flag puts in: --at the same symbol would replace the flag's number
# after M_X, M_Y (from --chips) or B (from --batch-tokens over --seq) were worked out from it.
_FLAG_SYMBOLS = (("chips", "--chips", "n_chips"), ("seq", "--seq", "T"), ("batch_tokens", "--batch-tokens", "B"),
                 ("ckpt_per_layer", "--ckpt", "n_ckpt"), ("param_bytes", "--param-bytes", "b_param"),
                 ("grad_bytes", "--grad-bytes", "b_grad"), ("optimizer_bytes", "--optimizer-bytes", "b_opt"),
                 ("act_bytes", "--act-bytes", "b_act"), ("mask_bytes", "--mask-bytes", "b_mask"))


def _at_beside_flag(args, name: str, value: str) -> None:
    for dest, flag, sym in _FLAG_SYMBOLS:
        if name == sym and getattr(args, dest, None) is not None:
            raise CardError(f"--at {name}={value} and {flag} {getattr(args, dest)} both set {name}; give one")


# ----------------------------------------------------------------------------- sensitivity


def sensitivity(args) -> None:
    from ..claims.sensitivity import analyse
    from ..search.plan import Options, plan
    from .results import sensitivity_json, sensitivity_text

    card, chip, run = cards_and_run(args)
    args.seq = card.sequence(args.seq)
    forced = tuple((parse_mesh(args.m_axes, "--m", "M") or {}).items())
    for axis, m in forced:
        if not 1 <= m <= len(chip.pod_shape):
            raise CardError(f"--m {axis}={m}: M must be between 1 and {len(chip.pod_shape)}")
    options = (Options(args.overlap, "forward", True, forced, continuous=True) if args.book_layer
               else Options(args.overlap, m_override=forced))
    if args.plot and not args.output:
        raise CardError("--plot needs -o FILE.png (or .svg)")
    if args.output and not args.plot:
        raise CardError(f"-o {args.output}: the file is --plot's figure; add --plot SYMBOL or leave out -o")
    if args.plot:
        from . import plot as plotlib

        plotlib.output_path(args.output)
    p = plan(card, chip, args.chips, args.batch_tokens, args.seq, args.pods, args.strategy,
             parse_mesh(args.mesh), run, options)
    point = analyse(p, card, chip, run)
    if args.plot:
        plotlib.sensitivity_symbol(point, args.plot)
    notes = _note_unused(chip, "bf16")
    if args.json:
        print(json.dumps({**sensitivity_json(point), "chip": chip.label, "notes": notes}, indent=2))
    else:
        print(sensitivity_text(point, card, chip) + "".join("\n" + n for n in notes))
    if args.plot:
        figure = plotlib.sensitivity(point, args.plot)
        print(f"wrote {figure.save(args.output)}")


# ----------------------------------------------------------------------------- cards


def cards(args) -> None:
    from ..io.chips import override_chip
    from ..io.catalog import list_cards, load_chip, load_model
    from .cardview import chip_report, listing, model_report

    names = list_cards()
    if args.name is None:
        if args.set or args.dtype:
            raise CardError(f"{'--set' if args.set else '--dtype'} is for one chip card; name it: "
                            f"symroof cards tpu-v5p {'--set' if args.set else '--dtype'} ...")
        print(json.dumps(names, indent=2) if args.json else listing(names))
        return
    known = names["models"] + names["chips"]
    if args.name not in known and not args.name.endswith((".yaml", ".yml", ".json")):
        from ..errors import UnknownNameError

        raise UnknownNameError(f"unknown card {args.name!r}; model cards: {', '.join(names['models'])}; "
                               f"chip cards: {', '.join(names['chips'])} (or a card .yaml or config.json path)")
    is_chip = args.name in names["chips"] or (args.name not in names["models"] and _file_kind(args.name) == "chip")
    if not is_chip:
        if args.set or args.dtype:
            raise CardError(f"{'--set changes chip numbers' if args.set else '--dtype picks a chip card peak'}; "
                            f"{args.name} is a model card")
        report = model_report(load_model(args.name))
    else:
        chip = override_chip(load_chip(args.name), settings(args.set))
        dtype = math_dtype(chip, args.dtype, "cards")
        report = chip_report(chip, dtype)
        report["notes"] += _note_unused(chip, dtype)
    print(json.dumps(report["json"], indent=2) if args.json else report["text"]
          + "".join("\n" + n for n in report["notes"]))


def _file_kind(ref: str) -> str:
    from pathlib import Path

    from ..io.readers import read_yaml

    path = Path(ref)
    if path.suffix in (".yaml", ".yml") and path.exists():
        raw = read_yaml(path)
        return str(raw.get("kind", "model")) if isinstance(raw, dict) else "model"
    return "model"


# ----------------------------------------------------------------------------- arguments


def positive_int(text: str, most: int | None = None) -> int:
    """A positive integer written exactly, in decimal or scientific notation (``4194304``, ``4e6``,
    ``15e12``), of at most ``most`` where given; a fraction (``1.5``), a non-number or more than 4300
    digits is refused, the text quoted short."""
    from ..io.cards import parse_number, shown_text

    try:
        value = parse_number(text, "argument", "value") if len(text) <= 4300 else None
    except CardError:
        value = None
    if value is None or value.denominator != 1 or not 0 < value <= (most or value):
        size = f" from 1 to 10^{len(str(most)) - 1}" if most else ""
        raise argparse.ArgumentTypeError(f"expected a positive integer{size} (e.g. 4096 or 4e6), got {shown_text(text)}")
    return int(value)


def size_int(text: str) -> int:
    """A count of sequences or of tokens per sequence: at most 10^12, as a card's or a runs file's count."""
    return positive_int(text, 10**12)


def add_result_commands(sub, run_options, positive_int) -> None:
    p = sub.add_parser("formula", help="a derived result: closed form, with the run's numbers in, and its value")
    p.add_argument("name", nargs="?", help="result name; omit to list them")
    p.add_argument("--model", help="model whose own graph to use and whose shapes to put in")
    p.add_argument("--book-layer", dest="book_layer", action="store_true",
                   help="derive on the book's In·W_in·W_out layer (training.md) instead of the model's graph")
    p.add_argument("--chip", help="chip card whose numbers to put in (its topology decides M_X, M_Y)")
    p.add_argument("--chips", type=positive_int, help="chips in the job (n_chips)")
    p.add_argument("--batch-tokens", dest="batch_tokens", type=positive_int, help="global batch in tokens (B·T)")
    p.add_argument("--seq", type=size_int, help="tokens per sequence (T)")
    p.add_argument("--at", action="append", metavar="SYMBOL=VALUE",
                   help="put in a number, with its unit where it has one: --at W_ici=1.8e11B/s --at n_chips=4096")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a chip number")
    p.add_argument("--dtype", help="math dtype: which of the chip's peaks is C (default bf16)")
    p.add_argument("--overlap", choices=("sum", "max"), default="sum")
    run_options(p)
    p.add_argument("--latex", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=formula)

    p = sub.add_parser("sensitivity", help="at a plan point: d ln t_step / d ln x and the break-even of "
                                           "every chip and run number")
    p.add_argument("model", help="card name, card .yaml path, or HF config.json path")
    p.add_argument("--chip", required=True, help="chip card name or .yaml path")
    p.add_argument("--chips", type=positive_int, required=True, help="chips in the job")
    p.add_argument("--batch-tokens", dest="batch_tokens", type=positive_int, required=True)
    p.add_argument("--seq", type=size_int, help="tokens per sequence (T; default 4096, or a learned position table's length)")
    p.add_argument("--pods", type=positive_int, default=None,
                   help="slices joined over DCN (a 'pod' axis); default: chosen by the search")
    p.add_argument("--strategy", help="one family (dp, fsdp, tp, fsdp_tp, ...); default: the plan's best")
    p.add_argument("--mesh", action="append", metavar="AXIS=DEGREE", help="one mesh, e.g. --mesh fsdp=4096")
    p.add_argument("--m", dest="m_axes", action="append", metavar="AXIS=M", help="force an axis's M")
    p.add_argument("--overlap", choices=("sum", "max"), default="sum")
    p.add_argument("--book-layer", dest="book_layer", action="store_true",
                   help="the book's In·W_in·W_out layer, forward pass, degrees continuous")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a chip number")
    p.add_argument("--plot", metavar="SYMBOL", help="also draw t_step against this number (C, W_hbm, W_ici, "
                                                    "W_dcn, B, T) with the regime changes marked")
    p.add_argument("-o", "--output", help="the .png or .svg file for --plot")
    run_options(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=sensitivity)

    p = sub.add_parser("cards", help="list the cards, or show one card's derived numbers")
    p.add_argument("name", nargs="?", help="a card name or .yaml path: show its numbers and derived ones")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a chip number")
    p.add_argument("--dtype", help="the run's math dtype (marks which peak is used; default bf16)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cards)
