"""Closed forms solved from the graph, against the book's (book-4-6.md 2.1–2.8), symbolically."""

import pytest
import sympy as sp

from symroof.solve import training as solve
from symroof.errors import NoClosedFormError
from symroof.core.symbols import B, C, F, M_X, M_Y, T, W_dcn, W_ici, X, b_act, n_chips

alpha = C / W_ici
TWO = {b_act: 2}


def same(a, b):
    return sp.simplify(a - b) == 0


def test_fsdp_and_dp_critical_batch_is_alpha_over_m_x():
    for fsdp in (True, False):
        d = solve.data_parallel_batch(fsdp=fsdp)
        assert same(d.expr.subs(TWO), alpha / M_X)


def test_tp_degree_bound_is_m_y_f_over_alpha():
    assert same(solve.tensor_parallel_degree().expr.subs(TWO), M_Y * F / alpha)


def test_x_opt_is_solved_not_typed():
    d = solve.fsdp_tp_optimum()
    assert same(d.expr, sp.sqrt(B * T * n_chips * M_X / (F * M_Y)))
    # the book's sqrt(2BN/F) with B in tokens: M_X/M_Y = 2
    book = d.expr.subs({M_X: 2, M_Y: 1})
    assert same(book, sp.sqrt(2 * B * T * n_chips / F))
    assert any("d T_comms / dX" in what for what, _ in d.steps)


def test_mixed_bound_sum_and_max_overlap():
    pinned = solve.fsdp_tp_optimum(overlap="sum").extra["critical_batch"].subs(TWO)
    later = solve.fsdp_tp_optimum(overlap="max").extra["critical_batch"].subs(TWO)
    assert same(pinned, 4 * alpha**2 / (M_X * M_Y * F))
    assert same(later, alpha**2 / (M_X * M_Y * F))
    # same X_opt under both rules (book-4-6.md 2.4)
    assert same(solve.fsdp_tp_optimum(overlap="max").expr, solve.fsdp_tp_optimum().expr)


def test_dcn_bound_is_c_over_w_dcn_per_chip():
    assert same(solve.dcn_critical_batch().expr.subs(TWO), C / W_dcn)


def test_x_opt_on_a_real_llama_structure_still_has_one_root():
    """With embeddings and norms, the norm scales' gathers add a term independent of X: T_comms =
    pX + c + q/X still has one minimum, and the critical batch is the one positive root of a
    quadratic in sqrt(B) (Descartes' rule of signs picks it)."""
    from symroof.core.graph import Structure

    d = solve.fsdp_tp_optimum(Structure())
    assert d.expr.is_positive
    assert d.expr.free_symbols >= {B, T, n_chips, M_X, M_Y, F}
    assert d.extra["critical_batch"].is_positive


def test_max_overlap_on_a_real_structure_solves_its_critical_batch_by_squaring():
    """With overlap max, X_opt is where T_fsdp = T_tp, the root of a quadratic once the norms' gathers
    add a term free of X; T_comms there is then c + sqrt(c^2 + kB), whose square root holds a term
    free of B. The critical batch comes from squaring, and it must solve the unsquared equation:
    checked at numbers (Llama 3 8B's shapes, v5p's C and W, 512 chips, M = 1)."""
    from symroof.core.graph import Structure
    from symroof.io.bind import chip_values, model_values
    from symroof.io.catalog import load_chip, load_model

    d = solve.fsdp_tp_optimum(Structure(), "max")
    per_chip = d.extra["critical_batch"]
    nums = {**model_values(load_model("llama3-8b")), **chip_values(load_chip("tpu-v5p")),
            T: 4096, n_chips: 512, M_X: 1, M_Y: 1, b_act: 2}
    b = per_chip.xreplace(nums) * nums[n_chips] / nums[T]
    t_math, t_fsdp = (e.xreplace({B: b}).xreplace(nums) for e in (d.extra["t_math"], d.steps[0][1]))
    x = d.expr.xreplace({B: b}).xreplace(nums)
    assert float(b) > 0 and float(t_math) == pytest.approx(float(t_fsdp.xreplace({X: x})), rel=1e-12)


def test_descartes_is_trusted_only_where_it_tells_the_roots_apart():
    """x^3 + a x^2 + b x - c has one positive root for all positive a, b, c (one sign change), but
    Cardano's expressions swap branches across a, b, c: which one is positive at one point says
    nothing elsewhere. Refused, not answered with a root that is negative at a = 10, b = c = 1."""
    a, b, c, x = sp.symbols("a b c x", positive=True)
    with pytest.raises(NoClosedFormError):
        solve._roots(x**3 + a * x**2 + b * x - c, x, "cubic")
    assert solve._roots(a * x**2 + b * x - c, x, "quadratic").xreplace({a: 1, b: 1, c: 2}) == 1


def test_a_whole_step_with_batch_free_gradient_traffic_has_no_closed_critical_batch():
    """The whole step adds the norm gradients' gathers over the tensor axis, which do not grow with
    B: with overlap sum, T_comms at X_opt then holds two square roots of B. That is said at once,
    not left to SymPy's search for radicals (minutes)."""
    from symroof.core.graph import Structure

    with pytest.raises(NoClosedFormError, match="no closed form of that shape"):
        solve.fsdp_tp_optimum(Structure(), phase=None)


def test_derivation_renders_in_book_notation():
    d = solve.fsdp_tp_optimum()
    text = d.render("latex", names={n_chips: "N"})
    assert r"X_{\text{opt}} = \sqrt{\frac{B M_X T N}{F M_Y}}" in text
    assert r"W_{\text{ici}}" in text and "W_{ici}" not in text
    assert d._repr_latex_().startswith("$$")


def test_bad_overlap_is_rejected():
    with pytest.raises(ValueError, match="overlap"):
        solve.fsdp_tp_optimum(overlap="min")


def test_no_root_is_an_error():
    with pytest.raises(NoClosedFormError):
        solve._roots(B**2 + 1, B, "impossible")
