"""The report's ``figures/`` folder, shared with whatever else the user keeps there: the report
replaces and removes only the figures it drew itself, which it lists by name in a manifest
(``figures/.bench-report-figures``). Figures are drawn into a temporary folder of the report's
own and moved into place once all are drawn, so a failed report leaves the previous figures as
they were. A ``figures`` path that is a file, a dangling link, or a folder holding files but no
manifest (not made by ``bench report``) is refused before any work."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from cunet_bench.errors import UserError
from cunet_bench.files import atomic_replace, describe_path, read_regular_text, remove_harness_made

MANIFEST = ".bench-report-figures"
MAX_MANIFEST_BYTES = 100_000


def _own_figures(folder: Path) -> set[str]:
    """The names the manifest lists: plain file names only (it is read back as untrusted input)."""
    manifest = folder / MANIFEST
    if not manifest.exists():
        return set()
    try:
        names = read_regular_text(manifest, MAX_MANIFEST_BYTES).splitlines()
    except (OSError, ValueError) as error:
        raise UserError(f"{manifest} is not a manifest written by bench report ({error}); move it away") from None
    return {name for name in names if name and name == Path(name).name and name not in (".", "..", MANIFEST)}


def check_figures_folder(folder: Path) -> set[str]:
    """Refuse, before any work, a ``figures`` path the report cannot own; the figures its
    manifest says the report drew there before."""
    if folder.is_symlink() and not folder.exists() or folder.exists() and not folder.is_dir():
        raise UserError(f"{folder} is {describe_path(folder)}; the report needs a folder there for its figures")
    if not folder.is_dir():
        return set()
    if not (folder / MANIFEST).exists() and any(folder.iterdir()):
        raise UserError(
            f"{folder} holds files that bench report did not draw (no {MANIFEST}); move them or choose another --out"
        )
    return _own_figures(folder)


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
        drawn = sorted(path.name for path in scratch.iterdir())
        foreign = [name for name in drawn if (folder / name).exists() and name not in previous]
        if foreign:
            raise UserError(
                f"{folder / foreign[0]} was not drawn by bench report; move it so the report can draw its figure there"
            )
        folder.mkdir(exist_ok=True)
        for name in drawn:
            os.replace(scratch / name, folder / name)
        for name in sorted(previous - set(drawn)):
            remove_harness_made(folder / name)
        atomic_replace(
            folder / MANIFEST,
            lambda temporary: Path(temporary).write_text("".join(f"{name}\n" for name in drawn), encoding="utf-8"),
        )
    finally:
        remove_harness_made(scratch)
