"""Atomic writes (convnet/files.py): the temporary file is renamed onto the target, and the
temporary files that killed writers leave are removed by a later write of the same target,
never one that another target's, another machine's or a live process's writer owns."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from convnet.files import HOST, atomic_write, remove_orphans

# Starts writing ``target`` as machine ``host``, prints the temporary path, then either is
# killed there (as a save interrupted by a kill) or goes on "writing" for two minutes.
WRITER = """
import os, signal, sys, time
from pathlib import Path
from convnet import files

target, host, then = sys.argv[1:]
files.HOST = host
with files.atomic_write(target) as tmp:
    Path(tmp).write_bytes(b"half a model")
    print(tmp, flush=True)
    if then == "killed":
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(120)
"""


@pytest.fixture
def writers():
    """Start writer processes; the ones still running are stopped at the end."""
    started = []

    def start(target, then, host=HOST):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target), host, then],
                                stdout=subprocess.PIPE, text=True)  # fmt: skip
        started.append(proc)
        tmp = Path(proc.stdout.readline().strip())
        if then == "killed":
            assert proc.wait(timeout=60) == -9
        assert tmp.exists() and tmp.name.startswith(f".{Path(target).name}.{host}.{proc.pid}.")
        return tmp

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_later_write_removes_only_what_dead_writers_of_the_same_target_left(tmp_path, writers):
    target = tmp_path / "mnist.h5"
    target.write_bytes(b"the previous model")
    dead = [writers(target, "killed"), writers(target, "killed")]
    live = writers(target, "writing")
    other_target = writers(tmp_path / "checkpoint.h5", "killed")
    other_machine = writers(target, "killed", host="another-machine")
    user_file = tmp_path / ".mnist.h5.notes.tmp"  # not a name a writer makes
    user_file.write_text("keep me")

    with atomic_write(target) as tmp:
        Path(tmp).write_bytes(b"the new model")
        assert Path(tmp).name.startswith(f".mnist.h5.{HOST}.{os.getpid()}.")
    assert target.read_bytes() == b"the new model"
    assert not any(p.exists() for p in dead)
    assert live.exists() and other_target.exists() and other_machine.exists()
    assert user_file.read_text() == "keep me"
    assert not Path(tmp).exists()


def test_a_write_in_the_same_process_leaves_another_live_write_alone(tmp_path):
    target = tmp_path / "state.json"
    with atomic_write(target) as outer:
        Path(outer).write_text("outer")
        with atomic_write(target) as inner:
            Path(inner).write_text("inner")
        assert Path(outer).read_text() == "outer"  # this process is alive: not an orphan
    assert target.read_text() == "outer"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_remove_orphans_returns_what_it_removed_and_tolerates_a_missing_folder(tmp_path, writers):
    target = tmp_path / "mnist.h5"
    orphan = writers(target, "killed")
    assert remove_orphans(target) == [orphan]
    assert remove_orphans(target) == []
    assert remove_orphans(tmp_path / "nowhere" / "mnist.h5") == []


# Holds a POSIX lock on a file, as a writer in another container (whose process this one
# cannot see) would, and prints once it holds it.
HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY)
fcntl.lockf(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(120)
"""


@pytest.mark.skipif(os.name != "posix", reason="POSIX record locks")
def test_a_locked_temporary_file_is_left_alone_even_if_its_pid_is_gone(tmp_path, writers):
    """A writer in another PID namespace shows a number no process here has: its lock on
    the file is what tells that it is still writing."""
    target = tmp_path / "mnist.h5"
    orphan = writers(target, "killed")  # a dead writer's file, its number gone for good
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(orphan)],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert remove_orphans(target) == [] and orphan.exists()
    finally:
        holder.kill()
        holder.wait()
    assert remove_orphans(target) == [orphan]  # the lock went with its holder
