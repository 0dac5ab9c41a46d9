"""The keys of a derivation file (derivations/*.yaml), each checked for its type and range when
the file is read: a slip is one ``CardError`` line naming the file, the claim and the key, not a
TypeError or a division by zero when the claim is run or printed.

A claim's settings are checked by the caller's ``check_settings`` (claims/reproduce.py, where
the settings are known); what needs the cards (n_kv_heads dividing the card's n_heads) is
checked when the claim is run.
"""

from __future__ import annotations

import sympy as sp

from ..errors import CardError, UnknownNameError
from ..io.cards import _check_keys, parse_number, shown_value

CLAIM_REQUIRED = ("id", "claim", "quantity", "document")
CLAIM_KEYS = set(CLAIM_REQUIRED) | {"settings", "tolerance", "rounded_tolerance", "note", "erratum", "unit"}
FILE_REQUIRED = ("name", "title", "claims")
FILE_KEYS = set(FILE_REQUIRED) | {"source", "defaults", "notation", "fix_in_formula", "description"}
DEFAULTS_KEYS = {"settings", "tolerance", "rounded_tolerance"}
ERRATUM_KEYS = {"reason", "reproduce_with"}
# How claims/display.py prints formulas; "model" is the cards' own notation (nothing renamed).
NOTATIONS = ("model", "tokens", "training")


def number(value, where: str) -> sp.Rational:
    """A YAML or command-line number, exactly (``1.25e14`` is 125000000000000), by the cards' reader."""
    try:
        exact = parse_number(value, where, "")
    except CardError:
        raise CardError(f"{where}: expected a number, got {shown_value(value)}") from None
    return sp.Rational(exact.numerator, exact.denominator)


def check(raw: dict, where: str, quantities, check_settings) -> None:
    """Every key of a derivation read by ``read_yaml``: known, of its type and in range."""
    _keys(raw, FILE_KEYS, FILE_REQUIRED, where)
    for key in ("name", "title", "source", "description"):
        _text(raw, key, where, required=key in FILE_REQUIRED)
    if "notation" in raw and raw["notation"] not in NOTATIONS:
        raise CardError(f"{where}: key 'notation' is {raw['notation']!r}; allowed: {', '.join(NOTATIONS)}")
    if "fix_in_formula" in raw:
        _symbol_names(raw["fix_in_formula"], f"{where}: key 'fix_in_formula'")
    if raw.get("defaults") is not None:
        defaults = raw["defaults"]
        _keys(defaults, DEFAULTS_KEYS, (), f"{where}: defaults")
        _tolerances(defaults, f"{where}: defaults")
        _settings(defaults, "settings", f"{where}: defaults.settings", check_settings)
    if not isinstance(raw["claims"], list) or not raw["claims"]:
        raise CardError(f"{where}: 'claims' must be a non-empty list")
    seen = set()
    for i, claim in enumerate(raw["claims"], 1):
        if not isinstance(claim, dict):
            raise CardError(f"{where}: claim {i} must be a mapping with keys {', '.join(CLAIM_REQUIRED)}")
        named = claim.get("id") if isinstance(claim.get("id"), str) else None
        cwhere = f"{where}: claim {i}" + (f" ({named})" if named else "")
        _keys(claim, CLAIM_KEYS, CLAIM_REQUIRED, cwhere)
        for key in ("id", "claim", "quantity", "note", "unit"):
            _text(claim, key, cwhere, required=key in CLAIM_REQUIRED)
        if claim["quantity"] not in quantities:
            raise UnknownNameError(f"{cwhere}: unknown quantity {claim['quantity']!r}; "
                                   f"known: {', '.join(quantities)}")
        if claim["id"] in seen:
            raise CardError(f"{cwhere}: repeated id {claim['id']!r}")
        seen.add(claim["id"])
        if number(claim["document"], f"{cwhere}: document") == 0:
            # the tolerances are relative to the document's number
            raise CardError(f"{cwhere}: key 'document' must be a non-zero number, got {shown_value(claim['document'])}")
        _tolerances(claim, cwhere)
        _settings(claim, "settings", f"{cwhere}: settings", check_settings)
        if "erratum" in claim:
            _keys(claim["erratum"], ERRATUM_KEYS, ("reason",), f"{cwhere}: erratum")
            _text(claim["erratum"], "reason", f"{cwhere}: erratum", required=True)
            _settings(claim["erratum"], "reproduce_with", f"{cwhere}: erratum.reproduce_with", check_settings)


def _keys(raw, allowed, required, where: str) -> None:
    if not isinstance(raw, dict):
        raise CardError(f"{where}: expected a mapping with keys {', '.join(sorted(allowed))}, got {raw!r}")
    _check_keys(raw, set(allowed), tuple(required), where)


def _text(raw: dict, key: str, where: str, required: bool) -> None:
    if key in raw and not (isinstance(raw[key], str) and (raw[key] or not required)):
        raise CardError(f"{where}: key '{key}' must be {'non-empty ' if required else ''}text, got {raw[key]!r}")


def _tolerances(raw: dict, where: str) -> None:
    for key in ("tolerance", "rounded_tolerance"):
        if key in raw and not 0 <= number(raw[key], f"{where}: {key}") <= 1:
            raise CardError(f"{where}: {key} is relative: from 0 to 1, got {raw[key]!r}")


def _settings(raw: dict, key: str, where: str, check_settings) -> None:
    value = raw.get(key)
    if value is None:
        return
    if not isinstance(value, dict):
        raise CardError(f"{where}: expected a mapping of KEY: VALUE, got {value!r}")
    check_settings(value, where)


def _symbol_names(names, where: str) -> None:
    from ..core.symbols import SYMBOLS

    if not isinstance(names, list):
        raise CardError(f"{where} must be a list of symbol names, e.g. [M_X, M_Y], got {names!r}")
    for name in names:
        if not isinstance(name, str) or name not in SYMBOLS:
            raise CardError(f"{where}: unknown symbol {name!r}; allowed: {', '.join(SYMBOLS)}")
