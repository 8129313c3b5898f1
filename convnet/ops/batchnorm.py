"""Batch normalization, forward and backward.

Reading order: ... → dropout → **5. ops: batchnorm** → softmax → ... Docs chapter:
"Batch normalization".

Every channel ``c`` (a feature, after a dense layer) is normalized over the batch, then
scaled and shifted by two learned numbers (eq. bn-fwd). The ``M`` values of a channel are all
its entries in the batch: ``M = N * H * W`` after a convolution, ``M = N`` after a dense layer::

    mu[c]      = (1/M) sum_i x[i, c]
    var[c]     = (1/M) sum_i (x[i, c] - mu[c])^2           (biased, as Keras computes it)
    x_hat[i,c] = (x[i, c] - mu[c]) / sqrt(var[c] + eps)
    out[i, c]  = gamma[c] * x_hat[i, c] + beta[c]

where ``i`` runs over everything but the channel: (n, h, w) for images, n for vectors.

That is training. At inference the batch's statistics are replaced by ``moving_mean`` and
``moving_var``, averages the layer keeps over the training batches, so that an image's output
does not depend on the other images in its batch. The ops only compute: they take the
statistics to use and return the batch's in the cache; updating the moving averages is the
layer's job (:class:`convnet.layers.BatchNormalization`).

Backward in training (eq. bn-bwd), the mean and variance depend on every ``x`` of the channel,
so each ``dx`` collects three paths: through ``x_hat`` directly, through ``var`` and through
``mu``. The naive version follows the three paths one at a time, as the chapter derives them;
the fast one uses the compact form they add up to::

    dbeta[c]  = sum_i dout[i, c]
    dgamma[c] = sum_i dout[i, c] * x_hat[i, c]
    dx[i, c]  = gamma[c] / (M * sqrt(var[c] + eps)) * (M * dout[i, c] - dbeta[c] - x_hat[i, c] * dgamma[c])

At inference the statistics are constants and ``dx = gamma * dout / sqrt(var + eps)``.
Both versions share their signatures and cache: ``(x_hat, gamma, inv_std, mean, var,
training)``, with ``mean`` and ``var`` the statistics that were used.
"""  # noqa: E501

from __future__ import annotations

import math

import numpy as np

from convnet.shapes import check_float

__all__ = ["batchnorm_forward", "batchnorm_backward", "batchnorm_forward_naive",
           "batchnorm_backward_naive"]  # fmt: skip


def _check(x, gamma, beta, moving_mean, moving_var, training):
    """The channel count, after checking every argument against ``x``."""
    check_float("batch_normalization", x=x, gamma=gamma, beta=beta, moving_mean=moving_mean,
                moving_var=moving_var)  # fmt: skip
    if x.ndim not in (2, 4):
        raise ValueError(f"batch_normalization: expected x of shape (N, C, H, W) or (N, D), "
                         f"got {x.shape}")  # fmt: skip
    channels = x.shape[1]
    for what, a in (("gamma", gamma), ("beta", beta), ("moving_mean", moving_mean),
                    ("moving_var", moving_var)):  # fmt: skip
        if a.shape != (channels,):
            raise ValueError(f"batch_normalization: {what} has shape {a.shape}, expected "
                             f"({channels},) for x {x.shape}")  # fmt: skip
    if training and x.size // channels < 2:
        raise ValueError(f"batch_normalization: training needs at least two values per channel "
                         f"to take a variance, got x {x.shape}")  # fmt: skip
    return channels


def _as_channels(a):
    """View ``a`` as (N, C, S): S = H * W for images, 1 for vectors. No copy."""
    return a.reshape(a.shape[0], a.shape[1], -1)


def _backward_input(dout, cache):
    """``dout`` and the cache's ``x_hat`` as (N, C, S) views, after checking ``dout``; and the
    cache."""
    x_hat = cache[0]
    check_float("batch_normalization", dout=dout)
    if dout.shape != x_hat.shape:
        raise ValueError(f"batch_normalization: dout has shape {dout.shape}, expected "
                         f"{x_hat.shape}")  # fmt: skip
    return _as_channels(dout), _as_channels(x_hat), cache


