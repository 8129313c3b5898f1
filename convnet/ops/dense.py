"""Dense (fully connected) layer and Flatten, forward and backward.

Reading order: ... → pool → **6. ops: dense** → activations → ... Docs chapter: "Dense".

Dense (eq. dense-fwd / dense-bwd), for a batch ``x`` of shape (N, D_in)::

    out[n, k] = b[k] + sum_d x[n, d] * w[d, k]        (out = x @ w + b)
    dx[n, d]  = sum_k dout[n, k] * w[d, k]             (dx = dout @ w.T)
    dw[d, k]  = sum_n x[n, d] * dout[n, k]             (dw = x.T @ dout)
    db[k]     = sum_n dout[n, k]

Flatten lays each image's (C, H, W) values out in one row, channel-major: entry
``c*H*W + h*W + w``. (Keras, being channels-last, flattens in (H, W, C) order instead; the
file I/O converts between the two, here nothing does.)
"""

from __future__ import annotations

import numpy as np

from convnet.gemm import matmul_nn, matmul_nt
from convnet.jit import kernel, prange

__all__ = [
    "dense_forward",
    "dense_backward",
    "dense_forward_naive",
    "dense_backward_naive",
    "flatten_forward",
    "flatten_backward",
    "flatten_forward_naive",
    "flatten_backward_naive",
]


def _check(x, w, b):
    if x.ndim != 2:
        raise ValueError(f"dense: expected x of shape (N, D_in), got {x.shape}")
    if w.ndim != 2 or x.shape[1] != w.shape[0]:
        raise ValueError(
            f"dense: input has {x.shape[1]} features but the kernel of shape {w.shape} "
            f"expects {w.shape[0] if w.ndim == 2 else '?'} (x {x.shape})"
        )
    if b is not None and b.shape != (w.shape[1],):
        raise ValueError(f"dense: bias must have shape ({w.shape[1]},), got {b.shape}")


def dense_forward_naive(x, w, b):
    """``out = x @ w + b`` as three nested loops.

    Parameters
    ----------
    x : ndarray, shape (N, D_in)
    w : ndarray, shape (D_in, D_out)
    b : ndarray, shape (D_out,), or None

    Returns
    -------
    out : ndarray, shape (N, D_out)
    cache : tuple ``(x, w, b)``

    Examples
    --------
    >>> dense_forward_naive(np.array([[1., 2.]]), np.array([[1., 0., 1.], [0., 1., 1.]]),
    ...                     np.array([0., 0., 10.]))[0]
    array([[ 1.,  2., 13.]])
    """
    _check(x, w, b)
    n_img, d_in = x.shape
    d_out = w.shape[1]
    out = np.zeros((n_img, d_out), dtype=x.dtype)
    for n in range(n_img):
        for k in range(d_out):
            total = b[k] if b is not None else 0.0
            for d in range(d_in):
                total += x[n, d] * w[d, k]
            out[n, k] = total
    return out, (x, w, b)


def dense_backward_naive(dout, cache):
    """Gradients of the dense layer as loops.

    Parameters
    ----------
    dout : ndarray, shape (N, D_out)
    cache : from :func:`dense_forward_naive`

    Returns
    -------
    dx : ndarray, shape (N, D_in)
    dw : ndarray, shape (D_in, D_out)
    db : ndarray, shape (D_out,), or None

    Examples
    --------
    >>> out, cache = dense_forward_naive(np.array([[1., 2.]]), np.ones((2, 3)), np.zeros(3))
    >>> dx, dw, db = dense_backward_naive(np.array([[1., 0., 0.]]), cache)
    >>> dx, dw[:, 0], db
    (array([[1., 1.]]), array([1., 2.]), array([1., 0., 0.]))
    """
    x, w, b = cache
    n_img, d_in = x.shape
    d_out = w.shape[1]
    dx, dw = np.zeros_like(x), np.zeros_like(w)
    for n in range(n_img):
        for d in range(d_in):
            for k in range(d_out):
                dx[n, d] += dout[n, k] * w[d, k]
                dw[d, k] += x[n, d] * dout[n, k]
    db = None
    if b is not None:
        db = np.zeros_like(b)
        for n in range(n_img):
            for k in range(d_out):
                db[k] += dout[n, k]
    return dx, dw, db


#: Up to this many rows, ``dense_forward`` shares out blocks of ``w``'s rows between the
#: cores (there are too few rows of ``x`` to share), one pass over ``w`` in all.
SMALL_BATCH = 8


