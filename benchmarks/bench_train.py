"""How fast does the seed-net train and predict? Optionally beside PyTorch, in the same process.

Measures, on random data shaped like MNIST (speed does not depend on the pixel values):

- training images/s: forward + backward + Adam step, float32, batch 128 by default;
- inference images/s: ``predict`` on batches of 1000;
- single-image ``predict`` latency after warm-up (median): on its own, before PyTorch is
  loaded (as an application that predicts runs), beside the same image on the fast rung
  (the core alone; on the tuned rung ``predict`` sends a few images through the
  convolutional layers in bands of rows, one per core: see ``convnet.tuned.bands``), and
  with ``--compare-torch`` again
  in turns with PyTorch, for the ratio;
- forward and backward time of every layer, and of the loss and the optimizer step;
- peak resident memory of this process once convnet's workloads have run (before PyTorch is
  loaded);
- the BLAS library, its core type and thread count, and Numba's thread count.

``--compare-torch`` builds the same net in PyTorch (when it is importable), with the same
batch and thread count, and prints convnet/PyTorch ratios. The two are timed turn about,
repeat by repeat, so that a slow spell of a shared machine falls on both rather than on
whichever ran second. Results go to stdout as a Markdown table and, with ``--json FILE``, as
JSON.

Usage::

    python benchmarks/bench_train.py                      # convnet alone
    python benchmarks/bench_train.py --compare-torch      # and PyTorch, with ratios
    python benchmarks/bench_train.py --steps 2 --repeats 1 --batch-size 8   # a smoke run

Times are the median of ``--repeats`` runs of ``--steps`` steps each, after warm-up steps
(which also compile the Numba kernels on a first run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

import convnet
from convnet.cli import machine_description, peak_rss_mb
from convnet.nets import seed_net


def blas_info() -> dict:
    """BLAS library, core type and threads as NumPy's threadpool reports them, plus Numba's."""
    import numba
    from threadpoolctl import threadpool_info

    info = {"numba_threads": numba.get_num_threads(),
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "(unset)")}  # fmt: skip
    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            info.update(blas=f"{pool.get('internal_api')} {pool.get('version')}",
                        blas_architecture=pool.get("architecture"),
                        blas_threads=pool.get("num_threads"))  # fmt: skip
            break
    return info


def timed(fn, steps: int, repeats: int) -> float:
    """Median over ``repeats`` of the seconds per call; each repeat calls ``fn`` ``steps`` times."""
    return timed_in_turn({"": fn}, steps, repeats)[""]


def timed_in_turn(fns: dict, steps: int, repeats: int) -> dict:
    """:func:`timed` for several functions at once, taking turns: repeat 1 of each, then
    repeat 2 of each, and so on. Returns the median seconds per call of each."""
    runs = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(steps):
                fn()
            runs[name].append((time.perf_counter() - start) / steps)
    return {name: statistics.median(r) for name, r in runs.items()}


def latency_in_turn(fns: dict, calls: int, rounds: int = 5) -> dict:
    """Median seconds of single calls of each function, ``calls`` in all, taken in turns of
    ``calls // rounds`` calls each."""
    times = {name: [] for name in fns}
    per_round = max(1, calls // rounds)
    for _ in range(max(1, calls // per_round)):
        for name, fn in fns.items():
            for _ in range(per_round):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def fake_mnist(n: int, rng: np.random.Generator):
    x = rng.random((n, 1, 28, 28), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, n)]
    return x, y


# -- convnet ------------------------------------------------------------------------------------


def convnet_workloads(args) -> tuple[dict, object]:
    """The three timed workloads of the seed-net in convnet (warmed up), and the model."""
    rng = np.random.default_rng(0)
    model = seed_net(seed=0)
    model.compile(optimizer=convnet.optimizers.Adam(learning_rate=1e-3),
                  loss="categorical_crossentropy")  # fmt: skip
    x, y = fake_mnist(args.batch_size, rng)
    xi, _ = fake_mnist(args.infer_batch, rng)
    one = xi[:1]
    core = seed_net(seed=0, backend="fast")  # the same weights, on the core alone
    work = {"train": lambda: model.train_on_batch(x, y),
            "infer": lambda: model.predict(xi, batch_size=args.infer_batch),
            "one": lambda: model.predict(one),
            "one_fast_rung": lambda: core.predict(one)}  # fmt: skip
    for _ in range(args.warmup):
        work["train"]()
    work["infer"]()
    for _ in range(20):
        work["one"]()
        work["one_fast_rung"]()
    return work, model


def convnet_details(args, model) -> dict:
    """Per-layer forward and backward times, the optimizer step, memory and start-up."""
    x, y = fake_mnist(args.batch_size, np.random.default_rng(0))
    layers = {}
    out = x
    for layer in model.layers:
        last = layer is model.layers[-1]
        fwd = lambda layer=layer, out=out, last=last: layer.forward(  # noqa: E731
            out, training=True, logits=last)
        layers[layer.name] = {"forward_ms": 1e3 * timed(fwd, args.steps, args.repeats)}
        out = fwd()
    loss_value, cache = model.loss.forward(out, y)
    dout = model.loss.backward(cache)
    for layer in reversed(model.layers):
        # backward overwrites the gradients and reads only the cache, so it can be repeated
        bwd = lambda layer=layer, dout=dout: layer.backward(dout)  # noqa: E731
        layers[layer.name]["backward_ms"] = 1e3 * timed(bwd, args.steps, args.repeats)
        dout = bwd()
    params, grads = model.parameters(), model.gradients()
    opt_s = timed(lambda: model.optimizer.step(params, grads), args.steps, args.repeats)
    return {
        "layers": layers,
        "optimizer_step_ms": 1e3 * opt_s,
        "startup_s": startup_seconds(),
    }


STARTUP = """
import time; start = time.perf_counter()
import numpy as np, convnet
from convnet.nets import seed_net
model = seed_net(seed=0)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.train_on_batch(np.zeros((128, 1, 28, 28), np.float32), np.zeros(128, np.int64))
print(time.perf_counter() - start)
"""


def startup_seconds() -> float:
    """``import convnet`` plus the first training step, in a fresh Python (median of 3; the
    first run also fills Numba's cache if it is cold, so it is not counted)."""
    runs = [float(subprocess.run([sys.executable, "-c", STARTUP], check=True,
                                 capture_output=True, text=True).stdout) for _ in range(4)]
    return statistics.median(runs[1:])


# -- PyTorch, the same net ----------------------------------------------------------------------


def torch_workloads(args) -> tuple[dict, dict]:
    """The same three workloads in PyTorch (warmed up), and PyTorch's version and threads."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    net = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Dropout(0.25), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(128, 10),
    )
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(0)
    x_np, y_np = fake_mnist(args.batch_size, rng)
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np.argmax(1))
    xi = torch.from_numpy(fake_mnist(args.infer_batch, rng)[0])
    one = xi[:1]

    # Switching modes walks every module (26 us for this net on the bench machine, 6% of a
    # single-image predict), so it happens only when the workload changes, not in each call.
    def train():
        if not net.training:
            net.train()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()

    def infer(batch):  # like convnet's predict: class probabilities as a NumPy array
        if net.training:
            net.eval()
        with torch.inference_mode():
            return torch.softmax(net(batch), dim=1).numpy()

    work = {"train": train, "infer": lambda: infer(xi), "one": lambda: infer(one)}
    for _ in range(args.warmup):
        train()
    infer(xi)
    for _ in range(20):
        infer(one)
    return work, {"version": torch.__version__, "threads": torch.get_num_threads()}


def run(args) -> dict:
    """Time convnet (and PyTorch, with ``--compare-torch``) on the three workloads, in turns."""
    work = {}
    work["convnet"], model = convnet_workloads(args)
    # convnet's peak memory and single-image latency, measured before PyTorch is loaded into
    # the same process. Latency is measured again in turns with PyTorch below, for the ratio;
    # in some processes taking turns slows both frameworks by a fifth or more (their idle
    # worker threads get in each other's way), which an application that predicts never sees.
    alone = latency_in_turn({"model": work["convnet"]["one"],
                             "fast": work["convnet"].pop("one_fast_rung")},
                            args.latency_calls)  # fmt: skip
    result = {"convnet": {"peak_rss_mb": peak_rss_mb(), "latency_alone_ms": 1e3 * alone["model"],
                          "latency_fast_rung_ms": 1e3 * alone["fast"],
                          "backend": model.backend}}  # fmt: skip
    if args.compare_torch:
        try:
            work["torch"], result["torch"] = torch_workloads(args)
        except ImportError:
            print("PyTorch is not importable; --compare-torch skipped", file=sys.stderr)
    train = timed_in_turn({k: w["train"] for k, w in work.items()}, args.steps, args.repeats)
    infer = timed_in_turn({k: w["infer"] for k, w in work.items()}, 1, args.repeats)
    one = latency_in_turn({k: w["one"] for k, w in work.items()}, args.latency_calls)
    for name in work:
        result.setdefault(name, {}).update({
            "train_images_per_s": args.batch_size / train[name],
            "train_step_ms": 1e3 * train[name],
            "infer_images_per_s": args.infer_batch / infer[name],
            "latency_ms": 1e3 * one[name],
        })  # fmt: skip
    result["convnet"].update(convnet_details(args, model))
    return result


# -- report -------------------------------------------------------------------------------------


def markdown(result: dict) -> str:
    c, t = result["convnet"], result.get("torch")
    lines = [f"Machine: {result['machine']}", "",
             "| | convnet | PyTorch | convnet / PyTorch |", "|---|---:|---:|---:|"]  # fmt: skip
    rows = [("training, images/s", "train_images_per_s", "{:,.0f}", False),
            ("training step, ms", "train_step_ms", "{:.1f}", True),
            (f"inference (batch {result['settings']['infer_batch']}), images/s",
             "infer_images_per_s", "{:,.0f}", False),
            ("single-image predict, ms", "latency_ms", "{:.3f}", True)]  # fmt: skip
    for label, key, fmt, lower_is_better in rows:
        theirs = fmt.format(t[key]) if t else "–"
        ratio = "–"
        if t:
            r = t[key] / c[key] if lower_is_better else c[key] / t[key]
            ratio = f"{r:.2f}× {'faster' if r >= 1 else 'slower'}"
        lines.append(f"| {label} | {fmt.format(c[key])} | {theirs} | {ratio} |")
    lines += ["", f"Single-image predict, convnet on its own (before PyTorch is loaded): "
              f"{c['latency_alone_ms']:.3f} ms on the {c['backend']} rung; on the fast rung "
              f"(the core alone): {c['latency_fast_rung_ms']:.3f} ms",
              f"Peak resident memory of convnet's runs (before PyTorch is loaded): "
              f"{c['peak_rss_mb']:.0f} MB",
              f"Start-up, `import convnet` + first training step (warm Numba cache): "
              f"{c['startup_s']:.2f} s", "",
              "| layer (its own op: the fast rung) | forward, ms | backward, ms |",
              "|---|---:|---:|"]  # fmt: skip
    for name, ms in c["layers"].items():
        lines.append(f"| {name} | {ms['forward_ms']:.2f} | {ms['backward_ms']:.2f} |")
    lines.append(f"| Adam step | {c['optimizer_step_ms']:.2f} | |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--infer-batch", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=10, help="steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--latency-calls", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="threads for Numba, BLAS and PyTorch (default: all cores)")
    parser.add_argument("--compare-torch", action="store_true")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)

    import numba
    from threadpoolctl import threadpool_limits

    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    with threadpool_limits(limits=args.threads, user_api="blas"):
        result = {
            "machine": machine_description(),
            "settings": {k: v for k, v in vars(args).items() if k != "json"},
            "blas": blas_info(),
            **run(args),
        }
    print(markdown(result))
    print("\nBLAS: " + ", ".join(f"{k}={v}" for k, v in result["blas"].items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
