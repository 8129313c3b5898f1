"""Datasets: find or download the four files, verify them, split them as the notebook did.

Reading order: ... → model → callbacks → **13. data** (:mod:`convnet.idx`, then this module)
→ file I/O. Docs chapters: "Datasets" (``docs/data.md``), "How a CNN learns" (the data) and
the walkthrough notebook ``examples/mnist_walkthrough.ipynb``.

MNIST, and datasets made in its image such as Fashion-MNIST, come as four IDX files, usually
gzip-compressed, which :mod:`convnet.idx` reads. The registry :data:`DATASETS` says, for each
dataset it knows, the files' names and checksums, where to download them, the folder its
downloads are cached in and the name of each class; :func:`load_data` reads one by its name,
as ``keras.datasets.<name>.load_data()`` does. Every dataset goes through the same code;
MNIST is one entry of the registry (:data:`MNIST`) and :func:`load_mnist` is
``load_data("mnist")``.

Where the files come from, in this order, file by file:

1. the ``data_dir`` argument (``--data-dir`` on the command line),
2. the folder named by the dataset's environment variable: ``CONVNET_DATA_DIR`` for MNIST,
   ``CONVNET_FASHION_MNIST_DIR`` for Fashion-MNIST,
3. the dataset's own per-user cache folder, :func:`dataset_cache_dir`,
4. the folder an operating-system package installs the files in, if there is one (Debian's
   ``dataset-fashion-mnist`` puts Fashion-MNIST in ``/usr/share/datasets/fashion-mnist``),
5. a download into the cache from the dataset's mirrors, tried in order.

Each file may be stored gzip-compressed (``train-images-idx3-ubyte.gz``) or not
(``train-images-idx3-ubyte``); gzip is recognised by its first two bytes, not by the name. The
SHA-256 of every decompressed file is checked before it is used, so a damaged or
half-downloaded file is never mistaken for data, and a file of another dataset of the
registry is named as such. :func:`load_idx_dataset` reads the four files of any other dataset
in MNIST's format from a folder, verified if its checksums are given.

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
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from convnet.idx import DataError, parse_idx, read_payload
from convnet.progress import tqdm

__all__ = [
    "DataError",
    "ChecksumError",
    "DatasetNotFoundError",
    "MNISTNotFoundError",
    "TRAIN_IMAGES",
    "TRAIN_LABELS",
    "TEST_IMAGES",
    "TEST_LABELS",
    "FILES",
    "Dataset",
    "MNIST",
    "FASHION_MNIST",
    "DATASETS",
    "get_dataset",
    "SHA256",
    "MIRRORS",
    "dataset_cache_dir",
    "mnist_cache_dir",
    "find_data",
    "find_mnist",
    "download_data",
    "download_mnist",
    "load_data",
    "load_mnist",
    "load_idx_dataset",
    "to_images",
    "to_categorical",
    "notebook_split",
    "Split",
    "MNISTSplit",
    "load_split",
    "load_mnist_split",
]

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
#: The four file names, in the order of ``(x_train, y_train), (x_test, y_test)``. MNIST and
#: Fashion-MNIST both use them: only the checksums tell the two datasets' files apart.
FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)

_CACHE_ENV = "CONVNET_CACHE_DIR"
_TIMEOUT = 30.0  # seconds without a byte from a mirror before it counts as failed
_CHUNK = 1 << 16


class ChecksumError(DataError):
    """A file's decompressed content does not have the SHA-256 it should have."""


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are in none of the folders searched and could not be downloaded.

    Its message names every folder searched, every mirror tried with the reason it failed, and
    how to provide the files by hand.
    """


#: The earlier name of :class:`DatasetNotFoundError`, from when MNIST was the only dataset.
MNISTNotFoundError = DatasetNotFoundError


# --------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    """A dataset of four IDX files in MNIST's format, and what is known about it.

    Attributes
    ----------
    name : str
        Its key in :data:`DATASETS`, the name of its cache folder, and what
        ``python -m convnet train --dataset`` takes: ``"mnist"``, ``"fashion_mnist"``.
    title : str
        Its name in messages: ``"MNIST"``, ``"Fashion-MNIST"``.
    class_names : tuple of str, length K
        ``class_names[k]`` names label ``k``.
    sha256 : dict
        ``{file name: SHA-256 hex of the decompressed file}``. The hash of the .gz bytes would
        depend on how the file was compressed, which differs between copies of the same data.
    mirrors : tuple of str
        Base URLs of public copies, tried in order; ``mirrors[i] + name`` is a file.
    env : str
        The environment variable that may name a folder holding the files.
    system_dir : str, optional
        Where an operating-system package installs the files, and that package's name in
        ``system_package``, for a machine that has them without a download.
    files : tuple of str
        The four file names, in the order of ``(x_train, y_train), (x_test, y_test)``.

    Examples
    --------
    >>> FASHION_MNIST.class_names[:3], len(FASHION_MNIST.class_names)
    (('T-shirt/top', 'Trouser', 'Pullover'), 10)
    >>> MNIST.env, MNIST.files == FASHION_MNIST.files
    ('CONVNET_DATA_DIR', True)
    """

    name: str
    title: str
    class_names: tuple
    sha256: dict
    mirrors: tuple
    env: str
    system_dir: str | None = None
    system_package: str | None = None
    files: tuple = FILES


MNIST = Dataset(
    name="mnist",
    title="MNIST",
    class_names=tuple(str(digit) for digit in range(10)),
    sha256={
        TRAIN_IMAGES: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        TRAIN_LABELS: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        TEST_IMAGES: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        TEST_LABELS: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    env="CONVNET_DATA_DIR",
)

# Fashion-MNIST's authors publish the MD5 of each .gz file in the project's README
# (github.com/zalandoresearch/fashion-mnist): train-images 8d4fb7e6c68d591d4c3dfef9ec88bf0d,
# train-labels 25c81989df183df01b3e8a0aad5dffbe, t10k-images bef4ecab320f06d8554ea6380940ec79,
# t10k-labels bb300cfdad3c16e7a12a480ee83cd310. The SHA-256 below are of the same files,
# decompressed: Debian's dataset-fashion-mnist package ships them with only the gzip header's
# stored file name and time removed, and with that header put back each of its four files has
# the published MD5. The first mirror is the project's own download address; the second is
# the copy keras.datasets.fashion_mnist downloads.
FASHION_MNIST = Dataset(
    name="fashion_mnist",
    title="Fashion-MNIST",
    class_names=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    sha256={
        TRAIN_IMAGES: "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        TRAIN_LABELS: "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        TEST_IMAGES: "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        TEST_LABELS: "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    ),
    env="CONVNET_FASHION_MNIST_DIR",
    system_dir="/usr/share/datasets/fashion-mnist",
    system_package="dataset-fashion-mnist",
)

#: Every dataset :func:`load_data` knows, by name. Add a :class:`Dataset` here to make it
#: known to :func:`load_data`, ``--dataset`` and the checksum messages.
DATASETS = {dataset.name: dataset for dataset in (MNIST, FASHION_MNIST)}

#: MNIST's checksums: ``MNIST.sha256``.
SHA256 = MNIST.sha256
#: MNIST's mirrors: ``MNIST.mirrors``.
MIRRORS = MNIST.mirrors


def get_dataset(name) -> Dataset:
    """The :class:`Dataset` registered as ``name`` (a Dataset is returned as it is).

    Raises
    ------
    ValueError
        ``name`` is not in :data:`DATASETS`; the message lists those that are.

    Examples
    --------
    >>> get_dataset("fashion_mnist").title
    'Fashion-MNIST'
    >>> get_dataset("cifar10")
    Traceback (most recent call last):
    ...
    ValueError: unknown dataset 'cifar10': the registry has fashion_mnist, mnist (convnet.data.DATASETS); to read other IDX files from a folder use convnet.data.load_idx_dataset(folder)
    """  # noqa: E501
    if isinstance(name, Dataset):
        return name
    if name not in DATASETS:
        raise ValueError(
            f"unknown dataset {name!r}: the registry has {', '.join(sorted(DATASETS))} "
            "(convnet.data.DATASETS); to read other IDX files from a folder use "
            "convnet.data.load_idx_dataset(folder)"
        )
    return DATASETS[name]


def _known_as(sha256):
    """``(dataset, file name)`` of the registry's file whose content hashes to ``sha256``."""
    for dataset in DATASETS.values():
        for name, expected in dataset.sha256.items():
            if expected == sha256:
                return dataset, name
    return None


