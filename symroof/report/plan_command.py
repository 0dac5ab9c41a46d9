"""``symroof plan`` on the command line: the settings read into a plan, the plan read from the
on-disk cache when the same command ran before, and the text it prints."""

from __future__ import annotations

from ..errors import CardError
from .commands import parse_mesh, settings as _settings


def plan_result(args, card=None, chip=None):
    """The plan for the command line's model, chip and run: (result, model card, chip card).
    ``card`` and ``chip``: the command's cards when already read."""
    from ..io.chips import override_chip
    from ..io.catalog import load_chip, load_model
    from ..io.json_reader import dumps_finite as _dumps
    from ..search.plan import Options, plan
    from ..io.run import RunSettings

    if card is None or chip is None:
        card, chip = load_model(args.model), override_chip(load_chip(args.chip), _settings(args.set))
    args.seq = card.sequence(args.seq)
    if (args.mtp_layers or 0) > card.n_layers:        # each module is one more layer
        raise CardError(f"--mtp-layers {args.mtp_layers}: more modules than {card.name}'s {card.n_layers} layers")
    search_recompute = args.recompute == "auto"       # a searched dimension, not a policy
    if search_recompute and args.ckpt_per_layer is not None:     # each policy searched sets its own checkpoints
        raise CardError("--recompute auto searches the policies none, selective and full, each of which sets "
                        "the checkpoints kept: leave out --ckpt, or give --recompute none, full or selective")
    run = RunSettings().with_options(**{k: v for k, v in vars(args).items() if k in RunSettings.__dataclass_fields__
                                        and v is not None and not (k == "recompute" and search_recompute)})
    forced = tuple((parse_mesh(args.m_axes, "--m", "M") or {}).items())
    for axis, m in forced:      # M counts physical axes: at most the torus's (or 1 on a switch)
        if not 1 <= m <= len(chip.pod_shape):
            raise CardError(f"--m {axis}={m}: M must be between 1 and {len(chip.pod_shape)} "
                            f"(the physical axes of a {chip.name} pod)")
    ignored = [flag for flag, given in (("--pad", args.pad), (f"--schedule {args.schedule}", args.schedule),
                                        ("--recompute auto", search_recompute), ("--mtp-layers", args.mtp_layers))
               if given]
    if args.book_layer and ignored:       # the book's layer: continuous degrees, no pipeline, no policy search
        raise CardError(f"{ignored[0]} plans whole-model meshes; --book-layer plans the book's layer with continuous "
                        f"degrees (nothing padded, no pipeline, no recompute search): give one")
    if args.schedule and not args.book_layer:     # a schedule needs a stage axis in what is planned
        from ..search.sweep import FAMILIES

        mesh = parse_mesh(args.mesh) or {}
        staged = "stage" in mesh if mesh else (args.strategy is None or "stage" in FAMILIES.get(args.strategy, ("stage",)))
        if not staged:
            from ..parallel.schedule_names import PLANNED

            piped = " or ".join(f for f, axes in FAMILIES.items() if "stage" in axes)
            raise CardError(f"--schedule {args.schedule}: the {'mesh' if mesh else f'strategy {args.strategy}'} has "
                            f"no stage axis, so no pipeline schedule is read; leave it out, or plan a pipeline "
                            f"(--strategy {piped}, or a --mesh with a stage axis) under "
                            f"{', '.join(PLANNED)} or auto (which searches them all)")
    options = (Options(args.overlap, "forward", True, forced, continuous=True) if args.book_layer
               else Options(args.overlap, m_override=forced, pad=args.pad,
                            schedule=None if args.schedule in (None, "auto") else args.schedule,
                            search_schedule=args.schedule == "auto", search_recompute=search_recompute,
                            mtp=args.mtp_layers or 0))
    if args.tokens is not None and args.tokens <= 0:
        raise CardError(f"--tokens must be positive, got {args.tokens}")
    if args.mfu is not None and args.tokens is None:        # its one use: train_days_at_mfu
        raise CardError(f"--mfu {args.mfu:g} gives the training days at that MFU, which need the training "
                        "tokens: add --tokens (e.g. 15e12)")
    top = _predicted_count(args, run)
    dtype = getattr(args, "matmul_dtype", None)
    dtype = "bf16" if dtype is None else dtype       # an empty --matmul-dtype '' is refused below, not bf16
    if top:
        from ..claims.run_checks import MATMUL_DTYPES
        from ..io.cards import shown_text

        allowed = [d for d in MATMUL_DTYPES if d in chip.peak_flops_per_s]
        if dtype not in allowed:
            shown = dtype if dtype.isidentifier() and len(dtype) <= 60 else shown_text(dtype)
            raise CardError(f"--matmul-dtype {shown}: allowed for {chip.name}: {', '.join(allowed)} "
                            "(a dtype the card has a peak for)")
    result = plan(card, chip, args.chips, args.batch_tokens, args.seq, args.pods, args.strategy,
                  parse_mesh(args.mesh), run, options, args.tokens, args.mfu,
                  **({"top": max(ALTERNATIVES, top - 1)} if top else {}))
    if top:
        from ..claims.planned import predicted

        result["predicted"] = predicted(result, card, chip, top, dtype)
    _dumps(result)          # a non-finite number is an error, in text as in JSON
    return result, card, chip


