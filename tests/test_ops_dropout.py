"""Inverted dropout (convnet/ops/dropout.py): a hand-worked masked case, the identity at
inference, the statistics of the mask, reproducibility from a seeded Generator, naive ==
fast, gradient checks with a fixed mask, and errors for bad rates and masks."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from convnet.gradcheck import check_op, rel_error
from convnet.ops import (
    dropout_backward,
    dropout_backward_naive,
    dropout_forward,
    dropout_forward_naive,
)

BOTH = pytest.mark.parametrize(
    "forward, backward",
    [(dropout_forward_naive, dropout_backward_naive), (dropout_forward, dropout_backward)],
    ids=["naive", "fast"],
)
EXACT = 1e-9
GRAD_TOL = 1e-7


# --- hand-worked cases ------------------------------------------------------------------------


@BOTH
def test_dropout_by_hand_with_a_given_mask(forward, backward):
    # rate 0.5: kept entries are scaled by 1 / (1 - 0.5) = 2
    x = np.array([1.0, 2.0, 3.0, 4.0])
    mask = np.array([2.0, 0.0, 2.0, 0.0])
    out, cache = forward(x, rate=0.5, mask=mask)
    np.testing.assert_array_equal(out, [2.0, 0.0, 6.0, 0.0])
    dx = backward(np.array([1.0, 10.0, 100.0, 1000.0]), cache)
    np.testing.assert_array_equal(dx, [2.0, 0.0, 200.0, 0.0])


@BOTH
def test_dropout_by_hand_rate_one_quarter(forward, backward):
    # rate 0.25: scale 1 / 0.75 = 4/3, so a kept 3 becomes 4
    x = np.array([[3.0, 6.0], [-3.0, 1.5]])
    mask = np.array([[4 / 3, 0.0], [4 / 3, 4 / 3]])
    out, cache = forward(x, rate=0.25, mask=mask)
    np.testing.assert_allclose(out, [[4.0, 0.0], [-4.0, 2.0]], rtol=1e-15, atol=0)
    np.testing.assert_allclose(backward(np.ones((2, 2)), cache), mask, rtol=0, atol=0)


@BOTH
def test_dropout_is_the_identity_at_inference(forward, backward):
    x = np.random.default_rng(0).normal(size=(3, 4))
    out, cache = forward(x, rate=0.5, training=False)  # no rng needed
    assert cache is None
    np.testing.assert_array_equal(out, x)
    dout = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(backward(dout, cache), dout)


@BOTH
def test_dropout_rate_zero_keeps_everything(forward, backward):
    x = np.random.default_rng(1).normal(size=(5, 6))
    out, mask = forward(x, rate=0.0, rng=np.random.default_rng(2))
    np.testing.assert_array_equal(mask, np.ones_like(x))
    np.testing.assert_array_equal(out, x)


# --- the random mask --------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_dropout_mask_values_and_keep_fraction(rate):
    n = 1_000_000
    out, mask = dropout_forward(np.ones(n), rate=rate, rng=np.random.default_rng(3))
    # every entry is dropped (0) or kept and scaled by 1 / (1 - rate)
    scale = 1.0 / (1.0 - rate)
    assert set(np.unique(mask).tolist()) == {0.0, scale}
    np.testing.assert_array_equal(out, mask)  # x is all ones
    # The number kept is Binomial(n, 1 - rate): standard deviation sqrt(n p (1-p)) <= 500 for
    # n = 1e6. Six standard deviations (a false alarm once in ~5e8 runs, and the seed is fixed
    # anyway) allow |fraction - (1 - rate)| <= 6 * sqrt(p (1-p) / n) <= 0.003; a mask that
    # keeps with probability `rate` instead, or scales wrongly, is off by 0.1 or more.
    keep_fraction = np.count_nonzero(mask) / n
    p = 1.0 - rate
    assert abs(keep_fraction - p) <= 6 * np.sqrt(p * (1 - p) / n)
    # inverted dropout preserves the mean: E[out] = p * scale = 1
    assert abs(out.mean() - 1.0) <= 6 * np.sqrt(rate / (1 - rate) / n)


@BOTH
def test_dropout_same_seed_same_mask_different_seed_different_mask(forward, backward):
    x = np.ones((4, 50))
    _, mask_a = forward(x, rate=0.5, rng=np.random.default_rng(42))
    _, mask_b = forward(x, rate=0.5, rng=np.random.default_rng(42))
    _, mask_c = forward(x, rate=0.5, rng=np.random.default_rng(43))
    np.testing.assert_array_equal(mask_a, mask_b)
    assert not np.array_equal(mask_a, mask_c)  # 200 fair coins agreeing: chance 2**-200


def test_dropout_draws_advance_the_generator():
    rng = np.random.default_rng(4)
    _, first = dropout_forward(np.ones(100), rate=0.5, rng=rng)
    _, second = dropout_forward(np.ones(100), rate=0.5, rng=rng)
    assert not np.array_equal(first, second)


@given(
    st.lists(st.integers(1, 5), min_size=1, max_size=4),
    st.floats(0.0, 0.95),
    st.integers(0, 2**32 - 1),
)
def test_dropout_naive_equals_fast_for_the_same_seed(shape, rate, seed):
    x = np.random.default_rng(seed).normal(size=shape)
    out_n, mask_n = dropout_forward_naive(x, rate=rate, rng=np.random.default_rng(seed + 1))
    out_f, mask_f = dropout_forward(x, rate=rate, rng=np.random.default_rng(seed + 1))
    np.testing.assert_array_equal(mask_n, mask_f)
    assert set(np.unique(mask_f).tolist()) <= {0.0, 1.0 / (1.0 - rate)}
    assert rel_error(out_n, out_f) <= EXACT
    dout = np.random.default_rng(seed + 2).normal(size=shape)
    assert rel_error(dropout_backward_naive(dout, mask_n), dropout_backward(dout, mask_f)) <= EXACT


@BOTH
def test_dropout_float32_stays_float32(forward, backward):
    x = np.random.default_rng(5).normal(size=(3, 7)).astype(np.float32)
    out, mask = forward(x, rate=0.3, rng=np.random.default_rng(6))
    assert out.dtype == mask.dtype == np.float32
    # the float32 scale is 1/0.7 rounded to float32; out = x * mask is one float32 product
    assert set(np.unique(mask).tolist()) == {0.0, float(np.float32(1 / 0.7))}
    np.testing.assert_array_equal(out, x * mask)
    assert backward(np.ones_like(x), mask).dtype == np.float32


def test_dropout_float32_naive_equals_fast():
    x = np.random.default_rng(5).normal(size=(3, 7)).astype(np.float32)
    out_n, mask_n = dropout_forward_naive(x, rate=0.3, rng=np.random.default_rng(6))
    out_f, mask_f = dropout_forward(x, rate=0.3, rng=np.random.default_rng(6))
    # one float32 multiplication per entry on both sides: identical, not merely close
    np.testing.assert_array_equal(out_n, out_f)
    np.testing.assert_array_equal(mask_n, mask_f)


# --- numerical gradient check with a fixed mask -----------------------------------------------


@BOTH
def test_dropout_gradient_matches_finite_differences(forward, backward):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(3, 5))
    mask = (rng.random(size=(3, 5)) >= 0.4) / 0.6
    report = check_op(forward, backward, {"x": x}, rate=0.4, mask=mask)
    assert report.errors["dx"] <= GRAD_TOL, report


# --- bad input --------------------------------------------------------------------------------


@BOTH
@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, float("nan")])
@pytest.mark.parametrize("training", [True, False])
def test_dropout_rejects_a_rate_outside_0_1(forward, backward, rate, training):
    with pytest.raises(ValueError, match=r"dropout: rate must be in \[0, 1\), got"):
        forward(np.ones(3), rate=rate, training=training, rng=np.random.default_rng(0))


@BOTH
def test_dropout_rejects_a_mask_of_the_wrong_shape(forward, backward):
    with pytest.raises(ValueError, match=r"dropout: mask shape \(2, 3\) does not match x \(3, 2\)"):
        forward(np.ones((3, 2)), rate=0.5, mask=np.ones((2, 3)))


@BOTH
def test_dropout_in_training_needs_a_generator_or_a_mask(forward, backward):
    with pytest.raises(ValueError, match=r"dropout: training needs a numpy Generator"):
        forward(np.ones(3), rate=0.5)


@BOTH
@pytest.mark.parametrize("training", [True, False])
def test_dropout_rejects_integer_arrays_naming_the_dtype(forward, backward, training):
    # An integer mask would hold int(1 / (1 - rate)) = 1 instead of the scale.
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"dropout: x must be floating point .* got int64"):
        forward(np.ones((2, 3), dtype=np.int64), rate=0.25, training=training, rng=rng)
    with pytest.raises(ValueError, match=r"dropout: mask must be floating point .* got int64"):
        forward(np.ones((2, 3)), rate=0.5, mask=np.ones((2, 3), dtype=np.int64))
    _, mask = forward(np.ones((2, 3)), rate=0.25, rng=rng)
    with pytest.raises(ValueError, match=r"dropout: dout must be floating point .* got int64"):
        backward(np.ones((2, 3), dtype=np.int64), mask)
