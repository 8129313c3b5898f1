"""Batch normalization (convnet/ops/batchnorm.py): hand-worked cases, naive == fast over
hypothesis-drawn shapes, gradient checks in training and at inference, and errors that name
the op and the shapes."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convnet.gradcheck import check_op, rel_error
from convnet.ops import (
    batchnorm_backward,
    batchnorm_backward_naive,
    batchnorm_forward,
    batchnorm_forward_naive,
)

PAIRS = pytest.mark.parametrize(
    "forward, backward",
    [(batchnorm_forward_naive, batchnorm_backward_naive), (batchnorm_forward, batchnorm_backward)],
    ids=["naive", "fast"],
)
EXACT = 1e-9  # float64 naive vs fast: rounding only
GRAD_TOL = 1e-7
FEW = settings(max_examples=max(4, settings.default.max_examples // 3))


def _stats(channels):
    return {"moving_mean": np.zeros(channels), "moving_var": np.ones(channels)}


# --- hand-worked cases -------------------------------------------------------------------------


@PAIRS
def test_training_normalizes_each_channel_with_the_batch_statistics(forward, backward):
    # Two channels of a (2, 2, 1, 2) batch: channel 0 holds 1, 3, 5, 7 (mean 4, variance 5),
    # channel 1 holds 2, 2, 2, 2 (variance 0: only epsilon keeps it finite).
    x = np.array([[[[1, 3]], [[2, 2]]], [[[5, 7]], [[2, 2]]]], dtype=np.float64)
    gamma, beta = np.array([2.0, 1.0]), np.array([0.5, -1.0])
    out, cache = forward(x, gamma, beta, training=True, epsilon=1.0, **_stats(2))
    # channel 0: (x - 4) / sqrt(5 + 1) * 2 + 0.5; channel 1: 0 * 1 - 1
    expected0 = (np.array([1, 3, 5, 7]) - 4) / np.sqrt(6.0) * 2 + 0.5
    np.testing.assert_allclose(out[:, 0].ravel(), expected0, rtol=1e-12)
    np.testing.assert_allclose(out[:, 1], -1.0)
    x_hat, gamma_c, inv_std, mean, var, training = cache
    np.testing.assert_allclose(mean, [4.0, 2.0])
    np.testing.assert_allclose(var, [5.0, 0.0])
    np.testing.assert_allclose(inv_std, [1 / np.sqrt(6.0), 1.0])
    assert training is True


@PAIRS
def test_inference_uses_the_moving_statistics(forward, backward):
    x = np.array([[1.0, 10.0], [3.0, 20.0]])
    out, _ = forward(x, np.array([1.0, 3.0]), np.array([0.0, 1.0]), training=False,
                     moving_mean=np.array([2.0, 0.0]), moving_var=np.array([4.0, 100.0]),
                     epsilon=0.0)  # fmt: skip
    # (x - mean) / sqrt(var) * gamma + beta, column by column
    np.testing.assert_allclose(out, [[-0.5, 4.0], [0.5, 7.0]], rtol=1e-12)


@PAIRS
def test_backward_by_hand(forward, backward):
    # One channel of three values, epsilon 0: mean 2, var 2/3. With dout = (1, 0, 0):
    # dbeta = 1, dgamma = x_hat[0], dx = inv_std/3 * (3 dout - dbeta - x_hat * dgamma).
    x = np.array([[1.0], [2.0], [3.0]])
    _, cache = forward(x, np.ones(1), np.zeros(1), training=True, epsilon=0.0, **_stats(1))
    dx, dgamma, dbeta = backward(np.array([[1.0], [0.0], [0.0]]), cache)
    inv_std = 1 / np.sqrt(2 / 3)
    x_hat = np.array([-1.0, 0.0, 1.0]) * inv_std
    np.testing.assert_allclose(dbeta, [1.0])
    np.testing.assert_allclose(dgamma, [x_hat[0]])
    expected = inv_std / 3 * (3 * np.array([1.0, 0, 0]) - 1 - x_hat * x_hat[0])
    np.testing.assert_allclose(dx.ravel(), expected, rtol=1e-12)
    assert abs(dx.sum()) < 1e-12  # a shift of every x together changes nothing


@PAIRS
def test_float32_stays_float32(forward, backward):
    x = np.random.default_rng(0).normal(size=(4, 3, 2, 2)).astype(np.float32)
    ones, zeros = np.ones(3, np.float32), np.zeros(3, np.float32)
    out, cache = forward(x, ones, zeros, moving_mean=zeros, moving_var=ones, training=True)
    grads = backward(np.ones_like(out), cache)
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)


# --- naive == fast -----------------------------------------------------------------------------


@st.composite
def batches(draw, least=2):
    """x, (gamma, beta, moving mean, moving variance), training, epsilon; ``least`` values
    per channel at the least."""
    images = draw(st.booleans())
    n = draw(st.integers(1 if images else least, 5))
    channels = draw(st.integers(1, 4))
    shape = (n, channels, draw(st.integers(1, 4)), draw(st.integers(1, 4))) if images \
        else (n, channels)  # fmt: skip
    if images and n * shape[2] * shape[3] < least:
        shape = (least, *shape[1:])
    # Not default_rng(seed) alone: for seed 0, mean 0 and spread 1 (hypothesis's favourite
    # draws), x would equal the dout that check_op draws from default_rng(0), and a dout that
    # is a multiple of x_hat has dx = 0 exactly (eq. bn-bwd): nothing left to check.
    rng = np.random.default_rng([draw(st.integers(0, 2**32 - 1)), 1])
    x = rng.normal(draw(st.floats(-3, 3)), draw(st.floats(0.1, 5)), size=shape)
    params = [rng.normal(size=channels) for _ in range(3)] + [rng.uniform(0.1, 3, channels)]
    return x, params, draw(st.booleans()), draw(st.sampled_from([1e-3, 1e-5, 0.5]))


@given(batches())
def test_naive_equals_fast(batch):
    x, (gamma, beta, mm, mv), training, eps = batch
    kw = {"moving_mean": mm, "moving_var": mv, "training": training, "epsilon": eps}
    out_n, cache_n = batchnorm_forward_naive(x, gamma, beta, **kw)
    out_f, cache_f = batchnorm_forward(x, gamma, beta, **kw)
    assert rel_error(out_n, out_f) <= EXACT
    for a, b in zip(cache_n[:5], cache_f[:5], strict=True):
        assert rel_error(a, b) <= EXACT
    dout = np.random.default_rng(1).normal(size=x.shape)
    for a, b in zip(batchnorm_backward_naive(dout, cache_n), batchnorm_backward(dout, cache_f),
                    strict=True):  # fmt: skip
        assert rel_error(a, b) <= EXACT


# --- gradient checks ---------------------------------------------------------------------------


@PAIRS
@FEW
# dx is dout with its mean and its component along x_hat removed (eq. bn-bwd), so with M
# values per channel it lives in M - 2 dimensions: for M = 2 it is of the order of epsilon,
# and a centred difference of it is mostly its h^2 error. Three or more values give a
# gradient to check; naive == fast above covers two.
@given(batch=batches(least=3))
def test_gradients(forward, backward, batch):
    x, (gamma, beta, mm, mv), training, eps = batch
    report = check_op(forward, backward, {"x": x, "gamma": gamma, "beta": beta},
                      moving_mean=mm, moving_var=mv, training=training, epsilon=eps)  # fmt: skip
    assert report.max_error <= GRAD_TOL, report


# --- bad input ---------------------------------------------------------------------------------


@PAIRS
def test_bad_input_names_the_op_and_shapes(forward, backward):
    ones, zeros = np.ones(3), np.zeros(3)
    with pytest.raises(ValueError, match=r"batch_normalization: gamma has shape \(2,\), "
                                         r"expected \(3,\) for x \(4, 3, 2, 2\)"):  # fmt: skip
        forward(np.zeros((4, 3, 2, 2)), np.ones(2), zeros, moving_mean=zeros, moving_var=ones,
                training=True)  # fmt: skip
    with pytest.raises(ValueError, match=r"expected x of shape \(N, C, H, W\) or \(N, D\)"):
        forward(np.zeros((4, 3, 2)), ones, zeros, moving_mean=zeros, moving_var=ones,
                training=True)  # fmt: skip
    with pytest.raises(ValueError, match="at least two values per channel"):
        forward(np.zeros((1, 3)), ones, zeros, moving_mean=zeros, moving_var=ones, training=True)
    with pytest.raises(ValueError, match="x must be floating point"):
        forward(np.zeros((4, 3), np.int64), ones, zeros, moving_mean=zeros, moving_var=ones,
                training=True)  # fmt: skip
    _, cache = forward(np.arange(6.0).reshape(2, 3), ones, zeros, moving_mean=zeros,
                       moving_var=ones, training=True)  # fmt: skip
    with pytest.raises(ValueError, match=r"dout has shape \(3, 3\), expected \(2, 3\)"):
        backward(np.zeros((3, 3)), cache)


def test_one_image_at_inference_is_fine():
    ones, zeros = np.ones(3), np.zeros(3)
    out, _ = batchnorm_forward(np.ones((1, 3)), ones, zeros, moving_mean=zeros, moving_var=ones,
                               training=False, epsilon=0.0)  # fmt: skip
    np.testing.assert_allclose(out, np.ones((1, 3)))
