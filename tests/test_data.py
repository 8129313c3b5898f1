"""Tests of convnet.data: finding and downloading MNIST, the notebook's split.

The download tests run against an HTTP server on 127.0.0.1 started here, serving small fake
files; no test touches the network. The real-data tests read the folder named by
CONVNET_DATA_DIR and are skipped when it is not set. (The IDX format has its own tests, in
test_idx.py.)
"""

from __future__ import annotations

import os
import socket
import time
from types import SimpleNamespace

import numpy as np
import pytest
from fakedata import write_fake_mnist

from convnet.data import (
    FILES,
    SHA256,
    TEST_IMAGES,
    TEST_LABELS,
    TRAIN_IMAGES,
    TRAIN_LABELS,
    ChecksumError,
    DataError,
    MNISTNotFoundError,
    download_mnist,
    find_mnist,
    load_mnist,
    load_mnist_split,
    mnist_cache_dir,
    notebook_split,
    to_categorical,
    to_images,
)
from convnet.idx import payload_sha256, read_idx, write_idx

REAL_DIR = os.environ.get("CONVNET_DATA_DIR")


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """MNIST's folder in an empty download cache of our own, and no CONVNET_DATA_DIR."""
    monkeypatch.setenv("CONVNET_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CONVNET_DATA_DIR", raising=False)
    return tmp_path / "cache" / "mnist"


@pytest.fixture
def fake(tmp_path):
    """Four small fake MNIST files: their folder, checksum table, .gz bytes and arrays."""
    folder = tmp_path / "fake"
    checksums = write_fake_mnist(folder, n_train=30, n_test=10, seed=1)
    return SimpleNamespace(
        folder=folder,
        checksums=checksums,
        blobs={name: (folder / name).read_bytes() for name in FILES},
        arrays={name: read_idx(folder / name) for name in FILES},
    )


