"""Checks of symroof against independent counters: transformers (parameters), PyTorch's
FlopCounterMode (FLOPs) and XLA's cost analysis (FLOPs and bytes).

Every test here is marked ``validate`` and needs an optional extra: ``validate`` (torch==2.13.0,
transformers) or ``xla`` (jax). Without it the module is skipped with its reason, which
``pytest -rs`` prints, so a run that did not check says so. ``pytest -m validate`` runs only these,
``pytest -m "not validate"`` everything else.
"""

import sys
from pathlib import Path

import pytest

# The shared helper module (hfcases.py) imports by name whatever pytest's --import-mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))

# The shared comparisons' asserts show their values on failure, as a test module's do.
pytest.register_assert_rewrite("hfcompare")