# --------------------------------------------------------------------------------------------
# Finding the files
# --------------------------------------------------------------------------------------------


def dataset_cache_dir(name="mnist"):
    """The per-user folder that downloads of the dataset ``name`` go to: its own, so that two
    datasets whose files have the same names never meet.

    ``$CONVNET_CACHE_DIR/<name>`` if that variable is set, else
    ``$XDG_CACHE_HOME/convnet/<name>``, else ``~/.cache/convnet/<name>``. It is created only
    when something is downloaded.

    Examples
    --------
    >>> dataset_cache_dir("fashion_mnist").name, dataset_cache_dir().name
    ('fashion_mnist', 'mnist')
    >>> dataset_cache_dir("fashion_mnist").parent == dataset_cache_dir("mnist").parent
    True
    """
    override = os.environ.get(_CACHE_ENV)
    if override:
        root = Path(override).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "convnet"
    return root / get_dataset(name).name


def mnist_cache_dir():
    """MNIST's download cache, :func:`dataset_cache_dir` ``("mnist")``.

    Examples
    --------
    >>> mnist_cache_dir().name
    'mnist'
    """
    return dataset_cache_dir("mnist")


def _not_a_folder(dataset, path, origin):
    """The message for a folder to search that is a file."""
    message = (
        f"{path} ({origin}) is a file, not a folder: give the folder that holds the four "
        f"{dataset.title} files ({', '.join(dataset.files)})"
    )
    if path.name in dataset.files or path.name + ".gz" in dataset.files:
        message += f", here {path.parent}"
    return message


