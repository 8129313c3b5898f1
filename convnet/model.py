"""The model: ``Sequential``, a stack of layers with Keras's familiar interface.

Reading order: ... → losses → optimizers → **11. model** → callbacks → data → file I/O.
Docs chapter: "How a CNN learns".

One training step is the whole story of the package in five lines (see
:meth:`Sequential.train_on_batch`)::

    logits = forward(x, training=True, logits=True)     # layer by layer, keeping caches
    loss   = cross_entropy(softmax(logits), y)          # fused and stable
    dlogits = (softmax(logits) - y) / N                 # the loss's gradient
    backward(dlogits)                                   # layer by layer, in reverse, filling grads
    optimizer.step(parameters, gradients)               # the only place weights change

The model builds lazily: the layers' shapes and weights are created from the input shape
(given as ``input_shape=`` or found on the first batch). One seed fixes every initial weight
and every dropout mask: each layer draws from its own Generator spawned from the model's
``numpy.random.SeedSequence``, so adding a layer at the end does not change the others.
"""

from __future__ import annotations

import math
import time

import numpy as np

from convnet import backend as backends
from convnet import losses, optimizers
from convnet.layers import Layer, name_layers, nested, walk
from convnet.metrics import ACCURACY_ALIASES, METRICS, accuracy, top_k_accuracy
from convnet.shapes import channels_last_hint, check_float

__all__ = ["Sequential", "steps_for", "accuracy", "top_k_accuracy", "METRICS"]


def steps_for(layers, rung: str) -> list:
    """The steps a model runs for its ``layers`` on ``rung``, in order: the one seam between
    the core and the tuned annex.

    Each step has a layer's ``forward(x, *, training, logits)`` and ``backward(dout)``. On the
    naive and fast rungs the steps are the layers. On the tuned rung :func:`convnet.tuned.plan`
    replaces some of them with steps of its own, which read the layers' parameters and fill
    their gradients; if the annex is not there, the layers run the fast rung.

    Examples
    --------
    >>> from convnet.layers import Dense
    >>> layers = [Dense(3)]
    >>> steps_for(layers, "fast") == layers
    True
    """
    if rung != "tuned":
        return list(layers)
    try:
        from convnet import tuned
    except ModuleNotFoundError as err:
        if err.name != "convnet.tuned":
            raise
        return list(layers)  # the annex removed: only speed is lost
    return tuned.plan(layers)


