"""Shape arithmetic: how big is the output of a convolution or a pooling window?

Reading order: **1. shapes** → gradcheck → jit → im2col → ops → initializers → layers →
losses → optimizers → model → callbacks → data → file I/O. Docs chapter: "Convolution" (output
size).

Every sliding-window op in convnet (convolution, max and average pooling) shares the same
geometry. A window of ``KH x KW`` slides over an input of ``H x W`` that has been padded with
``pad_top`` / ``pad_bottom`` rows and ``pad_left`` / ``pad_right`` columns of zeros, taking
steps of ``stride_h`` and ``stride_w``. The number of positions it stops at is::

    H_out = (H + pad_top + pad_bottom - KH) // stride_h + 1
    W_out = (W + pad_left + pad_right - KW) // stride_w + 1

The helpers below turn the many ways a user may spell these hyperparameters (``3`` or
``(3, 5)``, ``'valid'``, ``'same'``, ``1`` or ``(1, 2)``) into one canonical form, so the ops
themselves only ever see tuples of ints. A size that is not a whole number (``stride=1.7``)
is refused, never rounded.

The same checks guard the arrays. Every op computes in its input's dtype, which must be
floating point: an integer array would have every result truncated (the mean of 2 and 3
stored as 2), so :func:`check_float` refuses it, naming the dtype, rather than convert it
behind the user's back. :func:`channels_last_hint` recognises the commonest wrong shape of
all, Keras's channels-last images given to convnet's channels-first layers, so that the
error says so.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "pair",
    "resolve_padding",
    "window_output_size",
    "check_float",
    "check_array",
    "channels_last_hint",
]


def _is_int(value) -> bool:
    """An int or a NumPy integer; not a bool, not a float, not even ``2.0``."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _ints(values, spec, what: str, expected: str) -> tuple[int, ...]:
    """``values`` as a tuple of ints; a ValueError naming ``spec`` (what the user wrote) and
    the first entry that is not a whole number."""
    try:
        values = tuple(values)
    except TypeError:
        raise ValueError(f"{what} must be {expected}, got {spec!r}") from None
    for v in values:
        if not _is_int(v):
            raise ValueError(f"{what} must be {expected}, got {spec!r}: {v!r} is not an int")
    return tuple(int(v) for v in values)


def pair(value, what: str = "value") -> tuple[int, int]:
    """Return ``(value, value)`` for an int, or the two ints of a pair.

    Examples
    --------
    >>> pair(3)
    (3, 3)
    >>> pair((3, 5))
    (3, 5)
    >>> pair((1.7, 2), "stride")
    Traceback (most recent call last):
    ...
    ValueError: stride must be an int or a pair of ints, got (1.7, 2): 1.7 is not an int
    """
    expected = "an int or a pair of ints"
    values = (value, value) if _is_int(value) else _ints(value, value, what, expected)
    if len(values) != 2:
        raise ValueError(f"{what} must be {expected}, got {value!r}")
    a, b = (int(v) for v in values)
    if a < 1 or b < 1:
        raise ValueError(f"{what} must be positive, got {value!r}")
    return a, b


