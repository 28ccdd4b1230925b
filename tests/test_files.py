"""The one creation helper (exclusive and atomic, never through a link, never over a file the
harness did not make), the one removal helper, file modes, output-folder checks and the lock."""

import errno
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cunet_bench import files
from cunet_bench.errors import UserError
from cunet_bench.files import check_output_folder, create_file, exclusive_lock


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    target = tmp_path / "demo" / "run.csv"

    def crash(_descriptor):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(UserError, match="cannot write .*run.csv: No space left on device"):
        create_file(target, b"a,b\n1,2\n")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_keep_existing_keeps_the_first_writers_file(tmp_path):
    target = tmp_path / "shard.npz"
    assert create_file(target, b"first", keep_existing=True) is True
    assert create_file(target, b"second", keep_existing=True) is False
    assert target.read_bytes() == b"first" and [p.name for p in tmp_path.iterdir()] == ["shard.npz"]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_written_files_respect_the_umask(tmp_path, umask):
    previous = os.umask(umask)
    files._umask.cache_clear()
    try:
        create_file(tmp_path / "a.csv", b"x")
        create_file(tmp_path / "b.md", b"y")
        create_file(tmp_path / "b.md", b"z", replaces=lambda path: path.read_bytes() == b"y")
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
        create_file(tmp_path / "x.csv", b"x")


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


def _plant(tmp_path, what: str):
    """Something of the user's at ``tmp_path / 'x'``: their file, a link to their file, a dangling
    link, a fifo or a folder holding their file. Returns the path and a check that it is untouched."""
    target, mine = tmp_path / "x", tmp_path / "mine.txt"
    mine.write_text("the user's thesis")
    if what == "file":
        target.write_text("the user's notes")
        return target, lambda: target.read_text() == "the user's notes" and mine.read_text() == "the user's thesis"
    if what == "link":
        target.symlink_to(mine)
    elif what == "dangling link":
        target.symlink_to(tmp_path / "nowhere")
    elif what == "fifo":
        os.mkfifo(target)
    else:
        target.mkdir()
        (target / "data.csv").write_text("1,2")
    return (
        target,
        lambda: (
            mine.read_text() == "the user's thesis"
            and (target.is_symlink() or target.exists())
            and (what != "folder" or (target / "data.csv").read_text() == "1,2")
            and not (tmp_path / "nowhere").exists()
        ),
    )


@pytest.mark.parametrize("what", ["file", "link", "dangling link", "fifo", "folder"])
def test_the_creation_helper_never_writes_over_or_through_what_it_did_not_make(tmp_path, what):
    target, untouched = _plant(tmp_path, what)
    for attempt in (
        lambda: create_file(target, b"harness"),
        lambda: create_file(target, b"harness", replaces=lambda path: False),
        lambda: files.check_creatable(target),
    ):
        with pytest.raises(UserError, match=f"{target} (holds a file the harness did not make|is a)"):
            attempt()
        assert untouched()
    if what != "file":  # a cache entry is kept only where a regular file is
        with pytest.raises(UserError):
            create_file(target, b"harness", keep_existing=True)
    assert untouched() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_file_the_harness_recognises_as_its_own_is_replaced(tmp_path):
    target = tmp_path / "REPORT.md"
    assert create_file(target, b"# report v1\n")
    assert create_file(target, b"# report v2\n", replaces=lambda path: path.read_bytes().startswith(b"# report"))
    assert target.read_bytes() == b"# report v2\n"


@pytest.mark.parametrize("what", ["file", "link", "dangling link", "fifo", "folder"])
def test_a_lock_never_follows_truncates_or_removes_what_it_did_not_make(tmp_path, what):
    planted, untouched = _plant(tmp_path, what)
    target = tmp_path / "c.safetensors"
    planted.rename(tmp_path / "c.safetensors.lock")
    lock = tmp_path / "c.safetensors.lock"
    with pytest.raises(UserError, match=f"lock {lock} (holds a file the harness did not make|is a)"):
        with exclusive_lock(target, "checkpoint"):
            pass
    assert lock.exists() or lock.is_symlink()
    assert (tmp_path / "mine.txt").read_text() == "the user's thesis"
    if what == "file":
        assert lock.read_text() == "the user's notes"


