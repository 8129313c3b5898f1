"""Dense and Flatten (convnet/ops/dense.py): hand-worked cases, naive == fast over
hypothesis-drawn shapes, gradient checks of dx, dw and db, and errors that name the op and
the shapes."""

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from convnet.gradcheck import check_op, rel_error
from convnet.ops import (
    dense_backward,
    dense_backward_naive,
    dense_forward,
    dense_forward_naive,
    flatten_backward,
    flatten_backward_naive,
    flatten_forward,
    flatten_forward_naive,
)

DENSE = pytest.mark.parametrize(
    "forward, backward",
    [(dense_forward_naive, dense_backward_naive), (dense_forward, dense_backward)],
    ids=["naive", "fast"],
)
FLATTEN = pytest.mark.parametrize(
    "forward, backward",
    [(flatten_forward_naive, flatten_backward_naive), (flatten_forward, flatten_backward)],
    ids=["naive", "fast"],
)

EXACT = 1e-9  # float64 naive vs fast: rounding only
# float32: each output sums D_in products, in loop order (naive) or BLAS order (fast); with
# eps = 1.2e-7 they differ by a few ulps, far inside 1e-5, while a wrong index gives O(1).
FLOAT32 = 1e-5
GRAD_TOL = 1e-7


# --- hand-worked cases ------------------------------------------------------------------------


@DENSE
def test_dense_by_hand(forward, backward):
    x = np.array([[1.0, 2.0], [3.0, -1.0]])
    w = np.array([[1.0, 0.0, 2.0], [-1.0, 1.0, 0.0]])
    b = np.array([0.5, 0.0, -1.0])
    out, cache = forward(x, w, b)
    # row 0: [1*1 + 2*-1, 1*0 + 2*1, 1*2 + 2*0] + b = [-1, 2, 2] + b = [-0.5, 2, 1]
    # row 1: [3*1 - 1*-1, 3*0 - 1*1, 3*2 - 1*0] + b = [4, -1, 6] + b = [4.5, -1, 5]
    np.testing.assert_array_equal(out, [[-0.5, 2.0, 1.0], [4.5, -1.0, 5.0]])

    dout = np.array([[1.0, 0.0, 1.0], [0.0, 2.0, -1.0]])
    dx, dw, db = backward(dout, cache)
    # dx = dout @ w.T: row 0 = 1*[1, -1] + 1*[2, 0] = [3, -1]; row 1 = 2*[0, 1] - [2, 0] = [-2, 2]
    np.testing.assert_array_equal(dx, [[3.0, -1.0], [-2.0, 2.0]])
    # dw = x.T @ dout: row 0 = 1*dout[0] + 3*dout[1] = [1, 6, -2]
    #                  row 1 = 2*dout[0] - 1*dout[1] = [2, -2, 3]
    np.testing.assert_array_equal(dw, [[1.0, 6.0, -2.0], [2.0, -2.0, 3.0]])
    np.testing.assert_array_equal(db, [1.0, 2.0, 0.0])  # column sums of dout


@DENSE
def test_dense_without_bias(forward, backward):
    x, w = np.array([[1.0, 2.0]]), np.array([[3.0], [4.0]])
    out, cache = forward(x, w, None)
    np.testing.assert_array_equal(out, [[11.0]])  # 1*3 + 2*4
    dx, dw, db = backward(np.array([[2.0]]), cache)
    np.testing.assert_array_equal(dx, [[6.0, 8.0]])
    np.testing.assert_array_equal(dw, [[2.0], [4.0]])
    assert db is None


@FLATTEN
def test_flatten_by_hand_is_channel_major(forward, backward):
    # one image, channel 0 = [[1, 2], [3, 4]], channel 1 = [[5, 6], [7, 8]]
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]]])
    out, cache = forward(x)
    # entry c*H*W + h*W + w: all of channel 0, then all of channel 1 (channels-last, as in
    # Keras, would give 1 5 2 6 3 7 4 8 instead)
    np.testing.assert_array_equal(out, [[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]])
    dx = backward(np.array([[10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0]]), cache)
    np.testing.assert_array_equal(
        dx, [[[[10.0, 20.0], [30.0, 40.0]], [[50.0, 60.0], [70.0, 80.0]]]]
    )


# --- naive == fast ----------------------------------------------------------------------------


@given(
    st.integers(1, 20),
    st.integers(1, 6),
    st.integers(1, 6),
    st.booleans(),
    st.integers(0, 2**32 - 1),
)
@example(8, 5, 3, True, 0)
def test_dense_naive_equals_fast(n, d_in, d_out, use_bias, seed):
    rng = np.random.default_rng(seed)
    x, w = rng.normal(size=(n, d_in)), rng.normal(size=(d_in, d_out))
    b = rng.normal(size=d_out) if use_bias else None
    out_n, cache_n = dense_forward_naive(x, w, b)
    out_f, cache_f = dense_forward(x, w, b)
    assert rel_error(out_n, out_f) <= EXACT
    dout = rng.normal(size=(n, d_out))
    dx_n, dw_n, db_n = dense_backward_naive(dout, cache_n)
    dx_f, dw_f, db_f = dense_backward(dout, cache_f)
    assert rel_error(dx_n, dx_f) <= EXACT
    assert rel_error(dw_n, dw_f) <= EXACT
    if use_bias:
        assert rel_error(db_n, db_f) <= EXACT
    else:
        assert db_n is None and db_f is None



