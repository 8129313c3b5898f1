"""convnet.tuned.bands, predict's pass for a few images: the row arithmetic by hand and against
brute force, bands == layer by layer over hypothesis-drawn models, which models it runs, and
that predict keeps its checks and leaves no stale caches behind."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convnet import Sequential
from convnet import layers as L
from convnet.jit import JIT_ENABLED
from convnet.nets import seed_net, small_net
from convnet.shapes import resolve_padding, window_output_size
from convnet.tuned import blas
from convnet.tuned.bands import MAX_IMAGES, _compiled_for, band_rows, bands_forward, plan_bands
from convnet.tuned.steps import BandsStep

EXACT = 1e-9  # float64: the dense layer's sum in another order, nothing else

# --- the rows each band computes ----------------------------------------------------------


def test_band_rows_by_hand():
    # A 3x3 convolution at stride 2 with 'same' padding (one row on top), 9 -> 5 rows, then
    # 2x2 pooling 5 -> 2 rows. Band 1 is pooled row 1; it needs conv rows 2-3, which read
    # input rows 2*2-1 = 3 to 3*2-1+3 = 8 (exclusive).
    # Band 0 is pooled row 0, from conv rows 0-1, which read input rows 0 (1 is padding) to
    # 1*2-1+3 = 4 (exclusive).
    rows = band_rows([(3, 2, 1, 9, 5), (2, 2, 0, 5, 2)], 2)
    assert rows.tolist() == [[[0, 4], [0, 2], [0, 1]], [[3, 8], [2, 4], [1, 2]]]
    # One band is the whole of every layer.
    assert band_rows([(3, 1, 0, 28, 26), (2, 2, 0, 26, 13)], 1).tolist() == [
        [[0, 28], [0, 26], [0, 13]]]
    # Three bands of the seed-net's 12 pooled rows: 4 each, and a 2-row halo in conv1's output.
    rows = band_rows([(3, 1, 0, 28, 26), (3, 1, 0, 26, 24), (2, 2, 0, 24, 12)], 3)
    assert rows[:, 3].tolist() == [[0, 4], [4, 8], [8, 12]]
    assert rows[:, 1].tolist() == [[0, 10], [8, 18], [16, 26]]


def test_band_rows_refuses_more_bands_than_rows():
    with pytest.raises(ValueError, match=r"band_rows: n_bands must be 1 to 2, got 3"):
        band_rows([(2, 2, 0, 4, 2)], 3)


@st.composite
def window_chains(draw):
    """1-4 window layers (KH, SH, PT, H_in, H_out) that fit together, and a band count."""
    h = draw(st.integers(4, 30))
    chain = []
    for _ in range(draw(st.integers(1, 4))):
        kh, sh = draw(st.integers(1, 4)), draw(st.integers(1, 3))
        if kh > h:
            break
        pad = draw(st.sampled_from(["valid", "same"]))
        pt, pb, _, _ = resolve_padding(pad, (h, h), (kh, kh), (sh, sh))
        h_out = (h + pt + pb - kh) // sh + 1
        chain.append((kh, sh, pt, h, h_out))
        h = h_out
    if not chain:
        chain.append((1, 1, 0, h, h))
    return chain, draw(st.integers(1, chain[-1][4]))


@given(window_chains())
def test_every_band_has_the_rows_it_reads_and_the_bands_cover_the_output(case):
    """Against brute force: the input rows that each output row's window touches."""
    chain, n_bands = case
    rows = band_rows(chain, n_bands)
    last = chain[-1][4]
    stops = [0] + [int(r1) for _, r1 in rows[:, -1]]
    assert [int(r0) for r0, _ in rows[:, -1]] == stops[:-1] and stops[-1] == last
    for band in range(n_bands):
        for layer in range(len(chain)):
            kh, sh, pt, h_in, _ = chain[layer]
            r0, r1 = rows[band, layer + 1]
            read = {oh * sh - pt + i for oh in range(r0, r1) for i in range(kh)}
            read = {h for h in read if 0 <= h < h_in}
            p0, p1 = rows[band, layer]  # what the layer before computed (or the image's rows)
            assert read <= set(range(p0, p1)), (band, layer)


# --- bands == layer by layer --------------------------------------------------------------


def _normal(shape, rng, dtype):
    """Biases drawn like the inputs, so that they matter (the default is zeros)."""
    return rng.normal(size=shape).astype(dtype)


