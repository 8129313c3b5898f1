"""The gradient checker: is a backward pass right? Compare it with finite differences.

Reading order: shapes → **2. gradcheck** → jit → im2col → ops → layers → ... Docs chapter:
"How a CNN learns" (checking gradients) and the end of every op chapter.

A backward pass computes, for some upstream gradient ``dout``, the vector-Jacobian product

    dx = J(x)^T · dout,   i.e.   dx[i] = sum_j dout[j] · ∂out[j]/∂x[i]

which is exactly the derivative of the scalar ``g(x) = sum(f(x) * dout)`` with respect to
``x[i]``. So we never build the Jacobian: we nudge one entry of ``x`` by ``±h`` and measure how
``g`` changes (centred differences, error O(h²))::

    dx[i] ≈ (g(x + h·e_i) - g(x - h·e_i)) / (2h)

In float64 with ``h = 1e-5`` the truncation error (~h² = 1e-10) and the rounding error
(~1e-16 / h = 1e-11) are both tiny, so a correct backward pass agrees to about 1e-8 or better.
In float32 the rounding error alone is ~1e-2: always check in float64.

The agreement is measured by :func:`rel_error`. Rule of thumb for float64: ≤ 1e-7 is correct,
1e-7 … 1e-2 is suspicious (check for kinks: ReLU at 0, max-pool ties), above 1e-2 is a bug.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "numerical_gradient",
    "rel_error",
    "GradcheckReport",
    "check_op",
    "check_layer",
    "check_model",
    "away_from_zero",
    "distinct_values",
]

#: Thresholds for the verdict column of a report (float64, h = 1e-5).
OK, SUSPICIOUS = 1e-7, 1e-2


def numerical_gradient(f, x: np.ndarray, dout=None, *, h: float = 1e-5) -> np.ndarray:
    """Centred-difference estimate of ``J(x)^T · dout`` for ``out = f(x)``.

    ``x`` is perturbed in place, one entry at a time, and restored afterwards; ``f`` must read
    the current contents of ``x`` (it may ignore its argument and use a closure).

    Parameters
    ----------
    f : callable
        ``f(x) -> out``, an array or a scalar.
    x : ndarray, any shape, float64
        The input to differentiate with respect to.
    dout : ndarray, shape of ``f(x)``, optional
        Upstream gradient. Leave out (or pass ``1.0``) when ``f`` returns a scalar loss.
    h : float
        Step size.

    Returns
    -------
    grad : ndarray, same shape as ``x``

    Examples
    --------
    >>> x = np.array([1.0, 2.0, 3.0])
    >>> np.round(numerical_gradient(lambda v: np.sum(v ** 2), x), 6)   # d/dx sum x² = 2x
    array([2., 4., 6.])
    """
    if x.dtype != np.float64:
        raise ValueError(
            f"numerical_gradient: x must be float64 for a meaningful check, got {x.dtype}"
        )
    if dout is None:
        dout = 1.0
    grad = np.zeros(x.shape, dtype=x.dtype)
    # Index x itself, entry by entry: x.reshape(-1) would be a *copy* for a non-C-contiguous
    # x (a transposed weight, say), and nudging the copy would leave f(x) unchanged.
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        plus = np.sum(np.asarray(f(x)) * dout)
        x[i] = old - h
        minus = np.sum(np.asarray(f(x)) * dout)
        x[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad


def rel_error(a, b) -> float:
    """Relative error ``max|a - b| / max(max|a|, max|b|)`` of two arrays (0 when both are 0).

    The error is measured against the scale of the whole array rather than entry by entry: an
    entry that is nearly zero because large terms cancelled carries rounding noise that is
    tiny in absolute terms but huge relative to itself, and would make an element-wise ratio
    cry wolf.

    Examples
    --------
    >>> rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.000002]))  # doctest: +ELLIPSIS
    9.99...e-07
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error: shapes differ, {a.shape} vs {b.shape}")
    scale = max(np.max(np.abs(a), initial=0.0), np.max(np.abs(b), initial=0.0))
    if scale == 0.0:
        return 0.0
    return float(np.max(np.abs(a - b)) / scale)


def _verdict(err: float) -> str:
    if err <= OK:
        return "ok"
    if err <= SUSPICIOUS:
        return "SUSPICIOUS"
    return "BUG"


