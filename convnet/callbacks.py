"""Callbacks: code that runs at fixed points of ``Sequential.fit``.

Reading order: ... → model → **12. callbacks** → data → file I/O. Docs chapter: "How a CNN
learns" (the training loop).

``fit`` first gives every callback the model (``self.model``) and what it was asked to do
(``self.params``: epochs, batches per epoch, ...), then calls the hooks of every callback, in
the order the callbacks were given (the History, which ``fit`` always adds, runs first; the
progress display last)::

    on_train_begin(logs)
    for each epoch:
        on_epoch_begin(epoch, logs)
        for each batch:
            on_batch_begin(batch, logs)     # a per-step schedule sets the learning rate here
            ...  forward, loss, backward, optimizer step
            on_batch_end(batch, logs)       # logs: loss, accuracy of this batch (before the
                                            #       step), the learning_rate the step used
        ...  validation, if validation_data was given
        on_epoch_end(epoch, logs)           # logs: loss, accuracy (epoch means), val_loss,
                                            #       val_accuracy, learning_rate (of the epoch's
                                            #       last step), seconds, img_per_s (and each
                                            #       further metric of model.metrics)
    on_train_end(logs)

Epochs and batches are counted from 0 in the hooks (and shown from 1). A callback stops
training by setting ``self.model.stop_training = True``; ``fit`` checks it after every batch
and every epoch and records why in ``model.stop_reason``.

The callbacks here: :class:`History`; checkpoints (:class:`ModelCheckpoint`,
:class:`TrainingCheckpoint`); :class:`EarlyStopping`; the learning rate, per epoch
(:class:`LearningRateScheduler`, :class:`ReduceLROnPlateau`) and per step (:class:`OneCycle`,
:class:`CosineDecay` with warm-up); :class:`TerminateOnNaN`; logs and progress
(:class:`CSVLogger`, :class:`ProgressLogger`); accuracy against time (:class:`AccuracyClock`).
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
    "ReduceLROnPlateau",
    "OneCycle",
    "CosineDecay",
    "TerminateOnNaN",
    "AccuracyClock",
    "CSVLogger",
    "ProgressLogger",
]


class Callback:
    """Base class: every hook does nothing. ``self.model`` and ``self.params`` are set by
    ``fit``.

    ``params`` is what ``fit`` was asked to do, as Keras's ``callback.params``: ``epochs``
    (``fit``'s argument: the number of the epoch to stop after, earlier epochs included),
    ``steps`` (batches per epoch, ``ceil(samples / batch_size)``), ``samples``,
    ``batch_size``, ``initial_epoch`` and ``verbose``.

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
    params = None

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = dict(params)

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


def _whole(who: str, name: str, value, least: int) -> int:
    if not (isinstance(value, (int, np.integer)) and value >= least):
        raise ValueError(f"{who}: {name} must be a whole number, {least} or more, got {value!r}")
    return int(value)


def _positive(who: str, name: str, value) -> float:
    if not (isinstance(value, (int, float, np.floating, np.integer)) and math.isfinite(value)
            and value > 0):  # fmt: skip
        raise ValueError(f"{who}: {name} must be a number above 0, got {value!r}")
    return float(value)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has stopped improving.

    Keras's callback, with its defaults. At the end of each epoch, a value better than the
    best so far by more than ``min_delta`` becomes the best and clears the count of bad
    epochs. Any other value adds one bad epoch, except during a cool-down; when the count
    reaches ``patience``, the rate becomes ``max(lr · factor, min_lr)`` (if it is still above
    ``min_lr``), and the count starts again after a cool-down. As in Keras, the cool-down is
    counted down before the epoch is judged, so ``cooldown = c`` leaves the ``c − 1`` epochs
    after a cut uncounted (``cooldown = 1`` is the same as 0). A cut takes effect from the
    next epoch: the epoch logs' ``learning_rate`` is always the rate the epoch trained with.

    Parameters
    ----------
    monitor : str
        An epoch log: 'val_loss', 'loss', 'val_accuracy', ...
    factor : float, in [0, 1)
    patience : int
        Bad epochs in a row (outside cool-downs) after which the rate is cut; 0 cuts at the
        first bad epoch, as 1 does.
    verbose : int
        1: print a line when the rate is cut.
    mode : 'auto', 'min' or 'max'
        'auto' maximises names containing "acc" and minimises the rest.
    min_delta : float, ≥ 0
        How much better than the best a value must be to count as better.
    cooldown : int
        Length of the cool-down after a cut, in epochs (see above).
    min_lr : float, ≥ 0
        The rate is never cut below this.

    Notes
    -----
    The best value and the counts live in the callback, not in checkpoints: a resumed run
    (``fit(..., initial_epoch=...)``) starts them afresh, as Keras does. Keras compares the
    rate with ``min_lr`` in float32 (its rate is a float32 variable); here both are Python
    floats.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from convnet.optimizers import SGD
    >>> cut = ReduceLROnPlateau(factor=0.5, patience=1)
    >>> cut.set_model(SimpleNamespace(optimizer=SGD(learning_rate=0.1)))
    >>> cut.on_train_begin()
    >>> rates = []
    >>> for epoch, val_loss in enumerate([1.0, 1.0, 0.5, 0.6, 0.7]):
    ...     cut.on_epoch_end(epoch, {"val_loss": val_loss})
    ...     rates.append(cut.model.optimizer.learning_rate)
    >>> rates                   # the rate for the next epoch: no better, halved; better, kept
    [0.1, 0.05, 0.05, 0.025, 0.0125]
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):  # fmt: skip
        who = "ReduceLROnPlateau"
        if not 0.0 <= factor < 1.0:
            raise ValueError(f"{who}: factor must be in [0, 1) (the rate is multiplied by it "
                             f"to cut it), got {factor!r}")  # fmt: skip
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"{who}: mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.patience = _whole(who, "patience", patience, 0)
        self.cooldown = _whole(who, "cooldown", cooldown, 0)
        for name, value in (("min_delta", min_delta), ("min_lr", min_lr)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{who}: {name} must be a number, 0 or more, got {value!r}")
        self.monitor, self.factor, self.verbose, self.mode = monitor, factor, verbose, mode
        self.min_delta, self.min_lr = min_delta, min_lr
        self.on_train_begin()

    def on_train_begin(self, logs=None):
        self.best = _initial_best(self.mode, self.monitor)
        self.wait, self.cooldown_counter = 0, 0

    def on_epoch_end(self, epoch, logs=None):
        current = _monitored(logs or {}, self.monitor, "ReduceLROnPlateau")
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if _is_better(self.mode, self.monitor, current, self.best, self.min_delta):
            self.best, self.wait = current, 0
            return
        if self.cooldown_counter > 0:  # still cooling down: a bad epoch is not counted
            return
        self.wait += 1
        opt = self.model.optimizer
        if self.wait >= self.patience and opt.learning_rate > self.min_lr:
            opt.learning_rate = max(float(opt.learning_rate) * self.factor, self.min_lr)
            self.cooldown_counter, self.wait = self.cooldown, 0
            if self.verbose:
                print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing the learning rate to "
                      f"{opt.learning_rate:.6g}")  # fmt: skip


