"""Max and average pooling, forward and backward.

Reading order: ... → conv → **6. ops: pool** → dense → activations → ... Docs chapter:
"Pooling".

A ``PH x PW`` window slides over each channel with stride ``(sh, sw)``. With the window at
output position ``(oh, ow)`` covering the set of pixels ``R(oh, ow)`` (eq. pool-fwd)::

    max:      out[n, c, oh, ow] = max_{(h, w) in R} x[n, c, h, w]
    average:  out[n, c, oh, ow] = (1 / |R|) * sum_{(h, w) in R} x[n, c, h, w]

Backward (eq. pool-bwd): max pooling routes each ``dout`` entry to the one pixel that won
(the first maximum in row-major order when there is a tie); average pooling spreads it
evenly, ``dout / |R|``, over the window. Windows may overlap (stride < pool) or leave pixels
uncovered (non-tiling); overlapping windows add their gradients. With ``padding='same'`` the
window may hang over the edge: the missing pixels are ignored (not counted in ``|R|``, never
the maximum), as in Keras.

Naive versions loop over windows in Python; the fast ones are Numba kernels, parallel over
(image, channel) planes, which never share a pixel. The fast max pool records the position
of each maximum in the forward pass so that backward is a single scatter.
"""

from __future__ import annotations

import numpy as np

from convnet.jit import kernel, prange
from convnet.shapes import output_array, pair, resolve_padding, window_output_size

__all__ = [
    "maxpool2d_forward",
    "maxpool2d_backward",
    "maxpool2d_forward_naive",
    "maxpool2d_backward_naive",
    "avgpool2d_forward",
    "avgpool2d_backward",
    "avgpool2d_forward_naive",
    "avgpool2d_backward_naive",
]


def _geometry(x, pool_size, strides, padding, op):
    if x.ndim != 4:
        raise ValueError(f"{op}: expected x of shape (N, C, H, W), got {x.shape}")
    try:
        pool_hw = pair(pool_size, "pool_size")
        stride_hw = pool_hw if strides is None else pair(strides, "strides")
    except ValueError as err:  # say which op and which shape, as the other checks here do
        raise ValueError(f"{op}: {err} (x {x.shape})") from None
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"{op}: padding must be 'valid' or 'same', got {padding!r}")
    pads = resolve_padding(padding, x.shape[2:], pool_hw, stride_hw)
    out_hw = window_output_size(x.shape[2:], pool_hw, stride_hw, pads, op=op)
    return pool_hw, stride_hw, pads, out_hw


def _window(oh, ow, pool_hw, stride_hw, pads, in_hw):
    """Row and column ranges of the window at (oh, ow), clipped to the unpadded input."""
    h0, w0 = oh * stride_hw[0] - pads[0], ow * stride_hw[1] - pads[2]
    h1, w1 = min(h0 + pool_hw[0], in_hw[0]), min(w0 + pool_hw[1], in_hw[1])
    return max(h0, 0), h1, max(w0, 0), w1


# ---------------------------------------------------------------------------------------------
# Naive references
# ---------------------------------------------------------------------------------------------


def maxpool2d_forward_naive(x, *, pool_size=2, strides=None, padding="valid"):
    """Max pooling by explicit loops.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    pool_size : int or (int, int)
    strides : int or (int, int), optional
        Defaults to ``pool_size`` (non-overlapping windows).
    padding : 'valid' or 'same'

    Returns
    -------
    out : ndarray, shape (N, C, H_out, W_out)
        ``H_out = (H + top + bottom - PH) // stride_h + 1``.
    cache : tuple
        ``(x, geometry)``.

    Examples
    --------
    >>> x = np.array([[[[1., 2., 5., 0.],
    ...                 [3., 4., 1., 1.],
    ...                 [0., 0., 2., 2.],
    ...                 [9., 0., 2., 3.]]]])
    >>> maxpool2d_forward_naive(x)[0][0, 0]
    array([[4., 5.],
           [9., 3.]])
    """
    geometry = _geometry(x, pool_size, strides, padding, "max_pooling2d")
    pool_hw, stride_hw, pads, (h_out, w_out) = geometry
    out = np.empty(x.shape[:2] + (h_out, w_out), dtype=x.dtype)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for oh in range(h_out):
                for ow in range(w_out):
                    h0, h1, w0, w1 = _window(oh, ow, pool_hw, stride_hw, pads, x.shape[2:])
                    out[n, c, oh, ow] = np.max(x[n, c, h0:h1, w0:w1])
    return out, (x, geometry)


