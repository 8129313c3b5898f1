"""conv2d (convnet/ops/conv.py): hand-worked cases, naive == fast over hypothesis-drawn
geometry, gradient checks of dx, dw and db, and errors that name the op and the shapes."""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from convnet.gradcheck import check_op, rel_error
from convnet.ops import (
    conv2d_backward,
    conv2d_backward_naive,
    conv2d_forward,
    conv2d_forward_naive,
)
from convnet.shapes import resolve_padding

BOTH = pytest.mark.parametrize(
    "forward, backward",
    [(conv2d_forward_naive, conv2d_backward_naive), (conv2d_forward, conv2d_backward)],
    ids=["naive", "fast"],
)

# float64 naive vs fast: the two add the same products in different orders, so they differ
# by rounding only (~1e-16 relative per operation).
EXACT = 1e-9
# float32: machine epsilon is 1.2e-7 and each output sums C*KH*KW products in a different
# order (loops vs BLAS), so naive and fast differ by tens of ulps; 1e-5 (~80 ulps of the
# largest entry) is float32 precision, while any indexing mistake gives errors of order 1.
FLOAT32 = 1e-5
# gradient checks: float64, centred differences with h = 1e-5
GRAD_TOL = 1e-7
# Gradient checks cost two forward passes per input entry: a third of the profile's examples.
FEW = settings(max_examples=max(4, settings.default.max_examples // 3))


# --- hand-worked cases ------------------------------------------------------------------------


@BOTH
def test_conv_by_hand_single_channel(forward, backward):
    x = np.array([[[[1.0, 2.0, 0.0], [0.0, 1.0, 3.0], [2.0, 1.0, 0.0]]]])
    w = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])  # out = top-left - bottom-right + b
    b = np.array([0.5])
    out, cache = forward(x, w, b, stride=1, padding="valid")
    # out[0,0] = 1 - 1 + .5 = 0.5     out[0,1] = 2 - 3 + .5 = -0.5
    # out[1,0] = 0 - 1 + .5 = -0.5    out[1,1] = 1 - 0 + .5 = 1.5
    np.testing.assert_allclose(out, [[[[0.5, -0.5], [-0.5, 1.5]]]], rtol=0, atol=1e-15)

    dout = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    dx, dw, db = backward(dout, cache)
    # dx: dout lands at the top-left tap with weight +1 and, shifted by (1, 1), with -1
    expected_dx = [[1.0, 2.0, 0.0], [3.0, 4.0 - 1.0, -2.0], [0.0, -3.0, -4.0]]
    # dw[i, j] = sum_{oh, ow} dout[oh, ow] * x[oh + i, ow + j]
    #   dw[0,0] = 1*1 + 2*2 + 3*0 + 4*1 = 9      dw[0,1] = 1*2 + 2*0 + 3*1 + 4*3 = 17
    #   dw[1,0] = 1*0 + 2*1 + 3*2 + 4*1 = 12     dw[1,1] = 1*1 + 2*3 + 3*1 + 4*0 = 10
    expected_dw = [[9.0, 17.0], [12.0, 10.0]]
    np.testing.assert_allclose(dx, [[expected_dx]], rtol=0, atol=1e-15)
    np.testing.assert_allclose(dw, [[expected_dw]], rtol=0, atol=1e-15)
    np.testing.assert_allclose(db, [10.0], rtol=0, atol=1e-15)  # 1 + 2 + 3 + 4


@BOTH
def test_conv_by_hand_padding_and_stride(forward, backward):
    # x = 1 2 3 padded by 1, a 3x3 kernel of ones at stride 2: 4 windows, each covering the
    #     4 5 6 2x2 block of x at one corner (the rest of the window is padding).
    #     7 8 9
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    w = np.ones((1, 1, 3, 3))
    out, cache = forward(x, w, np.zeros(1), stride=2, padding=1)
    # 1+2+4+5 = 12, 2+3+5+6 = 16, 4+5+7+8 = 24, 5+6+8+9 = 28
    np.testing.assert_allclose(out, [[[[12.0, 16.0], [24.0, 28.0]]]], rtol=0, atol=1e-14)

    dx, dw, db = backward(np.ones_like(out), cache)
    # dx: how many windows cover each pixel (the centre is in all four)
    np.testing.assert_allclose(dx[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]], rtol=0, atol=1e-14)
    # dw[i, j] = sum of the pixels the tap (i, j) sees over the 4 windows. Tap row 0 sees padded
    # rows 0 and 2, i.e. only x row 1; tap row 1 sees x rows 0 and 2; tap row 2 sees x row 1.
    #   dw[0,0] = x[1,1] = 5    dw[0,1] = x[1,0] + x[1,2] = 10
    #   dw[1,1] = x[0,0] + x[0,2] + x[2,0] + x[2,2] = 1 + 3 + 7 + 9 = 20
    expected_dw = [[5.0, 10.0, 5.0], [10.0, 20.0, 10.0], [5.0, 10.0, 5.0]]
    np.testing.assert_allclose(dw[0, 0], expected_dw, rtol=0, atol=1e-14)
    np.testing.assert_allclose(db, [4.0], rtol=0, atol=1e-14)


