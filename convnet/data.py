"""MNIST: find or download the four files, verify them, split them as the notebook did.

Reading order: ... → model → callbacks → **13. data** (:mod:`convnet.idx`, then this module)
→ file I/O. Docs chapter: "How a CNN learns" (the data) and the walkthrough notebook
``examples/mnist_walkthrough.ipynb``.

MNIST comes as four IDX files, usually gzip-compressed, which :mod:`convnet.idx` reads.

Where the files come from, in this order, file by file:

1. the ``data_dir`` argument,
2. the folder named by the environment variable ``CONVNET_DATA_DIR``,
3. a per-user cache folder, :func:`mnist_cache_dir`,
4. a download into that cache from :data:`MIRRORS`, tried in order.

Each file may be stored gzip-compressed (``train-images-idx3-ubyte.gz``) or not
(``train-images-idx3-ubyte``); gzip is recognised by its first two bytes, not by the name. The
SHA-256 of every decompressed file is checked against :data:`SHA256` before it is used, so a
damaged or half-downloaded file is never mistaken for data.

The arrays come back as Keras's ``mnist.load_data()`` returns them: uint8 images of shape
(N, 28, 28) and uint8 labels of shape (N,). :func:`to_images` makes network inputs of them,
NCHW float32 in [0, 1], and :func:`notebook_split` holds out the same 12,000 validation images
as the notebook this project descends from.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import NamedTuple

import numpy as np

from convnet.idx import DataError, parse_idx, read_payload
from convnet.progress import tqdm

__all__ = [
    "DataError",
    "ChecksumError",
    "MNISTNotFoundError",
    "TRAIN_IMAGES",
    "TRAIN_LABELS",
    "TEST_IMAGES",
    "TEST_LABELS",
    "FILES",
    "SHA256",
    "MIRRORS",
    "mnist_cache_dir",
    "find_mnist",
    "download_mnist",
    "load_mnist",
    "to_images",
    "to_categorical",
    "notebook_split",
    "MNISTSplit",
    "load_mnist_split",
]

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
#: The four file names, in the order of ``(x_train, y_train), (x_test, y_test)``.
FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)

#: SHA-256 of each *decompressed* file. The hash of the .gz bytes would depend on how the file
#: was compressed, which differs between copies of the very same data.
SHA256 = {
    TRAIN_IMAGES: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    TRAIN_LABELS: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    TEST_IMAGES: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    TEST_LABELS: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

#: Public copies of the four .gz files, tried in this order; ``MIRRORS[i] + name`` is a file.
MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]

_DATA_ENV = "CONVNET_DATA_DIR"
_CACHE_ENV = "CONVNET_CACHE_DIR"
_TIMEOUT = 30.0  # seconds without a byte from a mirror before it counts as failed
_CHUNK = 1 << 16


class ChecksumError(DataError):
    """A file's decompressed content does not have the SHA-256 it should have."""


class MNISTNotFoundError(FileNotFoundError):
    """The MNIST files are in none of the folders searched and could not be downloaded.

    Its message names every folder searched, every mirror tried with the reason it failed, and
    how to provide the files by hand.
    """


# --------------------------------------------------------------------------------------------
# Finding the files
# --------------------------------------------------------------------------------------------


def mnist_cache_dir():
    """The per-user folder that downloads go to.

    ``$CONVNET_CACHE_DIR`` if that is set, else ``$XDG_CACHE_HOME/convnet/mnist``, else
    ``~/.cache/convnet/mnist``. It is created only when something is downloaded.

    Examples
    --------
    >>> mnist_cache_dir().parts[-2:] == ("convnet", "mnist") or "CONVNET_CACHE_DIR" in os.environ
    True
    """
    override = os.environ.get(_CACHE_ENV)
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    root = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return root / "convnet" / "mnist"