def _search_dirs(dataset, data_dir):
    """The folders to search, in order, each with where it came from (for error messages).

    A folder the caller named (the argument, the environment variable) that is a file is an
    error at once: searching on would hide the mistake, or take files from elsewhere.
    """
    dirs = []
    if data_dir is not None:
        dirs.append((Path(data_dir).expanduser(), "the data_dir argument, --data-dir"))
    env = os.environ.get(dataset.env)
    if env:
        dirs.append((Path(env).expanduser(), f"${dataset.env}"))
    for folder, origin in dirs:
        if folder.is_file():
            raise DatasetNotFoundError(_not_a_folder(dataset, folder, origin))
    cache_from = f"${_CACHE_ENV}" if os.environ.get(_CACHE_ENV) else "default location"
    dirs.append((dataset_cache_dir(dataset.name), f"the download cache, {cache_from}"))
    if dataset.system_dir:
        origin = f"where the {dataset.system_package} package of Debian and Ubuntu installs them"
        dirs.append((Path(dataset.system_dir), origin))
    return dirs


def _find_in(folder, name):
    for candidate in (name, name.removesuffix(".gz")):
        path = folder / candidate
        if path.is_file():
            return path
    return None


def _locate(files, dirs):
    """For each of the names ``files``, the first file found in ``dirs``, or None."""
    found = {}
    for name in files:
        found[name] = None
        for folder, _ in dirs:
            path = _find_in(folder, name)
            if path is not None:
                found[name] = path
                break
    return found


def _not_found_message(dataset, missing, dirs, download_note):
    lines = [
        f"{dataset.title} not found: missing "
        + ", ".join(missing)
        + " (each may also be stored uncompressed, without .gz).",
        "Looked in, in this order:",
    ]
    for folder, origin in dirs:
        state = "" if folder.is_dir() else ", does not exist"
        if folder.is_file():
            state = ", a file, not a folder"
        lines.append(f"  - {folder} ({origin}{state})")
    lines += download_note
    source = f" (e.g. from {dataset.mirrors[0]})" if dataset.mirrors else ""
    lines.append(
        f"To provide the files: on a machine with internet access download the four files "
        f"{', '.join(dataset.files)}{source} into one folder, then pass that folder as "
        f"load_data({dataset.name!r}, data_dir=...), or as --data-dir on the command line "
        f"(python -m convnet train --dataset {dataset.name} --data-dir FOLDER), or set the "
        f"environment variable {dataset.env} to it."
    )
    if dataset.system_package:
        lines.append(
            f"On Debian or Ubuntu, `apt install {dataset.system_package}` installs them in "
            f"{dataset.system_dir}, where they are found without any of this."
        )
    return "\n".join(lines)


