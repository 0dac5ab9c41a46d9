"""A run's sharded graph from its family (sharded once with symbolic mesh sizes, numbers put in
per run) against sharding with the run's own sizes and substituting, and exact polynomial
evaluation against hand arithmetic."""

from fractions import Fraction

import pytest
import sympy as sp

from symroof.claims import calibrate
from symroof.claims.published import load_runs, values
from symroof.claims.sharded_family import sharded
from symroof.core import recompute
from symroof.core.graph import build
from symroof.core.symbols import f_rc
from symroof.io.fractions_eval import Polynomial, Polynomials
from symroof.parallel.sharding import shard

B, T, D, X = sp.symbols("B T D X", positive=True)


def test_polynomial_value_is_exact():
    # 3·2·3·4/(2·8) + 4²/8² = 72/16 + 16/64 = 9/2 + 1/4 = 19/4
    p = Polynomial.of(3 * B * T * D / (2 * X) + D**2 / X**2)
    assert p.value({B: 2, T: 3, D: 4, X: 8}) == sp.Rational(19, 4)
    assert p.value({B: 2, T: 3, D: Fraction(1, 2), X: 8}) == sp.Rational(9, 16) + sp.Rational(1, 256)
    assert p.value({B: 2, T: 3, D: 4}) is None                       # X has no value
    assert Polynomial.of(sp.sqrt(B) * T) is None                      # a root is not a polynomial term
    assert Polynomial.of(sp.Integer(0)).value({}) == 0
    # a product with a sum in it is multiplied out: 2·3·(4 + 1)²/5 = 30
    assert Polynomial.of(B * T * (D + 1)**2 / X).value({B: 2, T: 3, D: 4, X: 5}) == 30
    # one product read in one pass: -3/7 · 2³ · 3 / 5² = -72/175; a root among its factors refuses it
    assert Polynomial.of(sp.Rational(-3, 7) * B**3 * T / X**2).value({B: 2, T: 3, X: 5}) == sp.Rational(-72, 175)
    assert Polynomial.of(B * sp.sqrt(T) / X) is None



def test_polynomials_together_are_each_polynomial_s_value():
    # the hand values above, evaluated in one pass; None for a missing value or a non-polynomial
    polys = [Polynomial.of(3 * B * T * D / (2 * X) + D**2 / X**2), None, Polynomial.of(B * T * (D + 1)**2 / X),
             Polynomial.of(sp.Rational(-3, 7) * B**3 * T / X**2), Polynomial.of(sp.Integer(0)), Polynomial.of(B / D)]
    got = Polynomials(polys).exact({B: 2, T: 3, D: 4, X: 8})
    assert got == [Fraction(19, 4), None, Fraction(75, 4), Fraction(-72, 448), 0, Fraction(1, 2)]
    assert [type(v) for v in got] == [Fraction, type(None), Fraction, Fraction, int, Fraction]
    assert Polynomials(polys).exact({B: 2, T: 3, D: 4, X: 5})[2] == 30 and \
        type(Polynomials(polys).exact({B: 2, T: 3, D: 4, X: 5})[2]) is int       # whole: an int
    assert Polynomials(polys).exact({B: 2, T: 3, D: 4}) == [None, None, None, None, 0, Fraction(1, 2)]   # no X


def _direct(run, kernel):
    sg = shard(build(run.structure, "causal", kernel), run.mesh)     # the run's structure: its MTP modules too
    if run.recompute != "none":
        sg = recompute.apply(sg, run.recompute, 1 if run.recompute_layers is None else f_rc)
    return calibrate.numeric(sg, values(run))


@pytest.mark.parametrize("run", load_runs(), ids=lambda r: r.name)
def test_family_graph_equals_sharding_the_run_itself(run):
    """Every published run (interleaved pipelines, DCN axes, recompute lists and policies, eager
    attention, sequence parallelism among them), both kernels: sharding once per family relies on
    sharding's decisions depending on axis names and links only, never on sizes."""
    for kernel in ("fused", run.graph_kernel):
        direct, family = _direct(run, kernel), sharded(run, values(run), kernel)
        assert list(direct.nodes) == list(family.nodes)
        for name, d in direct.nodes(data=True):
            f = family.nodes[name]
            for key in ("local_flops", "local_bytes", "local_vector_flops", "repeat"):
                if key in d:
                    assert f[key] == d[key] and f[key].is_Rational, (run.name, name, key)
            assert [(c.kind, c.axes, c.tensor, c.volume) for c in d.get("collectives", ())] == \
                   [(c.kind, c.axes, c.tensor, c.volume) for c in f.get("collectives", ())]
        assert family.graph["sizes"] == direct.graph["sizes"] and family.graph["mesh"] is run.mesh
        exact = sharded(run, values(run), kernel, exact=True)     # Python ints and Fractions, in one pass
        for name, d in direct.nodes(data=True):
            for key in ("local_flops", "local_bytes", "local_vector_flops", "repeat"):
                if key in d:
                    assert type(exact.nodes[name][key]) in (int, Fraction) and exact.nodes[name][key] == d[key]
            assert [c.volume for c in d.get("collectives", ())] == \
                   [c.volume for c in exact.nodes[name].get("collectives", ())]
