"""Command line: ``python -m convnet train | evaluate | predict | explain | gui`` (or
``convnet ...``).

Not on the main reading path: it is where the path is put to use. ``train`` is the whole
MNIST recipe of the notebook this project descends from, written out step by step;
``examples/train_mnist.py`` runs it. Docs chapter: "Getting started".

Where the files go: ``train`` writes each run into a folder of its own, ``runs/<name>/``
(:func:`run_name`), unless ``--out`` names one; ``evaluate``, ``predict``, ``explain`` and
``gui`` use the newest model trained there (:func:`newest_model`) unless ``--model`` names
one.
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

from convnet import __version__, callbacks, losses, optimizers
from convnet.data import DATASETS
from convnet.jit import cpu_name
from convnet.nets import modern_net, seed_net, small_net

__all__ = ["main", "build_parser", "run_name", "newest_model"]


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
    blas = os.environ.get("OPENBLAS_CORETYPE")
    return (f"{cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}, NumPy "
            f"{np.__version__}" + (f", OPENBLAS_CORETYPE={blas}" if blas else ""))  # fmt: skip


#: The options of ``train`` that define a run, with their defaults. A resumed run keeps the
#: values stored in its checkpoint; only ``epochs`` (the total to reach) may change.
RUN_DEFAULTS = {"epochs": 12, "batch_size": 128, "lr": 1e-3, "optimizer": "adam", "seed": 0,
                "limit": None, "net": "seed", "shift": 1, "rotate": 0, "zoom": 0,
                "schedule": "constant", "dataset": "mnist"}  # fmt: skip

#: What a checkpoint written before an option existed did: runs before ``--shift`` were not
#: shifted, runs before ``--rotate`` and ``--zoom`` not turned or zoomed, runs before
#: ``--schedule`` kept their learning rate.
BEFORE_OPTION = {"shift": 0, "rotate": 0, "zoom": 0, "schedule": "constant"}

#: The networks ``train --net`` can build.
NETS = {"seed": seed_net, "small": small_net, "modern": modern_net}

#: Where a network's recipe differs from :data:`RUN_DEFAULTS`. The modern net's was chosen on
#: the validation split: AdamW with a one-cycle schedule peaking at ``lr``, and every
#: training image turned, zoomed and moved a little (docs: "A recipe for 99.65%").
RECIPES = {
    "modern": {"epochs": 18, "optimizer": "adamw", "lr": 3e-3, "schedule": "onecycle",
               "shift": 2, "rotate": 10, "zoom": 0.1},
}  # fmt: skip

#: AdamW decays every parameter but these: biases and batch normalization's scale and shift
#: set offsets and scales, which a pull towards 0 would only distort.
NO_DECAY = ["bias", "gamma", "beta"]


def recipe(net=None) -> dict:
    """The defaults of a run of ``net`` (``--net``; None for the default network).

    Examples
    --------
    >>> recipe()["optimizer"], recipe("modern")["optimizer"], recipe("modern")["batch_size"]
    ('adam', 'adamw', 128)
    """
    net = net or RUN_DEFAULTS["net"]
    return {**RUN_DEFAULTS, "net": net, **RECIPES.get(net, {})}


def make_optimizer(name: str, lr: float):
    """The optimizer ``--optimizer`` names, at learning rate ``lr``; AdamW decays every weight
    but those of :data:`NO_DECAY`.

    Examples
    --------
    >>> make_optimizer("adamw", 3e-3).exclude_from_weight_decay
    ('bias', 'gamma', 'beta')
    """
    extra = {"exclude_from_weight_decay": NO_DECAY} if name == "adamw" else {}
    return optimizers.get(name, learning_rate=lr, **extra)


#: ``--schedule``: the callbacks that set the learning rate, given the run's ``lr`` and its
#: number of training steps: constant, PyTorch's one-cycle curve peaking at ``lr`` (from
#: lr/25 up in the first 30% of the steps, then down to lr/25e4), or a cosine from ``lr`` to
#: 0 after a linear warm-up over the first twentieth of the steps.
SCHEDULES = {
    "constant": lambda lr, steps: [],
    "onecycle": lambda lr, steps: [callbacks.OneCycle(max_lr=lr)],
    "cosine": lambda lr, steps: [callbacks.CosineDecay(lr, warmup_steps=max(1, steps // 20))],
}


def run_settings(args, stored=None) -> dict:
    """The run's options: the command line's (or the defaults) for a new run; for a resumed
    run, those ``stored`` in the checkpoint, which an option given again must not contradict.

    Examples
    --------
    >>> from argparse import Namespace
    >>> given = Namespace(epochs=None, batch_size=64, lr=None, optimizer=None, seed=None,
    ...                   limit=None, net=None, shift=None, rotate=None, zoom=None,
    ...                   schedule=None, dataset=None)
    >>> run_settings(given)["batch_size"], run_settings(given)["lr"]
    (64, 0.001)
    >>> run_settings(Namespace(**{**vars(given), "net": "modern"}))["schedule"]
    'onecycle'
    >>> run_settings(given, stored={"batch_size": 64})["shift"]  # a run from before --shift
    0
    >>> run_settings(given, stored={"batch_size": 128})
    Traceback (most recent call last):
    ...
    ValueError: the checkpoint's run used --batch-size 128; resume without --batch-size 64, or start a new run in another --out folder
    >>> run_settings(Namespace(**{**vars(given), "batch_size": None, "epochs": 15}),
    ...              stored={"net": "modern", "epochs": 12, "schedule": "onecycle"})
    Traceback (most recent call last):
    ...
    ValueError: the checkpoint's run follows its --schedule over 12 epochs; resume it without --epochs 15
    """  # noqa: E501
    settings = {}
    net = (stored or {}).get("net") or args.net
    for key, default in recipe(net).items():
        given = getattr(args, key)
        if stored is None:
            settings[key] = default if given is None else given
            continue
        recorded = stored.get(key, BEFORE_OPTION.get(key, default))
        option = "--" + key.replace("_", "-")
        scheduled = stored.get("schedule", BEFORE_OPTION["schedule"]) != "constant"
        if key == "epochs" and scheduled and given is not None and given != recorded:
            # A schedule's curve is laid over the whole run: another length would bend it.
            raise ValueError(f"the checkpoint's run follows its --schedule over {recorded} "
                             f"epochs; resume it without --epochs {given}")  # fmt: skip
        if given is not None and given != recorded and key != "epochs":
            raise ValueError(f"the checkpoint's run used {option} {recorded}; resume without "
                             f"{option} {given}, or start a new run in another --out folder")
        settings[key] = recorded if given is None else given
    return settings


#: The folder that holds one folder per run, in the current folder.
RUNS = Path("runs")

#: How each option of ``train`` appears in the name of its run's folder when it is given
#: with a value other than its default: its word, then the value. The network always
#: leads the name; ``--epochs`` is not in it, since a resumed run raises it. A new option
#: that changes what is trained belongs here, so that its runs get folders of their own.
NAME_WORDS = {"dataset": "", "optimizer": "", "lr": "lr", "batch_size": "batch", "seed": "seed",
              "shift": "shift", "rotate": "rotate", "zoom": "zoom", "schedule": "",
              "limit": "limit"}  # fmt: skip

#: The validation accuracy whose first epoch, and seconds since training began, ``train``
#: reports in ``results.json`` (``epoch_to_val_accuracy_0.995``, ``seconds_to_...``; no
#: seconds for a resumed run, whose clock began at the resume).
LEVEL = 0.995

#: What a run writes into its folder, in the order the end of ``train`` lists them.
RUN_FILES = {
    "mnist.h5": "the trained model",
    "checkpoint.h5": "the last epoch, for --resume",
    "results.json": "test loss and accuracy, times, settings, machine",
    "curves.png": "loss and accuracy per epoch",
    "time_to_accuracy.png": "test and validation accuracy against wall-clock seconds",
    "confusion.png": "the test confusion matrix",
    "misclassified.png": "test images the model got wrong, most confident first",
    "filters.png": "the first layer's filters, before and after training",
    "embedding.png": "test images' penultimate features in 2-D (PCA, t-SNE)",
    "diagnostics.png": "per-layer activations, gradients and update/weight ratios",
    "diagnostics.json": "the numbers of diagnostics.png, and its warnings",
}

#: The test images whose features ``embedding.png`` shows, and the validation images on which
#: the diagnostics measure activations.
EMBEDDED, PROBE = 1000, 256


def run_name(args) -> str:
    """The name of the folder under ``runs/`` of a run with the options ``args``.

    The network, then every option of :data:`NAME_WORDS` given with a value other than its
    default. Different settings never share a folder, and the same options given again
    (``--resume``) find the same one.

    Examples
    --------
    >>> from argparse import Namespace
    >>> given = Namespace(epochs=3, batch_size=None, lr=None, optimizer=None, seed=None,
    ...                   limit=None, net=None, shift=None, rotate=None, zoom=None,
    ...                   schedule=None, dataset=None)
    >>> run_name(given)
    'seed'
    >>> run_name(Namespace(**{**vars(given), "net": "small", "seed": 1, "limit": 5000}))
    'small-seed1-limit5000'
    >>> run_name(Namespace(**{**vars(given), "optimizer": "sgd", "lr": 0.01, "shift": 1}))
    'seed-sgd-lr0.01'
    >>> run_name(Namespace(**{**vars(given), "dataset": "fashion_mnist"}))
    'seed-fashion_mnist'
    >>> run_name(Namespace(**{**vars(given), "rotate": 10, "zoom": 0.1, "shift": 1.5}))
    'seed-shift1.5-rotate10-zoom0.1'
    >>> run_name(Namespace(**{**vars(given), "net": "modern", "seed": 2, "zoom": 0.1}))
    'modern-seed2'
    """
    defaults = recipe(args.net)
    parts = [defaults["net"]]
    for key, word in NAME_WORDS.items():
        given = getattr(args, key)
        if given is not None and given != defaults[key]:
            parts.append(f"{word}{given}")
    return "-".join(parts)


def newest_model(folder=".") -> Path | None:
    """The model ``evaluate``, ``predict`` and ``gui`` use when no ``--model`` is given.

    The ``mnist.h5`` of ``folder/runs/*/`` modified last, else ``folder/mnist.h5`` (where
    runs went before they had folders of their own); None if there is neither.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> newest_model(folder) is None
    True
    >>> for name in ("seed", "small"):
    ...     (folder / "runs" / name).mkdir(parents=True)
    ...     (folder / "runs" / name / "mnist.h5").touch()
    >>> os.utime(folder / "runs" / "seed" / "mnist.h5", (0, 0))     # trained long ago
    >>> newest_model(folder).relative_to(folder).as_posix()
    'runs/small/mnist.h5'
    """
    trained = list(Path(folder).glob(f"{RUNS}/*/mnist.h5"))
    if trained:
        return max(trained, key=lambda path: path.stat().st_mtime)
    loose = Path(folder) / "mnist.h5"
    return loose if loose.exists() else None


