"""Layer classes: every layer's dx and parameter gradients against finite differences, the
layer contract (backward overwrites, never updates), and errors that name the layer."""

import numpy as np
import pytest

from convnet import layers as L
from convnet.gradcheck import check_layer
from convnet.ops import conv2d_forward_naive

RNG_SEED = 1234


def build(layer, input_shape, seed=0):
    layer.dtype = np.dtype(np.float64)
    layer.build(input_shape, np.random.default_rng(seed))
    return layer


def away_from_kinks(layer, x, margin=1e-3):
    """Precondition for gradient checks through ReLU: no pre-activation within ``margin`` of 0
    (a ±1e-5 nudge of one input or weight then never crosses the kink)."""
    if layer.activation not in ("relu", "leaky_relu"):
        return True
    if isinstance(layer, L.Conv2D):  # Conv2D applies its ReLU inside the op: ask for z itself
        z = conv2d_forward_naive(x, layer.params["kernel"], layer.params.get("bias"),
                                 stride=layer.strides, padding=layer.padding)[0]  # fmt: skip
    else:
        z = layer._forward(x, False)
    return np.min(np.abs(z)) > margin


def relu_safe_input(layer, shape, seed):
    """Draw inputs until the layer's ReLU pre-activations all keep away from 0."""
    rng = np.random.default_rng(seed)
    for _ in range(200):
        x = rng.normal(size=shape)
        if away_from_kinks(layer, x):
            return x
    raise AssertionError("could not draw an input away from the ReLU kink")


CONV_CASES = [
    # filters, kernel, strides, padding, activation, use_bias, input (C, H, W)
    (3, (3, 3), 1, "valid", None, True, (2, 6, 6)),
    (2, (2, 3), (2, 1), "same", "tanh", True, (3, 5, 7)),
    (4, (3, 1), 2, 1, "sigmoid", False, (1, 7, 6)),
    (2, (3, 3), 1, "same", "relu", True, (2, 5, 5)),
    (3, (1, 1), 3, "valid", "leaky_relu", True, (2, 4, 5)),  # non-tiling 1x1
    (3, (1, 1), 3, (0, 1, 2, 0), "tanh", True, (2, 4, 5)),  # all-padding outputs are exactly 0
]


@pytest.mark.parametrize("backend", ["fast", "naive"])
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_gradients(case, backend):
    filters, kernel, strides, padding, act, bias, in_shape = case
    layer = build(L.Conv2D(filters, kernel, strides=strides, padding=padding, activation=act,
                           use_bias=bias, backend=backend), in_shape)
    x = relu_safe_input(layer, (2, *in_shape), RNG_SEED)
    report = check_layer(layer, x)
    expected = ["dx", "dkernel"] + (["dbias"] if bias else [])
    assert [name for name, _, _ in report.rows] == expected
    assert report.max_error <= 1e-7, str(report)


@pytest.mark.parametrize("backend", ["fast", "naive"])
@pytest.mark.parametrize("act", [None, "relu", "tanh", "sigmoid", "softmax", "leaky_relu"])
def test_dense_gradients(act, backend):
    layer = build(L.Dense(4, activation=act, backend=backend), (6,))
    x = relu_safe_input(layer, (3, 6), RNG_SEED)
    report = check_layer(layer, x)
    assert report.max_error <= 1e-7, str(report)
    assert set(report.errors) == {"dx", "dkernel", "dbias"}


def distinct_values(shape, seed):
    """Values far apart (spacing 0.1 ≫ h) in random order: max pooling has no ties."""
    rng = np.random.default_rng(seed)
    return rng.permutation(np.arange(np.prod(shape))).reshape(shape) * 0.1 - 1.0


