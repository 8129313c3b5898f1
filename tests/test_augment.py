"""Random shifts, turns and zooms of training images (convnet.augment) and their use in fit."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convnet import Sequential
from convnet import layers as L
from convnet.augment import RandomAffine, affine_warp, inverse_maps, random_shift
from convnet.jit import JIT_ENABLED

ROOT = Path(__file__).resolve().parent.parent


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


@pytest.mark.parametrize("augmenter", [
    lambda batch, gen: random_shift(batch, gen, max_shift=1),
    RandomAffine(rotation=15, zoom=0.1, shift=1.5),
], ids=["random_shift", "RandomAffine"])  # fmt: skip
def test_fit_augments_training_batches_only_and_reproducibly(augmenter):
    rng = np.random.default_rng(1)
    x, y = rng.random((40, 1, 6, 6)).astype(np.float32), rng.integers(0, 2, 40)
    x_val, y_val = rng.random((10, 1, 6, 6)).astype(np.float32), rng.integers(0, 2, 10)
    seen = []  # every batch augment was given

    def recording_shift(batch, gen):
        seen.append(batch.copy())
        return augmenter(batch, gen)

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
    np.testing.assert_array_equal(weights[0], weights[1])  # same seed, same draws
    assert not np.array_equal(weights[0], weights[2])  # the augmenting changed what was learnt


# -- turns, zooms and sub-pixel moves: affine_warp and its maps ---------------------------------

IDENTITY = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]


def maps_for(n, *rows):
    """``n`` copies of one 2x3 map, written as its two rows."""
    return np.tile(np.array(rows, np.float64), (n, 1, 1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 2, 5, 7), (1, 1, 28, 28), (2, 3, 1, 1), (0, 1, 4, 4)])
def test_the_identity_gives_back_the_input_exactly(shape, dtype):
    x = np.random.default_rng(0).normal(size=shape).astype(dtype)
    out = affine_warp(x, maps_for(len(x), *IDENTITY))
    assert out.dtype == dtype and out is not x
    np.testing.assert_array_equal(out, x)
    # Nothing drawn to do: turns of 0 degrees, zooms by 1, moves by 0
    no_change = RandomAffine(rotation=0, zoom=0, shift=0)
    np.testing.assert_array_equal(no_change(x, np.random.default_rng(1)), x)


@pytest.mark.parametrize("size", [1, 2, 5, 6, 28])
def test_a_quarter_turn_anticlockwise_is_np_rot90(size):
    x = np.random.default_rng(size).random((3, 2, size, size)).astype(np.float32)
    # By hand: the output pixel at (u, v) from the centre comes from the input's (v, -u).
    by_hand = affine_warp(x, maps_for(3, [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]))
    np.testing.assert_array_equal(by_hand, np.rot90(x, k=1, axes=(2, 3)))
    # The same by angle: positive turns anticlockwise, like np.rot90; whole quarter turns are
    # exact (no trace of the neighbouring pixels), however many.
    for angle, k in [(90, 1), (-90, -1), (180, 2), (270, 3), (-450, -1), (0, 0)]:
        turned = affine_warp(x, inverse_maps(np.full(3, float(angle)), 1.0, 0.0, 0.0))
        np.testing.assert_array_equal(turned, np.rot90(x, k=k, axes=(2, 3)), err_msg=str(angle))


def test_a_quarter_turn_by_hand_on_a_3x3_image():
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)  # 1 2 3 / 4 5 6 / 7 8 9
    out = affine_warp(x, inverse_maps(90.0, 1.0, 0.0, 0.0))
    np.testing.assert_array_equal(out[0, 0], [[3, 6, 9], [2, 5, 8], [1, 4, 7]])


@settings(max_examples=40, deadline=None)
@given(case=shift_cases(), seed=st.integers(0, 2**32 - 1))
def test_whole_pixel_moves_are_random_shifts(case, seed):
    shape, max_shift, dys, dxs = case
    x = np.random.default_rng(seed).random(shape) + 1.0  # no zeros in x
    expected = random_shift(x, FixedOffsets(dys, dxs), max_shift=max_shift)
    out = affine_warp(x, inverse_maps(0.0, 1.0, np.array(dys, float), np.array(dxs, float)))
    np.testing.assert_array_equal(out, expected)
    # and np.roll, with the rows and columns that wrapped round set to zero
    h, w = shape[2:]
    for image, original, dy, dx in zip(out, x, dys, dxs, strict=True):
        rolled = np.roll(original, (dy, dx), axis=(1, 2))
        rolled[:, : max(dy, 0)] = rolled[:, h + min(dy, 0) :] = 0
        rolled[:, :, : max(dx, 0)] = rolled[:, :, w + min(dx, 0) :] = 0
        np.testing.assert_array_equal(image, rolled)


def test_half_pixel_moves_by_hand():
    x = np.array([[1.0, 3.0, 5.0],
                  [7.0, 9.0, 11.0]]).reshape(1, 1, 2, 3)  # fmt: skip
    # half a pixel right: each pixel is the mean of itself and its left neighbour (0 outside)
    right = affine_warp(x, inverse_maps(0.0, 1.0, 0.0, 0.5))
    np.testing.assert_array_equal(right[0, 0], [[0.5, 2.0, 4.0], [3.5, 8.0, 10.0]])
    # half a pixel up: the mean of itself and the pixel below
    up = affine_warp(x, inverse_maps(0.0, 1.0, -0.5, 0.0))
    np.testing.assert_array_equal(up[0, 0], [[4.0, 6.0, 8.0], [3.5, 4.5, 5.5]])
    # half a pixel down and left: the mean of the four around
    both = affine_warp(x, inverse_maps(0.0, 1.0, 0.5, -0.5))
    np.testing.assert_array_equal(both[0, 0], [[1.0, 2.0, 1.25], [5.0, 7.0, 4.0]])
    # a quarter of a pixel right: weights 3/4 and 1/4
    quarter = affine_warp(x, inverse_maps(0.0, 1.0, 0.0, 0.25))
    np.testing.assert_array_equal(quarter[0, 0], [[0.75, 2.5, 4.5], [5.25, 8.5, 10.5]])


@pytest.mark.parametrize("angle", [0.0, 17.0, -40.0])
@pytest.mark.parametrize("scale", [0.6, 1.0, 1.25, 2.0])
def test_turns_and_zooms_keep_the_centre_and_zooms_move_pixels_straight_out(angle, scale):
    x = np.random.default_rng(0).random((1, 1, 9, 9))  # odd size: the centre is pixel (4, 4)
    out = affine_warp(x, inverse_maps(angle, scale, 0.0, 0.0))
    assert out[0, 0, 4, 4] == x[0, 0, 4, 4]
    if angle == 0.0 and scale == 2.0:  # twice as far from the centre: (4, 4 + 1) -> (4, 4 + 2)
        assert out[0, 0, 4, 6] == x[0, 0, 4, 5] and out[0, 0, 2, 4] == x[0, 0, 3, 4]
        assert out[0, 0, 8, 0] == x[0, 0, 6, 2]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), dtype=st.sampled_from([np.float32, np.float64]))
def test_a_constant_image_stays_exactly_constant_inside(seed, dtype):
    # Bilinear weights sum to one: wherever all four pixels around the source point are in the
    # image, a constant image keeps its value, to the last bit.
    rng = np.random.default_rng(seed)
    values = rng.uniform(0.1, 10.0, size=(6, 2, 1, 1))
    x = np.broadcast_to(values, (6, 2, 64, 64)).astype(dtype)
    augment = RandomAffine(rotation=30, zoom=0.2, shift=3)
    out = augment(x, rng)
    # The central 16x16 pixels come from within 20 pixels of the centre: (8 sqrt 2 +
    # 3 sqrt 2) / 0.8 < 20, inside the 64x64 image.
    np.testing.assert_array_equal(
        out[:, :, 24:40, 24:40], np.broadcast_to(x[:, :, :1, :1], (6, 2, 16, 16))
    )
    # Outside it, ink fades to the zero background, never above the constant.
    assert np.all(out <= x) and np.all(out >= 0)


def test_everything_moved_off_the_image_is_background():
    x = np.ones((2, 1, 5, 5), np.float32)
    out = affine_warp(x, inverse_maps(0.0, 1.0, [5.0, -30.0], [0.0, 2.5]))
    np.testing.assert_array_equal(out, np.zeros_like(x))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 4), c=st.integers(1, 3),
       h=st.integers(1, 12), w=st.integers(1, 12))  # fmt: skip
def test_agrees_with_scipy_map_coordinates(seed, n, c, h, w):
    """An independent bilinear interpolation: scipy's, with zeros beyond the edges
    ('grid-constant', which interpolates towards them as affine_warp does)."""
    ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, c, h, w))
    maps = inverse_maps(rng.uniform(-180, 180, n), rng.uniform(0.5, 2.0, n),
                        rng.uniform(-4, 4, n), rng.uniform(-4, 4, n))  # fmt: skip
    out = affine_warp(x, maps)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    u, v = np.meshgrid(np.arange(h) - cy, np.arange(w) - cx, indexing="ij")
    for k in range(n):
        a = maps[k]
        rows = cy + a[0, 0] * u + a[0, 1] * v + a[0, 2]
        cols = cx + a[1, 0] * u + a[1, 1] * v + a[1, 2]
        for ch in range(c):
            expected = ndimage.map_coordinates(x[k, ch], [rows, cols], order=1,
                                               mode="grid-constant", cval=0.0)  # fmt: skip
            np.testing.assert_allclose(out[k, ch], expected, rtol=1e-12, atol=1e-12)


# -- RandomAffine: what it draws ---------------------------------------------------------------


class RecordingGenerator:
    """A Generator that notes every call of ``uniform``."""

    def __init__(self, seed):
        self.rng, self.calls = np.random.default_rng(seed), []

    def uniform(self, low, high, size):
        self.calls.append((low, high, size))
        return self.rng.uniform(low, high, size)


def test_draws_four_arrays_in_a_documented_order():
    gen = RecordingGenerator(0)
    augment = RandomAffine(rotation=12, zoom=0.0, shift=1.5)
    augment(np.zeros((5, 1, 8, 8)), gen)
    # angles, zooms, dy, dx: n numbers each, a zero range included
    assert gen.calls == [(-12.0, 12.0, 5), (-0.0, 0.0, 5), (-1.5, 1.5, 5), (-1.5, 1.5, 5)]
    angle, scale, dy, dx = augment.draw(1000, np.random.default_rng(1))
    assert -12 <= angle.min() < -11 and 11 < angle.max() <= 12
    assert np.all(scale == 1.0) and 1.4 < dy.max() <= 1.5 and -1.5 <= dx.min() < -1.4


def test_the_same_seed_gives_the_same_batch_and_another_seed_another():
    x = np.random.default_rng(0).random((16, 1, 28, 28)).astype(np.float32)
    augment = RandomAffine()
    first = augment(x, np.random.default_rng(7))
    np.testing.assert_array_equal(first, augment(x, np.random.default_rng(7)))
    assert not np.array_equal(first, augment(x, np.random.default_rng(8)))
    # each image its own draw: 16 copies of one image come out 16 different ways
    copies = augment(np.repeat(x[:1], 16, axis=0), np.random.default_rng(7))
    assert len({image.tobytes() for image in copies}) == 16
    # and one generator, called twice, goes on to new draws (the next batch's)
    gen = np.random.default_rng(7)
    assert not np.array_equal(augment(x, gen), augment(x, gen))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_dtype_and_the_input_are_kept(dtype):
    x = np.random.default_rng(0).random((4, 2, 6, 6)).astype(dtype)
    before = x.copy()
    out = RandomAffine()(x, np.random.default_rng(0))
    assert out.dtype == dtype and out.shape == x.shape
    np.testing.assert_array_equal(x, before)
    # a non-contiguous view is read as the same images
    wide = np.zeros((4, 2, 6, 12), dtype)
    wide[..., ::2] = x
    np.testing.assert_array_equal(RandomAffine()(wide[..., ::2], np.random.default_rng(0)), out)


@pytest.mark.parametrize("make, message", [
    (lambda: RandomAffine(rotation=-5), r"RandomAffine: rotation must be from 0 to 180 degrees, "
                                        r"got -5"),
    (lambda: RandomAffine(rotation=200), "rotation must be from 0 to 180 degrees, got 200"),
    (lambda: RandomAffine(zoom=-0.1), r"zoom must be from 0 to below 1, got -0.1"),
    (lambda: RandomAffine(zoom=1.0), r"zoom must be from 0 to below 1, got 1.0"),
    (lambda: RandomAffine(shift=-1), "shift must be from 0 to any number of pixels, got -1"),
    (lambda: RandomAffine(shift=float("nan")), "shift must be from 0 .* got nan"),
    (lambda: RandomAffine()(np.zeros((2, 28, 28)), np.random.default_rng(0)),
     r"RandomAffine: expected images of shape \(N, C, H, W\), got \(2, 28, 28\)"),
    (lambda: affine_warp(np.zeros((2, 1, 4, 4), np.uint8), np.zeros((2, 2, 3))),
     "expected float32 or float64 images, got uint8; convert them first"),
    (lambda: affine_warp(np.zeros((2, 1, 4, 4)), np.zeros((3, 2, 3))),
     r"one 2x3 map per image, shape \(2, 2, 3\), for images of shape \(2, 1, 4, 4\); "
     r"got \(3, 2, 3\)"),
    (lambda: affine_warp(np.zeros((1, 1, 4, 4)), [[[np.nan, 0, 0], [0, 1, 0]]]),
     "finite numbers, got NaN or infinity"),
    (lambda: affine_warp([[1.0]], np.zeros((1, 2, 3))),
     r"affine_warp: expected images of shape \(N, C, H, W\), got list"),
    (lambda: inverse_maps(0.0, [1.0, 0.0], 0.0, 0.0), "every scale must be more than 0, got 0.0"),
    (lambda: inverse_maps(np.zeros((2, 2)), 1.0, 0.0, 0.0),
     r"1-D arrays, one entry per image; got arrays of shape \(2, 2\)"),
])  # fmt: skip
def test_bad_input_to_the_affine_warp_is_a_clear_error(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.skipif(not JIT_ENABLED, reason="this process already runs the plain-Python kernel")
def test_the_plain_python_kernel_gives_the_compiled_kernels_images(tmp_path):
    """``NUMBA_DISABLE_JIT=1`` runs the very same kernel as Python, to the last bit: float32
    pixels included (the kernel computes in float64 both ways)."""
    script = (
        "import sys, numpy as np\n"
        "from convnet.augment import RandomAffine\n"
        "from convnet.jit import JIT_ENABLED\n"
        "assert not JIT_ENABLED\n"
        "x = np.random.default_rng(3).random((6, 2, 11, 13)).astype(sys.argv[2])\n"
        "np.save(sys.argv[1], RandomAffine(rotation=40, zoom=0.3, shift=2.5)(\n"
        "    x, np.random.default_rng(4)))\n"
    )
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1", "PYTHONPATH": str(ROOT)}
    for dtype in ("float32", "float64"):
        path = tmp_path / f"{dtype}.npy"
        done = subprocess.run([sys.executable, "-c", script, str(path), dtype], env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr
        x = np.random.default_rng(3).random((6, 2, 11, 13)).astype(dtype)
        compiled = RandomAffine(rotation=40, zoom=0.3, shift=2.5)(x, np.random.default_rng(4))
        plain = np.load(path)
        assert plain.dtype == dtype
        np.testing.assert_array_equal(plain, compiled)
