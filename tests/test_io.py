"""Model files (convnet.keras_h5, convnet.io): the Keras HDF5 layout written and read, round
trips, Keras's own files, and every way a file can be wrong."""

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from convnet import keras_config, keras_h5
from convnet import layers as L
from convnet.io import load_model, load_weights, save_weights
from convnet.model import Sequential
from convnet.nets import seed_net

FIXTURES = Path(__file__).parent / "fixtures"
KERAS_FILES = ["keras3_small_cnn", "keras3_strides_same", "tfkeras2_small_cnn"]


def every_layer_net(dtype="float32", seed=3, dropout=0.3):
    """Every layer convnet can write, explicit padding, a non-square input with 2 channels."""
    return Sequential([
        L.Conv2D(3, (3, 2), padding="same", activation="tanh"),
        L.MaxPool2D(2),
        L.Dropout(dropout),
        L.Conv2D(4, 2, strides=(1, 2), padding=(1, 0, 2, 1), use_bias=False),
        L.ReLU(),
        L.AvgPool2D((1, 2), strides=1, padding="same"),
        L.Flatten(),
        L.Dense(6),
        L.LeakyReLU(alpha=0.1),
        L.Dense(5, activation="sigmoid"),
        L.Tanh(),
        L.Dense(4),
        L.Softmax(),
    ], input_shape=(2, 7, 9), seed=seed, dtype=dtype)  # fmt: skip


def trained(model, steps=3, optimizer="adam"):
    """A few optimizer steps on random data, so that biases and optimizer state are non-zero."""
    rng = np.random.default_rng(1)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    x = rng.random((8, *model.input_shape)).astype(model.dtype)
    k = model.output_shape[0]
    for _ in range(steps):
        model.train_on_batch(x, rng.integers(0, k, 8))
    return model


def inputs(model, n=5):
    return np.random.default_rng(2).random((n, *model.input_shape)).astype(model.dtype)


# --- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd", "rmsprop", "adadelta"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_is_bit_identical(tmp_path, optimizer, dtype):
    from convnet.optimizers import SGD, AdamW, RMSprop

    opt = {"sgd": SGD(momentum=0.9, nesterov=True), "rmsprop": RMSprop(momentum=0.5),
           "adamw": AdamW(weight_decay=0.05, exclude_from_weight_decay=["bias"])}  # fmt: skip
    model = trained(every_layer_net(dtype), optimizer=opt.get(optimizer, optimizer))
    model.save(tmp_path / "m.h5", metadata={"history": {"loss": [1.0, 0.5]}})
    loaded = load_model(tmp_path / "m.h5")
    x = inputs(model)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert [layer.get_config() for layer in loaded.layers] == [
        layer.get_config() for layer in model.layers
    ]
    assert loaded.seed == model.seed and loaded.dtype == model.dtype
    assert loaded.metadata == {"history": {"loss": [1.0, 0.5]}}
    assert repr(loaded.optimizer) == repr(model.optimizer)
    assert loaded.loss.name == model.loss.name
    saved, restored = model.optimizer.state_dict(), loaded.optimizer.state_dict()
    assert sorted(saved) == sorted(restored) and saved["iterations"] == 3
    for key in saved:
        np.testing.assert_array_equal(restored[key], saved[key], err_msg=key)


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_training_goes_on_identically_after_a_round_trip(tmp_path, optimizer):
    from convnet.optimizers import AdamW

    # Without dropout: its generator's state is in checkpoints only (see test_training).
    opt = {"adamw": AdamW(weight_decay=0.1, exclude_from_weight_decay=["bias"])}
    model = trained(every_layer_net(dropout=0.0), optimizer=opt.get(optimizer, optimizer))
    model.save(tmp_path / "m.h5")
    loaded = load_model(tmp_path / "m.h5")
    assert repr(loaded.optimizer) == repr(model.optimizer)
    x, y = inputs(model, 8), np.arange(8) % 4
    for _ in range(2):
        model.train_on_batch(x, y)
        loaded.train_on_batch(x, y)
    for name, value in model.parameters().items():
        np.testing.assert_array_equal(loaded.parameters()[name], value, err_msg=name)