def maxpool2d_backward_naive(dout, cache):
    """Route each upstream gradient to its window's (first) maximum.

    Parameters
    ----------
    dout : ndarray, shape (N, C, H_out, W_out)
    cache : from :func:`maxpool2d_forward_naive`

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)

    Examples
    --------
    >>> x = np.array([[[[1., 2.], [4., 3.]]]])
    >>> out, cache = maxpool2d_forward_naive(x)
    >>> maxpool2d_backward_naive(np.array([[[[10.]]]]), cache)[0, 0]
    array([[ 0.,  0.],
           [10.,  0.]])
    """
    x, (pool_hw, stride_hw, pads, (h_out, w_out)) = cache
    dx = np.zeros_like(x)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for oh in range(h_out):
                for ow in range(w_out):
                    h0, h1, w0, w1 = _window(oh, ow, pool_hw, stride_hw, pads, x.shape[2:])
                    window = x[n, c, h0:h1, w0:w1]
                    i, j = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, h0 + i, w0 + j] += dout[n, c, oh, ow]
    return dx


def avgpool2d_forward_naive(x, *, pool_size=2, strides=None, padding="valid"):
    """Average pooling by explicit loops. Same arguments as :func:`maxpool2d_forward_naive`.

    Returns
    -------
    out : ndarray, shape (N, C, H_out, W_out)
    cache : tuple
        ``(x.shape, geometry)``.

    Examples
    --------
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> avgpool2d_forward_naive(x)[0][0, 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """
    geometry = _geometry(x, pool_size, strides, padding, "average_pooling2d")
    pool_hw, stride_hw, pads, (h_out, w_out) = geometry
    out = np.empty(x.shape[:2] + (h_out, w_out), dtype=x.dtype)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for oh in range(h_out):
                for ow in range(w_out):
                    h0, h1, w0, w1 = _window(oh, ow, pool_hw, stride_hw, pads, x.shape[2:])
                    out[n, c, oh, ow] = np.mean(x[n, c, h0:h1, w0:w1])
    return out, (x.shape, geometry)


def avgpool2d_backward_naive(dout, cache):
    """Spread each upstream gradient evenly over its window.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)

    Examples
    --------
    >>> out, cache = avgpool2d_forward_naive(np.zeros((1, 1, 2, 2)))
    >>> avgpool2d_backward_naive(np.array([[[[8.]]]]), cache)[0, 0]
    array([[2., 2.],
           [2., 2.]])
    """
    x_shape, (pool_hw, stride_hw, pads, (h_out, w_out)) = cache
    dx = np.zeros(x_shape, dtype=dout.dtype)
    for n in range(x_shape[0]):
        for c in range(x_shape[1]):
            for oh in range(h_out):
                for ow in range(w_out):
                    h0, h1, w0, w1 = _window(oh, ow, pool_hw, stride_hw, pads, x_shape[2:])
                    count = (h1 - h0) * (w1 - w0)
                    dx[n, c, h0:h1, w0:w1] += dout[n, c, oh, ow] / count
    return dx


# ---------------------------------------------------------------------------------------------
# Fast: Numba kernels, one (image, channel) plane per parallel iteration.
# ---------------------------------------------------------------------------------------------


@kernel(inline=True)
def maxpool_rows(x, ph, pw, sh, sw, pt, pl, oh_start, oh_stop, out, argmax):
    """Output rows ``oh_start <= oh < oh_stop`` of one channel plane ``x`` (H, W) into ``out``
    and ``argmax`` (H_out, W_out). :mod:`convnet.bands` calls this too, for bands of rows."""
    h_in, w_in = x.shape
    # 2x2 windows at stride 2 that all lie inside the plane ('same' padding of an odd size
    # would hang the last one over the bottom or right edge): the written-out version
    if ph == pw == sh == sw == 2 and pt == pl == 0 and 2 * oh_stop <= h_in and \
            2 * out.shape[1] <= w_in:  # fmt: skip
        _maxpool_2x2_rows(x, oh_start, oh_stop, out, argmax)
        return
    for oh in range(oh_start, oh_stop):
        h0 = max(oh * sh - pt, 0)
        h1 = min(oh * sh - pt + ph, h_in)
        for ow in range(out.shape[1]):
            w0 = max(ow * sw - pl, 0)
            w1 = min(ow * sw - pl + pw, w_in)
            best, best_at = x[h0, w0], h0 * w_in + w0
            for h in range(h0, h1):
                for w in range(w0, w1):
                    if x[h, w] > best:  # strict: the first maximum wins ties
                        best, best_at = x[h, w], h * w_in + w
            out[oh, ow] = best
            argmax[oh, ow] = best_at


