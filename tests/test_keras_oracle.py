"""Keras opens convnet's files and predicts the same probabilities (optional: needs Keras 3):
Sequential models, models with batch normalization and global average pooling, and models
with residual blocks, which Keras opens as functional models. And Keras's batch normalization
takes the same training step as convnet's, moving statistics included.

Run with Keras 3 installed, e.g. on the torch backend, in an environment of its own that
also has convnet and its test dependencies::

    python -m venv kerasenv && kerasenv/bin/pip install torch==2.13.0 keras==3.15.1
    kerasenv/bin/pip install -e . pytest hypothesis
    KERAS_BACKEND=torch kerasenv/bin/python -m pytest -m oracle tests/test_keras_oracle.py

Skipped when Keras is not importable. Without KERAS_BACKEND and without TensorFlow, the torch
backend is used.
"""

import importlib.util
import os

import h5py
import numpy as np
import pytest

from convnet import layers as L
from convnet import losses
from convnet.model import Sequential
from convnet.nets import seed_net

if "KERAS_BACKEND" not in os.environ and importlib.util.find_spec("tensorflow") is None:
    os.environ["KERAS_BACKEND"] = "torch"
keras = pytest.importorskip("keras")
from test_io import every_layer_net, inputs, trained  # noqa: E402
from test_io_modern import bn_gap_net, flatten_bn_net, residual_net  # noqa: E402

pytestmark = pytest.mark.oracle


def nhwc(x):
    return x.transpose(0, 2, 3, 1) if x.ndim == 4 else x


@pytest.mark.parametrize(
    "make, optimizer",
    [(lambda: seed_net(seed=0), "adam"), (every_layer_net, "rmsprop"),
     (lambda: every_layer_net(dtype="float64"), "sgd"), (every_layer_net, "adadelta"),
     (every_layer_net, "adamw")],
    ids=["seed-net", "every-layer", "float64", "adadelta", "adamw"],
)  # fmt: skip
def test_keras_loads_convnet_models(tmp_path, make, optimizer, record_property):
    model = trained(make(), optimizer=optimizer)
    model.save(tmp_path / "mnist.h5")
    k = keras.models.load_model(tmp_path / "mnist.h5")
    x = inputs(model, 16)
    expected = model.predict(x)
    got = np.asarray(k.predict(nhwc(x), verbose=0))
    record_property("max_abs_difference", float(np.abs(got - expected).max()))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    # Keras compiled it with the same optimizer and took over the step count and rate.
    assert type(k.optimizer).__name__.lower() == model.optimizer.name
    assert int(k.optimizer.iterations) == model.optimizer.iterations == 3
    assert float(k.optimizer.learning_rate) == pytest.approx(model.optimizer.learning_rate)


@pytest.mark.parametrize(
    "make", [bn_gap_net, flatten_bn_net, residual_net, lambda: residual_net(dtype="float64")],
    ids=["bn-gap", "flatten-bn", "residual", "residual-float64"],
)
def test_keras_loads_convnet_models_with_batchnorm_and_residual_blocks(tmp_path, make,
                                                                      record_property):
    model = trained(make())
    model.save(tmp_path / "mnist.h5")
    k = keras.models.load_model(tmp_path / "mnist.h5")
    x = inputs(model, 16)
    got = np.asarray(k.predict(nhwc(x), verbose=0))
    record_property("max_abs_difference", float(np.abs(got - model.predict(x)).max()))
    np.testing.assert_allclose(got, model.predict(x), rtol=0, atol=1e-5)
    # Keras lists the layers of the model it built in the file's order, the order in which
    # its loader handed out the weights.
    with h5py.File(tmp_path / "mnist.h5") as f:
        names = [str(name) for name in f["model_weights"].attrs["layer_names"]]
    assert [layer.name for layer in k.layers] == names
    functional = any(isinstance(layer, L.Residual) for layer in model.layers)
    assert type(k).__name__ == ("Functional" if functional else "Sequential")
    adds = [layer for layer in k.layers if type(layer).__name__ == "Add"]
    assert len(adds) == (4 if functional else 0)


@pytest.mark.parametrize("make", [every_layer_net, residual_net], ids=["every-layer", "residual"])
def test_keras_reads_a_convnet_weights_file(tmp_path, make):
    model = trained(make())
    model.save(tmp_path / "arch.h5", include_optimizer=False)
    model.save_weights(tmp_path / "weights.h5")
    k = keras.models.load_model(tmp_path / "arch.h5")
    for layer in k.layers:  # scramble, then read the weights back
        layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
    k.load_weights(tmp_path / "weights.h5")
    x = inputs(model)
    np.testing.assert_allclose(np.asarray(k.predict(nhwc(x), verbose=0)), model.predict(x),
                               rtol=0, atol=1e-5)  # fmt: skip