def test_weights_file_round_trip_and_layout(tmp_path):
    a, b = trained(every_layer_net(seed=1)), every_layer_net(seed=2)
    save_weights(a, tmp_path / "w.h5")
    b.load_weights(tmp_path / "w.h5")
    x = inputs(a)
    np.testing.assert_array_equal(b.predict(x), a.predict(x))
    with h5py.File(tmp_path / "w.h5") as f:  # Keras's weights file: model_weights at the root
        assert "model_config" not in f.attrs and "layer_names" in f.attrs
    with pytest.raises(ValueError, match="weights only.*load_weights"):
        load_model(tmp_path / "w.h5")
    a.save(tmp_path / "m.h5")
    c = every_layer_net(seed=4)
    c.load_weights(tmp_path / "m.h5")  # a full model file works too
    np.testing.assert_array_equal(c.predict(x), a.predict(x))


def test_metadata_must_be_json_and_may_be_long(tmp_path):
    model = every_layer_net()
    history = {"loss": [np.float32(0.5)] * 5000, "val_accuracy": list(np.linspace(0, 1, 5000))}
    model.save(tmp_path / "m.h5", metadata={"history": history})  # well over 64 KiB of JSON
    assert load_model(tmp_path / "m.h5").metadata["history"]["loss"] == [0.5] * 5000
    with pytest.raises(ValueError, match="metadata must be JSON-serialisable"):
        model.save(tmp_path / "bad.h5", metadata={"when": object()})
    assert not (tmp_path / "bad.h5").exists()


# --- the layout Keras 3 writes ----------------------------------------------------------------

# From the mnist.h5 Keras 3.15.1 wrote for this very network (shared/reference).
KERAS3_LAYER_NAMES = ["conv2d", "conv2d_1", "max_pooling2d", "dropout", "flatten", "dense",
                      "dropout_1", "dense_1"]  # fmt: skip
KERAS3_SHAPES = {"conv2d": (3, 3, 1, 32), "conv2d_1": (3, 3, 32, 64), "dense": (9216, 128),
                 "dense_1": (128, 10)}  # fmt: skip


def test_seed_net_file_has_keras3s_layout(tmp_path):
    model = seed_net(seed=0)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.save(tmp_path / "mnist.h5")
    with h5py.File(tmp_path / "mnist.h5") as f:
        assert f.attrs["backend"] == "tensorflow" and f.attrs["keras_version"].startswith("3.")
        config = json.loads(f.attrs["model_config"])
        entries = config["config"]["layers"]
        assert entries[0]["class_name"] == "InputLayer"
        assert entries[0]["config"]["batch_input_shape"] == [None, 28, 28, 1]
        assert [e["config"]["name"] for e in entries[1:]] == KERAS3_LAYER_NAMES
        weights = f["model_weights"]
        assert list(weights.attrs["layer_names"]) == KERAS3_LAYER_NAMES
        for layer, shape in KERAS3_SHAPES.items():
            names = list(weights[layer].attrs["weight_names"])
            assert names == [f"sequential/{layer}/kernel", f"sequential/{layer}/bias"]
            assert weights[layer][names[0]].shape == shape
        assert len(weights["dropout"].attrs["weight_names"]) == 0
        opt_names = list(f["optimizer_weights"].attrs["weight_names"])
        assert opt_names[:3] == ["adam/iteration", "adam/learning_rate",
                                 "adam/sequential_conv2d_kernel_momentum"]  # fmt: skip
        assert opt_names[-1] == "adam/sequential_dense_1_bias_velocity" and len(opt_names) == 18
        training = json.loads(f.attrs["training_config"])
        assert training["optimizer_config"]["class_name"] == "Adam"
        assert training["loss"] == "categorical_crossentropy"


