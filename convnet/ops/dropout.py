"""Inverted dropout, forward and backward.

Reading order: ... → activations → **5. ops: dropout** → softmax → ... Docs chapter:
"Dropout".

During training each entry is kept with probability ``1 - rate`` and the kept ones are scaled
by ``1 / (1 - rate)``, so the expected value of every entry is unchanged (eq. dropout)::

    mask[i] = (u[i] >= rate) / (1 - rate),   u[i] ~ Uniform[0, 1)
    out     = x * mask
    dx      = dout * mask

At inference the layer is the identity: because of the scaling ("inverted" dropout) nothing
needs rescaling at test time. The random numbers come from a ``numpy.random.Generator``
passed in by the caller, never from global state; or a ready ``mask`` may be passed, which
is how the gradient checks hold it fixed.
"""

from __future__ import annotations

import numpy as np

from convnet.shapes import check_float

__all__ = ["dropout_forward", "dropout_backward", "dropout_forward_naive", "dropout_backward_naive"]


def _check_rate(rate):
    # Checked in training and at inference alike, so a bad rate fails on the first call.
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout: rate must be in [0, 1), got {rate}")


def _mask(x, rate, rng, mask):
    if mask is not None:
        if mask.shape != x.shape:
            raise ValueError(f"dropout: mask shape {mask.shape} does not match x {x.shape}")
        return mask
    if rng is None:
        raise ValueError("dropout: training needs a numpy Generator (rng=) or a mask (mask=)")
    keep = rng.random(x.shape, dtype=np.float64) >= rate
    return keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - rate))


def dropout_forward_naive(x, *, rate, training=True, rng=None, mask=None):
    """Inverted dropout, entry by entry.

    Parameters
    ----------
    x : ndarray, any shape
    rate : float in [0, 1)
        Fraction of entries to drop.
    training : bool
        When False, return ``x`` unchanged (cache None).
    rng : numpy.random.Generator
        Source of the mask when training and no ``mask`` is given.
    mask : ndarray, shape of ``x``, optional
        A ready mask of ``0`` and ``1 / (1 - rate)`` entries.

    Returns
    -------
    out : ndarray, shape of ``x``
    cache : the mask (None at inference)

    Examples
    --------
    >>> mask = np.array([2., 0., 2., 0.])          # rate 0.5: kept entries scaled by 2
    >>> dropout_forward_naive(np.array([1., 2., 3., 4.]), rate=0.5, mask=mask)[0]
    array([2., 0., 6., 0.])
    >>> dropout_forward_naive(np.array([1., 2.]), rate=0.5, training=False)[0]
    array([1., 2.])
    """
    _check_rate(rate)
    check_float("dropout", x=x, mask=mask)
    if not training:
        return x, None
    mask = _mask(x, rate, rng, mask)
    out = np.empty_like(x)
    flat_x, flat_m, flat_out = x.reshape(-1), mask.reshape(-1), out.reshape(-1)
    for i in range(flat_x.size):
        flat_out[i] = flat_x[i] * flat_m[i]
    return out, mask


def dropout_backward_naive(dout, cache):
    """``dx = dout * mask`` entry by entry (identity at inference).

    Examples
    --------
    >>> dropout_backward_naive(np.array([1., 1.]), np.array([2., 0.]))
    array([2., 0.])
    """
    check_float("dropout", dout=dout)
    mask = cache
    if mask is None:
        return dout
    dx = np.empty_like(dout)
    flat_d, flat_m, flat_dx = dout.reshape(-1), mask.reshape(-1), dx.reshape(-1)
    for i in range(flat_d.size):
        flat_dx[i] = flat_d[i] * flat_m[i]
    return dx


def dropout_forward(x, *, rate, training=True, rng=None, mask=None):
    """Fast inverted dropout. Same contract as :func:`dropout_forward_naive`.

    Examples
    --------
    >>> out, mask = dropout_forward(np.ones(10_000), rate=0.25, rng=np.random.default_rng(0))
    >>> sorted(set(out.tolist())) == [0.0, 1 / 0.75]
    True
    >>> round(float(out.mean()), 2)                 # expectation preserved
    1.0
    """
    _check_rate(rate)
    check_float("dropout", x=x, mask=mask)
    if not training:
        return x, None
    mask = _mask(x, rate, rng, mask)
    return x * mask, mask


def dropout_backward(dout, cache):
    """Fast dropout backward.

    Examples
    --------
    >>> dropout_backward(np.array([1., 1.]), np.array([2., 0.]))
    array([2., 0.])
    """
    check_float("dropout", dout=dout)
    return dout if cache is None else dout * cache