def test_a_dead_runs_lock_is_taken_over_and_removed_only_while_it_is_this_runs(tmp_path):
    target = tmp_path / "c.safetensors"
    lock = tmp_path / "c.safetensors.lock"
    lock.write_text("pid 999999 (bench train --model unet)\n")  # left by a run killed with SIGKILL
    with exclusive_lock(target, "checkpoint"):
        assert lock.read_text().startswith(f"pid {os.getpid()} (")
        lock.unlink()
        lock.write_text("the user's file, put there while the run held its lock")
    assert lock.read_text() == "the user's file, put there while the run held its lock"


def test_removal_takes_only_what_the_harness_proves_it_made(tmp_path):
    from hashlib import sha256

    figure = tmp_path / "figure.png"
    figure.write_bytes(b"drawn")
    assert not files.remove_harness_made(figure, digest=sha256(b"other").hexdigest()) and figure.exists()
    assert files.remove_harness_made(figure, digest=sha256(b"drawn").hexdigest()) and not figure.exists()
    (tmp_path / "mine").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "mine")
    assert not files.remove_harness_made(tmp_path / "link") and (tmp_path / "mine").is_dir()
    assert not files.remove_harness_made(tmp_path / "mine", digest="0" * 64) and (tmp_path / "mine").is_dir()


PATH_WRITES = {"write_text", "write_bytes", "unlink", "symlink_to", "hardlink_to", "touch", "mkstemp"}
"""Methods that create, replace or remove the file at a path."""
SHUTIL_WRITES = {"copy", "copyfile", "copy2", "copytree", "move", "rmtree"}
OS_WRITES = {"replace", "rename", "remove", "unlink", "link", "symlink", "truncate", "rmdir"}
SERIALISERS = {"savefig", "save", "savez", "savez_compressed"}
"""Writers that take a path or a buffer: fine into an in-memory buffer (the argument named
``buffer``); ``save_file`` always writes a path."""
NOT_FILE_CREATION = {
    ("benchmarks/memory.py", "write_text"): "resets the kernel's page counters in /proc/self/clear_refs",
    ("benchmarks/profiling.py", "open"): "writes to os.devnull",
}
"""Writes that create no file: each with the reason it needs no creation helper."""


def _write_sites(path: Path) -> list[tuple[int, str]]:
    """Every call in a source file that writes to or removes a file system path."""
    import ast

    sites = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
        first = node.args[0] if node.args else None
        into_buffer = isinstance(first, ast.Name) and first.id == "buffer"
        mode = " ".join(ast.unparse(argument) for argument in (*node.args[1:], *(k.value for k in node.keywords)))
        writes = (
            (name in PATH_WRITES and owner != "os")
            or (owner == "shutil" and name in SHUTIL_WRITES)
            or (owner == "os" and name in OS_WRITES)
            or (owner == "os" and name == "open" and any(f in mode for f in ("O_CREAT", "O_WRONLY", "O_RDWR")))
            or (name in SERIALISERS and owner and not into_buffer)
            or name == "save_file"
            or (name == "rename" and not {k.arg for k in node.keywords} & {"columns", "index"})
            or (name == "open" and not owner and any(letter in mode for letter in "wax+"))
        )
        if writes:
            sites.append((node.lineno, f"{owner + '.' if owner else ''}{name}"))
    return sites


def test_every_write_site_goes_through_the_creation_helper():
    """The one way to create a file and the one place that removes one are in files.py: a call that
    writes or removes a file anywhere else in the code (found by reading every source file, not by
    a list of sites) bypasses them."""
    root = Path(__file__).resolve().parents[1]
    sources = [
        p for folder in ("cunet_bench", "models", "baselines", "benchmarks") for p in (root / folder).rglob("*.py")
    ]
    helpers = root / "cunet_bench" / "files.py"
    assert len(_write_sites(helpers)) >= 5  # the search finds the helpers' own writes
    bypassing = [
        f"{path.relative_to(root)}:{line} {call}"
        for path in sources
        if path != helpers
        for line, call in _write_sites(path)
        if (str(path.relative_to(root)), call) not in NOT_FILE_CREATION
    ]
    assert not bypassing, bypassing
