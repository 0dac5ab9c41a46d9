"""``symroof cards [NAME]``: a card's numbers as stated, and the numbers symroof derives from them.

For a chip: the per-axis ICI bandwidth ``W_ici`` the collectives use (and how it follows
from the number as the vendor states it), ``C/W_ici``, ``C/W_hbm`` (the HBM ridge point)
for every dtype with a peak, bytes and bandwidth per host, and the slice rules (pod shape,
wraparound, the M of a whole-pod axis). A card changed by ``--set`` is named as modified.
"""

from __future__ import annotations

from .render import si, table


def listing(names: dict) -> str:
    from ..io.catalog import load_chip, load_model

    models = [load_model(n) for n in names["models"]]
    out = [table([[m.name, m.architecture, str(m.n_layers), str(m.d_model), str(m.d_ff),
                   f"{m.n_heads}/{m.n_kv_heads}", str(m.vocab), str(m.n_experts)] for m in models],
                 ["model", "arch", "L", "D", "F", "N/K", "V", "E"]), ""]
    chips = [load_chip(n) for n in names["chips"]]
    out.append(table([[c.name, si(c.peak_flops_per_s["bf16"], "FLOP/s"), si(c.hbm_bytes, "B"),
                       si(c.hbm_bytes_per_s, "B/s"), si(c.ici_bidi_bytes_per_s, "B/s"),
                       "x".join(map(str, c.pod_shape))] for c in chips],
                     ["chip", "bf16 peak", "HBM", "HBM BW", "W_ici (bidi/axis)", "pod"]))
    out.append("\n`symroof cards NAME` shows one card's derived numbers (W_ici, ridge points, slice rules)")
    return "\n".join(out)


def _ici_derivation(chip) -> str:
    stated = si(chip.ici_link_bytes_per_s, "B/s")
    scope = (f"total over the chip's {chip.links_per_chip} links" if chip.ici_scope == "chip" else "one link")
    direction = "both directions added" if chip.ici_link_direction == "bidirectional" else "one direction"
    steps = [f"stated {stated} ({scope}, {direction})"]
    if chip.ici_link_direction == "bidirectional":
        steps.append("÷ 2 for one direction")
    if chip.ici_scope == "chip":
        steps.append(f"÷ {chip.links_per_chip} links")
    steps.append(f"= {si(chip.ici_one_way_link_bytes_per_s, 'B/s')} per link one way")
    steps.append(f"× {chip.ici_links_per_axis} link(s) per axis = {si(chip.ici_bidi_bytes_per_s, 'B/s')}")
    return " ".join(steps)


def chip_report(chip, dtype: str = "bf16") -> dict:
    from ..errors import CardError
    from ..io.bind import mesh_m

    if dtype not in chip.peak_flops_per_s:
        raise CardError(f"--dtype {dtype}: {chip.name} has no peak for it; it has {', '.join(chip.peak_flops_per_s)}")
    w_ici, w_hbm = chip.ici_bidi_bytes_per_s, chip.hbm_bytes_per_s
    w_dcn = chip.dcn_bytes_per_s_per_chip
    peaks = []
    for dt, peak in chip.peak_flops_per_s.items():
        peaks.append([dt + (" (this run)" if dt == dtype else ""), si(peak, "FLOP/s"),
                      f"{float(peak / w_hbm):.4g} FLOP/B", f"{float(peak / w_ici):.4g} FLOP/B",
                      f"{float(peak / w_dcn):.4g} FLOP/B"])
    whole = mesh_m(chip, chip.pod_chips) if chip.family == "tpu" else mesh_m(chip, chip.pod_shape[0])
    rows = [
        ["HBM capacity", si(chip.hbm_bytes, "B"), "M_hbm"],
        ["HBM bandwidth", si(w_hbm, "B/s"), "W_hbm"],
        ["ICI per axis (bidirectional)", si(w_ici, "B/s"), "W_ici: " + _ici_derivation(chip)],
        ["DCN per chip", si(w_dcn, "B/s"),
         f"W_dcn = {si(chip.dcn_bytes_per_s_per_host, 'B/s')} per host ÷ {chip.chips_per_host} chips"],
        ["bytes per host", si(chip.hbm_bytes * chip.chips_per_host, "B"),
         f"HBM of {chip.chips_per_host} chips × {si(chip.hbm_bytes, 'B')}"],
        ["per-hop latency", si(chip.ici_hop_latency_s, "s") if chip.ici_hop_latency_s else "not stated", "T_min"],
        ["pod", "x".join(map(str, chip.pod_shape)) + f" = {chip.pod_chips} chips", _slice_rule(chip)],
        ["a whole-pod axis", f"M = {whole['fsdp']}",
         f"FSDP+TP: M_X = {whole['fsdp_tp'][0]}, M_Y = {whole['fsdp_tp'][1]} (io.bind.mesh_m)"],
    ]
    text = [f"{chip.label} ({chip.family}, {chip.path or 'card'})",
            table(rows, ["number", "value", "how"]), "",
            table(peaks, ["dtype", "peak", "C/W_hbm (ridge)", "C/W_ici", "C/W_dcn"]), "",
            table(_step_model(chip), ["step model (validate, predict)", "value", "limit when absent"])]
    unused = [dt for dt in chip.peak_flops_per_s if dt != dtype]
    notes = ([f"peaks for {', '.join(unused)} are used only by a run that names that dtype "
              "(formula and cards --dtype, serve --math-dtype, a runs file's matmul_dtype or convention.peak)"]
             if unused else [])
    json_out = {"name": chip.name, "label": chip.label, "modified": list(chip.modified),
                "W_ici_bytes_per_s": float(w_ici), "W_ici_how": _ici_derivation(chip),
                "W_hbm_bytes_per_s": float(w_hbm), "W_dcn_bytes_per_s_per_chip": float(w_dcn),
                "hbm_bytes": float(chip.hbm_bytes), "bytes_per_host": float(chip.hbm_bytes * chip.chips_per_host),
                "ridge_flops_per_byte": {dt: {"hbm": float(p / w_hbm), "ici": float(p / w_ici),
                                              "dcn": float(p / w_dcn)} for dt, p in chip.peak_flops_per_s.items()},
                "dtype": dtype, "pod_shape": list(chip.pod_shape), "wraparound": chip.wraparound,
                "whole_pod_M": float(whole["fsdp"]), "sources": chip.sources,
                "step_model": {r[0]: r[1] for r in _step_model(chip)}}
    return {"text": "\n".join(text), "json": json_out, "notes": notes}