def test_adamw_file_has_keras3s_layout_and_keeps_the_exclusions_beside_it(tmp_path):
    from convnet.optimizers import AdamW

    model = Sequential([L.Dense(3, activation="softmax")], input_shape=(4,), seed=0)
    model.compile(optimizer=AdamW(learning_rate=0.01, weight_decay=0.02,
                                  exclude_from_weight_decay=["bias"]),
                  loss="sparse_categorical_crossentropy")  # fmt: skip
    model.train_on_batch(np.ones((2, 4), np.float32), np.array([0, 2]))
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r") as f:
        training = json.loads(f.attrs["training_config"])
        opt_names = list(f["optimizer_weights"].attrs["weight_names"])
    # What Keras 3 writes for its AdamW, and reads back with AdamW(**config): no other keys.
    assert training["optimizer_config"] == {"class_name": "AdamW", "config": {
        "name": "adamw", "learning_rate": 0.01, "beta_1": 0.9, "beta_2": 0.999,
        "epsilon": 1e-7, "weight_decay": 0.02}}  # fmt: skip
    assert training[keras_config.EXCLUDE_KEY] == ["bias"]
    assert opt_names == ["adamw/iteration", "adamw/learning_rate",
                         "adamw/sequential_dense_kernel_momentum",
                         "adamw/sequential_dense_kernel_velocity",
                         "adamw/sequential_dense_bias_momentum",
                         "adamw/sequential_dense_bias_velocity"]  # fmt: skip
    # Without exclusions the key is left out.
    model.compile(optimizer="adamw", loss="sparse_categorical_crossentropy")
    assert keras_config.EXCLUDE_KEY not in keras_config.training_config(model)


def test_keras_adamw_training_config_is_read():
    """A training_config as Keras 3.15 writes it for AdamW (every base option, off)."""
    keras_adamw = {"name": "adamw", "learning_rate": 0.002, "weight_decay": 0.01,
                   "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
                   "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
                   "loss_scale_factor": None, "gradient_accumulation_steps": None,
                   "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-7, "amsgrad": False}  # fmt: skip
    training = {"loss": "sparse_categorical_crossentropy", "loss_weights": None,
                "optimizer_config": {"class_name": "AdamW", "config": keras_adamw}}  # fmt: skip
    opt, _ = keras_config.compile_args(training)
    assert opt.get_config() == {"learning_rate": 0.002, "beta_1": 0.8, "beta_2": 0.99,
                                "epsilon": 1e-7, "weight_decay": 0.01,
                                "exclude_from_weight_decay": None}  # fmt: skip
    training[keras_config.EXCLUDE_KEY] = ["bias", "gamma"]
    assert keras_config.compile_args(training)[0].exclude_from_weight_decay == ("bias", "gamma")
    training[keras_config.EXCLUDE_KEY] = "bias"  # a string, not a list of name parts
    with pytest.raises(ValueError, match="adamw: exclude_from_weight_decay must be a list"):
        keras_config.compile_args(training)
    training["optimizer_config"] = {"class_name": "Adam", "config": {"learning_rate": 0.1}}
    training[keras_config.EXCLUDE_KEY] = ["bias"]  # only AdamW decays weights
    with pytest.raises(ValueError, match="optimizer Adam uses convnet_exclude_from_weight_dec"):
        keras_config.compile_args(training)


def test_layout_conversions():
    rng = np.random.default_rng(0)
    kernel = rng.random((4, 3, 2, 5))  # (F, C, KH, KW)
    keras = keras_h5.to_keras(kernel, "conv")
    assert keras.shape == (2, 5, 3, 4) and keras[1, 4, 2, 3] == kernel[3, 2, 1, 4]
    np.testing.assert_array_equal(keras_h5.from_keras(keras, "conv"), kernel)
    # Dense rows: convnet flattens (C, H, W), Keras (H, W, C).
    c, h, w = 3, 2, 4
    image = rng.random((c, h, w))
    dense = rng.random((c * h * w, 7))
    convnet_out = image.reshape(-1) @ dense
    keras_out = image.transpose(1, 2, 0).reshape(-1) @ keras_h5.to_keras(dense, ("chw", (c, h, w)))
    np.testing.assert_allclose(keras_out, convnet_out, rtol=1e-12)
    np.testing.assert_array_equal(keras_h5.from_keras(keras_h5.to_keras(dense, ("chw", (c, h, w))),
                                                ("chw", (c, h, w))), dense)  # fmt: skip


def test_what_keras_cannot_express_is_refused(tmp_path):
    ends_flat = Sequential([L.Conv2D(2, 3), L.Flatten()], input_shape=(1, 5, 5))
    with pytest.raises(ValueError, match=r"Flatten .* without a Dense"):
        ends_flat.save(tmp_path / "a.h5")
    leaky = Sequential([L.Dense(3, activation="leaky_relu")], input_shape=(4,))
    with pytest.raises(ValueError, match="dense: Keras's activation string 'leaky_relu'"):
        leaky.save(tmp_path / "b.h5")
    assert not list(tmp_path.iterdir())  # nothing written, no temporary files left


# --- Keras's own files ------------------------------------------------------------------------


@pytest.mark.parametrize("name", KERAS_FILES)
def test_keras_files_predict_what_keras_predicted(name):
    model = load_model(FIXTURES / f"{name}.h5")
    expected = np.load(FIXTURES / f"{name}.npz")
    x = expected["x"].transpose(0, 3, 1, 2)  # Keras's (N, H, W, C) to convnet's (N, C, H, W)
    np.testing.assert_allclose(model.predict(x), expected["probabilities"], rtol=0, atol=1e-5)
    assert model.loss is not None and model.optimizer.iterations == 4  # 64 images, batch 16


def test_keras_zero_padding_becomes_conv_padding():
    model = load_model(FIXTURES / "keras3_strides_same.h5")
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Conv2D", "AvgPool2D", "Conv2D", "MaxPool2D", "Flatten", "Dense",
                     "LeakyReLU", "Dense", "Activation", "Dense", "Softmax"]  # fmt: skip
    assert model.layers[2].padding == (1, 0, 2, 1) and model.layers[6].alpha == pytest.approx(0.1)