def find_data(name="mnist", data_dir=None):
    """Where each of a dataset's four files would be read from, without reading or downloading.

    Each file is looked for, as ``name.gz`` or ``name``, in ``data_dir``, then in the folder
    named by the dataset's environment variable, then in :func:`dataset_cache_dir`, then where an
    operating-system package installs it; the first match wins. Files are not verified here:
    :func:`load_data` checks each one's SHA-256 when it reads it.

    Parameters
    ----------
    name : str or Dataset
        A name in :data:`DATASETS`.
    data_dir : str or os.PathLike, optional

    Returns
    -------
    paths : dict
        ``{file name: pathlib.Path}`` for the dataset's four file names.

    Raises
    ------
    DatasetNotFoundError (a FileNotFoundError)
        Some file is in none of the folders; the message lists them all. Or ``data_dir``
        (or the environment variable) names a file, not a folder.

    Examples
    --------
    Four empty files are found, since nothing is read:

    >>> tmp = tempfile.TemporaryDirectory(); folder = Path(tmp.name)
    >>> for name in FILES:
    ...     (folder / name).touch()
    >>> paths = find_data("fashion_mnist", folder)
    >>> paths[TRAIN_IMAGES].name, paths[TRAIN_IMAGES].parent == folder
    ('train-images-idx3-ubyte.gz', True)
    >>> find_data("fashion_mnist", folder / TRAIN_IMAGES)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    convnet.data.DatasetNotFoundError: .../train-images-idx3-ubyte.gz (the data_dir argument, --data-dir) is a file, not a folder: give the folder that holds the four Fashion-MNIST files (...), here ...
    >>> tmp.cleanup()
    """  # noqa: E501
    dataset = get_dataset(name)
    dirs = _search_dirs(dataset, data_dir)
    found = _locate(dataset.files, dirs)
    missing = [file for file, path in found.items() if path is None]
    if missing:
        note = [f"(load_data({dataset.name!r}) can download them.)"]
        raise DatasetNotFoundError(_not_found_message(dataset, missing, dirs, note))
    return found


def find_mnist(data_dir=None):
    """:func:`find_data` for MNIST: ``find_data("mnist", data_dir)``.

    Examples
    --------
    >>> tmp = tempfile.TemporaryDirectory(); folder = Path(tmp.name)
    >>> for name in FILES:
    ...     (folder / name).touch()
    >>> find_mnist(folder)[TEST_LABELS].name
    't10k-labels-idx1-ubyte.gz'
    >>> tmp.cleanup()
    """
    return find_data("mnist", data_dir)


def _mismatch(where, expected, actual, dataset=None):
    """The message for content hashing to ``actual`` where ``expected`` was wanted; it names
    the registry's file that the content is, if it is one."""
    message = (
        f"{where}: SHA-256 checksum mismatch: expected {expected}, got {actual} "
        "(of the decompressed content); "
    )
    known = _known_as(actual)
    if known is None:
        what = f"this {dataset.title} file" if dataset else "the file the checksums are for"
        return message + f"the file is damaged or is not {what}."
    other, name = known
    if dataset is None or other.name != dataset.name:
        not_this = f", not {dataset.title}'s" if dataset else ""
        return message + (
            f"these are {other.title}'s files (this is its {name}){not_this}: use "
            f"load_data({other.name!r}) (--dataset {other.name} on the command line)."
        )
    return message + f"its content is {other.title}'s {name}."


