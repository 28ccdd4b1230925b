"""The verdict rules of the report and the intervals they rest on, stated once (the report's "How
to read" section prints :data:`VOCABULARY` and :data:`RULES`).

* **Seed-level comparisons** (quality, denoising, perception–distortion, baselines; one function
  each for differences and ratios): a t-interval whose standard error adds the variation between
  each model's training seeds (independent: seed s of one model shares nothing with seed s of
  another) and the variation over the test images (paired: every model sees the same images),
  with the fewest degrees of freedom of any component (:func:`combined_error`): adding a source
  of variation never narrows it. With three seeds a percentile bootstrap over seeds cannot leave
  the range of the seed means; the t-interval can.
  A trained model with one seed has no measured variation between training runs: its interval
  covers images only and its verdict is at best "inconclusive".
* **Timing comparisons**: ratios within rounds (models interleaved round by round); from three
  or more runs the median with a bootstrap over runs and rounds (hierarchical), from fewer a
  t-interval over the rounds' log ratios (:func:`time_ratio`).
* **Grid edges**: a best-of-grid comparison where the best sits at the grid's end (or start) for
  at least :data:`EDGE_SHARE` of the items of both models says where the grid stops, not which
  model is better: "at the edge of the grid".
* **Exact quantities** (counts): the value itself against the claim, with a stated tolerance.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

REPLICATES = 2000
LEVEL = 0.95
REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_MEASURED = "reproduced", "not reproduced", "inconclusive", "not measured"
UNSTABLE, EDGE, BY_CONSTRUCTION, PIPELINE_CHECK = (
    "unstable",
    "at the edge of the grid",
    "matches by construction",
    "pipeline check",
)
DEPENDS = "depends on the reading"
BY_CONSTRUCTION_TOLERANCE = 0.05
"""'Matches by construction' allows ±5% between our exact count and the paper's rounded or
differently counted figure (thop counts a few normalisation layers fvcore leaves out)."""
EDGE_SHARE = 0.9
"""Share of items whose best lies at the grid's edge, for both models, that makes a comparison degenerate."""
VOCABULARY = {
    REPRODUCED: "the claim's rule holds with the whole 95% interval (for an exact count, the value) on the claimed "
    "side of its threshold",
    NOT_REPRODUCED: "the whole interval (the value) lies on the other side of the threshold",
    INCONCLUSIVE: "the interval straddles the threshold, or the data cannot carry a verdict (the row says why: "
    "one training seed, undertrained models)",
    UNSTABLE: "runs of one configuration on one machine contradict each other: one reproduces the claim, another "
    "refutes it",
    EDGE: "a best step count lies at the largest or smallest value tried (for a per-item best, for at least "
    f"{EDGE_SHARE:.0%} of the items of both models), so the comparison measures the grid, not the models",
    DEPENDS: "the paper's words admit two readings and the verdict differs between them; both are shown",
    BY_CONSTRUCTION: "an exact count of the rebuilt architecture: it equals the release's (within "
    f"±{BY_CONSTRUCTION_TOLERANCE:.0%} of the paper's figure) because the architecture is the "
    "release's, not because anything was measured",
    NOT_MEASURED: "the results needed are missing or were taken on a busy machine; the row says why and how to "
    "make them",
    PIPELINE_CHECK: "the run is a smoke run or its sizes are below the minimum for a verdict (see MINIMUM_SIZES); its "
    "numbers only show that the pipeline runs",
}
"""Every verdict the report can give, defined once at its top."""
GLOSSARY = {
    "FD-classifier": "the Fréchet distance between generated and real images in the features of a classifier "
    "trained on the dataset's labels; it stands in for FID when the Inception weights are not installed and ranks "
    "models, but is not FID",
    "KD-classifier": "the kernel distance (KID's unbiased estimator, cubic polynomial kernel) in the same features; "
    "values near 0 can be negative",
    "recognisable": "the share of samples the dataset's classifier gives one class a probability of at least 0.9; "
    "the aim is stated relative to real test images",
    "iterate scoring": "a denoising chain scored on its iterate after each reverse step, as the released notebook "
    "scores it (the paper's numbers)",
    "x0 scoring": "the same chain scored on the model's one-step estimate of the clean image",
    "elbow": "how far a perceptual score worsens after its best reverse step: its value at the chain's end minus "
    "its best",
    "rung": "a checkpoint kept on training's doubling ladder (225, 450, 900, … steps), tied to its run",
    "doubling": "a metric's change between two rungs one doubling of training apart: the learning curve's evidence",
    "undertrained": "held by the convergence gate: the samples miss the recognisability aim and the compared metric "
    "still moves over the last doubling",
    "points to": "what a held claim's measurement reads at this scale: a direction, not a verdict",
}
"""Every term of art the report's cells use, defined once under How to read."""
MINIMUM_SIZES = {"test images": 32, "generated samples": 128, "timing rounds": 3}
"""Below any of these a run gets "pipeline check", never a verdict (the smoke preset is below all)."""
TIMING_RULE = (
    "**Timing intervals**: a time ratio is taken within interleaved rounds; from three or more runs of one "
    "configuration on one machine, the median of the per-round ratios with a bootstrap over runs then rounds; from "
    "fewer, the geometric mean with a t-interval over the rounds' log ratios, which can reach beyond the rounds "
    "observed."
)
SEED_LEVEL_RULE = (
    "**Seed-level intervals** (sample quality, denoising, perception–distortion, baselines): estimate ± t(0.975, df) "
    "× SE, where SE² adds each model's variance of its per-seed means divided by its number of seeds (seeds of "
    "different models are independent) and the variance of the per-image differences averaged over seeds divided by "
    "the number of images (images are shared, so paired); df is the fewest of any component that varies (seeds − 1 "
    "of a model, images − 1), so adding a source of variation never narrows an interval. Ratios (distances) take the "
    "same rule on the log scale by the delta method and are the ratio of the seed means. A trained model with one "
    "seed leaves the variation between training runs unmeasured: 'inconclusive (one training seed)'."
)
"""The one statement of the seed-level interval: the report's rules print it, the README quotes it."""
PRECEDENCE_RULE = (
    "**Precedence** (one function, every row, a secondary reading shown in a cell too): pipeline check → busy "
    "machine → grid edge → convergence gate → readings → the interval against the threshold. The first that "
    "applies gives the verdict. A row the convergence gate holds back still shows its evidence and says which way "
    "the measurement points at this scale."
)
RULES = (
    PRECEDENCE_RULE,
    SEED_LEVEL_RULE,
    "**Strict claims** ('fewer', 'less', 'below'): an interval that starts at the threshold — a difference of "
    "exactly [0, 0] — leaves nothing below it and refutes the claim, unless the comparison is degenerate (next rule).",
    f"**Grid edges override a rule**: when the best of a grid (sampling steps, reverse steps) sits at the grid's edge "
    f"(for per-item bests: for ≥ {EDGE_SHARE:.0%} of items of both models) the verdict of every best-of-grid and "
    "time-to-best row is 'at the edge of the grid', whatever the interval says; a time-to-best row then measures "
    "per-step speed and says so.",
    "**Every level**: a claim about every noise level is reproduced when every level's interval is on the claimed "
    "side, not reproduced when any level's interval is wholly on the other side, otherwise inconclusive.",
    TIMING_RULE,
    "**Busy machine**: a time measured while other processes used the CPU is left out; a time claim with nothing "
    "else is 'not measured (busy machine)'. A time shared by a whole batch (one chain for all images) has no "
    "interval over images: the row says 'one shared batch time'.",
    "**Readings**: where the paper's words admit two readings, the rule takes the one the paper's own numbers "
    "support and shows the other's verdict beside it; when they differ the verdict is 'depends on the reading'.",
    "**Non-claims and concessions** (our own extra measurements; what the paper concedes) are listed in their own "
    "tables and are not counted among the paper's claims.",
)


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    note: str = ""
    """What the interval does not cover, if anything (e.g. one training seed)."""

    def text(self, digits: int = 3) -> str:
        """The estimate and its interval; what it does not cover (``note``) goes into the claim's reason."""
        return f"{self.estimate:.{digits}g} [{self.low:.{digits}g}, {self.high:.{digits}g}]"


