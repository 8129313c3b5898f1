"""im2col and col2im (convnet/im2col.py).

* Hand-checked small cases, with and without padding and stride.
* im2col equals its definition, ``cols[n, (c, i, j), (oh, ow)] = xp[n, c, oh*sh + i, ow*sw + j]``,
  read straight off a zero-padded copy, over hypothesis-drawn geometry.
* ``im2col_image`` over a range of output rows (how the forward convolution shares one image
  between threads) gives exactly those columns of the whole image's.
* The adjoint identity ``<im2col(x), c> == <x, col2im(c)>`` for random ``x`` and ``c``: this is
  the definition of "col2im is the transpose of im2col", which is exactly what the
  convolution's backward pass needs from it.
"""

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from convnet.im2col import col2im, im2col, im2col_image
from convnet.shapes import resolve_padding, window_output_size


def _cols(x, kernel_hw, stride_hw, pads):
    out_hw = window_output_size(x.shape[2:], kernel_hw, stride_hw, pads)
    return im2col(x, kernel_hw, stride_hw, pads, out_hw), out_hw


# --- hand-checked cases -----------------------------------------------------------------------


def test_im2col_by_hand_no_padding():
    # x = 0 1 2     2x2 patches, stride 1, taken row by row: rows of cols are the patch
    #     3 4 5     entries (i, j) = (0,0), (0,1), (1,0), (1,1); columns are the 4 positions.
    #     6 7 8
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    cols, out_hw = _cols(x, (2, 2), (1, 1), (0, 0, 0, 0))
    assert out_hw == (2, 2)
    expected = [
        [0.0, 1.0, 3.0, 4.0],  # top-left entry of each patch
        [1.0, 2.0, 4.0, 5.0],  # top-right
        [3.0, 4.0, 6.0, 7.0],  # bottom-left
        [4.0, 5.0, 7.0, 8.0],  # bottom-right
    ]
    np.testing.assert_array_equal(cols, [expected])


def test_im2col_by_hand_padding_and_stride():
    # x = 1 2 padded by 1 on every side: 0 0 0 0   2x2 windows, stride 2: each window holds
    #     3 4                            0 1 2 0   exactly one pixel of x, in a different
    #                                    0 3 4 0   corner each time.
    #                                    0 0 0 0
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    cols, out_hw = _cols(x, (2, 2), (2, 2), (1, 1, 1, 1))
    assert out_hw == (2, 2)
    expected = [
        [0.0, 0.0, 0.0, 4.0],  # (i, j) = (0, 0): only the bottom-right window reaches x
        [0.0, 0.0, 3.0, 0.0],  # (0, 1)
        [0.0, 2.0, 0.0, 0.0],  # (1, 0)
        [1.0, 0.0, 0.0, 0.0],  # (1, 1)
    ]
    np.testing.assert_array_equal(cols, [expected])


def test_im2col_by_hand_channels_come_first_in_the_rows():
    # Two images, two channels, a 1x2 kernel on 1x3 rows: row r = (c*KH + i)*KW + j.
    x = np.array(
        [
            [[[1.0, 2.0, 3.0]], [[10.0, 20.0, 30.0]]],
            [[[-1.0, -2.0, -3.0]], [[-10.0, -20.0, -30.0]]],
        ]
    )
    cols, out_hw = _cols(x, (1, 2), (1, 1), (0, 0, 0, 0))
    assert out_hw == (1, 2)
    expected_image_0 = [[1.0, 2.0], [2.0, 3.0], [10.0, 20.0], [20.0, 30.0]]
    np.testing.assert_array_equal(cols[0], expected_image_0)
    np.testing.assert_array_equal(cols[1], -np.array(expected_image_0))


