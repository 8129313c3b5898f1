"""Random shifts of training images (convnet.augment) and their use in fit."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convnet import Sequential
from convnet import layers as L
from convnet.augment import random_shift


class FixedOffsets:
    """Stands in for a Generator: hands out the offsets a test chose, dy first, then dx."""

    def __init__(self, dy, dx):
        self.draws = [np.array(dy), np.array(dx)]

    def integers(self, low, high, size):
        out = self.draws.pop(0)
        assert out.shape == (size,) and low <= out.min() and out.max() < high
        return out


def test_offsets_worked_out_by_hand():
    x = np.arange(1, 10, dtype=np.float32).reshape(1, 1, 3, 3)  # 1 2 3 / 4 5 6 / 7 8 9
    x = np.concatenate([x, x])
    out = random_shift(x, FixedOffsets(dy=[1, 0], dx=[0, -1]), max_shift=1)
    # image 0 moves down a row; image 1 moves left a column
    np.testing.assert_array_equal(out[0, 0], [[0, 0, 0], [1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(out[1, 0], [[2, 3, 0], [5, 6, 0], [8, 9, 0]])
    np.testing.assert_array_equal(x[0, 0], [[1, 2, 3], [4, 5, 6], [7, 8, 9]])  # untouched


@st.composite
def shift_cases(draw):
    n, c = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    h, w = draw(st.integers(4, 9)), draw(st.integers(4, 9))
    s = draw(st.integers(0, 3))
    offsets = st.lists(st.integers(-s, s), min_size=n, max_size=n)
    return (n, c, h, w), s, draw(offsets), draw(offsets)


@settings(max_examples=60, deadline=None)
@given(case=shift_cases(), seed=st.integers(0, 2**32 - 1))
def test_every_image_is_its_own_shift_with_zeros_brought_in(case, seed):
    shape, max_shift, dys, dxs = case
    x = np.random.default_rng(seed).random(shape).astype(np.float32) + 1.0  # no zeros in x
    out = random_shift(x, FixedOffsets(dys, dxs), max_shift=max_shift)
    assert out.shape == x.shape and out.dtype == x.dtype
    n, c, h, w = shape
    for i, (dy, dx) in enumerate(zip(dys, dxs, strict=True)):
        expected = np.zeros((c, h, w), np.float32)
        for r in range(h):  # the definition, pixel by pixel
            for col in range(w):
                if 0 <= r - dy < h and 0 <= col - dx < w:
                    expected[:, r, col] = x[i, :, r - dy, col - dx]
        np.testing.assert_array_equal(out[i], expected)


def test_every_offset_turns_up_and_no_other():
    x = np.zeros((4000, 1, 9, 9), np.float32)
    x[:, 0, 4, 4] = 1.0
    out = random_shift(x, np.random.default_rng(0), max_shift=2)
    rows, cols = np.nonzero(out[:, 0])[1:]
    counts = np.zeros((5, 5), int)
    np.add.at(counts, (rows - 2, cols - 2), 1)
    assert counts.sum() == 4000  # one pixel per image, none lost at this size
    assert counts.min() > 4000 / 25 * 0.6 and counts.max() < 4000 / 25 * 1.4  # about uniform


def test_no_shift_is_a_copy():
    x = np.random.default_rng(0).random((3, 2, 5, 5))
    out = random_shift(x, np.random.default_rng(0), max_shift=0)
    np.testing.assert_array_equal(out, x)
    assert out is not x and out.dtype == np.float64


@pytest.mark.parametrize("x, max_shift, message", [
    (np.zeros((2, 5, 5)), 1, r"shape \(N, C, H, W\), got \(2, 5, 5\)"),
    (np.zeros((2, 1, 5, 4)), 4, r"from 0 to 3 for images of shape \(1, 5, 4\), got 4"),
    (np.zeros((2, 1, 5, 5)), -1, "got -1"),
])  # fmt: skip
def test_bad_input_is_a_clear_error(x, max_shift, message):
    with pytest.raises(ValueError, match=message):
        random_shift(x, np.random.default_rng(0), max_shift=max_shift)


# -- in fit ------------------------------------------------------------------------------------


def _net():
    return Sequential([L.Flatten(), L.Dense(2, activation="softmax")], input_shape=(1, 6, 6),
                      seed=0)  # fmt: skip


def test_fit_shifts_training_batches_only_and_reproducibly():
    rng = np.random.default_rng(1)
    x, y = rng.random((40, 1, 6, 6)).astype(np.float32), rng.integers(0, 2, 40)
    x_val, y_val = rng.random((10, 1, 6, 6)).astype(np.float32), rng.integers(0, 2, 10)
    seen = []  # every batch augment was given

    def recording_shift(batch, gen):
        seen.append(batch.copy())
        return random_shift(batch, gen, max_shift=1)

    weights = []
    for augment in (recording_shift, recording_shift, None):
        model = _net()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=2, batch_size=8, seed=3, validation_data=(x_val, y_val),
                  verbose=0, augment=augment)  # fmt: skip
        weights.append(model.layers[-1].params["kernel"].copy())
    # 2 runs x 2 epochs x 5 batches of 8 training images; the validation set (10) is never
    # passed
    assert len(seen) == 20
    assert all(b.shape == (8, 1, 6, 6) for b in seen)
    np.testing.assert_array_equal(weights[0], weights[1])  # same seed, same shifts
    assert not np.array_equal(weights[0], weights[2])  # the shifts changed what was learnt
