"""convnet against PyTorch in float64 (optional: needs ``torch``; marked ``oracle``).

Every op, forward and backward, naive and fast (and the tuned annex's kernels where it has
its own), over 200 drawn geometries each: batch, channels, sizes, non-square kernels,
strides, paddings (Keras's ``'same'``, whose odd extra row goes at the bottom, and explicit
ones), overlapping and non-tiling pools. Then a whole model's loss, parameter gradients and
input gradient on every rung, and one Adam step with Keras's epsilon.

PyTorch only computes the answers here; it is never imported by the package. Two
conventions differ and are bridged in the reference, not in convnet:

* ``'same'`` and four-sided padding: PyTorch pads both sides equally, so the reference pads
  the input itself (``F.pad``): zeros for convolution, -inf for max pooling;
* average pooling with ``'same'`` padding divides by the number of real pixels in the
  window (Keras), so the reference divides a sum over the window by a count of ones.

Install with ``pip install torch==2.13.0`` (the CPU wheel); skipped without it.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convnet import ops
from convnet.shapes import resolve_padding

torch = pytest.importorskip("torch")
F = torch.nn.functional
pytestmark = pytest.mark.oracle

EXAMPLES = 200  # drawn geometries per op and rung
TOL = dict(rtol=1e-10, atol=1e-12)  # float64: only the order of the additions differs


def t64(a, grad=False):
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64, requires_grad=grad)


def grads_of(out, dout, *tensors):
    """The gradients of ``sum(out * dout)`` with respect to ``tensors``, as arrays."""
    got = torch.autograd.grad(out, tensors, grad_outputs=t64(dout))
    return [g.numpy() for g in got]


def twins(op, rung):
    """The forward and backward functions of ``op`` on the core's ``rung``."""
    suffix = "_naive" if rung == "naive" else ""
    return getattr(ops, f"{op}_forward{suffix}"), getattr(ops, f"{op}_backward{suffix}")


def close(ours, theirs, what):
    np.testing.assert_allclose(ours, theirs, **TOL, err_msg=what)


def torch_pad(x, pads, value=0.0):
    """Pad (N, C, H, W) by convnet's ``(top, bottom, left, right)``."""
    top, bottom, left, right = pads
    return F.pad(x, (left, right, top, bottom), value=value)


# -- geometries ------------------------------------------------------------------------------


@st.composite
def conv_cases(draw):
    n, c, f = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    padding = draw(st.one_of(
        st.sampled_from(["valid", "same"]), st.integers(0, 2),
        st.tuples(st.integers(0, 2), st.integers(0, 2)),
        st.tuples(*[st.integers(0, 2)] * 4)))  # fmt: skip
    h, w = draw(st.integers(kh, kh + 6)), draw(st.integers(kw, kw + 6))
    bias = draw(st.booleans())
    return (n, c, h, w), (f, c, kh, kw), (sh, sw), padding, bias


@st.composite
def pool_cases(draw):
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    strides = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    padding = draw(st.sampled_from(["valid", "same"]))
    h, w = draw(st.integers(ph, ph + 6)), draw(st.integers(pw, pw + 6))
    return (n, c, h, w), (ph, pw), strides, padding


def arrays(seed, *shapes):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for shape in shapes]


# -- convolution ------------------------------------------------------------------------------


def torch_conv(x, w, b, stride, pads):
    return F.conv2d(torch_pad(x, pads), w, b, stride=stride)


def check_conv(forward, backward, case, seed):
    x_shape, w_shape, stride, padding, bias = case
    x, w, b = arrays(seed, x_shape, w_shape, w_shape[:1])
    b = b if bias else None
    out, cache = forward(x, w, b, stride=stride, padding=padding)
    dout = arrays(seed + 1, out.shape)[0]
    dx, dw, db = backward(dout, cache)

    pads = resolve_padding(padding, x_shape[2:], w_shape[2:], stride)
    tx, tw, tb = t64(x, True), t64(w, True), t64(b, True) if bias else None
    ref = torch_conv(tx, tw, tb, stride, pads)
    what = f"conv2d x{x_shape} w{w_shape} stride {stride} padding {padding!r}"
    close(out, ref.detach().numpy(), what + ": out")
    ref_grads = grads_of(ref, dout, tx, tw, *([tb] if bias else []))
    close(dx, ref_grads[0], what + ": dx")
    close(dw, ref_grads[1], what + ": dw")
    if bias:
        close(db, ref_grads[2], what + ": db")


