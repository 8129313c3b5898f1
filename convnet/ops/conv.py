"""2-D convolution (cross-correlation, as in every deep-learning library), forward and backward.

Reading order: ... → im2col → **6. ops: conv** → pool → dense → activations → dropout →
softmax → layers → ... Docs chapter: "Convolution".

Forward, for image ``n``, filter ``f`` and output position ``(oh, ow)`` (eq. conv-fwd)::

    out[n, f, oh, ow] = b[f] + sum_{c, i, j} w[f, c, i, j] * xp[n, c, oh*sh + i, ow*sw + j]

where ``xp`` is ``x`` zero-padded by ``(top, bottom, left, right)``. Backward, given
``dout = ∂L/∂out`` (eqs. conv-bwd-b, conv-bwd-w, conv-bwd-x)::

    db[f]          = sum_{n, oh, ow} dout[n, f, oh, ow]
    dw[f, c, i, j] = sum_{n, oh, ow} dout[n, f, oh, ow] * xp[n, c, oh*sh + i, ow*sw + j]
    dxp[n, c, oh*sh + i, ow*sw + j] += sum_f dout[n, f, oh, ow] * w[f, c, i, j]

and ``dx`` is ``dxp`` with the padding cut off.

With ``relu=True`` the op is followed by ReLU in the same pass, ``out = max(0, conv(x))``, and
the backward pass first sends ``dout`` only through positions where ``out > 0``. A network
almost always puts ReLU after a convolution; fused, the fast version applies it while each
image's output is still in the cache instead of making two more passes over the batch.

Two implementations with the same signature: ``conv2d_forward_naive`` / ``conv2d_backward_naive``
loop over the sums as written; ``conv2d_forward`` / ``conv2d_backward`` use im2col and the
register-tiled GEMM of :mod:`convnet.gemm`.
"""

from __future__ import annotations

import contextlib

import numpy as np

from convnet.gemm import gemm_nn, gemm_nt
from convnet.im2col import col2im_image, im2col_image
from convnet.jit import kernel, parallel_chunksize, prange
from convnet.shapes import output_array, pair, resolve_padding, window_output_size

__all__ = ["conv2d_forward", "conv2d_backward", "conv2d_forward_naive", "conv2d_backward_naive"]


def _geometry(x, w, b, stride, padding):
    """Validate shapes and return ``(kernel_hw, stride_hw, pads, out_hw)``."""
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


