"""Matrix multiplication the way BLAS does it, small enough to read: a 4x4 register tile.

Reading order: shapes → gradcheck → jit → **4. gemm** → im2col → ops → ... Docs chapters:
"Numba" (the kernels) and "Speed".

Almost all of a CNN's arithmetic is matrix products (:mod:`convnet.im2col` explains why). The
textbook triple loop ::

    for i in range(M):
        for j in range(N):
            c[i, j] = sum(a[i, k] * bt[j, k] for k in range(K))

does 2*M*N*K floating-point operations but loads two numbers from memory for every
multiply-add, and memory is far slower than arithmetic. The fix is *register blocking*: work
out a 4x4 block of ``c`` at once. Per step of ``k`` that loads 4 numbers of ``a`` and 4 of
``bt`` and does 16 multiply-adds with them, four times the arithmetic per load. The 16 running
sums live in CPU registers, never in memory.

Both operands are read along ``k``, the summed index, so each inner loop walks two rows of
contiguous memory. That lets the compiler use SIMD: with ``reassociate=True`` (see
:func:`convnet.jit.kernel`) each of the 16 sums becomes 16 partial sums in one 512-bit (or 8
in one 256-bit) register, added together at the end. On this package's benchmark machine the
kernel runs as fast as OpenBLAS does on one core for the shapes a CNN has.

The kernel computes ``c = a @ bt.T`` (hence "nt": the second operand is transposed), so that
both operands are read along rows. Callers arrange their data so: see
:func:`convnet.ops.conv.conv2d_forward`.
"""

from __future__ import annotations

import numpy as np

from convnet.jit import kernel, parallel_chunksize, prange

__all__ = ["matmul_nt"]

#: Rows of the product per parallel work item in :func:`matmul_nt`.
ROWS_PER_ITEM = 16


@kernel(reassociate=True)
def gemm_nt(a, bt, c, accumulate):
    """``c = a @ bt.T`` (or ``c += a @ bt.T``), 4x4 tiles of ``c`` at a time.

    a : (M, K), bt : (N, K), c : (M, N), all C-contiguous and of one dtype.
    """
    m_size, k_size = a.shape
    n_size = bt.shape[0]
    zero = np.zeros(1, c.dtype)[0]  # 0 in the arrays' own dtype, so float32 sums stay float32
    m4, n4 = m_size - m_size % 4, n_size - n_size % 4
    for i in range(0, m4, 4):
        for j in range(0, n4, 4):
            # the 16 running sums of the tile c[i:i+4, j:j+4]
            s00 = s01 = s02 = s03 = zero
            s10 = s11 = s12 = s13 = zero
            s20 = s21 = s22 = s23 = zero
            s30 = s31 = s32 = s33 = zero
            for k in range(k_size):
                a0, a1, a2, a3 = a[i, k], a[i + 1, k], a[i + 2, k], a[i + 3, k]
                b0, b1, b2, b3 = bt[j, k], bt[j + 1, k], bt[j + 2, k], bt[j + 3, k]
                s00 += a0 * b0
                s01 += a0 * b1
                s02 += a0 * b2
                s03 += a0 * b3
                s10 += a1 * b0
                s11 += a1 * b1
                s12 += a1 * b2
                s13 += a1 * b3
                s20 += a2 * b0
                s21 += a2 * b1
                s22 += a2 * b2
                s23 += a2 * b3
                s30 += a3 * b0
                s31 += a3 * b1
                s32 += a3 * b2
                s33 += a3 * b3
            if accumulate:
                s00 += c[i, j]
                s01 += c[i, j + 1]
                s02 += c[i, j + 2]
                s03 += c[i, j + 3]
                s10 += c[i + 1, j]
                s11 += c[i + 1, j + 1]
                s12 += c[i + 1, j + 2]
                s13 += c[i + 1, j + 3]
                s20 += c[i + 2, j]
                s21 += c[i + 2, j + 1]
                s22 += c[i + 2, j + 2]
                s23 += c[i + 2, j + 3]
                s30 += c[i + 3, j]
                s31 += c[i + 3, j + 1]
                s32 += c[i + 3, j + 2]
                s33 += c[i + 3, j + 3]
            c[i, j], c[i, j + 1], c[i, j + 2], c[i, j + 3] = s00, s01, s02, s03
            c[i + 1, j], c[i + 1, j + 1], c[i + 1, j + 2], c[i + 1, j + 3] = s10, s11, s12, s13
            c[i + 2, j], c[i + 2, j + 1], c[i + 2, j + 2], c[i + 2, j + 3] = s20, s21, s22, s23
            c[i + 3, j], c[i + 3, j + 1], c[i + 3, j + 2], c[i + 3, j + 3] = s30, s31, s32, s33
    # The edges that don't fill a 4x4 tile: the rows below the last tile and the columns to
    # its right, one plain dot product per entry.
    for i in range(m_size):
        for j in range(n4 if i < m4 else 0, n_size):
            s = zero
            for k in range(k_size):
                s += a[i, k] * bt[j, k]
            c[i, j] = c[i, j] + s if accumulate else s


@kernel(parallel=True)
def _gemm_nt_rows_in_parallel(a, bt, c, accumulate):
    """:func:`gemm_nt` on blocks of ``ROWS_PER_ITEM`` rows of ``a`` and ``c``, one per thread."""
    m_size = a.shape[0]
    for block in prange((m_size + ROWS_PER_ITEM - 1) // ROWS_PER_ITEM):
        i0 = block * ROWS_PER_ITEM
        i1 = min(i0 + ROWS_PER_ITEM, m_size)
        gemm_nt(a[i0:i1], bt, c[i0:i1], accumulate)


def matmul_nt(a, bt, out=None, *, accumulate=False):
    """``a @ bt.T`` with the register-tiled kernel, blocks of rows spread over the cores.

    Parameters
    ----------
    a : ndarray, shape (M, K)
    bt : ndarray, shape (N, K)
        The second factor, stored transposed (each row is one column of the product's
        right-hand factor).
    out : ndarray, shape (M, N), optional
        Written in place (or added to, with ``accumulate=True``).

    Returns
    -------
    out : ndarray, shape (M, N)

    Examples
    --------
    >>> a = np.arange(6.0).reshape(2, 3)
    >>> matmul_nt(a, a)                    # a @ a.T
    array([[ 5., 14.],
           [14., 50.]])
    """
    a, bt = np.ascontiguousarray(a), np.ascontiguousarray(bt)
    if a.ndim != 2 or bt.ndim != 2 or a.shape[1] != bt.shape[1] or a.dtype != bt.dtype:
        raise ValueError(f"matmul_nt: need a (M, K) and bt (N, K) of one dtype, got "
                         f"{a.shape} {a.dtype} and {bt.shape} {bt.dtype}")  # fmt: skip
    if out is None:
        out = np.zeros((a.shape[0], bt.shape[0]), a.dtype)
    with parallel_chunksize(1):
        _gemm_nt_rows_in_parallel(a, bt, out, accumulate)
    return out
