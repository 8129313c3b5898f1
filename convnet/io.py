"""Saving and loading models as HDF5 files (``mnist.h5``), with h5py and no pickle.

Reading order: ... → callbacks → data → **13. file I/O**. Docs chapter: "The mnist.h5 format".

Layout written by :func:`save_model` (format ``convnet-h5`` version 1)::

    /                               attributes:
        convnet_format  = "convnet-h5"      format name and version, checked on load
        convnet_format_version = 1
        convnet_version = "0.1.0"
        model_config    = JSON: {"name", "input_shape", "dtype", "seed",
                                 "layers": [{"class_name": "Conv2D", "config": {...}}, ...]}
        training_config = JSON: loss, optimizer and its hyperparameters (when compiled)
        metadata        = JSON: anything the caller adds (history, data split, timings)
    /model_weights/<layer name>/<param name>   one dataset per parameter, convnet's own
                                               layout: conv kernels (F, C, KH, KW), dense
                                               kernels (D_in, D_out)

Every save is atomic: the file is written under a temporary name in the same folder,
flushed and fsync'ed, then renamed over the target, so an interrupted save never destroys
the previous file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import h5py

from convnet import __version__, layers
from convnet.model import Sequential

__all__ = ["save_model", "load_model", "atomic_write"]

FORMAT, FORMAT_VERSION = "convnet-h5", 1

_LAYER_CLASSES = {
    cls.__name__: cls
    for cls in (layers.Conv2D, layers.MaxPool2D, layers.AvgPool2D, layers.Dense, layers.Flatten,
                layers.Dropout, layers.Activation, layers.ReLU, layers.LeakyReLU, layers.Sigmoid,
                layers.Tanh, layers.Softmax)
}  # fmt: skip


class atomic_write:
    """Context manager giving a temporary path beside ``path``; renamed onto it on success.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_write(target) as tmp:
    ...     _ = pathlib.Path(tmp).write_text("hello")
    >>> target.read_text()
    'hello'
    """

    def __init__(self, path):
        self.path = Path(path)

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp",
                                        dir=self.path.parent)  # fmt: skip
        os.close(fd)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            Path(self.tmp).unlink(missing_ok=True)
            return False
        try:
            with open(self.tmp, "rb+") as f:  # the bytes must be on disk before the rename
                os.fsync(f.fileno())
            os.replace(self.tmp, self.path)  # atomic: readers see the old file or the new one
        except BaseException:
            Path(self.tmp).unlink(missing_ok=True)
            raise
        return False


def _layer_config(layer) -> dict:
    config = {k: v for k, v in layer.get_config().items()}
    if isinstance(layer, layers.Activation) and type(layer) is layers.Activation:
        config["activation"] = layer.activation
    return {"class_name": type(layer).__name__, "config": config}


def save_model(model: Sequential, path, *, metadata: dict | None = None) -> None:
    """Write ``model`` (architecture, weights, training configuration) to ``path``.

    Parameters
    ----------
    model : Sequential
        A built model.
    path : str or Path
    metadata : dict, optional
        JSON-serialisable extras: training history, data split, timings.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from convnet.layers import Dense
    >>> model = Sequential([Dense(3, activation="softmax")], input_shape=(4,), seed=0)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.h5"
    >>> save_model(model, path)
    >>> x = np.ones((2, 4), np.float32)
    >>> bool((load_model(path).predict(x) == model.predict(x)).all())
    True
    """
    if not model.built:
        raise ValueError(f"{model.name}: build the model before saving it")
    config = {"name": model.name, "input_shape": list(model.input_shape),
              "dtype": str(model.dtype), "seed": model.seed,
              "layers": [_layer_config(layer) for layer in model.layers]}  # fmt: skip
    training = None
    if model.loss is not None:
        training = {"loss": model.loss.name, "from_logits": model.loss.from_logits,
                    "optimizer": type(model.optimizer).__name__,
                    "optimizer_config": model.optimizer.get_config()}  # fmt: skip
    with atomic_write(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["convnet_format"] = FORMAT
            f.attrs["convnet_format_version"] = FORMAT_VERSION
            f.attrs["convnet_version"] = __version__
            f.attrs["model_config"] = json.dumps(config)
            if training is not None:
                f.attrs["training_config"] = json.dumps(training)
            f.attrs["metadata"] = json.dumps(metadata or {})
            weights = f.create_group("model_weights")
            for layer in model.layers:
                group = weights.create_group(layer.name)
                for name, value in layer.params.items():
                    group.create_dataset(name, data=value)


def load_model(path, *, compile: bool = True) -> Sequential:
    """Read a model written by :func:`save_model`.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Not a convnet model file, or weights that do not fit the architecture.
    """
    from convnet import losses, optimizers

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no model file at {path}; train one with "
                                "`python examples/train_mnist.py`")  # fmt: skip
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"{path} is not a readable HDF5 file ({err})") from None
    with f:
        if f.attrs.get("convnet_format") != FORMAT:
            raise ValueError(f"{path} is not a convnet model file (no convnet_format attribute)")
        config = json.loads(f.attrs["model_config"])
        model_layers = []
        for entry in config["layers"]:
            cls = _LAYER_CLASSES.get(entry["class_name"])
            if cls is None:
                raise ValueError(f"{path}: unknown layer class {entry['class_name']!r}")
            kwargs = dict(entry["config"])
            if cls in (layers.ReLU, layers.Sigmoid, layers.Tanh, layers.Softmax):
                kwargs.pop("activation", None)
            model_layers.append(cls(**kwargs))
        model = Sequential(model_layers, input_shape=tuple(config["input_shape"]),
                           seed=config["seed"], dtype=config["dtype"], name=config["name"])
        for layer in model.layers:
            group = f["model_weights"].get(layer.name)
            for name, value in layer.params.items():
                if group is None or name not in group:
                    raise ValueError(f"{path}: missing weights {layer.name}/{name}")
                stored = group[name]
                if stored.shape != value.shape:
                    raise ValueError(
                        f"{path}: weights {layer.name}/{name} have shape {stored.shape}, the "
                        f"architecture needs {value.shape}"
                    )
                value[...] = stored[()]
        model.metadata = json.loads(f.attrs.get("metadata", "{}"))
        if compile and "training_config" in f.attrs:
            training = json.loads(f.attrs["training_config"])
            opt = optimizers.get(training["optimizer"].lower(), **training["optimizer_config"])
            loss = losses.get(training["loss"])
            loss.from_logits = training["from_logits"]
            model.compile(optimizer=opt, loss=loss)
    return model
