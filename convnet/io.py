"""Loading a model or a checkpoint from a file: the two readers that make a new ``Sequential``.

Reading order: ... → callbacks → data → **14. file I/O** (:mod:`convnet.keras_config`,
:mod:`convnet.keras_h5`, then this module). Docs chapter: "The mnist.h5 file"
(``docs/model-file.md``).

Everything about the file itself is in :mod:`convnet.keras_h5`, which saves a model and reads
weights into one, and so never needs to import :mod:`convnet.model` (whose ``save`` uses it).
The two functions here make a new model from a file: they need
:class:`~convnet.model.Sequential`, so this module sits above the model. It also offers the
rest of the file API, imported from keras_h5, so that ``convnet.io`` has all of it:
:func:`~convnet.keras_h5.save_model`, :func:`~convnet.keras_h5.save_weights`,
:func:`~convnet.keras_h5.load_weights`, :func:`~convnet.keras_h5.save_checkpoint`,
:class:`~convnet.keras_h5.Checkpoint`, :func:`~convnet.keras_h5.to_keras` and
:func:`~convnet.keras_h5.from_keras`.
"""

from __future__ import annotations

from convnet.keras_h5 import (
    Checkpoint,
    from_keras,
    load_weights,
    read_checkpoint,
    read_model,
    save_checkpoint,
    save_model,
    save_weights,
    to_keras,
)
from convnet.model import Sequential

__all__ = [
    "to_keras",
    "from_keras",
    "save_model",
    "load_model",
    "save_weights",
    "load_weights",
    "Checkpoint",
    "save_checkpoint",
    "load_checkpoint",
]


def load_model(path, *, compile: bool = True) -> Sequential:
    """Read a model written by :func:`~convnet.keras_h5.save_model`, by Keras 3 or by tf.keras 2.

    Parameters
    ----------
    path : str or Path
    compile : bool
        Compile the model with the file's loss and optimizer (and restore the optimizer's
        state), when the file has a training configuration.

    Returns
    -------
    Sequential
        ``model.metadata`` holds the ``convnet_metadata`` of the file ({} for Keras files).

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Not an HDF5 file, not a Keras model file, damaged or truncated; a layer or option
        convnet does not have; weights that do not fit the architecture; soft or external
        links.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from convnet.layers import Dense
    >>> model = Sequential([Dense(2, activation="softmax")], input_shape=(3,), seed=0)
    >>> model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "mnist.h5"
    >>> model.save(path)
    >>> loaded = load_model(path)
    >>> loaded.layers[0].name, loaded.loss.name
    ('dense', 'sparse_categorical_crossentropy')
    >>> loaded.optimizer
    SGD(learning_rate=0.01, momentum=0.0, nesterov=False)
    >>> load_model(path, compile=False).optimizer is None
    True
    """
    return read_model(path, Sequential, compile=compile)[0]


def load_checkpoint(path) -> Checkpoint:
    """Read a checkpoint written by :func:`~convnet.keras_h5.save_checkpoint`: the compiled
    model, its optimizer state and dropout generators restored, and where training stopped.

    Raises
    ------
    FileNotFoundError
    ValueError
        As :func:`load_model`; or a model file without the ``convnet_resume`` record (see
        :func:`~convnet.keras_h5.read_checkpoint`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from convnet.layers import Dense
    >>> model = Sequential([Dense(2, activation="softmax")], input_shape=(3,), seed=0)
    >>> model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "checkpoint.h5"
    >>> save_checkpoint(model, path, epoch=1, settings={"batch_size": 128})
    >>> ckpt = load_checkpoint(path)
    >>> ckpt.epoch, ckpt.settings, ckpt.model.optimizer
    (1, {'batch_size': 128}, SGD(learning_rate=0.01, momentum=0.0, nesterov=False))
    """
    return read_checkpoint(path, Sequential)