class _StepSchedule(Callback):
    """A learning rate set before every batch, from the step's number in the whole run.

    The clock is ``fit``'s: step ``epoch · steps + batch``, with ``steps`` the batches per
    epoch (``self.params``) and ``epoch`` counted from 0 over the whole run. A run resumed
    with ``fit(..., initial_epoch=k)`` therefore goes on at step ``k · steps``, where the
    interrupted one stopped. The optimizer's own step count is not used: a model that was
    trained before (loaded to be fine-tuned, say) starts its schedule at step 0.

    A subclass gives ``rate(step)`` and ``_fit_steps(n)``, which learns the run's ``n``
    steps when ``fit`` starts (to fill in a length that was left out).
    """

    def on_train_begin(self, logs=None):
        if not self.params or "steps" not in self.params:
            raise ValueError(f"{type(self).__name__}: needs fit's params (epochs, steps); "
                             "give it to fit(callbacks=[...])")  # fmt: skip
        self._per_epoch = self.params["steps"]
        self._fit_steps(self.params["epochs"] * self._per_epoch)

    def on_epoch_begin(self, epoch, logs=None):
        self._first = epoch * self._per_epoch  # the step of the epoch's first batch

    def on_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate = self.rate(self._first + batch)

    def _fit_steps(self, steps: int) -> None:
        raise NotImplementedError

    def rate(self, step: int) -> float:
        raise NotImplementedError

    def _step(self, step) -> int:
        return _whole(type(self).__name__, "step", step, 0)


