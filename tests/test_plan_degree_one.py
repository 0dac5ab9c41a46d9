"""Meshes with an axis of degree 1: the planner reaches them, and such an axis costs nothing.

Two faults, found by enumerating meshes by hand:

- Every family but ``dp`` drew each axis's degree from the divisors above 1, so a mesh whose other
  axes form no family of their own was never tried: stage x tensor (``pp_fsdp_tp`` at fsdp = 1),
  seq x tensor (``fsdp_tp_seq`` at fsdp = 1), seq alone, expert x tensor. With fewer sequences than
  chips no fsdp degree above 1 divides the batch, so one long sequence was never split over
  ``seq`` (context parallelism): LLaMA 3 8B, one sequence of 131072 tokens on 64 H100s planned
  tensor=32 on 32 of the 64 GPUs at 5.59 s, DCN-bound; seq=8 x tensor=8 on all 64 takes 0.307 s.
- An axis of one chip still counted: its own collectives at the book's V/(W·M) (the rule drops
  the ring's (n-1)/n, which is 0 at n = 1), and its W·M beside another axis in a joint collective
  on a torus (fsdp=1 x seq doubled seq's weight-gather bandwidth).

Search checks use symroof's own per-mesh evaluation (``plan(mesh=...)``) as the cost of each
mesh and compare the search's winner with a brute force over every family and degree.
"""

import itertools
import math

import pytest
import sympy as sp

from symroof.core.symbols import W_dcn, W_ici
from symroof.errors import InfeasibleError
from symroof.io.catalog import load_chip, load_model
from symroof.parallel.collectives import Axis, collective_time
from symroof.parallel.step_numbers import Rates, collective_seconds
from symroof.search import plan as planlib
from symroof.search.sweep import FAMILIES, MOE_ONLY

V = sp.Integer(10 ** 9)
ONE = Axis("fsdp", sp.Integer(1), "ici", sp.Integer(1), True)
SEQ = Axis("seq", sp.Integer(4), "ici", sp.Integer(1), True)


def test_an_axis_of_one_chip_moves_nothing_and_adds_no_bandwidth():
    # sharding.md: an AllGather over one wrapping axis takes V / W_ici (M = 1); the chip alone on
    # fsdp neither sends nor lends links to the seq ring
    assert collective_time("AllGather", V, [ONE, SEQ]) == V / W_ici          # was V / (2 W_ici)
    assert collective_time("ReduceScatter", V, [ONE]) == 0                    # was V / W_ici
    assert collective_time("AllReduce", V, [ONE], latency=True) == 0
    rates = Rates({W_ici: sp.Integer(9 * 10 ** 10), W_dcn: sp.Integer(25 * 10 ** 8)},
                  {"fsdp": ONE, "seq": SEQ})
    assert collective_seconds("AllGather", 10 ** 9, [ONE, SEQ], rates) == sp.Rational(10 ** 9, 9 * 10 ** 10)
    assert collective_seconds("AllGather", 10 ** 9, [ONE], rates) == 0


def _brute(card, chip, chips, tokens, seq):
    """The fastest mesh of every family, every degree (1 included) and pod count, each evaluated
    alone with plan(mesh=...), on between half and all of the chips."""
    best = (math.inf, None)
    divisors = [d for d in range(1, chips + 1) if chips % d == 0]
    for family, axes in FAMILIES.items():
        if family in MOE_ONLY and not card.is_moe:
            continue
        for degrees in itertools.product(divisors, repeat=len(axes)):
            used = math.prod(degrees)
            if not chips / 2 <= used <= chips:
                continue
            try:
                step = planlib.plan(card, chip, used, tokens, seq, mesh=dict(zip(axes, degrees)))["step_time_s"]
            except InfeasibleError:
                continue
            best = min(best, (step, dict(zip(axes, degrees))), key=lambda b: b[0])
    return best


@pytest.mark.parametrize("model, chip, chips, tokens, seq, axes", [
    # one sequence of 128K tokens: context parallelism (seq), no fsdp. It was seq=8 x tensor=8 until an
    # axis across nodes was priced by NCCL's hierarchical ring (8 of its GPUs a node, 8 NICs): seq=64
    # now ties at the compute floor (0.3067 s, unchanged) with more comms headroom
    ("llama3-8b", "h100-sxm", 64, 131072, 131072, {"seq"}),
    # 4 sequences on 32 GPUs: a 4-stage pipeline of tensor=8 nodes, no fsdp (was 0.637 s, fsdp=2)
    ("llama3-70b", "h100-sxm", 32, 16384, 4096, {"stage", "tensor"}),
])
def test_search_finds_the_brute_force_optimum(model, chip, chips, tokens, seq, axes):
    card, hw = load_model(model), load_chip(chip)
    got = planlib.plan(card, hw, chips, tokens, seq)
    step, mesh = _brute(card, hw, chips, tokens, seq)
    assert got["step_time_s"] == pytest.approx(step, rel=1e-9)
    assert {a for a, d in got["mesh"].items() if d > 1} == axes
    assert got["chips_used"] == chips


def test_one_long_sequence_on_64_h100s():
    got = planlib.plan(load_model("llama3-8b"), load_chip("h100-sxm"), 64, 131072, 131072)
    # was {"fsdp": 1, "seq": 8, "tensor": 8} at the same step: seq across nodes at 8 GPUs a node now runs
    # at min(W_ici, 8 W_dcn) (collectives.two_tier), not one NIC, and has more comms headroom
    assert got["mesh"] == {"fsdp": 1, "seq": 64}
    assert got["step_time_s"] < 5.59 / 10         # tensor=32 on 32 GPUs, DCN-bound, was chosen
