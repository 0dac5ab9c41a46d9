"""Pipeline schedules against the published formulas and against a replay of the schedules.

Expected values come from two places that do not read symroof's table:

- the formulas as Narayanan et al. 2021 (arXiv 2104.04473, section 2.2) and Korthikanti et
  al. 2022 (arXiv 2205.05198, section 4.2.3; Megatron-LM's ``theoretical_memory_usage.py``)
  print them, typed here from the papers;
- a replay of each schedule as the papers define it (per-chip op order, each op waiting for
  its input from the neighbouring stage), in exact rational time, which measures the idle
  fraction, the peak number of stashed microbatches and the sends directly.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
import sympy as sp

from symroof.errors import CardError, InfeasibleError
from symroof.parallel import pipeline
from symroof.parallel.collectives import Axis, collective_time
from symroof.core.symbols import W_dcn, W_ici
from runsfile import ONE_RUN  # noqa: E402

# (p, m, v): the papers' figures (p=4, m=8, v=2) and other shapes with m a multiple of p,
# as Megatron's interleaved schedule requires.
SHAPES = [(4, 8, 2), (2, 4, 1), (4, 8, 1), (8, 16, 4), (3, 9, 3), (16, 32, 8), (4, 12, 3)]


def _orders(schedule: str, p: int, m: int, v: int) -> list[list[tuple]]:
    """Per chip, its ops in order: ("F" | "B", chunk, microbatch), as the papers lay them out."""
    orders = []
    for s in range(p):
        if schedule == "gpipe":           # every forward, then every backward (GPipe)
            ops = [("F", 0, i) for i in range(m)] + [("B", 0, i) for i in range(m)]
        else:                             # 1F1B / interleaved 1F1B (Megatron-LM's ordering)
            def fwd(k):
                return ("F", (k // p) % v, (k // (p * v)) * p + k % p)

            def bwd(k):
                return ("B", v - 1 - (k // p) % v, (k // (p * v)) * p + k % p)
            total = m * v
            # Megatron-LM's warm-up forwards (its interleaved ordering holds 2(p-1)+1 at v = 1)
            interleaved = schedule == "interleaved"
            warm = min((p - s - 1) * 2 + (v - 1) * p if interleaved else p - s - 1, total)
            ops = [fwd(k) for k in range(warm)]
            f, b = warm, 0
            while f < total:
                ops += [fwd(f), bwd(b)]
                f, b = f + 1, b + 1
            ops += [bwd(k) for k in range(b, total)]
        orders.append(ops)
    return orders


def replay(schedule: str, p: int, m: int, v: int):
    """Exact idle fraction, peak in-flight microbatches on chip 0 and chip 0's forward sends per step.

    A chunk's forward takes 1/v, its backward 2/v (the backward does twice the matmuls).
    Virtual stage of (chip s, chunk c) is c·p + s; a forward needs the previous virtual stage's
    forward, a backward the next one's backward.
    """
    fw, bw = Fraction(1, v), Fraction(2, v)
    done: dict = {}
    orders = _orders(schedule, p, m, v)
    pos, free = [0] * p, [Fraction(0)] * p
    last = p * v - 1
    while any(pos[s] < len(orders[s]) for s in range(p)):
        progressed = False
        for s in range(p):
            while pos[s] < len(orders[s]):
                kind, c, i = orders[s][pos[s]]
                vs = c * p + s
                if kind == "F":
                    dep = ("F", vs - 1, i) if vs > 0 else None
                else:
                    dep = ("B", vs + 1, i) if vs < last else ("F", vs, i)
                if dep is not None and dep not in done:
                    break
                start = max(free[s], done[dep] if dep else Fraction(0))
                free[s] = start + (fw if kind == "F" else bw)
                done[(kind, vs, i)] = free[s]
                pos[s] += 1
                progressed = True
        assert progressed, "the schedule deadlocks"
    makespan = max(free)
    ideal = m * (fw + bw) * v
    held, peak = 0, 0
    for kind, _, _ in orders[0]:
        held += 1 if kind == "F" else -1
        peak = max(peak, held)
    sends = sum(1 for kind, c, i in orders[0] if kind == "F" and c * p < last)   # the whole step
    return (makespan - ideal) / ideal, Fraction(peak, v), sends


# ----------------------------------------------------------------------------- the formulas


def _paper(p, m, v):
    """Narayanan et al. 2021 section 2.2 and Korthikanti et al. 2022 section 4.2.3, as printed."""
    return {
        "gpipe": {"bubble": Fraction(p - 1, m), "in_flight": m, "sends": 1},
        "1f1b": {"bubble": Fraction(p - 1, m), "in_flight": min(p, m), "sends": 1},
        "interleaved": {"bubble": Fraction(p - 1, v * m),
                        "in_flight": p * (1 + Fraction(p - 1, p * v)), "sends": v},
    }


@pytest.mark.parametrize("p, m, v", SHAPES)
@pytest.mark.parametrize("name", ["gpipe", "1f1b", "interleaved"])
def test_table_rows_equal_the_published_formulas(name, p, m, v):
    if name != "interleaved" and v > 1:
        v = 1
    row = pipeline.row(name, sp.Integer(p), sp.Integer(m), sp.Integer(v))
    for key, want in _paper(p, m, v)[name].items():
        want = Fraction(want)
        assert row[key] == sp.Rational(want.numerator, want.denominator), (name, key, row[key], want)


def test_the_paper_figure_numbers():
    """p = 4, m = 8 (Narayanan et al. figures 3 and 4): 1F1B idles 3/8, interleaving v = 2 halves it."""
    assert pipeline.row("1f1b", 4, 8)["bubble"] == sp.Rational(3, 8)
    assert pipeline.row("interleaved", 4, 8, 2)["bubble"] == sp.Rational(3, 16)
    # Megatron-LM's interleaved_schedule_memory_penalty for p = 4, v = 2: 1 + 3/8
    assert pipeline.row("interleaved", 4, 8, 2)["in_flight"] == 4 * sp.Rational(11, 8)


def test_the_names_are_the_table_rows():
    """``NAMES`` (what a plan needs without building the SymPy table) lists the table's rows."""
    assert pipeline.NAMES == tuple(pipeline.SCHEDULES) and pipeline.DEFAULT in pipeline.NAMES


