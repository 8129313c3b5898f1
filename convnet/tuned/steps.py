"""The steps the tuned annex runs a model's layers with.

Off the reading path, in the annex :mod:`convnet.tuned`. Docs chapter: "Speed".

A step has a layer's contract, ``forward(x, *, training, logits)`` and ``backward(dout)``,
reads its layer's parameters and fills its layer's gradients, so the model and the
optimizer cannot tell a step from a layer. What a step adds is speed:

* it calls the annex's kernels (:mod:`convnet.tuned.conv`, :mod:`~convnet.tuned.pool`,
  :mod:`~convnet.tuned.dense`) where a layer calls the core's ops, with ReLU done inside
  the convolution's pass;
* at inference it writes into the arrays it returned for the previous batch, when a later
  step will have read them by then (``keep``). A fresh array of 100 MB costs the operating
  system's time to hand over and zero its pages on every batch of ``predict``;
* at inference only the first step checks its input for NaN and Inf; :class:`OutputCheck`
  checks the output once and, if it is not finite, runs the steps again with every check on,
  so the error still names the first layer that received a NaN.
"""

from __future__ import annotations

import math

import numpy as np

from convnet.jit import get_num_threads
from convnet.layers import ACTIVATIONS
from convnet.ops import dropout_backward
from convnet.shapes import resolve_padding
from convnet.tuned import bands, batchnorm, conv, dense, dropout, pool

__all__ = ["KEEP_FROM_BYTES", "Step", "LayerStep", "ConvStep", "ConvPoolStep", "PoolStep",
           "DenseStep", "DropoutStep", "BatchNormStep", "GlobalAveragePoolStep", "ResidualStep",
           "BandsStep", "OutputCheck"]  # fmt: skip

#: Outputs at least this big are kept between inference batches. Smaller ones come from the
#: memory allocator's own pool, which hands back recently freed memory without new pages.
KEEP_FROM_BYTES = 1 << 20


class Step:
    """What every step shares: its layer, its flags and its kept arrays."""

    def __init__(self, layer):
        self.layer = layer
        self.layers = (layer,)  # the model's layers it runs
        self.keep = False  # may write into the arrays returned for the previous batch
        self.check = True  # checks its input for NaN and Inf at inference too
        self.kept: dict[str, np.ndarray] = {}
        self.last_input = None
        self._cache = self._act_cache = None

    def _input(self, x, training):
        self.layer._check_input(x, finite=training or self.check)
        self.last_input = x
        return np.ascontiguousarray(x, dtype=self.layer.dtype)

    def _array(self, name, shape, dtype, training):
        """A kept array to write into, or None for a new one."""
        dtype = np.dtype(dtype)
        if training or not self.keep or math.prod(shape) * dtype.itemsize < KEEP_FROM_BYTES:
            return None
        kept = self.kept.get(name)
        if kept is None or kept.shape != shape or kept.dtype != dtype:
            kept = self.kept[name] = np.empty(shape, dtype)
        return kept

    def _need_cache(self):
        if self._cache is None:
            raise RuntimeError(f"{self.layer.name}: backward() called before forward()")
        return self._cache

    def _store(self, dw, db):
        self.layer.grads["kernel"] = dw
        if "bias" in self.layer.params:
            self.layer.grads["bias"] = db

    def activate(self, z, logits):
        """The layer's activation (its op on the layer's rung) on ``z``, keeping what
        :meth:`deactivate` needs."""
        act, self._act_cache = self.layer.activation, None
        if act is None or (logits and act == "softmax"):
            return z
        out, self._act_cache = self.layer._op(*ACTIVATIONS[act])[0](z)
        return out

    def deactivate(self, dout):
        """``dout`` through the activation's backward pass."""
        if self._act_cache is None:
            return dout
        return self.layer._op(*ACTIVATIONS[self.layer.activation])[1](dout, self._act_cache)


