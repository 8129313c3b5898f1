"""Tests of the dataset registry (convnet.data.DATASETS): Fashion-MNIST beside MNIST, each in
its own cache folder, the messages for a wrong folder or a wrong dataset, and the reader of
any IDX dataset in a folder.

The tests on small fake files need nothing. Those on the real Fashion-MNIST files read the
folder of Debian's dataset-fashion-mnist package, or $CONVNET_FASHION_MNIST_DIR, and are
skipped when neither holds the files (CI installs the package); the few that compare the two
datasets also need MNIST ($CONVNET_DATA_DIR). Downloads go to an HTTP server on 127.0.0.1, as
in test_data.py; no test touches the network.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from fakedata import write_fake_mnist

from convnet import data
from convnet.data import (
    DATASETS,
    FASHION_MNIST,
    FILES,
    MNIST,
    TEST_LABELS,
    TRAIN_IMAGES,
    TRAIN_LABELS,
    ChecksumError,
    DataError,
    DatasetNotFoundError,
    dataset_cache_dir,
    find_data,
    get_dataset,
    load_data,
    load_idx_dataset,
    load_split,
)
from convnet.idx import payload_sha256, write_idx

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot"]  # fmt: skip


def _holds_the_files(folder):
    return bool(folder) and all(
        (Path(folder) / name).is_file() or (Path(folder) / name.removesuffix(".gz")).is_file()
        for name in FILES
    )


REAL_FASHION_DIR = os.environ.get("CONVNET_FASHION_MNIST_DIR") or FASHION_MNIST.system_dir
REAL_MNIST_DIR = os.environ.get("CONVNET_DATA_DIR")
needs_fashion = pytest.mark.skipif(
    not _holds_the_files(REAL_FASHION_DIR),
    reason="Fashion-MNIST not installed: `apt install dataset-fashion-mnist` (CI does), or set "
    "CONVNET_FASHION_MNIST_DIR to a folder with its four files",
)
needs_mnist = pytest.mark.skipif(
    not _holds_the_files(REAL_MNIST_DIR), reason="CONVNET_DATA_DIR is not set to MNIST's folder"
)
needs_both = pytest.mark.skipif(
    not (_holds_the_files(REAL_FASHION_DIR) and _holds_the_files(REAL_MNIST_DIR)),
    reason="needs both Fashion-MNIST (see above) and MNIST (CONVNET_DATA_DIR)",
)


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    """An empty download cache of our own, and neither dataset's environment variable."""
    monkeypatch.setenv("CONVNET_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CONVNET_DATA_DIR", raising=False)
    monkeypatch.delenv("CONVNET_FASHION_MNIST_DIR", raising=False)
    return tmp_path / "cache"


@pytest.fixture
def fake(tmp_path):
    """Two sets of four small fake files, under the same names: one MNIST-like, one
    Fashion-MNIST-like, each with its checksum table and .gz bytes."""
    sets = {}
    for name, seed in (("mnist", 1), ("fashion_mnist", 2)):
        folder = tmp_path / f"fake-{name}"
        checksums = write_fake_mnist(folder, n_train=30, n_test=10, seed=seed)
        blobs = {file: (folder / file).read_bytes() for file in FILES}
        sets[name] = SimpleNamespace(folder=folder, checksums=checksums, blobs=blobs)
    return SimpleNamespace(**sets)


@pytest.fixture
def registered(monkeypatch, fake):
    """The registry with the fake files' checksums in place of the real ones: what the real
    files would do, on files small enough to make and serve in a test."""
    mnist = dataclasses.replace(MNIST, sha256=fake.mnist.checksums, mirrors=())
    fashion = dataclasses.replace(FASHION_MNIST, sha256=fake.fashion_mnist.checksums,
                                  mirrors=(), system_dir=None)  # fmt: skip
    monkeypatch.setitem(DATASETS, "mnist", mnist)
    monkeypatch.setitem(DATASETS, "fashion_mnist", fashion)
    return SimpleNamespace(mnist=mnist, fashion_mnist=fashion)


# --------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------


