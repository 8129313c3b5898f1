"""Matrix multiplication the way BLAS does it, small enough to read: a 4x4 register tile.

Off the reading path, in the annex :mod:`convnet.tuned`. Docs chapters: "Numba" (the kernels)
and "Speed".

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
in one 256-bit) register, added together at the end. How close that comes to the machine's
BLAS library depends on the machine: ``benchmarks/bench_ops.py`` measures both.

The kernel computes ``c = a @ bt.T`` (hence "nt": the second operand is transposed), so that
both operands are read along rows. The convolution's kernel gradient is such a product:
``dw = dout @ cols.T``, summed over the 576 positions of an image.

Its weak point is the end of each tile: the 16 SIMD registers must each be added up across
their lanes, a dozen instructions apiece. When the summed dimension ``K`` is short (64 in the
input gradient of a 64-filter convolution) that costs as much as the products. The second
kernel, :func:`gemm_nn` (``c = a @ b``, neither operand transposed), has no such step: it
takes a 4x4 block of ``a`` as 16 numbers and runs along whole rows of ``b`` and ``c``, so
the SIMD lanes are 16 *different* entries of a row of ``c`` and nothing needs adding across
them. It reads and writes ``c`` once per 4 values of ``k``, which the cache absorbs. The
convolution's forward pass and input gradient and the dense layer's products use it: see
:mod:`convnet.tuned.conv` and :mod:`convnet.tuned.steps`. For the seed-net's shapes it runs
faster than ``gemm_nt`` (the "Speed" chapter has the figures, with the CPU they came from).
"""

from __future__ import annotations

import numpy as np

from convnet.jit import kernel, parallel_chunksize, prange

__all__ = ["matmul_nt", "matmul_nn"]

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


@kernel(reassociate=True)
def gemm_nn(a, b, c, accumulate):
    """``c = a @ b`` (or ``c += a @ b``), vectorised along the rows of ``b`` and ``c``.

    a : (M, K), any strides; b : (K, N) and c : (M, N), C-contiguous; all of one dtype.
    """
    m_size, k_size = a.shape
    n_size = b.shape[1]
    if not accumulate:
        c[:, :] = 0.0
    m4, k4 = m_size - m_size % 4, k_size - k_size % 4
    for i in range(0, m4, 4):
        c0, c1, c2, c3 = c[i], c[i + 1], c[i + 2], c[i + 3]
        for k in range(0, k4, 4):
            # the 4x4 block a[i:i+4, k:k+4], held in registers for a whole pass along j
            a00, a01, a02, a03 = a[i, k], a[i, k + 1], a[i, k + 2], a[i, k + 3]
            a10, a11, a12, a13 = a[i + 1, k], a[i + 1, k + 1], a[i + 1, k + 2], a[i + 1, k + 3]
            a20, a21, a22, a23 = a[i + 2, k], a[i + 2, k + 1], a[i + 2, k + 2], a[i + 2, k + 3]
            a30, a31, a32, a33 = a[i + 3, k], a[i + 3, k + 1], a[i + 3, k + 2], a[i + 3, k + 3]
            b0, b1, b2, b3 = b[k], b[k + 1], b[k + 2], b[k + 3]
            for j in range(n_size):  # one SIMD register holds 8 or 16 consecutive j
                x0, x1, x2, x3 = b0[j], b1[j], b2[j], b3[j]
                c0[j] += a00 * x0 + a01 * x1 + a02 * x2 + a03 * x3
                c1[j] += a10 * x0 + a11 * x1 + a12 * x2 + a13 * x3
                c2[j] += a20 * x0 + a21 * x1 + a22 * x2 + a23 * x3
                c3[j] += a30 * x0 + a31 * x1 + a32 * x2 + a33 * x3
    # What the 4x4 blocks leave: the last k of the tiled rows, and every k of the rows below
    # them, one row of b at a time.
    for i in range(m_size):
        c_i = c[i]
        for k in range(k4 if i < m4 else 0, k_size):
            a_ik, b_k = a[i, k], b[k]
            for j in range(n_size):
                c_i[j] += a_ik * b_k[j]


@kernel(parallel=True)
def _rows_in_parallel(a, b, c, accumulate, b_transposed):
    """:func:`gemm_nt` (``b_transposed``) or :func:`gemm_nn` on blocks of ``ROWS_PER_ITEM``
    rows of ``a`` and ``c``, one block per work item."""
    m_size = a.shape[0]
    for block in prange((m_size + ROWS_PER_ITEM - 1) // ROWS_PER_ITEM):
        i0 = block * ROWS_PER_ITEM
        i1 = min(i0 + ROWS_PER_ITEM, m_size)
        if b_transposed:
            gemm_nt(a[i0:i1], b, c[i0:i1], accumulate)
        else:
            gemm_nn(a[i0:i1], b, c[i0:i1], accumulate)


def _matmul(name, a, b, out, accumulate, b_transposed):
    """Check the factors, make ``out`` if needed and run the kernel over the cores."""
    # gemm_nt reads rows of ``a`` as vectors; gemm_nn reads it one number at a time, so a
    # transposed view (x.T, say) serves as well as a copy and saves making one.
    a = np.ascontiguousarray(a) if b_transposed else np.asarray(a)
    b = np.ascontiguousarray(b)
    k_of_b = 1 if b_transposed else 0
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[k_of_b] or a.dtype != b.dtype:
        want = "bt (N, K)" if b_transposed else "b (K, N)"
        raise ValueError(f"{name}: need a (M, K) and {want} of one dtype, got "
                         f"{a.shape} {a.dtype} and {b.shape} {b.dtype}")  # fmt: skip
    if out is None:
        out = np.empty((a.shape[0], b.shape[1 - k_of_b]), a.dtype)
    with parallel_chunksize(1):
        _rows_in_parallel(a, b, out, accumulate, b_transposed)
    return out


def matmul_nt(a, bt, out=None, *, accumulate=False):
    """``a @ bt.T`` with :func:`gemm_nt`, blocks of rows spread over the cores.

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
    return _matmul("matmul_nt", a, bt, out, accumulate, True)


def matmul_nn(a, b, out=None, *, accumulate=False):
    """``a @ b`` with :func:`gemm_nn`, blocks of rows spread over the cores.

    Takes ``out`` and ``accumulate`` as :func:`matmul_nt` does; ``b`` is the second factor as
    it is, ``(K, N)``, and ``a`` ``(M, K)`` may have any memory layout (a transposed view is
    read as it lies, without a copy). Returns ``out`` ``(M, N)``.

    Examples
    --------
    >>> x = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> matmul_nn(x.T, np.eye(2))          # x.T @ I, x.T not copied
    array([[1., 3.],
           [2., 4.]])
    """
    return _matmul("matmul_nn", a, b, out, accumulate, False)
