"""The calibrated step model on the meshes ``symroof plan`` found (``plan --predict N``).

``plan`` ranks meshes by the ideal roofline, a lower bound; at the FLOP floor many tie, and the
tie is broken by communication headroom, not by what a step will take. Here the plan's N best
meshes are each made a configuration, laid out as the plan laid it (each axis's link, physical
axes and wraparound), with the plan's batch, sequence, pipeline microbatches, schedule and
recompute, and predicted as ``symroof predict`` predicts one (claims/forecast.py): the step
model below the roofline at the chip card's calibration. They come back ranked by that step.

An axis that crosses nodes with more than one of its chips in each NVLink domain is given the
plan's share as its ``inner`` (NCCL's hierarchical ring, collectives.two_tier), as the plan prices
it. What a configuration leaves as the step model's default, and the output says: the attention
kernel is the card's default. The plan's byte-size settings and
``--overlap max`` are refused with it (report/plan_command.py): the step model has its own.
"""

from __future__ import annotations

import sympy as sp

from ..errors import CardError, InfeasibleError


def _run(plan: dict, card, chip, cand: dict, rank: int, matmul_dtype: str = "bf16"):
    """One planned mesh as a configuration (``published.PublishedRun``), its MFU at the peak of its
    weight matmuls' dtype, as ``predict`` counts a configuration that names no convention."""
    from ..parallel.collectives import Axis
    from .published import PublishedRun
    from .run_checks import DEFAULT_CONVENTION

    mesh = {ax: Axis(ax, sp.Integer(degree), cand["axes"][ax]["link"], sp.Integer(cand["axes"][ax]["M"]),
                     bool(cand["axes"][ax]["wrap"]), chip.family == "gpu" and cand["axes"][ax]["link"] == "ici",
                     ax == "tensor" and cand.get("expert_tensor") == 1)
            for ax, degree in cand["mesh"].items()}
    recompute = cand.get("recompute", plan["run"].get("recompute")) or "none"
    staged = "stage" in mesh
    return PublishedRun(
        name=_label(cand), source=f"symroof plan, mesh {rank} by the ideal roofline", model=card, chip=chip,
        chips=int(cand["chips"]), mesh=mesh, batch=int(plan["sequences"]), seq=int(plan["seq"]),
        microbatches=int(cand.get("n_micro", 1)), interleave=1,
        schedule=cand.get("schedule", "gpipe") if staged else "1f1b",
        recompute=tuple(recompute) if isinstance(recompute, list) else recompute,
        measured_mfu=None, measured_tflops=None, measured_tokens_per_s=None, split="predict",
        **{key: DEFAULT_CONVENTION[key] for key in ("stated", "note")}, peak=matmul_dtype,
        flops=DEFAULT_CONVENTION["flops"], convention_given=False, matmul_dtype=matmul_dtype,
        spans={ax: int(a["inner"]) for ax, a in cand["axes"].items() if a.get("inner", 1) > 1},
        mtp_layers=int(plan.get("mtp_layers") or 0))


def _label(cand: dict) -> str:
    mesh = " × ".join(f"{k}={v}" for k, v in cand["mesh"].items())
    shown = lambda v: ",".join(v) if isinstance(v, (list, tuple)) else v     # noqa: E731  (kept tensors)
    extra = "".join(f", {k} {shown(cand[k])}" for k in ("recompute", "schedule", "expert_tensor") if k in cand)
    # which axes the plan put on the scale-out network (a slice axis, pod, always is)
    dcn = [ax + (f" ({a['inner']} per domain)" if a.get("inner", 1) > 1 else "")
           for ax, a in cand["axes"].items() if a["link"] == "dcn" and ax != "pod"]
    return f"{cand['strategy']} {mesh}{extra}" + (f" (dcn: {', '.join(dcn)})" if dcn else "")


def candidates(plan: dict) -> list[dict]:
    """The plan's winner and its alternatives, in the plan's order, each as ``compare.row`` gives it."""
    win = {key: plan[key] for key in ("strategy", "mesh", "step_time_s") if key in plan}
    win.update(chips=plan["chips_used"], axes={ax: {k: a[k] for k in ("link", "M", "wrap", "inner") if k in a}
                                                for ax, a in plan["axes"].items()})
    for key in ("n_micro", "recompute", "schedule", "expert_tensor"):
        if key in plan and (key != "recompute" or plan[key] is not None):
            win[key] = plan[key]
    return [win] + list(plan.get("alternatives", []))


def predicted(plan: dict, card, chip, count: int, matmul_dtype: str = "bf16") -> dict:
    """The plan's ``count`` best meshes predicted at ``chip``'s calibration, fastest predicted step
    first, their weight matmuls in ``matmul_dtype``; a mesh the step model cannot lay out is listed
    with the reason instead."""
    from .forecast import forecast_runs

    rows, skipped = [], []
    for rank, cand in enumerate(candidates(plan)[:count], start=1):
        try:
            (f,) = forecast_runs([_run(plan, card, chip, cand, rank, matmul_dtype)])
        except (CardError, InfeasibleError) as err:
            skipped.append({"mesh": _label(cand), "plan_rank": rank, "why": str(err)})
            continue
        rows.append({"mesh": _label(cand), "strategy": cand["strategy"], "degrees": cand["mesh"], "plan_rank": rank,
                     "ideal_step_s": f.t_ideal_s, "predicted_step_s": f.predicted_step_s,
                     "predicted_mfu": f.predicted_mfu, "terms_s": f.terms})
        cal = {"eta_mm": f.eta_mm, "t_dcn_s": f.t_dcn, "eta_mem": f.eta_mem,
               "source": "card" if f.calibrated else "none", "fit_runs": f.fit_runs, "held_out": f.held_out,
               "other_sources": f.other_sources}
    rows.sort(key=lambda r: (r["predicted_step_s"], r["plan_rank"]))
    out = {"meshes": rows, "not_predicted": skipped,
           "mfu": f"every matmul, causal attention core, {matmul_dtype} peak (ops+causal)"}
    if rows:
        out["calibration"] = cal
    return out
