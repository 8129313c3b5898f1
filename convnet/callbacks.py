"""Callbacks: code that runs at fixed points of ``Sequential.fit``.

Reading order: ... → model → **12. callbacks** → data → file I/O. Docs chapter: "How a CNN
learns" (the training loop).

``fit`` calls the hooks of every callback, in the order the callbacks were given (the
History, which ``fit`` always adds, runs first; the progress display last)::

    on_train_begin(logs)
    for each epoch:
        on_epoch_begin(epoch, logs)
        for each batch:
            on_batch_begin(batch, logs)
            ...  forward, loss, backward, optimizer step
            on_batch_end(batch, logs)       # logs: loss, accuracy of this batch (before the step)
        ...  validation, if validation_data was given
        on_epoch_end(epoch, logs)           # logs: loss, accuracy (epoch means), val_loss,
                                            #       val_accuracy, learning_rate, seconds, img_per_s
                                            #       (and each further metric of model.metrics)
    on_train_end(logs)

Epochs and batches are counted from 0 in the hooks (and shown from 1). A callback stops
training by setting ``self.model.stop_training = True``; ``fit`` checks it after every batch
and every epoch and records why in ``model.stop_reason``.
"""

from __future__ import annotations

import csv
import math
import sys
import time
from pathlib import Path

import numpy as np

__all__ = [
    "Callback",
    "History",
    "ModelCheckpoint",
    "TrainingCheckpoint",
    "EarlyStopping",
    "LearningRateScheduler",
    "TerminateOnNaN",
    "CSVLogger",
    "ProgressLogger",
]


class Callback:
    """Base class: every hook does nothing. ``self.model`` is set by ``fit``.

    Examples
    --------
    A callback overrides the hooks it needs; this one counts the batches ``fit`` trains on:

    >>> from convnet import Sequential, layers
    >>> class CountBatches(Callback):
    ...     batches = 0
    ...     def on_batch_end(self, batch, logs=None):
    ...         self.batches += 1
    >>> model = Sequential([layers.Dense(2, activation="softmax")], input_shape=(3,), seed=0)
    >>> model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    >>> counter = CountBatches()
    >>> _ = model.fit(np.zeros((10, 3), np.float32), np.zeros(10, np.int64), epochs=2,
    ...               batch_size=4, callbacks=[counter], verbose=0)
    >>> counter.batches                     # 2 epochs of ceil(10 / 4) = 3 batches
    6
    """

    model = None

    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_batch_begin(self, batch, logs=None): ...
    def on_batch_end(self, batch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_train_end(self, logs=None): ...


class History(Callback):
    """Records every epoch's logs: ``history.history['val_accuracy'][-1]`` and so on.

    Examples
    --------
    >>> h = History()
    >>> h.on_train_begin()
    >>> h.on_epoch_end(0, {"loss": 0.5})
    >>> h.on_epoch_end(1, {"loss": 0.25})
    >>> h.history, h.epoch
    ({'loss': [0.5, 0.25]}, [0, 1])
    """

    def __init__(self):
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs=None):
        # Keep earlier epochs when fit is called again on the same History (resuming).
        pass

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


def _is_better(mode, monitor, current, best, min_delta=0.0):
    if mode == "auto":
        mode = "max" if "acc" in monitor else "min"
    if mode == "min":
        return current < best - min_delta
    if mode == "max":
        return current > best + min_delta
    raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")


def _initial_best(mode, monitor):
    if mode == "auto":
        mode = "max" if "acc" in monitor else "min"
    return -math.inf if mode == "max" else math.inf


def _monitored(logs, monitor, who):
    if monitor not in logs:
        raise ValueError(
            f"{who}: the quantity {monitor!r} is not in the epoch logs (available: "
            f"{sorted(logs)}); validation metrics need validation_data"
        )
    return logs[monitor]


