"""Model files of modern networks (convnet.keras_config, convnet.keras_h5): BatchNormalization
and GlobalAveragePooling2D in Keras's Sequential layout, residual blocks as Keras's functional
model, both written and read; the files real Keras 3 wrote of such models; what is refused."""

import json

import h5py
import numpy as np
import pytest
from test_io import FIXTURES, edit_config, inputs, trained

from convnet import keras_config
from convnet import layers as L
from convnet.io import load_model
from convnet.model import Sequential


def bn_gap_net(dtype="float32", seed=0):
    """Batch normalization of images (one without scale) and of dense features (without
    center), with their own momentum and epsilon, and global average pooling."""
    return Sequential([
        L.Conv2D(4, 3, use_bias=False), L.BatchNormalization(momentum=0.9), L.ReLU(),
        L.Conv2D(5, (2, 3), strides=2, padding="same", use_bias=False),
        L.BatchNormalization(scale=False, momentum=0.8, epsilon=1e-2), L.ReLU(),
        L.GlobalAveragePooling2D(), L.Dense(6),
        L.BatchNormalization(center=False, momentum=0.7), L.Activation("tanh"),
        L.Dense(3, activation="softmax"),
    ], input_shape=(2, 7, 9), seed=seed, dtype=dtype)  # fmt: skip


def flatten_bn_net(seed=0, dropout=0.2):
    """A batch normalization of flattened images: one number per pixel and channel."""
    return Sequential([
        L.Conv2D(3, 3, use_bias=False), L.Flatten(), L.BatchNormalization(momentum=0.5),
        L.Dropout(dropout), L.Dense(4, activation="softmax"),
    ], input_shape=(2, 5, 6), seed=seed)  # fmt: skip


def residual_net(dropout=0.2, seed=0, dtype="float32"):
    """A block that adds its input, one that projects it, a block nested first in another
    (both start from the same tensor) with explicit padding, and dropout inside a block."""
    return Sequential([
        L.Conv2D(4, 3, padding="same", use_bias=False), L.BatchNormalization(momentum=0.9),
        L.ReLU(),
        L.Residual([L.Conv2D(4, 3, padding="same", use_bias=False),
                    L.BatchNormalization(momentum=0.9), L.ReLU(), L.Dropout(dropout),
                    L.Conv2D(4, 3, padding="same")], activation="relu"),
        L.Residual([L.Conv2D(6, 3, strides=2, padding="same", use_bias=False),
                    L.BatchNormalization(momentum=0.9)], activation="relu"),
        L.Residual([L.Residual([L.Conv2D(6, 3, padding=(1, 1, 1, 1))]),
                    L.BatchNormalization(momentum=0.9)]),
        L.ReLU(), L.GlobalAveragePooling2D(), L.Dense(3, activation="softmax"),
    ], input_shape=(2, 8, 8), seed=seed, dtype=dtype)  # fmt: skip


# Without dropout: a model file does not keep the dropout generators (checkpoints do), and
# the round trip test trains on after loading.
MODELS = {"bn-gap": bn_gap_net, "flatten-bn": lambda: flatten_bn_net(dropout=0.0),
          "residual": lambda: residual_net(dropout=0.0)}  # fmt: skip


def by_name(model):
    return {layer.name: layer for layer in L.walk(model.layers)}


def arrays(layer):
    return {**layer.params, **layer.state}


def sources(entry):
    """The layers whose outputs a functional model's entry takes, in order."""
    args = entry["inbound_nodes"][0]["args"]
    tensors = args[0] if isinstance(args[0], list) else args
    return [tensor["config"]["keras_history"][0] for tensor in tensors]


