"""Is training healthy? Per-layer statistics recorded while ``fit`` runs, and a warning when
one of them leaves the range that healthy training keeps.

Beside the reading path, after **12. callbacks**: a :class:`~convnet.callbacks.Callback` that
reads what the layers already hold. Docs chapter: "What the network sees" (reading the
diagnostics).

Every ``every`` batches (or at the last batch of each epoch), for every layer with weights:

* **activations**: the mean and standard deviation of the layer's output on a fixed *probe*
  batch, in inference mode (for the last layer, its scores before the softmax), and for a
  ReLU layer the fraction of its units (one per output position and channel) that are 0 for
  every probe image: *dead* units, which pass no gradient and so never learn again;
* **gradient norm**: ``||dL/dW||`` over all the layer's parameters, of that batch's loss;
* **update/weight ratio**: ``||W_after - W_before|| / ||W_before||`` of the layer's kernel over
  that batch's optimizer step. How fast the weights change, relative to their size: around
  1e-3 is the usual rule of thumb for plain SGD; far above, the step is too large and the
  weights are being thrown about; far below, the layer hardly learns.

A layer whose ratio leaves ``ratio_range`` (1e-4..1e-2 by default) for ``patience`` recordings in
a row, whose dead fraction passes ``dead_limit``, or whose numbers are no longer finite gets
one line on standard error, once per layer and problem; :attr:`Diagnostics.warnings` keeps
them.

The low end of the range follows the learning rate: it is ``ratio_range[0]`` times the
learning rate over the highest it has been in the run (since the callback began: after a
resume, since the resume). A schedule that lowers the rate on
purpose (the end of a one-cycle schedule, ``ReduceLROnPlateau``) shrinks the updates with
it, and that is no sign of trouble; a rate too small from the start, or a layer that gets
no gradient, is still caught.

The ratio is not judged during the first ``warmup`` batches. Adam's first steps move every
weight by about the learning rate, whatever its gradient (the running mean and the running
root-mean-square of a gradient seen once are equal), so a big layer with small weights starts
high: on the seed-net with Adam at 1e-3, the 9216x128 dense layer's ratio is 5.8e-2 at the
first batch, 1.3e-2 at the 40th and below 1e-2 from about the 70th.
"""

from __future__ import annotations

import sys

import numpy as np

from convnet.callbacks import Callback
from convnet.inspect import forward_all

__all__ = ["Diagnostics", "diagnostics_figure", "STATISTICS"]

#: What is recorded per layer, and how the figure labels it.
STATISTICS = {
    "activation_mean": "activation mean",
    "activation_std": "activation standard deviation",
    "dead_fraction": "dead ReLU fraction",
    "gradient_norm": "gradient norm ||dL/dW||",
    "update_ratio": "update/weight ratio",
}


#: Probe images per forward pass.
CHUNK = 32


def _kernels(layer) -> list:
    """A layer's kernels: its own, or, for a Residual block, those of the layers inside it
    (``conv2d_1/kernel``, ...), measured together as the block's."""
    return [v for k, v in layer.params.items() if k == "kernel" or k.endswith("/kernel")]


def _norm(arrays) -> float:
    return float(np.sqrt(sum(float(np.sum(np.square(a, dtype=np.float64))) for a in arrays)))