class ModelCheckpoint(Callback):
    """Save the model at the end of an epoch, by default only when ``monitor`` improved.

    Parameters
    ----------
    filepath : str or Path
        May contain ``{epoch}`` and any log key, e.g. ``"ckpt-{epoch:02d}-{val_loss:.3f}.h5"``.
    monitor : str
    mode : 'auto', 'min' or 'max'
        'auto' maximises names containing "acc" and minimises the rest.
    save_best_only : bool
    verbose : int

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from convnet import Sequential, layers
    >>> model = Sequential([layers.Dense(2, activation="softmax")], input_shape=(3,), seed=0)
    >>> model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> every = ModelCheckpoint(folder / "epoch-{epoch}.h5", save_best_only=False)
    >>> _ = model.fit(np.ones((8, 3), np.float32), np.zeros(8, np.int64), epochs=2,
    ...               callbacks=[every], verbose=0)
    >>> sorted(p.name for p in folder.iterdir())
    ['epoch-1.h5', 'epoch-2.h5']
    """

    def __init__(self, filepath, monitor="val_loss", mode="auto", save_best_only=True,
                 verbose=0):  # fmt: skip
        self.filepath = str(filepath)
        self.monitor, self.mode = monitor, mode
        self.save_best_only, self.verbose = save_best_only, verbose
        self.best = _initial_best(mode, monitor)
        self.best_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if not self.save_best_only:
            self.model.save(path)
            return
        current = _monitored(logs, self.monitor, "ModelCheckpoint")
        if _is_better(self.mode, self.monitor, current, self.best):
            if self.verbose:
                print(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to "
                      f"{current:.5f}, saving the model to {path}")  # fmt: skip
            self.best, self.best_epoch = current, epoch
            self.model.save(path)


class TrainingCheckpoint(Callback):
    """Save everything needed to resume training, at the end of every epoch.

    The file (:func:`convnet.keras_h5.save_checkpoint`) is a full model file plus the optimizer's
    state, the number of epochs completed, the history so far, ``settings`` and the state of
    each dropout layer's random generator. To go on after an interruption::

        ckpt = convnet.io.load_checkpoint(path)
        ckpt.model.fit(x, y, epochs=12, initial_epoch=ckpt.epoch, seed=<the same seed>,
                       callbacks=[TrainingCheckpoint(path, history=ckpt.history)])

    With the same data, batch size and fit seed, the resumed run is the uninterrupted one,
    bit for bit. An epoch whose loss is not finite is not saved: the file keeps the last
    good epoch.

    Parameters
    ----------
    filepath : str or Path
    history : dict, optional
        Logs of the epochs trained before (when resuming); this run's are appended to them.
    settings : dict, optional
        JSON-serialisable; stored as it is (``python -m convnet train`` keeps its options).

    Attributes
    ----------
    history : dict
        The whole run's logs, earlier epochs included.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from convnet import Sequential, layers
    >>> from convnet.io import load_checkpoint
    >>> model = Sequential([layers.Dense(2, activation="softmax")], input_shape=(3,), seed=0)
    >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "checkpoint.h5"
    >>> x, y = np.ones((8, 3), np.float32), np.zeros(8, np.int64)
    >>> _ = model.fit(x, y, epochs=2, callbacks=[TrainingCheckpoint(path)], verbose=0)
    >>> ckpt = load_checkpoint(path)
    >>> ckpt.epoch, len(ckpt.history["loss"]), ckpt.model.optimizer.iterations
    (2, 2, 2)
    """

    def __init__(self, filepath, *, history=None, settings=None):
        self.filepath = filepath
        self._history = History()
        self._history.history = {key: list(values) for key, values in (history or {}).items()}
        self.settings = dict(settings or {})

    @property
    def history(self) -> dict:
        return self._history.history

    def on_epoch_end(self, epoch, logs=None):
        from convnet.keras_h5 import save_checkpoint

        logs = logs or {}
        if not math.isfinite(logs.get("loss", 0.0)):
            return
        self._history.on_epoch_end(epoch, logs)
        save_checkpoint(self.model, self.filepath, epoch=epoch + 1, history=self.history,
                        settings=self.settings)  # fmt: skip


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    With ``restore_best_weights=True`` the weights of the best epoch are put back at the end:
    every array of ``model.weights()``, BatchNormalization's moving statistics included.

    Examples
    --------
    >>> class Dummy: stop_training = False
    >>> stop = EarlyStopping(monitor="val_loss", patience=1)
    >>> stop.set_model(Dummy()); stop.on_train_begin()
    >>> for epoch, val in enumerate([0.5, 0.4, 0.45, 0.41]):
    ...     stop.on_epoch_end(epoch, {"val_loss": val})
    >>> stop.stopped_epoch, stop.model.stop_training
    (3, True)
    """

    def __init__(self, monitor="val_loss", patience=0, min_delta=0.0, mode="auto",
                 restore_best_weights=False):  # fmt: skip
        self.monitor, self.patience, self.min_delta, self.mode = monitor, patience, min_delta, mode
        self.restore_best_weights = restore_best_weights

    def on_train_begin(self, logs=None):
        self.best = _initial_best(self.mode, self.monitor)
        self.wait, self.stopped_epoch, self.best_weights = 0, None, None

    def on_epoch_end(self, epoch, logs=None):
        current = _monitored(logs or {}, self.monitor, "EarlyStopping")
        if _is_better(self.mode, self.monitor, current, self.best, self.min_delta):
            self.best, self.wait = current, 0
            if self.restore_best_weights:  # the moving statistics too: they belong to the epoch
                self.best_weights = {k: v.copy() for k, v in self.model.weights().items()}
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True
            self.model.stop_reason = (
                f"early stopping: {self.monitor} has not improved on {self.best:.5f} for "
                f"{self.wait} epochs"
            )

    def on_train_end(self, logs=None):
        if self.stopped_epoch is not None and self.best_weights is not None:
            for name, value in self.model.weights().items():
                value[...] = self.best_weights[name]


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch to ``schedule(epoch, lr)``.

    Examples
    --------
    >>> from convnet import Sequential, layers
    >>> model = Sequential([layers.Dense(2, activation="softmax")], input_shape=(3,), seed=0)
    >>> model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    >>> halve = LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch > 0 else lr)
    >>> history = model.fit(np.ones((4, 3), np.float32), np.zeros(4, np.int64), epochs=3,
    ...                     callbacks=[halve], verbose=0)
    >>> history.history["learning_rate"]
    [0.01, 0.005, 0.0025]
    """

    def __init__(self, schedule, verbose=0):
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        opt = self.model.optimizer
        lr = float(self.schedule(epoch, opt.learning_rate))
        if not math.isfinite(lr) or lr < 0:
            raise ValueError(f"LearningRateScheduler: schedule gave an invalid rate {lr!r}")
        opt.learning_rate = lr
        if self.verbose:
            print(f"Epoch {epoch + 1}: learning rate {lr:.6g}")