def test_the_registry_knows_mnist_and_fashion_mnist():
    assert set(DATASETS) >= {"mnist", "fashion_mnist"}
    assert get_dataset("mnist") is MNIST and get_dataset(FASHION_MNIST) is FASHION_MNIST
    assert list(MNIST.class_names) == [str(d) for d in range(10)]
    assert list(FASHION_MNIST.class_names) == FASHION_CLASSES
    for dataset in DATASETS.values():
        assert set(dataset.sha256) == set(dataset.files) == set(FILES)
        assert all(len(h) == 64 and int(h, 16) >= 0 for h in dataset.sha256.values())
        assert dataset.mirrors and all(url.endswith("/") for url in dataset.mirrors)
    # Same file names, different contents: only the checksums tell the two apart.
    assert not set(MNIST.sha256.values()) & set(FASHION_MNIST.sha256.values())
    assert MNIST.env == "CONVNET_DATA_DIR" and FASHION_MNIST.env == "CONVNET_FASHION_MNIST_DIR"


def test_an_unknown_name_lists_the_registry():
    with pytest.raises(ValueError, match="unknown dataset 'cifar10': the registry has "
                                         "fashion_mnist, mnist") as err:  # fmt: skip
        load_data("cifar10")
    assert "load_idx_dataset" in str(err.value)