# --- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop"])
@pytest.mark.parametrize("make", MODELS)
def test_round_trip_keeps_moving_statistics_and_optimizer_state(tmp_path, make, optimizer):
    model = trained(MODELS[make](), optimizer=optimizer)
    moving = [w for name, w in model.weights().items() if name.endswith("moving_variance")]
    assert moving and not any(np.all(w == 1.0) for w in moving)  # they have moved
    model.save(tmp_path / "m.h5")
    loaded = load_model(tmp_path / "m.h5")
    x = inputs(model)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert [repr(layer) for layer in L.walk(loaded.layers)] == [
        repr(layer) for layer in L.walk(model.layers)
    ]
    assert list(by_name(loaded)) == list(by_name(model))
    assert list(loaded.weights()) == list(model.weights())
    for name, value in model.weights().items():
        np.testing.assert_array_equal(loaded.weights()[name], value, err_msg=name)
    saved, restored = model.optimizer.state_dict(), loaded.optimizer.state_dict()
    assert sorted(saved) == sorted(restored) and saved["iterations"] == 3
    for key in saved:
        np.testing.assert_array_equal(restored[key], saved[key], err_msg=key)
    # ... and training goes on identically, the moving statistics included.
    y = np.arange(8) % model.output_shape[0]
    model.train_on_batch(inputs(model, 8), y)
    loaded.train_on_batch(inputs(model, 8), y)
    for name, value in model.weights().items():
        np.testing.assert_array_equal(loaded.weights()[name], value, err_msg=name)


def test_weights_file_of_a_residual_model(tmp_path):
    a, b = trained(residual_net(seed=1)), residual_net(seed=2)
    a.save_weights(tmp_path / "w.h5")
    b.load_weights(tmp_path / "w.h5")
    for name, value in a.weights().items():
        np.testing.assert_array_equal(b.weights()[name], value, err_msg=name)
    with h5py.File(tmp_path / "w.h5") as f:  # Keras's functional weights file
        assert list(f.attrs["layer_names"])[0] == "input_layer"
        assert list(f["conv2d_1"].attrs["weight_names"]) == ["conv2d_1/kernel"]


def test_float64_residual_model_round_trip(tmp_path):
    model = trained(residual_net(dtype="float64"), optimizer="sgd")
    model.save(tmp_path / "m.h5")
    loaded = load_model(tmp_path / "m.h5")
    assert loaded.dtype == np.float64
    x = inputs(model)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


# --- the layout written ------------------------------------------------------------------------


def test_batchnorm_and_gap_are_written_as_keras_writes_them(tmp_path):
    model = trained(bn_gap_net())
    layers = by_name(model)
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5") as f:
        config = json.loads(f.attrs["model_config"])
        assert config["class_name"] == "Sequential"
        entries = {e["config"]["name"]: e for e in config["config"]["layers"]}
        bn = entries["batch_normalization_1"]
        assert bn["class_name"] == "BatchNormalization"
        assert {k: bn["config"][k] for k in ("axis", "momentum", "epsilon", "center", "scale")} \
            == {"axis": -1, "momentum": 0.8, "epsilon": 0.01, "center": True, "scale": False}
        gap = entries["global_average_pooling2d"]
        assert gap["class_name"] == "GlobalAveragePooling2D"
        assert gap["config"]["data_format"] == "channels_last"
        assert gap["config"]["keepdims"] is False
        weights = f["model_weights"]
        # Keras's names and order, trained parameters first; one number per channel in both
        # layouts, so the vectors are stored as convnet keeps them.
        for name, kept in [
            ("batch_normalization", ["gamma", "beta", "moving_mean", "moving_variance"]),
            ("batch_normalization_1", ["beta", "moving_mean", "moving_variance"]),
            ("batch_normalization_2", ["gamma", "moving_mean", "moving_variance"]),
        ]:
            names = list(weights[name].attrs["weight_names"])
            assert names == [f"sequential/{name}/{w}" for w in kept]
            for w, path in zip(kept, names, strict=True):
                np.testing.assert_array_equal(weights[name][path][()], arrays(layers[name])[w])
        # A Dense after global average pooling takes (C,) in both layouts: not reordered.
        np.testing.assert_array_equal(weights["dense/sequential/dense/kernel"][()],
                                      layers["dense"].params["kernel"])  # fmt: skip
        opt_names = list(f["optimizer_weights"].attrs["weight_names"])
        assert "adam/sequential_batch_normalization_gamma_momentum" in opt_names
        assert not [n for n in opt_names if "moving" in n]  # not trained: no optimizer state


