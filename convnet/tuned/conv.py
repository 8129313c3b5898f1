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
import functools

import numpy as np

from convnet.im2col import col2im_image, im2col_image
from convnet.jit import kernel, parallel_chunksize, prange
from convnet.ops.conv import conv2d_backward, conv2d_forward
from convnet.tuned import autotune, blas
from convnet.tuned.blas import product, product_nt
from convnet.tuned.pool import backward as maxpool_backward
from convnet.tuned.pool import forward as maxpool_forward
from convnet.tuned.pool import maxpool_rows

__all__ = ["conv_rows", "forward", "backward", "forward_pool", "backward_pool", "FORWARD_WAYS",
           "BACKWARD_WAYS", "POOL_FORWARD_WAYS", "POOL_BACKWARD_WAYS"]


@kernel
def conv_rows(x, w_mat, b, kh, kw, sh, sw, pt, pl, oh_start, oh_stop, w_out, relu, blas, cols,
              prod, out):  # fmt: skip
    """Output rows ``oh_start <= oh < oh_stop`` of one image: ``w_mat @ cols + b``, then ReLU
    if asked, into ``out[:, oh_start*W_out : oh_stop*W_out]``. The product is BLAS's if
    ``blas`` (see :mod:`convnet.tuned.blas`), else the register-tiled GEMM's.

    x : (C, H, W); w_mat : (F, K); b : (F,); cols : (K, P) and prod : (F, P) scratch, where
    ``P = (oh_stop - oh_start) * W_out``; out : (F, H_out * W_out), the image's output.
    ``prod`` may be ``out`` itself when the rows are all of them (the product then goes
    straight into place). :mod:`convnet.tuned.bands` calls this too, for bands of rows.
    """
    im2col_image(x, kh, kw, sh, sw, pt, pl, oh_start, oh_stop, w_out, cols)
    product(w_mat, cols, prod, False, blas)  # (F, K) x (K, P) -> (F, P)
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
                         relu, blas, out):  # fmt: skip
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
                      blas, cols, out[n] if n_pieces == 1 else prod, out[n])  # fmt: skip