def test_each_dataset_has_its_own_cache_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("CONVNET_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert dataset_cache_dir("mnist") == tmp_path / ".cache" / "convnet" / "mnist"
    assert dataset_cache_dir("fashion_mnist") == tmp_path / ".cache" / "convnet" / "fashion_mnist"
    monkeypatch.setenv("CONVNET_CACHE_DIR", str(tmp_path / "mine"))
    assert dataset_cache_dir("fashion_mnist") == tmp_path / "mine" / "fashion_mnist"


# --------------------------------------------------------------------------------------------
# Where the files are found, on fake files
# --------------------------------------------------------------------------------------------


def test_fashion_mnist_search_order(tmp_path, cache_root, monkeypatch, fake):
    arg, env, system = tmp_path / "arg", tmp_path / "env", tmp_path / "system"
    cache = cache_root / "fashion_mnist"
    for folder in (arg, env, cache, system):
        write_fake_mnist(folder, n_train=30, n_test=10, seed=2)
    fashion = dataclasses.replace(FASHION_MNIST, system_dir=str(system))

    def read_from(data_dir=None):
        return {path.parent for path in find_data(fashion, data_dir).values()}

    monkeypatch.setenv("CONVNET_FASHION_MNIST_DIR", str(env))
    assert read_from(arg) == {arg}
    assert read_from() == {env}
    monkeypatch.delenv("CONVNET_FASHION_MNIST_DIR")
    assert read_from() == {cache}
    shutil.rmtree(cache)
    assert read_from() == {system}  # an operating-system package's folder, last before a download


def test_each_environment_variable_names_its_own_dataset(tmp_path, cache_root, monkeypatch, fake):
    monkeypatch.setenv("CONVNET_DATA_DIR", str(fake.mnist.folder))
    fashion = dataclasses.replace(FASHION_MNIST, system_dir=None)
    with pytest.raises(DatasetNotFoundError):
        find_data(fashion)  # $CONVNET_DATA_DIR is MNIST's folder only
    monkeypatch.setenv("CONVNET_FASHION_MNIST_DIR", str(fake.fashion_mnist.folder))
    assert {p.parent for p in find_data(fashion).values()} == {fake.fashion_mnist.folder}
    assert {p.parent for p in find_data("mnist").values()} == {fake.mnist.folder}


def test_load_fashion_mnist_from_a_folder(tmp_path, cache_root):
    folder = tmp_path / "fashion"
    checksums = write_fake_mnist(folder, n_train=100, n_test=10, seed=2)
    (x_train, y_train), (x_test, y_test) = load_data("fashion_mnist", folder, download=False,
                                                     checksums=checksums)  # fmt: skip
    assert x_train.shape == (100, 28, 28) and y_test.shape == (10,)
    split = load_split("fashion_mnist", folder, download=False, checksums=checksums)
    assert split.x_train.shape == (80, 1, 28, 28) and split.x_val.shape == (20, 1, 28, 28)
    np.testing.assert_array_equal(np.bincount(split.y_val), [2] * 10)
    assert not cache_root.exists()  # nothing downloaded


# --------------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_a_file_given_as_the_folder_is_named_as_a_file(cache_root, fake, monkeypatch, name):
    file = getattr(fake, name).folder / TRAIN_IMAGES
    with pytest.raises(DatasetNotFoundError) as err:
        load_data(name, file, download=False)
    message = str(err.value)
    assert f"{file} (the data_dir argument, --data-dir) is a file, not a folder" in message
    assert f"here {file.parent}" in message  # the folder that holds it
    assert "does not exist" not in message

    # The same for the environment variable.
    monkeypatch.setenv(get_dataset(name).env, str(file))
    with pytest.raises(DatasetNotFoundError, match=f"\\(\\${get_dataset(name).env}\\) is a file"):
        find_data(name)


def test_the_command_line_says_a_file_is_not_a_folder(tmp_path, cache_root, fake, capsys):
    from convnet.cli import main

    file = fake.mnist.folder / TEST_LABELS
    assert main(["train", "--data-dir", str(file), "--out", str(tmp_path / "run")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_not_found_says_how_to_provide_the_files(tmp_path, cache_root, name):
    dataset = dataclasses.replace(get_dataset(name), system_dir=None)
    with pytest.raises(DatasetNotFoundError) as err:
        load_data(dataset, tmp_path / "nowhere", download=False)
    message = str(err.value)
    assert message.startswith(f"{dataset.title} not found: missing {TRAIN_IMAGES}")
    assert f"load_data({name!r}, data_dir=...)" in message
    assert "--data-dir" in message and f"--dataset {name}" in message
    assert dataset.env in message
    assert str(cache_root / name) in message


def test_fashion_mnist_not_found_names_the_debian_package(tmp_path, cache_root):
    fashion = dataclasses.replace(FASHION_MNIST, system_dir=str(tmp_path / "not-installed"))
    with pytest.raises(DatasetNotFoundError) as err:
        load_data(fashion, download=False)
    message = str(err.value)
    assert f"{tmp_path / 'not-installed'} (where the dataset-fashion-mnist package" in message
    assert "apt install dataset-fashion-mnist" in message


def test_another_datasets_files_are_named(cache_root, fake, registered):
    with pytest.raises(ChecksumError) as err:
        load_data("mnist", fake.fashion_mnist.folder, download=False)
    message = str(err.value)
    assert "checksum mismatch" in message
    assert f"these are Fashion-MNIST's files (this is its {TRAIN_IMAGES}), not MNIST's" in message
    assert "use load_data('fashion_mnist') (--dataset fashion_mnist" in message
    assert (fake.fashion_mnist.folder / TRAIN_IMAGES).exists()

    with pytest.raises(ChecksumError, match="these are MNIST's files .* use load_data.'mnist'."):
        load_data("fashion_mnist", fake.mnist.folder, download=False)

    # A file that is nobody's is still called damaged.
    write_idx(fake.mnist.folder / TRAIN_LABELS, np.zeros(30, np.uint8))
    with pytest.raises(ChecksumError, match="damaged or is not this MNIST file"):
        load_data("mnist", fake.mnist.folder, download=False)


# --------------------------------------------------------------------------------------------
# The cache: one folder per dataset
# --------------------------------------------------------------------------------------------


def test_both_datasets_download_side_by_side(cache_root, fake, registered, server):
    for name in ("mnist", "fashion_mnist"):
        url = server.mirror(name, getattr(fake, name).blobs)
        load_data(name, mirrors=[url], progress=False, timeout=5)
    assert len(server.requests) == 8
    for name in ("mnist", "fashion_mnist"):
        cache = cache_root / name
        assert sorted(os.listdir(cache)) == sorted(FILES)
        assert all((cache / f).read_bytes() == getattr(fake, name).blobs[f] for f in FILES)
    # Read again from the cache, neither file replaced by the other's: nothing is downloaded.
    for name in ("mnist", "fashion_mnist"):
        load_data(name, download=False)
    assert len(server.requests) == 8


def test_another_datasets_file_in_a_cache_is_kept(cache_root, fake, registered, server):
    """The bug of a single cache folder: a Fashion-MNIST file copied into MNIST's cache was
    taken for damage and deleted. Now the message says whose file it is and where it goes."""
    mnist_cache = cache_root / "mnist"
    shutil.copytree(fake.mnist.folder, mnist_cache)
    shutil.copy(fake.fashion_mnist.folder / TRAIN_IMAGES, mnist_cache / TRAIN_IMAGES)
    with pytest.raises(ChecksumError) as err:
        load_data("mnist", download=False)
    message = str(err.value)
    assert "these are Fashion-MNIST's files" in message and "has been left there" in message
    assert str(cache_root / "fashion_mnist") in message  # where it belongs
    assert (mnist_cache / TRAIN_IMAGES).read_bytes() == fake.fashion_mnist.blobs[TRAIN_IMAGES]
    # download_data does not replace it either.
    url = server.mirror("m", fake.mnist.blobs)
    with pytest.raises(ChecksumError, match="Fashion-MNIST"):
        data.download_data("mnist", mirrors=[url], progress=False, timeout=5)
    assert (mnist_cache / TRAIN_IMAGES).read_bytes() == fake.fashion_mnist.blobs[TRAIN_IMAGES]
    assert server.requests == []

    # Damage, on the other hand, is still deleted from the cache.
    write_idx(mnist_cache / TRAIN_IMAGES, np.ones((30, 28, 28), np.uint8))  # nobody's file
    with pytest.raises(ChecksumError, match="has been deleted"):
        load_data("mnist", download=False)
    assert not (mnist_cache / TRAIN_IMAGES).exists()


def test_a_mirror_serving_another_datasets_file_is_named(cache_root, fake, registered, server):
    url = server.mirror("wrong", fake.mnist.blobs)  # MNIST's bytes under Fashion-MNIST's mirror
    with pytest.raises(DatasetNotFoundError) as err:
        load_data("fashion_mnist", mirrors=[url], progress=False, timeout=5)
    assert f"{url}{TRAIN_IMAGES}: SHA-256 checksum mismatch" in str(err.value)
    assert f"it is MNIST's {TRAIN_IMAGES}" in str(err.value)
    assert os.listdir(cache_root / "fashion_mnist") == []


# --------------------------------------------------------------------------------------------
# Any IDX dataset from a folder
# --------------------------------------------------------------------------------------------


def test_load_idx_dataset_verifies_with_checksums(fake, recwarn):
    folder, checksums = fake.fashion_mnist.folder, fake.fashion_mnist.checksums
    (x_train, y_train), (x_test, y_test) = load_idx_dataset(folder, checksums)
    assert not [w for w in recwarn.list if issubclass(w.category, UserWarning)]
    assert x_train.shape == (30, 28, 28) and y_test.shape == (10,)
    with pytest.raises(ChecksumError, match="damaged or is not the file the checksums are for"):
        load_idx_dataset(folder, fake.mnist.checksums)
    with pytest.raises(ValueError, match=f"checksums lacks {TEST_LABELS}"):
        load_idx_dataset(folder, {k: v for k, v in checksums.items() if k != TEST_LABELS})


def test_load_idx_dataset_warns_without_checksums(fake):
    with pytest.warns(UserWarning, match="read but not verified") as caught:
        (x_train, _), _ = load_idx_dataset(fake.fashion_mnist.folder)
    assert str(fake.fashion_mnist.folder) in str(caught[0].message)
    np.testing.assert_array_equal(
        x_train, load_idx_dataset(fake.fashion_mnist.folder, fake.fashion_mnist.checksums)[0][0]
    )


def test_load_idx_dataset_other_shapes_and_class_names(tmp_path):
    folder = tmp_path / "letters"
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (12, 16, 16), np.uint8), np.arange(12, dtype=np.uint8) % 3,
              rng.integers(0, 256, (6, 16, 16), np.uint8), np.arange(6, dtype=np.uint8) % 3]
    for name, array in zip(FILES, arrays, strict=True):
        write_idx(folder / name.removesuffix(".gz"), array)  # uncompressed, as some ship them
    checksums = {name: payload_sha256(folder / name.removesuffix(".gz")) for name in FILES}
    (x_train, y_train), (x_test, y_test) = load_idx_dataset(folder, checksums, ["a", "b", "c"])
    for got, want in zip((x_train, y_train, x_test, y_test), arrays, strict=True):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(DataError, match="a label 2, but only 2 class names were given"):
        load_idx_dataset(folder, checksums, ["a", "b"])


def test_load_idx_dataset_wrong_folder(tmp_path, fake):
    with pytest.raises(DatasetNotFoundError, match="is a file, not a folder"):
        load_idx_dataset(fake.mnist.folder / TRAIN_IMAGES)
    with pytest.raises(DatasetNotFoundError, match="does not exist.*missing train-images"):
        load_idx_dataset(tmp_path / "nowhere")


# --------------------------------------------------------------------------------------------
# The real Fashion-MNIST files
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_fashion():
    (x_train, y_train), (x_test, y_test) = load_data("fashion_mnist", REAL_FASHION_DIR,
                                                     download=False)  # fmt: skip
    return SimpleNamespace(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)


@needs_fashion
def test_real_fashion_mnist_is_found_and_verified(cache_root, monkeypatch):
    if REAL_FASHION_DIR != FASHION_MNIST.system_dir:  # found through the variable, not Debian's
        monkeypatch.setenv("CONVNET_FASHION_MNIST_DIR", REAL_FASHION_DIR)
    paths = find_data("fashion_mnist")  # no folder given: the registry's own search
    assert {path.parent for path in paths.values()} == {Path(REAL_FASHION_DIR)}
    for name, path in paths.items():
        assert payload_sha256(path) == FASHION_MNIST.sha256[name], name


@needs_fashion
def test_real_fashion_mnist_shapes_and_labels(real_fashion):
    assert real_fashion.x_train.shape == (60000, 28, 28) and real_fashion.x_train.dtype == np.uint8
    assert real_fashion.y_train.shape == (60000,) and real_fashion.x_test.shape == (10000, 28, 28)
    assert real_fashion.y_test.shape == (10000,) and real_fashion.y_test.dtype == np.uint8
    # Ten classes, balanced: 6,000 training and 1,000 test images of each.
    np.testing.assert_array_equal(np.bincount(real_fashion.y_train), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(real_fashion.y_test), [1000] * 10)
    assert len(FASHION_MNIST.class_names) == 10


@needs_fashion
def test_real_fashion_mnist_split(real_fashion):
    split = load_split("fashion_mnist", REAL_FASHION_DIR, download=False)
    assert split.x_train.shape == (48000, 1, 28, 28) and split.x_val.shape == (12000, 1, 28, 28)
    assert split.x_test.shape == (10000, 1, 28, 28) and split.y_test.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(split.y_val), [1200] * 10)  # stratified
    np.testing.assert_array_equal(split.y_test, real_fashion.y_test)


