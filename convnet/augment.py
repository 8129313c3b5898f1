"""Random shifts, turns and zooms of training images: more kinds of the same digit, for free.

Beside the reading path, after ``data``: used by ``Sequential.fit(augment=...)`` and by
``python -m convnet train --shift/--rotate/--zoom``. Docs chapter: "How a CNN learns" (its
section on augmentation).

A digit moved one or two pixels is still the same digit, but to the network it is a new
image: every pixel that carried ink now sits at another input position. Training on such
copies, drawn afresh for every batch, teaches the network that position does not matter
much, which the 48,000 training images alone teach only partly (their digits were all
centred by their centre of mass). The held-out images are never changed: validation and
test measure the model on digits as MNIST made them.

Two augmenters, each callable as ``augment(x_batch, rng) -> x_batch``:

- :func:`random_shift` moves each image by whole pixels: a copy of a window, exact;
- :class:`RandomAffine` turns, zooms and moves each image by any amount, so the new pixels
  fall between the old ones and are interpolated (:func:`affine_warp`, bilinear, by the
  inverse maps of :func:`inverse_maps`).
"""

from __future__ import annotations

import math

import numpy as np

from convnet.jit import kernel, prange

__all__ = ["random_shift", "RandomAffine", "inverse_maps", "affine_warp"]


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


# -- turns, zooms and sub-pixel moves ----------------------------------------------------------
#
# Coordinates. Pixel (i, j) is the point at row i, column j (rows point down), and every
# position is measured from the image's centre (c_y, c_x) = ((H - 1) / 2, (W - 1) / 2):
# u = i - c_y, v = j - c_x. Turning and zooming "about the centre" is then a plain matrix
# product. (scipy.ndimage and OpenCV measure from pixel (0, 0) instead, and OpenCV puts x
# before y.)
#
# The forward map, what happens to the picture: a point p = (u, v) of the input goes to
#
#     q = s R(theta) p + t,    R(theta) = [[cos theta, -sin theta],
#                                          [sin theta,  cos theta]],   t = (dy, dx)
#
# zoomed by s, turned by theta, then moved by t. With rows pointing down, theta > 0 turns
# the picture anticlockwise as it appears on screen, as np.rot90 and PIL's Image.rotate do:
# the point right of the centre, p = (0, 1), goes to (-sin theta, cos theta), above the
# centre for theta = 90 degrees.
#
# The inverse map. An output pixel q is filled from the input point p that lands on it:
# solve q = s R p + t for p. R is a rotation, so R^-1 = R^T = R(-theta), and
#
#     p = (1/s) R(-theta) (q - t) = M q - M t,    M = (1/s) [[ cos theta, sin theta],
#                                                            [-sin theta, cos theta]]
#
# which is the 2x3 matrix A = [M | -M t] applied to (u, v, 1). Warping walks over the
# output pixels and asks where each comes from: every output pixel gets exactly one value.
# Pushing the input pixels forward instead would leave holes where the picture grows or
# turns, and pile two pixels onto one where it shrinks.


