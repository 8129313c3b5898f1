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
import os

import numpy as np

from convnet.im2col import col2im_image, im2col_image
from convnet.jit import JIT_ENABLED, kernel, parallel_chunksize, prange
from convnet.ops.conv import conv2d_backward, conv2d_forward
from convnet.tuned import autotune, blas
from convnet.tuned.blas import product, product_nt
from convnet.tuned.pool import backward as maxpool_backward
from convnet.tuned.pool import forward as maxpool_forward
from convnet.tuned.pool import maxpool_rows

__all__ = ["conv_rows", "forward", "backward", "forward_pool", "backward_pool", "FORWARD_WAYS",
           "BACKWARD_WAYS", "POOL_FORWARD_WAYS", "POOL_BACKWARD_WAYS"]


@kernel
def conv_rows(xs, w_mat, b, kh, kw, sh, sw, pt, pl, oh_start, oh_stop, w_out, relu, blas, cols,
              prod, outs):  # fmt: skip
    """Output rows ``oh_start <= oh < oh_stop`` of a run of images ``xs`` in one product:
    ``w_mat @ [cols of xs[0] | cols of xs[1] | ...] + b``, then ReLU if asked, into
    ``outs[g][:, oh_start*W_out : oh_stop*W_out]``. The product is BLAS's if ``blas`` (see
    :mod:`convnet.tuned.blas`), else the register-tiled GEMM's.

    xs : (G, C, H, W); w_mat : (F, K); b : (F,); cols : (K, G*P) and prod : (F, G*P)
    scratch, where ``P = (oh_stop - oh_start) * W_out``; outs : (G, F, H_out * W_out), the
    images' outputs. ``prod`` may be ``outs[0]`` itself when there is one image and the rows
    are all of them (the product then goes straight into place). :mod:`convnet.tuned.bands`
    calls this too, for bands of rows of one image.
    """
    n_pos = (oh_stop - oh_start) * w_out
    for g in range(xs.shape[0]):  # the images' patches side by side
        im2col_image(xs[g], kh, kw, sh, sw, pt, pl, oh_start, oh_stop, w_out,
                     cols[:, g * n_pos : (g + 1) * n_pos])  # fmt: skip
    product(w_mat, cols, prod, False, blas)  # (F, K) x (K, G*P) -> (F, G*P)
    p_start = oh_start * w_out
    for g in range(xs.shape[0]):  # + bias, ReLU, into place
        for f in range(w_mat.shape[0]):
            # views that start at 0, so that the compiler sees no negative index and
            # vectorises the loop
            out_f = outs[g, f, p_start : p_start + n_pos]
            prod_f, bias = prod[f, g * n_pos : (g + 1) * n_pos], b[f]
            for p in range(n_pos):
                v = prod_f[p] + bias
                # "not v < 0" rather than "v > 0": a NaN must stay NaN, as in np.maximum
                out_f[p] = v if (not relu or not v < 0.0) else 0.0


@kernel(parallel=True)
def _conv_forward_kernel(x, w_mat, b, kh, kw, sh, sw, pt, pl, h_out, w_out, n_chunks, n_pieces,
                         group, relu, blas, out):  # fmt: skip
    """out[n] (F, P) = w_mat (F, K) @ cols(x[n]) (K, P) + b, then ReLU if asked.

    The work is cut into ``n_chunks`` runs of images times ``n_pieces`` runs of output rows
    (see :func:`_work_items`). Each piece of an image is a product of its own, or, with
    ``group`` > 1 (at least the images of a run, and one piece), each run is one product."""
    n_img = x.shape[0]
    n_filt, k_size = w_mat.shape
    for t in prange(n_chunks * n_pieces):
        chunk, piece = t // n_pieces, t % n_pieces
        oh_start, oh_stop = piece * h_out // n_pieces, (piece + 1) * h_out // n_pieces
        first, stop = chunk * n_img // n_chunks, (chunk + 1) * n_img // n_chunks
        g = max(1, min(group, stop - first))  # images per product
        # buffers of its own: the columns and, unless it is one whole image, their product
        # with the kernel (a whole image's goes straight into out[n])
        n_pos = (oh_stop - oh_start) * w_out
        cols = np.empty((k_size, g * n_pos), x.dtype)
        prod = np.empty((n_filt, g * n_pos if n_pieces > 1 or g > 1 else 0), x.dtype)
        for n in range(first, stop, g):
            conv_rows(x[n : n + g], w_mat, b, kh, kw, sh, sw, pt, pl, oh_start, oh_stop, w_out,
                      relu, blas, cols, prod if prod.size else out[n], out[n : n + g])  # fmt: skip


