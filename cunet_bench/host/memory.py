"""How much memory this process may still allocate: the least of what the kernel says is
available (``MemAvailable``), what the process's cgroup leaves below its limit, and what its
address-space limit (``ulimit -v``) leaves. A batch that would not fit is refused before any work
(``cunet_bench.diffusion.loading.check_batch_fits``) instead of failing inside an allocation."""

from __future__ import annotations

import resource
from pathlib import Path

from cunet_bench.files import read_regular_text


def _number(path: Path) -> int | None:
    try:
        text = read_regular_text(path, 100).strip()
    except (OSError, ValueError):
        return None
    return int(text) if text.isdigit() else None


def _meminfo(field: str, path: Path = Path("/proc/meminfo")) -> int | None:
    """A ``/proc/meminfo`` (or ``/proc/self/status``) field in bytes."""
    try:
        lines = read_regular_text(path, 1 << 16).splitlines()
    except (OSError, ValueError):
        return None
    for line in lines:
        name, _, value = line.partition(":")
        parts = value.split()
        if name == field and parts and parts[0].isdigit():
            return int(parts[0]) * 1024
    return None


def _cgroup_headroom(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """What the cgroup (v2, or v1's memory controller) leaves below its limit; None without one."""
    for limit, usage in (
        ("memory.max", "memory.current"),
        ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes"),
    ):
        ceiling, used = _number(root / limit), _number(root / usage)
        if ceiling is not None and used is not None and ceiling < 2**60:
            return max(0, ceiling - used)
    return None


def _address_space_headroom() -> int | None:
    """What ``ulimit -v`` leaves of the address space; None when unlimited."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    return max(0, soft - (_meminfo("VmSize", Path("/proc/self/status")) or 0))


def available_bytes() -> int | None:
    """The bytes this process may still allocate, or None when the machine does not say."""
    known = [value for value in (_meminfo("MemAvailable"), _cgroup_headroom(), _address_space_headroom()) if value]
    return min(known) if known else None
