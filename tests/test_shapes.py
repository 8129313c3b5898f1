"""Shape arithmetic (convnet/shapes.py): spellings of kernel/stride/padding, the output-size
formula, 'same' padding, and the input checks that every layer relies on."""

import math

import numpy as np
import pytest

from convnet.shapes import (
    channels_last_hint,
    check_array,
    check_float,
    pair,
    resolve_padding,
    window_output_size,
)

# --- pair -------------------------------------------------------------------------------------


def test_pair_accepts_an_int_a_numpy_int_and_a_pair():
    assert pair(3) == (3, 3)
    assert pair(np.int64(2)) == (2, 2)
    assert pair((3, 5)) == (3, 5)
    assert pair([1, 4]) == (1, 4)


@pytest.mark.parametrize("bad", [0, -1, (2, 0), (1, 2, 3), "ab", None])
def test_pair_rejects_non_positive_or_malformed_values(bad):
    with pytest.raises(ValueError, match="stride"):
        pair(bad, "stride")


@pytest.mark.parametrize(
    "bad, culprit",
    [(1.7, "1.7"), ((1.7, 2), "1.7"), ((2, 2.0), "2.0"), ((True, 2), "True"),
     (np.float64(2.5), "2.5"), ((np.float32(3), 1), "3.0")],
)  # fmt: skip
def test_pair_refuses_what_is_not_a_whole_int_instead_of_truncating_it(bad, culprit):
    with pytest.raises(ValueError, match="stride must be an int or a pair of ints") as err:
        pair(bad, "stride")
    assert culprit in str(err.value)


# --- resolve_padding --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "padding, expected",
    [
        ("valid", (0, 0, 0, 0)),
        ("VALID", (0, 0, 0, 0)),
        (0, (0, 0, 0, 0)),
        (2, (2, 2, 2, 2)),
        ((1, 3), (1, 1, 3, 3)),  # (ph, pw): ph above and below, pw left and right
        ((0, 1, 2, 3), (0, 1, 2, 3)),  # (top, bottom, left, right) as given
    ],
)
def test_resolve_padding_explicit_spellings(padding, expected):
    assert resolve_padding(padding, (5, 6), (3, 3), (1, 1)) == expected


def test_resolve_padding_same_by_hand():
    # H = 5, K = 4, stride 1: H_out = 5, total = (5 - 1)*1 + 4 - 5 = 3 -> 1 on top, 2 below.
    assert resolve_padding("same", (5, 5), (4, 4), (1, 1)) == (1, 2, 1, 2)
    # H = 6, K = 3, stride 2: H_out = 3, total = (3 - 1)*2 + 3 - 6 = 1 -> the row goes below.
    # W = 7, K = 2, stride 3: W_out = 3, total = (3 - 1)*3 + 2 - 7 = 1 -> the column on the right.
    assert resolve_padding("same", (6, 7), (3, 2), (2, 3)) == (0, 1, 0, 1)
    # H = 28, K = 2, stride 2: windows tile exactly, no padding.
    assert resolve_padding("same", (28, 28), (2, 2), (2, 2)) == (0, 0, 0, 0)


def test_resolve_padding_same_gives_ceil_size_over_stride_for_all_small_geometries():
    for size in range(1, 13):
        for k in range(1, 6):
            for s in range(1, 5):
                top, bottom, left, right = resolve_padding("same", (size, size), (k, k), (s, s))
                out = window_output_size((size, size), (k, k), (s, s), (top, bottom, left, right))
                assert out == (math.ceil(size / s),) * 2, (size, k, s)
                # Split as evenly as possible, the odd one out at the bottom / on the right.
                assert bottom - top in (0, 1) and right - left in (0, 1), (size, k, s)
                assert (top, bottom) == (left, right)


def test_resolve_padding_same_treats_height_and_width_separately():
    # H: 4, K 3, stride 1 -> total 2 -> (1, 1). W: 5, K 2, stride 2 -> W_out 3, total 1 -> (0, 1).
    assert resolve_padding("same", (4, 5), (3, 2), (1, 2)) == (1, 1, 0, 1)


