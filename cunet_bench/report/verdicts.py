"""95% bootstrap intervals and the verdict rules of the report.

The paper gives no uncertainty. Every measured comparison in the report carries a percentile
bootstrap interval: over test images (paired: the same images for both models), over timing
rounds within runs and over runs (hierarchical), or over generated samples (computed by
``bench fid``). A claim is "reproduced" only when the whole interval lies on the claimed side of
its threshold, "not reproduced" when the whole interval lies on the other side, and otherwise
"inconclusive". Exact quantities (parameter counts, MACs, static memory) have no sampling
error: their verdict compares the value itself with the threshold.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

REPLICATES = 2000
LEVEL = 0.95
REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_MEASURED = "reproduced", "not reproduced", "inconclusive", "not measured"
UNSTABLE, EDGE, BY_CONSTRUCTION, PIPELINE_CHECK = ("unstable", "at the edge of the grid", "matches by construction",
                                                  "pipeline check")
VOCABULARY = {
    REPRODUCED: "the claim's rule holds with the whole 95% interval (for an exact count, the value) on the claimed "
                "side of its threshold",
    NOT_REPRODUCED: "the whole interval (the value) lies on the other side of the threshold",
    INCONCLUSIVE: "the interval straddles the threshold: the data cannot decide",
    UNSTABLE: ("runs of one configuration on one machine contradict each other: one reproduces the claim, another "
               "refutes it"),
    EDGE: "a best step count is the largest or smallest value tried, so the true best may lie outside the grid",
    BY_CONSTRUCTION: "an exact count of the rebuilt architecture: it equals the release's because the architecture "
                     "is the release's, not because anything was measured",
    NOT_MEASURED: "the results needed are missing; the row says why and how to make them",
    PIPELINE_CHECK: "the run's sizes are below the minimum for a verdict (see MINIMUM_SIZES); its numbers only show "
                    "that the pipeline runs",
}
"""Every verdict the report can give, defined once at its top."""
MINIMUM_SIZES = {"test images": 32, "generated samples": 128, "training steps": 200, "timing rounds": 3}
"""Below any of these a run gets "pipeline check", never a verdict (the smoke preset is below all)."""


def at_grid_edge(best_steps: Iterable[int], grid: Iterable[int]) -> bool:
    """Whether any best step count is the grid's smallest or largest value: the true best may
    then lie beyond the grid (the verdict :data:`EDGE`)."""
    grid = list(grid)
    return bool(grid) and any(step in (min(grid), max(grid)) for step in best_steps)


def too_small(**sizes: float | None) -> list[str]:
    """The sizes of a run that are below :data:`MINIMUM_SIZES` (empty when a verdict may be given)."""
    named = {name.replace("_", " "): value for name, value in sizes.items()}
    return [f"{name} {int(value)} < {MINIMUM_SIZES[name]}" for name, value in named.items()
            if value is not None and value < MINIMUM_SIZES[name]]


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float

    def text(self, digits: int = 3) -> str:
        return f"{self.estimate:.{digits}g} [{self.low:.{digits}g}, {self.high:.{digits}g}]"


def _percentiles(replicates: np.ndarray) -> tuple[float, float]:
    tail = (1 - LEVEL) / 2 * 100
    return float(np.percentile(replicates, tail)), float(np.percentile(replicates, 100 - tail))


def hierarchical_median(groups: list[np.ndarray], seed: int = 0) -> Interval:
    """The median of every value of every group (a run's per-round ratios), with a 95% interval
    from resampling the groups and then the values within each chosen group: the variation
    between runs enters the interval, not only the variation within one."""
    groups = [np.asarray(group, dtype=float) for group in groups if len(group)]
    if not groups:
        raise ValueError("no values")
    rng = np.random.default_rng(seed)
    replicates = np.empty(REPLICATES)
    for index in range(REPLICATES):
        chosen = rng.integers(0, len(groups), len(groups))
        replicates[index] = np.median(np.concatenate(
            [groups[g][rng.integers(0, len(groups[g]), len(groups[g]))] for g in chosen]))
    return Interval(float(np.median(np.concatenate(groups))), *_percentiles(replicates))


def hierarchical_paired_mean(pairs: list[tuple[np.ndarray, np.ndarray]], seed: int = 0) -> Interval:
    """mean(a − b) over pairs of per-image values, one pair per training seed (the same images in
    a and b): resampling the seeds first, then the images within each, so the variation between
    training runs enters the interval, not only that between test images."""
    differences = [np.asarray(a, dtype=float) - np.asarray(b, dtype=float) for a, b in pairs]
    if not differences or any(d.ndim != 1 or len(d) < 2 for d in differences):
        raise ValueError("each pair needs two equal 1-d arrays of at least 2 values")
    rng = np.random.default_rng(seed)
    replicates = np.empty(REPLICATES)
    for index in range(REPLICATES):
        chosen = rng.integers(0, len(differences), len(differences))
        replicates[index] = np.mean([differences[g][rng.integers(0, len(differences[g]), len(differences[g]))].mean()
                                     for g in chosen])
    return Interval(float(np.mean([d.mean() for d in differences])), *_percentiles(replicates))


def every_level(intervals: list[Interval], threshold: float = 0.0) -> str:
    """A claim about every level ("consistently lower"): reproduced when every interval lies
    below the threshold, not reproduced when any lies wholly above it, else inconclusive."""
    verdicts = [verdict_below(interval, threshold) for interval in intervals]
    if verdicts and all(v == REPRODUCED for v in verdicts):
        return REPRODUCED
    return NOT_REPRODUCED if NOT_REPRODUCED in verdicts else INCONCLUSIVE


def verdict_below(interval: Interval, threshold: float) -> str:
    """For a claim "the quantity is below ``threshold``" (strictly: an interval that starts at the
    threshold, such as a difference of exactly [0, 0], leaves nothing below it and refutes the claim)."""
    if interval.high < threshold:
        return REPRODUCED
    if interval.low >= threshold:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def verdict_above(interval: Interval, threshold: float) -> str:
    """For a claim "the quantity is above ``threshold``"."""
    return verdict_below(Interval(-interval.estimate, -interval.high, -interval.low), -threshold)


def verdict_within(interval: Interval, low: float, high: float) -> str:
    """For a claim "comparable": reproduced when the whole interval lies in [low, high], not
    reproduced when it lies wholly outside, otherwise inconclusive."""
    if low <= interval.low and interval.high <= high:
        return REPRODUCED
    if interval.high < low or interval.low > high:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def verdict_exact(value: float, threshold: float) -> str:
    """An exact quantity (no sampling error) against a claim "below ``threshold``"."""
    return REPRODUCED if value < threshold else NOT_REPRODUCED