def conv2d_forward_naive(x, w, b, *, stride=1, padding=0, relu=False):
    """Convolution by explicit loops over images, filters and output positions.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    w : ndarray, shape (F, C, KH, KW)
    b : ndarray, shape (F,), or None for no bias
    stride : int or (int, int)
    padding : 'valid', 'same', int, (int, int) or (top, bottom, left, right)
    relu : bool
        Apply ReLU to the result (see the module docstring).

    Returns
    -------
    out : ndarray, shape (N, F, H_out, W_out)
        ``H_out = (H + top + bottom - KH) // stride_h + 1``, likewise ``W_out``.
    cache : tuple
        ``(x, w, b, stride_hw, pads, relu_out)``, ``relu_out`` being ``out`` with ``relu``
        and None without.

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
    if relu:
        out = np.maximum(out, 0)
    return out, (x, w, b, (sh, sw), pads, out if relu else None)


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
    x, w, b, (sh, sw), (top, bottom, left, right), relu_out = cache
    if relu_out is not None:  # through the ReLU first: only where it let the value pass
        dout = dout * (relu_out > 0)
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
# Fast: im2col + the register-tiled GEMMs of convnet/gemm.py, one image at a time per thread.
#
# Each image's patch matrix (for the seed-net's second convolution 288 x 576 numbers, 0.66 MB)
# is made, multiplied and dropped while it is still in the core's cache, instead of building
# the whole batch's (85 MB at batch 128) and streaming it through memory three times. The
# backward pass makes the patches again rather than keeping them: copying is cheap next to
# the multiplications, and a forward pass then needs no more memory than its output.
# ---------------------------------------------------------------------------------------------


@kernel
def conv_rows(x, w_mat, b, kh, kw, sh, sw, pt, pl, oh_start, oh_stop, w_out, relu, cols, prod,
              out):  # fmt: skip
    """Output rows ``oh_start <= oh < oh_stop`` of one image: ``w_mat @ cols + b``, then ReLU
    if asked, into ``out[:, oh_start*W_out : oh_stop*W_out]``.

    x : (C, H, W); w_mat : (F, K); b : (F,); cols : (K, P) and prod : (F, P) scratch, where
    ``P = (oh_stop - oh_start) * W_out``; out : (F, H_out * W_out), the image's output.
    ``prod`` may be ``out`` itself when the rows are all of them (the product then goes
    straight into place). :mod:`convnet.bands` calls this too, for bands of rows.
    """
    im2col_image(x, kh, kw, sh, sw, pt, pl, oh_start, oh_stop, w_out, cols)
    gemm_nn(w_mat, cols, prod, False)  # (F, K) x (K, P) -> (F, P)
    p_start, p_stop = oh_start * w_out, oh_stop * w_out
    for f in range(w_mat.shape[0]):  # + bias, ReLU, into place
        # views that start at 0, so that the compiler sees no negative index and vectorises
        # the loop
        out_f, prod_f, bias = out[f, p_start:p_stop], prod[f], b[f]
        for p in range(out_f.shape[0]):
            v = prod_f[p] + bias
            # "not v < 0" rather than "v > 0": a NaN must stay NaN, as in np.maximum
            out_f[p] = v if (not relu or not v < 0.0) else 0.0


@kernel(parallel=True)
def _conv_forward_kernel(x, w_mat, b, kh, kw, sh, sw, pt, pl, h_out, w_out, n_chunks, n_pieces,
                         relu, out):  # fmt: skip
    """out[n] (F, P) = w_mat (F, K) @ cols(x[n]) (K, P) + b, then ReLU if asked.

    The work is cut into ``n_chunks`` runs of images times ``n_pieces`` runs of output rows
    (see :func:`_work_items`); each piece of an image is a product of its own."""
    n_img = x.shape[0]
    n_filt, k_size = w_mat.shape
    for t in prange(n_chunks * n_pieces):
        chunk, piece = t // n_pieces, t % n_pieces
        oh_start, oh_stop = piece * h_out // n_pieces, (piece + 1) * h_out // n_pieces
        # buffers of its own: the piece's columns and, when an image is cut into pieces,
        # their product with the kernel (a whole image's goes straight into out[n])
        cols = np.empty((k_size, (oh_stop - oh_start) * w_out), x.dtype)
        prod = np.empty((n_filt, (oh_stop - oh_start) * w_out if n_pieces > 1 else 0), x.dtype)
        for n in range(chunk * n_img // n_chunks, (chunk + 1) * n_img // n_chunks):
            conv_rows(x[n], w_mat, b, kh, kw, sh, sw, pt, pl, oh_start, oh_stop, w_out, relu,
                      cols, out[n] if n_pieces == 1 else prod, out[n])  # fmt: skip


@kernel(parallel=True)
def _conv_backward_kernel(x, d, w_t, kh, kw, sh, sw, pt, pl, h_out, w_out, n_chunks, need_dx,
                          relu_out, dw_parts, db_parts, dx):  # fmt: skip
    """Over chunk t of the images: dw_parts[t] = sum d[n] @ cols[n]^T, db_parts[t] = sum of
    d[n] over positions; dx[n] = col2im(w^T @ d[n]).

    With a non-empty ``relu_out`` (N, F, P), ``d[n]`` is first zeroed where ``relu_out[n]``
    is not positive (the fused ReLU's backward pass)."""
    relu = relu_out.size > 0
    n_img, n_filt, n_pos = d.shape
    k_size = w_t.shape[0]
    for t in prange(n_chunks):
        cols = np.empty((k_size, n_pos), x.dtype)
        dcols = np.empty((k_size, n_pos), x.dtype)
        d_masked = np.empty((n_filt, n_pos), x.dtype)
        for n in range(t * n_img // n_chunks, (t + 1) * n_img // n_chunks):
            d_n = d[n]
            if relu:
                y_n = relu_out[n]
                for f in range(n_filt):
                    for p in range(n_pos):
                        d_masked[f, p] = d_n[f, p] if y_n[f, p] > 0.0 else 0.0
                d_n = d_masked
            for f in range(n_filt):
                db_parts[t, f] += d_n[f].sum()
            im2col_image(x[n], kh, kw, sh, sw, pt, pl, 0, h_out, w_out, cols)  # (K, P)
            gemm_nt(d_n, cols, dw_parts[t], True)  # (F, P) x (K, P)^T -> (F, K), summed
            if need_dx:
                # summed over only F filters: gemm_nn, which has no per-tile sums to finish
                gemm_nn(w_t, d_n, dcols, False)  # (K, F) x (F, P) -> (K, P)
                col2im_image(dcols, kh, kw, sh, sw, pt, pl, h_out, w_out, dx[n])


#: Images per parallel work item. Small pieces handed out as threads come free (the
#: ``parallel_chunksize(1)`` below) keep both cores busy even when another program takes
#: one of them for a while; equal halves fixed in advance would leave one core waiting.
IMAGES_PER_CHUNK = 4


#: A forward pass over fewer images than this cuts each image into pieces of output rows, so
#: that both cores work on it: one image at a time is what a drawing app asks for.
FEW_IMAGES = 2 * IMAGES_PER_CHUNK


def _chunks(n_img: int) -> int:
    """How many pieces of at most ``IMAGES_PER_CHUNK`` images to cut a batch into."""
    return max(1, -(-n_img // IMAGES_PER_CHUNK))


def _work_items(n_img: int, h_out: int) -> tuple[int, int]:
    """``(n_chunks, n_pieces)`` for the forward kernel: runs of images, and for few images
    runs of output rows within each image, at least ``IMAGES_PER_CHUNK`` work items in all.
    (More, smaller pieces cost more than they balance: for one image of conv2, 4 pieces take
    0.126 ms on two cores, 8 take 0.148 ms.)"""
    if n_img >= FEW_IMAGES:
        return _chunks(n_img), 1
    return n_img, max(1, min(h_out, -(-IMAGES_PER_CHUNK // max(n_img, 1))))


def conv2d_forward(x, w, b, *, stride=1, padding=0, relu=False, out=None):
    """Convolution as ``W.reshape(F, K) @ im2col(x)``, image by image. Same contract as the
    naive version, and ``out`` to write the result into an existing array.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    w : ndarray, shape (F, C, KH, KW)
    b : ndarray, shape (F,), or None
    stride : int or (int, int)
    padding : 'valid', 'same', int, (int, int) or (top, bottom, left, right)
    relu : bool
        Apply ReLU to the result, in the same pass.
    out : ndarray, shape (N, F, H_out, W_out), optional
        C-contiguous, of ``x``'s dtype: filled and returned instead of a new array (the model
        reuses its arrays from one inference batch to the next; see ``Layer.forward``).

    Returns
    -------
    out : ndarray, shape (N, F, H_out, W_out)
    cache : tuple
        ``(x, w, b is not None, geometry, relu_out)``; the backward pass rebuilds the patches
        from ``x``. ``relu_out`` is ``out`` with ``relu``, else None.

    Examples
    --------
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> conv2d_forward(x, np.ones((1, 1, 2, 2)), np.zeros(1), stride=2)[0][0, 0]
    array([[10., 18.],
           [42., 50.]])
    """
    geometry = _geometry(x, w, b, stride, padding)
    (kh, kw), (sh, sw), pads, (h_out, w_out) = geometry
    x = np.ascontiguousarray(x)
    n_img, n_filt = x.shape[0], w.shape[0]
    w_mat = np.ascontiguousarray(w.reshape(n_filt, -1))  # (F, K), rows ordered (c, i, j)
    bias = b if b is not None else np.zeros(n_filt, x.dtype)
    out = output_array(out, (n_img, n_filt, h_out, w_out), x.dtype, name="conv2d")
    out_flat = out.reshape(n_img, n_filt, h_out * w_out)  # (N, F, P): NCHW, no transpose
    n_chunks, n_pieces = _work_items(n_img, h_out)
    # A batch's chunks are handed out as threads come free (see IMAGES_PER_CHUNK); the few
    # pieces of one image go in equal shares fixed in advance, which saves the microseconds
    # that handing out costs: a few percent of one image's pass through the seed-net.
    with parallel_chunksize(1) if n_pieces == 1 else contextlib.nullcontext():
        _conv_forward_kernel(x, w_mat, bias.astype(x.dtype, copy=False), kh, kw, sh, sw,
                             pads[0], pads[2], h_out, w_out, n_chunks, n_pieces, relu,
                             out_flat)  # fmt: skip
    return out, (x, w, b is not None, geometry, out if relu else None)


def conv2d_backward(dout, cache, *, need_dx=True):
    """Gradients by two GEMMs per image (``dw += d @ cols.T``, ``dcols = w.T @ d``) and
    col2im. Same contract as the naive version.

    Parameters
    ----------
    dout : ndarray, shape (N, F, H_out, W_out)
    cache : from :func:`conv2d_forward`
    need_dx : bool
        False skips ``dx`` (returned as None): a network's first layer has no use for it.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W), or None
    dw : ndarray, shape (F, C, KH, KW)
    db : ndarray, shape (F,), or None

    Examples
    --------
    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> out, cache = conv2d_forward(x, np.ones((1, 1, 2, 2)), np.zeros(1))
    >>> dx, dw, db = conv2d_backward(np.ones_like(out), cache)
    >>> dw[0, 0]                       # sum of the pixels each kernel tap saw
    array([[ 8., 12.],
           [20., 24.]])
    """
    x, w, has_bias, ((kh, kw), (sh, sw), pads, (h_out, w_out)), relu_out = cache
    n_img, n_filt = dout.shape[:2]
    d = np.ascontiguousarray(dout, dtype=x.dtype).reshape(n_img, n_filt, -1)  # (N, F, P)
    if relu_out is None:
        relu_out = np.empty((0, 0, 0), x.dtype)  # the kernel's sign for "no ReLU"
    relu_out = relu_out.reshape(-1, *d.shape[1:])
    w_t = np.ascontiguousarray(w.reshape(n_filt, -1).T)  # (K, F)
    n_chunks = _chunks(n_img)
    dw_parts = np.zeros((n_chunks, *w_t.shape[::-1]), x.dtype)  # (chunks, F, K)
    db_parts = np.zeros((n_chunks, n_filt), x.dtype)
    dx = np.empty(x.shape, x.dtype) if need_dx else np.empty((0, 0, 0, 0), x.dtype)
    with parallel_chunksize(1):
        _conv_backward_kernel(x, d, w_t, kh, kw, sh, sw, pads[0], pads[2], h_out, w_out,
                              n_chunks, need_dx, relu_out, dw_parts, db_parts, dx)  # fmt: skip
    dw = dw_parts.sum(axis=0).reshape(w.shape)
    db = db_parts.sum(axis=0) if has_bias else None
    return (dx if need_dx else None), dw, db
