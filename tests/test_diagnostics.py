"""convnet.diagnostics: the statistics it records are the ones defined, a healthy run on real
MNIST stays quiet, and broken runs are caught."""

import json
import os

import numpy as np
import pytest

from convnet import layers as L
from convnet.diagnostics import STATISTICS, Diagnostics, diagnostics_figure
from convnet.model import Sequential
from convnet.nets import small_net

needs_mnist = pytest.mark.skipif(
    not os.environ.get("CONVNET_DATA_DIR"), reason="set CONVNET_DATA_DIR to the MNIST folder"
)


@pytest.fixture(scope="module")
def mnist():
    from convnet.data import load_split

    split = load_split("mnist")
    return split.x_train[:9600], split.y_train[:9600], split.x_val[:256]


def train(x, y, probe, optimizer, learning_rate, **kwargs):
    from convnet import optimizers

    model = small_net(seed=0)
    model.compile(optimizer=optimizers.get(optimizer, learning_rate=learning_rate),
                  loss="sparse_categorical_crossentropy")  # fmt: skip
    watch = Diagnostics(probe, verbose=0, **kwargs)
    history = model.fit(x, y, epochs=1, batch_size=32, seed=0, callbacks=[watch], verbose=0)
    return watch, history


@needs_mnist
def test_a_healthy_run_stays_quiet(mnist):
    watch, history = train(*mnist, "adam", 1e-3, every=20)
    assert history.history["accuracy"][-1] > 0.7  # it did learn (the epoch mean: 0.76)
    assert watch.warnings == []
    assert watch.steps == [1, *range(20, 301, 20)]  # 300 batches of 32
    ratios = np.array(list(watch.records["update_ratio"].values()))  # (layers, recordings)
    late = ratios[:, np.array(watch.steps) > 100]
    assert ((1e-4 <= late) & (late <= 1e-2)).all()
    assert set(watch.records["dead_fraction"]) == {"conv2d", "conv2d_1"}  # the ReLU layers


@needs_mnist
def test_a_learning_rate_of_10_is_caught(mnist):
    watch, _ = train(*mnist, "sgd", 10.0, every=20)
    assert watch.warnings, "no warning for SGD at a learning rate of 10"
    assert any("update/weight ratio" in w or "no longer finite" in w for w in watch.warnings)


@needs_mnist
def test_a_learning_rate_too_small_to_learn_is_caught(mnist):
    watch, _ = train(*mnist, "sgd", 1e-6, every=20)
    assert any("learning rate too small, or no gradient" in w for w in watch.warnings)


@needs_mnist
def test_a_learning_rate_lowered_by_a_schedule_is_not_taken_for_one_too_small(mnist):
    # The end of a one-cycle schedule: the rate falls a thousandfold, and the updates with it.
    from convnet.callbacks import LearningRateScheduler

    x, y, probe = mnist
    model = small_net(seed=0)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    watch = Diagnostics(probe, every=50, warmup=0, verbose=0)
    fall = LearningRateScheduler(lambda epoch, rate: 0.01 if epoch == 0 else 1e-5)
    model.fit(x[:4800], y[:4800], epochs=3, batch_size=32, seed=0, callbacks=[fall, watch],
              verbose=0)  # fmt: skip
    ratios = watch.records["update_ratio"]["dense"]
    assert max(ratios[-3:]) < watch.ratio_range[0] < min(ratios[:3])  # they did fall below
    assert watch.warnings == []
    # and the figure's healthy band comes down with the rate
    assert watch.rate_shares[0] == 1.0 and watch.rate_shares[-1] == pytest.approx(1e-3)
    band = diagnostics_figure(watch).axes[4].collections[0]  # the update/weight ratio's
    assert band.get_paths()[0].vertices[:, 1].min() == pytest.approx(1e-4 * 1e-3)


def one_dense(bias, use_bias=True):
    model = Sequential([L.Flatten(), L.Dense(6, activation="relu", use_bias=use_bias),
                        L.Dense(3, activation="softmax")],
                       input_shape=(1, 2, 2), dtype="float64", seed=0)  # fmt: skip
    if use_bias:
        model.layers[1].params["bias"][:] = bias
    return model