@kernel(parallel=True)
def _conv_backward_kernel(x, d, w_t, kh, kw, sh, sw, pt, pl, h_out, w_out, n_chunks, group,
                          need_dx, relu_out, argmax, blas, dw_parts, db_parts, dx):  # fmt: skip
    """Over chunk t of the images: dw_parts[t] = sum d[n] @ cols[n]^T, db_parts[t] = sum of
    d[n] over positions; dx[n] = col2im(w^T @ d[n]). With ``group`` > 1 (at least the images
    of a chunk), the chunk's images are side by side in one product of each kind.

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
        first, stop = t * n_img // n_chunks, (t + 1) * n_img // n_chunks
        g = max(1, min(group, stop - first))  # images per product
        cols = np.empty((k_size, g * n_pos), x.dtype)
        dcols = np.empty((k_size, g * n_pos), x.dtype)
        d_masked = np.empty((n_filt, g * n_pos), x.dtype)
        for n0 in range(first, stop, g):
            for i in range(g):  # each image's gradient and patches, side by side
                n, d_n, p0 = n0 + i, d[n0 + i], i * n_pos
                if pooled:
                    d_masked[:, p0 : p0 + n_pos] = 0.0
                    for f in range(n_filt):
                        for q in range(n_q):
                            if not relu or relu_out[n, f, q] > 0.0:
                                d_masked[f, p0 + argmax[n, f, q]] += d_n[f, q]
                elif relu or g > 1:
                    for f in range(n_filt):
                        for p in range(n_pos):
                            keep = not relu or relu_out[n, f, p] > 0.0
                            d_masked[f, p0 + p] = d_n[f, p] if keep else 0.0
                im2col_image(x[n], kh, kw, sh, sw, pt, pl, 0, h_out, w_out,
                             cols[:, p0 : p0 + n_pos])  # fmt: skip
            # one image with nothing to mask is read where it lies
            d_g = d_masked if pooled or relu or g > 1 else d[n0]
            for f in range(n_filt):
                db_parts[t, f] += d_g[f].sum()
            product_nt(d_g, cols, dw_parts[t], True, blas)  # (F, G*P) x (K, G*P)^T, summed
            if need_dx:
                # summed over only F filters: gemm_nn (when not BLAS), which has no per-tile
                # sums to finish
                product(w_t, d_g, dcols, False, blas)  # (K, F) x (F, G*P) -> (K, G*P)
                for i in range(g):
                    col2im_image(dcols[:, i * n_pos : (i + 1) * n_pos], kh, kw, sh, sw, pt, pl,
                                 h_out, w_out, dx[n0 + i])  # fmt: skip


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
            conv_rows(x[n : n + 1], w_mat, b, kh, kw, sh, sw, pt, pl, 0, h_out, w_out, relu,
                      blas, cols, maps, maps.reshape((1, n_filt, h_out * w_out)))  # fmt: skip
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


def _chunks(n_img: int, group: int = 1) -> int:
    """How many pieces of at most ``IMAGES_PER_CHUNK`` images (or, with ``group`` > 1, of at
    most ``group`` images, one product each) to cut a batch into."""
    return max(1, -(-n_img // max(group, IMAGES_PER_CHUNK if group == 1 else 1)))


def _work_items(n_img: int, h_out: int, group: int = 1) -> tuple[int, int]:
    """``(n_chunks, n_pieces)`` for the forward kernel: runs of images, and for few images
    (one at a time) runs of output rows within each image, at least ``IMAGES_PER_CHUNK`` work
    items in all. (More, smaller pieces cost more in handing out than they gain in
    balance.)"""
    if n_img >= FEW_IMAGES or group > 1:
        return _chunks(n_img, group), 1
    return n_img, max(1, min(h_out, -(-IMAGES_PER_CHUNK // max(n_img, 1))))


def _out_hw(x, w, stride_hw, pads):
    """The convolution's output height and width."""
    return ((x.shape[2] + pads[0] + pads[1] - w.shape[2]) // stride_hw[0] + 1,
            (x.shape[3] + pads[2] + pads[3] - w.shape[3]) // stride_hw[1] + 1)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The kernels above compiled again for one layer, its sizes built in as constants.
#
# The kernels take a layer's sizes (kernel, strides, padding, output height and width) as
# arguments, so that one compiled kernel serves every layer. The compiler then cannot see how
# long the innermost loops are. im2col copies one output row of W_out positions at a time,
# 14 for a 14x14 map, and for a loop that short, what the compiler wraps around an unknown
# length (a vectorised body, a loop for what is left over, checks that the arrays do not
# overlap) costs more than the copy itself. Given the length as a constant, the compiler lays
# the loop out for exactly that length.
#
# So each of the three kernels is also compiled into a small closure over one layer's sizes.
# The kernel's code is compiled into the closure (inline="always"), where the sizes are
# constants; it passes them on to conv_rows, im2col_image and col2im_image, which Numba then
# compiles again for those very values (a constant passed from one kernel to another is
# typed as itself: see docs/numba.md). Calling the generic kernel from the closure instead
# would run its compiled code for any sizes. Each closure is named after its sizes, so that
# Numba's cache keeps each in files of its own. On an AMD EPYC (Zen 3), im2col of one
# 32-channel 14x14 image (3x3 kernel) took 64 us with the sizes as arguments and 24 us as
# constants, and a training step of the modern net 255 ms against 190 ms (docs/speed.md).
#
# The price is compiling once per layer shape, several seconds each, kept in Numba's cache on
# disk. A model's layer shapes are few and used over and over, so the annex does it by
# default; CONVNET_SPECIALISE=0 turns it off, and the tests do (tests/conftest.py), since
# they draw hundreds of shapes. The results are equal to the bit: the copies and the
# bias, ReLU and masking loops are the same operations in the same order, and the products
# (whose reassociated sums could be ordered by what the compiler knows) still take their
# lengths from the arrays at run time.
# ---------------------------------------------------------------------------------------------


def specialising() -> bool:
    """Whether the convolutions run kernels compiled for their sizes (see above)."""
    return JIT_ENABLED and os.environ.get("CONVNET_SPECIALISE") != "0"


def _body(generic):
    """``generic``'s code as a function that Numba compiles into each kernel calling it,
    where the sizes it is called with are constants."""
    return kernel(inline=True)(getattr(generic, "py_func", generic))


_FORWARD_BODY = _body(_conv_forward_kernel)
_BACKWARD_BODY = _body(_conv_backward_kernel)
_POOL_FORWARD_BODY = _body(_conv_pool_forward_kernel)


def _kernel_for(generic, sizes):
    """The kernel to call for ``generic`` on a layer of these ``sizes`` (kh, kw, sh, sw, pt,
    pl, h_out, w_out), with ``generic``'s arguments: compiled for the sizes if
    :func:`specialising`, else ``generic`` itself."""
    if not specialising():
        return generic
    return _compiled_for(generic, tuple(int(size) for size in sizes))  # ints: Numba constants


@functools.cache
def _compiled_for(generic, sizes):
    """``generic`` compiled again with ``sizes`` as constants. Each closure below is called
    with ``generic``'s arguments, sizes included, but ignores the sizes it is given: it was
    compiled with its own."""
    kh, kw, sh, sw, pt, pl, h_out, w_out = sizes
    if generic is _conv_forward_kernel:

        def forward_for_sizes(x, w_mat, b, _kh, _kw, _sh, _sw, _pt, _pl, _h_out, _w_out, *args):
            n_chunks, n_pieces, group, relu, blas, out = args
            _FORWARD_BODY(x, w_mat, b, kh, kw, sh, sw, pt, pl, h_out, w_out, n_chunks,
                          n_pieces, group, relu, blas, out)  # fmt: skip

        return _compiled(forward_for_sizes, sizes)
    if generic is _conv_backward_kernel:

        def backward_for_sizes(x, d, w_t, _kh, _kw, _sh, _sw, _pt, _pl, _h_out, _w_out, *args):
            n_chunks, group, need_dx, relu_out, argmax, blas, dw_parts, db_parts, dx = args
            _BACKWARD_BODY(x, d, w_t, kh, kw, sh, sw, pt, pl, h_out, w_out, n_chunks, group,
                           need_dx, relu_out, argmax, blas, dw_parts, db_parts, dx)  # fmt: skip

        return _compiled(backward_for_sizes, sizes)
    if generic is _conv_pool_forward_kernel:

        def pool_forward_for_sizes(x, w_mat, b, _kh, _kw, _sh, _sw, _pt, _pl, _h_out, _w_out,
                                   *args):  # fmt: skip
            relu, blas, ph, pw, psh, psw, ppt, ppl, n_chunks, out, argmax = args
            _POOL_FORWARD_BODY(x, w_mat, b, kh, kw, sh, sw, pt, pl, h_out, w_out, relu, blas,
                               ph, pw, psh, psw, ppt, ppl, n_chunks, out, argmax)  # fmt: skip

        return _compiled(pool_forward_for_sizes, sizes)
    raise ValueError(f"no kernel for the sizes of {generic}")


def _compiled(closure, sizes):
    """``closure`` as a parallel kernel named after ``sizes``: Numba's cache then keeps each
    set of sizes in an index file of its own, which two processes compiling different layers
    at once do not both rewrite."""
    closure.__qualname__ += "_" + "_".join(str(size) for size in sizes)
    return kernel(parallel=True)(closure)


# ---------------------------------------------------------------------------------------------
# The ways of the kernels above: each image on one core, or a few images side by side.
#
# Each image's product is (F, K) @ (K, P). On small maps it is small: 128 filters of 1,152
# weights times 16 positions for a 4x4 map. A matrix-product kernel, ours or BLAS's, runs
# such a thin product far below its speed on big ones, since it loads each weight to use it
# only 16 times. So a core may also take G images at once, their patch matrices side by side
# in one (K, G*P), and do them in one product (F, K) @ (K, G*P), every weight now used G*P
# times; each core calls BLAS on its own group, held to one thread. G is chosen by measuring
# with the rest: big enough for the product, small enough that the group's patches stay in
# the core's cache.
# ---------------------------------------------------------------------------------------------


def _forward_per_image(x, w, b, stride_hw, pads, out_hw, relu, out, use_blas=False, group=1):
    (kh, kw), (sh, sw), (h_out, w_out) = w.shape[2:], stride_hw, out_hw
    n_img, n_filt = x.shape[0], w.shape[0]
    w_mat = np.ascontiguousarray(w.reshape(n_filt, -1))  # (F, K), rows ordered (c, i, j)
    n_chunks, n_pieces = _work_items(n_img, h_out, group)
    # A batch's chunks are handed out as threads come free (see IMAGES_PER_CHUNK); the few
    # pieces of one image go in equal shares fixed in advance, which saves the cost of
    # handing out: a few percent of one image's pass.
    one_piece = parallel_chunksize(1) if n_pieces == 1 else contextlib.nullcontext()
    with one_piece, blas.one_thread(use_blas):  # each core's BLAS on one thread, its own
        sizes = (kh, kw, sh, sw, pads[0], pads[2], h_out, w_out)
        run = _kernel_for(_conv_forward_kernel, sizes)
        run(x, w_mat, b, *sizes, n_chunks, n_pieces, group, relu, use_blas,
            out.reshape(n_img, n_filt, h_out * w_out))  # fmt: skip


def _backward_per_image(d, x, w, stride_hw, pads, relu_out, need_dx, use_blas=False,
                        argmax=None, group=1):  # fmt: skip
    (kh, kw), (sh, sw) = w.shape[2:], stride_hw
    n_img, n_filt = d.shape[:2]
    h_out, w_out = _out_hw(x, w, stride_hw, pads)
    if argmax is None:
        argmax = np.empty((0, 0, 0), np.int32)  # the kernel's sign for "not pooled"
    w_t = np.ascontiguousarray(w.reshape(n_filt, -1).T)  # (K, F)
    n_chunks = _chunks(n_img, group)
    dw_parts = np.zeros((n_chunks, *w_t.shape[::-1]), x.dtype)  # (chunks, F, K)
    db_parts = np.zeros((n_chunks, n_filt), x.dtype)
    dx = np.empty(x.shape, x.dtype) if need_dx else np.empty((0, 0, 0, 0), x.dtype)
    with parallel_chunksize(1), blas.one_thread(use_blas):
        sizes = (kh, kw, sh, sw, pads[0], pads[2], h_out, w_out)
        run = _kernel_for(_conv_backward_kernel, sizes)
        run(x, d, w_t, *sizes, n_chunks, group, need_dx, relu_out, argmax, use_blas, dw_parts,
            db_parts, dx)  # fmt: skip
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


def _per_core_ways(per_image, core):
    """The ways, by name: one image or ``GROUPS`` images per product, each with the register
    tiles or BLAS, then the fast rung."""
    ways = {}
    for group in (1, *GROUPS):
        for use_blas in (False, True):
            name = ("per-image" if group == 1 else f"{group} images per product") + (
                ", BLAS" if use_blas else "")
            ways[name] = functools.partial(per_image, use_blas=use_blas, group=group)
    return {**ways, "fast rung": core}


#: Images per product in the grouped ways (see above).
GROUPS = (4, 8)

#: The ways to do a batch's forward and backward passes. Those with BLAS are offered only
#: where BLAS can be held to one thread per call (:func:`convnet.tuned.blas.available`), and
#: those with G images per product only for a batch of at least 2G, one group per core. The
#: fast rung, which leaves BLAS's own threads spinning, goes last (see
#: :func:`convnet.tuned.autotune.choose`).
FORWARD_WAYS = _per_core_ways(_forward_per_image, _forward_core)
BACKWARD_WAYS = _per_core_ways(_backward_per_image, _backward_core)


#: The fast rung stays a candidate only while the batch's patch matrix is at most this many
#: bytes: beyond it (a big ``predict`` batch) it is sure to lose, and measuring it would
#: allocate the very memory the per-image kernels avoid.
CORE_CANDIDATE_BYTES = 1 << 27


def _candidates(ways, x, w, n_pos):
    patches = x.shape[0] * w[0].size * n_pos * x.itemsize
    too_few = {f"{group} images per product" for group in GROUPS if len(x) < 2 * group}

    def offered(name):
        if name == "fast rung":
            return patches <= CORE_CANDIDATE_BYTES
        return name.removesuffix(", BLAS") not in too_few and (
            blas.available() or not name.endswith("BLAS"))

    return {name: way for name, way in ways.items() if offered(name)}


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
        key = (x.shape, w.shape, stride_hw, pads, relu, x.dtype.name, specialising())
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
        key = (x.shape, w.shape, stride_hw, pads, relu_out.size > 0, need_dx, x.dtype.name,
               specialising())  # fmt: skip
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
    with parallel_chunksize(1), blas.one_thread(use_blas):
        sizes = (kh, kw, sh, sw, pads[0], pads[2], h_out, w_out)
        run = _kernel_for(_conv_pool_forward_kernel, sizes)
        run(x, w_mat, b, *sizes, relu, use_blas, *pool_hw, *pool_stride, pool_pads[0],
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
        key = (x.shape, w.shape, stride_hw, pads, relu, pool, x.dtype.name, specialising())
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
               x.dtype.name, specialising())  # fmt: skip
        ways = _candidates(POOL_BACKWARD_WAYS, x, w, 0)
        way = autotune.choose("conv2d_maxpool_backward", key, ways, lambda f: f(*args))
    return POOL_BACKWARD_WAYS[way](*args)
