"""Sequential: the seed-net's shapes and parameter counts, whole-model gradient check,
seeding, the ln 10 sanity check, memorising a small set, and errors."""

import math

import numpy as np
import pytest

from convnet import Sequential
from convnet import layers as L
from convnet.gradcheck import check_model
from convnet.nets import seed_net


def test_seed_net_summary_matches_keras_counts():
    model = seed_net(seed=0)
    lines = []
    model.summary(print_fn=lines.append)
    text = lines[0]
    expected_rows = [
        ("conv2d (Conv2D)", "(None, 32, 26, 26)", "320"),
        ("conv2d_1 (Conv2D)", "(None, 64, 24, 24)", "18,496"),
        ("max_pooling2d (MaxPool2D)", "(None, 64, 12, 12)", "0"),
        ("dropout (Dropout)", "(None, 64, 12, 12)", "0"),
        ("flatten (Flatten)", "(None, 9216)", "0"),
        ("dense (Dense)", "(None, 128)", "1,179,776"),
        ("dropout_1 (Dropout)", "(None, 128)", "0"),
        ("dense_1 (Dense)", "(None, 10)", "1,290"),
    ]
    rows = [line.split() for line in text.splitlines()]
    for name, shape, params in expected_rows:
        assert [*name.split(), *shape.split(), params] in rows, name
    assert "Total params: 1,199,882" in text
    assert model.count_params() == 1_199_882
    assert [layer.count_params() for layer in model.layers if layer.params] == [
        320, 18_496, 1_179_776, 1_290]


def test_parameters_are_named_and_live():
    model = seed_net(seed=0)
    params = model.parameters()
    assert list(params)[:3] == ["conv2d/kernel", "conv2d/bias", "conv2d_1/kernel"]
    assert params["dense/kernel"].shape == (9216, 128)
    assert params["conv2d/kernel"].shape == (32, 1, 3, 3)
    assert params["dense_1/bias"].dtype == np.float32
    assert params["conv2d/kernel"] is model.layers[0].params["kernel"]


def test_same_seed_same_model_and_masks():
    a, b, c = seed_net(seed=7), seed_net(seed=7), seed_net(seed=8)
    for (ka, va), (_, vb), (_, vc) in zip(a.parameters().items(), b.parameters().items(),
                                          c.parameters().items(), strict=True):
        np.testing.assert_array_equal(va, vb, err_msg=ka)
        if not ka.endswith("bias"):  # biases start at zero either way
            assert not np.array_equal(va, vc), ka
    x = np.random.default_rng(0).random((4, 1, 28, 28), dtype=np.float32)
    np.testing.assert_array_equal(a.forward(x, training=True), b.forward(x, training=True))


def mixed_net(dtype="float64", seed=3):
    """Not :func:`convnet.nets.small_net`: a little of every layer kind, non-square kernels
    and strides, for a whole-model gradient check in float64."""
    return Sequential([
        L.Conv2D(3, (3, 2), padding="same", activation="tanh"),
        L.MaxPool2D(2),
        L.Dropout(0.3),
        L.Conv2D(2, 2, strides=(1, 2)),
        L.AvgPool2D((1, 2), strides=1),
        L.Flatten(),
        L.Dense(5, activation="sigmoid"),
        L.Dense(4, activation="softmax"),
    ], input_shape=(2, 7, 8), seed=seed, dtype=dtype)  # fmt: skip


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "categorical_crossentropy"])
def test_whole_model_gradient_check(loss):
    model = mixed_net()
    model.compile(optimizer="sgd", loss=loss)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 2, 7, 8))
    labels = rng.integers(0, 4, size=3)
    y = labels if loss.startswith("sparse") else np.eye(4)[labels]
    report = check_model(model, x, y)
    assert len(report.rows) == 8  # kernel and bias of four weighted layers
    assert report.max_error <= 1e-6, str(report)