def batchnorm_forward_naive(x, gamma, beta, *, moving_mean, moving_var, training, epsilon=1e-3):
    """Batch normalization, one value at a time.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W) or (N, C)
    gamma, beta : ndarray, shape (C,)
        The learned scale and shift.
    moving_mean, moving_var : ndarray, shape (C,)
        The statistics used at inference (ignored in training).
    training : bool
        Normalize with the batch's statistics (True) or with the moving ones (False).
    epsilon : float
        Added to the variance before the square root (Keras's default 1e-3).

    Returns
    -------
    out : ndarray, shape of ``x``
    cache : tuple
        ``(x_hat, gamma, inv_std, mean, var, training)``: the normalized input (shape of
        ``x``); then, shape (C,), ``gamma``, ``1 / sqrt(var + eps)`` and the mean and
        variance that were used (the batch's in training).

    Examples
    --------
    One channel holding 1, 2, 3, 4 (mean 2.5, variance 1.25), no epsilon:

    >>> x = np.array([[1.0], [2.0], [3.0], [4.0]])
    >>> one, zero = np.ones(1), np.zeros(1)
    >>> out, cache = batchnorm_forward_naive(x, one, zero, moving_mean=zero, moving_var=one,
    ...                                      training=True, epsilon=0.0)
    >>> out.ravel().round(4)
    array([-1.3416, -0.4472,  0.4472,  1.3416])
    >>> cache[3], cache[4]                   # the batch's mean and variance
    (array([2.5]), array([1.25]))
    """
    channels = _check(x, gamma, beta, moving_mean, moving_var, training)
    xs = _as_channels(x)
    n, _, s = xs.shape
    mean, var = np.zeros_like(gamma), np.zeros_like(gamma)
    for c in range(channels):
        if training:
            total = 0.0
            for i in range(n):
                for j in range(s):
                    total += xs[i, c, j]
            mean[c] = total / (n * s)
            total = 0.0
            for i in range(n):
                for j in range(s):
                    total += (xs[i, c, j] - mean[c]) ** 2
            var[c] = total / (n * s)
        else:
            mean[c], var[c] = moving_mean[c], moving_var[c]
    inv_std = np.empty_like(gamma)
    x_hat, out = np.empty_like(x), np.empty_like(x)
    hat, o = _as_channels(x_hat), _as_channels(out)
    for c in range(channels):
        inv_std[c] = 1.0 / math.sqrt(var[c] + epsilon)
        for i in range(n):
            for j in range(s):
                hat[i, c, j] = (xs[i, c, j] - mean[c]) * inv_std[c]
                o[i, c, j] = gamma[c] * hat[i, c, j] + beta[c]
    return out, (x_hat, gamma, inv_std, mean, var, training)


def batchnorm_backward_naive(dout, cache):
    """Gradients of batch normalization, following each path of the chain rule in turn.

    Parameters
    ----------
    dout : ndarray, shape of ``x``
    cache : tuple, from :func:`batchnorm_forward_naive` or :func:`batchnorm_forward`

    Returns
    -------
    dx : ndarray, shape of ``x``
    dgamma, dbeta : ndarray, shape (C,)

    Examples
    --------
    The sum of a normalized channel is always 0, so a gradient that is the same everywhere
    changes nothing and ``dx`` is 0:

    >>> x = np.array([[1.0], [2.0], [4.0]])
    >>> one, zero = np.ones(1), np.zeros(1)
    >>> _, cache = batchnorm_forward_naive(x, one, zero, moving_mean=zero, moving_var=one,
    ...                                    training=True)
    >>> dx, dgamma, dbeta = batchnorm_backward_naive(np.ones_like(x), cache)
    >>> np.abs(dx).max() < 1e-12, dbeta
    (np.True_, array([3.]))
    """
    d, hat, (_, gamma, inv_std, _, _, training) = _backward_input(dout, cache)
    n, channels, s = d.shape
    m = n * s
    dx = np.empty_like(dout)
    dxs = _as_channels(dx)
    dgamma, dbeta = np.zeros_like(gamma), np.zeros_like(gamma)
    for c in range(channels):
        # out = gamma * x_hat + beta
        for i in range(n):
            for j in range(s):
                dbeta[c] += d[i, c, j]
                dgamma[c] += d[i, c, j] * hat[i, c, j]
        if not training:  # mean and var are constants: only the direct path
            for i in range(n):
                for j in range(s):
                    dxs[i, c, j] = d[i, c, j] * gamma[c] * inv_std[c]
            continue
        # x_hat = (x - mu) * (var + eps)^(-1/2), so with dx_hat = dout * gamma:
        #   dL/dvar = sum dx_hat * (x - mu) * (-1/2) (var + eps)^(-3/2)
        #   dL/dmu  = sum dx_hat * (-inv_std)      (+ dL/dvar * dvar/dmu, which sums to 0)
        dvar = dmu = 0.0
        for i in range(n):
            for j in range(s):
                centred = hat[i, c, j] / inv_std[c]  # x - mu
                dvar += d[i, c, j] * gamma[c] * centred * -0.5 * inv_std[c] ** 3
                dmu += d[i, c, j] * gamma[c] * -inv_std[c]
        # dx = dx_hat * inv_std + dL/dvar * 2 (x - mu) / M + dL/dmu / M
        for i in range(n):
            for j in range(s):
                centred = hat[i, c, j] / inv_std[c]
                dxs[i, c, j] = (d[i, c, j] * gamma[c] * inv_std[c] + dvar * 2.0 * centred / m
                                + dmu / m)  # fmt: skip
    return dx, dgamma, dbeta


