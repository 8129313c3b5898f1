"""Dense (fully connected) layer and Flatten, forward and backward.

Reading order: ... → pool → **5. ops: dense** → activations → ... Docs chapter: "Dense".

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

from convnet.shapes import check_float

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
    check_float("dense", x=x, w=w, b=b)
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
    check_float("dense", dout=dout)
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


def dense_forward(x, w, b):
    """``out = x @ w + b`` as one matrix product. Same contract as :func:`dense_forward_naive`.

    Examples
    --------
    >>> dense_forward(np.array([[1., 2.]]), np.array([[1., 0., 1.], [0., 1., 1.]]),
    ...               np.array([0., 0., 10.]))[0]
    array([[ 1.,  2., 13.]])
    """
    _check(x, w, b)
    out = x @ w
    if b is not None:
        out += b
    return out, (x, w, b)


def dense_backward(dout, cache):
    """``dx = dout @ w.T``, ``dw = x.T @ dout``, ``db = sum_n dout``: the loops of
    :func:`dense_backward_naive` as matrix products.

    Examples
    --------
    >>> out, cache = dense_forward(np.array([[1., 2.]]), np.ones((2, 3)), np.zeros(3))
    >>> dx, dw, db = dense_backward(np.array([[1., 0., 0.]]), cache)
    >>> dx, dw[:, 0], db
    (array([[1., 1.]]), array([1., 2.]), array([1., 0., 0.]))
    """
    check_float("dense", dout=dout)
    x, w, b = cache
    return dout @ w.T, x.T @ dout, (dout.sum(axis=0) if b is not None else None)


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
    check_float("flatten", x=x)
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
    check_float("flatten", dout=dout)
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
    check_float("flatten", x=x)
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
    check_float("flatten", dout=dout)
    return dout.reshape(cache)