class OneCycle(_StepSchedule):
    """The one-cycle learning rate (Smith), set before every batch: up to ``max_lr``, then far
    below where it started, as PyTorch's ``OneCycleLR``.

    Over ``T = total_steps`` steps, with ``s = pct_start · T − 1`` the warm-up's last step
    (a fraction when ``pct_start · T`` is not whole), the rate of step ``k`` is::

        start = max_lr / div_factor,   end = start / final_div_factor
        k ≤ s:  anneal(start, max_lr, k / s)                   warm-up
        k > s:  anneal(max_lr, end, (k − s) / (T − 1 − s))     annealing
        anneal(a, b, x) = b + (a − b) · (1 + cos(π x)) / 2     ('cos')
                        = a + (b − a) · x                      ('linear')

    so step 0 runs at ``start``, step ``s`` (when whole) at ``max_lr``, and the last step,
    ``T − 1``, at ``end``. These are PyTorch's phases and formulas (``three_phase=False``).
    PyTorch's ``OneCycleLR`` also cycles the momentum (Adam's ``beta_1``) against the rate;
    this one leaves the optimizer's other settings alone.

    Parameters
    ----------
    max_lr : float, > 0
    total_steps : int, optional
        Steps in the cycle. Left out: the whole run, ``epochs · steps`` of ``fit`` (a resumed
        run must then be given the same ``epochs``). A run longer than the cycle is an error.
    pct_start : float, in (0, 1)
        Fraction of the steps spent warming up; ``pct_start · T`` must be above 1.
    div_factor, final_div_factor : float, > 0
    anneal : 'cos' or 'linear'

    Examples
    --------
    >>> cycle = OneCycle(max_lr=0.1, total_steps=8, pct_start=0.25)
    >>> [round(cycle.rate(k), 6) for k in range(8)]        # s = 0.25 · 8 − 1 = 1
    [0.004, 0.1, 0.093301, 0.075, 0.05, 0.025, 0.006699, 0.0]
    >>> cycle.rate(7)                                       # 0.1 / 25 / 1e4
    4e-07

    In ``fit``, the cycle spans the run, and each epoch logs its last step's rate:

    >>> from convnet import Sequential, layers
    >>> model = Sequential([layers.Dense(2, activation="softmax")], input_shape=(3,), seed=0)
    >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    >>> cycle = OneCycle(max_lr=0.01, pct_start=0.5)
    >>> history = model.fit(np.ones((12, 3), np.float32), np.zeros(12, np.int64), epochs=2,
    ...                     batch_size=4, callbacks=[cycle], verbose=0)      # 2 · 3 steps
    >>> history.history["learning_rate"] == [cycle.rate(2), cycle.rate(5)]
    True
    >>> round(cycle.rate(2), 6)                              # s = 0.5 · 6 − 1 = 2: the peak
    0.01
    """

    def __init__(self, max_lr, total_steps=None, pct_start=0.3, div_factor=25.0,
                 final_div_factor=1e4, anneal="cos"):  # fmt: skip
        who = "OneCycle"
        self.max_lr = _positive(who, "max_lr", max_lr)
        self.total_steps = None if total_steps is None else _whole(who, "total_steps",
                                                                   total_steps, 1)  # fmt: skip
        if not (isinstance(pct_start, (int, float)) and 0.0 < pct_start < 1.0):
            raise ValueError(f"{who}: pct_start must be a fraction in (0, 1), got {pct_start!r}")
        self.pct_start = float(pct_start)
        self.div_factor = _positive(who, "div_factor", div_factor)
        self.final_div_factor = _positive(who, "final_div_factor", final_div_factor)
        if anneal not in ("cos", "linear"):
            raise ValueError(f"{who}: anneal must be 'cos' or 'linear', got {anneal!r}")
        self.anneal = anneal
        self._steps = None  # the cycle's length, once known
        if self.total_steps is not None:
            self._set_length(self.total_steps)

    def _set_length(self, steps: int) -> None:
        if self.pct_start * steps <= 1.0:
            raise ValueError(
                f"OneCycle: pct_start · total steps = {self.pct_start} · {steps} = "
                f"{self.pct_start * steps:g} leaves no warm-up (it must be above 1 step); "
                "train for more steps or raise pct_start"
            )
        self._steps = steps

    def _fit_steps(self, steps):
        if self.total_steps is None:
            self._set_length(steps)
        elif steps > self.total_steps:
            raise ValueError(f"OneCycle: fit runs {steps} steps but the cycle has "
                             f"total_steps={self.total_steps}; leave total_steps out to "
                             "fit the cycle to the run")  # fmt: skip

    def _anneal(self, a, b, x):
        if self.anneal == "linear":
            return a + (b - a) * x
        return b + (a - b) * (1.0 + math.cos(math.pi * x)) / 2.0

    def rate(self, step: int) -> float:
        """The learning rate of step ``step`` (from 0).

        Examples
        --------
        >>> OneCycle(max_lr=1.0, total_steps=20, pct_start=0.5, anneal="linear").rate(9)
        1.0
        """
        step = self._step(step)
        if self._steps is None:
            raise ValueError("OneCycle: the cycle's length is not known yet; give total_steps, "
                             "or let fit start")  # fmt: skip
        total = self._steps
        if step >= total:
            raise ValueError(f"OneCycle: step {step} is past the cycle's last step, {total - 1}")
        start = self.max_lr / self.div_factor
        end = start / self.final_div_factor
        peak = self.pct_start * total - 1.0  # the warm-up's last step: PyTorch's phase boundary
        if step <= peak:
            return self._anneal(start, self.max_lr, step / peak)
        return self._anneal(self.max_lr, end, (step - peak) / (total - 1.0 - peak))


