"""BatchNormalization, GlobalAveragePooling2D and Residual (convnet/layers.py): what each
layer keeps and updates, gradient checks of each and of a whole model built from them on every
rung, inference that does not depend on the batch, and errors that name the layer."""

import numpy as np
import pytest

from convnet import Sequential
from convnet.gradcheck import away_from_zero, check_layer, check_model, rel_error
from convnet.layers import (
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    GlobalAveragePooling2D,
    MaxPool2D,
    ReLU,
    Residual,
    walk,
)

RUNGS = pytest.mark.parametrize("backend", ["naive", "fast", "tuned"])
GRAD_TOL = 1e-7  # one layer
MODEL_TOL = 1e-6  # a whole model


def _built(layer, shape, dtype="float64", backend="fast", seed=0):
    layer.build(shape, np.random.default_rng(seed), dtype=dtype, backend=backend)
    return layer


# --- BatchNormalization ------------------------------------------------------------------------


def test_moving_statistics_follow_keras_update_rule():
    layer = _built(BatchNormalization(momentum=0.9), (2,))
    x = np.array([[1.0, 10.0], [3.0, 30.0]])  # means 2, 20; biased variances 1, 100
    layer.forward(x, training=True)
    np.testing.assert_allclose(layer.state["moving_mean"], [0.2, 2.0])  # 0.9*0 + 0.1*mean
    np.testing.assert_allclose(layer.state["moving_variance"], [1.0, 10.9])  # 0.9*1 + 0.1*var
    layer.forward(x, training=True)
    np.testing.assert_allclose(layer.state["moving_mean"], [0.38, 3.8])


def test_moving_statistics_change_only_in_training():
    layer = _built(BatchNormalization(), (3, 4, 4))
    x = np.random.default_rng(0).normal(2.0, 3.0, size=(6, 3, 4, 4))
    before = {k: v.copy() for k, v in layer.state.items()}
    layer.forward(x, training=False)
    layer.backward(np.ones_like(x))
    for k in before:
        np.testing.assert_array_equal(layer.state[k], before[k])
    layer.forward(x, training=True)
    assert not np.array_equal(layer.state["moving_mean"], before["moving_mean"])


def test_moving_statistics_are_updated_in_place():
    # The optimizer, a checkpoint and a Residual's dict refer to these arrays: never rebind.
    layer = _built(BatchNormalization(), (2,))
    arrays = [layer.state["moving_mean"], layer.state["moving_variance"]]
    layer.forward(np.array([[1.0, 2.0], [3.0, 5.0]]), training=True)
    assert arrays[0] is layer.state["moving_mean"] and arrays[1] is layer.state["moving_variance"]


def test_inference_gives_an_image_the_same_output_in_any_batch():
    model = Sequential([Conv2D(4, 3, use_bias=False), BatchNormalization(), ReLU(),
                        GlobalAveragePooling2D(), Dense(3, activation="softmax")],
                       input_shape=(1, 6, 6), seed=0)  # fmt: skip
    rng = np.random.default_rng(0)
    model.compile("adam", "sparse_categorical_crossentropy")
    x = rng.normal(size=(32, 1, 6, 6)).astype(np.float32)
    model.fit(x, rng.integers(0, 3, 32), epochs=2, batch_size=8, verbose=0)  # moves the stats
    alone = model.predict(x[:1])
    for n in (2, 9, 17):
        # Other images in the batch, however different, do not change an image's output by
        # one bit: inference normalizes with the moving statistics, not the batch's.
        first = model.predict(x[:n])[:1]
        np.testing.assert_array_equal(model.predict(np.concatenate([x[:1], 100 * x[1:n]]))[:1],
                                      first)  # fmt: skip
        # Batches of another size may take another of the tuned rung's ways to multiply (BLAS
        # or the register-tiled GEMM, measured per shape), which round differently: float32's
        # last digits only.
        np.testing.assert_allclose(first, alone, rtol=1e-6, atol=1e-7)


