"""A tour of gradient checking: every layer of convnet, the loss and a whole model.

    python examples/gradcheck_tour.py                   # the fast ops
    python examples/gradcheck_tour.py --backend naive   # the loop-by-loop reference ops
    python examples/gradcheck_tour.py --backend tuned   # the whole model on the tuned steps

For every layer, and for each of its gradients (``dx``, ``dkernel``, ``dbias``), the script
compares the backward pass with centred finite differences (``convnet.gradcheck``, float64,
h = 1e-5) and prints the relative error next to the error a correct backward pass is expected
to stay under. This is what "correct" looks like:

- a correct gradient agrees to about 1e-9 or better; convnet's tests require ≤ 1e-7 for one
  layer and ≤ 1e-6 for a whole model (more terms add more rounding);
- 1e-7 to 1e-2 is suspicious: usually an input sits on a kink (ReLU at 0, a tie in a max-pool
  window), which is why the inputs here are drawn away from 0 and without ties;
- above 1e-2 is a bug: a missing term, a transposed weight, a wrong index.

The script exits with status 1 if any error is above its bound.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from convnet import Sequential
from convnet import layers as L
from convnet.backend import RUNGS
from convnet.gradcheck import (
    GradcheckReport,
    away_from_zero,
    check_layer,
    check_model,
    check_op,
    distinct_values,
)
from convnet.ops import (
    conv2d_forward,
    dense_forward,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)

#: Bounds from CONVENTIONS.md: one layer or op, and a small whole model.
LAYER_BOUND, MODEL_BOUND = 1e-7, 1e-6


def layer_cases(backend: str):
    """(description, layer, input) for every kind of layer, on small float64 inputs.

    ReLU layers get inputs with no entry near 0 (for Conv2D and Dense with ReLU, whose kink
    sits at the output of the linear op, :func:`away_from_relu_kink` redraws the input until
    no pre-activation is near 0); max pooling gets inputs without ties.
    """
    rng = np.random.default_rng(0)

    def normal(*shape):
        return rng.normal(size=shape)

    kw = {"backend": backend}
    return [
        ("Conv2D 3x3, valid", L.Conv2D(3, 3, **kw), normal(2, 2, 6, 6)),
        ("Conv2D 2x3, stride (2, 1), same, tanh",
         L.Conv2D(2, (2, 3), strides=(2, 1), padding="same", activation="tanh", **kw),
         normal(2, 3, 5, 7)),
        ("Conv2D 3x3, same, relu", L.Conv2D(2, 3, padding="same", activation="relu", **kw),
         normal(2, 2, 5, 5)),
        ("MaxPool2D 2x2", L.MaxPool2D(2, **kw), distinct_values((2, 2, 6, 6), rng)),
        ("MaxPool2D 3x3, stride 2, same (overlapping)",
         L.MaxPool2D(3, strides=2, padding="same", **kw), distinct_values((2, 2, 7, 6), rng)),
        ("AvgPool2D 2x2", L.AvgPool2D(2, **kw), normal(2, 2, 6, 6)),
        ("Flatten", L.Flatten(**kw), normal(2, 3, 2, 2)),
        ("Dense", L.Dense(4, **kw), normal(3, 6)),
        ("Dense, relu", L.Dense(4, activation="relu", **kw), normal(3, 6)),
        ("Dense, softmax", L.Dense(4, activation="softmax", **kw), normal(3, 6)),
        ("Dropout 0.4 (mask held fixed)", L.Dropout(0.4, seed=5, **kw), normal(2, 3, 4, 4)),
        ("ReLU", L.ReLU(**kw), away_from_zero((3, 5), rng)),
        ("LeakyReLU 0.2", L.LeakyReLU(alpha=0.2, **kw), away_from_zero((3, 5), rng)),
        ("Sigmoid", L.Sigmoid(**kw), normal(3, 5)),
        ("Tanh", L.Tanh(**kw), normal(3, 5)),
        ("Softmax", L.Softmax(**kw), normal(3, 5)),
        ("Activation('tanh')", L.Activation("tanh", **kw), normal(2, 2, 3, 3)),
        ("BatchNormalization over channels (training)", L.BatchNormalization(**kw),
         normal(3, 2, 3, 3)),
        ("BatchNormalization over features (training)", L.BatchNormalization(**kw),
         normal(4, 5)),
        ("GlobalAveragePooling2D", L.GlobalAveragePooling2D(**kw), normal(2, 3, 4, 4)),
        ("Residual: conv, BN, strided conv, 1x1 projection, tanh",
         L.Residual([L.Conv2D(3, 3, padding="same", activation="tanh"), L.BatchNormalization(),
                     L.Conv2D(4, 3, strides=2, padding="same")], activation="tanh", **kw),
         normal(2, 3, 5, 5)),
    ]  # fmt: skip


def away_from_relu_kink(layer, x, rng, margin=1e-3):
    """``x``, or a redrawn input, such that no pre-activation of ``layer``'s ReLU lies within
    ``margin`` of 0: a nudge of 1e-5 to an input or a weight then never crosses the kink."""
    if layer.activation != "relu" or "kernel" not in layer.params:  # ReLU() takes x as it is
        return x
    kernel, bias = layer.params["kernel"], layer.params.get("bias")
    for _ in range(100):
        if isinstance(layer, L.Conv2D):
            z = conv2d_forward(x, kernel, bias, stride=layer.strides, padding=layer.padding)[0]
        else:
            z = dense_forward(x, kernel, bias)[0]
        if np.min(np.abs(z)) > margin:
            return x
        x = rng.normal(size=x.shape)
    raise RuntimeError(f"could not draw an input for {layer.name} away from the ReLU kink")


def loss_report() -> GradcheckReport:
    """The fused softmax + cross-entropy, with respect to the logits (eq. ce-bwd)."""
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 5, size=4)

    def forward(z):
        return softmax_cross_entropy_forward(z, labels)

    def backward(dout, cache):  # the loss is a scalar: scale its gradient by dout
        return dout * softmax_cross_entropy_backward(cache)

    return check_op(forward, backward, {"z": rng.normal(size=(4, 5))})


def model_report(backend: str) -> GradcheckReport:
    """A small CNN with every kind of weighted layer, the loss included, in training mode."""
    kw = {"backend": backend}
    model = Sequential([
        L.Conv2D(3, 3, activation="tanh", **kw),
        L.MaxPool2D(2, **kw),
        L.Dropout(0.25, **kw),
        L.Flatten(**kw),
        L.Dense(5, activation="sigmoid", **kw),
        L.Dense(4, activation="softmax", **kw),
    ], input_shape=(2, 7, 8), seed=0, dtype="float64", backend=backend)  # fmt: skip
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(2)
    return check_model(model, rng.normal(size=(3, 2, 7, 8)), rng.integers(0, 4, size=3))


def tour(backend: str = "fast"):
    """Run every check; a list of ``(what, report, bound)``."""
    results = []
    rng = np.random.default_rng(3)
    for what, layer, x in layer_cases(backend):
        layer.build(x.shape[1:], rng, dtype="float64")
        x = away_from_relu_kink(layer, x, rng)
        results.append((what, check_layer(layer, x), LAYER_BOUND))
    results.append(("softmax + cross-entropy (the loss)", loss_report(), LAYER_BOUND))
    results.append(("a whole model, through the loss", model_report(backend), MODEL_BOUND))
    return results


def table(results) -> str:
    lines = [f"{'what is checked':<46}{'gradient':<18}{'shape':<15}{'rel. error':>11}"
             f"{'expected':>11}  verdict"]  # fmt: skip
    for what, report, bound in results:
        for name, shape, err in report.rows:
            verdict = "ok" if err <= bound else ("SUSPICIOUS" if err <= 1e-2 else "BUG")
            lines.append(f"{what:<46}{name:<18}{str(shape):<15}{err:>11.1e}"
                         f"{'≤ ' + format(bound, '.0e'):>11}  {verdict}")  # fmt: skip
            what = ""  # name each check once
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=RUNGS, default="fast",
                        help="the rung to check: the loop-by-loop ops, the fast ones, or the "
                             "model's tuned steps (default: fast)")  # fmt: skip
    args = parser.parse_args(argv)
    backend = args.backend
    results = tour(backend)
    print(f"Gradient checks of convnet's {backend} rung: float64, centred differences, "
          "h = 1e-5\n")  # fmt: skip
    print(table(results))
    worst = max(report.max_error / bound for _, report, bound in results)
    n = sum(len(report.rows) for _, report, _ in results)
    print(f"\n{n} gradients checked; the worst is {worst:.0e} of its bound.")
    return 0 if worst <= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