@BOTH
def test_conv_by_hand_channels_and_filters(forward, backward):
    # 2 channels, 2 filters of 1x1: filter 0 = ch0 + 10*ch1, filter 1 = -ch0 (+ bias 1)
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [1.0, 0.0]]]])
    w = np.array([1.0, 10.0, -1.0, 0.0]).reshape(2, 2, 1, 1)
    b = np.array([0.0, 1.0])
    out, cache = forward(x, w, b, stride=1, padding="same")
    expected_out = [[[1.0, 12.0], [13.0, 4.0]], [[0.0, -1.0], [-2.0, -3.0]]]
    np.testing.assert_allclose(out, [expected_out], rtol=0, atol=1e-15)

    dout = np.array([[[[1.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [0.0, 2.0]]]])
    dx, dw, db = backward(dout, cache)
    # dx[c] = sum_f w[f, c] * dout[f]:  ch0 = dout0 - dout1,  ch1 = 10 * dout0
    expected_dx = [[[0.0, 1.0], [1.0, -1.0]], [[10.0, 10.0], [10.0, 10.0]]]
    # dw[f, c] = sum dout[f] * x[c]: dw[0,0] = 1+2+3+4 = 10, dw[0,1] = 0+1+1+0 = 2,
    #                                 dw[1,0] = 1*1 + 2*4 = 9, dw[1,1] = 1*0 + 2*0 = 0
    np.testing.assert_allclose(dx, [expected_dx], rtol=0, atol=1e-15)
    np.testing.assert_allclose(dw.reshape(2, 2), [[10.0, 2.0], [9.0, 0.0]], rtol=0, atol=1e-15)
    np.testing.assert_allclose(db, [4.0, 3.0], rtol=0, atol=1e-15)


@BOTH
def test_conv_without_bias(forward, backward):
    rng = np.random.default_rng(3)
    x, w, b = rng.normal(size=(2, 2, 5, 4)), rng.normal(size=(3, 2, 2, 3)), rng.normal(size=3)
    out_b, _ = forward(x, w, b, stride=(2, 1), padding="same")
    out, cache = forward(x, w, None, stride=(2, 1), padding="same")
    assert rel_error(out + b[None, :, None, None], out_b) <= EXACT
    dx, dw, db = backward(np.ones_like(out), cache)
    assert db is None
    assert dx.shape == x.shape and dw.shape == w.shape


# --- naive == fast over hypothesis-drawn geometry ---------------------------------------------

_padding = st.one_of(
    st.sampled_from(["valid", "same"]),
    st.integers(0, 2),
    st.tuples(st.integers(0, 2), st.integers(0, 2)),
    st.tuples(*[st.integers(0, 2)] * 4),
)
_stride = st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3)))


@st.composite
def conv_cases(draw, max_batch=3, max_channels=3, max_filters=3, max_size=8):
    """(x_shape, w_shape, stride, padding, seed) with the kernel fitting the padded input."""
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride, padding = draw(_stride), draw(_padding)
    if padding == "same":  # always fits: 'same' pads up to the kernel size
        h, w = draw(st.integers(1, max_size)), draw(st.integers(1, max_size))
    else:  # 'valid' and explicit padding do not depend on the input size
        top, bottom, left, right = resolve_padding(padding, (1, 1), (1, 1), (1, 1))
        h = draw(st.integers(max(1, kh - top - bottom), max_size))
        w = draw(st.integers(max(1, kw - left - right), max_size))
    n, c, f = (draw(st.integers(1, m)) for m in (max_batch, max_channels, max_filters))
    seed = draw(st.integers(0, 2**32 - 1))
    return (n, c, h, w), (f, c, kh, kw), stride, padding, seed


