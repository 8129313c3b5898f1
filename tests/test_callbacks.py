"""Callbacks and what fit tells them (its params, the learning rate of every step), and
ReduceLROnPlateau on scripted epoch logs."""

from types import SimpleNamespace

import numpy as np
import pytest

from convnet import Sequential, callbacks, optimizers
from convnet import layers as L


def small_net(seed=0):
    return Sequential([L.Flatten(), L.Dense(8, activation="relu"), L.Dropout(0.2),
                       L.Dense(3, activation="softmax")],
                      input_shape=(1, 4, 4), seed=seed)  # fmt: skip


def data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.random((n, 1, 4, 4), dtype=np.float32) * 0.2
    x[np.arange(n), 0, y, y] += 1.0  # each class lights its own pixel
    return x, y


class RecordingSGD(optimizers.SGD):
    """SGD that remembers the learning rate each of its steps used."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.used = []

    def step(self, params, grads):
        self.used.append(self.learning_rate)
        super().step(params, grads)


class BatchRates(callbacks.Callback):
    """The learning_rate fit reports in every batch's logs."""

    def __init__(self):
        self.rates = []

    def on_batch_end(self, batch, logs=None):
        self.rates.append(logs["learning_rate"])


# -- what fit tells callbacks -------------------------------------------------------------------


def test_fit_gives_callbacks_its_params():
    seen = {}

    class Look(callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.update(self.params)

    model = small_net()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x, y = data(40)
    model.fit(x, y, epochs=4, initial_epoch=1, batch_size=16, validation_split=0.25,
              callbacks=[Look()], verbose=0)  # fmt: skip
    # 30 training samples after the split: batches of 16 and 14
    assert seen == {"epochs": 4, "steps": 2, "samples": 30, "batch_size": 16,
                    "initial_epoch": 1, "verbose": 0}  # fmt: skip


def test_batch_logs_hold_the_rate_each_step_used():
    model = small_net()
    model.compile(optimizer=RecordingSGD(), loss="sparse_categorical_crossentropy")
    x, y = data(24)  # 3 batches of 8
    per_batch = BatchRates()
    halve = callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 / 2**epoch)
    history = model.fit(x, y, epochs=2, batch_size=8, callbacks=[halve, per_batch], verbose=0)
    assert per_batch.rates == model.optimizer.used == [0.1] * 3 + [0.05] * 3
    assert history.history["learning_rate"] == [0.1, 0.05]


# -- ReduceLROnPlateau --------------------------------------------------------------------------


def run_plateau(cut, values, monitor="val_loss", lr=0.1):
    """The learning rate after each epoch's end, for a scripted sequence of monitored values."""
    cut.set_model(SimpleNamespace(optimizer=optimizers.SGD(learning_rate=lr)))
    cut.on_train_begin()
    rates = []
    for epoch, value in enumerate(values):
        cut.on_epoch_end(epoch, {"loss": 9.0, monitor: value})
        rates.append(cut.model.optimizer.learning_rate)
    return rates


def test_plateau_with_patience_cooldown_and_min_lr():
    cut = callbacks.ReduceLROnPlateau(factor=0.5, patience=2, cooldown=3, min_lr=0.02)
    values = [1.0, 1.0, 1.0,  # best 1.0, then 2 bad epochs: cut to 0.05 (cool-down 3)
              1.0, 0.9,  # cool-down 3 -> 2, then 2 -> 1 with a new best, 0.9
              0.95, 0.95,  # cool-down over (1 -> 0, counted): bad 1, bad 2: cut to 0.025
              0.95, 0.95, 0.95, 0.95,  # 3 -> 2, 2 -> 1, 1 -> 0 (bad 1), bad 2: cut to 0.02
              # cool-down, then at min_lr: no cut any more
              0.95, 0.95, 0.95, 0.95, 0.95]  # fmt: skip
    expected = [0.1, 0.1, 0.05,
                0.05, 0.05,
                0.05, 0.025,
                0.025, 0.025, 0.025, 0.02,
                0.02, 0.02, 0.02, 0.02, 0.02]  # fmt: skip
    assert run_plateau(cut, values) == expected
    assert cut.best == 0.9


