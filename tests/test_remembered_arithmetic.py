"""core/ops.times and over (the products and quotients a sharding remembers) against Python's and
SymPy's own ``*`` and ``/``: equal (exactly, tolerance none) and of the same type, on operands that
compare equal across types (2 and Integer(2), Rational(1, 2) and 0.5), asked in either order, so a
remembered result is never another type's."""

import sympy as sp

from symroof.core import ops


def test_each_type_keeps_its_own_result():
    x = sp.Symbol("x", positive=True)
    cases = [(2, 3), (sp.Integer(2), sp.Integer(3)), (2, sp.Integer(3)), (sp.Rational(1, 2), x),
             (0.5, x), (x, 4), (x, sp.Integer(4)), (2, x), (sp.Integer(2), x)]
    for _ in range(2):                                  # the second time, every answer is remembered
        for a, b in cases:
            for got, want in ((ops.times(a, b), a * b), (ops.over(a, b), a / b)):
                assert got == want and type(got) is type(want), (a, b, got, want)
    assert type(ops.times(2, 3)) is int and type(ops.times(sp.Integer(2), sp.Integer(3))) is sp.Integer
    assert ops.over(2, 4) == 0.5 and ops.over(sp.Integer(2), sp.Integer(4)) == sp.Rational(1, 2)
