"""examples/ensemble.py: the average of several models' probabilities, on MNIST's test set."""

import json
import os

import numpy as np
import pytest
from scripts import load_script

from convnet import load_model
from convnet.data import load_split
from convnet.nets import small_net

pytestmark = pytest.mark.skipif(
    not os.environ.get("CONVNET_DATA_DIR"), reason="set CONVNET_DATA_DIR to the MNIST folder"
)


@pytest.fixture(scope="module")
def ensemble():
    return load_script("examples/ensemble.py")


@pytest.fixture(scope="module")
def three_models(tmp_path_factory):
    """Three small nets from different seeds, each trained briefly on its own slice."""
    split = load_split("mnist")
    folder = tmp_path_factory.mktemp("models")
    paths = []
    for seed in range(3):
        model = small_net(seed=seed)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        part = slice(1000 * seed, 1000 * seed + 1000)
        model.fit(split.x_train[part], split.y_train[part], epochs=1, batch_size=32, seed=seed,
                  verbose=0)  # fmt: skip
        model.save(folder / f"m{seed}.h5")
        paths.append(folder / f"m{seed}.h5")
    return paths, split


def test_the_ensemble_is_the_argmax_of_the_mean_probability(ensemble, three_models, tmp_path,
                                                            capsys):  # fmt: skip
    paths, split = three_models
    assert ensemble.main([*map(str, paths), "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "ensemble.json").read_text())
    # Recomputed here from each model's own predictions, without the script's function.
    probabilities = [load_model(p).predict(split.x_test) for p in paths]
    each = [float((p.argmax(axis=1) == split.y_test).mean()) for p in probabilities]
    mean = np.mean(probabilities, axis=0)
    assert results["test_accuracies"] == pytest.approx(each, abs=0)
    assert results["ensemble_test_accuracy"] == float((mean.argmax(axis=1) == split.y_test).mean())
    assert results["test_errors"] == int((mean.argmax(axis=1) != split.y_test).sum())
    # Three weak models that learned from different images: the average beats the mean model.
    assert results["ensemble_test_accuracy"] > np.mean(each)
    out = capsys.readouterr().out
    assert f"Ensemble of 3: test accuracy {results['ensemble_test_accuracy']:.4f}" in out


def test_models_of_different_classes_are_refused(ensemble, three_models, tmp_path, capsys):
    paths, _ = three_models
    other = load_model(paths[0])
    other.class_names = list("abcdefghij")
    other.save(tmp_path / "letters.h5")
    with pytest.raises(SystemExit):
        ensemble.main([str(paths[1]), str(tmp_path / "letters.h5"), "--out", str(tmp_path)])
    assert "the models predict different classes" in capsys.readouterr().err