def test_without_the_flatten_reorder_keras_files_predict_wrongly(monkeypatch):
    """The (C, H, W) <-> (H, W, C) reorder of the first Dense after Flatten is what makes the
    Keras file right: skip it and the model still loads, but predicts something else."""
    expected = np.load(FIXTURES / "keras3_small_cnn.npz")
    x = expected["x"].transpose(0, 3, 1, 2)
    from_keras = keras_h5.from_keras
    monkeypatch.setattr(keras_h5, "from_keras", lambda v, layout: from_keras(
        v, None if isinstance(layout, tuple) else layout))  # fmt: skip
    wrong = load_model(FIXTURES / "keras3_small_cnn.h5").predict(x)
    assert np.abs(wrong - expected["probabilities"]).max() > 1e-3


@pytest.mark.parametrize("name", KERAS_FILES)
def test_keras_optimizer_state_is_read_in_keras_order(name):
    """Check the order-based reading against the names Keras gave each state array."""
    model = load_model(FIXTURES / f"{name}.h5")
    state = model.optimizer.state_dict()
    layouts = keras_h5.keras_layouts(model)
    short = {"momentum": "m", "velocity": "v"}  # tf.keras 2's Adam names
    with h5py.File(FIXTURES / f"{name}.h5") as f:
        group = f["optimizer_weights"]
        stored = {n.decode() if isinstance(n, bytes) else n: group[n]
                  for n in group.attrs["weight_names"]}  # fmt: skip
        checked = 0
        for key, value in state.items():
            if key == "iterations":
                continue
            param, slot = key.rsplit("/", 1)
            layer, p = param.split("/")
            matches = [d for n, d in stored.items()
                       if n.endswith(f"_{layer}_{p}_{slot}")
                       or n == f"Adam/{short.get(slot)}/{layer}/{p}:0"]  # fmt: skip
            assert len(matches) == 1, key
            np.testing.assert_array_equal(
                keras_h5.from_keras(matches[0][()], layouts[param]), value
            )
            checked += 1
        assert checked == len(stored) - (1 if name.startswith("tfkeras2") else 2) > 0


@pytest.mark.parametrize("name", KERAS_FILES)
def test_keras_file_saved_again_by_convnet_is_the_same_model(tmp_path, name):
    model = load_model(FIXTURES / f"{name}.h5")
    model.save(tmp_path / "again.h5")
    x = np.load(FIXTURES / f"{name}.npz")["x"].transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(load_model(tmp_path / "again.h5").predict(x), model.predict(x))


@pytest.mark.parametrize("name", ["keras3_small_cnn", "tfkeras2_small_cnn"])
def test_keras_files_name_their_classes_by_number(name):
    with h5py.File(FIXTURES / f"{name}.h5") as f:
        assert "convnet_class_names" not in f.attrs  # Keras writes no names
    assert load_model(FIXTURES / f"{name}.h5").class_names == [str(k) for k in range(10)]