def test_the_table_stays_symbolic():
    from symroof.core.symbols import n_micro, n_stages, n_virtual

    row = pipeline.row("interleaved", n_stages)
    assert row["bubble"].free_symbols == {n_stages, n_micro, n_virtual}


# ----------------------------------------------------------------------------- the replay


@pytest.mark.parametrize("p, m, v", SHAPES + [(4, 2, 1), (8, 3, 1)])   # fewer microbatches than stages too
@pytest.mark.parametrize("name", ["gpipe", "1f1b", "interleaved"])
def test_replayed_schedules_idle_hold_and_send_as_the_table_says(name, p, m, v):
    if name != "interleaved":
        v = 1
    elif m % p:
        pytest.skip("Megatron's interleaved schedule needs m to be a multiple of p")
    bubble, in_flight, sends = replay(name, p, m, v)
    row = pipeline.row(name, sp.Integer(p), sp.Integer(m), sp.Integer(v))
    assert sp.Rational(bubble.numerator, bubble.denominator) == row["bubble"]
    assert sp.Rational(in_flight.numerator, in_flight.denominator) == row["in_flight"]
    assert sends == row["sends_per_step"] and sends == m * row["sends"]


def _peak(ops, chunk=None) -> int:
    """Most microbatches held at once in ``ops`` (one chip's order), of one chunk or all of them."""
    held, peak = 0, 0
    for kind, c, _ in ops:
        if chunk is None or c == chunk:
            held += 1 if kind == "F" else -1
            peak = max(peak, held)
    return peak


@pytest.mark.parametrize("p, m, v", SHAPES + [(4, 2, 1), (8, 3, 1)])
@pytest.mark.parametrize("name", ["gpipe", "1f1b", "interleaved"])
def test_the_last_stage_holds_what_the_table_says(name, p, m, v):
    """The last stage (the head's) in the replayed order: GPipe m, 1F1B one. Interleaved: its last
    chunk, which holds the head, one, and its layers ((v-1)·p + 1)/v stage-fulls; the table keeps
    the first stage's count, which is not less, since neither is published."""
    if name != "interleaved":
        v = 1
    elif m % p:
        pytest.skip("Megatron's interleaved schedule needs m to be a multiple of p")
    last = _orders(name, p, m, v)[p - 1]
    row = pipeline.row(name, sp.Integer(p), sp.Integer(m), sp.Integer(v))
    if name == "interleaved":
        assert _peak(last, v - 1) == 1
        assert row["in_flight_last"] >= sp.Rational(_peak(last), v) and row["in_flight_last"] == row["in_flight"]
    else:
        assert row["in_flight_last"] == _peak(last) == (m if name == "gpipe" else 1)


# ----------------------------------------------------------------------------- stages


