"""Keras's JSON descriptions of a model, of its layers and of its training, to and from convnet.

Reading order: ... → data → **14. file I/O** (this module, then :mod:`convnet.keras_h5` and
:mod:`convnet.io`). Docs chapter: "The mnist.h5 file" (``docs/model-file.md``).

A Keras ``.h5`` model file describes the network in two JSON attributes: ``model_config`` (the
``Sequential`` and its layers, each ``{"class_name": "Conv2D", "config": {...}}``) and
``training_config`` (loss and optimizer). This module translates those dictionaries; it knows
nothing about HDF5 or about weight arrays (:mod:`convnet.keras_h5` handles both).

A model with a :class:`~convnet.layers.Residual` block is not a line of layers in Keras: the
sum needs two inputs. Such a model is written as Keras's *functional* model, a graph in which
each layer names the layers whose outputs it takes (its ``inbound_nodes``): the block's layers
one after the other, the shortcut's 1x1 ``Conv2D`` (if any) beside them, an ``Add`` of the two
named after the block, and an ``Activation`` named ``<block>_activation`` for the activation
after the sum. Reading turns that pattern back into ``Residual`` blocks; other graphs are
refused.

Two directions:

* :func:`model_config` and :func:`training_config` describe a convnet model the way Keras 3
  writes its own, so that ``keras.models.load_model`` rebuilds (and compiles) the same network;
* :func:`layers_from_config` and :func:`compile_args` read what Keras 3 or tf.keras 2 wrote.
  Every option that convnet does not implement must have the value that leaves the
  computation unchanged (``dilation_rate=1``, ``groups=1``, no regularizer, ...); anything else
  is a ``ValueError`` that names the layer and the options, never a silently different model.

Shapes: a Keras image is ``(H, W, C)`` (``data_format='channels_last'``), a convnet image
``(C, H, W)``. Only the input shape is converted here; the weight arrays are converted in
:mod:`convnet.keras_h5`.
"""

from __future__ import annotations

from dataclasses import dataclass

from convnet import layers as L
from convnet import losses, optimizers
from convnet.metrics import ACCURACY_ALIASES, METRICS
from convnet.shapes import resolve_padding

__all__ = [
    "KERAS_VERSION",
    "model_config",
    "functional_config",
    "keras_order",
    "training_config",
    "layers_from_config",
    "compile_args",
]

#: The Keras release whose file layout convnet writes (and whose ``load_model`` reads it in
#: the tests). Written to the ``keras_version`` attribute.
KERAS_VERSION = "3.15.1"

#: Keras class names convnet reads, and the convnet class each becomes.
SUPPORTED = ("Conv2D", "MaxPooling2D", "AveragePooling2D", "Dense", "Flatten", "Dropout",
             "Activation", "ReLU", "LeakyReLU", "Softmax", "ZeroPadding2D", "BatchNormalization",
             "GlobalAveragePooling2D")  # fmt: skip

#: Activation strings with the same meaning in Keras and convnet. ("leaky_relu" is not one:
#: Keras's string means slope 0.2, convnet's 0.3; use a LeakyReLU layer.)
_ACTIVATIONS = ("relu", "sigmoid", "tanh", "softmax")

#: Options convnet does not implement, with the value at which Keras computes what convnet
#: computes. Any other value is an error. (An option not listed here is accepted only when
#: it is null: newer Keras versions add options that are off by default.)
_NEUTRAL = {
    "data_format": "channels_last",
    "dilation_rate": (1, 1),
    "groups": 1,
    "trainable": True,
    "sparse": False,
    "ragged": False,
    "optional": False,
    "threshold": 0.0,  # ReLU
    "negative_slope": 0.0,  # ReLU (LeakyReLU uses it)
    "axis": -1,  # Softmax
    "keepdims": False,  # GlobalAveragePooling2D: (C,), not (1, 1, C)
    "synchronized": False,  # BatchNormalization: statistics of this device's batch
    "renorm": False,  # BatchNormalization
}

#: Options that do not change what a loaded model computes or how it trains.
_IGNORED = {"name", "dtype", "kernel_initializer", "bias_initializer", "batch_input_shape",
            "batch_shape", "input_shape", "beta_initializer", "gamma_initializer",
            "moving_mean_initializer", "moving_variance_initializer",
            "renorm_momentum"}  # fmt: skip  (renorm_momentum: used only with renorm, refused)

#: What Keras 3 records as the call arguments of a layer in a functional graph, by class
#: (the others: none). Written as Keras writes them; on reading, only these are accepted.
_CALL_KWARGS = {"BatchNormalization": {"mask": None}, "Softmax": {"mask": None},
                "Dropout": {"training": False}}  # fmt: skip

_OPTIMIZER_CLASSES = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "rmsprop": "RMSprop",
                      "adadelta": "Adadelta"}  # fmt: skip

#: Where ``training_config`` keeps AdamW's ``exclude_from_weight_decay``. Keras's optimizer
#: config has no such option (Keras sets it by calling a method, and refuses unknown keys in
#: the config), so it sits beside ``optimizer_config``, where Keras does not look: Keras then
#: decays every weight of a model it loads.
EXCLUDE_KEY = "convnet_exclude_from_weight_decay"

#: Keras optimizer options convnet does not implement, with their "off" value.
_OPTIMIZER_NEUTRAL = {"weight_decay": 0.0, "use_ema": False, "amsgrad": False, "centered": False,
                      "decay": 0.0, "is_legacy_optimizer": False}  # fmt: skip
_OPTIMIZER_IGNORED = {"name", "jit_compile", "ema_momentum"}