def test_class_names_are_saved_with_the_model(tmp_path):
    model = every_layer_net()
    assert model.class_names == ["0", "1", "2", "3"]  # a new model: its outputs' numbers
    model.class_names = ["cat", "dog", "bird", "fish"]
    model.save(tmp_path / "named.h5")
    with h5py.File(tmp_path / "named.h5") as f:
        assert json.loads(f.attrs["convnet_class_names"]) == ["cat", "dog", "bird", "fish"]
    assert load_model(tmp_path / "named.h5").class_names == ["cat", "dog", "bird", "fish"]
    with pytest.raises(ValueError, match="3 class names .* for 4 outputs"):
        model.class_names = ["cat", "dog", "bird"]
    with h5py.File(tmp_path / "named.h5", "r+") as f:
        f.attrs["convnet_class_names"] = json.dumps(["cat", "dog"])
    with pytest.raises(ValueError, match="convnet_class_names is \\['cat', 'dog'\\]; expected a "
                                         "list of 4 strings"):  # fmt: skip
        load_model(tmp_path / "named.h5")


# --- files that are wrong ---------------------------------------------------------------------


@pytest.fixture
def saved(tmp_path):
    model = trained(every_layer_net())
    path = tmp_path / "m.h5"
    model.save(path)
    return model, path


def edit_config(path, change):
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        change(config["config"]["layers"])
        f.attrs["model_config"] = json.dumps(config)


def test_missing_junk_and_non_keras_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="train_mnist.py"):
        load_model(tmp_path / "missing.h5")
    (tmp_path / "junk.h5").write_bytes(b"not an hdf5 file")
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        load_model(tmp_path / "junk.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["images"] = np.zeros((2, 2))
    with pytest.raises(ValueError, match="not a Keras model file: it has no model_config"):
        load_model(tmp_path / "other.h5")
    with pytest.raises(ValueError, match="not a Keras model or weights file"):
        load_weights(every_layer_net(), tmp_path / "other.h5")
    with h5py.File(tmp_path / "v1.h5", "w") as f:  # convnet's own layout before this one
        f.attrs["convnet_format"] = "convnet-h5"
        f.attrs["model_config"] = json.dumps({"name": "sequential", "layers": []})
    with pytest.raises(ValueError, match="earlier layout of its own"):
        load_model(tmp_path / "v1.h5")


@pytest.mark.parametrize("fraction", [0.05, 0.3, 0.6, 0.9, 0.999])
def test_truncated_files_are_errors(saved, fraction):
    _, path = saved
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ValueError, match=str(path)):
        load_model(path)