def test_training_output_does_depend_on_the_batch():
    # The reason for the moving statistics: in training, other images change an image's output.
    layer = _built(BatchNormalization(), (2,))
    x = np.array([[1.0, 2.0], [3.0, 5.0], [0.0, 1.0]])
    a = layer.forward(x[:2], training=True)[0]
    b = layer.forward(x, training=True)[0]
    assert not np.allclose(a, b)


@RUNGS
@pytest.mark.parametrize("shape", [(3, 4, 5), (5,)], ids=["images", "features"])
@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
def test_batchnorm_gradients(backend, shape, training):
    layer = _built(BatchNormalization(), shape, backend=backend)
    rng = np.random.default_rng(1)
    layer.params["gamma"][:] = rng.uniform(0.5, 2.0, shape[0])
    layer.params["beta"][:] = rng.normal(size=shape[0])
    layer.state["moving_variance"][:] = rng.uniform(0.5, 2.0, shape[0])
    report = check_layer(layer, rng.normal(1.0, 2.0, size=(4, *shape)), training=training)
    assert [row[0] for row in report.rows] == ["dx", "dgamma", "dbeta"]
    assert report.max_error <= GRAD_TOL, report


def test_without_center_or_scale_nothing_is_learned_for_them():
    layer = _built(BatchNormalization(center=False, scale=False), (3,))
    assert layer.params == {} and list(layer.state) == ["moving_mean", "moving_variance"]
    out = layer.forward(np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]), training=True)
    # each column's values are its mean +- 1 (the middle one has no spread):
    # x_hat = +-1 / sqrt(1 + eps)
    np.testing.assert_allclose(out, np.array([[-1, 0, 1], [1, 0, -1]]) / np.sqrt(1 + 1e-3))
    report = check_layer(layer, np.random.default_rng(0).normal(size=(4, 3)))
    assert report.max_error <= GRAD_TOL, report


@pytest.mark.parametrize(("make", "match"), [
    (lambda: BatchNormalization(momentum=1.0), r"momentum must be in \[0, 1\)"),
    (lambda: BatchNormalization(epsilon=0.0), "epsilon must be positive"),
])  # fmt: skip
def test_batchnorm_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_batchnorm_bad_input_names_the_layer():
    with pytest.raises(ValueError, match=r"bn \(BatchNormalization\): expects images"):
        _built(BatchNormalization(name="bn"), (3, 4))
    layer = _built(BatchNormalization(name="bn"), (3, 4, 4))
    with pytest.raises(ValueError, match=r"bn \(BatchNormalization\): expected input of shape "
                                         r"\(N, 3, 4, 4\), got \(2, 4, 4, 4\)"):  # fmt: skip
        layer.forward(np.zeros((2, 4, 4, 4)))


