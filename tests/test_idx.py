"""Tests of convnet.idx: IDX files written and read back, byte by byte, and every way a file
can be wrong."""

from __future__ import annotations

import gzip
import hashlib
import os

import numpy as np
import pytest

from convnet.idx import DataError, payload_sha256, read_idx, write_idx


def _idx(code=0x08, dims=(3,), payload=None, prefix=b"\x00\x00"):
    """IDX bytes built by hand, so that each field can be made wrong on its own."""
    if payload is None:
        payload = bytes(range(int(np.prod(dims))))
    header = prefix + bytes([code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)
    return header + payload


@pytest.mark.parametrize("shape", [(7,), (4, 5), (3, 4, 5)])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, shape, suffix):
    rng = np.random.default_rng(0)
    array = rng.integers(0, 256, size=shape, dtype=np.uint8)
    path = tmp_path / f"a{suffix}"
    write_idx(path, array)
    raw = path.read_bytes()
    assert (raw[:2] == b"\x1f\x8b") == (suffix == ".gz")
    back = read_idx(path)
    assert back.dtype == np.uint8 and back.shape == shape
    np.testing.assert_array_equal(back, array)
    back[...] = 0  # the array is an ordinary writable one
    assert os.listdir(tmp_path) == [path.name]  # no temporary file left behind


def test_idx_header_bytes(tmp_path):
    write_idx(tmp_path / "labels", np.array([7, 2, 1], dtype=np.uint8))
    assert (tmp_path / "labels").read_bytes() == b"\x00\x00\x08\x01\x00\x00\x00\x03\x07\x02\x01"
    write_idx(tmp_path / "images", np.zeros((60000, 28, 28), dtype=np.uint8))
    assert (tmp_path / "images").read_bytes()[:16] == bytes.fromhex(
        "00000803 0000ea60 0000001c 0000001c"
    )  # magic 2051, then 60000, 28, 28


def test_gzip_is_detected_by_content_not_name(tmp_path):
    array = np.arange(10, dtype=np.uint8)
    write_idx(tmp_path / "zipped.idx", array, compress=True)
    write_idx(tmp_path / "plain.gz", array, compress=False)
    assert (tmp_path / "zipped.idx").read_bytes()[:2] == b"\x1f\x8b"
    assert (tmp_path / "plain.gz").read_bytes()[:4] == b"\x00\x00\x08\x01"
    np.testing.assert_array_equal(read_idx(tmp_path / "zipped.idx"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "plain.gz"), array)


def test_gzip_output_is_reproducible(tmp_path):
    write_idx(tmp_path / "a.gz", np.arange(100, dtype=np.uint8))
    assert (tmp_path / "a.gz").read_bytes()[4:8] == bytes(4)  # no timestamp in the header


def test_write_idx_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "labels.gz"
    write_idx(path, np.array([1, 2, 3], dtype=np.uint8))

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        write_idx(path, np.array([9, 9, 9, 9], dtype=np.uint8))
    np.testing.assert_array_equal(read_idx(path), [1, 2, 3])  # the old file is intact
    assert os.listdir(tmp_path) == ["labels.gz"]  # and the temporary file is gone


@pytest.mark.parametrize(
    "array, problem",
    [
        (np.zeros(3, dtype=np.float32), "expected a uint8 array, got float32"),
        (np.zeros(3, dtype=np.int64), "expected a uint8 array, got int64"),
        (np.uint8(3), "1 to 3 dimensions, got shape ()"),
        (np.zeros((1, 1, 1, 1), dtype=np.uint8), "1 to 3 dimensions, got shape (1, 1, 1, 1)"),
    ],
)
def test_write_idx_rejects(tmp_path, array, problem):
    with pytest.raises(ValueError) as err:
        write_idx(tmp_path / "bad", array)
    assert problem in str(err.value) and "bad" in str(err.value)
    assert os.listdir(tmp_path) == []


BAD_FILES = {
    "wrong magic": (
        b"\x12\x34\x08\x01\x00\x00\x00\x01\x00",
        ["bad magic number 0x12340801", "2051", "2049"],
    ),
    "a PNG": (b"\x89PNG\r\n\x1a\n" + bytes(20), ["bad magic number 0x89504e47"]),
    "float32 type code": (
        _idx(code=0x0D, dims=(1,), payload=bytes(4)),
        ["type code 0x0d (float32)", "expected 0x08 (unsigned byte)"],
    ),
    "signed byte type code": (_idx(code=0x09), ["type code 0x09 (signed byte)", "0x08"]),
    "no dimensions": (b"\x00\x00\x08\x00", ["0 dimensions", "expected at least 1"]),
    "too short": (b"\x00\x00", ["only 2 bytes", "too short for an IDX header"]),
    "truncated header": (
        b"\x00\x00\x08\x03" + (60000).to_bytes(4, "big"),
        ["header truncated", "3 dimensions need a 16-byte header", "only 8 bytes"],
    ),
    "truncated payload": (
        _idx(dims=(2, 3), payload=bytes(5)),
        ["truncated: 5 bytes of data", "expected exactly 6 = 2 x 3"],
    ),
    "empty payload": (_idx(dims=(4,), payload=b""), ["truncated: 0 bytes", "exactly 4 = 4"]),
    "trailing bytes": (
        _idx(dims=(2, 3), payload=bytes(8)),
        ["2 trailing bytes", "expected exactly 6 = 2 x 3", "found 8"],
    ),
}


@pytest.mark.parametrize("compressed", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_read_idx_rejects_bad_files(tmp_path, case, compressed):
    content, problems = BAD_FILES[case]
    path = tmp_path / f"bad-{case.replace(' ', '-')}"
    path.write_bytes(gzip.compress(content) if compressed else content)
    with pytest.raises(DataError) as err:
        read_idx(path)
    message = str(err.value)
    assert isinstance(err.value, ValueError)
    assert str(path) in message
    assert ("(decompressed)" in message) == compressed
    for problem in problems:
        assert problem in message


def test_read_idx_checks_number_of_dimensions(tmp_path):
    write_idx(tmp_path / "labels", np.zeros(5, dtype=np.uint8))
    assert read_idx(tmp_path / "labels", ndim=1).shape == (5,)
    with pytest.raises(DataError) as err:
        read_idx(tmp_path / "labels", ndim=3)
    message = str(err.value)
    assert "labels" in message and "1 dimensions (magic 2049)" in message
    assert "expected 3 (magic 2051)" in message


def test_read_idx_rejects_corrupt_gzip(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    write_idx(path, np.arange(200, dtype=np.uint8).reshape(2, 10, 10))
    path.write_bytes(path.read_bytes()[:-12])  # cut off the end of the gzip stream
    with pytest.raises(DataError, match="corrupt gzip data") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_read_idx_missing_file(tmp_path):
    path = tmp_path / "nowhere" / "t10k-labels-idx1-ubyte.gz"
    with pytest.raises(FileNotFoundError) as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_payload_sha256_ignores_compression(tmp_path):
    array = np.arange(50, dtype=np.uint8)
    write_idx(tmp_path / "a", array)
    write_idx(tmp_path / "a.gz", array)
    expected = hashlib.sha256((tmp_path / "a").read_bytes()).hexdigest()
    assert payload_sha256(tmp_path / "a") == payload_sha256(tmp_path / "a.gz") == expected