def _search_dirs(data_dir):
    """The folders to search, in order, each with where it came from (for error messages)."""
    dirs = []
    if data_dir is not None:
        dirs.append((Path(data_dir).expanduser(), "the data_dir argument"))
    env = os.environ.get(_DATA_ENV)
    if env:
        dirs.append((Path(env).expanduser(), f"${_DATA_ENV}"))
    cache_from = f"${_CACHE_ENV}" if os.environ.get(_CACHE_ENV) else "default location"
    dirs.append((mnist_cache_dir(), f"the download cache, {cache_from}"))
    return dirs


def _find_in(folder, name):
    for candidate in (name, name.removesuffix(".gz")):
        path = folder / candidate
        if path.is_file():
            return path
    return None


def _locate(dirs):
    """For each of the four names, the first file found in ``dirs``, or None."""
    found = {}
    for name in FILES:
        found[name] = None
        for folder, _ in dirs:
            path = _find_in(folder, name)
            if path is not None:
                found[name] = path
                break
    return found


def _not_found_message(missing, dirs, download_note):
    lines = [
        "MNIST not found: missing "
        + ", ".join(missing)
        + " (each may also be stored uncompressed, without .gz).",
        "Looked in, in this order:",
    ]
    for folder, origin in dirs:
        exists = "" if folder.is_dir() else ", does not exist"
        lines.append(f"  - {folder} ({origin}{exists})")
    lines += download_note
    lines.append(
        "To provide the files: on a machine with internet access download the four files "
        + ", ".join(FILES)
        + f" (e.g. from {MIRRORS[0]}) into one folder, then set the environment variable "
        f"{_DATA_ENV} to that folder or pass load_mnist(data_dir=...)."
    )
    return "\n".join(lines)


def find_mnist(data_dir=None):
    """Where each of the four MNIST files would be read from, without reading or downloading.

    Each file is looked for, as ``name.gz`` or ``name``, in ``data_dir``, then in
    ``$CONVNET_DATA_DIR``, then in :func:`mnist_cache_dir`; the first match wins. Files are not
    verified here: :func:`load_mnist` checks each one's SHA-256 when it reads it.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional

    Returns
    -------
    paths : dict
        ``{file name: pathlib.Path}`` for the four names in :data:`FILES`.

    Raises
    ------
    MNISTNotFoundError (a FileNotFoundError)
        Some file is in none of the folders; the message lists them all.

    Examples
    --------
    Four empty files are found, since nothing is read:

    >>> tmp = tempfile.TemporaryDirectory(); folder = Path(tmp.name)
    >>> for name in FILES:
    ...     (folder / name).touch()
    >>> paths = find_mnist(folder)
    >>> paths[TRAIN_IMAGES].name, paths[TRAIN_IMAGES].parent == folder
    ('train-images-idx3-ubyte.gz', True)
    >>> tmp.cleanup()
    """
    dirs = _search_dirs(data_dir)
    found = _locate(dirs)
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise MNISTNotFoundError(
            _not_found_message(missing, dirs, ["(load_mnist() can download them.)"])
        )
    return found


def _verified_payload(path, expected, *, cache_dir=None):
    """``(data, source)`` as :func:`~convnet.idx.read_payload` gives them if the SHA-256 of
    ``data`` is ``expected``; else ChecksumError.

    A file that fails and lives in ``cache_dir`` is deleted: the cache only ever holds
    verified files, so a bad one there can only be damage, and the next call downloads it anew.
    """
    data, source = read_payload(path)
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        message = (
            f"{path}: SHA-256 checksum mismatch: expected {expected}, got {actual} "
            "(of the decompressed content); the file is damaged or is not this MNIST file."
        )
        if cache_dir is not None and Path(path).parent.resolve() == Path(cache_dir).resolve():
            Path(path).unlink(missing_ok=True)
            message += " It was in the download cache and has been deleted: call again to "
            message += "download it anew."
        else:
            message += " Replace it with a good copy (see convnet.data.SHA256)."
        raise ChecksumError(message)
    return data, source


