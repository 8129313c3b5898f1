"""Turn any picture of a digit into an MNIST-style 28x28 image.

Not on the main reading path; used by ``python -m convnet predict`` and by the drawing app
(``python -m convnet gui``). Docs chapter: "Draw a digit" (``docs/gui.md``).

The MNIST digits were made like this: white ink on black, the digit's bounding box scaled
(keeping its aspect ratio, with anti-aliasing) so that its longer side is 20 pixels, then
placed in a 28x28 field so that its intensity-weighted centre of mass is at the centre. A
model trained on MNIST has only ever seen digits made that way, so a drawing or a photo must
go through the same steps, one function each:

1. :func:`ink_on_black`  grey levels with the ink bright and the paper 0 (invert dark ink on
   light paper; the picture's border tells which is the paper);
2. :func:`ink_box`       the bounding box of the ink;
3. :func:`fit_in_box`    the cropped ink scaled so that its longer side is 20 pixels;
4. :func:`centre_of_mass_shift`  placed in 28x28 with its centre of mass at the centre.

:func:`mnist_style` runs all four. :func:`plain_resize` is what copies of the original app
do instead (shrink the whole canvas), kept to measure the difference; :func:`redraw` makes
a test digit look like one drawn in the app (big, off-centre, dark on light).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "load_image",
    "ink_on_black",
    "ink_box",
    "fit_in_box",
    "centre_of_mass_shift",
    "mnist_style",
    "plain_resize",
    "redraw",
]


def load_image(path) -> np.ndarray:
    """Read an image file as grey levels in [0, 1], shape (H, W).

    Colour is converted to grey (ITU-R 601 luma, PIL's "L"). 16-bit pictures (PIL's modes
    "I;16" and "I", how 16-bit PNGs open) are scaled from their own range, 0 to 65535, not
    clipped to 8 bits. Transparent pixels are paper: the picture is laid on a sheet that
    contrasts with what is visible, white under dark ink (the usual drawing exported on a
    transparent background, whose hidden pixels are often black), black under light ink.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    ndarray, shape (H, W), float32 in [0, 1]

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        The file is empty, damaged or truncated, or not in an image format Pillow reads.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from PIL import Image
    >>> path = Path(tempfile.mkdtemp()) / "digit.png"
    >>> Image.new("RGB", (3, 2), (255, 255, 255)).save(path)      # white paper, 3 wide, 2 high
    >>> load_image(path)
    array([[1., 1., 1.],
           [1., 1., 1.]], dtype=float32)
    >>> sheet = Image.new("LA", (3, 2), (0, 0))                    # transparent black...
    >>> sheet.putpixel((1, 0), (0, 255))                           # ...and one opaque black dot
    >>> sheet.save(path)
    >>> load_image(path)
    array([[1., 0., 1.],
           [1., 1., 1.]], dtype=float32)
    """
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(path)
    except UnidentifiedImageError:
        raise ValueError(f"{path}: not an image (an empty or damaged file, or a format "
                         "Pillow cannot read)") from None  # fmt: skip
    except Image.DecompressionBombError as err:  # a few KB on disk, gigabytes decoded
        raise ValueError(f"{path}: too large to read safely ({err})") from None
    try:
        with img:
            if img.mode.startswith("I;16") or img.mode == "I":
                return np.clip(np.asarray(img, dtype=np.float32) / 65535, 0.0, 1.0)
            # Through RGBA, so that every way of storing transparency (an alpha channel, a
            # palette's transparent entry, PNG's transparent colour) ends up in one channel.
            grey, alpha = (np.asarray(c, dtype=np.float32) / 255
                           for c in img.convert("RGBA").convert("LA").split())  # fmt: skip
    except OSError as err:  # the pixels are read only now: a truncated file fails here
        raise ValueError(f"{path}: a damaged image ({err})") from None
    if alpha.min() == 1.0:
        return grey
    # What shows (weighted by its opacity) is the ink: the sheet under it is its opposite.
    visible = float((grey * alpha).sum() / alpha.sum()) if alpha.sum() > 0 else 0.0
    paper = 1.0 if visible < 0.5 else 0.0
    return grey * alpha + paper * (1 - alpha)


def ink_on_black(image) -> np.ndarray:
    """Grey levels with the paper at 0 and the brightest ink at 1, as MNIST's digits are.

    The paper is the median grey level of the picture's outermost rows and columns: a digit
    is drawn inside the frame, so the frame shows the paper even when ink covers most of the
    picture. Paper lighter than mid-grey means dark ink on light paper, which is inverted.
    Then the paper level is subtracted and the contrast stretched, so that grey paper or
    faint ink (a photo, a pencil) come out like MNIST's black field and white strokes.

    Parameters
    ----------
    image : ndarray, shape (H, W), values in [0, 1]

    Returns
    -------
    ndarray, shape (H, W), float32 in [0, 1]
        All zeros when the picture holds nothing but paper.

    Examples
    --------
    >>> page = np.full((5, 5), 0.9, np.float32)      # light grey paper
    >>> page[1:4, 2] = 0.3                           # a dark stroke
    >>> ink_on_black(page)[:, 2].round(2).tolist()
    [0.0, 1.0, 1.0, 1.0, 0.0]
    """
    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 2:
        raise ValueError(f"expected a grey image of shape (H, W), got shape {img.shape}; "
                         "convert colour pictures with load_image first")  # fmt: skip
    frame = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
    paper = float(np.median(frame))
    if paper > 0.5:  # dark ink on light paper: invert to MNIST's white on black
        img, paper = 1.0 - img, 1.0 - paper
    ink = img - paper
    top = float(ink.max())
    if top <= 0:
        return np.zeros_like(img)
    return np.clip(ink / top, 0.0, 1.0)


def ink_box(ink, *, threshold: float = 0.1):
    """The bounding box of the pixels brighter than ``threshold``.

    Parameters
    ----------
    ink : ndarray, shape (H, W), ink bright on 0 (see :func:`ink_on_black`)
    threshold : float
        Ink level below which a pixel counts as paper (anti-aliasing fringes, noise).

    Returns
    -------
    (top, bottom, left, right) or None
        Inclusive row and column bounds, so the box is ``ink[top:bottom + 1, left:right + 1]``;
        None when no pixel is above the threshold.

    Examples
    --------
    >>> ink = np.zeros((6, 8)); ink[1:4, 2:7] = 1.0
    >>> ink_box(ink)
    (1, 3, 2, 6)
    >>> ink_box(np.zeros((6, 8))) is None
    True
    """
    mask = np.asarray(ink) > threshold
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])


def fit_in_box(crop, box: int = 20) -> np.ndarray:
    """Scale ``crop`` so that its longer side is ``box`` pixels, keeping the aspect ratio.

    Shrinking uses PIL's Lanczos filter, whose support widens with the shrink factor: every
    source pixel contributes, so a thin stroke becomes a fainter line instead of vanishing
    between samples (that is the anti-aliasing MNIST's digits have at their edges).

    Parameters
    ----------
    crop : ndarray, shape (h, w), float
    box : int

    Returns
    -------
    ndarray, shape (round(h * s), round(w * s)) with s = box / max(h, w), each at least 1;
        float32 clipped to [0, 1]

    Examples
    --------
    >>> fit_in_box(np.ones((200, 50))).shape          # a tall "1" stays tall and thin
    (20, 5)
    """
    from PIL import Image

    crop = np.asarray(crop, dtype=np.float32)
    h, w = crop.shape
    scale = box / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    small = Image.fromarray(crop).resize((new_w, new_h), Image.Resampling.LANCZOS)
    return np.clip(np.asarray(small, dtype=np.float32), 0.0, 1.0)


def centre_of_mass_shift(digit, size: int = 28) -> np.ndarray:
    """Place ``digit`` in a ``size`` x ``size`` field with its centre of mass at the centre.

    The centre of mass is the intensity-weighted mean pixel position,
    ``(sum_ij i * x_ij / sum_ij x_ij, sum_ij j * x_ij / sum_ij x_ij)``. In MNIST it sits at
    row 14.0, column 14.0 on average (measured over the test set: 13.99 and 14.00), that is
    at ``size / 2`` in array indices, so that is where the shift (whole pixels, as MNIST's
    makers did) puts it.

    Parameters
    ----------
    digit : ndarray, shape (h, w), h and w at most ``size``, not all zeros
    size : int

    Returns
    -------
    ndarray, shape (size, size), float32

    Examples
    --------
    >>> dot = np.zeros((3, 5)); dot[1, 1] = 1.0      # the mass at row 1, column 1
    >>> field = centre_of_mass_shift(dot, size=8)
    >>> np.argwhere(field).tolist()                  # moved to (8 / 2, 8 / 2)
    [[4, 4]]
    """
    digit = np.asarray(digit, dtype=np.float32)
    h, w = digit.shape
    if h > size or w > size:
        raise ValueError(f"a digit of shape {digit.shape} does not fit in {size}x{size}; "
                         "scale it down with fit_in_box first")  # fmt: skip
    total = float(digit.sum())
    if total <= 0:
        raise ValueError("the digit holds no ink (draw a digit)")
    rows, cols = np.indices(digit.shape)
    centre_row = float((rows * digit).sum()) / total
    centre_col = float((cols * digit).sum()) / total
    # Top-left corner that puts the centre of mass at size / 2, kept inside the field: a
    # digit whose ink is all on one side may end up a little off-centre rather than clipped.
    top = min(max(_round_half_up(size / 2 - centre_row), 0), size - h)
    left = min(max(_round_half_up(size / 2 - centre_col), 0), size - w)
    field = np.zeros((size, size), dtype=np.float32)
    field[top : top + h, left : left + w] = digit
    return field


def _round_half_up(value: float) -> int:
    # Python's round() sends halves to the even neighbour, which would shift digits of even
    # and odd offsets in opposite directions.
    return int(np.floor(value + 0.5))


def mnist_style(image, *, box: int = 20, size: int = 28, threshold: float = 0.1) -> np.ndarray:
    """Preprocess a grey image of one digit the way MNIST's digits were made.

    :func:`ink_on_black`, then crop to :func:`ink_box`, :func:`fit_in_box` and
    :func:`centre_of_mass_shift`.

    Parameters
    ----------
    image : ndarray, shape (H, W), values in [0, 1]
        Dark ink on light paper or light ink on dark: the picture's border decides.
    box : int
        Longer side of the digit after scaling.
    size : int
        Side of the output image.
    threshold : float
        Ink level below which a pixel counts as paper when finding the bounding box.

    Returns
    -------
    ndarray, shape (size, size), float32 in [0, 1], white ink on black, maximum 1

    Raises
    ------
    ValueError
        If the image holds no ink.

    Examples
    --------
    >>> canvas = np.ones((280, 280), np.float32)        # white paper
    >>> canvas[40:240, 60:100] = 0.0                    # a thick black "1", left of centre
    >>> digit = mnist_style(canvas)
    >>> digit.shape, float(digit.max())
    ((28, 28), 1.0)
    >>> rows, cols = np.nonzero(digit > 0.5)
    >>> int(rows.min()), int(rows.max()), float(rows.mean()), float(cols.mean())
    (5, 24, 14.5, 14.5)

    20 rows tall; its centre is half a pixel from (14, 14), as close as whole-pixel shifts
    can bring an even-sized bar.
    """
    ink = ink_on_black(image)
    bounds = ink_box(ink, threshold=threshold)
    if bounds is None:
        raise ValueError("the image holds no ink (draw a digit)")
    top, bottom, left, right = bounds
    digit = centre_of_mass_shift(fit_in_box(ink[top : bottom + 1, left : right + 1], box), size)
    return digit / digit.max()


def plain_resize(image, size: int = 28) -> np.ndarray:
    """Shrink the whole picture to ``size`` x ``size``, as naive copies of the app do.

    No inversion, no cropping, no centring: shown only to measure what the steps of
    :func:`mnist_style` are worth (``docs/gui.md``). Do not feed a model with it.

    Parameters
    ----------
    image : ndarray, shape (H, W), values in [0, 1]

    Returns
    -------
    ndarray, shape (size, size), float32 in [0, 1]

    Examples
    --------
    >>> plain_resize(np.ones((280, 280))).shape
    (28, 28)
    """
    from PIL import Image

    img = Image.fromarray(np.asarray(image, dtype=np.float32))
    small = img.resize((size, size), Image.Resampling.LANCZOS)
    return np.clip(np.asarray(small, dtype=np.float32), 0.0, 1.0)


def redraw(digit, rng, *, canvas: int = 280, smallest: int = 120, largest: int = 220):
    """An MNIST digit as a person might draw it in the app: big, off-centre, dark on light.

    The digit's ink is cropped, scaled up (bicubic) so that its longer side is drawn
    uniformly from ``[smallest, largest]`` pixels, and put at a random place on a white
    ``canvas`` x ``canvas`` picture in black.

    Parameters
    ----------
    digit : ndarray, shape (28, 28), uint8 (as MNIST stores it) or float in [0, 1]
    rng : numpy.random.Generator
    canvas, smallest, largest : int
        Side of the picture; range of the drawn digit's longer side (at most ``canvas``).

    Returns
    -------
    ndarray, shape (canvas, canvas), float32 in [0, 1], 1 = white paper

    Examples
    --------
    >>> seven = np.zeros((28, 28), np.uint8); seven[4:24, 12:16] = 255
    >>> page = redraw(seven, np.random.default_rng(0))
    >>> page.shape, float(page.max()), float(page.min())
    ((280, 280), 1.0, 0.0)
    """
    from PIL import Image

    ink = np.asarray(digit, dtype=np.float32)
    if ink.max() > 1:
        ink = ink / 255
    top, bottom, left, right = ink_box(ink, threshold=0)
    crop = ink[top : bottom + 1, left : right + 1]
    h, w = crop.shape
    side = int(rng.integers(smallest, largest + 1))
    new_h, new_w = max(1, round(h * side / max(h, w))), max(1, round(w * side / max(h, w)))
    big = Image.fromarray(crop).resize((new_w, new_h), Image.Resampling.BICUBIC)
    big = np.clip(np.asarray(big, dtype=np.float32), 0.0, 1.0)
    page = np.ones((canvas, canvas), dtype=np.float32)
    y, x = int(rng.integers(0, canvas - new_h + 1)), int(rng.integers(0, canvas - new_w + 1))
    page[y : y + new_h, x : x + new_w] = 1.0 - big
    return page
