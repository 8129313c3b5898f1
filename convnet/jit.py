"""The one module that imports Numba.

Reading order: shapes → gradcheck → **3. jit** → im2col → ops → layers → ... Docs chapter:
"Numba".

Every fast kernel in convnet is a plain Python function over arrays and ints, decorated with
:func:`kernel`. That compiles it with ``numba.njit(cache=True)`` the first time it is called
with a given set of argument types and saves the machine code next to the source, so later
runs load it instead of compiling again.

Because the kernels are ordinary Python, setting ``NUMBA_DISABLE_JIT=1`` in the environment
makes :func:`kernel` hand back the very same function un-compiled and ``prange`` become
``range``: then ``pdb``, an IDE's debugger or a ``print`` inside a kernel all work, just slowly.

Compilation is made visible: the first time Numba compiles one of convnet's kernels in a
process, a line is printed to stderr, so a slow first step is not a mystery.
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import numba
from numba import get_num_threads, parallel_chunksize, prange
from numba.core import event
from numba.core.errors import NumbaPerformanceWarning

__all__ = ["kernel", "prange", "parallel_chunksize", "get_num_threads", "JIT_ENABLED",
           "NumbaPerformanceWarning", "cpu_name"]

#: False when ``NUMBA_DISABLE_JIT=1``: kernels then run as plain Python.
JIT_ENABLED = not numba.config.DISABLE_JIT

_KERNELS: set[str] = set()


class _CompileNotice(event.Listener):
    """Prints one line the first time Numba compiles (not loads from cache) a kernel."""

    announced = False

    def on_start(self, ev):
        disp = ev.data.get("dispatcher")
        name = getattr(getattr(disp, "py_func", None), "__qualname__", "")
        module = getattr(getattr(disp, "py_func", None), "__module__", "")
        if not self.announced and f"{module}.{name}" in _KERNELS:
            _CompileNotice.announced = True
            print(
                "convnet: compiling Numba kernels (on a first run, or for new layer sizes; "
                "cached for next time)",
                file=sys.stderr,
                flush=True,
            )

    def on_end(self, ev):
        pass


if JIT_ENABLED:
    event.register("numba:compile", _CompileNotice())


def kernel(fn=None, *, parallel: bool = False, reassociate: bool = False, inline: bool = False):
    """Compile ``fn`` with Numba in nopython mode, cached on disk.

    ``parallel=True`` lets the kernel use :data:`prange` loops, which Numba spreads over the
    CPU's cores. Use it only where the iterations of the ``prange`` loop write to disjoint
    parts of the output.

    ``reassociate=True`` lets the compiler reorder floating-point additions and fuse
    multiply-adds (LLVM's ``reassoc`` and ``contract`` flags, nothing else of "fast math":
    NaN and infinity still behave). A sum ``s += a[k] * b[k]`` may then be split into 16
    partial sums held in one SIMD register, which is what makes :mod:`convnet.tuned.gemm` fast.
    The result differs from the strict left-to-right sum only by rounding.

    ``inline=True`` compiles the kernel into each kernel that calls it (Numba's own inlining,
    ``inline="always"``), for a small helper called once per channel plane or row inside a
    parallel loop. Called as a separate function, the 2x2 max-pooling loop of
    :mod:`convnet.tuned.pool` ran a batch measurably slower. An inlined helper takes on its caller's
    ``reassociate`` setting.

    Examples
    --------
    Kernels are decorated at module level, like ``convnet.im2col._im2col_kernel``; the
    original Python function stays reachable for reading and stepping through:

    >>> from convnet.im2col import _im2col_kernel
    >>> _im2col_kernel.py_func.__name__ if JIT_ENABLED else _im2col_kernel.__name__
    '_im2col_kernel'
    """

    def wrap(f):
        _KERNELS.add(f"{f.__module__}.{f.__qualname__}")
        fastmath = {"reassoc", "contract"} if reassociate else False
        return numba.njit(cache=True, parallel=parallel, fastmath=fastmath,
                          inline="always" if inline else "never")(f)

    return wrap if fn is None else wrap(fn)


def cpu_name(fields: dict | None = None) -> str:
    """The CPU that the kernels are compiled for: its model name as ``lscpu`` shows it, with
    its family and model numbers, from ``fields`` of ``/proc/cpuinfo`` (this machine's if
    None). The numbers tell apart CPUs that a cloud names alike: "AMD EPYC" has been a Zen 3
    with 256-bit vectors on one machine and a Zen 5 with 512-bit ones on another.

    Examples
    --------
    >>> cpu_name({"model name": "AMD EPYC", "cpu family": "25", "model": "1"})
    'AMD EPYC (family 25, model 1)'
    >>> cpu_name({"model name": "AMD EPYC"})              # no numbers given
    'AMD EPYC'
    """
    if fields is None:
        fields = {}
        try:  # the first processor's entry, up to its blank line
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if not line.strip():
                    break
                name, _, value = line.partition(":")
                fields[name.strip()] = value.strip()
        except OSError:
            pass
    name = fields.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    return name
