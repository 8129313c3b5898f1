"""What Numba's first-run compilation costs, and what its on-disk cache saves.

Every convnet kernel is compiled the first time it runs, with ``cache=True`` (see
``convnet/jit.py``): the machine code is saved, and later processes load it instead of
compiling again. This script times both cases in fresh Python processes, each with its own
``NUMBA_CACHE_DIR`` in a temporary folder, so your own cache is never touched:

- **cold**: an empty cache; ``import convnet`` and a first training step of the seed-net
  (batch 128) compile every kernel the step needs (``--step predict``: a first
  single-image ``predict``, what the drawing app does as it opens);
- **warm**: the same again, now loading the cache the cold run filled (median of
  ``--warm-runs``);
- **steady**: the second training step in the same process, for comparison;
- **plain Python**: with ``NUMBA_DISABLE_JIT=1`` the kernels run as ordinary Python, which is
  how you step into them with a debugger. Timed on the seed-net's second convolution (where
  89% of its arithmetic is) for a single image, against the compiled kernel, as CPU time on
  one thread.

Both wall-clock and CPU seconds are reported. Compiling runs on one core, so on a busy
machine the CPU seconds are the steadier figure.

Usage::

    python benchmarks/bench_compile.py                 # the seed-net, as in the docs
    python benchmarks/bench_compile.py --step predict  # a single-image predict instead
    python benchmarks/bench_compile.py --step gemm     # only the GEMM kernel: a smoke run
    python benchmarks/bench_compile.py --json compile.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from convnet.cli import machine_description

#: Run in a fresh interpreter: import, one step, a second step; prints JSON with the times.
#: The parent passes the step to take in ``CONVNET_BENCH_STEP``.
CHILD = r"""
import json, os, resource, time

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

t0, c0 = time.perf_counter(), cpu()
import numpy as np
import convnet
from convnet.nets import seed_net
from convnet.tuned.gemm import matmul_nt
t1, c1 = time.perf_counter(), cpu()

if os.environ["CONVNET_BENCH_STEP"] == "seed":
    model = seed_net(seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = np.zeros((128, 1, 28, 28), np.float32), np.zeros(128, np.int64)
    step = lambda: model.train_on_batch(x, y)
elif os.environ["CONVNET_BENCH_STEP"] == "predict":
    model = seed_net(seed=0)
    one = np.zeros((1, 1, 28, 28), np.float32)
    step = lambda: model.predict(one)
else:
    a = np.ones((64, 288), np.float32)
    step = lambda: matmul_nt(a, a)
step()
t2, c2 = time.perf_counter(), cpu()
step()
t3, c3 = time.perf_counter(), cpu()
print(json.dumps({"import_s": t1 - t0, "first_step_s": t2 - t1, "second_step_s": t3 - t2,
                  "import_cpu_s": c1 - c0, "first_step_cpu_s": c2 - c1}))
"""

#: One image through the seed-net's second convolution, compiled or as plain Python: the
#: median CPU time of ``CONVNET_BENCH_RUNS`` calls after one that compiles (or loads) the
#: kernels. Run on one thread, so that CPU time is the work itself, whatever else the machine
#: is doing.
PLAIN = r"""
import os, statistics, time
import numpy as np
from convnet.tuned.conv import forward
rng = np.random.default_rng(0)
x = rng.random((1, 32, 26, 26), dtype=np.float32)
w = rng.normal(size=(64, 32, 3, 3)).astype(np.float32)
b = np.zeros(64, np.float32)
forward(x, w, b, (1, 1), (0, 0, 0, 0), (24, 24), True, way="per-image")
runs = []
for _ in range(int(os.environ["CONVNET_BENCH_RUNS"])):
    start = time.process_time()
    forward(x, w, b, (1, 1), (0, 0, 0, 0), (24, 24), True, way="per-image")
    runs.append(time.process_time() - start)
print(statistics.median(runs))
"""


def run_child(code: str, env: dict) -> str:
    """Run ``code`` in a fresh interpreter with ``env`` added; its stdout."""
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, check=True,
                          capture_output=True, text=True)  # fmt: skip
    return done.stdout.strip().splitlines()[-1]


def cache_size(folder: Path) -> tuple[int, int]:
    """Number of compiled kernels (``.nbc`` files) and bytes in a Numba cache folder."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    return sum(p.suffix == ".nbc" for p in files), sum(p.stat().st_size for p in files)


def measure(step: str, warm_runs: int, plain: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="convnet-numba-cache-") as cache:
        env = {"NUMBA_CACHE_DIR": cache, "CONVNET_BENCH_STEP": step}
        cold = json.loads(run_child(CHILD, env))
        kernels, size = cache_size(Path(cache))
        warm = [json.loads(run_child(CHILD, env)) for _ in range(warm_runs)]
        result = {
            "step": step,
            "machine": machine_description(),
            "cold": cold,
            "warm": {key: statistics.median(run[key] for run in warm) for key in cold},
            "cached_kernels": kernels,
            "cache_bytes": size,
        }
        if plain:
            one = {**env, "NUMBA_NUM_THREADS": "1"}
            result["conv2_one_image_compiled_s"] = float(
                run_child(PLAIN, {**one, "CONVNET_BENCH_RUNS": "100"})
            )
            result["conv2_one_image_plain_python_s"] = float(
                run_child(PLAIN, {**one, "CONVNET_BENCH_RUNS": "3", "NUMBA_DISABLE_JIT": "1"})
            )
    return result


def markdown(r: dict) -> str:
    cold, warm = r["cold"], r["warm"]
    what = {"seed": "seed-net training step, batch 128",
            "predict": "seed-net single-image predict", "gemm": "one matmul_nt call"}[r["step"]]
    lines = [
        f"Machine: {r['machine']}",
        f"Step: {what}; {r['cached_kernels']} kernels cached, "
        f"{r['cache_bytes'] / 2**20:.1f} MB on disk",
        "",
        "| | cold cache | warm cache |",
        "|---|---:|---:|",
        f"| `import convnet` | {cold['import_s']:.2f} s | {warm['import_s']:.2f} s |",
        f"| first step, wall | {cold['first_step_s']:.2f} s | {warm['first_step_s']:.2f} s |",
        f"| first step, CPU | {cold['first_step_cpu_s']:.2f} s "
        f"| {warm['first_step_cpu_s']:.2f} s |",
        f"| second step, wall | {cold['second_step_s']:.3f} s | {warm['second_step_s']:.3f} s |",
    ]
    if "conv2_one_image_plain_python_s" in r:
        fast, slow = r["conv2_one_image_compiled_s"], r["conv2_one_image_plain_python_s"]
        lines += ["", f"conv2d 32→64, 3x3, one 26x26 image, CPU time on one thread: "
                      f"compiled {1e3 * fast:.2f} ms, "
                      f"plain Python (NUMBA_DISABLE_JIT=1) {1e3 * slow:.0f} ms "
                      f"({slow / fast:,.0f} times slower)"]  # fmt: skip
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--step", choices=["seed", "predict", "gemm"], default="seed",
                        help="seed: a seed-net training step (default); predict: a "
                             "single-image predict; gemm: one GEMM call")
    parser.add_argument("--warm-runs", type=int, default=3)
    parser.add_argument("--no-plain", action="store_true",
                        help="skip the plain-Python (NUMBA_DISABLE_JIT=1) timing")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    result = measure(args.step, args.warm_runs, plain=not args.no_plain)
    print(markdown(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
