"""Keras's JSON descriptions of a model, of its layers and of its training, to and from convnet.

Reading order: ... → data → **14. file I/O** (this module, then :mod:`convnet.keras_h5` and
:mod:`convnet.io`). Docs chapter: "The mnist.h5 file" (``docs/model-file.md``).

A Keras ``.h5`` model file describes the network in two JSON attributes: ``model_config`` (the
``Sequential`` and its layers, each ``{"class_name": "Conv2D", "config": {...}}``) and
``training_config`` (loss and optimizer). This module translates those dictionaries; it knows
nothing about HDF5 or about weight arrays (:mod:`convnet.keras_h5` handles both).

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

from convnet import layers as L
from convnet import losses, optimizers
from convnet.metrics import ACCURACY_ALIASES, METRICS
from convnet.shapes import resolve_padding

__all__ = [
    "KERAS_VERSION",
    "model_config",
    "training_config",
    "layers_from_config",
    "compile_args",
]

#: The Keras release whose file layout convnet writes (and whose ``load_model`` reads it in
#: the tests). Written to the ``keras_version`` attribute.
KERAS_VERSION = "3.15.1"

#: Keras class names convnet reads, and the convnet class each becomes.
SUPPORTED = ("Conv2D", "MaxPooling2D", "AveragePooling2D", "Dense", "Flatten", "Dropout",
             "Activation", "ReLU", "LeakyReLU", "Softmax", "ZeroPadding2D")  # fmt: skip

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
}

#: Options that do not change what a loaded model computes or how it trains.
_IGNORED = {"name", "dtype", "kernel_initializer", "bias_initializer", "batch_input_shape",
            "batch_shape", "input_shape"}  # fmt: skip

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
        the input shape in Keras's ``(H, W, C)`` order.

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


def _convnet_layer(class_name: str, config: dict, where: str):
    """One convnet layer from one Keras entry (ZeroPadding2D is handled by the caller)."""
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
    raise ValueError(
        f"{where}: convnet has no {class_name} layer; it reads Sequential models made of "
        f"{', '.join(SUPPORTED)}"
    )


def layers_from_config(config: dict):
    """Rebuild the layers of a Keras ``model_config``, checking every option.

    Parameters
    ----------
    config : dict
        The parsed ``model_config`` attribute of a Keras 3 or tf.keras 2 file.

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
        Not a Sequential model; a layer, activation or option convnet does not have.

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
    if class_name != "Sequential":
        raise ValueError(
            f"the file holds a {class_name or 'model of unknown kind'}; convnet reads "
            "Sequential models (one input, layers in a line)"
        )
    body = config.get("config", {})
    keras_layers = body if isinstance(body, list) else body.get("layers", [])  # old Keras: a list
    body = body if isinstance(body, dict) else {}
    dtype = _dtype("the model", body.get("dtype") or "float32")
    input_shape = _input_shape(keras_layers, body)
    result, pending_pad = [], None
    for entry in keras_layers:
        class_name, layer_config = entry.get("class_name"), entry.get("config", {})
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
        layer = _convnet_layer(class_name, layer_config, where)
        if layer is not None:
            result.append(layer)
    if pending_pad is not None:
        raise ValueError(f"{pending_pad[0]}: convnet reads ZeroPadding2D only directly before a "
                         "Conv2D with padding='valid'")  # fmt: skip
    if not result:
        raise ValueError("the model_config has no layers")
    return result, input_shape, body.get("name", "sequential"), dtype


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