class CosineDecay(_StepSchedule):
    """A linear warm-up from 0 to ``initial_lr``, then a cosine decay to ``alpha · initial_lr``,
    set before every batch, as Keras 3's ``CosineDecay`` schedule with a warm-up.

    With ``W = warmup_steps`` and ``D = decay_steps``, the rate of step ``k`` is::

        k < W:   initial_lr · k / W
        k ≥ W:   initial_lr · ((1 − alpha) · (1 + cos(π · min(k − W, D) / D)) / 2 + alpha)

    It is ``keras.optimizers.schedules.CosineDecay(0.0, D, alpha, warmup_target=initial_lr,
    warmup_steps=W)``: step 0 runs at rate 0 when there is a warm-up, and after ``W + D``
    steps the rate stays at ``alpha · initial_lr``. Without a warm-up (``W = 0``) it is Keras's
    ``CosineDecay(initial_lr, D, alpha)``.

    Parameters
    ----------
    initial_lr : float, > 0
        The rate the warm-up climbs to and the decay starts from.
    warmup_steps : int, ≥ 0
    decay_steps : int, optional
        Left out: the rest of the run, ``epochs · steps`` of ``fit`` minus ``warmup_steps``.
    alpha : float, in [0, 1]
        The final rate, as a fraction of ``initial_lr``.

    Examples
    --------
    >>> schedule = CosineDecay(0.1, warmup_steps=2, decay_steps=4, alpha=0.1)
    >>> [round(schedule.rate(k), 6) for k in range(8)]
    [0.0, 0.05, 0.1, 0.08682, 0.055, 0.02318, 0.01, 0.01]
    """

    def __init__(self, initial_lr, warmup_steps=0, decay_steps=None, alpha=0.0):
        who = "CosineDecay"
        self.initial_lr = _positive(who, "initial_lr", initial_lr)
        self.warmup_steps = _whole(who, "warmup_steps", warmup_steps, 0)
        self.decay_steps = None if decay_steps is None else _whole(who, "decay_steps",
                                                                   decay_steps, 1)  # fmt: skip
        if not (isinstance(alpha, (int, float)) and 0.0 <= alpha <= 1.0):
            raise ValueError(f"{who}: alpha must be a fraction in [0, 1], got {alpha!r}")
        self.alpha = float(alpha)
        self._decay = self.decay_steps  # the decay's length, once known

    def _fit_steps(self, steps):
        if self.decay_steps is None:
            if steps <= self.warmup_steps:
                raise ValueError(f"CosineDecay: fit runs {steps} steps, no more than the "
                                 f"{self.warmup_steps} of the warm-up: nothing is left to "
                                 "decay over")  # fmt: skip
            self._decay = steps - self.warmup_steps

    def rate(self, step: int) -> float:
        """The learning rate of step ``step`` (from 0).

        Examples
        --------
        >>> CosineDecay(0.1, warmup_steps=0, decay_steps=10).rate(5)    # half way: half
        0.05
        """
        step = self._step(step)
        if self._decay is None:
            raise ValueError("CosineDecay: the decay's length is not known yet; give "
                             "decay_steps, or let fit start")  # fmt: skip
        if step < self.warmup_steps:
            return self.initial_lr * (step / self.warmup_steps)
        done = min(step - self.warmup_steps, self._decay)
        cosine = 0.5 * (1.0 + math.cos(math.pi * (done / self._decay)))
        return self.initial_lr * ((1.0 - self.alpha) * cosine + self.alpha)


