"""im2col and col2im: turning a convolution into one matrix multiplication.

Reading order: shapes → gradcheck → jit → **4. im2col** → ops → layers → ... Docs chapter:
"im2col and col2im".

A convolution slides an ``F x C x KH x KW`` filter bank over the image and, at each of the
``H_out x W_out`` positions, takes a dot product of each filter with the ``C x KH x KW``
patch under it. If we copy every patch into a column of a matrix,

    cols[n, (c, i, j), (oh, ow)] = x_padded[n, c, oh*stride_h + i, ow*stride_w + j]

then all those dot products for image ``n`` are one matrix product::

    out[n] = W.reshape(F, C*KH*KW) @ cols[n]          # (F, K) @ (K, P) -> (F, P)

with ``K = C*KH*KW`` rows (patch entries, ordered c, then i, then j, the same order as
``W.reshape``) and ``P = H_out*W_out`` columns (positions, row-major). NumPy hands that
product to BLAS, a library tuned for exactly this, which is why im2col is fast even though
it copies each input pixel up to ``KH*KW`` times.

col2im is the adjoint (the transpose) of im2col: it sends each entry of ``cols`` back to the
pixel it was copied from, *adding* where patches overlap. That is exactly what the backward
pass needs: ``dx = col2im(W^T @ dout)``.

Both are Numba kernels, written for one image (``im2col_image``, ``col2im_image``) and run
over a batch one image after another. The tuned convolution of the annex calls the
one-image kernels itself, so that each image's columns are made, used and dropped while they
are still in the CPU's cache (:mod:`convnet.tuned.conv`). Zero padding is not
materialised: positions that fall in the padding read as 0 (im2col) or are dropped (col2im).
"""

from __future__ import annotations

import numpy as np

from convnet.jit import kernel

__all__ = ["im2col", "col2im", "im2col_image", "col2im_image"]


@kernel
def im2col_image(x, kh, kw, sh, sw, pt, pl, oh_start, oh_stop, w_out, cols):
    """Patches of one image ``x`` (C, H, W) into ``cols`` (C*KH*KW, (oh_stop - oh_start)*W_out):
    the columns of the output rows ``oh_start <= oh < oh_stop``.

    ``oh_start=0, oh_stop=H_out`` gives the whole image's; a range of rows lets two threads
    share one image (see :func:`convnet.tuned.conv.conv_rows`).
    """
    n_ch, h_in, w_in = x.shape
    for c in range(n_ch):
        for i in range(kh):
            for j in range(kw):
                r = (c * kh + i) * kw + j
                for piece_row in range(oh_stop - oh_start):
                    h = (oh_start + piece_row) * sh + i - pt
                    # the W_out columns of output row oh; a view, indexed from 0 (faster)
                    dst = cols[r, piece_row * w_out : (piece_row + 1) * w_out]
                    if h < 0 or h >= h_in:
                        dst[:] = 0.0
                        continue
                    x_row = x[c, h]
                    for ow in range(w_out):
                        w = ow * sw + j - pl
                        dst[ow] = x_row[w] if 0 <= w < w_in else 0.0


@kernel
def col2im_image(cols, kh, kw, sh, sw, pt, pl, h_out, w_out, dx):
    """Adjoint of :func:`im2col_image`: add ``cols`` (K, P) back into one image ``dx`` (C, H, W).

    Overlapping patches add into the same pixel, so one image is one thread's work.
    """
    n_ch, h_in, w_in = dx.shape
    for c in range(n_ch):
        for hh in range(h_in):
            for ww in range(w_in):
                dx[c, hh, ww] = 0.0
        for i in range(kh):
            for j in range(kw):
                r = (c * kh + i) * kw + j
                for oh in range(h_out):
                    h = oh * sh + i - pt
                    if h < 0 or h >= h_in:
                        continue
                    for ow in range(w_out):
                        w = ow * sw + j - pl
                        if 0 <= w < w_in:
                            dx[c, h, w] += cols[r, oh * w_out + ow]


# The batch kernels run on one thread. They sit between NumPy's matrix products, whose BLAS
# threads keep spinning for a while after each product in case another comes; a second pool
# of threads here would have to fight them for the cores, and on two cores the fast rung
# trained a fifth slower that way. (The tuned annex, which runs everything on Numba's
# threads, calls the one-image kernels in parallel itself.)


@kernel
def _im2col_kernel(x, kh, kw, sh, sw, pt, pl, h_out, w_out, cols):
    for n in range(x.shape[0]):
        im2col_image(x[n], kh, kw, sh, sw, pt, pl, 0, h_out, w_out, cols[n])


@kernel
def _col2im_kernel(cols, kh, kw, sh, sw, pt, pl, h_out, w_out, dx):
    for n in range(dx.shape[0]):
        col2im_image(cols[n], kh, kw, sh, sw, pt, pl, h_out, w_out, dx[n])


def im2col(x, kernel_hw, stride_hw, pads, out_hw):
    """Copy every ``C x KH x KW`` patch of ``x`` into a column.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    kernel_hw, stride_hw : (int, int)
    pads : (top, bottom, left, right)
    out_hw : (H_out, W_out)
        From :func:`convnet.shapes.window_output_size`.

    Returns
    -------
    cols : ndarray, shape (N, C*KH*KW, H_out*W_out), dtype of ``x``

    Examples
    --------
    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> im2col(x, (2, 2), (1, 1), (0, 0, 0, 0), (2, 2))[0]
    array([[0., 1., 3., 4.],
           [1., 2., 4., 5.],
           [3., 4., 6., 7.],
           [4., 5., 7., 8.]])
    """
    (kh, kw), (sh, sw), (h_out, w_out) = kernel_hw, stride_hw, out_hw
    n, c = x.shape[:2]
    cols = np.empty((n, c * kh * kw, h_out * w_out), dtype=x.dtype)
    _im2col_kernel(np.ascontiguousarray(x), kh, kw, sh, sw, pads[0], pads[2], h_out, w_out, cols)
    return cols


def col2im(cols, x_shape, kernel_hw, stride_hw, pads, out_hw):
    """Adjoint of :func:`im2col`: add every column back onto the pixels it came from.

    Parameters
    ----------
    cols : ndarray, shape (N, C*KH*KW, H_out*W_out)
    x_shape : (N, C, H, W)
        Shape of the image the columns were taken from.
    kernel_hw, stride_hw, pads, out_hw
        As for :func:`im2col`.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)

    Examples
    --------
    >>> cols = np.ones((1, 4, 4))                      # 2x2 patches of a 3x3 image
    >>> col2im(cols, (1, 1, 3, 3), (2, 2), (1, 1), (0, 0, 0, 0), (2, 2))[0, 0]
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """
    (kh, kw), (sh, sw), (h_out, w_out) = kernel_hw, stride_hw, out_hw
    dx = np.empty(x_shape, dtype=cols.dtype)
    _col2im_kernel(np.ascontiguousarray(cols), kh, kw, sh, sw, pads[0], pads[2], h_out, w_out, dx)
    return dx