@pytest.mark.parametrize("backend", ["fast", "naive"])
@pytest.mark.parametrize(
    "cls, pool, strides, padding",
    [
        (L.MaxPool2D, 2, None, "valid"),
        (L.MaxPool2D, 3, 2, "same"),  # overlapping windows
        (L.MaxPool2D, (2, 1), 3, "valid"),  # non-tiling: some pixels never seen
        (L.AvgPool2D, 2, None, "valid"),
        (L.AvgPool2D, 3, 1, "same"),
        (L.AvgPool2D, (1, 3), (2, 3), "valid"),
    ],
)
def test_pool_gradients(cls, pool, strides, padding, backend):
    layer = build(cls(pool, strides=strides, padding=padding, backend=backend),
                  (2, 7, 6))
    report = check_layer(layer, distinct_values((2, 2, 7, 6), RNG_SEED))
    assert report.max_error <= 1e-7, str(report)


@pytest.mark.parametrize(
    "layer, x",
    [
        (L.Flatten(), np.random.default_rng(0).normal(size=(2, 3, 2, 2))),
        (L.ReLU(), np.random.default_rng(1).choice([-1, 1], size=(3, 5))
         * np.random.default_rng(2).uniform(0.1, 2, size=(3, 5))),
        (L.LeakyReLU(alpha=0.2), np.random.default_rng(3).choice([-1, 1], size=(3, 5))
         * np.random.default_rng(4).uniform(0.1, 2, size=(3, 5))),
        (L.Sigmoid(), np.random.default_rng(5).normal(size=(3, 5))),
        (L.Tanh(), np.random.default_rng(6).normal(size=(3, 5))),
        (L.Softmax(), np.random.default_rng(7).normal(size=(3, 5))),
        (L.Activation("tanh"), np.random.default_rng(8).normal(size=(2, 2, 3, 3))),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, L.Layer) else "",
)
def test_parameterless_layer_gradients(layer, x):
    build(layer, x.shape[1:])
    report = check_layer(layer, x)
    assert list(report.errors) == ["dx"]
    assert report.max_error <= 1e-7, str(report)


def test_dropout_gradient_with_a_fixed_mask():
    layer = build(L.Dropout(0.4), (3, 4, 4), seed=5)
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 4))
    report = check_layer(layer, x, training=True)
    assert report.max_error <= 1e-7, str(report)
    out = layer.forward(x, training=True)
    assert np.count_nonzero(out == 0) > 0  # the mask really dropped something


def test_dropout_is_identity_at_inference_and_seeded_in_training():
    x = np.ones((4, 100))
    a = build(L.Dropout(0.5), (100,), seed=3)
    b = build(L.Dropout(0.5), (100,), seed=3)
    np.testing.assert_array_equal(a.forward(x, training=True), b.forward(x, training=True))
    np.testing.assert_array_equal(a.forward(x, training=False), x)
    np.testing.assert_array_equal(a.backward(np.full_like(x, 3.0)), np.full_like(x, 3.0))


@pytest.mark.parametrize(
    "layer, in_shape",
    [(L.Conv2D(2, 3, padding="same", activation="relu"), (2, 5, 5)),
     (L.Dense(3, activation="softmax"), (4,)), (L.MaxPool2D(2), (1, 4, 4))],
)
def test_backward_overwrites_and_never_updates(layer, in_shape):
    build(layer, in_shape)
    x = np.random.default_rng(0).normal(size=(3, *in_shape))
    before = {k: v.copy() for k, v in layer.params.items()}
    out = layer.forward(x, training=True)
    dout = np.random.default_rng(1).normal(size=out.shape)
    dx1 = layer.backward(dout)
    grads1 = {k: v.copy() for k, v in layer.grads.items()}
    dx2 = layer.backward(dout)
    assert dx1.shape == x.shape
    np.testing.assert_array_equal(dx1, dx2)
    for k in grads1:
        np.testing.assert_array_equal(grads1[k], layer.grads[k])  # not accumulated
        np.testing.assert_array_equal(before[k], layer.params[k])  # not updated


