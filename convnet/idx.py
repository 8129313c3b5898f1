"""IDX files, the format MNIST comes in: read and write them, gzip-compressed or not.

Reading order: ... → callbacks → **13. data** (this module, then :mod:`convnet.data`) → file
I/O. Docs chapters: "Datasets" (``docs/data.md``), "How a CNN learns" (the data) and the
walkthrough notebook ``examples/mnist_walkthrough.ipynb``.

An IDX file is a tiny header followed by the raw numbers, row-major (C order)::

    bytes 0-1   0x00 0x00
    byte  2     data type code: 0x08 = unsigned byte (the only one MNIST uses)
    byte  3     number of dimensions, d
    then        d big-endian uint32 sizes, e.g. 60000, 28, 28
    then        exactly size_1 * ... * size_d bytes of data

Read as one big-endian uint32, the first four bytes are the "magic number": 2051 = 0x00000803
for the image files (3 dimensions) and 2049 = 0x00000801 for the label files (1 dimension).

A file may be stored gzip-compressed or not; gzip is recognised by its first two bytes, not
by the file's name. Every check of a header raises :class:`DataError` naming the file, what
was wrong and what was expected.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import zlib
from pathlib import Path

import numpy as np

from convnet.files import atomic_write

__all__ = ["DataError", "read_payload", "parse_idx", "read_idx", "write_idx", "payload_sha256"]

_GZIP_MAGIC = b"\x1f\x8b"
_UBYTE = 0x08
# The other type codes of the IDX format, named in error messages only.
_IDX_TYPES = {
    0x08: "unsigned byte",
    0x09: "signed byte",
    0x0B: "int16",
    0x0C: "int32",
    0x0D: "float32",
    0x0E: "float64",
}


class DataError(ValueError):
    """A data file is not what it should be: bad IDX header, wrong size, corrupt gzip."""


def read_payload(path):
    """The bytes of ``path``, decompressed if they start with the gzip magic bytes 1f 8b.

    Returns
    -------
    data : bytes
        The file's content, decompressed.
    source : str
        The file's name for error messages, with " (decompressed)" if it was.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    DataError (a ValueError)
        The file starts like gzip data but does not decompress.

    Examples
    --------
    >>> import os, tempfile
    >>> tmp = tempfile.TemporaryDirectory(); path = os.path.join(tmp.name, "labels.gz")
    >>> write_idx(path, np.array([7, 2, 1], dtype=np.uint8))
    >>> data, source = read_payload(path)
    >>> data, source.endswith("labels.gz (decompressed)")
    (b'\\x00\\x00\\x08\\x01\\x00\\x00\\x00\\x03\\x07\\x02\\x01', True)
    >>> tmp.cleanup()
    """
    path = Path(path)
    raw = path.read_bytes()  # FileNotFoundError names the path
    if raw[:2] != _GZIP_MAGIC:
        return raw, str(path)
    try:
        return gzip.decompress(raw), f"{path} (decompressed)"
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(
            f"{path}: corrupt gzip data ({err}); expected a complete gzip-compressed IDX file. "
            "Delete it and fetch it again."
        ) from None


def parse_idx(data, source, *, ndim=None):
    """Check an IDX header against the length of ``data`` and read the payload as an array.

    Parameters
    ----------
    data : bytes
        A whole IDX file, decompressed (:func:`read_payload` gives it).
    source : str
        Where ``data`` came from, for error messages.
    ndim : int, optional
        If given, the number of dimensions the file must have.

    Returns
    -------
    array : ndarray of uint8, shape (size_1, ..., size_d) as the header says
        A writable copy.

    Raises
    ------
    DataError (a ValueError)
        As :func:`read_idx`.

    Examples
    --------
    >>> parse_idx(bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6]), "by hand")
    array([[1, 2, 3],
           [4, 5, 6]], dtype=uint8)
    >>> parse_idx(bytes([0, 0, 8, 1, 0, 0, 0, 4, 1, 2]), "by hand")
    Traceback (most recent call last):
    ...
    convnet.idx.DataError: by hand: truncated: 2 bytes of data after the header, expected exactly 4 = 4
    """  # noqa: E501
    if len(data) < 4:
        raise DataError(
            f"{source}: only {len(data)} bytes, too short for an IDX header; expected at least "
            "4 bytes (0x00 0x00, a type code, the number of dimensions)"
        )
    magic = int.from_bytes(data[:4], "big")
    code, n_dims = data[2], data[3]
    if data[:2] != b"\x00\x00":
        raise DataError(
            f"{source}: bad magic number 0x{magic:08x}: not an IDX file, whose first two bytes "
            "are zero (MNIST images start with 2051 = 0x00000803, labels with 2049 = 0x00000801)"
        )
    if code != _UBYTE:
        raise DataError(
            f"{source}: IDX data type code 0x{code:02x} ({_IDX_TYPES.get(code, 'unknown')}) is "
            f"not supported; expected 0x{_UBYTE:02x} (unsigned byte), as in MNIST"
        )
    if n_dims == 0 or (ndim is not None and n_dims != ndim):
        wanted = "at least 1" if ndim is None else f"{ndim} (magic {0x800 + ndim})"
        raise DataError(
            f"{source}: IDX header says {n_dims} dimensions (magic {magic}); expected {wanted}"
        )
    header = 4 + 4 * n_dims
    if len(data) < header:
        raise DataError(
            f"{source}: header truncated: {n_dims} dimensions need a {header}-byte header, "
            f"the file has only {len(data)} bytes"
        )
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=n_dims, offset=4))
    expected = math.prod(shape)
    got = len(data) - header
    sizes = " x ".join(str(d) for d in shape)
    if got < expected:
        raise DataError(
            f"{source}: truncated: {got} bytes of data after the header, expected exactly "
            f"{expected} = {sizes}"
        )
    if got > expected:
        raise DataError(
            f"{source}: {got - expected} trailing bytes after the data: expected exactly "
            f"{expected} = {sizes} bytes after the header, found {got}"
        )
    # frombuffer reads the bytes in place, with no Python loop; the copy makes the array
    # writable (a view of a bytes object is read-only), as users of load_data() expect.
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()


def read_idx(path, *, ndim=None):
    """Read an IDX file of unsigned bytes, gzip-compressed or not.

    Parameters
    ----------
    path : str or os.PathLike
        The file. Whether it is gzip-compressed is read from its first two bytes (1f 8b), not
        from its name.
    ndim : int, optional
        If given, the number of dimensions the file must have (3 for MNIST images, 1 for labels).

    Returns
    -------
    array : ndarray of uint8, shape (size_1, ..., size_d) as the header says
        (N, 28, 28) for MNIST images, (N,) for labels.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    DataError (a ValueError)
        Bad magic number, a type code other than 0x08, the wrong number of dimensions, or a
        data length other than exactly ``size_1 * ... * size_d`` bytes; the message names the
        file, what was wrong and what was expected.

    Examples
    --------
    >>> import os, tempfile
    >>> tmp = tempfile.TemporaryDirectory(); folder = tmp.name
    >>> write_idx(os.path.join(folder, "labels.gz"), np.array([7, 2, 1], dtype=np.uint8))
    >>> read_idx(os.path.join(folder, "labels.gz"))
    array([7, 2, 1], dtype=uint8)
    >>> tmp.cleanup()
    """
    data, source = read_payload(path)
    return parse_idx(data, source, ndim=ndim)


def write_idx(path, array, *, compress=None):
    """Write a uint8 array as an IDX file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
    array : ndarray of uint8, 1 to 3 dimensions, e.g. shape (N, 28, 28) or (N,)
    compress : bool, optional
        gzip the file. Default: when ``path`` ends with ``.gz``.

    Notes
    -----
    The file is written to a temporary file in the same folder, flushed to disk and renamed
    over ``path``, so an interrupted write never leaves a half-written file under that name.
    The gzip header's timestamp is zeroed: the same array always gives the same bytes.

    Examples
    --------
    >>> import os, tempfile
    >>> tmp = tempfile.TemporaryDirectory(); folder = tmp.name
    >>> images = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    >>> write_idx(os.path.join(folder, "images"), images)
    >>> open(os.path.join(folder, "images"), "rb").read(8)
    b'\\x00\\x00\\x08\\x03\\x00\\x00\\x00\\x02'
    >>> read_idx(os.path.join(folder, "images")).shape
    (2, 2, 3)
    >>> tmp.cleanup()
    """
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ValueError(
            f"write_idx: {path}: expected a uint8 array, got {array.dtype}; convert it "
            "explicitly (e.g. array.astype(np.uint8)) if the values fit in 0..255"
        )
    if not 1 <= array.ndim <= 3:
        raise ValueError(
            f"write_idx: {path}: expected an array of 1 to 3 dimensions, got shape {array.shape}"
        )
    if max(array.shape) >= 2**32:
        raise ValueError(f"write_idx: {path}: a size of {array.shape} does not fit in a uint32")
    header = bytes([0, 0, _UBYTE, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    data = header + np.ascontiguousarray(array).tobytes()
    if compress is None:
        compress = str(path).endswith(".gz")
    if compress:
        data = gzip.compress(data, mtime=0)
    with atomic_write(path) as tmp:
        Path(tmp).write_bytes(data)


def payload_sha256(path):
    """SHA-256 of a file's content after decompression, as a hex string.

    Examples
    --------
    >>> import os, tempfile
    >>> tmp = tempfile.TemporaryDirectory(); folder = tmp.name
    >>> write_idx(os.path.join(folder, "a"), np.zeros(3, np.uint8))
    >>> write_idx(os.path.join(folder, "a.gz"), np.zeros(3, np.uint8))
    >>> payload_sha256(os.path.join(folder, "a")) == payload_sha256(os.path.join(folder, "a.gz"))
    True
    >>> tmp.cleanup()
    """
    return hashlib.sha256(read_payload(path)[0]).hexdigest()
