"""Softmax, and softmax fused with categorical cross-entropy.

Reading order: ... → dropout → **5. ops: softmax** → initializers → layers → ... Docs chapter:
"Softmax and cross-entropy".

Softmax turns a row of ``K`` scores (logits) into probabilities. Subtracting the row maximum
first changes nothing mathematically and keeps ``exp`` from overflowing (eq. softmax)::

    p[n, k] = exp(z[n, k] - m[n]) / sum_j exp(z[n, j] - m[n]),    m[n] = max_j z[n, j]

Its backward pass on its own (the Jacobian is ``diag(p) - p pᵀ``) is (eq. softmax-bwd)::

    dz[n, k] = p[n, k] * (dout[n, k] - sum_j dout[n, j] p[n, j])

Cross-entropy with target distribution ``y`` (one-hot rows, or integer class labels),
averaged over the batch (eq. ce)::

    L = -(1/N) sum_n sum_k y[n, k] log p[n, k]
      =  (1/N) sum_n ( logsumexp(z[n]) - sum_k y[n, k] z[n, k] )      (for rows of y summing to 1)

Fused with the softmax, the gradient collapses to (eq. ce-bwd)::

    dL/dz[n, k] = (p[n, k] - y[n, k]) / N

Computed this way, through ``logsumexp`` and never through ``log(p)``, the loss and the
gradient stay finite even for logits of ±1000, where ``p`` underflows to exactly 0.
"""

from __future__ import annotations

import math

import numpy as np

from convnet.shapes import check_float

__all__ = [
    "softmax",
    "softmax_forward",
    "softmax_backward",
    "softmax_forward_naive",
    "softmax_backward_naive",
    "softmax_cross_entropy_forward",
    "softmax_cross_entropy_backward",
    "softmax_cross_entropy_forward_naive",
    "softmax_cross_entropy_backward_naive",
]


def _check_logits(z, op):
    check_float(op, z=z)
    if z.ndim != 2:
        raise ValueError(f"{op}: expected logits of shape (N, K), got {z.shape}")


def _targets(z, y, op):
    """Return one-hot (or soft) targets of shape (N, K) from labels (N,) or targets (N, K)."""
    y = np.asarray(y)
    n_img, n_cls = z.shape
    if y.shape == (n_img,):
        if y.dtype.kind not in "iu":
            raise ValueError(f"{op}: integer class labels expected, got dtype {y.dtype}")
        if y.size and (y.min() < 0 or y.max() >= n_cls):
            raise ValueError(f"{op}: labels must be in 0..{n_cls - 1}, got {y.min()}..{y.max()}")
        onehot = np.zeros((n_img, n_cls), dtype=z.dtype)
        onehot[np.arange(n_img), y] = 1
        return onehot
    if y.shape == (n_img, n_cls):
        return y.astype(z.dtype, copy=False)
    raise ValueError(
        f"{op}: labels of shape {y.shape} do not fit logits of shape {z.shape}; expected "
        f"({n_img},) integer classes or ({n_img}, {n_cls}) one-hot rows"
    )


# --- stand-alone softmax --------------------------------------------------------------------


def softmax_forward_naive(z):
    """Row-wise softmax with explicit loops.

    Parameters
    ----------
    z : ndarray, shape (N, K)

    Returns
    -------
    p : ndarray, shape (N, K)
    cache : ``p``

    Examples
    --------
    >>> softmax_forward_naive(np.array([[0., 0.], [1000., -1000.]]))[0]
    array([[0.5, 0.5],
           [1. , 0. ]])
    """
    _check_logits(z, "softmax")
    p = np.empty_like(z)
    for n in range(z.shape[0]):
        m = max(z[n])
        total = sum(math.exp(v - m) for v in z[n])
        for k in range(z.shape[1]):
            p[n, k] = math.exp(z[n, k] - m) / total
    return p, p


def softmax_backward_naive(dout, cache):
    """Jacobian-vector product of softmax, row by row.

    Returns
    -------
    dz : ndarray, shape (N, K)

    Examples
    --------
    >>> p, cache = softmax_forward_naive(np.array([[0., 0.]]))
    >>> softmax_backward_naive(np.array([[1., 0.]]), cache)
    array([[ 0.25, -0.25]])
    """
    check_float("softmax", dout=dout)
    p = cache
    dz = np.empty_like(dout)
    for n in range(p.shape[0]):
        dot = sum(dout[n, j] * p[n, j] for j in range(p.shape[1]))
        for k in range(p.shape[1]):
            dz[n, k] = p[n, k] * (dout[n, k] - dot)
    return dz


