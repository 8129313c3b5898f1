"""Draw the pictures of the chapter "What the network sees" from a trained run.

    python docs/seeing_figures.py runs/seed [FOLDER]      # default FOLDER: docs/seeing

They need a trained network, which a docs build cannot afford to train, so they are drawn by
this script from a run of ``python examples/train_mnist.py`` (its ``mnist.h5`` and
``diagnostics.json``) and kept in the repository. Every number in them is computed by
convnet's own code (:mod:`convnet.inspect`, :mod:`convnet.diagnostics`,
:mod:`convnet.plots`) on the MNIST test set (``$CONVNET_DATA_DIR``):

- ``filters.png``: the first layer's filters before and after training;
- ``patches.png``: for 16 channels of the last convolution, the patches of 1,000 test
  images that each answers most;
- ``explain.png``: ``explain_figure`` of test image #0;
- ``mistake.png``: the same for the test image the network gets wrong most confidently;
- ``misclassified.png``: the 18 most confident mistakes;
- ``embedding.png``: the penultimate features of 2,000 test images, PCA and t-SNE;
- ``diagnostics.png``: the run's diagnostics, as recorded while it trained;
- ``diverging.png``: the diagnostics of the same network trained with Adam at a learning rate
  of 0.05, fifty times the default, for 150 batches: what an unhealthy run looks like.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from convnet import data, inspect, optimizers, plots
from convnet.cli import NETS
from convnet.diagnostics import Diagnostics, diagnostics_figure
from convnet.io import load_model
from convnet.nets import seed_net

DOCS = Path(__file__).resolve().parent
EMBEDDED = 2000


def unhealthy_run(split, learning_rate=0.05, batches=150, seed=0):
    """The seed-net trained with Adam at ``learning_rate``: its :class:`Diagnostics`."""
    model = seed_net(seed=seed)
    model.compile(optimizer=optimizers.get("adam", learning_rate=learning_rate),
                  loss="sparse_categorical_crossentropy")  # fmt: skip
    watch = Diagnostics(split.x_val[:256], every=10, verbose=0)
    n = 128 * batches
    model.fit(split.x_train[:n], split.y_train[:n], epochs=1, batch_size=128, seed=seed,
              callbacks=[watch], verbose=0)  # fmt: skip
    return watch


def main(run, folder=DOCS / "seeing", *, unhealthy_batches=150, embedded=EMBEDDED) -> list[Path]:
    run, folder = Path(run), Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = load_model(run / "mnist.h5")
    settings = json.loads((run / "results.json").read_text())
    split = data.load_split(settings["dataset"])
    x_test, y_test = split.x_test, split.y_test

    figures = {}
    initial = NETS[settings["net"]](seed=settings["seed"])  # the same seed, the same start
    before = inspect.first_conv_layer(initial).params["kernel"]
    figures["filters.png"] = inspect.filters_figure(model, before=before)
    figures["patches.png"] = inspect.patches_figure(model, inspect.last_conv_layer(model),
                                                    x_test[:1000], top=8, channels=16)
    figures["explain.png"] = inspect.explain_figure(model, x_test[0])
    figures["explain.png"].suptitle("test image #0", fontsize=11)

    probabilities = model.predict(x_test)
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != y_test)
    worst = int(wrong[np.argmax(probabilities[wrong, predicted[wrong]])])
    figures["mistake.png"] = inspect.explain_figure(model, x_test[worst])
    figures["mistake.png"].suptitle(f"test image #{worst}, labelled {y_test[worst]}",
                                    fontsize=11)  # fmt: skip
    figures["misclassified.png"] = plots.misclassified_figure(
        x_test, y_test, predicted, probabilities, n=18, class_names=model.class_names)
    figures["embedding.png"] = inspect.embedding_figure(
        model, x_test[:embedded], y_test[:embedded], ["pca", "tsne"])
    state = json.loads((run / "diagnostics.json").read_text())
    figures["diagnostics.png"] = diagnostics_figure(state)
    diverging = unhealthy_run(split, batches=unhealthy_batches, seed=settings["seed"])
    figures["diverging.png"] = diagnostics_figure(diverging)

    written = []
    for name, fig in figures.items():
        fig.savefig(folder / name, dpi=90)
        written.append(folder / name)
    print("\n".join(diverging.warnings))
    return written


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__.splitlines()[2].strip())
    for path in main(*sys.argv[1:]):
        print(path)
