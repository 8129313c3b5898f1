"""What each step of MNIST-style preprocessing is worth, measured on redrawn test digits.

    python examples/preprocessing_accuracy.py --model runs/small/mnist.h5 --count 2000

MNIST test digits are redrawn as a person draws in the app (``convnet.preprocess.redraw``:
dark ink on a white 280x280 page, the digit 120-220 px tall at a random place) and brought
back to 28x28 in several ways, from the naive shrink of the whole page to the full
MNIST-style recipe, adding one step at a time. The model's accuracy on each is printed as
a Markdown table, beside its accuracy on the same digits untouched. ``docs/gui.md`` shows
the table for a model trained with ``python examples/train_mnist.py --net small``.
"""

import argparse

import numpy as np

from convnet.cli import newest_model
from convnet.data import load_mnist, to_images
from convnet.io import load_model
from convnet.preprocess import (
    fit_in_box,
    ink_box,
    ink_on_black,
    mnist_style,
    plain_resize,
    redraw,
)


def cropped(page):
    ink = ink_on_black(page)
    top, bottom, left, right = ink_box(ink)
    return ink[top : bottom + 1, left : right + 1]


def box_centred(page):
    """Every step but the last: the 20-pixel digit centred by its bounding box instead."""
    digit = fit_in_box(cropped(page))
    field = np.zeros((28, 28), np.float32)
    top, left = (28 - digit.shape[0]) // 2, (28 - digit.shape[1]) // 2
    field[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
    return field


#: (what is done, page -> 28x28 image), from naive to MNIST-style.
WAYS = [
    ("shrink the whole page (plain resize)", plain_resize),
    ("invert, then shrink the whole page", lambda page: plain_resize(ink_on_black(page))),
    ("invert, crop to the ink, stretch to 28x28", lambda page: plain_resize(cropped(page))),
    ("invert, crop, longer side 20 px, centre the box", box_centred),
    ("invert, crop, longer side 20 px, centre of mass (mnist_style)", mnist_style),
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    newest = "the newest runs/*/mnist.h5, else mnist.h5"
    parser.add_argument("--model", default=None, help=f"model file (default: {newest})")
    parser.add_argument("--count", type=int, default=2000, help="test digits to redraw")
    parser.add_argument("--seed", type=int, default=0, help="seeds sizes and places")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)

    path = args.model or newest_model() or "mnist.h5"
    model = load_model(path, compile=False)
    (_, _), (x_test, y_test) = load_mnist(args.data_dir)
    x, y = x_test[: args.count], y_test[: args.count]
    rng = np.random.default_rng(args.seed)
    pages = [redraw(digit, rng) for digit in x]

    def accuracy(images):
        return float((model.predict(images).argmax(axis=1) == y).mean())

    print(f"{args.count:,} MNIST test digits, model {path}\n")
    print("| input | accuracy |\n|---|---:|")
    print(f"| the test digits as they are | {accuracy(to_images(x)):.1%} |")
    for name, way in WAYS:
        images = np.stack([way(page) for page in pages])[:, None]
        print(f"| redrawn; {name} | {accuracy(images):.1%} |")


if __name__ == "__main__":
    main()
