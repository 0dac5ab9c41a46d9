"""Published serving measurements next to symroof's decode bounds (derivations/published_serving.yaml).

For each row (a concurrency and a measured output throughput) symroof evaluates the decode
step on the published slice, tensor degree and dtypes with the cache at the request's input
length (the shortest context any decode step has, so the fastest step): the throughput
bound is B / t_step with B the concurrency, or the largest batch that fits if fewer do. A
decode step that also carries prefills or longer caches is slower, so a measured throughput
above the bound would mean the model (or the card) is wrong. The inter-token latency floor
is the step of a single sequence.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import CardError

KEYS = {"name", "source", "model", "model_changes", "chip", "chips", "tensor", "weights_dtype", "kv_dtype",
        "math_dtype", "input", "output", "rows"}


@dataclass
class Row:
    run: str
    chip: str
    chips: int
    concurrency: int
    input: int
    output: int
    measured_tokens_per_s: float
    bound_tokens_per_s: float
    batch_used: int
    measured_itl_s: float | None
    itl_floor_s: float
    bound: str


def load(path=None) -> list[dict]:
    from ..io.catalog import data_dir
    from ..io.readers import read_yaml

    raw = read_yaml(path or data_dir("derivations") / "published_serving.yaml", "published serving runs")
    runs = raw.get("runs") if isinstance(raw, dict) else None
    if not isinstance(runs, list) or not runs:
        raise CardError("published serving: expected a non-empty 'runs' list")
    for run in runs:
        unknown = set(run) - KEYS if isinstance(run, dict) else {"(not a mapping)"}
        if unknown:
            raise CardError(f"published serving run {run.get('name', '?')}: unknown key {sorted(unknown)[0]!r}")
    return runs


def rows(path=None) -> list[Row]:
    from ..io.catalog import load_chip, load_model
    from ..search.serve import Request, serve

    out = []
    for run in load(path):
        card = load_model(run["model"])
        if run.get("model_changes"):     # through the card's checks, never truncated (io/cards.changed_model)
            from ..io.cards import changed_model

            card = changed_model(card, run["model_changes"], f"published serving run {run.get('name', '?')}: model_changes")
        chip = load_chip(run["chip"])
        n = len(run["rows"])
        inputs = run["input"] if isinstance(run["input"], list) else [run["input"]] * n
        outputs = run["output"] if isinstance(run["output"], list) else [run["output"]] * n
        mesh = {"tensor": run["tensor"], "data": run["chips"] // run["tensor"]}
        for (concurrency, tput, itl), tokens_in, tokens_out in zip(run["rows"], inputs, outputs):
            base = Request(run["chips"], None, tokens_in, None, None, run["weights_dtype"], run["kv_dtype"],
                           "bf16", run["math_dtype"], mesh)
            fit = serve(card, chip, replace(base, batch=1))["max_batch"]
            batch = max(1, min(concurrency, fit))
            best = serve(card, chip, replace(base, batch=batch))
            single = serve(card, chip, replace(base, batch=1))
            out.append(Row(run["name"], chip.name, run["chips"], concurrency, tokens_in, tokens_out, float(tput),
                           best["tokens_per_s"], batch, itl / 1e3 if itl is not None else None,
                           single["decode_step_s"], best["bound"]))
    return out
