"""The timing engine: calls compared side by side, interleaved round by round.

* **Warm-up** until two successive times of a call agree within 10% (at most ``max_warmup``
  calls): first calls pay for allocation, kernel selection and caches.
* **Rounds**: each round times every call once, in an order that rotates from round to round,
  so a drift of the machine (another process, the clock frequency, the cache) lands on every
  call alike and cancels in their ratios. Rounds continue until the 95% interval of every
  ratio to the reference is within ``target`` (±3%) of it, or the time budget or the round
  limit ends them; which one stopped them is recorded.
* **Clocks**: wall time at the configured threads, or the CPU time of the calling thread with
  one intra-op thread (:func:`single_thread`) — which another process on a shared machine
  cannot inflate.
* **Conditions**: the load average before and after, and the CPU time other processes took
  during the measurement; a measurement taken while the machine was busy is ``contended``.

On a GPU a call is timed between two CUDA events on its stream, so a time covers the kernels, not
their launch.
"""

from __future__ import annotations

import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch

from cunet_bench.host.contention import Contention, is_contended
from cunet_bench.host.machine import load_average

CLOCKS = ("wall", "thread_cpu")
AGREEMENT = 0.10
"""Two successive warm-up times within 10% of each other end the warm-up."""
INTERVAL_REPLICATES = 400
DEFAULT_MAX_ROUNDS = 200


@dataclass(frozen=True)
class Measurement:
    """Every round's time of every call, and the conditions they were taken under."""

    seconds: dict[str, tuple[float, ...]]
    """Name → its time in each round (same length for every name)."""
    warmup_calls: dict[str, int]
    stopped_by: str
    clock: str
    threads: int
    load_before: float | None
    load_after: float | None
    other_cores: float | None
    """Cores' worth of CPU time other processes used while this was measured (None: unknown)."""

    @property
    def rounds(self) -> int:
        return len(next(iter(self.seconds.values())))

    @property
    def contended(self) -> bool:
        """Other processes took CPU time while this was measured (:func:`~cunet_bench.host.contention.is_contended`)."""
        return is_contended(self.other_cores, self.load_before)

    def conditions(self) -> dict[str, object]:
        """What a result row records about how the measurement went."""
        return {
            "clock": self.clock,
            "threads": self.threads,
            "rounds": self.rounds,
            "stopped_by": self.stopped_by,
            "load_before": self.load_before,
            "load_after": self.load_after,
            "other_cores": self.other_cores,
            "contended": self.contended,
        }

    def median(self, name: str) -> float:
        return statistics.median(self.seconds[name])

    def ratios(self, name: str, reference: str) -> np.ndarray:
        """The per-round ratios time(name) / time(reference), taken within each round."""
        return np.asarray(self.seconds[name]) / np.asarray(self.seconds[reference])

    def ratio_interval(self, name: str, reference: str, seed: int = 0) -> tuple[float, float, float]:
        """Median of the per-round ratios with its 95% bootstrap interval over rounds."""
        return median_interval(self.ratios(name, reference), seed)


def median_interval(values: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """The median of ``values`` and a 95% percentile-bootstrap interval of it."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return float(values[0]), float(values[0]), float(values[0])
    rng = np.random.default_rng(seed)
    replicates = np.median(values[rng.integers(0, len(values), (INTERVAL_REPLICATES, len(values)))], axis=1)
    low, high = np.percentile(replicates, [2.5, 97.5])
    return float(np.median(values)), float(low), float(high)


def synchronize(device: torch.device | str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def single_thread() -> Iterator[None]:
    """One intra-op thread: the work runs on the calling thread, where its CPU time is measured."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _clock(name: str) -> Callable[[], float]:
    if name not in CLOCKS:
        raise ValueError(f"clock must be one of {CLOCKS}, got {name!r}")
    return time.perf_counter if name == "wall" else time.thread_time


def _timed(fn: Callable[[], object], device: torch.device | str, clock: Callable[[], float]) -> float:
    """Seconds of one call: on a GPU between two CUDA events recorded on the stream around it (the
    kernels' time, not their launch), otherwise by ``clock`` around the call."""
    if torch.device(device).type == "cuda" and clock is time.perf_counter:
        start_event, end_event = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start_event.record()
        fn()
        end_event.record()
        end_event.synchronize()
        return start_event.elapsed_time(end_event) / 1000
    start = clock()
    fn()
    synchronize(device)
    return clock() - start


def interleaved(
    calls: dict[str, Callable[[], object]],
    device: torch.device | str = "cpu",
    *,
    reference: str | None = None,
    clock: str = "wall",
    min_rounds: int = 5,
    max_rounds: int | None = None,
    budget_s: float = 30.0,
    target: float = 0.03,
    max_warmup: int = 10,
) -> Measurement:
    """Time ``calls`` side by side (see the module docstring); ``reference`` is the call every
    ratio divides by (the first when None). With one call, rounds run until the median's own
    interval is within ``target`` of it. At most ``max_rounds`` rounds (default: 200, or
    ``min_rounds`` when that is more)."""
    names = list(calls)
    if not names:
        raise ValueError("nothing to time")
    max_rounds = max(DEFAULT_MAX_ROUNDS, min_rounds) if max_rounds is None else max_rounds
    if min_rounds < 1 or max_rounds < min_rounds:
        raise ValueError(f"need 1 <= min_rounds <= max_rounds, got {min_rounds}, {max_rounds}")
    reference = reference or names[0]
    read = _clock(clock)
    conditions = Contention()
    warmup = {}
    for name, fn in calls.items():
        previous, count = None, 0
        while count < max_warmup:
            current = _timed(fn, device, read)
            count += 1
            if previous is not None and abs(current - previous) <= AGREEMENT * max(previous, 1e-12):
                break
            previous = current
        warmup[name] = count
    synchronize(device)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    started, stopped_by = time.perf_counter(), "max rounds"
    for round_index in range(max_rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            seconds[name].append(_timed(calls[name], device, read))
        done = round_index + 1
        if done >= min_rounds and _converged(seconds, reference, target):
            stopped_by = "converged"
            break
        if time.perf_counter() - started > budget_s and done >= min_rounds:
            stopped_by = "budget"
            break
    return Measurement(
        {name: tuple(values) for name, values in seconds.items()},
        warmup,
        stopped_by,
        clock,
        torch.get_num_threads(),
        conditions.load_before,
        load_average(),
        conditions.other_cores(),
    )


def _converged(seconds: dict[str, list[float]], reference: str, target: float) -> bool:
    base = np.asarray(seconds[reference])
    series = [np.asarray(values) / base for name, values in seconds.items() if name != reference] or [base]
    for values in series:
        estimate, low, high = median_interval(values)
        if max(estimate - low, high - estimate) > target * estimate:
            return False
    return True