@st.composite
def small_models(draw):
    """A few window layers (Conv2D with or without ReLU and bias, MaxPool2D, some
    overlapping or 'same'), maybe a Dropout, Flatten, Dense, maybe more after it."""
    channels, size = draw(st.integers(1, 3)), draw(st.integers(6, 12))
    layers, hw = [], (size, size)
    for _ in range(draw(st.integers(1, 3))):
        padding, conv = draw(st.sampled_from(["valid", "same"])), draw(st.booleans())
        if conv:
            window = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
            stride = draw(st.integers(1, 2))
        else:
            pool = draw(st.integers(2, 3))
            window, stride = (pool, pool), draw(st.integers(1, pool))
        try:
            pads = resolve_padding(padding, hw, window, (stride, stride))
            hw = window_output_size(hw, window, (stride, stride), pads)
        except ValueError:  # the window no longer fits
            break
        layers.append(
            L.Conv2D(draw(st.integers(1, 4)), window, strides=stride, padding=padding,
                     activation=draw(st.sampled_from([None, "relu"])),
                     use_bias=draw(st.booleans()), bias_initializer=_normal)
            if conv else L.MaxPool2D(window, strides=stride, padding=padding))  # fmt: skip
    if not layers:
        layers.append(L.Conv2D(2, 3, activation="relu"))
    if draw(st.booleans()):
        layers.append(L.Dropout(0.5))
    layers += [L.Flatten(), L.Dense(draw(st.integers(1, 5)), use_bias=draw(st.booleans()),
                                     activation=draw(st.sampled_from([None, "relu", "tanh"])),
                                     bias_initializer=_normal)]
    if draw(st.booleans()):
        layers.append(L.Dense(3, activation="softmax"))
    model = Sequential(layers, input_shape=(channels, size, size), seed=draw(st.integers(0, 99)),
                       dtype="float64", backend="tuned")
    return model, draw(st.integers(1, MAX_IMAGES))