# --------------------------------------------------------------------------------------------
# Downloading
# --------------------------------------------------------------------------------------------


class _IncompleteDownload(OSError):
    """The connection closed before Content-Length bytes arrived."""


class _DownloadFailed(Exception):
    """Every mirror failed for one file; ``failures`` is a list of (url, reason)."""

    def __init__(self, name, failures):
        super().__init__(name)
        self.name = name
        self.failures = failures


def _reason(err):
    """A short, human-readable reason for one failed download."""
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP error {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return f"cannot connect: {err.reason}"
    if isinstance(err, http.client.IncompleteRead):
        return (
            f"connection closed mid-file: received {len(err.partial)} bytes of this read, "
            f"{err.expected} more expected"
        )
    if isinstance(err, TimeoutError):
        return f"timed out ({err})"
    if isinstance(err, (DataError, _IncompleteDownload)):
        return str(err)
    return f"{type(err).__name__}: {err}"


def _progress_default():
    return sys.stderr is not None and hasattr(sys.stderr, "isatty") and sys.stderr.isatty()


def _fetch(url, dest, expected, *, progress, timeout):
    """Download ``url`` to ``dest`` through a temporary file; keep it only if it verifies."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                length = response.headers.get("Content-Length")
                size = int(length) if length is not None else None
                received = 0
                with tqdm(
                    total=size,
                    desc=dest.name,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    disable=not progress,
                ) as bar:
                    while chunk := response.read(_CHUNK):
                        out.write(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
            # A server that drops the connection can look like a normal end of the file:
            # the byte count is what tells the two apart.
            if size is not None and received != size:
                raise _IncompleteDownload(
                    f"connection closed after {received} of {size} bytes (Content-Length)"
                )
            out.flush()
            os.fsync(out.fileno())
        try:
            data, _ = read_payload(tmp)
        except DataError:
            raise DataError("the downloaded file is not complete gzip data") from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise ChecksumError(
                f"SHA-256 checksum mismatch of the downloaded file: expected {expected}, "
                f"got {actual} (of the decompressed content)"
            )
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


def _download_one(name, cache_dir, mirrors, expected, *, progress, timeout):
    """Try each mirror in turn for one file; return its path in the cache or _DownloadFailed."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    failures = []
    for i, base in enumerate(mirrors):
        url = base.rstrip("/") + "/" + name
        try:
            return _fetch(url, cache_dir / name, expected, progress=progress, timeout=timeout)
        except (OSError, ValueError, http.client.HTTPException) as err:
            failures.append((url, _reason(err)))
            if progress:
                then = "; trying the next mirror" if i + 1 < len(mirrors) else ""
                tqdm.write(f"{url}: {_reason(err)}{then}", file=sys.stderr)
    raise _DownloadFailed(name, failures)


def _failure_lines(failed):
    if not failed.failures:
        return [f"Could not download {failed.name}: no mirrors were given."]
    lines = [f"Could not download {failed.name}; tried these mirrors:"]
    lines += [f"  - {url}: {reason}" for url, reason in failed.failures]
    return lines


def download_mnist(
    cache_dir=None, *, mirrors=None, checksums=None, progress=None, timeout=_TIMEOUT
):
    """Make sure the four MNIST files are in ``cache_dir``, downloading those that are not.

    A file already there is kept if its SHA-256 verifies and deleted if not. A missing one is
    fetched from each mirror in turn, streamed to a temporary file in ``cache_dir``, its byte
    count checked against the Content-Length header and its decompressed content against
    ``checksums``, and only then renamed to its final name. Any failure (HTTP error, refused
    connection, unknown host, dropped connection, wrong checksum) moves on to the next mirror;
    the temporary file is always removed.

    Parameters
    ----------
    cache_dir : str or os.PathLike, optional
        Default :func:`mnist_cache_dir`.
    mirrors : list of str, optional
        Base URLs; default :data:`MIRRORS`.
    checksums : dict, optional
        ``{file name: SHA-256 hex}``; default :data:`SHA256`. Tests pass their own.
    progress : bool, optional
        Show a tqdm progress bar per file. Default: when stderr is a terminal.
    timeout : float
        Seconds to wait for a mirror to connect or send the next bytes.

    Returns
    -------
    paths : dict
        ``{file name: pathlib.Path}`` of the four verified files.

    Raises
    ------
    MNISTNotFoundError (a FileNotFoundError)
        A file could not be had from any mirror; the message lists each mirror's failure.

    Examples
    --------
    Files already in the folder and verified are not downloaded again. Here four small files
    of zeros stand in for MNIST, with their own checksums:

    >>> from convnet.idx import payload_sha256, write_idx
    >>> tmp = tempfile.TemporaryDirectory(); folder = Path(tmp.name)
    >>> for name, shape in zip(FILES, [(60, 28, 28), (60,), (20, 28, 28), (20,)]):
    ...     write_idx(folder / name, np.zeros(shape, np.uint8))
    >>> checksums = {name: payload_sha256(folder / name) for name in FILES}
    >>> sorted(p.name for p in download_mnist(folder, checksums=checksums).values())[:2]
    ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']
    >>> tmp.cleanup()
    """
    cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else mnist_cache_dir()
    mirrors = list(MIRRORS if mirrors is None else mirrors)
    checksums = SHA256 if checksums is None else checksums
    progress = _progress_default() if progress is None else progress
    paths = {}
    for name in FILES:
        path = _find_in(cache_dir, name)
        if path is not None:
            try:
                _verified_payload(path, checksums[name], cache_dir=cache_dir)
                paths[name] = path
                continue
            except DataError:
                path.unlink(missing_ok=True)  # damaged: fetch it again
        try:
            paths[name] = _download_one(
                name, cache_dir, mirrors, checksums[name], progress=progress, timeout=timeout
            )
        except _DownloadFailed as failed:
            raise MNISTNotFoundError("\n".join(_failure_lines(failed))) from None
    return paths


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def load_mnist(
    data_dir=None,
    *,
    download=True,
    mirrors=None,
    progress=None,
    checksums=None,
    timeout=_TIMEOUT,
):
    """Load MNIST as Keras's ``mnist.load_data()`` does, from a folder, the cache or a mirror.

    Each file is taken from the first of ``data_dir``, ``$CONVNET_DATA_DIR`` and
    :func:`mnist_cache_dir` that has it (as ``.gz`` or uncompressed). Files found nowhere are
    downloaded into the cache (see :func:`download_mnist`) if ``download`` is true. Every file's
    decompressed content is checked against its SHA-256 before it is used.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
    download : bool
        Allow downloading missing files.
    mirrors : list of str, optional
        Base URLs tried in order; default :data:`MIRRORS`.
    progress : bool, optional
        Progress bars while downloading. Default: when stderr is a terminal.
    checksums : dict, optional
        ``{file name: SHA-256 hex}``; default :data:`SHA256`.
    timeout : float
        Seconds to wait for a mirror to connect or send the next bytes.

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        uint8 arrays of shapes (60000, 28, 28), (60000,), (10000, 28, 28), (10000,); pixel
        values 0..255, labels 0..9.

    Raises
    ------
    MNISTNotFoundError (a FileNotFoundError)
        Files missing and not downloadable. One error naming every folder searched, each
        mirror tried with its failure, and how to provide the files.
    ChecksumError (a ValueError)
        A file found does not verify; it names the file and both hashes. A file in the cache
        that fails is deleted; a file elsewhere is never touched.
    DataError (a ValueError)
        A file is not a well-formed IDX file.

    Examples
    --------
    With four small files of zeros written by :func:`~convnet.idx.write_idx`, and their
    checksums (the real files need no ``checksums``):

    >>> from convnet.idx import payload_sha256, write_idx
    >>> tmp = tempfile.TemporaryDirectory(); folder = Path(tmp.name)
    >>> for name, shape in zip(FILES, [(60, 28, 28), (60,), (20, 28, 28), (20,)]):
    ...     write_idx(folder / name, np.zeros(shape, np.uint8))
    >>> checksums = {name: payload_sha256(folder / name) for name in FILES}
    >>> (x_train, y_train), (x_test, y_test) = load_mnist(folder, download=False,
    ...                                                   checksums=checksums)
    >>> x_train.shape, x_train.dtype, y_train.shape, x_test.shape, y_test.shape
    ((60, 28, 28), dtype('uint8'), (60,), (20, 28, 28), (20,))
    >>> tmp.cleanup()
    """
    checksums = SHA256 if checksums is None else checksums
    dirs = _search_dirs(data_dir)
    cache_dir = mnist_cache_dir()
    found = _locate(dirs)
    missing = [name for name, path in found.items() if path is None]
    if missing and not download:
        note = ["Downloading was not attempted (download=False)."]
        raise MNISTNotFoundError(_not_found_message(missing, dirs, note))
    if missing:
        mirrors = list(MIRRORS if mirrors is None else mirrors)
        progress = _progress_default() if progress is None else progress
        for name in missing:
            try:
                found[name] = _download_one(
                    name, cache_dir, mirrors, checksums[name], progress=progress, timeout=timeout
                )
            except _DownloadFailed as failed:
                # Stop at the first file no mirror could give: with no network, trying the
                # other files would only repeat the same failures.
                note = [f"Tried to download into the cache, {cache_dir}."] + _failure_lines(failed)
                raise MNISTNotFoundError(_not_found_message(missing, dirs, note)) from None

    arrays = []
    for name in FILES:
        path = found[name]
        data, source = _verified_payload(path, checksums[name], cache_dir=cache_dir)
        arrays.append(parse_idx(data, source, ndim=3 if "idx3" in name else 1))
    x_train, y_train, x_test, y_test = arrays
    for images, labels, i in ((x_train, y_train, 0), (x_test, y_test, 2)):
        if images.shape[0] != labels.shape[0]:
            raise DataError(
                f"{found[FILES[i]]} has {images.shape[0]} images but {found[FILES[i + 1]]} has "
                f"{labels.shape[0]} labels; expected one label per image"
            )
    return (x_train, y_train), (x_test, y_test)


# --------------------------------------------------------------------------------------------
# From uint8 arrays to network inputs
# --------------------------------------------------------------------------------------------


def to_images(x):
    """uint8 images to network inputs: NCHW float32 in [0, 1].

    Parameters
    ----------
    x : ndarray of uint8, shape (N, H, W)

    Returns
    -------
    images : ndarray of float32, shape (N, 1, H, W)
        ``x / 255`` with a channel axis added (MNIST is grey: one channel).

    Examples
    --------
    >>> to_images(np.array([[[0, 51, 255]]], dtype=np.uint8))
    array([[[[0. , 0.2, 1. ]]]], dtype=float32)
    """
    x = np.asarray(x)
    if x.dtype != np.uint8 or x.ndim != 3:
        # A float input would most likely be scaled already; dividing again would silently
        # give images in [0, 1/255].
        raise ValueError(
            f"to_images: expected uint8 images of shape (N, H, W), got {x.dtype} of shape {x.shape}"
        )
    return np.divide(x[:, np.newaxis, :, :], np.float32(255), dtype=np.float32)


def to_categorical(y, num_classes=10, dtype=np.float32):
    """Integer labels to one-hot rows, like Keras's ``to_categorical``.

    Parameters
    ----------
    y : ndarray of int, shape (N,), values in 0..num_classes-1
    num_classes : int

    Returns
    -------
    onehot : ndarray, shape (N, num_classes)
        ``onehot[n, y[n]] = 1``, every other entry 0.

    Examples
    --------
    >>> to_categorical(np.array([2, 0]), num_classes=3)
    array([[0., 0., 1.],
           [1., 0., 0.]], dtype=float32)
    """
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            f"to_categorical: expected integer labels of shape (N,), got "
            f"{y.dtype} of shape {y.shape}"
        )
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(
            f"to_categorical: labels must lie in 0..{num_classes - 1}, found {y.min()}..{y.max()}"
        )
    onehot = np.zeros((y.shape[0], num_classes), dtype=dtype)
    onehot[np.arange(y.shape[0]), y] = 1
    return onehot