def test_col2im_by_hand_overlapping_windows_add_up():
    # 2x2 windows at stride 1 on a 3x3 image: col2im of all-ones counts the windows that
    # cover each pixel (the centre is in all 4).
    dx = col2im(np.ones((1, 4, 4)), (1, 1, 3, 3), (2, 2), (1, 1), (0, 0, 0, 0), (2, 2))
    np.testing.assert_array_equal(dx[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


def test_col2im_by_hand_uncovered_pixels_and_padding_get_nothing():
    # 1x1 "windows" at stride 2 on a 3x3 image touch only the four corners.
    cols = np.array([[[1.0, 2.0, 3.0, 4.0]]])
    dx = col2im(cols, (1, 1, 3, 3), (1, 1), (2, 2), (0, 0, 0, 0), (2, 2))
    np.testing.assert_array_equal(dx[0, 0], [[1, 0, 2], [0, 0, 0], [3, 0, 4]])
    # The padded case above, backwards: entries that were copied from the padding are dropped,
    # the others land on the pixel they came from.
    cols = np.arange(1.0, 17.0).reshape(1, 4, 4)
    dx = col2im(cols, (1, 1, 2, 2), (2, 2), (2, 2), (1, 1, 1, 1), (2, 2))
    # pixel (0,0) came from row (1,1), position 0 -> cols[0, 3, 0] = 13; pixel (0,1) from row
    # (1,0), position 1 -> 10; pixel (1,0) from row (0,1), position 2 -> 7; pixel (1,1) from
    # row (0,0), position 3 -> 4.
    np.testing.assert_array_equal(dx[0, 0], [[13.0, 10.0], [7.0, 4.0]])


def test_im2col_and_col2im_keep_float32():
    x = np.ones((1, 2, 3, 3), dtype=np.float32)
    cols, out_hw = _cols(x, (2, 2), (1, 1), (0, 0, 0, 0))
    assert cols.dtype == np.float32
    assert col2im(cols, x.shape, (2, 2), (1, 1), (0, 0, 0, 0), out_hw).dtype == np.float32


# --- hypothesis-drawn geometry ----------------------------------------------------------------

_padding = st.one_of(
    st.sampled_from(["valid", "same"]),
    st.integers(0, 2),
    st.tuples(st.integers(0, 2), st.integers(0, 2)),
    st.tuples(*[st.integers(0, 2)] * 4),
)


@st.composite
def geometries(draw):
    """(x_shape, kernel_hw, stride_hw, pads, seed), with the kernel fitting the padded input."""
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(_padding)
    if padding == "same":  # always fits: 'same' pads up to the kernel size
        h, w = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    else:  # 'valid' and explicit padding do not depend on the input size
        top, bottom, left, right = resolve_padding(padding, (1, 1), (1, 1), (1, 1))
        h = draw(st.integers(max(1, kh - top - bottom), 8))
        w = draw(st.integers(max(1, kw - left - right), 8))
    pads = resolve_padding(padding, (h, w), (kh, kw), stride)
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return (n, c, h, w), (kh, kw), stride, pads, draw(st.integers(0, 2**32 - 1))


@given(geometries())
@example(((1, 1, 5, 5), (2, 2), (3, 3), (0, 0, 0, 0), 0))  # non-tiling: pixels left out
@example(((2, 2, 4, 6), (3, 2), (1, 2), (1, 1, 0, 2), 1))  # overlapping, asymmetric padding
def test_im2col_matches_its_definition(geom):
    x_shape, (kh, kw), (sh, sw), pads, seed = geom
    x = np.random.default_rng(seed).normal(size=x_shape)
    cols, (h_out, w_out) = _cols(x, (kh, kw), (sh, sw), pads)
    top, bottom, left, right = pads
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    n, c = x_shape[:2]
    expected = np.empty((n, c * kh * kw, h_out * w_out))
    for ch in range(c):
        for i in range(kh):
            for j in range(kw):
                for oh in range(h_out):
                    for ow in range(w_out):
                        expected[:, (ch * kh + i) * kw + j, oh * w_out + ow] = xp[
                            :, ch, oh * sh + i, ow * sw + j
                        ]
    np.testing.assert_array_equal(cols, expected)


@given(geometries())
@example(((1, 1, 5, 5), (2, 2), (3, 3), (0, 0, 0, 0), 0))
@example(((2, 2, 4, 6), (3, 2), (1, 2), (1, 1, 0, 2), 1))
def test_col2im_is_the_adjoint_of_im2col(geom):
    x_shape, kernel_hw, stride_hw, pads, seed = geom
    rng = np.random.default_rng(seed)
    x = rng.normal(size=x_shape)
    cols, out_hw = _cols(x, kernel_hw, stride_hw, pads)
    c = rng.normal(size=cols.shape)
    lhs = np.vdot(cols, c)  # <im2col(x), c>
    rhs = np.vdot(x, col2im(c, x_shape, kernel_hw, stride_hw, pads, out_hw))  # <x, col2im(c)>
    # Both sides add up the same products x[p] * c[q] in different orders; float64 rounding
    # is bounded by a few ulps of the sum of their absolute values.
    bound = 1e-12 * np.vdot(np.abs(cols), np.abs(c))
    assert abs(lhs - rhs) <= bound


@given(geometries())
@example(((1, 1, 5, 5), (2, 2), (3, 3), (0, 0, 0, 0), 0))
@example(((2, 2, 4, 6), (3, 2), (1, 2), (1, 1, 0, 2), 1))
def test_im2col_of_a_range_of_output_rows_is_those_columns(geom):
    x_shape, kernel_hw, stride_hw, pads, seed = geom
    x = np.random.default_rng(seed).normal(size=x_shape)
    cols, (h_out, w_out) = _cols(x, kernel_hw, stride_hw, pads)
    for n in range(x_shape[0]):
        for start, stop in [(0, h_out), (h_out // 3, h_out - h_out // 4), (h_out - 1, h_out)]:
            part = np.full((cols.shape[1], (stop - start) * w_out), np.nan)
            im2col_image(x[n], *kernel_hw, *stride_hw, pads[0], pads[2], start, stop, w_out,
                         part)  # fmt: skip
            np.testing.assert_array_equal(part, cols[n][:, start * w_out : stop * w_out])
