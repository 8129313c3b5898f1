"""Keras opens convnet's files and predicts the same probabilities (optional: needs Keras 3).

Run with Keras 3 installed, e.g. on the torch backend::

    pip install torch==2.13.0 keras==3.15.1
    KERAS_BACKEND=torch pytest -m oracle tests/test_keras_oracle.py

Skipped when Keras is not importable. Without KERAS_BACKEND and without TensorFlow, the torch
backend is used.
"""

import importlib.util
import os

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


def test_keras_reads_a_convnet_weights_file(tmp_path):
    model = trained(every_layer_net())
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