_LOSS_CLASSES = {"categorical_crossentropy": "CategoricalCrossentropy",
                 "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy"}  # fmt: skip


# -- convnet → Keras ---------------------------------------------------------------------------


def keras_input_shape(shape) -> list:
    """Keras's shape of one sample: ``(C, H, W)`` images become ``(H, W, C)``.

    Examples
    --------
    >>> keras_input_shape((1, 28, 28)), keras_input_shape((784,))
    ([28, 28, 1], [784])
    """
    shape = [int(d) for d in shape]
    return shape[1:] + shape[:1] if len(shape) == 3 else shape


def _activation_name(layer, activation) -> str:
    if activation == "leaky_relu":
        raise ValueError(
            f"{layer.name}: Keras's activation string 'leaky_relu' has slope 0.2 and convnet's "
            "0.3, so this layer cannot be written faithfully; use activation=None followed by "
            "a LeakyReLU() layer"
        )
    return activation or "linear"


def _keras_layer(layer, dtype: str) -> list[dict]:
    """The Keras entries (usually one) that compute what ``layer`` computes."""
    common = {"name": layer.name, "trainable": True, "dtype": dtype}
    act = _activation_name(layer, layer.activation)
    if isinstance(layer, L.Conv2D):
        entries = []
        padding = layer.padding
        if not isinstance(padding, str):
            # Keras's Conv2D knows only 'valid' and 'same': explicit zero padding is a layer.
            top, bottom, left, right = resolve_padding(padding, (1, 1), (1, 1), (1, 1))
            entries.append({"class_name": "ZeroPadding2D", "config": {
                "name": f"{layer.name}_padding", "trainable": True, "dtype": dtype,
                "padding": [[top, bottom], [left, right]], "data_format": "channels_last"}})
            padding = "valid"
        entries.append({"class_name": "Conv2D", "config": {
            **common, "filters": layer.filters, "kernel_size": list(layer.kernel_size),
            "strides": list(layer.strides), "padding": padding.lower(),
            "data_format": "channels_last", "dilation_rate": [1, 1], "groups": 1,
            "activation": act, "use_bias": layer.use_bias}})
        return entries
    if isinstance(layer, (L.MaxPool2D, L.AvgPool2D)):
        return [{"class_name": layer.keras_name, "config": {
            **common, "pool_size": list(layer.pool_size), "padding": layer.padding,
            "strides": list(layer.strides), "data_format": "channels_last"}}]
    if isinstance(layer, L.Dense):
        return [{"class_name": "Dense", "config": {
            **common, "units": layer.units, "activation": act, "use_bias": layer.use_bias}}]
    if isinstance(layer, L.Flatten):
        return [{"class_name": "Flatten", "config": {**common, "data_format": "channels_last"}}]
    if isinstance(layer, L.BatchNormalization):
        # convnet normalizes over axis 1 of (N, C, H, W) or (N, D); in Keras's channels-last
        # layout the channels are the last axis. gamma, beta and the moving statistics are
        # one number per channel in both: they need no reordering.
        return [{"class_name": "BatchNormalization", "config": {
            **common, "axis": -1, "momentum": layer.momentum, "epsilon": layer.epsilon,
            "center": layer.center, "scale": layer.scale}}]
    if isinstance(layer, L.GlobalAveragePooling2D):
        return [{"class_name": "GlobalAveragePooling2D", "config": {
            **common, "data_format": "channels_last", "keepdims": False}}]
    if isinstance(layer, L.Dropout):
        return [{"class_name": "Dropout", "config": {
            **common, "rate": layer.rate, "seed": layer.seed, "noise_shape": None}}]
    if isinstance(layer, L.LeakyReLU):
        return [{"class_name": "LeakyReLU", "config": {**common, "negative_slope": layer.alpha}}]
    if isinstance(layer, L.ReLU):
        return [{"class_name": "ReLU", "config": common}]
    if isinstance(layer, L.Softmax):
        return [{"class_name": "Softmax", "config": {**common, "axis": -1}}]
    if isinstance(layer, L.Activation):  # Sigmoid and Tanh too: Keras has no such layers
        return [{"class_name": "Activation", "config": {**common, "activation": act}}]
    if isinstance(layer, L.Residual):  # model_config writes a functional model instead
        raise ValueError(f"{layer.name}: a Residual block is not a layer of a Keras Sequential "
                         "model; write the model with model_config, which makes it functional")
    raise ValueError(f"{layer.name}: a {type(layer).__name__} layer has no Keras equivalent")


def model_config(model) -> dict:
    """The ``model_config`` Keras 3 rebuilds ``model`` from.

    Parameters
    ----------
    model : Sequential
        A built model.

    Returns
    -------
    dict
        ``{"class_name": "Sequential", "config": {"name", "layers": [InputLayer, ...]}}``,
        the input shape in Keras's ``(H, W, C)`` order; for a model with a
        :class:`~convnet.layers.Residual` block, the functional model of
        :func:`functional_config`.

    Examples
    --------
    >>> from convnet.model import Sequential
    >>> model = Sequential([L.Flatten(), L.Dense(10, activation="softmax")],
    ...                    input_shape=(1, 28, 28), seed=0)
    >>> config = model_config(model)["config"]
    >>> [(entry["class_name"], entry["config"]["name"]) for entry in config["layers"]]
    [('InputLayer', 'input_layer'), ('Flatten', 'flatten'), ('Dense', 'dense')]
    >>> config["layers"][0]["config"]["batch_input_shape"]
    [None, 28, 28, 1]
    """
    if any(isinstance(layer, L.Residual) for layer in L.walk(model.layers)):
        return functional_config(model)
    dtype = str(model.dtype)
    batch_shape = [None, *keras_input_shape(model.input_shape)]
    # Keras 3 writes "batch_shape"; "batch_input_shape", tf.keras 2's name, is read by both.
    entries = [{"class_name": "InputLayer", "config": {
        "batch_input_shape": batch_shape, "dtype": dtype, "sparse": False, "ragged": False,
        "name": "input_layer"}}]  # fmt: skip
    for layer in model.layers:
        entries += _keras_layer(layer, dtype)
    return {"class_name": "Sequential", "config": {
        "name": model.name, "trainable": True, "dtype": dtype, "layers": entries,
        "build_input_shape": batch_shape}}  # fmt: skip


