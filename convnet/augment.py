"""Random shifts of training images: more kinds of the same digit, for free.

Beside the reading path, after ``data``: used by ``Sequential.fit(augment=...)`` and by
``python -m convnet train --shift``. Docs chapter: "How a CNN learns" (its section on
augmentation).

A digit moved one or two pixels is still the same digit, but to the network it is a new
image: every pixel that carried ink now sits at another input position. Training on such
copies, drawn afresh for every batch, teaches the network that position does not matter
much, which the 48,000 training images alone teach only partly (their digits were all
centred by their centre of mass). The held-out images are never shifted: validation and
test measure the model on digits as MNIST made them.
"""

from __future__ import annotations

import numpy as np

__all__ = ["random_shift"]


def random_shift(x, rng, *, max_shift: int = 2):
    """Move every image by its own random whole number of pixels, at most ``max_shift`` in
    each direction, filling what comes in from outside with 0 (MNIST's background).

    For image ``n`` with offsets ``dy, dx`` drawn uniformly from ``-max_shift..max_shift``::

        out[n, c, i, j] = x[n, c, i - dy, j - dx]    (0 where i - dy or j - dx is outside)

    so a positive ``dy`` moves the picture down and a positive ``dx`` to the right. Ink
    pushed past the edge is lost. Most MNIST digits have room to move, but not all: their
    20-pixel box is centred by its centre of mass, not by its edges, and 11% of the 70,000
    come within 2 pixels of the top or bottom of the field, so a shift of 2 can cut off a
    row or two of their ink.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    rng : numpy.random.Generator
        Draws the offsets: 2 * N integers, dy for every image and then dx.
    max_shift : int
        From 0 (a copy of ``x``) up to ``min(H, W) - 1``.

    Returns
    -------
    ndarray, shape (N, C, H, W), same dtype as ``x``; a new array

    Examples
    --------
    One bright pixel per image lands somewhere in the 3x3 square around where it was:

    >>> x = np.zeros((4, 1, 5, 5), np.float32)
    >>> x[:, 0, 2, 2] = 1.0
    >>> out = random_shift(x, np.random.default_rng(0), max_shift=1)
    >>> [tuple(int(v) for v in np.argwhere(image[0])[0]) for image in out]
    [(3, 1), (2, 1), (2, 1), (1, 1)]
    """
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        raise ValueError(f"random_shift: expected images of shape (N, C, H, W), got "
                         f"{getattr(x, 'shape', type(x).__name__)}")  # fmt: skip
    n, _, h, w = x.shape
    if not 0 <= max_shift < min(h, w):
        raise ValueError(f"random_shift: max_shift must be from 0 to {min(h, w) - 1} for "
                         f"images of shape {x.shape[1:]}, got {max_shift}")  # fmt: skip
    s = max_shift
    dy = rng.integers(-s, s + 1, size=n)
    dx = rng.integers(-s, s + 1, size=n)
    # Pad every side with s zeros once; each output image is then an (H, W) window of the
    # padded image, whose top-left corner sits at (s - dy, s - dx).
    padded = np.pad(x, ((0, 0), (0, 0), (s, s), (s, s)))
    out = np.empty_like(x)
    for i in range(n):
        top, left = s - dy[i], s - dx[i]
        out[i] = padded[i, :, top : top + h, left : left + w]
    return out