@pytest.fixture
def closed_port_url():
    """A URL on 127.0.0.1 whose port refuses connections: bound by us, never listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/mnist/"
    sock.close()


def _leftovers(folder):
    """Files in ``folder`` that are not finished MNIST files (temporary files, partial ones)."""
    return sorted(set(os.listdir(folder)) - set(FILES)) if folder.exists() else []


# --------------------------------------------------------------------------------------------
# Finding and verifying files
# --------------------------------------------------------------------------------------------


def test_cache_dir_locations(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVNET_CACHE_DIR", str(tmp_path / "mine"))
    assert mnist_cache_dir() == tmp_path / "mine" / "mnist"
    monkeypatch.delenv("CONVNET_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert mnist_cache_dir() == tmp_path / "xdg" / "convnet" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert mnist_cache_dir() == tmp_path / "home" / ".cache" / "convnet" / "mnist"


def test_load_fake_files(cache_dir, fake):
    (x_train, y_train), (x_test, y_test) = load_mnist(
        fake.folder, download=False, checksums=fake.checksums
    )
    for array, name in [
        (x_train, TRAIN_IMAGES),
        (y_train, TRAIN_LABELS),
        (x_test, TEST_IMAGES),
        (y_test, TEST_LABELS),
    ]:
        np.testing.assert_array_equal(array, fake.arrays[name])
    assert x_train.shape == (30, 28, 28) and y_test.shape == (10,)
    assert not cache_dir.exists()  # nothing was downloaded, not even the folder made


def test_uncompressed_files_are_accepted(tmp_path, cache_dir, fake):
    folder = tmp_path / "raw"
    checksums = write_fake_mnist(folder, n_train=30, n_test=10, seed=1, compress=False)
    assert checksums == fake.checksums  # same content, so the same payload hashes
    assert sorted(p.name for p in find_mnist(folder).values()) == sorted(
        name.removesuffix(".gz") for name in FILES
    )
    (x_train, _), _ = load_mnist(folder, download=False, checksums=checksums)
    np.testing.assert_array_equal(x_train, fake.arrays[TRAIN_IMAGES])


def test_search_order_argument_then_env_then_cache(tmp_path, cache_dir, monkeypatch, fake):
    arg, env = tmp_path / "arg", tmp_path / "env"
    for folder in (arg, env, cache_dir):
        write_fake_mnist(folder, n_train=30, n_test=10, seed=1)
    monkeypatch.setenv("CONVNET_DATA_DIR", str(env))
    assert {p.parent for p in find_mnist(arg).values()} == {arg}
    assert {p.parent for p in find_mnist().values()} == {env}
    monkeypatch.delenv("CONVNET_DATA_DIR")
    assert {p.parent for p in find_mnist().values()} == {cache_dir}


def test_search_is_file_by_file(tmp_path, cache_dir, monkeypatch, fake):
    arg, env = tmp_path / "arg", tmp_path / "env"
    arg.mkdir()
    env.mkdir()
    for name in (TRAIN_IMAGES, TRAIN_LABELS):
        (arg / name).write_bytes(fake.blobs[name])
    for name in (TEST_IMAGES, TEST_LABELS):
        (env / name).write_bytes(fake.blobs[name])
    monkeypatch.setenv("CONVNET_DATA_DIR", str(env))
    paths = find_mnist(arg)
    assert [paths[name].parent for name in FILES] == [arg, arg, env, env]
    load_mnist(arg, download=False, checksums=fake.checksums)


def test_argument_beats_env_beats_cache_when_loading(tmp_path, cache_dir, monkeypatch, fake):
    # The argument folder holds files that verify; the other two hold files that do not, so
    # which folder was read shows in whether loading succeeds and in what the error names.
    arg, env = tmp_path / "arg", tmp_path / "env"
    write_fake_mnist(arg, n_train=30, n_test=10, seed=1)
    write_fake_mnist(env, n_train=30, n_test=10, seed=2)
    write_fake_mnist(cache_dir, n_train=30, n_test=10, seed=3)
    monkeypatch.setenv("CONVNET_DATA_DIR", str(env))

    (x_train, _), _ = load_mnist(arg, download=False, checksums=fake.checksums)
    np.testing.assert_array_equal(x_train, fake.arrays[TRAIN_IMAGES])

    with pytest.raises(ChecksumError) as err:
        load_mnist(download=False, checksums=fake.checksums)
    message = str(err.value)
    assert str(env / TRAIN_IMAGES) in message and "checksum mismatch" in message
    assert fake.checksums[TRAIN_IMAGES] in message  # expected
    assert payload_sha256(env / TRAIN_IMAGES) in message  # actual
    assert (env / TRAIN_IMAGES).exists()  # a file outside the cache is never deleted

    monkeypatch.delenv("CONVNET_DATA_DIR")
    with pytest.raises(ChecksumError) as err:
        load_mnist(download=False, checksums=fake.checksums)
    assert str(cache_dir / TRAIN_IMAGES) in str(err.value) and "deleted" in str(err.value)
    assert not (cache_dir / TRAIN_IMAGES).exists()  # a bad file in the cache is removed


def test_real_checksums_reject_fake_files(cache_dir, fake):
    with pytest.raises(ChecksumError) as err:
        load_mnist(fake.folder, download=False)
    message = str(err.value)
    assert TRAIN_IMAGES in message and SHA256[TRAIN_IMAGES] in message
    assert fake.checksums[TRAIN_IMAGES] in message  # what the file actually hashes to


def test_wrong_shape_behind_a_matching_checksum(tmp_path, cache_dir, fake):
    folder = tmp_path / "odd"
    write_fake_mnist(folder, n_train=30, n_test=10, seed=1)
    write_idx(folder / TEST_LABELS, np.zeros((10, 1, 1), dtype=np.uint8))  # labels in 3-D
    checksums = {name: payload_sha256(folder / name) for name in FILES}
    with pytest.raises(DataError) as err:
        load_mnist(folder, download=False, checksums=checksums)
    assert TEST_LABELS in str(err.value) and "expected 1 (magic 2049)" in str(err.value)


def test_images_and_labels_must_pair_up(tmp_path, cache_dir):
    folder = tmp_path / "odd"
    write_fake_mnist(folder, n_train=30, n_test=10)
    write_idx(folder / TRAIN_LABELS, np.zeros(29, dtype=np.uint8))
    checksums = {name: payload_sha256(folder / name) for name in FILES}
    with pytest.raises(DataError, match="has 30 images but .* has 29 labels"):
        load_mnist(folder, download=False, checksums=checksums)


def test_not_found_without_download(tmp_path, cache_dir, server, fake):
    url = server.mirror("m1", fake.blobs)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MNISTNotFoundError) as err:
        load_mnist(empty, download=False, mirrors=[url], checksums=fake.checksums)
    message = str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    assert "download=False" in message
    assert str(empty) in message and str(cache_dir) in message
    assert all(name in message for name in FILES)
    assert server.requests == []
    with pytest.raises(MNISTNotFoundError):
        find_mnist(empty)


# --------------------------------------------------------------------------------------------
# Downloading, against the local server
# --------------------------------------------------------------------------------------------


def test_download_good_files(cache_dir, server, fake):
    url = server.mirror("m1", fake.blobs)
    (x_train, y_train), (x_test, y_test) = load_mnist(
        mirrors=[url], checksums=fake.checksums, progress=False, timeout=5
    )
    np.testing.assert_array_equal(x_train, fake.arrays[TRAIN_IMAGES])
    np.testing.assert_array_equal(y_test, fake.arrays[TEST_LABELS])
    assert sorted(os.listdir(cache_dir)) == sorted(FILES)
    for name in FILES:
        assert (cache_dir / name).read_bytes() == fake.blobs[name]
    assert len(server.requests) == 4

    # A second call reads the cache and asks the server for nothing.
    load_mnist(download=False, checksums=fake.checksums)
    load_mnist(mirrors=[url], checksums=fake.checksums, progress=False)
    assert len(server.requests) == 4


def test_download_only_what_is_missing(tmp_path, cache_dir, server, fake):
    arg = tmp_path / "arg"
    arg.mkdir()
    (arg / TRAIN_IMAGES).write_bytes(fake.blobs[TRAIN_IMAGES])
    url = server.mirror("m1", fake.blobs)
    load_mnist(arg, mirrors=[url], checksums=fake.checksums, progress=False, timeout=5)
    assert sorted(server.requests) == sorted(f"/m1/{name}" for name in FILES[1:])
    assert sorted(os.listdir(cache_dir)) == sorted(FILES[1:])


def test_download_rejects_bad_checksum(tmp_path, cache_dir, server, fake):
    other = write_fake_mnist(tmp_path / "other", n_train=30, n_test=10, seed=7)
    wrong = (tmp_path / "other" / TRAIN_LABELS).read_bytes()
    url = server.mirror("m1", fake.blobs, {TRAIN_LABELS: ("ok", wrong)})
    with pytest.raises(MNISTNotFoundError) as err:
        load_mnist(mirrors=[url], checksums=fake.checksums, progress=False, timeout=5)
    message = str(err.value)
    assert f"{url}{TRAIN_LABELS}" in message and "checksum mismatch" in message
    assert fake.checksums[TRAIN_LABELS] in message and other[TRAIN_LABELS] in message
    assert ".part" not in message  # the temporary file is not named: it no longer exists
    # The file before it verified and stays; the bad one and its temporary file are gone.
    assert sorted(os.listdir(cache_dir)) == [TRAIN_IMAGES]


def test_download_rejects_cut_gzip(cache_dir, server, fake):
    # A server that sends a short file with a matching Content-Length: only the gzip stream
    # itself shows that the end is missing.
    cut = fake.blobs[TEST_IMAGES][:-100]
    url = server.mirror("m1", fake.blobs, {TEST_IMAGES: ("ok", cut)})
    with pytest.raises(MNISTNotFoundError) as err:
        load_mnist(mirrors=[url], checksums=fake.checksums, progress=False, timeout=5)
    assert f"{url}{TEST_IMAGES}: the downloaded file is not complete gzip data" in str(err.value)
    assert sorted(os.listdir(cache_dir)) == sorted([TRAIN_IMAGES, TRAIN_LABELS])


def test_bad_checksum_falls_back_to_next_mirror(tmp_path, cache_dir, server, fake):
    write_fake_mnist(tmp_path / "other", n_train=30, n_test=10, seed=7)
    wrong = (tmp_path / "other" / TRAIN_LABELS).read_bytes()
    bad = server.mirror("bad", fake.blobs, {TRAIN_LABELS: ("ok", wrong)})
    good = server.mirror("good", fake.blobs)
    (_, y_train), _ = load_mnist(
        mirrors=[bad, good], checksums=fake.checksums, progress=False, timeout=5
    )
    np.testing.assert_array_equal(y_train, fake.arrays[TRAIN_LABELS])
    assert server.hits("good") == [f"/good/{TRAIN_LABELS}"]
    assert sorted(os.listdir(cache_dir)) == sorted(FILES)


@pytest.mark.parametrize("code", [404, 500])
def test_http_error_falls_back_to_next_mirror(cache_dir, server, fake, code):
    first = server.mirror("first", fake.blobs, {name: ("status", code) for name in FILES})
    second = server.mirror("second", fake.blobs)
    (x_train, _), _ = load_mnist(
        mirrors=[first, second], checksums=fake.checksums, progress=False, timeout=5
    )
    np.testing.assert_array_equal(x_train, fake.arrays[TRAIN_IMAGES])
    assert len(server.hits("first")) == 4 and len(server.hits("second")) == 4
    assert sorted(os.listdir(cache_dir)) == sorted(FILES)


def test_dropped_connection_leaves_nothing(cache_dir, server, fake):
    url = server.mirror("m1", fake.blobs, {TRAIN_IMAGES: ("drop", fake.blobs[TRAIN_IMAGES])})
    with pytest.raises(MNISTNotFoundError) as err:
        load_mnist(mirrors=[url], checksums=fake.checksums, progress=False, timeout=5)
    message = str(err.value)
    assert f"{url}{TRAIN_IMAGES}" in message and "connection closed" in message
    assert os.listdir(cache_dir) == []  # no partial file, no temporary file


def test_dropped_connection_falls_back_to_next_mirror(cache_dir, server, fake):
    drops = server.mirror("drops", fake.blobs, {TRAIN_IMAGES: ("drop", fake.blobs[TRAIN_IMAGES])})
    good = server.mirror("good", fake.blobs)
    load_mnist(mirrors=[drops, good], checksums=fake.checksums, progress=False, timeout=5)
    assert server.hits("good") == [f"/good/{TRAIN_IMAGES}"]
    assert sorted(os.listdir(cache_dir)) == sorted(FILES)
    assert all((cache_dir / name).read_bytes() == fake.blobs[name] for name in FILES)


def test_all_mirrors_fail_one_clear_error(
    tmp_path, cache_dir, monkeypatch, server, closed_port_url, fake
):
    arg, env = tmp_path / "arg", tmp_path / "env-does-not-exist"
    arg.mkdir()
    monkeypatch.setenv("CONVNET_DATA_DIR", str(env))
    missing = server.mirror("missing", fake.blobs, {name: ("status", 404) for name in FILES})
    broken = server.mirror("broken", fake.blobs, {name: ("status", 500) for name in FILES})
    drops = server.mirror("drops", fake.blobs, {name: ("drop", fake.blobs[name]) for name in FILES})
    mirrors = [closed_port_url, missing, broken, drops]

    start = time.perf_counter()
    with pytest.raises(MNISTNotFoundError) as err:
        load_mnist(arg, mirrors=mirrors, checksums=fake.checksums, progress=False, timeout=5)
    assert time.perf_counter() - start < 5  # fails fast: one file's tries, then stops
    message = str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    # every folder looked in, with where it came from
    assert f"{arg} (the data_dir argument, --data-dir)" in message
    assert f"{env} ($CONVNET_DATA_DIR, does not exist)" in message
    assert str(cache_dir) in message
    # every mirror tried, with its own failure
    lines = message.splitlines()

    def line_of(url):
        return next(line for line in lines if f"{url}{TRAIN_IMAGES}:" in line)

    assert "refused" in line_of(closed_port_url).lower()
    assert "HTTP error 404" in line_of(missing)
    assert "HTTP error 500" in line_of(broken)
    assert "connection closed" in line_of(drops)
    # and what to do about it
    assert "CONVNET_DATA_DIR" in message and "data_dir" in message
    assert all(name in message for name in FILES)
    # Stopped after the first file; nothing unverified left behind.
    assert len(server.hits("drops")) == 1
    assert _leftovers(cache_dir) == [] and os.listdir(cache_dir) == []
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_no_mirrors(cache_dir, fake):
    with pytest.raises(MNISTNotFoundError, match="no mirrors were given"):
        load_mnist(mirrors=[], checksums=fake.checksums, progress=False)


def test_progress_bar_only_when_asked(cache_dir, server, fake, capsys):
    url = server.mirror("m1", fake.blobs)
    load_mnist(mirrors=[url], checksums=fake.checksums, progress=False)
    assert capsys.readouterr().err == ""
    for name in FILES:
        (cache_dir / name).unlink()
    load_mnist(mirrors=[url], checksums=fake.checksums, progress=True)
    assert TRAIN_IMAGES in capsys.readouterr().err


def test_download_mnist_replaces_damaged_cache_file(tmp_path, server, fake):
    cache = tmp_path / "cache"
    write_fake_mnist(cache, n_train=30, n_test=10, seed=1)
    (cache / TEST_IMAGES).write_bytes(fake.blobs[TEST_IMAGES][:-20])  # damaged
    url = server.mirror("m1", fake.blobs)
    paths = download_mnist(cache, mirrors=[url], checksums=fake.checksums, progress=False)
    assert server.requests == [f"/m1/{TEST_IMAGES}"]
    assert {name: path.parent for name, path in paths.items()} == {name: cache for name in FILES}
    assert (cache / TEST_IMAGES).read_bytes() == fake.blobs[TEST_IMAGES]
    assert _leftovers(cache) == []


def test_download_mnist_error_lists_mirrors(tmp_path, server, closed_port_url, fake):
    url = server.mirror("m1", fake.blobs, {name: ("status", 404) for name in FILES})
    with pytest.raises(MNISTNotFoundError) as err:
        download_mnist(
            tmp_path / "cache",
            mirrors=[closed_port_url, url],
            checksums=fake.checksums,
            progress=False,
            timeout=5,
        )
    assert closed_port_url in str(err.value) and "HTTP error 404" in str(err.value)
    assert os.listdir(tmp_path / "cache") == []


# --------------------------------------------------------------------------------------------
# Conversions and the split on small arrays
# --------------------------------------------------------------------------------------------


def test_to_images():
    x = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    images = to_images(x)
    assert images.dtype == np.float32 and images.shape == (1, 1, 2, 2)
    np.testing.assert_array_equal(images[0, 0], np.float32([[0, 1], [0.2, 0.4]]))
    with pytest.raises(ValueError, match="expected uint8 images of shape .N, H, W., got float32"):
        to_images(images[:, 0])
    with pytest.raises(ValueError, match=r"shape \(1, 1, 2, 2\)"):
        to_images(x[:, None])


def test_to_categorical():
    onehot = to_categorical(np.array([3, 0, 9]))
    assert onehot.shape == (3, 10) and onehot.dtype == np.float32
    np.testing.assert_array_equal(onehot.argmax(axis=1), [3, 0, 9])
    np.testing.assert_array_equal(onehot.sum(axis=1), 1)
    with pytest.raises(ValueError, match=r"0\.\.9, found 0\.\.10"):
        to_categorical(np.array([0, 10]))
    with pytest.raises(ValueError, match="integer labels"):
        to_categorical(np.array([0.0, 1.0]))


def test_load_mnist_split_on_fake_files(cache_dir, tmp_path):
    folder = tmp_path / "fake"
    checksums = write_fake_mnist(folder, n_train=100, n_test=10)
    split = load_mnist_split(folder, download=False, checksums=checksums)
    assert split.x_train.shape == (80, 1, 28, 28) and split.x_val.shape == (20, 1, 28, 28)
    assert split.x_test.shape == (10, 1, 28, 28)
    assert split.y_train.dtype == split.y_val.dtype == split.y_test.dtype == np.int64
    assert all(x.dtype == np.float32 for x in (split.x_train, split.x_val, split.x_test))
    np.testing.assert_array_equal(np.bincount(split.y_val), [2] * 10)


# --------------------------------------------------------------------------------------------
# The real MNIST files
# --------------------------------------------------------------------------------------------

needs_real = pytest.mark.skipif(
    not REAL_DIR,
    reason="CONVNET_DATA_DIR is not set: point it at the folder with the four MNIST files "
    "(CI does) to run the real-data tests",
)


@pytest.fixture(scope="module")
def real():
    # download=False: with the folder given, a test must never reach for the network.
    (x_train, y_train), (x_test, y_test) = load_mnist(REAL_DIR, download=False)
    return SimpleNamespace(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)


@needs_real
def test_real_shapes_and_dtypes(real):
    assert real.x_train.shape == (60000, 28, 28) and real.x_train.dtype == np.uint8
    assert real.y_train.shape == (60000,) and real.y_train.dtype == np.uint8
    assert real.x_test.shape == (10000, 28, 28) and real.x_test.dtype == np.uint8
    assert real.y_test.shape == (10000,) and real.y_test.dtype == np.uint8
    assert set(np.unique(real.y_train)) == set(range(10))
    assert set(np.unique(real.y_test)) == set(range(10))
    assert real.x_train.min() == 0 and real.x_train.max() == 255


@needs_real
def test_real_checksums():
    paths = find_mnist(REAL_DIR)
    for name in FILES:
        assert payload_sha256(paths[name]) == SHA256[name], name


@needs_real
def test_real_test_set_is_untouched(real):
    np.testing.assert_array_equal(real.y_test[:5], [7, 2, 1, 0, 4])
    np.testing.assert_array_equal(real.y_train[:5], [5, 0, 4, 1, 9])


@needs_real
def test_real_notebook_split(real):
    from sklearn.model_selection import train_test_split

    x_train, x_val, y_train, y_val = notebook_split(real.x_train, real.y_train)
    assert x_train.shape == (48000, 28, 28) and x_val.shape == (12000, 28, 28)
    assert y_train.shape == (48000,) and y_val.shape == (12000,)

    # Exactly the notebook's call, element for element.
    expected = train_test_split(
        real.x_train, real.y_train, test_size=0.2, random_state=42, stratify=real.y_train
    )
    for got, want in zip((x_train, x_val, y_train, y_val), expected, strict=True):
        np.testing.assert_array_equal(got, want)

    # Split the row numbers the same way: the two parts are disjoint and cover every row once.
    i_train, i_val, _, _ = notebook_split(np.arange(60000), real.y_train)
    np.testing.assert_array_equal(real.x_train[i_train], x_train)
    np.testing.assert_array_equal(real.y_train[i_val], y_val)
    assert np.intersect1d(i_train, i_val).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([i_train, i_val])), np.arange(60000))

    # Stratified: each digit's share of either part is its share of the whole, to one image.
    whole = np.bincount(real.y_train, minlength=10) / 60000
    assert np.abs(np.bincount(y_val, minlength=10) / 12000 - whole).max() <= 1 / 12000
    assert np.abs(np.bincount(y_train, minlength=10) / 48000 - whole).max() <= 1 / 48000


@needs_real
def test_real_to_images(real):
    images = to_images(real.x_test)
    assert images.dtype == np.float32 and images.shape == (10000, 1, 28, 28)
    assert images.min() == 0.0 and images.max() == 1.0
    np.testing.assert_array_equal(images[:, 0], real.x_test.astype(np.float32) / 255)


@needs_real
def test_real_load_mnist_split(real):
    split = load_mnist_split(REAL_DIR, download=False)
    assert split.x_train.shape == (48000, 1, 28, 28) and split.y_train.shape == (48000,)
    assert split.x_val.shape == (12000, 1, 28, 28) and split.y_val.shape == (12000,)
    assert split.x_test.shape == (10000, 1, 28, 28) and split.y_test.shape == (10000,)
    assert split.x_train.dtype == np.float32 and split.y_train.dtype == np.int64
    np.testing.assert_array_equal(split.y_test, real.y_test)
    np.testing.assert_array_equal(split.x_test, to_images(real.x_test))