def _keras_tensor(name: str, shape, dtype: str) -> dict:
    """A reference to the output of layer ``name`` (of convnet shape ``shape``), as Keras 3
    writes it in ``inbound_nodes``."""
    return {"class_name": "__keras_tensor__", "config": {
        "shape": [None, *keras_input_shape(shape)], "dtype": dtype,
        "keras_history": [name, 0, 0]}}  # fmt: skip


def functional_config(model) -> dict:
    """The ``model_config`` of ``model`` as a Keras functional model: the form a model with
    residual blocks takes in a Keras file.

    Each layer becomes an entry with ``inbound_nodes``, the layers whose outputs it takes, as
    Keras 3 writes them. A :class:`~convnet.layers.Residual` block named ``residual`` becomes
    its layers (at the top level, with their own names), its shortcut's convolution
    ``residual_shortcut`` (if the block projects) taking the block's input, an ``Add``
    named ``residual`` of the block's output and the shortcut's, and, if the block has an
    activation, an ``Activation`` named ``residual_activation`` after the sum. The entries are
    listed in the order Keras lists the layers of the model it rebuilds (:func:`keras_order`).

    Parameters
    ----------
    model : Sequential
        A built model.

    Returns
    -------
    dict
        ``{"class_name": "Functional", "config": {"name", "trainable", "layers",
        "input_layers", "output_layers"}}``.

    Raises
    ------
    ValueError
        Two entries would have the same name (a layer named ``residual_activation``, say).

    Examples
    --------
    >>> from convnet.model import Sequential
    >>> model = Sequential([L.Residual([L.Conv2D(2, 3, padding="same")], activation="relu"),
    ...                     L.Flatten(), L.Dense(3)], input_shape=(2, 4, 4), seed=0)
    >>> config = functional_config(model)["config"]
    >>> [(e["class_name"], e["name"]) for e in config["layers"]][:4]
    [('InputLayer', 'input_layer'), ('Conv2D', 'conv2d'), ('Add', 'residual'), ('Activation', 'residual_activation')]
    >>> [[t["config"]["keras_history"][0] for t in e["inbound_nodes"][0]["args"][0]]
    ...  for e in config["layers"] if e["class_name"] == "Add"]    # the block's, then the input
    [['conv2d', 'input_layer']]
    >>> config["input_layers"], config["output_layers"]
    (['input_layer', 0, 0], ['dense', 0, 0])
    >>> [type(layer).__name__ for layer in layers_from_config(functional_config(model))[0]]
    ['Residual', 'Flatten', 'Dense']
    """  # noqa: E501
    dtype = str(model.dtype)
    entries: dict[str, dict] = {}
    inputs: dict[str, list] = {}

    def add(entry, sources, shape_in, shape_out):
        """Append ``entry``, taking the outputs of the layers ``sources`` (of ``shape_in``)."""
        name = entry["config"]["name"]
        if name in entries:
            raise ValueError(f"{model.name}: two layers of the Keras file would be named "
                             f"{name!r}; rename the layer {name!r}")  # fmt: skip
        tensors = [_keras_tensor(source, shape_in, dtype) for source in sources]
        args = [tensors] if entry["class_name"] == "Add" else tensors
        kwargs = dict(_CALL_KWARGS.get(entry["class_name"], {}))
        nodes = [{"args": args, "kwargs": kwargs}] if sources else []  # the input: none
        entries[name] = {**entry, "name": name, "inbound_nodes": nodes}
        inputs[name] = list(sources)
        return name, shape_out

    def chain(layers, tensor, shape):
        """Write ``layers`` one after the other from ``tensor``; the last output and shape."""
        for layer in layers:
            if isinstance(layer, L.Residual):
                block, out = chain(layer.layers, tensor, shape)
                skip = tensor if layer.shortcut is None else chain([layer.shortcut], tensor,
                                                                   shape)[0]  # fmt: skip
                common = {"name": layer.name, "trainable": True, "dtype": dtype}
                tensor, shape = add({"class_name": "Add", "config": common}, [block, skip],
                                    out, out)  # fmt: skip
                if layer.activation is not None:
                    act = _activation_name(layer, layer.activation)
                    tensor, shape = add({"class_name": "Activation", "config": {
                        **common, "name": f"{layer.name}_activation", "activation": act}},
                        [tensor], shape, shape)  # fmt: skip
                continue
            for entry in _keras_layer(layer, dtype):
                out = layer.output_shape
                if entry["class_name"] == "ZeroPadding2D":  # before a Conv2D: the padded image
                    (top, bottom), (left, right) = entry["config"]["padding"]
                    c, h, w = shape
                    out = (c, h + top + bottom, w + left + right)
                tensor, shape = add(entry, [tensor], shape, out)
        return tensor, shape

    add({"class_name": "InputLayer", "config": {
        "batch_shape": [None, *keras_input_shape(model.input_shape)], "dtype": dtype,
        "sparse": False, "ragged": False, "name": "input_layer", "optional": False}},
        [], model.input_shape, model.input_shape)  # fmt: skip
    output, _ = chain(model.layers, "input_layer", model.input_shape)
    layers = [entries[name] for name in keras_order(inputs, output)]
    return {"class_name": "Functional", "config": {
        "name": model.name, "trainable": True, "layers": layers,
        "input_layers": ["input_layer", 0, 0], "output_layers": [output, 0, 0]}}  # fmt: skip


