"""Convolution, tuned: per-image im2col in the cache, register-tiled GEMM, ReLU in the same pass.

Off the reading path, in the annex :mod:`convnet.tuned`. Docs chapter: "Speed".

The fast rung (:func:`convnet.ops.conv2d_forward`) builds the whole batch's patch matrix,
85 MB for the seed-net's second convolution at batch 128, and streams it through memory
three times (made, multiplied, and made again for the backward pass). Here each image's
patch matrix (288 x 576 numbers, 0.66 MB) is made, multiplied and dropped while it is still
in the core's cache, by the register-tiled GEMM of :mod:`convnet.tuned.gemm`; bias and ReLU
are applied while the image's output is still there too, and the backward pass applies
ReLU's mask as it reads each image's gradient. The work is shared out between the cores in
small runs of images, handed out as cores come free.

One image (what the drawing app sends) has no images to share out, so it is cut into
pieces of output rows instead, one run per core.
"""

from __future__ import annotations

import contextlib

import numpy as np

from convnet.im2col import col2im_image, im2col_image
from convnet.jit import kernel, parallel_chunksize, prange
from convnet.tuned.gemm import gemm_nn, gemm_nt

__all__ = ["conv_rows", "forward", "backward"]


@kernel
def conv_rows(x, w_mat, b, kh, kw, sh, sw, pt, pl, oh_start, oh_stop, w_out, relu, cols, prod,
              out):  # fmt: skip
    """Output rows ``oh_start <= oh < oh_stop`` of one image: ``w_mat @ cols + b``, then ReLU
    if asked, into ``out[:, oh_start*W_out : oh_stop*W_out]``.

    x : (C, H, W); w_mat : (F, K); b : (F,); cols : (K, P) and prod : (F, P) scratch, where
    ``P = (oh_stop - oh_start) * W_out``; out : (F, H_out * W_out), the image's output.
    ``prod`` may be ``out`` itself when the rows are all of them (the product then goes
    straight into place). :mod:`convnet.tuned.bands` calls this too, for bands of rows.
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


def forward(x, w, b, stride_hw, pads, out_hw, relu, out=None):
    """``relu(conv(x, w) + b)`` (without ReLU if ``relu`` is False), image by image.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), C-contiguous
    w : ndarray, shape (F, C, KH, KW)
    b : ndarray, shape (F,), or None
    stride_hw, pads, out_hw
        As :func:`convnet.ops.conv._geometry` works them out.
    relu : bool
    out : ndarray, shape (N, F, H_out, W_out), optional
        C-contiguous, of ``x``'s dtype: written and returned instead of a new array.

    Returns
    -------
    out : ndarray, shape (N, F, H_out, W_out)
    """
    (kh, kw), (sh, sw), (h_out, w_out) = w.shape[2:], stride_hw, out_hw
    n_img, n_filt = x.shape[0], w.shape[0]
    w_mat = np.ascontiguousarray(w.reshape(n_filt, -1))  # (F, K), rows ordered (c, i, j)
    bias = b if b is not None else np.zeros(n_filt, x.dtype)
    if out is None:
        out = np.empty((n_img, n_filt, h_out, w_out), x.dtype)
    n_chunks, n_pieces = _work_items(n_img, h_out)
    # A batch's chunks are handed out as threads come free (see IMAGES_PER_CHUNK); the few
    # pieces of one image go in equal shares fixed in advance, which saves the cost of
    # handing out: a few percent of one image's pass.
    with parallel_chunksize(1) if n_pieces == 1 else contextlib.nullcontext():
        _conv_forward_kernel(x, w_mat, bias.astype(x.dtype, copy=False), kh, kw, sh, sw,
                             pads[0], pads[2], h_out, w_out, n_chunks, n_pieces, relu,
                             out.reshape(n_img, n_filt, h_out * w_out))  # fmt: skip
    return out


def backward(dout, x, w, stride_hw, pads, relu_out=None, need_dx=True):
    """Gradients of :func:`forward`: two GEMMs per image and col2im.

    Parameters
    ----------
    dout : ndarray, shape (N, F, H_out, W_out)
    x, w, stride_hw, pads
        As given to :func:`forward`.
    relu_out : ndarray, shape (N, F, H_out, W_out), or None
        :func:`forward`'s output when it applied ReLU: ``dout`` passes only where it is
        positive.
    need_dx : bool
        False skips ``dx`` (returned as None).

    Returns
    -------
    dx : ndarray, shape (N, C, H, W), or None
    dw : ndarray, shape (F, C, KH, KW)
    db : ndarray, shape (F,)
    """
    (kh, kw), (sh, sw) = w.shape[2:], stride_hw
    n_img, n_filt, h_out, w_out = dout.shape
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
    return (dx if need_dx else None), dw, db_parts.sum(axis=0)
