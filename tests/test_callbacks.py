"""Callbacks and what fit tells them: its params, and the learning rate of every step."""

import numpy as np

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