def model_to_use(args, *, required: bool = True) -> Path:
    """``--model`` if given, else the newest trained model, said on stderr; if there is none,
    a FileNotFoundError that says how to train one (or, not ``required``, that message on
    stderr and ``mnist.h5``, for the app to show its own)."""
    if args.model is not None:
        return Path(args.model)
    found = newest_model()
    if found is not None:
        print(f"Model: {found} (the newest trained; --model picks another)", file=sys.stderr)
        return found
    message = (f"no trained model in {Path.cwd()} (no {RUNS}/*/mnist.h5, no mnist.h5); train "
               "one with `python -m convnet train` (`--net small --epochs 3` takes seconds) "
               "or give --model FILE")  # fmt: skip
    if required:
        raise FileNotFoundError(message)
    print(f"note: {message}", file=sys.stderr)
    return Path("mnist.h5")


def number(text: str) -> int | float:
    """A number given on the command line, kept whole if it is: ``2`` (or ``2.0``) is the
    int 2, so that run names and results say ``shift2`` as they did when ``--shift`` took
    whole numbers only.

    Examples
    --------
    >>> number("2"), number("2.0"), number("1.5")
    (2, 2, 1.5)
    """
    value = float(text)
    return int(value) if value.is_integer() else value


def augmenter(shift=1, rotate=0, zoom=0):
    """The ``augment`` for ``fit`` that ``--shift``, ``--rotate`` and ``--zoom`` ask for.

    - all 0: None, the images as they are;
    - a whole number of pixels, no turns, no zoom: random shifts by whole pixels of up to
      ``shift`` (:func:`convnet.augment.random_shift`), exact copies, as before ``--rotate``
      and ``--zoom`` existed;
    - anything else: turns of up to ``rotate`` degrees, zooms of up to ``zoom``, moves of up
      to ``shift`` pixels by any distance, resampled bilinearly
      (:class:`convnet.augment.RandomAffine`).

    Examples
    --------
    >>> augmenter(0) is None, augmenter(2).keywords
    (True, {'max_shift': 2})
    >>> augmenter(2, rotate=10, zoom=0.1)
    RandomAffine(rotation=10.0, zoom=0.1, shift=2.0)
    >>> augmenter(1.5)
    RandomAffine(rotation=0.0, zoom=0.0, shift=1.5)
    """
    from convnet.augment import RandomAffine, random_shift

    if not 0 <= shift <= 27:  # the datasets' images are 28x28
        raise ValueError(f"--shift must be from 0 (no shifts) to 27 pixels, got {shift}")
    if not 0 <= rotate <= 180:
        raise ValueError(f"--rotate must be from 0 (no turns) to 180 degrees, got {rotate}")
    if not 0 <= zoom < 1:  # a zoom of 1 could draw a scale of 0
        raise ValueError(f"--zoom must be from 0 (no zoom) to below 1, got {zoom}")
    if rotate == zoom == 0 and float(shift).is_integer():
        return functools.partial(random_shift, max_shift=int(shift)) if shift else None
    return RandomAffine(rotation=rotate, zoom=zoom, shift=shift)