def keras_order(inputs: dict, output: str) -> list[str]:
    """The order in which Keras lists the layers of a functional model it builds (the
    ``layers`` of the model, and so the order of ``layer_names`` in its files).

    Keras (``keras.src.ops.function.map_graph``) sorts the layers by depth, the number of
    layers on the longest path from a layer to the output, deepest (the input) first; layers
    of the same depth in the order in which a depth-first search from the output, taking each
    layer's inputs in order, first reaches them. A weights file is matched to a model in this
    order, so writing any other order would give Keras's layers each other's weights.

    Parameters
    ----------
    inputs : dict
        Layer name -> the names of the layers whose outputs it takes, in order.
    output : str
        The name of the output layer.

    Returns
    -------
    list of str
        The layers reachable from ``output``, in Keras's order.

    Examples
    --------
    A block ``a -> b`` summed with a projection ``p`` of its input: ``p`` is as deep as ``b``,
    and the search reaches ``b`` (the sum's first input) first.

    >>> keras_order({"in": [], "a": ["in"], "b": ["a"], "p": ["in"], "add": ["b", "p"]}, "add")
    ['in', 'a', 'b', 'p', 'add']
    """
    first_reached: dict[str, int] = {}
    finished: list[str] = []  # every layer after the layers it takes inputs from

    def search(name):
        first_reached[name] = len(first_reached)
        for source in inputs[name]:
            if source not in first_reached:
                search(source)
        finished.append(name)

    search(output)
    depth = dict.fromkeys(finished, 0)
    for name in reversed(finished):  # each layer before its inputs: their depth is final
        for source in inputs[name]:
            depth[source] = max(depth[source], depth[name] + 1)
    return sorted(finished, key=lambda name: (-depth[name], first_reached[name]))


def training_config(model) -> dict:
    """The ``training_config`` with which Keras compiles the loaded model as ``model`` is.

    An AdamW's ``exclude_from_weight_decay``, which Keras's config cannot hold, is kept under
    :data:`EXCLUDE_KEY` beside ``optimizer_config``.

    Examples
    --------
    >>> from convnet.model import Sequential
    >>> from convnet.optimizers import AdamW
    >>> model = Sequential([L.Dense(2, activation="softmax")], input_shape=(3,))
    >>> model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    >>> config = training_config(model)
    >>> config["loss"], config["optimizer_config"]["class_name"]
    ('sparse_categorical_crossentropy', 'SGD')
    >>> model.compile(optimizer=AdamW(exclude_from_weight_decay=["bias"]),
    ...               loss="sparse_categorical_crossentropy")
    >>> config = training_config(model)
    >>> config["optimizer_config"]["config"]["weight_decay"], config[EXCLUDE_KEY]
    (0.004, ['bias'])
    """
    loss = model.loss.name
    if model.loss.from_logits:
        loss = {"class_name": _LOSS_CLASSES[loss], "config": {"from_logits": True}}
    opt = model.optimizer
    opt_config = {"name": opt.name, **opt.get_config()}
    exclude = opt_config.pop("exclude_from_weight_decay", None)
    config = {
        "loss": loss, "metrics": list(model.metrics), "weighted_metrics": None,
        "loss_weights": None,
        "optimizer_config": {"class_name": _OPTIMIZER_CLASSES[opt.name], "config": opt_config},
    }  # fmt: skip
    if exclude is not None:
        config[EXCLUDE_KEY] = exclude
    return config


# -- Keras → convnet ---------------------------------------------------------------------------


def _same(value, neutral) -> bool:
    """Compare an option with its neutral value, reading ``1`` and ``[1, 1]`` as ``(1, 1)``."""
    if isinstance(neutral, tuple):
        value = tuple(value) if isinstance(value, list) else (value,) * len(neutral)
    return value == neutral


def _check_options(where: str, config: dict, used) -> None:
    """Raise if an option convnet does not implement would change what the layer computes."""
    bad = []
    for key, value in config.items():
        if key in used or key in _IGNORED:
            continue
        if key in _NEUTRAL:
            if not _same(value, _NEUTRAL[key]):
                bad.append(f"{key}={value!r}")
        elif value is not None:
            bad.append(f"{key}={value!r}")
    if bad:
        raise ValueError(
            f"{where} uses {', '.join(bad)}, which convnet does not implement; a model loaded "
            "without it would compute something else"
        )


def _activation(where: str, config: dict):
    act = config.get("activation", "linear")
    if act in (None, "linear"):
        return None
    if act not in _ACTIVATIONS:
        raise ValueError(
            f"{where} has activation {act!r}; convnet reads {', '.join(_ACTIVATIONS)} and "
            "'linear'"
        )
    return act


def _dtype(where: str, value) -> str:
    """Keras writes a dtype as a string or as a DTypePolicy dictionary."""
    if isinstance(value, dict):
        value = value.get("config", {}).get("name")
    if value not in ("float32", "float64"):
        raise ValueError(f"{where} has dtype {value!r}; convnet computes in float32 or float64")
    return value