def notebook_split(x, y):
    """Hold out 20% of the training set for validation, exactly as the original notebook did.

    This is ``sklearn.model_selection.train_test_split(x, y, test_size=0.2, random_state=42,
    stratify=y)``: on MNIST's 60,000 training images it gives the notebook's 48,000 training and
    12,000 validation images, with each digit in the same proportion in both. The 10,000 test
    images are not touched: they are kept for the final evaluation only.

    Parameters
    ----------
    x : ndarray, shape (N, ...)
    y : ndarray, shape (N,)

    Returns
    -------
    x_train, x_val, y_train, y_val : ndarrays
        Shapes (N - N_val, ...), (N_val, ...), (N - N_val,), (N_val,) with
        ``N_val = ceil(0.2 * N)``. The order of scikit-learn's return value.

    Examples
    --------
    >>> x, y = np.arange(50), np.arange(50) % 5
    >>> x_train, x_val, y_train, y_val = notebook_split(x, y)
    >>> x_train.shape, x_val.shape, np.bincount(y_val)
    ((40,), (10,), array([2, 2, 2, 2, 2]))
    """
    # Imported here: scikit-learn takes a while to import and only this function needs it.
    from sklearn.model_selection import train_test_split

    return train_test_split(x, y, test_size=0.2, random_state=42, stratify=y)