class LayerStep(Step):
    """A layer the annex has nothing faster for: its own op, on its own rung."""

    def forward(self, x, *, training=False, logits=False):
        x = self._input(x, training)
        self._cache = True
        return self.activate(self.layer._forward(x, training), logits)

    def backward(self, dout, *, input_grad=True):
        self._need_cache()
        return self.layer._backward(self.deactivate(dout))


class ConvStep(Step):
    """Conv2D with no activation or ReLU, by :mod:`convnet.tuned.conv`."""

    def __init__(self, layer):
        super().__init__(layer)
        self.relu = layer.activation == "relu"
        self.stride = layer.strides
        self.pads = resolve_padding(layer.padding, layer.input_shape[1:], layer.kernel_size,
                                    layer.strides)  # fmt: skip
        self.out_hw = layer.output_shape[1:]

    def forward(self, x, *, training=False, logits=False):
        x = self._input(x, training)
        w, b = self.layer.params["kernel"], self.layer.params.get("bias")
        out = self._array("out", (len(x), *self.layer.output_shape), x.dtype, training)
        out = conv.forward(x, w, b, self.stride, self.pads, self.out_hw, self.relu, out)
        self._cache = (x, out if self.relu else None)
        return out

    def backward(self, dout, *, input_grad=True):
        x, relu_out = self._need_cache()
        dx, dw, db = conv.backward(dout, x, self.layer.params["kernel"], self.stride, self.pads,
                                   relu_out, need_dx=input_grad)  # fmt: skip
        self._store(dw, db)
        return dx


class ConvPoolStep(Step):
    """A ConvStep and the PoolStep after it, as one pass by :func:`convnet.tuned.conv.forward_pool`
    for a batch: the feature maps between them are never written to memory. A few images
    (one band per core does more for them) go through the two steps one after the other."""

    def __init__(self, conv_step, pool_step):
        super().__init__(conv_step.layer)
        self.conv, self.pool = conv_step, pool_step
        self.layers = (conv_step.layer, pool_step.layer)
        self.geometry = (pool_step.layer.pool_size, pool_step.layer.strides, pool_step.pads)
        self._separate = False

    def _input(self, x, training):
        self.conv.check = self.check
        return self.conv._input(x, training)  # the convolution's layer receives x

    def forward(self, x, *, training=False, logits=False):
        c = self.conv
        # the pool step always makes a new array from the convolution's output
        c.check, c.keep, self.pool.keep = self.check, True, self.keep
        self._separate = len(x) < conv.FEW_IMAGES
        if self._separate:
            return self.pool.forward(c.forward(x, training=training), training=training)
        x = self._input(x, training)
        shape = (len(x), *self.pool.layer.output_shape)
        kept = (self._array("out", shape, x.dtype, training),
                self._array("argmax", shape, np.int32, training))  # fmt: skip
        out, argmax = conv.forward_pool(x, c.layer.params["kernel"], c.layer.params.get("bias"),
                                        c.stride, c.pads, c.out_hw, c.relu, self.geometry,
                                        *kept)  # fmt: skip
        self._cache = (x, out if c.relu else None, argmax)
        return out

    def backward(self, dout, *, input_grad=True):
        if self._separate:
            return self.conv.backward(self.pool.backward(dout), input_grad=input_grad)
        x, pooled, argmax = self._need_cache()
        c = self.conv
        dx, dw, db = conv.backward_pool(dout, x, c.layer.params["kernel"], c.stride, c.pads,
                                        pooled, argmax, need_dx=input_grad)  # fmt: skip
        c._store(dw, db)
        return dx


class PoolStep(Step):
    """MaxPool2D by :mod:`convnet.tuned.pool`, which remembers where each maximum was."""

    def __init__(self, layer):
        super().__init__(layer)
        self.pads = resolve_padding(layer.padding, layer.input_shape[1:], layer.pool_size,
                                    layer.strides)  # fmt: skip

    def forward(self, x, *, training=False, logits=False):
        x = self._input(x, training)
        shape = (len(x), *self.layer.output_shape)
        out, argmax = pool.forward(x, self.layer.pool_size, self.layer.strides, self.pads,
                                   self._array("out", shape, x.dtype, training),
                                   self._array("argmax", shape, np.int64, training))  # fmt: skip
        self._cache = (x.shape, argmax)
        return out

    def backward(self, dout, *, input_grad=True):
        x_shape, argmax = self._need_cache()
        return pool.backward(dout, x_shape, argmax)


