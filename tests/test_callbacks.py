"""Learning-rate callbacks: ReduceLROnPlateau on scripted epoch logs, the one-cycle and
cosine-with-warm-up schedules by hand and against PyTorch's OneCycleLR, what fit tells the
callbacks (params, the rate of every step), and schedules that resume from a checkpoint."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from convnet import Sequential, callbacks, optimizers
from convnet import layers as L
from convnet.io import load_checkpoint


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


# -- OneCycle -----------------------------------------------------------------------------------


def test_one_cycle_start_peak_and_end():
    cycle = callbacks.OneCycle(max_lr=0.4, total_steps=40, pct_start=0.25)
    rates = [cycle.rate(k) for k in range(40)]
    assert math.isclose(rates[0], 0.4 / 25, rel_tol=1e-12)  # max_lr / div_factor
    assert rates[9] == 0.4  # the warm-up's last step: 0.25 · 40 − 1
    assert max(rates) == 0.4
    assert rates[39] == 0.4 / 25 / 1e4  # ... / final_div_factor
    assert all(a < b for a, b in zip(rates[:9], rates[1:10], strict=True))
    assert all(a > b for a, b in zip(rates[9:-1], rates[10:], strict=True))
    # Half way through a phase the cosine is half way between the phase's ends: step 24 of
    # the descent from step 9 to step 39 above, and step 5 of a warm-up to step 10.
    assert math.isclose(rates[24], (0.4 + 0.4 / 25 / 1e4) / 2, rel_tol=1e-12)
    warm = callbacks.OneCycle(max_lr=0.4, total_steps=44, pct_start=0.25)
    assert math.isclose(warm.rate(5), (0.4 / 25 + 0.4) / 2, rel_tol=1e-12)


def test_one_cycle_linear_by_hand():
    # T = 20, pct_start 0.5: s = 9. Up from 0.1 to 1 over steps 0..9, down to 0.001 over 9..19.
    cycle = callbacks.OneCycle(max_lr=1.0, total_steps=20, pct_start=0.5, div_factor=10,
                               final_div_factor=100, anneal="linear")  # fmt: skip
    assert cycle.rate(0) == 0.1
    assert math.isclose(cycle.rate(3), 0.1 + 0.9 * 3 / 9, rel_tol=1e-12)
    assert cycle.rate(9) == 1.0
    assert math.isclose(cycle.rate(14), 1.0 - 0.999 * 5 / 10, rel_tol=1e-12)
    assert math.isclose(cycle.rate(19), 0.001, rel_tol=1e-12)


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(max_lr=0.0), "max_lr must be a number above 0"),
    (dict(max_lr=float("nan")), "max_lr must be a number above 0"),
    (dict(max_lr=0.1, total_steps=0), "total_steps must be a whole number, 1 or more"),
    (dict(max_lr=0.1, total_steps=10.0), "total_steps must be a whole number"),
    (dict(max_lr=0.1, pct_start=0.0), r"pct_start must be a fraction in \(0, 1\)"),
    (dict(max_lr=0.1, pct_start=1.0), r"pct_start must be a fraction in \(0, 1\)"),
    (dict(max_lr=0.1, total_steps=3), r"pct_start · total steps = 0.3 · 3 = 0.9 leaves no"),
    (dict(max_lr=0.1, div_factor=0), "div_factor must be a number above 0"),
    (dict(max_lr=0.1, anneal="exp"), "anneal must be 'cos' or 'linear'"),
])  # fmt: skip
def test_one_cycle_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=f"OneCycle: {message}"):
        callbacks.OneCycle(**kwargs)


def test_one_cycle_steps_outside_the_cycle_are_errors():
    cycle = callbacks.OneCycle(max_lr=0.1, total_steps=10)
    with pytest.raises(ValueError, match="OneCycle: step 10 is past the cycle's last step, 9"):
        cycle.rate(10)
    with pytest.raises(ValueError, match="OneCycle: step must be a whole number, 0 or more"):
        cycle.rate(-1)
    with pytest.raises(ValueError, match="OneCycle: the cycle's length is not known yet"):
        callbacks.OneCycle(max_lr=0.1).rate(0)
    model = small_net()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x, y = data(40)  # 5 batches of 8: 3 epochs are 15 steps
    with pytest.raises(ValueError, match="OneCycle: fit runs 15 steps but the cycle has "
                                         "total_steps=10"):  # fmt: skip
        model.fit(x, y, epochs=3, batch_size=8, callbacks=[cycle], verbose=0)


# PyTorch's own phases: (total_steps, pct_start, div_factor, final_div_factor, anneal)
TORCH_CYCLES = [
    (100, 0.3, 25.0, 1e4, "cos"),  # PyTorch's and convnet's defaults
    (1000, 0.3, 25.0, 1e4, "cos"),  # a longer run: the last steps are tiny rates
    (37, 0.25, 10.0, 100.0, "linear"),  # a warm-up that ends between two steps
    (50, 0.1, 5.0, 1e3, "cos"),
]


@pytest.mark.oracle
@pytest.mark.parametrize(("total", "pct_start", "div_factor", "final_div_factor", "anneal"),
                         TORCH_CYCLES)  # fmt: skip
def test_one_cycle_matches_pytorch(total, pct_start, div_factor, final_div_factor, anneal):
    torch = pytest.importorskip("torch")
    max_lr = 0.05
    weight = torch.zeros(1, requires_grad=True)
    sgd = torch.optim.SGD([weight], lr=max_lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        sgd, max_lr=max_lr, total_steps=total, pct_start=pct_start, div_factor=div_factor,
        final_div_factor=final_div_factor, anneal_strategy=anneal,
        cycle_momentum=False)  # fmt: skip
    theirs = []
    for _ in range(total):
        theirs.append(sgd.param_groups[0]["lr"])  # the rate this step uses
        sgd.step()
        schedule.step()
    cycle = callbacks.OneCycle(max_lr=max_lr, total_steps=total, pct_start=pct_start,
                               div_factor=div_factor, final_div_factor=final_div_factor,
                               anneal=anneal)  # fmt: skip
    ours = [cycle.rate(k) for k in range(total)]
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0)


@pytest.mark.oracle
def test_one_cycle_in_fit_matches_pytorch_step_by_step():
    torch = pytest.importorskip("torch")
    x, y = data(44)  # batches of 8: 6 a epoch (the last of 4), 24 steps in 4 epochs
    model = small_net()
    model.compile(optimizer=RecordingSGD(learning_rate=1.0),
                  loss="sparse_categorical_crossentropy")  # fmt: skip
    model.fit(x, y, epochs=4, batch_size=8, verbose=0,
              callbacks=[callbacks.OneCycle(max_lr=0.2)])  # fmt: skip
    weight = torch.zeros(1, requires_grad=True)
    sgd = torch.optim.SGD([weight], lr=0.2)
    schedule = torch.optim.lr_scheduler.OneCycleLR(sgd, max_lr=0.2, epochs=4, steps_per_epoch=6,
                                                   cycle_momentum=False)  # fmt: skip
    theirs = []
    for _ in range(24):
        theirs.append(sgd.param_groups[0]["lr"])
        sgd.step()
        schedule.step()
    np.testing.assert_allclose(model.optimizer.used, theirs, rtol=1e-12, atol=0)


# -- CosineDecay --------------------------------------------------------------------------------


def test_cosine_decay_with_warm_up_by_hand():
    schedule = callbacks.CosineDecay(0.2, warmup_steps=4, decay_steps=10, alpha=0.25)
    np.testing.assert_allclose([schedule.rate(k) for k in range(5)], [0.0, 0.05, 0.1, 0.15, 0.2],
                               rtol=1e-12, atol=0)  # 0.2 · k / 4  # fmt: skip
    # half way through the decay (step 4 + 5) the cosine term is 1/2: 0.2 (0.75 / 2 + 0.25)
    assert math.isclose(schedule.rate(9), 0.125, rel_tol=1e-12)
    assert math.isclose(schedule.rate(14), 0.05, rel_tol=1e-12)  # alpha · 0.2 at W + D ...
    assert schedule.rate(15) == schedule.rate(1000) == schedule.rate(14)  # ... and after
    rates = [schedule.rate(k) for k in range(4, 15)]
    assert all(a > b for a, b in zip(rates[:-1], rates[1:], strict=True))


def test_cosine_decay_without_warm_up_starts_at_the_initial_rate():
    schedule = callbacks.CosineDecay(0.1, decay_steps=4)
    rates = [schedule.rate(k) for k in range(6)]
    # 0.1 · (1 + cos(π k / 4)) / 2: 0.1, 0.0853553, 0.05, 0.0146447, 0, 0
    np.testing.assert_allclose(rates, [0.1, 0.08535533905932738, 0.05, 0.014644660940672627,
                                       0.0, 0.0], rtol=1e-12, atol=1e-18)  # fmt: skip


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(initial_lr=-0.1), "initial_lr must be a number above 0"),
    (dict(initial_lr=0.1, warmup_steps=-1), "warmup_steps must be a whole number, 0 or more"),
    (dict(initial_lr=0.1, decay_steps=0), "decay_steps must be a whole number, 1 or more"),
    (dict(initial_lr=0.1, alpha=1.5), r"alpha must be a fraction in \[0, 1\]"),
])  # fmt: skip
def test_cosine_decay_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=f"CosineDecay: {message}"):
        callbacks.CosineDecay(**kwargs)


def test_cosine_decay_fills_in_the_decay_from_fit_or_says_why_not():
    with pytest.raises(ValueError, match="CosineDecay: the decay's length is not known yet"):
        callbacks.CosineDecay(0.1, warmup_steps=2).rate(3)
    model = small_net()
    model.compile(optimizer=RecordingSGD(), loss="sparse_categorical_crossentropy")
    x, y = data(40)  # 5 batches of 8 a epoch
    schedule = callbacks.CosineDecay(0.1, warmup_steps=3)
    model.fit(x, y, epochs=2, batch_size=8, callbacks=[schedule], verbose=0)
    # 10 steps: 3 of warm-up, 7 of decay; the last run, step 9, is 6/7 of the way down (the
    # decay would reach alpha at step 10)
    np.testing.assert_allclose(model.optimizer.used[:4], [0.0, 0.1 / 3, 0.2 / 3, 0.1],
                               rtol=1e-12)  # fmt: skip
    last = 0.1 * 0.5 * (1 + math.cos(math.pi * 6 / 7))
    assert model.optimizer.used[-1] == schedule.rate(9)
    assert math.isclose(schedule.rate(9), last, rel_tol=1e-12)
    with pytest.raises(ValueError, match="CosineDecay: fit runs 10 steps, no more than the 12"):
        model.fit(x, y, epochs=2, batch_size=8, verbose=0,
                  callbacks=[callbacks.CosineDecay(0.1, warmup_steps=12)])  # fmt: skip


# -- schedules in fit: the rate of every step, and resuming ------------------------------------

SCHEDULES = {
    "one-cycle": lambda: callbacks.OneCycle(max_lr=0.3, pct_start=0.4),
    "cosine": lambda: callbacks.CosineDecay(0.3, warmup_steps=4, alpha=0.1),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_fit_uses_and_logs_the_rate_of_every_step(name):
    x, y = data(36)  # batches of 8: 5 a epoch (the last of 4), 15 steps in 3 epochs
    model = small_net()
    model.compile(optimizer=RecordingSGD(learning_rate=123.0),
                  loss="sparse_categorical_crossentropy")  # fmt: skip
    schedule, per_batch = SCHEDULES[name](), BatchRates()
    history = model.fit(x, y, epochs=3, batch_size=8, callbacks=[schedule, per_batch],
                        verbose=0)  # fmt: skip
    expected = [schedule.rate(k) for k in range(15)]
    assert model.optimizer.used == expected  # what the optimizer stepped with
    assert per_batch.rates == expected  # what the batch logs say it stepped with
    # each epoch logs its last step's rate, Keras-style one number per epoch
    assert history.history["learning_rate"] == [expected[4], expected[9], expected[14]]
    assert 123.0 not in expected and len(set(expected)) > 10


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_a_resumed_run_continues_the_schedule(tmp_path, name):
    x, y = data(36)  # 5 batches a epoch
    fit = dict(batch_size=8, seed=3, verbose=0)

    straight = small_net()
    straight.compile(optimizer=RecordingSGD(momentum=0.9), loss="sparse_categorical_crossentropy")
    straight.fit(x, y, epochs=3, callbacks=[SCHEDULES[name]()], **fit)

    class Interrupt(callbacks.Callback):  # as a killed run: the checkpoint of epoch 1 is there
        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = True

    path = tmp_path / "checkpoint.h5"
    first = small_net()
    first.compile(optimizer=RecordingSGD(momentum=0.9), loss="sparse_categorical_crossentropy")
    first.fit(x, y, epochs=3, callbacks=[SCHEDULES[name](), callbacks.TrainingCheckpoint(path),
                                         Interrupt()], **fit)  # fmt: skip
    assert first.optimizer.used == straight.optimizer.used[:5]

    ckpt = load_checkpoint(path)
    assert ckpt.epoch == 1
    rates = BatchRates()
    ckpt.model.fit(x, y, epochs=3, initial_epoch=ckpt.epoch, callbacks=[SCHEDULES[name](), rates],
                   **fit)  # fmt: skip
    assert rates.rates == straight.optimizer.used[5:]  # steps 5 to 14, not 0 to 9
    for key, value in straight.parameters().items():
        np.testing.assert_array_equal(ckpt.model.parameters()[key], value, err_msg=key)
    np.testing.assert_array_equal(ckpt.model.optimizer.slots["momentum"]["dense/kernel"],
                                  straight.optimizer.slots["momentum"]["dense/kernel"])  # fmt: skip


def test_a_schedule_needs_fit_or_its_params():
    cycle = callbacks.OneCycle(max_lr=0.1, total_steps=10)
    with pytest.raises(ValueError, match="OneCycle: needs fit's params"):
        cycle.on_train_begin()
    cycle.set_model(SimpleNamespace(optimizer=optimizers.SGD()))
    cycle.set_params({"epochs": 2, "steps": 5})
    cycle.on_train_begin()
    cycle.on_epoch_begin(1)
    cycle.on_batch_begin(2)  # step 1 · 5 + 2
    assert cycle.model.optimizer.learning_rate == cycle.rate(7)
