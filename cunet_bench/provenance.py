"""What every result records about how it was produced: command, seed, commit, versions,
device and threads (DESIGN.md, "Records")."""

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

import torch

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
SOURCE_ROOT = Path(__file__).resolve().parent.parent


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


def git_state(root: Path = SOURCE_ROOT) -> dict[str, Any]:
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


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_description(device: torch.device | str) -> str:
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_name()


def collect(
    *, bench: str, device: torch.device | str = "cpu", seed: int | None = None, preset: str | None = None,
    config: dict[str, Any] | None = None, started_at: str | None = None,
) -> dict[str, Any]:
    """The provenance block written beside every result file."""
    return {
        "bench": bench,
        "command": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "preset": preset,
        "seed": seed,
        **git_state(),
        "versions": package_versions(),
        "device": str(device),
        "device_name": device_description(device),
        "cpu_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "started_at": started_at or utc_now(),
        "config": config or {},
    }
