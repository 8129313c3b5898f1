"""Command line: ``python -m convnet train | evaluate | predict | gui``.

Not on the main reading path: it is where the path is put to use. ``train`` is the whole
MNIST recipe of the notebook this project descends from, written out step by step;
``examples/train_mnist.py`` runs it. Docs chapter: "Getting started".
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from convnet import __version__, callbacks, optimizers
from convnet.data import DATASETS
from convnet.nets import seed_net, small_net

__all__ = ["main"]


def peak_rss_mb() -> float:
    """The most memory this process has held so far, in MB (its peak resident set size).

    Examples
    --------
    >>> peak = peak_rss_mb()
    >>> 1 < peak < 1e6                                    # megabytes on every platform
    True
    >>> big = np.ones(50_000_000, np.uint8)               # 50 MB more, touched
    >>> peak_rss_mb() >= peak                             # a peak never goes down
    True
    """
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20  # Linux: KiB, macOS: bytes


def machine_description() -> str:
    """One line naming the CPU, core count, Python, NumPy and BLAS settings of this run.

    Examples
    --------
    >>> line = machine_description()
    >>> f"{os.cpu_count()} cores" in line and f"NumPy {np.__version__}" in line
    True
    """
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    blas = os.environ.get("OPENBLAS_CORETYPE")
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, NumPy "
            f"{np.__version__}" + (f", OPENBLAS_CORETYPE={blas}" if blas else ""))  # fmt: skip


#: The options of ``train`` that define a run, with their defaults. A resumed run keeps the
#: values stored in its checkpoint; only ``epochs`` (the total to reach) may change.
RUN_DEFAULTS = {"epochs": 12, "batch_size": 128, "lr": 1e-3, "optimizer": "adam", "seed": 0,
                "limit": None, "net": "seed", "shift": 1, "dataset": "mnist"}  # fmt: skip

#: What a checkpoint written before an option existed did: runs before ``--shift`` were not
#: shifted.
BEFORE_OPTION = {"shift": 0}

#: The networks ``train --net`` can build.
NETS = {"seed": seed_net, "small": small_net}


def run_settings(args, stored=None) -> dict:
    """The run's options: the command line's (or the defaults) for a new run; for a resumed
    run, those ``stored`` in the checkpoint, which an option given again must not contradict.

    Examples
    --------
    >>> from argparse import Namespace
    >>> given = Namespace(epochs=None, batch_size=64, lr=None, optimizer=None, seed=None,
    ...                   limit=None, net=None, shift=None, dataset=None)
    >>> run_settings(given)["batch_size"], run_settings(given)["lr"]
    (64, 0.001)
    >>> run_settings(given, stored={"batch_size": 64})["shift"]  # a run from before --shift
    0
    >>> run_settings(given, stored={"batch_size": 128})
    Traceback (most recent call last):
    ...
    ValueError: the checkpoint's run used --batch-size 128; resume without --batch-size 64, or start a new run in another --out folder
    """  # noqa: E501
    settings = {}
    for key, default in RUN_DEFAULTS.items():
        given = getattr(args, key)
        if stored is None:
            settings[key] = default if given is None else given
            continue
        recorded = stored.get(key, BEFORE_OPTION.get(key, default))
        option = "--" + key.replace("_", "-")
        if given is not None and given != recorded and key != "epochs":
            raise ValueError(f"the checkpoint's run used {option} {recorded}; resume without "
                             f"{option} {given}, or start a new run in another --out folder")
        settings[key] = recorded if given is None else given
    return settings


def shifts(max_shift: int):
    """The ``augment`` for ``fit`` that ``--shift`` asks for: None for 0, else random shifts
    of up to ``max_shift`` pixels (:func:`convnet.augment.random_shift`).

    Examples
    --------
    >>> shifts(0) is None, shifts(2).keywords
    (True, {'max_shift': 2})
    """
    from convnet.augment import random_shift

    if max_shift < 0:
        raise ValueError(f"--shift must be 0 (no shifts) or more, got {max_shift}")
    return functools.partial(random_shift, max_shift=max_shift) if max_shift else None


def train(args) -> int:
    from convnet import data, plots
    from convnet.io import load_checkpoint

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    checkpoint_path = out / "checkpoint.h5"  # rewritten after every epoch
    if args.resume and not checkpoint_path.exists():
        raise FileNotFoundError(f"no {checkpoint_path} to resume; run without --resume to start "
                                "training, or give the --out folder of the interrupted run")
    checkpoint = load_checkpoint(checkpoint_path) if args.resume else None
    settings = run_settings(args, checkpoint.settings if checkpoint else None)
    augment = shifts(settings["shift"])

    # 1. Data: the notebook's stratified 48,000 / 12,000 split; the test set waits until the end.
    dataset = data.get_dataset(settings["dataset"])
    split = data.load_split(dataset.name, args.data_dir)
    x_train, y_train = split.x_train, split.y_train
    if settings["limit"]:
        x_train, y_train = x_train[: settings["limit"]], y_train[: settings["limit"]]
    print(f"{dataset.title}: {len(x_train):,} training, {len(split.x_val):,} validation, "
          f"{len(split.x_test):,} test images")  # fmt: skip

    # 2. Model: a new one, or the interrupted one with its optimizer state and dropout
    #    generators, to continue after its last complete epoch.
    if checkpoint is None:
        if checkpoint_path.exists():
            print(f"Starting a new run: {checkpoint_path} of an earlier run will be replaced "
                  "(--resume continues it instead)")  # fmt: skip
        model = NETS[settings["net"]](seed=settings["seed"])
        model.compile(optimizer=optimizers.get(settings["optimizer"], learning_rate=settings["lr"]),
                      loss="sparse_categorical_crossentropy")  # fmt: skip
        model.class_names = dataset.class_names  # saved with it, for predict and the app
        initial_epoch, earlier = 0, {}
    else:
        model, initial_epoch, earlier = checkpoint.model, checkpoint.epoch, checkpoint.history
        print(f"Resuming {checkpoint_path} after epoch {initial_epoch} of {settings['epochs']}")
    model.summary()

    # 3. Training, with a checkpoint after every epoch.
    saver = callbacks.TrainingCheckpoint(checkpoint_path, history=earlier, settings=settings)
    history = model.fit(
        x_train, y_train, epochs=settings["epochs"], initial_epoch=initial_epoch,
        batch_size=settings["batch_size"], validation_data=(split.x_val, split.y_val),
        seed=settings["seed"], callbacks=[callbacks.TerminateOnNaN(), saver],
        verbose=args.verbose, augment=augment,
    )  # fmt: skip
    train_seconds = time.perf_counter() - started
    if model.stop_reason:
        print(f"Training stopped: {model.stop_reason}")
        if not np.isfinite(history.history["loss"][-1]):
            return 1
    history = saver.history  # the whole run's, earlier epochs included

    # 4. The one and only look at the test set.
    test_loss, test_acc = model.evaluate(split.x_test, split.y_test)
    print(f"Test loss: {test_loss:.4f}")
    print(f"Test accuracy: {test_acc:.4f}")

    # 5. Results: the model, the plots, and the numbers with the machine they came from.
    results = {
        "test_loss": test_loss, "test_accuracy": test_acc,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "train_seconds": round(train_seconds, 1),
        "epochs": len(history.get("loss", [])), "batch_size": settings["batch_size"],
        "optimizer": settings["optimizer"], "learning_rate": settings["lr"],
        "seed": settings["seed"], "net": settings["net"], "shift": settings["shift"],
        "dataset": dataset.name, "class_names": list(dataset.class_names),
        "train_images": len(x_train),
        "machine": machine_description(), "convnet_version": __version__,
        "peak_rss_mb": round(peak_rss_mb()),
    }  # fmt: skip
    if initial_epoch:
        results["resumed_after_epoch"] = initial_epoch  # the times are this session's only
    model_path = out / "mnist.h5"
    model.save(model_path, metadata={**results, "history": history,
                                     "split": "sklearn train_test_split(test_size=0.2, "
                                              "random_state=42, stratify=y)"})  # fmt: skip
    probabilities = model.predict(split.x_test)
    predicted = probabilities.argmax(axis=1)
    plots.plot_history(history, out / "curves.png")
    names = dataset.class_names
    plots.plot_confusion(split.y_test, predicted, out / "confusion.png", class_names=names)
    plots.plot_misclassified(split.x_test, split.y_test, predicted, out / "misclassified.png",
                             probabilities=probabilities, class_names=names)  # fmt: skip
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"Saved {model_path} and curves.png, confusion.png, misclassified.png, results.json "
          f"in {out}/")  # fmt: skip
    print(f"Wall time: {results['wall_seconds']:.0f} s on {results['machine']}")
    return 0


def evaluate(args) -> int:
    from convnet import data
    from convnet.io import load_model

    dataset = data.get_dataset(args.dataset)
    model = load_model(args.model)
    if model.class_names != list(dataset.class_names):
        print(f"warning: {args.model} names its classes {', '.join(model.class_names)}; "
              f"{dataset.title}'s are {', '.join(dataset.class_names)}. Was the model trained "
              "on another dataset? --dataset chooses the test set.", file=sys.stderr)  # fmt: skip
    (_, _), (x_test, y_test) = data.load_data(dataset.name, args.data_dir)
    loss, acc = model.evaluate(data.to_images(x_test), y_test.astype(np.int64))
    print(f"Test loss: {loss:.4f}")
    print(f"Test accuracy: {acc:.4f}")
    return 0


def predict(args) -> int:
    from convnet.io import load_model
    from convnet.preprocess import load_image, mnist_style

    model = load_model(args.model, compile=False)
    for path in args.images:
        x = mnist_style(load_image(path))[None, None]
        p = model.predict(x)[0]
        best = int(p.argmax())
        print(f"{path}: {model.class_names[best]} ({p[best]:.1%})")
    return 0


def gui(args) -> int:
    from convnet.gui import run

    return run(args.model, state_file=args.state_file)


def main(argv=None) -> int:
    """Run ``python -m convnet`` with the arguments ``argv`` (default: the command line's).

    Returns the exit status: 0 on success, 2 when a file is missing or an argument is wrong
    (the error is printed to stderr as one line that says what to do).

    Examples
    --------
    >>> main(["evaluate", "--model", "no-such-model.h5"])
    2
    """
    parser = argparse.ArgumentParser(prog="python -m convnet", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train the seed-net on MNIST and save mnist.h5")
    # Defaults in RUN_DEFAULTS: None here means "not given", so that --resume can tell.
    t.add_argument("--epochs", type=int, help="epochs to reach in all (default 12)")
    t.add_argument("--batch-size", type=int, help="default 128")
    t.add_argument("--lr", type=float, help="learning rate (default 0.001)")
    t.add_argument("--optimizer", choices=["adam", "sgd", "rmsprop", "adadelta"],
                   help="default adam")  # fmt: skip
    t.add_argument("--seed", type=int, help="seeds weights, dropout and shuffling (default 0)")
    t.add_argument("--net", choices=sorted(NETS),
                   help="seed: the notebook's CNN (default); small: a 6k-parameter CNN that "
                        "trains in seconds (small_net)")  # fmt: skip
    t.add_argument("--shift", type=int,
                   help="move each training image by up to this many pixels each way, afresh "
                        "every batch (default 1; 0 trains on the images as they are)")  # fmt: skip
    t.add_argument("--dataset", choices=sorted(DATASETS),
                   help="the dataset to train on (default mnist)")  # fmt: skip
    t.add_argument("--data-dir", default=None, help="folder with the dataset's four files")
    t.add_argument("--out", default=".", help="folder for mnist.h5, plots and results.json")
    t.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    t.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2])
    t.add_argument("--resume", action="store_true",
                   help="continue the interrupted run in --out from its checkpoint.h5")  # fmt: skip
    t.set_defaults(run=train)

    e = sub.add_parser("evaluate", help="evaluate a saved model on the MNIST test set")
    e.add_argument("--model", default="mnist.h5")
    e.add_argument("--dataset", default="mnist", choices=sorted(DATASETS),
                   help="whose test set to evaluate on (default mnist)")  # fmt: skip
    e.add_argument("--data-dir", default=None)
    e.set_defaults(run=evaluate)

    p = sub.add_parser("predict", help="name the digit in PNG files")
    p.add_argument("images", nargs="+")
    p.add_argument("--model", default="mnist.h5")
    p.set_defaults(run=predict)

    g = sub.add_parser("gui", help="a window to draw a digit in and see the model name it")
    g.add_argument("--model", default="mnist.h5", help="model file (default mnist.h5)")
    g.add_argument("--state-file", default=None,
                   help="write what the window shows as JSON after every change (for tests)",
                   )  # fmt: skip
    g.set_defaults(run=gui)

    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
