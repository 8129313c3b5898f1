"""Softmax and fused softmax + cross-entropy (convnet/ops/softmax.py).

Hand-worked probabilities, losses and gradients; exact, finite answers at logits of ±1000;
rows that sum to 1; the ln K loss of a uniform guess; naive == fast with integer labels,
one-hot and soft targets; gradient checks; and errors for malformed logits and labels.

Note the loss's backward takes only the cache, ``softmax_cross_entropy_backward(cache)``: the
loss is where backpropagation starts, so there is no upstream ``dout`` (it is 1).
"""

import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from convnet.gradcheck import check_op, numerical_gradient, rel_error
from convnet.ops import (
    softmax,
    softmax_backward,
    softmax_backward_naive,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_backward_naive,
    softmax_cross_entropy_forward,
    softmax_cross_entropy_forward_naive,
    softmax_forward,
    softmax_forward_naive,
)

SOFTMAX = pytest.mark.parametrize(
    "forward, backward",
    [(softmax_forward_naive, softmax_backward_naive), (softmax_forward, softmax_backward)],
    ids=["naive", "fast"],
)
SCE = pytest.mark.parametrize(
    "forward, backward",
    [
        (softmax_cross_entropy_forward_naive, softmax_cross_entropy_backward_naive),
        (softmax_cross_entropy_forward, softmax_cross_entropy_backward),
    ],
    ids=["naive", "fast"],
)

EXACT = 1e-9  # float64 naive vs fast: rounding only
# float32: the naive versions compute exp/log in double precision (math module) and round
# once, the fast ones work in float32; they differ by a few ulps (eps = 1.2e-7). 1e-5 is
# float32 precision with a wide margin; a wrong formula is off by O(1).
FLOAT32 = 1e-5
GRAD_TOL = 1e-7
HAND = {"rtol": 1e-15, "atol": 1e-16}
LN3 = math.log(3.0)


def _onehot(labels, k):
    return np.eye(k)[labels]


