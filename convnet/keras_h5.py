"""A model's Keras HDF5 file (``mnist.h5``): saved, and read back into a model, with h5py.

Reading order: ... → callbacks → data → **14. file I/O** (:mod:`convnet.keras_config`, this
module, then :mod:`convnet.io`). Docs chapter: "The mnist.h5 file" (``docs/model-file.md``,
the full layout).

convnet writes the legacy HDF5 layout of Keras (what ``keras_model.save('mnist.h5')`` writes),
so ``keras.models.load_model('mnist.h5')`` opens a convnet model, and convnet opens the
``mnist.h5`` files of Keras 3 and of tf.keras 2::

    /                        attributes model_config, training_config (JSON), keras_version,
                             backend; convnet's own: convnet_version, convnet_seed,
                             convnet_class_names, convnet_metadata (JSON) and, in
                             checkpoints, convnet_resume (JSON)
    /model_weights           attribute layer_names; one group per layer, attribute weight_names
        /conv2d/sequential/conv2d/kernel   (KH, KW, C, F)    Keras's layout
        /conv2d/sequential/conv2d/bias     (F,)
        /batch_normalization/sequential/batch_normalization/gamma, beta, moving_mean,
                             moving_variance: (C,) each, trained parameters first
    /optimizer_weights       attribute weight_names: iteration, learning_rate, then the
                             optimizer's state arrays in Keras's order

A model with residual blocks is a functional model in Keras (:func:`convnet.keras_config.
functional_config`). Its file differs in three ways, as Keras's own do: ``layer_names`` starts
with the ``input_layer`` and lists the layers in the order Keras gives them
(:func:`convnet.keras_config.keras_order`), weight paths do not start with the model's name
(``/conv2d/conv2d/kernel``), nor do the optimizer's (``adam/conv2d_kernel_momentum``).
Everything a model keeps is saved and read back: its parameters and, after them in each
layer, its state (``model.weights()``).

Keras keeps arrays in other layouts than convnet: images are ``(H, W, C)``, conv kernels
``(KH, KW, C, F)``, and a Flatten therefore lists an image's values in ``(H, W, C)`` order.
:func:`to_keras` and :func:`from_keras` are the one place where arrays change layout, for
weights and optimizer state alike.

Reading checks everything before anything is used: links that point elsewhere, the layers
and their options, the number, names and shapes of the weights. A file that fails any check
raises ``ValueError`` saying what is wrong; nothing is ever half-loaded. Every save is atomic
(:class:`convnet.files.atomic_write`): an interrupted save leaves the previous file as it was.

This module works on a model that exists: it saves one, and reads weights and optimizer state
into one. It never imports :mod:`convnet.model`, which imports it (``Sequential.save``). Where
a file must become a new model, :func:`read_model` is given the class to make it with, and
:mod:`convnet.io` (``load_model``, ``load_checkpoint``) passes it ``Sequential``.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from convnet import keras_config
from convnet import layers as L
from convnet._version import __version__
from convnet.files import atomic_write

if TYPE_CHECKING:  # for the type hints only: convnet.model imports this module
    from convnet.model import Sequential

__all__ = [
    "to_keras",
    "from_keras",
    "save_model",
    "save_weights",
    "load_weights",
    "read_model",
    "Checkpoint",
    "save_checkpoint",
    "read_checkpoint",
]

#: Keras 3's load_model needs a backend name; "tensorflow" is what Keras writes by default.
BACKEND = "tensorflow"

#: The order in which Keras creates an optimizer's state arrays, after ``iteration`` and
#: ``learning_rate``. Each tuple is one group: Keras walks through the parameters (in model
#: order, kernel before bias) and creates the group's slots for each parameter in turn.
KERAS_SLOT_ORDER = {
    "sgd": (("momentum",),),
    "adam": (("momentum", "velocity"),),
    "adamw": (("momentum", "velocity"),),  # Keras's AdamW is its Adam with weight decay
    "rmsprop": (("velocity",), ("momentum",)),
    "adadelta": (("accumulated_grad", "accumulated_delta_var"),),
}


# -- the one place where array layouts change --------------------------------------------------


def keras_layouts(model: Sequential) -> dict:
    """How each array's layout differs in Keras, by its name in ``model.weights()``
    (``'dense/kernel'``, ``'residual/conv2d_1/kernel'``).

    ``"conv"`` for conv kernels; ``("chw", (C, H, W))`` for the arrays whose entries follow
    the order of a Flatten of ``(C, H, W)`` images: the rows of the kernel of the first Dense
    after it, and the per-feature vectors of a BatchNormalization between the two; ``None``
    where the layouts agree (biases, other dense kernels, BatchNormalization of channels, whose
    vectors have one entry per channel in both).

    Examples
    --------
    >>> from convnet.layers import Conv2D, Dense, Flatten
    >>> from convnet.model import Sequential
    >>> model = Sequential([Conv2D(2, 3), Flatten(), Dense(3)], input_shape=(1, 4, 4))
    >>> keras_layouts(model)
    {'conv2d/kernel': 'conv', 'conv2d/bias': None, 'dense/kernel': ('chw', (2, 2, 2)), 'dense/bias': None}

    Raises
    ------
    ValueError
        A Flatten of images whose output reaches the model's output, or a residual block,
        without a Dense: its values would come out in a different order in Keras.
    """  # noqa: E501
    layouts = {}
    flattened = _layouts(model.layers, "", None, layouts)
    if flattened is not None:
        raise ValueError(
            f"{model.name}: a Flatten of {flattened} images reaches the output without a Dense "
            "layer; Keras flattens in (H, W, C) order and convnet in (C, H, W), so the outputs "
            "would differ. End the model with a Dense layer."
        )
    return layouts


def _layouts(layers, prefix: str, flattened, layouts: dict):
    """Fill ``layouts`` for ``layers`` (whose names get ``prefix``), the output of a Flatten
    of images of shape ``flattened`` (or None) coming in; what goes out."""
    for layer in layers:
        key = f"{prefix}{layer.name}/"
        if isinstance(layer, L.Residual):
            # The sum would add vectors in two different orders: refuse, as at the output.
            if flattened is not None or _layouts(layer.sublayers, key, None, layouts):
                raise ValueError(f"{layer.name}: a residual block of the output of a Flatten "
                                 "of images cannot be written for Keras, which flattens in "
                                 "another order; put a Dense layer before the block")  # fmt: skip
            continue
        vectors = isinstance(layer, L.BatchNormalization) and flattened is not None
        for name in [*layer.params, *layer.state]:
            layouts[key + name] = ("chw", flattened) if vectors else None
        if isinstance(layer, L.Conv2D):
            layouts[key + "kernel"] = "conv"
        elif isinstance(layer, L.Flatten) and len(layer.input_shape) == 3:
            flattened = layer.input_shape
        elif isinstance(layer, L.Dense) and flattened is not None:
            layouts[key + "kernel"] = ("chw", flattened)
            flattened = None
    return flattened


def keras_shape(shape, layout) -> tuple:
    """The shape Keras stores a parameter of convnet shape ``shape`` with.

    Examples
    --------
    >>> keras_shape((32, 1, 3, 3), "conv"), keras_shape((9216, 128), ("chw", (64, 12, 12)))
    ((3, 3, 1, 32), (9216, 128))
    """
    if layout == "conv":
        f, c, kh, kw = shape
        return (kh, kw, c, f)
    return tuple(shape)


def to_keras(value: np.ndarray, layout) -> np.ndarray:
    """A parameter (or optimizer state of the same shape) in Keras's layout.

    Parameters
    ----------
    value : ndarray
        Conv kernel ``(F, C, KH, KW)``; dense kernel ``(D_in, D_out)``; bias; a
        BatchNormalization's vector ``(C,)`` or ``(D,)``.
    layout : None, "conv" or ("chw", (C, H, W))
        From :func:`keras_layouts`.

    Returns
    -------
    ndarray
        Conv kernel ``(KH, KW, C, F)``. For ``("chw", (C, H, W))`` the dense kernel
        ``(C*H*W, D_out)`` with its rows reordered, or the vector ``(C*H*W,)`` with its entries
        reordered: row ``(c*H + h)*W + w`` (convnet's flatten order) moves to row
        ``(h*W + w)*C + c`` (Keras's). Otherwise ``value``.

    Examples
    --------
    >>> w = np.arange(6).reshape(6, 1)            # rows 0..5 = (c, h, w) for C=2, H=1, W=3
    >>> to_keras(w, ("chw", (2, 1, 3))).ravel()   # Keras: (h, w, c)
    array([0, 3, 1, 4, 2, 5])
    >>> to_keras(np.arange(6), ("chw", (2, 1, 3)))   # a vector: the same reorder
    array([0, 3, 1, 4, 2, 5])
    >>> to_keras(np.zeros((32, 1, 3, 3)), "conv").shape
    (3, 3, 1, 32)
    """
    if layout == "conv":
        return value.transpose(2, 3, 1, 0)
    if layout is not None:
        c, h, w = layout[1]
        return value.reshape(c, h, w, -1).transpose(1, 2, 0, 3).reshape(value.shape)
    return value


def from_keras(value: np.ndarray, layout) -> np.ndarray:
    """The inverse of :func:`to_keras`: a Keras array in convnet's layout.

    Examples
    --------
    >>> w = np.random.default_rng(0).random((2 * 3 * 4, 5))
    >>> bool((from_keras(to_keras(w, ("chw", (2, 3, 4))), ("chw", (2, 3, 4))) == w).all())
    True
    >>> from_keras(np.zeros((3, 3, 1, 32)), "conv").shape
    (32, 1, 3, 3)
    """
    if layout == "conv":
        return value.transpose(3, 2, 0, 1)
    if layout is not None:
        c, h, w = layout[1]
        return value.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(value.shape)
    return value


# -- writing ------------------------------------------------------------------------------------


def _json(value, what: str) -> str:
    def plain(obj):  # NumPy scalars and arrays, as they turn up in histories
        if isinstance(obj, (np.generic, np.ndarray)):
            return obj.tolist()
        raise TypeError(f"{type(obj).__name__} is not JSON serialisable")

    try:
        return json.dumps(value, default=plain)
    except TypeError as err:
        raise ValueError(f"{what} must be JSON-serialisable: {err}") from None


def _create_array(group, name: str, value: np.ndarray) -> None:
    """One dataset; arrays carry HDF5's Fletcher-32 checksum, so damage is found on reading."""
    value = np.ascontiguousarray(value)
    if value.ndim and value.size:
        group.create_dataset(name, data=value, chunks=value.shape, fletcher32=True)
    else:
        group.create_dataset(name, data=value)


def _names_attr(group, name: str, names: list) -> None:
    # Keras writes an empty float array for "no names"; h5py cannot store an empty str list.
    group.attrs[name] = names if names else np.zeros(0)


@dataclass
class _Plan:
    """Where the arrays of a model go in its Keras file.

    Attributes
    ----------
    config : dict or None
        The ``model_config`` (None when reading into a Sequential model, which needs none).
    layers : list of (str, list of (str, str))
        Each layer of the file in the file's order, with its arrays: the array's name in the
        layer (``kernel``) and its key in ``model.weights()`` (``residual/conv2d_1/kernel``).
        A layer without arrays (a ZeroPadding2D, an Add) has an empty list.
    prefix : str
        What Keras 3 puts before ``layer/array`` in a weight's path: the model's name and a
        slash for a Sequential model (``sequential/dense/kernel``), nothing for a functional
        one (``dense/kernel``).
    layouts : dict
        :func:`keras_layouts`.
    """

    config: dict | None
    layers: list
    prefix: str
    layouts: dict


def _plan(model: Sequential, *, writing: bool) -> _Plan:
    """The :class:`_Plan` of ``model``.

    Keras's loader gives the file's layers that have weights to the model's layers that have
    weights, in order. For a Sequential model both orders are the model's. A model with
    residual blocks is functional in Keras, whose layers Keras puts in an order of its own
    (:func:`convnet.keras_config.keras_order`): the file lists them in that order.
    """
    layouts = keras_layouts(model)  # first: it refuses what Keras cannot compute the same way
    leaves = {}  # name -> (layer, its key prefix in model.weights())

    def collect(layers, prefix):
        for layer in layers:
            if isinstance(layer, L.Residual):  # its layers are the file's, under their names
                collect(layer.sublayers, f"{prefix}{layer.name}/")
            else:
                leaves[layer.name] = (layer, prefix)

    collect(model.layers, "")
    functional = any(isinstance(layer, L.Residual) for layer in L.walk(model.layers))
    config = keras_config.model_config(model) if writing or functional else None
    if config is None:
        names = [layer.name for layer in model.layers]
    else:  # Keras lists the InputLayer among the layers of a functional model only
        entries = config["config"]["layers"][0 if functional else 1 :]
        names = [entry["config"]["name"] for entry in entries]
    layers = []
    for name in names:
        layer, prefix = leaves.get(name, (None, ""))  # None: ZeroPadding2D, Add, InputLayer...
        arrays = [] if layer is None else [*layer.params, *layer.state]
        layers.append((name, [(a, f"{prefix}{name}/{a}") for a in arrays]))
    return _Plan(config, layers, "" if functional else f"{model.name}/", layouts)


def _write_weights(group, model: Sequential, plan: _Plan) -> None:
    """The ``model_weights`` layout: names of all layers, then one group per layer, holding
    its trained parameters and then its state (BatchNormalization's moving statistics)."""
    _names_attr(group, "layer_names", [name for name, _ in plan.layers])
    group.attrs["backend"] = BACKEND
    group.attrs["keras_version"] = keras_config.KERAS_VERSION
    weights = model.weights()
    for name, arrays in plan.layers:
        layer_group = group.create_group(name)
        paths = [f"{plan.prefix}{name}/{a}" for a, _ in arrays]  # as Keras 3 names them
        _names_attr(layer_group, "weight_names", paths)
        for path, (_, key) in zip(paths, arrays, strict=True):
            _create_array(layer_group, path, to_keras(weights[key], plan.layouts[key]))
    _names_attr(group.create_group("top_level_model_weights"), "weight_names", [])


def _optimizer_entries(model: Sequential, opt, plan: _Plan) -> list[tuple[str, str, str]]:
    """``(parameter key, slot, Keras's name)`` of every state array of ``opt``, in Keras's
    order: the trained parameters in the file's order of layers, slot group by slot group."""
    params = model.parameters()
    paths = [(f"{plan.prefix}{name}/{a}", key) for name, arrays in plan.layers
             for a, key in arrays if key in params]  # fmt: skip
    groups = [[s for s in group if s in opt.slot_names] for group in KERAS_SLOT_ORDER[opt.name]]
    return [(key, slot, f"{opt.name}/{path.replace('/', '_')}_{slot}")
            for group in groups for path, key in paths for slot in group]  # fmt: skip


def _write_optimizer(f, model: Sequential, plan: _Plan) -> None:
    opt, params = model.optimizer, model.parameters()
    entries = _optimizer_entries(model, opt, plan)
    names = [f"{opt.name}/iteration", f"{opt.name}/learning_rate"] + [e[2] for e in entries]
    group = f.create_group("optimizer_weights")
    _names_attr(group, "weight_names", names)
    group.create_dataset(names[0], data=np.int64(opt.iterations))
    group.create_dataset(names[1], data=np.asarray(opt.learning_rate, dtype=model.dtype))
    for param, slot, name in entries:
        # A slot the optimizer has not created yet is zeros, as Keras's are before a step.
        value = opt.slots[slot].get(param, np.zeros_like(params[param]))
        _create_array(group, name, to_keras(value, plan.layouts[param]))


def _write(model: Sequential, path, *, weights_only=False, metadata=None, include_optimizer=True,
           resume=None) -> None:  # fmt: skip
    """Write a model file (or, with ``weights_only``, a weights file) atomically."""
    if not model.built:
        raise ValueError(f"{model.name}: build the model before saving it (give input_shape=)")
    plan = _plan(model, writing=True)
    compiled = not weights_only and include_optimizer and model.optimizer is not None
    attrs = {"convnet_version": __version__}
    if not weights_only:
        attrs.update({
            "model_config": json.dumps(plan.config),
            "keras_version": keras_config.KERAS_VERSION,
            "backend": BACKEND,
            "convnet_seed": json.dumps(model.seed),
            "convnet_class_names": json.dumps(model.class_names),
            "convnet_metadata": _json(model.metadata if metadata is None else metadata,
                                      "metadata"),
        })  # fmt: skip
    if compiled:
        attrs["training_config"] = json.dumps(keras_config.training_config(model))
    if resume is not None:
        attrs["convnet_resume"] = _json(resume, "the checkpoint's history and settings")
    # libver: HDF5 1.8's format or newer, which allows attributes over 64 KiB (a long
    # training history) and which every HDF5 since 2008 reads.
    with atomic_write(path) as tmp, h5py.File(tmp, "w", libver=("v108", "latest")) as f:
        f.attrs.update(attrs)
        weights = f if weights_only else f.create_group("model_weights")
        _write_weights(weights, model, plan)
        if compiled:
            _write_optimizer(f, model, plan)


def save_model(model: Sequential, path, *, metadata=None, include_optimizer: bool = True) -> None:
    """Write ``model`` to ``path`` as a Keras HDF5 model file.

    Parameters
    ----------
    model : Sequential
        A built model.
    path : str or Path
    metadata : dict, optional
        JSON-serialisable extras (training history, data split, timings), stored in the
        ``convnet_metadata`` attribute. Left out, ``model.metadata`` is written.
    include_optimizer : bool
        Also write the training configuration and the optimizer's state (when compiled), as
        Keras does: Keras then compiles the loaded model, and training can go on.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from convnet.io import load_model
    >>> from convnet.layers import Dense
    >>> from convnet.model import Sequential
    >>> model = Sequential([Dense(3, activation="softmax")], input_shape=(4,), seed=0)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.h5"
    >>> save_model(model, path, metadata={"note": "untrained"})
    >>> x = np.ones((2, 4), np.float32)
    >>> loaded = load_model(path)
    >>> bool((loaded.predict(x) == model.predict(x)).all()), loaded.metadata
    (True, {'note': 'untrained'})
    """
    _write(model, path, metadata=metadata, include_optimizer=include_optimizer)


def save_weights(model: Sequential, path) -> None:
    """Write only the weights, in Keras's weights-file layout (``model_weights`` at the root).

    Keras reads it with ``keras_model.load_weights(path)`` when the name ends in ``.h5`` but
    not in ``.weights.h5`` (that suffix means Keras's newer format).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from convnet.layers import Dense
    >>> from convnet.model import Sequential
    >>> a = Sequential([Dense(3)], input_shape=(4,), seed=0)
    >>> b = Sequential([Dense(3)], input_shape=(4,), seed=1)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "w.h5"
    >>> save_weights(a, path); load_weights(b, path)
    >>> bool((a.layers[0].params["kernel"] == b.layers[0].params["kernel"]).all())
    True
    """
    _write(model, path, weights_only=True)


# -- reading ------------------------------------------------------------------------------------


def _text(value) -> str:
    """Attributes come back as str or bytes, depending on who wrote them."""
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _names(group, name: str) -> list[str]:
    return [_text(v) for v in group.attrs.get(name, [])]


def _json_attr(f, name: str, path, default=None):
    """The root attribute ``name`` parsed as JSON (``default`` if there is none); an attribute
    that is not JSON is a ValueError naming it and the file."""
    if name not in f.attrs:
        return default
    try:
        return json.loads(_text(f.attrs[name]))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: the {name} attribute is not valid JSON ({err}); the file "
                         "is damaged or was not written by Keras or convnet") from None  # fmt: skip


def _link_kind(link) -> str:
    """``an external link to /x in other.h5``: what a link that is not a hard link is."""
    if isinstance(link, h5py.SoftLink):
        return f"a soft link to {link.path}"
    if isinstance(link, h5py.ExternalLink):
        return f"an external link to {link.path} in {link.filename}"
    return f"a link of another kind ({type(link).__name__})"


def _check_links(f, path) -> None:
    """Refuse soft and external links and datasets stored outside the file: weights must be
    this file's own bytes."""

    def check(name, obj):
        if isinstance(obj, h5py.Dataset):
            if obj.external or obj.is_virtual:
                raise ValueError(f"{path}: dataset {obj.name} keeps its data in other files; "
                                 "convnet reads only self-contained files")  # fmt: skip
            return
        for child in obj:
            link = obj.get(child, getlink=True)
            if not isinstance(link, h5py.HardLink):
                where = f"{obj.name.rstrip('/')}/{child}"
                raise ValueError(f"{path}: {where} is {_link_kind(link)}; convnet reads "
                                 "only self-contained files without soft or external links")

    check("/", f)
    f.visititems(check)  # every object once, following only hard links


@contextlib.contextmanager
def _open(path):
    """Open a model file for reading; any HDF5 failure becomes a ValueError naming the file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no model file at {path}; train one with "
                                "`python examples/train_mnist.py`")  # fmt: skip
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"{path} is not a readable HDF5 file ({err}); it may be truncated or "
                         "not a model file") from None  # fmt: skip
    try:
        with f:
            _check_links(f, path)
            yield f
    except (OSError, KeyError, RuntimeError) as err:
        raise ValueError(f"{path}: could not be read ({err}); the file is damaged or "
                         "truncated") from None  # fmt: skip


def _weights_group(f, path):
    """``model_weights`` of a model file, or the root of a weights-only file."""
    if "layer_names" in f.attrs:
        return f
    if isinstance(f.get("model_weights"), h5py.Group):
        return f["model_weights"]
    raise ValueError(f"{path} is not a Keras model or weights file (no model_weights group "
                     "and no layer_names attribute)")  # fmt: skip


def _read_weights(group, model: Sequential, path) -> dict:
    """Every array of ``model.weights()`` from a ``model_weights`` group, in convnet's layout.

    Matched as Keras matches them: the file's layers that have weights, in order, to the
    model's layers that have weights, in the file's order (:func:`_plan`). Returns new
    arrays; nothing is assigned here.
    """
    plan = _plan(model, writing=False)
    weights = model.weights()
    stored = []
    for name in _names(group, "layer_names"):
        if not isinstance(group.get(name), h5py.Group):
            raise ValueError(f"{path}: layer_names lists {name!r}, which has no group")
        if _names(group[name], "weight_names"):
            stored.append(name)
    wanted = [(name, arrays) for name, arrays in plan.layers if arrays]
    if len(stored) != len(wanted):
        raise ValueError(
            f"{path}: the file has weights for {len(stored)} layers {stored}, the model has "
            f"{len(wanted)} layers with weights {[name for name, _ in wanted]}"
        )
    values = {}
    for (name, arrays), stored_name in zip(wanted, stored, strict=True):
        layer_group = group[stored_name]
        weight_names = _names(layer_group, "weight_names")
        if len(weight_names) != len(arrays):
            raise ValueError(f"{path}: layer {stored_name} has weights {weight_names}; "
                             f"{name} needs {[a for a, _ in arrays]}")  # fmt: skip
        for weight_name, (a, key) in zip(weight_names, arrays, strict=True):
            # 'sequential/dense/kernel' (Keras 3), 'dense/kernel' (Keras 3, functional) or
            # 'dense/kernel:0' (tf.keras 2)
            kind = weight_name.rsplit("/", 1)[-1].split(":")[0]
            dataset = None if weight_name.startswith("/") else layer_group.get(weight_name)
            if kind != a or not isinstance(dataset, h5py.Dataset):
                raise ValueError(f"{path}: layer {stored_name} lists weight {weight_name!r} "
                                 f"where {name} needs its {a}")  # fmt: skip
            layout = plan.layouts[key]
            want = keras_shape(weights[key].shape, layout)
            if dataset.shape != want or dataset.dtype.kind != "f":
                raise ValueError(
                    f"{path}: weight {weight_name} is {dataset.dtype} {dataset.shape}; "
                    f"{name} needs a float array of shape {want} (Keras's layout)"
                )
            values[key] = from_keras(dataset[()], layout)
    return values


def _assign(model: Sequential, values: dict) -> None:
    for name, array in model.weights().items():
        array[...] = values[name]  # in place: the optimizer keeps referring to these arrays


def _read_optimizer_state(f, model: Sequential, opt, path) -> dict | None:
    """The state of ``opt`` from ``optimizer_weights``, for :meth:`Optimizer.load_state_dict`."""
    group = f.get("optimizer_weights")
    if not isinstance(group, h5py.Group):
        return None  # the optimizer starts fresh, as in Keras
    iterations, arrays = 0, []
    for name in _names(group, "weight_names"):
        dataset = None if name.startswith("/") else group.get(name)
        if not isinstance(dataset, h5py.Dataset):
            raise ValueError(f"{path}: optimizer_weights lists {name!r}, which is not there")
        if dataset.shape == ():  # iteration, learning_rate (the latter is in training_config)
            if "iteration" in name.rsplit("/", 1)[-1]:
                iterations = int(dataset[()])
        else:
            arrays.append(dataset)
    state = {"iterations": np.int64(iterations)}
    if not arrays:  # an optimizer that has not taken a step yet
        return state
    plan = _plan(model, writing=False)
    entries = _optimizer_entries(model, opt, plan)
    if len(arrays) != len(entries):
        raise ValueError(
            f"{path}: optimizer_weights holds {len(arrays)} state arrays; a "
            f"{type(opt).__name__} with these options keeps {len(entries)} for this model. "
            "Load with compile=False to skip the optimizer."
        )
    params = model.parameters()
    for dataset, (param, slot, _) in zip(arrays, entries, strict=True):
        want = keras_shape(params[param].shape, plan.layouts[param])
        if dataset.shape != want:
            raise ValueError(f"{path}: optimizer state {dataset.name} has shape {dataset.shape}, "
                             f"expected {want} for the {slot} of {param}")  # fmt: skip
        state[f"{param}/{slot}"] = from_keras(dataset[()], plan.layouts[param]).astype(model.dtype)
    return state


def _class_names(f, model: Sequential, path) -> list | None:
    """The ``convnet_class_names`` of a file, checked against the model's outputs; None when
    the file has none (Keras's files): the model then names its classes "0", "1", ..."""
    if "convnet_class_names" not in f.attrs:
        return None
    names = _json_attr(f, "convnet_class_names", path)
    outputs = model.output_shape[-1]
    if not (isinstance(names, list) and len(names) == outputs
            and all(isinstance(name, str) for name in names)):  # fmt: skip
        raise ValueError(f"{path}: convnet_class_names is {names!r}; expected a list of "
                         f"{outputs} strings, one name per output of the model")  # fmt: skip
    return names


def read_model(path, build, *, compile: bool):
    """The model in a file, and the file's ``convnet_resume`` record (None if it has none).

    :func:`convnet.io.load_model` is this function with ``build=Sequential``.

    Parameters
    ----------
    path : str or Path
    build : callable
        ``build(layers, input_shape=, seed=, dtype=, name=)`` makes the model: the class
        :class:`~convnet.model.Sequential`, given by the caller since this module cannot
        import it.
    compile : bool
        Compile the model with the file's loss and optimizer and restore the optimizer's
        state, when the file has a training configuration.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from convnet.layers import Dense
    >>> from convnet.model import Sequential
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "mnist.h5"
    >>> Sequential([Dense(2)], input_shape=(3,), seed=0).save(path)
    >>> model, resume = read_model(path, Sequential, compile=False)
    >>> type(model).__name__, model.layers[0].name, resume
    ('Sequential', 'dense', None)
    """
    with _open(path) as f:
        if "convnet_format" in f.attrs:
            raise ValueError(f"{path} is in convnet's earlier layout of its own (convnet-h5 "
                             "version 1), which Keras's layout has replaced; train the model "
                             "again to write it in the new layout")  # fmt: skip
        if "model_config" not in f.attrs:
            hint = "it has no model_config attribute"
            if "layer_names" in f.attrs:
                hint = "it holds weights only: build the model and call model.load_weights(path)"
            raise ValueError(f"{path} is not a Keras model file: {hint}")
        model_config = _json_attr(f, "model_config", path)
        try:
            layers, input_shape, name, dtype = keras_config.layers_from_config(model_config)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None
        seed = _json_attr(f, "convnet_seed", path)
        model = build(layers, input_shape=input_shape, seed=seed, dtype=dtype, name=name)
        values = _read_weights(_weights_group(f, path), model, path)
        class_names = _class_names(f, model, path)
        optimizer = loss = state = None
        metrics = []
        if compile and "training_config" in f.attrs:
            training_config = _json_attr(f, "training_config", path)
            metrics = keras_config.known_metrics(training_config)
            try:
                optimizer, loss = keras_config.compile_args(training_config)
            except ValueError as err:
                raise ValueError(f"{path}: {err}; load with compile=False to skip it") from None
            state = _read_optimizer_state(f, model, optimizer, path)
        metadata = _json_attr(f, "convnet_metadata", path, default={})
        resume = _json_attr(f, "convnet_resume", path)
    # Everything has been read and checked: only now does the model get its weights.
    _assign(model, values)
    model.metadata = metadata
    model.class_names = class_names
    if optimizer is not None:
        try:
            model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
        except ValueError as err:
            raise ValueError(f"{path}: {err}; load with compile=False to skip the training "
                             "configuration") from None  # fmt: skip
        if state is not None:
            optimizer.load_state_dict(state)
    return model, resume


def load_weights(model: Sequential, path) -> None:
    """Set ``model``'s weights from a weights file or a model file (Keras's or convnet's).

    Layers are matched in order, as Keras does, and every shape is checked before any weight
    changes: on error the model is as it was.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from convnet.layers import Dense
    >>> from convnet.model import Sequential
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "w.h5"
    >>> save_weights(Sequential([Dense(3)], input_shape=(4,), seed=0), path)
    >>> load_weights(Sequential([Dense(5)], input_shape=(4,), seed=0), path)  # doctest:+ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: .../w.h5: weight sequential/dense/kernel is float32 (4, 3); dense needs a ...
    """
    if not model.built:
        raise ValueError(f"{model.name}: build the model before loading weights into it")
    with _open(path) as f:
        values = _read_weights(_weights_group(f, path), model, path)
    _assign(model, values)


# -- checkpoints for resuming training ----------------------------------------------------------


@dataclass
class Checkpoint:
    """What :func:`convnet.io.load_checkpoint` returns: the compiled model with its optimizer
    state and dropout generators restored, and where training stopped.

    Attributes
    ----------
    model : Sequential
    epoch : int
        Epochs completed: pass it to ``fit`` as ``initial_epoch``.
    history : dict
        The logs of those epochs, as ``History.history``.
    settings : dict
        What the caller stored (the command line's options, say).
    """

    model: Sequential
    epoch: int
    history: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)


def _generators(model: Sequential) -> dict:
    """The random generators of the layers (dropout masks), those inside residual blocks
    included, by layer name."""
    return {layer.name: layer.rng for layer in L.walk(model.layers)
            if isinstance(getattr(layer, "rng", None), np.random.Generator)}  # fmt: skip


def save_checkpoint(model: Sequential, path, *, epoch: int, history=None, settings=None) -> None:
    """Write everything needed to resume training after ``epoch`` completed epochs.

    The file is a complete model file (Keras opens it too) whose ``convnet_resume``
    attribute adds the epoch, the history so far, ``settings``, and the state of every
    dropout layer's random generator, so that the resumed run draws the same masks.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from convnet.io import load_checkpoint
    >>> from convnet.layers import Dense, Dropout
    >>> from convnet.model import Sequential
    >>> model = Sequential([Dropout(0.5), Dense(2, activation="softmax")], input_shape=(3,),
    ...                    seed=0)
    >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "checkpoint.h5"
    >>> save_checkpoint(model, path, epoch=3, history={"loss": [0.9, 0.7, 0.6]})
    >>> ckpt = load_checkpoint(path)
    >>> ckpt.epoch, ckpt.history["loss"], type(ckpt.model.optimizer).__name__
    (3, [0.9, 0.7, 0.6], 'Adam')
    """
    if model.optimizer is None:
        raise ValueError(f"{model.name}: compile the model before writing a checkpoint")
    rng_states = {name: rng.bit_generator.state for name, rng in _generators(model).items()}
    resume = {"epoch": int(epoch), "history": history or {}, "settings": settings or {},
              "rng_states": rng_states}  # fmt: skip
    _write(model, path, metadata=None, include_optimizer=True, resume=resume)


def read_checkpoint(path, build) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`, making its model with ``build``.

    :func:`convnet.io.load_checkpoint` is this function with ``build=Sequential`` (see
    :func:`save_checkpoint` for a round trip).

    Examples
    --------
    A model file is not a checkpoint: it lacks the record of where training stopped.

    >>> import tempfile, pathlib
    >>> from convnet.layers import Dense
    >>> from convnet.model import Sequential
    >>> model = Sequential([Dense(2, activation="softmax")], input_shape=(3,), seed=0)
    >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "mnist.h5"
    >>> model.save(path)
    >>> read_checkpoint(path, Sequential)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: .../mnist.h5 is a model file, not a checkpoint: it lacks the convnet_resume ...

    Raises
    ------
    FileNotFoundError
    ValueError
        As :func:`convnet.io.load_model`; or a model file without the ``convnet_resume``
        record.
    """
    model, resume = read_model(path, build, compile=True)
    if resume is None or model.optimizer is None:
        raise ValueError(f"{path} is a model file, not a checkpoint: it lacks the "
                         "convnet_resume record or the optimizer needed to resume training")
    generators = _generators(model)
    for name, state in resume.get("rng_states", {}).items():
        if name not in generators:
            raise ValueError(f"{path}: a random generator state for {name!r}, which the model "
                             "does not have")  # fmt: skip
        generators[name].bit_generator.state = state
    return Checkpoint(model, int(resume["epoch"]), resume.get("history", {}),
                      resume.get("settings", {}))  # fmt: skip