class TerminateOnNaN(Callback):
    """Stop training at the first batch whose loss is NaN or infinite, saying which batch.

    A diverging run (learning rate too high, say) otherwise fills every weight with NaN and
    goes on wasting time.

    Examples
    --------
    >>> class Dummy: stop_training = False
    >>> guard = TerminateOnNaN()
    >>> guard.set_model(Dummy())
    >>> guard.on_batch_end(0, {"loss": 2.3})
    >>> guard.model.stop_training
    False
    >>> guard.on_batch_end(1, {"loss": float("nan")})
    >>> guard.model.stop_training, guard.model.stop_reason[:40]
    (True, 'the loss became nan at epoch 1, batch 2;')
    """

    def __init__(self):
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            self.model.stop_training = True
            self.model.stop_reason = (
                f"the loss became {loss} at epoch {self.epoch + 1}, batch {batch + 1}; training "
                "stopped (the weights are no longer usable). Try a smaller learning rate."
            )
            print(f"TerminateOnNaN: {self.model.stop_reason}", file=sys.stderr, flush=True)


#: Epoch logs that are not a loss or a metric; the progress line shows them its own way.
_NOT_METRICS = ("learning_rate", "seconds", "img_per_s")


class CSVLogger(Callback):
    """Write each epoch's logs as a row of a CSV file, as Keras's ``CSVLogger`` does.

    The first row names the columns: ``epoch`` (counted from 0, as in the hooks), then the
    keys of the epoch logs in sorted order (``accuracy``, ``img_per_s``, ``learning_rate``,
    ``loss``, ``seconds``, ``val_accuracy``, ``val_loss``, ...). The file is opened, written
    and closed at every epoch's end, so each row is on disk as soon as its epoch is over,
    and an interrupted run keeps every epoch it finished. A value missing from an epoch's
    logs (the validation of an epoch that training stopped in) is written ``NA``.

    Parameters
    ----------
    filename : str or Path
    separator : str
        Between the values of a row.
    append : bool
        Continue the file if it exists (to resume a run: ``fit(..., initial_epoch=...)``
        numbers the new rows on from there) rather than start it afresh. Its columns must
        then be the ones this run logs.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from convnet import Sequential, layers
    >>> model = Sequential([layers.Dense(2, activation="softmax")], input_shape=(3,), seed=0)
    >>> model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
    >>> _ = model.fit(np.ones((8, 3), np.float32), np.zeros(8, np.int64), epochs=2,
    ...               callbacks=[CSVLogger(path)], verbose=0)
    >>> lines = path.read_text().splitlines()
    >>> lines[0]
    'epoch,accuracy,img_per_s,learning_rate,loss,seconds'
    >>> [line.split(",")[0] for line in lines[1:]]
    ['0', '1']
    """

    def __init__(self, filename, separator=",", append=False):
        self.filename = Path(filename)
        self.separator, self.append = separator, append
        self.keys = None

    def on_train_begin(self, logs=None):
        self.keys = None
        if not self.append:
            self.filename.parent.mkdir(parents=True, exist_ok=True)
            self.filename.write_text("")  # start afresh, as Keras does, even before epoch 1

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
        header, existing = ["epoch", *self.keys], self._first_row()
        if existing is not None and existing != header:
            raise ValueError(
                f"CSVLogger: {self.filename} has the columns {existing}, but this run logs "
                f"{header}; append to the log of the same kind of run, or use append=False "
                "to start it afresh"
            )
        self.filename.parent.mkdir(parents=True, exist_ok=True)
        with open(self.filename, "a", newline="") as f:
            writer = csv.writer(f, delimiter=self.separator)
            if existing is None:
                writer.writerow(header)
            writer.writerow([epoch, *(logs.get(key, "NA") for key in self.keys)])

    def _first_row(self):
        """The file's column names, or None if it is missing or empty."""
        if not self.filename.exists():
            return None
        with open(self.filename, newline="") as f:
            return next(csv.reader(f, delimiter=self.separator), None)


