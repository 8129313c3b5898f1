"""The machine's BLAS library, called from inside the annex's parallel kernels, one core each.

Off the reading path, in the annex :mod:`convnet.tuned`. Docs chapter: "Speed".

A BLAS library (OpenBLAS, MKL, BLIS) has matrix-product kernels written by hand for each
kind of CPU: on one with AVX-512 they can run half as fast again as the register-tiled GEMM
of :mod:`convnet.tuned.gemm`, which is what a compiler makes of a loop. Called from Python
on a whole batch, though, BLAS shares each product between the cores with threads of its
own, and those keep spinning for a while afterwards, taking the cores from the Numba
kernels of the next layer.

So here BLAS is called the other way round: from inside a Numba kernel's parallel loop, on
one core's own small product (one image's patches, say), while BLAS is held to one thread
(:func:`one_thread`). Each core then runs the library's hand-written kernel on data already
in its cache. Numba's ``np.dot`` calls the BLAS that SciPy was built with.

Whether that is faster than the register-tiled GEMM depends on the machine, so it is one of
the ways :mod:`convnet.tuned.autotune` measures, never the only one.
"""

from __future__ import annotations

import contextlib
import functools
import warnings

import numpy as np

from convnet.jit import NumbaPerformanceWarning, get_num_threads, kernel, prange
from convnet.tuned.gemm import gemm_nn, gemm_nt

__all__ = ["product", "product_nt", "matmul", "one_thread", "available"]


@kernel
def product(a, b, c, accumulate, blas):
    """``c = a @ b`` (or ``c += a @ b``) on this core: by BLAS if ``blas``, else by
    :func:`convnet.tuned.gemm.gemm_nn`.

    a : (M, K); b : (K, N), C-contiguous; c : (M, N), C-contiguous; all of one dtype.
    """
    if not blas:
        gemm_nn(a, b, c, accumulate)
    elif accumulate:
        c += np.dot(a, b)
    else:
        np.dot(a, b, c)


@kernel
def product_nt(a, bt, c, accumulate, blas):
    """``c = a @ bt.T`` (or ``c += a @ bt.T``) on this core: by BLAS if ``blas``, else by
    :func:`convnet.tuned.gemm.gemm_nt`.

    a : (M, K) and bt : (N, K), C-contiguous; c : (M, N), C-contiguous; all of one dtype.
    """
    if not blas:
        gemm_nt(a, bt, c, accumulate)
    elif accumulate:
        c += np.dot(a, bt.T)
    else:
        np.dot(a, bt.T, c)


@kernel(parallel=True)
def _row_blocks(a, b, n_blocks, out):
    """``out[block] = a[block] @ b`` for ``n_blocks`` blocks of rows, one BLAS call each."""
    m_size = a.shape[0]
    for t in prange(n_blocks):
        i0, i1 = t * m_size // n_blocks, (t + 1) * m_size // n_blocks
        np.dot(a[i0:i1], b, out[i0:i1])


def matmul(a, b):
    """``a @ b`` (a (M, K), b (K, N), any layouts) as one BLAS call per core on its own block
    of rows, BLAS held to one thread. Returns a new C-contiguous (M, N) array."""
    out = np.empty((a.shape[0], b.shape[1]), a.dtype)
    with one_thread(), warnings.catch_warnings():
        # Numba notes, when compiling, that a block of a transposed ``a`` is not contiguous;
        # BLAS reads it as it lies
        warnings.simplefilter("ignore", NumbaPerformanceWarning)
        _row_blocks(a, b, max(1, min(get_num_threads(), a.shape[0])), out)
    return out


@functools.cache
def _controller():
    """threadpoolctl's handle on the BLAS libraries loaded in this process, SciPy's (the one
    Numba's ``np.dot`` calls) among them; None if threadpoolctl is missing."""
    try:
        import scipy.linalg.cython_blas  # noqa: F401  (loads SciPy's BLAS)
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()


def one_thread(hold: bool = True):
    """A context in which every BLAS library runs each call on the calling thread alone
    (about 10 us to enter and leave). Two cores each calling a BLAS that wants both cores
    would otherwise make four threads fight over two cores. With ``hold=False`` (for a
    kernel that calls BLAS only when asked to), a context that does nothing."""
    controller = _controller()
    if controller is None or not hold:
        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")


@functools.cache
def architecture() -> str:
    """The kernel sets of the loaded BLAS libraries, as they report them ('Haswell',
    'SkylakeX', ...): OpenBLAS picks one by the CPU it finds, or by ``OPENBLAS_CORETYPE``,
    and which one it runs changes which way is fastest. '' if threadpoolctl is missing."""
    controller = _controller()
    if controller is None:
        return ""
    libraries = controller.select(user_api="blas").lib_controllers
    found = {str(library.info().get("architecture")) for library in libraries}
    return "+".join(sorted(found))


def available() -> bool:
    """Whether BLAS can be called from the kernels: SciPy is there and its thread count can
    be set (without that, the BLAS ways are not offered)."""
    controller = _controller()
    return controller is not None and bool(controller.select(user_api="blas").lib_controllers)