def test_a_bias_before_batchnorm_learns_nothing():
    # BatchNorm subtracts the channel's mean, so a constant added before it cancels: the
    # bias's gradient is zero (up to rounding), which is why such convolutions drop it.
    model = Sequential([Conv2D(3, 3), BatchNormalization(), GlobalAveragePooling2D(),
                        Dense(2, activation="softmax")], input_shape=(2, 5, 5), seed=0,
                       dtype="float64")  # fmt: skip
    model.compile("sgd", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    model.loss_and_gradients(rng.normal(size=(4, 2, 5, 5)), np.array([0, 1, 1, 0]))
    grads = model.gradients()
    assert np.abs(grads["conv2d/bias"]).max() < 1e-15 * np.abs(grads["conv2d/kernel"]).max() + 1e-15


# --- GlobalAveragePooling2D ---------------------------------------------------------------------


@RUNGS
def test_global_average_pooling_by_hand_and_gradients(backend):
    layer = _built(GlobalAveragePooling2D(), (2, 3, 2), backend=backend)
    x = np.arange(12.0).reshape(1, 2, 3, 2)
    np.testing.assert_allclose(layer.forward(x), [[2.5, 8.5]])
    dx = layer.backward(np.array([[6.0, 12.0]]))
    np.testing.assert_allclose(dx, np.concatenate([np.ones((1, 1, 3, 2)),
                                                   2 * np.ones((1, 1, 3, 2))], axis=1))  # fmt: skip
    report = check_layer(layer, np.random.default_rng(0).normal(size=(3, 2, 3, 2)))
    assert report.max_error <= GRAD_TOL, report


def test_global_average_pooling_bad_input():
    with pytest.raises(ValueError, match=r"gap \(GlobalAveragePooling2D\): expects images"):
        _built(GlobalAveragePooling2D(name="gap"), (10,))


# --- Residual ----------------------------------------------------------------------------------


def test_identity_shortcut_adds_the_input_and_passes_dout_back():
    block = _built(Residual([Dense(3, name="inner", use_bias=False)]), (3,))
    block.sublayers[0].params["kernel"][:] = 2 * np.eye(3)
    x = np.array([[1.0, -2.0, 3.0]])
    np.testing.assert_allclose(block.forward(x), 3 * x)  # 2x + x
    dx = block.backward(np.array([[1.0, 1.0, 1.0]]))
    np.testing.assert_allclose(dx, [[3.0, 3.0, 3.0]])  # the block's 2 plus the shortcut's 1
    np.testing.assert_allclose(block.grads["inner/kernel"], x.T @ np.ones((1, 3)))


def test_a_block_that_reshapes_gets_a_strided_1x1_projection():
    block = _built(Residual([Conv2D(6, 3, strides=2, padding="same")], name="res"), (4, 7, 7))
    assert block.output_shape == (6, 4, 4)
    assert block.shortcut.name == "res_shortcut" and block.shortcut.strides == (2, 2)
    assert block.shortcut.params["kernel"].shape == (6, 4, 1, 1)
    assert list(block.params) == ["conv2d/kernel", "conv2d/bias", "res_shortcut/kernel",
                                  "res_shortcut/bias"]  # fmt: skip


@RUNGS
@pytest.mark.parametrize("project", [False, True], ids=["identity", "projection"])
def test_residual_gradients(backend, project):
    inner = [Conv2D(3, 3, padding="same", activation="tanh"), BatchNormalization(),
             Conv2D(5 if project else 3, 3, strides=2 if project else 1, padding="same")]
    block = _built(Residual(inner, activation="tanh"), (3, 5, 5), backend=backend)
    report = check_layer(block, np.random.default_rng(0).normal(size=(2, 3, 5, 5)))
    names = [row[0] for row in report.rows]
    assert "dconv2d/kernel" in names and "dbatch_normalization/gamma" in names
    assert ("dresidual_shortcut/kernel" in names) == project
    assert report.max_error <= GRAD_TOL, report


def test_residual_bad_shapes_name_the_block():
    with pytest.raises(ValueError, match=r"res \(Residual\): the block turns \(4, 6, 6\) into "
                                         r"\(10,\)"):  # fmt: skip
        from convnet.layers import Flatten

        _built(Residual([Flatten(), Dense(10)], name="res"), (4, 6, 6))
    with pytest.raises(ValueError, match="not a whole-number stride"):
        _built(Residual([Conv2D(4, 3)], name="res"), (4, 6, 6))  # 6x6 -> 4x4
    with pytest.raises(ValueError, match="non-empty list of layers"):
        Residual([])


# --- a whole modern model ----------------------------------------------------------------------


def _modern(dtype="float64", backend="fast", dropout=0.0, seed=0, width=4):
    return Sequential([
        Conv2D(width, 3, padding="same", use_bias=False), BatchNormalization(), ReLU(),
        Residual([Conv2D(width, 3, padding="same", use_bias=False), BatchNormalization(), ReLU(),
                  Dropout(dropout), Conv2D(width, 3, padding="same", use_bias=False),
                  BatchNormalization()], activation="relu"),
        Residual([Conv2D(width + 2, 3, strides=2, padding="same", use_bias=False),
                  BatchNormalization()], activation="relu"),
        MaxPool2D(2, padding="same"), GlobalAveragePooling2D(), Dense(3, activation="softmax"),
    ], input_shape=(2, 6, 6), seed=seed, dtype=dtype, backend=backend)  # fmt: skip


@RUNGS
def test_whole_model_gradient_check(backend):
    # The naive rung's loops take 50 ms a pass over this model's 5 images, and the check makes
    # two passes per parameter: it checks a narrower model (a third of the parameters) on
    # 3 images. The rungs equal each other to 1e-9 (the next test).
    width, n = (2, 3) if backend == "naive" else (4, 5)
    model = _modern(backend=backend, dropout=0.3, width=width)
    model.compile("sgd", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    report = check_model(model, away_from_zero((n, 2, 6, 6), rng), rng.integers(0, 3, n))
    assert len(report.rows) == len(model.parameters()) == 16
    assert report.max_error <= MODEL_TOL, report


def test_rungs_agree_in_training_and_inference():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 2, 6, 6)), rng.integers(0, 3, 6)
    results = []
    for backend in ("naive", "fast", "tuned"):
        model = _modern(backend=backend)
        model.compile("sgd", "sparse_categorical_crossentropy")
        loss, _ = model.loss_and_gradients(x, y)
        results.append((loss, model.gradients(), model.weights(), model.predict(x)))
    for loss, grads, weights, probs in results[1:]:
        assert abs(loss - results[0][0]) <= 1e-12
        for name, g in grads.items():
            assert rel_error(g, results[0][1][name]) <= 1e-9, name
        for name, w in weights.items():  # the moving statistics too
            assert rel_error(w, results[0][2][name]) <= 1e-9, name
        assert rel_error(probs, results[0][3]) <= 1e-9