@pytest.mark.parametrize(
    "bad, message",
    [
        ("full", "padding must be 'valid', 'same' or ints, got 'full'"),
        (-1, "must not be negative"),
        ((1, -1), "must not be negative"),
        ((1, 2, 3), "padding needs 1, 2 or 4 ints"),
        (("a", "b"), "padding must be 'valid', 'same' or ints"),
        (1.5, "padding must be 'valid', 'same' or ints, got 1.5"),
        ((1, 0.5), "padding must be 'valid', 'same' or ints, got (1, 0.5): 0.5 is not"),
        ((0, 0, 1, 2.0), "got (0, 0, 1, 2.0): 2.0 is not an int"),
    ],
)
def test_resolve_padding_rejects_bad_specs(bad, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve_padding(bad, (5, 5), (3, 3), (1, 1))


# --- window_output_size -----------------------------------------------------------------------


def test_window_output_size_by_hand():
    # (28 - 3) // 1 + 1 = 26
    assert window_output_size((28, 28), (3, 3), (1, 1), (0, 0, 0, 0)) == (26, 26)
    # H: (7 + 1 + 1 - 3) // 2 + 1 = 4;  W: (7 + 0 + 0 - 2) // 3 + 1 = 2 (non-tiling: the last
    # column is never reached)
    assert window_output_size((7, 7), (3, 2), (2, 3), (1, 1, 0, 0)) == (4, 2)
    # kernel as large as the padded input: exactly one position
    assert window_output_size((2, 3), (4, 3), (5, 5), (1, 1, 0, 0)) == (1, 1)


def test_window_output_size_rejects_a_kernel_larger_than_the_padded_input():
    with pytest.raises(ValueError, match=r"conv2d: kernel 4x2 is larger than the padded input 3x5"):
        window_output_size((2, 5), (4, 2), (1, 1), (1, 0, 0, 0), op="conv2d")


# --- check_array ------------------------------------------------------------------------------


def test_check_array_accepts_a_float_array_of_the_right_rank():
    x = np.zeros((2, 3, 4, 5), dtype=np.float32)
    assert check_array(x, ndim=4, name="conv2d") is x


@pytest.mark.parametrize(
    "x, message",
    [
        (np.zeros((2, 3)), r"conv2d: expected a 4-D input, got shape \(2, 3\)"),
        (np.zeros((1, 1, 2, 2), dtype=np.int64), r"conv2d: input must be floating point"),
        (np.full((1, 1, 2, 2), np.nan), r"conv2d: input of shape \(1, 1, 2, 2\) contains 4 NaN"),
        ([[1.0]], r"conv2d: input must be a NumPy array, got list"),
    ],
)
def test_check_array_rejects_bad_inputs_naming_the_op_and_shape(x, message):
    with pytest.raises(ValueError, match=message):
        check_array(x, ndim=4, name="conv2d")


def test_check_array_can_allow_non_finite_values():
    x = np.array([[np.inf]])
    assert check_array(x, ndim=2, name="dense", finite=False) is x


# --- check_float ------------------------------------------------------------------------------


def test_check_float_accepts_float_arrays_and_skips_none():
    check_float("dense", x=np.zeros(2, np.float32), w=np.zeros((2, 2)), b=None)


@pytest.mark.parametrize("dtype", [np.int64, np.int8, np.bool_, np.complex128])
def test_check_float_names_the_op_the_argument_and_the_dtype(dtype):
    w = np.zeros((3, 2), dtype=dtype)
    with pytest.raises(ValueError) as err:
        check_float("dense", x=np.zeros((1, 3)), w=w)
    assert str(err.value) == (
        f"dense: w must be floating point (float32 or float64), got {np.dtype(dtype)} "
        "with shape (3, 2); convert it with .astype('float32')"
    )


def test_check_float_says_how_to_scale_bytes():
    with pytest.raises(ValueError) as err:
        check_float("sequential", input=np.zeros((2, 1, 28, 28), np.uint8))
    assert str(err.value).endswith(
        "got uint8 with shape (2, 1, 28, 28); scale the bytes to [0, 1] floats with "
        ".astype('float32') / 255"
    )


def test_check_float_refuses_what_is_not_an_array():
    with pytest.raises(ValueError, match="conv2d: x must be a NumPy array, got list"):
        check_float("conv2d", x=[[1.0]])


# --- channels_last_hint -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, channels_first",
    [((28, 28, 1), (1, 28, 28)), ((32, 32, 3), (3, 32, 32)), ((8, 40, 1), (1, 8, 40))],
)
def test_channels_last_hint_recognises_keras_images(shape, channels_first):
    hint = channels_last_hint(shape)
    assert f"but {shape} looks channels-last (H, W, C)" in hint
    assert f"use input_shape={channels_first} and" in hint
    assert hint.endswith("x.transpose(0, 3, 1, 2)")


@pytest.mark.parametrize(
    "shape",
    [(1, 28, 28), (3, 32, 32), (28, 28, 2), (28, 28, 4), (7, 28, 1), (28, 28), (4, 28, 28, 1)],
)
def test_channels_last_hint_is_silent_for_other_shapes(shape):
    assert channels_last_hint(shape) == ""


def test_channels_last_hint_with_the_expected_shape_needs_an_exact_transposition():
    assert channels_last_hint((28, 28, 1), expected=(1, 28, 28)).endswith("x.transpose(0, 3, 1, 2)")
    assert "input_shape" not in channels_last_hint((28, 28, 1), expected=(1, 28, 28))
    assert channels_last_hint((28, 28, 1), expected=(1, 32, 32)) == ""
    assert channels_last_hint((4, 5, 3), expected=(3, 4, 5)) != ""  # small, but exactly moved
