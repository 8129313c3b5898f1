"""Pen strokes traced from MNIST test digits, to draw them in the app as a person would.

A stroke is a list of (x, y) points in the drawing's raster coordinates (280x280: ten times
MNIST's 28x28, so a digit traced from MNIST's 20-pixel box comes out about 200 pixels tall).
"""

import numpy as np

SCALE = 10  # raster pixels per MNIST pixel


def first_of(label, x_test, y_test):
    """The first MNIST test digit with this label, as floats in [0, 1]."""
    return x_test[int(np.flatnonzero(y_test == label)[0])].astype(np.float64) / 255


def trace_one(digit):
    """A "1": one stroke down the middle of the ink, row by row from top to bottom."""
    points = []
    for row in range(28):
        ink = digit[row]
        if ink.max() > 0.5:
            col = (np.arange(28) * ink).sum() / ink.sum()
            points.append(((col + 0.5) * SCALE, (row + 0.5) * SCALE))
    return [points[::2] + points[-1:]]


def trace_zero(digit, steps=36):
    """A "0": one closed stroke around the ring of ink, at the ink's mean radius per angle."""
    rows, cols = np.indices(digit.shape)
    total = digit.sum()
    cy, cx = (rows * digit).sum() / total, (cols * digit).sum() / total
    radius = np.hypot(rows - cy, cols - cx)
    angle = np.arctan2(rows - cy, cols - cx)
    points = []
    for k in range(steps):
        a = -np.pi + 2 * np.pi * k / steps
        near = np.abs(np.angle(np.exp(1j * (angle - a)))) < np.pi / steps * 1.5
        weight = digit * near
        r = (radius * weight).sum() / weight.sum()
        points.append(((cx + r * np.cos(a) + 0.5) * SCALE, (cy + r * np.sin(a) + 0.5) * SCALE))
    return [points + points[:1]]


def draw(drawing, strokes):
    """Draw ``strokes`` into a :class:`convnet.drawing.Drawing`."""
    for stroke in strokes:
        drawing.pen_down(*stroke[0])
        for point in stroke[1:]:
            drawing.pen_to(*point)
