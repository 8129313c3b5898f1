"""Metrics: how often the network's best guess (or one of its k best) is the true class.

Reading order: ... → 9. losses, beside them **metrics** → 10. optimizers → model → ... Docs chapter:
"How a CNN learns".

The loss is what training lowers; a metric is what a person reads. ``compile(metrics=...)``
takes names from :data:`METRICS` (Keras's), and :class:`convnet.model.Sequential` logs each
after the loss, for training and validation. Accuracy is always measured.
"""

from __future__ import annotations

import numpy as np

__all__ = ["accuracy", "top_k_accuracy", "METRICS", "ACCURACY_ALIASES"]


def accuracy(scores, y) -> float:
    """Fraction of rows whose highest score is the true class.

    ``y`` is integer classes (N,) or one-hot rows (N, K).

    Examples
    --------
    >>> accuracy(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([1, 1]))
    0.5
    """
    return float(np.mean(np.argmax(scores, axis=1) == _labels(y)))


def top_k_accuracy(scores, y, k: int = 5) -> float:
    """Fraction of rows whose true class is among the ``k`` highest scores.

    Keras's top-k categorical accuracy, with its default k = 5: on MNIST, how often the
    right digit is at least among the network's five best guesses. ``y`` is integer classes
    (N,) or one-hot rows (N, K), so Keras's two names for it (``top_k_categorical_accuracy``
    for one-hot labels, ``sparse_top_k_categorical_accuracy`` for integer ones) both
    measure it. A class that ties with the k-th highest score counts as in the top k.

    Examples
    --------
    >>> scores = np.array([[0.1, 0.5, 0.4], [0.7, 0.2, 0.1]])
    >>> top_k_accuracy(scores, np.array([2, 2]), k=2)      # 2nd of 3, then 3rd of 3
    0.5
    """
    labels = _labels(y)
    true = scores[np.arange(len(scores)), labels]
    higher = np.sum(scores > true[:, None], axis=1)  # how many classes beat the true one
    return float(np.mean(higher < k))


def _labels(y):
    """Integer classes (N,) from integer classes or one-hot rows (N, K)."""
    y = np.asarray(y)
    return y.argmax(axis=1) if y.ndim == 2 else y


#: The metrics :meth:`convnet.model.Sequential.compile` accepts, by name:
#: ``metric(scores, y) -> float``.
METRICS = {
    "accuracy": accuracy,
    "top_k_categorical_accuracy": top_k_accuracy,
    "sparse_top_k_categorical_accuracy": top_k_accuracy,
}

#: Keras's other names for accuracy, which ``compile(metrics=...)`` takes as ``'accuracy'``.
ACCURACY_ALIASES = {"acc": "accuracy", "categorical_accuracy": "accuracy",
                    "sparse_categorical_accuracy": "accuracy"}  # fmt: skip