def _draw_arrays(x_shape, w_shape, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=x_shape).astype(dtype)
    w = rng.normal(size=w_shape).astype(dtype)
    b = rng.normal(size=w_shape[0]).astype(dtype)
    return x, w, b, rng


@given(conv_cases())
@example(((2, 3, 7, 6), (2, 3, 3, 2), (2, 3), "same", 0))  # non-square kernel, sh != sw
@example(((1, 2, 2, 3), (3, 2, 4, 4), 1, (1, 2, 0, 1), 1))  # kernel > input, padding makes it fit
def test_conv_naive_equals_fast(case):
    x_shape, w_shape, stride, padding, seed = case
    x, w, b, rng = _draw_arrays(x_shape, w_shape, seed)
    out_n, cache_n = conv2d_forward_naive(x, w, b, stride=stride, padding=padding)
    out_f, cache_f = conv2d_forward(x, w, b, stride=stride, padding=padding)
    assert out_n.shape == out_f.shape
    assert rel_error(out_n, out_f) <= EXACT
    dout = rng.normal(size=out_f.shape)
    for g_n, g_f in zip(
        conv2d_backward_naive(dout, cache_n), conv2d_backward(dout, cache_f), strict=True
    ):
        assert rel_error(g_n, g_f) <= EXACT


def test_conv_float32_naive_equals_fast_and_stays_float32():
    x, w, b, rng = _draw_arrays((2, 3, 7, 6), (4, 3, 3, 2), 5, np.float32)
    out_n, cache_n = conv2d_forward_naive(x, w, b, stride=(1, 2), padding="same")
    out_f, cache_f = conv2d_forward(x, w, b, stride=(1, 2), padding="same")
    assert out_n.dtype == out_f.dtype == np.float32
    assert rel_error(out_n, out_f) <= FLOAT32
    dout = rng.normal(size=out_f.shape).astype(np.float32)
    for g_n, g_f in zip(
        conv2d_backward_naive(dout, cache_n), conv2d_backward(dout, cache_f), strict=True
    ):
        assert g_n.dtype == g_f.dtype == np.float32
        assert rel_error(g_n, g_f) <= FLOAT32


# --- numerical gradient checks ----------------------------------------------------------------

GRAD_CASES = [
    # x shape, w shape, stride, padding
    ((2, 3, 5, 5), (2, 3, 3, 3), 1, "valid"),
    ((1, 2, 6, 5), (3, 2, 2, 3), (2, 1), "same"),
    ((2, 1, 5, 7), (2, 1, 3, 2), (1, 3), (1, 0, 2, 1)),
    ((1, 2, 4, 4), (1, 2, 4, 1), 2, (1, 2)),
]


@BOTH
@pytest.mark.parametrize("x_shape, w_shape, stride, padding", GRAD_CASES)
def test_conv_gradients_match_finite_differences(
    forward, backward, x_shape, w_shape, stride, padding
):
    x, w, b, _ = _draw_arrays(x_shape, w_shape, 7)
    report = check_op(forward, backward, {"x": x, "w": w, "b": b}, stride=stride, padding=padding)
    for name in ("dx", "dw", "db"):
        assert report.errors[name] <= GRAD_TOL, report


@BOTH
@FEW
@given(conv_cases(max_batch=2, max_channels=2, max_filters=2, max_size=5))
def test_conv_gradients_over_drawn_geometry(forward, backward, case):
    x_shape, w_shape, stride, padding, seed = case
    x, w, b, _ = _draw_arrays(x_shape, w_shape, seed)
    inputs = {"x": x, "w": w, "b": b}
    report = check_op(forward, backward, inputs, seed=seed, stride=stride, padding=padding)
    for name in ("dx", "dw", "db"):
        assert report.errors[name] <= GRAD_TOL, report


# --- the fused ReLU ---------------------------------------------------------------------------


# --- bad input --------------------------------------------------------------------------------