def away_from_zero(shape, rng: np.random.Generator, *, low: float = 0.1, high: float = 2.0):
    """Random float64 entries of both signs with ``low <= |x| <= high``.

    Inputs for checking ReLU and LeakyReLU: their derivative jumps at 0, and a centred
    difference that straddles the jump measures neither side. With every entry at least
    ``low`` from 0, a nudge of ``h = 1e-5`` never crosses it.

    Examples
    --------
    >>> x = away_from_zero((2, 3), np.random.default_rng(0))
    >>> x.shape, bool((np.abs(x) >= 0.1).all())
    ((2, 3), True)
    """
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(low, high, size=shape)


def distinct_values(shape, rng: np.random.Generator, *, spacing: float = 0.1):
    """Float64 values ``spacing`` apart in random order, centred on 0: no two are equal.

    Inputs for checking max pooling: where two entries of a window tie for the maximum, the
    gradient goes to one of them and a nudge of either changes which one, so finite
    differences disagree with any answer. Values 0.1 apart (10,000 times ``h``) never tie.

    Examples
    --------
    >>> x = distinct_values((2, 3), np.random.default_rng(0))
    >>> sorted(np.round(x.ravel(), 1).tolist())
    [-0.3, -0.2, -0.1, 0.0, 0.1, 0.2]
    """
    size = int(np.prod(shape))
    return (rng.permutation(size) - size // 2).reshape(shape) * spacing


@dataclass
class GradcheckReport:
    """Relative error of every analytic gradient against its numerical estimate.

    ``str(report)`` is a table a learner can read; ``report.max_error`` is the worst row.

    Examples
    --------
    >>> report = GradcheckReport("demo")
    >>> report.add("dx", (2, 3), 3.2e-10)
    >>> report.add("dw", (3, 4), 4e-5)
    >>> report.add("db", (4,), 0.5)
    >>> print(report)
    gradient check: demo
      gradient              shape                 rel. error  verdict
      dx                    (2, 3)                  3.20e-10  ok
      dw                    (3, 4)                  4.00e-05  SUSPICIOUS
      db                    (4,)                    5.00e-01  BUG
      (ok ≤ 1e-07; suspicious ≤ 1e-02; above that, a bug)
    >>> report.max_error
    0.5
    """

    title: str
    rows: list[tuple[str, tuple, float]] = field(default_factory=list)

    def add(self, name: str, shape: tuple, err: float) -> None:
        self.rows.append((name, tuple(shape), err))

    @property
    def errors(self) -> dict[str, float]:
        return {name: err for name, _, err in self.rows}

    @property
    def max_error(self) -> float:
        return max((err for _, _, err in self.rows), default=0.0)

    def __str__(self) -> str:
        lines = [f"gradient check: {self.title}"]
        lines.append(f"  {'gradient':<22}{'shape':<20}{'rel. error':>12}  verdict")
        for name, shape, err in self.rows:
            lines.append(f"  {name:<22}{str(shape):<20}{err:>12.2e}  {_verdict(err)}")
        lines.append(f"  (ok ≤ {OK:.0e}; suspicious ≤ {SUSPICIOUS:.0e}; above that, a bug)")
        return "\n".join(lines)

    __repr__ = __str__


def check_op(forward, backward, inputs: dict, *, seed: int = 0, h: float = 1e-5, **hyper):
    """Gradient-check a pure op pair ``forward(*inputs, **hyper) -> (out, cache)`` and
    ``backward(dout, cache) -> (d_input_1, d_input_2, ...)``.

    Parameters
    ----------
    forward, backward : callables
        The op pair. ``backward`` returns one gradient per input, in the order of ``inputs``
        (a single array when there is one input).
    inputs : dict of name -> ndarray (float64)
        The op's array arguments, passed positionally in this order.
    seed : int
        Seed for the random upstream gradient ``dout``.
    **hyper
        Keyword-only hyperparameters for ``forward`` (stride, padding, ...).

    Returns
    -------
    GradcheckReport

    Examples
    --------
    >>> from convnet.ops import dense_forward, dense_backward
    >>> rng = np.random.default_rng(0)
    >>> arrays = {"x": rng.normal(size=(4, 3)), "w": rng.normal(size=(3, 2)),
    ...           "b": rng.normal(size=2)}
    >>> check_op(dense_forward, dense_backward, arrays).max_error < 1e-7
    True
    """
    arrays = {k: np.array(v, dtype=np.float64) for k, v in inputs.items()}
    args = list(arrays.values())
    out, cache = forward(*args, **hyper)
    dout = np.random.default_rng(seed).normal(size=np.shape(out))
    grads = backward(dout, cache)
    if not isinstance(grads, tuple):
        grads = (grads,)
    report = GradcheckReport(getattr(forward, "__name__", "op"))
    for (name, arr), analytic in zip(arrays.items(), grads, strict=True):
        numeric = numerical_gradient(lambda _: forward(*args, **hyper)[0], arr, dout, h=h)
        report.add("d" + name, arr.shape, rel_error(analytic, numeric))
    return report


@contextlib.contextmanager
def _same_randomness(layers):
    """Make every forward pass inside the block draw the same random numbers (dropout masks),
    and leave the layers' state (BatchNormalization's moving statistics, which every
    training-mode pass moves) as it was found.

    Each layer that owns a Generator (``layer.rng``) has its state rewound before every call
    of the returned ``rewind`` function.
    """
    from convnet.layers import walk  # the layers inside a Residual draw masks too

    every = list(walk(layers))
    gens = [layer.rng for layer in every if getattr(layer, "rng", None) is not None]
    states = [g.bit_generator.state for g in gens]
    kept = [(a, a.copy()) for layer in every for a in layer.state.values()]

    def rewind():
        for g, s in zip(gens, states, strict=True):
            g.bit_generator.state = s
        for array, before in kept:
            array[...] = before

    try:
        yield rewind
    finally:
        rewind()


def check_layer(layer, x: np.ndarray, *, training: bool = True, seed: int = 0, h: float = 1e-5):
    """Gradient-check a built layer: ``dx`` and the gradient of every parameter.

    The layer's parameters must be float64 (build it with ``dtype='float64'``). Dropout layers
    reuse one mask throughout (their generator is rewound before each forward pass).

    Examples
    --------
    >>> from convnet.layers import Dense
    >>> rng = np.random.default_rng(0)
    >>> layer = Dense(3, activation="tanh", dtype="float64")
    >>> layer.build((5,), rng)
    >>> report = check_layer(layer, rng.normal(size=(2, 5)))
    >>> [name for name, _, _ in report.rows]
    ['dx', 'dkernel', 'dbias']
    >>> report.max_error < 1e-7
    True
    """
    x = np.array(x, dtype=np.float64)
    with _same_randomness([layer]) as rewind:

        def run(_):
            rewind()
            return layer.forward(x, training=training)

        out = run(None)
        dout = np.random.default_rng(seed).normal(size=out.shape)
        dx = layer.backward(dout)
        analytic = {"x": dx, **{k: g.copy() for k, g in layer.grads.items()}}
        report = GradcheckReport(f"{layer.name} ({type(layer).__name__})")
        report.add("dx", x.shape, rel_error(dx, numerical_gradient(run, x, dout, h=h)))
        for pname, p in layer.params.items():
            numeric = numerical_gradient(run, p, dout, h=h)
            report.add("d" + pname, p.shape, rel_error(analytic[pname], numeric))
    return report


def check_model(model, x: np.ndarray, y: np.ndarray, *, h: float = 1e-5):
    """Gradient-check a whole compiled model: the loss's gradient w.r.t. every parameter.

    Uses the model's own training-mode forward pass and loss (dropout masks held fixed), so
    it checks exactly the gradients the optimizer would receive.

    Examples
    --------
    >>> from convnet import Sequential, layers
    >>> model = Sequential([layers.Dense(4, activation="relu"),
    ...                     layers.Dense(3, activation="softmax")],
    ...                    input_shape=(5,), seed=0, dtype="float64")
    >>> model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    >>> rng = np.random.default_rng(1)
    >>> check_model(model, rng.normal(size=(6, 5)), rng.integers(0, 3, size=6)).max_error < 1e-6
    True
    """
    x = np.array(x, dtype=np.float64)
    with _same_randomness(model.layers) as rewind:

        def loss_now(_):
            rewind()
            return model.compute_loss(x, y, training=True)

        loss_now(None)
        rewind()
        model.loss_and_gradients(x, y)
        grads = {k: g.copy() for k, g in model.gradients().items()}
        report = GradcheckReport(f"model {model.name}, loss {model.loss_name}")
        for name, p in model.parameters().items():
            numeric = numerical_gradient(loss_now, p, h=h)
            report.add(name, p.shape, rel_error(grads[name], numeric))
    return report
