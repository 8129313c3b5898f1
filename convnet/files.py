"""Atomic writes: a file is replaced whole or not at all, never left half-written.

Reading order: beside the path, under **13. data** and **14. file I/O**, which write their
files with it (IDX files, model files, checkpoints), as the drawing app writes its state
file. It imports nothing of convnet, so that any module can use it. Docs chapter: "The
mnist.h5 file" (its section on atomic saves).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["atomic_write"]


class atomic_write:
    """Context manager giving a temporary path beside ``path``; renamed onto it on success.

    The temporary file is in the same folder (a rename is atomic only within one file
    system), is flushed to disk with fsync before the rename, and the folder is fsync'ed
    after it, so that the new name survives a power cut too. If the block raises, the
    temporary file is removed and ``path`` is untouched. A process killed mid-write leaves
    ``path`` untouched and a stray ``.<name>.<random>.tmp`` file beside it.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_write(target) as tmp:
    ...     _ = pathlib.Path(tmp).write_text("hello")
    >>> target.read_text()
    'hello'
    """

    def __init__(self, path):
        self.path = Path(path)

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(8)}.tmp")
        # Created like any new file (mode 0o666 less the umask); O_EXCL: never reuse a file.
        os.close(os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            Path(self.tmp).unlink(missing_ok=True)
            return False
        try:
            with open(self.tmp, "rb+") as f:  # the bytes must be on disk before the rename
                os.fsync(f.fileno())
            os.replace(self.tmp, self.path)  # atomic: readers see the old file or the new one
        except BaseException:
            Path(self.tmp).unlink(missing_ok=True)
            raise
        if hasattr(os, "O_DIRECTORY"):  # POSIX: make the rename itself durable
            folder = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
        return False
