"""2-D convolution (cross-correlation, as in every deep-learning library), forward and backward.

Reading order: ... → im2col → **5. ops: conv** → pool → dense → activations → dropout →
softmax → layers → ... Docs chapter: "Convolution".

Forward, for image ``n``, filter ``f`` and output position ``(oh, ow)`` (eq. conv-fwd)::

    out[n, f, oh, ow] = b[f] + sum_{c, i, j} w[f, c, i, j] * xp[n, c, oh*sh + i, ow*sw + j]

where ``xp`` is ``x`` zero-padded by ``(top, bottom, left, right)``. Backward, given
``dout = ∂L/∂out`` (eqs. conv-bwd-b, conv-bwd-w, conv-bwd-x)::

    db[f]          = sum_{n, oh, ow} dout[n, f, oh, ow]
    dw[f, c, i, j] = sum_{n, oh, ow} dout[n, f, oh, ow] * xp[n, c, oh*sh + i, ow*sw + j]
    dxp[n, c, oh*sh + i, ow*sw + j] += sum_f dout[n, f, oh, ow] * w[f, c, i, j]

and ``dx`` is ``dxp`` with the padding cut off.

Two implementations with the same signature and the same cache: ``conv2d_forward_naive`` /
``conv2d_backward_naive`` loop over the sums as written; ``conv2d_forward`` /
``conv2d_backward`` copy the patches into columns (:mod:`convnet.im2col`) and let one matrix
product, NumPy's ``@``, do all the sums at once.
"""

from __future__ import annotations

import numpy as np

from convnet.im2col import col2im, im2col
from convnet.shapes import check_float, pair, resolve_padding, window_output_size

__all__ = ["conv2d_forward", "conv2d_backward", "conv2d_forward_naive", "conv2d_backward_naive"]


def _geometry(x, w, b, stride, padding):
    """Validate dtypes and shapes and return ``(kernel_hw, stride_hw, pads, out_hw)``."""
    check_float("conv2d", x=x, w=w, b=b)
    if x.ndim != 4:
        raise ValueError(f"conv2d: expected x of shape (N, C, H, W), got {x.shape}")
    if w.ndim != 4:
        raise ValueError(f"conv2d: expected w of shape (F, C, KH, KW), got {w.shape}")
    if x.shape[1] != w.shape[1]:
        raise ValueError(
            f"conv2d: input has {x.shape[1]} channels but the kernel expects {w.shape[1]} "
            f"(x {x.shape}, w {w.shape})"
        )
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(f"conv2d: bias must have shape ({w.shape[0]},), got {b.shape}")
    kernel_hw = w.shape[2:]
    try:
        stride_hw = pair(stride, "stride")
        pads = resolve_padding(padding, x.shape[2:], kernel_hw, stride_hw)
    except ValueError as err:  # say which op and which shapes, as every other check here does
        raise ValueError(f"conv2d: {err} (x {x.shape}, w {w.shape})") from None
    out_hw = window_output_size(x.shape[2:], kernel_hw, stride_hw, pads, op="conv2d")
    return kernel_hw, stride_hw, pads, out_hw


# ---------------------------------------------------------------------------------------------
# Naive reference: the equations above, loop by loop.
# ---------------------------------------------------------------------------------------------


def conv2d_forward_naive(x, w, b, *, stride=1, padding=0):
    """Convolution by explicit loops over images, filters and output positions.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    w : ndarray, shape (F, C, KH, KW)
    b : ndarray, shape (F,), or None for no bias
    stride : int or (int, int)
    padding : 'valid', 'same', int, (int, int) or (top, bottom, left, right)

    Returns
    -------
    out : ndarray, shape (N, F, H_out, W_out)
        ``H_out = (H + top + bottom - KH) // stride_h + 1``, likewise ``W_out``.
    cache : tuple
        ``(x, w, b, stride_hw, pads)``: the inputs, the stride and the four paddings.

    Examples
    --------
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> w = np.ones((1, 1, 2, 2))
    >>> conv2d_forward_naive(x, w, np.zeros(1), stride=2)[0][0, 0]   # sums of 2x2 blocks
    array([[10., 18.],
           [42., 50.]])
    """
    (kh, kw), (sh, sw), pads, (h_out, w_out) = _geometry(x, w, b, stride, padding)
    top, bottom, left, right = pads
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    n_img, n_filt = x.shape[0], w.shape[0]
    out = np.zeros((n_img, n_filt, h_out, w_out), dtype=x.dtype)
    for n in range(n_img):
        for f in range(n_filt):
            for oh in range(h_out):
                for ow in range(w_out):
                    patch = xp[n, :, oh * sh : oh * sh + kh, ow * sw : ow * sw + kw]
                    out[n, f, oh, ow] = np.sum(patch * w[f]) + (b[f] if b is not None else 0)
    return out, (x, w, b, (sh, sw), pads)


