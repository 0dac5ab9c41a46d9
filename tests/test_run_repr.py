"""The predictions' cache key of a run (``PublishedRun.digest``) digests ``prediction_cache.run_repr``,
which must be the run's whole ``repr`` (each card's text made once per card): compared with ``repr``
itself, character for character, on every published run, and on a run whose chip and model were
replaced after the first ones were shown (a card's text is never another card's)."""

import hashlib
from dataclasses import replace

from symroof.claims.prediction_cache import run_repr
from symroof.claims.published import load_runs


def test_run_repr_is_repr():
    runs = load_runs()
    assert len({id(r.chip) for r in runs}) < len(runs)        # cards shared: the case the memo serves
    for run in runs:
        assert run_repr(run) == repr(run)
        assert run.digest == hashlib.sha256(repr(run).encode()).hexdigest()


def test_a_changed_card_is_shown_as_it_is():
    run = load_runs()[0]
    run_repr(run)
    other = replace(run, chip=replace(run.chip, name=run.chip.name + "-x"),
                    model=replace(run.model, n_layers=run.model.n_layers + 1))
    assert run_repr(other) == repr(other) != repr(run)
    assert other.digest != run.digest