class MNISTSplit(NamedTuple):
    """MNIST ready for training: images float32 (N, 1, 28, 28) in [0, 1], labels int64 (N,)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_mnist_split(data_dir=None, **kwargs):
    """:func:`load_mnist`, then :func:`notebook_split` and :func:`to_images`: ready to train on.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
    **kwargs
        Passed on to :func:`load_mnist` (``download``, ``mirrors``, ``progress``, ...).

    Returns
    -------
    MNISTSplit
        ``x_train`` (48000, 1, 28, 28), ``y_train`` (48000,), ``x_val`` (12000, 1, 28, 28),
        ``y_val`` (12000,), ``x_test`` (10000, 1, 28, 28), ``y_test`` (10000,); images float32
        in [0, 1], labels int64.

    Examples
    --------
    With four small files of zeros, as in :func:`load_mnist`'s example (every label is 0:
    one class to stratify by):

    >>> from convnet.idx import payload_sha256, write_idx
    >>> tmp = tempfile.TemporaryDirectory(); folder = Path(tmp.name)
    >>> for name, shape in zip(FILES, [(60, 28, 28), (60,), (20, 28, 28), (20,)]):
    ...     write_idx(folder / name, np.zeros(shape, np.uint8))
    >>> checksums = {name: payload_sha256(folder / name) for name in FILES}
    >>> data = load_mnist_split(folder, download=False, checksums=checksums)
    >>> data.x_train.shape, data.x_val.shape, data.x_test.shape, data.y_val.dtype
    ((48, 1, 28, 28), (12, 1, 28, 28), (20, 1, 28, 28), dtype('int64'))
    >>> tmp.cleanup()
    """
    (x_train, y_train), (x_test, y_test) = load_mnist(data_dir, **kwargs)
    x_train, x_val, y_train, y_val = notebook_split(x_train, y_train)
    return MNISTSplit(
        to_images(x_train),
        y_train.astype(np.int64),
        to_images(x_val),
        y_val.astype(np.int64),
        to_images(x_test),
        y_test.astype(np.int64),
    )