def test_names_are_unique_across_blocks_and_weights_list_the_state():
    model = _modern()
    names = [layer.name for layer in walk(model.layers)]
    assert len(set(names)) == len(names)
    assert names[:6] == ["conv2d", "batch_normalization", "re_lu", "residual", "conv2d_1",
                         "batch_normalization_1"]  # fmt: skip
    weights = model.weights()
    assert "residual/batch_normalization_1/moving_mean" in weights
    assert set(model.parameters()) < set(weights)
    state = sum(w.size for name, w in weights.items() if "moving" in name)
    assert state == 2 * (4 + 4 + 4 + 6)


def test_summary_shows_the_inside_of_a_block_and_non_trainable_counts():
    lines = []
    _modern(dtype="float32").summary(print_fn=lines.append)
    text = lines[0]
    assert "\n  conv2d_1 (Conv2D)" in text and "\n  residual_1_shortcut (Conv2D)" in text
    assert "Non-trainable params: 36" in text  # moving mean and variance of 18 channels
    total = _modern().count_params()
    assert f"Total params: {total:,}" in text


def test_same_seed_same_weights_and_training_is_reproducible():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 2, 6, 6)).astype(np.float32), rng.integers(0, 3, 16)
    runs = []
    for _ in range(2):
        model = _modern(dtype="float32", backend="tuned", dropout=0.2, seed=3)
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(x, y, epochs=2, batch_size=4, verbose=0)
        runs.append(model.weights())
    for name in runs[0]:
        np.testing.assert_array_equal(runs[0][name], runs[1][name])


def test_a_modern_model_memorises_a_tiny_set():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 2, 6, 6)).astype(np.float32)
    y = rng.integers(0, 3, 24)
    model = _modern(dtype="float32", backend="tuned")
    model.compile("adam", "sparse_categorical_crossentropy")
    model.optimizer.learning_rate = 0.01
    model.fit(x, y, epochs=60, batch_size=8, verbose=0)
    assert model.evaluate(x, y)[1] == 1.0


def test_gradient_checks_leave_the_moving_statistics_as_they_were():
    model = _modern(dropout=0.2)
    model.compile("sgd", "sparse_categorical_crossentropy")
    before = {name: w.copy() for name, w in model.weights().items() if "moving" in name}
    rng = np.random.default_rng(0)
    check_model(model, away_from_zero((3, 2, 6, 6), rng), rng.integers(0, 3, 3))
    check_layer(model.layers[1], rng.normal(size=(3, 4, 6, 6)))
    for name, value in before.items():
        np.testing.assert_array_equal(model.weights()[name], value, err_msg=name)