@needs_fashion
def test_real_fashion_mnist_through_the_idx_reader(real_fashion):
    (x_train, _), (_, y_test) = load_idx_dataset(REAL_FASHION_DIR, FASHION_MNIST.sha256,
                                                 FASHION_MNIST.class_names)  # fmt: skip
    np.testing.assert_array_equal(x_train, real_fashion.x_train)
    np.testing.assert_array_equal(y_test, real_fashion.y_test)


@needs_both
def test_real_files_of_the_other_dataset_are_named(cache_root):
    with pytest.raises(ChecksumError) as err:
        data.load_mnist(REAL_FASHION_DIR, download=False)
    assert "these are Fashion-MNIST's files" in str(err.value)
    assert "use load_data('fashion_mnist')" in str(err.value)
    with pytest.raises(ChecksumError, match="these are MNIST's files"):
        load_data("fashion_mnist", REAL_MNIST_DIR, download=False)


@needs_both
def test_real_datasets_cached_side_by_side(tmp_path, monkeypatch):
    """Both datasets copied into the default cache of a fresh home: each is read from its own
    folder, and no file is deleted (with one shared folder, the second would have been)."""
    for variable in ("CONVNET_CACHE_DIR", "XDG_CACHE_HOME", "CONVNET_DATA_DIR",
                     "CONVNET_FASHION_MNIST_DIR"):  # fmt: skip
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    caches = {}
    for name, source in (("mnist", REAL_MNIST_DIR), ("fashion_mnist", REAL_FASHION_DIR)):
        caches[name] = tmp_path / ".cache" / "convnet" / name
        caches[name].mkdir(parents=True)
        for path in find_data(name, source).values():
            shutil.copy(path, caches[name] / path.name)
    for name in ("mnist", "fashion_mnist"):
        paths = find_data(name)
        assert {path.parent for path in paths.values()} == {caches[name]}
        (_, y_train), _ = load_data(name, download=False)  # verifies every file
        assert np.bincount(y_train).size == 10
    for name in ("mnist", "fashion_mnist"):  # still there, each in its own folder
        for file, path in find_data(name).items():
            assert payload_sha256(path) == get_dataset(name).sha256[file]


