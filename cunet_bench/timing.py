"""Wall-clock timing: warm-up, repeats, median and spread, CUDA synchronisation (REFERENCE §5)."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable

import torch


@dataclass(frozen=True)
class Timing:
    median_s: float
    q1_s: float
    q3_s: float
    min_s: float
    repeats: int
    threads: int
    samples: tuple[float, ...] = ()
    """Every timed repeat, for intervals over repeats (the report bootstraps them)."""

    @property
    def iqr_s(self) -> float:
        return self.q3_s - self.q1_s


def synchronize(device: torch.device | str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


MIN_REPEATS_UNDER_BUDGET = 3


def time_call(
    fn: Callable[[], object], device: torch.device | str = "cpu", warmup: int = 1, repeats: int = 5,
    budget_s: float | None = None,
) -> Timing:
    """Time ``fn()`` ``repeats`` times after ``warmup`` untimed calls; GPU work is synchronised
    before each clock read so the time covers the kernels, not just their launch. With
    ``budget_s``, stop early once at least three repeats are done and the budget is spent
    (long calls, e.g. a batch of 64 on a 2-core CPU)."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    for _ in range(warmup):
        fn()
    synchronize(device)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        samples.append(time.perf_counter() - start)
        if budget_s is not None and len(samples) >= MIN_REPEATS_UNDER_BUDGET and sum(samples) > budget_s:
            break
    repeats = len(samples)
    quartiles = statistics.quantiles(samples, n=4, method="inclusive") if repeats > 1 else samples * 3
    return Timing(
        median_s=statistics.median(samples),
        q1_s=quartiles[0],
        q3_s=quartiles[2],
        min_s=min(samples),
        repeats=repeats,
        threads=torch.get_num_threads(),
        samples=tuple(samples),
    )
