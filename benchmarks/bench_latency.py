"""Single-image latency of the seed-net, watched over time: ``predict`` on the tuned rung (in
bands of rows, one per core) against the same images on the fast rung (the core alone).

A shared machine has fast and slow spells that last seconds to minutes, so one median hides
what a person drawing in the GUI would see. This script takes turns between the two ways,
call by call, for ``--seconds`` and prints the median of each over every ``--window``
seconds, then the lowest and highest of those medians.

Usage::

    python benchmarks/bench_latency.py                    # 1 image, 60 s, a line every 2 s
    python benchmarks/bench_latency.py --images 1 4 16 32 --seconds 10
    python benchmarks/bench_latency.py --threads 1        # the same on one core
    python benchmarks/bench_latency.py --generic          # also the tuned rung's generic kernels

``--generic`` adds a third way, taking its turn with the others: the tuned rung with
``CONVNET_SPECIALISE=0``, whose kernels take the layers' sizes as arguments instead of
being compiled for them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from convnet.cli import machine_description
from convnet.nets import seed_net


def _generic(model, x):
    """``model.predict(x)`` with the tuned rung's generic kernels (``CONVNET_SPECIALISE=0``)."""
    before = os.environ.get("CONVNET_SPECIALISE")
    os.environ["CONVNET_SPECIALISE"] = "0"
    try:
        return model.predict(x)
    finally:
        if before is None:
            del os.environ["CONVNET_SPECIALISE"]
        else:
            os.environ["CONVNET_SPECIALISE"] = before


def watch(tuned, fast, x, seconds: float, window: float, generic: bool = False) -> dict:
    """Median ms of each way over each window, calls taken in turns."""
    ways = {"tuned": lambda: tuned.predict(x), "fast": lambda: fast.predict(x)}
    if generic:
        ways["tuned, generic kernels"] = lambda: _generic(tuned, x)
    for _ in range(20):  # warm-up (compiles the kernels on a first run)
        for fn in ways.values():
            fn()
    medians = {name: [] for name in ways}
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        times = {name: [] for name in ways}
        window_end = time.perf_counter() + window
        while time.perf_counter() < window_end:
            for name, fn in ways.items():
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
        for name, t in times.items():
            medians[name].append(1e3 * statistics.median(t))
        print(f"  {len(x)} image(s): " + "  ".join(f"{name} {m[-1]:.3f}"
                                                   for name, m in medians.items()) + " ms",
              flush=True)  # fmt: skip
    return medians


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, nargs="+", default=[1],
                        help="batch sizes to time, one after the other (default: 1)")
    parser.add_argument("--seconds", type=float, default=60.0, help="per batch size")
    parser.add_argument("--window", type=float, default=2.0, help="seconds per median")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--json", metavar="FILE", help="also write the medians as JSON")
    parser.add_argument("--generic", action="store_true",
                        help="also time the tuned rung's generic kernels (see above)")
    args = parser.parse_args(argv)

    import numba

    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    tuned, fast = seed_net(seed=0, backend="tuned"), seed_net(seed=0, backend="fast")
    rng = np.random.default_rng(0)
    print(f"Machine: {machine_description()}; Numba threads: {numba.get_num_threads()}")
    result = {"machine": machine_description(), "threads": numba.get_num_threads(), "runs": {}}
    for n in args.images:
        x = rng.random((n, 1, 28, 28), dtype=np.float32)
        medians = watch(tuned, fast, x, args.seconds, args.window, args.generic)
        result["runs"][str(n)] = medians
    heads = ["tuned rung", "fast rung"] + (["tuned rung, generic kernels"] if args.generic else [])
    print("\n| images | " + " | ".join(f"predict, {head}, ms" for head in heads) + " |")
    print("|---:|" + "---:|" * len(heads))
    for n, medians in result["runs"].items():
        cells = [f"{min(m):.3f}–{max(m):.3f}" for m in medians.values()]
        print(f"| {n} | " + " | ".join(cells) + " |")
    print("\n(lowest–highest of the medians over each window)")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