class DenseStep(Step):
    """Dense: a few rows by :func:`convnet.tuned.dense.few_rows`, a batch by
    :func:`convnet.tuned.dense.matmul`, which measures the register-tiled GEMM against two
    ways of using BLAS. (NumPy's BLAS may do the product fastest on its own, but its threads
    keep spinning for a while after each call, and the convolution's Numba threads, which run
    next, then share the cores with them: the measurement counts that.)"""

    def forward(self, x, *, training=False, logits=False):
        x = self._input(x, training)
        w = self.layer.params["kernel"]
        z = dense.few_rows(x, w) if len(x) <= dense.SMALL_BATCH else dense.matmul(x, w)
        if "bias" in self.layer.params:
            z += self.layer.params["bias"]
        self._cache = x
        return self.activate(z, logits)

    def backward(self, dout, *, input_grad=True):
        x = self._need_cache()
        dout = np.ascontiguousarray(self.deactivate(dout), dtype=x.dtype)
        # x.T and w.T are read as they lie, without copies
        self._store(dense.matmul(x.T, dout), dout.sum(axis=0))
        return dense.matmul(dout, self.layer.params["kernel"].T)


class DropoutStep(Step):
    """Dropout in training by :mod:`convnet.tuned.dropout`: the core's mask, in one pass."""

    def forward(self, x, *, training=False, logits=False):
        x = self._input(x, training)
        out, mask = dropout.forward(x, self.layer.rate, self.layer.rng) if training else (x, None)
        # kept where the layer keeps it too, in its format, for whoever looks at the mask
        self._cache = self.layer._cache = (mask,)
        return self.activate(out, logits)

    def backward(self, dout, *, input_grad=True):
        (mask,) = self._need_cache()
        return dropout_backward(self.deactivate(dout), mask)  # the core's: one product


class BatchNormStep(Step):
    """BatchNormalization by :mod:`convnet.tuned.batchnorm`, with the ReLU layer that follows
    it (``relu_step``, if any) applied in the same pass."""

    def __init__(self, layer, relu_step=None):
        super().__init__(layer)
        self.relu_layer = relu_step.layer if relu_step is not None else None
        self.layers = (layer,) if relu_step is None else (layer, self.relu_layer)

    def forward(self, x, *, training=False, logits=False):
        x = self._input(x, training)
        layer = self.layer
        relu = self.relu_layer is not None
        out, cache = batchnorm.forward(x, *layer._gamma_beta(), layer.state["moving_mean"],
                                       layer.state["moving_variance"], training, layer.epsilon,
                                       relu)  # fmt: skip
        if training:
            layer._track(cache[3], cache[4])
        if relu and self.check and not training:
            # the ReLU layer's input, checked too: a NaN or Inf the normalization made is
            # still there after ReLU (but for -Inf), so the error can name the ReLU layer
            self.relu_layer._check_input(out, finite=True)
        self._cache = (cache, out if relu else None)
        return self.activate(out, logits)

    def backward(self, dout, *, input_grad=True):
        cache, relu_out = self._need_cache()
        dx, dgamma, dbeta = batchnorm.backward(self.deactivate(dout), cache, relu_out)
        self.layer._store_grads(dgamma, dbeta)
        return dx


class GlobalAveragePoolStep(Step):
    """GlobalAveragePooling2D as one mean per channel plane, where the layer runs the average
    pooling op with one window as big as the image (the same numbers, to rounding)."""

    def forward(self, x, *, training=False, logits=False):
        x = self._input(x, training)
        self._cache = x.shape
        return self.activate(x.reshape(*x.shape[:2], -1).mean(axis=2), logits)

    def backward(self, dout, *, input_grad=True):
        x_shape = self._need_cache()
        d = self.deactivate(dout) / (x_shape[2] * x_shape[3])  # each pixel's share
        return np.repeat(d.astype(self.layer.dtype, copy=False), x_shape[2] * x_shape[3],
                         axis=1).reshape(x_shape)  # fmt: skip


