"""The convergence gate on a measured quantity itself: has a metric stopped moving over the last
doubling of training?

A training run keeps checkpoints on a doubling ladder (``bench train --rungs``) and ``bench fid
--curves`` / ``bench denoise --curves`` measure every rung. For one model and metric, the change
over the last doubling is the metric at the top rung minus the metric at the rung below, per
training seed (paired: both rungs come from one run), with a t-interval over seeds; a distance
changes by its log ratio (a relative change). The curve has **plateaued** when that whole interval
lies within ± the metric's tolerance (:data:`TOLERANCES`), is **still moving** when the whole
interval lies beyond it, and is **at the tolerance** (undecided, so the gate stays closed) when
the interval reaches across it. One training seed gives no interval: never a plateau.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cunet_bench.report.verdicts import Interval, t_quantile

ROUNDING = 1e-9
"""Relative margin within which a change counts as on the tolerance (float differences of rounded values)."""
PLATEAU, MOVING, AT_TOLERANCE, ONE_SEED = "plateaued", "still moving", "at the tolerance", "one training seed"
MOST_SEEDS = 100
"""The most training seeds :meth:`Doubling.seeds_to_decide` looks for."""
DECIDE_PROBABILITY = 0.9
"""The chance of deciding a change at the tolerance that the "seeds to decide" column plans for."""


@dataclass(frozen=True)
class Tolerance:
    """How much a metric may still change over the last doubling of training and count as converged."""

    amount: float
    relative: bool
    unit: str

    def text(self) -> str:
        return f"{self.amount:.0%}" if self.relative else f"{self.amount:g} {self.unit}".strip()


TOLERANCES = {
    "confident_fraction": Tolerance(0.03, False, "recognisability"),
    "class_entropy": Tolerance(0.03, False, "class entropy"),
    "distance": Tolerance(0.10, True, "distance"),
    "kid_mean": Tolerance(0.10, True, "kernel distance"),
    "ssim": Tolerance(0.01, False, "SSIM"),
    "psnr": Tolerance(0.25, False, "dB"),
    "lpips": Tolerance(0.10, True, "LPIPS"),
    "feature_distance": Tolerance(0.10, True, "feature distance"),
}
"""Per metric: an absolute change (recognisability in points of the share, SSIM, PSNR in dB) or a
relative one (distances, whose scale depends on the feature space)."""
PLATEAU_RULE = (
    "**Plateau rule**: a metric's change over the last doubling of training is its value at the top rung of the "
    "checkpoints' ladder minus its value at the rung below, per training seed (a distance: the log ratio), with a "
    "t-interval over seeds. It has plateaued when the whole interval lies within ± the tolerance ("
    + ", ".join(f"{name} {tolerance.text()}" for name, tolerance in TOLERANCES.items())
    + "), is still moving when the whole interval lies beyond it, and is at the tolerance otherwise (undecided: "
    "the gate stays closed); one training seed gives no interval and never a plateau. Each noise level is judged "
    "on its own curve."
)


@dataclass(frozen=True)
class Doubling:
    """The change of one metric over the last doubling of one model's training."""

    metric: str
    below: int
    top: int
    """The training steps of the two rungs compared."""
    change: Interval
    seeds: int
    state: str

    def _shown(self, value: float) -> str:
        """One change on the scale it is read in: a percentage for a relative metric."""
        return f"{math.expm1(value):+.0%}" if TOLERANCES[self.metric].relative else f"{value:+.3g}"

    def estimate_text(self) -> str:
        """The estimated change alone: a percentage for a relative metric, else in the metric's unit."""
        return self._shown(self.change.estimate)

    def change_text(self) -> str:
        """The change with its interval over seeds: a percentage for a relative metric."""
        tolerance = TOLERANCES[self.metric]
        shown = self.estimate_text()
        if self.seeds > 1:
            shown += f" [{self._shown(self.change.low)}, {self._shown(self.change.high)}]"
        return shown if tolerance.relative else f"{shown} {tolerance.unit}"

    def text(self) -> str:
        tolerance = TOLERANCES[self.metric]
        return (
            f"{self.change_text()} from step {self.below:,} to {self.top:,} ({self.state}; "
            f"tolerance ±{tolerance.text()})"
        )

    @property
    def estimate_beyond_tolerance(self) -> bool:
        """Whether the estimated change lies beyond the tolerance (more seeds would show it still moving)."""
        low, high = _limits(TOLERANCES[self.metric])
        return not low <= self.change.estimate <= high

    def seeds_to_decide(self, probability: float = DECIDE_PROBABILITY) -> int | None:
        """For a change at the tolerance, how many training seeds would decide it with the given
        ``probability`` if the true change and per-seed spread s were as measured: the fewest n at
        which the t-interval lies wholly on the estimate's side of the tolerance that often — a
        noncentral t with n − 1 degrees of freedom and noncentrality margin·√n/s beyond the
        t quantile (the n where the interval's half-width just fits the margin decides about half
        the time). None when decided, with one seed, or when the estimate sits on the tolerance (no
        number of seeds decides it). Capped at :data:`MOST_SEEDS`, above which it returns
        ``MOST_SEEDS + 1``."""
        from scipy import stats

        if self.state != AT_TOLERANCE:
            return None
        low, high = _limits(TOLERANCES[self.metric])
        limit = high if self.change.estimate >= 0 else low
        margin = abs(self.change.estimate - limit)
        half = (self.change.high - self.change.low) / 2
        spread = half * math.sqrt(self.seeds) / t_quantile(self.seeds - 1)
        if margin <= abs(limit) * ROUNDING:
            return None
        for seeds in range(self.seeds + 1, MOST_SEEDS + 1):
            shift = margin * math.sqrt(seeds) / spread
            if stats.nct.sf(t_quantile(seeds - 1), seeds - 1, shift) >= probability:
                return seeds
        return MOST_SEEDS + 1


