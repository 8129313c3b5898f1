"""The register-tiled matrix multiply (convnet/tuned/gemm.py).

* A product small enough to check by hand.
* ``matmul_nt(a, bt) == a @ bt.T`` and ``matmul_nn(a, b) == a @ b`` over hypothesis-drawn
  sizes, including every size that leaves rows, columns or summed entries outside the 4x4
  tiles, in float64 and float32, with and without ``accumulate``, ``a`` also transposed.
* Bad input is refused with the shapes in the message.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from convnet.gradcheck import rel_error
from convnet.jit import JIT_ENABLED
from convnet.tuned.gemm import matmul_nn, matmul_nt

# float32 on the seed-net's shapes: sums of up to 9216 products, in the kernel's order and
# NumPy's, each rounding at ~6e-8 per step; a wrong index gives errors of order 1.
FLOAT32 = 1e-5


def _within_rounding(out, exact, abs_terms, n_terms):
    """Each entry of ``out`` is a sum of ``n_terms`` terms whose absolute values add up to
    ``abs_terms``; added in any order in a dtype with unit roundoff u, it errs by at most
    n_terms * u * abs_terms (the classic bound). That holds even where the terms cancel and
    the relative error of the result means nothing."""
    u = np.finfo(out.dtype).eps / 2
    return bool(np.all(np.abs(out - exact) <= n_terms * u * abs_terms))


def _product(kind, a, b, out=None, accumulate=False):
    """``a @ b`` by the kernel named ``kind``, each given its second factor as it wants it."""
    if kind == "nt":
        return matmul_nt(a, np.ascontiguousarray(b.T), out, accumulate=accumulate)
    return matmul_nn(a, b, out, accumulate=accumulate)


KINDS = pytest.mark.parametrize("kind", ["nt", "nn"])


@KINDS
def test_matmul_by_hand(kind):
    a = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])  # (3, 2)
    b = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])  # (2, 3): columns e1, e2, e1+e2
    expected = [[1.0, 2.0, 3.0], [3.0, 4.0, 7.0], [5.0, 6.0, 11.0]]
    np.testing.assert_array_equal(_product(kind, a, b), expected)


@KINDS
@given(
    m=st.integers(1, 13), n=st.integers(1, 13), k=st.integers(1, 40),
    dtype=st.sampled_from([np.float64, np.float32]), a_transposed=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)  # fmt: skip
def test_matmul_equals_numpy_at_every_edge(kind, m, n, k, dtype, a_transposed, seed):
    # every m, n, k around the 4x4 tiles; ``a`` also as a transposed view (matmul_nn reads it
    # as it lies, matmul_nt copies it)
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(k, m)).astype(dtype).T if a_transposed else rng.normal(size=(m, k))
    a = a.astype(dtype, copy=False)
    b = rng.normal(size=(k, n)).astype(dtype)
    exact = a.astype(np.float64) @ b.astype(np.float64)
    abs_terms = np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64)
    out = _product(kind, a, b)
    assert out.dtype == dtype and out.shape == (m, n)
    assert _within_rounding(out, exact, abs_terms, k)
    start = rng.normal(size=(m, n)).astype(dtype)
    summed = _product(kind, a, b, start.copy(), accumulate=True)
    assert _within_rounding(summed, start + exact, abs_terms + np.abs(start), k + 1)


@KINDS
@pytest.mark.skipif(not JIT_ENABLED, reason="big products; as plain Python they take minutes")
def test_matmul_on_the_seed_nets_shapes(kind):
    rng = np.random.default_rng(0)
    for m, n, k in [(64, 576, 288), (64, 288, 576), (288, 576, 64), (32, 676, 9),
                    (128, 128, 9216), (9216, 128, 128)]:  # fmt: skip
        a = rng.normal(size=(m, k)).astype(np.float32)
        b = rng.normal(size=(k, n)).astype(np.float32)
        assert rel_error(_product(kind, a, b), a @ b) <= FLOAT32


@pytest.mark.parametrize("a_shape, bt_shape, dtypes", [
    ((2, 3), (4, 2), (np.float64, np.float64)),   # K differs
    ((2, 3), (4, 3), (np.float64, np.float32)),   # dtypes differ
    ((2, 3, 1), (4, 3), (np.float64, np.float64)),  # not a matrix
])  # fmt: skip
def test_matmul_rejects_bad_input_naming_the_shapes(a_shape, bt_shape, dtypes):
    a, bt = np.ones(a_shape, dtypes[0]), np.ones(bt_shape, dtypes[1])
    with pytest.raises(ValueError, match=r"matmul_nt.*\(") as err:
        matmul_nt(a, bt)
    assert str(a_shape) in str(err.value) and str(bt_shape) in str(err.value)
    b = np.ones(bt_shape[::-1], dtypes[1])
    with pytest.raises(ValueError, match=r"matmul_nn.*\(") as err:
        matmul_nn(a, b)
    assert str(a_shape) in str(err.value) and str(b.shape) in str(err.value)
