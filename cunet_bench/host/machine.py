"""Naming the machine a measurement was taken on: CPU model, cores and threads, caches, the ISA
extensions that decide convolution speed, PyTorch's CPU kernels, the kernel, the GPU; a short
fingerprint of what determines speed, and the load of the machine.

Speed ratios are pooled only across runs with the same fingerprint (docs/protocol.md §7: the cU-Net
/U-Net ratio depends on the host). The host identity is kept apart from the fingerprint: two
identical cloud machines share a fingerprint, but a result recorded on one never counts as done
work on the other.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

ISA_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
    "asimd",
    "sve",
)
"""The CPU extensions PyTorch's convolution and matrix kernels dispatch on."""
FINGERPRINT_FIELDS = (
    "cpu_model",
    "cpu_id",
    "logical_cpus",
    "usable_cpus",
    "isa",
    "torch_cpu_capability",
    "torch_threads",
    "torch",
    "gpu",
)


def _cpuinfo() -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return info


def _caches() -> dict[str, str]:
    """Per-core cache sizes of CPU 0 (L1d, L1i, L2, L3), from sysfs."""
    caches = {}
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            size = (index / "size").read_text().strip()
        except OSError:
            continue
        caches[f"L{level}{'d' if kind == 'Data' else 'i' if kind == 'Instruction' else ''}"] = size
    return caches


def _physical_cores() -> int | None:
    try:
        pairs = set()
        physical = core = None
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("physical id"):
                physical = line.split(":")[1].strip()
            elif line.startswith("core id"):
                core = line.split(":")[1].strip()
                pairs.add((physical, core))
        return len(pairs) or None
    except OSError:
        return None


def _gpu() -> dict[str, Any] | None:
    import torch

    if not torch.cuda.is_available():
        return None
    properties = torch.cuda.get_device_properties(0)
    gpu: dict[str, Any] = {
        "name": properties.name,
        "memory_gib": round(properties.total_memory / 2**30, 1),
        "capability": f"{properties.major}.{properties.minor}",
        "cuda": torch.version.cuda,
    }
    try:
        query = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version,clocks.max.sm,clocks.sm", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        driver, max_clock, clock = (part.strip() for part in query.stdout.splitlines()[0].split(","))
        gpu.update(driver=driver, max_sm_clock=max_clock, sm_clock=clock)
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
        pass
    return gpu


@lru_cache(maxsize=1)
def describe() -> dict[str, Any]:
    """Everything recorded about the machine (cached: it does not change during a run, except
    the threads, which are read again by :func:`fingerprint`)."""
    import torch

    info = _cpuinfo()
    flags = set((info.get("flags") or info.get("Features") or "").split())
    mkldnn = torch.backends.mkldnn
    return {
        "cpu_model": info.get("model name") or platform.processor() or platform.machine(),
        "cpu_id": " ".join(
            f"{key} {info[field]}"
            for key, field in (
                ("vendor", "vendor_id"),
                ("family", "cpu family"),
                ("model", "model"),
                ("stepping", "stepping"),
            )
            if field in info
        ),
        "physical_cores": _physical_cores(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "caches": _caches(),
        "isa": sorted(flag for flag in ISA_FLAGS if flag in flags),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "onednn": {"available": mkldnn.is_available(), "enabled": bool(mkldnn.enabled)},
        "mkl": torch.backends.mkl.is_available(),
        "kernel": platform.release(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "gpu": _gpu(),
    }


def fingerprint(threads: int | None, description: dict[str, Any] | None = None) -> str:
    """12 hex digits naming what determines speed: the CPU and its extensions, the usable cores,
    PyTorch's kernels, the ``threads`` the command computes with, the GPU. Runs are comparable
    only under one fingerprint."""
    description = {**(description or describe()), "torch_threads": threads}
    selected = {field: description.get(field) for field in FINGERPRINT_FIELDS}
    selected["gpu"] = (selected["gpu"] or {}).get("name")
    return hashlib.sha256(json.dumps(selected, sort_keys=True).encode()).hexdigest()[:12]


def host_id() -> str:
    """This host (its name and, where there is one, its machine id): what makes a recorded run
    this machine's own rather than one copied from elsewhere."""
    try:
        machine_id = Path("/etc/machine-id").read_text().strip()
    except OSError:
        machine_id = ""
    return hashlib.sha256(f"{socket.gethostname()}|{machine_id}".encode()).hexdigest()[:12]


def load_average() -> float | None:
    """The 1-minute load average (runnable threads), or None where the OS does not say."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return None