def test_a_batchnorm_of_flattened_images_follows_keras_flatten_order(tmp_path):
    model = trained(flatten_bn_net())
    c, h, w = model.layers[1].input_shape
    model.save(tmp_path / "m.h5")
    path = "model_weights/batch_normalization/sequential/batch_normalization/moving_mean"
    with h5py.File(tmp_path / "m.h5") as f:
        stored = f[path][()]
    ours = model.layers[2].state["moving_mean"]
    # Keras's entry (h*W + w)*C + c is convnet's (c*H + h)*W + w.
    np.testing.assert_array_equal(stored, ours.reshape(c, h, w).transpose(1, 2, 0).ravel())
    assert not np.array_equal(stored, ours)


def test_residual_blocks_are_written_as_a_keras_functional_model(tmp_path):
    model = trained(residual_net())
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5") as f:
        config = json.loads(f.attrs["model_config"])
        layer_names = list(f["model_weights"].attrs["layer_names"])
        weight_names = list(f["model_weights/conv2d_1"].attrs["weight_names"])
        opt_names = list(f["optimizer_weights"].attrs["weight_names"])
    assert config["class_name"] == "Functional"
    body = config["config"]
    assert body["input_layers"] == ["input_layer", 0, 0]
    assert body["output_layers"] == ["dense", 0, 0]
    entries = {e["name"]: e for e in body["layers"]}
    # An identity block: the sum of its last layer and its input, then the activation.
    assert entries["residual"]["class_name"] == "Add"
    assert sources(entries["residual"]) == ["conv2d_2", "re_lu"]
    assert entries["residual_activation"]["config"]["activation"] == "relu"
    assert sources(entries["residual_activation"]) == ["residual"]
    assert sources(entries["conv2d_1"]) == ["re_lu"]  # the block starts from the same input
    # A projecting block: a strided 1x1 convolution of the block's input on the skip branch.
    assert sources(entries["residual_1"]) == ["batch_normalization_2", "residual_1_shortcut"]
    assert sources(entries["residual_1_shortcut"]) == ["residual_activation"]
    shortcut = entries["residual_1_shortcut"]["config"]
    assert (shortcut["kernel_size"], shortcut["strides"], shortcut["use_bias"]) == (
        [1, 1], [2, 2], True)  # fmt: skip
    # A block nested in another: both add the same input; explicit padding is a layer.
    assert sources(entries["residual_3"]) == ["conv2d_4", "residual_1_activation"]
    assert sources(entries["residual_2"]) == ["batch_normalization_3", "residual_1_activation"]
    assert sources(entries["conv2d_4"]) == ["conv2d_4_padding"]
    assert "residual_2_activation" not in entries  # no activation
    # Keras's call arguments and tensor shapes (channels-last).
    assert entries["batch_normalization"]["inbound_nodes"][0]["kwargs"] == {"mask": None}
    assert entries["dropout"]["inbound_nodes"][0]["kwargs"] == {"training": False}
    tensor = entries["residual_1"]["inbound_nodes"][0]["args"][0][0]["config"]
    assert tensor["shape"] == [None, 4, 4, 6]
    # Weights: the input layer listed, the layers in Keras's order, paths without the model.
    assert layer_names == [e["name"] for e in body["layers"]] and layer_names[0] == "input_layer"
    assert layer_names == keras_config.keras_order(
        {name: sources(e) if e["inbound_nodes"] else [] for name, e in entries.items()}, "dense")
    assert weight_names == ["conv2d_1/kernel"]
    assert opt_names[2:4] == ["adam/conv2d_kernel_momentum", "adam/conv2d_kernel_velocity"]
    assert "adam/residual_1_shortcut_bias_velocity" in opt_names


# --- Keras's own files -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["keras3_bn_gap", "keras3_residual"])
def test_keras_modern_files_predict_what_keras_predicted(name):
    model = load_model(FIXTURES / f"{name}.h5")
    expected = np.load(FIXTURES / f"{name}.npz")
    x = expected["x"].transpose(0, 3, 1, 2)  # Keras's (N, H, W, C) to convnet's (N, C, H, W)
    np.testing.assert_allclose(model.predict(x), expected["probabilities"], rtol=0, atol=1e-5)
    assert model.optimizer.iterations == 20  # 5 epochs of 64 images in batches of 16


