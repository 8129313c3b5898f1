"""The speed ladder, op by op: naive loops, the fast rung, the tuned annex.

For every op in ``convnet.ops`` this times the forward and the backward pass on each rung:

* naive: the loop version, on ``--naive-batch`` images (default 2; it is slow by design);
* fast: im2col and NumPy's matrix product, on ``--batch`` images (default 128);
* tuned: the annex's way (``convnet.tuned``), on the same batch, where it has one.

It prints the time per image and, for the ops made of multiply-adds (convolution, dense),
GFLOP/s and the share of this machine's measured peak: a short probe first times NumPy's
own float32 matrix product of two 2048 x 2048 matrices, the best a library gets here. The
tuned convolution is timed both in the way the autotuner chose for this machine and in
each of its ways, so the table shows what was chosen over what. ``--json`` writes it all.

Usage::

    python benchmarks/bench_ops.py
    python benchmarks/bench_ops.py --batch 4 --naive-batch 1 --repeats 1   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time

import numpy as np

from convnet import ops
from convnet.cli import machine_description

# label, op, input shape of one image, weight shape, keyword arguments
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


def peak_gflops(seconds: float = 1.0) -> float:
    """GFLOP/s of NumPy's float32 product of two 2048 x 2048 matrices, best of ~``seconds``."""
    a = np.random.default_rng(0).standard_normal((2048, 2048)).astype(np.float32)
    a @ a
    best, start = math.inf, time.perf_counter()
    while time.perf_counter() - start < seconds:
        t = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - t)
    return 2 * 2048**3 / best / 1e9


def _inputs(op, image_shape, w_shape, kwargs, batch):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, *image_shape)).astype(np.float32)
    args = []
    if w_shape is not None:
        w = (rng.standard_normal(w_shape) * 0.1).astype(np.float32)
        args = [w, np.zeros(w_shape[-1] if op == "dense" else w_shape[0], np.float32)]
    if op == "dropout":
        kwargs = {**kwargs, "rng": np.random.default_rng(1)}
    return rng, x, args, kwargs


def core_rung(op, image_shape, w_shape, kwargs, batch, repeats, naive):
    """Seconds per image of the forward and of the backward pass of a core op pair."""
    rng, x, args, kwargs = _inputs(op, image_shape, w_shape, kwargs, batch)
    suffix = "_naive" if naive else ""
    forward = getattr(ops, f"{op}_forward{suffix}")
    backward = getattr(ops, f"{op}_backward{suffix}")
    out, cache = forward(x, *args, **kwargs)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    fwd = timed(lambda: forward(x, *args, **kwargs), repeats)
    bwd = timed(lambda: backward(dout, cache), repeats)
    return fwd / batch, bwd / batch


def tuned_rung(op, image_shape, w_shape, kwargs, batch, repeats):
    """``{way: (forward, backward) seconds per image}`` of the annex's ways for this op, the
    autotuner's choice under ``'chosen: <way>'``; empty if the annex has none."""
    from convnet.tuned import autotune, conv, dense, pool

    rng, x, args, kwargs = _inputs(op, image_shape, w_shape, kwargs, batch)
    if op == "conv2d":
        _, (_, w, b, stride, pads) = ops.conv2d_forward(x[:1], *args, **kwargs)
        out_hw = ops.conv2d_forward(x[:1], *args, **kwargs)[0].shape[2:]
        out = conv.forward(x, w, b, stride, pads, out_hw, False)
        dout = rng.standard_normal(out.shape).astype(np.float32)
        ways = {}
        for way in conv.FORWARD_WAYS:
            fwd = timed(lambda way=way: conv.forward(x, w, b, stride, pads, out_hw, False, way=way),
                        repeats)  # fmt: skip
            bwd = timed(lambda way=way: conv.backward(dout, x, w, stride, pads, way=way), repeats)
            ways[way] = (fwd / batch, bwd / batch)
        conv.forward(x, w, b, stride, pads, out_hw, False)  # measures, the first time
        chosen_f = autotune.last_choice["conv2d_forward"]
        conv.backward(dout, x, w, stride, pads)
        chosen_b = autotune.last_choice["conv2d_backward"]
        ways["chosen"] = (ways[chosen_f][0], ways[chosen_b][1], chosen_f, chosen_b)
        return ways
    if op == "maxpool2d":
        size = (kwargs["pool_size"],) * 2
        out, argmax = pool.forward(x, size, size, (0, 0, 0, 0))
        dout = rng.standard_normal(out.shape).astype(np.float32)
        fwd = timed(lambda: pool.forward(x, size, size, (0, 0, 0, 0)), repeats)
        bwd = timed(lambda: pool.backward(dout, x.shape, argmax), repeats)
        return {"chosen": (fwd / batch, bwd / batch, "argmax kernel", "scatter")}
    if op == "dense":
        w = args[0]
        dout = rng.standard_normal((batch, w.shape[1])).astype(np.float32)
        # the DenseStep's three products, each the way the autotuner chose for its shapes
        chosen = []
        for a, b in ((x, w), (x.T, dout), (dout, w.T)):
            dense.matmul(a, b)
            chosen.append(autotune.last_choice["dense_matmul"])
        small = batch <= dense.SMALL_BATCH
        fwd = timed(lambda: dense.few_rows(x, w) if small else dense.matmul(x, w), repeats)
        bwd = timed(lambda: (dense.matmul(x.T, dout), dense.matmul(dout, w.T)), repeats)
        return {"chosen": (fwd / batch, bwd / batch, "few rows" if small else chosen[0],
                           " + ".join(chosen[1:]))}  # fmt: skip
    return {}


