"""Initialisers: fans, the statistics of a million draws against the formulas, truncation,
reproducibility from a seeded Generator, dtypes and name lookup."""

import math

import numpy as np
import pytest

from convnet import initializers as I

# 1000 x 1000 = 10^6 draws. With n = 10^6 the sample standard deviation of a normal has a
# relative standard error of 1/sqrt(2n) = 0.07 % (a uniform's, 0.045 %), and the sample mean
# a standard error of σ/sqrt(n) = 0.1 % of σ. The bounds below (1 % on the std, 0.5 % of σ on
# the mean) are 10+ and 5 standard errors wide, so they do not fail by chance, yet each is far
# tighter than the mistakes they are there to catch: a wrong fan is off by a factor of 2 or
# more, a forgotten truncation correction by 12 %.
DENSE = (1000, 1000)
CONV = (128, 64, 11, 11)  # 991,232 draws; fan_in = 64·121 = 7744, fan_out = 128·121 = 15488


def check_moments(w, std):
    assert abs(float(w.mean())) < 0.005 * std
    assert float(w.std()) == pytest.approx(std, rel=0.01)


# -- fans --------------------------------------------------------------------------------------


def test_fans_dense_and_conv():
    assert I.fans((784, 128)) == (784, 128)
    assert I.fans((32, 1, 3, 3)) == (1 * 3 * 3, 32 * 3 * 3)
    assert I.fans((64, 32, 5, 3)) == (32 * 15, 64 * 15)
    assert I.fans([10, 3]) == (10, 3)


@pytest.mark.parametrize("shape", [(10,), (3, 4, 5), (1, 2, 3, 4, 5), ()])
def test_fans_other_ranks_raise(shape):
    with pytest.raises(ValueError, match=r"\(D_in, D_out\).*\(F, C, KH, KW\)"):
        I.fans(shape)


# -- the distributions -------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [DENSE, CONV], ids=["dense", "conv"])
def test_glorot_uniform(shape):
    fan_in, fan_out = I.fans(shape)
    limit = math.sqrt(6 / (fan_in + fan_out))
    w = I.glorot_uniform(shape, np.random.default_rng(0), np.float64)
    assert w.shape == shape
    assert np.max(np.abs(w)) <= limit
    assert np.max(w) > 0.999 * limit and np.min(w) < -0.999 * limit  # fills the whole range
    check_moments(w, limit / math.sqrt(3))  # = sqrt(2 / (fan_in + fan_out))


@pytest.mark.parametrize("shape", [DENSE, CONV], ids=["dense", "conv"])
def test_he_uniform(shape):
    fan_in, _ = I.fans(shape)
    limit = math.sqrt(6 / fan_in)
    w = I.he_uniform(shape, np.random.default_rng(1), np.float64)
    assert np.max(np.abs(w)) <= limit
    assert np.max(w) > 0.999 * limit and np.min(w) < -0.999 * limit
    check_moments(w, math.sqrt(2 / fan_in))


@pytest.mark.parametrize("shape", [DENSE, CONV], ids=["dense", "conv"])
@pytest.mark.parametrize(("init", "target"), [
    (I.glorot_normal, lambda fan_in, fan_out: math.sqrt(2 / (fan_in + fan_out))),
    (I.he_normal, lambda fan_in, fan_out: math.sqrt(2 / fan_in)),
], ids=["glorot_normal", "he_normal"])  # fmt: skip
def test_truncated_normals(init, target, shape):
    std = target(*I.fans(shape))
    sigma = std / 0.87962566103423978  # the normal before truncation
    w = init(shape, np.random.default_rng(2), np.float64)
    assert w.shape == shape
    # Truncated at 2σ, and the cut is where it should be: draws come right up to it.
    assert np.max(np.abs(w)) <= 2 * sigma
    assert np.max(np.abs(w)) > 0.99 * 2 * sigma
    # After truncation the std is the target one (Glorot's or He's), not σ.
    check_moments(w, std)
    # The shape of a truncated normal: P(|z| < 1σ) / P(|z| < 2σ) = 0.682689 / 0.954500
    # = 0.715232 (an untruncated normal would give 0.682689). Standard error 0.00045.
    inside_one_sigma = float(np.mean(np.abs(w) < sigma))
    assert inside_one_sigma == pytest.approx(0.715232, abs=0.003)


