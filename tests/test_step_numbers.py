"""The numeric path (parallel/step_numbers.py) against the symbolic one it replaces in validate:
roofline.step's terms evaluated exactly, and step_model.parts float for float, on published runs
of every shape the runs file has (pipelines, scale-out axes, two-tier spans, a 2-D torus axis,
recompute policies, eager attention, sequence parallel, overlapped axes, collective matmul), and
each collective rule against collectives.collective_time evaluated."""

from dataclasses import fields, replace

import pytest
import sympy as sp

from symroof.claims import calibrate
from symroof.claims.published import load_runs, values
from symroof.claims.sharded_family import numbered, sharded
from symroof.core.symbols import W_dcn, W_ici
from symroof.io.bind import evaluate
from symroof.parallel import roofline, roofline_numbers, step_model, step_numbers, step_table
from symroof.parallel.collectives import Axis, collective_time, hops
from symroof.parallel.placement import charged

RUNS = load_runs()

PICKS = {
    "interleaved pipeline": lambda r: "stage" in r.mesh and r.schedule == "interleaved",
    "1f1b pipeline over dcn": lambda r: "stage" in r.mesh and r.mesh["stage"].link == "dcn",
    "dcn axis": lambda r: any(a.link == "dcn" for a in r.mesh.values()) and "stage" not in r.mesh,
    "two-tier span": lambda r: bool(r.spans),
    "2-D torus axis": lambda r: any(int(a.n_physical) > 1 for a in r.mesh.values()),
    "kept tensors": lambda r: isinstance(r.recompute, tuple),
    "selective": lambda r: r.recompute == "selective",
    "eager attention": lambda r: r.attention_kernel == "eager",
    "sequence parallel": lambda r: "seq" in r.mesh,
    "overlapped axes": lambda r: bool(r.overlap),
    "sliding window (a cost that is no polynomial)": lambda r: bool(r.model.sliding_window),
    "dualpipe (a bubble weighing F, B and W; two copies)": lambda r: r.schedule == "dualpipe",
    "per-node MoE dispatch": lambda r: bool(r.dispatch_nodes),
}


def _run(pick):
    found = [r for r in RUNS if PICKS[pick](r)]
    if not found:
        pytest.skip(f"no run with {pick} in the runs file")
    return found[0]


def _options(run, **changes):
    return replace(calibrate.step_options(run), **changes)


@pytest.mark.parametrize("pick", sorted(PICKS))
def test_roofline_terms_equal_the_symbolic_terms_evaluated(pick):
    run = _run(pick)
    nums = values(run)
    symbolic = roofline.step(sharded(run, nums), overlap="sum", schedule=run.schedule, simplify=False,
                             ring_factor=True)
    want = {key: evaluate(expr, nums) for key, expr in symbolic.items()}
    got = roofline_numbers.roofline_terms(sharded(run, nums, exact=True), nums, run.schedule)
    assert list(got) == list(want), run.name                    # same terms, same order (the output's)
    # what validate reads: the family's node table with the run's numbers, no graph of its own
    assert roofline_numbers.roofline_terms(numbered(run, nums), nums, run.schedule) == got, run.name
    for key in want:
        assert got[key] == want[key] and float(got[key]) == float(want[key]), (run.name, key)
    assert got["t_math"] > 0 and got["t_step"] >= got["t_comms"]


def test_family_rows_sum_as_the_graph_walk_does():
    # roofline_terms sums a family graph's rows (sharded_family.Family.numeric), a copy's nodes by walking them
    for run in RUNS[::7]:
        sg = sharded(run, values(run), exact=True)
        rows = step_numbers.family_rows(sg)
        stages = int(run.mesh["stage"].size) if "stage" in run.mesh else 1
        # the same sums, groups in order, for the chip the family's rows are charged for (a DualPipe run's
        # ends hold two chunks each: placement.charged; the default placement is a 1F1B chip's)
        walked = roofline_numbers.node_sums(roofline_numbers.node_rows(sg), stages, charged(run.mesh, run.schedule))
        assert rows["sums"] == walked and [list(d) for d in rows["sums"][2:]] == [list(d) for d in walked[2:]]
        copy = sg.copy()
        assert step_numbers.family_rows(copy) is None
        assert step_numbers._weights(copy, stages, True) == step_numbers._weights(sg, stages, True), run.name
        next(d for _, d in copy.nodes(data=True) if d["local_flops"])["local_flops"] += 1
        assert roofline_numbers.roofline_terms(copy, values(run), run.schedule)["t_math"] > \
            roofline_numbers.roofline_terms(sg, values(run), run.schedule)["t_math"], run.name


def _same_parts(run, kernel, opts):
    nums = values(run)
    want = step_model.parts(sharded(run, nums, kernel), nums, opts)
    got = step_numbers.parts(sharded(run, nums, kernel, exact=True), nums, opts)
    table = numbered(run, nums, kernel)      # validate's: the family's node table, made once, and the run's numbers
    assert type(table) is step_table.Numbered, run.name
    from_table = step_numbers.parts(table, nums, opts)
    for f in fields(want):
        if not f.name.startswith("_"):     # floats equal bit for bit: repr round-trips a float
            assert repr(getattr(got, f.name)) == repr(getattr(want, f.name)), (run.name, kernel, f.name)
            assert repr(getattr(from_table, f.name)) == repr(getattr(want, f.name)), (run.name, kernel, f.name)
    assert got.step(0.7, 1.0, 1e-4) == want.step(0.7, 1.0, 1e-4)
    return got


