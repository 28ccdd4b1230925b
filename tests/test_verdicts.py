"""The report's verdict vocabulary: every verdict, the rule that gives it, and the intervals behind it."""

import numpy as np
import pandas as pd
import pytest

from cunet_bench.report.fid import _fewer_steps
from cunet_bench.report.speed import pooled_verdict
from cunet_bench.report.verdicts import (BY_CONSTRUCTION, EDGE, INCONCLUSIVE, NOT_MEASURED, NOT_REPRODUCED,
                                         PIPELINE_CHECK, REPRODUCED, UNSTABLE, VOCABULARY, Interval, every_level,
                                         hierarchical_median, hierarchical_paired_mean, too_small, verdict_above,
                                         verdict_below, verdict_exact, verdict_within)


def test_the_vocabulary_is_the_issues_and_defined_once():
    assert set(VOCABULARY) == {REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, UNSTABLE, EDGE, BY_CONSTRUCTION, NOT_MEASURED,
                               PIPELINE_CHECK}
    assert all(len(meaning) > 20 for meaning in VOCABULARY.values())


@pytest.mark.parametrize("interval, expected", [
    (Interval(0.5, 0.4, 0.6), REPRODUCED), (Interval(1.0, 0.9, 1.1), NOT_REPRODUCED),
    (Interval(0.75, 0.6, 0.9), INCONCLUSIVE), (Interval(0.77, 0.77, 0.77), NOT_REPRODUCED),
    (Interval(0.77, 0.7, 0.77), INCONCLUSIVE)])
def test_a_verdict_needs_the_whole_interval_on_one_side(interval, expected):
    assert verdict_below(interval, 0.77) == expected
    flipped = Interval(-interval.estimate, -interval.high, -interval.low)
    assert verdict_above(flipped, -0.77) == expected


def test_comparable_exact_and_every_level_rules():
    assert verdict_within(Interval(1.0, 0.9, 1.1), 0.8, 1.25) == REPRODUCED
    assert verdict_within(Interval(1.5, 1.3, 1.7), 0.8, 1.25) == NOT_REPRODUCED
    assert verdict_within(Interval(1.2, 1.1, 1.3), 0.8, 1.25) == INCONCLUSIVE
    assert verdict_exact(0.25, 0.3) == REPRODUCED and verdict_exact(0.31, 0.3) == NOT_REPRODUCED
    below, straddles, above = Interval(-2, -3, -1), Interval(0, -1, 1), Interval(2, 1, 3)
    assert every_level([below, below]) == REPRODUCED
    assert every_level([below, straddles]) == INCONCLUSIVE
    assert every_level([below, above, straddles]) == NOT_REPRODUCED


def test_runs_that_contradict_each_other_are_unstable_and_busy_runs_are_left_out():
    rng = np.random.default_rng(0)
    fast, slow = rng.normal(0.5, 0.01, 30), rng.normal(1.0, 0.01, 30)
    pooled, verdict, per_run = pooled_verdict({"a": fast, "b": fast + 0.01}, set())
    assert verdict == REPRODUCED and per_run == [f"{np.median(fast):.3f} (reproduced)",
                                                f"{np.median(fast) + 0.01:.3f} (reproduced)"] and pooled.high < 0.77
    assert pooled_verdict({"a": fast, "b": slow}, set())[1] == UNSTABLE
    pooled, verdict, per_run = pooled_verdict({"a": fast, "b": slow}, {"b"})
    assert verdict == REPRODUCED and "(busy machine)" in per_run[1]
    assert pooled_verdict({"a": fast}, {"a"})[1] == NOT_MEASURED
    # A run that cannot decide contradicts nobody: at the threshold, the pooled interval decides.
    undecided, above = rng.normal(0.769, 0.05, 30), rng.normal(0.80, 0.002, 30)
    pooled, verdict, per_run = pooled_verdict({"a": undecided, "b": above}, set())
    assert per_run[0].endswith("(inconclusive)") and per_run[1].endswith("(not reproduced)")
    assert verdict == verdict_below(pooled, 1 / 1.3) != UNSTABLE


def test_a_best_step_at_the_end_of_the_grid_is_named():
    best = pd.DataFrame({"model": ["unet", "cunet", "unet", "cunet"], "train_seed": [0, 0, 1, 1],
                         "steps": [100, 100, 100, 30]})
    assert _fewer_steps(best, "unet", "cunet", [5, 10, 30, 100])[0] == EDGE
    inside = best.assign(steps=[30, 10, 30, 10])
    verdict, text = _fewer_steps(inside, "unet", "cunet", [5, 10, 30, 100])
    assert verdict == REPRODUCED and "seed 0: 10 vs 30" in text
    mixed = best.assign(steps=[30, 10, 10, 30])
    assert _fewer_steps(mixed, "unet", "cunet", [5, 10, 30, 100])[0] == INCONCLUSIVE


def test_small_runs_get_a_pipeline_check():
    assert too_small(test_images=4, training_steps=3) == ["test images 4 < 32", "training steps 3 < 200"]
    assert too_small(test_images=64, generated_samples=128, training_steps=300) == []
    assert too_small(training_steps=None) == []


def test_hierarchical_intervals_widen_with_the_spread_between_seeds():
    rng = np.random.default_rng(1)
    images = [rng.normal(1.0, 0.1, 40) for _ in range(3)]
    close = hierarchical_paired_mean([(a, np.zeros(40)) for a in images])
    apart = hierarchical_paired_mean([(a + shift, np.zeros(40)) for a, shift in zip(images, (-0.5, 0.0, 0.5))])
    assert close.low < close.estimate < close.high and close.estimate == pytest.approx(np.mean([a.mean() for a in images]))
    assert apart.high - apart.low > 3 * (close.high - close.low)
    constant = hierarchical_paired_mean([(np.full(5, 2.0), np.full(5, 1.0))])
    assert (constant.estimate, constant.low, constant.high) == (1.0, 1.0, 1.0)
    median = hierarchical_median([np.array([1.0, 1.1, 0.9]), np.array([1.0, 1.05])])
    assert median.estimate == pytest.approx(1.0) and median.low <= 1.0 <= median.high