def uncovered(intervals: Iterable[Interval | None]) -> str:
    """What the intervals of a claim do not cover (their first note), or ""."""
    return next((interval.note for interval in intervals if interval is not None and interval.note), "")


def _percentiles(replicates: np.ndarray) -> tuple[float, float]:
    tail = (1 - LEVEL) / 2 * 100
    return float(np.percentile(replicates, tail)), float(np.percentile(replicates, 100 - tail))


def t_quantile(df: float) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.5 + LEVEL / 2, df))


def combined_error(components: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """Standard error and degrees of freedom of a sum of independent variance components, each
    (variance of its mean, its degrees of freedom): the variances add, and the degrees of freedom
    are the fewest of any component that varies. Welch–Satterthwaite's df can grow when a
    component is added (three seeds of each model, then the images: df 2.0 → 2.5) and so narrow
    the interval although the error grew; the fewest df cannot, so adding a source of variation
    never narrows an interval (a conservative bound: Satterthwaite's df is never below it)."""
    variance = sum(v for v, _ in components)
    df = min((df for v, df in components if v > 0 and df > 0), default=math.inf)
    return math.sqrt(variance), df


@dataclass(frozen=True)
class Seeds:
    """One model's per-seed, per-image values (every seed scored on the same images), and whether
    the model is trained (a trained model's seeds vary; a fixed method's do not)."""

    values: list[np.ndarray]
    trained: bool = True

    @property
    def means(self) -> np.ndarray:
        return np.array([np.mean(v) for v in self.values])


ONE_SEED = "one training seed: the variation between training runs is unmeasured"


def seed_level_difference(a: Seeds, b: Seeds) -> Interval:
    """mean(a) − mean(b) with the seed-level t-interval of :data:`RULES`."""
    a_means, b_means = a.means, b.means
    estimate = float(a_means.mean() - b_means.mean())
    components, unmeasured = [], False
    for seeds, means in ((a, a_means), (b, b_means)):
        if seeds.trained and len(means) < 2:
            unmeasured = True
        elif len(means) >= 2:
            components.append((float(np.var(means, ddof=1)) / len(means), len(means) - 1))
    per_image = np.mean(np.stack(a.values), axis=0) - np.mean(np.stack(b.values), axis=0)
    if per_image.ndim == 1 and len(per_image) >= 2:
        components.append((float(np.var(per_image, ddof=1)) / len(per_image), len(per_image) - 1))
    error, df = combined_error(components)
    half = t_quantile(df) * error if error > 0 else 0.0
    return Interval(estimate, estimate - half, estimate + half, ONE_SEED if unmeasured else "")


def seed_level_ratio(a: Sequence[float], b: Sequence[float], a_spread: float = 0.0, b_spread: float = 0.0) -> Interval:
    """mean(a) / mean(b) of per-seed values (e.g. each seed's best distance), with the seed-level
    interval on the log scale (delta method). With one seed a model's variation between seeds is
    unmeasured; its within-seed standard error (``*_spread``, e.g. from a bootstrap over samples)
    then stands in, and the interval says so."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    estimate = float(a.mean() / b.mean())
    components, unmeasured = [], False
    for values, spread in ((a, a_spread), (b, b_spread)):
        if len(values) >= 2:
            components.append((float(np.var(values, ddof=1)) / len(values) / values.mean() ** 2, len(values) - 1))
        else:
            unmeasured = True
            components.append(((spread / values.mean()) ** 2, math.inf))
    error, df = combined_error(components)
    half = t_quantile(df) * error if error > 0 else 0.0
    return Interval(estimate, estimate * math.exp(-half), estimate * math.exp(half), ONE_SEED if unmeasured else "")


def hierarchical_median(groups: list[np.ndarray], seed: int = 0) -> Interval:
    """The median of every value of every group (a run's per-round ratios), with a 95% interval
    from resampling the groups and then the values within each chosen group: the variation
    between runs enters the interval, not only the variation within one."""
    groups = [np.asarray(group, dtype=float) for group in groups if len(group)]
    if not groups:
        raise ValueError("no values")
    rng = np.random.default_rng(seed)
    sizes = np.array([len(group) for group in groups])
    padded = np.full((len(groups), sizes.max()), np.nan)
    for index, group in enumerate(groups):
        padded[index, : len(group)] = group
    chosen = rng.integers(0, len(groups), (REPLICATES, len(groups)))
    draws = np.floor(rng.random((REPLICATES, len(groups), sizes.max())) * sizes[chosen][..., None]).astype(int)
    values = padded[chosen[..., None], draws]
    values[np.arange(sizes.max()) >= sizes[chosen][..., None]] = np.nan  # a smaller group draws fewer values
    replicates = np.nanmedian(values.reshape(REPLICATES, -1), axis=1)
    return Interval(float(np.median(np.concatenate(groups))), *_percentiles(replicates))


MIN_TIMING_RUNS = 3
"""Runs of one configuration from which the interval of a time ratio resamples runs."""


def time_ratio(groups: list[np.ndarray]) -> Interval:
    """A time ratio from the per-round ratios of each run (:data:`TIMING_RULE`): with at least
    :data:`MIN_TIMING_RUNS` runs, the median with a bootstrap over runs then rounds; with fewer,
    the geometric mean with a t-interval over the rounds' log ratios, which can reach beyond the
    rounds observed (a percentile interval of five rounds is their [min, max])."""
    groups = [np.asarray(group, dtype=float) for group in groups if len(group)]
    if len(groups) >= MIN_TIMING_RUNS:
        return hierarchical_median(groups)
    logs = np.log(np.concatenate(groups))
    if len(logs) < 2:
        return Interval(float(np.exp(logs.mean())), float("-inf"), float("inf"), "one round")
    half = t_quantile(len(logs) - 1) * float(np.std(logs, ddof=1)) / math.sqrt(len(logs))
    centre = float(logs.mean())
    return Interval(math.exp(centre), math.exp(centre - half), math.exp(centre + half))


def edge_share(best_steps: Iterable[float], edge: float) -> float:
    """The share of items whose best step is ``edge`` (a grid's end or start)."""
    values = np.asarray(list(best_steps), dtype=float)
    return float(np.mean(values == edge)) if len(values) else 0.0


def at_grid_edge(best_steps: Iterable[int], grid: Iterable[int]) -> bool:
    """Whether any best step count is the grid's smallest or largest value: the true best may
    then lie beyond the grid (the verdict :data:`EDGE`)."""
    grid = list(grid)
    return bool(grid) and any(step in (min(grid), max(grid)) for step in best_steps)


def too_small(**sizes: float | None) -> list[str]:
    """The sizes of a run that are below :data:`MINIMUM_SIZES` (empty when a verdict may be given)."""
    named = {name.replace("_", " "): value for name, value in sizes.items()}
    return [
        f"{name} {int(value)} < {MINIMUM_SIZES[name]}"
        for name, value in named.items()
        if value is not None and value < MINIMUM_SIZES[name]
    ]


def every_level(verdicts: list[str]) -> str:
    """A claim about every level ("consistently"): reproduced when every level reproduces it, not
    reproduced when any level refutes it, else inconclusive."""
    if verdicts and all(v == REPRODUCED for v in verdicts):
        return REPRODUCED
    return NOT_REPRODUCED if NOT_REPRODUCED in verdicts else INCONCLUSIVE


def all_of(verdicts: list[str]) -> str:
    """A claim that needs every part (against every baseline, on every metric)."""
    return every_level(verdicts)


def verdict_below(interval: Interval, threshold: float) -> str:
    """For a claim "the quantity is below ``threshold``" (strictly: an interval that starts at the
    threshold, such as a difference of exactly [0, 0], leaves nothing below it and refutes the claim).
    An interval that does not cover every source of variation (its ``note`` says which) cannot
    decide either way: inconclusive."""
    if interval.note:
        return INCONCLUSIVE
    if interval.high < threshold:
        return REPRODUCED
    if interval.low >= threshold:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def verdict_above(interval: Interval, threshold: float) -> str:
    """For a claim "the quantity is above ``threshold``"."""
    return verdict_below(Interval(-interval.estimate, -interval.high, -interval.low, interval.note), -threshold)


def verdict_within(interval: Interval, low: float, high: float) -> str:
    """For a claim "comparable": reproduced when the whole interval lies in [low, high], not
    reproduced when it lies wholly outside, otherwise inconclusive."""
    if interval.note:
        return INCONCLUSIVE
    if interval.high < low or interval.low > high:
        return NOT_REPRODUCED
    if low <= interval.low and interval.high <= high:
        return REPRODUCED
    return INCONCLUSIVE


def verdict_exact(value: float, threshold: float) -> str:
    """An exact quantity (no sampling error) against a claim "below ``threshold``"."""
    return REPRODUCED if value < threshold else NOT_REPRODUCED


def by_construction(measured: float, paper: float) -> str:
    """An exact count against the paper's figure: equal within :data:`BY_CONSTRUCTION_TOLERANCE`."""
    return BY_CONSTRUCTION if abs(measured / paper - 1) <= BY_CONSTRUCTION_TOLERANCE else NOT_REPRODUCED


AT_THIS_SCALE = "; at this scale the measurement reads '{}'"
"""How a gated or edge row states the verdict its measurement would have had: the direction at this scale."""


def reading_at_this_scale(reason: str) -> str | None:
    """The verdict a gated row's measurement reads at this scale (from its reason), or None."""
    found = re.search(re.escape(AT_THIS_SCALE).replace(re.escape("{}"), "([^']*)"), reason)
    return found.group(1) if found else None


def _held(measured: str, edge: str, gate: str) -> tuple[str, str]:
    """One reading's verdict after the grid edge and the convergence gate; either says what the
    measurement reads inside them, where it reads something."""
    if edge or measured == EDGE:
        return EDGE, edge + (AT_THIS_SCALE.format(measured) if edge and measured not in (EDGE, NOT_MEASURED) else "")
    if gate:
        return INCONCLUSIVE, gate + AT_THIS_SCALE.format(measured)
    return measured, ""


def decide(
    measured: str,
    *,
    pipeline: str = "",
    busy: bool = False,
    edge: str = "",
    gate: str = "",
    other_reading: str | None = None,
) -> tuple[str, str]:
    """The verdict of a row and the reason shown with it, by :data:`PRECEDENCE_RULE`: a run below
    the minimum sizes (``pipeline``, why) → a busy machine → a best at the grid's edge (``edge``,
    what; or a reading measured as :data:`EDGE`) → the convergence gate (``gate``, why the models
    are not converged: the reason then says what the measurement reads) → two readings whose
    verdicts, each after the same gates, differ (a reading without data is left out) → the
    measured verdict. A row with nothing measured stays "not measured"."""
    if pipeline:
        return PIPELINE_CHECK, pipeline
    if measured == NOT_MEASURED:
        return NOT_MEASURED, ""
    if busy:
        return NOT_MEASURED, "busy machine"
    primary = _held(measured, edge, gate)
    if other_reading in (None, NOT_MEASURED):  # a reading without its data has no verdict to differ
        return primary
    other = _held(other_reading, edge, gate)
    if readings(primary[0], other[0]) != DEPENDS:
        return primary
    shown = [f"{verdict} ({_brief(why)})" if why else verdict for verdict, why in (primary, other)]
    return DEPENDS, f"the rule's reading: {shown[0]}; the other reading: {shown[1]}"


def _brief(why: str) -> str:
    """A reason inside another row's text: the convergence gate's evidence stays in its section."""
    if not why.startswith(("undertrained", "convergence not checked")):
        return why
    reading = reading_at_this_scale(why)
    return "undertrained" + (AT_THIS_SCALE.format(reading) if reading else "")


def readings(primary: str, other: str) -> str:
    """The verdict of a claim with two readings: the primary reading's when both agree, else
    :data:`DEPENDS`."""
    return primary if primary == other else DEPENDS