@BOTH
def test_conv_rejects_wrong_rank(forward, backward):
    with pytest.raises(
        ValueError, match=r"conv2d: expected x of shape \(N, C, H, W\), got \(3, 5, 5\)"
    ):
        forward(np.zeros((3, 5, 5)), np.zeros((2, 3, 3, 3)), np.zeros(2))
    with pytest.raises(ValueError, match=r"conv2d: expected w .* got \(3, 3, 3\)"):
        forward(np.zeros((1, 3, 5, 5)), np.zeros((3, 3, 3)), np.zeros(2))


@BOTH
def test_conv_rejects_channel_mismatch(forward, backward):
    with pytest.raises(
        ValueError,
        match=r"conv2d: input has 3 channels but the kernel expects 2 "
        r"\(x \(1, 3, 5, 5\), w \(4, 2, 3, 3\)\)",
    ):
        forward(np.zeros((1, 3, 5, 5)), np.zeros((4, 2, 3, 3)), np.zeros(4))


@BOTH
def test_conv_rejects_a_kernel_larger_than_the_padded_input(forward, backward):
    with pytest.raises(
        ValueError, match=r"conv2d: kernel 5x2 is larger than the padded input 4x6 \(input 2x4"
    ):
        forward(np.zeros((1, 1, 2, 4)), np.zeros((1, 1, 5, 2)), np.zeros(1), padding=1)


@BOTH
def test_conv_rejects_wrong_bias_shape(forward, backward):
    with pytest.raises(ValueError, match=r"conv2d: bias must have shape \(4,\), got \(3,\)"):
        forward(np.zeros((1, 2, 5, 5)), np.zeros((4, 2, 3, 3)), np.zeros(3))
    with pytest.raises(ValueError, match=r"conv2d: bias must have shape \(4,\), got \(4, 1\)"):
        forward(np.zeros((1, 2, 5, 5)), np.zeros((4, 2, 3, 3)), np.zeros((4, 1)))


@BOTH
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"padding": "full"}, r"conv2d: padding must be 'valid', 'same' or ints, got 'full'"),
        ({"padding": -1}, r"conv2d: padding must not be negative"),
        ({"stride": 0}, r"conv2d: stride must be positive"),
    ],
)
def test_conv_rejects_bad_hyperparameters_naming_the_op_and_shapes(
    forward, backward, kwargs, message
):
    with pytest.raises(ValueError, match=message + r".*\(x \(1, 2, 5, 5\), w \(4, 2, 3, 3\)\)"):
        forward(np.zeros((1, 2, 5, 5)), np.zeros((4, 2, 3, 3)), np.zeros(4), **kwargs)


@BOTH
@pytest.mark.parametrize("which", ["x", "w", "b"])
def test_conv_rejects_integer_arrays_naming_the_argument_and_dtype(forward, backward, which):
    # An int64 convolution would come back as int64 with every product truncated.
    arrays = {"x": np.ones((1, 2, 5, 5)), "w": np.ones((4, 2, 3, 3)), "b": np.zeros(4)}
    arrays[which] = arrays[which].astype(np.int64)
    with pytest.raises(
        ValueError,
        match=rf"conv2d: {which} must be floating point \(float32 or float64\), got int64",
    ):
        forward(arrays["x"], arrays["w"], arrays["b"])


@BOTH
def test_conv_backward_rejects_an_integer_gradient(forward, backward):
    out, cache = forward(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), np.zeros(1))
    with pytest.raises(ValueError, match=r"conv2d: dout must be floating point .* got int32"):
        backward(np.ones(out.shape, dtype=np.int32), cache)


@BOTH
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"stride": (1.7, 2)}, r"stride must be an int or a pair of ints, got \(1.7, 2\): 1.7 "),
        ({"stride": 2.0}, r"stride must be an int or a pair of ints, got 2.0"),
        ({"padding": 1.5}, r"padding must be 'valid', 'same' or ints, got 1.5"),
        ({"padding": (1, 0.5)}, r"padding must be .* got \(1, 0.5\): 0.5 is not an int"),
    ],
)
def test_conv_rejects_sizes_that_are_not_whole_numbers(forward, backward, kwargs, message):
    # Before, int() quietly truncated them: stride=(1.7, 2) ran as (1, 2).
    with pytest.raises(ValueError, match=r"conv2d: " + message):
        forward(np.zeros((1, 2, 5, 5)), np.zeros((4, 2, 3, 3)), np.zeros(4), **kwargs)