def check_run_options(args) -> None:
    """Refuse, before anything is loaded or made, run options that cannot train: a ValueError
    naming the option.

    Examples
    --------
    >>> from argparse import Namespace
    >>> check_run_options(Namespace(epochs=0, batch_size=None, limit=None, lr=None, shift=None,
    ...                             rotate=None, zoom=None, net=None))
    Traceback (most recent call last):
    ...
    ValueError: --epochs must be 1 or more, got 0
    """
    for option, least in (("epochs", 1), ("batch_size", 1), ("limit", 1)):
        given = getattr(args, option)
        if given is not None and given < least:
            raise ValueError(f"--{option.replace('_', '-')} must be {least} or more, got {given}")
    if args.lr is not None and not args.lr > 0:
        raise ValueError(f"--lr must be more than 0, got {args.lr}")
    augmenting = {key: getattr(args, key) for key in ("shift", "rotate", "zoom")}
    if any(given is not None for given in augmenting.values()):
        defaults = recipe(args.net)
        augmenter(**{key: defaults[key] if given is None else given
                     for key, given in augmenting.items()})  # fmt: skip


def train(args) -> int:
    from convnet import data
    from convnet.diagnostics import Diagnostics
    from convnet.io import load_checkpoint

    check_run_options(args)
    out = Path(args.out) if args.out is not None else RUNS / run_name(args)
    started = time.perf_counter()
    checkpoint_path = out / "checkpoint.h5"  # rewritten after every epoch
    if args.resume and not checkpoint_path.exists():
        raise FileNotFoundError(f"no {checkpoint_path} to resume; run without --resume to start "
                                "training, or give the options (or the --out folder) of the "
                                "interrupted run")  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = load_checkpoint(checkpoint_path) if args.resume else None
    settings = run_settings(args, checkpoint.settings if checkpoint else None)
    augment = augmenter(settings["shift"], settings["rotate"], settings["zoom"])

    # 1. Data: the notebook's stratified 48,000 / 12,000 split; the test set chooses nothing.
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
        model.compile(optimizer=make_optimizer(settings["optimizer"], settings["lr"]),
                      loss="sparse_categorical_crossentropy")  # fmt: skip
        model.class_names = dataset.class_names  # saved with it, for predict and the app
        initial_epoch, earlier = 0, {}
    else:
        model, initial_epoch, earlier = checkpoint.model, checkpoint.epoch, checkpoint.history
        print(f"Resuming {checkpoint_path} after epoch {initial_epoch} of {settings['epochs']}")
    model.summary()

    # 3. Training, with a checkpoint after every epoch, and six looks per epoch inside it.
    saver = callbacks.TrainingCheckpoint(checkpoint_path, history=earlier, settings=settings)
    per_epoch = -(-len(x_train) // settings["batch_size"])
    watch = Diagnostics(split.x_val[:PROBE], every=-(-per_epoch // 6))
    clock = callbacks.AccuracyClock(split.x_test, split.y_test)  # reported, never used to choose
    schedule = SCHEDULES[settings["schedule"]](settings["lr"], per_epoch * settings["epochs"])
    try:
        history = model.fit(
            x_train, y_train, epochs=settings["epochs"], initial_epoch=initial_epoch,
            batch_size=settings["batch_size"], validation_data=(split.x_val, split.y_val),
            seed=settings["seed"], verbose=args.verbose, augment=augment,
            callbacks=[callbacks.TerminateOnNaN(), *schedule, saver, watch, clock],
        )  # fmt: skip
    except KeyboardInterrupt:  # Ctrl-C: the checkpoint of the last whole epoch is on disk
        done = len(saver.history.get("loss", []))
        print(f"\nInterrupted after {done} complete epoch(s) of {settings['epochs']}; "
              f"{checkpoint_path} holds the last. To continue, run the same command with "
              "--resume.", file=sys.stderr)  # fmt: skip
        return 130
    train_seconds = time.perf_counter() - started
    if model.stop_reason:
        print(f"Training stopped: {model.stop_reason}")
        if not np.isfinite(history.history["loss"][-1]):
            return 1
    history = saver.history  # the whole run's, earlier epochs included

    # 4. The test set's score. (The AccuracyClock looked at it after every epoch too, to draw
    #    accuracy against time; nothing was chosen by it.)
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
        "rotate": settings["rotate"], "zoom": settings["zoom"], "schedule": settings["schedule"],
        f"epoch_to_val_accuracy_{LEVEL}": first_epoch_reaching(history, "val_accuracy", LEVEL),
        # after a resume, this session's clock began at the resume, not when training began
        f"seconds_to_val_accuracy_{LEVEL}": (None if initial_epoch
                                              else clock.seconds_to("val_accuracy", LEVEL)),
        "accuracy_against_seconds": clock.curve,
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
    if args.figures:
        draw_run_figures(out, model, split, history, clock, watch, settings, dataset.class_names)
    (out / "diagnostics.json").write_text(json.dumps(watch.state()) + "\n")
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print("Saved:")
    saved = {name: what for name, what in RUN_FILES.items()
             if args.figures or not name.endswith(".png")}  # fmt: skip
    width = max(len(str(out / name)) for name in saved)
    for name, what in saved.items():
        print(f"  {str(out / name):<{width}}  {what}")
    print(f"Wall time: {results['wall_seconds']:.0f} s on {results['machine']}")
    return 0


def first_epoch_reaching(history: dict, key: str, level: float) -> int | None:
    """The first epoch (from 1) whose ``history[key]`` reached ``level``; None if none did.

    >>> first_epoch_reaching({"val_accuracy": [0.98, 0.996, 0.995]}, "val_accuracy", 0.995)
    2
    """
    return next((epoch for epoch, value in enumerate(history.get(key, []), 1)
                 if value is not None and value >= level), None)  # fmt: skip


def draw_run_figures(out, model, split, history, clock, watch, settings, names) -> None:
    """The run's pictures in ``out``: the ``.png`` files of :data:`RUN_FILES`."""
    from convnet import inspect, plots

    probabilities = model.predict(split.x_test)
    predicted = probabilities.argmax(axis=1)
    plots.plot_history(history, out / "curves.png")
    plots.plot_time_to_accuracy(clock.curve, out / "time_to_accuracy.png")
    plots.plot_confusion(split.y_test, predicted, out / "confusion.png", class_names=names)
    plots.plot_misclassified(split.x_test, split.y_test, predicted, out / "misclassified.png",
                             probabilities=probabilities, class_names=names)  # fmt: skip
    # The same seed builds the same initial weights: the "before" of a resumed run too.
    initial = NETS[settings["net"]](seed=settings["seed"])
    inspect.filters_figure(model, before=inspect.first_conv_layer(initial).params["kernel"]
                           ).savefig(out / "filters.png", dpi=100)  # fmt: skip
    inspect.embedding_figure(model, split.x_test[:EMBEDDED], split.y_test[:EMBEDDED],
                             ["pca", "tsne"]).savefig(out / "embedding.png", dpi=100)
    watch.figure().savefig(out / "diagnostics.png", dpi=100)


def dataset_of(model) -> str:
    """The name of the dataset ``model`` was trained on: the one ``train`` recorded in its
    file, else the registered dataset with the model's class names, else MNIST.

    Examples
    --------
    >>> from convnet.nets import small_net
    >>> model = small_net(seed=0)
    >>> dataset_of(model)
    'mnist'
    >>> model.class_names = DATASETS["fashion_mnist"].class_names
    >>> dataset_of(model)
    'fashion_mnist'
    """
    recorded = model.metadata.get("dataset")
    if recorded in DATASETS:
        return recorded
    named = [name for name, d in DATASETS.items() if list(d.class_names) == model.class_names]
    return named[0] if named else "mnist"


def evaluate(args) -> int:
    from convnet import data
    from convnet.io import load_model

    model_path = model_to_use(args)
    # Without its optimizer: a model saved without one, or written by Keras with a loss for
    # one-hot labels, is scored all the same, on integer labels.
    model = load_model(model_path, compile=False)
    model.compile(loss=losses.SparseCategoricalCrossentropy(
        from_logits=model.layers[-1].activation != "softmax"))  # fmt: skip
    dataset = data.get_dataset(args.dataset or dataset_of(model))
    print(f"{dataset.title} test set, {model_path}", file=sys.stderr)
    if model.class_names != list(dataset.class_names):
        print(f"warning: {model_path} names its classes {', '.join(model.class_names)}; "
              f"{dataset.title}'s are {', '.join(dataset.class_names)}. Was the model trained "
              "on another dataset? --dataset chooses the test set.", file=sys.stderr)  # fmt: skip
    (_, _), (x_test, y_test) = data.load_data(dataset.name, args.data_dir)
    loss, acc, *_ = model.evaluate(data.to_images(x_test), y_test.astype(np.int64))
    print(f"Test loss: {loss:.4f}")
    print(f"Test accuracy: {acc:.4f}")
    return 0


def predict(args) -> int:
    from convnet.io import load_model
    from convnet.preprocess import load_image, mnist_style

    model = load_model(model_to_use(args), compile=False)
    failed = 0
    for path in args.images:
        # One file that cannot be read, or holds no digit, costs its own answer only.
        try:
            x = mnist_style(load_image(path))[None, None]
        except (OSError, ValueError) as err:
            # OSError: no such file, a folder; ValueError: not an image, or no ink in it.
            reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            named = reason if reason.startswith(f"{path}: ") else f"{path}: {reason}"
            print(f"error: {named}", file=sys.stderr)
            failed += 1
            continue
        p = model.predict(x)[0]
        best = int(p.argmax())
        print(f"{path}: {model.class_names[best]} ({p[best]:.1%})")
    return 1 if failed else 0


def explain(args) -> int:
    from convnet import data, inspect
    from convnet.io import load_model
    from convnet.preprocess import load_image, mnist_style

    if (args.image is None) == (args.test_index is None):
        raise ValueError("give an IMAGE file or --test-index N (one of them)")
    model_path = model_to_use(args)
    model = load_model(model_path, compile=False)
    if args.image is not None:
        image, what = mnist_style(load_image(args.image))[None], args.image
    else:
        dataset = data.get_dataset(dataset_of(model))
        (_, _), (x_test, y_test) = data.load_data(dataset.name, args.data_dir)
        if not 0 <= args.test_index < len(x_test):
            raise ValueError(f"--test-index must be from 0 to {len(x_test) - 1}, "
                             f"got {args.test_index}")  # fmt: skip
        image = data.to_images(x_test[args.test_index : args.test_index + 1])[0]
        label = model.class_names[int(y_test[args.test_index])]
        what = f"{dataset.title} test image #{args.test_index} (labelled {label!r})"
    if args.class_name is not None and args.class_name not in model.class_names:
        raise ValueError(f"--class must be one of the model's classes "
                         f"{', '.join(model.class_names)}; got {args.class_name!r}")  # fmt: skip
    wanted = None if args.class_name is None else model.class_names.index(args.class_name)
    fig = inspect.explain_figure(model, image, wanted)
    fig.suptitle(f"{what}, explained by {model_path}", fontsize=11)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    shown = fig.explained
    p, best = shown["probabilities"], int(shown["probabilities"].argmax())
    print(f"{what}: {model.class_names[best]} ({p[best]:.1%}); saliency and Grad-CAM for "
          f"{model.class_names[shown['class_index']]!r}; saved {out}")  # fmt: skip
    return 0


def gui(args) -> int:
    from convnet.gui import run

    return run(model_to_use(args, required=False), state_file=args.state_file)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` with every option's default. The options of ``train`` that define a run
    default to None in the parser, so that ``--resume`` can tell which were given: their
    help shows the real default, from :data:`RUN_DEFAULTS`. An option whose default takes
    words to say says it in its own help, "(default: ...)"."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "(default" in text:
            return text
        if action.default is None and action.dest in RUN_DEFAULTS:
            return f"{text} (default: {RUN_DEFAULTS[action.dest]})"
        return super()._get_help_string(action)


def build_parser(prog=None, *, command=None) -> argparse.ArgumentParser:
    """The parser of ``main``; ``prog`` names the program in usage messages (default: the
    name it was started by). With ``command``, the parser of that one command alone, for a
    script that forwards to it: its usage names ``prog`` alone
    (``python examples/train_mnist.py [-h] ...``).

    Examples
    --------
    >>> parser = build_parser("convnet")
    >>> args = parser.parse_args(["train", "--epochs", "3"])
    >>> args.epochs, args.lr, args.out                    # not given: None, see RUN_DEFAULTS
    (3, None, None)
    >>> parser.parse_args(["predict", "7.png"]).model is None   # the newest trained model
    True
    """
    parser = argparse.ArgumentParser(
        prog=prog, formatter_class=HelpFormatter,
        description="Train a CNN written in NumPy and Numba on MNIST, test it, and name the "
                    "digits in pictures.")  # fmt: skip
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def command_parser(name, **kwargs):
        own_prog = prog if name == command and prog else None  # None: "<prog> <name>"
        return sub.add_parser(name, prog=own_prog, formatter_class=HelpFormatter, **kwargs)

    model_help = ("model file (default: the newest runs/*/mnist.h5 under the current folder, "
                  "else ./mnist.h5)")  # fmt: skip
    data_help = ("folder with the dataset's four IDX files (default: the dataset's variable, "
                 "$CONVNET_DATA_DIR for MNIST, else ~/.cache/convnet/NAME, where they are "
                 "downloaded if missing)")  # fmt: skip

    t = command_parser("train", help="train a CNN on MNIST (or --dataset) and save mnist.h5",
                       description="Train a CNN on MNIST (or another dataset) and save it, its "
                                   "plots and its results in a folder of its own.")  # fmt: skip
    # Defaults in RUN_DEFAULTS: None here means "not given", so that --resume can tell.
    t.add_argument("--epochs", type=int, help="epochs to reach in all")
    t.add_argument("--batch-size", type=int, help="images per training step")
    t.add_argument("--lr", type=float, help="learning rate")
    t.add_argument("--optimizer", choices=["adam", "adamw", "sgd", "rmsprop", "adadelta"],
                   help="update rule (adamw: Keras's default weight decay, 0.004)")  # fmt: skip
    t.add_argument("--seed", type=int, help="seeds weights, dropout and shuffling")
    t.add_argument("--net", choices=sorted(NETS),
                   help="seed: the notebook's CNN; small: a 6k-parameter CNN that trains in "
                        "seconds (small_net); modern: a residual network with batch "
                        "normalization, trained by its own recipe: "
                        + " ".join(f"--{key.replace('_', '-')} {value}"
                                   for key, value in RECIPES["modern"].items())
                        + " unless given")  # fmt: skip
    t.add_argument("--schedule", choices=sorted(SCHEDULES),
                   help="the learning rate over the run: constant at --lr; onecycle, up from "
                        "lr/25 to --lr and down to nearly 0; cosine, down from --lr to 0 "
                        "after a short warm-up")  # fmt: skip
    t.add_argument("--shift", type=number, metavar="PIXELS",
                   help="move each training image by up to this many pixels each way, afresh "
                        "every batch: by whole pixels if a whole number is given without "
                        "--rotate or --zoom, else by any distance, resampled bilinearly (0 "
                        "with neither trains on the images as they are)")  # fmt: skip
    t.add_argument("--rotate", type=number, metavar="DEGREES",
                   help="also turn each training image by up to this many degrees either way, "
                        "about its centre, afresh every batch (keep it small, about 10: turned "
                        "far enough, a 6 is a 9)")  # fmt: skip
    t.add_argument("--zoom", type=number, metavar="FRACTION",
                   help="also scale each training image by up to this fraction either way, "
                        "about its centre, afresh every batch (0.1: from 90%% to 110%% of "
                        "its size)")  # fmt: skip
    t.add_argument("--dataset", choices=sorted(DATASETS), help="the dataset to train on")
    t.add_argument("--data-dir", default=None, help=data_help)
    t.add_argument("--out", default=None,
                   help="folder for mnist.h5, checkpoint.h5, plots and results.json (default: "
                        "runs/NAME, NAME made of --net and the other options given, e.g. "
                        "runs/seed or runs/small-seed1)")  # fmt: skip
    t.add_argument("--limit", type=int, default=None,
                   help="train on the first N images only (default: all)")  # fmt: skip
    t.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2],
                   help="0: quiet; 1: a progress bar per epoch on a terminal; 2: one line per "
                        "epoch")  # fmt: skip
    t.add_argument("--figures", action=argparse.BooleanOptionalAction, default=True,
                   help="draw the run's pictures (curves, confusion matrix, filters, ...) at "
                        "the end; --no-figures saves only the model, the checkpoint and the "
                        "numbers, some seconds sooner")  # fmt: skip
    t.add_argument("--resume", action="store_true",
                   help="continue the interrupted run with these options (or in --out) from "
                        "its checkpoint.h5")  # fmt: skip
    t.set_defaults(run=train)

    e = command_parser("evaluate", help="evaluate a saved model on a dataset's test set",
                       description="Evaluate a saved model on the 10,000 test images of MNIST "
                                   "or another dataset.")  # fmt: skip
    e.add_argument("--model", default=None, help=model_help)
    e.add_argument("--dataset", default=None, choices=sorted(DATASETS),
                   help="whose test set to evaluate on (default: the one the model was trained "
                        "on, as its file records)")  # fmt: skip
    e.add_argument("--data-dir", default=None, help=data_help)
    e.set_defaults(run=evaluate)

    p = command_parser("predict", help="name the digit in image files",
                       description="Name the digit in each image file (PNG, JPEG, ...): one "
                                   "line per file; the exit status is 1 if any could not be "
                                   "read or holds no digit.")  # fmt: skip
    p.add_argument("images", nargs="+", help="image files, one digit each")
    p.add_argument("--model", default=None, help=model_help)
    p.set_defaults(run=predict)

    x = command_parser("explain", help="one prediction in a picture: probabilities, feature "
                                       "maps, saliency, Grad-CAM",
                       description="Draw what the model computes for one image: the image as "
                                   "it receives it, every class's probability, every "
                                   "convolution's feature maps, and the saliency and Grad-CAM "
                                   "maps of the predicted class (or --class) over the image.",
                       )  # fmt: skip
    x.add_argument("image", nargs="?", default=None,
                   help="an image file with one digit (or give --test-index)")  # fmt: skip
    x.add_argument("--test-index", type=int, default=None,
                   help="explain this image of the model's test set instead, e.g. a number "
                        "from misclassified.png (default: none)")  # fmt: skip
    x.add_argument("--class", dest="class_name", default=None,
                   help="explain this class (its name, e.g. 3) instead of the predicted one "
                        "(default: the predicted class)")  # fmt: skip
    x.add_argument("--model", default=None, help=model_help)
    x.add_argument("--data-dir", default=None, help=data_help)
    x.add_argument("--out", default="explain.png", help="the PNG to write")
    x.set_defaults(run=explain)

    g = command_parser("gui", help="a window to draw a digit in and see the model name it",
                       description="A window to draw a digit in and see the model name it.",
                       )  # fmt: skip
    g.add_argument("--model", default=None, help=model_help)
    g.add_argument("--state-file", default=None,
                   help="write what the window shows as JSON after every change, for tests "
                        "(default: none)")  # fmt: skip
    g.set_defaults(run=gui)
    commands = {"train": t, "evaluate": e, "predict": p, "explain": x, "gui": g}
    return commands[command] if command else parser


def main(argv=None, *, prog=None, command=None) -> int:
    """Run ``python -m convnet`` with the arguments ``argv`` (default: the command line's).

    ``prog`` names the program in usage messages (default: the name it was started by, as
    for the ``convnet`` command); a script that forwards to one command passes that
    ``command`` and its own options only (see :func:`build_parser`).

    Returns the exit status: 0 on success, 2 when a file is missing or an argument is wrong
    (the error is printed to stderr as one line that says what to do), 1 when training
    diverged or some of the pictures given to ``predict`` could not be read.

    Examples
    --------
    >>> main(["evaluate", "--model", "no-such-model.h5"])
    2
    """
    args = build_parser(prog, command=command).parse_args(argv)
    try:
        return args.run(args)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