@pytest.mark.parametrize("rung", ["naive", "fast"])
@settings(max_examples=EXAMPLES)
@given(case=conv_cases(), seed=st.integers(0, 2**16))
def test_conv2d(rung, case, seed):
    check_conv(*twins("conv2d", rung), case, seed)


@settings(max_examples=EXAMPLES)
@given(case=conv_cases(), seed=st.integers(0, 2**16), relu=st.booleans())
def test_conv2d_tuned_every_way(case, seed, relu):
    """The annex's convolution, each of its ways, with and without the fused ReLU."""
    from convnet.tuned import conv

    x_shape, w_shape, stride, padding, bias = case
    x, w, b = arrays(seed, x_shape, w_shape, w_shape[:1])
    b = b if bias else np.zeros(w_shape[0])
    pads = resolve_padding(padding, x_shape[2:], w_shape[2:], stride)
    tx, tw, tb = t64(x, True), t64(w, True), t64(b, True)
    ref = torch_conv(tx, tw, tb, stride, pads)
    ref = F.relu(ref) if relu else ref
    dout = arrays(seed + 1, ref.shape)[0]
    ref_dx, ref_dw, ref_db = grads_of(ref, dout, tx, tw, tb)
    for way in conv.FORWARD_WAYS:
        what = f"tuned conv2d ({way}) x{x_shape} w{w_shape} {stride} {padding!r} relu={relu}"
        out = conv.forward(x, w, b, stride, pads, ref.shape[2:], relu, way=way)
        close(out, ref.detach().numpy(), what + ": out")
        dx, dw, db = conv.backward(dout, x, w, stride, pads, out if relu else None, way=way)
        close(dx, ref_dx, what + ": dx")
        close(dw, ref_dw, what + ": dw")
        close(db, ref_db, what + ": db")


# -- pooling ----------------------------------------------------------------------------------


def torch_pool(kind, x, pool_hw, stride_hw, pads):
    if kind == "max":
        return F.max_pool2d(torch_pad(x, pads, -np.inf), pool_hw, stride_hw)
    # Keras's average over the real pixels only: a window sum divided by a count of ones.
    area = pool_hw[0] * pool_hw[1]
    total = F.avg_pool2d(torch_pad(x, pads), pool_hw, stride_hw) * area
    count = F.avg_pool2d(torch_pad(torch.ones_like(x), pads), pool_hw, stride_hw) * area
    return total / count


def pool_reference(kind, case, seed):
    x_shape, pool_hw, strides, padding = case
    stride_hw = pool_hw if strides is None else strides
    pads = resolve_padding(padding, x_shape[2:], pool_hw, stride_hw)
    (x,) = arrays(seed, x_shape)
    tx = t64(x, True)
    ref = torch_pool(kind, tx, pool_hw, stride_hw, pads)
    dout = arrays(seed + 1, ref.shape)[0]
    return x, pads, stride_hw, ref.detach().numpy(), dout, grads_of(ref, dout, tx)[0]


@pytest.mark.parametrize("rung", ["naive", "fast"])
@pytest.mark.parametrize("kind", ["max", "avg"])
@settings(max_examples=EXAMPLES)
@given(case=pool_cases(), seed=st.integers(0, 2**16))
def test_pool2d(kind, rung, case, seed):
    forward, backward = twins(f"{kind}pool2d", rung)
    x, _, _, ref, dout, ref_dx = pool_reference(kind, case, seed)
    x_shape, pool_hw, strides, padding = case
    what = f"{kind}pool2d x{x_shape} pool {pool_hw} strides {strides} padding {padding!r}"
    out, cache = forward(x, pool_size=pool_hw, strides=strides, padding=padding)
    close(out, ref, what + ": out")
    close(backward(dout, cache), ref_dx, what + ": dx")


@settings(max_examples=EXAMPLES)
@given(case=pool_cases(), seed=st.integers(0, 2**16))
def test_maxpool2d_tuned(case, seed):
    from convnet.tuned import pool

    x, pads, stride_hw, ref, dout, ref_dx = pool_reference("max", case, seed)
    what = f"tuned maxpool2d {case}"
    out, argmax = pool.forward(x, case[1], stride_hw, pads)
    close(out, ref, what + ": out")
    close(pool.backward(dout, x.shape, argmax), ref_dx, what + ": dx")


# -- dense, flatten, activations, dropout, softmax --------------------------------------------


