"""The C allocator's settings for measurements on Linux (glibc).

glibc's default returns freed memory to the system eagerly: tensors above a dynamic threshold
are mapped and unmapped on every allocation, and the heap is trimmed whenever its free top
exceeds twice that threshold. A CPU forward pass allocates and frees mid-size tensors by the
hundred, so every call pays for fresh pages; raising the thresholds below speeds a forward pass
by about a tenth and cuts the ODE solver's overhead by half (docs/measurements.md §3) — the effect
the field gets from jemalloc or tcmalloc (Intel's PyTorch CPU tuning guide). The harness
therefore raises both thresholds at start-up and records the setting with every result;
``CUNET_BENCH_ALLOCATOR=system`` keeps glibc's defaults. Peak-memory probes run in fresh
processes with the defaults.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

MMAP_THRESHOLD = 256 * 2**20
TRIM_THRESHOLD = 1024 * 2**20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
OPT_OUT = "CUNET_BENCH_ALLOCATOR"
_applied: dict[str, object] = {"allocator": "system defaults", "reason": "not tuned in this process"}


def tune() -> dict[str, object]:
    """Raise glibc's mmap and trim thresholds (once per process); returns what was applied."""
    global _applied
    if os.environ.get(OPT_OUT, "").lower() == "system":
        _applied = {"allocator": "system defaults", "reason": f"{OPT_OUT}=system"}
    elif platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        _applied = {"allocator": "system defaults", "reason": "not glibc"}
    else:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        if libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD):
            _applied = {
                "allocator": "glibc, tuned",
                "mmap_threshold_bytes": MMAP_THRESHOLD,
                "trim_threshold_bytes": TRIM_THRESHOLD,
            }
    return dict(_applied)


def state() -> dict[str, object]:
    """What this process runs with (recorded in every result's provenance)."""
    return dict(_applied)