def _input_shape(keras_layers: list, config: dict) -> tuple:
    """The sample shape in convnet's order, from the InputLayer or wherever Keras put it."""
    shape = None
    if keras_layers:  # an InputLayer, or the first layer itself (tf.keras 2)
        first = keras_layers[0].get("config", {})
        shape = first.get("batch_shape", first.get("batch_input_shape"))
    if shape is None:
        shape = config.get("build_input_shape")
    if shape is None:
        raise ValueError("the model_config gives no input shape (no InputLayer, no "
                         "batch_input_shape): convnet needs one to build the model")  # fmt: skip
    sample = list(shape[1:])
    if not sample or any(not isinstance(d, int) or d < 1 for d in sample):
        raise ValueError(f"the input shape {shape} is not fixed; convnet needs every "
                         "dimension but the batch")  # fmt: skip
    return tuple(sample[-1:] + sample[:-1]) if len(sample) == 3 else tuple(sample)


def _convnet_layer(class_name: str, config: dict, where: str, rank: int | None = None):
    """One convnet layer from one Keras entry (ZeroPadding2D is handled by the caller);
    ``rank`` is the number of axes of one input sample (3 for images, 1 for vectors)."""
    name = config.get("name")
    if class_name == "Conv2D":
        _check_options(where, config, {"filters", "kernel_size", "strides", "padding",
                                       "activation", "use_bias"})  # fmt: skip
        return L.Conv2D(config["filters"], tuple(config["kernel_size"]),
                        strides=tuple(config.get("strides", (1, 1))),
                        padding=config.get("padding", "valid"),
                        activation=_activation(where, config),
                        use_bias=config.get("use_bias", True), name=name)  # fmt: skip
    if class_name in ("MaxPooling2D", "AveragePooling2D"):
        _check_options(where, config, {"pool_size", "strides", "padding"})
        cls = L.MaxPool2D if class_name == "MaxPooling2D" else L.AvgPool2D
        strides = config.get("strides")
        return cls(tuple(config.get("pool_size", (2, 2))),
                   strides=tuple(strides) if strides is not None else None,
                   padding=config.get("padding", "valid"), name=name)  # fmt: skip
    if class_name == "Dense":
        _check_options(where, config, {"units", "activation", "use_bias"})
        return L.Dense(config["units"], activation=_activation(where, config),
                       use_bias=config.get("use_bias", True), name=name)  # fmt: skip
    if class_name == "Flatten":
        _check_options(where, config, ())
        return L.Flatten(name=name)
    if class_name == "Dropout":
        _check_options(where, config, {"rate", "seed"})
        return L.Dropout(config["rate"], seed=config.get("seed"), name=name)
    if class_name == "Activation":
        _check_options(where, config, {"activation"})
        act = _activation(where, config)
        return L.Activation(act, name=name) if act else None
    if class_name == "ReLU":
        _check_options(where, config, ())
        return L.ReLU(name=name)
    if class_name == "LeakyReLU":  # Keras 3 says negative_slope, tf.keras 2 alpha
        _check_options(where, config, {"negative_slope", "alpha"})
        return L.LeakyReLU(alpha=config.get("negative_slope", config.get("alpha", 0.3)),
                           name=name)  # fmt: skip
    if class_name == "Softmax":
        _check_options(where, config, ())
        return L.Softmax(name=name)
    if class_name == "BatchNormalization":
        _check_options(where, config, {"axis", "momentum", "epsilon", "center", "scale"})
        axis = config.get("axis", -1)
        axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
        # Keras's channels are the last axis of (N, H, W, C) or (N, D): -1, or the rank.
        if axis not in (-1, rank):
            raise ValueError(f"{where} normalizes over axis {config.get('axis')!r}; convnet "
                             "normalizes over the channels, the last axis (-1) of Keras's "
                             "channels-last data")  # fmt: skip
        return L.BatchNormalization(momentum=config.get("momentum", 0.99),
                                    epsilon=config.get("epsilon", 1e-3),
                                    center=config.get("center", True),
                                    scale=config.get("scale", True), name=name)  # fmt: skip
    if class_name == "GlobalAveragePooling2D":
        _check_options(where, config, ())
        return L.GlobalAveragePooling2D(name=name)
    raise ValueError(
        f"{where}: convnet has no {class_name} layer; it reads models made of "
        f"{', '.join(SUPPORTED)} (and Add, for residual blocks)"
    )


