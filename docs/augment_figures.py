"""Draw the pictures of augmentation in the chapter "How a CNN learns" from MNIST.

    python docs/augment_figures.py [FOLDER]       # default FOLDER: docs/augment

They need MNIST's training images (``$CONVNET_DATA_DIR``, or wherever ``convnet.data``
finds them), which a docs build does not have, so they are drawn by this script and kept in
the repository. Every image in them is made by convnet's own code
(:class:`convnet.augment.RandomAffine`, :func:`convnet.augment.inverse_maps` and
:func:`convnet.augment.affine_warp`):

- ``affine.png``: the first 8 training digits, one per row: each as MNIST has it, then 7
  times through ``RandomAffine()`` (turns of up to 10 degrees, zooms of up to 10%, moves of
  up to 2 pixels), drawn from a generator seeded with 0, with what was drawn under each;
- ``turns.png``: a 1, a 7, a 6 and a 9 of the training set turned anticlockwise by 0 to 180
  degrees: why the turns are kept small.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from convnet import data
from convnet.augment import RandomAffine, affine_warp, inverse_maps

DOCS = Path(__file__).resolve().parent
DIGITS, VERSIONS = 8, 7
TURNS = [0, 15, 30, 45, 90, 135, 180]


def signed(value, decimals=0) -> str:
    """``value`` rounded, with its sign, and no "-0" for a small negative number."""
    return f"{round(float(value), decimals) + 0.0:+.{decimals}f}"


def show(ax, image, title=None, colour="black"):
    """One 28x28 image, dark ink on white, framed, with an optional title under it."""
    ax.imshow(image, cmap="gray_r", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_xlabel(title, fontsize=7, color=colour, labelpad=2)


def affine_figure(x, seed=0) -> Figure:
    """``x`` (N, 1, 28, 28), one per row: as it is, then ``VERSIONS`` times through
    ``RandomAffine()``, every version with its own draw."""
    augment = RandomAffine()
    copies = np.repeat(x, VERSIONS, axis=0)  # digit 0 VERSIONS times, then digit 1, ...
    # The very call fit makes, split in two so that the drawn amounts can be written under
    # each image: augment(copies, rng) draws the same numbers and makes the same images.
    angle, scale, dy, dx = augment.draw(len(copies), np.random.default_rng(seed))
    warped = affine_warp(copies, inverse_maps(angle, scale, dy, dx))
    assert np.array_equal(warped, augment(copies, np.random.default_rng(seed)))

    fig = Figure(figsize=(1.1 * (VERSIONS + 1), 1.3 * len(x)), layout="constrained")
    axes = fig.subplots(len(x), VERSIONS + 1)
    for row, digit in enumerate(x):
        show(axes[row, 0], digit[0], "as in MNIST")
        for k in range(VERSIONS):
            i = row * VERSIONS + k
            drawn = (f"{signed(angle[i])}°, ×{scale[i]:.2f}\n"
                     f"dy {signed(dy[i], 1)}, dx {signed(dx[i], 1)}")  # fmt: skip
            show(axes[row, k + 1], warped[i, 0], drawn)
    fig.suptitle(f"{augment}, each copy its own draw: turned (anticlockwise +),\nzoomed "
                 "(×), moved down (dy +) and right (dx +); MNIST's first 8 training digits",
                 fontsize=9)  # fmt: skip
    return fig


def turns_figure(digits, labels) -> Figure:
    """Each of ``digits`` (N, 1, 28, 28) turned by each angle of ``TURNS``."""
    fig = Figure(figsize=(1.1 * len(TURNS), 1.2 * len(digits)), layout="constrained")
    axes = fig.subplots(len(digits), len(TURNS))
    for row, (digit, label) in enumerate(zip(digits, labels, strict=True)):
        turned = affine_warp(np.repeat(digit[None], len(TURNS), axis=0),
                             inverse_maps(np.array(TURNS, float), 1.0, 0.0, 0.0))  # fmt: skip
        for k, angle in enumerate(TURNS):
            # beyond 15 degrees, in red: far enough for some digits to pass for others
            show(axes[row, k], turned[k, 0], f"a {label}, {angle}°",
                 colour="black" if angle <= 15 else "#c0392b")  # fmt: skip
    fig.suptitle("Turned far, digits change: by 180° a 6 is a 9 and a 9 a 6; by 45° a 7 "
                 "stands like a 1 with a long flag", fontsize=9)  # fmt: skip
    return fig


def main(folder=DOCS / "augment") -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (x_train, y_train), _ = data.load_mnist()
    x = data.to_images(x_train[:DIGITS])
    # the first 1, 7, 6 and 9 of the training set
    firsts = [int(np.flatnonzero(y_train == d)[0]) for d in (1, 7, 6, 9)]
    figures = {
        "affine.png": affine_figure(x),
        "turns.png": turns_figure(data.to_images(x_train[firsts]), y_train[firsts]),
    }
    written = []
    for name, fig in figures.items():
        fig.savefig(folder / name, dpi=100)
        written.append(folder / name)
    return written


if __name__ == "__main__":
    if len(sys.argv) > 2:
        sys.exit(__doc__.splitlines()[2].strip())
    for path in main(*sys.argv[1:]):
        print(path)