def test_plateau_cooldown_one_changes_nothing_as_in_keras():
    """Keras counts the cool-down down before it judges the epoch."""
    values = [1.0, 1.0, 1.0, 1.0, 1.0]
    without = run_plateau(callbacks.ReduceLROnPlateau(factor=0.5, patience=1), values)
    assert without == [0.1, 0.05, 0.025, 0.0125, 0.00625]
    with_one = callbacks.ReduceLROnPlateau(factor=0.5, patience=1, cooldown=1)
    assert run_plateau(with_one, values) == without
    with_two = callbacks.ReduceLROnPlateau(factor=0.5, patience=1, cooldown=2)
    assert run_plateau(with_two, values) == [0.1, 0.05, 0.05, 0.025, 0.025]


def test_plateau_min_delta_and_min_lr_floor():
    # 0.99995 is better than 1.0, but not by min_delta = 1e-4: a bad epoch
    cut = callbacks.ReduceLROnPlateau(factor=0.1, patience=1, min_lr=0.003)
    assert run_plateau(cut, [1.0, 0.99995, 0.9, 0.95]) == [0.1, 0.1 * 0.1, 0.1 * 0.1, 0.003]
    assert run_plateau(callbacks.ReduceLROnPlateau(patience=1, min_delta=0.0),
                       [1.0, 0.99995]) == [0.1, 0.1]  # fmt: skip


@pytest.mark.parametrize("monitor", ["val_accuracy", "accuracy", "acc",
                                     "val_sparse_top_k_categorical_accuracy"])  # fmt: skip
def test_plateau_mode_auto_maximises_accuracy_like_monitors(monitor):
    rising, falling = [0.5, 0.6, 0.7, 0.8], [0.8, 0.7, 0.6, 0.5]
    make = lambda mode="auto": callbacks.ReduceLROnPlateau(monitor=monitor, factor=0.5,  # noqa: E731
                                                          patience=1, mode=mode)  # fmt: skip
    assert run_plateau(make(), rising, monitor) == [0.1] * 4
    assert run_plateau(make(), falling, monitor) == [0.1, 0.05, 0.025, 0.0125]
    assert run_plateau(make("min"), rising, monitor) == [0.1, 0.05, 0.025, 0.0125]


def test_plateau_mode_auto_minimises_losses():
    cut = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1)
    assert run_plateau(cut, [0.5, 0.6, 0.7], "loss") == [0.1, 0.05, 0.025]
    cut = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, mode="max")
    assert run_plateau(cut, [0.5, 0.6, 0.7], "loss") == [0.1, 0.1, 0.1]


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(factor=1.0), r"factor must be in \[0, 1\).*got 1.0"),
    (dict(factor=2), r"factor must be in \[0, 1\).*got 2"),
    (dict(factor=-0.5), "factor"),
    (dict(mode="maximum"), "mode must be 'auto', 'min' or 'max'"),
    (dict(patience=-1), "patience must be a whole number"),
    (dict(cooldown=1.5), "cooldown must be a whole number"),
    (dict(min_lr=-1e-3), "min_lr must be a number, 0 or more"),
])  # fmt: skip
def test_plateau_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=f"ReduceLROnPlateau: {message}"):
        callbacks.ReduceLROnPlateau(**kwargs)


def test_plateau_names_a_missing_monitor():
    cut = callbacks.ReduceLROnPlateau()
    with pytest.raises(ValueError, match=r"ReduceLROnPlateau: .*'val_loss'.*\['loss'\]"):
        run_plateau(cut, [1.0], monitor="loss")


def test_plateau_in_fit_cuts_from_the_next_epoch():
    model = small_net()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x, y = data()
    # min_delta 10: only the first epoch (against an infinite best) counts as better
    cut = callbacks.ReduceLROnPlateau(monitor="loss", patience=0, min_delta=10.0)
    history = model.fit(x, y, epochs=4, batch_size=8, callbacks=[cut], verbose=0)
    assert history.history["learning_rate"] == [0.01, 0.01, 0.01 * 0.1, 0.01 * 0.1 * 0.1]
    assert model.optimizer.learning_rate == 0.01 * 0.1 * 0.1 * 0.1