def test_fast_and_naive_layers_agree():
    fast = build(L.Conv2D(3, (2, 3), strides=(1, 2), padding="same", activation="tanh",
                          backend="fast"), (2, 6, 7))
    naive = build(L.Conv2D(3, (2, 3), strides=(1, 2), padding="same", activation="tanh",
                           backend="naive"), (2, 6, 7))
    naive.params = {k: v.copy() for k, v in fast.params.items()}
    x = np.random.default_rng(0).normal(size=(2, 2, 6, 7))
    np.testing.assert_allclose(fast.forward(x), naive.forward(x), rtol=1e-12, atol=1e-12)
    dout = np.random.default_rng(1).normal(size=(2, *fast.output_shape))
    np.testing.assert_allclose(fast.backward(dout), naive.backward(dout), rtol=1e-10, atol=1e-12)
    for k in fast.grads:
        np.testing.assert_allclose(fast.grads[k], naive.grads[k], rtol=1e-10, atol=1e-12)


def test_float32_stays_float32():
    layer = L.Conv2D(4, 3, activation="relu")
    layer.build((1, 8, 8), np.random.default_rng(0))
    assert layer.params["kernel"].dtype == np.float32
    out = layer.forward(np.zeros((2, 1, 8, 8), np.float32))
    assert out.dtype == np.float32
    assert layer.backward(np.ones_like(out)).dtype == np.float32
    assert layer.grads["kernel"].dtype == np.float32


# --- bad input: a ValueError that names the layer and the shapes ------------------------------


def conv():
    return build(L.Conv2D(4, 3), (3, 8, 8))


def test_wrong_rank_names_layer_and_shape():
    with pytest.raises(ValueError, match=r"conv2d \(Conv2D\).*4-D.*\(3, 8, 8\)"):
        conv().forward(np.zeros((3, 8, 8)))


def test_channel_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"conv2d \(Conv2D\): input has 1 channels.*built for 3"
                                         r".*\(2, 1, 8, 8\).*\(4, 3, 3, 3\)"):
        conv().forward(np.zeros((2, 1, 8, 8)))


def test_kernel_larger_than_padded_input():
    with pytest.raises(ValueError, match=r"conv2d \(Conv2D\): kernel 5x5 is larger than the "
                                         r"padded input 4x6"):
        build(L.Conv2D(2, 5, padding=(0, 1)), (1, 4, 4))


def test_pool_larger_than_input():
    with pytest.raises(ValueError, match=r"max_pooling2d \(MaxPool2D\): kernel 3x3 is larger"):
        build(L.MaxPool2D(3), (1, 2, 2))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_input(bad):
    x = np.zeros((2, 3, 8, 8))
    x[1, 2, 3, 4] = bad
    with pytest.raises(ValueError, match=r"conv2d \(Conv2D\).*\(2, 3, 8, 8\).*1 NaN or Inf"):
        conv().forward(x)


def test_spatial_size_mismatch():
    with pytest.raises(ValueError, match=r"conv2d \(Conv2D\): expected input of shape "
                                         r"\(N, 3, 8, 8\), got \(2, 3, 9, 8\)"):
        conv().forward(np.zeros((2, 3, 9, 8)))


def test_dense_needs_flat_input():
    with pytest.raises(ValueError, match=r"dense \(Dense\).*\(2, 3, 3\).*Flatten"):
        build(L.Dense(3), (2, 3, 3))


def test_integer_input_is_refused_with_advice():
    with pytest.raises(ValueError, match=r"floating point.*uint8.*astype"):
        conv().forward(np.zeros((2, 3, 8, 8), dtype=np.uint8))


def test_backward_before_forward():
    with pytest.raises(RuntimeError, match="before forward"):
        conv().backward(np.zeros((1, 4, 6, 6)))


@pytest.mark.parametrize(
    "make, match",
    [(lambda: L.Conv2D(2, 3, activation="relu6"), "unknown activation 'relu6'"),
     (lambda: L.Conv2D(2, 3, padding="full"), "padding"),
     (lambda: L.Conv2D(2, 0), "kernel_size must be positive"),
     (lambda: L.Dropout(1.0), r"rate must be in \[0, 1\)"),
     (lambda: L.MaxPool2D(2, padding=1), "padding must be 'valid' or 'same'")],
)
def test_bad_hyperparameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()
