"""The report's verdict rules, each against a hand-computed case: the seed-level t-interval, grid
edges, the convergence gate, the two readings of "faster", busy machines, small runs."""

import math

import numpy as np
import pytest
from cunet_bench.report.convergence import Convergence
from cunet_bench.report.sections.speed import FASTER, LESS_TIME, pooled_verdict, two_readings
from cunet_bench.report.verdicts import (
    BY_CONSTRUCTION,
    DEPENDS,
    EDGE,
    INCONCLUSIVE,
    NOT_MEASURED,
    NOT_REPRODUCED,
    ONE_SEED,
    PIPELINE_CHECK,
    REPRODUCED,
    UNSTABLE,
    VOCABULARY,
    Interval,
    Seeds,
    by_construction,
    combined_error,
    edge_share,
    every_level,
    hierarchical_median,
    readings,
    seed_level_difference,
    seed_level_ratio,
    too_small,
    verdict_above,
    verdict_below,
    verdict_exact,
    verdict_within,
)
from scipy import stats


def test_the_vocabulary_is_defined_once():
    assert set(VOCABULARY) == {
        REPRODUCED,
        NOT_REPRODUCED,
        INCONCLUSIVE,
        UNSTABLE,
        EDGE,
        BY_CONSTRUCTION,
        NOT_MEASURED,
        PIPELINE_CHECK,
        DEPENDS,
    }
    assert all(len(meaning) > 20 for meaning in VOCABULARY.values())


@pytest.mark.parametrize(
    "interval, expected",
    [
        (Interval(0.5, 0.4, 0.6), REPRODUCED),
        (Interval(1.0, 0.9, 1.1), NOT_REPRODUCED),
        (Interval(0.75, 0.6, 0.9), INCONCLUSIVE),
        (Interval(0.77, 0.77, 0.77), NOT_REPRODUCED),
        (Interval(0.77, 0.7, 0.77), INCONCLUSIVE),
        (Interval(0.5, 0.4, 0.6, ONE_SEED), INCONCLUSIVE),
        (Interval(1.0, 0.9, 1.1, ONE_SEED), INCONCLUSIVE),
    ],
)
def test_a_verdict_needs_the_whole_interval_on_one_side_and_every_source_of_variation(interval, expected):
    assert verdict_below(interval, 0.77) == expected
    flipped = Interval(-interval.estimate, -interval.high, -interval.low, interval.note)
    assert verdict_above(flipped, -0.77) == expected


def test_comparable_exact_by_construction_and_every_level_rules():
    assert verdict_within(Interval(1.0, 0.9, 1.1), 0.8, 1.25) == REPRODUCED
    assert verdict_within(Interval(1.5, 1.3, 1.7), 0.8, 1.25) == NOT_REPRODUCED
    assert verdict_within(Interval(1.2, 1.1, 1.3), 0.8, 1.25) == INCONCLUSIVE
    assert verdict_exact(0.25, 0.3) == REPRODUCED and verdict_exact(0.31, 0.3) == NOT_REPRODUCED
    assert by_construction(0.392, 2.90 / 7.21) == BY_CONSTRUCTION and by_construction(0.30, 0.40) == NOT_REPRODUCED
    assert every_level([REPRODUCED, REPRODUCED]) == REPRODUCED
    assert every_level([REPRODUCED, INCONCLUSIVE]) == INCONCLUSIVE
    assert every_level([REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE]) == NOT_REPRODUCED


def test_the_seed_level_interval_adds_seed_means_and_the_paired_images_with_the_fewest_df():
    """By hand: two models, three seeds each, four shared images."""
    a = [np.array([0.5, 0.6, 0.7, 0.8]), np.array([0.4, 0.5, 0.6, 0.7]), np.array([0.6, 0.7, 0.8, 0.9])]
    b = [np.array([0.7, 0.7, 0.8, 0.8]), np.array([0.8, 0.8, 0.9, 0.9]), np.array([0.6, 0.6, 0.7, 0.7])]
    interval = seed_level_difference(Seeds(a), Seeds(b))
    a_means, b_means = np.array([0.65, 0.55, 0.75]), np.array([0.75, 0.85, 0.65])
    per_image = np.mean(a, axis=0) - np.mean(b, axis=0)
    parts = [(a_means.var(ddof=1) / 3, 2), (b_means.var(ddof=1) / 3, 2), (per_image.var(ddof=1) / 4, 3)]
    error = math.sqrt(sum(v for v, _ in parts))
    half = stats.t.ppf(0.975, 2) * error
    assert interval.estimate == pytest.approx(a_means.mean() - b_means.mean())
    assert (interval.low, interval.high) == pytest.approx((interval.estimate - half, interval.estimate + half))
    assert interval.note == ""
    # Three seeds of a clearly different size: the t-interval reaches past the range of the seed means,
    # which a percentile bootstrap over three seeds cannot.
    assert interval.high - interval.low > (a_means - b_means).max() - (a_means - b_means).min()


