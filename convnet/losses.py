"""Loss objects: categorical cross-entropy, fused with the model's final softmax.

Reading order: ... → layers → **9. losses** → optimizers → model → ... Docs chapter:
"Softmax and cross-entropy".

Keras models end in ``Dense(10, activation='softmax')`` and are compiled with
``loss='categorical_crossentropy'``. Computing ``-log(softmax(z))`` in two steps loses
precision and overflows for large scores, so, exactly as Keras does internally, the model
hands the loss the *logits* ``z`` (the final layer's output before its softmax) and the loss
uses the fused, stable :func:`convnet.ops.softmax_cross_entropy_forward`. With
``from_logits=True`` the model must end without a softmax and its raw output is used.

The two losses differ only in the labels they expect:

* ``CategoricalCrossentropy``: one-hot rows, shape (N, K);
* ``SparseCategoricalCrossentropy``: integer classes, shape (N,).
"""

from __future__ import annotations

import numpy as np

from convnet import ops

__all__ = ["Loss", "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "get"]


class Loss:
    """Mean softmax cross-entropy over a batch. Subclasses fix the label format.

    Examples
    --------
    The loss takes logits and returns the gradient with respect to them, ``(p - y) / N``:

    >>> loss = SparseCategoricalCrossentropy()
    >>> value, cache = loss.forward(np.array([[0.0, 0.0]]), np.array([1]))
    >>> round(value, 4), loss.backward(cache)               # ln 2, (p - y) / 1
    (0.6931, array([[ 0.5, -0.5]]))
    """

    name = "loss"

    def __init__(self, from_logits: bool = False):
        self.from_logits = bool(from_logits)

    def check_labels(self, y, logits):
        raise NotImplementedError

    def forward(self, logits, y):
        """Loss of a batch.

        Parameters
        ----------
        logits : ndarray, shape (N, K)
        y : ndarray, labels in this loss's format

        Returns
        -------
        loss : float
        cache : for :meth:`backward`
        """
        self.check_labels(y, logits)
        return ops.softmax_cross_entropy_forward(logits, y)

    def backward(self, cache):
        """Gradient of the mean loss with respect to the logits, shape (N, K)."""
        return ops.softmax_cross_entropy_backward(cache)

    def __repr__(self):
        return f"{type(self).__name__}(from_logits={self.from_logits})"


class CategoricalCrossentropy(Loss):
    """Cross-entropy against one-hot (or soft) target rows of shape (N, K).

    Examples
    --------
    >>> loss = CategoricalCrossentropy()
    >>> value, _ = loss.forward(np.zeros((2, 4)), np.eye(4)[[0, 3]])
    >>> round(value, 4)                                    # ln 4
    1.3863
    """

    name = "categorical_crossentropy"

    def check_labels(self, y, logits):
        y = np.asarray(y)
        if y.shape != logits.shape:
            hint = (" (these look like integer classes: use "
                    "loss='sparse_categorical_crossentropy' or one-hot encode them)"
                    if y.shape == logits.shape[:1] else "")  # fmt: skip
            raise ValueError(
                f"{self.name}: labels must be one-hot rows of shape {logits.shape} to match "
                f"the model output, got shape {y.shape}{hint}"
            )


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy against integer class labels of shape (N,).

    Examples
    --------
    >>> loss = SparseCategoricalCrossentropy()
    >>> value, _ = loss.forward(np.zeros((2, 4)), np.array([0, 3]))
    >>> round(value, 4)
    1.3863
    """

    name = "sparse_categorical_crossentropy"

    def check_labels(self, y, logits):
        y = np.asarray(y)
        if y.shape != logits.shape[:1] or y.dtype.kind not in "iu":
            raise ValueError(
                f"{self.name}: labels must be integer classes of shape ({logits.shape[0]},) "
                f"for a model output of shape {logits.shape}, got shape {y.shape} and dtype "
                f"{y.dtype}"
            )


_LOSSES = {cls.name: cls for cls in (CategoricalCrossentropy, SparseCategoricalCrossentropy)}


def get(identifier) -> Loss:
    """A loss from its Keras name, or a Loss instance as it is.

    Examples
    --------
    >>> get("categorical_crossentropy")
    CategoricalCrossentropy(from_logits=False)
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _LOSSES:
        return _LOSSES[identifier.lower()]()
    raise ValueError(f"unknown loss {identifier!r}; choose one of {sorted(_LOSSES)}")