def test_partition_deals_chunks_round_robin_and_evenly():
    stages = pipeline.partition(pipeline.blocks(126), 16, 8)
    sizes = [sum(n for _, n in chunk) for stage in stages for chunk in stage]
    assert len(stages) == 16 and all(len(stage) == 8 for stage in stages)
    assert sorted(set(sizes)) == [1]           # Llama 3: 128 blocks, one per chunk
    assert stages[0][0] == [("embedding", 1)] and stages[15][7] == [("head", 1)]
    assert pipeline.blocks([("dense", 3), ("moe", 58)])[1:3] == [("dense", 3), ("moe", 58)]
    two = pipeline.partition([("dense", 3), ("moe", 58)], 4)
    assert two[0] == [[("dense", 3), ("moe", 13)]] and [sum(n for _, n in s[0]) for s in two] == [16, 15, 15, 15]


@pytest.mark.parametrize("args, message", [
    ((8, 9), "9 stages but the model has only 8 blocks"),
    ((80, 8, 11), "11 virtual stages per chip but 80 blocks over 8 stages leave 10 per stage"),
    ((80, 8, 1, 33, 32), "33 microbatches but each pipeline gets only 32 sequences"),
])
def test_impossible_pipelines_are_one_line(args, message):
    with pytest.raises(InfeasibleError) as err:
        pipeline.check(*args)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_unknown_schedule_is_named():
    from symroof.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="known: gpipe, 1f1b, interleaved"):
        pipeline.schedule("zero-bubble")


# ----------------------------------------------------------------------------- send/recv


def test_send_is_one_way_over_one_link():
    """A point-to-point send uses one link in one direction: half the book's bidirectional W_ici
    (tpus.md: bidirectional = 2 × one-way), the card's one-way DCN figure, whatever M is."""
    V = sp.Symbol("V", positive=True)
    ring = Axis("stage", sp.Integer(4), "ici", sp.Integer(2))
    assert collective_time("SendRecv", V, [ring]) == 2 * V / W_ici
    assert collective_time("SendRecv", V, [Axis("stage", sp.Integer(4), "dcn")]) == V / W_dcn
    # one hop of latency, not a ring's |X|/2
    from symroof.core.symbols import t_hop
    assert collective_time("SendRecv", V, [ring], latency=True) == sp.Max(2 * V / W_ici, t_hop)


# ----------------------------------------------------------------------------- published runs


# the one run of tests/runsfile.py, pipelined: two stages over DCN, four microbatches
GOOD = (ONE_RUN.replace("      data: {size: 2, link: dcn}\n", "      stage: {size: 2, link: dcn}\n")
        .replace("    batch: 4\n", "    batch: 4\n    microbatches: 4\n"))


@pytest.mark.parametrize("old, new, message", [
    ("stage: {size: 2,", "stage: {size: 40,", "40 stages but the model has only 34 blocks"),
    ("microbatches: 4\n", "microbatches: 4\n    interleave: 18\n", "18 virtual stages per chip"),
    ("microbatches: 4", "microbatches: 5", "5 microbatches but each pipeline gets only 4 sequences"),
    ("microbatches: 4\n", "microbatches: 4\n    interleave: 2\n    schedule: 1f1b\n",
     "only the interleaved schedule has virtual stages"),
    ("microbatches: 4\n", "microbatches: 4\n    schedule: zb\n", "allowed: gpipe, 1f1b, interleaved"),
])
def test_impossible_published_pipelines_are_one_line(tmp_path, old, new, message):
    from symroof.claims.published import load_runs

    text = GOOD.replace(old, new, 1)
    if "size: 40" in text:
        text = text.replace("chips: 16", "chips: 320")
    path = tmp_path / "runs.yaml"
    path.write_text(text)
    with pytest.raises(CardError) as err:
        load_runs(path)
    assert message in str(err.value) and "\n" not in str(err.value) and str(path) in str(err.value)


def test_interleaving_divides_the_bubble_and_multiplies_the_sends(tmp_path):
    """The same run with v = 2: the step's compute term shrinks by the bubble the paper gives,
    the stage sends double."""
    from symroof.claims.published import load_runs, predict

    path = tmp_path / "runs.yaml"
    path.write_text(GOOD)
    (plain,) = load_runs(path)
    path.write_text(GOOD.replace("microbatches: 4\n", "microbatches: 4\n    interleave: 2\n"))
    (inter,) = load_runs(path)
    a, b = predict(plain), predict(inter)
    assert plain.schedule == "1f1b" and inter.schedule == "interleaved"
    p, m = 2, 4
    assert a.terms["t_math"] / b.terms["t_math"] == pytest.approx((1 + (p - 1) / m) / (1 + (p - 1) / (2 * m)), rel=1e-12)
    assert b.terms["t_dcn"] == pytest.approx(2 * a.terms["t_dcn"], rel=1e-12)