@kernel(inline=True)
def _maxpool_2x2_rows(x, oh_start, oh_stop, out, argmax):
    """The same for the commonest case, 2x2 windows at stride 2 that all lie inside the plane,
    written out.

    Four values per window, compared in the same order as above (so ties and NaN come out
    the same), as selects rather than branches: on random data the general loop's branches
    are mispredicted about half the time, and this version is several times faster.
    """
    w_in, w_out = x.shape[1], out.shape[1]
    for oh in range(oh_start, oh_stop):
        top, bottom = x[2 * oh], x[2 * oh + 1]
        at_top, at_bottom = 2 * oh * w_in, (2 * oh + 1) * w_in
        for ow in range(w_out):
            w = 2 * ow
            best, best_at = top[w], at_top + w
            v = top[w + 1]
            best, best_at = (v, at_top + w + 1) if v > best else (best, best_at)
            v = bottom[w]
            best, best_at = (v, at_bottom + w) if v > best else (best, best_at)
            v = bottom[w + 1]
            best, best_at = (v, at_bottom + w + 1) if v > best else (best, best_at)
            out[oh, ow] = best
            argmax[oh, ow] = best_at


@kernel(parallel=True)
def _maxpool_fwd_kernel(x, ph, pw, sh, sw, pt, pl, out, argmax):
    """:func:`maxpool_rows` over every (image, channel) plane, all rows."""
    n_img, n_ch = x.shape[:2]
    for nc in prange(n_img * n_ch):
        n, c = nc // n_ch, nc % n_ch
        maxpool_rows(x[n, c], ph, pw, sh, sw, pt, pl, 0, out.shape[2], out[n, c], argmax[n, c])


