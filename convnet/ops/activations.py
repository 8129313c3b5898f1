"""Element-wise activations: ReLU, LeakyReLU, sigmoid, tanh.

Reading order: ... → dense → **5. ops: activations** → dropout → softmax → ... Docs chapter:
"Activations".

Each maps every entry on its own, so its backward pass multiplies ``dout`` entry by entry by
the derivative (eq. act-bwd)::

    relu(z)       = max(z, 0)                      relu'(z)       = 1 if z > 0 else 0
    leaky_relu(z) = z if z > 0 else alpha*z        leaky_relu'(z) = 1 if z > 0 else alpha
    sigmoid(z)    = 1 / (1 + exp(-z))              sigmoid'(z)    = s (1 - s),  s = sigmoid(z)
    tanh(z)                                        tanh'(z)       = 1 - t²,     t = tanh(z)

The derivative of ReLU at exactly 0 is taken as 0 (a subgradient). Sigmoid and tanh cache
their *output*, since the derivative is cheapest written in terms of it.

Naive versions loop over entries; fast ones are NumPy expressions.
"""

from __future__ import annotations

import math

import numpy as np

from convnet.shapes import check_float

__all__ = [
    "relu_forward", "relu_backward", "relu_forward_naive", "relu_backward_naive",
    "leaky_relu_forward", "leaky_relu_backward",
    "leaky_relu_forward_naive", "leaky_relu_backward_naive",
    "sigmoid_forward", "sigmoid_backward", "sigmoid_forward_naive", "sigmoid_backward_naive",
    "tanh_forward", "tanh_backward", "tanh_forward_naive", "tanh_backward_naive",
]  # fmt: skip


def _elementwise(fn, x):
    """Apply the scalar function ``fn`` to every entry of ``x`` with an explicit loop."""
    out = np.empty_like(x)
    flat_x, flat_out = x.reshape(-1), out.reshape(-1)
    for i in range(flat_x.size):
        flat_out[i] = fn(flat_x[i])
    return out


# --- ReLU ---------------------------------------------------------------------------------


def relu_forward_naive(x):
    """``max(z, 0)`` entry by entry.

    Parameters
    ----------
    x : ndarray, any shape

    Returns
    -------
    out : ndarray, shape of ``x``
    cache : ``x``

    Examples
    --------
    >>> relu_forward_naive(np.array([-2., 0., 3.]))[0]
    array([0., 0., 3.])
    """
    check_float("relu", x=x)
    return _elementwise(lambda z: z if z > 0 else 0.0, x), x


def relu_backward_naive(dout, cache):
    """``dout`` where the input was positive, 0 elsewhere.

    Examples
    --------
    >>> relu_backward_naive(np.array([5., 5., 5.]), np.array([-2., 0., 3.]))
    array([0., 0., 5.])
    """
    check_float("relu", dout=dout)
    x = cache
    dx = np.empty_like(dout)
    flat_x, flat_d, flat_dx = x.reshape(-1), dout.reshape(-1), dx.reshape(-1)
    for i in range(flat_x.size):
        flat_dx[i] = flat_d[i] if flat_x[i] > 0 else 0.0
    return dx


def relu_forward(x):
    """Fast ReLU. Same contract as :func:`relu_forward_naive`.

    Examples
    --------
    >>> relu_forward(np.array([-2., 0., 3.]))[0]
    array([0., 0., 3.])
    """
    check_float("relu", x=x)
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    """Fast ReLU backward.

    Examples
    --------
    >>> relu_backward(np.array([5., 5., 5.]), np.array([-2., 0., 3.]))
    array([0., 0., 5.])
    """
    check_float("relu", dout=dout)
    # Multiplying by the boolean mask keeps dout's dtype and is several times faster than
    # np.where on the seed-net's (128, 64, 24, 24) activations.
    return dout * (cache > 0)


# --- LeakyReLU ------------------------------------------------------------------------------


def leaky_relu_forward_naive(x, *, alpha=0.3):
    """``z`` for positive entries, ``alpha * z`` otherwise (Keras's default ``alpha`` is 0.3).

    Returns
    -------
    out : ndarray, shape of ``x``
    cache : ``(x, alpha)``

    Examples
    --------
    >>> leaky_relu_forward_naive(np.array([-2., 3.]), alpha=0.1)[0]
    array([-0.2,  3. ])
    """
    check_float("leaky_relu", x=x)
    return _elementwise(lambda z: z if z > 0 else alpha * z, x), (x, alpha)


