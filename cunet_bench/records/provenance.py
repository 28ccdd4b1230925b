"""What every result records about how it was produced: the command as typed, the resolved
configuration and its digest, seed, commit, versions, device, threads and the machine
(docs/architecture.md, "Records"). Imports torch only when it collects, so reading results never does."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

PACKAGES = (
    "cunet-bench",
    "torch",
    "torchvision",
    "torchdiffeq",
    "fvcore",
    "numpy",
    "pandas",
    "scikit-image",
    "lpips",
    "pytorch-fid",
    "bm3d",
)
PACKAGE_FOLDER = Path(__file__).resolve().parent.parent


def source_checkout(start: Path = PACKAGE_FOLDER) -> Path | None:
    """The checkout this code runs from, found by what it holds (a ``pyproject.toml`` beside the
    ``cunet_bench`` package folder), not by counting parents: an editable install runs from a checkout,
    an installed copy in site-packages has none (None)."""
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "cunet_bench" / "__init__.py").is_file():
            return folder
    return None


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state(root: Path = PACKAGE_FOLDER) -> dict[str, Any]:
    """Commit and dirty flag of the source tree, or nulls when it is not a git checkout."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"git_commit": None, "git_dirty": None}
    return {"git_commit": commit, "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def device_name(device: str) -> str:
    """The GPU's name for a CUDA device, the CPU model otherwise."""
    import torch

    from cunet_bench.host import machine

    if torch.device(device).type == "cuda":
        return torch.cuda.get_device_name(torch.device(device))
    return machine.describe()["cpu_model"]


def command_line() -> str:
    """The command as the user typed it."""
    return shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])


def collect(
    *,
    bench: str,
    config: dict[str, Any] | None = None,
    seed: int | None = None,
    device: str = "cpu",
    threads: int,
    preset: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The provenance block written beside every result file; ``config`` is the resolved
    configuration, ``threads`` the threads the run computed with."""
    from cunet_bench.host import allocator, machine

    return {
        "bench": bench,
        "command": command_line(),
        "preset": preset,
        "seed": seed,
        **git_state(),
        "versions": package_versions(),
        "device": device,
        "device_name": device_name(device),
        "cpu_threads": threads,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "machine": machine.describe(),
        "machine_fingerprint": machine.fingerprint(threads),
        "allocator": allocator.state(),
        "host": machine.host_id(),
        "started_at": utc_now(),
        "config": config or {},
        **(extra or {}),
    }