def _verified_payload(path, expected, *, dataset=None, cache=None):
    """``(data, source)`` as :func:`~convnet.idx.read_payload` gives them if the SHA-256 of
    ``data`` is ``expected``; else ChecksumError.

    A file that fails and lives in the download cache ``cache`` is deleted: the cache only
    ever holds verified files, so a bad one there is damage, and the next call downloads it
    anew. Unless it is a file of the registry (another dataset's, copied into the wrong
    cache): that is data, and it is kept.
    """
    data, source = read_payload(path)
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        message = _mismatch(path, expected, actual, dataset)
        known = _known_as(actual)
        other = known is not None and (dataset is None or known[0].name != dataset.name)
        in_cache = cache is not None and Path(path).parent.resolve() == Path(cache).resolve()
        if in_cache and other:
            message += (
                f" It is in {dataset.title}'s download cache {cache}, and has been left there: "
                f"its place is {dataset_cache_dir(known[0].name)}."
            )
        elif in_cache:
            Path(path).unlink(missing_ok=True)
            message += " It was in the download cache and has been deleted: call again to "
            message += "download it anew."
        elif not other:
            message += " Replace it with a good copy (see convnet.data.DATASETS)."
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
            known = _known_as(actual)
            raise ChecksumError(
                f"SHA-256 checksum mismatch of the downloaded file: expected {expected}, "
                f"got {actual} (of the decompressed content)"
                + (f"; it is {known[0].title}'s {known[1]}" if known else "")
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


def download_data(
    name="mnist", cache_dir=None, *, mirrors=None, checksums=None, progress=None, timeout=_TIMEOUT
):
    """Make sure a dataset's four files are in ``cache_dir``, downloading those that are not.

    A file already there is kept if its SHA-256 verifies and deleted if not (unless it is
    another dataset's file of the registry: then ChecksumError says where it belongs). A
    missing one is fetched from each mirror in turn, streamed to a temporary file in
    ``cache_dir``, its byte count checked against the Content-Length header and its
    decompressed content against ``checksums``, and only then renamed to its final name. Any
    failure (HTTP error, refused connection, unknown host, dropped connection, wrong checksum)
    moves on to the next mirror; the temporary file is always removed.

    Parameters
    ----------
    name : str or Dataset
        A name in :data:`DATASETS`.
    cache_dir : str or os.PathLike, optional
        Default: the dataset's own cache folder, :func:`dataset_cache_dir` ``(name)``.
    mirrors : list of str, optional
        Base URLs; default the dataset's ``mirrors``.
    checksums : dict, optional
        ``{file name: SHA-256 hex}``; default the dataset's ``sha256``. Tests pass their own.
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
    DatasetNotFoundError (a FileNotFoundError)
        A file could not be had from any mirror; the message lists each mirror's failure.

    Examples
    --------
    Files already in the folder and verified are not downloaded again. Here four small files
    of zeros stand in for Fashion-MNIST, with their own checksums:

    >>> from convnet.idx import payload_sha256, write_idx
    >>> tmp = tempfile.TemporaryDirectory(); folder = Path(tmp.name)
    >>> for name, shape in zip(FILES, [(60, 28, 28), (60,), (20, 28, 28), (20,)]):
    ...     write_idx(folder / name, np.zeros(shape, np.uint8))
    >>> checksums = {name: payload_sha256(folder / name) for name in FILES}
    >>> paths = download_data("fashion_mnist", folder, checksums=checksums)
    >>> sorted(p.name for p in paths.values())[:2]
    ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']
    >>> tmp.cleanup()
    """
    dataset = get_dataset(name)
    if cache_dir is None:
        cache_dir = dataset_cache_dir(dataset.name)
    cache = Path(cache_dir).expanduser()
    mirrors = list(dataset.mirrors if mirrors is None else mirrors)
    checksums = dataset.sha256 if checksums is None else checksums
    progress = _progress_default() if progress is None else progress
    paths = {}
    for file in dataset.files:
        path = _find_in(cache, file)
        if path is not None:
            try:
                _verified_payload(path, checksums[file], dataset=dataset, cache=cache)
                paths[file] = path
                continue
            except ChecksumError:
                if path.exists():
                    raise  # another dataset's file, kept: the message says where it belongs
            except DataError:
                path.unlink(missing_ok=True)  # not even a whole gzip file: fetch it again
        try:
            paths[file] = _download_one(
                file, cache, mirrors, checksums[file], progress=progress, timeout=timeout
            )
        except _DownloadFailed as failed:
            raise DatasetNotFoundError("\n".join(_failure_lines(failed))) from None
    return paths


def download_mnist(cache_dir=None, **kwargs):
    """:func:`download_data` for MNIST: ``download_data("mnist", cache_dir, **kwargs)``.

    Examples
    --------
    With no mirror to try, the first missing file cannot be had:

    >>> tmp = tempfile.TemporaryDirectory()
    >>> download_mnist(tmp.name, mirrors=[])
    Traceback (most recent call last):
    ...
    convnet.data.DatasetNotFoundError: Could not download train-images-idx3-ubyte.gz: no mirrors were given.
    >>> tmp.cleanup()
    """  # noqa: E501
    return download_data("mnist", cache_dir, **kwargs)


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def _read_arrays(paths, files, checksums=None, *, dataset=None, cache=None):
    """The four arrays of ``paths`` (``{file name: path}``), each file verified against
    ``checksums`` if given, images and labels checked to pair up."""
    arrays = []
    for i, name in enumerate(files):
        if checksums is None:
            data, source = read_payload(paths[name])
        else:
            data, source = _verified_payload(
                paths[name], checksums[name], dataset=dataset, cache=cache
            )
        arrays.append(parse_idx(data, source, ndim=1 if i % 2 else 3))  # images, labels, ...
    x_train, y_train, x_test, y_test = arrays
    for images, labels, i in ((x_train, y_train, 0), (x_test, y_test, 2)):
        if images.shape[0] != labels.shape[0]:
            raise DataError(
                f"{paths[files[i]]} has {images.shape[0]} images but {paths[files[i + 1]]} has "
                f"{labels.shape[0]} labels; expected one label per image"
            )
    return (x_train, y_train), (x_test, y_test)


def load_data(
    name="mnist",
    data_dir=None,
    *,
    download=True,
    mirrors=None,
    progress=None,
    checksums=None,
    timeout=_TIMEOUT,
):
    """Load a dataset of the registry as Keras's ``<name>.load_data()`` does, from a folder,
    the cache or a mirror.

    Each file is taken from the first of ``data_dir``, the dataset's environment variable,
    :func:`dataset_cache_dir` and an operating-system package's folder that has it (as ``.gz``
    or uncompressed). Files found nowhere are downloaded into the cache (see
    :func:`download_data`) if ``download`` is true. Every file's decompressed content is
    checked against its SHA-256 before it is used.

    Parameters
    ----------
    name : str or Dataset
        A name in :data:`DATASETS`: ``"mnist"``, ``"fashion_mnist"``.
    data_dir : str or os.PathLike, optional
        A folder with the four files.
    download : bool
        Allow downloading missing files.
    mirrors : list of str, optional
        Base URLs tried in order; default the dataset's ``mirrors``.
    progress : bool, optional
        Progress bars while downloading. Default: when stderr is a terminal.
    checksums : dict, optional
        ``{file name: SHA-256 hex}``; default the dataset's ``sha256``.
    timeout : float
        Seconds to wait for a mirror to connect or send the next bytes.

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        uint8 arrays of shapes (60000, 28, 28), (60000,), (10000, 28, 28), (10000,) for
        MNIST and Fashion-MNIST; pixel values 0..255, labels 0..9 (indices into the dataset's
        ``class_names``).

    Raises
    ------
    DatasetNotFoundError (a FileNotFoundError)
        Files missing and not downloadable: one error naming every folder searched, each
        mirror tried with its failure, and how to provide the files. Or ``data_dir`` is a
        file, not a folder.
    ChecksumError (a ValueError)
        A file found does not verify; it names the file and both hashes, and the dataset
        whose file it is if it is one of the registry's. A damaged file in the cache is
        deleted; a file elsewhere is never touched.
    DataError (a ValueError)
        A file is not a well-formed IDX file.
    ValueError
        ``name`` is not in the registry.

    Examples
    --------
    With four small files of zeros written by :func:`~convnet.idx.write_idx`, and their
    checksums (the real files need no ``checksums``):

    >>> from convnet.idx import payload_sha256, write_idx
    >>> tmp = tempfile.TemporaryDirectory(); folder = Path(tmp.name)
    >>> for name, shape in zip(FILES, [(60, 28, 28), (60,), (20, 28, 28), (20,)]):
    ...     write_idx(folder / name, np.zeros(shape, np.uint8))
    >>> checksums = {name: payload_sha256(folder / name) for name in FILES}
    >>> (x_train, y_train), (x_test, y_test) = load_data("fashion_mnist", folder,
    ...                                                  download=False, checksums=checksums)
    >>> x_train.shape, x_train.dtype, y_train.shape, x_test.shape, y_test.shape
    ((60, 28, 28), dtype('uint8'), (60,), (20, 28, 28), (20,))
    >>> FASHION_MNIST.class_names[y_test[0]]
    'T-shirt/top'
    >>> tmp.cleanup()
    """
    dataset = get_dataset(name)
    checksums = dataset.sha256 if checksums is None else checksums
    dirs = _search_dirs(dataset, data_dir)
    cache = dataset_cache_dir(dataset.name)
    found = _locate(dataset.files, dirs)
    missing = [file for file, path in found.items() if path is None]
    if missing and not download:
        note = ["Downloading was not attempted (download=False)."]
        raise DatasetNotFoundError(_not_found_message(dataset, missing, dirs, note))
    if missing:
        mirrors = list(dataset.mirrors if mirrors is None else mirrors)
        progress = _progress_default() if progress is None else progress
        for file in missing:
            try:
                found[file] = _download_one(
                    file, cache, mirrors, checksums[file], progress=progress, timeout=timeout
                )
            except _DownloadFailed as failed:
                # Stop at the first file no mirror could give: with no network, trying the
                # other files would only repeat the same failures.
                note = [f"Tried to download into the cache, {cache}."] + _failure_lines(failed)
                raise DatasetNotFoundError(
                    _not_found_message(dataset, missing, dirs, note)
                ) from None
    return _read_arrays(found, dataset.files, checksums, dataset=dataset, cache=cache)


def load_mnist(data_dir=None, **kwargs):
    """MNIST, as Keras's ``mnist.load_data()`` returns it: ``load_data("mnist", data_dir)``.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
    **kwargs
        As :func:`load_data`: ``download``, ``mirrors``, ``progress``, ``checksums``,
        ``timeout``.

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        uint8 arrays of shapes (60000, 28, 28), (60000,), (10000, 28, 28), (10000,); pixel
        values 0..255, labels 0..9.

    Examples
    --------
    ``data_dir`` is the folder that holds the files, not one of them:

    >>> tmp = tempfile.TemporaryDirectory(); file = Path(tmp.name) / TRAIN_IMAGES
    >>> file.touch()
    >>> load_mnist(file)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    convnet.data.DatasetNotFoundError: .../train-images-idx3-ubyte.gz (the data_dir argument, --data-dir) is a file, not a folder: give the folder that holds the four MNIST files (...), here ...
    >>> tmp.cleanup()
    """  # noqa: E501
    return load_data("mnist", data_dir, **kwargs)


def load_idx_dataset(folder, checksums=None, class_names=None):
    """Any dataset stored as MNIST is: the four IDX files in ``folder``, read as
    :func:`load_data` reads those of the registry.

    The files are looked for under MNIST's names (:data:`FILES`), each as ``name.gz`` or
    ``name``: ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``. Nothing is downloaded.

    Parameters
    ----------
    folder : str or os.PathLike
    checksums : dict, optional
        ``{file name: SHA-256 hex of the decompressed file}``, keyed by the names in
        :data:`FILES` (:func:`convnet.idx.payload_sha256` computes one). Given, every file is
        verified. Left out, the files are read unverified, and a warning says so.
    class_names : sequence of str, optional
        If given, every label must be an index into it.

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        uint8 arrays of shapes (N, H, W), (N,), (M, H, W), (M,) as the headers say.

    Raises
    ------
    DatasetNotFoundError (a FileNotFoundError)
        ``folder`` is not a folder, or lacks some of the files.
    ChecksumError, DataError (ValueErrors)
        A file does not verify, is not a well-formed IDX file, or has a label that is not an
        index into ``class_names``.

    Warns
    -----
    UserWarning
        No ``checksums``: the files are not verified.

    Examples
    --------
    >>> import warnings
    >>> from convnet.idx import payload_sha256, write_idx
    >>> tmp = tempfile.TemporaryDirectory(); folder = Path(tmp.name)
    >>> for name, shape in zip(FILES, [(6, 8, 8), (6,), (2, 8, 8), (2,)]):
    ...     write_idx(folder / name, np.ones(shape, np.uint8))
    >>> checksums = {name: payload_sha256(folder / name) for name in FILES}
    >>> (x_train, y_train), _ = load_idx_dataset(folder, checksums, class_names=["no", "yes"])
    >>> x_train.shape, y_train[:3]
    ((6, 8, 8), array([1, 1, 1], dtype=uint8))
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = load_idx_dataset(folder)
    >>> "not verified" in str(caught[0].message)
    True
    >>> tmp.cleanup()
    """
    folder = Path(folder).expanduser()
    if folder.is_file():
        raise DatasetNotFoundError(
            f"{folder} is a file, not a folder: give load_idx_dataset the folder that holds "
            f"the four IDX files ({', '.join(FILES)})"
        )
    found = _locate(FILES, [(folder, "the folder given")])
    missing = [name for name, path in found.items() if path is None]
    if missing:
        state = "" if folder.is_dir() else " (it does not exist)"
        raise DatasetNotFoundError(
            f"{folder}{state}: missing {', '.join(missing)} (each may also be stored "
            "uncompressed, without .gz); load_idx_dataset reads the four files under these "
            "names"
        )
    if checksums is None:
        warnings.warn(
            f"{folder}: the four IDX files are read but not verified, since no checksums were "
            "given; a damaged or wrong file goes unnoticed. Pass checksums={file name: SHA-256 "
            "of its decompressed content} (convnet.idx.payload_sha256 computes one) to verify "
            "them.",
            UserWarning,
            stacklevel=2,
        )
    elif set(FILES) - set(checksums):
        raise ValueError(
            f"load_idx_dataset: checksums lacks {', '.join(sorted(set(FILES) - set(checksums)))}"
            f"; give one for each of {', '.join(FILES)}"
        )
    (x_train, y_train), (x_test, y_test) = _read_arrays(found, FILES, checksums)
    if class_names is not None:
        for labels, name in ((y_train, TRAIN_LABELS), (y_test, TEST_LABELS)):
            if labels.size and labels.max() >= len(class_names):
                raise DataError(
                    f"{found[name]}: a label {labels.max()}, but only {len(class_names)} class "
                    f"names were given (labels 0..{len(class_names) - 1})"
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


class Split(NamedTuple):
    """A dataset ready for training: images float32 (N, 1, 28, 28) in [0, 1], labels int64
    (N,)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


#: The earlier name of :class:`Split`, from when MNIST was the only dataset.
MNISTSplit = Split


def load_split(name="mnist", data_dir=None, **kwargs):
    """:func:`load_data`, then :func:`notebook_split` and :func:`to_images`: ready to train on.

    Parameters
    ----------
    name : str or Dataset
        A name in :data:`DATASETS`.
    data_dir : str or os.PathLike, optional
    **kwargs
        Passed on to :func:`load_data` (``download``, ``mirrors``, ``progress``, ...).

    Returns
    -------
    Split
        ``x_train`` (48000, 1, 28, 28), ``y_train`` (48000,), ``x_val`` (12000, 1, 28, 28),
        ``y_val`` (12000,), ``x_test`` (10000, 1, 28, 28), ``y_test`` (10000,) for MNIST and
        Fashion-MNIST; images float32 in [0, 1], labels int64.

    Examples
    --------
    With four small files of zeros, as in :func:`load_data`'s example (every label is 0:
    one class to stratify by):

    >>> from convnet.idx import payload_sha256, write_idx
    >>> tmp = tempfile.TemporaryDirectory(); folder = Path(tmp.name)
    >>> for name, shape in zip(FILES, [(60, 28, 28), (60,), (20, 28, 28), (20,)]):
    ...     write_idx(folder / name, np.zeros(shape, np.uint8))
    >>> checksums = {name: payload_sha256(folder / name) for name in FILES}
    >>> data = load_split("fashion_mnist", folder, download=False, checksums=checksums)
    >>> data.x_train.shape, data.x_val.shape, data.x_test.shape, data.y_val.dtype
    ((48, 1, 28, 28), (12, 1, 28, 28), (20, 1, 28, 28), dtype('int64'))
    >>> tmp.cleanup()
    """
    (x_train, y_train), (x_test, y_test) = load_data(name, data_dir, **kwargs)
    x_train, x_val, y_train, y_val = notebook_split(x_train, y_train)
    return Split(
        to_images(x_train),
        y_train.astype(np.int64),
        to_images(x_val),
        y_val.astype(np.int64),
        to_images(x_test),
        y_test.astype(np.int64),
    )


def load_mnist_split(data_dir=None, **kwargs):
    """MNIST ready to train on: ``load_split("mnist", data_dir, **kwargs)``.

    Examples
    --------
    >>> from convnet.idx import payload_sha256, write_idx
    >>> tmp = tempfile.TemporaryDirectory(); folder = Path(tmp.name)
    >>> for name, shape in zip(FILES, [(60, 28, 28), (60,), (20, 28, 28), (20,)]):
    ...     write_idx(folder / name, np.zeros(shape, np.uint8))
    >>> checksums = {name: payload_sha256(folder / name) for name in FILES}
    >>> load_mnist_split(folder, download=False, checksums=checksums).x_val.shape
    (12, 1, 28, 28)
    >>> tmp.cleanup()
    """
    return load_split("mnist", data_dir, **kwargs)
