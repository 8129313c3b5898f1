"""Layers: thin classes that hold parameters and call the op pairs.

Reading order: ... → initializers → backend → **8. layers** → losses → optimizers → model → ...
Docs chapter: "How a CNN learns" (the layer contract) and the chapter of each op.

A layer knows its input and output shapes, owns its parameters (``self.params``, a dict
name → array, e.g. ``kernel`` and ``bias``) and their gradients (``self.grads``, same keys),
and remembers the cache of its last forward pass. Arrays a layer keeps but does not learn by
gradient, BatchNormalization's moving statistics, are its ``self.state``. Everything
numerical happens in the pure functions of :mod:`convnet.ops`; a layer only wires them
together:

* ``forward(x, training=False)`` checks ``x``, calls ``*_forward`` and keeps the cache;
* ``backward(dout)`` calls ``*_backward``, *overwrites* ``self.grads`` (calling it twice gives
  the same result, nothing accumulates) and returns ``dx`` so that layers stack;
* nothing here ever changes a parameter: that is the optimizer's job.

Conv2D and Dense take an ``activation`` ('relu', 'softmax', ...) like their Keras
namesakes; it is applied after the linear op, as an op of its own, and undone first in
backward. Each layer calls the fast op pair unless its backend (see :mod:`convnet.backend`)
is ``'naive'``, which runs the loop-by-loop reference instead (slow, but you can step
through it).
"""

from __future__ import annotations

import math
import re

import numpy as np

from convnet import backend as backends
from convnet import initializers, ops
from convnet.shapes import (
    channels_last_hint,
    check_array,
    pair,
    resolve_padding,
    window_output_size,
)

__all__ = [
    "Layer",
    "Conv2D",
    "MaxPool2D",
    "MaxPooling2D",
    "AvgPool2D",
    "AveragePooling2D",
    "Dense",
    "Flatten",
    "Dropout",
    "BatchNormalization",
    "GlobalAveragePooling2D",
    "Residual",
    "walk",
    "nested",
    "name_layers",
    "Activation",
    "ReLU",
    "LeakyReLU",
    "Sigmoid",
    "Tanh",
    "Softmax",
    "ACTIVATIONS",
]

#: Activation name -> ((fast forward, fast backward), (naive forward, naive backward)).
ACTIVATIONS = {
    "relu": ((ops.relu_forward, ops.relu_backward),
             (ops.relu_forward_naive, ops.relu_backward_naive)),
    "leaky_relu": ((ops.leaky_relu_forward, ops.leaky_relu_backward),
                   (ops.leaky_relu_forward_naive, ops.leaky_relu_backward_naive)),
    "sigmoid": ((ops.sigmoid_forward, ops.sigmoid_backward),
                (ops.sigmoid_forward_naive, ops.sigmoid_backward_naive)),
    "tanh": ((ops.tanh_forward, ops.tanh_backward),
             (ops.tanh_forward_naive, ops.tanh_backward_naive)),
    "softmax": ((ops.softmax_forward, ops.softmax_backward),
                (ops.softmax_forward_naive, ops.softmax_backward_naive)),
}  # fmt: skip


def _activation(name, layer: str):
    """``name`` checked against :data:`ACTIVATIONS` (None for none or 'linear')."""
    if name in (None, "linear"):
        return None
    if name not in ACTIVATIONS:
        raise ValueError(f"{layer}: unknown activation {name!r}; "
                         f"choose one of {sorted(ACTIVATIONS)} or None")  # fmt: skip
    return name


def _snake_case(name: str) -> str:
    """Keras's default layer names: ``MaxPooling2D`` -> ``max_pooling2d``, ``ReLU`` -> ``re_lu``."""
    # Split before a capitalised word ("MaxPooling" -> "Max_Pooling"), then between a lower-
    # case letter and a capital ("ReLU" -> "Re_LU"); digits glue on ("Conv2D" -> "conv2d").
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


