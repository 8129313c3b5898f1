"""One image on every core: inference through the convolutional layers, in bands of rows.

Off the reading path, in the annex :mod:`convnet.tuned`, whose steps use it for inference on
a few images. Docs chapter: "One image on every core".

A batch gives the fast ops images to share out between the cores. One image, which is what
the drawing app predicts as someone draws, has none, so each op cuts the image into pieces
of rows instead, and every op is a parallel step of its own: the cores start together, each
computes its piece, both wait for the slower, and the next op then reads what both of them
wrote. For the seed-net those are four steps (two convolutions, pooling, the first dense
layer) of a quarter of a millisecond in all, and the handing over between them is a
measurable part of it.

This module makes the whole way from the image to the first dense layer one parallel step.
Each core takes a band of rows of the last feature map (for the seed-net, rows 0-5 or 6-11
of the pooled 12x12 maps) and works backwards through the layers to find which rows of each
earlier output that band needs. A window layer (convolution or pooling) with kernel height
``KH``, stride ``SH`` and top padding ``PT`` makes output rows ``r0 <= oh < r1`` from input
rows (eq. band-rows)::

    max(0, r0*SH - PT)  <=  h  <  min(H_in, (r1 - 1)*SH - PT + KH)

so a band grows by ``KH - SH`` rows at each layer on the way back: the rows where two bands
meet (the "halo") are computed by both cores. For the seed-net that is two rows of the first
convolution's output, 1,664 values out of 21,632.

The first dense layer reads the flattened maps, entry ``c*H*W + h*W + w``, so a band's
values meet only the rows of the weight matrix whose ``h`` is in the band. Each core
multiplies its values by those rows, and the dense layer's output is the sum of the bands'
partial products (eq. band-dense)::

    out[k] = b[k] + sum_band sum_{c, h in band, w} x[c, h, w] * W[c*H*W + h*W + w, k]

Nothing that one core writes is read by the other until those few sums. Everything
numerical is done by the same kernels as the layer-by-layer pass (:func:`conv_rows`,
:func:`maxpool_rows`, :func:`add_row_product`), so the feature maps come out bit for bit as
the per-image way of :mod:`convnet.tuned.conv` gives them (the autotuner may choose another
way for a batch, which adds in another order); the dense layer's sum is added up in another
order too, which changes the last bits.

Like the annex's convolutions, the kernel is compiled again for each model with its layers'
sizes as constants (:func:`_compiled_for`; ``CONVNET_SPECIALISE=0`` keeps the generic one),
and whether its products call BLAS or the register-tiled GEMM is measured on the machine
(:data:`WAYS`).

Layers it can run: ``Conv2D`` (no activation, or ReLU), ``MaxPool2D`` and ``Dropout`` (which
passes its input through at inference), then ``Flatten`` and ``Dense``, all on the
``'tuned'`` backend. A model that starts otherwise is run step by step.
"""

from __future__ import annotations

import functools
import hashlib
import types

import numpy as np

from convnet.jit import get_num_threads, kernel, prange
from convnet.layers import Conv2D, Dense, Dropout, Flatten, Layer, MaxPool2D
from convnet.shapes import resolve_padding
from convnet.tuned import autotune, blas
from convnet.tuned.conv import conv_rows, specialising
from convnet.tuned.dense import add_row_product
from convnet.tuned.pool import maxpool_rows

__all__ = ["BandPlan", "plan_bands", "band_rows", "bands_forward", "MAX_IMAGES"]

#: Batches of up to this many images go through the bands; bigger ones give the step-by-step
#: pass enough images to share out (around this size the two take about as long:
#: ``benchmarks/bench_latency.py --images 8 16 32`` measures both).
MAX_IMAGES = 16

CONV, MAXPOOL = 0, 1  # the kinds of window layer, as the kernel knows them


