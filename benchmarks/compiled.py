"""Byte-compile symroof's modules before a benchmark times anything.

``import sympy``, the baseline every benchmark divides by, reads SymPy's compiled modules, which
``pip install`` wrote. symroof installed the same way is compiled too; run from a checkout with
``PYTHONDONTWRITEBYTECODE`` set (as on the machine these benchmarks were measured on) it would
instead compile every one of its modules again in each process, which no user of an installed
symroof pays. Compiling first
(into the ignored ``__pycache__`` folders) compares like with like.
"""

from __future__ import annotations

import compileall
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def byte_compile() -> None:
    if not compileall.compile_dir(ROOT / "symroof", quiet=1):
        raise SystemExit("benchmarks: symroof's modules did not compile")