def resolve_padding(padding, in_hw, kernel_hw, stride_hw) -> tuple[int, int, int, int]:
    """Turn a padding spec into explicit ``(top, bottom, left, right)`` zero rows/columns.

    Parameters
    ----------
    padding : 'valid', 'same', int, (int, int) or (int, int, int, int)
        ``'valid'`` adds nothing. ``'same'`` pads so that ``H_out = ceil(H / stride)``;
        when the total is odd the extra row goes at the bottom and the extra column on the
        right (the convention of Keras/TensorFlow, so weights carry over unchanged). An int
        ``p`` pads ``p`` on every side; ``(ph, pw)`` pads ``ph`` above and below and ``pw``
        left and right; four ints are taken as they are.
    in_hw, kernel_hw, stride_hw : (int, int)
        Input size ``(H, W)``, window size ``(KH, KW)``, stride ``(stride_h, stride_w)``.

    Returns
    -------
    (top, bottom, left, right) : tuple of int

    Examples
    --------
    >>> resolve_padding('same', (28, 28), (3, 3), (1, 1))
    (1, 1, 1, 1)
    >>> resolve_padding('same', (28, 28), (2, 2), (2, 2))
    (0, 0, 0, 0)
    >>> resolve_padding('same', (5, 5), (4, 4), (1, 1))
    (1, 2, 1, 2)
    >>> resolve_padding(2, (5, 5), (3, 3), (1, 1))
    (2, 2, 2, 2)
    """
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return (0, 0, 0, 0)
        if mode == "same":
            pads = []
            for size, k, s in zip(in_hw, kernel_hw, stride_hw, strict=True):
                out = -(-size // s)  # ceil(size / s)
                total = max((out - 1) * s + k - size, 0)
                pads += [total // 2, total - total // 2]
            return tuple(pads)
        raise ValueError(f"padding must be 'valid', 'same' or ints, got {padding!r}")
    if _is_int(padding):
        pads = (int(padding),) * 4
    else:
        values = _ints(padding, padding, "padding", "'valid', 'same' or ints")
        if len(values) == 2:
            pads = (values[0], values[0], values[1], values[1])
        elif len(values) == 4:
            pads = values
        else:
            raise ValueError(f"padding needs 1, 2 or 4 ints, got {padding!r}")
    if min(pads) < 0:
        raise ValueError(f"padding must not be negative, got {padding!r}")
    return pads


def window_output_size(in_hw, kernel_hw, stride_hw, pads, *, op: str = "window") -> tuple[int, int]:
    """Number of window positions ``(H_out, W_out)``; raises if the window does not fit.

    ``H_out = (H + top + bottom - KH) // stride_h + 1`` and likewise for ``W``.

    Examples
    --------
    >>> window_output_size((28, 28), (3, 3), (1, 1), (0, 0, 0, 0))
    (26, 26)
    >>> window_output_size((7, 7), (3, 2), (2, 3), (1, 1, 0, 0))
    (4, 2)
    """
    (h, w), (kh, kw), (sh, sw) = in_hw, kernel_hw, stride_hw
    top, bottom, left, right = pads
    hp, wp = h + top + bottom, w + left + right
    if kh > hp or kw > wp:
        raise ValueError(
            f"{op}: kernel {kh}x{kw} is larger than the padded input {hp}x{wp} "
            f"(input {h}x{w}, padding {pads}); use a smaller kernel or more padding"
        )
    return (hp - kh) // sh + 1, (wp - kw) // sw + 1


def check_float(op: str, **arrays) -> None:
    """Raise a ValueError naming ``op`` and the argument unless every array is floating point.

    Every op, naive and fast, calls this on the arrays it is given (``None``, for a missing
    bias, is skipped), and so does a model on its input. Only the dtype's kind is looked at,
    never the values: it costs nothing next to the op. Bytes (uint8) are most likely an
    image as it was read, so the message says how to scale them to [0, 1] as well.

    Examples
    --------
    >>> check_float("conv2d", x=np.zeros((1, 1, 2, 2)), b=None)
    >>> check_float("average_pooling2d", x=np.arange(16).reshape(1, 1, 4, 4))
    Traceback (most recent call last):
    ...
    ValueError: average_pooling2d: x must be floating point (float32 or float64), got int64 with shape (1, 1, 4, 4); convert it with .astype('float32')
    """  # noqa: E501
    for what, a in arrays.items():
        if a is None:
            continue
        if not isinstance(a, np.ndarray):
            raise ValueError(f"{op}: {what} must be a NumPy array, got {type(a).__name__}")
        if a.dtype.kind != "f":
            advice = ("scale the bytes to [0, 1] floats with .astype('float32') / 255"
                      if a.dtype == np.uint8 else "convert it with .astype('float32')")  # fmt: skip
            raise ValueError(
                f"{op}: {what} must be floating point (float32 or float64), got {a.dtype} "
                f"with shape {a.shape}; {advice}"
            )


def check_array(x, *, ndim: int, name: str, what: str = "input", finite: bool = True):
    """Raise a ValueError naming ``name`` unless ``x`` is a float array of rank ``ndim``.

    Examples
    --------
    >>> check_array(np.zeros((2, 3)), ndim=4, name="conv2d")
    Traceback (most recent call last):
    ...
    ValueError: conv2d: expected a 4-D input, got shape (2, 3)
    """
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{name}: {what} must be a NumPy array, got {type(x).__name__}")
    if x.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D {what}, got shape {x.shape}")
    check_float(name, **{what: x})
    if finite and not np.isfinite(x).all():
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise ValueError(f"{name}: {what} of shape {x.shape} contains {bad} NaN or Inf values")
    return x


def channels_last_hint(shape, expected=None) -> str:
    """Advice to add to a shape error when one sample's ``shape`` looks channels-last.

    Keras stores images as ``(H, W, C)``, convnet as ``(C, H, W)``. Given to convnet,
    ``(28, 28, 1)`` is 28 channels of 28x1 pixels, and the error that follows (a kernel
    larger than a 28x1 image, an input with 28 channels) does not say why. ``shape`` looks
    channels-last when its last axis is 1 (grey) or 3 (RGB) and the two before it are image
    sized (8 or more); when ``expected``, the ``(C, H, W)`` a layer was built for, is
    known, when moving the last axis first gives exactly it.

    Parameters
    ----------
    shape : tuple of int
        One sample, without the batch axis.
    expected : tuple of int, optional

    Returns
    -------
    str
        The advice, or ``""`` when the shape does not look channels-last.

    Examples
    --------
    >>> channels_last_hint((28, 28, 1))
    'convnet is NCHW (channels first) but (28, 28, 1) looks channels-last (H, W, C), as Keras stores images: use input_shape=(1, 28, 28) and transpose the images with x.transpose(0, 3, 1, 2)'
    >>> channels_last_hint((32, 32, 3), expected=(3, 32, 32)).split(": ")[-1]  # a built layer
    'transpose the images with x.transpose(0, 3, 1, 2)'
    >>> channels_last_hint((1, 28, 28)), channels_last_hint((28, 28, 1), expected=(28, 28, 1))
    ('', '')
    """  # noqa: E501
    shape = tuple(int(d) for d in shape)
    if len(shape) != 3 or shape[2] not in (1, 3):
        return ""
    channels_first = (shape[2], shape[0], shape[1])
    if expected is not None and tuple(expected) != channels_first:
        return ""
    if expected is None and min(shape[:2]) < 8:
        return ""
    advice = "" if expected is not None else f"use input_shape={channels_first} and "
    return (
        f"convnet is NCHW (channels first) but {shape} looks channels-last (H, W, C), as "
        f"Keras stores images: {advice}transpose the images with x.transpose(0, 3, 1, 2)"
    )
