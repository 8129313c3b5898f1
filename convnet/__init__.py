"""convnet: a convolutional neural network from scratch in NumPy and Numba.

Read the package in this order (each module's docstring says where it sits):

1. ``shapes``       output-size arithmetic shared by every sliding-window op
2. ``gradcheck``    numerical gradients, to prove each backward pass right
3. ``jit``          the one place Numba is imported
4. ``im2col``       patches to columns and back: convolution as matrix multiplication
5. ``ops``          conv, pool, dense, activations, dropout, batch normalization, softmax:
                    naive and fast pairs
6. ``initializers`` He and Glorot, from a seeded Generator
7. ``backend``      the speed ladder (naive, fast, tuned) and its one seam to the annex
8. ``layers``       thin classes that hold parameters and call the ops; BatchNormalization,
                    GlobalAveragePooling2D and Residual blocks
9. ``losses``       softmax cross-entropy as a loss object
    ``metrics``     accuracy and top-k accuracy, what fit logs beside the loss
10. ``optimizers``  SGD (momentum, Nesterov), Adam, AdamW, RMSprop, Adadelta
11. ``model``       ``Sequential``: build, summary, forward, backward, fit, evaluate, predict
    ``nets``        the notebook's CNN (``seed_net``) and a small one, built with ``Sequential``
12. ``callbacks``   History, checkpoints, early stopping, LR schedules, the NaN guard, progress
13. ``idx``         IDX files, the format MNIST comes in: read and write them
    ``data``        datasets (MNIST, Fashion-MNIST): find the files, the verified download,
                    the notebook's split
14. ``keras_config`` Keras's JSON description of a model, to and from convnet layers
    ``keras_h5``    the ``mnist.h5`` file in Keras's HDF5 layout: save a model, read weights into it
    ``io``          ``load_model``, ``load_checkpoint``: a new model from a file, to use or resume

Off the path, the annex ``tuned``: everything that exists only for speed (a register-tiled
matrix product, convolution in the cache with ReLU fused, bands of rows for one image on
every core, arrays kept between batches); where it has several ways to do a convolution it
measures them on the machine in use and keeps the fastest. Delete it and only speed is lost.

Beside the path: ``files`` (atomic writes: a model, checkpoint or IDX file is replaced whole
or not at all), ``progress`` (tqdm's bars, the notebook's only where a notebook can draw
them), ``inspect`` (every layer's output, saliency and Grad-CAM: what the network looks
at), ``diagnostics`` (a callback that records per-layer statistics of training and warns when
they look unhealthy), ``augment`` (random shifts, turns and zooms of training images),
``plots`` (learning curves, confusion matrix), ``preprocess`` (any digit picture to an
MNIST-style 28x28 image), ``drawing`` and ``gui`` (the draw-a-digit app: its logic, then its
Tk window), ``cli`` (``python -m convnet``) and, below everything, ``_version`` (the version
number).

The documentation (``docs/``, a Sphinx site: see the README) walks the same path, with the
equations of every op derived beside the lines that implement them; its page "Reading the
source" repeats this list with the chapter that explains each module.
"""

from convnet import gradcheck, initializers, layers, losses, ops, optimizers
from convnet._version import __version__ as __version__  # the one place it is written
from convnet.io import load_model
from convnet.layers import (
    Activation,
    AveragePooling2D,
    AvgPool2D,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    LeakyReLU,
    MaxPool2D,
    MaxPooling2D,
    ReLU,
    Residual,
    Sigmoid,
    Softmax,
    Tanh,
)
from convnet.model import Sequential

__all__ = [
    "Activation",
    "AveragePooling2D",
    "AvgPool2D",
    "BatchNormalization",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "GlobalAveragePooling2D",
    "LeakyReLU",
    "MaxPool2D",
    "MaxPooling2D",
    "ReLU",
    "Residual",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "gradcheck",
    "initializers",
    "load_model",
    "layers",
    "losses",
    "ops",
    "optimizers",
]
