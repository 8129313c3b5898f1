"""The tuned annex (convnet/tuned/): its kernels equal the core ops, its steps equal the
layers, a model gives the same numbers on every rung, and what it keeps between batches is
never handed out."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_ops_conv import conv_cases  # noqa: I001  (the same hypothesis-drawn geometry)
from test_ops_pool import pool_cases

from convnet import Sequential, ops
from convnet import layers as L
from convnet.gradcheck import check_model, rel_error
from convnet.jit import JIT_ENABLED
from convnet.nets import seed_net
from convnet.tuned import conv, dense, pool
from convnet.tuned import steps as tuned_steps
from convnet.tuned.bands import MAX_IMAGES

EXACT = 1e-9  # float64, as between the naive and fast rungs


def _conv_arrays(x_shape, w_shape, seed):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=x_shape), rng.normal(size=w_shape), rng.normal(size=w_shape[0]),
            rng)  # fmt: skip


# --- kernels against the core ops ------------------------------------------------------------


@given(conv_cases(max_batch=conv.FEW_IMAGES + 2), st.booleans())
def test_every_way_of_the_tuned_conv_equals_the_core_conv_then_relu(case, relu):
    # Batches on both sides of FEW_IMAGES (fewer images are cut into pieces of output rows)
    # and of the BLAS ways' group sizes (a last, smaller group).
    x_shape, w_shape, stride, padding, seed = case
    x, w, b, rng = _conv_arrays(x_shape, w_shape, seed)
    z, cache = ops.conv2d_forward_naive(x, w, b, stride=stride, padding=padding)
    stride_hw, pads = cache[3], cache[4]
    dout = rng.normal(size=z.shape)
    want = ops.conv2d_backward_naive(dout * (z > 0) if relu else dout, cache)
    for way in conv.FORWARD_WAYS:
        out = conv.forward(x, w, b, stride_hw, pads, z.shape[2:], relu, way=way)
        assert rel_error(np.maximum(z, 0) if relu else z, out) <= EXACT, way
    for way in conv.BACKWARD_WAYS:
        got = conv.backward(dout, x, w, stride_hw, pads, out if relu else None, way=way)
        for name, g_want, g_got in zip(("dx", "dw", "db"), want, got, strict=True):
            assert rel_error(g_want, g_got) <= EXACT, (way, name)
        no_dx = conv.backward(dout, x, w, stride_hw, pads, out if relu else None,
                              need_dx=False, way=way)  # fmt: skip
        assert no_dx[0] is None, way
        np.testing.assert_array_equal(no_dx[1], got[1])


def test_tuned_conv_keeps_nan_through_relu():
    # A diverged network must show NaN (the NaN guard looks for it), never a quiet 0.
    x, w, b, _ = _conv_arrays((1, 1, 4, 4), (2, 1, 3, 3), 3)
    x[0, 0, 1, 1] = np.nan
    assert np.isnan(conv.forward(x, w, b, (1, 1), (0, 0, 0, 0), (2, 2), True)).all()


def test_grouped_ways_are_offered_only_where_each_core_gets_a_group():
    w = np.zeros((4, 2, 3, 3))
    offered = {n: set(conv._candidates(conv.FORWARD_WAYS, np.zeros((n, 2, 6, 6)), w, 16))
               for n in (3, 8, 16)}  # fmt: skip
    grouped = {n: {way for way in ways if "per product" in way} for n, ways in offered.items()}
    assert grouped[3] == set()
    assert {way.removesuffix(", BLAS") for way in grouped[8]} == {"4 images per product"}
    assert {way.removesuffix(", BLAS") for way in grouped[16]} == {"4 images per product",
                                                                   "8 images per product"}
    assert all({"per-image", "fast rung"} <= ways for ways in offered.values())


def test_tuned_conv_writes_into_out_when_given():
    x, w, b, _ = _conv_arrays((3, 2, 6, 5), (4, 2, 3, 3), 0)
    fresh = conv.forward(x, w, b, (1, 1), (1, 1, 1, 1), (6, 5), True)
    out = np.full((3, 4, 6, 5), np.nan)
    assert conv.forward(x, w, b, (1, 1), (1, 1, 1, 1), (6, 5), True, out) is out
    np.testing.assert_array_equal(out, fresh)


@pytest.mark.skipif(not JIT_ENABLED, reason="as plain Python there is nothing to compile")
def test_kernels_compiled_for_a_layers_sizes_give_the_generic_kernels_numbers(monkeypatch):
    # The other tests run the generic kernels (tests/conftest.py). Here the three kernels are
    # compiled again for one layer's sizes, in float32 as in training, and must agree with
    # the generic ones bit for bit. Every size differs from its partner (kernel 3x2, strides
    # 2 and 1, padding 1 and 0, output 5x6), so sizes passed in the wrong order would show.
    # One image is cut into pieces of output rows; nine make three runs of three images,
    # done one image per product or three side by side; the backward pass runs with and
    # without the ReLU mask, and after the pooling.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(9, 3, 9, 7)).astype(np.float32)
    w, b = rng.normal(size=(5, 3, 3, 2)).astype(np.float32), np.ones(5, np.float32)
    stride, pads, out_hw, pool = (2, 1), (1, 1, 0, 0), (5, 6), ((2, 2), (2, 2), (0, 0, 0, 0))
    dout = rng.normal(size=(9, 5, 5, 6)).astype(np.float32)
    dpool = rng.normal(size=(9, 5, 2, 3)).astype(np.float32)

    def run():
        results = [conv.forward(x[:1], w, b, stride, pads, out_hw, True, way="per-image"),
                   *conv.backward(dout, x, w, stride, pads, None, way="per-image")]
        for way in ("per-image", "4 images per product"):
            out = conv.forward(x, w, b, stride, pads, out_hw, True, way=way)
            results += [out, *conv.backward(dout, x, w, stride, pads, out, way=way)]
        pooled, argmax = conv.forward_pool(x, w, b, stride, pads, out_hw, True, pool,
                                           way="per-image")  # fmt: skip
        return [*results, pooled, argmax,
                *conv.backward_pool(dpool, x, w, stride, pads, pooled, argmax, way="per-image")]

    monkeypatch.setenv("CONVNET_SPECIALISE", "0")
    generic = run()
    monkeypatch.setenv("CONVNET_SPECIALISE", "1")
    specialised = run()
    sizes = (3, 2, 2, 1, 1, 0, 5, 6)
    for generic_kernel in (conv._conv_forward_kernel, conv._conv_backward_kernel,
                           conv._conv_pool_forward_kernel):
        compiled = conv._kernel_for(generic_kernel, sizes)
        assert compiled is not generic_kernel and compiled.signatures  # made, and it ran
    assert len(generic) == len(specialised) == 17
    for want, got in zip(generic, specialised, strict=True):
        np.testing.assert_array_equal(want, got)


@given(pool_cases())
def test_tuned_maxpool_equals_the_core_one(case):
    x_shape, pool_size, strides, padding, seed = case
    rng = np.random.default_rng(seed)
    x = rng.normal(size=x_shape)
    want, cache = ops.maxpool2d_forward_naive(x, pool_size=pool_size, strides=strides,
                                              padding=padding)  # fmt: skip
    pool_hw, stride_hw, pads, _ = cache[1]
    out, argmax = pool.forward(x, pool_hw, stride_hw, pads)
    np.testing.assert_array_equal(out, want)
    dout = rng.normal(size=out.shape)
    np.testing.assert_allclose(pool.backward(dout, x.shape, argmax),
                               ops.maxpool2d_backward_naive(dout, cache), rtol=EXACT, atol=0)


@pytest.mark.parametrize("pool_size, strides", [(2, 2), (3, 2)])  # the 2x2 kernel, the general
def test_tuned_maxpool_breaks_ties_like_the_naive_one(pool_size, strides):
    x = np.random.default_rng(5).integers(0, 3, size=(2, 3, 9, 8)).astype(np.float64)
    want, cache = ops.maxpool2d_forward_naive(x, pool_size=pool_size, strides=strides)
    out, argmax = pool.forward(x, (pool_size,) * 2, (strides,) * 2, (0, 0, 0, 0))
    np.testing.assert_array_equal(out, want)
    dout = np.random.default_rng(6).normal(size=out.shape)
    np.testing.assert_array_equal(pool.backward(dout, x.shape, argmax),
                                  ops.maxpool2d_backward_naive(dout, cache))  # fmt: skip


def test_tuned_maxpool_records_the_flat_position_of_each_maximum():
    x = np.array([[1, 5, 2, 0], [3, 4, 8, 1], [0, 6, 2, 7], [9, 1, 3, 2]], float)[None, None]
    _, argmax = pool.forward(x, (2, 2), (2, 2), (0, 0, 0, 0))
    # flat index h*W + w: (0,1) -> 1, (1,2) -> 6, (3,0) -> 12, (2,3) -> 11
    np.testing.assert_array_equal(argmax, [[[[1, 6], [12, 11]]]])


@given(st.integers(1, dense.SMALL_BATCH), st.integers(1, 40), st.integers(1, 40),
       st.integers(0, 2**32 - 1))  # fmt: skip
def test_tuned_dense_of_a_few_rows_split_over_cores_equals_numpy(n, d_in, d_out, seed):
    # Few rows of a large w are split into blocks of w's rows, one work item each, and the
    # partial products summed. Real layers need w of WEIGHTS_PER_ITEM numbers for that; a
    # smaller threshold makes these small shapes take the same path.
    rng = np.random.default_rng(seed)
    x, w = rng.normal(size=(n, d_in)), rng.normal(size=(d_in, d_out))
    for per_item in (dense.WEIGHTS_PER_ITEM, 7):
        old, dense.WEIGHTS_PER_ITEM = dense.WEIGHTS_PER_ITEM, per_item
        try:
            assert rel_error(dense.few_rows(x, w), x @ w) <= EXACT
        finally:
            dense.WEIGHTS_PER_ITEM = old


@given(st.integers(1, 20), st.integers(1, 20), st.integers(1, 20), st.booleans(), st.booleans(),
       st.integers(0, 2**32 - 1))  # fmt: skip
def test_every_way_of_the_tuned_dense_product_equals_numpy(n, d, m, a_t, b_t, seed):
    # The dense layer's products read transposed views (x.T, w.T) as they lie.
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(d, n)).T if a_t else rng.normal(size=(n, d))
    b = rng.normal(size=(m, d)).T if b_t else rng.normal(size=(d, m))
    for way in dense.MATMUL_WAYS:
        got = dense.matmul(a, b, way=way)
        assert got.shape == (n, m) and rel_error(got, a @ b) <= EXACT, way


def test_blas_is_held_to_one_thread_only_inside_the_kernels():
    # Each core calls BLAS on its own product: BLAS must not share it out again, and the
    # user's own BLAS calls afterwards get the thread count they had.
    from threadpoolctl import threadpool_info

    from convnet.tuned import blas

    if not blas.available():
        pytest.skip("no BLAS whose thread count can be set")

    def counts():
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    before = counts()
    with blas.one_thread():
        assert set(counts()) == {1}
    assert counts() == before


# --- a whole model on every rung --------------------------------------------------------------


@st.composite
def models(draw):
    """A small CNN of drawn geometry, and its input: (layers factory, input shape, n, seed)."""
    c, size = draw(st.integers(1, 3)), draw(st.integers(6, 10))
    k, s = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    pad = draw(st.sampled_from(["valid", "same"]))
    act = draw(st.sampled_from([None, "relu", "tanh"]))
    pool_size = draw(st.integers(1, 2))
    n = draw(st.sampled_from([1, 2, 5, MAX_IMAGES + 1]))
    dropout = draw(st.booleans())

    def make():
        return [L.Conv2D(draw_f, k, strides=s, padding=pad, activation=act,
                         bias_initializer=lambda shape, rng, dtype: rng.normal(size=shape)),
                L.MaxPool2D(pool_size), *([L.Dropout(0.5)] if dropout else []), L.Flatten(),
                L.Dense(4, activation="relu"), L.Dense(3, activation="softmax")]  # fmt: skip

    draw_f = draw(st.integers(1, 4))
    return make, (c, size, size), n, draw(st.integers(0, 2**32 - 1))


@settings(max_examples=30, deadline=None)
@given(models())
def test_a_model_gives_the_same_numbers_on_every_rung(case):
    make, in_shape, n, seed = case
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *in_shape))
    y = rng.integers(0, 3, size=n)
    results = {}
    for backend in ("naive", "fast", "tuned"):
        model = Sequential(make(), input_shape=in_shape, seed=1, dtype="float64",
                           backend=backend)  # fmt: skip
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        predicted = model.predict(x)
        inference_dx = model.backward(np.random.default_rng(2).normal(size=predicted.shape))
        loss, _ = model.loss_and_gradients(x, y)
        results[backend] = (predicted, inference_dx, loss, model.gradients())
    for backend in ("naive", "tuned"):
        want, got = results["fast"], results[backend]
        assert rel_error(want[0], got[0]) <= EXACT, backend
        assert rel_error(want[1], got[1]) <= EXACT, backend
        assert abs(want[2] - got[2]) <= EXACT * abs(want[2]), backend
        for name in want[3]:
            assert rel_error(want[3][name], got[3][name]) <= EXACT, (backend, name)


def test_the_tuned_steps_pass_a_whole_model_gradient_check():
    # ReLU after a convolution is done inside the tuned conv's pass; inputs are redrawn until no
    # pre-activation lies within 1e-3 of the kink, so that a 1e-5 nudge never crosses it.
    rng = np.random.default_rng(0)
    for _ in range(200):
        model = Sequential([L.Conv2D(3, 3, padding="same", activation="relu"), L.MaxPool2D(2),
                            L.Flatten(), L.Dense(4, activation="softmax")],
                           input_shape=(2, 6, 6), seed=int(rng.integers(99)), dtype="float64",
                           backend="tuned")  # fmt: skip
        x = rng.normal(size=(3, 2, 6, 6))
        z, _ = ops.conv2d_forward(x, model.layers[0].params["kernel"], None, padding="same")
        if np.abs(z).min() > 1e-3:
            break
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    assert isinstance(model._steps[0].last, tuned_steps.BandsStep)
    report = check_model(model, x, rng.integers(0, 4, size=3))
    assert report.max_error <= 1e-6, str(report)


# --- what is kept between batches ------------------------------------------------------------


def _kept(model):
    steps = [s for step in model._steps for s in getattr(step, "steps", [step])]
    steps += [inner for s in steps if isinstance(s, tuned_steps.ConvPoolStep)
              for inner in (s.conv, s.pool)]  # which run a few images one after the other
    return {(s.layer.name, k): v for s in steps for k, v in getattr(s, "kept", {}).items()}


@pytest.mark.skipif(not JIT_ENABLED, reason="the seed-net's products take minutes as plain Python")
def test_inference_reuses_its_arrays_and_never_hands_them_out():
    model = seed_net(seed=0, backend="tuned")
    rng = np.random.default_rng(0)
    # Batches bigger than the bands take (they keep nothing), two of them in x. Outputs over
    # 1 MB each.
    batch = MAX_IMAGES + 4
    x, other = rng.random((2, 2 * batch, 1, 28, 28), dtype=np.float32)
    model.forward(x[:1])
    assert not _kept(model)  # one image's are not worth keeping
    first = model.predict(x)
    kept = _kept(model)
    # conv2d_1 and max_pooling2d run as one step: the pooled maps and the positions of their
    # maxima are kept, and conv2d_1's own output is never made
    assert sorted(kept) == [("conv2d", "out"), ("conv2d_1", "argmax"),
                            ("conv2d_1", "out")]  # fmt: skip
    again = model.predict(other)
    for key, array in kept.items():  # the same arrays, written again
        assert _kept(model)[key] is array
    np.testing.assert_array_equal(model.predict(x), first)
    assert not np.array_equal(again, first)
    # batch by batch (2 batches, into the same kept arrays) gives what one batch gives, and
    # so does each image alone (in bands), to rounding
    np.testing.assert_allclose(model.predict(x, batch_size=batch), first, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.concatenate([model.predict(x[i : i + 1])
                                               for i in range(len(x))]),
                               first, rtol=1e-5, atol=1e-7)  # fmt: skip


def test_a_model_ending_without_a_tuned_step_keeps_nothing_it_hands_out(monkeypatch):
    monkeypatch.setattr(tuned_steps, "KEEP_FROM_BYTES", 0)  # keep even these tiny outputs
    model = Sequential([L.Conv2D(2, 3), L.MaxPool2D(2), L.Flatten()], input_shape=(1, 6, 6),
                       seed=0, backend="tuned")  # fmt: skip
    rng = np.random.default_rng(1)
    x, other = rng.random((2, 3, 1, 6, 6))
    first = model.forward(x)
    expected = first.copy()
    assert ("conv2d", "out") in _kept(model) and ("max_pooling2d", "out") not in _kept(model)
    model.forward(other)
    np.testing.assert_array_equal(first, expected)


@pytest.mark.skipif(not JIT_ENABLED, reason="the seed-net's products take minutes as plain Python")
def test_training_passes_keep_nothing():
    model = seed_net(seed=0, backend="tuned")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).random((4, 1, 28, 28), dtype=np.float32)
    model.train_on_batch(x, np.arange(4))
    assert not _kept(model)


@pytest.mark.skipif(not JIT_ENABLED, reason="the seed-net's products take minutes as plain Python")
def test_nan_made_inside_the_model_is_traced_to_the_layer_that_received_it():
    """At inference only the first step checks its input; the output check finds the rest."""
    for n in (2, MAX_IMAGES + 1):  # in bands, and step by step
        model = seed_net(seed=0, backend="tuned")
        x = np.random.default_rng(0).random((n, 1, 28, 28), dtype=np.float32)
        model.layers[1].params["kernel"][0, 0, 0, 0] = np.nan  # conv2d_1 makes NaN
        with pytest.raises(ValueError, match=r"max_pooling2d \(MaxPool2D\).*NaN or Inf"):
            model.predict(x)
        fresh = seed_net(seed=0, backend="tuned")
        fresh.layers[-1].params["bias"][3] = np.nan  # made by the last layer: returned
        assert np.isnan(fresh.predict(x)).all()


def test_a_layer_given_a_core_rung_keeps_it_in_a_tuned_model():
    model = Sequential([L.Conv2D(2, 3, activation="relu", backend="naive"), L.Flatten(),
                        L.Dense(3)], input_shape=(1, 5, 5), backend="tuned")  # fmt: skip
    assert type(model._steps[0]) is tuned_steps.LayerStep
    assert model.layers[0].backend == "naive" and model.layers[2].backend == "tuned"


@pytest.mark.parametrize("backend", ["naive", "fast", "tuned"])
def test_logits_stops_only_before_the_last_softmax(backend):
    model = Sequential([L.Dense(3, activation="softmax"), L.Dense(2, activation="softmax")],
                       input_shape=(4,), seed=0, dtype="float64", backend=backend)  # fmt: skip
    x = np.random.default_rng(0).normal(size=(5, 4))
    first, second = (layer.params for layer in model.layers)
    hidden = ops.softmax(x @ first["kernel"] + first["bias"])
    np.testing.assert_allclose(model.forward(x, logits=True),
                               hidden @ second["kernel"] + second["bias"], rtol=1e-12)


def _residual_model(backend="tuned"):
    return Sequential([
        L.Conv2D(3, 3, padding="same", use_bias=False), L.BatchNormalization(), L.ReLU(),
        L.Residual([L.Conv2D(3, 3, padding="same", activation="relu"),
                    L.Conv2D(3, 3, padding="same")], activation="relu", name="block"),
        L.Residual([L.Conv2D(4, 3, strides=2, padding="same")], name="down"),
        L.Flatten(), L.Dense(2, activation="softmax"),
    ], input_shape=(1, 6, 6), seed=0, backend=backend)  # fmt: skip


def _step_of(model, name):
    return next(step for step in model._steps if getattr(step, "layer", None) is not None
                and step.layer.name == name)  # fmt: skip


def test_a_residual_blocks_layers_run_as_tuned_steps():
    model = _residual_model()
    block = _step_of(model, "block")
    assert type(block) is tuned_steps.ResidualStep
    assert [type(step).__name__ for step in block.block] == ["ConvStep", "ConvStep"]
    assert block.shortcut is None
    assert type(_step_of(model, "down").shortcut) is tuned_steps.ConvStep
    # the batch normalization and the ReLU layer after it run as one step
    norm = model._steps[1]
    assert type(norm) is tuned_steps.BatchNormStep
    assert [layer.name for layer in norm.layers] == ["batch_normalization", "re_lu"]


def test_residual_blocks_keep_arrays_between_batches_without_changing_answers(monkeypatch):
    monkeypatch.setattr(tuned_steps, "KEEP_FROM_BYTES", 0)  # keep even these tiny outputs
    tuned, fast = _residual_model(), _residual_model("fast")
    batches = np.random.default_rng(2).random((4, 5, 1, 6, 6), dtype=np.float32)
    answers = [tuned.predict(x) for x in batches]  # each batch writes into the last's arrays
    assert any(step.kept for step in _step_of(tuned, "block").block)
    for x, answer in zip(batches, answers, strict=True):
        np.testing.assert_allclose(answer, fast.predict(x), rtol=1e-5, atol=1e-7)


def test_nan_made_inside_a_residual_block_is_traced_to_the_inner_layer():
    model = _residual_model()
    model.layers[3].layers[0].params["kernel"][0, 0, 0, 0] = np.nan  # conv2d_1 makes NaN
    x = np.random.default_rng(0).random((2, 1, 6, 6), dtype=np.float32)
    with pytest.raises(ValueError, match=r"conv2d_2 \(Conv2D\).*NaN or Inf"):
        model.predict(x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tuned_dropout_draws_the_core_ops_mask_from_the_same_generator(dtype):
    from convnet.tuned import dropout

    x = np.random.default_rng(1).normal(size=(3, 4, 5, 6)).astype(dtype)
    mine, core = np.random.default_rng(7), np.random.default_rng(7)
    out, mask = dropout.forward(x, 0.3, mine)
    want_out, want_mask = ops.dropout_forward(x, rate=0.3, rng=core)
    np.testing.assert_array_equal(mask, want_mask)
    np.testing.assert_array_equal(out, want_out)
    assert out.dtype == mask.dtype == dtype
    assert mine.random() == core.random()  # the Generator advanced as far


@given(st.sampled_from([(5, 3, 4, 4), (2, 4, 1, 3), (7, 6), (2, 1)]), st.booleans(),
       st.booleans(), st.integers(0, 2**32 - 1))  # fmt: skip
def test_tuned_batchnorm_and_relu_equal_the_core_ops(shape, training, relu, seed):
    from convnet.tuned import batchnorm

    rng = np.random.default_rng(seed)
    x = rng.normal(2.0, 3.0, size=shape)
    c = shape[1]
    gamma, beta = rng.normal(size=c), rng.normal(size=c)
    moving_mean, moving_var = rng.normal(size=c), rng.random(c) + 0.5
    z, want_cache = ops.batchnorm_forward(x, gamma, beta, moving_mean=moving_mean,
                                          moving_var=moving_var, training=training)  # fmt: skip
    out, cache = batchnorm.forward(x, gamma, beta, moving_mean, moving_var, training, 1e-3, relu)
    assert rel_error(np.maximum(z, 0) if relu else z, out) <= EXACT
    for name, want, got in zip(("x_hat", "gamma", "inv_std", "mean", "var"), want_cache[:5],
                               cache[:5], strict=True):  # fmt: skip
        assert rel_error(want, got) <= EXACT, name
    assert cache[5] == training
    dout = rng.normal(size=shape)
    want = ops.batchnorm_backward(dout * (z > 0) if relu else dout, want_cache)
    got = batchnorm.backward(dout, cache, out if relu else None)
    for name, g_want, g_got in zip(("dx", "dgamma", "dbeta"), want, got, strict=True):
        assert rel_error(g_want, g_got) <= EXACT, name
