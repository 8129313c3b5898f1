"""The command line on real MNIST: a short train, then evaluate and predict with its file."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from convnet.cli import main

pytestmark = pytest.mark.skipif(
    not os.environ.get("CONVNET_DATA_DIR"), reason="set CONVNET_DATA_DIR to the MNIST folder"
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    code = main(["train", "--limit", "2000", "--epochs", "1", "--batch-size", "64",
                 "--out", str(out), "--verbose", "2"])  # fmt: skip
    assert code == 0
    return out


def test_train_writes_model_plots_and_results(trained, capsys):
    for name in ("mnist.h5", "curves.png", "confusion.png", "misclassified.png", "results.json"):
        assert (trained / name).stat().st_size > 0, name
    results = json.loads((trained / "results.json").read_text())
    assert results["train_images"] == 2000 and results["epochs"] == 1
    assert 0.8 < results["test_accuracy"] <= 1.0
    assert "cores" in results["machine"]


def test_evaluate_reports_the_same_numbers(trained, capsys):
    results = json.loads((trained / "results.json").read_text())
    assert main(["evaluate", "--model", str(trained / "mnist.h5")]) == 0
    out = capsys.readouterr().out
    assert f"Test loss: {results['test_loss']:.4f}" in out
    assert f"Test accuracy: {results['test_accuracy']:.4f}" in out


def test_predict_reads_a_drawn_png(trained, tmp_path, capsys):
    from convnet.data import load_mnist

    (_, _), (x_test, y_test) = load_mnist()
    # Test digit 0 (a 7) drawn big, dark ink on white paper, off-centre, as a person might.
    canvas = np.full((280, 280), 255, np.uint8)
    big = np.asarray(Image.fromarray(x_test[0]).resize((160, 160), Image.Resampling.BILINEAR))
    canvas[20:180, 100:260] = 255 - big
    path = tmp_path / "seven.png"
    Image.fromarray(canvas).save(path)
    assert main(["predict", str(path), "--model", str(trained / "mnist.h5")]) == 0
    assert capsys.readouterr().out.startswith(f"{path}: {y_test[0]} (")


def test_missing_model_is_a_clear_error(tmp_path, capsys):
    assert main(["evaluate", "--model", str(tmp_path / "none.h5")]) == 2
    assert "train_mnist.py" in capsys.readouterr().err
