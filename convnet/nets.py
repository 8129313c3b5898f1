"""Two networks built with ``Sequential``: the notebook's CNN and a small one.

Reading order: ... → optimizers → **11. model**, then this module → callbacks → ... Docs
chapter: "How a CNN learns" (it follows a training step through :func:`seed_net`).

:func:`seed_net` is the network of the Keras notebook this project descends from; it is what
``python -m convnet train`` trains, and what the benchmarks and most tests build.
:func:`small_net` is 200 times smaller and trains in seconds (``train --net small``), for
tests that need a trained model and for measuring preprocessing.
"""

from __future__ import annotations

from convnet.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D
from convnet.model import Sequential

__all__ = ["seed_net", "small_net"]


def seed_net(seed=None, dtype="float32", backend=None) -> Sequential:
    """The notebook's CNN: two 3x3 convolutions, max pooling, dropout, two dense layers.

    Examples
    --------
    >>> seed_net(seed=0).count_params()
    1199882
    """
    return Sequential([
        Conv2D(32, (3, 3), activation="relu"),
        Conv2D(64, (3, 3), activation="relu"),
        MaxPool2D((2, 2)),
        Dropout(0.25),
        Flatten(),
        Dense(128, activation="relu"),
        Dropout(0.5),
        Dense(10, activation="softmax"),
    ], input_shape=(1, 28, 28), seed=seed, dtype=dtype, backend=backend)  # fmt: skip


def small_net(seed=None, dtype="float32", backend=None) -> Sequential:
    """A LeNet-like CNN 200 times smaller than the seed-net, that trains in seconds.

    Two 5x5 convolutions (8 and 16 filters), each followed by 2x2 max pooling, and one
    dense layer. Three epochs on 30,000 MNIST images take about 12 s on one core and reach
    about 97% test accuracy: enough for tests and for measuring preprocessing.

    Examples
    --------
    >>> small_net(seed=0).count_params()
    5994
    """
    return Sequential([
        Conv2D(8, (5, 5), activation="relu"),
        MaxPool2D((2, 2)),
        Conv2D(16, (5, 5), activation="relu"),
        MaxPool2D((2, 2)),
        Flatten(),
        Dense(10, activation="softmax"),
    ], input_shape=(1, 28, 28), seed=seed, dtype=dtype, backend=backend)  # fmt: skip