@pytest.mark.parametrize("rung", ["naive", "fast"])
@settings(max_examples=EXAMPLES)
@given(n=st.integers(1, 5), d=st.integers(1, 9), m=st.integers(1, 7), seed=st.integers(0, 2**16))
def test_dense(rung, n, d, m, seed):
    forward, backward = twins("dense", rung)
    x, w, b = arrays(seed, (n, d), (d, m), (m,))
    out, cache = forward(x, w, b)
    dout = arrays(seed + 1, out.shape)[0]
    tx, tw, tb = t64(x, True), t64(w, True), t64(b, True)
    ref = F.linear(tx, tw.T, tb)  # convnet's kernel is (in, out): x @ w + b
    close(out, ref.detach().numpy(), "dense out")
    for ours, theirs, name in zip(backward(dout, cache), grads_of(ref, dout, tx, tw, tb),
                                  ["dx", "dw", "db"], strict=True):  # fmt: skip
        close(ours, theirs, f"dense {name} x({n}, {d}) w({d}, {m})")


@pytest.mark.parametrize("rung", ["naive", "fast"])
@settings(max_examples=EXAMPLES)
@given(shape=st.tuples(*[st.integers(1, 5)] * 4), seed=st.integers(0, 2**16))
def test_flatten(rung, shape, seed):
    forward, backward = twins("flatten", rung)
    (x,) = arrays(seed, shape)
    out, cache = forward(x)
    tx = t64(x, True)
    ref = torch.flatten(tx, 1)
    close(out, ref.detach().numpy(), "flatten out")
    dout = arrays(seed + 1, out.shape)[0]
    close(backward(dout, cache), grads_of(ref, dout, tx)[0], "flatten dx")


ACTIVATIONS = {
    "relu": F.relu,
    "leaky_relu": lambda t: F.leaky_relu(t, 0.3),  # Keras's default alpha, as convnet's
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softmax": lambda t: torch.softmax(t, dim=1),
}


@pytest.mark.parametrize("rung", ["naive", "fast"])
@pytest.mark.parametrize("name", list(ACTIVATIONS))
@settings(max_examples=EXAMPLES)
@given(n=st.integers(1, 4), k=st.integers(1, 9), scale=st.sampled_from([0.1, 1.0, 30.0]),
       seed=st.integers(0, 2**16))  # fmt: skip
def test_activation(rung, name, n, k, scale, seed):
    forward, backward = twins(name, rung)
    (x,) = arrays(seed, (n, k))
    x = x * scale
    out, cache = forward(x)
    tx = t64(x, True)
    ref = ACTIVATIONS[name](tx)
    close(out, ref.detach().numpy(), f"{name} out")
    dout = arrays(seed + 1, out.shape)[0]
    close(backward(dout, cache), grads_of(ref, dout, tx)[0], f"{name} dx")


@pytest.mark.parametrize("rung", ["naive", "fast"])
@settings(max_examples=EXAMPLES)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=4),
       rate=st.sampled_from([0.0, 0.25, 0.5, 0.9]), seed=st.integers(0, 2**16))  # fmt: skip
def test_dropout_with_a_given_mask(rung, shape, rate, seed):
    """With the mask fixed, dropout is ``x * mask``: the same product as PyTorch's."""
    forward, backward = twins("dropout", rung)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    mask = (rng.random(shape) >= rate) / (1.0 - rate)
    out, cache = forward(x, rate=rate, mask=mask)
    tx = t64(x, True)
    ref = tx * t64(mask)
    close(out, ref.detach().numpy(), "dropout out")
    dout = rng.standard_normal(shape)
    close(backward(dout, cache), grads_of(ref, dout, tx)[0], "dropout dx")


@pytest.mark.parametrize("rung", ["naive", "fast"])
@pytest.mark.parametrize("targets", ["labels", "probabilities"])
@settings(max_examples=EXAMPLES)
@given(n=st.integers(1, 6), k=st.integers(2, 9), scale=st.sampled_from([0.1, 1.0, 50.0]),
       seed=st.integers(0, 2**16))  # fmt: skip
def test_softmax_cross_entropy(rung, targets, n, k, scale, seed):
    forward, backward = twins("softmax_cross_entropy", rung)
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, k)) * scale
    if targets == "labels":
        y = rng.integers(0, k, n)
        y_torch = torch.tensor(y)
    else:
        y = rng.dirichlet(np.ones(k), n)
        y_torch = t64(y)
    loss, cache = forward(z, y)
    tz = t64(z, True)
    ref = F.cross_entropy(tz, y_torch)  # the mean over the batch, as convnet's
    np.testing.assert_allclose(loss, ref.item(), **TOL)
    close(backward(cache), torch.autograd.grad(ref, tz)[0].numpy(), "cross-entropy dz")


# -- a whole model -----------------------------------------------------------------------------


