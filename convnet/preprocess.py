"""Turn any picture of a digit into an MNIST-style 28x28 image.

Not on the main reading path; used by ``python -m convnet predict``. The MNIST digits were
made like this: white ink on black, the digit's bounding box scaled (keeping its aspect
ratio, with anti-aliasing) so that its longer side is 20 pixels, then placed in a 28x28
field so that its centre of mass is at the centre. A model trained on MNIST expects exactly
that, so a drawing or photo must go through the same steps.
"""

from __future__ import annotations

import numpy as np

__all__ = ["load_image", "mnist_style"]


def load_image(path) -> np.ndarray:
    """Read an image file as grey levels in [0, 1], shape (H, W)."""
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("LA")  # grey + alpha: transparent pixels count as background
        grey, alpha = (np.asarray(c, dtype=np.float32) / 255 for c in img.split())
    background = 1.0 if np.median(grey) > 0.5 else 0.0
    return grey * alpha + background * (1 - alpha)


def mnist_style(image, *, box: int = 20, size: int = 28, threshold: float = 0.1) -> np.ndarray:
    """Preprocess a grey image of one digit the way MNIST's digits were made.

    Parameters
    ----------
    image : ndarray, shape (H, W), values in [0, 1]
        Dark ink on light paper or light ink on dark: the majority (background) decides.
    box : int
        Longer side of the digit after scaling.
    size : int
        Side of the output image.
    threshold : float
        Ink level below which a pixel counts as background when finding the bounding box.

    Returns
    -------
    ndarray, shape (size, size), float32 in [0, 1], white ink on black

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
    >>> int(rows.min()), int(rows.max()), round(float(cols.mean()))   # 20 rows tall, centred
    (4, 23, 14)
    """
    from PIL import Image

    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 2:
        raise ValueError(f"mnist_style: expected a grey image (H, W), got shape {img.shape}")
    if np.median(img) > 0.5:  # dark ink on light paper: invert to MNIST's white on black
        img = 1.0 - img
    ink_rows = np.flatnonzero((img > threshold).any(axis=1))
    ink_cols = np.flatnonzero((img > threshold).any(axis=0))
    if ink_rows.size == 0:
        raise ValueError("mnist_style: the image holds no ink (draw a digit)")
    crop = img[ink_rows[0] : ink_rows[-1] + 1, ink_cols[0] : ink_cols[-1] + 1]
    h, w = crop.shape
    scale = box / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    small = Image.fromarray(crop).resize((new_w, new_h), Image.Resampling.LANCZOS)
    small = np.clip(np.asarray(small, dtype=np.float32), 0.0, 1.0)
    out = np.zeros((size, size), dtype=np.float32)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    out[top : top + new_h, left : left + new_w] = small
    # Shift so the intensity-weighted centre of mass lands on the centre of the field.
    total = out.sum()
    rows, cols = np.indices(out.shape)
    dy = round((size - 1) / 2 - (rows * out).sum() / total)
    dx = round((size - 1) / 2 - (cols * out).sum() / total)
    shifted = np.zeros_like(out)
    src = out[max(0, -dy) : size - max(0, dy), max(0, -dx) : size - max(0, dx)]
    shifted[max(0, dy) : max(0, dy) + src.shape[0], max(0, dx) : max(0, dx) + src.shape[1]] = src
    return shifted / shifted.max()
