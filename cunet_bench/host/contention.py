"""Whether other processes used the CPU while something was measured: the load average before and
after, and the CPU time every other process took meanwhile (from ``/proc/stat``, less this
process's own and its children's). Every timed phase records it — timings, training, sampling,
denoising chains, ``bench all`` steps — so a time taken on a busy machine is never mistaken for a
measurement of the machine. Torch-free."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from cunet_bench.host.machine import load_average

CONTENDED_CORES = 0.25
"""Other processes using more than a quarter of a core during a measurement make it contended."""
BUSY_LOAD = 0.75
"""A 1-minute load average above this before a measurement means something else was running
(used only where the other processes' CPU time cannot be read)."""


def cpu_seconds_of_everyone() -> float | None:
    """CPU time every process has used since boot (from /proc/stat), in seconds."""
    try:
        with open("/proc/stat") as handle:
            fields = handle.readline().split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    except (OSError, ValueError):
        return None
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def cpu_seconds_of_this_process() -> float:
    """User and system time of this process and of its children that have finished (probes)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def is_contended(other_cores: float | None, load_before: float | None) -> bool:
    """Judged by the CPU time of the other processes, which excludes the harness's own (the load
    average counts it, and stays raised for a minute after the harness itself was busy); the
    load average decides only where that time cannot be read."""
    if other_cores is not None:
        return other_cores > CONTENDED_CORES
    return load_before is not None and load_before > BUSY_LOAD


@dataclass
class Contention:
    """Started when created; :meth:`record` says what happened since."""

    load_before: float | None = field(default_factory=load_average)
    everyone: float | None = field(default_factory=cpu_seconds_of_everyone)
    mine: float = field(default_factory=cpu_seconds_of_this_process)
    started: float = field(default_factory=time.perf_counter)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def cpu_seconds(self) -> float:
        """This process's CPU time (its children's included) since the start."""
        return cpu_seconds_of_this_process() - self.mine

    def other_cores(self) -> float | None:
        everyone = cpu_seconds_of_everyone()
        if everyone is None or self.everyone is None:
            return None
        others = (everyone - self.everyone) - self.cpu_seconds()
        return max(0.0, others) / max(self.elapsed(), 1e-9)

    def record(self) -> dict[str, Any]:
        """The columns every timed row carries (``schema.CONTENTION``)."""
        other = self.other_cores()
        return {
            "load_before": self.load_before,
            "load_after": load_average(),
            "other_cores": other,
            "contended": is_contended(other, self.load_before),
        }
