"""The folder where inductor keeps what it compiles for the harness (torch-free).

Compilation writes to inductor's on-disk cache, which by default (``/tmp/torchinductor_<user>``) is
shared by every process of the machine, and is cleared with ``/tmp``. The harness compiles into
its own folder instead, under ``$XDG_CACHE_HOME`` (``~/.cache``): a frozen cU-Net's first call
takes 90–95 s when it compiles and 10–14 s from the cache (measured on a 2-core Zen 3 EPYC,
``bench efficiency --preset smoke --variants eager,frozen`` run twice), and a failed compile may
wipe that folder (:mod:`cunet_bench.benchmarks.variants`) without touching anyone else's. A
folder the user named in ``TORCHINDUCTOR_CACHE_DIR`` is theirs: the harness compiles into it
and never removes anything from it.

Importing ``torch._inductor`` sets ``TORCHINDUCTOR_CACHE_DIR`` to inductor's default when it is
unset, so the folder must be chosen before torch's compiler is imported: the command line does so
first thing (:func:`cunet_bench.entry.run_app`). A folder the user set is kept.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENVIRONMENT = "TORCHINDUCTOR_CACHE_DIR"


def harness_folder() -> Path:
    """The harness's own compile cache: ``$XDG_CACHE_HOME/cunet-bench/inductor``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cunet-bench" / "inductor"


def compile_cache() -> Path:
    """The compile cache in use: ``TORCHINDUCTOR_CACHE_DIR`` when set (by the user, or by inductor
    when it was imported before the harness chose), else the harness's folder, which it then sets
    for inductor."""
    return Path(os.environ.setdefault(CACHE_ENVIRONMENT, str(harness_folder())))


def owned_by_harness() -> bool:
    """Whether the compile cache in use is the harness's own folder, which it may wipe (a folder
    the user set is never wiped)."""
    return compile_cache() == harness_folder()