@kernel(parallel=True)
def _conv_backward_kernel(x, d, w_t, kh, kw, sh, sw, pt, pl, h_out, w_out, n_chunks, need_dx,
                          relu_out, argmax, blas, dw_parts, db_parts, dx):  # fmt: skip
    """Over chunk t of the images: dw_parts[t] = sum d[n] @ cols[n]^T, db_parts[t] = sum of
    d[n] over positions; dx[n] = col2im(w^T @ d[n]).

    With a non-empty ``relu_out`` (N, F, Q), ``d[n]`` is first zeroed where ``relu_out[n]``
    is not positive (the fused ReLU's backward pass). With a non-empty ``argmax`` (N, F, Q),
    ``d`` is the gradient of a max pooling of the convolution's output, and each entry is
    first added onto the position its window's maximum came from (the fused pooling's
    backward pass); ``relu_out`` is then the pooled output."""
    relu, pooled = relu_out.size > 0, argmax.size > 0
    n_img, n_filt, n_q = d.shape
    n_pos = h_out * w_out
    k_size = w_t.shape[0]
    for t in prange(n_chunks):
        cols = np.empty((k_size, n_pos), x.dtype)
        dcols = np.empty((k_size, n_pos), x.dtype)
        d_masked = np.empty((n_filt, n_pos), x.dtype)
        for n in range(t * n_img // n_chunks, (t + 1) * n_img // n_chunks):
            d_n = d[n]
            if pooled:
                d_masked[:, :] = 0.0
                for f in range(n_filt):
                    for q in range(n_q):
                        if not relu or relu_out[n, f, q] > 0.0:
                            d_masked[f, argmax[n, f, q]] += d_n[f, q]
                d_n = d_masked
            elif relu:
                y_n = relu_out[n]
                for f in range(n_filt):
                    for p in range(n_pos):
                        d_masked[f, p] = d_n[f, p] if y_n[f, p] > 0.0 else 0.0
                d_n = d_masked
            for f in range(n_filt):
                db_parts[t, f] += d_n[f].sum()
            im2col_image(x[n], kh, kw, sh, sw, pt, pl, 0, h_out, w_out, cols)  # (K, P)
            product_nt(d_n, cols, dw_parts[t], True, blas)  # (F, P) x (K, P)^T -> (F, K), summed
            if need_dx:
                # summed over only F filters: gemm_nn (when not BLAS), which has no per-tile
                # sums to finish
                product(w_t, d_n, dcols, False, blas)  # (K, F) x (F, P) -> (K, P)
                col2im_image(dcols, kh, kw, sh, sw, pt, pl, h_out, w_out, dx[n])


@kernel(parallel=True)
def _conv_pool_forward_kernel(x, w_mat, b, kh, kw, sh, sw, pt, pl, h_out, w_out, relu, blas,
                              ph, pw, psh, psw, ppt, ppl, n_chunks, out, argmax):  # fmt: skip
    """Convolution (then ReLU if asked) and max pooling of each image while its feature maps
    are in the cache: out[n] (F, H_pool, W_pool) and argmax[n] (the flat position ``h *
    W_out + w`` of each window's maximum in its convolution output plane). The convolution's
    output itself is never written to memory."""
    n_img = x.shape[0]
    n_filt, k_size = w_mat.shape
    for t in prange(n_chunks):
        cols = np.empty((k_size, h_out * w_out), x.dtype)
        maps = np.empty((n_filt, h_out * w_out), x.dtype)
        for n in range(t * n_img // n_chunks, (t + 1) * n_img // n_chunks):
            conv_rows(x[n], w_mat, b, kh, kw, sh, sw, pt, pl, 0, h_out, w_out, relu, blas,
                      cols, maps, maps)  # fmt: skip
            for f in range(n_filt):
                maxpool_rows(maps[f].reshape((h_out, w_out)), ph, pw, psh, psw, ppt, ppl, 0,
                             out.shape[2], out[n, f], argmax[n, f])  # fmt: skip


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
    (More, smaller pieces cost more in handing out than they gain in balance.)"""
    if n_img >= FEW_IMAGES:
        return _chunks(n_img), 1
    return n_img, max(1, min(h_out, -(-IMAGES_PER_CHUNK // max(n_img, 1))))


# ---------------------------------------------------------------------------------------------
# The second way: a few images at a time through one BLAS product.
#
# The per-image kernels above multiply with the register-tiled GEMM of convnet/tuned/gemm.py.
# On a CPU whose BLAS has kernels written for its vector units (AVX-512, say), BLAS can be
# twice as fast at the product. The product of one image is small for BLAS, so a group of G
# images is laid side by side in one patch matrix (K, G*P): one product of the filters with
# it, (F, K) @ (K, G*P), does the group, and short kernels move the result into NCHW order
# with bias and ReLU on the way. G is chosen by measuring: big enough for BLAS, small enough
# that the group's patches stay in the cache.
# ---------------------------------------------------------------------------------------------


@kernel(parallel=True)
def _im2col_group(x, n0, kh, kw, sh, sw, pt, pl, h_out, w_out, cols):
    """``cols`` (K, G*P): the patches of image ``n0 + g`` in columns ``g*P`` to ``(g+1)*P``."""
    n_pos = h_out * w_out
    for g in prange(cols.shape[1] // n_pos):
        im2col_image(x[n0 + g], kh, kw, sh, sw, pt, pl, 0, h_out, w_out,
                     cols[:, g * n_pos : (g + 1) * n_pos])  # fmt: skip


@kernel(parallel=True)
def _to_images(prod, b, relu, n0, out):
    """``out[n0 + g, f, p] = relu(prod[f, g*P + p] + b[f])`` (no ReLU unless ``relu``)."""
    n_filt, n_pos = out.shape[1], out.shape[2]
    for g in prange(prod.shape[1] // n_pos):
        for f in range(n_filt):
            src, dst, bias = prod[f, g * n_pos : (g + 1) * n_pos], out[n0 + g, f], b[f]
            for p in range(n_pos):
                v = src[p] + bias
                dst[p] = v if (not relu or not v < 0.0) else 0.0  # NaN stays NaN


@kernel(parallel=True)
def _from_images(d, relu_out, n0, d_group):
    """``d_group[f, g*P + p] = d[n0 + g, f, p]``, zero where a non-empty ``relu_out`` is not
    positive (ReLU's backward pass)."""
    relu = relu_out.size > 0
    n_filt, n_pos = d.shape[1], d.shape[2]
    for g in prange(d_group.shape[1] // n_pos):
        for f in range(n_filt):
            src, dst = d[n0 + g, f], d_group[f, g * n_pos : (g + 1) * n_pos]
            for p in range(n_pos):
                dst[p] = src[p] if (not relu or relu_out[n0 + g, f, p] > 0.0) else 0.0


@kernel(parallel=True)
def _col2im_group(dcols, n0, kh, kw, sh, sw, pt, pl, h_out, w_out, dx):
    """col2im of columns ``g*P`` to ``(g+1)*P`` of ``dcols`` into image ``n0 + g`` of ``dx``."""
    n_pos = h_out * w_out
    for g in prange(dcols.shape[1] // n_pos):
        col2im_image(dcols[:, g * n_pos : (g + 1) * n_pos], kh, kw, sh, sw, pt, pl, h_out,
                     w_out, dx[n0 + g])  # fmt: skip


def _groups(n_img, group):
    return [(n0, min(group, n_img - n0)) for n0 in range(0, n_img, group)]


def _forward_grouped(x, w, b, stride_hw, pads, out_hw, relu, out, group):
    (kh, kw), (sh, sw), (h_out, w_out) = w.shape[2:], stride_hw, out_hw
    n_filt, n_pos = w.shape[0], h_out * w_out
    w_mat = np.ascontiguousarray(w.reshape(n_filt, -1))
    flat = out.reshape(len(x), n_filt, n_pos)
    for n0, g in _groups(len(x), group):
        cols = np.empty((w_mat.shape[1], g * n_pos), x.dtype)
        _im2col_group(x, n0, kh, kw, sh, sw, pads[0], pads[2], h_out, w_out, cols)
        _to_images(w_mat @ cols, b, relu, n0, flat)


def _backward_grouped(d, x, w, stride_hw, pads, relu_out, need_dx, group):
    (kh, kw), (sh, sw) = w.shape[2:], stride_hw
    n_img, n_filt, n_pos = d.shape
    h_out, w_out = _out_hw(x, w, stride_hw, pads)
    w_mat = w.reshape(n_filt, -1)
    dw = np.zeros(w_mat.shape, x.dtype)
    db = np.zeros(n_filt, x.dtype)
    dx = np.empty(x.shape, x.dtype) if need_dx else None
    for n0, g in _groups(n_img, group):
        cols = np.empty((w_mat.shape[1], g * n_pos), x.dtype)
        _im2col_group(x, n0, kh, kw, sh, sw, pads[0], pads[2], h_out, w_out, cols)
        d_group = np.empty((n_filt, g * n_pos), x.dtype)
        _from_images(d, relu_out, n0, d_group)
        dw += d_group @ cols.T
        db += d_group.sum(axis=1)
        if need_dx:
            _col2im_group(w_mat.T @ d_group, n0, kh, kw, sh, sw, pads[0], pads[2], h_out,
                          w_out, dx)  # fmt: skip
    return dx, dw.reshape(w.shape), db


def _out_hw(x, w, stride_hw, pads):
    """The convolution's output height and width."""
    return ((x.shape[2] + pads[0] + pads[1] - w.shape[2]) // stride_hw[0] + 1,
            (x.shape[3] + pads[2] + pads[3] - w.shape[3]) // stride_hw[1] + 1)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The first way: each image on one core, with the register-tiled GEMM (kernels above).
# ---------------------------------------------------------------------------------------------


def _forward_per_image(x, w, b, stride_hw, pads, out_hw, relu, out, use_blas=False):
    (kh, kw), (sh, sw), (h_out, w_out) = w.shape[2:], stride_hw, out_hw
    n_img, n_filt = x.shape[0], w.shape[0]
    w_mat = np.ascontiguousarray(w.reshape(n_filt, -1))  # (F, K), rows ordered (c, i, j)
    n_chunks, n_pieces = _work_items(n_img, h_out)
    # A batch's chunks are handed out as threads come free (see IMAGES_PER_CHUNK); the few
    # pieces of one image go in equal shares fixed in advance, which saves the cost of
    # handing out: a few percent of one image's pass.
    with parallel_chunksize(1) if n_pieces == 1 else contextlib.nullcontext(), _threads(use_blas):
        _conv_forward_kernel(x, w_mat, b, kh, kw, sh, sw, pads[0], pads[2], h_out, w_out,
                             n_chunks, n_pieces, relu, use_blas,
                             out.reshape(n_img, n_filt, h_out * w_out))  # fmt: skip


def _backward_per_image(d, x, w, stride_hw, pads, relu_out, need_dx, use_blas=False,
                        argmax=None):  # fmt: skip
    (kh, kw), (sh, sw) = w.shape[2:], stride_hw
    n_img, n_filt = d.shape[:2]
    h_out, w_out = _out_hw(x, w, stride_hw, pads)
    if argmax is None:
        argmax = np.empty((0, 0, 0), np.int32)  # the kernel's sign for "not pooled"
    w_t = np.ascontiguousarray(w.reshape(n_filt, -1).T)  # (K, F)
    n_chunks = _chunks(n_img)
    dw_parts = np.zeros((n_chunks, *w_t.shape[::-1]), x.dtype)  # (chunks, F, K)
    db_parts = np.zeros((n_chunks, n_filt), x.dtype)
    dx = np.empty(x.shape, x.dtype) if need_dx else np.empty((0, 0, 0, 0), x.dtype)
    with parallel_chunksize(1), _threads(use_blas):
        _conv_backward_kernel(x, d, w_t, kh, kw, sh, sw, pads[0], pads[2], h_out, w_out,
                              n_chunks, need_dx, relu_out, argmax, use_blas, dw_parts, db_parts,
                              dx)  # fmt: skip
    dw = dw_parts.sum(axis=0).reshape(w.shape)
    return (dx if need_dx else None), dw, db_parts.sum(axis=0)


# ---------------------------------------------------------------------------------------------
# The fast rung's way, always a candidate: the annex is never slower than the core.
# ---------------------------------------------------------------------------------------------


def _forward_core(x, w, b, stride_hw, pads, out_hw, relu, out):
    z, _ = conv2d_forward(x, w, b, stride=stride_hw, padding=pads)
    if relu:
        np.maximum(z, 0, out=out)
    else:
        np.copyto(out, z)


def _backward_core(d, x, w, stride_hw, pads, relu_out, need_dx):
    if relu_out.size:
        d = np.where(relu_out > 0, d, 0)
    dz = d.reshape(*d.shape[:2], *_out_hw(x, w, stride_hw, pads))
    dx, dw, db = conv2d_backward(dz, (x, w, np.zeros(0), stride_hw, pads))
    return (dx if need_dx else None), dw, db


def _threads(use_blas):
    """Where each core calls BLAS on its own image, BLAS must not share the call out again."""
    return blas.one_thread() if use_blas else contextlib.nullcontext()


#: The ways to do a batch's forward and backward passes. "per-image, BLAS" is offered only
#: where BLAS can be held to one thread per call (:func:`convnet.tuned.blas.available`). The
#: ways that leave BLAS's own threads spinning go last (see :func:`convnet.tuned.autotune.choose`).
FORWARD_WAYS = {"per-image": _forward_per_image,
                "per-image, BLAS": functools.partial(_forward_per_image, use_blas=True),
                "fast rung": _forward_core,
                **{f"BLAS, {g} images": functools.partial(_forward_grouped, group=g)
                   for g in (8, 16)}}  # fmt: skip
BACKWARD_WAYS = {"per-image": _backward_per_image,
                 "per-image, BLAS": functools.partial(_backward_per_image, use_blas=True),
                 "fast rung": _backward_core,
                 **{f"BLAS, {g} images": functools.partial(_backward_grouped, group=g)
                    for g in (8, 16)}}  # fmt: skip


#: The fast rung stays a candidate only while the batch's patch matrix is at most this many
#: bytes: beyond it (a big ``predict`` batch) it is sure to lose, and measuring it would
#: allocate the very memory the per-image kernels avoid.
CORE_CANDIDATE_BYTES = 1 << 27


def _candidates(ways, x, w, n_pos):
    patches = x.shape[0] * w[0].size * n_pos * x.itemsize
    drop = {"fast rung"} if patches > CORE_CANDIDATE_BYTES else set()
    if not blas.available():
        drop.add("per-image, BLAS")
    return {name: way for name, way in ways.items() if name not in drop}


def forward(x, w, b, stride_hw, pads, out_hw, relu, out=None, way=None):
    """``relu(conv(x, w) + b)`` (without ReLU if ``relu`` is False), the fastest way.

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
    way : str, optional
        A key of :data:`FORWARD_WAYS`; left out, the one :func:`convnet.tuned.autotune.choose`
        measured fastest for these shapes on this machine.

    Returns
    -------
    out : ndarray, shape (N, F, H_out, W_out)
    """
    n_img, n_filt = x.shape[0], w.shape[0]
    bias = (b if b is not None else np.zeros(n_filt)).astype(x.dtype, copy=False)
    if out is None:
        out = np.empty((n_img, n_filt, *out_hw), x.dtype)
    args = (x, w, bias, stride_hw, pads, out_hw, relu, out)
    if way is None:
        key = (x.shape, w.shape, stride_hw, pads, relu, x.dtype.name)
        ways = _candidates(FORWARD_WAYS, x, w, out_hw[0] * out_hw[1])
        way = autotune.choose("conv2d_forward", key, ways, lambda f: f(*args))
    FORWARD_WAYS[way](*args)
    return out


def backward(dout, x, w, stride_hw, pads, relu_out=None, need_dx=True, way=None):
    """Gradients of :func:`forward`, the fastest way.

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
    way : str, optional
        A key of :data:`BACKWARD_WAYS`; left out, the one measured fastest.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W), or None
    dw : ndarray, shape (F, C, KH, KW)
    db : ndarray, shape (F,)
    """
    n_img, n_filt = dout.shape[:2]
    d = np.ascontiguousarray(dout, dtype=x.dtype).reshape(n_img, n_filt, -1)  # (N, F, P)
    if relu_out is None:
        relu_out = np.empty((0, 0, 0), x.dtype)  # the kernels' sign for "no ReLU"
    relu_out = relu_out.reshape(-1, *d.shape[1:])
    args = (d, x, w, stride_hw, pads, relu_out, need_dx)
    if way is None:
        key = (x.shape, w.shape, stride_hw, pads, relu_out.size > 0, need_dx, x.dtype.name)
        ways = _candidates(BACKWARD_WAYS, x, w, d.shape[2])
        way = autotune.choose("conv2d_backward", key, ways, lambda f: f(*args))
    return BACKWARD_WAYS[way](*args)


# ---------------------------------------------------------------------------------------------
# Convolution (and ReLU) followed by max pooling, in one pass over each image.
#
# The seed-net's second convolution writes 19 MB of feature maps at batch 128, which the
# pooling then reads to keep a quarter of them; on the way back, the pooling writes 19 MB of
# mostly-zero gradient that the convolution reads again, with the 19 MB of maps for ReLU's
# mask. Fused, each image's maps are pooled while they are in the cache, and only the pooled
# maps and the positions of their maxima are kept. ReLU's mask needs nothing more: a gradient
# reaches only the position of a window's maximum, and the ReLU output there is the pooled
# value itself.
# ---------------------------------------------------------------------------------------------


def _pool_forward_per_image(x, w, b, stride_hw, pads, out_hw, relu, pool, out, argmax,
                            use_blas=False):  # fmt: skip
    (kh, kw), (sh, sw), (h_out, w_out) = w.shape[2:], stride_hw, out_hw
    pool_hw, pool_stride, pool_pads = pool
    w_mat = np.ascontiguousarray(w.reshape(w.shape[0], -1))
    with parallel_chunksize(1), _threads(use_blas):
        _conv_pool_forward_kernel(x, w_mat, b, kh, kw, sh, sw, pads[0], pads[2], h_out, w_out,
                                  relu, use_blas, *pool_hw, *pool_stride, pool_pads[0],
                                  pool_pads[2], _chunks(len(x)), out, argmax)  # fmt: skip


def _pool_forward_separately(x, w, b, stride_hw, pads, out_hw, relu, pool, out, argmax):
    maps = forward(x, w, b, stride_hw, pads, out_hw, relu)
    maxpool_forward(maps, *pool, out, argmax)


def _pool_backward_per_image(d, x, w, stride_hw, pads, pooled, argmax, need_dx,
                             use_blas=False):  # fmt: skip
    n_img, n_filt = d.shape[:2]
    return _backward_per_image(d.reshape(n_img, n_filt, -1), x, w, stride_hw, pads,
                               pooled.reshape(-1, n_filt, d[0, 0].size), need_dx, use_blas,
                               argmax.reshape(n_img, n_filt, -1))  # fmt: skip


def _pool_backward_separately(d, x, w, stride_hw, pads, pooled, argmax, need_dx):
    if pooled.size:  # ReLU's mask, at the maxima
        d = np.where(pooled > 0, d, 0).astype(x.dtype, copy=False)
    maps_shape = (len(x), w.shape[0], *_out_hw(x, w, stride_hw, pads))
    return backward(maxpool_backward(d, maps_shape, argmax), x, w, stride_hw, pads,
                    need_dx=need_dx)  # fmt: skip


POOL_FORWARD_WAYS = {"per-image": _pool_forward_per_image,
                     "per-image, BLAS": functools.partial(_pool_forward_per_image,
                                                          use_blas=True),
                     "separately": _pool_forward_separately}  # fmt: skip
POOL_BACKWARD_WAYS = {"per-image": _pool_backward_per_image,
                      "per-image, BLAS": functools.partial(_pool_backward_per_image,
                                                           use_blas=True),
                      "separately": _pool_backward_separately}  # fmt: skip


def forward_pool(x, w, b, stride_hw, pads, out_hw, relu, pool, out=None, argmax=None,
                 way=None):  # fmt: skip
    """Max pooling of :func:`forward`'s output, the fastest way.

    Parameters
    ----------
    x, w, b, stride_hw, pads, out_hw, relu
        As for :func:`forward`.
    pool : (pool_hw, stride_hw, pads)
        The pooling's geometry, as :func:`convnet.tuned.pool.forward` takes it.
    out, argmax : ndarray, optional
        Written instead of new arrays: (N, F, H_pool, W_pool), of ``x``'s dtype and int32.
    way : str, optional
        A key of :data:`POOL_FORWARD_WAYS`; left out, the one measured fastest.

    Returns
    -------
    out : ndarray, shape (N, F, H_pool, W_pool)
    argmax : ndarray of int32, same shape
        The flat position ``h * W_out + w`` of each window's maximum in its plane of the
        convolution's output.
    """
    bias = (b if b is not None else np.zeros(w.shape[0])).astype(x.dtype, copy=False)
    (ph, pw), (psh, psw), ppads = pool
    shape = (len(x), w.shape[0], (out_hw[0] + ppads[0] + ppads[1] - ph) // psh + 1,
             (out_hw[1] + ppads[2] + ppads[3] - pw) // psw + 1)  # fmt: skip
    out = np.empty(shape, x.dtype) if out is None else out
    argmax = np.empty(shape, np.int32) if argmax is None else argmax
    args = (x, w, bias, stride_hw, pads, out_hw, relu, pool, out, argmax)
    if way is None:
        key = (x.shape, w.shape, stride_hw, pads, relu, pool, x.dtype.name)
        ways = _candidates(POOL_FORWARD_WAYS, x, w, 0)
        way = autotune.choose("conv2d_maxpool_forward", key, ways, lambda f: f(*args))
    POOL_FORWARD_WAYS[way](*args)
    return out, argmax


def backward_pool(dout, x, w, stride_hw, pads, pooled, argmax, need_dx=True, way=None):
    """Gradients of :func:`forward_pool`, the fastest way.

    Parameters
    ----------
    dout : ndarray, shape (N, F, H_pool, W_pool)
    x, w, stride_hw, pads
        As given to :func:`forward_pool`.
    pooled : ndarray, shape (N, F, H_pool, W_pool), or None
        :func:`forward_pool`'s output when the convolution applied ReLU, else None.
    argmax : ndarray of int32, shape (N, F, H_pool, W_pool)
        As :func:`forward_pool` returned it.
    need_dx : bool
    way : str, optional
        A key of :data:`POOL_BACKWARD_WAYS`; left out, the one measured fastest.

    Returns
    -------
    dx, dw, db : as :func:`backward` returns them.
    """
    d = np.ascontiguousarray(dout, dtype=x.dtype)
    pooled = np.empty((0, 0, 0, 0), x.dtype) if pooled is None else pooled
    args = (d, x, w, stride_hw, pads, pooled, argmax, need_dx)
    if way is None:
        key = (x.shape, w.shape, stride_hw, pads, d.shape, pooled.size > 0, need_dx,
               x.dtype.name)  # fmt: skip
        ways = _candidates(POOL_BACKWARD_WAYS, x, w, 0)
        way = autotune.choose("conv2d_maxpool_backward", key, ways, lambda f: f(*args))
    return POOL_BACKWARD_WAYS[way](*args)
