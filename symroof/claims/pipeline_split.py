"""A run's own pipeline split, from either runs-file key, as the chunks of a layout
(parallel/placement.py): absent, every stage an even share of every block type.

- ``stage_layers: {first: N, last: M}``: Megatron-LM's ``num_layers_in_first_pipeline_stage`` and
  ``..._last_...`` (NeMo's recipes set them), one chunk a stage, the rest even between.
- ``pipeline_layout: "Et|(tt|)*30mL"``: Megatron-LM's ``--pipeline-model-parallel-layout``
  (io/pipeline_layout.py), with virtual stages: ``p × interleave`` chunks.
"""

from __future__ import annotations

from ..errors import CardError


def layout(raw: dict, model, mesh: dict, interleave: int, schedule: str, mtp: int, where: str) -> dict:
    """``{"layout": chunks}`` for a run that gives its split, else ``{}``; one line naming the key
    for a split that cannot run or that symroof does not model."""
    given = [key for key in ("stage_layers", "pipeline_layout") if key in raw]
    if not given:
        return {}
    if len(given) == 2:
        raise CardError(f"{where}: keys 'stage_layers' and 'pipeline_layout' both give the split; give one")
    key = given[0]
    if "stage" not in mesh:
        raise CardError(f"{where}: key '{key}' needs a 'stage' axis in the mesh")
    from ..parallel.pipeline import copies as held

    stages, copies = int(mesh["stage"].size), held(schedule)      # without the schedules' SymPy table
    if key == "stage_layers":
        return {"layout": _first_last(raw[key], model, stages, interleave, schedule, copies, where)}
    if schedule == "dualpipev":
        raise CardError(f"{where}: key 'pipeline_layout' is not modelled with dualpipev (its V puts two chunks "
                        f"on a chip in another order than Megatron-LM's)")
    from ..io.pipeline_layout import parse
    from ..parallel.placement import check_layout

    # twice what a layout that can run holds (its symbols, and a separator a chunk): room to say what is wrong
    chunks = parse(raw[key], where, 2 * (model.n_layers + mtp + 2 + stages * interleave))
    problem = check_layout(chunks, model.n_layers, stages, interleave, mtp, copies)
    if problem:
        raise CardError(f"{where}: key 'pipeline_layout': {problem}")
    return {"layout": chunks}


def _first_last(spec, model, stages: int, interleave: int, schedule: str, copies: int, where: str) -> tuple:
    from ..io.cards import _count
    from ..parallel.placement import check, split_chunks

    if not isinstance(spec, dict) or set(spec) != {"first", "last"}:
        raise CardError(f"{where}: key 'stage_layers' must be {{first: N, last: M}}: the layers of the first and last "
                        f"pipeline stages")
    if interleave > 1 or schedule in ("dualpipev", "interleaved"):
        raise CardError(f"{where}: key 'stage_layers' needs one chunk a stage (not modelled with virtual stages "
                        f"or {schedule}; 'pipeline_layout' gives a chunk for each)")
    first, last = (_count(spec[k], where, f"stage_layers.{k}") for k in ("first", "last"))
    problem = check(model.layers, stages, first, last)
    if problem:
        raise CardError(f"{where}: key 'stage_layers': {problem}")
    return split_chunks(model.n_layers, stages, first, last)
