"""Measure, once per machine and shape, which of several ways to do the same work is fastest.

Off the reading path, in the annex :mod:`convnet.tuned`. Docs chapter: "Speed".

Which way is fastest depends on the machine: a hand-written kernel that beats the BLAS
library on one CPU can lose to it on another, whose BLAS has kernels written for its vector
units. So where the annex has several ways to do one piece of work (always including the
fast rung's own), :func:`choose` times them the first time that piece of work comes up, on
the real arrays, and keeps the fastest. The choice is kept for the process and written to a
small JSON file beside Numba's cache (``NUMBA_CACHE_DIR`` if set, else the annex's
``__pycache__``; a user cache folder if that is not writable), keyed by the machine (see
:func:`machine`), the number of threads and the shapes. Later runs on the same machine read
it and measure nothing, which also keeps their arithmetic, and so their trained weights, the
same from one run to the next.

Set ``CONVNET_AUTOTUNE=0`` to skip measuring and take the first candidate (the annex's
default; also what ``NUMBA_DISABLE_JIT=1`` does), ``CONVNET_AUTOTUNE=fresh`` to measure
again, ignoring the file.
"""

from __future__ import annotations

import functools
import json
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from convnet.jit import JIT_ENABLED, cpu_name, get_num_threads, kernel, prange
from convnet.tuned import blas

__all__ = ["choose", "machine", "cache_file", "last_choice", "BUDGET_SECONDS"]

#: The most time one choice may take to measure, in seconds, all candidates together (a
#: round once begun is finished), and the most rounds it takes.
BUDGET_SECONDS = 0.5
ROUNDS = 3

#: A pause before each round of measuring. A BLAS library's threads keep spinning for a while
#: after each product (OpenBLAS's for up to about 2**28 cycles, a tenth of a second) in case
#: another comes, and while they spin they take cores from Numba's threads: a kernel measured
#: then would look slower than it is. So candidates that run only Numba kernels go first in
#: each round, after this pause.
SETTLE_SECONDS = 0.15


@kernel(parallel=True)
def _next_layer(buffer, passes):
    """Parallel work of the kind the next layer's kernels do: a few milliseconds of
    arithmetic on data in the cache, in 64 pieces handed to the threads."""
    for i in prange(buffer.shape[0]):
        row = buffer[i]
        for _ in range(passes):
            for j in range(row.shape[0]):
                row[j] = row[j] * 0.5 + 1.0


_BUFFER = np.ones((64, 1 << 12), np.float32)
_PASSES = 64

_CHOICES: dict[str, str] = {}
_loaded = False

#: The way :func:`choose` gave last, by work: what a benchmark reports as chosen.
last_choice: dict[str, str] = {}


@functools.cache
def machine() -> str:
    """What the choices are kept under: the CPU (:func:`convnet.jit.cpu_name`) and the BLAS
    kernels in use (:func:`convnet.tuned.blas.architecture`), which ``OPENBLAS_CORETYPE``
    can change on one CPU. Either one changes which way is fastest."""
    return f"{cpu_name()}, BLAS {blas.architecture() or '?'}"


def cache_file() -> Path:
    """Where the choices are kept: beside Numba's cache of the annex's kernels."""
    folder = os.environ.get("NUMBA_CACHE_DIR") or str(Path(__file__).parent / "__pycache__")
    if not os.access(folder, os.W_OK) and not os.access(Path(folder).parent, os.W_OK):
        folder = str(Path.home() / ".cache" / "convnet")
    return Path(folder) / "autotune.json"


def _load():
    global _loaded
    _loaded = True
    if os.environ.get("CONVNET_AUTOTUNE") == "fresh":
        return
    try:
        _CHOICES.update(json.loads(cache_file().read_text()))
    except (OSError, ValueError):
        pass


def _save():
    path = cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            on_disk = json.loads(path.read_text())  # another process's choices, kept too
        except (OSError, ValueError):
            on_disk = {}
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".autotune-")
        with os.fdopen(fd, "w") as f:
            json.dump({**on_disk, **_CHOICES}, f, indent=0, sort_keys=True)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only place: the choice still holds for this process


def choose(work: str, shape_key, candidates: dict, run) -> str:
    """The name of the fastest of ``candidates`` for this piece of work on this machine.

    Parameters
    ----------
    work : str
        What is done, e.g. ``'conv2d_forward'``.
    shape_key : tuple
        What the speed depends on: shapes, dtype, flags.
    candidates : dict of name -> anything
        The ways to do it; the first is taken when measuring is turned off. Those that call
        BLAS go last (see :data:`SETTLE_SECONDS`).
    run : callable
        ``run(candidate)`` does the work once the candidate's way.

    Every candidate runs once to warm up (compile, touch memory), untimed; then all are timed
    in rounds, each once per round, for :data:`ROUNDS` rounds or until
    :data:`BUDGET_SECONDS` have passed; each one's best time counts. Each
    timing includes a little parallel Numba work after the candidate, as the next layer
    would do: a candidate that leaves BLAS threads spinning pays there for the cores it
    keeps from that work (see :data:`SETTLE_SECONDS`), as it would in a training step.
    """
    if not _loaded:
        _load()
    key = f"{machine()}|threads={get_num_threads()}|{work}|{shape_key}"
    choice = _CHOICES.get(key)
    if choice not in candidates:
        choice = _measure(key, candidates, run)
    last_choice[work] = choice
    return choice


def _measure(key, candidates, run):
    if os.environ.get("CONVNET_AUTOTUNE") == "0" or not JIT_ENABLED:
        return next(iter(candidates))  # as plain Python (NUMBA_DISABLE_JIT=1) timings mean nothing
    for candidate in candidates.values():  # warm-up, untimed: compiling, first touches
        run(candidate)
    _next_layer(_BUFFER, _PASSES)
    best = dict.fromkeys(candidates, math.inf)
    start = time.perf_counter()
    # Up to ROUNDS rounds, each timing every candidate once, in order: a slow spell of a
    # shared machine then falls on all of them rather than on whichever was being measured.
    for _ in range(ROUNDS):
        time.sleep(SETTLE_SECONDS)
        for name, candidate in candidates.items():
            t = time.perf_counter()
            run(candidate)
            _next_layer(_BUFFER, _PASSES)
            best[name] = min(best[name], time.perf_counter() - t)
        if time.perf_counter() - start > BUDGET_SECONDS:
            break
    _CHOICES[key] = min(best, key=best.get)
    _save()
    return _CHOICES[key]