def band_rows(windows, n_bands: int) -> np.ndarray:
    """Which output rows of each window layer each band computes (eq. band-rows).

    Parameters
    ----------
    windows : list of (KH, SH, PT, H_in, H_out)
        One per window layer, first to last: kernel (or pool) height, stride, top padding,
        input and output height.
    n_bands : int
        At most the last layer's ``H_out``.

    Returns
    -------
    rows : ndarray of int64, shape (n_bands, L + 1, 2)
        ``rows[b, l + 1] = (r0, r1)``: band ``b`` computes rows ``r0 <= oh < r1`` of layer
        ``l``'s output; ``rows[b, 0]`` are the rows of the input image it reads. The bands
        split the last layer's rows into near-equal runs.

    Examples
    --------
    The seed-net on two cores: 3x3 convolutions 28 -> 26 -> 24, then 2x2 pooling to 12 rows.

    >>> rows = band_rows([(3, 1, 0, 28, 26), (3, 1, 0, 26, 24), (2, 2, 0, 24, 12)], 2)
    >>> rows[0].tolist()               # the image, conv2d, conv2d_1, max_pooling2d
    [[0, 16], [0, 14], [0, 12], [0, 6]]
    >>> rows[1].tolist()
    [[12, 28], [12, 26], [12, 24], [6, 12]]
    """
    h_last = windows[-1][4]
    if not 1 <= n_bands <= h_last:
        raise ValueError(f"band_rows: n_bands must be 1 to {h_last}, got {n_bands}")
    rows = np.zeros((n_bands, len(windows) + 1, 2), np.int64)
    for band in range(n_bands):
        r0, r1 = band * h_last // n_bands, (band + 1) * h_last // n_bands
        for layer in range(len(windows) - 1, -1, -1):
            rows[band, layer + 1] = r0, r1
            kh, sh, pt, h_in, _ = windows[layer]
            r0, r1 = max(r0 * sh - pt, 0), min((r1 - 1) * sh - pt + kh, h_in)
        rows[band, 0] = r0, r1
    return rows


class BandPlan:
    """What :func:`bands_forward` needs to know about a model, worked out once.

    Attributes
    ----------
    layers : list of Layer
        The layers the bands replace, from the first to the dense layer included.
    windows : list of Layer
        The Conv2D and MaxPool2D layers among them.
    dense : Dense
    kinds : ndarray of int64, shape (L,)
        ``CONV`` or ``MAXPOOL`` for each window layer.
    geometry : ndarray of int64, shape (L, 7)
        ``(KH, KW, SH, SW, PT, PL, relu)`` of each window layer.
    shapes : ndarray of int64, shape (L, 3)
        Each window layer's output shape (C, H, W) for one image.
    rows : ndarray of int64, shape (n_bands, L + 1, 2)
        From :func:`band_rows`: the image's rows each band reads, then each window layer's
        rows it computes.
    sizes : tuple of tuple of int
        Per window layer, its kind, geometry, input channels and output shape: what
        :func:`_compiled_for` builds into a kernel for this model.
    """

    def __init__(self, layers, windows, dense, n_bands):
        self.layers, self.windows, self.dense = layers, windows, dense
        self.kinds = np.array([CONV if isinstance(w, Conv2D) else MAXPOOL for w in windows],
                              np.int64)  # fmt: skip
        geometry, heights = [], []
        for w in windows:
            size = w.kernel_size if isinstance(w, Conv2D) else w.pool_size
            pt, _, pl, _ = resolve_padding(w.padding, w.input_shape[1:], size, w.strides)
            geometry.append((*size, *w.strides, pt, pl, w.activation == "relu"))
            heights.append((size[0], w.strides[0], pt, w.input_shape[1], w.output_shape[1]))
        self.geometry = np.array(geometry, np.int64)
        self.shapes = np.array([w.output_shape for w in windows], np.int64)
        self.rows = band_rows(heights, n_bands)
        self.ways: dict = {}  # whether the products call BLAS, by what bands_forward measured
        c_in = [w.input_shape[0] for w in windows]
        self.sizes = tuple(tuple(int(v) for v in (kind, *g, c, *shape))  # Python ints
                           for kind, g, c, shape in zip(self.kinds, self.geometry, c_in,
                                                        self.shapes, strict=True))  # fmt: skip