def inverse_maps(angle, scale, dy, dx):
    """The inverse maps of :func:`affine_warp` that zoom by ``scale`` and turn by ``angle``
    about the centre, then move by ``(dy, dx)`` pixels, one map per image.

    The picture is turned anticlockwise (as seen on screen) for ``angle > 0``, enlarged for
    ``scale > 1``, moved down for ``dy > 0`` and right for ``dx > 0``. Each map is
    ``A = [M | -M t]`` with ``M = (1/scale) R(-angle)`` and ``t = (dy, dx)``: the output
    point ``q`` (from the centre, in (row, column) order) comes from the input point
    ``A @ (q, 1)`` (derived in the comments above this function, and in the docs chapter
    "How a CNN learns").

    Parameters
    ----------
    angle : float or ndarray, shape (N,)
        Degrees.
    scale : float or ndarray, shape (N,)
        More than 0; 1 keeps the size.
    dy, dx : float or ndarray, shape (N,)
        Pixels, any real number.

    Returns
    -------
    ndarray, shape (N, 2, 3), float64
        N is the length of the longest argument; scalars are used for every image.

    Examples
    --------
    A quarter turn, as :func:`np.rot90` makes it: the output pixel at offset (u, v) from the
    centre comes from the input's (v, -u) (``+ 0.0`` turns the -0.0 of ``-sin 0`` into 0.0):

    >>> inverse_maps(90.0, 1.0, 0.0, 0.0) + 0.0
    array([[[ 0.,  1.,  0.],
            [-1.,  0.,  0.]]])

    Two images, the second enlarged twice and moved 3 pixels right, so that its output
    point q comes from (q - (0, 3)) / 2:

    >>> inverse_maps(0.0, [1.0, 2.0], 0.0, [0.0, 3.0]) + 0.0
    array([[[ 1. ,  0. ,  0. ],
            [ 0. ,  1. ,  0. ]],
    <BLANKLINE>
           [[ 0.5,  0. ,  0. ],
            [ 0. ,  0.5, -1.5]]])
    """
    angle, scale, dy, dx = np.broadcast_arrays(*(np.atleast_1d(np.asarray(a, np.float64))
                                                 for a in (angle, scale, dy, dx)))  # fmt: skip
    if angle.ndim != 1:
        raise ValueError(f"inverse_maps: expected numbers or 1-D arrays, one entry per image; "
                         f"got arrays of shape {angle.shape}")  # fmt: skip
    if not np.all(scale > 0):
        raise ValueError(f"inverse_maps: every scale must be more than 0, got {scale.min()}")
    cos, sin = _cos_sin_degrees(angle)
    cos, sin = cos / scale, sin / scale
    maps = np.empty((len(angle), 2, 3))
    maps[:, 0, 0], maps[:, 0, 1] = cos, sin  # M, the first row ...
    maps[:, 1, 0], maps[:, 1, 1] = -sin, cos  # ... and the second
    maps[:, 0, 2] = -(cos * dy + sin * dx)  # -M t
    maps[:, 1, 2] = -(-sin * dy + cos * dx)
    return maps


def _cos_sin_degrees(angle):
    """cos and sin of ``angle`` (degrees, an array), exact at whole quarter turns.

    ``np.cos(np.deg2rad(90))`` is 6e-17, not 0: a quarter turn would blend a trace of each
    pixel's neighbours into it. Turning by the nearest whole number of quarter turns, whose
    cos and sin are 0 and +-1, and then by the rest (at most 45 degrees) keeps those exact:
    cos(r + 90) = -sin r, sin(r + 90) = cos r, and so on round the circle.
    """
    quarters = np.round(angle / 90.0)
    rest = np.deg2rad(angle - 90.0 * quarters)
    c, s = np.cos(rest), np.sin(rest)
    turn = quarters.astype(np.int64) % 4
    return np.choose(turn, [c, -s, -c, s]), np.choose(turn, [s, c, -s, -c])


@kernel(inline=True)
def _pixel(image, c, i, j):
    """``image[c, i, j]`` of an image (C, H, W), or 0, the background, outside it.

    Always a float64, in the compiled and the plain-Python kernel alike: NumPy would do the
    arithmetic of float32 pixels in float32, Numba in float64."""
    if 0 <= i < image.shape[1] and 0 <= j < image.shape[2]:
        return float(image[c, i, j])
    return 0.0