def test_keras_compiles_a_from_logits_loss(tmp_path):
    model = Sequential([L.Conv2D(3, 3, activation="relu"), L.Flatten(), L.Dense(4)],
                       input_shape=(1, 6, 6), seed=0)  # fmt: skip
    model.compile(optimizer="adam", loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    model.save(tmp_path / "logits.h5")
    k = keras.models.load_model(tmp_path / "logits.h5")
    assert k.loss.from_logits is True
    x = inputs(model)
    np.testing.assert_allclose(np.asarray(k.predict(nhwc(x), verbose=0)), model.predict(x),
                               rtol=0, atol=1e-5)  # fmt: skip


def test_keras_updates_the_moving_statistics_as_convnet_does(tmp_path, record_property):
    """One training step from the same weights on the same batch, in Keras and in convnet:
    the same moving mean and variance, both made of the batch's *biased* variance (divided by
    M = N*H*W values of a channel, not by M - 1 as PyTorch's is), and the same weights after
    the step."""
    from convnet.optimizers import SGD

    model = Sequential([L.Conv2D(4, 3, use_bias=False), L.BatchNormalization(momentum=0.5),
                        L.ReLU(), L.GlobalAveragePooling2D(), L.Dense(5),
                        L.BatchNormalization(momentum=0.5), L.Dense(3, activation="softmax")],
                       input_shape=(2, 6, 6), seed=0)  # fmt: skip
    model.compile(optimizer=SGD(learning_rate=0.1), loss="sparse_categorical_crossentropy")
    # Compiled here, not from the file: Keras 3.15 (torch backend) refuses to train a model
    # loaded from a legacy .h5 file with an optimizer, its own files included ("This
    # optimizer can only be called for the variables it was originally built with").
    model.save(tmp_path / "bn.h5", include_optimizer=False)
    k = keras.models.load_model(tmp_path / "bn.h5")
    k.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1),
              loss="sparse_categorical_crossentropy")  # fmt: skip
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 2.0, size=(8, 2, 6, 6)).astype(np.float32)
    y = rng.integers(0, 3, 8)
    before = {name: w.copy() for name, w in model.weights().items()}
    model.train_on_batch(x, y)
    k.train_on_batch(nhwc(x), y)

    bns = [layer for layer in model.layers if isinstance(layer, L.BatchNormalization)]
    keras_bns = [layer for layer in k.layers if type(layer).__name__ == "BatchNormalization"]
    values = [4 * 4 * 8, 8]  # M: an image channel's values over the batch; a feature's
    for layer, keras_layer, m in zip(bns, keras_bns, values, strict=True):
        ours = layer.state["moving_variance"]
        theirs = np.asarray(keras_layer.moving_variance.numpy())
        np.testing.assert_allclose(theirs, ours, rtol=1e-5)
        np.testing.assert_allclose(np.asarray(keras_layer.moving_mean.numpy()),
                                   layer.state["moving_mean"], rtol=1e-5, atol=1e-6)
        # Had Keras averaged the unbiased variance, its moving variance would be here:
        start = before[f"{layer.name}/moving_variance"]
        batch_var = (ours - 0.5 * start) / 0.5
        unbiased = 0.5 * start + 0.5 * batch_var * m / (m - 1)
        record_property(f"{layer.name}_difference", float(np.abs(theirs - ours).max()))
        record_property(f"{layer.name}_unbiased_would_differ_by",
                        float(np.abs(theirs - unbiased).max()))  # fmt: skip
        assert np.abs(theirs - unbiased).min() > 100 * np.abs(theirs - ours).max()
    # The backward passes agree as well: the same weights after the step.
    keras_weights = {f"{layer.name}/{w.name}": np.asarray(w.numpy()) for layer in k.layers
                     for w in layer.weights}  # fmt: skip
    for name, value in model.weights().items():
        expected = keras_weights[name]
        if value.ndim == 4:
            expected = expected.transpose(3, 2, 0, 1)  # Keras's (KH, KW, C, F)
        np.testing.assert_allclose(expected, value, rtol=1e-4, atol=1e-6, err_msg=name)
