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
themselves only ever see tuples of ints.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "pair",
    "resolve_padding",
    "window_output_size",
    "check_array",
]


def pair(value, what: str = "value") -> tuple[int, int]:
    """Return ``(value, value)`` for an int, or the two ints of a pair.

    Examples
    --------
    >>> pair(3)
    (3, 3)
    >>> pair((3, 5))
    (3, 5)
    """
    if isinstance(value, (int, np.integer)):
        a = b = int(value)
    else:
        try:
            a, b = (int(v) for v in value)
        except (TypeError, ValueError):
            raise ValueError(f"{what} must be an int or a pair of ints, got {value!r}") from None
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
    if isinstance(padding, (int, np.integer)):
        pads = (int(padding),) * 4
    else:
        try:
            values = tuple(int(p) for p in padding)
        except (TypeError, ValueError):
            raise ValueError(f"padding must be 'valid', 'same' or ints, got {padding!r}") from None
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
    if x.dtype.kind != "f":
        raise ValueError(
            f"{name}: {what} must be floating point (float32 or float64), got {x.dtype} "
            f"with shape {x.shape}; convert it with x.astype('float32')"
        )
    if finite and not np.isfinite(x).all():
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise ValueError(f"{name}: {what} of shape {x.shape} contains {bad} NaN or Inf values")
    return x
