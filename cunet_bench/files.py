"""Writing files safely: atomic writes that respect the umask, early checks that an output
folder can be written, and an exclusive lock for files one run at a time may own.

Every failure of the file system (a read-only disk, a file where a folder should be, no
permission) becomes a one-line :class:`UserError` that names the path.
"""

from __future__ import annotations

import fcntl
import os
import shlex
import sys
import tempfile
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator

from cunet_bench.errors import UserError


@lru_cache(maxsize=1)
def _umask() -> int:
    """The process umask (read by setting and restoring it: there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a plain ``open()`` would give a new file: 0666 minus the umask (``mkstemp``
    would give 0600, hiding results from colleagues on a shared machine)."""
    return 0o666 & ~_umask()


def _failure(path: Path, error: OSError) -> UserError:
    return UserError(f"cannot write {path}: {error.strerror or error}")


def _temporary_beside(path: Path) -> str:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise _failure(path, error) from None
    os.close(descriptor)
    os.chmod(temporary, file_mode())
    return temporary


def atomic_write(path: Path, data: bytes, keep_existing: bool = False) -> bool:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then hard-link it
    into place: a crash leaves no partial file, and an existing file is never replaced.

    An existing file is an error, unless ``keep_existing``: then it is kept and the call returns
    False — for caches whose content is fixed by their name, where another run that wrote the
    same entry first has done the work. Returns True when this call wrote the file."""
    path = Path(path)
    temporary = _temporary_beside(path)
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)
        return True
    except FileExistsError:
        if keep_existing:
            return False
        raise UserError(f"{path} already exists; results are never overwritten") from None
    except OSError as error:
        raise _failure(path, error) from None
    finally:
        os.unlink(temporary)


def atomic_replace(path: Path, write: Callable[[str], None]) -> None:
    """Produce ``path`` by ``write(temporary_path)`` in the same folder, then rename it over any
    previous version: readers see the old file or the new one, never a partial one (checkpoints,
    installed weights, the report — files that are meant to be replaced)."""
    path = Path(path)
    temporary = _temporary_beside(path)
    try:
        write(temporary)
        os.chmod(temporary, file_mode())
        os.replace(temporary, path)
    except OSError as error:
        raise _failure(path, error) from None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def check_output_folder(folder: Path, option: str) -> Path:
    """Refuse, before any work is done, an output folder that is a file or cannot be written."""
    folder = Path(folder)
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise UserError(f"{option} {folder}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{option} {folder}: {existing} is not writable")
    if os.statvfs(existing).f_flag & os.ST_RDONLY:
        raise UserError(f"{option} {folder}: {existing} is on a read-only file system")
    return folder


def _owner(lock_path: Path) -> str:
    try:
        text = lock_path.read_text(errors="replace").strip()
    except OSError:
        return "another run"
    return text.splitlines()[0][:200] if text else "another run"


@contextmanager
def exclusive_lock(target: Path, what: str) -> Iterator[None]:
    """Hold ``TARGET.lock`` for the duration: a second run that wants ``target`` gets a one-line
    error naming the first (its pid and command). The lock is an ``flock``, so a run that dies
    releases it with its process; no stale lock is ever left to clear by hand."""
    lock_path = Path(f"{target}.lock")
    while True:
        try:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, file_mode())
        except OSError as error:
            raise _failure(lock_path, error) from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise UserError(f"{what} {target} is in use by {_owner(lock_path)}; wait for it or choose another") from None
        try:
            same_file = os.fstat(descriptor).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same_file = False
        if same_file:
            break
        os.close(descriptor)  # the previous owner removed the file between our open and our lock
    try:
        os.ftruncate(descriptor, 0)
        command = shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])
        os.write(descriptor, f"pid {os.getpid()} ({command})\n".encode())
        yield
    finally:
        os.unlink(lock_path)
        os.close(descriptor)