@needs_fashion
def test_train_on_fashion_mnist_from_the_command_line(tmp_path, short_sets, capsys):
    # short_sets: the run sees 2,000 validation and test images (tests/conftest.py)
    from convnet.cli import main
    from convnet.drawing import Drawing, Recogniser
    from convnet.io import load_model

    out = tmp_path / "run"
    assert main(["train", "--dataset", "fashion_mnist", "--data-dir", REAL_FASHION_DIR,
                 "--limit", "500", "--epochs", "1", "--net", "small", "--out", str(out),
                 "--verbose", "0"]) == 0  # fmt: skip
    assert "Fashion-MNIST: 500 training, 2,000 validation, 2,000 test" in capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert results["dataset"] == "fashion_mnist" and results["class_names"] == FASHION_CLASSES
    assert results["train_images"] == 500 and 0.1 < results["test_accuracy"] <= 1
    for name in ("confusion.png", "misclassified.png"):
        assert (out / name).stat().st_size > 0
    # The model knows its classes, and so do evaluate, predict and the drawing app.
    model = load_model(out / "mnist.h5")
    assert model.class_names == FASHION_CLASSES
    assert load_model(out / "checkpoint.h5").class_names == FASHION_CLASSES
    assert main(["evaluate", "--dataset", "fashion_mnist", "--data-dir", REAL_FASHION_DIR,
                 "--model", str(out / "mnist.h5")]) == 0  # fmt: skip
    captured = capsys.readouterr()
    assert f"Test accuracy: {results['test_accuracy']:.4f}" in captured.out
    assert "warning" not in captured.err
    recogniser = Recogniser(out / "mnist.h5")
    assert recogniser.problem is None and recogniser.class_names == FASHION_CLASSES
    drawing = Drawing()
    drawing.pen_down(60, 60)
    drawing.pen_to(220, 220)
    assert recogniser.recognise(drawing.raster()).answer in FASHION_CLASSES
    # Resuming with another dataset is refused: the checkpoint's run was Fashion-MNIST.
    assert main(["train", "--resume", "--dataset", "mnist", "--out", str(out)]) == 2
    assert "the checkpoint's run used --dataset fashion_mnist" in capsys.readouterr().err


