"""Writing files safely and reading them warily: atomic writes that respect the umask, early
checks that an output folder can be written, an exclusive lock for files one run at a time may
own, and a bounded parser for the JSON of untrusted files.

Every failure of the file system (a read-only disk, a file where a folder should be, no
permission) becomes a one-line :class:`UserError` that names the path.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import shlex
import shutil
import stat
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


def _file_in_the_way(path: Path) -> Path | None:
    """The first folder on ``path``'s way that is something else (a file, a fifo, a dangling link)."""
    for ancestor in reversed(Path(path).parents):
        if ancestor.is_symlink() and not ancestor.exists():
            return ancestor
        if ancestor.exists() and not ancestor.is_dir():
            return ancestor
    return None


def _failure(path: Path, error: OSError) -> UserError:
    """A one-line error naming the real cause of a failed write."""
    blocker = _file_in_the_way(path) if isinstance(error, (FileExistsError, NotADirectoryError)) else None
    if blocker is not None:
        return UserError(f"cannot write {path}: {blocker} is {describe_path(blocker)}, not a folder")
    return UserError(f"cannot write {path}: {error.strerror or error}")


def describe_path(path: Path) -> str:
    """What is at ``path``, in words: a file, a folder, a fifo, a dangling link, nothing."""
    path = Path(path)
    if path.is_symlink() and not path.exists():
        return "a dangling link"
    if not path.exists():
        return "missing"
    if path.is_dir():
        return "a folder"
    if path.is_fifo():
        return "a fifo"
    if path.is_socket() or path.is_block_device() or path.is_char_device():
        return "a special file"
    return "a file"


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes. Only regular files are opened, and
    without blocking: a fifo or a device where a file should be would otherwise hang the reader.
    Raises ``OSError`` or ``ValueError`` naming what is wrong."""
    with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY), "rb") as handle:
        status = os.fstat(handle.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise ValueError(f"{path} is {describe_path(Path(path))}, not a regular file")
        if status.st_size > limit:
            raise ValueError(f"{path} is {status.st_size:,} bytes, more than {limit:,}")
        return handle.read(limit)


def read_regular_text(path: Path, limit: int = 16 * 1024 * 1024) -> str:
    """:func:`read_regular` decoded as UTF-8 (``UnicodeDecodeError`` is a ``ValueError``)."""
    return read_regular(path, limit).decode("utf-8")


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
        remove_harness_made(Path(temporary))


def atomic_replace(path: Path, write: Callable[[str], None]) -> None:
    """Produce ``path`` by ``write(temporary_path)`` in the same folder, then rename it over any
    previous version: readers see the old file or the new one, never a partial one (checkpoints,
    installed weights, the report — files that are meant to be replaced). A ``path`` that is a
    symbolic link the user made is written through: its target gets the new content and the link
    stays."""
    path = Path(os.path.realpath(path)) if Path(path).is_symlink() else Path(path)
    temporary = _temporary_beside(path)
    try:
        write(temporary)
        os.chmod(temporary, file_mode())
        os.replace(temporary, path)
    except OSError as error:
        raise _failure(path, error) from None
    finally:
        remove_harness_made(Path(temporary))


def remove_harness_made(path: Path) -> None:
    """Remove a file or folder that the harness itself created, and nothing else: the one place
    anything is deleted. The callers pass only what is theirs — the harness's own compile folder
    (never one the user named, :mod:`cunet_bench.host.compile_cache`), the figures its report drew
    (listed by name in the report's manifest), its temporary files. A symbolic link is removed
    as a link, never followed."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


MAX_NAME_BYTES = 255
"""The longest file or folder name most file systems take (ext4, xfs, btrfs, APFS)."""
MAX_PATH_BYTES = 4096
"""Linux's PATH_MAX: the longest path, with its final NUL, a system call takes."""


def check_output_folder(folder: Path | str, option: str) -> Path:
    """Refuse, before any work is done, an output folder that cannot hold results: an empty name
    (which would silently mean the current folder), a name that is not valid UTF-8 (results
    record their paths in UTF-8 files) or has a part too long for the file system, something
    other than a folder in the way, a folder that cannot be written."""
    text = os.fspath(folder)
    if not text.strip():
        raise UserError(f"{option} needs a folder name, got an empty one")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UserError(
            f"{option} {text.encode('utf-8', 'replace').decode()[:80]}: the name is not valid UTF-8"
        ) from None
    folder = Path(text)
    length = len(os.fsencode(os.path.abspath(text)))
    if length >= MAX_PATH_BYTES:
        raise UserError(
            f"{option}: the path is {length:,} bytes long, more than a file system takes ({MAX_PATH_BYTES - 1:,})"
        )
    for part in folder.parts:
        if len(part.encode()) > MAX_NAME_BYTES:
            raise UserError(
                f"{option}: the name {part[:40]}… is {len(part.encode())} bytes long, more than a file "
                f"system takes ({MAX_NAME_BYTES})"
            )
    existing = folder
    while not existing.exists() and not existing.is_symlink():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.is_symlink() and not existing.exists() or existing.exists() and not existing.is_dir():
        raise UserError(f"{option} {folder}: {existing} is {describe_path(existing)}, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{option} {folder}: {existing} is not writable")
    if os.statvfs(existing).f_flag & os.ST_RDONLY:
        raise UserError(f"{option} {folder}: {existing} is on a read-only file system")
    return folder


MAX_METADATA_CHARS = 1_000_000
MAX_JSON_DEPTH = 32
MAX_INTEGER_DIGITS = 19
"""Checkpoint metadata, provenance and caches are untrusted: their JSON is bounded in size, nesting
and integer length before it is parsed (Python's parser would otherwise recurse, or convert a
5,000-digit number, before any check of ours could run)."""


def bounded_json(text: str, what: str) -> object:
    """Parse a JSON document from an untrusted file: at most :data:`MAX_METADATA_CHARS` long,
    nested at most :data:`MAX_JSON_DEPTH` deep, integers of at most :data:`MAX_INTEGER_DIGITS`
    digits, finite numbers only. Raises ``ValueError`` naming what is wrong."""
    if len(text) > MAX_METADATA_CHARS:
        raise ValueError(f"{what} is {len(text):,} characters long, more than {MAX_METADATA_CHARS:,}")
    depth = deepest = 0
    in_string = escaped = False
    for character in text:
        if in_string:
            if escaped:
                escaped = False
            elif character == "\\":
                escaped = True
            elif character == '"':
                in_string = False
            continue
        if character == '"':
            in_string = True
        elif character in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_JSON_DEPTH:
                raise ValueError(f"{what} is nested more than {MAX_JSON_DEPTH} levels deep")
        elif character in "]}":
            depth -= 1

    def integer(digits: str) -> int:
        if len(digits.lstrip("-")) > MAX_INTEGER_DIGITS:
            raise ValueError(f"{what} holds an integer of {len(digits):,} digits")
        return int(digits)

    def number(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(f"{what} holds the number {text[:40]}, which is not finite")
        return value

    def constant(name: str) -> float:
        raise ValueError(f"{what} holds the non-standard number {name}")

    return json.loads(text, parse_int=integer, parse_float=number, parse_constant=constant)


def _owner(lock_path: Path) -> str:
    try:
        text = lock_path.read_text(errors="replace").strip()
    except OSError:
        return "another run"
    return text.splitlines()[0][:200] if text else "another run"


@contextmanager
def exclusive_lock(target: Path, what: str, wait: bool = False) -> Iterator[None]:
    """Hold ``TARGET.lock`` for the duration: a second run that wants ``target`` gets a one-line
    error naming the first (its pid and command), or with ``wait`` waits for it. The lock is an
    ``flock``, so a run that dies releases it with its process; no stale lock is ever left to
    clear by hand."""
    lock_path = Path(f"{target}.lock")
    while True:
        try:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, file_mode())
        except OSError as error:
            raise _failure(lock_path, error) from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise UserError(
                f"{what} {target} is in use by {_owner(lock_path)}; wait for it or choose another"
            ) from None
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
        os.write(descriptor, f"pid {os.getpid()} ({command})\n".encode("utf-8", "surrogateescape"))
        yield
    finally:
        remove_harness_made(lock_path)
        os.close(descriptor)
