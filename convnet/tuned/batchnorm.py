"""Batch normalization, tuned: statistics, normalization and a following ReLU in two passes.

Off the reading path, in the annex :mod:`convnet.tuned`. Docs chapter: "Speed".

The core's :func:`convnet.ops.batchnorm_forward` is a handful of whole-array NumPy
operations, each a pass over the batch (the mean, the centred copy, its squares, their mean,
the scaling, the shift), and a ReLU layer after it is two more. Here the statistics are one
parallel pass per channel and the normalization, scale, shift and ReLU one pass per channel
plane; backward is one pass for the two sums and one for ``dx`` (eq. bn-bwd, the core's
compact form, with ReLU's mask applied as ``dout`` is read). The sums are taken in float64.

The outputs and the cache are the core op's, so the layer's moving statistics and gradients
come out as the core gives them, to rounding.
"""

from __future__ import annotations

import numpy as np

from convnet.jit import kernel, prange

__all__ = ["forward", "backward"]


@kernel(parallel=True, reassociate=True)
def _statistics(xs, mean, var):
    """``mean[c]``, ``var[c]``: the mean and biased variance of channel ``c`` of ``xs``
    (N, C, S), two passes each, summed in float64."""
    n_img, n_ch, size = xs.shape
    m = n_img * size
    for c in prange(n_ch):
        total = 0.0
        for i in range(n_img):
            row = xs[i, c]
            for j in range(size):
                total += row[j]
        mu = total / m
        squares = 0.0
        for i in range(n_img):
            row = xs[i, c]
            for j in range(size):
                centred = row[j] - mu
                squares += centred * centred
        mean[c] = mu
        var[c] = squares / m


@kernel(parallel=True)
def _normalize(xs, mean, inv_std, gamma, beta, relu, x_hat, out):
    """``x_hat = (x - mean) * inv_std``, ``out = x_hat * gamma + beta`` (then ReLU if asked),
    one (image, channel) plane per work item, in the core op's order of operations."""
    n_img, n_ch, size = xs.shape
    for t in prange(n_img * n_ch):
        i, c = t // n_ch, t % n_ch
        mu, k, g, b = mean[c], inv_std[c], gamma[c], beta[c]
        src, hat, dst = xs[i, c], x_hat[i, c], out[i, c]
        for j in range(size):
            h = (src[j] - mu) * k
            hat[j] = h
            v = h * g + b
            dst[j] = v if (not relu or not v < 0.0) else 0.0  # NaN stays NaN


@kernel(parallel=True, reassociate=True)
def _sums(d, x_hat, relu_out, dbeta, dgamma):
    """``dbeta[c] = sum d``, ``dgamma[c] = sum d * x_hat`` over channel ``c``, with ``d``
    zeroed where a non-empty ``relu_out`` is not positive."""
    relu = relu_out.size > 0
    n_img, n_ch, size = d.shape
    for c in prange(n_ch):
        sum_d, sum_dh = 0.0, 0.0
        for i in range(n_img):
            d_row, h_row = d[i, c], x_hat[i, c]
            for j in range(size):
                dv = d_row[j] if (not relu or relu_out[i, c, j] > 0.0) else 0.0
                sum_d += dv
                sum_dh += dv * h_row[j]
        dbeta[c] = sum_d
        dgamma[c] = sum_dh


@kernel(parallel=True)
def _input_gradient(d, x_hat, relu_out, scale, dbeta_m, dgamma_m, training, dx):
    """``dx = (x_hat * -dgamma_m + d - dbeta_m) * scale`` in training (eq. bn-bwd, with
    ``dbeta_m = dbeta / M`` and ``dgamma_m = dgamma / M``), ``d * scale`` at inference."""
    relu = relu_out.size > 0
    n_img, n_ch, size = d.shape
    for t in prange(n_img * n_ch):
        i, c = t // n_ch, t % n_ch
        k, db, dg = scale[c], dbeta_m[c], dgamma_m[c]
        d_row, h_row, dst = d[i, c], x_hat[i, c], dx[i, c]
        for j in range(size):
            dv = d_row[j] if (not relu or relu_out[i, c, j] > 0.0) else 0.0
            dst[j] = (h_row[j] * -dg + dv - db) * k if training else dv * k


def _channels(a):
    return a.reshape(a.shape[0], a.shape[1], -1)


def forward(x, gamma, beta, moving_mean, moving_var, training, epsilon, relu):
    """Batch normalization of ``x`` (N, C, H, W) or (N, D), then ReLU if ``relu``.

    Returns ``out`` and the core op's cache ``(x_hat, gamma, inv_std, mean, var, training)``
    (see :func:`convnet.ops.batchnorm_forward`), ``mean`` and ``var`` the statistics used:
    the batch's in training, copies of the moving ones at inference.
    """
    xs = _channels(x)
    if training:
        mean, var = np.empty(x.shape[1], x.dtype), np.empty(x.shape[1], x.dtype)
        _statistics(xs, mean, var)
    else:
        mean, var = moving_mean.copy(), moving_var.copy()
    inv_std = (1.0 / np.sqrt(var + epsilon)).astype(x.dtype)
    x_hat, out = np.empty_like(x), np.empty_like(x)
    _normalize(xs, mean, inv_std, gamma, beta, relu, _channels(x_hat), _channels(out))
    return out, (x_hat, gamma, inv_std, mean, var, training)


def backward(dout, cache, relu_out=None):
    """Gradients of :func:`forward`: ``(dx, dgamma, dbeta)``. ``relu_out`` is
    :func:`forward`'s output when it applied ReLU: ``dout`` passes only where it is positive."""
    x_hat, gamma, inv_std, _, _, training = cache
    d, hat = _channels(np.ascontiguousarray(dout, dtype=x_hat.dtype)), _channels(x_hat)
    relu_out = np.empty((0, 0, 0), x_hat.dtype) if relu_out is None else _channels(relu_out)
    dbeta, dgamma = np.empty_like(gamma), np.empty_like(gamma)
    _sums(d, hat, relu_out, dbeta, dgamma)
    m = d.shape[0] * d.shape[2]
    dx = np.empty_like(x_hat)
    _input_gradient(d, hat, relu_out, gamma * inv_std, dbeta / m, dgamma / m, training,
                    _channels(dx))  # fmt: skip
    return dx, dgamma, dbeta
