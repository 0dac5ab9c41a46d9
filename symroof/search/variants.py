"""The settings a plan searches beside the mesh, one compiled family each: the recompute policies and
the pipeline schedules, and of each schedule the candidate meshes it can run."""

from __future__ import annotations

from ..errors import InfeasibleError
from ..io.run import RunSettings
from .sweep import FAMILIES, Options


def variants(family: str, run: RunSettings, options: Options):
    """(run, options, what was chosen) for each searched recompute policy and pipeline schedule, and
    where a family has both an expert and a tensor axis, each expert layout: the experts' width split
    over the tensor axis, or the tensor axis folded into the expert-parallel group (a runs file's
    ``expert_tensor: 1``, Megatron-Core's --expert-tensor-parallel-size 1)."""
    from dataclasses import replace

    from ..parallel.pipeline import DEFAULT
    from ..parallel.schedule_names import PLANNED

    policies = ("none", "selective", "full") if options.search_recompute else (run.recompute,)
    staged = "stage" in FAMILIES[family]
    schedules = PLANNED if options.search_schedule and staged else (options.schedule,)
    folds = (False, True) if {"expert", "tensor"} <= set(FAMILIES[family]) else (False,)
    for policy in policies:
        for schedule in schedules:
            for fold in folds:
                # named when searched or set; unset, memory follows --ckpt (checkpoints per layer)
                variant = {"recompute": policy} if policy is not None else {}
                if staged:
                    variant["schedule"] = schedule or DEFAULT
                if fold:
                    variant["expert_tensor"] = 1
                yield (replace(run, recompute=policy), replace(options, schedule=schedule, fold_experts=fold), variant)


def foldable(cand, card):
    """The rows whose expert x tensor chips divide the experts (each holds E / (expert x tensor) of them
    whole); the others counted under that reason."""
    keep = [i for i, (e, t) in enumerate(zip(cand.degrees["expert"], cand.degrees["tensor"]))
            if card.n_experts % (e * t) == 0]
    runs = cand.take(keep)
    why = "expert x tensor does not divide the experts (expert_tensor 1)"
    runs.reasons = {**cand.reasons, **({why: len(cand) - len(keep)} if len(keep) < len(cand) else {})}
    return runs


def runnable(cand, card, name):
    """The rows a schedule with asserts of its own can run (pipeline.check: DualPipeV's 2p microbatches
    and two chunks of the blocks a chip); each other row counted under the check's one-line reason."""
    from ..parallel.schedule_names import ASSERTS, CHUNKS

    if (name not in ASSERTS and name not in CHUNKS) or "stage" not in cand.axes:
        return cand
    from ..parallel import pipeline

    blocks, keep, why = sum(c for _, c in pipeline.blocks(card.n_layers)), [], {}
    reasons = dict(cand.reasons)
    for i, key in enumerate(zip(cand.degrees["stage"], cand.micro)):
        if key not in why:
            try:
                why[key] = pipeline.check(blocks, int(key[0]), CHUNKS.get(name, 1), int(key[1]),
                                          where="--schedule " + name, name=name)
            except InfeasibleError as err:
                why[key] = str(err)
        if why[key] is None:
            keep.append(i)
        else:
            reasons[why[key]] = reasons.get(why[key], 0) + 1
    runs = cand.take(keep)
    runs.reasons = reasons
    return runs