def softmax_forward(z):
    """Fast row-wise softmax. Same contract as :func:`softmax_forward_naive`.

    Examples
    --------
    >>> softmax_forward(np.array([[0., 0.], [1000., -1000.]]))[0]
    array([[0.5, 0.5],
           [1. , 0. ]])
    """
    _check_logits(z, "softmax")
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    return p, p


def softmax_backward(dout, cache):
    """Fast softmax backward.

    Examples
    --------
    >>> p, cache = softmax_forward(np.array([[0., 0.]]))
    >>> softmax_backward(np.array([[1., 0.]]), cache)
    array([[ 0.25, -0.25]])
    """
    check_float("softmax", dout=dout)
    p = cache
    return p * (dout - np.sum(dout * p, axis=1, keepdims=True))


def softmax(z):
    """Class probabilities from logits, for predictions (no cache).

    Examples
    --------
    >>> softmax(np.array([[1., 1., 1., 1.]]))
    array([[0.25, 0.25, 0.25, 0.25]])
    """
    return softmax_forward(z)[0]


# --- softmax + cross-entropy, fused ----------------------------------------------------------


def softmax_cross_entropy_forward_naive(z, y):
    """Mean cross-entropy of softmax(z) against targets, by loops over rows and classes.

    Parameters
    ----------
    z : ndarray, shape (N, K)
        Logits.
    y : ndarray, shape (N,) of int class labels, or (N, K) of target probabilities

    Returns
    -------
    loss : float
    cache : ``(p, targets)``, both (N, K)

    Examples
    --------
    >>> loss, _ = softmax_cross_entropy_forward_naive(np.zeros((2, 10)), np.array([3, 7]))
    >>> round(loss, 6) == round(math.log(10), 6)         # uniform guess: ln K
    True
    """
    _check_logits(z, "softmax_cross_entropy")
    t = _targets(z, y, "softmax_cross_entropy")
    n_img, n_cls = z.shape
    p = np.empty_like(z)
    total = 0.0
    for n in range(n_img):
        m = max(z[n])
        logsumexp = m + math.log(sum(math.exp(v - m) for v in z[n]))
        for k in range(n_cls):
            p[n, k] = math.exp(z[n, k] - logsumexp)
            total += t[n, k] * (logsumexp - z[n, k])  # = -t log p, without log(p)
    return float(total / n_img), (p, t)


def softmax_cross_entropy_backward_naive(cache):
    """``dL/dz = (p - y) / N``, entry by entry.

    Returns
    -------
    dz : ndarray, shape (N, K)

    Examples
    --------
    >>> loss, cache = softmax_cross_entropy_forward_naive(np.zeros((1, 2)), np.array([0]))
    >>> softmax_cross_entropy_backward_naive(cache)
    array([[-0.5,  0.5]])
    """
    p, t = cache
    dz = np.empty_like(p)
    for n in range(p.shape[0]):
        for k in range(p.shape[1]):
            dz[n, k] = (p[n, k] - t[n, k]) / p.shape[0]
    return dz


def softmax_cross_entropy_forward(z, y):
    """Fast fused softmax + mean cross-entropy. Same contract as the naive version.

    Examples
    --------
    >>> z = np.array([[1000., -1000.], [-1000., 1000.]])
    >>> loss, cache = softmax_cross_entropy_forward(z, np.array([1, 1]))
    >>> loss                                      # finite: (2000 + 0) / 2
    1000.0
    >>> softmax_cross_entropy_backward(cache)
    array([[ 0.5, -0.5],
           [ 0. ,  0. ]])
    """
    _check_logits(z, "softmax_cross_entropy")
    t = _targets(z, y, "softmax_cross_entropy")
    shifted = z - z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_p = shifted - log_norm  # finite even where p underflows to 0
    loss = -np.sum(t * log_p) / z.shape[0]
    return float(loss), (np.exp(log_p), t)


def softmax_cross_entropy_backward(cache):
    """Fast fused backward: ``(p - y) / N``.

    Returns
    -------
    dz : ndarray, shape (N, K)

    Examples
    --------
    >>> loss, cache = softmax_cross_entropy_forward(np.zeros((1, 2)), np.array([0]))
    >>> softmax_cross_entropy_backward(cache)
    array([[-0.5,  0.5]])
    """
    p, t = cache
    return (p - t) / p.dtype.type(p.shape[0])
