"""Load a derivation file (derivations/*.yaml) and check each of its claims against symroof.

A derivation is data (read with ``yaml.safe_load``): a document's claims in order, each naming
a quantity from ``symroof.quantities`` with the model, chip and run settings it is
instantiated with, the number the document prints, and a tolerance. Running it gives, per
claim, the expression, the derived number, the document's number and a verdict:

- ``match``: the derived number, rounded to the digits the document prints, is the document's
  number (or within the claim's explicit ``tolerance``, relative);
- ``rounded``: within ``rounded_tolerance`` (relative): the document rounded an input or a step;
- ``differs``: further off. With ``erratum: {reason, reproduce_with}`` the claim is recomputed
  with the inputs the document must have used, to show that they reproduce its number.

Only the document column is typed in; the derived column always comes from the cards.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from fractions import Fraction
from pathlib import Path

import sympy as sp

from ..io.cards import changed_model, parse_number, shown_value

from ..io.chips import override_chip

from ..io.catalog import data_dir, load_chip, load_model

from ..io.readers import read_yaml
from . import derivation_file
from .derivation_file import number
from ..errors import CardError, SymroofError, UnknownNameError
from ..claims.quantities import QUANTITIES, Context, quantity
from .registry import lookup
from ..io.run import RunSettings

VERDICTS = ("match", "rounded", "differs", "n/a")
# numeric run settings a claim (or --set) may give, and what they mean
NUMBERS = {
    "batch_tokens": "global batch in tokens (B·T)", "sequences": "global batch in sequences (B)",
    "seq": "tokens per sequence (T)", "chips": "chips in the job, or 'pod' for the chip card's pod",
    "tokens": "training tokens in the run", "mfu": "model FLOPs utilisation",
    "M_X": "ICI axes of the FSDP axis", "M_Y": "ICI axes of the TP axis", "X": "FSDP degree",
    "Y": "TP degree", "pods": "pods over DCN",
}
CHOICES = {"overlap": ("sum", "max"), "groups": None, "of": None}
# recompute is left out: no derivation quantity reads it (they take the element widths alone)
RUN_KEYS = tuple(f.name for f in fields(RunSettings) if f.name != "recompute")
MODEL_KEYS = ("n_layers", "d_model", "d_ff", "n_heads", "n_kv_heads", "head_dim", "vocab",
              "norms_per_layer", "n_experts", "experts_per_token")
SPECIAL = ("model", "chip")
AT_MOST = {"mfu": 1}        # a utilisation is a share of the peak
MOST = 10**12               # a count or a width, as on a card (io/cards.py): past any real one


# Settings that count things (chips, mesh degrees, tokens per sequence or batch) must be whole numbers;
# training tokens too, past 10^12 (the seed's 15e12).
WHOLE = ("seq", "sequences", "batch_tokens", "chips", "pods", "X", "Y", "M_X", "M_Y")

# Inference claims (book sections 7-8) keep their quantities and settings in their own module.
from . import inference_quantities as _inference  # noqa: E402
WHOLE = _inference.register(QUANTITIES, NUMBERS, CHOICES, WHOLE)

# Hook: the book's sections 1-3 (claims/hardware_quantities.py) add their quantities and settings.
from . import hardware_quantities as _sections_1_3  # noqa: E402

QUANTITIES.update({_name: lookup(_name).derive for _name in _sections_1_3.QUANTITIES})
NUMBERS.update(_sections_1_3.NUMBERS)
CHOICES.update(_sections_1_3.CHOICES)
WHOLE += ("Z",)


def allowed_settings() -> list[str]:
    from ..io.chips import CHIP_SET_KEYS

    return [*SPECIAL, *NUMBERS, *CHOICES, *RUN_KEYS, *MODEL_KEYS, *CHIP_SET_KEYS]


# ----------------------------------------------------------------------------- files


def list_derivations() -> list[str]:
    """Derivation files are the YAML files in derivations/ that hold claims (not the runs data)."""
    return [path.stem for path in sorted(data_dir("derivations").glob("*.yaml"))
            if "claims" in read_yaml(path, "a derivation")]


def load(ref: str) -> dict:
    """A derivation by name (``seed``) or path; checks every key so a typo is one clear line."""
    path = Path(ref)
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        path = data_dir("derivations") / f"{ref}.yaml"
        if not path.is_file() or ref not in list_derivations():
            raise UnknownNameError(f"unknown derivation {ref!r}; known: {', '.join(list_derivations())}")
    raw = read_yaml(path, "a derivation")
    derivation_file.check(raw, str(path), QUANTITIES, check_settings)
    raw["path"] = str(path)
    return raw


# ----------------------------------------------------------------------------- contexts


def check_settings(settings: dict, where: str) -> dict:
    """The settings symroof knows, each value checked as far as it can be without the cards;
    returns the checked values of the numbers, choices, run settings and model keys."""
    unknown = [k for k in settings if k not in allowed_settings()]
    if unknown:
        raise CardError(f"{where}: unknown setting {unknown[0]!r}; allowed: {', '.join(allowed_settings())}")
    return {k: setting(k, v, where) for k, v in settings.items()
            if k in NUMBERS or k in CHOICES or k in RUN_KEYS or k in MODEL_KEYS}


def setting(key: str, value, where: str):
    """One numeric setting, choice, run setting or model key, exactly: '8e1' is 80, and an
    integer setting given 1.5 is refused, never truncated."""
    if key in NUMBERS:
        if key == "chips" and value == "pod":
            return value
        x = number(value, f"{where}: {key}")
        if x <= 0:
            raise CardError(f"{where}: {key} must be positive, got {value!r}")
        if (key in WHOLE or key == "tokens") and not x.is_integer:
            raise CardError(f"{where}: {key} must be a whole number, got {value!r}")
        if key in WHOLE and x > MOST:
            raise CardError(f"{where}: {key} must be a whole number from 1 to 10^12, got {value!r}")
        if key in AT_MOST and x > AT_MOST[key]:
            raise CardError(f"{where}: {key} must be at most {AT_MOST[key]}, got {value!r}")
        return x
    if key in CHOICES:
        allowed = CHOICES[key]
        if key in ("groups", "of"):     # parameter groups, one or a list (checked here, with where)
            from ..core.graph import PARAM_GROUPS

            names = [value] if isinstance(value, str) else value
            if not (isinstance(names, list) and names and all(isinstance(g, str) and g in PARAM_GROUPS for g in names)):
                raise CardError(f"{where}: {key} must name parameter groups from: {', '.join(PARAM_GROUPS)}, "
                                f"got {shown_value(value)}")
            return value
        if allowed and True in allowed and isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"          # --set gives text where YAML gives true/false
        if allowed and not any(value == a and type(value) is type(a) for a in allowed):
            shown = ", ".join(str(a).lower() if isinstance(a, bool) else a for a in allowed)
            raise CardError(f"{where}: {key} must be one of {shown}, got {value!r}")
        return value
    least = 1 if key in MODEL_KEYS else 0          # a width in bytes may be 0 (the seed's gradients)
    x = parse_number(value, where, key)
    if x.denominator != 1 or not least <= x <= MOST:
        raise CardError(f"{where}: key '{key}' must be an integer from {least} to 10^12, got {value!r}")
    return int(x)


def context(settings: dict, where: str, flagged=()) -> Context:
    """Cards, run settings and numeric settings from one merged settings mapping; ``flagged``
    names the keys given with --set, for the card's errors."""
    from ..io.chips import CHIP_SET_KEYS

    checked = check_settings(settings, where)
    try:          # a card that cannot be read is named with the claim and key that name it
        key = "model"
        card = load_model(str(settings.get("model", "llama3-70b")))
        key = "chip"
        chip = load_chip(str(settings.get("chip", "tpu-v5p")))
    except (CardError, UnknownNameError) as err:     # named by the command line, or by the claim's file
        said = f"--{key}" if key in flagged else f"{where}: key '{key}'"
        raise CardError(f"{said}: {err.args[0] if err.args else err}") from None
    chip = override_chip(chip, {k: str(v) for k, v in settings.items() if k in CHIP_SET_KEYS})
    card_changes = {k: v for k, v in checked.items() if k in MODEL_KEYS}
    if card_changes:
        shown = ", ".join(f"{'--set ' if k in flagged else ''}{k}={settings[k]}" for k in card_changes)
        card = changed_model(card, card_changes, f"{where}: model {card.name} with {shown}")
    run = RunSettings().with_options(**{k: v for k, v in checked.items() if k in RUN_KEYS})
    values = {k: sp.Integer(chip.pod_chips) if k == "chips" and isinstance(v, str) else v
              for k, v in checked.items() if k in NUMBERS or k in CHOICES}
    return Context(card, chip, run, values)


