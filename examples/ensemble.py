"""Average the predicted probabilities of several trained models, and measure what that gains.

    python examples/ensemble.py                       # every runs/modern*/mnist.h5, up to 5
    python examples/ensemble.py runs/a/mnist.h5 runs/b/mnist.h5 --out runs/ensemble

Models trained from different seeds make different mistakes: each saw the training images
in another order, turned and moved differently, from other initial weights. Averaging their
probabilities keeps what they agree on and lets a confident majority outvote one model's
slip. The script loads each model file, predicts the 10,000 test images of the dataset the
first model was trained on (saved in its file), and prints every model's test accuracy and
the ensemble's, the average of the probabilities, ``mean_k p_k(class | image)``, with the
most probable class as its answer. It writes the numbers to ``ensemble.json`` in --out.

The models must share their classes (MNIST's ten digits, say). Which models to average is
chosen before looking at the test set: all of them, in the order given.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from convnet import load_model
from convnet.cli import dataset_of, machine_description
from convnet.data import load_split

MAX_MODELS = 5


def average_probabilities(models, x, batch_size: int = 500):
    """The mean of the models' predicted probabilities for ``x``.

    Parameters
    ----------
    models : list of Sequential
    x : ndarray, shape (N, *input_shape)

    Returns
    -------
    mean : ndarray, shape (N, K)
        ``mean[n, k]`` = the average over the models of ``p_model(k | x[n])``.
    each : ndarray, shape (M, N, K)
        Every model's own probabilities.

    Examples
    --------
    >>> from convnet.nets import small_net
    >>> models = [small_net(seed=s) for s in (0, 1)]
    >>> mean, each = average_probabilities(models, np.zeros((3, 1, 28, 28), np.float32))
    >>> mean.shape, each.shape, bool(np.allclose(mean.sum(axis=1), 1.0, atol=1e-6))
    ((3, 10), (2, 3, 10), True)
    """
    each = np.stack([model.predict(x, batch_size=batch_size) for model in models])
    return each.mean(axis=0), each


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python examples/ensemble.py",
                                     description=__doc__.split("\n\n")[1])  # fmt: skip
    parser.add_argument("models", nargs="*",
                        help=f"model files (default: runs/modern*/mnist.h5, the first "
                             f"{MAX_MODELS} by name)")  # fmt: skip
    parser.add_argument("--out", default="runs/ensemble", help="folder for ensemble.json")
    parser.add_argument("--data-dir", default=None,
                        help="where the dataset's files are (default: $CONVNET_DATA_DIR, "
                             "then the user cache)")  # fmt: skip
    args = parser.parse_args(argv)
    paths = [Path(p) for p in args.models] or sorted(Path("runs").glob("modern*/mnist.h5"))
    if not paths:
        parser.error("no models given and none in runs/modern*/: train some with "
                     "`python examples/train_mnist.py --net modern --seed N`")  # fmt: skip
    if len(paths) > MAX_MODELS:
        print(f"Using the first {MAX_MODELS} of {len(paths)} models")
        paths = paths[:MAX_MODELS]
    models = [load_model(path) for path in paths]
    names = {tuple(model.class_names) for model in models}
    if len(names) != 1:
        parser.error(f"the models predict different classes: {sorted(names)}")
    split = load_split(dataset_of(models[0]), args.data_dir)
    mean, each = average_probabilities(models, split.x_test)
    accuracies = [float((p.argmax(axis=1) == split.y_test).mean()) for p in each]
    ensemble = float((mean.argmax(axis=1) == split.y_test).mean())
    width = max(len(str(p)) for p in paths)
    for path, acc in zip(paths, accuracies, strict=True):
        print(f"  {str(path):<{width}}  test accuracy {acc:.4f}")
    print(f"Ensemble of {len(models)}: test accuracy {ensemble:.4f} "
          f"(mean of the models {np.mean(accuracies):.4f}, best {max(accuracies):.4f})")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {"models": [str(p) for p in paths], "test_accuracies": accuracies,
               "ensemble_test_accuracy": ensemble, "test_errors": int(round((1 - ensemble)
                                                                         * len(split.y_test))),
               "machine": machine_description()}  # fmt: skip
    (out / "ensemble.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"Saved: {out / 'ensemble.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