def _agree(a, b, term_scale):
    """Naive == fast for a result that may be a small difference of larger terms.

    ``rel_error`` measures against the largest entry of the result. When the whole result is
    a difference of nearly equal terms -- ``p - y`` once the right class has ``p = 1 - 1e-17``,
    ``logsumexp(z) - z_y`` for a confident right answer, ``dout - <dout, p>`` for a peaked
    ``p`` -- it is ~1e-16 and made of nothing but the terms' rounding, which differs between
    two correct implementations. Then the error must be measured against the terms
    (``term_scale``), as rel_error does whenever the result itself is not tiny.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if rel_error(a, b) <= EXACT:
        return True
    return np.max(np.abs(a - b)) <= EXACT * term_scale


# --- hand-worked cases: softmax ---------------------------------------------------------------


@SOFTMAX
def test_softmax_by_hand(forward, backward):
    # exp(0) : exp(ln 3) = 1 : 3 -> 1/4, 3/4;   equal logits -> 1/2 each
    z = np.array([[0.0, LN3], [7.0, 7.0]])
    p, cache = forward(z)
    np.testing.assert_allclose(p, [[0.25, 0.75], [0.5, 0.5]], **HAND)
    # dz = p * (dout - <dout, p>):
    #   row 0: <dout, p> = 0.25 -> [0.25 * 0.75, 0.75 * -0.25] = [0.1875, -0.1875]
    #   row 1: <dout, p> = 0    -> [0.5 * 2, 0.5 * -2] = [1, -1]
    dz = backward(np.array([[1.0, 0.0], [2.0, -2.0]]), cache)
    np.testing.assert_allclose(dz, [[0.1875, -0.1875], [1.0, -1.0]], **HAND)


@SOFTMAX
def test_softmax_at_plus_minus_1000_is_exact_and_finite(forward, backward):
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        p, cache = forward(np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -1000.0]]))
        dz = backward(np.ones((2, 3)), cache)
    # exp(-1000) underflows to exactly 0 after the row maximum is subtracted
    np.testing.assert_array_equal(p, [[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(dz, np.zeros((2, 3)), rtol=0, atol=1e-16)  # constant dout


def test_softmax_helper_returns_the_probabilities():
    np.testing.assert_array_equal(softmax(np.array([[2.0, 2.0, 2.0, 2.0]])), [[0.25] * 4])


# --- hand-worked cases: softmax + cross-entropy -----------------------------------------------


@SCE
@pytest.mark.parametrize("as_onehot", [False, True], ids=["labels", "onehot"])
def test_cross_entropy_by_hand(forward, backward, as_onehot):
    z = np.array([[0.0, LN3], [LN3, 0.0]])  # p = [1/4, 3/4] and [3/4, 1/4]
    y = np.array([1, 1])
    loss, cache = forward(z, _onehot(y, 2) if as_onehot else y)
    # L = -(ln 3/4 + ln 1/4) / 2 = ln(16/3) / 2
    assert loss == pytest.approx(math.log(16 / 3) / 2, rel=1e-15)
    # dL/dz = (p - y) / N = ([1/4, -1/4], [3/4, -3/4]) / 2
    np.testing.assert_allclose(backward(cache), [[0.125, -0.125], [0.375, -0.375]], **HAND)


@SCE
def test_cross_entropy_by_hand_soft_targets(forward, backward):
    z = np.array([[0.0, LN3], [LN3, 0.0]])
    y = np.array([[0.5, 0.5], [1.0, 0.0]])
    loss, cache = forward(z, y)
    # L = -(0.5 ln 1/4 + 0.5 ln 3/4 + ln 3/4) / 2
    expected = -(0.5 * math.log(0.25) + 0.5 * math.log(0.75) + math.log(0.75)) / 2
    assert loss == pytest.approx(expected, rel=1e-15)
    # (p - y) / 2 = ([-1/4, 1/4], [-1/4, 1/4]) / 2
    np.testing.assert_allclose(backward(cache), [[-0.125, 0.125], [-0.125, 0.125]], **HAND)


@SCE
@pytest.mark.parametrize("as_onehot", [False, True], ids=["labels", "onehot"])
def test_cross_entropy_at_plus_minus_1000_is_finite_and_exact(forward, backward, as_onehot):
    z = np.array([[1000.0, -1000.0], [-1000.0, 1000.0]])
    y = np.array([1, 1])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, cache = forward(z, _onehot(y, 2) if as_onehot else y)
        dz = backward(cache)
    # row 0: logsumexp = 1000 (exp(-2000) vanishes), loss 1000 - (-1000) = 2000; row 1: 0.
    assert loss == 1000.0  # (2000 + 0) / 2
    # p = [1, 0] and [0, 1]: (p - y) / 2
    np.testing.assert_array_equal(dz, [[0.5, -0.5], [0.0, 0.0]])

    loss, cache = forward(np.array([[1000.0, 0.0, -1000.0]]), np.array([2]))
    assert loss == 2000.0
    np.testing.assert_array_equal(backward(cache), [[1.0, 0.0, -1.0]])


@SCE
@pytest.mark.parametrize("k", [2, 10, 100])
def test_cross_entropy_of_uniform_logits_is_ln_k(forward, backward, k):
    rng = np.random.default_rng(k)
    y = rng.integers(0, k, size=5)
    for c in (0.0, -3.5, 250.0):  # any constant row: every class gets 1/K
        loss, cache = forward(np.full((5, k), c), y)
        assert abs(loss - math.log(k)) <= 1e-12
        dz = backward(cache)
        np.testing.assert_allclose(dz, (1 / k - _onehot(y, k)) / 5, rtol=0, atol=1e-15)


# --- naive == fast, rows sum to 1 -------------------------------------------------------------


@given(
    st.integers(1, 4),
    st.integers(1, 10),
    st.sampled_from([0.1, 3.0, 100.0]),
    st.integers(0, 2**32 - 1),
)
def test_softmax_rows_sum_to_one_and_naive_equals_fast(n, k, scale, seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=scale, size=(n, k))
    p_n, cache_n = softmax_forward_naive(z)
    p_f, cache_f = softmax_forward(z)
    for p in (p_n, p_f):
        assert np.all(p >= 0) and np.all(p <= 1)
        # K <= 10 entries in [0, 1]: the sum is 1 up to ~K ulps (1e-15)
        np.testing.assert_allclose(p.sum(axis=1), np.ones(n), rtol=0, atol=1e-14)
    assert rel_error(p_n, p_f) <= EXACT
    dout = rng.normal(size=(n, k))
    dz_n, dz_f = softmax_backward_naive(dout, cache_n), softmax_backward(dout, cache_f)
    # dz = p * dout - p * <dout, p>: both terms are bounded by max|dout|
    assert _agree(dz_n, dz_f, term_scale=np.max(np.abs(dout)))


@given(
    st.integers(1, 4),
    st.integers(2, 10),
    st.sampled_from(["labels", "onehot", "soft"]),
    st.sampled_from([0.1, 3.0, 100.0]),
    st.integers(0, 2**32 - 1),
)
def test_cross_entropy_naive_equals_fast(n, k, target_kind, scale, seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=scale, size=(n, k))
    labels = rng.integers(0, k, size=n)
    y = {"labels": labels, "onehot": _onehot(labels, k), "soft": rng.dirichlet(np.ones(k), n)}
    y = y[target_kind]
    loss_n, cache_n = softmax_cross_entropy_forward_naive(z, y)
    loss_f, cache_f = softmax_cross_entropy_forward(z, y)
    assert isinstance(loss_n, float) and isinstance(loss_f, float)
    assert loss_n >= 0 and loss_f >= 0
    # the loss adds up logsumexp(z[n]) - z[n, k] terms, each at most ~2 max|z| + ln K
    assert _agree(loss_n, loss_f, term_scale=2 * np.max(np.abs(z)) + math.log(k))
    dz_n = softmax_cross_entropy_backward_naive(cache_n)
    dz_f = softmax_cross_entropy_backward(cache_f)
    assert _agree(dz_n, dz_f, term_scale=1 / n)  # (p - y) / N with p, y in [0, 1]
    # every row of (p - y) / N sums to 0 when the targets sum to 1 (up to ~K ulps)
    np.testing.assert_allclose(dz_f.sum(axis=1), np.zeros(n), rtol=0, atol=1e-14)


def test_softmax_and_cross_entropy_float32_naive_equals_fast_and_stay_float32():
    rng = np.random.default_rng(11)
    z = rng.normal(scale=3.0, size=(6, 10)).astype(np.float32)
    labels = rng.integers(0, 10, size=6)
    dout = rng.normal(size=z.shape).astype(np.float32)
    p_n, cache_n = softmax_forward_naive(z)
    p_f, cache_f = softmax_forward(z)
    dz_n, dz_f = softmax_backward_naive(dout, cache_n), softmax_backward(dout, cache_f)
    for a, b in ((p_n, p_f), (dz_n, dz_f)):
        assert a.dtype == b.dtype == np.float32
        assert rel_error(a, b) <= FLOAT32
    for y in (labels, _onehot(labels, 10).astype(np.float32)):
        loss_n, cache_n = softmax_cross_entropy_forward_naive(z, y)
        loss_f, cache_f = softmax_cross_entropy_forward(z, y)
        assert rel_error(np.array(loss_n), np.array(loss_f)) <= FLOAT32
        dz_n = softmax_cross_entropy_backward_naive(cache_n)
        dz_f = softmax_cross_entropy_backward(cache_f)
        assert dz_n.dtype == dz_f.dtype == np.float32
        assert rel_error(dz_n, dz_f) <= FLOAT32


# --- numerical gradient checks ----------------------------------------------------------------


@SOFTMAX
def test_softmax_gradient_matches_finite_differences(forward, backward):
    z = np.random.default_rng(12).normal(scale=2.0, size=(3, 5))
    report = check_op(forward, backward, {"z": z})
    assert report.errors["dz"] <= GRAD_TOL, report


@SCE
@pytest.mark.parametrize("target_kind", ["labels", "onehot", "soft"])
def test_cross_entropy_gradient_matches_finite_differences(forward, backward, target_kind):
    rng = np.random.default_rng(13)
    z = rng.normal(scale=2.0, size=(4, 6))
    labels = rng.integers(0, 6, size=4)
    y = {"labels": labels, "onehot": _onehot(labels, 6), "soft": rng.dirichlet(np.ones(6), 4)}
    y = y[target_kind]
    _, cache = forward(z, y)
    analytic = backward(cache)
    numeric = numerical_gradient(lambda _: forward(z, y)[0], z, h=1e-5)
    assert rel_error(analytic, numeric) <= GRAD_TOL


# --- bad input --------------------------------------------------------------------------------


@SOFTMAX
@pytest.mark.parametrize("shape", [(5,), (2, 3, 4)])
def test_softmax_rejects_logits_that_are_not_a_matrix(forward, backward, shape):
    message = f"softmax: expected logits of shape (N, K), got {shape}"
    with pytest.raises(ValueError, match=re.escape(message)):
        forward(np.zeros(shape))


@SCE
def test_cross_entropy_rejects_logits_that_are_not_a_matrix(forward, backward):
    with pytest.raises(
        ValueError, match=r"softmax_cross_entropy: expected logits of shape \(N, K\), got \(6,\)"
    ):
        forward(np.zeros(6), np.array([1]))


@SCE
@pytest.mark.parametrize(
    "y, shape_text",
    [
        (np.array([0, 1, 2]), r"\(3,\)"),  # one label too many
        (np.array([[0], [1]]), r"\(2, 1\)"),  # a column of labels
        (np.zeros((2, 4)), r"\(2, 4\)"),  # one-hot rows of the wrong width
        (np.zeros((2, 3, 1)), r"\(2, 3, 1\)"),
    ],
)
def test_cross_entropy_rejects_labels_of_the_wrong_shape(forward, backward, y, shape_text):
    with pytest.raises(
        ValueError,
        match=r"softmax_cross_entropy: labels of shape "
        + shape_text
        + r" do not fit logits of shape \(2, 3\); expected \(2,\) integer classes or \(2, 3\)",
    ):
        forward(np.zeros((2, 3)), y)


@SCE
def test_cross_entropy_rejects_bad_label_values(forward, backward):
    z = np.zeros((2, 3))
    with pytest.raises(
        ValueError, match=r"softmax_cross_entropy: labels must be in 0\.\.2, got 0\.\.3"
    ):
        forward(z, np.array([0, 3]))
    with pytest.raises(
        ValueError, match=r"softmax_cross_entropy: labels must be in 0\.\.2, got -1"
    ):
        forward(z, np.array([-1, 2]))
    with pytest.raises(
        ValueError, match=r"softmax_cross_entropy: integer class labels expected, got dtype float64"
    ):
        forward(z, np.array([0.0, 1.0]))


@SOFTMAX
def test_softmax_rejects_integer_arrays_naming_the_dtype(forward, backward):
    with pytest.raises(ValueError, match=r"softmax: z must be floating point .* got int64"):
        forward(np.array([[1, 2, 3]]))
    _, cache = forward(np.array([[1.0, 2.0, 3.0]]))
    with pytest.raises(ValueError, match=r"softmax: dout must be floating point .* got int64"):
        backward(np.array([[1, 0, 0]]), cache)


@SCE
def test_cross_entropy_rejects_integer_logits_but_takes_integer_labels(forward, backward):
    with pytest.raises(
        ValueError, match=r"softmax_cross_entropy: z must be floating point .* got int64"
    ):
        forward(np.array([[1, 2, 3]]), np.array([0]))
    loss, _ = forward(np.zeros((1, 3)), np.array([0]))
    assert loss == pytest.approx(math.log(3))