def test_damaged_weights_are_found_by_their_checksum(saved):
    model, path = saved
    with h5py.File(path) as f:
        dataset = f["model_weights/dense/sequential/dense/kernel"]
        offset = dataset.id.get_chunk_info(0).byte_offset
    data = bytearray(path.read_bytes())
    data[offset + 5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged or truncated"):
        load_model(path)


def test_weights_that_do_not_fit_the_architecture(saved, tmp_path):
    model, path = saved

    def wider(layers):
        next(e for e in layers if e["config"]["name"] == "dense")["config"]["units"] = 7

    edit_config(path, wider)
    with pytest.raises(ValueError, match=r"\(36, 6\); dense needs a float array of shape \(36, 7"):
        load_model(path)

    model.save(path)
    with h5py.File(path, "r+") as f:
        del f["model_weights/dense_2/sequential/dense_2/bias"]
    with pytest.raises(ValueError, match="lists weight 'sequential/dense_2/bias'"):
        load_model(path)

    fewer = Sequential([L.Flatten(), L.Dense(4, activation="softmax")], input_shape=(2, 7, 9))
    fewer.save(tmp_path / "fewer.h5")
    before = {k: v.copy() for k, v in model.parameters().items()}
    with pytest.raises(ValueError, match="weights for 1 layers"):
        model.load_weights(tmp_path / "fewer.h5")
    for name, value in model.parameters().items():  # nothing half-loaded
        np.testing.assert_array_equal(value, before[name])


def test_no_partial_load_when_the_last_layer_does_not_fit(tmp_path):
    a = trained(every_layer_net(seed=1))
    a.save(tmp_path / "a.h5")
    b = Sequential([*every_layer_net(seed=2).layers[:-2], L.Dense(3, name="out"), L.Softmax()],
                   input_shape=(2, 7, 9), seed=2)  # fmt: skip
    before = {k: v.copy() for k, v in b.parameters().items()}
    with pytest.raises(ValueError, match="shape"):
        b.load_weights(tmp_path / "a.h5")
    for name, value in b.parameters().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


def test_soft_and_external_links_are_refused(saved, tmp_path):
    _, path = saved
    kernel = "model_weights/dense/sequential/dense/kernel"
    with h5py.File(path, "r+") as f:
        f["copy"] = f[kernel][()]
        del f[kernel]
        f[kernel] = h5py.SoftLink("/copy")
    with pytest.raises(ValueError, match=r"dense/kernel is a soft link to /copy; convnet reads "
                                         "only self-contained files"):  # fmt: skip
        load_model(path)
    with h5py.File(path, "r+") as f:
        del f[kernel]
        f[kernel] = h5py.ExternalLink(str(tmp_path / "elsewhere.h5"), "/copy")
    with pytest.raises(ValueError) as err:
        load_model(path)
    assert f"dense/kernel is an external link to /copy in {tmp_path / 'elsewhere.h5'}; " in str(
        err.value
    )


@pytest.mark.parametrize(
    "attribute", ["model_config", "training_config", "convnet_metadata", "convnet_seed",
                  "convnet_resume"],
)  # fmt: skip
def test_an_attribute_that_is_not_json_is_named_with_the_file(saved, attribute):
    _, path = saved
    with h5py.File(path, "r+") as f:
        f.attrs[attribute] = "{'layers': [...]}"  # Python's repr, not JSON
    with pytest.raises(ValueError) as err:
        load_model(path)
    message = str(err.value)
    assert message.startswith(f"{path}: the {attribute} attribute is not valid JSON (")
    assert "damaged or was not written by Keras or convnet" in message


def test_a_model_config_that_is_not_json_is_named_in_a_hand_made_file(tmp_path):
    path = tmp_path / "hand_made.h5"
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = "not json"
        f.create_group("model_weights")
    with pytest.raises(ValueError, match=r"hand_made.h5: the model_config attribute is not "
                                         r"valid JSON \(Expecting value"):  # fmt: skip
        load_model(path)


def test_datasets_stored_in_other_files_are_refused(saved, tmp_path):
    _, path = saved
    bias = "model_weights/dense/sequential/dense/bias"
    (tmp_path / "raw.bin").write_bytes(np.ones(6, np.float32).tobytes())
    with h5py.File(path, "r+") as f:
        del f[bias]
        f.create_dataset(bias, shape=(6,), dtype=np.float32,
                         external=[(str(tmp_path / "raw.bin"), 0, 24)])  # fmt: skip
    with pytest.raises(ValueError, match="keeps its data in other files"):
        load_model(path)


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("dilation_rate", [2, 2], r"layer 'conv2d' \(Conv2D\) uses dilation_rate=\[2, 2\]"),
        ("data_format", "channels_first", "data_format='channels_first'"),
        ("groups", 2, "groups=2"),
        ("kernel_regularizer", {"class_name": "L2"}, "kernel_regularizer="),
        ("activation", "gelu", "has activation 'gelu'"),
        ("activation", "leaky_relu", "has activation 'leaky_relu'"),
    ],
)
def test_unsupported_options_are_named(saved, option, value, message):
    _, path = saved

    def change(layers):
        layers[1]["config"][option] = value

    edit_config(path, change)
    with pytest.raises(ValueError, match=message):
        load_model(path)


def test_unsupported_layers_and_models_are_named(saved):
    _, path = saved

    def add_layernorm(layers):
        layers.insert(2, {"class_name": "LayerNormalization", "config": {"name": "ln"}})

    edit_config(path, add_layernorm)
    with pytest.raises(ValueError, match=r"layer 'ln' \(LayerNormalization\): convnet has no "
                                         "LayerNormalization layer"):  # fmt: skip
        load_model(path)
    with pytest.raises(ValueError, match="holds a Model; convnet reads Sequential models .* and "
                                         "the functional models of residual blocks"):  # fmt: skip
        keras_config.layers_from_config({"class_name": "Model", "config": {}})