class Diagnostics(Callback):
    """Per-layer statistics of training, with one-line warnings when they look unhealthy.

    Parameters
    ----------
    probe : ndarray, shape (P, *model.input_shape)
        A fixed batch (a few hundred validation images) on which activations are measured.
    every : int or None
        Record every ``every`` batches (counted over the whole run); None: at the last batch
        of each epoch.
    ratio_range : (float, float)
        The update/weight ratios that count as healthy.
    dead_limit : float
        Warn when more than this fraction of a ReLU layer's units is dead.
    patience : int
        Recordings in a row out of ``ratio_range`` before the warning.
    warmup : int
        Batches at the start of training whose ratio is recorded but not judged.
    verbose : int
        0: no printing (the warnings are still kept).

    Attributes
    ----------
    steps : list of int
        The global batch number (from 1) of each recording.
    epochs : list of float
        The same as a fraction of epochs, for plotting.
    records : dict
        ``records[statistic][layer_name]`` is the list of values, one per recording;
        statistics as in :data:`STATISTICS` (``dead_fraction`` for ReLU layers only).
    warnings : list of str
    rate_shares : list of float
        At each recording, the learning rate over the highest it had been: the low end of
        the healthy range is ``ratio_range[0]`` times this.

    Examples
    --------
    A learning rate of 10 for plain SGD: the first step changes the weights more than their
    own size.

    >>> from convnet.layers import Dense, Flatten
    >>> from convnet.model import Sequential
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.random((64, 1, 4, 4), np.float32), rng.integers(0, 3, 64)
    >>> model = Sequential([Flatten(), Dense(3, activation="softmax")], input_shape=(1, 4, 4),
    ...                    seed=0)
    >>> model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    >>> model.optimizer.learning_rate = 10.0
    >>> watch = Diagnostics(x[:16], every=1, patience=1, warmup=0, verbose=0)
    >>> _ = model.fit(x, y, epochs=1, batch_size=16, callbacks=[watch], verbose=0)
    >>> watch.steps, len(watch.records["update_ratio"]["dense"])
    ([1, 2, 3, 4], 4)
    >>> print(watch.warnings[0])
    batch 1: dense's update/weight ratio is 4.1e+00, outside 1e-04..1e-02 (learning rate too large?)
    """

    def __init__(self, probe, every=None, *, ratio_range=(1e-4, 1e-2), dead_limit=0.5,
                 patience=3, warmup=100, verbose=1, stream=None):  # fmt: skip
        self.probe = np.asarray(probe)
        self.every, self.ratio_range, self.dead_limit = every, ratio_range, dead_limit
        self.patience, self.warmup = patience, warmup
        self.verbose, self.stream = verbose, stream
        self.steps: list[int] = []
        self.epochs: list[float] = []
        self.records: dict[str, dict[str, list[float]]] = {name: {} for name in STATISTICS}
        self.warnings: list[str] = []
        self.rate_shares: list[float] = []
        self._warned: set = set()
        self._out_of_range: dict[str, int] = {}
        self._before = None
        self._peak_rate = 0.0  # the run's highest learning rate so far

    def on_train_begin(self, logs=None):
        logs = logs or {}
        self._per_epoch = -(-logs.get("samples", 1) // logs.get("batch_size", 1))
        self._step, self._epoch = (self.steps[-1] if self.steps else 0), 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def _records_now(self, batch) -> bool:
        if self.every is None:
            return batch == self._per_epoch - 1
        return (self._step + 1) % self.every == 0 or self._step == 0

    def on_batch_begin(self, batch, logs=None):
        if self._records_now(batch):  # the kernels before this batch's step, to measure it
            self._before = {layer.name: [k.copy() for k in _kernels(layer)]
                            for layer in self._weighted()}  # fmt: skip

    def on_batch_end(self, batch, logs=None):
        self._step += 1
        if self._before is None:
            return
        self.steps.append(self._step)
        self.epochs.append(self._epoch + (batch + 1) / self._per_epoch)
        rate = float(getattr(self.model.optimizer, "learning_rate", 0.0) or 0.0)
        self._peak_rate = max(self._peak_rate, rate)
        self.rate_shares.append(rate / self._peak_rate if self._peak_rate > 0 else 1.0)
        activity = self._activity()
        for layer in self._weighted():
            kernels, before = _kernels(layer), self._before[layer.name]
            total, squares, count, alive = activity[layer.name]
            mean = total / count
            values = {
                "activation_mean": mean,
                "activation_std": float(np.sqrt(max(squares / count - mean * mean, 0.0))),
                "gradient_norm": _norm(layer.grads.values()),
                "update_ratio": (_norm([k - b for k, b in zip(kernels, before, strict=True)])
                                 / (_norm(before) or np.inf)),
            }
            if layer.activation == "relu":
                values["dead_fraction"] = 1.0 - float(alive.mean())
            for statistic, value in values.items():
                self.records[statistic].setdefault(layer.name, []).append(value)
            self._check(layer.name, values)
        self._before = None

    def _activity(self) -> dict:
        """For each layer with weights, from its outputs on the probe: their sum, the sum of
        their squares and their number (float64 sums, for the mean and the standard
        deviation), and which units are above 0 for at least one image (shape of one
        output). The last layer's outputs are its scores before the softmax: probabilities
        always average 1 / K.

        The probe goes through in chunks of ``CHUNK`` images, and no layer's outputs are kept
        whole: the im2col matrix of the seed-net's second convolution is 0.66 MB an image,
        and allocating hundreds of MB afresh costs more in page faults than the arithmetic.
        """
        weighted = {layer.name for layer in self._weighted()}
        sums: dict = {}
        for i in range(0, len(self.probe), CHUNK):
            outputs = forward_all(self.model, self.probe[i : i + CHUNK])
            for layer, out in zip(self.model.layers, outputs, strict=True):
                if layer.name not in weighted:
                    continue
                total, squares, count, alive = sums.get(layer.name, (0.0, 0.0, 0, False))
                flat = out.reshape(-1)
                sums[layer.name] = (total + float(np.sum(flat, dtype=np.float64)),
                                    squares + float(np.dot(flat.astype(np.float64), flat)),
                                    count + flat.size, alive | np.any(out > 0, axis=0))  # fmt: skip
        return sums

    def _weighted(self):
        return [layer for layer in self.model.layers if _kernels(layer)]

    def _check(self, name, values):
        where = f"batch {self._step}"
        if not all(np.isfinite(v) for v in values.values()):
            self._warn(name, "nan", f"{where}: {name}'s statistics are no longer finite "
                                    "(the weights or activations overflowed)")  # fmt: skip
            return
        low, high = self.ratio_range
        low *= self.rate_shares[-1]  # lowered on purpose by a schedule: smaller steps expected
        ratio = values["update_ratio"]
        if low <= ratio <= high or self._step <= self.warmup:
            self._out_of_range[name] = 0
        else:
            self._out_of_range[name] = self._out_of_range.get(name, 0) + 1
            if self._out_of_range[name] >= self.patience:
                hint = ("learning rate too large?" if ratio > high else
                        "learning rate too small, or no gradient reaching the layer?")  # fmt: skip
                self._warn(name, "ratio", f"{where}: {name}'s update/weight ratio is "
                                          f"{ratio:.1e}, outside {low:.0e}..{high:.0e} ({hint})")
        dead = values.get("dead_fraction", 0.0)
        if dead > self.dead_limit:
            self._warn(name, "dead", f"{where}: {dead:.0%} of {name}'s ReLUs are dead (0 for "
                                     "every probe image)")  # fmt: skip

    def _warn(self, name, problem, message):
        if (name, problem) in self._warned:
            return
        self._warned.add((name, problem))
        self.warnings.append(message)
        if self.verbose:
            print(f"Diagnostics: {message}", file=self.stream or sys.stderr, flush=True)

    def state(self) -> dict:
        """What was recorded, as plain lists and numbers (for JSON): ``steps``, ``epochs``,
        ``records``, ``warnings``, ``ratio_range``, ``rate_shares``, ``dead_limit`` and
        ``probe_size``.
        :func:`diagnostics_figure` draws it as it draws the callback."""
        return {"steps": self.steps, "epochs": self.epochs, "records": self.records,
                "warnings": self.warnings, "ratio_range": list(self.ratio_range),
                "rate_shares": self.rate_shares,
                "dead_limit": self.dead_limit, "probe_size": len(self.probe)}  # fmt: skip

    def figure(self):
        """:func:`diagnostics_figure` of what was recorded."""
        return diagnostics_figure(self)


def diagnostics_figure(diagnostics):
    """The recorded statistics against epochs, one panel each, one line per layer; the
    update/weight ratio on a log scale with the healthy range shaded.

    ``diagnostics`` is a :class:`Diagnostics` or its :meth:`~Diagnostics.state` (read back
    from a run's ``diagnostics.json``, say). ``figure.axes[i]`` shows
    ``list(STATISTICS)[i]``; its ``lines[j]`` the ``j``-th layer's values.
    """
    from matplotlib.figure import Figure

    if isinstance(diagnostics, Diagnostics):
        diagnostics = diagnostics.state()

    fig = Figure(figsize=(11, 6.5), layout="constrained")
    axes = fig.subplots(2, 3).ravel()
    for ax, (statistic, label) in zip(axes, STATISTICS.items(), strict=False):
        for name, values in diagnostics["records"][statistic].items():
            ax.plot(diagnostics["epochs"], values, ".-", label=name)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        # The last layer's logits spread far wider than a ReLU layer's outputs: a log scale
        # keeps both readable.
        if statistic in ("update_ratio", "gradient_norm", "activation_std"):
            ax.set_yscale("log")
        if statistic == "update_ratio":  # the healthy band, its low end following the rate
            low, high = diagnostics["ratio_range"]
            shares = diagnostics.get("rate_shares") or [1.0] * len(diagnostics["epochs"])
            ax.fill_between(diagnostics["epochs"], [low * share for share in shares], high,
                            color="C2", alpha=0.12, label="healthy")  # fmt: skip
        if statistic == "dead_fraction":
            ax.set_ylim(-0.02, 1.02)
            ax.axhline(diagnostics["dead_limit"], color="C3", linestyle=":", linewidth=1)
        ax.legend(fontsize=7)
    axes[-1].set_axis_off()
    axes[-1].text(0, 1, "\n".join(diagnostics["warnings"]) or "no warnings", fontsize=8,
                  va="top", wrap=True, transform=axes[-1].transAxes)  # fmt: skip
    fig.suptitle(f"Training diagnostics, activations on {diagnostics['probe_size']} probe images",
                 fontsize=11)  # fmt: skip
    return fig
