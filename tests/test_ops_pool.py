"""Max and average pooling (convnet/ops/pool.py): hand-worked cases (tiling, overlapping,
non-tiling and 'same' windows that hang over the edge), naive == fast over hypothesis-drawn
geometry, gradient checks, and errors that name the op and the shapes."""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from convnet.gradcheck import check_op, rel_error
from convnet.ops import (
    avgpool2d_backward,
    avgpool2d_backward_naive,
    avgpool2d_forward,
    avgpool2d_forward_naive,
    maxpool2d_backward,
    maxpool2d_backward_naive,
    maxpool2d_forward,
    maxpool2d_forward_naive,
)

MAX = pytest.mark.parametrize(
    "forward, backward",
    [(maxpool2d_forward_naive, maxpool2d_backward_naive), (maxpool2d_forward, maxpool2d_backward)],
    ids=["naive", "fast"],
)
AVG = pytest.mark.parametrize(
    "forward, backward",
    [(avgpool2d_forward_naive, avgpool2d_backward_naive), (avgpool2d_forward, avgpool2d_backward)],
    ids=["naive", "fast"],
)
ALL = pytest.mark.parametrize(
    "forward",
    [maxpool2d_forward_naive, maxpool2d_forward, avgpool2d_forward_naive, avgpool2d_forward],
    ids=["max-naive", "max-fast", "avg-naive", "avg-fast"],
)