def layers_from_config(config: dict):
    """Rebuild the layers of a Keras ``model_config``, checking every option.

    Parameters
    ----------
    config : dict
        The parsed ``model_config`` attribute of a Keras 3 or tf.keras 2 file: a Sequential
        model, or a Keras 3 functional model whose graph is a line of layers and residual
        blocks (what :func:`functional_config` writes; each ``Add`` becomes a
        :class:`~convnet.layers.Residual`).

    Returns
    -------
    layers : list of Layer
        Unbuilt, named as in the file.
    input_shape : tuple of int
        One sample, convnet order: ``(C, H, W)`` for images.
    name : str
    dtype : 'float32' or 'float64'

    Raises
    ------
    ValueError
        Neither a Sequential model nor such a functional one; a layer, activation or option
        convnet does not have.

    Examples
    --------
    >>> keras = {"class_name": "Sequential", "config": {"name": "mlp", "layers": [
    ...     {"class_name": "InputLayer", "config": {"batch_shape": [None, 28, 28, 1]}},
    ...     {"class_name": "Flatten", "config": {"name": "flatten"}},
    ...     {"class_name": "Dense", "config": {"name": "dense", "units": 10,
    ...                                         "activation": "softmax"}}]}}
    >>> layers, input_shape, name, dtype = layers_from_config(keras)
    >>> layers, input_shape, dtype
    ([Flatten(activation=None), Dense(activation='softmax', units=10, use_bias=True)], (1, 28, 28), 'float32')
    >>> keras["config"]["layers"][2]["config"]["dilation_rate"] = 2
    >>> layers_from_config(keras)
    Traceback (most recent call last):
    ...
    ValueError: layer 'dense' (Dense) uses dilation_rate=2, which convnet does not implement; a model loaded without it would compute something else
    """  # noqa: E501
    class_name = config.get("class_name") if isinstance(config, dict) else None
    if class_name == "Functional":
        body = config.get("config")
        items, input_entry = _functional_items(body if isinstance(body, dict) else {})
        dtype = _dtype("the model", input_entry.get("config", {}).get("dtype") or "float32")
        input_shape = _input_shape([input_entry], {})
        name = body.get("name", "functional")
    elif class_name == "Sequential":
        body = config.get("config", {})
        items = body if isinstance(body, list) else body.get("layers", [])  # old Keras: a list
        body = body if isinstance(body, dict) else {}
        dtype = _dtype("the model", body.get("dtype") or "float32")
        input_shape = _input_shape(items, body)
        name = body.get("name", "sequential")
    else:
        raise ValueError(
            f"the file holds a {class_name or 'model of unknown kind'}; convnet reads "
            "Sequential models (one input, layers in a line) and the functional models of "
            "residual blocks it writes"
        )
    result, _ = _convert(items, input_shape)
    if not result:
        raise ValueError("the model_config has no layers")
    return result, input_shape, name, dtype


def _convert(items: list, shape: tuple):
    """convnet layers from Keras entries in a line (and the residual blocks that
    :func:`_functional_items` found in a graph), each checked; also the shape of their output
    (convnet's order), which a BatchNormalization's axis and a block's shortcut are checked
    against."""
    result, pending_pad = [], None
    for item in items:
        if isinstance(item, _Block):
            class_name, layer_config = "Add", item.add.get("config", {})
        else:
            class_name, layer_config = item.get("class_name"), item.get("config", {})
        where = f"layer {layer_config.get('name')!r} ({class_name})"
        if class_name == "InputLayer":
            _check_options(where, layer_config, ())
            continue
        if layer_config.get("dtype") is not None:
            _dtype(where, layer_config["dtype"])
        if pending_pad is not None:
            # ZeroPadding2D + Conv2D('valid') is one convnet Conv2D with explicit padding.
            pad_where, pads = pending_pad
            if class_name != "Conv2D" or layer_config.get("padding", "valid") != "valid":
                raise ValueError(f"{pad_where}: convnet reads ZeroPadding2D only directly before "
                                 "a Conv2D with padding='valid'")  # fmt: skip
            layer_config, pending_pad = {**layer_config, "padding": pads}, None
        if class_name == "ZeroPadding2D":
            _check_options(where, layer_config, {"padding"})
            pending_pad = (where, _zero_padding(layer_config.get("padding", 1)))
            continue
        if isinstance(item, _Block):
            layer, shape = _residual(item, shape, where)
            result.append(layer)
            continue
        layer = _convnet_layer(class_name, layer_config, where, rank=len(shape))
        if layer is not None:
            shape = layer.output_shape_for(shape)
            result.append(layer)
    if pending_pad is not None:
        raise ValueError(f"{pending_pad[0]}: convnet reads ZeroPadding2D only directly before a "
                         "Conv2D with padding='valid'")  # fmt: skip
    return result, shape


@dataclass
class _Block:
    """A residual block found in a functional graph: the entries of the ``Add``, of the
    block's layers in order, of the shortcut's ``Conv2D`` (None: the input is added as it is)
    and of the ``Activation`` after the sum (None: there is none)."""

    add: dict
    entries: list
    shortcut: dict | None = None
    activation: dict | None = None


def _residual(block: _Block, shape: tuple, where: str):
    """The :class:`~convnet.layers.Residual` of ``block`` on inputs of ``shape``, checked to
    compute what the file's graph computes; also its output shape."""
    _check_options(where, block.add.get("config", {}), ())
    layers, out = _convert(block.entries, shape)
    activation = None
    if block.activation is not None:
        act_config = block.activation.get("config", {})
        act_where = f"layer {act_config.get('name')!r} (Activation)"
        _check_options(act_where, act_config, {"activation"})
        activation = _activation(act_where, act_config)
    residual = L.Residual(layers, activation=activation, name=block.add["config"].get("name"))
    shape_in, shape_out = (tuple(keras_input_shape(s)) for s in (shape, out))  # as Keras says
    shapes = f"the block turns {shape_in} into {shape_out}"
    if block.shortcut is None:
        if out != shape:
            raise ValueError(f"{where} adds a block's input to its output, but {shapes}")
        return residual, out
    sc_config = block.shortcut.get("config", {})
    sc_where = f"layer {sc_config.get('name')!r} (Conv2D)"
    if out == shape:
        raise ValueError(f"{sc_where}: convnet's Residual projects its input only when the block "
                         f"changes its shape, and {shapes}")  # fmt: skip
    got = _convnet_layer("Conv2D", sc_config, sc_where).get_config()
    # What the Residual builds for these shapes (it raises if no 1x1 stride can match them).
    # 'same' or 'valid' padding pads nothing for a 1x1 kernel, so either is the same shortcut.
    want = L.Conv2D(out[0], 1, strides=residual._stride(shape, out)).get_config()
    bad = [f"{key}={got[key]!r}" for key in ("filters", "kernel_size", "strides", "use_bias",
                                            "activation") if got[key] != want[key]]  # fmt: skip
    if bad or got["padding"] not in ("valid", "same"):
        raise ValueError(
            f"{sc_where}: the shortcut of {residual.name!r} has {', '.join(bad or ['padding'])}; "
            f"convnet's Residual projects with Conv2D({want['filters']}, 1, strides="
            f"{want['strides']}), with a bias and no activation, where {shapes}"
        )
    return residual, out


