"""An on-disk cache of derived expressions, so that a known structure needs no rebuild.

What is stored is SymPy expression trees in a JSON form of our own: each node is a list whose
first item names its type from a short whitelist (``Add``, ``Mul``, ``Pow``, ``Max``, ``Min``,
``Sym``, ``Int``, ``Rat``). Reading rebuilds SymPy objects from that whitelist and looks each
symbol up by name in ``core.symbols``; nothing read is evaluated, unpickled or executed. The
plan's numeric trees are evaluated as data by ``search/tree_numpy.py`` (a fixed table of numpy
operations), without rebuilding them.

An entry is keyed by everything that changes its expressions: what the caller names (the
structure's repr, the strategy family, phase, overlap, ...), the symroof version and the size and
modification time of the source files of the stages that derive expressions or fit numbers to them
(core, parallel, solve, io, search, claims) and of report (the plan command's checks and result live
there: an entry made before they changed would pass input they now refuse). The full key
is stored inside the entry and compared on reading, so a stale or foreign entry is never used:
it is recomputed and overwritten.

Location: ``$SYMROOF_CACHE_DIR``, else ``$XDG_CACHE_HOME/symroof``, else ``~/.cache/symroof``.
``SYMROOF_CACHE=off`` turns it off. A cache that cannot be written is skipped. It holds at most
``MAX_ENTRIES`` entries: past that, the least recently written go first (``prune``).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

FORMAT = 1
_STAGES = ("core", "parallel", "solve", "io", "search", "claims", "report")
_FINGERPRINT: list = []


def cache_dir() -> Path | None:
    if os.environ.get("SYMROOF_CACHE", "").strip().lower() in ("0", "off", "no", "false"):
        return None
    if os.environ.get("SYMROOF_CACHE_DIR"):
        return Path(os.environ["SYMROOF_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "symroof"


def fingerprint() -> str:
    """The symroof version and the size and modification time of every source file of the
    stages that derive expressions, of report and of the package's top level (the command line, whose
    options a cached plan depends on) (a stat per file: cheaper than reading them, and any edit
    or reinstall changes it)."""
    if not _FINGERPRINT:
        from .. import __version__

        root = Path(__file__).resolve().parent.parent
        h = hashlib.sha256()
        for stage in _STAGES:
            for path in sorted((root / stage).glob("*.py")) + (sorted(root.glob("*.py")) if stage == "io" else []):
                st = path.stat()
                h.update(f"{path.name}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
        _FINGERPRINT.append(f"{__version__}:{h.hexdigest()}")
    return _FINGERPRINT[0]


class _Symbols(dict):
    """Every symbol of the table by name; a block type's layer count (``L_<block>``) is declared
    on first use, as ``symbols.layers`` does when a graph is built."""

    def __missing__(self, name: str):
        from ..core.symbols import layers

        if name.startswith("L_") and name[2:].replace("_", "").isalnum():
            self[name] = layers(name[2:])
            return self[name]
        raise KeyError(name)

    def __contains__(self, name) -> bool:
        try:
            self[name]
            return True
        except KeyError:
            return False


def _symbols() -> dict:
    from ..core.symbols import SYMBOLS

    return _Symbols(SYMBOLS)


# ----------------------------------------------------------------------------- trees

_NODES = ("Add", "Mul", "Pow", "Max", "Min")      # SymPy's classes of these names (imported on use)


class _Unstorable(Exception):
    pass


def encode(expr, table: dict) -> list:
    """An expression as a JSON-ready tree; ``_Unstorable`` for anything off the whitelist."""
    if expr.is_Integer:
        return ["Int", str(int(expr))]
    if expr.is_Rational:
        return ["Rat", str(expr.p), str(expr.q)]
    if expr.is_Symbol:
        if table.get(expr.name) is not expr:
            raise _Unstorable(expr.name)
        return ["Sym", expr.name]
    name = type(expr).__name__
    if name not in _NODES:
        raise _Unstorable(name)
    return [name] + [encode(a, table) for a in expr.args]


def decode(tree, table: dict):
    """Rebuild an expression from a tree, by the whitelist only; ``ValueError`` on anything else."""
    if not isinstance(tree, list) or not tree or not isinstance(tree[0], str):
        raise ValueError("not a node")
    kind, rest = tree[0], tree[1:]
    import sympy as sp

    if kind == "Int" and len(rest) == 1 and isinstance(rest[0], str) and len(rest[0]) < 400:
        return sp.Integer(int(rest[0]))
    if kind == "Rat" and len(rest) == 2 and all(isinstance(r, str) and len(r) < 400 for r in rest):
        return sp.Rational(int(rest[0]), int(rest[1]))
    if kind == "Sym" and len(rest) == 1 and rest[0] in table:
        return table[rest[0]]
    if kind in _NODES and rest:
        return getattr(sp, kind)(*(decode(r, table) for r in rest), evaluate=False)
    raise ValueError(f"node {kind!r} is not allowed")


# ----------------------------------------------------------------------------- entries

def _path(key: str) -> Path | None:
    where = cache_dir()
    if where is None:
        return None
    return where / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"


def full_key(kind: str, fields: dict) -> str:
    return json.dumps({"format": FORMAT, "kind": kind, "symroof": fingerprint(), **fields}, sort_keys=True)


def _entry(kind: str, fields: dict) -> dict | None:
    """The stored entry for this key, or None (off, absent, unreadable, or another key's)."""
    key = full_key(kind, fields)
    path = _path(key)
    if path is None or not path.is_file():
        return None
    try:
        entry = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return None
    return entry if isinstance(entry, dict) and entry.get("key") == key else None


def load(kind: str, fields: dict) -> dict | None:
    """The cached expressions for this key, or None (absent, stale, unreadable or not allowed)."""
    entry = _entry(kind, fields)
    if entry is None or not isinstance(entry.get("exprs"), dict):
        return None
    try:
        table = _symbols()
        return {name: decode(tree, table) for name, tree in entry["exprs"].items()}
    except (ValueError, RecursionError, TypeError):
        return None


def _write(kind: str, fields: dict, payload) -> bool:
    """Write ``{"key": ..., **payload()}`` atomically; False if the cache is off or unwritable, or
    the payload cannot be made (an expression off the whitelist, data JSON cannot hold)."""
    key = full_key(kind, fields)
    path = _path(key)
    if path is None:
        return False
    try:
        body = json.dumps({"key": key, **payload()})
        path.parent.mkdir(parents=True, exist_ok=True)
        if not _PRUNED:
            _PRUNED.append(True)
            prune(path.parent)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(body)
        os.replace(tmp, path)
        return True
    except (OSError, ValueError, TypeError, _Unstorable, RecursionError):
        return False


MAX_ENTRIES = 4096          # entries kept; older ones (stale after an upgrade, or rarely used) go first
_PRUNED: list = []          # once per process, at its first write


def prune(where: Path, limit: int = MAX_ENTRIES) -> int:
    """Keep the cache under ``limit`` entries: past it, remove the least recently written until
    it is at 90 % of the limit. Returns how many were removed."""
    try:
        entries = [(e.stat().st_mtime_ns, e.path) for e in os.scandir(where) if e.name.endswith(".json")]
    except OSError:
        return 0
    if len(entries) <= limit:
        return 0
    removed = 0
    for _, path in sorted(entries)[:len(entries) - limit * 9 // 10]:
        try:
            os.remove(path)
            removed += 1
        except OSError:
            pass
    return removed


def store(kind: str, fields: dict, exprs: dict) -> bool:
    """Write an expression entry; False if it could not be written (see ``_write``)."""
    def payload():
        table = _symbols()
        return {"exprs": {n: encode(e, table) for n, e in exprs.items()}}
    return _write(kind, fields, payload)


def load_data(kind: str, fields: dict):
    """Plain JSON data (numbers, strings, lists) stored under this key, or None."""
    entry = _entry(kind, fields)
    return None if entry is None else entry.get("data")


def store_data(kind: str, fields: dict, data) -> bool:
    return _write(kind, fields, lambda: {"data": data})


def cached_trees(kind: str, fields: dict, compute) -> tuple:
    """``(trees, None)``: the entry's JSON trees, read or made from ``compute()`` and stored;
    ``(None, exprs)`` when the computed expressions are off the whitelist (not stored)."""
    entry = _entry(kind, fields)
    if entry is not None and isinstance(entry.get("exprs"), dict):
        return entry["exprs"], None
    exprs = compute()
    try:
        table = _symbols()
        trees = {n: encode(e, table) for n, e in exprs.items()}
    except (_Unstorable, RecursionError):
        return None, exprs
    _write(kind, fields, lambda: {"exprs": trees})
    return trees, None


def cached(kind: str, fields: dict, compute) -> dict:
    """``compute()`` (a dict of name -> expression), read from the cache when a valid entry exists."""
    found = load(kind, fields)
    if found is not None:
        return found
    exprs = compute()
    store(kind, fields, exprs)
    return exprs