class Sequential:
    """A linear stack of layers.

    Parameters
    ----------
    layers : list of Layer
    input_shape : tuple of int, optional
        One sample's shape without the batch axis, NCHW order: ``(1, 28, 28)`` for MNIST.
        May instead be given to the first layer, or left to the first batch.
    seed : int, optional
        Seeds the initial weights and dropout masks. Left out, a fresh seed is drawn (and
        kept in ``model.seed``, so the run can be repeated).
    dtype : 'float32' or 'float64'
        Parameter dtype: float32 for training, float64 for gradient checks.
    backend : 'naive', 'fast' or 'tuned', optional
        The rung of the speed ladder to run (:mod:`convnet.backend`); left out,
        ``CONVNET_BACKEND``'s, else 'tuned'. A layer given a backend of its own keeps it.
    name : str

    Examples
    --------
    >>> from convnet.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D
    >>> model = Sequential([
    ...     Conv2D(32, (3, 3), activation="relu"),
    ...     Conv2D(64, (3, 3), activation="relu"),
    ...     MaxPool2D((2, 2)),
    ...     Dropout(0.25),
    ...     Flatten(),
    ...     Dense(128, activation="relu"),
    ...     Dropout(0.5),
    ...     Dense(10, activation="softmax"),
    ... ], input_shape=(1, 28, 28), seed=0)
    >>> model.count_params()
    1199882
    >>> model.predict(np.zeros((2, 1, 28, 28), dtype=np.float32)).shape
    (2, 10)
    """

    def __init__(self, layers=None, *, input_shape=None, seed=None, dtype="float32",
                 backend=None, name="sequential"):  # fmt: skip
        self.layers: list[Layer] = []
        self.name = name
        self.dtype = np.dtype(dtype)
        self.backend = backends.resolve(backend)
        self.seed = int(seed) if seed is not None else int(np.random.SeedSequence().entropy)
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        self.optimizer = None
        self.loss = None
        self.metrics = ["accuracy"]  # what fit logs and evaluate returns after the loss
        self.built = False
        self.stop_training = False
        self.stop_reason = None
        self.history = None
        self.metadata: dict = {}  # saved with the model; filled by load_model
        self._class_names = None  # see the class_names property
        self._steps = None  # what forward and backward run; see build
        for layer in layers or []:
            self.add(layer)
        if self.input_shape is None and self.layers and self.layers[0].input_shape is not None:
            self.input_shape = self.layers[0].input_shape
        if self.input_shape is not None:
            self.build(self.input_shape)

    # -- structure ---------------------------------------------------------------------------

    def add(self, layer: Layer) -> None:
        """Append a layer (before the model is built).

        Examples
        --------
        >>> from convnet.layers import Dense
        >>> model = Sequential()
        >>> model.add(Dense(8, activation="relu"))
        >>> model.add(Dense(2))
        >>> model.build((4,))
        >>> model.output_shape
        (2,)
        """
        if not isinstance(layer, Layer):
            raise ValueError(f"{self.name}: expected a Layer, got {type(layer).__name__}")
        if self.built:
            raise ValueError(f"{self.name}: cannot add layers after the model is built")
        self.layers.append(layer)

    def build(self, input_shape=None) -> None:
        """Create every layer's weights, passing each output shape on to the next layer.

        Examples
        --------
        >>> from convnet.layers import Dense
        >>> model = Sequential([Dense(3)], seed=0)       # no input_shape: not built yet
        >>> model.built
        False
        >>> model.build((5,))
        >>> model.layers[0].params["kernel"].shape       # (D_in, D_out)
        (5, 3)
        """
        shape = tuple(input_shape if input_shape is not None else self.input_shape or ())
        if not shape:
            raise ValueError(f"{self.name}: give input_shape=(C, H, W) to build the model")
        if not self.layers:
            raise ValueError(f"{self.name}: the model has no layers")
        self.input_shape = shape
        try:
            self._build_layers(shape)
        except ValueError as err:  # the commonest cause: Keras's (H, W, C) for convnet's (C, H, W)
            hint = channels_last_hint(shape)
            if not hint:
                raise
            raise ValueError(f"{err}; {hint}") from None
        names = [layer.name for layer in walk(self.layers)]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: layer names must be unique, got {names}")
        outputs = self.layers[-1].output_shape[-1]
        if self._class_names is not None and len(self._class_names) != outputs:
            raise ValueError(f"{self.name}: {len(self._class_names)} class names "
                             f"{self._class_names} for {outputs} outputs; give one name per "
                             "output")  # fmt: skip
        # The seam of the speed ladder: on the naive and fast rungs the steps are the layers;
        # on the tuned rung, the annex's plan for them (see convnet.backend).
        self._steps = steps_for(self.layers, self.backend)
        self.built = True

    def _build_layers(self, shape) -> None:
        """Name and build every layer in turn, each for the output shape of the one before."""
        seeds = np.random.SeedSequence(self.seed).spawn(len(self.layers))
        name_layers(self.layers)  # Keras numbering: conv2d, conv2d_1, conv2d_2, ...
        for layer, layer_seed in zip(self.layers, seeds, strict=True):
            if layer.built and layer.input_shape != shape:
                raise ValueError(
                    f"{self.name}: layer {layer.name} was built for input {layer.input_shape}, "
                    f"but the previous layer gives {shape}"
                )
            if not layer.built:
                layer.build(shape, np.random.default_rng(layer_seed), dtype=self.dtype,
                            backend=self.backend)  # fmt: skip
            shape = layer.output_shape

    @property
    def output_shape(self):
        return self.layers[-1].output_shape if self.built else None

    @property
    def class_names(self) -> list[str]:
        """What each output stands for: ``class_names[k]`` names class ``k``, shape (K,).

        ``python -m convnet train`` gives the model its dataset's names (Fashion-MNIST's
        "T-shirt/top", "Trouser", ...); they are saved with it and read back by
        :func:`~convnet.io.load_model`. A model never given names, a new one or one from a file
        Keras wrote, names its outputs by number: "0", "1", ..., MNIST's digits.

        Examples
        --------
        >>> from convnet.layers import Dense
        >>> model = Sequential([Dense(3, activation="softmax")], input_shape=(4,), seed=0)
        >>> model.class_names
        ['0', '1', '2']
        >>> model.class_names = ("cat", "dog", "bird")
        >>> model.class_names
        ['cat', 'dog', 'bird']
        >>> model.class_names = ["cat", "dog"]
        Traceback (most recent call last):
        ...
        ValueError: sequential: 2 class names ['cat', 'dog'] for 3 outputs; give one name per output
        """
        if self._class_names is not None:
            return list(self._class_names)
        return [str(k) for k in range(self.output_shape[-1])] if self.built else []

    @class_names.setter
    def class_names(self, names) -> None:
        names = None if names is None else [str(name) for name in names]
        if names is not None and self.built and len(names) != self.output_shape[-1]:
            raise ValueError(
                f"{self.name}: {len(names)} class names {names} for {self.output_shape[-1]} "
                "outputs; give one name per output"
            )
        self._class_names = names

    def parameters(self) -> dict[str, np.ndarray]:
        """Every parameter array, by name ``layer/param`` (the live arrays, not copies).

        Examples
        --------
        >>> from convnet.layers import Dense
        >>> model = Sequential([Dense(4), Dense(2)], input_shape=(3,), seed=0)
        >>> {name: p.shape for name, p in model.parameters().items()}
        {'dense/kernel': (3, 4), 'dense/bias': (4,), 'dense_1/kernel': (4, 2), 'dense_1/bias': (2,)}
        """  # noqa: E501
        return {f"{layer.name}/{k}": v for layer in self.layers for k, v in layer.params.items()}

    def weights(self) -> dict[str, np.ndarray]:
        """Every array the model keeps, by name: each layer's parameters, then its state
        (BatchNormalization's moving statistics), in layer order, as a Keras file lists them.
        What a saved model holds and what ``EarlyStopping`` restores.

        Examples
        --------
        >>> from convnet.layers import BatchNormalization, Dense
        >>> model = Sequential([Dense(2), BatchNormalization()], input_shape=(3,), seed=0)
        >>> list(model.weights())
        ['dense/kernel', 'dense/bias', 'batch_normalization/gamma', 'batch_normalization/beta', 'batch_normalization/moving_mean', 'batch_normalization/moving_variance']
        """  # noqa: E501
        return {f"{layer.name}/{k}": v for layer in self.layers
                for k, v in [*layer.params.items(), *layer.state.items()]}  # fmt: skip

    def gradients(self) -> dict[str, np.ndarray]:
        """The gradients from the last backward pass, with the same names as parameters().

        Examples
        --------
        >>> from convnet.layers import Dense
        >>> model = Sequential([Dense(2, activation="softmax")], input_shape=(3,), seed=0)
        >>> model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        >>> loss, logits = model.loss_and_gradients(np.ones((4, 3)), np.array([0, 1, 0, 1]))
        >>> {name: g.shape for name, g in model.gradients().items()}
        {'dense/kernel': (3, 2), 'dense/bias': (2,)}
        """
        return {f"{layer.name}/{k}": v for layer in self.layers for k, v in layer.grads.items()}

    def count_params(self) -> int:
        """How many numbers the model learns, over all its layers.

        Examples
        --------
        >>> from convnet.layers import Dense
        >>> Sequential([Dense(4), Dense(2)], input_shape=(3,)).count_params()  # 3*4+4 + 4*2+2
        26
        """
        return sum(layer.count_params() for layer in self.layers)

    def summary(self, print_fn=print) -> None:
        """Print a Keras-style table: layer (type), output shape, parameter count.

        Examples
        --------
        >>> from convnet.layers import Conv2D, Dense, Flatten, MaxPool2D
        >>> Sequential([Conv2D(4, 3, activation="relu"), MaxPool2D(2), Flatten(),
        ...             Dense(10, activation="softmax")], input_shape=(1, 8, 8)).summary()
        Model: "sequential"
        --------------------------------------------------------------------------
        Layer (type)                      Output Shape                     Param #
        ==========================================================================
        input (Input)                     (None, 1, 8, 8)                        0
        conv2d (Conv2D)                   (None, 4, 6, 6)                       40
        max_pooling2d (MaxPool2D)         (None, 4, 3, 3)                        0
        flatten (Flatten)                 (None, 36)                             0
        dense (Dense)                     (None, 10)                           370
        ==========================================================================
        Total params: 410 (0.00 MB, float32)
        Trainable params: 410
        Non-trainable params: 0
        --------------------------------------------------------------------------
        """
        if not self.built:
            raise ValueError(
                f"{self.name}: the model is not built yet; give input_shape= or call "
                "build((C, H, W)) first"
            )
        names = [f"{'  ' * depth}{layer.name} ({type(layer).__name__})"
                 for layer, depth in nested(self.layers)]
        widths = (max(34, max(map(len, names)) + 2), 26, 14)
        rule = "-" * sum(widths)

        def row(*cells):
            return f"{cells[0]:<{widths[0]}}{cells[1]:<{widths[1]}}{cells[2]:>{widths[2]}}"

        lines = [f'Model: "{self.name}"', rule, row("Layer (type)", "Output Shape", "Param #"),
                 "=" * sum(widths)]  # fmt: skip
        lines.append(row("input (Input)", str((None, *self.input_shape)), "0"))
        for name, (layer, _) in zip(names, nested(self.layers), strict=True):
            lines.append(row(name, str((None, *layer.output_shape)), f"{layer.count_params():,}"))
        total = self.count_params()
        trainable = sum(p.size for p in self.parameters().values())
        size = sum(p.nbytes for p in self.weights().values())
        lines += ["=" * sum(widths),
                  f"Total params: {total:,} ({size / 2**20:.2f} MB, {self.dtype})",
                  f"Trainable params: {trainable:,}",
                  f"Non-trainable params: {total - trainable:,}", rule]  # fmt: skip
        print_fn("\n".join(lines))

    # -- the passes ---------------------------------------------------------------------------

    def _ends_in_softmax(self) -> bool:
        return self.layers[-1].activation == "softmax"

    def _prepare_input(self, x):
        check_float(self.name, input=x)
        if not self.built:
            if x.ndim < 2:
                raise ValueError(f"{self.name}: expected a batch (N, ...), got shape {x.shape}")
            self.build(x.shape[1:])
        return x.astype(self.dtype, copy=False)

    def forward(self, x, *, training: bool = False, logits: bool = False):
        """Run every layer in order.

        Parameters
        ----------
        x : ndarray, shape (N, *input_shape)
        training : bool
            Dropout is active only in training.
        logits : bool
            Stop before a final softmax (what the fused loss wants).

        Returns
        -------
        out : ndarray, shape (N, *output_shape)

        Examples
        --------
        >>> from convnet.layers import Dense
        >>> from convnet.ops import softmax
        >>> model = Sequential([Dense(3, activation="softmax")], input_shape=(2,), seed=0)
        >>> x = np.array([[1.0, 2.0]], np.float32)
        >>> scores = model.forward(x, logits=True)          # before the final softmax
        >>> bool(np.allclose(model.forward(x), softmax(scores)))
        True
        """
        x = self._prepare_input(x)
        last = self._steps[-1]  # the layers (or, on the tuned rung, the annex's steps)
        for step in self._steps:
            x = step.forward(x, training=training, logits=logits and step is last)
        return x

    def backward(self, dout, *, input_grad=True):
        """Run every layer's backward pass in reverse order; returns dL/dx of the input.

        ``input_grad=False`` returns None instead: training asks for no gradient of the input,
        which is data that nothing learns from, and the first layer may skip that work.

        Examples
        --------
        Every gradient has the shape of what it is the gradient of:

        >>> from convnet.layers import Dense
        >>> model = Sequential([Dense(3), Dense(2)], input_shape=(4,), seed=0)
        >>> out = model.forward(np.ones((5, 4), np.float32), training=True)
        >>> dx = model.backward(np.ones_like(out))
        >>> dx.shape, {name: g.shape for name, g in model.gradients().items()}
        ((5, 4), {'dense/kernel': (4, 3), 'dense/bias': (3,), 'dense_1/kernel': (3, 2), 'dense_1/bias': (2,)})
        """  # noqa: E501
        for step in reversed(self._steps[1:]):
            dout = step.backward(dout)
        dx = self._steps[0].backward(dout, input_grad=input_grad)
        return dx if input_grad else None

    # -- training -----------------------------------------------------------------------------

    def compile(self, optimizer="adam", loss="categorical_crossentropy", metrics=None) -> None:
        """Choose the optimizer and the loss, as in Keras.

        Parameters
        ----------
        optimizer : str or Optimizer
            'adam', 'adamw', 'sgd', 'rmsprop', 'adadelta', or an instance.
        loss : str or Loss
            'categorical_crossentropy' (one-hot labels) or
            'sparse_categorical_crossentropy' (integer labels).
        metrics : list of str, optional
            Names from :data:`METRICS`. Accuracy is always measured; Keras's
            ``'top_k_categorical_accuracy'`` and ``'sparse_top_k_categorical_accuracy'``
            (k = 5) are measured after it. They become ``model.metrics``: ``fit`` logs each
            under its name (and ``val_`` + name), ``evaluate`` and ``train_on_batch`` return
            them after the loss, in this order. Keras's other names for accuracy (``'acc'``,
            ``'categorical_accuracy'``, ``'sparse_categorical_accuracy'``) mean accuracy;
            any other name is an error.

        Examples
        --------
        >>> from convnet.layers import Dense
        >>> model = Sequential([Dense(3, activation="softmax")], input_shape=(4,), seed=0)
        >>> model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        >>> model.optimizer, model.loss_name, model.metrics
        (SGD(learning_rate=0.01, momentum=0.0, nesterov=False), 'sparse_categorical_crossentropy', ['accuracy'])
        >>> Sequential([Dense(3)], input_shape=(4,)).compile(loss="categorical_crossentropy")
        Traceback (most recent call last):
        ...
        ValueError: sequential: categorical_crossentropy expects probabilities, so the last layer must end in a softmax (activation='softmax'); or pass a loss with from_logits=True
        >>> model.compile(loss="sparse_categorical_crossentropy", metrics=["auc"])
        Traceback (most recent call last):
        ...
        ValueError: sequential: unknown metric 'auc'; convnet has 'accuracy', 'top_k_categorical_accuracy', 'sparse_top_k_categorical_accuracy' (accuracy is always measured)
        """  # noqa: E501
        names = ["accuracy"]  # always measured
        for name in [metrics] if isinstance(metrics, str) else metrics or []:
            name = ACCURACY_ALIASES.get(name, name) if isinstance(name, str) else name
            if not isinstance(name, str) or name not in METRICS:
                raise ValueError(
                    f"{self.name}: unknown metric {name!r}; convnet has "
                    f"{', '.join(map(repr, METRICS))} (accuracy is always measured)"
                )
            if name not in names:
                names.append(name)
        self.metrics = names
        self.optimizer = optimizers.get(optimizer)
        self.loss = losses.get(loss)
        if self.layers and not self.loss.from_logits and not self._ends_in_softmax():
            raise ValueError(
                f"{self.name}: {self.loss.name} expects probabilities, so the last layer must "
                "end in a softmax (activation='softmax'); or pass a loss with from_logits=True"
            )
        if self.loss.from_logits and self.layers and self._ends_in_softmax():
            raise ValueError(
                f"{self.name}: the loss has from_logits=True but the last layer applies a "
                "softmax; remove one of the two"
            )

    @property
    def loss_name(self) -> str:
        return self.loss.name if self.loss is not None else "(not compiled)"

    def _require_compiled(self):
        if self.loss is None:
            raise ValueError(f"{self.name}: call compile(optimizer=..., loss=...) first")

    def _check_pair(self, x, y):
        if len(x) != len(y):
            raise ValueError(
                f"{self.name}: {len(x)} inputs but {len(y)} labels (x {np.shape(x)}, "
                f"y {np.shape(y)})"
            )

    def compute_loss(self, x, y, *, training: bool = False) -> float:
        """The loss of one batch, without gradients.

        Examples
        --------
        A model that gives every class the same score is as unsure as can be: the loss is
        ln 2 for two classes.

        >>> from convnet.layers import Dense
        >>> model = Sequential([Dense(2, activation="softmax")], input_shape=(3,), seed=0)
        >>> model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        >>> model.layers[0].params["kernel"][:] = 0.0
        >>> round(float(model.compute_loss(np.ones((4, 3)), np.array([0, 1, 0, 1]))), 4)
        0.6931
        """
        self._require_compiled()
        self._check_pair(x, y)
        z = self.forward(x, training=training, logits=True)
        return self.loss.forward(z, y)[0]

    def loss_and_gradients(self, x, y):
        """Forward (training mode), loss, backward: fills every layer's ``grads``.

        Returns
        -------
        loss : float
        logits : ndarray, shape (N, K)

        Examples
        --------
        The scores come back before the softmax; every layer now holds its gradients.

        >>> from convnet.layers import Dense
        >>> net = Sequential([Dense(5, activation="relu"), Dense(3, activation="softmax")],
        ...                  input_shape=(2,), seed=1)
        >>> net.compile(optimizer="adam", loss="categorical_crossentropy")
        >>> x, y = np.array([[0.5, -1.0]]), np.array([[0.0, 0.0, 1.0]])
        >>> loss, logits = net.loss_and_gradients(x, y)
        >>> logits.shape, [layer.grads["kernel"].shape for layer in net.layers]
        ((1, 3), [(2, 5), (5, 3)])
        """
        self._require_compiled()
        self._check_pair(x, y)
        z = self.forward(x, training=True, logits=True)
        loss, cache = self.loss.forward(z, y)
        self.backward(self.loss.backward(cache), input_grad=False)
        return loss, z

    def train_on_batch(self, x, y):
        """One step of training on one batch.

        Returns
        -------
        loss : float
            Before the update.
        accuracy : float
            Fraction of the batch classified correctly, before the update.
        *others : float
            Each further metric given to :meth:`compile`, in order (``model.metrics``).

        Examples
        --------
        Ten classes and weights that know nothing yet: the first loss is about ln 10 = 2.30.

        >>> from convnet.layers import Dense
        >>> model = Sequential([Dense(10, activation="softmax", kernel_initializer="zeros")],
        ...                    input_shape=(5,), seed=0)
        >>> model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        >>> x, y = np.ones((4, 5), np.float32), np.array([0, 1, 2, 3])
        >>> loss, acc = model.train_on_batch(x, y)
        >>> round(loss, 4), model.optimizer.iterations
        (2.3026, 1)
        """
        self._require_compiled()
        self._check_pair(x, y)
        z = self.forward(x, training=True, logits=True)  # the scores before the softmax
        loss, cache = self.loss.forward(z, y)
        self.backward(self.loss.backward(cache), input_grad=False)
        self.optimizer.step(self.parameters(), self.gradients())
        return (loss, *self._measure(z, y))

    def _measure(self, scores, y) -> tuple:
        """Every metric of ``model.metrics`` on one batch's scores, in order."""
        return tuple(METRICS[name](scores, y) for name in self.metrics)

    def fit(self, x, y, epochs=1, batch_size=32, validation_data=None, shuffle=True, seed=None,
            callbacks=None, verbose="auto", initial_epoch=0, augment=None,
            validation_split=0.0):  # fmt: skip
        """Train for ``epochs`` passes over ``(x, y)`` in mini-batches, as Keras's ``fit``.

        Parameters
        ----------
        x : ndarray, shape (N, *input_shape), float
        y : ndarray, labels in the loss's format
        epochs : int
            Index of the last epoch to train (with ``initial_epoch``, to resume).
        batch_size : int
        validation_data : (x_val, y_val), optional
            Evaluated after every epoch (no dropout); its metrics appear as val_loss and
            val_accuracy.
        shuffle : bool
            Shuffle the training set before every epoch.
        seed : int, optional
            Seeds the shuffling; left out, it is derived from the model's seed. The same model
            seed and fit seed give the same weights, bit for bit, on the same machine.
        callbacks : list of Callback, optional
        verbose : 'auto', 0, 1 or 2
            0 silent; 1 a progress bar per epoch on a terminal (one line per epoch otherwise);
            2 one line per epoch. 'auto' is 1.
        initial_epoch : int
            Epoch to start at (when resuming).
        augment : callable, optional
            ``augment(x_batch, rng) -> x_batch``, applied to every training batch before the
            step (never to ``validation_data``), e.g. :func:`convnet.augment.random_shift`.
            ``rng`` is a Generator made from ``seed`` and the epoch's number, so the run stays
            reproducible and a resumed run draws what the uninterrupted one would have. The
            loss and accuracy logged for training are then those of the augmented batches.
        validation_split : float in (0, 1), optional
            Hold out this fraction of ``(x, y)`` as ``validation_data``, as Keras does: the
            *last* ``N - floor(N * (1 - validation_split))`` samples, taken before any
            shuffling (so the data should not be sorted by class). 0, the default, holds out
            nothing. Not together with ``validation_data``.

        Returns
        -------
        History
            ``history.history`` maps 'loss', 'accuracy' (and any further metric of
            ``model.metrics``), 'val_loss', 'val_accuracy', ... to per-epoch lists;
            'learning_rate' is the rate of each epoch's last step (a per-step schedule
            changes it within the epoch).

        Examples
        --------
        Two clusters of points, one per class, learnt in a few epochs:

        >>> from convnet.layers import Dense
        >>> rng = np.random.default_rng(0)
        >>> y = rng.integers(0, 2, size=200)
        >>> x = (rng.normal(size=(200, 2)) + 3 * y[:, None]).astype(np.float32)
        >>> model = Sequential([Dense(2, activation="softmax")], input_shape=(2,), seed=0)
        >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        >>> history = model.fit(x, y, epochs=5, batch_size=20, verbose=0)
        >>> sorted(history.history)
        ['accuracy', 'img_per_s', 'learning_rate', 'loss', 'seconds']
        >>> history.history["loss"][-1] < history.history["loss"][0]
        True
        """
        from convnet.callbacks import History, ProgressLogger

        self._require_compiled()
        self._check_pair(x, y)
        x = self._prepare_input(x)
        if not (isinstance(batch_size, (int, np.integer)) and batch_size >= 1):
            raise ValueError(f"{self.name}: batch_size must be a whole number of 1 or more, "
                             f"got {batch_size!r}")  # fmt: skip
        if validation_split:
            x, y, validation_data = self._split_off(x, y, validation_split, validation_data)
        if validation_data is not None:
            x_val, y_val = validation_data
            self._check_pair(x_val, y_val)
        if seed is None:
            seed = int(np.random.SeedSequence(self.seed).generate_state(1)[0])
        order_rng = np.random.default_rng(seed)
        # Skipping already-trained epochs keeps the shuffles of a resumed run identical.
        if shuffle:
            for _ in range(initial_epoch):
                order_rng.permutation(len(x))

        history = History()
        callbacks = [history, *(callbacks or [])]
        verbose = 1 if verbose == "auto" else int(verbose)
        if verbose:
            callbacks.append(ProgressLogger(verbose))
        n = len(x)
        # What a callback may need to know before training starts, as Keras's callback.params:
        # a per-step learning-rate schedule counts its steps from these.
        params = {"epochs": epochs, "steps": -(-n // batch_size), "samples": n,
                  "batch_size": batch_size, "initial_epoch": initial_epoch,
                  "verbose": verbose}  # fmt: skip
        for cb in callbacks:
            cb.set_model(self)
            cb.set_params(params)
        self.history, self.stop_training, self.stop_reason = history, False, None

        names = ["loss", *self.metrics]  # what train_on_batch and evaluate return, in order
        logs = {"epochs": epochs, "samples": n, "batch_size": batch_size}
        for cb in callbacks:
            cb.on_train_begin(logs)
        for epoch in range(initial_epoch, epochs):
            for cb in callbacks:
                cb.on_epoch_begin(epoch, {})
            order = order_rng.permutation(n) if shuffle else np.arange(n)
            # a stream of its own for each epoch: SeedSequence's spawn keys keep it apart
            # from the shuffling's stream and from every other epoch's
            augment_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(epoch,)))
            start = time.perf_counter()
            sums, seen = np.zeros(len(names)), 0  # loss and metrics, summed over the images
            for batch, i in enumerate(range(0, n, batch_size)):
                idx = order[i : i + batch_size]
                for cb in callbacks:
                    cb.on_batch_begin(batch, {"size": len(idx)})
                x_batch = x[idx] if augment is None else augment(x[idx], augment_rng)
                rate = float(self.optimizer.learning_rate)  # as a schedule just set it
                values = self.train_on_batch(x_batch, y[idx])  # loss, accuracy, ...
                seen += len(idx)
                sums += np.multiply(values, len(idx))
                batch_logs = dict(zip(names, values, strict=True))
                for cb in callbacks:
                    cb.on_batch_end(batch, {"size": len(idx), **batch_logs, "learning_rate": rate})
                if self.stop_training:
                    break
            seconds = time.perf_counter() - start
            epoch_logs = dict(zip(names, (sums / seen).tolist(), strict=True))
            if validation_data is not None and not self.stop_training:
                values = self.evaluate(x_val, y_val, batch_size=max(batch_size, 256))
                epoch_logs.update(zip([f"val_{name}" for name in names], values, strict=True))
            epoch_logs.update(learning_rate=float(self.optimizer.learning_rate),
                              seconds=seconds, img_per_s=seen / seconds)  # fmt: skip
            for cb in callbacks:
                cb.on_epoch_end(epoch, epoch_logs)
            if self.stop_training:
                break
        for cb in callbacks:
            cb.on_train_end({})
        return history

    def _split_off(self, x, y, fraction, validation_data):
        """``(x, y)`` without their last ``fraction``, and that fraction as validation data."""
        if validation_data is not None:
            raise ValueError(f"{self.name}: give validation_data or validation_split, not both")
        if not 0 < fraction < 1:
            raise ValueError(f"{self.name}: validation_split must be a fraction in (0, 1), "
                             f"got {fraction!r}")  # fmt: skip
        split_at = int(math.floor(len(x) * (1.0 - fraction)))
        if split_at == 0 or split_at == len(x):
            raise ValueError(
                f"{self.name}: validation_split={fraction} of {len(x)} samples leaves "
                f"{split_at} for training and {len(x) - split_at} for validation; both need one"
            )
        return x[:split_at], y[:split_at], (x[split_at:], y[split_at:])

    # -- files (see convnet.io: the Keras HDF5 layout) ------------------------------------------

    def save(self, path, *, metadata=None, include_optimizer=True) -> None:
        """Write the model to a Keras HDF5 file (see :func:`convnet.io.save_model`).

        Examples
        --------
        >>> import os, tempfile
        >>> from convnet import load_model
        >>> from convnet.layers import Dense
        >>> model = Sequential([Dense(2, activation="softmax")], input_shape=(3,), seed=0)
        >>> path = os.path.join(tempfile.mkdtemp(), "model.h5")
        >>> model.save(path)
        >>> x = np.ones((1, 3), np.float32)
        >>> np.array_equal(load_model(path).predict(x), model.predict(x))
        True
        """
        from convnet.keras_h5 import save_model

        save_model(self, path, metadata=metadata, include_optimizer=include_optimizer)

    def save_weights(self, path) -> None:
        """Write only the weights (see :func:`convnet.io.save_weights`).

        Examples
        --------
        >>> import os, tempfile
        >>> from convnet.layers import Dense
        >>> path = os.path.join(tempfile.mkdtemp(), "weights.h5")
        >>> Sequential([Dense(2)], input_shape=(3,), seed=0).save_weights(path)
        >>> os.path.getsize(path) > 0
        True
        """
        from convnet.keras_h5 import save_weights

        save_weights(self, path)

    def load_weights(self, path) -> None:
        """Set the weights from a weights or model file (see :func:`convnet.io.load_weights`).

        Examples
        --------
        Two models of the same architecture, seeded differently, agree once one has the
        other's weights:

        >>> import os, tempfile
        >>> from convnet.layers import Dense
        >>> path = os.path.join(tempfile.mkdtemp(), "weights.h5")
        >>> first = Sequential([Dense(2)], input_shape=(3,), seed=0)
        >>> second = Sequential([Dense(2)], input_shape=(3,), seed=1)
        >>> first.save_weights(path)
        >>> second.load_weights(path)
        >>> x = np.ones((1, 3), np.float32)
        >>> np.array_equal(first.predict(x), second.predict(x))
        True
        """
        from convnet.keras_h5 import load_weights

        load_weights(self, path)

    # -- inference ----------------------------------------------------------------------------

    def predict(self, x, batch_size: int = 256):
        """Outputs (class probabilities) for ``x``, computed in batches by :meth:`forward`.

        Returns
        -------
        ndarray, shape (N, *output_shape)

        Examples
        --------
        >>> from convnet.layers import Dense
        >>> model = Sequential([Dense(3, activation="softmax")], input_shape=(4,), seed=0)
        >>> p = model.predict(np.ones((5, 4), np.float32))
        >>> p.shape, bool(np.allclose(p.sum(axis=1), 1))
        ((5, 3), True)
        """
        x = self._prepare_input(x)
        outs = [self.forward(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        return np.concatenate(outs) if outs else np.empty((0, *self.output_shape), self.dtype)

    def evaluate(self, x, y, batch_size: int = 256):
        """Mean loss and accuracy (and any further metric of ``model.metrics``) over
        ``(x, y)``, in batches.

        Returns
        -------
        (loss, accuracy, *others) : tuple of float

        Examples
        --------
        >>> from convnet.layers import Dense
        >>> model = Sequential([Dense(4, activation="softmax", kernel_initializer="zeros")],
        ...                    input_shape=(2,), seed=0)
        >>> model.compile(loss="sparse_categorical_crossentropy")
        >>> loss, acc = model.evaluate(np.ones((8, 2), np.float32), np.zeros(8, np.int64))
        >>> round(loss, 4)                          # a uniform guess over 4 classes: ln 4
        1.3863
        """
        self._require_compiled()
        self._check_pair(x, y)
        x = self._prepare_input(x)
        sums = np.zeros(1 + len(self.metrics))  # loss and metrics, summed over the images
        for i in range(0, len(x), batch_size):
            xb, yb = x[i : i + batch_size], y[i : i + batch_size]
            z = self.forward(xb, logits=True)
            sums += np.multiply([self.loss.forward(z, yb)[0], *self._measure(z, yb)], len(xb))
        return tuple((sums / len(x)).tolist())