def test_initial_loss_is_ln_10_with_small_weights():
    model = seed_net(seed=1)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.layers[-1].params["kernel"] *= 0.01  # small final weights: logits near 0
    rng = np.random.default_rng(0)
    x = rng.random((64, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, size=64)
    loss = model.compute_loss(x, y)
    assert abs(loss - math.log(10)) < 0.01, loss


def test_memorises_64_random_images_with_random_labels():
    model = seed_net(seed=2)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.random((64, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, size=64)
    for _ in range(60):
        model.train_on_batch(x, y)
    loss, acc = model.evaluate(x, y)
    assert acc == 1.0, (loss, acc)
    assert loss < 0.05


def test_predict_gives_probabilities_in_batches():
    model = seed_net(seed=0)
    x = np.random.default_rng(0).random((10, 1, 28, 28), dtype=np.float32)
    p = model.predict(x, batch_size=3)
    assert p.shape == (10, 10) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(p, model.predict(x), rtol=1e-5)  # batching changes nothing


def test_train_on_batch_changes_weights_and_float64_is_possible():
    model = mixed_net(dtype="float64")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    before = {k: v.copy() for k, v in model.parameters().items()}
    x = np.random.default_rng(0).normal(size=(5, 2, 7, 8))
    model.train_on_batch(x, np.arange(5) % 4)
    for k, v in model.parameters().items():
        assert v.dtype == np.float64
        assert not np.array_equal(v, before[k]), k


# --- errors --------------------------------------------------------------------------------


def test_wrong_label_shape_names_loss_and_shapes():
    model = seed_net(seed=0)
    model.compile(loss="categorical_crossentropy")
    x = np.zeros((4, 1, 28, 28), np.float32)
    with pytest.raises(ValueError, match=r"categorical_crossentropy: labels must be one-hot rows "
                                         r"of shape \(4, 10\).*got shape \(4,\).*sparse"):
        model.train_on_batch(x, np.arange(4))
    model.compile(loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"integer classes of shape \(4,\).*\(4, 10\)"):
        model.train_on_batch(x, np.eye(10)[:4])
    with pytest.raises(ValueError, match=r"4 inputs but 3 labels"):
        model.train_on_batch(x, np.arange(3))


def test_input_errors_name_the_layer():
    model = seed_net(seed=0)
    with pytest.raises(ValueError, match=r"conv2d \(Conv2D\): input has 3 channels"):
        model.predict(np.zeros((2, 3, 28, 28), np.float32))
    x = np.zeros((2, 1, 28, 28), np.float32)
    x[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"conv2d \(Conv2D\).*NaN or Inf"):
        model.predict(x)
    with pytest.raises(ValueError, match=r"conv2d \(Conv2D\): expected a 4-D input.*\(28, 28\)"):
        model.predict(np.zeros((28, 28), np.float32))


CHANNELS_LAST = r"convnet is NCHW \(channels first\) but \(28, 28, 1\) looks channels-last"
TRANSPOSE = r"transpose the images with x\.transpose\(0, 3, 1, 2\)"


def _mnist_cnn(**kwargs):
    return Sequential([L.Conv2D(4, 3), L.MaxPool2D(2), L.Flatten(),
                       L.Dense(10, activation="softmax")], seed=0, **kwargs)  # fmt: skip


def test_a_channels_last_input_shape_is_explained():
    # Keras's habit: input_shape=(28, 28, 1). The error used to stop at "kernel 3x3 is larger
    # than the padded input 28x1".
    with pytest.raises(ValueError, match=r"conv2d \(Conv2D\): kernel 3x3 is larger than the "
                       r"padded input 28x1 .*; " + CHANNELS_LAST + r" .*: use "
                       r"input_shape=\(1, 28, 28\) and " + TRANSPOSE):  # fmt: skip
        _mnist_cnn(input_shape=(28, 28, 1))
    # Where the first layer fits and a later one fails, the advice is about the input still.
    with pytest.raises(ValueError, match=r"max_pooling2d .* 30x1.*input_shape=\(3, 32, 32\)"):
        _mnist_cnn(input_shape=(32, 32, 3))
    # A model built from its first batch, channels last, gets the same advice.
    with pytest.raises(ValueError, match=CHANNELS_LAST + ".*" + TRANSPOSE):
        _mnist_cnn().predict(np.zeros((2, 28, 28, 1), np.float32))


@pytest.mark.parametrize("backend", ["naive", "fast", "tuned"])
def test_a_channels_last_batch_is_explained(backend):
    model = _mnist_cnn(input_shape=(1, 28, 28), backend=backend)
    message = r"conv2d \(Conv2D\): input has 28 channels but the layer was built for 1 .*; "
    with pytest.raises(ValueError, match=message + CHANNELS_LAST + ".*: " + TRANSPOSE + "$"):
        model.predict(np.zeros((2, 28, 28, 1), np.float32))
    pool_first = Sequential([L.MaxPool2D(2), L.Flatten(), L.Dense(3, activation="softmax")],
                            input_shape=(3, 32, 32), backend=backend)  # fmt: skip
    message = r"max_pooling2d \(MaxPool2D\): expected input of shape \(N, 3, 32, 32\), got "
    with pytest.raises(ValueError, match=message + r"\(2, 32, 32, 3\); .*" + TRANSPOSE):
        pool_first.predict(np.zeros((2, 32, 32, 3), np.float32))


def test_other_shape_errors_give_no_channels_last_advice():
    with pytest.raises(ValueError) as err:
        _mnist_cnn(input_shape=(1, 2, 28))  # too small for the kernel, but channels first
    assert "kernel 3x3 is larger" in str(err.value) and "NCHW" not in str(err.value)
    model = _mnist_cnn(input_shape=(1, 28, 28))
    with pytest.raises(ValueError) as err:
        model.predict(np.zeros((2, 3, 28, 28), np.float32))  # wrong channels, not transposed
    assert "input has 3 channels" in str(err.value) and "NCHW" not in str(err.value)


def test_non_float_input_is_refused_with_advice_for_its_dtype():
    model = seed_net(seed=0)
    with pytest.raises(ValueError, match=r"sequential: input must be floating point .* got uint8 "
                       r"with shape \(2, 1, 28, 28\); scale the bytes to \[0, 1\] floats with "
                       r"\.astype\('float32'\) / 255"):  # fmt: skip
        model.predict(np.zeros((2, 1, 28, 28), np.uint8))
    with pytest.raises(ValueError, match=r"got int64 .*; convert it with \.astype\('float32'\)$"):
        model.predict(np.zeros((2, 1, 28, 28), np.int64))
    with pytest.raises(ValueError, match=r"sequential: input must be a NumPy array, got list"):
        model.predict([[0.0]])


def test_nan_made_inside_the_model_is_traced_to_the_layer_that_received_it():
    """At inference only the first layer checks its input; the output check finds the rest."""
    model = seed_net(seed=0)
    x = np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32)
    model.layers[1].params["kernel"][0, 0, 0, 0] = np.nan  # conv2d_1 makes NaN of finite input
    with pytest.raises(ValueError, match=r"max_pooling2d \(MaxPool2D\).*NaN or Inf"):
        model.predict(x)
    with pytest.raises(ValueError, match=r"max_pooling2d \(MaxPool2D\).*NaN or Inf"):
        model.forward(x, training=True)  # in training every layer checks as it goes
    fresh = seed_net(seed=0)
    fresh.layers[-1].params["bias"][3] = np.nan  # made by the last layer: returned, as Keras does
    assert np.isnan(fresh.predict(x)).all()


def test_compile_checks_the_final_softmax():
    model = Sequential([L.Dense(3)], input_shape=(4,))
    with pytest.raises(ValueError, match="must end in a softmax"):
        model.compile(loss="categorical_crossentropy")


def test_lazy_build_from_first_batch():
    model = Sequential([L.Flatten(), L.Dense(3, activation="softmax")], seed=0)
    assert not model.built
    with pytest.raises(ValueError, match="not built yet"):
        model.summary()
    out = model.predict(np.zeros((2, 1, 4, 4), np.float32))
    assert model.built and model.input_shape == (1, 4, 4) and out.shape == (2, 3)


def test_layer_chain_mismatch_is_reported():
    with pytest.raises(ValueError, match=r"dense \(Dense\).*\(2, 6, 6\).*Flatten"):
        Sequential([L.Conv2D(2, 3), L.Dense(4)], input_shape=(1, 8, 8))
