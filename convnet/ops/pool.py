"""Max and average pooling, forward and backward.

Reading order: ... → conv → **5. ops: pool** → dense → activations → ... Docs chapter:
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

Naive versions loop over windows in Python. The fast ones use the convolution's trick: each
channel plane is an image of one channel, :func:`convnet.im2col.im2col` copies every window
into a column, and one NumPy reduction over the columns' axis does all the windows at once.
Backward writes each window's gradient into its column and :func:`convnet.im2col.col2im`
adds the columns back onto the pixels, overlapping windows included. The two versions share
their signatures and caches.
"""

from __future__ import annotations

import numpy as np

from convnet.im2col import col2im, im2col
from convnet.shapes import check_float, pair, resolve_padding, window_output_size

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
    check_float(op, x=x)
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
    check_float("max_pooling2d", dout=dout)
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
    check_float("average_pooling2d", dout=dout)
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
# Fast: every window as a column (im2col over channel planes), one reduction per batch.
# ---------------------------------------------------------------------------------------------


def _windows(x_shape, geometry):
    """``(planes, inside)`` for im2col over the channel planes of a batch of ``x_shape``.

    ``planes`` is the shape (N*C, 1, H, W) that treats each plane as a one-channel image.
    ``inside`` (1, PH*PW, P), bool, says which entries of each window's column lie in the
    image rather than in the padding: im2col fills those with zeros, which must not win a
    maximum or count towards an average.
    """
    pool_hw, stride_hw, pads, out_hw = geometry
    n_img, n_ch, h_in, w_in = x_shape
    ones = np.ones((1, 1, h_in, w_in))
    inside = im2col(ones, pool_hw, stride_hw, pads, out_hw) > 0
    return (n_img * n_ch, 1, h_in, w_in), inside


def _columns(x, geometry):
    """Every window of every channel plane as a column: (N*C, PH*PW, P)."""
    pool_hw, stride_hw, pads, out_hw = geometry
    planes, inside = _windows(x.shape, geometry)
    return im2col(x.reshape(planes), pool_hw, stride_hw, pads, out_hw), inside


def _add_back(dcols, x_shape, geometry):
    """col2im over channel planes: each column's entries added onto their pixels."""
    pool_hw, stride_hw, pads, out_hw = geometry
    planes, _ = _windows(x_shape, geometry)
    return col2im(dcols, planes, pool_hw, stride_hw, pads, out_hw).reshape(x_shape)


def maxpool2d_forward(x, *, pool_size=2, strides=None, padding="valid"):
    """Max pooling as the maximum down each window's column. Same contract as
    :func:`maxpool2d_forward_naive`.

    Examples
    --------
    >>> x = np.array([[[[1., 2., 5., 0.],
    ...                 [3., 4., 1., 1.],
    ...                 [0., 0., 2., 2.],
    ...                 [9., 0., 2., 3.]]]])
    >>> maxpool2d_forward(x)[0][0, 0]
    array([[4., 5.],
           [9., 3.]])
    """
    geometry = _geometry(x, pool_size, strides, padding, "max_pooling2d")
    cols, inside = _columns(x, geometry)
    out = np.where(inside, cols, -np.inf).max(axis=1)  # (N*C, P)
    return out.reshape(*x.shape[:2], *geometry[3]), (x, geometry)


def maxpool2d_backward(dout, cache):
    """Each ``dout`` entry into its window's column at the (first) maximum, then col2im.

    ``argmax`` finds the first maximum in the column, whose entries are in the window's
    row-major order: the same winner as the naive version's.

    Examples
    --------
    >>> out, cache = maxpool2d_forward(np.array([[[[1., 2.], [4., 3.]]]]))
    >>> maxpool2d_backward(np.array([[[[10.]]]]), cache)[0, 0]
    array([[ 0.,  0.],
           [10.,  0.]])
    """
    check_float("max_pooling2d", dout=dout)
    x, geometry = cache
    cols, inside = _columns(x, geometry)
    winner = np.where(inside, cols, -np.inf).argmax(axis=1)  # (N*C, P)
    dcols = np.zeros_like(cols)
    d = dout.reshape(len(cols), 1, -1)  # (N*C, 1, P)
    np.put_along_axis(dcols, winner[:, None, :], d, axis=1)
    return _add_back(dcols, x.shape, geometry)


def avgpool2d_forward(x, *, pool_size=2, strides=None, padding="valid"):
    """Average pooling as the mean of each window's column, padding left out. Same contract
    as :func:`avgpool2d_forward_naive`.

    Examples
    --------
    >>> avgpool2d_forward(np.arange(16.0).reshape(1, 1, 4, 4))[0][0, 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """
    geometry = _geometry(x, pool_size, strides, padding, "average_pooling2d")
    cols, inside = _columns(x, geometry)
    out = cols.sum(axis=1) / inside.sum(axis=1).astype(x.dtype)  # the padding adds nothing
    return out.reshape(*x.shape[:2], *geometry[3]).astype(x.dtype, copy=False), (x.shape, geometry)


def avgpool2d_backward(dout, cache):
    """``dout / |R|`` into every entry of each window's column that lies inside the image,
    then col2im.

    Examples
    --------
    >>> out, cache = avgpool2d_forward(np.zeros((1, 1, 2, 2)))
    >>> avgpool2d_backward(np.array([[[[8.]]]]), cache)[0, 0]
    array([[2., 2.],
           [2., 2.]])
    """
    check_float("average_pooling2d", dout=dout)
    x_shape, geometry = cache
    _, inside = _windows(x_shape, geometry)
    share = dout.reshape(x_shape[0] * x_shape[1], 1, -1) / inside.sum(axis=1)  # (N*C, 1, P)
    dcols = (share * inside).astype(dout.dtype, copy=False)  # (N*C, PH*PW, P)
    return _add_back(dcols, x_shape, geometry)
