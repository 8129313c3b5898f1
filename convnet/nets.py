"""Three networks built with ``Sequential``: the notebook's CNN, a small one and a modern one.

Reading order: ... → optimizers → **11. model**, then this module → callbacks → ... Docs
chapter: "How a CNN learns" (it follows a training step through :func:`seed_net`).

:func:`seed_net` is the network of the Keras notebook this project descends from; it is what
``python -m convnet train`` trains, and what the benchmarks and most tests build.
:func:`small_net` is 200 times smaller and trains in seconds (``train --net small``), for
tests that need a trained model and for measuring preprocessing. :func:`modern_net` is a
small residual network with batch normalization and global average pooling, what
``train --net modern`` trains with its own recipe (AdamW, a one-cycle schedule, random
turns, zooms and moves).
"""

from __future__ import annotations

from convnet.layers import (
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    MaxPool2D,
    ReLU,
    Residual,
)
from convnet.model import Sequential

__all__ = ["seed_net", "small_net", "modern_net", "residual_block", "BN_MOMENTUM"]

#: The modern net's batch normalization momentum: PyTorch's default (its 0.1), not Keras's
#: 0.99. The moving statistics start at mean 0 and variance 1, far from those of the first
#: convolution's outputs on MNIST; at 0.99 the start weighs in for hundreds of batches, and
#: validation in the first epochs measures it, not the network (docs: "A recipe for
#: 99.65%" has the measurement). At 0.9 the averages follow the last few dozen batches,
#: which under a one-cycle schedule's moving weights is also what inference should use.
BN_MOMENTUM = 0.9


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


def residual_block(filters, strides=1, momentum=BN_MOMENTUM) -> Residual:
    """Two 3x3 convolutions with batch normalization, added to the input, then ReLU: the
    basic block of a ResNet. With ``strides=2`` it halves the image, and its shortcut
    becomes a strided 1x1 convolution. The convolutions have no bias: the batch
    normalization after each subtracts it again (see "Batch normalization").

    Examples
    --------
    >>> block = residual_block(16, strides=2)
    >>> block.build((8, 14, 14))
    >>> block.output_shape, block.shortcut.strides
    ((16, 7, 7), (2, 2))
    """
    return Residual([
        Conv2D(filters, 3, strides=strides, padding="same", use_bias=False),
        BatchNormalization(momentum=momentum),
        ReLU(),
        Conv2D(filters, 3, padding="same", use_bias=False),
        BatchNormalization(momentum=momentum),
    ], activation="relu")  # fmt: skip


def modern_net(seed=None, dtype="float32", backend=None, width=32) -> Sequential:
    """A small residual network: a 3x3 convolution, max pooling to 14x14, batch
    normalization and ReLU, then three residual blocks of ``width``, ``2*width`` and
    ``4*width`` channels at 14x14, 7x7 and 4x4, global average pooling and one dense layer.

    A quarter of the seed-net's parameters, for about the seed-net's arithmetic per image;
    batch normalization lets it train fast at a high learning rate, and global average
    pooling leaves no large dense layer to overfit.

    Examples
    --------
    >>> modern_net(seed=0).count_params()
    308842
    """
    return Sequential([
        Conv2D(width, 3, padding="same", use_bias=False),
        MaxPool2D(2),  # first, so that BN and ReLU see a quarter of the numbers
        BatchNormalization(momentum=BN_MOMENTUM),
        ReLU(),
        residual_block(width),
        residual_block(2 * width, strides=2),
        residual_block(4 * width, strides=2),
        GlobalAveragePooling2D(),
        Dense(10, activation="softmax"),
    ], input_shape=(1, 28, 28), seed=seed, dtype=dtype, backend=backend)  # fmt: skip
