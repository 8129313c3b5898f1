"""The command line on real MNIST: a short train, then evaluate and predict with its file."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convnet.cli import main

# Runs here see only the first 2,000 validation and test images (conftest.shortened_datasets):
# these tests check what a run does, writes and prints; tests/test_training.py checks what
# training reaches.

pytestmark = pytest.mark.skipif(
    not os.environ.get("CONVNET_DATA_DIR"), reason="set CONVNET_DATA_DIR to the MNIST folder"
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from conftest import shortened_datasets

    out = tmp_path_factory.mktemp("run")
    with shortened_datasets():
        code = main(["train", "--limit", "2000", "--epochs", "1", "--batch-size", "64",
                     "--out", str(out), "--verbose", "2"])  # fmt: skip
    assert code == 0
    return out


def test_train_writes_model_plots_and_results(trained, capsys):
    for name in ("mnist.h5", "checkpoint.h5", "curves.png", "confusion.png", "misclassified.png",
                 "filters.png", "embedding.png", "diagnostics.png", "results.json"):  # fmt: skip
        assert (trained / name).stat().st_size > 0, name
    results = json.loads((trained / "results.json").read_text())
    assert results["train_images"] == 2000 and results["epochs"] == 1
    assert results["shift"] == 1  # the default: training images shifted by up to 1 pixel
    assert 0.8 < results["test_accuracy"] <= 1.0
    assert "cores" in results["machine"]
    assert 50 < results["peak_rss_mb"] < 24_000  # MB: what the process really held, not 0


def test_evaluate_reports_the_same_numbers(trained, short_sets, capsys):
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


def test_resume_continues_the_run(trained, tmp_path, short_sets, capsys, monkeypatch):
    from convnet import cli
    from convnet.io import load_checkpoint, load_model

    monkeypatch.setattr(cli, "LEVEL", 0.0)  # reached by the first session's epoch
    out = tmp_path / "run"
    shutil.copytree(trained, out)
    first = load_model(out / "mnist.h5").metadata["history"]
    assert load_checkpoint(out / "checkpoint.h5").settings["batch_size"] == 64
    assert main(["train", "--resume", "--epochs", "2", "--out", str(out), "--verbose", "2",
                 "--no-figures"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "Resuming" in printed and "Epoch 2/2" in printed and "Epoch 1/2" not in printed
    results = json.loads((out / "results.json").read_text())
    assert results["epochs"] == 2 and results["resumed_after_epoch"] == 1
    # This session's clock began at the resume, so it cannot say how long reaching took.
    assert results["epoch_to_val_accuracy_0.0"] == 1
    assert results["seconds_to_val_accuracy_0.0"] is None
    assert results["batch_size"] == 64 and results["train_images"] == 2000  # kept from run 1
    history = load_model(out / "mnist.h5").metadata["history"]
    assert len(history["loss"]) == 2 and history["loss"][0] == first["loss"][0]
    assert load_checkpoint(out / "checkpoint.h5").epoch == 2


def test_resume_refuses_other_options_and_a_missing_checkpoint(trained, tmp_path, capsys):
    assert main(["train", "--resume", "--batch-size", "32", "--out", str(trained)]) == 2
    assert "the checkpoint's run used --batch-size 64" in capsys.readouterr().err
    assert main(["train", "--resume", "--out", str(tmp_path)]) == 2
    assert "checkpoint.h5" in capsys.readouterr().err
    assert main(["train", "--shift", "-1", "--out", str(tmp_path)]) == 2
    assert "--shift must be from 0 (no shifts) to 27 pixels, got -1" in capsys.readouterr().err


def test_train_writes_into_a_run_folder_that_resume_and_evaluate_find(
    tmp_path, monkeypatch, short_sets, capsys
):
    from pathlib import Path

    from convnet.cli import RUN_FILES
    from convnet.io import load_checkpoint

    monkeypatch.chdir(tmp_path)
    options = ["--net", "small", "--limit", "2000", "--verbose", "0"]
    assert main(["train", *options, "--epochs", "1", "--no-figures"]) == 0
    run = Path("runs", "small-limit2000")  # --no-figures is not a setting of the run
    assert [p.name for p in tmp_path.iterdir()] == ["runs"]  # nothing else in the folder
    saved = sorted(name for name in RUN_FILES if not name.endswith(".png"))
    assert sorted(p.name for p in run.iterdir()) == saved == [
        "checkpoint.h5", "diagnostics.json", "mnist.h5", "results.json"]  # fmt: skip
    printed = capsys.readouterr().out
    for name in RUN_FILES:  # the end of the run says where each file went, and only those
        assert (f"  {run / name} " in printed) == (name in saved), name
    # The same options with --resume find the folder again.
    assert main(["train", *options, "--epochs", "2", "--resume", "--no-figures"]) == 0
    assert load_checkpoint(run / "checkpoint.h5").epoch == 2
    capsys.readouterr()
    # Without --model, evaluate takes the newest trained model, and says which.
    assert main(["evaluate"]) == 0
    out, err = capsys.readouterr()
    assert f"Model: {run / 'mnist.h5'} (the newest trained" in err
    results = json.loads((run / "results.json").read_text())
    assert f"Test accuracy: {results['test_accuracy']:.4f}" in out


def test_missing_model_is_a_clear_error(tmp_path, capsys):
    assert main(["evaluate", "--model", str(tmp_path / "none.h5")]) == 2
    assert "train_mnist.py" in capsys.readouterr().err


def test_train_net_small_trains_the_small_cnn(tmp_path, short_sets, capsys):
    from convnet.io import load_model

    assert main(["train", "--net", "small", "--limit", "2000", "--epochs", "1",
                 "--out", str(tmp_path), "--verbose", "0", "--no-figures"]) == 0  # fmt: skip
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["net"] == "small" and results["train_images"] == 2000
    assert load_model(tmp_path / "mnist.h5").count_params() == 5994


def test_train_net_modern_uses_its_recipe_and_writes_a_loadable_residual_model(
    tmp_path, short_sets
):
    from convnet.io import load_model

    assert main(["train", "--net", "modern", "--limit", "640", "--epochs", "1",
                 "--out", str(tmp_path), "--verbose", "0"]) == 0  # fmt: skip
    results = json.loads((tmp_path / "results.json").read_text())
    recipe = {"net": "modern", "optimizer": "adamw", "learning_rate": 3e-3,
              "schedule": "onecycle", "shift": 2, "rotate": 10, "zoom": 0.1}  # fmt: skip
    assert {key: results[key] for key in recipe} == recipe
    assert [point["epoch"] for point in results["accuracy_against_seconds"]] == [1]
    model = load_model(tmp_path / "mnist.h5")
    assert model.count_params() == 308842 and type(model.optimizer).__name__ == "AdamW"
    for name in ("time_to_accuracy.png", "filters.png", "embedding.png", "diagnostics.png"):
        assert (tmp_path / name).stat().st_size > 0, name  # drawn for a residual net too


@pytest.mark.parametrize("name", ["keras3_small_cnn.h5", "tfkeras2_small_cnn.h5"])
def test_evaluate_scores_a_keras_file(name, capsys):
    """A file Keras wrote (compiled there for one-hot labels) is scored on MNIST's integer
    labels all the same, without its optimizer."""
    fixture = Path(__file__).parent / "fixtures" / name
    assert main(["evaluate", "--model", str(fixture)]) == 0
    out = capsys.readouterr().out
    accuracy = float(out.split("Test accuracy:")[1])
    assert 0.0 <= accuracy <= 1.0 and "Test loss:" in out


@pytest.mark.parametrize(("option", "message"), [
    (["--epochs", "0"], "--epochs must be 1 or more, got 0"),
    (["--batch-size", "0"], "--batch-size must be 1 or more, got 0"),
    (["--limit", "-100"], "--limit must be 1 or more, got -100"),
    (["--lr", "-1"], "--lr must be more than 0, got -1.0"),
    (["--shift", "30"], "--shift must be from 0 (no shifts) to 27 pixels, got 30"),
    (["--shift", "27.5"], "--shift must be from 0 (no shifts) to 27 pixels, got 27.5"),
    (["--rotate", "-5"], "--rotate must be from 0 (no turns) to 180 degrees, got -5"),
    (["--zoom", "1"], "--zoom must be from 0 (no zoom) to below 1, got 1"),
    (["--resume", "--seed", "3"], "to resume"),
])  # fmt: skip
def test_train_refuses_bad_options_before_making_a_folder(option, message, tmp_path, capsys,
                                                          monkeypatch):  # fmt: skip
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--net", "small", *option]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # nothing made, nothing loaded


def test_train_rotate_and_zoom_turn_and_zoom_the_training_batches(
    tmp_path, monkeypatch, short_sets, capsys
):
    from convnet.augment import RandomAffine

    monkeypatch.chdir(tmp_path)
    used = []  # the augmenter of every training batch, and the batch's size
    original = RandomAffine.__call__

    def recording(self, x, rng):
        used.append((repr(self), len(x)))
        return original(self, x, rng)

    monkeypatch.setattr(RandomAffine, "__call__", recording)
    assert main(["train", "--net", "small", "--limit", "500", "--epochs", "1", "--verbose", "0",
                 "--rotate", "10", "--zoom", "0.1", "--shift", "1.5",
                 "--no-figures"]) == 0  # fmt: skip
    run = Path("runs", "small-shift1.5-rotate10-zoom0.1-limit500")
    results = json.loads((run / "results.json").read_text())
    assert (results["shift"], results["rotate"], results["zoom"]) == (1.5, 10, 0.1)
    # 500 images in batches of 128, never the validation or test images
    assert used == [("RandomAffine(rotation=10.0, zoom=0.1, shift=1.5)", 128)] * 3 + [
        ("RandomAffine(rotation=10.0, zoom=0.1, shift=1.5)", 116)]  # fmt: skip
    # resuming keeps the run's options, and refuses others
    assert main(["train", "--net", "small", "--limit", "500", "--epochs", "2", "--verbose", "0",
                 "--resume", "--out", str(run), "--rotate", "5"]) == 2  # fmt: skip
    assert "the checkpoint's run used --rotate 10; resume without --rotate 5" in (
        capsys.readouterr().err)  # fmt: skip


def test_ctrl_c_during_training_says_how_to_resume(tmp_path, capsys, monkeypatch):
    from convnet.model import Sequential

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Sequential, "fit", interrupted)
    code = main(["train", "--net", "small", "--limit", "500", "--out", str(tmp_path)])
    assert code == 130  # as a shell reports a program ended by Ctrl-C
    err = capsys.readouterr().err
    assert "Interrupted after 0 complete epoch(s) of 12" in err and "--resume" in err


def test_explain_draws_one_prediction_of_a_test_image_or_a_file(trained, tmp_path, capsys):
    from matplotlib.figure import Figure

    from convnet.data import load_mnist
    from convnet.inspect import explain_figure
    from convnet.io import load_model

    model_file = str(trained / "mnist.h5")
    out = tmp_path / "explain.png"
    assert main(["explain", "--test-index", "0", "--model", model_file, "--out", str(out)]) == 0
    assert Image.open(out).size[0] > 800
    printed = capsys.readouterr().out
    assert printed.startswith("MNIST test image #0 (labelled '7'): ")

    (_, _), (x_test, _) = load_mnist()
    path = tmp_path / "seven.png"
    Image.fromarray(255 - x_test[0]).save(path)  # dark ink on white, as a person would draw
    drawn = []
    original = Figure.savefig
    try:
        Figure.savefig = lambda fig, *args, **kwargs: drawn.append(fig)
        assert main(["explain", str(path), "--class", "3", "--model", model_file]) == 0
    finally:
        Figure.savefig = original
    shown = drawn[0].explained
    model = load_model(model_file)
    expected = explain_figure(model, x_test[0][None].astype(np.float32) / 255, 3).explained
    assert shown["class_index"] == 3
    np.testing.assert_allclose(shown["probabilities"], expected["probabilities"], atol=1e-5)
    assert set(shown["feature_maps"]) == {"conv2d", "conv2d_1"}


@pytest.mark.parametrize("args, message", [
    ([], "give an IMAGE file or --test-index N"),
    (["--test-index", "10000"], "--test-index must be from 0 to 9999, got 10000"),
    (["--test-index", "1", "--class", "ten"], "--class must be one of the model's classes"),
])  # fmt: skip
def test_explain_refuses_what_it_cannot_draw(trained, args, message, capsys):
    assert main(["explain", *args, "--model", str(trained / "mnist.h5")]) == 2
    assert message in capsys.readouterr().err
