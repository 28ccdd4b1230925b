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

from dataclasses import dataclass

import numpy as np

REPLICATES = 2000
LEVEL = 0.95
REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_MEASURED = "reproduced", "not reproduced", "inconclusive", "not measured"
UNSTABLE = "unstable"
"""Runs of one configuration on one machine that disagree about the verdict."""


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


def paired_mean_difference(a: np.ndarray, b: np.ndarray, seed: int = 0) -> Interval:
    """mean(a − b) over paired observations (the same test images), resampling the pairs."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError(f"paired samples must be two equal 1-d arrays of at least 2, got {a.shape} and {b.shape}")
    difference = a - b
    rng = np.random.default_rng(seed)
    replicates = difference[rng.integers(0, len(difference), (REPLICATES, len(difference)))].mean(axis=1)
    return Interval(float(difference.mean()), *_percentiles(replicates))


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


def ratio_of_medians(a: np.ndarray, b: np.ndarray, seed: int = 0) -> Interval:
    """median(a) / median(b) for independent samples (timed repeats of two models)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 1 or len(b) < 1:
        raise ValueError("a ratio of medians needs at least one sample on each side")
    rng = np.random.default_rng(seed)
    top = np.median(a[rng.integers(0, len(a), (REPLICATES, len(a)))], axis=1)
    bottom = np.median(b[rng.integers(0, len(b), (REPLICATES, len(b)))], axis=1)
    return Interval(float(np.median(a) / np.median(b)), *_percentiles(top / bottom))


def verdict_below(interval: Interval, threshold: float) -> str:
    """For a claim "the quantity is below ``threshold``"."""
    if interval.high < threshold:
        return REPRODUCED
    if interval.low > threshold:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def verdict_above(interval: Interval, threshold: float) -> str:
    """For a claim "the quantity is above ``threshold``"."""
    return verdict_below(Interval(-interval.estimate, -interval.high, -interval.low), -threshold)


def verdict_within(interval: Interval, low: float, high: float) -> str:
    """For a claim "comparable": reproduced when the whole interval lies in [low, high], not
    reproduced when it lies wholly outside, otherwise no significant difference."""
    if low <= interval.low and interval.high <= high:
        return REPRODUCED
    if interval.high < low or interval.low > high:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def verdict_exact(value: float, threshold: float) -> str:
    """An exact quantity (no sampling error) against a claim "below ``threshold``"."""
    return REPRODUCED if value < threshold else NOT_REPRODUCED