def test_keras_batchnorm_weights_land_where_keras_named_them():
    model = load_model(FIXTURES / "keras3_bn_gap.h5")
    layers = by_name(model)
    assert list(layers["batch_normalization_1"].params) == ["beta"]  # scale=False
    assert list(layers["batch_normalization_2"].params) == ["gamma"]  # center=False
    assert (layers["batch_normalization_1"].momentum, layers["batch_normalization_1"].epsilon) \
        == (pytest.approx(0.9), pytest.approx(0.01))
    checked = 0
    with h5py.File(FIXTURES / "keras3_bn_gap.h5") as f:
        for name in ["batch_normalization", "batch_normalization_1", "batch_normalization_2"]:
            group = f["model_weights"][name]
            for weight in group.attrs["weight_names"]:
                kind = weight.rsplit("/", 1)[-1]
                np.testing.assert_array_equal(arrays(layers[name])[kind], group[weight][()])
                checked += 1
    assert checked == 4 + 3 + 3


def test_without_the_moving_statistics_keras_files_predict_wrongly():
    """The moving statistics are what the fixture's predictions depend on: reset them to
    their start and the model predicts something else."""
    model = load_model(FIXTURES / "keras3_bn_gap.h5")
    expected = np.load(FIXTURES / "keras3_bn_gap.npz")
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            layer.state["moving_mean"][...] = 0.0
            layer.state["moving_variance"][...] = 1.0
    wrong = model.predict(expected["x"].transpose(0, 3, 1, 2))
    assert np.abs(wrong - expected["probabilities"]).max() > 1e-3


def test_a_keras_residual_graph_becomes_residual_blocks(tmp_path):
    model = load_model(FIXTURES / "keras3_residual.h5")
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Conv2D", "BatchNormalization", "ReLU", "Residual", "Activation", "Residual",
                     "ReLU", "GlobalAveragePooling2D", "Dense"]  # fmt: skip
    identity, projecting = model.layers[3], model.layers[5]
    assert identity.shortcut is None and identity.activation is None  # activation_1 follows
    assert [layer.name for layer in identity.layers] == ["conv2d_1", "batch_normalization_1",
                                                         "activation", "conv2d_2"]  # fmt: skip
    assert projecting.shortcut.strides == (2, 2)
    # Saved again, the file lists its layers in the order Keras gave them (keras_order); the
    # shortcut is renamed after its block.
    model.save(tmp_path / "again.h5")
    with h5py.File(FIXTURES / "keras3_residual.h5") as f:
        keras_names = list(f["model_weights"].attrs["layer_names"])
    with h5py.File(tmp_path / "again.h5") as f:
        ours = list(f["model_weights"].attrs["layer_names"])
    assert ours == [{"conv2d_4": "add_1_shortcut"}.get(name, name) for name in keras_names]
    x = np.load(FIXTURES / "keras3_residual.npz")["x"].transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(load_model(tmp_path / "again.h5").predict(x), model.predict(x))


# --- what is refused ---------------------------------------------------------------------------


@pytest.fixture
def saved_residual(tmp_path):
    model = trained(residual_net())
    path = tmp_path / "res.h5"
    model.save(path)
    return model, path


def _entry(layers, name):
    return next(e for e in layers if e["name"] == name)


def _three_inputs(layers):
    args = _entry(layers, "residual")["inbound_nodes"][0]["args"][0]
    args.append(args[0])


def _swapped(layers):
    args = _entry(layers, "residual")["inbound_nodes"][0]["args"][0]
    args.reverse()


def _dangling(layers):
    extra = json.loads(json.dumps(_entry(layers, "re_lu")))
    extra["name"] = extra["config"]["name"] = "extra"
    layers.append(extra)


def _masked(layers):
    _entry(layers, "dense")["inbound_nodes"][0]["kwargs"] = {"mask": [True]}


def _wide_shortcut(layers):
    _entry(layers, "residual_1_shortcut")["config"]["kernel_size"] = [3, 3]


def _no_shortcut(layers):
    layers.remove(_entry(layers, "residual_1_shortcut"))
    args = _entry(layers, "residual_1")["inbound_nodes"][0]["args"][0]
    args[1]["config"]["keras_history"] = ["residual_activation", 0, 0]