@pytest.mark.parametrize("pick", sorted(PICKS))
def test_step_model_parts_equal_the_symbolic_parts_float_for_float(pick):
    run = _run(pick)
    for kernel in sorted({"fused", run.graph_kernel}):
        got = _same_parts(run, kernel, _options(run))
        assert got.matmul and got.optimizer > 0


@pytest.mark.parametrize("schedule", ["zb1p", "dualpipev", "dualpipe"])
def test_parts_agree_under_the_schedules_that_weigh_f_b_and_w(schedule):
    """The exact path takes these schedules too (it once fell back to SymPy's, unseen), and asking the
    symbolic path first leaves the exact one's rows exact (the row cache tells floats from Fractions)."""
    run = next(r for r in RUNS if "stage" in r.mesh and r.schedule == "1f1b" and r.microbatches % (2 * int(r.mesh["stage"].size)) == 0)
    run = replace(run, schedule=schedule, interleave=2 if schedule == "dualpipev" else 1)
    nums = values(run)
    step_model.parts(sharded(run, nums), nums, _options(run))        # the symbolic path's floats, cached first
    _same_parts(run, "fused", _options(run))
    roofline_numbers.roofline_terms(numbered(run, nums), nums, run.schedule)     # exact: NotExact would raise


def test_parts_agree_under_options_the_runs_do_not_set():
    """Collective matmul on a GPU run, a span, overlapped axes, latencies and no optimizer."""
    run = next(r for r in RUNS if any(a.link == "dcn" for a in r.mesh.values()) and "tensor" in r.mesh)
    dcn = next(name for name, a in run.mesh.items() if a.link == "dcn")
    for opts in (_options(run, collective_matmul=True, critical_overlap=0.5),
                 _options(run, spans={dcn: 2}, t_hop=2e-6, t_launch=5e-6),
                 _options(run, overlapped=(dcn,), optimizer=False),
                 step_model.Options()):
        _same_parts(run, "fused", opts)


@pytest.mark.parametrize("kind", ["AllGather", "ReduceScatter", "AllReduce", "AllToAll", "SendRecv"])
def test_collective_seconds_equal_the_rule_evaluated(kind):
    nums = {W_ici: sp.Integer(9 * 10**10), W_dcn: sp.Rational(25 * 10**9, 2)}
    rates = step_numbers.Rates(nums, {})
    volume = 3 * 2**30 + 7
    meshes = [
        [Axis("x", sp.Integer(8))],
        [Axis("x", sp.Integer(16), "ici", sp.Integer(2))],
        [Axis("x", sp.Integer(4), wrap=False), Axis("y", sp.Integer(8))],
        [Axis("x", sp.Integer(8), switched=True)],
        [Axis("pod", sp.Integer(6), "dcn")],
    ]
    for axes in meshes:
        for ring in (False, True):
            want = collective_time(kind, sp.Integer(volume), axes, ring_factor=ring).xreplace(nums)
            got = step_numbers.collective_seconds(kind, volume, axes, rates, ring_factor=ring)
            assert got == want, (kind, axes, ring)
        assert step_numbers._hops(tuple(a.name for a in axes), {a.name: a for a in axes}) == float(hops(axes))


def test_a_number_the_numeric_path_does_not_take_is_refused_not_rounded():
    with pytest.raises(step_numbers.NotExact):
        step_numbers.exact(sp.Float(1.5))
    with pytest.raises(step_numbers.NotExact):
        step_numbers.exact(sp.sqrt(2))
    assert step_numbers.exact(sp.Rational(3, 4)) == sp.Rational(3, 4) and step_numbers.exact(7) == 7


def test_calibrate_step_parts_is_the_symbolic_parts():
    """What validate stores (claims/calibrate.step_parts) is the symbolic path's result."""
    run = next(r for r in RUNS if "stage" in r.mesh)
    nums = values(run)
    want = step_model.parts(sharded(run, nums, run.graph_kernel), nums, _options(run))
    got = calibrate.step_parts(run, nums)
    assert repr(got) == repr(want)


def test_where_the_numeric_path_refuses_validate_takes_the_symbolic_one_to_the_same_numbers(monkeypatch):
    """A run whose numbers the numeric path will not take (NotExact) is predicted by SymPy's path:
    the same ceilings, terms and step-model parts."""
    from symroof.claims import published

    run = next(r for r in RUNS if "stage" in r.mesh and r.attention_kernel == "eager")
    want = published.predict(run)

    def refuse(*args, **kwargs):
        raise step_numbers.NotExact("refused for the test")
    monkeypatch.setattr(roofline_numbers, "roofline_terms", refuse)
    monkeypatch.setattr(step_numbers, "parts", refuse)
    got = published.predict(run)
    assert (got.t_step, got.terms, got.bound, got.ceilings, got.t_measured) == \
           (want.t_step, want.terms, want.bound, want.ceilings, want.t_measured)
    assert repr(got.parts) == repr(want.parts) and got.parts.optimizer > 0