def torch_forward(model, x):
    """The model's forward pass rebuilt from PyTorch functions, with convnet's weights (as
    leaf tensors that collect gradients) and the dropout masks convnet just drew."""
    from convnet import layers as L

    params, t = {}, x
    for layer in model.layers:
        p = {name: t64(value, True) for name, value in layer.params.items()}
        params[layer.name] = p
        kind = type(layer)
        if kind is L.Conv2D:
            pads = resolve_padding(layer.padding, layer.input_shape[1:], layer.kernel_size,
                                   layer.strides)  # fmt: skip
            t = torch_conv(t, p["kernel"], p.get("bias"), layer.strides, pads)
        elif kind in (L.MaxPool2D, L.AvgPool2D):
            pads = resolve_padding(layer.padding, layer.input_shape[1:], layer.pool_size,
                                   layer.strides)  # fmt: skip
            kind_name = "max" if kind is L.MaxPool2D else "avg"
            t = torch_pool(kind_name, t, layer.pool_size, layer.strides, pads)
        elif kind is L.Dropout:
            t = t * t64(layer._cache[0])
        elif kind is L.Flatten:
            t = torch.flatten(t, 1)
        elif kind is L.Dense:
            t = t @ p["kernel"] + p["bias"] if "bias" in p else t @ p["kernel"]
        elif kind is L.LeakyReLU:
            t = F.leaky_relu(t, layer.alpha)
        elif kind in (L.ReLU, L.Sigmoid, L.Tanh, L.Softmax, L.Activation):
            pass  # the activation below
        else:
            raise AssertionError(f"no PyTorch reference for {kind.__name__}")
        if layer.activation == "softmax":
            assert layer is model.layers[-1], "softmax only last: its input is the logits"
        elif layer.activation is not None:
            t = ACTIVATIONS[layer.activation](t)
    return t, params


@pytest.mark.parametrize("rung", ["naive", "fast", "tuned"])
def test_whole_model_loss_and_gradients(rung, monkeypatch):
    """Every layer convnet has, in one model: loss, every parameter's gradient and the
    input's gradient, against PyTorch's autograd on the same weights and dropout masks."""
    from test_io import every_layer_net

    monkeypatch.setenv("CONVNET_BACKEND", rung)
    model = every_layer_net(dtype="float64", dropout=0.3)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(7)
    x = rng.standard_normal((6, *model.input_shape))
    y = rng.integers(0, model.output_shape[0], 6)

    z = model.forward(x, training=True, logits=True)
    loss, cache = model.loss.forward(z, y)
    dx = model.backward(model.loss.backward(cache))

    tx = t64(x, True)
    logits, params = torch_forward(model, tx)
    ref_loss = F.cross_entropy(logits, torch.tensor(y))
    leaves = [tx] + [t for p in params.values() for t in p.values()]
    ref_grads = iter(torch.autograd.grad(ref_loss, leaves))
    np.testing.assert_allclose(loss, ref_loss.item(), **TOL)
    close(z, logits.detach().numpy(), "logits")
    close(dx, next(ref_grads).numpy(), "dL/dx of the input")
    for layer in model.layers:
        for name in params[layer.name]:
            close(layer.grads[name], next(ref_grads).numpy(), f"{layer.name}/{name}")


# -- one Adam step with Keras's epsilon --------------------------------------------------------


def test_one_adam_step_with_keras_epsilon():
    """Keras (and convnet) add epsilon to sqrt(v); PyTorch adds it to sqrt(v / (1 - beta2^t)).
    At step t the two agree when PyTorch's epsilon is ``epsilon / sqrt(1 - beta2^t)``: for the
    first step, ``epsilon / sqrt(1 - beta2)``. A large epsilon makes the difference visible:
    with PyTorch given the same number, the steps differ."""
    from convnet.optimizers import Adam

    rng = np.random.default_rng(11)
    p0, g = rng.standard_normal((6, 5)), rng.standard_normal((6, 5)) * 1e-3
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-3

    ours = p0.copy()
    Adam(learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=eps).step({"p": ours}, {"p": g})

    def torch_step(torch_eps):
        theirs = t64(p0, True)
        opt = torch.optim.Adam([theirs], lr=lr, betas=(b1, b2), eps=torch_eps)
        theirs.grad = t64(g)
        opt.step()
        return theirs.detach().numpy()

    close(ours, torch_step(eps / np.sqrt(1.0 - b2)), "Adam, epsilon mapped")
    assert not np.allclose(ours, torch_step(eps), **TOL), "the mapping should matter here"
