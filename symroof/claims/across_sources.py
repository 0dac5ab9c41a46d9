"""How far a chip's calibration is from runs of a source it was not fitted on.

A card's ``held_out`` record scores the calibration on the data's check rows, which come mostly
from the fit rows' own sources: other rows of the same tables, one framework and software release
each. A user's run is usually of another framework or release, and its error is larger. This is
the estimate for that case, leave one source out: for each source of the chip's runs, the
calibration fitted on the other sources' fit rows alone predicts every row of that source, fit and
check alike (none of them was in that fit). A chip whose fit rows all come from one source gets it
only for its other sources' rows, and none where it has no other source.

A run's source is the repository or paper its ``source`` text names first (``source_of``).
"""

from __future__ import annotations

import re

_ARXIV = re.compile(r"arXiv[\s:]*(\d{4}\.\d{4,5})", re.IGNORECASE)
_GITHUB = re.compile(r"https?://(?:www\.)?github\.com/([^/\s]+/[^/\s#?]+)", re.IGNORECASE)
_ARXIV_URL = re.compile(r"https?://(?:www\.)?arxiv\.org/(?:abs|pdf)/(\d{4}\.\d{4,5})", re.IGNORECASE)
_URL = re.compile(r"https?://([^/\s]+)", re.IGNORECASE)


def source_of(text: str) -> str:
    """The publication a run's ``source`` names first: ``arXiv:ID`` for a paper cited by its arXiv
    identifier or address, ``owner/repo`` for a GitHub address, the host for another address, else
    the text's first word up to an ``@`` (a repository at a commit, ``NVIDIA/dgxc-benchmarking@35a9aec``),
    a comma or a semicolon. Rows whose source text starts the same way are one source."""
    text = text.strip()
    first = text.split(maxsplit=1)[0] if text else ""
    for pattern, form in ((_ARXIV, "arXiv:{}"), (_ARXIV_URL, "arXiv:{}"), (_GITHUB, "{}"), (_URL, "{}")):
        found = pattern.match(text)
        if found:
            return form.format(found.group(1).removesuffix(".git"))
    return re.split(r"[@,;]", first, maxsplit=1)[0] or text


def sources(results: list) -> dict:
    """Each run's source (by run name), one spelling per publication: ``source_of`` compared without
    case, a repository by its name alone (``mosaicml/llm-foundry`` and ``llm-foundry`` are one), the
    spelling first met kept."""
    first: dict = {}
    out = {}
    for r in results:
        shown = source_of(r.run.source)
        key = shown.lower() if shown.startswith("arXiv:") else shown.lower().rsplit("/", 1)[-1]
        out[r.run.name] = first.setdefault(key, shown)
    return out


def other_sources(results: list) -> dict | None:
    """One chip's runs (``published.Result``, fit and check rows) scored leave one source out. The
    record the card keeps (``calibration.other_sources``): ``held_out``'s numbers (runs, MFU errors
    as fractions of peak, step-time errors as fractions of the step on rows whose source printed
    one; median and maximum) over every row so predicted, and how many sources they came from.
    None where no source can be left out (every fit row from one source, and no other source)."""
    from dataclasses import replace

    from .calibrate import fitted, held_out, predictions, summary

    source = sources(results)
    by_source: dict = {}
    for r in results:
        by_source.setdefault(source[r.run.name], []).append(r)
    preds, scored = [], 0
    for name, rows in sorted(by_source.items()):
        others = [r for r in results if r.run.split == "fit" and source[r.run.name] != name]
        if not others:
            continue                 # this source holds every fit row: nothing is left to fit on
        chip = others[0].run.chip.name
        # every row of the source was outside this fit: all are scored, as check rows
        preds += [replace(p, split="check") for p in predictions(rows, {chip: fitted(chip, others)})]
        scored += 1
    record = held_out(summary(preds).get(preds[0].chip)) if preds else None
    return {"sources": scored, **record} if record else None


def bias_by_source(results: list, preds: list) -> dict:
    """Per chip whose runs come from two sources or more: each source's runs and the median of their
    signed step-time errors (predicted / measured - 1, fit and check rows alike: positive, the
    calibration predicts that source slower than it ran). One calibration per chip carries every
    source, so this is how far it sits from each; ``preds``: ``calibrate.predictions(results, ...)``."""
    import statistics

    source = sources(results)
    out: dict = {}
    for chip in sorted({p.chip for p in preds}):
        errors: dict = {}
        for p in preds:
            if p.chip == chip:
                errors.setdefault(source[p.name], []).append(p.predicted_step_s / p.measured_step_s - 1)
        if len(errors) > 1:
            out[chip] = {s: {"runs": len(e), "step_error_median": statistics.median(e)}
                         for s, e in sorted(errors.items(), key=lambda item: (-len(item[1]), item[0]))}
    return out