@kernel(parallel=True)
def _maxpool_bwd_kernel(dout, argmax, dx):
    n_img, n_ch, h_out, w_out = dout.shape
    w_in = dx.shape[3]
    for nc in prange(n_img * n_ch):
        n, c = nc // n_ch, nc % n_ch
        dop, ap, dxp = dout[n, c], argmax[n, c], dx[n, c]  # this plane only
        dxp[:, :] = 0.0
        for oh in range(h_out):
            for ow in range(w_out):
                at = ap[oh, ow]
                dxp[at // w_in, at % w_in] += dop[oh, ow]


@kernel(parallel=True)
def _avgpool_fwd_kernel(x, ph, pw, sh, sw, pt, pl, out):
    n_img, n_ch, h_in, w_in = x.shape
    h_out, w_out = out.shape[2], out.shape[3]
    for nc in prange(n_img * n_ch):
        n, c = nc // n_ch, nc % n_ch
        xp, op = x[n, c], out[n, c]
        for oh in range(h_out):
            h0 = max(oh * sh - pt, 0)
            h1 = min(oh * sh - pt + ph, h_in)
            for ow in range(w_out):
                w0 = max(ow * sw - pl, 0)
                w1 = min(ow * sw - pl + pw, w_in)
                total = 0.0
                for h in range(h0, h1):
                    for w in range(w0, w1):
                        total += xp[h, w]
                op[oh, ow] = total / ((h1 - h0) * (w1 - w0))


@kernel(parallel=True)
def _avgpool_bwd_kernel(dout, ph, pw, sh, sw, pt, pl, dx):
    n_img, n_ch, h_in, w_in = dx.shape
    h_out, w_out = dout.shape[2], dout.shape[3]
    for nc in prange(n_img * n_ch):
        n, c = nc // n_ch, nc % n_ch
        dop, dxp = dout[n, c], dx[n, c]
        dxp[:, :] = 0.0
        for oh in range(h_out):
            h0 = max(oh * sh - pt, 0)
            h1 = min(oh * sh - pt + ph, h_in)
            for ow in range(w_out):
                w0 = max(ow * sw - pl, 0)
                w1 = min(ow * sw - pl + pw, w_in)
                share = dop[oh, ow] / ((h1 - h0) * (w1 - w0))
                for h in range(h0, h1):
                    for w in range(w0, w1):
                        dxp[h, w] += share


def maxpool2d_forward(x, *, pool_size=2, strides=None, padding="valid", out=None, argmax=None):
    """Max pooling with a Numba kernel that also records where each maximum was.

    Same arguments and output as :func:`maxpool2d_forward_naive`, and ``out`` (N, C, H_out,
    W_out) of ``x``'s dtype and ``argmax`` (same shape, int64) to write the results into
    existing arrays (as :func:`convnet.ops.conv2d_forward`'s ``out``).

    Returns
    -------
    out : ndarray, shape (N, C, H_out, W_out)
    cache : tuple
        ``(x.shape, argmax)``; ``argmax`` (int64, shape of ``out``) holds the flat index
        ``h * W + w`` of each window's maximum within its channel plane.

    Examples
    --------
    >>> x = np.array([[[[1., 2., 5., 0.],
    ...                 [3., 4., 1., 1.],
    ...                 [0., 0., 2., 2.],
    ...                 [9., 0., 2., 3.]]]])
    >>> out, (shape, argmax) = maxpool2d_forward(x)
    >>> out[0, 0]
    array([[4., 5.],
           [9., 3.]])
    >>> argmax[0, 0]                   # flat positions 1*4+1, 0*4+2, 3*4+0, 3*4+3
    array([[ 5,  2],
           [12, 15]])
    """
    pool_hw, stride_hw, pads, out_hw = _geometry(x, pool_size, strides, padding, "max_pooling2d")
    out = output_array(out, x.shape[:2] + out_hw, x.dtype, name="max_pooling2d")
    argmax = output_array(argmax, out.shape, np.int64, name="max_pooling2d (argmax)")
    x = np.ascontiguousarray(x)
    _maxpool_fwd_kernel(x, *pool_hw, *stride_hw, pads[0], pads[2], out, argmax)
    return out, (x.shape, argmax)


def maxpool2d_backward(dout, cache):
    """Scatter ``dout`` onto the recorded maxima (adding where windows overlap).

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)

    Examples
    --------
    >>> out, cache = maxpool2d_forward(np.array([[[[1., 2.], [4., 3.]]]]))
    >>> maxpool2d_backward(np.array([[[[10.]]]]), cache)[0, 0]
    array([[ 0.,  0.],
           [10.,  0.]])
    """
    x_shape, argmax = cache
    dx = np.empty(x_shape, dtype=dout.dtype)
    _maxpool_bwd_kernel(np.ascontiguousarray(dout), argmax, dx)
    return dx


def avgpool2d_forward(x, *, pool_size=2, strides=None, padding="valid"):
    """Average pooling with a Numba kernel. Same contract as :func:`avgpool2d_forward_naive`.

    Examples
    --------
    >>> avgpool2d_forward(np.arange(16.0).reshape(1, 1, 4, 4))[0][0, 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """
    geometry = _geometry(x, pool_size, strides, padding, "average_pooling2d")
    pool_hw, stride_hw, pads, out_hw = geometry
    out = np.empty(x.shape[:2] + out_hw, dtype=x.dtype)
    _avgpool_fwd_kernel(np.ascontiguousarray(x), *pool_hw, *stride_hw, pads[0], pads[2], out)
    return out, (x.shape, geometry)


def avgpool2d_backward(dout, cache):
    """Spread ``dout`` evenly over each window with a Numba kernel.

    Examples
    --------
    >>> out, cache = avgpool2d_forward(np.zeros((1, 1, 2, 2)))
    >>> avgpool2d_backward(np.array([[[[8.]]]]), cache)[0, 0]
    array([[2., 2.],
           [2., 2.]])
    """
    x_shape, (pool_hw, stride_hw, pads, _) = cache
    dx = np.empty(x_shape, dtype=dout.dtype)
    _avgpool_bwd_kernel(np.ascontiguousarray(dout), *pool_hw, *stride_hw, pads[0], pads[2], dx)
    return dx
