"""Closed forms solved from the graph, against the book's (book-4-6.md 2.1–2.8), symbolically."""

import pytest
import sympy as sp

from symroof.solve import training as solve
from symroof.errors import NoClosedFormError
from symroof.core.symbols import B, C, F, M_X, M_Y, T, W_dcn, W_ici, b_act, n_chips

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


def test_a_whole_step_with_batch_free_gradient_traffic_has_no_closed_critical_batch():
    """The whole step adds the norm gradients' gathers over the tensor axis, which do not grow with
    B: T_comms at X_opt is then sqrt(aB + b) + c, not a multiple of sqrt(B). That is said at once,
    not left to SymPy's search for radicals (minutes)."""
    from symroof.core.graph import Structure

    with pytest.raises(NoClosedFormError, match="not a multiple of sqrt"):
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
