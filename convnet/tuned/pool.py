"""Max pooling, tuned: a Numba kernel that records where each maximum was.

Off the reading path, in the annex :mod:`convnet.tuned`. Docs chapter: "Speed".

The fast rung (:func:`convnet.ops.maxpool2d_forward`) copies every window into a column
and reduces; its backward pass copies them again to find the winners. Here one pass over
each channel plane finds every window's maximum and remembers its position, and backward is
a single scatter of ``dout`` onto those positions. Planes never share a pixel, so they are
shared out between the cores. The commonest window, 2x2 at stride 2, has a written-out
version without branches.
"""

from __future__ import annotations

import numpy as np

from convnet.jit import kernel, prange

__all__ = ["maxpool_rows", "forward", "backward"]


@kernel(inline=True)
def maxpool_rows(x, ph, pw, sh, sw, pt, pl, oh_start, oh_stop, out, argmax):
    """Output rows ``oh_start <= oh < oh_stop`` of one channel plane ``x`` (H, W) into ``out``
    and ``argmax`` (H_out, W_out). :mod:`convnet.tuned.bands` calls this too, for bands of rows."""
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


def forward(x, pool_hw, stride_hw, pads, out=None, argmax=None):
    """Max pooling of ``x`` (N, C, H, W), C-contiguous, with the geometry
    :func:`convnet.ops.pool._geometry` works out.

    Returns
    -------
    out : ndarray, shape (N, C, H_out, W_out)
    argmax : ndarray of int64, same shape
        The flat index ``h * W + w`` of each window's maximum within its channel plane.
    Both may be given, of the right shape and dtype, to be written instead of new arrays.
    """
    h_out = (x.shape[2] + pads[0] + pads[1] - pool_hw[0]) // stride_hw[0] + 1
    w_out = (x.shape[3] + pads[2] + pads[3] - pool_hw[1]) // stride_hw[1] + 1
    shape = (*x.shape[:2], h_out, w_out)
    out = np.empty(shape, x.dtype) if out is None else out
    argmax = np.empty(shape, np.int64) if argmax is None else argmax
    _maxpool_fwd_kernel(x, *pool_hw, *stride_hw, pads[0], pads[2], out, argmax)
    return out, argmax


def backward(dout, x_shape, argmax):
    """Scatter ``dout`` onto the recorded maxima (adding where windows overlap): dx."""
    dx = np.empty(x_shape, dtype=dout.dtype)
    _maxpool_bwd_kernel(np.ascontiguousarray(dout), argmax, dx)
    return dx