MAX_PREDICTED = 32      # each mesh predicted builds and shards its graph: a few tens of ms each
ALTERNATIVES = 5        # the runners-up a plan lists (search/plan.plan's default); --predict N lists N - 1 if more


def _predicted_count(args, run) -> int:
    """``--predict N``: how many of the plan's best meshes the calibrated step model ranks (0: none).
    Refused with what the step model would not take from the plan: the book's layer, padding,
    ``--overlap max`` (the step model has its own overlap) and other byte sizes than its own."""
    from ..io.run import RunSettings

    top = getattr(args, "predict", None)
    if top is None:
        if getattr(args, "matmul_dtype", None) is not None:
            raise CardError("--matmul-dtype sets the step model's matmuls: it goes with --predict N (the plan's "
                            "own search is bf16)")
        return 0
    if not 1 <= top <= MAX_PREDICTED:
        raise CardError(f"--predict must be between 1 and {MAX_PREDICTED} meshes, got {top}")
    if args.book_layer or args.pad:
        raise CardError("--predict ranks whole-model meshes as planned: it takes neither --book-layer nor --pad")
    if args.overlap != "sum":
        raise CardError("--predict ranks by the step model, which has its own overlap (the chip card's): "
                        "leave out --overlap max")
    changed = [k for k, v in vars(run).items() if k != "recompute" and v != getattr(RunSettings(), k)]
    if changed:
        flags = ["--ckpt" if k == "ckpt_per_layer" else "--" + k.replace("_", "-") for k in changed]
        raise CardError(f"--predict predicts with the step model's byte sizes and checkpoints; leave out "
                        f"{', '.join(flags)}")
    return top


def cached_plan(args):
    """``plan_result``, read from the on-disk cache when this exact command (cards' numbers
    included) was planned before by the same symroof: a plain JSON result, never code."""
    from ..io import expression_cache as cache
    from ..io.catalog import load_chip, load_model
    from ..io.chips import override_chip
    from ..search.result import Plan

    card, chip = load_model(args.model), override_chip(load_chip(args.chip), _settings(args.set))
    args.seq = card.sequence(args.seq)
    plain = (str, int, float, bool, type(None), list, tuple)
    fields = {"model": repr(card), "chip": repr(chip),
              "args": sorted((k, repr(v)) for k, v in vars(args).items() if isinstance(v, plain) and k != "json")}
    found = cache.load_data("plan", fields)
    if isinstance(found, dict):
        return Plan(found), card, chip
    result, card, chip = plan_result(args, card, chip)
    cache.store_data("plan", fields, result)
    return result, card, chip


def plan_command(args) -> None:
    from ..io.json_reader import dumps_finite as _dumps

    result, card, chip = cached_plan(args)
    if args.json:
        print(_dumps(result))
        return
    print(f"{card.name} on {args.chips} × {chip.label}: {args.batch_tokens} tokens per step "
          f"({result['sequences']} × {args.seq}), overlap {args.overlap}")
    for line in result["explanation"]:
        print("  " + line)
    if "train_days" in result:
        extra = (f"; {result['train_days_at_mfu']:.1f} days at MFU {args.mfu:g}"
                 if "train_days_at_mfu" in result else "")
        print(f"  training: {result['train_days']:.1f} days at this step time{extra}")
    for alt in result["alternatives"]:
        mesh = " × ".join(f"{k}={v}" for k, v in alt["mesh"].items())
        how = "".join(f", {k} {alt[k]}" for k in ("recompute", "schedule", "expert_tensor")
                      if k in alt and alt[k] != result.get(k))
        if "expert_tensor" in result and "expert_tensor" not in alt and {"expert", "tensor"} <= set(alt["mesh"]):
            how += ", each expert's width split over tensor"
        if "stage" not in alt["mesh"] and alt.get("n_micro", 1) > 1:     # gradient accumulation
            how += f", {alt['n_micro']} microbatches"
        print(f"    next: {alt['strategy']} {mesh} on {alt['chips']}{how}: {alt['step_time_s']:.3g} s, "
              f"{alt['lost_because']}")
    if "predicted" in result:
        from .tables import planned

        print(planned(result["predicted"], chip.name, chip.modified))
