"""The register-tiled matrix multiply (convnet/gemm.py).

* A product small enough to check by hand.
* ``matmul_nt(a, bt) == a @ bt.T`` over hypothesis-drawn sizes, including every size that
  leaves rows or columns outside the 4x4 tiles, in float64 and float32, with and without
  ``accumulate``.
* Bad input is refused with the shapes in the message.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from convnet.gemm import matmul_nt
from convnet.gradcheck import rel_error

# float64 sums of at most a few hundred terms, reordered: rounding differences only.
EXACT = 1e-12
# float32: the kernel adds in a different order from OpenBLAS; both round at ~6e-8 per step.
FLOAT32 = 1e-5


def test_matmul_nt_by_hand():
    a = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])  # (3, 2)
    bt = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # (3, 2): columns e1, e2, e1+e2
    expected = [[1.0, 2.0, 3.0], [3.0, 4.0, 7.0], [5.0, 6.0, 11.0]]
    np.testing.assert_array_equal(matmul_nt(a, bt), expected)


@given(
    m=st.integers(1, 13), n=st.integers(1, 13), k=st.integers(1, 40),
    dtype=st.sampled_from([np.float64, np.float32]), seed=st.integers(0, 2**32 - 1),
)  # fmt: skip
def test_matmul_nt_equals_numpy_at_every_edge(m, n, k, dtype, seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(m, k)).astype(dtype)
    bt = rng.normal(size=(n, k)).astype(dtype)
    tol = EXACT if dtype == np.float64 else FLOAT32
    out = matmul_nt(a, bt)
    assert out.dtype == dtype and out.shape == (m, n)
    assert rel_error(out, a.astype(np.float64) @ bt.T.astype(np.float64)) <= tol
    start = rng.normal(size=(m, n)).astype(dtype)
    summed = matmul_nt(a, bt, start.copy(), accumulate=True)
    assert rel_error(summed, start + a.astype(np.float64) @ bt.T.astype(np.float64)) <= tol


def test_matmul_nt_on_the_seed_nets_shapes():
    rng = np.random.default_rng(0)
    for m, n, k in [(64, 576, 288), (64, 288, 576), (288, 576, 64), (32, 676, 9)]:
        a = rng.normal(size=(m, k)).astype(np.float32)
        bt = rng.normal(size=(n, k)).astype(np.float32)
        assert rel_error(matmul_nt(a, bt), a @ bt.T) <= FLOAT32


@pytest.mark.parametrize("a_shape, bt_shape, dtypes", [
    ((2, 3), (4, 2), (np.float64, np.float64)),   # K differs
    ((2, 3), (4, 3), (np.float64, np.float32)),   # dtypes differ
    ((2, 3, 1), (4, 3), (np.float64, np.float64)),  # not a matrix
])  # fmt: skip
def test_matmul_nt_rejects_bad_input_naming_the_shapes(a_shape, bt_shape, dtypes):
    a, bt = np.ones(a_shape, dtypes[0]), np.ones(bt_shape, dtypes[1])
    with pytest.raises(ValueError, match=r"matmul_nt.*\(") as err:
        matmul_nt(a, bt)
    assert str(a_shape) in str(err.value) and str(bt_shape) in str(err.value)