def plan_bands(layers, n_bands: int | None = None) -> BandPlan | None:
    """The plan for a built model's ``layers``, or None if they do not start in a way the
    bands can run (see the module docstring) or differ in dtype.

    ``n_bands`` defaults to the number of Numba threads (one band per core), at most the
    height of the last feature map.

    Examples
    --------
    >>> from convnet.nets import seed_net
    >>> plan = plan_bands(seed_net(seed=0, backend="tuned").layers, n_bands=2)
    >>> [layer.name for layer in plan.layers]
    ['conv2d', 'conv2d_1', 'max_pooling2d', 'dropout', 'flatten', 'dense']
    >>> plan.rows[:, 1].tolist()      # each band's rows of the first convolution's output
    [[0, 14], [12, 26]]
    """
    windows: list[Layer] = []
    for i, layer in enumerate(layers):
        if layer.backend != "tuned" or layer.dtype != layers[0].dtype:
            return None
        if type(layer) is Conv2D and layer.activation in (None, "relu"):
            windows.append(layer)
        elif type(layer) is MaxPool2D and layer.activation is None:
            windows.append(layer)
        elif type(layer) is Dropout:
            continue
        elif type(layer) is Flatten and windows:
            rest = [la for la in layers[i + 1 :] if type(la) is not Dropout]
            if not rest or type(rest[0]) is not Dense or rest[0].backend != "tuned" \
                    or rest[0].dtype != layers[0].dtype:  # fmt: skip
                return None
            dense = rest[0]
            h_last = windows[-1].output_shape[1]
            n = get_num_threads() if n_bands is None else n_bands
            return BandPlan(layers[: layers.index(dense) + 1], windows, dense, min(n, h_last))
        else:
            return None
    return None


@kernel(inline=True)
def _conv_band(fmap, w_mat, bias, kh, kw, sh, sw, pt, pl, r0, r1, h_out, w_out, relu, blas):
    """Rows ``r0 <= oh < r1`` of a convolution's output for one image's ``fmap`` (C, H, W),
    in a new (F, H_out, W_out) array whose other rows are left unset."""
    n_ch = w_mat.shape[0]
    out = np.empty((n_ch, h_out, w_out), fmap.dtype)
    cols = np.empty((w_mat.shape[1], (r1 - r0) * w_out), fmap.dtype)
    prod = np.empty((n_ch, (r1 - r0) * w_out), fmap.dtype)
    conv_rows(fmap.reshape((1, *fmap.shape)), w_mat, bias, kh, kw, sh, sw, pt, pl, r0, r1,
              w_out, relu, blas, cols, prod, out.reshape((1, n_ch, h_out * w_out)))  # fmt: skip
    return out


@kernel(inline=True)
def _pool_band(fmap, ph, pw, sh, sw, pt, pl, r0, r1, h_out, w_out):
    """Rows ``r0 <= oh < r1`` of max pooling's output for one image's ``fmap`` (C, H, W)."""
    out = np.empty((fmap.shape[0], h_out, w_out), fmap.dtype)
    argmax = np.empty((h_out, w_out), np.int64)  # the op's by-product, unused here
    for c in range(fmap.shape[0]):
        maxpool_rows(fmap[c], ph, pw, sh, sw, pt, pl, r0, r1, out[c], argmax)
    return out


@kernel(inline=True)
def _dense_band(fmap, r0, r1, dense_w):
    """The band's share of the dense layer (eq. band-dense): rows ``r0 <= h < r1`` of the
    last feature maps ``fmap`` (C, H, W) times their rows of ``dense_w`` (D_in, D_out)."""
    n_ch, h_last, w_last = fmap.shape
    part = np.zeros(dense_w.shape[1], fmap.dtype)
    for c in range(n_ch):
        first = (c * h_last + r0) * w_last  # entry (c, r0, 0) of the flattened maps
        add_row_product(fmap[c].reshape(-1)[r0 * w_last : r1 * w_last],
                        dense_w[first : first + (r1 - r0) * w_last], part)  # fmt: skip
    return part


