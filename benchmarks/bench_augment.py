"""What does augmenting cost beside training? One batch through each augmenter of
``convnet.augment``, against one training step of the seed-net and of the small CNN.

Times, each the median over ``--repeats`` rounds taken turn about (so that a slow spell of a
shared machine falls on all of them), on ``--batch-size`` MNIST training images (1, 28, 28),
float32:

- ``RandomAffine()`` (turns of up to 10 degrees, zooms of up to 10%, moves of up to 2
  pixels, bilinear), and with ``--rotate``/``--zoom``/``--shift`` as given;
- ``random_shift(max_shift=1)``, the default of ``python -m convnet train``;
- ``train_on_batch`` of ``seed_net`` and of ``small_net`` (forward, backward, Adam).

``fit`` calls the augmenter once before every step, so the ratio of the two times is what
augmenting adds to an epoch's training time (validation, which is never augmented, comes on
top of that). Each augmenter time is the median of ``--calls`` calls in a row (one call is
well under a millisecond).

Usage::

    python benchmarks/bench_augment.py                    # batch 128, 7 rounds
    python benchmarks/bench_augment.py --rotate 15 --zoom 0.2 --shift 3
    python benchmarks/bench_augment.py --data random --batch-size 8 --repeats 1   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from convnet import data
from convnet.augment import RandomAffine, random_shift
from convnet.cli import machine_description
from convnet.nets import seed_net, small_net


def seconds_of(fn, calls: int) -> float:
    """Median wall time of ``calls`` calls of ``fn()``, in seconds."""
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=7, help="rounds, turn about")
    parser.add_argument("--calls", type=int, default=20, help="augmenter calls per round")
    parser.add_argument("--steps", type=int, default=3, help="training steps per round")
    parser.add_argument("--rotate", type=float, default=10.0, help="RandomAffine's rotation")
    parser.add_argument("--zoom", type=float, default=0.1, help="RandomAffine's zoom")
    parser.add_argument("--shift", type=float, default=2.0, help="RandomAffine's shift")
    parser.add_argument("--data", choices=["mnist", "random"], default="mnist",
                        help="MNIST's first training images, or random pixels (the time does "
                             "not depend on them)")  # fmt: skip
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    n = args.batch_size
    if args.data == "mnist":
        (x_train, y_train), _ = data.load_mnist()
        x, y = data.to_images(x_train[:n]), y_train[:n].astype(np.int64)
    else:
        x, y = rng.random((n, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, n)
    affine = RandomAffine(rotation=args.rotate, zoom=args.zoom, shift=args.shift)
    nets = {"seed_net": seed_net(seed=0), "small_net": small_net(seed=0)}
    for model in nets.values():
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")

    ways = {
        repr(affine): lambda: affine(x, rng),
        "random_shift(max_shift=1)": lambda: random_shift(x, rng, max_shift=1),
    }
    steps = [f"{name}.train_on_batch" for name in nets]

    def step(model):
        """One training step on a fresh augmented batch; only the step is timed (the
        augmenting is timed on its own)."""
        batch = affine(x, rng)
        return seconds_of(lambda: model.train_on_batch(batch, y), args.steps)

    for _ in range(2):  # warm-up; compiles the kernels on a first run
        for fn in ways.values():
            fn()
        for model in nets.values():
            step(model)
    ms = {name: [] for name in [*ways, *steps]}
    for _ in range(args.repeats):
        for name, fn in ways.items():
            ms[name].append(1e3 * seconds_of(fn, args.calls))
        for name, model in zip(steps, nets.values(), strict=True):
            ms[name].append(1e3 * step(model))
    medians = {name: statistics.median(times) for name, times in ms.items()}

    print(f"Machine: {machine_description()}")
    print(f"{n} images (1, 28, 28) float32 from {args.data}; medians of {args.repeats} rounds\n")
    print("| per batch | ms |")
    print("|---|---:|")
    for name, value in medians.items():
        print(f"| {name} | {value:.3f} |")
    ratios = {}
    print()
    for way in ways:
        for step in steps:
            ratios[f"{way} / {step}"] = medians[way] / medians[step]
            print(f"{way}: {medians[way] / medians[step]:.2%} of a {step} step")
    if args.json:
        result = {"machine": machine_description(), "batch_size": n, "data": args.data,
                  "repeats": args.repeats, "medians_ms": medians, "all_ms": ms,
                  "ratios": ratios}  # fmt: skip
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