def test_adding_a_source_of_variation_never_narrows_the_interval():
    """The case Welch–Satterthwaite gets wrong: three seeds of each model, then the images' paired
    variation added. The standard error grows (0.0131 → 0.0138 in the reference's ΔSSIM at step
    50) but Satterthwaite's df grows more (2.0 → 2.5), so its interval narrowed (±0.056 → ±0.049).
    With the fewest df, the interval with the images is the wider one."""
    rng = np.random.default_rng(3)
    offsets = {"a": [0.0, 0.02, -0.015], "b": [0.01, -0.01, 0.0]}
    shared = rng.normal(0.8, 0.05, 32)
    seeds = {name: [shared + offset + rng.normal(0, 0.01, 32) for offset in values] for name, values in offsets.items()}
    with_images = seed_level_difference(Seeds(seeds["a"]), Seeds(seeds["b"]))
    seed_means_only = seed_level_difference(*(Seeds([np.array([v.mean()]) for v in seeds[name]]) for name in "ab"))
    assert with_images.estimate == pytest.approx(seed_means_only.estimate)
    assert with_images.high - with_images.low > seed_means_only.high - seed_means_only.low
    parts = [(np.var([v.mean() for v in seeds[name]], ddof=1) / 3, 2) for name in "ab"]
    per_image = np.mean(seeds["a"], axis=0) - np.mean(seeds["b"], axis=0)
    welch = lambda components: sum(v for v, _ in components) ** 2 / sum(v * v / d for v, d in components)
    assert welch(parts + [(per_image.var(ddof=1) / 32, 31)]) > welch(parts)  # the df Welch would have used grew
    for extra in (0.0, 1e-6, 1e-4, 1e-2):
        widened = combined_error([*parts, (extra, 31)])
        assert stats.t.ppf(0.975, widened[1]) * widened[0] >= stats.t.ppf(0.975, 2) * math.sqrt(
            sum(v for v, _ in parts)
        )


def test_the_readme_and_the_report_state_the_codes_one_seed_level_rule():
    from pathlib import Path

    from cunet_bench.report.verdicts import RULES, SEED_LEVEL_RULE

    readme = Path(__file__).resolve().parent.parent / "README.md"
    assert SEED_LEVEL_RULE in RULES
    assert " ".join(SEED_LEVEL_RULE.split()) in " ".join(readme.read_text().split())


def test_one_training_seed_leaves_the_variation_between_runs_unmeasured():
    one = seed_level_difference(Seeds([np.array([0.5, 0.6, 0.7])]), Seeds([np.array([0.1, 0.2, 0.2])]))
    assert one.note == ONE_SEED and verdict_above(one, 0) == INCONCLUSIVE
    fixed = seed_level_difference(
        Seeds([np.array([0.5, 0.6, 0.7])] * 2), Seeds([np.array([0.1, 0.2, 0.2])], trained=False)
    )
    assert fixed.note == "" and fixed.estimate == pytest.approx(0.6 - 0.5 / 3)


def test_the_ratio_of_seed_means_by_the_delta_method():
    a, b = [3.0, 2.5, 3.5], [1.0, 1.2, 0.8]
    interval = seed_level_ratio(a, b)
    assert interval.estimate == pytest.approx(3.0)
    parts = [(np.var(a, ddof=1) / 3 / 9, 2), (np.var(b, ddof=1) / 3 / 1, 2)]
    error = math.sqrt(sum(v for v, _ in parts))
    half = stats.t.ppf(0.975, 2) * error
    assert (interval.low, interval.high) == pytest.approx((3 * math.exp(-half), 3 * math.exp(half)))
    single = seed_level_ratio([3.0], [1.0], a_spread=0.3, b_spread=0.1)
    assert single.note == ONE_SEED and single.low < 3 < single.high