def test_unsupported_training_options_are_named(saved):
    model, path = saved
    with h5py.File(path, "r+") as f:
        training = json.loads(f.attrs["training_config"])
        training["optimizer_config"]["config"]["amsgrad"] = True
        f.attrs["training_config"] = json.dumps(training)
    with pytest.raises(ValueError, match="amsgrad=True.*compile=False"):
        load_model(path)
    x = inputs(model)
    np.testing.assert_array_equal(load_model(path, compile=False).predict(x), model.predict(x))


# --- atomic saves: killing the writer leaves the previous file ---------------------------------

SAVER = """
import os, signal, sys
import numpy as np
from convnet import keras_h5
from convnet.io import load_model

path, hook = sys.argv[1], sys.argv[2]
model = load_model(path)

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

if hook == "mid-write":  # after the first weight array is in the temporary file
    write = keras_h5._create_array
    def _create_array(*args):
        write(*args)
        die()
    keras_h5._create_array = _create_array
elif hook == "before-rename":  # everything written and fsync'ed, not yet renamed
    os.replace = die
version = 0
while True:
    version += 1
    model.layers[0].params["kernel"] += 1.0
    model.save(path, metadata={"version": version})
    print(version, flush=True)
"""


def start_saver(path, hook):
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-c", SAVER, str(path), hook],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip


@pytest.mark.parametrize("hook", ["mid-write", "before-rename"])
def test_a_save_killed_midway_leaves_the_previous_file(tmp_path, hook):
    model = trained(every_layer_net())
    path = tmp_path / "mnist.h5"
    model.save(path, metadata={"version": 0})
    before = path.read_bytes()
    saver = start_saver(path, hook)
    assert saver.wait(timeout=120) == -9 and saver.stdout.read() == ""  # killed in its first save
    assert path.read_bytes() == before
    loaded = load_model(path)
    assert loaded.metadata == {"version": 0}
    x = inputs(model)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert len(list(tmp_path.glob(".mnist.h5.*.tmp"))) == 1  # the orphan a kill must leave
    loaded.save(path)  # the next save of the same file removes it: the saver is gone
    assert list(tmp_path.glob(".mnist.h5.*.tmp")) == []


def test_killed_at_a_random_moment_the_file_is_whole(tmp_path):
    import signal
    import time

    model = trained(seed_net(seed=0))  # 14 MB with Adam's state: a save takes a while
    path = tmp_path / "mnist.h5"
    model.save(path, metadata={"version": 0})
    saver = start_saver(path, "none")
    for _ in range(3):  # let a few saves complete
        last = int(saver.stdout.readline())
    time.sleep(np.random.default_rng().uniform(0.0, 0.2))
    saver.send_signal(signal.SIGKILL)
    saver.wait(timeout=60)
    last = max([last, *map(int, saver.stdout.read().split())])
    loaded = load_model(path)  # whole, and the last or the one after it
    version = loaded.metadata["version"]
    assert version in (last, last + 1), (version, last)
    expected = model.layers[0].params["kernel"].copy()
    for _ in range(version):  # as the saver did it, rounding included
        expected += 1.0
    np.testing.assert_array_equal(loaded.layers[0].params["kernel"], expected)


def test_compiled_metrics_survive_save_and_load(tmp_path):
    model = trained(every_layer_net())
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["sparse_top_k_categorical_accuracy"])  # fmt: skip
    model.save(tmp_path / "m.h5")
    loaded = load_model(tmp_path / "m.h5")
    assert loaded.metrics == ["accuracy", "sparse_top_k_categorical_accuracy"]
    x = np.random.default_rng(0).random((6, *model.input_shape)).astype(np.float32)
    y = np.arange(6) % model.output_shape[0]
    assert len(loaded.evaluate(x, y)) == 3


def test_class_names_given_before_the_build_are_checked_at_the_build():
    model = Sequential([L.Dense(3, activation="softmax")])
    model.class_names = ["a", "b"]
    with pytest.raises(ValueError, match="2 class names .* for 3 outputs"):
        model.build((4,))


def test_class_names_that_are_not_json_are_named_with_the_file(tmp_path):
    model = trained(every_layer_net())
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r+") as f:
        f.attrs["convnet_class_names"] = "not json ["
    with pytest.raises(ValueError, match=r"m\.h5: the convnet_class_names attribute is not valid"):
        load_model(tmp_path / "m.h5")