class ResidualStep(Step):
    """A Residual block whose layers run as the annex's steps, planned as a model's are."""

    def __init__(self, layer, block, shortcut):
        super().__init__(layer)
        self.block, self.shortcut = block, shortcut

    def forward(self, x, *, training=False, logits=False):
        x = self._input(x, training)
        h = x
        for step in self.block:
            h = step.forward(h, training=training)
        self._cache = True
        s = x if self.shortcut is None else self.shortcut.forward(x, training=training)
        return self.activate(h + s, logits)

    def backward(self, dout, *, input_grad=True):
        self._need_cache()
        dout = self.deactivate(dout)
        dh = dout
        for step in reversed(self.block):
            dh = step.backward(dh)
        dx = dh + (dout if self.shortcut is None else self.shortcut.backward(dout))
        self.layer.gather_grads()
        return dx


class BandsStep:
    """The first steps of a model, up to its first Dense layer, which :mod:`convnet.tuned.bands`
    runs for a few images at inference as one parallel pass, one band of rows per core.

    Training and bigger batches run the steps one after the other. The bands keep no caches,
    so a backward pass after them first runs the steps again on the same input.
    """

    def __init__(self, steps):
        self.steps = steps
        self.layers = [layer for step in steps for layer in step.layers]
        self._plan, self._threads, self._x = None, None, None

    def _band_plan(self):
        if self._threads != get_num_threads():
            self._threads = get_num_threads()
            self._plan = bands.plan_bands(self.layers, self._threads)
        return self._plan

    def forward(self, x, *, training=False, logits=False):
        self._x = None
        if training or len(x) > bands.MAX_IMAGES:
            return self._through_steps(x, training, logits)
        x = self.steps[0]._input(x, training)
        self._x, self._logits = x, logits
        return self.steps[-1].activate(bands.bands_forward(self._band_plan(), x), logits)

    def _through_steps(self, x, training, logits):
        for step in self.steps:
            x = step.forward(x, training=training, logits=logits and step is self.steps[-1])
        return x

    def backward(self, dout, *, input_grad=True):
        if self._x is not None:
            x, self._x = self._x, None
            self._through_steps(x, False, self._logits)
        for step in reversed(self.steps[1:]):
            dout = step.backward(dout)
        return self.steps[0].backward(dout, input_grad=input_grad)


def _with_inner(steps):
    """Every step of ``steps`` and, after a :class:`ResidualStep`, the steps inside it."""
    for step in steps:
        yield step
        if isinstance(step, ResidualStep):
            inner = [*step.block, *([step.shortcut] if step.shortcut is not None else [])]
            yield from _with_inner(inner)


class OutputCheck:
    """The last step, wrapped: at inference, a non-finite output sends the input through the
    steps again with every check on, so that the error names the first layer that received a
    NaN or Inf. If none did, the last layer made them, and they are returned (as Keras does).

    ``steps`` are the single-layer steps, in order (a :class:`BandsStep`'s one by one)."""

    def __init__(self, last, steps):
        self.last, self.steps = last, steps

    def forward(self, x, *, training=False, logits=False):
        out = self.last.forward(x, training=training, logits=logits)
        if training or np.isfinite(out).all():
            return out
        every = list(_with_inner(self.steps))  # a block's steps too, to name its layer
        checks = [step.check for step in every]
        try:
            for step in every:
                step.check = True
            again = self.steps[0].last_input
            for step in self.steps:
                again = step.forward(again, logits=logits and step is self.steps[-1])
        finally:
            for step, check in zip(every, checks, strict=True):
                step.check = check
        return out

    def backward(self, dout, *, input_grad=True):
        return self.last.backward(dout, input_grad=input_grad)
