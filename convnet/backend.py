"""The speed ladder: which of three rungs runs a model, and the one seam to the tuned annex.

Reading order: shapes → gradcheck → jit → im2col → ops → initializers → **backend** → layers →
... Docs chapter: "Speed".

Every op in :mod:`convnet.ops` is written twice, and a model can run a third way:

``'naive'``
    The loops of the equations, one multiply-add at a time. Slow; made to be stepped through
    in a debugger.
``'fast'``
    im2col and one NumPy matrix product per op. The same arithmetic, done as whole-array
    operations that NumPy hands to BLAS.
``'tuned'`` (the default)
    The annex :mod:`convnet.tuned`: kernels that exist only for speed (a convolution that
    keeps each image's patches in the CPU's cache and applies ReLU in the same pass, arrays
    kept from one batch to the next, a pass that runs one image on every core). Where it has
    several ways to do a convolution, it measures them on the machine in use, the fast
    rung's own among them, and keeps the fastest.

Choose with the environment variable ``CONVNET_BACKEND=naive|fast|tuned``, or in code with
``Sequential(..., backend=...)`` (or a layer's ``backend=``). Layers know only naive and fast:
they call one op pair or the other. The tuned rung enters in one place, the model's
:func:`convnet.model.steps_for`, which it asks for the steps to run when it is built. Its
answer on the core rungs is the layers themselves; on the tuned rung, the annex's plan.
Without the annex, ``'tuned'`` runs the fast rung.
"""

from __future__ import annotations

import os

__all__ = ["RUNGS", "DEFAULT", "resolve"]

#: The rungs, slowest first.
RUNGS = ("naive", "fast", "tuned")

#: The rung used when neither an argument nor ``CONVNET_BACKEND`` names one.
DEFAULT = "tuned"


def resolve(name=None) -> str:
    """The rung to use: ``name`` if given, else ``CONVNET_BACKEND``, else :data:`DEFAULT`.

    Examples
    --------
    >>> resolve("naive")
    'naive'
    >>> resolve("slow")
    Traceback (most recent call last):
    ...
    ValueError: backend must be one of 'naive', 'fast', 'tuned', got 'slow'
    """
    where = "backend"
    if name is None:
        name, where = os.environ.get("CONVNET_BACKEND") or DEFAULT, "CONVNET_BACKEND"
    if name not in RUNGS:
        raise ValueError(f"{where} must be one of {', '.join(map(repr, RUNGS))}, got {name!r}")
    return name
