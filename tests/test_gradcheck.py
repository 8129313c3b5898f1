"""The gradient checker itself (convnet/gradcheck.py): numerical_gradient recovers gradients we
know in closed form, rel_error behaves like a relative error, and check_op both passes a
correct op and catches a wrong one. Every other op test leans on these three functions."""

import numpy as np
import pytest

from convnet.gradcheck import GradcheckReport, check_op, numerical_gradient, rel_error
from convnet.ops import dense_backward, dense_forward

# --- numerical_gradient -----------------------------------------------------------------------


def test_numerical_gradient_of_a_scalar_function_with_a_known_gradient():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4))
    c = rng.normal(size=(3, 4))
    # f(x) = sum(c * sin(x) + x^3 / 3)  =>  df/dx = c * cos(x) + x^2
    grad = numerical_gradient(lambda v: np.sum(c * np.sin(v) + v**3 / 3), x)
    # centred differences: error ~ h^2 * f''' ~ 1e-10, far below the 1e-7 threshold
    assert rel_error(grad, c * np.cos(x) + x**2) <= 1e-8


def test_numerical_gradient_with_an_upstream_gradient_is_a_vector_jacobian_product():
    x = np.array([1.0, -2.0, 0.5])
    dout = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 1.0]])
    # out[i, j] = x[j]^2 * (i + 1)  =>  dx[j] = sum_i dout[i, j] * 2 x[j] (i + 1)
    #   j=0: (1*1 + 0*2) * 2 * 1    =  2
    #   j=1: (2*1 - 1*2) * 2 * -2   =  0
    #   j=2: (3*1 + 1*2) * 2 * 0.5  =  5
    grad = numerical_gradient(lambda v: np.stack([v**2, 2 * v**2]), x, dout)
    np.testing.assert_allclose(grad, [2.0, 0.0, 5.0], rtol=0, atol=1e-8)


def test_numerical_gradient_restores_x_and_handles_non_contiguous_arrays():
    # A transposed matrix is laid out column-major: the checker must nudge x itself,
    # not a flattened copy of it (which would report a gradient of 0 everywhere).
    base = np.arange(1.0, 7.0).reshape(2, 3)
    x = base.T  # shape (3, 2), not C-contiguous
    assert not x.flags.c_contiguous
    before = x.copy()
    grad = numerical_gradient(lambda v: np.sum(v**2), x)  # d/dx sum x^2 = 2x
    assert rel_error(grad, 2 * before) <= 1e-9
    np.testing.assert_array_equal(x, before)


def test_numerical_gradient_refuses_float32():
    with pytest.raises(ValueError, match="numerical_gradient: x must be float64.*float32"):
        numerical_gradient(np.sum, np.zeros(3, dtype=np.float32))


# --- rel_error --------------------------------------------------------------------------------


def test_rel_error_by_hand():
    # max|a - b| = 2e-6, scale = max(2, 2.000002) = 2.000002
    err = rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.000002]))
    assert err == pytest.approx(2e-6 / 2.000002, rel=1e-9)
    # measured against the largest entry, not entry by entry: 0.1 vs 0.2 next to a 10
    assert rel_error(np.array([10.0, 0.1]), np.array([10.0, 0.2])) == pytest.approx(0.01)


def test_rel_error_is_zero_for_equal_arrays_including_all_zeros():
    a = np.random.default_rng(1).normal(size=(2, 3))
    assert rel_error(a, a.copy()) == 0.0
    assert rel_error(np.zeros(4), np.zeros(4)) == 0.0
    assert rel_error(np.zeros((0, 3)), np.zeros((0, 3))) == 0.0


def test_rel_error_is_symmetric_and_scale_invariant():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    err = rel_error(a, b)
    assert err > 0
    assert rel_error(b, a) == err
    # Powers of two scale every float exactly, so the error must not move by a single bit.
    for k in (-30, -3, 5, 40):
        assert rel_error(a * 2.0**k, b * 2.0**k) == err
    assert rel_error(a * 3.7, b * 3.7) == pytest.approx(err, rel=1e-12)


def test_rel_error_raises_on_shape_mismatch():
    with pytest.raises(ValueError, match=r"rel_error: shapes differ, \(2, 3\) vs \(3, 2\)"):
        rel_error(np.zeros((2, 3)), np.zeros((3, 2)))


# --- check_op ---------------------------------------------------------------------------------


def _dense_inputs(seed=0):
    rng = np.random.default_rng(seed)
    return {"x": rng.normal(size=(4, 3)), "w": rng.normal(size=(3, 2)), "b": rng.normal(size=2)}


def test_check_op_passes_a_correct_op_and_reports_every_gradient():
    report = check_op(dense_forward, dense_backward, _dense_inputs())
    assert isinstance(report, GradcheckReport)
    assert [(name, shape) for name, shape, _ in report.rows] == [
        ("dx", (4, 3)),
        ("dw", (3, 2)),
        ("db", (2,)),
    ]
    assert all(err <= 1e-7 for err in report.errors.values())
    assert report.max_error == max(report.errors.values())
    assert "ok" in str(report) and "BUG" not in str(report)


def test_check_op_catches_a_wrong_backward_pass():
    def wrong_backward(dout, cache):
        dx, dw, db = dense_backward(dout, cache)
        return dx, dw.T.reshape(dw.shape), 2 * db  # transposed-but-reshaped dw, doubled db

    report = check_op(dense_forward, wrong_backward, _dense_inputs())
    assert report.errors["dx"] <= 1e-7
    assert report.errors["dw"] > 1e-2
    assert report.errors["db"] > 1e-2
    assert "BUG" in str(report)


def test_check_op_leaves_the_callers_arrays_untouched():
    inputs = _dense_inputs()
    copies = {k: v.copy() for k, v in inputs.items()}
    check_op(dense_forward, dense_backward, inputs)
    for k in inputs:
        np.testing.assert_array_equal(inputs[k], copies[k])