def conv2d_backward_naive(dout, cache):
    """Gradients of the convolution by the same loops, run backwards.

    Parameters
    ----------
    dout : ndarray, shape (N, F, H_out, W_out)
    cache : from :func:`conv2d_forward_naive`

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    dw : ndarray, shape (F, C, KH, KW)
    db : ndarray, shape (F,), or None if the forward pass had no bias

    Examples
    --------
    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> out, cache = conv2d_forward_naive(x, np.ones((1, 1, 2, 2)), np.zeros(1))
    >>> dx, dw, db = conv2d_backward_naive(np.ones_like(out), cache)
    >>> dx[0, 0]                       # how many 2x2 windows cover each pixel
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    >>> db
    array([4.])
    """
    check_float("conv2d", dout=dout)
    x, w, b, (sh, sw), (top, bottom, left, right) = cache
    kh, kw = w.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    n_img, n_filt, h_out, w_out = dout.shape
    for n in range(n_img):
        for f in range(n_filt):
            for oh in range(h_out):
                for ow in range(w_out):
                    rows = slice(oh * sh, oh * sh + kh)
                    cols = slice(ow * sw, ow * sw + kw)
                    dw[f] += dout[n, f, oh, ow] * xp[n, :, rows, cols]
                    dxp[n, :, rows, cols] += dout[n, f, oh, ow] * w[f]
    db = dout.sum(axis=(0, 2, 3)) if b is not None else None
    dx = dxp[:, :, top : top + x.shape[2], left : left + x.shape[3]]
    return dx, dw, db


# ---------------------------------------------------------------------------------------------
# Fast: im2col, then one matrix product for the whole batch (eq. conv-im2col).
# ---------------------------------------------------------------------------------------------


def conv2d_forward(x, w, b, *, stride=1, padding=0):
    """Convolution as ``W.reshape(F, K) @ im2col(x)``: every patch becomes a column, and one
    matrix product takes the dot product of every filter with every patch. Same contract as
    :func:`conv2d_forward_naive`.

    ``K = C*KH*KW`` (a patch's entries) and ``P = H_out*W_out`` (the positions). The product
    ``(F, K) @ (N, K, P)`` broadcasts the filters over the batch and gives ``(N, F, P)``,
    which is already NCHW once reshaped.

    Examples
    --------
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> conv2d_forward(x, np.ones((1, 1, 2, 2)), np.zeros(1), stride=2)[0][0, 0]
    array([[10., 18.],
           [42., 50.]])
    """
    kernel_hw, stride_hw, pads, out_hw = _geometry(x, w, b, stride, padding)
    n_img, n_filt = x.shape[0], w.shape[0]
    cols = im2col(x, kernel_hw, stride_hw, pads, out_hw)  # (N, K, P)
    out = w.reshape(n_filt, -1) @ cols  # (F, K) @ (N, K, P) -> (N, F, P)
    if b is not None:
        out += b[:, None]  # one bias per filter, the same at every position
    return out.reshape(n_img, n_filt, *out_hw), (x, w, b, stride_hw, pads)


def conv2d_backward(dout, cache):
    """Gradients by two matrix products and col2im (eqs. conv-bwd-w, conv-bwd-x in matrix
    form). Same contract as :func:`conv2d_backward_naive`::

        dw = sum_n dout[n] @ cols[n].T        (F, P) @ (P, K) -> (F, K)
        dx = col2im(W.T @ dout[n])            (K, F) @ (F, P) -> (K, P) -> (C, H, W)

    The patches are made again from ``x`` rather than kept from the forward pass: the
    cache then holds what the naive version's does, and copying costs little next to the
    products.

    Examples
    --------
    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> out, cache = conv2d_forward(x, np.ones((1, 1, 2, 2)), np.zeros(1))
    >>> dx, dw, db = conv2d_backward(np.ones_like(out), cache)
    >>> dw[0, 0]                       # sum of the pixels each kernel tap saw
    array([[ 8., 12.],
           [20., 24.]])
    """
    check_float("conv2d", dout=dout)
    x, w, b, stride_hw, pads = cache
    n_img, n_filt = dout.shape[:2]
    kernel_hw, out_hw = w.shape[2:], dout.shape[2:]
    d = dout.reshape(n_img, n_filt, -1)  # (N, F, P)
    cols = im2col(x, kernel_hw, stride_hw, pads, out_hw)  # (N, K, P)
    dw = (d @ cols.transpose(0, 2, 1)).sum(axis=0).reshape(w.shape)
    dcols = w.reshape(n_filt, -1).T @ d  # (K, F) @ (N, F, P) -> (N, K, P)
    dx = col2im(dcols, x.shape, kernel_hw, stride_hw, pads, out_hw)
    db = d.sum(axis=(0, 2)) if b is not None else None
    return dx, dw, db