def leaky_relu_backward_naive(dout, cache):
    """``dout`` times 1 or ``alpha``.

    Examples
    --------
    >>> leaky_relu_backward_naive(np.array([1., 1.]), (np.array([-2., 3.]), 0.1))
    array([0.1, 1. ])
    """
    check_float("leaky_relu", dout=dout)
    x, alpha = cache
    slope = _elementwise(lambda z: 1.0 if z > 0 else alpha, x)
    return dout * slope


def leaky_relu_forward(x, *, alpha=0.3):
    """Fast LeakyReLU.

    Examples
    --------
    >>> leaky_relu_forward(np.array([-2., 3.]), alpha=0.1)[0]
    array([-0.2,  3. ])
    """
    check_float("leaky_relu", x=x)
    return np.where(x > 0, x, x * x.dtype.type(alpha)), (x, alpha)


def leaky_relu_backward(dout, cache):
    """Fast LeakyReLU backward.

    Examples
    --------
    >>> leaky_relu_backward(np.array([1., 1.]), (np.array([-2., 3.]), 0.1))
    array([0.1, 1. ])
    """
    check_float("leaky_relu", dout=dout)
    x, alpha = cache
    positive = x > 0
    return dout * (positive + ~positive * dout.dtype.type(alpha))  # slope 1 or alpha


# --- sigmoid --------------------------------------------------------------------------------


def _sigmoid_scalar(z):
    # Two algebraically equal forms; each avoids exp() of a large positive number.
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def sigmoid_forward_naive(x):
    """``1 / (1 + exp(-z))`` entry by entry, without overflow for large ``|z|``.

    Returns
    -------
    out : ndarray, shape of ``x``
    cache : ``out``

    Examples
    --------
    >>> sigmoid_forward_naive(np.array([0., 1000., -1000.]))[0]
    array([0.5, 1. , 0. ])
    """
    check_float("sigmoid", x=x)
    out = _elementwise(_sigmoid_scalar, x)
    return out, out


def sigmoid_backward_naive(dout, cache):
    """``dout * s * (1 - s)`` entry by entry.

    Examples
    --------
    >>> sigmoid_backward_naive(np.array([1.]), np.array([0.5]))
    array([0.25])
    """
    check_float("sigmoid", dout=dout)
    s = cache
    ds = _elementwise(lambda v: v * (1.0 - v), s)
    return dout * ds


def sigmoid_forward(x):
    """Fast, overflow-free sigmoid: ``exp(-|z|)`` never overflows.

    Examples
    --------
    >>> sigmoid_forward(np.array([0., 1000., -1000.]))[0]
    array([0.5, 1. , 0. ])
    """
    check_float("sigmoid", x=x)
    e = np.exp(-np.abs(x))
    out = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
    return out, out


def sigmoid_backward(dout, cache):
    """Fast sigmoid backward.

    Examples
    --------
    >>> sigmoid_backward(np.array([1.]), np.array([0.5]))
    array([0.25])
    """
    check_float("sigmoid", dout=dout)
    s = cache
    return dout * s * (1 - s)


# --- tanh -----------------------------------------------------------------------------------


def tanh_forward_naive(x):
    """``tanh(z)`` entry by entry.

    Returns
    -------
    out : ndarray, shape of ``x``
    cache : ``out``

    Examples
    --------
    >>> tanh_forward_naive(np.array([0., 1000.]))[0]
    array([0., 1.])
    """
    check_float("tanh", x=x)
    out = _elementwise(math.tanh, x)
    return out, out


def tanh_backward_naive(dout, cache):
    """``dout * (1 - t²)`` entry by entry.

    Examples
    --------
    >>> tanh_backward_naive(np.array([2.]), np.array([0.5]))
    array([1.5])
    """
    check_float("tanh", dout=dout)
    t = cache
    return dout * _elementwise(lambda v: 1.0 - v * v, t)


def tanh_forward(x):
    """Fast tanh.

    Examples
    --------
    >>> tanh_forward(np.array([0., 1000.]))[0]
    array([0., 1.])
    """
    check_float("tanh", x=x)
    out = np.tanh(x)
    return out, out


def tanh_backward(dout, cache):
    """Fast tanh backward.

    Examples
    --------
    >>> tanh_backward(np.array([2.]), np.array([0.5]))
    array([1.5])
    """
    check_float("tanh", dout=dout)
    t = cache
    return dout * (1 - t * t)