# ----------------------------------------------------------------------------- running


@dataclass
class ClaimResult:
    id: str
    claim: str
    quantity: str
    expression: sp.Expr
    display: sp.Expr
    lhs: str
    values: dict
    unit: str
    derived: sp.Expr
    document: sp.Rational
    document_text: str
    verdict: str
    reason: str = ""
    relative_error: float = 0.0
    note: str = ""
    reproduce: dict = field(default_factory=dict)   # {"with": {...}, "derived": float, "reproduces": bool}

    def _repr_latex_(self) -> str:
        from .display import claim_math

        return f"$${claim_math(self)}$$"

    def _repr_html_(self) -> str:
        from .display import claim_html

        return claim_html(self)


@dataclass
class Report:
    derivation: dict
    results: list
    overrides: dict

    def _repr_latex_(self) -> str:
        from .display import claim_math

        return "$$\\begin{aligned}" + r"\\".join(claim_math(r, aligned=True) for r in self.results) \
            + r"\end{aligned}$$"

    def _repr_html_(self) -> str:
        from .display import report_html

        return report_html(self)


def _auto_tolerance(text: str, document: sp.Rational) -> float:
    """Half a unit in the last digit the document prints, relative: "12.5e9" → 0.05e9 / 12.5e9."""
    mantissa, _, exponent = text.lower().partition("e")
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    half_unit = Fraction(1, 2) * Fraction(10) ** (int(exponent or 0) - decimals)
    return float(half_unit / abs(Fraction(str(document))))