def batchnorm_forward(x, gamma, beta, *, moving_mean, moving_var, training, epsilon=1e-3):
    """Fast batch normalization: whole-array NumPy. Same contract as
    :func:`batchnorm_forward_naive`.

    Examples
    --------
    After a convolution, each channel is normalized over the batch and the image:

    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(5.0, 3.0, size=(8, 2, 4, 4))
    >>> one, zero = np.ones(2), np.zeros(2)
    >>> out, _ = batchnorm_forward(x, one, zero, moving_mean=zero, moving_var=one,
    ...                            training=True, epsilon=0.0)
    >>> out.mean(axis=(0, 2, 3)).round(12) + 0.0, out.std(axis=(0, 2, 3)).round(12)
    (array([0., 0.]), array([1., 1.]))
    """
    _check(x, gamma, beta, moving_mean, moving_var, training)
    xs = _as_channels(x)
    if training:
        mean = xs.mean(axis=(0, 2))
        centred = xs - mean[:, None]
        var = np.square(centred).mean(axis=(0, 2))
    else:
        mean, var = moving_mean.copy(), moving_var.copy()
        centred = xs - mean[:, None]
    inv_std = (1.0 / np.sqrt(var + epsilon)).astype(x.dtype)
    x_hat = centred
    x_hat *= inv_std[:, None]  # in place: the centred array becomes x_hat
    out = x_hat * gamma[:, None] + beta[:, None]
    return out.reshape(x.shape), (x_hat.reshape(x.shape), gamma, inv_std, mean, var, training)


def batchnorm_backward(dout, cache):
    """Fast batch normalization backward, in the compact form. Same contract as
    :func:`batchnorm_backward_naive`.

    Examples
    --------
    >>> x = np.array([[1.0], [2.0], [4.0]])
    >>> one, zero = np.ones(1), np.zeros(1)
    >>> _, cache = batchnorm_forward(x, one, zero, moving_mean=zero, moving_var=one,
    ...                              training=True)
    >>> dx, dgamma, dbeta = batchnorm_backward(np.array([[1.0], [0.0], [0.0]]), cache)
    >>> dx.ravel().round(4), dbeta
    (array([ 0.2292, -0.3435,  0.1143]), array([1.]))
    """
    d, hat, (_, gamma, inv_std, _, _, training) = _backward_input(dout, cache)
    dbeta = d.sum(axis=(0, 2))
    dgamma = (d * hat).sum(axis=(0, 2))
    scale = (gamma * inv_std)[:, None]
    if not training:
        return (d * scale).reshape(dout.shape), dgamma, dbeta
    m = d.shape[0] * d.shape[2]
    # (eq. bn-bwd): dx = gamma * inv_std / M * (M * dout - dbeta - x_hat * dgamma)
    dx = hat * (-dgamma / m)[:, None]
    dx += d
    dx -= (dbeta / m)[:, None]
    dx *= scale
    return dx.reshape(dout.shape), dgamma, dbeta