def last_doubling(metric: str, below: dict[int, float], top: dict[int, float], steps: tuple[int, int]) -> Doubling:
    """The change from the rung below (``below``: seed → value) to the top rung (``top``), over the
    seeds measured at both; a relative metric changes by its log ratio."""
    seeds = sorted(set(below) & set(top))
    if not seeds:
        raise ValueError(f"no training seed measured at both rungs of {metric}")
    tolerance = TOLERANCES[metric]
    if tolerance.relative:
        changes = np.array([math.log(top[s] / below[s]) if top[s] > 0 and below[s] > 0 else math.nan for s in seeds])
    else:
        changes = np.array([top[s] - below[s] for s in seeds])
    estimate = float(changes.mean())
    if len(seeds) == 1 or not np.isfinite(changes).all():
        return Doubling(metric, *steps, Interval(estimate, math.nan, math.nan, ONE_SEED), len(seeds), ONE_SEED)
    half = t_quantile(len(seeds) - 1) * float(changes.std(ddof=1)) / math.sqrt(len(seeds))
    change = Interval(estimate, estimate - half, estimate + half)
    return Doubling(metric, *steps, change, len(seeds), plateau_state(change, tolerance))


def plateau_state(change: Interval, tolerance: Tolerance) -> str:
    """Plateaued when the whole interval lies strictly within ± the tolerance, still moving when it
    lies wholly beyond, at the tolerance otherwise (a limit within the interval, or on its edge up
    to float rounding: 0.71 − 0.70 is a change of 0.01)."""
    low, high = _limits(tolerance)
    if low * (1 - ROUNDING) < change.low and change.high < high * (1 - ROUNDING):
        return PLATEAU
    if change.low > high * (1 + ROUNDING) or change.high < low * (1 + ROUNDING):
        return MOVING
    return AT_TOLERANCE


def _limits(tolerance: Tolerance) -> tuple[float, float]:
    """The tolerance on the scale changes are measured on: ± the amount, or for a relative one the
    log ratios of a fall and a rise of that many percent (−10% and +10% are both on the limit, as
    the text says ±10%)."""
    if tolerance.relative:
        return math.log1p(-tolerance.amount), math.log1p(tolerance.amount)
    return -tolerance.amount, tolerance.amount