def _relative(derived, document) -> float:
    return float(abs(derived - document) / abs(document)) if document else float(abs(derived))


def run_claim(claim: dict, base: dict, overrides: dict, where: str, defaults: dict) -> ClaimResult:
    settings = {**base, **(claim.get("settings") or {}), **overrides}
    cwhere = f"{where}: claim {claim['id']}"
    q = quantity(claim["quantity"], context(settings, cwhere, overrides))
    derived = _evaluate(q.expr, q.values, cwhere)
    document = number(claim["document"], f"{cwhere}: document")
    text = str(claim["document"])
    given = claim.get("tolerance", defaults.get("tolerance"))      # a given 0 is kept: an exact match
    tol = float(number(given, cwhere)) if given is not None else _auto_tolerance(text, document)
    rounded_tol = float(number(claim.get("rounded_tolerance", defaults.get("rounded_tolerance", 0.03)), cwhere))
    error = _relative(derived, document)
    result = ClaimResult(claim["id"], claim["claim"], claim["quantity"], q.expr,
                         q.display if q.display is not None else q.expr, q.lhs, q.values,
                         claim.get("unit", q.unit), derived, document, text, "", "", error,
                         claim.get("note", ""))
    if overrides:
        result.verdict, result.reason = "n/a", "re-run on other inputs than the document's"
    elif error <= tol:
        result.verdict = "match"
    elif error <= rounded_tol:
        result.verdict, result.reason = "rounded", f"{error:.2%} off: the document rounds"
    else:
        result.verdict = "differs"
        result.reason = f"{error:.1%} off"
    erratum = claim.get("erratum")
    if erratum and not overrides:
        result.reason = f"{result.reason}; {erratum['reason']}" if result.verdict == "differs" else result.reason
        with_ = erratum.get("reproduce_with") or {}
        if with_:
            q2 = quantity(claim["quantity"], context({**settings, **with_}, cwhere + " reproduce_with", overrides))
            again = _evaluate(q2.expr, q2.values, cwhere)
            err2 = _relative(again, document)
            result.reproduce = {"with": dict(with_), "derived": float(again), "relative_error": err2,
                                "reproduces": err2 <= max(tol, rounded_tol)}
    return result


def _evaluate(expr, values, where: str):
    from ..io.bind import evaluate

    try:
        return evaluate(expr, values)
    except SymroofError as err:
        raise SymroofError(f"{where}: {err}") from None


def run(ref: str = "seed", model: str | None = None, chip: str | None = None,
        sets: dict | None = None, only: str | None = None) -> Report:
    """Run a derivation; ``model``/``chip``/``sets`` re-run it on other inputs (they win over the file)."""
    d = load(ref)
    defaults = d.get("defaults") or {}
    base = dict(defaults.get("settings") or {})
    overrides = dict(sets or {})
    check_settings(overrides, "--set")
    for key, value in (("model", model), ("chip", chip)):
        if value and key in overrides:       # two flags for one value: the last never wins silently
            raise CardError(f"--{key} {value} and --set {key}={overrides[key]} both name the {key}; give one")
        if value:
            overrides[key] = value
    claims = d["claims"]
    if only is not None:
        claims = [c for c in claims if c["id"] == only]
        if not claims:
            raise UnknownNameError(f"unknown claim {only!r} in {d['name']}; known: "
                                   f"{', '.join(c['id'] for c in d['claims'])}")
    results = [run_claim(c, base, overrides, d["path"], defaults) for c in claims]
    return Report(d, results, overrides)


def counts(report: Report) -> dict:
    out = {v: 0 for v in VERDICTS}
    for r in report.results:
        out[r.verdict] += 1
    return {k: v for k, v in out.items() if v or k != "n/a"}


def as_json(report: Report) -> list[dict]:
    from ..core.notation import latex, text

    out = []
    for r in report.results:
        item = {"id": r.id, "claim": r.claim, "quantity": r.quantity, "expression": text(r.expression),
                "latex": latex(r.display), "derived": float(r.derived),
                "derived_exact": str(r.derived) if r.derived.is_Rational else None,
                "document": float(r.document),
                "unit": r.unit, "verdict": r.verdict, "relative_error": r.relative_error}
        if r.reason:
            item["reason"] = r.reason
        if r.note:
            item["note"] = r.note
        if r.reproduce:
            item["reproduce_with"] = r.reproduce
        out.append(item)
    return out
