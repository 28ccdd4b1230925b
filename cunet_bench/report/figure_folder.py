"""The report's ``figures/`` folder, shared with whatever else the user keeps there: the report
replaces and removes only the figures it drew itself, which it lists with the SHA-256 of each in a
manifest (``figures/.bench-report-figures``). Figures are drawn into a temporary folder of the
report's own and written into place once all are drawn, so a failed report leaves the previous
figures as they were. A figure is replaced or removed only while its bytes are still the ones the
manifest lists (a figure the user edited, or a name planted in the manifest, is never touched). A
``figures`` path that is a file or a link, a folder holding files but no manifest, or a manifest
that is not one the report wrote is refused before any work."""

from __future__ import annotations

import hashlib
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from cunet_bench.errors import UserError
from cunet_bench.files import (
    check_creatable,
    create_file,
    describe_path,
    file_digest,
    read_regular,
    read_regular_text,
    remove_harness_made,
)

MANIFEST = ".bench-report-figures"
MANIFEST_HEADER = "# bench report figures: the SHA-256 and name of each figure the report drew here"
MAX_MANIFEST_BYTES = 100_000
LISTED = re.compile(r"([0-9a-f]{64})  ([\w.+-]+\.png)")
"""A manifest line: a figure's digest and its plain file name (no folder, no link, nothing hidden)."""


MAX_FIGURE_BYTES = 64 * 2**20


def copy_figure(source: Path, figures_dir: Path) -> bool:
    """Copy an image a run wrote (a sample or denoising grid, named in its rows) into the figures
    being drawn; an image that is not a readable regular file is left out (False)."""
    try:
        data = read_regular(source, MAX_FIGURE_BYTES)
    except (OSError, ValueError):
        return False
    create_file(figures_dir / source.name, data)
    return True


def _is_manifest(path: Path) -> bool:
    try:
        return read_regular_text(path, MAX_MANIFEST_BYTES).startswith(MANIFEST_HEADER + "\n")
    except (OSError, ValueError):
        return False


def _own_figures(folder: Path) -> dict[str, str]:
    """The figures the manifest lists, by name, with their digests (the manifest is read back as
    untrusted input: any line that is not a digest and a plain PNG name refuses it)."""
    manifest = folder / MANIFEST
    if not (manifest.exists() or manifest.is_symlink()):
        return {}
    check_creatable(manifest, replaces=_is_manifest, what="the figure manifest")
    lines = read_regular_text(manifest, MAX_MANIFEST_BYTES).splitlines()[1:]
    listed = [LISTED.fullmatch(line) for line in lines]
    if not all(listed) or any(match[2].startswith(".") for match in listed if match):
        bad = next(line for line, match in zip(lines, listed) if not match or match[2].startswith("."))
        raise UserError(
            f"{manifest} lists {bad[:60]!r}, not a figure bench report drew; move the manifest away to draw afresh"
        )
    return {match[2]: match[1] for match in listed if match}


def check_figures_folder(folder: Path) -> dict[str, str]:
    """Refuse, before any work, a ``figures`` path the report cannot own; the figures (and their
    digests) its manifest says the report drew there before."""
    if folder.is_symlink() or folder.exists() and not folder.is_dir():
        raise UserError(f"{folder} is {describe_path(folder)}; the report needs a folder of its own there for figures")
    if not folder.is_dir():
        return {}
    if not (folder / MANIFEST).exists() and not (folder / MANIFEST).is_symlink() and any(folder.iterdir()):
        raise UserError(
            f"{folder} holds files that bench report did not draw (no {MANIFEST}); move them or choose another --out"
        )
    return _own_figures(folder)


def _is_listed(previous: dict[str, str], path: Path) -> bool:
    """Whether ``path`` still holds the bytes of the figure the manifest lists under its name."""
    try:
        return previous.get(path.name) == file_digest(path)
    except (OSError, ValueError):
        return False


@contextmanager
def drawing_figures(folder: Path) -> Iterator[Path]:
    """A temporary folder to draw into, beside ``folder``; on success its figures replace the
    report's previous ones in ``folder``, and previous figures of the report not drawn again are
    removed. Anything else in ``folder`` stays untouched."""
    previous = check_figures_folder(folder)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".figures-", dir=folder.parent))
    except OSError as error:
        raise UserError(f"cannot write {folder}: {error.strerror or error}") from None
    try:
        yield scratch
        drawn = {path.name: read_regular(path, 2**30) for path in sorted(scratch.iterdir())}
        for name in drawn:
            check_creatable(folder / name, replaces=lambda path: _is_listed(previous, path), what="figure")
        folder.mkdir(exist_ok=True)
        for name, data in drawn.items():
            create_file(folder / name, data, replaces=lambda path: _is_listed(previous, path))
        for name in sorted(set(previous) - set(drawn)):
            remove_harness_made(folder / name, digest=previous[name])
        listing = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in drawn.items())
        create_file(folder / MANIFEST, f"{MANIFEST_HEADER}\n{listing}".encode(), replaces=_is_manifest)
    finally:
        remove_harness_made(scratch)