class Layer:
    """Base class. Subclasses implement ``output_shape_for``, ``_forward`` and ``_backward``.

    Parameters
    ----------
    name : str, optional
        Unique in a model; by default Keras's numbered snake case (``conv2d``, ``conv2d_1``).
    input_shape : tuple of int, optional
        One sample's shape, e.g. ``(1, 28, 28)``; needed only on a model's first layer.
    dtype : 'float32' or 'float64', optional
        Parameter dtype; left out, the model's.
    activation : str, optional
        Applied after the layer's op (Conv2D, Dense), as an op of its own.
    backend : 'naive', 'fast' or 'tuned', optional
        The rung (:mod:`convnet.backend`); left out, the model's. A layer calls the naive op
        pair on 'naive', the fast one otherwise ('tuned' matters only to a model).

    Examples
    --------
    >>> class Double(Layer):                  # the whole contract in a layer of one's own
    ...     def _forward(self, x, training):
    ...         self._cache = ()              # nothing to remember: the derivative is 2
    ...         return 2 * x
    ...     def _backward(self, dout):
    ...         return 2 * dout
    >>> layer = Double()
    >>> layer.forward(np.array([[1.0, -3.0]]))
    array([[ 2., -6.]])
    >>> layer.backward(np.array([[1.0, 1.0]]))
    array([[2., 2.]])
    """

    keras_name: str | None = None  # the Keras class name, where it differs

    def __init__(self, *, name=None, input_shape=None, dtype=None, activation=None, backend=None):
        self.name = name
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        self.output_shape = None
        self.dtype = np.dtype(dtype) if dtype is not None else None
        self.activation = _activation(activation, type(self).__name__)
        self.backend = backends.resolve(backend) if backend is not None else None
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.state: dict[str, np.ndarray] = {}  # kept, not trained: BatchNorm's moving statistics
        self.built = False
        self._cache = self._act_cache = None  # what backward needs: the op's, the activation's

    def default_name(self) -> str:
        return _snake_case(self.keras_name or type(self).__name__)

    def output_shape_for(self, input_shape: tuple) -> tuple:
        """Shape of one output sample for one input sample of ``input_shape``."""
        return tuple(input_shape)

    def _create_params(self, rng: np.random.Generator) -> None:
        """Create ``self.params`` (layers with weights override this)."""

    def build(self, input_shape, rng=None, dtype=None, backend=None) -> None:
        """Fix the shapes and create the parameters from ``rng`` (a Generator); ``dtype`` and
        ``backend`` are the model's, for a layer not given its own."""
        self.name = self.name or self.default_name()
        self.dtype = self.dtype or np.dtype(dtype if dtype is not None else np.float32)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"{self.name}: dtype must be float32 or float64, got {self.dtype}")
        self.backend = self.backend or backends.resolve(backend)
        self.input_shape = tuple(int(d) for d in input_shape)
        self.output_shape = self.output_shape_for(self.input_shape)
        self._create_params(rng if rng is not None else np.random.default_rng())
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.built = True

    def count_params(self) -> int:
        """How many numbers the layer keeps: trained parameters and state, as Keras counts."""
        return int(sum(p.size for p in [*self.params.values(), *self.state.values()]))

    def get_config(self) -> dict:  # hyperparameters, for summaries and files
        return {"name": self.name, "activation": self.activation}

    def _check_input(self, x, finite=True):
        """A ValueError naming this layer for a wrong shape (or NaN or Inf, if ``finite``)."""
        who = f"{self.name} ({type(self).__name__})"
        check_array(x, ndim=len(self.input_shape) + 1, name=who, finite=finite)
        if x.shape[1:] != self.input_shape:
            expected = ", ".join(map(str, self.input_shape))
            self._wrong_shape(x, f"{who}: expected input of shape (N, {expected}), got {x.shape}")

    def _wrong_shape(self, x, message):
        """Raise ``message`` about the shape of ``x``, with advice if the batch looks like
        Keras's channels-last images (see :func:`convnet.shapes.channels_last_hint`)."""
        hint = channels_last_hint(x.shape[1:], expected=self.input_shape)
        raise ValueError(f"{message}; {hint}" if hint else message)

    def forward(self, x, *, training: bool = False, logits: bool = False):
        """Run the layer on a batch ``x`` (N, *input_shape) and keep what backward needs.
        ``training`` turns dropout on; ``logits`` stops before a softmax activation (the loss
        fuses softmax with cross-entropy, for stability). Returns (N, *output_shape)."""
        if not self.built:
            if not isinstance(x, np.ndarray) or x.ndim < 2:
                raise ValueError(f"{type(self).__name__}: expected a batch (N, ...), got {x!r}")
            self.build(x.shape[1:], dtype=x.dtype if x.dtype.kind == "f" else None)
        self._check_input(x)
        z = self._forward(x.astype(self.dtype, copy=False), training)
        self._act_cache = None
        if self.activation is None or (logits and self.activation == "softmax"):
            return z
        out, self._act_cache = self._op(*ACTIVATIONS[self.activation])[0](z)
        return out

    def backward(self, dout, *, input_grad=True):
        """From ``dout`` (N, *output_shape), dL/d(output) (or logits), fill ``self.grads`` and
        return ``dx`` = dL/d(input), (N, *input_shape). ``input_grad=False`` says the caller
        will not use ``dx`` (a model's first layer in training: its input is data); a layer
        may then skip it and return None. The core's layers compute it all the same."""
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward() called before forward()")
        if self._act_cache is not None:
            dout = self._op(*ACTIVATIONS[self.activation])[1](dout, self._act_cache)
        return self._backward(dout)

    def _op(self, fast, naive):
        """The op (or pair) of this layer's rung: ``naive`` on the naive one, else ``fast``."""
        return naive if self.backend == "naive" else fast

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class Conv2D(Layer):
    """2-D convolution over NCHW images, as in ``keras.layers.Conv2D``.

    Parameters
    ----------
    filters : int
        Number of output channels ``F``.
    kernel_size : int or (int, int)
        ``(KH, KW)``; non-square kernels are fine.
    strides : int or (int, int)
    padding : 'valid', 'same', int, (int, int) or (top, bottom, left, right)
    activation : str, optional
    use_bias : bool
    kernel_initializer, bias_initializer : str or callable
        Keras defaults: Glorot uniform and zeros.

    Parameters created: ``kernel`` (F, C, KH, KW) and ``bias`` (F,). Output shape
    ``(F, H_out, W_out)`` with ``H_out = (H + top + bottom - KH) // stride_h + 1``.

    Examples
    --------
    >>> layer = Conv2D(8, (3, 5), padding="same", activation="relu")
    >>> layer.build((1, 28, 28), np.random.default_rng(0))
    >>> layer.output_shape, layer.params["kernel"].shape, layer.count_params()
    ((8, 28, 28), (8, 1, 3, 5), 128)
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 **kwargs):  # fmt: skip
        super().__init__(activation=activation, **kwargs)
        self.filters = int(filters)
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.strides = pair(strides, "strides")
        self.padding = padding
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        resolve_padding(padding, (1, 1), self.kernel_size, self.strides)  # fail early if bad

    def output_shape_for(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                f"{self.name} (Conv2D): expects images of shape (C, H, W), got {input_shape}"
            )
        pads = resolve_padding(self.padding, input_shape[1:], self.kernel_size, self.strides)
        out_hw = window_output_size(input_shape[1:], self.kernel_size, self.strides, pads,
                                    op=f"{self.name} (Conv2D)")  # fmt: skip
        return (self.filters, *out_hw)

    def _create_params(self, rng):
        shape = (self.filters, self.input_shape[0], *self.kernel_size)
        self.params["kernel"] = self.kernel_initializer(shape, rng, self.dtype)
        if self.use_bias:
            self.params["bias"] = self.bias_initializer((self.filters,), rng, self.dtype)

    def _check_input(self, x, finite=True):
        if isinstance(x, np.ndarray) and x.ndim == 4 and x.shape[1] != self.input_shape[0]:
            self._wrong_shape(
                x,
                f"{self.name} (Conv2D): input has {x.shape[1]} channels but the layer was built "
                f"for {self.input_shape[0]} (input shape {x.shape}, kernel shape "
                f"{self.params['kernel'].shape})",
            )
        super()._check_input(x, finite)

    def _forward(self, x, training):
        fwd = self._op(ops.conv2d_forward, ops.conv2d_forward_naive)
        out, self._cache = fwd(x, self.params["kernel"], self.params.get("bias"),
                               stride=self.strides, padding=self.padding)
        return out

    def _backward(self, dout):
        bwd = self._op(ops.conv2d_backward, ops.conv2d_backward_naive)
        dx, dw, db = bwd(dout, self._cache)
        self.grads["kernel"] = dw
        if self.use_bias:
            self.grads["bias"] = db
        return dx

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "use_bias": self.use_bias}


class _Pool2D(Layer):
    _ops: tuple = ()
    _op_name = ""

    def __init__(self, pool_size=2, strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        self.pool_size = pair(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else pair(strides, "strides")
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
            raise ValueError(f"{type(self).__name__}: padding must be 'valid' or 'same'")
        self.padding = padding.lower()

    def output_shape_for(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                f"{self.name} ({type(self).__name__}): expects images of shape (C, H, W), "
                f"got {input_shape}"
            )
        pads = resolve_padding(self.padding, input_shape[1:], self.pool_size, self.strides)
        out_hw = window_output_size(input_shape[1:], self.pool_size, self.strides, pads,
                                    op=f"{self.name} ({type(self).__name__})")  # fmt: skip
        return (input_shape[0], *out_hw)

    def _forward(self, x, training):
        fwd = self._op(*self._ops)[0]
        out, self._cache = fwd(x, pool_size=self.pool_size, strides=self.strides,
                               padding=self.padding)
        return out

    def _backward(self, dout):
        return self._op(*self._ops)[1](dout, self._cache)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding}  # fmt: skip


class MaxPool2D(_Pool2D):
    """Max pooling, as in ``keras.layers.MaxPooling2D``.

    Parameters
    ----------
    pool_size : int or (int, int)
    strides : int or (int, int), optional
        Defaults to ``pool_size``; smaller overlaps the windows, larger skips pixels.
    padding : 'valid' or 'same'

    Examples
    --------
    >>> layer = MaxPool2D(2)
    >>> layer.forward(np.arange(16.0).reshape(1, 1, 4, 4))[0, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    """

    keras_name = "MaxPooling2D"
    _ops = ((ops.maxpool2d_forward, ops.maxpool2d_backward),
            (ops.maxpool2d_forward_naive, ops.maxpool2d_backward_naive))  # fmt: skip


class AvgPool2D(_Pool2D):
    """Average pooling, as in ``keras.layers.AveragePooling2D``. Arguments as :class:`MaxPool2D`.

    Examples
    --------
    >>> AvgPool2D(2).forward(np.arange(16.0).reshape(1, 1, 4, 4))[0, 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """

    keras_name = "AveragePooling2D"
    _ops = ((ops.avgpool2d_forward, ops.avgpool2d_backward),
            (ops.avgpool2d_forward_naive, ops.avgpool2d_backward_naive))  # fmt: skip


MaxPooling2D = MaxPool2D
AveragePooling2D = AvgPool2D


class Dense(Layer):
    """Fully connected layer, ``out = activation(x @ kernel + bias)``.

    Parameters
    ----------
    units : int
        ``D_out``.
    activation : str, optional
    use_bias : bool
    kernel_initializer, bias_initializer : str or callable

    Parameters created: ``kernel`` (D_in, D_out) and ``bias`` (D_out,).

    Examples
    --------
    >>> layer = Dense(128, activation="relu")
    >>> layer.build((9216,), np.random.default_rng(0))
    >>> layer.count_params()                      # 9216*128 + 128
    1179776
    """

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 **kwargs):
        super().__init__(activation=activation, **kwargs)
        self.units = int(units)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def output_shape_for(self, input_shape):
        if len(input_shape) != 1:
            raise ValueError(
                f"{self.name} (Dense): expects flat samples of shape (D,), got {input_shape}; "
                "put a Flatten() layer before it"
            )
        return (self.units,)

    def _create_params(self, rng):
        self.params["kernel"] = self.kernel_initializer(
            (self.input_shape[0], self.units), rng, self.dtype
        )
        if self.use_bias:
            self.params["bias"] = self.bias_initializer((self.units,), rng, self.dtype)

    def _forward(self, x, training):
        fwd = self._op(ops.dense_forward, ops.dense_forward_naive)
        out, self._cache = fwd(x, self.params["kernel"], self.params.get("bias"))
        return out

    def _backward(self, dout):
        dx, dw, db = self._op(ops.dense_backward, ops.dense_backward_naive)(dout, self._cache)
        self.grads["kernel"] = dw
        if self.use_bias:
            self.grads["bias"] = db
        return dx

    def get_config(self):
        return {**super().get_config(), "units": self.units, "use_bias": self.use_bias}


class Flatten(Layer):
    """Flatten each sample to a vector in (C, H, W) order.

    Examples
    --------
    >>> Flatten().forward(np.zeros((2, 64, 12, 12))).shape
    (2, 9216)
    """

    def output_shape_for(self, input_shape):
        return (math.prod(input_shape),)

    def _naive(self, rank):
        # The naive reference spells out the (C, H, W) order, so it exists for images only.
        return self.backend == "naive" and rank == 4

    def _forward(self, x, training):
        fwd = ops.flatten_forward_naive if self._naive(x.ndim) else ops.flatten_forward
        out, self._cache = fwd(x)
        return out

    def _backward(self, dout):
        naive = self._naive(len(self._cache))
        return (ops.flatten_backward_naive if naive else ops.flatten_backward)(dout, self._cache)


class Dropout(Layer):
    """Inverted dropout: in training, zero a fraction ``rate`` of the entries and scale the
    rest by ``1 / (1 - rate)``; at inference, pass the input through.

    Parameters
    ----------
    rate : float in [0, 1)
    seed : int, optional
        Seed of the layer's own Generator. Left out, a model gives the layer a Generator
        spawned from the model's seed, so one model seed fixes every mask.

    Examples
    --------
    >>> layer = Dropout(0.5, seed=0)
    >>> out = layer.forward(np.ones((1, 8)), training=True)
    >>> sorted(set(out.ravel().tolist()))
    [0.0, 2.0]
    >>> layer.forward(np.ones((1, 8)), training=False)
    array([[1., 1., 1., 1., 1., 1., 1., 1.]])
    """

    def __init__(self, rate, *, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"Dropout: rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.seed = seed
        self.rng = None

    def _create_params(self, rng):
        self.rng = np.random.default_rng(self.seed) if self.seed is not None else rng

    def _forward(self, x, training):
        fwd = self._op(ops.dropout_forward, ops.dropout_forward_naive)
        out, mask = fwd(x, rate=self.rate, training=training, rng=self.rng)
        self._cache = (mask,)  # a tuple, so that "no mask" (inference) is still a cache
        return out

    def _backward(self, dout):
        return self._op(ops.dropout_backward, ops.dropout_backward_naive)(dout, self._cache[0])

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}


class BatchNormalization(Layer):
    """Batch normalization, as in ``keras.layers.BatchNormalization`` (its defaults).

    Normalizes each channel of a convolution's output (each feature of a dense layer's) with
    the batch's mean and variance in training and with their moving averages at inference,
    then scales by ``gamma`` and shifts by ``beta`` (:mod:`convnet.ops.batchnorm`). After every
    training batch, with the batch's mean ``mu`` and (biased) variance ``var``::

        moving_mean     = momentum * moving_mean     + (1 - momentum) * mu
        moving_variance = momentum * moving_variance + (1 - momentum) * var

    Parameters
    ----------
    momentum : float in [0, 1)
        How much of the moving averages each batch keeps: 0.99 keeps 99% (an average over
        roughly the last 100 batches). PyTorch's ``momentum`` is the other share: its 0.1 is
        0.9 here.
    epsilon : float > 0
        Added to the variance before its square root.
    center, scale : bool
        Learn ``beta`` (``center``) and ``gamma`` (``scale``); without one it stays 0 or 1.

    Parameters created: ``gamma`` (C,) = 1 and ``beta`` (C,) = 0; state ``moving_mean`` (C,) = 0
    and ``moving_variance`` (C,) = 1, where C is the channel axis 1: ``(C, H, W)`` images or
    ``(C,)`` features.

    Examples
    --------
    >>> layer = BatchNormalization()
    >>> layer.build((16, 14, 14), np.random.default_rng(0))
    >>> list(layer.params), list(layer.state), layer.count_params()
    (['gamma', 'beta'], ['moving_mean', 'moving_variance'], 64)
    >>> x = np.random.default_rng(1).normal(3.0, 2.0, size=(8, 16, 14, 14)).astype(np.float32)
    >>> out = layer.forward(x, training=True)          # the batch's statistics
    >>> round(float(out.mean()), 6) + 0.0, round(float(out.std()), 3)
    (0.0, 1.0)
    >>> layer.state["moving_mean"][:3].round(3)        # one hundredth of the way to ~3.0
    array([0.03, 0.03, 0.03], dtype=float32)
    """

    def __init__(self, momentum=0.99, epsilon=1e-3, center=True, scale=True, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"BatchNormalization: momentum must be in [0, 1), got {momentum}")
        if not epsilon > 0.0:
            raise ValueError(f"BatchNormalization: epsilon must be positive, got {epsilon}")
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)

    def output_shape_for(self, input_shape):
        if len(input_shape) not in (1, 3):
            raise ValueError(f"{self.name} (BatchNormalization): expects images (C, H, W) or "
                             f"features (D,), got {input_shape}")  # fmt: skip
        return tuple(input_shape)

    def _create_params(self, rng):
        channels = self.input_shape[0]
        ones, zeros = np.ones(channels, self.dtype), np.zeros(channels, self.dtype)
        if self.scale:
            self.params["gamma"] = ones.copy()
        if self.center:
            self.params["beta"] = zeros.copy()
        self.state = {"moving_mean": zeros.copy(), "moving_variance": ones.copy()}

    def _forward(self, x, training):
        fwd = self._op(ops.batchnorm_forward, ops.batchnorm_forward_naive)
        out, self._cache = fwd(x, *self._gamma_beta(), moving_mean=self.state["moving_mean"],
                               moving_var=self.state["moving_variance"], training=training,
                               epsilon=self.epsilon)  # fmt: skip
        if training:
            self._track(self._cache[3], self._cache[4])
        return out

    def _backward(self, dout):
        bwd = self._op(ops.batchnorm_backward, ops.batchnorm_backward_naive)
        dx, dgamma, dbeta = bwd(dout, self._cache)
        self._store_grads(dgamma, dbeta)
        return dx

    def _gamma_beta(self):
        """``gamma`` and ``beta``: the parameters, or 1 and 0 where ``scale`` or ``center`` is
        off."""
        channels = self.input_shape[0]
        return (self.params.get("gamma", np.ones(channels, self.dtype)),
                self.params.get("beta", np.zeros(channels, self.dtype)))  # fmt: skip

    def _track(self, mean, var):
        """The moving averages after a training batch of statistics ``mean`` and ``var``."""
        for name, batch in (("moving_mean", mean), ("moving_variance", var)):
            moving = self.state[name]  # in place: a saved model and the optimizer see it
            moving *= self.momentum
            moving += (1.0 - self.momentum) * batch

    def _store_grads(self, dgamma, dbeta):
        if self.scale:
            self.grads["gamma"] = dgamma
        if self.center:
            self.grads["beta"] = dbeta

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale}  # fmt: skip


class GlobalAveragePooling2D(Layer):
    """The mean of each channel over the whole image: (C, H, W) -> (C,), as in
    ``keras.layers.GlobalAveragePooling2D``.

    It is average pooling with one window as big as the image, and runs as exactly that
    (:func:`convnet.ops.avgpool2d_forward`), so its backward pass spreads each gradient evenly
    over the ``H * W`` pixels of its channel.

    Examples
    --------
    >>> x = np.arange(8.0).reshape(1, 2, 2, 2)          # channel means 1.5 and 5.5
    >>> GlobalAveragePooling2D().forward(x)
    array([[1.5, 5.5]])
    """

    keras_name = "GlobalAveragePooling2D"

    def output_shape_for(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"{self.name} (GlobalAveragePooling2D): expects images of shape "
                             f"(C, H, W), got {input_shape}")  # fmt: skip
        return (input_shape[0],)

    def _forward(self, x, training):
        fwd = self._op(ops.avgpool2d_forward, ops.avgpool2d_forward_naive)
        out, self._cache = fwd(x, pool_size=x.shape[2:], strides=x.shape[2:], padding="valid")
        return out.reshape(x.shape[:2])

    def _backward(self, dout):
        bwd = self._op(ops.avgpool2d_backward, ops.avgpool2d_backward_naive)
        return bwd(dout.reshape(*dout.shape, 1, 1), self._cache)


class Residual(Layer):
    """A residual block: ``out = activation(block(x) + shortcut(x))``.

    The block is a list of layers run in order; the shortcut is the identity, or, when the
    block changes the shape (more channels, or a stride that shrinks the image), a 1x1
    convolution with the block's stride that brings ``x`` to the block's output shape.

    Why it helps a deep network learn: the backward pass of an addition hands ``dout``
    unchanged to both of its inputs, so ``dx = block's dx + dout`` (through an identity
    shortcut). However small the gradient through the block becomes, the one along the
    shortcut reaches the layers below intact.

    Parameters
    ----------
    layers : list of Layer
        The block. Its output must have the input's shape, or be images whose size divides
        the input's (the shortcut then projects).
    activation : str, optional
        Applied after the sum (ResNet's ``relu``).

    The parameters (and state) of the inner layers are the block's, named ``inner/param``:
    ``conv2d_1/kernel``. The shortcut's convolution, if any, is named ``<block>_shortcut``.

    Examples
    --------
    >>> block = Residual([Conv2D(8, 3, padding="same", activation="relu"),
    ...                   Conv2D(8, 3, padding="same")], activation="relu")
    >>> block.build((8, 14, 14), np.random.default_rng(0))
    >>> block.output_shape, block.shortcut is None, list(block.params)[:2]
    ((8, 14, 14), True, ['conv2d/kernel', 'conv2d/bias'])
    >>> wider = Residual([Conv2D(16, 3, strides=2, padding="same")])
    >>> wider.build((8, 14, 14), np.random.default_rng(0))
    >>> wider.output_shape, wider.shortcut.params["kernel"].shape   # 1x1, stride 2
    ((16, 7, 7), (16, 8, 1, 1))
    """

    def __init__(self, layers, activation=None, **kwargs):
        super().__init__(activation=activation, **kwargs)
        if not layers or not all(isinstance(layer, Layer) for layer in layers):
            raise ValueError(f"Residual: expected a non-empty list of layers, got {layers!r}")
        self.layers = list(layers)
        self.shortcut = None

    @property
    def sublayers(self) -> list:
        """The layers inside: the block's, then the shortcut's convolution if there is one."""
        return [*self.layers, *([self.shortcut] if self.shortcut is not None else [])]

    def build(self, input_shape, rng=None, dtype=None, backend=None) -> None:
        rng = rng if rng is not None else np.random.default_rng()
        self.name = self.name or self.default_name()
        shape = tuple(int(d) for d in input_shape)
        rngs = rng.spawn(len(self.layers) + 1)
        dtype = self.dtype or dtype
        backend = self.backend or backend
        name_layers(self.layers)  # in a model, already named: nothing changes
        for layer, layer_rng in zip(self.layers, rngs, strict=False):
            if not layer.built:
                layer.build(shape, layer_rng, dtype=dtype, backend=backend)
            shape = layer.output_shape
        if shape != tuple(input_shape):
            self.shortcut = Conv2D(shape[0], 1, strides=self._stride(tuple(input_shape), shape),
                                   name=f"{self.name}_shortcut")  # fmt: skip
            self.shortcut.build(input_shape, rngs[-1], dtype=dtype, backend=backend)
        super().build(input_shape, rng, dtype, backend)

    def _stride(self, shape_in, shape_out):
        """The shortcut's stride, the factor by which the block shrinks the image."""
        who = f"{self.name} (Residual)"
        if len(shape_in) != 3 or len(shape_out) != 3:
            raise ValueError(f"{who}: the block turns {shape_in} into {shape_out}; a shortcut "
                             "can change only the channels and size of images")  # fmt: skip
        sizes = list(zip(shape_in[1:], shape_out[1:], strict=True))
        strides = [-(-hw_in // hw_out) for hw_in, hw_out in sizes]  # ceil: what 'same' gives
        if any(-(-hw_in // s) != hw_out for (hw_in, hw_out), s in zip(sizes, strides, strict=True)):
            raise ValueError(f"{who}: the block turns images {shape_in} into {shape_out}, not "
                             "a whole-number stride; a 1x1 shortcut cannot match")  # fmt: skip
        return tuple(strides)

    def output_shape_for(self, input_shape):
        return self.layers[-1].output_shape

    def _create_params(self, rng):
        # The inner layers' live arrays, under their names: the optimizer updates them in place.
        self.params, self.state = self._inner("params"), self._inner("state")

    def _forward(self, x, training):
        h = x
        for layer in self.layers:
            h = layer.forward(h, training=training)
        self._cache = ()
        return h + (x if self.shortcut is None else self.shortcut.forward(x, training=training))

    def _backward(self, dout):
        dh = dout
        for layer in reversed(self.layers):
            dh = layer.backward(dh)
        # The sum's backward: dout goes unchanged to the block and to the shortcut.
        dx = dh + (dout if self.shortcut is None else self.shortcut.backward(dout))
        self.gather_grads()
        return dx

    def gather_grads(self) -> None:
        """Collect the inner layers' new gradients (backward rebinds them) under their names."""
        self.grads = self._inner("grads")

    def _inner(self, kind) -> dict:
        """The inner layers' ``params``, ``state`` or ``grads``, as ``inner_name/key``."""
        return {f"{layer.name}/{k}": v for layer in self.sublayers
                for k, v in getattr(layer, kind).items()}  # fmt: skip

    def get_config(self):
        return {**super().get_config(), "layers": self.layers}


def name_layers(layers, taken=None) -> None:
    """Give every unnamed layer of ``layers`` (and inside them) Keras's numbered default name:
    ``conv2d``, ``conv2d_1``, ... ``taken`` counts the names given so far, by base name.

    Examples
    --------
    >>> layers = [Dense(4), Residual([Dense(4), Dense(4, name="mine")]), Dense(2)]
    >>> name_layers(layers)
    >>> [layer.name for layer in walk(layers)]
    ['dense', 'residual', 'dense_1', 'mine', 'dense_2']
    """
    taken = {} if taken is None else taken
    for layer in walk(layers):
        if layer.name is None:
            base = layer.default_name()
            count = taken.get(base, 0)
            layer.name = base if count == 0 else f"{base}_{count}"
            taken[base] = count + 1


def walk(layers):
    """Every layer of ``layers`` and, after each, the layers inside it (a Residual's), in order.

    Examples
    --------
    >>> block = Residual([Dense(4, name="inner")], name="block")
    >>> [layer.name for layer in walk([Dense(4, name="first"), block])]
    ['first', 'block', 'inner']
    """
    return (layer for layer, _ in nested(layers))


def nested(layers, depth=0):
    """``(layer, depth)`` in :func:`walk`'s order: 0 for ``layers``, 1 inside their blocks, ...

    Examples
    --------
    >>> block = Residual([Dense(4, name="inner")], name="block")
    >>> [(layer.name, depth) for layer, depth in nested([block])]
    [('block', 0), ('inner', 1)]
    """
    for layer in layers:
        yield layer, depth
        yield from nested(getattr(layer, "sublayers", ()), depth + 1)


class Activation(Layer):
    """An activation as a layer of its own, e.g. ``Activation('relu')``.

    Examples
    --------
    >>> Activation("tanh").forward(np.array([[0.0, 100.0]]))
    array([[0., 1.]])
    """

    def __init__(self, activation, **kwargs):
        super().__init__(activation=activation, **kwargs)
        if self.activation is None:
            raise ValueError("Activation: give an activation name such as 'relu'")

    def _forward(self, x, training):
        self._cache = ()
        return x

    def _backward(self, dout):
        return dout


class ReLU(Activation):
    """``max(x, 0)`` as a layer.

    Examples
    --------
    >>> ReLU().forward(np.array([[-1.0, 2.0]]))
    array([[0., 2.]])
    """

    def __init__(self, **kwargs):
        super().__init__("relu", **kwargs)


class LeakyReLU(Layer):
    """``x`` if positive, else ``alpha * x`` (Keras's default ``alpha`` is 0.3).

    Examples
    --------
    >>> LeakyReLU(alpha=0.1).forward(np.array([[-1.0, 2.0]]))
    array([[-0.1,  2. ]])
    """

    keras_name = "LeakyReLU"

    def __init__(self, alpha=0.3, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def _forward(self, x, training):
        fwd = self._op(ops.leaky_relu_forward, ops.leaky_relu_forward_naive)
        out, self._cache = fwd(x, alpha=self.alpha)
        return out

    def _backward(self, dout):
        return self._op(ops.leaky_relu_backward, ops.leaky_relu_backward_naive)(dout, self._cache)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class Sigmoid(Activation):
    """``1 / (1 + exp(-x))`` as a layer.

    Examples
    --------
    >>> Sigmoid().forward(np.array([[0.0, 1000.0]]))
    array([[0.5, 1. ]])
    """

    def __init__(self, **kwargs):
        super().__init__("sigmoid", **kwargs)


class Tanh(Activation):
    """``tanh(x)`` as a layer.

    Examples
    --------
    >>> Tanh().forward(np.array([[0.0, -1000.0]]))
    array([[ 0., -1.]])
    """

    def __init__(self, **kwargs):
        super().__init__("tanh", **kwargs)


class Softmax(Activation):
    """Row-wise softmax as a layer (input (N, K)).

    Examples
    --------
    >>> Softmax().forward(np.array([[0.0, 0.0]]))
    array([[0.5, 0.5]])
    """

    def __init__(self, **kwargs):
        super().__init__("softmax", **kwargs)
