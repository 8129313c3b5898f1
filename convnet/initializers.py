"""Weight initialisers: Glorot and He, drawn from a seeded Generator.

Reading order: ... → ops → **6. initializers** → backend → layers → ... Docs chapter: "How a
CNN learns" (initial weights).

Every initialiser has the signature ``name(shape, rng, dtype=np.float32) -> ndarray`` and draws
only from the ``numpy.random.Generator`` it is given, so one seed fixes every initial weight
and two runs with the same seed start from bit-identical arrays.

Why these scales
----------------
Weights must not all be equal (identical units get identical gradients and stay identical
forever), so they are drawn at random, with mean 0. Their *variance* is what matters: too
small and the signal shrinks layer after layer, too large and it blows up. Take one unit of a
dense or conv layer before its activation (the bias starts at 0 and adds nothing)::

    z = sum_{i=1}^{fan_in} w_i · x_i

With the ``w_i`` independent of each other and of the inputs, and of mean 0, the terms are
uncorrelated and ``Var(w_i x_i) = E[w²] E[x²]``, so::

    Var(z) = fan_in · Var(w) · E[x²]                                        (eq. var-fwd)

*Forward.* If the previous layer's activation is roughly linear around 0 (tanh, sigmoid
shifted, no activation) and its pre-activation ``z'`` has mean 0, then ``E[x²] ≈ Var(z')``, and
``Var(z) = Var(z')`` from layer to layer needs ``Var(w) = 1 / fan_in``.

*Backward.* The gradient flows the other way: ``dx_i = sum_k w_ik · dz_k`` sums over the
``fan_out`` units that input feeds, so ``Var(dx) = fan_out · Var(w) · Var(dz)``
(eq. var-bwd), and a steady gradient needs ``Var(w) = 1 / fan_out``.

*Glorot* (Glorot & Bengio, 2010) cannot have both unless ``fan_in = fan_out``, and settles on
the compromise::

    Var(w) = 2 / (fan_in + fan_out)                                          (eq. glorot)

*He* (He et al., 2015) redoes the forward argument for ReLU. ``x = max(0, z')`` with ``z'``
symmetric about 0 zeroes half the distribution, so ``E[x²] = Var(z') / 2``; the missing factor
2 goes into the weights::

    Var(w) = 2 / fan_in                                                       (eq. he)

*From a variance to a distribution.* ``U(-a, a)`` has variance ``a² / 3``, so a uniform
initialiser uses ``a = sqrt(3 · Var(w))``: ``sqrt(6 / (fan_in + fan_out))`` for Glorot,
``sqrt(6 / fan_in)`` for He. The normal versions use a normal *truncated* at two standard
deviations (values beyond are redrawn), which avoids the rare huge weight. Cutting off the
tails shrinks the standard deviation: for a standard normal truncated to ``[-2, 2]``::

    Var = 1 - 2·2·φ(2) / (2Φ(2) - 1) = 0.7737...,   sqrt(Var) = 0.87962566103423978

(``φ``, ``Φ``: the standard normal density and distribution function). So, as Keras does, the
normal is drawn with ``σ = target_std / 0.8796...`` and the truncated result has the target
standard deviation of eq. glorot or eq. he.

*Fans of a conv kernel.* A conv kernel of shape ``(F, C, KH, KW)`` (NCHW layout, ``F`` output
filters) computes each output value from ``C·KH·KW`` inputs, and each input value takes part
in (away from the borders, at stride 1) ``F·KH·KW`` outputs: ``fan_in = C·KH·KW``,
``fan_out = F·KH·KW``. A dense kernel ``(D_in, D_out)`` has ``fan_in = D_in``,
``fan_out = D_out``.

Keras's defaults, kept here: ``glorot_uniform`` for kernels, ``zeros`` for biases.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "fans",
    "glorot_uniform",
    "glorot_normal",
    "he_normal",
    "he_uniform",
    "zeros",
    "ones",
    "get",
]

#: Standard deviation of a standard normal truncated to [-2, 2] (see the module docstring).
TRUNCATED_STD = 0.87962566103423978


def fans(shape) -> tuple[int, int]:
    """Fan-in and fan-out of a dense or conv kernel.

    Parameters
    ----------
    shape : tuple of int
        ``(D_in, D_out)`` for a dense kernel or ``(F, C, KH, KW)`` for a conv kernel.

    Returns
    -------
    fan_in, fan_out : int
        ``(D_in, D_out)``, or ``(C*KH*KW, F*KH*KW)`` for a conv kernel.

    Examples
    --------
    >>> fans((784, 128))
    (784, 128)
    >>> fans((32, 1, 3, 3))      # 32 filters of 3x3 over 1 channel
    (9, 288)
    """
    shape = tuple(int(d) for d in shape)
    if len(shape) == 2:
        return shape[0], shape[1]
    if len(shape) == 4:
        n_filters, n_ch, kh, kw = shape
        return n_ch * kh * kw, n_filters * kh * kw
    raise ValueError(
        f"fans: expected a dense kernel shape (D_in, D_out) or a conv kernel shape "
        f"(F, C, KH, KW), got {shape} (rank {len(shape)})"
    )


def _float_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"initializers: weights need a floating-point dtype, got {dtype}")
    return dtype


def _uniform(shape, limit: float, rng: np.random.Generator, dtype) -> np.ndarray:
    """``U(-limit, limit)``, drawn in float64 and then rounded to ``dtype``.

    Drawing in float64 whatever the target dtype means a float32 and a float64 model built
    from the same seed start from the same weights (up to rounding), which makes them easy to
    compare.
    """
    dtype = _float_dtype(dtype)
    return rng.uniform(-limit, limit, size=shape).astype(dtype, copy=False)


def _truncated_normal(shape, std: float, rng: np.random.Generator, dtype) -> np.ndarray:
    """``N(0, σ²)`` with ``σ = std / 0.8796...``, values beyond ``±2σ`` redrawn.

    The result has standard deviation ``std`` (see the module docstring). Each round redraws
    only the entries still out of range, about 4.6 % of them, so a handful of rounds suffice.

    Parameters
    ----------
    shape : tuple of int
    std : float
        Standard deviation wanted *after* truncation.
    rng : numpy.random.Generator
    dtype : float dtype

    Returns
    -------
    ndarray, shape ``shape``, every entry within ``±2 · std / 0.8796...``

    Examples
    --------
    >>> w = _truncated_normal((1000,), 1.0, np.random.default_rng(0), np.float64)
    >>> bool(np.all(np.abs(w) <= 2 / TRUNCATED_STD))
    True
    """
    dtype = _float_dtype(dtype)
    z = rng.standard_normal(size=shape)
    out_of_range = np.abs(z) > 2.0
    while out_of_range.any():
        z[out_of_range] = rng.standard_normal(size=int(np.count_nonzero(out_of_range)))
        out_of_range = np.abs(z) > 2.0
    z *= std / TRUNCATED_STD
    return z.astype(dtype, copy=False)


def glorot_uniform(shape, rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    """Glorot (Xavier) uniform: ``U(-a, a)``, ``a = sqrt(6 / (fan_in + fan_out))`` (eq. glorot).

    Keras's default kernel initialiser.

    Parameters
    ----------
    shape : tuple of int
        ``(D_in, D_out)`` or ``(F, C, KH, KW)``; see :func:`fans`.
    rng : numpy.random.Generator
        The only source of randomness.
    dtype : float dtype

    Returns
    -------
    ndarray, shape ``shape``, dtype ``dtype``

    Examples
    --------
    >>> w = glorot_uniform((4, 2), np.random.default_rng(0))
    >>> w.shape, w.dtype, bool(np.all(np.abs(w) <= 1.0))     # a = sqrt(6 / 6) = 1
    ((4, 2), dtype('float32'), True)
    """
    fan_in, fan_out = fans(shape)
    return _uniform(shape, math.sqrt(6.0 / (fan_in + fan_out)), rng, dtype)


def glorot_normal(shape, rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    """Glorot normal: truncated normal with std ``sqrt(2 / (fan_in + fan_out))`` (eq. glorot).

    Same parameters and return value as :func:`glorot_uniform`.

    Examples
    --------
    >>> w = glorot_normal((300, 200), np.random.default_rng(0), np.float64)
    >>> round(float(w.std()), 2), round(math.sqrt(2 / 500), 2)
    (0.06, 0.06)
    """
    fan_in, fan_out = fans(shape)
    return _truncated_normal(shape, math.sqrt(2.0 / (fan_in + fan_out)), rng, dtype)


def he_normal(shape, rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    """He normal: truncated normal with std ``sqrt(2 / fan_in)`` (eq. he), for ReLU layers.

    Same parameters and return value as :func:`glorot_uniform`.

    Examples
    --------
    >>> w = he_normal((64, 32, 3, 3), np.random.default_rng(0))    # fan_in = 32*3*3 = 288
    >>> round(float(w.std()), 3), round(math.sqrt(2 / 288), 3)
    (0.083, 0.083)
    """
    fan_in, _ = fans(shape)
    return _truncated_normal(shape, math.sqrt(2.0 / fan_in), rng, dtype)


def he_uniform(shape, rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    """He uniform: ``U(-a, a)``, ``a = sqrt(6 / fan_in)`` (eq. he), for ReLU layers.

    Same parameters and return value as :func:`glorot_uniform`.

    Examples
    --------
    >>> w = he_uniform((6, 3), np.random.default_rng(0))           # a = sqrt(6 / 6) = 1
    >>> bool(np.all(np.abs(w) <= 1.0)), bool(np.any(np.abs(w) > 0.5))
    (True, True)
    """
    fan_in, _ = fans(shape)
    return _uniform(shape, math.sqrt(6.0 / fan_in), rng, dtype)


def zeros(shape, rng: np.random.Generator | None = None, dtype=np.float32) -> np.ndarray:
    """All zeros, Keras's default for biases. ``rng`` is accepted for a uniform signature.

    Examples
    --------
    >>> zeros((3,), np.random.default_rng(0))
    array([0., 0., 0.], dtype=float32)
    """
    return np.zeros(shape, dtype=_float_dtype(dtype))


def ones(shape, rng: np.random.Generator | None = None, dtype=np.float32) -> np.ndarray:
    """All ones. ``rng`` is accepted for a uniform signature.

    Examples
    --------
    >>> ones((2, 2), None, np.float64)
    array([[1., 1.],
           [1., 1.]])
    """
    return np.ones(shape, dtype=_float_dtype(dtype))


_BY_NAME = {
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "zeros": zeros,
    "ones": ones,
}


def get(identifier):
    """Look up an initialiser by its Keras name, or pass a callable through.

    Both of Keras's spellings work: the function name (``'glorot_uniform'``) and the class
    name (``'GlorotUniform'``); case and underscores are ignored.

    Parameters
    ----------
    identifier : str or callable
        A callable must have the signature ``f(shape, rng, dtype) -> ndarray``.

    Returns
    -------
    callable

    Examples
    --------
    >>> get("he_normal") is he_normal, get("GlorotUniform") is glorot_uniform
    (True, True)
    >>> get("xavier")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown initializer 'xavier'; choose one of glorot_normal, glorot_uniform, ...
    """
    if callable(identifier):
        return identifier
    valid = ", ".join(sorted(_BY_NAME))
    hint = f"choose one of {valid}, or pass a callable f(shape, rng, dtype)"
    if not isinstance(identifier, str):
        raise ValueError(f"initializer must be a name or a callable, got {identifier!r}; {hint}")
    key = identifier.replace("_", "").lower()
    for name, fn in _BY_NAME.items():
        if name.replace("_", "") == key:
            return fn
    raise ValueError(f"unknown initializer {identifier!r}; {hint}")