@kernel(inline=True)
def add_row_product(x, w, out):
    """``out += x @ w`` for one row ``x`` (D,) and ``w`` (D, D_out), row by row of ``w``.
    :mod:`convnet.bands` calls this too, with a band's share of the features and of ``w``."""
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
    would bounce between their caches ("false sharing"): for one image through the seed-net's
    first dense layer that took 105-200 us instead of 37, depending only on where ``parts``
    was allocated."""
    d_in = x.shape[1]
    for t in prange(n_items):
        d0, d1 = t * d_in // n_items, (t + 1) * d_in // n_items
        part = np.empty(parts.shape[1:], parts.dtype)
        _dense_few_rows_kernel(x[:, d0:d1], w[d0:d1], part)
        parts[t] = part


def dense_forward(x, w, b):
    """``out = x @ w + b`` with the GEMM kernel. Same contract as :func:`dense_forward_naive`.

    :func:`convnet.gemm.matmul_nn` takes ``x`` (N, D_in) and ``w`` (D_in, D_out) as they are.
    (NumPy's ``x @ w`` would do as well; the kernel is used so that all of training runs on
    Numba's threads and no BLAS threads compete with them for the cores.) Batches of at most
    ``SMALL_BATCH`` rows have too few rows to share out, so blocks of ``w``'s rows are shared
    out instead.

    Examples
    --------
    >>> dense_forward(np.array([[1., 2.]]), np.array([[1., 0., 1.], [0., 1., 1.]]),
    ...               np.array([0., 0., 10.]))[0]
    array([[ 1.,  2., 13.]])
    """
    _check(x, w, b)
    x = np.ascontiguousarray(x)
    if x.shape[0] <= SMALL_BATCH:
        w = np.ascontiguousarray(w)
        n_items = min(x.shape[1], -(-w.size // WEIGHTS_PER_ITEM))
        if n_items <= 1:
            out = np.empty((x.shape[0], w.shape[1]), x.dtype)
            _dense_few_rows_kernel(x, w, out)
        else:
            parts = np.empty((n_items, x.shape[0], w.shape[1]), x.dtype)
            # in equal shares fixed in advance (Numba's default): handing the blocks out one
            # at a time, parallel_chunksize(1), took 5 us more here, a tenth of the product
            _dense_few_rows_in_parallel(x, w, n_items, parts)
            out = parts.sum(axis=0)
    else:
        out = matmul_nn(x, w)
    if b is not None:
        out += b
    return out, (x, w, b)


def dense_backward(dout, cache):
    """``dx = dout @ w.T``, ``dw = x.T @ dout``, ``db = sum_n dout``, with the GEMM kernel.

    ``dx`` sums over ``k``, along which ``dout`` and ``w`` already lie, so it goes to
    :func:`convnet.gemm.matmul_nt`. ``dw`` sums over the batch ``n``; :func:`convnet.gemm.matmul_nn`
    takes ``x.T`` as a view and ``dout`` as it is, where ``matmul_nt`` would need both
    transposed, and copying ``x`` (N, 9216) to its transpose alone takes twice as long as the
    whole product.

    Examples
    --------
    >>> out, cache = dense_forward(np.array([[1., 2.]]), np.ones((2, 3)), np.zeros(3))
    >>> dx, dw, db = dense_backward(np.array([[1., 0., 0.]]), cache)
    >>> dx, dw[:, 0], db
    (array([[1., 1.]]), array([1., 2.]), array([1., 0., 0.]))
    """
    x, w, b = cache
    dout = np.ascontiguousarray(dout, dtype=x.dtype)
    dx = matmul_nt(dout, w)
    dw = matmul_nn(x.T, dout)
    return dx, dw, (dout.sum(axis=0) if b is not None else None)


def flatten_forward_naive(x):
    """Copy each (C, H, W) image into a row, entry ``c*H*W + h*W + w``.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W) (any rank ≥ 2 for the fast version)

    Returns
    -------
    out : ndarray, shape (N, C*H*W)
    cache : the input shape

    Examples
    --------
    >>> flatten_forward_naive(np.arange(8.0).reshape(1, 2, 2, 2))[0]
    array([[0., 1., 2., 3., 4., 5., 6., 7.]])
    """
    if x.ndim != 4:
        raise ValueError(f"flatten: expected x of shape (N, C, H, W), got {x.shape}")
    n_img, n_ch, h_in, w_in = x.shape
    out = np.empty((n_img, n_ch * h_in * w_in), dtype=x.dtype)
    for n in range(n_img):
        for c in range(n_ch):
            for h in range(h_in):
                for w in range(w_in):
                    out[n, c * h_in * w_in + h * w_in + w] = x[n, c, h, w]
    return out, x.shape


def flatten_backward_naive(dout, cache):
    """Put each row's entries back where they came from.

    Examples
    --------
    >>> out, cache = flatten_forward_naive(np.zeros((1, 2, 1, 2)))
    >>> flatten_backward_naive(np.array([[1., 2., 3., 4.]]), cache)[0]
    array([[[1., 2.]],
    <BLANKLINE>
           [[3., 4.]]])
    """
    n_img, n_ch, h_in, w_in = cache
    dx = np.empty(cache, dtype=dout.dtype)
    for n in range(n_img):
        for c in range(n_ch):
            for h in range(h_in):
                for w in range(w_in):
                    dx[n, c, h, w] = dout[n, c * h_in * w_in + h * w_in + w]
    return dx


def flatten_forward(x):
    """A reshape: row-major (C-order) memory already is (c, h, w) order.

    Examples
    --------
    >>> flatten_forward(np.arange(8.0).reshape(1, 2, 2, 2))[0]
    array([[0., 1., 2., 3., 4., 5., 6., 7.]])
    """
    if x.ndim < 2:
        raise ValueError(f"flatten: expected a batch of shape (N, ...), got {x.shape}")
    return x.reshape(x.shape[0], -1), x.shape


def flatten_backward(dout, cache):
    """The inverse reshape.

    Examples
    --------
    >>> flatten_backward(np.array([[1., 2., 3., 4.]]), (1, 2, 1, 2)).shape
    (1, 2, 1, 2)
    """
    return dout.reshape(cache)