@settings(max_examples=max(5, settings.default.max_examples))
@given(small_models(), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_bands_equal_layer_by_layer(case, n_bands, seed):
    model, n_img = case
    plan = plan_bands(model.layers, n_bands=n_bands)
    assert plan is not None and plan.dense is next(la for la in model.layers
                                                     if isinstance(la, L.Dense))
    x = np.random.default_rng(seed).normal(size=(n_img, *model.input_shape))
    z = x
    for layer in plan.layers[:-1]:  # up to Flatten, then the dense layer before its activation
        z = layer.forward(z)
    z = z @ plan.dense.params["kernel"] + plan.dense.params.get("bias", 0.0)
    got = bands_forward(plan, x)
    assert got.shape == z.shape
    np.testing.assert_allclose(got, z, rtol=EXACT, atol=EXACT * np.abs(z).max())
    # and through predict, with whatever comes after the dense layer
    np.testing.assert_allclose(model.predict(x), model.forward(x), rtol=1e-9, atol=1e-12)


@pytest.mark.skipif(not JIT_ENABLED, reason="the seed-net's products take minutes as plain Python")
@pytest.mark.parametrize("n_img", [1, 2, MAX_IMAGES])
def test_seed_net_predict_in_bands_matches_forward_in_float32(n_img):
    model = seed_net(seed=0, backend="tuned")
    x = np.random.default_rng(n_img).random((n_img, 1, 28, 28), dtype=np.float32)
    assert _in_bands(model) is not None
    p = model.predict(x)
    assert p.dtype == np.float32 and p.shape == (n_img, 10)
    np.testing.assert_allclose(p, model.forward(x), rtol=1e-5, atol=1e-7)


# --- which models, and what predict keeps ---------------------------------------------------


def _conv_model(*middle, backend="tuned"):
    return Sequential([L.Conv2D(2, 3, activation="relu", backend=backend),
                       *middle, L.Flatten(), L.Dense(3, activation="softmax")],
                      input_shape=(1, 8, 8), seed=0, backend="tuned")  # fmt: skip


def _in_bands(model):
    """The model's BandsStep, or None if its plan has none."""
    first = getattr(model._steps[0], "last", model._steps[0])  # the last step comes wrapped
    return first if isinstance(first, BandsStep) else None


@pytest.mark.parametrize("model, why", [
    (_conv_model(L.AvgPool2D(2)), "average pooling"),
    (_conv_model(backend="fast"), "a layer on the fast rung"),
    (_conv_model(L.Conv2D(2, 3, activation="tanh")), "a convolution with tanh"),
    (_conv_model(L.ReLU()), "an activation layer"),
    (Sequential([L.Conv2D(2, 3), L.Flatten(), L.ReLU(), L.Dense(3)], input_shape=(1, 8, 8),
                backend="tuned"), "no Dense right after Flatten"),
    (Sequential([L.Flatten(), L.Dense(3)], input_shape=(1, 8, 8), backend="tuned"),
     "no window layer"),
    (Sequential([L.Conv2D(2, 3), L.MaxPool2D(2)], input_shape=(1, 8, 8), backend="tuned"),
     "no Flatten"),
])  # fmt: skip
def test_models_the_bands_cannot_run_are_run_layer_by_layer(model, why):
    assert plan_bands(model.layers) is None and _in_bands(model) is None, why
    x = np.random.default_rng(0).random((1, 1, 8, 8), dtype=np.float32)
    np.testing.assert_array_equal(model.predict(x), model.forward(x))


def test_plan_follows_the_thread_count(monkeypatch):
    model = _conv_model(L.MaxPool2D(2))
    bands_step = _in_bands(model)
    x = np.random.default_rng(0).random((1, 1, 8, 8), dtype=np.float32)
    model.predict(x)
    assert bands_step._band_plan().rows.shape[0] >= 1
    monkeypatch.setattr("convnet.tuned.steps.get_num_threads", lambda: 3)
    assert bands_step._band_plan().rows.shape[0] == 3  # one band per thread (3 pooled rows)


@pytest.mark.parametrize("logits", [False, True])
def test_backward_after_a_pass_in_bands_equals_backward_after_the_steps(logits):
    model = small_net(seed=0, backend="tuned", dtype="float64")
    assert _in_bands(model) is not None
    x = np.random.default_rng(0).random((1, 1, 28, 28))
    out = model.forward(x, logits=logits)  # one image at inference: in bands, no caches
    dout = np.random.default_rng(1).normal(size=out.shape)
    dx = model.backward(dout)
    grads = {k: v.copy() for k, v in model.gradients().items()}
    fast = small_net(seed=0, backend="fast", dtype="float64")
    np.testing.assert_allclose(fast.forward(x, logits=logits), out, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dx, fast.backward(dout), rtol=1e-9, atol=1e-12)
    for name, grad in fast.gradients().items():
        np.testing.assert_allclose(grads[name], grad, rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("n_img", [1, MAX_IMAGES])
def test_predict_in_bands_still_names_the_layer_that_received_a_nan(n_img):
    model = small_net(seed=0, backend="tuned")
    x = np.random.default_rng(0).random((n_img, 1, 28, 28), dtype=np.float32)
    assert _in_bands(model) is not None
    bad = x.copy()
    bad[-1, 0, 3, 3] = np.inf
    with pytest.raises(ValueError, match=r"conv2d \(Conv2D\).*NaN or Inf"):
        model.predict(bad)
    model.layers[2].params["kernel"][0, 0, 0, 0] = np.nan  # conv2d_1 makes NaN
    with pytest.raises(ValueError, match=r"max_pooling2d_1 \(MaxPool2D\).*NaN or Inf"):
        model.predict(x)


@pytest.mark.skipif(not JIT_ENABLED, reason="compiles the bands for one model's sizes")
def test_bands_compiled_for_a_models_sizes_give_the_generic_kernels_numbers(monkeypatch):
    # The other tests run the generic kernel (tests/conftest.py). Here it is compiled again
    # with this model's sizes built in, and must agree with it bit for bit, with the products
    # done either way. Each layer's sizes differ from one another and from the next layer's
    # (kernels 3x2 and 2x3, strides 2/1 and 1/2, 'same' padding, no ReLU on the second
    # convolution), so sizes taken from the wrong layer or in the wrong order would show.
    model = Sequential([L.Conv2D(3, (3, 2), strides=(2, 1), padding="same", activation="relu"),
                        L.MaxPool2D((2, 3), strides=(1, 2)),
                        L.Conv2D(4, (2, 3), activation=None, bias_initializer=_normal),
                        L.Flatten(), L.Dense(5)],
                       input_shape=(2, 13, 11), seed=0, backend="tuned")  # fmt: skip
    plan = plan_bands(model.layers, n_bands=2)
    x = np.random.default_rng(0).normal(size=(3, 2, 13, 11)).astype(np.float32)
    for use_blas in (False, True) if blas.available() else (False,):
        monkeypatch.setattr("convnet.tuned.bands.WAYS", {"the way": use_blas})
        plan.ways.clear()  # the way it took last time, kept
        monkeypatch.setenv("CONVNET_SPECIALISE", "0")
        generic = bands_forward(plan, x)
        monkeypatch.setenv("CONVNET_SPECIALISE", "1")
        specialised = bands_forward(plan, x)
        np.testing.assert_array_equal(specialised, generic)
    assert _compiled_for(plan.sizes).signatures  # made, and it ran
    assert [size[1:7] for size in plan.sizes] == [(3, 2, 2, 1, 1, 0), (2, 3, 1, 2, 0, 0),
                                                  (2, 3, 1, 1, 0, 0)]  # fmt: skip


@pytest.mark.skipif(not JIT_ENABLED, reason="Numba's cache")
def test_a_models_bands_kernel_is_found_in_numbas_cache_by_the_next_process():
    # Numba's cache tells kernels apart by a key that pickles what a closure captures; a
    # compiled function pickles differently in every process (and for every copy), so a
    # kernel closing over its chain of layers was compiled again by every process. Two
    # kernels made for the same sizes, as two processes would make them, must have one key.
    from numba import types

    sizes = plan_bands(seed_net(seed=0, backend="tuned").layers, n_bands=2).sizes
    first, second = (_compiled_for.__wrapped__(sizes) for _ in range(2))
    signature = (types.float32[:, :, :, ::1],)  # the first argument is enough for the key
    codegen = first.targetctx.codegen()
    assert first._cache._index_key(signature, codegen) == \
        second._cache._index_key(signature, codegen)  # fmt: skip
