"""The folder where inductor keeps what it compiles for the harness (torch-free).

Compilation writes to inductor's on-disk cache, which by default (``/tmp/torchinductor_<user>``) is
shared by every process of the machine, and is cleared with ``/tmp``. The harness compiles into
its own folder instead, under ``$XDG_CACHE_HOME`` (``~/.cache``): a compiled model's first call
is several times faster from the cache (docs/measurements.md §4), and a failed compile may
wipe that folder (:mod:`cunet_bench.benchmarks.variants`) without touching anyone else's. A
folder the user named in ``TORCHINDUCTOR_CACHE_DIR`` is theirs: the harness compiles into it
and never removes anything from it.

Importing ``torch._inductor`` sets ``TORCHINDUCTOR_CACHE_DIR`` to inductor's default when it is
unset, so the folder must be chosen before torch's compiler is imported: the command line does so
first thing (:func:`cunet_bench.cli.entry.run_app`). A folder the user set is kept.
It is checked then too: an unusable cache would otherwise fail the first import of torch's
compiler, inside a measurement.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from cunet_bench.errors import UserError

CACHE_ENVIRONMENT = "TORCHINDUCTOR_CACHE_DIR"


def harness_folder() -> Path:
    """The harness's own compile cache: ``$XDG_CACHE_HOME/cunet-bench/inductor``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cunet-bench" / "inductor"


def fallback_folder() -> Path:
    """The harness's compile cache where its usual one cannot be made (a read-only home, a file
    named like the cache folder): a folder of this user's under the temporary folder."""
    return Path(tempfile.gettempdir()) / f"cunet-bench-inductor-{os.getuid()}"


def _problem(folder: Path) -> str | None:
    """Why ``folder`` cannot hold the compile cache (made here if missing), or None."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return error.strerror or str(error)
    if not os.access(folder, os.W_OK | os.X_OK):
        return "not writable"
    return None


def choose_compile_cache() -> Path:
    """Choose the compile cache before torch's compiler is imported (which creates its folder at
    import): a ``TORCHINDUCTOR_CACHE_DIR`` the user set must be a writable folder (one line
    otherwise); the harness's own folder, or where that cannot be made its fallback, is set for
    inductor."""
    if CACHE_ENVIRONMENT in os.environ:
        text = os.environ[CACHE_ENVIRONMENT]
        if not text.strip() or text != text.strip():
            raise UserError(
                f"{CACHE_ENVIRONMENT}={text[:80]!r} is empty or padded with spaces (an empty one would mean the "
                "current folder); point it at a folder or unset it"
            )
        folder = Path(text)
        problem = _problem(folder)
        if problem:
            raise UserError(
                f"{CACHE_ENVIRONMENT}={folder} cannot hold the compile cache ({problem}); point it at a "
                "writable folder or unset it"
            )
        return folder
    candidates = []
    try:
        candidates.append(harness_folder())
    except RuntimeError:  # no home folder to be found
        pass
    candidates.append(fallback_folder())
    problems = []
    for folder in candidates:
        problem = _problem(folder)
        if problem is None:
            os.environ[CACHE_ENVIRONMENT] = str(folder)
            return folder
        problems.append(f"{folder}: {problem}")
    raise UserError(
        f"no folder can hold the compile cache ({'; '.join(problems)}); set {CACHE_ENVIRONMENT} to a writable folder"
    )


def compile_cache() -> Path:
    """The compile cache in use: ``TORCHINDUCTOR_CACHE_DIR`` when set (by the user, by
    :func:`choose_compile_cache`, or by inductor when it was imported before the harness chose),
    else the harness's folder, which it then sets for inductor."""
    return Path(os.environ.setdefault(CACHE_ENVIRONMENT, str(harness_folder())))


def owned_by_harness() -> bool:
    """Whether the compile cache in use is one of the harness's own folders, which it may wipe (a
    folder the user set is never wiped)."""
    return compile_cache() in (harness_folder(), fallback_folder())
