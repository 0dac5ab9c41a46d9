"""The text ``symroof serve`` prints: the chosen configuration, then the Pareto front."""

from __future__ import annotations

import json

from .render import si, table


def command(args, chip_settings: dict) -> None:
    """``symroof serve``: load the cards, check the request, print text or JSON."""
    from ..io.chips import override_chip
    from ..io.catalog import load_chip, load_model
    from ..search.serve import CONTEXT, request, serve

    card, chip = load_model(args.model), override_chip(load_chip(args.chip), chip_settings)
    context = args.context if args.context is not None else card.sequence(None, CONTEXT)
    req = request(args.chips, args.batch, context, args.prompt, args.generate, args.weights_dtype,
                  args.kv_dtype, args.act_dtype, args.math_dtype, args.mesh, args.mfu)
    result = serve(card, chip, req)
    print(json.dumps(result, indent=2) if args.json else text(card, chip, req, result))


def text(card, chip, req, result: dict) -> str:
    mesh = " × ".join(f"{k}={v}" for k, v in result["mesh"].items())
    kv = req.kv_dtype or req.weights_dtype
    lines = [f"{card.name} on {req.chips} × {chip.label}: context {req.context} tokens, weights "
             f"{req.weights_dtype}, KV cache {kv}, math {req.math_dtype}",
             f"  {mesh}, batch {result['batch']}: decode step {result['decode_step_s'] * 1e3:.3g} ms "
             f"({result['bound']}-bound), {result['tokens_per_s']:.4g} tokens/s, "
             f"{result['tokens_per_s_per_chip']:.4g} tokens/s per chip",
             f"  memory {si(result['memory_per_chip_bytes'], 'B')} per chip; weights {si(result['weight_bytes'], 'B')}, "
             f"KV {si(result['kv_bytes_per_token'], 'B')} per token{_state(result)}; at most {result['max_batch']} sequences fit; "
             f"smallest slice per replica for this batch: {_chips(result['min_chips'])}",
             f"  decode critical batch {result['critical_batch']:.4g} sequences per replica"]
    if result["prefill_s"] is not None:
        lines.append(f"  prefill of {req.prompt} tokens: {result['prefill_s'] * 1e3:.4g} ms at MFU {req.mfu:g}")
    if result["generation_s"] is not None:
        lines.append(f"  {req.generate} generated tokens: {result['generation_s']:.4g} s; "
                     f"{result['requests_per_s_per_chip']:.4g} requests/s per chip")
    if len(result["pareto"]) > 1:
        lines.append("Pareto front (latency per token against tokens/s per chip):")
        rows = [[" × ".join(f"{k}={v}" for k, v in r["mesh"].items()), str(r["batch"]),
                 f"{r['decode_step_s'] * 1e3:.3g}", f"{r['tokens_per_s_per_chip']:.4g}",
                 si(r["memory_per_chip_bytes"], "B"), r["bound"]] for r in result["pareto"]]
        lines.append(table(rows, ["mesh", "batch", "ms/token", "tokens/s/chip", "HBM/chip", "bound"]))
    return "\n".join(lines)


def published_table(results) -> str:
    """Published serving rows (claims.serving_runs) next to symroof's bounds."""
    lines = [[r.run, f"{r.chips} × {r.chip}", str(r.concurrency), f"{r.input}/{r.output}",
              f"{r.measured_tokens_per_s:,.0f}", f"{r.bound_tokens_per_s:,.0f} (B={r.batch_used}, {r.bound})",
              f"{r.measured_tokens_per_s / r.bound_tokens_per_s:.0%}",
              "" if r.measured_itl_s is None else f"{r.measured_itl_s * 1e3:.1f}", f"{r.itl_floor_s * 1e3:.1f}"]
             for r in results]
    return table(lines, ["run", "hardware", "concurrency", "in/out", "measured tok/s", "bound tok/s",
                          "of bound", "ITL ms", "ITL floor ms"])


def _state(result: dict) -> str:
    """A linear-attention, Mamba or short-conv layer's state, the same at any context, beside the per-token cache
    (none: nothing)."""
    state = result["kv_state_bytes_per_sequence"]
    if not state:
        return ""
    return f" (full-attention layers) + {si(state, 'B')} of state per sequence (linear-attention, Mamba or short-conv layers)"


def _chips(n: int) -> str:
    return f"{n} chip" + ("" if n == 1 else "s")