class AccuracyClock(Callback):
    """Accuracy against wall-clock time: after every epoch, the seconds since training began,
    the epoch's validation accuracy, and the accuracy on ``(x, y)``.

    For reporting how fast a recipe gets where (``time_to_accuracy.png``), never for choosing
    anything: give it the test set and it is looked at, not learned from.

    Parameters
    ----------
    x : ndarray, shape (N, *input_shape)
    y : ndarray, shape (N,)
        Integer labels.

    Attributes
    ----------
    curve : list of dict
        One per epoch: ``epoch`` (from 1), ``seconds``, ``val_accuracy`` (None without
        validation data) and ``accuracy`` (on ``x``). The time to evaluate ``x`` is left out
        of ``seconds``.

    Examples
    --------
    >>> from convnet import Sequential, layers
    >>> model = Sequential([layers.Dense(2, activation="softmax")], input_shape=(3,), seed=0)
    >>> model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    >>> x, y = np.eye(3, dtype=np.float32)[[0, 1, 2, 0]], np.array([0, 1, 1, 0])
    >>> clock = AccuracyClock(x, y)
    >>> _ = model.fit(x, y, epochs=2, callbacks=[clock], verbose=0)
    >>> [sorted(point) for point in clock.curve][0]
    ['accuracy', 'epoch', 'seconds', 'val_accuracy']
    >>> [point["epoch"] for point in clock.curve], clock.seconds_to("accuracy", 2.0) is None
    ([1, 2], True)
    """

    def __init__(self, x, y):
        self.x, self.y = x, y
        self.curve: list[dict] = []
        self._start = self._paused = 0.0

    def on_train_begin(self, logs=None):
        self._start, self._paused = time.perf_counter(), 0.0

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        accuracy = self.model.evaluate(self.x, self.y)[1]
        self.curve.append({"epoch": epoch + 1, "seconds": now - self._start - self._paused,
                           "val_accuracy": (logs or {}).get("val_accuracy"),
                           "accuracy": accuracy})  # fmt: skip
        self._paused += time.perf_counter() - now

    def seconds_to(self, key: str, level: float):
        """The seconds at the end of the first epoch whose ``key`` ('val_accuracy' or
        'accuracy') reached ``level``; None if none did."""
        return next((p["seconds"] for p in self.curve
                     if p[key] is not None and p[key] >= level), None)  # fmt: skip


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
