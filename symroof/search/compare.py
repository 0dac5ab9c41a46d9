"""Why a plan lost to the winner, and why a plan leaves chips idle: one line each."""

from __future__ import annotations

BOUNDS = ("compute", "hbm", "ici", "dcn")


def row(ev, i: int) -> dict:
    """One evaluated candidate as plain numbers."""
    a = ev.arrays
    mesh = {ax: int(ev.cand.degrees[ax][i]) for ax in ev.axes if ax != "pod" or ev.cand.degrees[ax][i] > 1}
    out = {"strategy": ev.family, "mesh": mesh, "step_time_s": float(a["t_step"][i]),
           "bound": BOUNDS[int(a["bound"][i])], "chips": int(a["chips"][i])}
    for key in ("t_math", "t_hbm", "t_comms", "t_ici", "t_dcn"):
        out[key + "_s"] = float(a[key][i])
    # how each axis is laid out, as the winner's "axes" says it (symroof plan --predict rebuilds the mesh)
    out["axes"] = {ax: laid(ev, ax, i) for ax in mesh}
    if "stage" in ev.axes or ev.cand.micro[i] > 1:
        out["n_micro"] = int(ev.cand.micro[i])
    out.update(ev.variant)
    return out


def laid(ev, ax: str, i: int) -> dict:
    """How one axis of a candidate is laid: link, M, wrap, and for an axis over the network with
    more than one chip in each fast domain ``inner``, that share (a runs file's ``inner``)."""
    out = {"link": ev.cand.links[ax][i], "M": int(ev.cand.n_phys[ax][i]), "wrap": bool(ev.cand.wraps[ax][i])}
    from .sweep import SPAN_NAMES

    share = ev.cand.inner[ax][i] if ax in ev.cand.inner and ax in SPAN_NAMES else 1
    if share > 1:
        out["inner"] = int(share)
    return out


def why_lost(win: dict, alt: dict) -> str:
    """The term that makes ``alt`` slower than ``win`` (or what broke the tie)."""
    if alt["step_time_s"] <= win["step_time_s"] * (1 + 1e-9):
        if alt["t_comms_s"] > win["t_comms_s"]:
            return (f"ties on step time; less comms headroom (t_comms {alt['t_comms_s']:.3g} s vs "
                    f"{win['t_comms_s']:.3g} s)")
        return f"ties on step time and comms; uses {alt['chips']} chips vs {win['chips']}"
    bound = alt["bound"]
    if bound == "compute":
        if alt["chips"] < win["chips"]:
            return f"compute-bound on fewer chips ({alt['chips']} vs {win['chips']})"
        if alt.get("recompute") != win.get("recompute") and alt["t_math_s"] > win["t_math_s"]:
            return f"recompute {alt['recompute']} replays forward work (t_math {alt['t_math_s']:.3g} s)"
        if "n_micro" in alt and alt["mesh"].get("stage", 1) > 1:
            return (f"pipeline bubble: t_math {alt['t_math_s']:.3g} s with {alt['mesh']['stage']} stages "
                    f"and {alt['n_micro']} microbatches")
        return f"more compute per chip (t_math {alt['t_math_s']:.3g} s vs {win['t_math_s']:.3g} s)"
    if bound == "hbm":
        return f"HBM-bound (t_hbm {alt['t_hbm_s']:.3g} s)"
    return f"{bound.upper()}-bound (t_{bound} {alt['t_' + bound + '_s']:.3g} s vs t_math {alt['t_math_s']:.3g} s)"


def alternatives(rows, win: dict, top: int) -> list[dict]:
    """The next fastest distinct (strategy, mesh) pairs after the winner, each with why it lost; a
    searched setting (recompute policy, schedule, expert layout) makes a pair distinct."""
    def key_of(r):
        return (r["strategy"], tuple(r["mesh"].items()), r.get("recompute"), r.get("schedule"), r.get("expert_tensor"))

    seen, out = {key_of(win)}, []
    for _, ev, i in rows:
        r = row(ev, i)
        key = key_of(r)
        if key in seen:
            continue
        seen.add(key)
        r["lost_because"] = why_lost(win, r)
        out.append(r)
        if len(out) == top:
            break
    return out


def idle_reason(evaluated, win: dict, chips: int) -> str:
    """Why the plan uses fewer chips than it was given: the best feasible mesh on more chips, or none."""
    import numpy as np

    best = None
    for ev in evaluated:
        a = ev.arrays
        if not a:
            continue
        more = np.flatnonzero(a["feasible"] & (a["chips"] > win["chips"]))
        if len(more):
            j = more[np.argmin(a["t_step"][more])]
            if best is None or a["t_step"][j] < best[0]:
                best = (float(a["t_step"][j]), ev, int(j))
    if best is None:
        return ("no mesh on more chips divides the batch, sequence, heads, d_ff and layers evenly, fits in HBM "
                "and is a slice the hardware builds")
    r = row(best[1], best[2])
    mesh = " × ".join(f"{k}={v}" for k, v in r["mesh"].items())
    return (f"fewer is faster: the best mesh on more chips, {r['strategy']} {mesh} on {r['chips']}, "
            f"takes {r['step_time_s']:.3g} s ({why_lost(win, r)})")
