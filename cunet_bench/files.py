"""Writing files safely and reading them warily: the one way the harness creates a file
(:func:`create_file`: exclusive and atomic, never through a link, never over a file it did not
make), the one place it removes one (:func:`remove_harness_made`), early checks that an output
folder can be written, an exclusive lock for files one run at a time may own, and a bounded
parser for the JSON of untrusted files.

Every failure of the file system (a read-only disk, a file where a folder should be, no
permission) becomes a one-line :class:`UserError` that names the path.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import math
import os
import re
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


def _refusal(path: Path, replaces: Callable[[Path], bool] | None, keep_existing: bool) -> str | None:
    """Why the harness may not create a file at ``path``, or None: nothing is there, or a regular
    file it may keep (a cache entry, ``keep_existing``) or replace (``replaces(path)`` says the
    harness made it). A link (followed or not), a folder, a fifo or a user's file is never written."""
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as error:
        return f"cannot be examined ({error.strerror or error})"
    if stat.S_ISLNK(status.st_mode):
        return "is a link"
    if not stat.S_ISREG(status.st_mode):
        return f"is {describe_path(path)}"
    if keep_existing or (replaces is not None and replaces(path)):
        return None
    return "holds a file the harness did not make"


def check_creatable(
    path: Path, replaces: Callable[[Path], bool] | None = None, keep_existing: bool = False, what: str = ""
) -> None:
    """Refuse, before any work, a path :func:`create_file` would refuse: one line naming it."""
    problem = _refusal(Path(path), replaces, keep_existing)
    if problem:
        raise UserError(
            f"{what + ' ' if what else ''}{path} {problem}; the harness writes only files it made "
            "(move it away or choose another path)"
        )


def create_file(
    path: Path, data: bytes, replaces: Callable[[Path], bool] | None = None, keep_existing: bool = False
) -> bool:
    """The one way the harness creates a file. ``data`` goes to a temporary file in the same folder
    (mode as ``open()`` would give it), synced, then linked into place: exclusive creation, which
    never follows a link, so a crash leaves no partial file and nothing already there is touched.

    Where something is there: a regular file ``replaces(path)`` recognises as the harness's own (a
    checkpoint of the same run, a report, a figure whose digest the report listed) is replaced by
    renaming over it (readers see the old or the new file, never part of one); with
    ``keep_existing`` a regular file is kept and the call returns False (caches whose content is
    fixed by their name); anything else — a link, a folder, a fifo, a file the harness did not make
    — is one line naming it (:func:`check_creatable` refuses the same before any work). Returns
    True when this call wrote the file."""
    path = Path(path)
    check_creatable(path, replaces, keep_existing)
    if keep_existing and path.is_file() and not path.is_symlink():
        return False
    temporary = _temporary_beside(path)
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            check_creatable(path, replaces, keep_existing)
            if keep_existing:
                return False
            os.replace(temporary, path)  # over a file of the harness's own: a rename never follows a link
        return True
    except OSError as error:
        raise _failure(path, error) from None
    finally:
        _remove_temporary(Path(temporary))


def _remove_temporary(path: Path) -> None:
    path.unlink(missing_ok=True)


MAX_DIGEST_BYTES = 2**34
"""The largest file the harness hashes (16 GiB: far beyond any checkpoint, sample shard or weights
file of its own); a larger one — a sparse file forged to declare terabytes — is refused at once
rather than read for hours."""