def _step_model(chip) -> list:
    """The card's numbers for the step model below the roofline, and the calibration it records."""
    def given(x, seconds=False):
        return "not stated" if x is None else f"{float(x) * 1e6:.3g} µs" if seconds else f"{float(x):.3g}"

    cal = chip.calibration
    tile = chip.matrix_unit and f"{chip.matrix_unit[0]} x {chip.matrix_unit[1]} tiles, {chip.matrix_units} units"
    rows = [["matrix unit", tile or "not stated",
             "no tile or wave quantization"],
            ["fused attention kernel", given(chip.attention_efficiency), "at peak"],
            ["collective launch", given(chip.collective_launch_s, True), "0"],
            ["scale-out ring step", given(chip.dcn_step_latency_s, True), "fitted as t_dcn"],
            ["overlapped traffic hidden", ", ".join(f"{k} {float(v):g}" for k, v in chip.overlap_fraction.items())
             or "not stated", "all (the book's overlap)"]]
    if cal:
        rows.append(["calibration", f"eta_mm {float(cal['eta_mm']):.4f}, t_dcn {given(cal['t_dcn'], True)}, "
                     f"eta_mem {float(cal.get('eta_mem', 1)):.4f}", (f"{chip.calibrated_as}'s, " if chip.calibrated_as else "")
                     + f"fitted on {len(cal['fit_runs'])} runs of {cal['data']}"])
        from .tables import held_out_errors

        if cal.get("held_out"):
            rows.append(["held-out error", held_out_errors(cal["held_out"]), "the data's check rows (mostly of the fit rows' sources)"])
        if cal.get("other_sources"):
            n = cal["other_sources"]["sources"]
            rows.append(["error on another source", held_out_errors(cal["other_sources"]),
                         f"{n} source{'' if n == 1 else 's'}, each predicted by a fit without it"])
    else:
        rows.append(["calibration", "none", "the ideal limits: eta_mm 1, t_dcn 0, eta_mem 1"])
    return rows


def _slice_rule(chip) -> str:
    if chip.pod_chips == 1:        # a PCIe GPU: its fast domain is itself
        return "one chip: no ICI axis; a job of more chips crosses the scale-out network on every axis"
    rule = {"full_cube": f"a slice wraps on every axis iff it is whole {chip.wraparound_unit}-cubes",
            "full_axis": f"an axis wraps iff it is the full {chip.wraparound_unit} chips",
            "always": "switched: every pair of chips has a direct path",
            "none": "no wraparound: every axis is a line"}[chip.wraparound]
    return rule + "; without wraparound an axis has half the bandwidth"


def model_report(card) -> dict:
    from ..io.bind import count

    c = count(card)
    rows = [["layers L", str(card.n_layers)], ["d_model D", str(card.d_model)], ["d_ff F", str(card.d_ff)],
            ["heads N / KV heads K", f"{card.n_heads} / {card.n_kv_heads}"], ["head dim H", str(card.head_dim)],
            ["vocabulary V", str(card.vocab)], ["experts E (k per token)", f"{card.n_experts} ({card.experts_per_token})"],
            *([["blocks", ", ".join(f"{name} × {n}" for name, n in card.layers)]] if len(card.blocks) > 1 else []),
            *([["MLA ranks R_q / R_kv, RoPE / value head dims", f"{card.q_lora_rank} / {card.kv_lora_rank}, "
                f"{card.rope_head_dim} / {card.v_head_dim}"]] if card.attention == "mla" else []),
            *([["sliding window w", str(card.sliding_window)]] if card.sliding_window else []),
            *([["attention chunk w_c", str(card.attention_chunk)]] if card.attention_chunk else []),
            *([["sparse attention: top-k keys k_idx, indexer heads N_idx x H_idx", f"{card.index_topk}, "
                f"{card.index_heads} x {card.index_head_dim}"]] if card.index_topk else []),
            *[["not modelled", what] for what in card.left_out],
            ["parameters", f"{c.params_total:,} ({si(c.params_total)})"],
            ["weights, gradients, optimizer", f"{c.memory['total'] - c.memory['checkpoints']:,} B "
             f"({(c.memory['total'] - c.memory['checkpoints']) / c.params_total:g} B/param)"]]
    text = [f"{card.name} ({card.architecture}, {card.path or 'card'}); source: {card.source}", table(rows)]
    return {"text": "\n".join(text), "notes": [],
            "json": {"name": card.name, "architecture": card.architecture, "params": c.params_total,
                     "shapes": {k: getattr(card, k) for k in ("n_layers", "d_model", "d_ff", "n_heads",
                                                                "n_kv_heads", "head_dim", "vocab", "n_experts")},
                     "source": card.source, "left_out": list(card.left_out)}}