@kernel(parallel=True)
def _affine_warp_kernel(x, maps, out):
    """``out[n]`` = ``x[n]`` (C, H, W) resampled through ``maps[n]`` (2, 3), every image on
    whichever core is free: images never share an output pixel."""
    n_images, channels, h, w = x.shape
    cy, cx = (h - 1) / 2, (w - 1) / 2
    for n in prange(n_images):
        m, image = maps[n], x[n]
        for i in range(h):
            for j in range(w):
                # Where output pixel (i, j) comes from: p = A (u, v, 1), back in row and
                # column numbers. Adding in this order keeps p exact whenever the map's
                # entries are small whole or half numbers (a quarter turn, a shift by 0.5).
                u, v = i - cy, j - cx
                row = cy + m[0, 0] * u + m[0, 1] * v + m[0, 2]
                col = cx + m[1, 0] * u + m[1, 1] * v + m[1, 2]
                # Bilinear: p lies in the square of pixels (i0, j0) .. (i0 + 1, j0 + 1),
                # fy of the way down it and fx across (0 <= f < 1).
                i0, j0 = math.floor(row), math.floor(col)
                fy, fx = row - i0, col - j0
                for c in range(channels):
                    # Across each row first, then between the rows. left + f (right - left)
                    # is (1 - f) left + f right, two weights that sum to one, written so
                    # that a constant stays exactly constant in floating point.
                    top_left, top_right = _pixel(image, c, i0, j0), _pixel(image, c, i0, j0 + 1)
                    bottom_left = _pixel(image, c, i0 + 1, j0)
                    bottom_right = _pixel(image, c, i0 + 1, j0 + 1)
                    top = top_left + fx * (top_right - top_left)
                    bottom = bottom_left + fx * (bottom_right - bottom_left)
                    out[n, c, i, j] = top + fy * (bottom - top)


def affine_warp(x, maps):
    """Resample every image through its own inverse map, with bilinear interpolation and 0
    (MNIST's background) outside the image.

    With positions measured from the image's centre ``(c_y, c_x) = ((H - 1) / 2, (W - 1) / 2)``
    in (row, column) order, output pixel ``(i, j)`` of image ``n`` takes the input's value at
    the point::

        (y, x) = (c_y, c_x) + maps[n] @ (i - c_y, j - c_x, 1)

    interpolated between the four pixels around it, each weighted by how close it is::

        i0, j0 = floor(y), floor(x);   fy, fx = y - i0, x - j0
        out[n, c, i, j] = (1 - fy) (1 - fx) x[n, c, i0,     j0] + (1 - fy) fx x[n, c, i0,     j0 + 1]
                        +      fy  (1 - fx) x[n, c, i0 + 1, j0] +      fy  fx x[n, c, i0 + 1, j0 + 1]

    with 0 for the pixels outside the image. The four weights add up to 1; at whole-number
    points all but one are 0, so an identity map gives back ``x`` exactly. Near the edge the
    picture fades to 0 over one pixel. :func:`inverse_maps` makes maps that turn, zoom and
    move.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), float32 or float64
    maps : ndarray, shape (N, 2, 3)
        The inverse maps ``A = [M | b]``: the output point ``q`` comes from ``M q + b``.

    Returns
    -------
    ndarray, shape (N, C, H, W), same dtype as ``x``; a new array

    Examples
    --------
    Moving right by half a pixel: each output pixel is the mean of two neighbours, and the
    first column the mean of its pixel and the zero outside:

    >>> x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    >>> affine_warp(x, np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, -0.5]]]))[0, 0]
    array([[0.5, 1.5, 2.5],
           [2. , 4.5, 5.5],
           [3.5, 7.5, 8.5]])
    """  # noqa: E501
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        raise ValueError(f"affine_warp: expected images of shape (N, C, H, W), got "
                         f"{getattr(x, 'shape', type(x).__name__)}")  # fmt: skip
    if x.dtype not in (np.float32, np.float64):
        raise ValueError(f"affine_warp: expected float32 or float64 images, got {x.dtype}; "
                         "convert them first, e.g. x.astype(np.float32) / 255")  # fmt: skip
    maps = np.asarray(maps, dtype=np.float64)
    if maps.shape != (len(x), 2, 3):
        raise ValueError(f"affine_warp: expected one 2x3 map per image, shape "
                         f"({len(x)}, 2, 3), for images of shape {x.shape}; got "
                         f"{maps.shape}")  # fmt: skip
    if not np.all(np.isfinite(maps)):
        raise ValueError("affine_warp: the maps must be finite numbers, got NaN or infinity")
    out = np.empty_like(x)
    _affine_warp_kernel(np.ascontiguousarray(x), np.ascontiguousarray(maps), out)
    return out