def _graph_error(message: str) -> ValueError:
    return ValueError(
        f"{message}; convnet reads functional models of one input and one output whose layers "
        "form a line but for residual blocks, an Add of a block's output and of its input (or "
        "of a 1x1 Conv2D of its input), as convnet writes them"
    )


def _endpoint(body: dict, key: str) -> str:
    """The layer named by ``input_layers`` or ``output_layers``: one tensor, ``[name, 0, 0]``
    (Keras 3 writes several as a list of these)."""
    value = body.get(key)
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
        value = value[0]
    if not (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)
            and value[1:] == [0, 0]):  # fmt: skip
        raise _graph_error(f"the functional model has {key} {value!r}")
    return value[0]


def _sources(entry: dict, where: str) -> list[str]:
    """The names of the layers whose outputs ``entry`` takes: its one inbound node, in
    Keras 3's format (``{"args": [tensor, ...], "kwargs": {...}}``)."""
    nodes = entry.get("inbound_nodes")
    class_name = entry.get("class_name")
    if class_name == "InputLayer" and not nodes:
        return []
    if not (isinstance(nodes, list) and len(nodes) == 1 and isinstance(nodes[0], dict)):
        raise _graph_error(f"{where} has inbound_nodes {nodes!r}, not one call in Keras 3's "
                           "format")  # fmt: skip
    args, kwargs = nodes[0].get("args", []), nodes[0].get("kwargs") or {}
    if class_name == "Add" and len(args) == 1 and isinstance(args[0], list):
        args = args[0]  # Add takes one argument, the list of tensors to add
    # The call's options: a mask (Keras passes None) and training, which Keras overrides
    # whenever the model runs; anything else would change what the layer computes.
    bad = [f"{k}={v!r}" for k, v in kwargs.items()
           if not (k == "training" or (k == "mask" and v is None))]  # fmt: skip
    if bad:
        raise _graph_error(f"{where} is called with {', '.join(bad)}")
    names = []
    for arg in args:
        config = arg.get("config", {}) if isinstance(arg, dict) else {}
        history = config.get("keras_history") if isinstance(config, dict) else None
        if not (isinstance(history, list) and len(history) == 3 and isinstance(history[0], str)
                and history[1:] == [0, 0]):  # fmt: skip
            raise _graph_error(f"{where} takes {arg!r} as input")
        names.append(history[0])
    return names


def _functional_items(body: dict):
    """The layers of a functional model's graph as a line from input to output, each residual
    block (an Add of two branches) as one :class:`_Block`; also the InputLayer's entry.

    The graph is read backwards from the output. An ``Add`` of ``[block, skip]`` starts a
    block: if ``skip`` is a Conv2D whose output only the Add takes, it is the shortcut's
    projection and the block starts at its input; otherwise the block starts at ``skip``.
    The block is then read back from ``block`` to that start, and the line goes on from the
    start. Every layer must be reached exactly once.
    """
    entries = body.get("layers")
    if not isinstance(entries, list) or not entries:
        raise ValueError("the functional model_config has no layers")
    by_name, sources = {}, {}
    for entry in entries:
        entry = entry if isinstance(entry, dict) else {}
        config = entry.get("config") if isinstance(entry.get("config"), dict) else {}
        name = entry.get("name", config.get("name"))
        where = f"layer {name!r} ({entry.get('class_name')})"
        if not isinstance(name, str) or config.get("name", name) != name:
            raise _graph_error(f"{where} has no name, or two names ({config.get('name')!r})")
        if name in by_name:
            raise _graph_error(f"the functional model has two layers named {name!r}")
        by_name[name], sources[name] = entry, _sources(entry, where)
    first, last = _endpoint(body, "input_layers"), _endpoint(body, "output_layers")
    consumers = {name: [] for name in by_name}
    for name, names in sources.items():
        for source in names:
            if source not in by_name:
                raise _graph_error(f"layer {name!r} takes the output of {source!r}, which the "
                                   "model does not have")  # fmt: skip
            consumers[source].append(name)
    if by_name.get(first, {}).get("class_name") != "InputLayer":
        raise _graph_error(f"the model's input {first!r} is not an InputLayer")
    if last not in by_name:
        raise _graph_error(f"the model's output {last!r} is not one of its layers")
    used = set()

    def line(tensor: str, stop: str) -> list:
        """The items from the output of ``stop`` (exclusive) to that of ``tensor``."""
        items, after = [], tensor
        while tensor != stop:
            entry = by_name[tensor]
            where = f"layer {tensor!r} ({entry.get('class_name')})"
            if tensor == first:
                raise _graph_error(f"the layers before layer {after!r} do not lead back to "
                                   f"{stop!r}")  # fmt: skip
            if tensor in used:
                raise _graph_error(f"{where} is reached twice")
            used.add(tensor)
            after, names = tensor, sources[tensor]
            if entry.get("class_name") == "Add":
                item, tensor = block(tensor, None)
            elif (entry.get("class_name") == "Activation" and len(names) == 1
                  and tensor == f"{names[0]}_activation"
                  and by_name[names[0]].get("class_name") == "Add"):  # fmt: skip
                used.add(names[0])  # the block's activation, after its sum
                item, tensor = block(names[0], entry)
            elif len(names) != 1:
                raise _graph_error(f"{where} takes {len(names)} inputs")
            else:
                item, tensor = entry, names[0]
            items.append(item)
        items.reverse()
        return items

    def block(add: str, activation):
        """The residual block summed by the Add ``add``, and the layer it starts from."""
        where = f"layer {add!r} (Add)"
        names = sources[add]
        if len(names) != 2:
            raise _graph_error(f"{where} adds {len(names)} tensors, not a block's output and "
                               "its input")  # fmt: skip
        out, skip = names
        shortcut, start = None, skip
        if (by_name[skip].get("class_name") == "Conv2D" and consumers[skip] == [add]
                and len(sources[skip]) == 1):  # fmt: skip
            shortcut, start = by_name[skip], sources[skip][0]
            used.add(skip)
        inner = line(out, start)
        if not inner:
            raise _graph_error(f"{where} adds a tensor to itself or to its own projection")
        return _Block(by_name[add], inner, shortcut, activation), start

    items = line(last, first)
    unused = sorted(set(by_name) - used - {first})
    if unused:
        raise _graph_error(f"the layers {unused} are not on the way from input to output")
    return items, by_name[first]