@kernel(parallel=True)
def _bands_kernel(x, kinds, geometry, shapes, rows, kernels, biases, dense_w, blas, parts):
    """``parts[n, b]``: band ``b`` of image ``n``, through every window layer and then times
    its rows of ``dense_w`` (eq. band-dense).

    x : (N, C, H, W); kernels and biases : every convolution's (F, K) kernel matrix and (F,)
    bias, flattened, one after the other in the order of the layers; dense_w : (D_in, D_out);
    blas : whether the convolutions' products call BLAS (:func:`conv_rows`);
    parts : (N, n_bands, D_out).

    The arrays are packed flat, not a tuple of one per layer, and ``blas`` is an argument,
    not a constant here, so that Numba compiles this kernel, and :func:`conv_rows` for it,
    once per dtype only: a tuple's length, or a constant passed to another kernel, would be
    part of the types it compiles for. :func:`_compiled_for` compiles it again for one
    model's sizes.
    """
    n_img, n_bands, _ = parts.shape
    for t in prange(n_img * n_bands):
        n, band = t // n_bands, t % n_bands
        fmap = x[n]  # the image, then each layer's output, of which the band's rows are filled
        k0 = b0 = 0  # where the next convolution's kernel and bias begin in kernels, biases
        for layer in range(kinds.shape[0]):
            r0, r1 = rows[band, layer + 1, 0], rows[band, layer + 1, 1]
            n_ch, h_out, w_out = shapes[layer, 0], shapes[layer, 1], shapes[layer, 2]
            g = geometry[layer]
            kh, kw, sh, sw, pt, pl, relu = g[0], g[1], g[2], g[3], g[4], g[5], g[6] != 0
            if kinds[layer] == CONV:
                k_size = n_ch * fmap.shape[0] * kh * kw
                w_mat = kernels[k0 : k0 + k_size].reshape((n_ch, k_size // n_ch))
                fmap = _conv_band(fmap, w_mat, biases[b0 : b0 + n_ch], kh, kw, sh, sw, pt, pl,
                                  r0, r1, h_out, w_out, relu, blas)  # fmt: skip
                k0, b0 = k0 + k_size, b0 + n_ch
            else:
                fmap = _pool_band(fmap, kh, kw, sh, sw, pt, pl, r0, r1, h_out, w_out)
        last = rows.shape[1] - 1
        # The sum went into a buffer of this work item's own, copied out once: parts[n, 0]
        # and parts[n, 1] may share a cache line (see
        # convnet.tuned.dense._dense_few_rows_in_parallel).
        parts[n, band] = _dense_band(fmap, rows[band, last, 0], rows[band, last, 1], dense_w)


# ---------------------------------------------------------------------------------------------
# The kernel above compiled again for one model, its layers' sizes built in as constants, as
# convnet.tuned.conv does for each convolution (see there, and docs/numba.md). The layers are
# a loop there, over sizes read from arrays; here each layer becomes a small function of its
# own, with its sizes as constants, which computes the band's rows of its output and calls
# the next layer's function. Numba compiles the whole chain into one kernel, and conv_rows,
# im2col_image and maxpool_rows again for each layer's sizes. The arithmetic is the same,
# in the same order, so the results are equal to the bit.
# ---------------------------------------------------------------------------------------------


def _layer_chain(sizes, layer=0, k0=0, b0=0):
    """``run(fmap, band, rows, kernels, biases, blas)``: the band's rows of every window layer
    from ``layer`` on, each with its ``sizes`` (see :func:`_compiled_for`) built in; returns
    the last one's output."""
    if layer == len(sizes):

        def last(fmap, band, rows, kernels, biases, blas):
            return fmap

        return kernel(inline=True)(last)
    kind, kh, kw, sh, sw, pt, pl, relu, c_in, n_ch, h_out, w_out = sizes[layer]
    relu = bool(relu)  # as the generic kernel passes it
    k_size = n_ch * c_in * kh * kw if kind == CONV else 0
    rest = _layer_chain(sizes, layer + 1, k0 + k_size, b0 + (n_ch if kind == CONV else 0))
    if kind == CONV:

        def conv_layer(fmap, band, rows, kernels, biases, blas):
            r0, r1 = rows[band, layer + 1, 0], rows[band, layer + 1, 1]
            w_mat = kernels[k0 : k0 + k_size].reshape((n_ch, c_in * kh * kw))
            out = _conv_band(fmap, w_mat, biases[b0 : b0 + n_ch], kh, kw, sh, sw, pt, pl, r0,
                             r1, h_out, w_out, relu, blas)  # fmt: skip
            return rest(out, band, rows, kernels, biases, blas)

        return kernel(inline=True)(conv_layer)

    def pool_layer(fmap, band, rows, kernels, biases, blas):
        r0, r1 = rows[band, layer + 1, 0], rows[band, layer + 1, 1]
        out = _pool_band(fmap, kh, kw, sh, sw, pt, pl, r0, r1, h_out, w_out)
        return rest(out, band, rows, kernels, biases, blas)

    return kernel(inline=True)(pool_layer)


def _bands_with_chain(x, _kinds, _geometry, _shapes, rows, kernels, biases, dense_w, blas,
                      parts):  # fmt: skip
    """The loop of :func:`_bands_kernel`, the layers run by ``_chain``, a model's
    :func:`_layer_chain`. ``_chain`` is not defined in this module: :func:`_compiled_for`
    makes a copy of this function for each model with its chain among the copy's globals."""
    n_img, n_bands, _ = parts.shape
    for t in prange(n_img * n_bands):
        n, band = t // n_bands, t % n_bands
        fmap = _chain(x[n], band, rows, kernels, biases, blas)  # noqa: F821
        last = rows.shape[1] - 1
        parts[n, band] = _dense_band(fmap, rows[band, last, 0], rows[band, last, 1], dense_w)


@functools.cache
def _compiled_for(sizes):
    """:func:`_bands_kernel` compiled again with ``sizes`` (one tuple per window layer: kind,
    KH, KW, SH, SW, PT, PL, relu, C_in, C_out, H_out, W_out) as constants. Called with
    :func:`_bands_kernel`'s arguments; it ignores ``kinds``, ``geometry`` and ``shapes``.

    The chain is a global of the copy, not a variable of a closure: Numba's cache tells
    closures apart by pickling the values they capture, and a compiled function pickles
    with an id that is new in every process, so a closure over the chain would never be
    found in the cache. The copy is named after the sizes, so that each model's kernel has
    cache files of its own."""
    name = "bands_for_sizes_" + hashlib.sha1(repr(sizes).encode()).hexdigest()[:12]
    copy = types.FunctionType(_bands_with_chain.__code__,
                              {**globals(), "_chain": _layer_chain(sizes)}, name)  # fmt: skip
    copy.__qualname__ = name
    return kernel(parallel=True)(copy)


#: The ways to do the convolutions' products in the bands, measured against each other
#: (:mod:`convnet.tuned.autotune`): by name, whether BLAS does them (held to one thread on
#: each core), else the register-tiled GEMM.
WAYS = {"register tiles": False, "BLAS": True}

#: How many calls each way's time is measured over.
MEASURED_CALLS = 100


def bands_forward(plan: BandPlan, x):
    """The plan's dense layer's output, before its activation, for a few images ``x``.

    Parameters
    ----------
    x : ndarray, shape (N, *input_shape)
        Of the layers' dtype.

    Returns
    -------
    z : ndarray, shape (N, units)
        ``Flatten(x through the window layers) @ kernel + bias``, as the layers would give
        it, up to the order of the dense layer's additions.

    Examples
    --------
    >>> from convnet.nets import small_net
    >>> model = small_net(seed=0, dtype="float64", backend="tuned")  # conv, pool, ..., dense
    >>> x = np.random.default_rng(0).random((1, 1, 28, 28))
    >>> z = bands_forward(plan_bands(model.layers, n_bands=2), x)
    >>> layer_by_layer = x
    >>> for layer in model.layers:
    ...     layer_by_layer = layer.forward(layer_by_layer, logits=True)  # no final softmax
    >>> float(np.abs(z - layer_by_layer).max()) < 1e-12
    True
    """
    dtype = x.dtype
    convs = [w for w in plan.windows if isinstance(w, Conv2D)]
    kernels = np.concatenate([w.params["kernel"].ravel() for w in convs] + [np.empty(0, dtype)])
    biases = np.concatenate([w.params["bias"] if w.use_bias else np.zeros(w.filters, dtype)
                             for w in convs] + [np.empty(0, dtype)])  # fmt: skip
    dense = plan.dense
    parts = np.empty((len(x), plan.rows.shape[0], dense.units), dtype)
    bands_kernel = _compiled_for(plan.sizes) if specialising() else _bands_kernel
    args = (np.ascontiguousarray(x), plan.kinds, plan.geometry, plan.shapes, plan.rows, kernels,
            biases, np.ascontiguousarray(dense.params["kernel"]))  # fmt: skip

    def run(use_blas, times=1):
        for _ in range(times):  # each call as predict makes it, the BLAS setting included
            with blas.one_thread(use_blas):
                bands_kernel(*args, use_blas, parts)

    key = (plan.sizes, dense.params["kernel"].shape, plan.rows.shape[0], dtype.name,
           specialising())  # fmt: skip
    if key not in plan.ways:  # which way, measured once per process (and kept on disk)
        ways = {name: use for name, use in WAYS.items() if blas.available() or not use}
        # timed over several calls, as one takes under a millisecond: one call's time is
        # mostly the noise of a shared machine
        plan.ways[key] = ways[autotune.choose("bands_forward", key, ways,
                                              lambda use: run(use, MEASURED_CALLS))]  # fmt: skip
    run(plan.ways[key])
    z = parts.sum(axis=1)
    if dense.use_bias:
        z += dense.params["bias"]
    return z