def test_the_ratio_of_an_sgd_step_is_the_learning_rate_times_the_gradient_norm_over_the_weights():
    model = one_dense(0.0, use_bias=False)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 1, 2, 2)), rng.integers(0, 3, 8)
    before = model.layers[1].params["kernel"].copy()
    watch = Diagnostics(x, every=1, verbose=0)
    model.fit(x, y, epochs=1, batch_size=8, shuffle=False, callbacks=[watch], verbose=0)
    lr = model.optimizer.learning_rate
    grad = np.linalg.norm(model.layers[1].grads["kernel"])
    assert watch.records["gradient_norm"]["dense"] == [pytest.approx(grad)]
    expected = lr * grad / np.linalg.norm(before)
    assert watch.records["update_ratio"]["dense"] == [pytest.approx(expected, rel=1e-9)]
    out = np.maximum(x.reshape(8, 4) @ model.layers[1].params["kernel"], 0)
    assert watch.records["activation_mean"]["dense"] == [pytest.approx(out.mean())]
    assert watch.records["activation_std"]["dense"] == [pytest.approx(out.std())]


def test_dead_relus_are_counted_and_reported():
    model = one_dense(-100.0)  # every unit's input is far below 0: all dead
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).random((8, 1, 2, 2))
    watch = Diagnostics(x, every=1, verbose=0)
    model.fit(x, np.zeros(8, np.int64), epochs=1, batch_size=8, callbacks=[watch], verbose=0)
    assert watch.records["dead_fraction"]["dense"] == [1.0]
    assert watch.warnings == ["batch 1: 100% of dense's ReLUs are dead (0 for every probe image)"]

    model = one_dense(0.0)
    model.layers[1].params["kernel"][:, :3] = -1.0  # half the units negative for x >= 0
    model.layers[1].params["kernel"][:, 3:] = 1.0
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    watch = Diagnostics(x, every=1, verbose=0)
    model.fit(x, np.zeros(8, np.int64), epochs=1, batch_size=8, callbacks=[watch], verbose=0)
    assert watch.records["dead_fraction"]["dense"] == [0.5]
    assert watch.warnings == []  # at, not over, the limit


def test_by_default_it_records_the_last_batch_of_each_epoch_and_warns_once(capsys):
    model = one_dense(0.0)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.optimizer.learning_rate = 1e-9  # far too small: every recording is out of range
    x = np.random.default_rng(0).random((20, 1, 2, 2))
    watch = Diagnostics(x, patience=2, warmup=0)
    model.fit(x, np.zeros(20, np.int64), epochs=3, batch_size=8, callbacks=[watch], verbose=0)
    assert watch.steps == [3, 6, 9] and watch.epochs == [1.0, 2.0, 3.0]
    assert len(watch.warnings) == 2  # two layers, each warned once, at the second recording
    assert all(w.startswith("batch 6: ") for w in watch.warnings)
    printed = capsys.readouterr().err.splitlines()
    assert printed == [f"Diagnostics: {w}" for w in watch.warnings]


def test_the_figure_shows_the_records():
    model = one_dense(0.0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).random((16, 1, 2, 2))
    watch = Diagnostics(x, every=1, verbose=0)
    model.fit(x, np.zeros(16, np.int64), epochs=2, batch_size=4, callbacks=[watch], verbose=0)
    fig = diagnostics_figure(json.loads(json.dumps(watch.state())))  # as a run saves it
    for ax, statistic in zip(fig.axes, STATISTICS, strict=False):
        for line, (name, values) in zip(ax.lines, watch.records[statistic].items(), strict=False):
            assert line.get_label() == name
            np.testing.assert_array_equal(line.get_xdata(), watch.epochs)
            np.testing.assert_array_equal(line.get_ydata(), values)
    # Two layers in each panel; the dead fraction is the ReLU layer's only, beside its limit.
    assert [len(ax.lines) for ax in fig.axes[:5]] == [2, 2, 2, 2, 2]
    assert fig.axes[2].lines[1].get_ydata()[0] == watch.dead_limit
    assert [ax.get_yscale() for ax in fig.axes[:5]] == ["linear", "log", "linear", "log", "log"]