def _format_logs(logs):
    """``loss: 0.1234 - accuracy: 0.9876 - ...``: the loss and metrics in the order ``fit``
    logged them (``model.metrics``), then their validation values."""
    train = [key for key in logs if key not in _NOT_METRICS and not key.startswith("val_")]
    keys = train + [f"val_{key}" for key in train if f"val_{key}" in logs]
    return " - ".join(f"{key}: {logs[key]:.4f}" for key in keys)


class ProgressLogger(Callback):
    """Progress display: a tqdm bar per epoch on a terminal, one plain line per epoch otherwise.

    Parameters
    ----------
    verbose : 1 or 2
        1: a progress bar when the output is a terminal (one line per epoch when it is not,
        as in a CI log or a file); 2: always one line per epoch.
    stream : file object
        Where to write (default: stderr for bars, stdout for lines).

    Examples
    --------
    ``fit`` calls the hooks; here they are called by hand to show the line of ``verbose=2``:

    >>> log = ProgressLogger(verbose=2)
    >>> log.on_train_begin({"epochs": 3, "samples": 1000})
    >>> log.on_epoch_begin(0)
    >>> log.on_epoch_end(0, {"loss": 0.5, "accuracy": 0.75, "seconds": 2.5, "img_per_s": 400.0})
    Epoch 1/3 - 2.5s - 400 img/s - loss: 0.5000 - accuracy: 0.7500
    """

    def __init__(self, verbose=1, stream=None):
        self.verbose, self.stream = verbose, stream
        self.bar = None

    def _tty(self):
        stream = self.stream or sys.stderr
        return self.verbose == 1 and hasattr(stream, "isatty") and stream.isatty()

    def on_train_begin(self, logs=None):
        self.epochs = (logs or {}).get("epochs")
        self.samples = (logs or {}).get("samples")

    def on_epoch_begin(self, epoch, logs=None):
        self.seen, self.loss_sum, self.correct = 0, 0.0, 0.0
        self.start = time.perf_counter()
        if self._tty():
            from convnet.progress import tqdm

            self.bar = tqdm(total=self.samples, unit="img", unit_scale=True, file=self.stream,
                            desc=f"Epoch {epoch + 1}/{self.epochs}", leave=True,
                            dynamic_ncols=True)  # fmt: skip

    def on_batch_end(self, batch, logs=None):
        n = logs["size"]
        self.seen += n
        self.loss_sum += logs["loss"] * n
        self.correct += logs["accuracy"] * n
        if self.bar is not None:
            self.bar.update(n)
            self.bar.set_postfix_str(
                f"loss {self.loss_sum / self.seen:.4f}, acc {self.correct / self.seen:.4f}",
                refresh=False,
            )

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.bar is not None:
            self.bar.set_postfix_str(_format_logs(logs), refresh=False)
            self.bar.close()
            self.bar = None
            return
        line = (f"Epoch {epoch + 1}/{self.epochs} - {logs['seconds']:.1f}s - "
                f"{logs['img_per_s']:,.0f} img/s - {_format_logs(logs)}")  # fmt: skip
        print(line, file=self.stream or sys.stdout, flush=True)