class RandomAffine:
    """Turn, zoom and move every image by its own random amounts, resampled bilinearly
    (:func:`affine_warp`), for ``fit(augment=...)``; Keras has these as ``RandomRotation``,
    ``RandomZoom`` and ``RandomTranslation``.

    For each image, uniformly and independently: an angle in ``[-rotation, rotation]``
    degrees (positive turns anticlockwise), a scale in ``[1 - zoom, 1 + zoom]`` (more than 1
    enlarges the digit), and moves ``dy, dx`` in ``[-shift, shift]`` pixels (any real
    number, down and right when positive). The picture is zoomed and turned about its
    centre, then moved; what comes in from outside is 0.

    Parameters
    ----------
    rotation : float
        Largest turn, in degrees, from 0 to 180.
    zoom : float
        Largest change of size, as a fraction: from 0 up to but not including 1.
    shift : float
        Largest move each way, in pixels, 0 or more.

    Examples
    --------
    >>> augment = RandomAffine(rotation=10, zoom=0.1, shift=2)
    >>> augment
    RandomAffine(rotation=10.0, zoom=0.1, shift=2.0)
    >>> x = np.zeros((2, 1, 28, 28), np.float32)
    >>> x[:, 0, 6:22, 12:16] = 1.0                          # a thick "1"
    >>> out = augment(x, np.random.default_rng(0))
    >>> out.shape, out.dtype
    ((2, 1, 28, 28), dtype('float32'))
    >>> np.array_equal(out, augment(x, np.random.default_rng(0)))   # same draws, same images
    True
    >>> angle, scale, dy, dx = augment.draw(2, np.random.default_rng(0))  # what it drew
    >>> angle.round(2), scale.round(3)
    (array([ 2.74, -4.6 ]), array([0.908, 0.903]))
    """

    def __init__(self, rotation: float = 10.0, zoom: float = 0.1, shift: float = 2.0):
        for name, value, low, high, upto in (("rotation", rotation, 0, 180, "180 degrees"),
                                             ("zoom", zoom, 0, 1, "below 1"),
                                             ("shift", shift, 0, math.inf, "any number of "
                                                                           "pixels")):  # fmt: skip
            inside = low <= value <= high if name != "zoom" else low <= value < high
            if not inside:
                raise ValueError(f"RandomAffine: {name} must be from 0 to {upto}, got {value}")
        self.rotation, self.zoom, self.shift = float(rotation), float(zoom), float(shift)

    def __repr__(self):
        return f"RandomAffine(rotation={self.rotation}, zoom={self.zoom}, shift={self.shift})"

    def draw(self, n: int, rng):
        """The random amounts for ``n`` images: four calls of ``rng.uniform``, each drawing
        ``n`` numbers, in this order, whatever the parameters (a parameter of 0 still draws,
        so that turning one off leaves the others' draws unchanged).

        Returns
        -------
        angle, scale, dy, dx : ndarray, shape (n,), float64
            Degrees, factor, pixels, pixels.
        """
        angle = rng.uniform(-self.rotation, self.rotation, n)
        scale = 1.0 + rng.uniform(-self.zoom, self.zoom, n)
        dy = rng.uniform(-self.shift, self.shift, n)
        dx = rng.uniform(-self.shift, self.shift, n)
        return angle, scale, dy, dx

    def __call__(self, x, rng):
        """The images ``x`` (N, C, H, W), float32 or float64, each turned, zoomed and moved by
        what :meth:`draw` draws from ``rng`` (a ``numpy.random.Generator``): a new array of
        the same shape and dtype. The same generator state gives the same images."""
        if not isinstance(x, np.ndarray) or x.ndim != 4:
            raise ValueError(f"RandomAffine: expected images of shape (N, C, H, W), got "
                             f"{getattr(x, 'shape', type(x).__name__)}")  # fmt: skip
        return affine_warp(x, inverse_maps(*self.draw(len(x), rng)))
