"""Dense, tuned: one pass over the weights for a few rows, shared between the cores.

Off the reading path, in the annex :mod:`convnet.tuned`. Docs chapter: "Speed".

For one image (the drawing app) the dense layer's product is a vector times a 1.2 M-weight
matrix: nothing but a pass over the weights, which a matrix-product library is not built
for. Here each core streams through its own contiguous block of the weights' rows.
"""

from __future__ import annotations

import numpy as np

from convnet.jit import kernel, prange
from convnet.tuned import autotune, blas
from convnet.tuned.gemm import matmul_nn, matmul_nt

__all__ = ["SMALL_BATCH", "add_row_product", "few_rows", "matmul", "MATMUL_WAYS"]


#: Up to this many rows, :func:`few_rows` shares out blocks of ``w``'s rows between the
#: cores (there are too few rows of ``x`` to share), one pass over ``w`` in all.
SMALL_BATCH = 8


@kernel(inline=True)
def add_row_product(x, w, out):
    """``out += x @ w`` for one row ``x`` (D,) and ``w`` (D, D_out), row by row of ``w``.
    :mod:`convnet.tuned.bands` calls this too, with a band's share of the features and of ``w``."""
    for d in range(x.shape[0]):
        a, w_row = x[d], w[d]
        for k in range(out.shape[0]):
            out[k] += a * w_row[k]


@kernel(reassociate=True)
def _dense_few_rows_kernel(x, w, out):
    """out[n, :] = sum_d x[n, d] * w[d, :]: ``w`` (D_in, D_out) read row by row, once per row
    of ``x``. For one image (a GUI predicting as someone draws) that is one pass over ``w``,
    which is all the work there is: 1.2 M weights against one multiply-add each."""
    for n in range(x.shape[0]):
        out[n, :] = 0.0
        add_row_product(x[n], w, out[n])


#: Weights (D_in x D_out) per parallel work item when few rows are multiplied: below this, one
#: core does it all, as starting the second one would cost more than it saves.
WEIGHTS_PER_ITEM = 1 << 17


@kernel(parallel=True)
def _dense_few_rows_in_parallel(x, w, n_items, parts):
    """``parts[t] = x[:, block t] @ w[block t, :]`` for ``n_items`` blocks of ``w``'s rows; their
    sum is ``x @ w``. Each core streams through a contiguous part of ``w``.

    Each block is summed in a buffer of its own and copied into ``parts[t]`` once at the end.
    ``parts[0]`` and ``parts[1]`` lie next to each other, and unless ``parts`` happens to start
    on a 64-byte boundary the end of one and the start of the next share a cache line. Summing
    straight into them, both cores would write that line on every row of ``w``, and the line
    would bounce between their caches ("false sharing"), several times slower, depending only
    on where ``parts`` was allocated."""
    d_in = x.shape[1]
    for t in prange(n_items):
        d0, d1 = t * d_in // n_items, (t + 1) * d_in // n_items
        part = np.empty(parts.shape[1:], parts.dtype)
        _dense_few_rows_kernel(x[:, d0:d1], w[d0:d1], part)
        parts[t] = part


def few_rows(x, w):
    """``x @ w`` for ``x`` (N, D_in) of at most :data:`SMALL_BATCH` rows and ``w`` (D_in, D_out),
    both C-contiguous."""
    n_items = min(x.shape[1], -(-w.size // WEIGHTS_PER_ITEM))
    if n_items <= 1:
        out = np.empty((x.shape[0], w.shape[1]), x.dtype)
        _dense_few_rows_kernel(x, w, out)
        return out
    parts = np.empty((n_items, x.shape[0], w.shape[1]), x.dtype)
    # in equal shares fixed in advance (Numba's default): handing the blocks out one at a
    # time, parallel_chunksize(1), costs more than it balances here
    _dense_few_rows_in_parallel(x, w, n_items, parts)
    return parts.sum(axis=0)


# ---------------------------------------------------------------------------------------------
# A batch: the dense layer's three products, each the way measured fastest for its shapes.
# ---------------------------------------------------------------------------------------------


def _register_tiled(a, b):
    # gemm_nn wants b's rows contiguous; a transposed b (the kernel, w.T) is gemm_nt's case
    return matmul_nt(a, b.T) if b.flags.f_contiguous and not b.flags.c_contiguous else \
        matmul_nn(a, b)  # fmt: skip


def _numpy_one_thread(a, b):
    with blas.one_thread():
        return a @ b


#: Ways to do a batch's product: the register-tiled GEMM on blocks of rows
#: (:mod:`convnet.tuned.gemm`), BLAS on each core's block of rows (:mod:`convnet.tuned.blas`),
#: and NumPy's ``@`` on one thread, for the small products that are not worth sharing out.
#: NumPy's ``@`` on all cores is not one of them: its BLAS threads keep spinning for up to a
#: tenth of a second after each product, and every Numba kernel that runs in that time (the
#: rest of the step) shares the cores with them. Timed on its own, with a few milliseconds of
#: such work after it, that way could look fastest and then slow a training step by a
#: quarter, as it did on a Zen 3 EPYC.
MATMUL_WAYS = {"register-tiled GEMM": _register_tiled, "BLAS per core": blas.matmul,
               "NumPy's BLAS, one thread": _numpy_one_thread}  # fmt: skip


def matmul(a, b, way=None):
    """``a @ b`` for a batch, ``a`` (N, D) and ``b`` (D, M) in any layout (a transposed view is
    read as it lies), the way :func:`convnet.tuned.autotune.choose` measured fastest for these
    shapes on this machine (or ``way``, a key of :data:`MATMUL_WAYS`)."""
    if way is None:
        ways = MATMUL_WAYS if blas.available() else \
            {k: v for k, v in MATMUL_WAYS.items() if k != "BLAS per core"}  # fmt: skip
        key = (a.shape, b.shape, a.flags.c_contiguous, b.flags.c_contiguous, a.dtype.name)
        way = autotune.choose("dense_matmul", key, ways, lambda f: f(a, b))
    return MATMUL_WAYS[way](a, b)