@needs_mnist
def test_evaluate_warns_when_the_classes_differ(tmp_path, capsys):
    from convnet.cli import main
    from convnet.nets import small_net

    model = small_net(seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.class_names = FASHION_CLASSES
    model.save(tmp_path / "fashion.h5")
    assert main(["evaluate", "--model", str(tmp_path / "fashion.h5"), "--dataset", "mnist"]) == 0
    err = capsys.readouterr().err
    assert "MNIST test set" in err
    assert "names its classes T-shirt/top, Trouser" in err and "--dataset" in err


@needs_fashion
def test_evaluate_scores_a_model_on_the_dataset_it_was_trained_on(tmp_path, capsys):
    """Left to itself, evaluate takes the dataset the model's file records (or names)."""
    from convnet.cli import main
    from convnet.nets import small_net

    model = small_net(seed=0)
    model.class_names = FASHION_CLASSES  # no optimizer, as a model saved without one
    model.save(tmp_path / "fashion.h5", include_optimizer=False)
    env = {"CONVNET_FASHION_MNIST_DIR": REAL_FASHION_DIR}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        assert main(["evaluate", "--model", str(tmp_path / "fashion.h5")]) == 0
    captured = capsys.readouterr()
    assert "Fashion-MNIST test set" in captured.err and "warning" not in captured.err
    assert "Test accuracy:" in captured.out
