"""The step model's options for a published or planned run (``parallel/step_model.Options``): the
chip card's kernel, latency and overlap numbers, and the run's pipeline, spans, overlapped axes
and matmul dtype."""

from __future__ import annotations

from ..core.symbols import b_act


def step_options(run):
    """The step model's options for a run (the module docstring)."""
    from ..parallel import step_model

    chip = run.chip
    return step_model.Options(
        tile=chip.matrix_unit, cores=chip.matrix_units,
        # a kernel the run names (the card's attention_kernels), else the card's default fused kernel
        attention_efficiency=float(chip.attention_kernels.get(run.attention_kernel) or chip.attention_efficiency or 1),
        microbatches=run.microbatches, virtual=run.interleave, schedule=run.schedule,
        t_hop=float(chip.ici_hop_latency_s or 0), t_launch=float(chip.collective_launch_s or 0),
        spans=dict(run.spans or {}), dispatch_nodes=run.dispatch_nodes or 0,
        overlapped=run.overlap, gradients_wait=not run.gradient_overlap,
        collective_matmul=chip.collective_matmul,
        overlap={link: float(chip.overlap_fraction.get(link, 1)) for link in ("ici", "dcn")},
        gradient_width=gradient_width(run), **low_precision(run))


def gradient_width(run) -> float:
    """Bytes per element of the run's gradient reductions over the parameters' width (the
    collectives carry b_param): 1 unless the run names a ``gradient_dtype``."""
    if run.gradient_dtype is None:
        return 1.0
    from ..core.symbols import b_param
    from ..solve.inference import DTYPE_BYTES
    from .published import values

    return float(DTYPE_BYTES[run.gradient_dtype] / values(run)[b_param])


def low_precision(run) -> dict:
    """The matmul rates over the peak C (``rate_dtype``'s), and the cast bytes, of a run's
    ``matmul_dtype``: the blocks' weight matmuls at that dtype's peak, every other matmul (the
    attention core, the head) at bf16's. Each activation a low-precision matmul reads is read at
    b_act and written twice in the dtype (TransformerEngine's cast, and its transpose for the
    other product: parallel/low_precision.py)."""
    peaks, dtype, rate = run.chip.peak_flops_per_s, run.matmul_dtype, run.rate_dtype
    if dtype == rate == "bf16":
        return {}                 # today's model: every matmul at the peak C
    from ..solve.inference import DTYPE_BYTES
    from .published import values

    rates = (float(peaks[dtype] / peaks[rate]), float(peaks["bf16"] / peaks[rate]))
    low = DTYPE_BYTES[dtype] < DTYPE_BYTES["bf16"]
    return {"matmul_rates": rates,
            "cast_bytes": float(values(run)[b_act] + 2 * DTYPE_BYTES[dtype]) if low else 0.0}
