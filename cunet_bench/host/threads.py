"""How many threads a harness process computes with, on a machine it may share.

The cores a process may use are the fewest of its CPU affinity and its cgroup's CPU quota
(containers), less what other processes were using a moment ago. Harness processes also
coordinate through claims: each running command records the threads it took in a claims folder,
under a lock, and the next one takes what is left of the usable cores (at least one). Two
``bench train`` started together on two cores therefore take 2 + 1 threads instead of 2 + 2 (a
running process keeps its threads: training stays deterministic for its recorded thread layout),
and ``bench all`` starts its side-by-side workers with 1 + 1 (docs/protocol.md §7: 2 × 2 threads on 2
cores cost 42% of the machine; docs/measurements.md §1). ``--threads`` overrides the choice; a
busy machine is warned about once, when its work starts.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from cunet_bench.errors import UserError, warn
from cunet_bench.files import create_file, exclusive_lock, read_regular_text, remove_harness_made
from cunet_bench.host.contention import cpu_seconds_of_everyone, cpu_seconds_of_this_process

SAMPLE_S = 0.25
"""How long other processes' CPU use is sampled before choosing."""
BUSY_CORES = 0.5


STATE_ENVIRONMENT = "CUNET_BENCH_STATE"
"""A folder for the harness's per-user state (its thread claims) other than the default under the
temporary folder: processes that set it apart coordinate only with each other (the test suite
sets it, so it runs beside a user's own ``bench all`` without seeing its claims)."""


def claims_folder() -> Path:
    """Where running harness processes record their threads (one folder per user and machine, or
    under ``CUNET_BENCH_STATE``)."""
    if os.environ.get(STATE_ENVIRONMENT):
        return Path(os.environ[STATE_ENVIRONMENT]) / "threads"
    return Path(tempfile.gettempdir()) / f"cunet-bench-threads-{os.getuid() if hasattr(os, 'getuid') else 'user'}"


def usable_cores() -> float:
    """The cores this process may run on: its affinity, capped by a cgroup CPU quota."""
    cores = float(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    quota = _cgroup_quota()
    return min(cores, quota) if quota else cores


def _cgroup_quota() -> float | None:
    """The cgroup's CPU quota in cores (v2 ``cpu.max``, v1 ``cfs_quota_us / cfs_period_us``), if any."""
    try:
        text = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if text and text[0] != "max":
            return int(text[0]) / int(text[1])
    except (OSError, ValueError, IndexError):
        pass
    try:
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def others_cores(seconds: float = SAMPLE_S) -> float:
    """Cores' worth of CPU time other processes use now (sampled over ``seconds``)."""
    everyone, mine = cpu_seconds_of_everyone(), cpu_seconds_of_this_process()
    if everyone is None:
        return 0.0
    time.sleep(seconds)
    now = cpu_seconds_of_everyone()
    return max(0.0, ((now or everyone) - everyone) - (cpu_seconds_of_this_process() - mine)) / seconds


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _claimed(folder: Path) -> int:
    """Threads claimed by the other harness processes still running (stale claims are removed)."""
    total = 0
    for claim in folder.glob("*.claim"):
        try:
            pid, threads = (int(part) for part in read_regular_text(claim, 100).split())
        except (OSError, ValueError):
            continue
        if pid != os.getpid() and _alive(pid):
            total += threads
        elif pid != os.getpid():
            remove_harness_made(claim)
    return total


def _is_claim(path: Path) -> bool:
    """Whether ``path`` is a claim the harness wrote (a pid's earlier claim, left by a process
    that died and whose pid came round again)."""
    try:
        return len([int(part) for part in read_regular_text(path, 100).split()]) == 2
    except (OSError, ValueError):
        return False


def _claim_file() -> Path:
    return claims_folder() / f"{os.getpid()}.claim"


@dataclass(frozen=True)
class Choice:
    threads: int
    usable: float
    claimed: int
    busy: float
    reason: str


def choose(requested: int | None = None) -> Choice:
    """The threads to compute with: ``requested`` if given, else the usable cores less those other
    harness processes claimed and, when nothing claims them, less what other processes use."""
    usable = usable_cores()
    if requested is not None:
        return Choice(requested, usable, 0, 0.0, "--threads")
    folder = claims_folder()
    with exclusive_lock(folder / "choose", "thread claims", wait=True):
        claimed = _claimed(folder)
        busy = others_cores() if not claimed else 0.0
        free = usable - claimed - (busy if busy > BUSY_CORES else 0.0)
        threads = max(1, min(int(usable), math.floor(free + 0.25)))
        create_file(_claim_file(), f"{os.getpid()} {threads}\n".encode(), replaces=_is_claim)
    reason = (
        f"{claimed} thread(s) claimed by other harness runs"
        if claimed
        else f"other processes use {busy:.1f} core(s)"
        if busy > BUSY_CORES
        else "a quiet machine"
    )
    return Choice(threads, usable, claimed, busy, reason)


_unannounced: list[Choice] = []
"""The busy choice of the running command, until :func:`announce_busy` has warned of it."""


def check_requested(threads: int, option: str = "--threads") -> int:
    """At most the cores this process may use: more threads than cores only contend."""
    cores = max(1, math.floor(usable_cores()))
    if not 1 <= threads <= cores:
        raise UserError(f"{option} must be between 1 and the {cores} core(s) this process may use, got {threads}")
    return threads


def with_threads(config: Any) -> Any:
    """The configuration with the threads it computes with: its own, or — for a run called as a
    library, outside :func:`computing_threads` — whatever torch is set to. The one place a run's
    threads are read from torch's global state; everything after it takes them as an argument."""
    if config.threads is not None:
        return config
    import torch

    return dataclasses.replace(config, threads=torch.get_num_threads())


@contextmanager
def computing_threads(requested: int | None = None) -> Iterator[Choice]:
    """Choose the threads and apply them to torch and to the processes the harness starts, for
    the time of one command, and restore the previous setting after it. A busy machine is warned
    of once, by :func:`announce_busy` when the work starts: a command refused before its work
    stays one line on any machine. The claim is released when the command ends (a killed
    process's claim is removed by the next one to choose)."""
    import torch

    previous, previous_omp = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")
    choice = choose(requested)
    torch.set_num_threads(choice.threads)
    os.environ["OMP_NUM_THREADS"] = str(choice.threads)
    if requested is None and (choice.claimed or choice.busy > BUSY_CORES):
        _unannounced.append(choice)
    try:
        yield choice
    finally:
        _unannounced.clear()
        remove_harness_made(_claim_file())
        torch.set_num_threads(previous)  # the choice is the command's: a process that runs several keeps its own
        if previous_omp is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = previous_omp


def announce_busy() -> None:
    """Warn, once, that the machine is busy, when the running command's choice found it so."""
    while _unannounced:
        choice = _unannounced.pop()
        warn(
            f"the machine is busy ({choice.reason}); computing with {choice.threads} of {choice.usable:g} usable "
            "core(s); times measured now are marked busy (--threads overrides the choice)"
        )
