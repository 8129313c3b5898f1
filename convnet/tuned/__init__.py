"""The tuned annex: everything in convnet that exists only for speed.

Not on the reading path: the core (:mod:`convnet.ops`, :mod:`convnet.layers`,
:mod:`convnet.model`) is complete without it, and deleting this package costs only speed
(:mod:`convnet.backend`). Docs chapter: "Speed".

Its one entry is :func:`plan`, which the model calls (through :func:`convnet.model.steps_for`)
when it runs on the ``'tuned'`` rung. It returns the steps to run instead of the layers:

* :mod:`convnet.tuned.gemm`: a register-tiled matrix product, small enough to read;
* :mod:`convnet.tuned.conv`: convolution image by image, each image's patches made and used
  in the CPU's cache, with bias, ReLU and a following max pooling in the same pass;
* :mod:`convnet.tuned.pool`: max pooling that remembers where each maximum was;
* :mod:`convnet.tuned.dense`: the dense product of a few rows as one pass over the weights,
  and of a batch the way measured fastest;
* :mod:`convnet.tuned.blas`: the machine's BLAS called by each core on its own product;
* :mod:`convnet.tuned.batchnorm`: batch normalization and the ReLU after it in two passes;
* :mod:`convnet.tuned.dropout`: the core's dropout mask drawn and applied in one pass;
* :mod:`convnet.tuned.bands`: one image on every core, from the input to the first dense
  layer in one parallel pass;
* :mod:`convnet.tuned.steps`: the steps that call them, keep their arrays between batches
  and check for NaN once; a Residual block's layers are planned as a model's, inside one
  step.
"""

from __future__ import annotations

from convnet.layers import (
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    GlobalAveragePooling2D,
    MaxPool2D,
    ReLU,
    Residual,
)
from convnet.tuned import bands
from convnet.tuned.steps import (
    BandsStep,
    BatchNormStep,
    ConvPoolStep,
    ConvStep,
    DenseStep,
    DropoutStep,
    GlobalAveragePoolStep,
    LayerStep,
    OutputCheck,
    PoolStep,
    ResidualStep,
)

__all__ = ["plan"]


def _step(layer):
    if layer.backend != "tuned":  # a layer told to run a core rung runs it
        return LayerStep(layer)
    if type(layer) is Conv2D and layer.activation in (None, "relu"):
        return ConvStep(layer)
    if type(layer) is MaxPool2D and layer.activation is None:
        return PoolStep(layer)
    if type(layer) is Dense:
        return DenseStep(layer)
    if type(layer) is Dropout and layer.activation is None:
        return DropoutStep(layer)
    if type(layer) is BatchNormalization and layer.activation is None:
        return BatchNormStep(layer)
    if type(layer) is GlobalAveragePooling2D:
        return GlobalAveragePoolStep(layer)
    if type(layer) is Residual:  # its layers planned as a model's, checked by the block
        block = _flagged(_fused([_step(inner) for inner in layer.layers], conv_pool=False))
        shortcut = _step(layer.shortcut) if layer.shortcut is not None else None
        for step in [*block, *([shortcut] if shortcut is not None else [])]:
            step.check = False
        return ResidualStep(layer, block, shortcut)
    return LayerStep(layer)


def _flagged(steps):
    """``steps``, each told whether it may keep its output between inference batches: when a
    later step will have made a new array from it by then."""
    producers = (ConvStep, ConvPoolStep, PoolStep, DenseStep)
    for i, step in enumerate(steps):
        step.keep = any(isinstance(later, producers) for later in steps[i + 1 :])
    return steps


def plan(layers) -> list:
    """The steps that run ``layers`` (built) on the tuned rung.

    Examples
    --------
    >>> from convnet.nets import seed_net
    >>> [type(step).__name__ for step in plan(seed_net(seed=0, backend="tuned").layers)]
    ['BandsStep', 'DropoutStep', 'OutputCheck']
    """
    single = [_step(layer) for layer in layers]  # one step per layer
    steps = _flagged(_fused(single))
    for i, step in enumerate(steps):
        step.check = i == 0
    band_plan = bands.plan_bands(layers)
    if band_plan is not None:
        n, in_bands = 0, len(band_plan.layers)
        while sum(len(step.layers) for step in steps[:n]) < in_bands:
            n += 1
        steps = [BandsStep(steps[:n]), *steps[n:]]
    # a NaN is traced step by step through the single-layer steps, so that the error can name
    # a pooling layer fused with its convolution
    return [*steps[:-1], OutputCheck(steps[-1], _flagged(single))]


def _fused(steps, conv_pool=True):
    """``steps`` with each ConvStep that a PoolStep follows merged with it into a
    :class:`~convnet.tuned.steps.ConvPoolStep` (if ``conv_pool``), and each BatchNormStep
    with the ReLU layer after it."""
    out = []
    for step in steps:
        last = out[-1] if out else None
        if conv_pool and isinstance(step, PoolStep) and type(last) is ConvStep:
            out[-1] = ConvPoolStep(last, step)
        elif type(last) is BatchNormStep and last.relu_layer is None and \
                type(step) is LayerStep and type(step.layer) is ReLU and \
                step.layer.backend == "tuned":  # fmt: skip
            out[-1] = BatchNormStep(last.layer, step)
        else:
            out.append(step)
    return out