def test_a_best_at_the_end_of_the_chain_is_the_grids_edge():
    assert edge_share([400] * 29 + [380] * 3, 400) == pytest.approx(29 / 32)
    assert edge_share([400] * 28 + [380] * 4, 400) < 0.9
    assert edge_share([], 400) == 0.0


def test_readings_and_the_thresholds_of_faster():
    assert LESS_TIME == 0.70 and FASTER == pytest.approx(0.769, abs=1e-3)
    assert readings(REPRODUCED, REPRODUCED) == REPRODUCED and readings(NOT_REPRODUCED, REPRODUCED) == DEPENDS
    rng = np.random.default_rng(0)
    between = {"a": rng.normal(0.73, 0.002, 30), "b": rng.normal(0.731, 0.002, 30)}
    pooled, verdict, other, _ = two_readings(between, set())
    assert pooled.low > 0.70 and pooled.high < 0.769
    assert other == REPRODUCED and verdict == DEPENDS
    fast = {"a": rng.normal(0.5, 0.01, 30)}
    assert two_readings(fast, set())[1] == REPRODUCED


def test_runs_that_contradict_each_other_are_unstable_and_busy_runs_are_left_out():
    rng = np.random.default_rng(0)
    fast, slow = rng.normal(0.5, 0.01, 30), rng.normal(1.0, 0.01, 30)
    pooled, verdict, per_run = pooled_verdict({"a": fast, "b": fast + 0.01}, set())
    assert (
        verdict == REPRODUCED
        and per_run == [f"{np.median(fast):.3f} (reproduced)", f"{np.median(fast) + 0.01:.3f} (reproduced)"]
        and pooled.high < 0.7
    )
    assert pooled_verdict({"a": fast, "b": slow}, set())[1] == UNSTABLE
    pooled, verdict, per_run = pooled_verdict({"a": fast, "b": slow}, {"b"})
    assert verdict == REPRODUCED and "(busy machine)" in per_run[1]
    assert pooled_verdict({"a": fast}, {"a"})[1] == NOT_MEASURED


def test_the_convergence_gate_reads_the_share_against_real_images():
    gate = Convergence({"unet": 0.60, "cunet-release": 0.46, "good": 0.9, "better": 0.95}, real=0.918, run="r")
    assert gate.aim == pytest.approx(0.9 * 0.918)
    assert gate.undertrained(["good", "better"]) == ""
    reason = gate.undertrained(["unet", "cunet-release"], {"unet": "U-Net"})
    assert reason.startswith("undertrained: U-Net 60%, cunet-release 46% recognisable") and "83%" in reason
    assert "not checked" in Convergence({}, None, None).undertrained(["unet"])
    assert Convergence({"unet": 0.85}, None, "r").aim == 0.8


def test_small_runs_get_a_pipeline_check():
    assert too_small(test_images=4, generated_samples=64) == ["test images 4 < 32", "generated samples 64 < 128"]
    assert too_small(test_images=64, generated_samples=128) == []
    assert too_small(test_images=None) == []


def test_hierarchical_median_covers_runs_and_rounds():
    median = hierarchical_median([np.array([1.0, 1.1, 0.9]), np.array([1.0, 1.05])])
    assert median.estimate == pytest.approx(1.0) and median.low <= 1.0 <= median.high


def test_the_readmes_sentences_about_the_reference_agree_with_its_report():
    """What the README says the reference measured is checked against reference/REPORT.md: the
    profile's share of normalisation and elementwise work, and the report's own verdict words."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    readme = " ".join((root / "README.md").read_text().split())
    report = (root / "reference" / "REPORT.md").read_text()
    profile = report.split("Where the time goes")[1].split("\n\n")[1]
    shares: dict[str, list[int]] = {}
    for line in profile.splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        shares.setdefault(cells[0], []).append(int(cells[4].rstrip("%")) + int(cells[5].rstrip("%")))
    cunet, unet = (f"{min(shares[m])}–{max(shares[m])}%" for m in ("cU-Net", "U-Net"))
    assert f"spend {cunet} of their time in normalisation and elementwise work (the U-Net {unet})" in readme
    assert "*inconclusive — undertrained*" in readme and "unconverged" not in readme
    assert re.search(r"\*\*inconclusive\*\* — undertrained", report)
