"""Dropout, tuned: the mask drawn, applied and kept in one pass.

Off the reading path, in the annex :mod:`convnet.tuned`. Docs chapter: "Speed".

The core's :func:`convnet.ops.dropout_forward` makes four arrays the size of the input: the
uniform numbers, the kept-or-not booleans, the mask, and the output, each a pass over memory
(for the seed-net's first dropout, 1.2 M numbers, 5 ms a batch). This kernel draws each
number from the layer's own Generator, in the same order, and writes the mask and the output
entry by entry: the same mask and the same output, bit for bit, in one pass. Numba draws from
a NumPy Generator with NumPy's own algorithm, advancing the same state, so a model trains to
the same weights whichever of the two does its dropout.

One stream of random numbers is drawn in order, so the pass runs on one core.
"""

from __future__ import annotations

import numpy as np

from convnet.jit import kernel

__all__ = ["forward"]


@kernel
def _dropout_kernel(rng, x, rate, scale, out, mask):
    """``mask[i] = scale if u_i >= rate else 0`` with ``u_i = rng.random()``, drawn in order;
    ``out[i] = x[i] * mask[i]``. All arrays flat, of one dtype."""
    for i in range(x.shape[0]):
        kept = rng.random() >= rate
        m = scale if kept else 0.0 * scale  # 0 in the arrays' dtype
        mask[i] = m
        out[i] = x[i] * m


def forward(x, rate, rng):
    """Inverted dropout in training: ``(out, mask)`` as :func:`convnet.ops.dropout_forward`
    returns them for the same Generator state.

    Parameters
    ----------
    x : ndarray, any shape, C-contiguous float
    rate : float in [0, 1)
    rng : numpy.random.Generator
        Advanced by one float64 draw per entry, as the core's op advances it.

    Returns
    -------
    out, mask : ndarray, shape of ``x``
    """
    out, mask = np.empty_like(x), np.empty_like(x)
    scale = x.dtype.type(1.0 / (1.0 - rate))
    _dropout_kernel(rng, x.reshape(-1), rate, scale, out.reshape(-1), mask.reshape(-1))
    return out, mask
