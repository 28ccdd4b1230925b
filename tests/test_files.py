"""Atomic writes, file modes, output-folder checks and the exclusive lock."""

import errno
import os
import stat
import subprocess
import sys
import time

import pytest
from cunet_bench import files
from cunet_bench.errors import UserError
from cunet_bench.files import atomic_replace, atomic_write, check_output_folder, exclusive_lock


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    target = tmp_path / "demo" / "run.csv"

    def crash(_descriptor):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(UserError, match="cannot write .*run.csv: No space left on device"):
        atomic_write(target, b"a,b\n1,2\n")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_keep_existing_keeps_the_first_writers_file(tmp_path):
    target = tmp_path / "shard.npz"
    assert atomic_write(target, b"first", keep_existing=True) is True
    assert atomic_write(target, b"second", keep_existing=True) is False
    assert target.read_bytes() == b"first" and [p.name for p in tmp_path.iterdir()] == ["shard.npz"]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_written_files_respect_the_umask(tmp_path, umask):
    previous = os.umask(umask)
    files._umask.cache_clear()
    try:
        atomic_write(tmp_path / "a.csv", b"x")
        atomic_replace(tmp_path / "b.md", lambda temporary: open(temporary, "w").write("y"))
    finally:
        os.umask(previous)
        files._umask.cache_clear()
    for name in ("a.csv", "b.md"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask, name


def test_output_folder_checks(tmp_path):
    assert check_output_folder(tmp_path / "new" / "deeper", "--out") == tmp_path / "new" / "deeper"
    regular = tmp_path / "file"
    regular.write_text("x")
    with pytest.raises(UserError, match="is a file, not a folder"):
        check_output_folder(regular, "--out")
    with pytest.raises(UserError, match="is a file, not a folder"):
        check_output_folder(regular / "below", "--out")
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(UserError, match="is not writable"):
            check_output_folder(locked / "out", "--out")


def test_read_only_file_system_is_refused(tmp_path, monkeypatch):
    """A read-only mount cannot be made without privileges: the file system's answers are faked."""
    real_statvfs = os.statvfs

    class ReadOnly:
        def __init__(self, path):
            self.f_flag = real_statvfs(path).f_flag | os.ST_RDONLY

    monkeypatch.setattr(os, "statvfs", ReadOnly)
    with pytest.raises(UserError, match="is on a read-only file system"):
        check_output_folder(tmp_path / "out", "--out")

    def read_only(*_args):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(os, "link", read_only)
    with pytest.raises(UserError, match="cannot write .*x.csv: Read-only file system"):
        atomic_write(tmp_path / "x.csv", b"x")


LOCK_HOLDER = """
import sys, time
from pathlib import Path
from cunet_bench.files import exclusive_lock
with exclusive_lock(Path(sys.argv[1]), "checkpoint"):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_a_second_owner_is_refused_naming_the_first_and_a_dead_owner_frees_the_lock(tmp_path):
    target = tmp_path / "c.safetensors"
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(target)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(UserError, match=rf"checkpoint {target} is in use by pid {holder.pid} "):
            with exclusive_lock(target, "checkpoint"):
                pass
    finally:
        holder.kill()
        holder.wait()
    deadline = time.time() + 10
    while True:  # the kernel releases a dead process's flock at once; no stale lock to clear
        try:
            with exclusive_lock(target, "checkpoint"):
                break
        except UserError:
            assert time.time() < deadline
            time.sleep(0.1)
    assert not (tmp_path / "c.safetensors.lock").exists()
