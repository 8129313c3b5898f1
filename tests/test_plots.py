"""The pictures of a run (convnet.plots) name the classes: by number, or by the names given."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from convnet import plots


@pytest.fixture
def drawn(monkeypatch):
    """The figures the plots save, kept for inspection instead of being written."""
    figures = []
    monkeypatch.setattr(Figure, "savefig", lambda fig, *args, **kwargs: figures.append(fig))
    return figures


def _ticks(labels):
    return [label.get_text() for label in labels]


def test_confusion_axes_name_the_classes(drawn, tmp_path):
    names = ["Coat", "Bag", "Ankle boot"]
    plots.plot_confusion([0, 1, 2, 2], [0, 2, 2, 2], tmp_path / "c.png", class_names=names)
    ax = drawn[-1].axes[0]
    assert _ticks(ax.get_xticklabels()) == names and _ticks(ax.get_yticklabels()) == names
    assert ax.get_title() == "Test confusion matrix (1 errors of 4)"

    plots.plot_confusion([0, 1], [0, 1], tmp_path / "c.png", n_classes=3)
    assert _ticks(drawn[-1].axes[0].get_xticklabels()) == ["0", "1", "2"]


def test_misclassified_titles_name_the_classes(drawn, tmp_path):
    images = np.zeros((3, 1, 28, 28), np.float32)
    y_true, y_pred = np.array([0, 1, 2]), np.array([0, 2, 1])
    p = np.full((3, 3), 0.1)
    p[[1, 2], [2, 1]] = 0.8
    plots.plot_misclassified(images, y_true, y_pred, tmp_path / "m.png", probabilities=p,
                             class_names=["Coat", "Bag", "Ankle boot"])  # fmt: skip
    titles = [ax.get_title() for ax in drawn[-1].axes if ax.get_title()]
    assert titles == ["#1\ntrue Bag\npred Ankle boot (80%)",
                      "#2\ntrue Ankle boot\npred Bag (80%)"]  # fmt: skip

    plots.plot_misclassified(images, y_true, y_pred, tmp_path / "m.png")
    assert [ax.get_title() for ax in drawn[-1].axes if ax.get_title()] == [
        "#1\ntrue 1\npred 2", "#2\ntrue 2\npred 1"
    ]


def test_misclassified_come_most_confident_first_with_their_indices():
    rng = np.random.default_rng(0)
    images = rng.random((50, 1, 28, 28))
    y_true = rng.integers(0, 10, 50)
    p = rng.dirichlet(np.ones(10), 50)
    y_pred = p.argmax(axis=1)
    fig = plots.misclassified_figure(images, y_true, y_pred, p, n=12, indices=np.arange(50) + 100)
    wrong = np.flatnonzero(y_true != y_pred)
    confidence = p[wrong, y_pred[wrong]]
    expected = wrong[np.argsort(-confidence)][:12]
    assert fig.shown == list(expected + 100)
    shown = [ax for ax in fig.axes if ax.get_title()]
    assert len(shown) == 12
    for ax, i in zip(shown, expected, strict=True):
        assert ax.get_title().startswith(f"#{i + 100}\n")
        np.testing.assert_array_equal(ax.images[0].get_array(), images[i, 0])
    confidences = [float(ax.get_title().rsplit("(", 1)[1][:-2]) for ax in shown]
    assert confidences == sorted(confidences, reverse=True)
