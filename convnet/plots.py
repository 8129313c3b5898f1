"""Pictures of a training run: learning curves, confusion matrix, misclassified images.

Not on the main reading path (it draws, it does not learn). Docs chapter: "Getting started"
(what a run writes). Uses matplotlib's object-oriented
API (``Figure``, no ``pyplot``), so it never changes the global backend and works without a
display.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

__all__ = ["plot_history", "plot_time_to_accuracy", "confusion_matrix", "plot_confusion",
           "misclassified_figure", "plot_misclassified"]


def plot_history(history: dict, path) -> Path:
    """Training and validation loss and accuracy per epoch, side by side.

    Parameters
    ----------
    history : dict
        ``History.history``: lists under 'loss', 'accuracy' and optionally 'val_loss',
        'val_accuracy'.
    path : str or Path
        Where to write the PNG.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> history = {"loss": [0.9, 0.4], "accuracy": [0.7, 0.9],
    ...            "val_loss": [0.5, 0.3], "val_accuracy": [0.85, 0.92]}
    >>> plot_history(history, folder / "curves.png").stat().st_size > 0
    True
    """
    fig = Figure(figsize=(10, 4), layout="constrained")
    epochs = np.arange(1, len(history["loss"]) + 1)
    for ax, key, label in zip(fig.subplots(1, 2), ("loss", "accuracy"), ("Loss", "Accuracy"),
                              strict=True):  # fmt: skip
        ax.plot(epochs, history[key], "o-", label="training")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], "s-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label.lower())
        ax.set_title(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.savefig(path, dpi=100)
    return Path(path)


def plot_time_to_accuracy(curve, path, *, mark: float = 0.995) -> Path:
    """Accuracy against wall-clock seconds, from :attr:`convnet.callbacks.AccuracyClock.curve`:
    test (or whatever set the clock was given) and validation accuracy after each epoch, with
    a line at ``mark``.

    Examples
    --------
    >>> import tempfile
    >>> curve = [{"epoch": 1, "seconds": 60.0, "val_accuracy": 0.98, "accuracy": 0.979},
    ...          {"epoch": 2, "seconds": 121.0, "val_accuracy": 0.996, "accuracy": 0.995}]
    >>> plot_time_to_accuracy(curve, Path(tempfile.mkdtemp()) / "t.png").stat().st_size > 0
    True
    """
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.subplots()
    seconds = [p["seconds"] for p in curve]
    ax.plot(seconds, [p["accuracy"] for p in curve], "o-", label="test")
    if any(p["val_accuracy"] is not None for p in curve):
        ax.plot(seconds, [p["val_accuracy"] for p in curve], "s-", label="validation")
    ax.axhline(mark, color="grey", lw=0.8, ls="--", label=f"{mark:.1%}")
    low = min(p["accuracy"] for p in curve)
    ax.set_ylim(max(low - 0.002, 0.9 if low > 0.9 else 0.0), 1.0)
    ax.set_xlabel("wall-clock seconds of training")
    ax.set_ylabel("accuracy")
    ax.set_title("Accuracy after each epoch, against time")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.savefig(path, dpi=100)
    return Path(path)


def confusion_matrix(y_true, y_pred, n_classes: int = 10) -> np.ndarray:
    """Counts ``m[i, j]`` of images of class ``i`` predicted as ``j``.

    Examples
    --------
    >>> confusion_matrix([0, 1, 1], [0, 1, 0], n_classes=2)
    array([[1, 0],
           [1, 1]])
    """
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return m


def _name(class_names, k) -> str:
    """Class ``k`` on a plot: its name, or its number when there are no names."""
    return str(class_names[k]) if class_names is not None else str(k)


def plot_confusion(y_true, y_pred, path, n_classes: int = 10, class_names=None) -> Path:
    """The confusion matrix as an annotated heat map, titled with the number of errors.

    Parameters
    ----------
    y_true, y_pred : ndarray of int, shape (N,)
    path : str or Path
        Where to write the PNG.
    n_classes : int
    class_names : sequence of str, optional
        The axes' labels, ``class_names[k]`` for class ``k`` (their number gives
        ``n_classes``); left out, the classes are numbered.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "confusion.png"
    >>> plot_confusion([0, 1, 2, 2], [0, 1, 2, 1], path, n_classes=3).exists()
    True
    >>> names = ["Coat", "Bag", "Shirt"]
    >>> plot_confusion([0, 1, 2, 2], [0, 1, 2, 1], path, class_names=names).exists()
    True
    """
    if class_names is not None:
        n_classes = len(class_names)
    m = confusion_matrix(y_true, y_pred, n_classes)
    fig = Figure(figsize=(6.5, 5.5), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(np.log1p(m), cmap="Blues")
    for i in range(n_classes):
        for j in range(n_classes):
            if m[i, j]:
                ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if m[i, j] > m.max() / 4 else "black")  # fmt: skip
    names = [_name(class_names, k) for k in range(n_classes)]
    # Long names (Fashion-MNIST's "T-shirt/top") would overlap along the x axis: slanted.
    slant = 45 if max(len(name) for name in names) > 2 else 0
    ax.set_xticks(range(n_classes), names, rotation=slant, ha="right" if slant else "center")
    ax.set_yticks(range(n_classes), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    errors = int(m.sum() - np.trace(m))
    ax.set_title(f"Test confusion matrix ({errors} errors of {int(m.sum())})")
    fig.colorbar(image, ax=ax, label="log(1 + count)")
    fig.savefig(path, dpi=100)
    return Path(path)


def misclassified_figure(images, y_true, y_pred, probabilities=None, n: int = 36,
                         class_names=None, indices=None):  # fmt: skip
    """A grid of (up to ``n``) misclassified images, each titled with its index in the set
    and its true and predicted labels.

    With ``probabilities``, the most confident mistakes come first, each with the
    probability the model gave its wrong answer: the mistakes worth looking at (a wrong label
    in the data, or a blind spot of the model). Without, they come in the order of the set.

    Parameters
    ----------
    images : ndarray, shape (N, 1, H, W) or (N, H, W)
    y_true, y_pred : ndarray, shape (N,)
    probabilities : ndarray, shape (N, K), optional
    n : int
    class_names : sequence of str, optional
        The labels' names, ``class_names[k]`` for class ``k``; left out, their numbers.
    indices : ndarray of int, shape (N,), optional
        Each image's number to show (its index in the test set); left out, ``0..N-1``.

    Returns
    -------
    Figure
        ``figure.shown`` holds the indices shown, in order.

    Examples
    --------
    >>> images = np.zeros((4, 1, 28, 28))
    >>> p = np.array([[0.1, 0.9], [0.4, 0.6], [1.0, 0.0], [0.2, 0.8]])
    >>> misclassified_figure(images, np.array([0, 0, 0, 0]), p.argmax(1), p).shown
    [0, 3, 1]
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    wrong = np.flatnonzero(y_true != y_pred)
    if probabilities is not None:
        confidence = np.asarray(probabilities)[wrong, y_pred[wrong]]
        wrong = wrong[np.argsort(-confidence, kind="stable")]
    wrong = wrong[:n]
    indices = np.arange(len(y_true)) if indices is None else np.asarray(indices)
    cols = 6
    rows = max(1, -(-len(wrong) // cols))
    fig = Figure(figsize=(cols * 1.5, rows * 1.85 + 0.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, i in zip(axes, wrong, strict=False):
        ax.imshow(np.asarray(images[i]).reshape(images.shape[-2:]), cmap="gray_r")
        # One line each: a name such as "T-shirt/top" fills the width of an image.
        title = f"#{indices[i]}\ntrue {_name(class_names, y_true[i])}\n" \
                f"pred {_name(class_names, y_pred[i])}"  # fmt: skip
        if probabilities is not None:
            title += f" ({probabilities[i, y_pred[i]]:.0%})"
        ax.set_title(title, fontsize=8)
    order = "most confident first" if probabilities is not None else "in order"
    fig.suptitle(f"Misclassified images: {len(wrong)} of {int((y_true != y_pred).sum())}, "
                 f"{order}")  # fmt: skip
    fig.shown = [int(indices[i]) for i in wrong]
    return fig


def plot_misclassified(images, y_true, y_pred, path, probabilities=None, n: int = 36,
                       class_names=None) -> Path:  # fmt: skip
    """:func:`misclassified_figure`, written to ``path`` (a PNG).

    Examples
    --------
    >>> import tempfile
    >>> images = np.random.default_rng(0).random((4, 1, 28, 28))
    >>> path = Path(tempfile.mkdtemp()) / "misclassified.png"
    >>> plot_misclassified(images, np.array([1, 2, 3, 4]), np.array([1, 7, 3, 9]), path).exists()
    True
    """
    fig = misclassified_figure(images, y_true, y_pred, probabilities, n, class_names)
    fig.savefig(path, dpi=100)
    return Path(path)