def file_digest(path: Path) -> str:
    """The SHA-256 of a regular file's bytes (never through a link); ``ValueError`` for anything
    else or a file over :data:`MAX_DIGEST_BYTES`."""
    digest = hashlib.sha256()
    with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK), "rb") as handle:
        status = os.fstat(handle.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise ValueError(f"{path} is {describe_path(path)}, not a regular file")
        if status.st_size > MAX_DIGEST_BYTES:
            raise ValueError(
                f"{path} is {status.st_size:,} bytes, more than any file of the harness ({MAX_DIGEST_BYTES:,})"
            )
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def remove_harness_made(path: Path, digest: str | None = None, inode: int | None = None) -> bool:
    """Remove what the harness itself made, and nothing else: the one place anything is deleted.
    With ``digest``, only a regular file whose SHA-256 is that digest (a figure the report listed);
    with ``inode``, only that very file (a lock this process holds, never one that replaced it);
    without either, what the caller made in this run (its temporary folder, its own compile folder,
    its claim). A link is never followed and never removed; a folder is removed only as the
    caller's own, without either proof. Returns whether something was removed."""
    path = Path(path)
    try:
        status = os.lstat(path)
    except OSError:
        return False
    if stat.S_ISLNK(status.st_mode):
        return False
    if stat.S_ISDIR(status.st_mode):
        if digest is not None or inode is not None:
            return False
        shutil.rmtree(path, ignore_errors=True)
        return True
    if inode is not None and status.st_ino != inode:
        return False
    if digest is not None:
        try:
            if file_digest(path) != digest:
                return False
        except (OSError, ValueError):
            return False
    path.unlink(missing_ok=True)
    return True


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


LOCK_LINE = re.compile(r"pid \d+ \(.*\)\n?")
"""What a lock of the harness holds: nothing yet (just created), or the owner's pid and command."""


def _owner(text: str) -> str:
    return text.splitlines()[0][:200] if text.strip() else "another run"


def _open_lock(lock_path: Path) -> tuple[int, str]:
    """A descriptor of ``lock_path`` — created exclusively, or an existing lock of the harness (a
    dead run's, or a live one's to be refused by its flock) — and the owner it names. A link, a
    folder, a fifo or a file that is not a lock of the harness is one line, and left as it is."""
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, file_mode()), ""
    except FileExistsError:
        pass
    except OSError as error:
        raise _failure(lock_path, error) from None
    refusal = f"lock {lock_path} {{}}; the harness writes only files it made (move it away)"
    try:
        descriptor = os.open(lock_path, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as error:
        problem = "is a link" if error.errno == errno.ELOOP else _refusal(lock_path, None, False) or str(error)
        raise UserError(refusal.format(problem)) from None
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise UserError(refusal.format(f"is {describe_path(lock_path)}"))
    text = os.pread(descriptor, 4096, 0).decode("utf-8", "replace")
    if text and not LOCK_LINE.fullmatch(text):
        os.close(descriptor)
        raise UserError(refusal.format("holds a file the harness did not make"))
    return descriptor, text


@contextmanager
def exclusive_lock(target: Path, what: str, wait: bool = False) -> Iterator[None]:
    """Hold ``TARGET.lock`` for the duration: a second run that wants ``target`` gets a one-line
    error naming the first (its pid and command), or with ``wait`` waits for it. The lock is an
    ``flock``, so a run that dies releases it with its process (its file is taken over by the next
    run, never left to clear by hand). The file is created exclusively without following a link;
    only a lock of the harness is opened where one exists, and only the file this run holds is
    removed at the end."""
    lock_path = Path(f"{target}.lock")
    while True:
        descriptor, text = _open_lock(lock_path)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise UserError(f"{what} {target} is in use by {_owner(text)}; wait for it or choose another") from None
        inode = os.fstat(descriptor).st_ino
        try:
            same_file = os.lstat(lock_path).st_ino == inode
        except FileNotFoundError:
            same_file = False
        if same_file:
            break
        os.close(descriptor)  # the previous owner removed the file between our open and our lock
    try:
        os.ftruncate(descriptor, 0)
        command = shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])
        os.pwrite(descriptor, f"pid {os.getpid()} ({command})\n".encode("utf-8", "surrogateescape"), 0)
        yield
    finally:
        remove_harness_made(lock_path, inode=inode)
        os.close(descriptor)