def test_float32_truncation_bound_holds_after_rounding():
    w = I.he_normal((1000, 1000), np.random.default_rng(3), np.float32)
    sigma = math.sqrt(2 / 1000) / 0.87962566103423978
    # Rounding to float32 may move a value by half an ulp (relative 6e-8), no more.
    assert np.max(np.abs(w.astype(np.float64))) <= 2 * sigma * (1 + 1e-7)


def test_zeros_and_ones():
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(I.zeros((3, 2), rng), np.zeros((3, 2)))
    np.testing.assert_array_equal(I.ones((4,), rng, np.float64), np.ones(4))
    assert I.zeros((5,), rng).dtype == np.float32
    # They work for any shape, biases included (fans() is not involved).
    assert I.zeros((7,), rng).shape == (7,)


# -- reproducibility and dtypes ----------------------------------------------------------------

RANDOM = [I.glorot_uniform, I.glorot_normal, I.he_normal, I.he_uniform]
RANDOM_IDS = ["glorot_uniform", "glorot_normal", "he_normal", "he_uniform"]


@pytest.mark.parametrize("init", RANDOM, ids=RANDOM_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_seed_same_bits_different_seed_different_values(init, dtype):
    shape = (16, 3, 5, 5)
    a = init(shape, np.random.default_rng(42), dtype)
    b = init(shape, np.random.default_rng(42), dtype)
    c = init(shape, np.random.default_rng(43), dtype)
    assert a.dtype == dtype and a.shape == shape
    assert a.tobytes() == b.tobytes()
    assert not np.any(a == c)  # continuous draws: no entry should coincide


@pytest.mark.parametrize("init", RANDOM, ids=RANDOM_IDS)
def test_float32_is_the_float64_draw_rounded(init):
    # Both dtypes draw the same float64 numbers: a float32 model and a float64 model built
    # from one seed start from the same weights, up to rounding.
    w64 = init((20, 30), np.random.default_rng(5), np.float64)
    w32 = init((20, 30), np.random.default_rng(5), np.float32)
    np.testing.assert_array_equal(w32, w64.astype(np.float32))


@pytest.mark.parametrize("init", RANDOM, ids=RANDOM_IDS)
def test_draws_only_from_the_generator_given(init):
    # Reading NumPy's legacy global state is the point here: it must not have moved.
    rng = np.random.default_rng(9)
    global_before = np.random.get_state()[1].copy()  # noqa: NPY002
    init((8, 8), rng)
    np.testing.assert_array_equal(np.random.get_state()[1], global_before)  # noqa: NPY002
    # ... and it did draw from rng: the generator has moved on.
    assert not np.array_equal(init((8, 8), np.random.default_rng(9)), init((8, 8), rng))


@pytest.mark.parametrize("init", [*RANDOM, I.zeros, I.ones])
def test_dtype_given_as_string_and_bad_dtype(init):
    assert init((4, 4), np.random.default_rng(0), "float64").dtype == np.float64
    assert init((4, 4), np.random.default_rng(0), np.dtype("float32")).dtype == np.float32
    with pytest.raises(ValueError, match="floating-point dtype.*int32"):
        init((4, 4), np.random.default_rng(0), np.int32)


# -- get ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "fn"), [
    ("glorot_uniform", I.glorot_uniform), ("GlorotUniform", I.glorot_uniform),
    ("glorot_normal", I.glorot_normal), ("he_normal", I.he_normal), ("HeNormal", I.he_normal),
    ("he_uniform", I.he_uniform), ("zeros", I.zeros), ("Zeros", I.zeros), ("ones", I.ones),
])  # fmt: skip
def test_get_by_name(name, fn):
    assert I.get(name) is fn


def test_get_passes_callables_through():
    def custom(shape, rng, dtype=np.float32):
        return np.full(shape, 0.5, dtype=dtype)

    assert I.get(custom) is custom


def test_get_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="'xavier'") as err:
        I.get("xavier")
    for name in ["glorot_uniform", "glorot_normal", "he_normal", "he_uniform", "zeros", "ones"]:
        assert name in str(err.value)
    with pytest.raises(ValueError, match="a name or a callable"):
        I.get(None)