def flops_per_image(op, image_shape, w_shape, kwargs):
    """Multiply-adds x 2 of one image's forward pass (the backward pass does twice that)."""
    if op == "dense":
        return 2 * w_shape[0] * w_shape[1]
    if op == "conv2d":
        out, _ = ops.conv2d_forward(np.zeros((1, *image_shape), np.float32),
                                    np.zeros(w_shape, np.float32), None, **kwargs)  # fmt: skip
        return 2 * math.prod(w_shape) * math.prod(out.shape[2:])
    return None


def markdown(rows, peak) -> str:
    def cell(seconds, flops):
        text = f"{1e6 * seconds:,.1f}"
        if flops:
            gflops = flops / seconds / 1e9
            text += f" ({gflops:,.0f} GF/s, {100 * gflops / peak:.0f}%)"
        return text

    lines = ["| op | pass | naive, µs/image | fast, µs/image | tuned, µs/image | tuned way |",
             "|---|---|---:|---:|---:|---|"]  # fmt: skip
    for r in rows:
        for i, name in enumerate(("forward", "backward")):
            flops = r["flops"] * (1 if i == 0 else 2) if r["flops"] else None
            tuned = r["tuned"].get("chosen")
            lines.append(
                f"| {r['op'] if i == 0 else ''} | {name} | {cell(r['naive'][i], flops)} "
                f"| {cell(r['fast'][i], flops)} "
                f"| {cell(tuned[i], flops) if tuned else '— (fast)'} "
                f"| {tuned[2 + i] if tuned else ''} |"
            )
    return "\n".join(lines)


def ways_markdown(rows) -> str:
    lines = ["| convolution | way | forward, µs/image | backward, µs/image |",
             "|---|---|---:|---:|"]  # fmt: skip
    for r in rows:
        for way, times in r["tuned"].items():
            if way != "chosen" and r["op"].startswith("conv2d"):
                lines.append(f"| {r['op']} | {way} | {1e6 * times[0]:,.1f} "
                             f"| {1e6 * times[1]:,.1f} |")  # fmt: skip
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=128, help="images for fast and tuned")
    parser.add_argument("--naive-batch", type=int, default=2, help="images for the naive ones")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    peak = peak_gflops(1.0 if args.repeats > 1 else 0.1)
    rows = []
    for label, op, image_shape, w_shape, kwargs in CASES:
        naive = core_rung(op, image_shape, w_shape, kwargs, args.naive_batch,
                          max(1, args.repeats // 5), naive=True)  # fmt: skip
        fast = core_rung(op, image_shape, w_shape, kwargs, args.batch, args.repeats, False)
        tuned = tuned_rung(op, image_shape, w_shape, kwargs, args.batch, args.repeats)
        rows.append({"op": label, "naive": naive, "fast": fast, "tuned": tuned,
                     "flops": flops_per_image(op, image_shape, w_shape, kwargs)})  # fmt: skip
        print(f"  {label}: done", file=sys.stderr, flush=True)
    print(f"Machine: {machine_description()}")
    print(f"Measured peak: {peak:,.0f} GFLOP/s (NumPy's float32 2048 x 2048 product)\n")
    print(markdown(rows, peak))
    print("\nThe tuned convolution's ways (the autotuner keeps the fastest of each pass):\n")
    print(ways_markdown(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine_description(), "peak_gflops": peak,
                       "settings": vars(args), "ops": rows}, f, indent=2)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