EXACT = 1e-9  # float64 naive vs fast: rounding only
# float32 average pooling: a mean of at most 9 numbers summed in a different order (NumPy's
# float32 mean vs the kernel's accumulator) differs by a few ulps (eps = 1.2e-7); 1e-5 is
# float32 precision with a wide margin, while a wrong window gives errors of order 1.
FLOAT32 = 1e-5
GRAD_TOL = 1e-7
# Gradient checks cost two forward passes per input entry: a third of the profile's examples.
FEW = settings(max_examples=max(4, settings.default.max_examples // 3))


def _image(rows):
    return np.array(rows, dtype=np.float64)[None, None]


# --- hand-worked cases: max pooling -----------------------------------------------------------


@MAX
def test_maxpool_by_hand_tiling_windows(forward, backward):
    x = _image([[1, 5, 2, 0], [3, 4, 8, 1], [0, 6, 2, 7], [9, 1, 3, 2]])
    out, cache = forward(x, pool_size=2)
    # maxima of the four 2x2 blocks: 5 at (0,1), 8 at (1,2), 9 at (3,0), 7 at (2,3)
    np.testing.assert_array_equal(out, _image([[5, 8], [9, 7]]))
    dx = backward(_image([[1, 2], [3, 4]]), cache)
    expected = [[0, 1, 0, 0], [0, 0, 2, 0], [0, 0, 0, 4], [3, 0, 0, 0]]
    np.testing.assert_array_equal(dx, _image(expected))


@MAX
def test_maxpool_by_hand_overlapping_windows_add_their_gradients(forward, backward):
    x = _image([[1, 9, 2], [3, 4, 8], [7, 5, 6]])
    out, cache = forward(x, pool_size=2, strides=1)
    # windows {1,9,3,4} -> 9, {9,2,4,8} -> 9, {3,4,7,5} -> 7, {4,8,5,6} -> 8
    np.testing.assert_array_equal(out, _image([[9, 9], [7, 8]]))
    dx = backward(_image([[1, 2], [3, 4]]), cache)
    # the 9 won two windows: it collects 1 + 2 = 3
    np.testing.assert_array_equal(dx, _image([[0, 3, 0], [0, 0, 4], [3, 0, 0]]))


@MAX
def test_maxpool_by_hand_non_tiling_windows_leave_pixels_out(forward, backward):
    x = _image([[1, 2, 3, 4, 5], [6, 0, 99, 0, 10]])
    out, cache = forward(x, pool_size=2, strides=(1, 3))
    # W_out = (5 - 2) // 3 + 1 = 2: columns 0-1 and 3-4; column 2 (the 99) is never seen
    np.testing.assert_array_equal(out, _image([[6, 10]]))
    dx = backward(_image([[1, 2]]), cache)
    np.testing.assert_array_equal(dx, _image([[0, 0, 0, 0, 0], [1, 0, 0, 0, 2]]))


@MAX
def test_maxpool_by_hand_same_padding_is_ignored_not_zero(forward, backward):
    # 3x3 input, 2x2 pool, stride 2, 'same': pads (0, 1, 0, 1), so the right and bottom
    # windows hang over the edge. All values are negative: were the padding read as 0,
    # those windows would return 0.
    x = -_image([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    out, cache = forward(x, pool_size=2, strides=2, padding="same")
    np.testing.assert_array_equal(out, -_image([[1, 3], [7, 9]]))
    dx = backward(_image([[1, 2], [3, 4]]), cache)
    np.testing.assert_array_equal(dx, _image([[1, 0, 2], [0, 0, 0], [3, 0, 4]]))


@MAX
def test_maxpool_ties_go_to_the_first_maximum_in_row_major_order(forward, backward):
    out, cache = forward(_image([[2, 2], [2, 2]]), pool_size=2)
    np.testing.assert_array_equal(out, _image([[2]]))
    np.testing.assert_array_equal(backward(_image([[5]]), cache), _image([[5, 0], [0, 0]]))


@pytest.mark.parametrize("pool_size, strides", [(2, None), (3, 2)])
def test_maxpool_fast_breaks_ties_like_the_naive_one(pool_size, strides):
    # Values 0, 1, 2 only: most windows hold ties, and every one must go to the same pixel.
    x = np.random.default_rng(5).integers(0, 3, size=(2, 3, 9, 8)).astype(np.float64)
    out_n, cache_n = maxpool2d_forward_naive(x, pool_size=pool_size, strides=strides)
    out_f, cache_f = maxpool2d_forward(x, pool_size=pool_size, strides=strides)
    np.testing.assert_array_equal(out_n, out_f)
    dout = np.random.default_rng(6).normal(size=out_f.shape)
    np.testing.assert_array_equal(maxpool2d_backward_naive(dout, cache_n),
                                  maxpool2d_backward(dout, cache_f))  # fmt: skip


# --- hand-worked cases: average pooling -------------------------------------------------------


@AVG
def test_avgpool_by_hand_tiling_windows(forward, backward):
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    out, cache = forward(x, pool_size=2)
    # (0+1+4+5)/4 = 2.5, (2+3+6+7)/4 = 4.5, (8+9+12+13)/4 = 10.5, (10+11+14+15)/4 = 12.5
    np.testing.assert_array_equal(out, _image([[2.5, 4.5], [10.5, 12.5]]))
    dx = backward(_image([[4, 8], [12, 16]]), cache)  # each pixel gets dout / 4
    expected = [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]
    np.testing.assert_array_equal(dx, _image(expected))


@AVG
def test_avgpool_by_hand_overlapping_windows(forward, backward):
    x = _image([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    out, cache = forward(x, pool_size=2, strides=1)
    # (1+2+4+5)/4 = 3, (2+3+5+6)/4 = 4, (4+5+7+8)/4 = 6, (5+6+8+9)/4 = 7
    np.testing.assert_array_equal(out, _image([[3, 4], [6, 7]]))
    dx = backward(np.ones_like(out), cache)  # (windows covering the pixel) / 4
    np.testing.assert_array_equal(dx, _image([[0.25, 0.5, 0.25], [0.5, 1, 0.5], [0.25, 0.5, 0.25]]))


@AVG
def test_avgpool_by_hand_same_padding_divides_by_the_pixels_present(forward, backward):
    x = _image([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    out, cache = forward(x, pool_size=2, strides=2, padding="same")  # pads (0, 1, 0, 1)
    # (1+2+4+5)/4 = 3, (3+6)/2 = 4.5, (7+8)/2 = 7.5, 9/1 = 9
    np.testing.assert_array_equal(out, _image([[3, 4.5], [7.5, 9]]))
    dx = backward(_image([[4, 6], [8, 5]]), cache)
    # 4/4 = 1 on the top-left block, 6/2 = 3 on the right column, 8/2 = 4 on the bottom row,
    # 5/1 = 5 in the corner
    np.testing.assert_array_equal(dx, _image([[1, 1, 3], [1, 1, 3], [4, 4, 5]]))


@AVG
def test_avgpool_by_hand_non_tiling_windows(forward, backward):
    x = _image([[1, 2, 3, 4, 5], [6, 0, 99, 0, 10]])
    out, cache = forward(x, pool_size=2, strides=(1, 3))
    # (1+2+6+0)/4 = 2.25, (4+5+0+10)/4 = 4.75; column 2 is left out
    np.testing.assert_array_equal(out, _image([[2.25, 4.75]]))
    dx = backward(_image([[4, 8]]), cache)
    np.testing.assert_array_equal(dx, _image([[1, 1, 0, 2, 2], [1, 1, 0, 2, 2]]))


# --- naive == fast over hypothesis-drawn geometry ---------------------------------------------


@st.composite
def pool_cases(draw, max_batch=3, max_channels=3, max_size=8):
    """(x_shape, pool_size, strides, padding, seed), with the window fitting the input.

    Strides are drawn independently of the pool, so windows overlap (stride < pool), tile,
    or leave pixels uncovered (stride > pool); None means "stride = pool".
    """
    ph, pw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pool = draw(st.sampled_from([(ph, pw), ph])) if ph == pw else (ph, pw)
    strides = draw(
        st.one_of(st.none(), st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3)))
    )
    padding = draw(st.sampled_from(["valid", "same"]))
    low_h, low_w = (1, 1) if padding == "same" else (ph, pw)
    h, w = draw(st.integers(low_h, max_size)), draw(st.integers(low_w, max_size))
    n, c = draw(st.integers(1, max_batch)), draw(st.integers(1, max_channels))
    return (n, c, h, w), pool, strides, padding, draw(st.integers(0, 2**32 - 1))


def _distinct(shape, rng, dtype=np.float64):
    """Values with no ties, at least 0.1 apart (far more than the step h = 1e-5), both signs."""
    size = int(np.prod(shape))
    return ((rng.permutation(size) - size / 2) * 0.1).reshape(shape).astype(dtype)


_OVERLAP = ((2, 2, 6, 5), (3, 2), (1, 1), "valid", 0)
_GAPS = ((1, 3, 8, 7), (1, 2), 3, "valid", 1)  # stride > pool: rows and columns left out
_SAME_GAPS = ((2, 1, 7, 5), 2, (3, 1), "same", 2)
_TWO_BY_TWO_ODD = ((2, 3, 7, 5), 2, None, "valid", 3)  # the fast 2x2 kernel; last row/col left out


@given(pool_cases())
@example(_OVERLAP)
@example(_GAPS)
@example(_SAME_GAPS)
@example(_TWO_BY_TWO_ODD)
def test_maxpool_naive_equals_fast(case):
    x_shape, pool, strides, padding, seed = case
    rng = np.random.default_rng(seed)
    x = _distinct(x_shape, rng)
    hyper = {"pool_size": pool, "strides": strides, "padding": padding}
    out_n, cache_n = maxpool2d_forward_naive(x, **hyper)
    out_f, cache_f = maxpool2d_forward(x, **hyper)
    assert out_n.shape == out_f.shape
    assert rel_error(out_n, out_f) <= EXACT
    dout = rng.normal(size=out_f.shape)
    assert (
        rel_error(maxpool2d_backward_naive(dout, cache_n), maxpool2d_backward(dout, cache_f))
        <= EXACT
    )


@given(pool_cases())
@example(_OVERLAP)
@example(_GAPS)
@example(_SAME_GAPS)
def test_avgpool_naive_equals_fast(case):
    x_shape, pool, strides, padding, seed = case
    rng = np.random.default_rng(seed)
    x = rng.normal(size=x_shape)
    hyper = {"pool_size": pool, "strides": strides, "padding": padding}
    out_n, cache_n = avgpool2d_forward_naive(x, **hyper)
    out_f, cache_f = avgpool2d_forward(x, **hyper)
    assert out_n.shape == out_f.shape
    assert rel_error(out_n, out_f) <= EXACT
    dout = rng.normal(size=out_f.shape)
    assert (
        rel_error(avgpool2d_backward_naive(dout, cache_n), avgpool2d_backward(dout, cache_f))
        <= EXACT
    )


def test_pool_float32_naive_equals_fast_and_stays_float32():
    rng = np.random.default_rng(4)
    x = _distinct((2, 3, 7, 6), rng, np.float32)
    dout = rng.normal(size=(2, 3, 7, 3)).astype(np.float32)
    hyper = {"pool_size": (3, 2), "strides": (1, 2), "padding": "same"}
    # max pooling picks one of the inputs, so the float32 outputs agree exactly; these windows
    # overlap, and a pixel that wins two of them sums two gradients, which the naive loop adds
    # window by window and col2im tap by tap: equal up to float32 rounding
    out_n, cache_n = maxpool2d_forward_naive(x, **hyper)
    out_f, cache_f = maxpool2d_forward(x, **hyper)
    np.testing.assert_array_equal(out_n, out_f)
    dx_n, dx_f = maxpool2d_backward_naive(dout, cache_n), maxpool2d_backward(dout, cache_f)
    for a, b in ((out_n, out_f), (dx_n, dx_f)):
        assert a.dtype == b.dtype == np.float32
        assert rel_error(a, b) <= FLOAT32
    out_n, cache_n = avgpool2d_forward_naive(x, **hyper)
    out_f, cache_f = avgpool2d_forward(x, **hyper)
    dx_n, dx_f = avgpool2d_backward_naive(dout, cache_n), avgpool2d_backward(dout, cache_f)
    for a, b in ((out_n, out_f), (dx_n, dx_f)):
        assert a.dtype == b.dtype == np.float32
        assert rel_error(a, b) <= FLOAT32


# --- numerical gradient checks ----------------------------------------------------------------

GRAD_CASES = [
    # x shape, pool_size, strides, padding
    ((2, 2, 4, 4), 2, None, "valid"),  # tiling
    ((1, 2, 5, 6), (3, 2), 1, "valid"),  # overlapping
    ((2, 1, 7, 7), 2, 3, "valid"),  # non-tiling
    ((1, 3, 5, 4), 3, (2, 1), "same"),  # hanging over the edge
]


@pytest.mark.parametrize(
    "forward, backward",
    [
        (maxpool2d_forward_naive, maxpool2d_backward_naive),
        (maxpool2d_forward, maxpool2d_backward),
        (avgpool2d_forward_naive, avgpool2d_backward_naive),
        (avgpool2d_forward, avgpool2d_backward),
    ],
    ids=["max-naive", "max-fast", "avg-naive", "avg-fast"],
)
@pytest.mark.parametrize("x_shape, pool, strides, padding", GRAD_CASES)
def test_pool_gradients_match_finite_differences(
    forward, backward, x_shape, pool, strides, padding
):
    x = _distinct(x_shape, np.random.default_rng(8))
    hyper = {"pool_size": pool, "strides": strides, "padding": padding}
    report = check_op(forward, backward, {"x": x}, **hyper)
    assert report.errors["dx"] <= GRAD_TOL, report


@pytest.mark.parametrize(
    "forward, backward",
    [
        (maxpool2d_forward_naive, maxpool2d_backward_naive),
        (maxpool2d_forward, maxpool2d_backward),
        (avgpool2d_forward_naive, avgpool2d_backward_naive),
        (avgpool2d_forward, avgpool2d_backward),
    ],
    ids=["max-naive", "max-fast", "avg-naive", "avg-fast"],
)
@FEW
@given(pool_cases(max_batch=2, max_channels=2, max_size=6))
def test_pool_gradients_over_drawn_geometry(forward, backward, case):
    x_shape, pool, strides, padding, seed = case
    x = _distinct(x_shape, np.random.default_rng(seed))
    hyper = {"pool_size": pool, "strides": strides, "padding": padding}
    report = check_op(forward, backward, {"x": x}, seed=seed, **hyper)
    assert report.errors["dx"] <= GRAD_TOL, report


# --- bad input --------------------------------------------------------------------------------

_NAME = {
    maxpool2d_forward_naive: "max_pooling2d",
    maxpool2d_forward: "max_pooling2d",
    avgpool2d_forward_naive: "average_pooling2d",
    avgpool2d_forward: "average_pooling2d",
}


@ALL
def test_pool_rejects_wrong_rank(forward):
    with pytest.raises(
        ValueError, match=_NAME[forward] + r": expected x of shape \(N, C, H, W\), got \(4, 4\)"
    ):
        forward(np.zeros((4, 4)))


@ALL
def test_pool_rejects_a_window_larger_than_the_input(forward):
    with pytest.raises(
        ValueError,
        match=_NAME[forward] + r": kernel 3x2 is larger than the padded input 2x5 \(input 2x5",
    ):
        forward(np.zeros((1, 1, 2, 5)), pool_size=(3, 2))


@ALL
@pytest.mark.parametrize("padding", ["full", 1, (0, 1)])
def test_pool_rejects_bad_padding(forward, padding):
    with pytest.raises(ValueError, match=_NAME[forward] + r": padding must be 'valid' or 'same'"):
        forward(np.zeros((1, 1, 4, 4)), padding=padding)


@ALL
@pytest.mark.parametrize(
    "kwargs, message",
    [({"pool_size": 0}, "pool_size must be positive"), ({"strides": (1, 0)}, "strides must be")],
)
def test_pool_rejects_bad_sizes_naming_the_op_and_shape(forward, kwargs, message):
    with pytest.raises(ValueError, match=_NAME[forward] + ": " + message + r".*\(1, 2, 4, 4\)"):
        forward(np.zeros((1, 2, 4, 4)), **kwargs)


@ALL
def test_pool_rejects_an_integer_input_naming_the_dtype(forward):
    # Average pooling of the integers 0..15 used to give [2, 4, 10, 12] (truncated means).
    x = np.arange(16).reshape(1, 1, 4, 4)
    with pytest.raises(
        ValueError,
        match=_NAME[forward] + r": x must be floating point \(float32 or float64\), got int64 "
        r"with shape \(1, 1, 4, 4\); convert it with \.astype\('float32'\)",
    ):
        forward(x)


@pytest.mark.parametrize(
    "forward, backward, name",
    [
        (maxpool2d_forward_naive, maxpool2d_backward_naive, "max_pooling2d"),
        (maxpool2d_forward, maxpool2d_backward, "max_pooling2d"),
        (avgpool2d_forward_naive, avgpool2d_backward_naive, "average_pooling2d"),
        (avgpool2d_forward, avgpool2d_backward, "average_pooling2d"),
    ],
    ids=["max-naive", "max-fast", "avg-naive", "avg-fast"],
)
def test_pool_backward_rejects_an_integer_gradient(forward, backward, name):
    out, cache = forward(np.ones((1, 1, 4, 4)))
    with pytest.raises(ValueError, match=name + r": dout must be floating point .* got int64"):
        backward(np.ones(out.shape, dtype=np.int64), cache)


@ALL
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"pool_size": 2.5}, r"pool_size must be an int or a pair of ints, got 2.5"),
        ({"pool_size": (2, 2.0)}, r"pool_size must be .* got \(2, 2.0\): 2.0 is not an int"),
        ({"strides": (1.5, 1)}, r"strides must be .* got \(1.5, 1\): 1.5 is not an int"),
    ],
)
def test_pool_rejects_sizes_that_are_not_whole_numbers(forward, kwargs, message):
    with pytest.raises(ValueError, match=_NAME[forward] + ": " + message):
        forward(np.zeros((1, 2, 4, 4)), **kwargs)