@pytest.mark.parametrize(
    "change, message",
    [
        (_three_inputs, r"layer 'residual' \(Add\) adds 3 tensors"),
        (_swapped, "the layers before layer 'conv2d' do not lead back to 'dropout'"),
        (_dangling, r"the layers \['extra'\] are not on the way from input to output"),
        (_masked, r"layer 'dense' \(Dense\) is called with mask=\[True\]"),
        (_wide_shortcut, r"'residual_1_shortcut' \(Conv2D\): the shortcut of 'residual_1' has "
                         r"kernel_size=\(3, 3\); convnet's Residual projects with Conv2D\(6, 1, "
                         r"strides=\(2, 2\)\)"),
        (_no_shortcut, r"'residual_1' \(Add\) adds a block's input to its output, but the block "
                       r"turns \(8, 8, 4\) into \(4, 4, 6\)"),
    ],
    ids=["three-inputs", "swapped", "dangling", "masked", "wide-shortcut", "no-shortcut"],
)  # fmt: skip
def test_functional_graphs_convnet_cannot_read_are_named(saved_residual, change, message):
    _, path = saved_residual
    edit_config(path, change)
    with pytest.raises(ValueError, match=message) as err:
        load_model(path)
    assert str(err.value).startswith(str(path))


def test_a_functional_model_of_two_outputs_is_refused(saved_residual):
    _, path = saved_residual
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        config["config"]["output_layers"] = [["dense", 0, 0], ["re_lu", 0, 0]]
        f.attrs["model_config"] = json.dumps(config)
    with pytest.raises(ValueError, match="the functional model has output_layers"):
        load_model(path)
    with pytest.raises(ValueError, match="functional model_config has no layers"):
        keras_config.layers_from_config({"class_name": "Functional", "config": {}})


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("axis", 1, r"'batch_normalization' \(BatchNormalization\) normalizes over axis 1"),
        ("renorm", True, "renorm=True"),
        ("gamma_regularizer", {"class_name": "L2"}, "gamma_regularizer="),
    ],
)
def test_unsupported_batchnorm_options_are_named(tmp_path, option, value, message):
    trained(bn_gap_net()).save(tmp_path / "m.h5")

    def change(layers):
        next(e for e in layers if e["class_name"] == "BatchNormalization")["config"][option] = value

    edit_config(tmp_path / "m.h5", change)
    with pytest.raises(ValueError, match=message):
        load_model(tmp_path / "m.h5")


def test_batchnorm_axis_may_be_given_as_the_last_axis(tmp_path):
    model = trained(bn_gap_net())
    model.save(tmp_path / "m.h5")

    def positive(layers):  # Keras's channels-last images: axis 3; features: axis 1; or [3]
        bns = [e["config"] for e in layers if e["class_name"] == "BatchNormalization"]
        bns[0]["axis"], bns[1]["axis"], bns[2]["axis"] = 3, [3], 1

    edit_config(tmp_path / "m.h5", positive)
    x = inputs(model)
    np.testing.assert_array_equal(load_model(tmp_path / "m.h5").predict(x), model.predict(x))


def test_global_average_pooling_keeping_dims_is_refused(tmp_path):
    trained(bn_gap_net()).save(tmp_path / "m.h5")

    def keepdims(layers):
        next(e for e in layers if e["class_name"] == "GlobalAveragePooling2D")["config"][
            "keepdims"] = True  # fmt: skip

    edit_config(tmp_path / "m.h5", keepdims)
    with pytest.raises(ValueError, match=r"\(GlobalAveragePooling2D\) uses keepdims=True"):
        load_model(tmp_path / "m.h5")


def test_what_a_functional_file_cannot_express_is_refused(tmp_path):
    clash = Sequential([L.Residual([L.Conv2D(2, 3, padding="same")], activation="relu"),
                        L.ReLU(name="residual_activation"), L.Flatten(), L.Dense(2)],
                       input_shape=(2, 4, 4))  # fmt: skip
    with pytest.raises(ValueError, match="two layers of the Keras file would be named "
                                         "'residual_activation'"):  # fmt: skip
        clash.save(tmp_path / "a.h5")
    after_flatten = Sequential([L.Conv2D(2, 3), L.Flatten(), L.Residual([L.Dense(8)]),
                                L.Dense(2)], input_shape=(1, 4, 4))  # fmt: skip
    with pytest.raises(ValueError, match="residual block of the output of a Flatten"):
        after_flatten.save(tmp_path / "b.h5")
    assert not list(tmp_path.iterdir())  # nothing written, no temporary files left
