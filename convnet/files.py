"""Atomic writes: a file is replaced whole or not at all, never left half-written; what a
killed write leaves behind, the next write of the same file removes.

Reading order: beside the path, under **13. data** and **14. file I/O**, which write their
files with it (IDX files, model files, checkpoints), as the drawing app writes its state
file. It imports nothing of convnet, so that any module can use it. Docs chapter: "The
mnist.h5 file" (its section on atomic saves).
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from pathlib import Path

__all__ = ["atomic_write", "remove_orphans"]

#: This machine's name as it appears in temporary file names: letters, digits and hyphens.
#: A folder shared between machines holds other machines' writers, whose processes no
#: process here can see, so their temporary files are never taken for orphans.
HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"


def _unlocked(path: Path) -> bool:
    """True if no process holds the lock that :class:`atomic_write` keeps on its temporary
    file while it writes (a dead writer's lock went with it); False when in doubt."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        return False
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:  # held: a writer is at work on it
        return False
    finally:
        os.close(fd)  # closing releases the lock taken here


def _process_is_gone(pid: int) -> bool:
    """True only if no process ``pid`` runs on this machine; when in doubt, False."""
    if os.name != "posix":
        return False  # os.kill(pid, 0) would end the process on Windows: never guess there
    try:
        os.kill(pid, 0)  # signal 0: delivers nothing, only asks whether the process exists
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: it exists, and belongs to someone else
        return False
    return False


def remove_orphans(path) -> list[Path]:
    """Remove the temporary files that killed writers of ``path`` left beside it.

    A temporary file is named ``.<name>.<host>.<pid>.<random>.tmp`` after the machine and
    the process that writes it. One is an orphan, and removed, only if it belongs to the
    same target ``path``, was made on this machine, by a process that no longer runs, and
    nobody holds the lock its writer keeps on it while writing. A file of another target, of
    another machine, of a process that still runs (this one included, or one that was given
    a dead writer's number since), or still locked (a writer in another container, whose
    processes this one cannot see) is left alone.

    Returns
    -------
    list of Path
        The files removed.

    Examples
    --------
    >>> import pathlib, subprocess, sys, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> ended = subprocess.Popen([sys.executable, "-c", "pass"])
    >>> ended.wait()
    0
    >>> orphan = folder / f".model.h5.{HOST}.{ended.pid}.0123456789abcdef.tmp"
    >>> live = folder / f".model.h5.{HOST}.{os.getpid()}.fedcba9876543210.tmp"
    >>> _ = orphan.write_bytes(b"half a model"), live.write_bytes(b"being written")
    >>> [p.name for p in remove_orphans(folder / "model.h5")] == [orphan.name]
    True
    >>> orphan.exists(), live.exists()
    (False, True)
    """
    path = Path(path)
    name, host = re.escape(path.name), re.escape(HOST)
    pattern = re.compile(rf"\.{name}\.{host}\.(\d+)\.[0-9a-f]{{16}}\.tmp")
    removed = []
    for candidate in path.parent.iterdir() if path.parent.is_dir() else ():
        match = pattern.fullmatch(candidate.name)
        if match is None or not _process_is_gone(int(match[1])) or not _unlocked(candidate):
            continue
        try:
            candidate.unlink()
        except OSError:  # gone already (another writer cleaned up first), or not ours to remove
            continue
        removed.append(candidate)
    return removed


class atomic_write:
    """Context manager giving a temporary path beside ``path``; renamed onto it on success.

    The temporary file is in the same folder (a rename is atomic only within one file
    system), is flushed to disk with fsync before the rename, and the folder is fsync'ed
    after it, so that the new name survives a power cut too. If the block raises, the
    temporary file is removed and ``path`` is untouched. A process killed mid-write leaves
    ``path`` untouched and a stray ``.<name>.<host>.<pid>.<random>.tmp`` file beside it; the
    next write of the same ``path`` removes it (:func:`remove_orphans`), so that repeated
    interrupted saves of a large model do not fill the disk.

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
        remove_orphans(self.path)
        name = f".{self.path.name}.{HOST}.{os.getpid()}.{secrets.token_hex(8)}.tmp"
        self.tmp = self.path.with_name(name)
        # Created like any new file (mode 0o666 less the umask); O_EXCL: never reuse a file.
        self._lock = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:  # held while the file is written: remove_orphans leaves a locked file alone
            import fcntl

            # A POSIX record lock, not flock(): HDF5 takes a flock() of its own on the file
            # it writes, and on Linux the two kinds do not meet.
            fcntl.lockf(self._lock, fcntl.LOCK_EX)
        except ImportError:  # not POSIX: nothing is removed there anyway
            pass
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        try:
            return self._finish(exc_type)
        finally:
            os.close(self._lock)  # and with it the lock

    def _finish(self, exc_type):
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
