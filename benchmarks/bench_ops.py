"""Naive loops against the fast path, op by op: why im2col and Numba matter.

For every op pair in ``convnet.ops`` this times the forward and the backward pass of the naive
(loop) version and of the fast version on the seed-net's own shapes, plus a strided, padded
convolution, and prints the time per image and the speedup as a Markdown table (``--json``
writes the numbers too).

The naive versions are slow by design: they run on ``--naive-batch`` images (default 2) and
their time is divided by that number; the fast versions run on ``--batch`` images (default
128, the training batch).

Usage::

    python benchmarks/bench_ops.py
    python benchmarks/bench_ops.py --batch 4 --naive-batch 1 --repeats 1   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np

from convnet import ops

# name, fast pair, naive pair, input shape of one image, parameters maker, keyword arguments
CASES = [
    ("conv2d 1→32, 3x3, 28x28 (seed-net conv1)", "conv2d", (1, 28, 28), (32, 1, 3, 3), {}),
    ("conv2d 32→64, 3x3, 26x26 (seed-net conv2)", "conv2d", (32, 26, 26), (64, 32, 3, 3), {}),
    ("conv2d 16→32, 5x5, stride 2, same, 28x28", "conv2d", (16, 28, 28), (32, 16, 5, 5),
     {"stride": 2, "padding": "same"}),
    ("max pool 2x2, 64x24x24 (seed-net)", "maxpool2d", (64, 24, 24), None, {"pool_size": 2}),
    ("average pool 3x3 stride 2, 64x24x24", "avgpool2d", (64, 24, 24), None,
     {"pool_size": 3, "strides": 2}),
    ("dense 9216→128 (seed-net)", "dense", (9216,), (9216, 128), {}),
    ("ReLU, 64x24x24", "relu", (64, 24, 24), None, {}),
    ("dropout 0.25, 64x12x12", "dropout", (64, 12, 12), None, {"rate": 0.25}),
    ("softmax, 10 classes", "softmax", (10,), None, {}),
]  # fmt: skip


def timed(fn, repeats: int) -> float:
    """Median seconds of ``repeats`` calls, after one warm-up call (which may compile)."""
    fn()
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def run_case(op, image_shape, w_shape, kwargs, batch, repeats, naive):
    """Seconds per image of the forward and of the backward pass."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, *image_shape)).astype(np.float32)
    suffix = "_naive" if naive else ""
    forward = getattr(ops, f"{op}_forward{suffix}")
    backward = getattr(ops, f"{op}_backward{suffix}")
    args = []
    if w_shape is not None:
        w = (rng.standard_normal(w_shape) * 0.1).astype(np.float32)
        b = np.zeros(w_shape[-1] if op == "dense" else w_shape[0], np.float32)
        args = [w, b]
    if op == "dropout":
        kwargs = {**kwargs, "rng": np.random.default_rng(1)}
    out, cache = forward(x, *args, **kwargs)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    fwd = timed(lambda: forward(x, *args, **kwargs), repeats)
    bwd = timed(lambda: backward(dout, cache), repeats)
    return fwd / batch, bwd / batch


def markdown(rows) -> str:
    lines = ["| op | naive fwd, µs/image | fast fwd, µs/image | speedup | naive bwd, µs/image "
             "| fast bwd, µs/image | speedup |", "|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in rows:
        lines.append(
            f"| {r['op']} | {r['naive_forward_us']:,.1f} | {r['fast_forward_us']:,.1f} "
            f"| {r['naive_forward_us'] / r['fast_forward_us']:,.0f}× "
            f"| {r['naive_backward_us']:,.1f} | {r['fast_backward_us']:,.1f} "
            f"| {r['naive_backward_us'] / r['fast_backward_us']:,.0f}× |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=128, help="images for the fast versions")
    parser.add_argument("--naive-batch", type=int, default=2, help="images for the naive ones")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    rows = []
    for label, op, image_shape, w_shape, kwargs in CASES:
        nf, nb = run_case(op, image_shape, w_shape, kwargs, args.naive_batch,
                          max(1, args.repeats // 5), naive=True)  # fmt: skip
        ff, fb = run_case(op, image_shape, w_shape, kwargs, args.batch, args.repeats, False)
        rows.append({"op": label, "naive_forward_us": 1e6 * nf, "naive_backward_us": 1e6 * nb,
                     "fast_forward_us": 1e6 * ff, "fast_backward_us": 1e6 * fb})  # fmt: skip
        print(f"  {label}: done", file=sys.stderr, flush=True)
    from convnet.cli import machine_description

    print(f"Machine: {machine_description()}\n")
    print(markdown(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine_description(), "settings": vars(args), "ops": rows},
                      f, indent=2)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