def _zero_padding(padding) -> tuple:
    """Keras's ZeroPadding2D ``padding`` (``p``, ``(ph, pw)`` or ``((top, bottom), (left,
    right))``) as convnet's ``(top, bottom, left, right)``."""
    rows, cols = (padding, padding) if isinstance(padding, int) else padding
    rows = (rows, rows) if isinstance(rows, int) else tuple(rows)
    cols = (cols, cols) if isinstance(cols, int) else tuple(cols)
    return (*rows, *cols)


def known_metrics(config: dict) -> list[str]:
    """The metrics of a ``training_config`` that convnet measures (:data:`convnet.metrics.METRICS`,
    Keras's other names for accuracy included); others, and Keras's per-output lists and
    dicts, are left out, so that a file never fails to load for a metric.

    Examples
    --------
    >>> known_metrics({"metrics": ["acc", "sparse_top_k_categorical_accuracy", "auc"]})
    ['acc', 'sparse_top_k_categorical_accuracy']
    >>> known_metrics({"metrics": None})
    []
    """
    return [m for m in config.get("metrics") or []
            if isinstance(m, str) and ACCURACY_ALIASES.get(m, m) in METRICS]  # fmt: skip


def compile_args(config: dict):
    """The optimizer and loss of a Keras ``training_config``.

    Returns
    -------
    optimizer : Optimizer
        With the file's hyperparameters (its state is read separately).
    loss : Loss

    Raises
    ------
    ValueError
        A loss, optimizer or optimizer option convnet does not have.

    Examples
    --------
    >>> opt, loss = compile_args({"loss": "categorical_crossentropy", "optimizer_config": {
    ...     "class_name": "Adam", "config": {"name": "adam", "learning_rate": 0.01,
    ...                                      "amsgrad": False, "clipnorm": None}}})
    >>> opt, loss
    (Adam(learning_rate=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-07), CategoricalCrossentropy(from_logits=False))
    """  # noqa: E501
    loss_entry = config.get("loss")
    from_logits = False
    if isinstance(loss_entry, dict):  # a serialized Loss object
        by_class = {v: k for k, v in _LOSS_CLASSES.items()}
        loss_config = loss_entry.get("config") or {}
        from_logits = bool(loss_config.get("from_logits", False))
        loss_entry = by_class.get(loss_entry.get("class_name"), loss_entry.get("class_name"))
    if loss_entry not in _LOSS_CLASSES:
        raise ValueError(f"the training_config has loss {loss_entry!r}; convnet has "
                         f"{', '.join(_LOSS_CLASSES)}")  # fmt: skip
    loss = losses.get(loss_entry)
    loss.from_logits = from_logits

    opt_entry = config.get("optimizer_config") or {}
    class_name = str(opt_entry.get("class_name", "")).removeprefix("Custom>")  # tf.keras 2
    name = {v.lower(): k for k, v in _OPTIMIZER_CLASSES.items()}.get(class_name.lower())
    if name is None:
        raise ValueError(f"the training_config has optimizer {class_name!r}; convnet has "
                         f"{', '.join(_OPTIMIZER_CLASSES.values())}")  # fmt: skip
    known = optimizers.get(name).get_config()
    opt_config = dict(opt_entry.get("config") or {})
    if "lr" in opt_config:  # Keras 2.0-2.2 spelling
        opt_config.setdefault("learning_rate", opt_config.pop("lr"))
    kwargs, bad = {}, []
    for key, value in opt_config.items():
        if key in known:
            if not isinstance(value, (int, float)):
                bad.append(f"{key}={value!r}")  # e.g. a learning-rate schedule
            kwargs[key] = value
        elif key in _OPTIMIZER_NEUTRAL:
            if value not in (None, _OPTIMIZER_NEUTRAL[key]):
                bad.append(f"{key}={value!r}")
        elif key not in _OPTIMIZER_IGNORED and value is not None:
            bad.append(f"{key}={value!r}")
    if EXCLUDE_KEY in config:
        if "exclude_from_weight_decay" not in known:
            bad.append(f"{EXCLUDE_KEY}={config[EXCLUDE_KEY]!r}")
        kwargs["exclude_from_weight_decay"] = config[EXCLUDE_KEY]
    if bad:
        raise ValueError(f"the optimizer {class_name} uses {', '.join(bad)}, which convnet does "
                         "not implement")  # fmt: skip
    return optimizers.get(name, **kwargs), loss
