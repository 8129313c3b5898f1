"""Element-wise activations (convnet/ops/activations.py): ReLU, LeakyReLU, sigmoid, tanh.

Hand-worked values (including the convention relu'(0) = 0), naive == fast on hypothesis-drawn
arrays of any rank, no overflow at ±1000, and gradient checks with ReLU inputs kept away
from the kink at 0. These ops accept any shape and have no hyperparameters to get wrong:
their one bad input is an array that is not floating point, refused with the dtype named.
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from convnet.gradcheck import check_op, rel_error
from convnet.ops import (
    leaky_relu_backward,
    leaky_relu_backward_naive,
    leaky_relu_forward,
    leaky_relu_forward_naive,
    relu_backward,
    relu_backward_naive,
    relu_forward,
    relu_forward_naive,
    sigmoid_backward,
    sigmoid_backward_naive,
    sigmoid_forward,
    sigmoid_forward_naive,
    tanh_backward,
    tanh_backward_naive,
    tanh_forward,
    tanh_forward_naive,
)

# name -> (naive pair, fast pair, hyperparameters)
OPS = {
    "relu": ((relu_forward_naive, relu_backward_naive), (relu_forward, relu_backward), {}),
    "leaky_relu": (
        (leaky_relu_forward_naive, leaky_relu_backward_naive),
        (leaky_relu_forward, leaky_relu_backward),
        {"alpha": 0.2},
    ),
    "sigmoid": (
        (sigmoid_forward_naive, sigmoid_backward_naive),
        (sigmoid_forward, sigmoid_backward),
        {},
    ),
    "tanh": ((tanh_forward_naive, tanh_backward_naive), (tanh_forward, tanh_backward), {}),
}


def _both(name):
    naive, fast, _ = OPS[name]
    return pytest.mark.parametrize("forward, backward", [naive, fast], ids=["naive", "fast"])


EXACT = 1e-9  # float64 naive vs fast: rounding only
# float32: the naive versions evaluate exp/tanh in double precision (math module) and round
# once; the fast ones work in float32 throughout. They differ by a few ulps (eps = 1.2e-7);
# 1e-5 is float32 precision with a wide margin, a wrong formula is off by O(1).
FLOAT32 = 1e-5
GRAD_TOL = 1e-7
HAND = {"rtol": 1e-15, "atol": 0}  # hand values that are not exact binary fractions


# --- hand-worked cases ------------------------------------------------------------------------


@_both("relu")
def test_relu_by_hand(forward, backward):
    x = np.array([-2.0, -0.5, 0.0, 0.5, 3.0])
    out, cache = forward(x)
    np.testing.assert_array_equal(out, [0.0, 0.0, 0.0, 0.5, 3.0])
    dx = backward(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), cache)
    # relu'(z) = 1 for z > 0, else 0 -- including at z = 0 exactly (a subgradient)
    np.testing.assert_array_equal(dx, [0.0, 0.0, 0.0, 4.0, 5.0])


@_both("leaky_relu")
def test_leaky_relu_by_hand(forward, backward):
    x = np.array([-2.0, -0.5, 0.0, 0.5, 3.0])
    out, cache = forward(x, alpha=0.1)
    np.testing.assert_allclose(out, [-0.2, -0.05, 0.0, 0.5, 3.0], **HAND)  # 0.1*z for z <= 0
    dx = backward(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), cache)
    # slope alpha = 0.1 for z <= 0: 0.1*1, 0.1*2, 0.1*3; slope 1 for z > 0
    np.testing.assert_allclose(dx, [0.1, 0.2, 0.3, 4.0, 5.0], **HAND)


@_both("leaky_relu")
def test_leaky_relu_default_alpha_is_keras_0_3(forward, backward):
    out, cache = forward(np.array([-1.0, 2.0]))
    np.testing.assert_allclose(out, [-0.3, 2.0], **HAND)
    np.testing.assert_allclose(backward(np.array([1.0, 1.0]), cache), [0.3, 1.0], **HAND)


@_both("sigmoid")
def test_sigmoid_by_hand(forward, backward):
    # sigmoid(ln 3) = 1 / (1 + 1/3) = 3/4 and sigmoid(-ln 3) = 1/4
    x = np.array([0.0, math.log(3.0), -math.log(3.0)])
    out, cache = forward(x)
    np.testing.assert_allclose(out, [0.5, 0.75, 0.25], **HAND)
    # s(1 - s) = 0.25, 0.1875, 0.1875; times dout = 1, 2, 4
    dx = backward(np.array([1.0, 2.0, 4.0]), cache)
    np.testing.assert_allclose(dx, [0.25, 0.375, 0.75], **HAND)


@_both("tanh")
def test_tanh_by_hand(forward, backward):
    # tanh(ln 2) = (2 - 1/2) / (2 + 1/2) = 0.6
    x = np.array([0.0, math.log(2.0), -math.log(2.0)])
    out, cache = forward(x)
    np.testing.assert_allclose(out, [0.0, 0.6, -0.6], rtol=1e-15, atol=1e-300)
    # 1 - t^2 = 1, 0.64, 0.64; times dout = 1, 1, 2
    dx = backward(np.array([1.0, 1.0, 2.0]), cache)
    np.testing.assert_allclose(dx, [1.0, 0.64, 1.28], **HAND)


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
@pytest.mark.parametrize("which", [0, 1], ids=["naive", "fast"])
def test_saturating_activations_stay_finite_at_plus_minus_1000(name, which):
    forward, backward = OPS[name][which]
    x = np.array([-1000.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out, cache = forward(x)
        dx = backward(np.ones(2), cache)
    low = 0.0 if name == "sigmoid" else -1.0
    np.testing.assert_array_equal(out, [low, 1.0])
    np.testing.assert_array_equal(dx, [0.0, 0.0])  # fully saturated: zero slope


# --- naive == fast ----------------------------------------------------------------------------


@given(
    st.sampled_from(sorted(OPS)),
    st.lists(st.integers(1, 4), min_size=1, max_size=4),
    st.integers(0, 2**32 - 1),
)
def test_activation_naive_equals_fast_on_any_shape(name, shape, seed):
    (fwd_n, bwd_n), (fwd_f, bwd_f), hyper = OPS[name]
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=3.0, size=shape)
    x[rng.random(size=shape) < 0.2] = 0.0  # exact zeros: both must use the same convention
    out_n, cache_n = fwd_n(x, **hyper)
    out_f, cache_f = fwd_f(x, **hyper)
    assert out_n.shape == out_f.shape == x.shape
    assert rel_error(out_n, out_f) <= EXACT
    dout = rng.normal(size=shape)
    assert rel_error(bwd_n(dout, cache_n), bwd_f(dout, cache_f)) <= EXACT


@pytest.mark.parametrize("name", sorted(OPS))
def test_activation_float32_naive_equals_fast_and_stays_float32(name):
    (fwd_n, bwd_n), (fwd_f, bwd_f), hyper = OPS[name]
    rng = np.random.default_rng(7)
    x = rng.normal(scale=3.0, size=(4, 3, 5)).astype(np.float32)
    dout = rng.normal(size=x.shape).astype(np.float32)
    out_n, cache_n = fwd_n(x, **hyper)
    out_f, cache_f = fwd_f(x, **hyper)
    dx_n, dx_f = bwd_n(dout, cache_n), bwd_f(dout, cache_f)
    for a, b in ((out_n, out_f), (dx_n, dx_f)):
        assert a.dtype == b.dtype == np.float32
        assert rel_error(a, b) <= FLOAT32


# --- numerical gradient checks ----------------------------------------------------------------


def _away_from_zero(shape, rng):
    """Entries with |x| in [0.1, 2]: a 1e-5 nudge never crosses the ReLU kink at 0."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.1, 2.0, size=shape)


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("which", [0, 1], ids=["naive", "fast"])
def test_activation_gradient_matches_finite_differences(name, which):
    forward, backward = OPS[name][which]
    hyper = OPS[name][2]
    x = _away_from_zero((3, 2, 4), np.random.default_rng(9))
    report = check_op(forward, backward, {"x": x}, **hyper)
    assert report.errors["dx"] <= GRAD_TOL, report


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("which", [0, 1], ids=["naive", "fast"])
def test_activation_rejects_integer_arrays_naming_the_op_and_dtype(name, which):
    # An integer sigmoid would round every output to 0 or 1.
    forward, backward = OPS[name][which]
    hyper = OPS[name][2]
    with pytest.raises(ValueError, match=rf"{name}: x must be floating point .* got int64"):
        forward(np.arange(-2, 3), **hyper)
    _, cache = forward(np.linspace(-2.0, 2.0, 5), **hyper)
    with pytest.raises(ValueError, match=rf"{name}: dout must be floating point .* got int64"):
        backward(np.ones(5, dtype=np.int64), cache)