def test_dense_and_flatten_float32_naive_equals_fast_and_stay_float32():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 2, 3, 4)).astype(np.float32)
    flat_n, fcache_n = flatten_forward_naive(x)
    flat_f, fcache_f = flatten_forward(x)
    assert flat_n.dtype == flat_f.dtype == np.float32
    np.testing.assert_array_equal(flat_n, flat_f)  # a copy, no arithmetic: exact

    w = rng.normal(size=(24, 5)).astype(np.float32)
    b = rng.normal(size=5).astype(np.float32)
    out_n, cache_n = dense_forward_naive(flat_n, w, b)
    out_f, cache_f = dense_forward(flat_f, w, b)
    assert out_n.dtype == out_f.dtype == np.float32
    assert rel_error(out_n, out_f) <= FLOAT32
    dout = rng.normal(size=out_f.shape).astype(np.float32)
    for g_n, g_f in zip(
        dense_backward_naive(dout, cache_n), dense_backward(dout, cache_f), strict=True
    ):
        assert g_n.dtype == g_f.dtype == np.float32
        assert rel_error(g_n, g_f) <= FLOAT32
    dx_n = flatten_backward_naive(np.ones_like(flat_n), fcache_n)
    dx_f = flatten_backward(np.ones_like(flat_f), fcache_f)
    assert dx_n.dtype == dx_f.dtype == np.float32


# --- numerical gradient checks ----------------------------------------------------------------


@DENSE
@pytest.mark.parametrize("n, d_in, d_out", [(1, 1, 1), (4, 3, 2), (3, 7, 5)])
def test_dense_gradients_match_finite_differences(forward, backward, n, d_in, d_out):
    rng = np.random.default_rng(n * 100 + d_in * 10 + d_out)
    inputs = {
        "x": rng.normal(size=(n, d_in)),
        "w": rng.normal(size=(d_in, d_out)),
        "b": rng.normal(size=d_out),
    }
    report = check_op(forward, backward, inputs)
    for name in ("dx", "dw", "db"):
        assert report.errors[name] <= GRAD_TOL, report


@FLATTEN
def test_flatten_gradient_matches_finite_differences(forward, backward):
    x = np.random.default_rng(6).normal(size=(2, 3, 2, 4))
    report = check_op(forward, backward, {"x": x})
    assert report.errors["dx"] <= GRAD_TOL, report


# --- bad input --------------------------------------------------------------------------------


@DENSE
def test_dense_rejects_wrong_rank(forward, backward):
    with pytest.raises(
        ValueError, match=r"dense: expected x of shape \(N, D_in\), got \(2, 3, 4\)"
    ):
        forward(np.zeros((2, 3, 4)), np.zeros((12, 5)), np.zeros(5))


@DENSE
def test_dense_rejects_feature_mismatch(forward, backward):
    with pytest.raises(
        ValueError,
        match=r"dense: input has 3 features but the kernel of shape \(4, 5\) expects 4 "
        r"\(x \(2, 3\)\)",
    ):
        forward(np.zeros((2, 3)), np.zeros((4, 5)), np.zeros(5))
    with pytest.raises(ValueError, match=r"dense: .*kernel of shape \(3,\)"):
        forward(np.zeros((2, 3)), np.zeros(3), None)


@DENSE
def test_dense_rejects_wrong_bias_shape(forward, backward):
    with pytest.raises(ValueError, match=r"dense: bias must have shape \(5,\), got \(4,\)"):
        forward(np.zeros((2, 3)), np.zeros((3, 5)), np.zeros(4))


@FLATTEN
def test_flatten_rejects_a_single_vector(forward, backward):
    with pytest.raises(ValueError, match=r"flatten: expected .* got \(5,\)"):
        forward(np.zeros(5))


@DENSE
@pytest.mark.parametrize("which", ["x", "w", "b"])
def test_dense_rejects_integer_arrays_naming_the_argument_and_dtype(forward, backward, which):
    arrays = {"x": np.ones((2, 3)), "w": np.ones((3, 5)), "b": np.zeros(5)}
    arrays[which] = arrays[which].astype(np.int64)
    message = rf"dense: {which} must be floating point \(float32 or float64\), got int64"
    with pytest.raises(ValueError, match=message):
        forward(arrays["x"], arrays["w"], arrays["b"])


@DENSE
def test_dense_backward_rejects_an_integer_gradient(forward, backward):
    out, cache = forward(np.ones((2, 3)), np.ones((3, 5)), np.zeros(5))
    with pytest.raises(ValueError, match=r"dense: dout must be floating point .* got int64"):
        backward(np.ones(out.shape, dtype=np.int64), cache)


@FLATTEN
def test_flatten_rejects_integer_arrays(forward, backward):
    with pytest.raises(ValueError, match=r"flatten: x must be floating point .* got uint8"):
        forward(np.zeros((2, 1, 3, 3), dtype=np.uint8))
    _, cache = forward(np.zeros((2, 1, 3, 3)))
    with pytest.raises(ValueError, match=r"flatten: dout must be floating point .* got int64"):
        backward(np.zeros((2, 9), dtype=np.int64), cache)
