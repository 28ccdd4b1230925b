"""The convergence gate on the measured quantity (report.plateau) and the learning-curve
arithmetic (report.curves), on constructed curves whose answers are known."""

import math
from dataclasses import replace

import pandas as pd
import pytest
from cunet_bench.benchmarks import denoise, fid
from cunet_bench.benchmarks.fid import FidConfig
from cunet_bench.config.presets import PRESETS
from cunet_bench.report.convergence import Convergence
from cunet_bench.report.curves import Curves, at_budget, cost_to_reach, equal_budget
from cunet_bench.report.plateau import AT_TOLERANCE, MOST_SEEDS, MOVING, ONE_SEED, PLATEAU, last_doubling


def _curve(model, metric, values_by_seed, steps=(225, 450, 900, 1800), seconds_per_step=0.5, level=-1):
    """Long rows of a constructed curve: one list of values per seed, one value per rung."""
    return pd.DataFrame(
        [
            {
                "model": model,
                "train_seed": seed,
                "rung_step": step,
                "images_seen": step * 32.0,
                "train_cpu_seconds": step * seconds_per_step,
                "metric": metric,
                "level": level,
                "value": value,
            }
            for seed, values in values_by_seed.items()
            for step, value in zip(steps, values)
        ]
    )


def test_a_flat_curve_plateaus_a_rising_one_moves_and_a_change_at_the_tolerance_is_undecided():
    flat = last_doubling("ssim", {0: 0.80, 1: 0.81, 2: 0.79}, {0: 0.801, 1: 0.812, 2: 0.792}, (900, 1800))
    assert flat.state == PLATEAU and flat.change.estimate == pytest.approx(0.0016667, abs=1e-6)
    rising = last_doubling("ssim", {0: 0.70, 1: 0.71, 2: 0.69}, {0: 0.75, 1: 0.77, 2: 0.74}, (900, 1800))
    assert rising.state == MOVING and rising.change.low > 0.01
    at = last_doubling("ssim", {0: 0.70, 1: 0.71, 2: 0.69}, {0: 0.71, 1: 0.72, 2: 0.70}, (900, 1800))
    assert at.change.low == pytest.approx(0.01) and at.state == AT_TOLERANCE
    noisy = last_doubling("ssim", {0: 0.70, 1: 0.71, 2: 0.69}, {0: 0.70, 1: 0.73, 2: 0.69}, (900, 1800))
    assert noisy.state == AT_TOLERANCE  # the interval reaches across +0.01
    falling = last_doubling("confident_fraction", {0: 0.6, 1: 0.62}, {0: 0.5, 1: 0.51}, (900, 1800))
    assert falling.state == MOVING and falling.change.high < -0.03


def test_the_seeds_that_would_decide_a_change_at_the_tolerance():
    """Changes 0.02, 0.03, 0.04 SSIM (mean 0.03, s = 0.01): 3 seeds give ±4.303·0.01/√3 = ±0.025,
    which reaches across the tolerance 0.01. With 4 seeds the expected half-width ±3.182·0.01/2 =
    ±0.016 fits the margin 0.02, but a new set of 4 seeds decides only 76% of the time (simulated:
    200,000 sets of N(0.03, 0.01) changes); 5 seeds decide 91% of the time, the 90% asked for."""
    below = {0: 0.70, 1: 0.70, 2: 0.70}
    rising = last_doubling("ssim", below, {0: 0.72, 1: 0.73, 2: 0.74}, (900, 1800))
    assert rising.state == AT_TOLERANCE and rising.seeds_to_decide() == 5 and rising.estimate_beyond_tolerance
    assert rising.seeds_to_decide(probability=0.5) == 4
    on_the_tolerance = last_doubling("ssim", below, {0: 0.70, 1: 0.71, 2: 0.72}, (900, 1800))
    assert on_the_tolerance.state == AT_TOLERANCE and on_the_tolerance.seeds_to_decide() is None
    scattered = last_doubling("ssim", below, {0: 0.40, 1: 0.70, 2: 1.00}, (900, 1800))
    assert scattered.seeds_to_decide() == MOST_SEEDS + 1
    flat = last_doubling("ssim", below, {0: 0.701, 1: 0.70, 2: 0.699}, (900, 1800))
    assert flat.state == PLATEAU and flat.seeds_to_decide() is None


def test_distances_change_relatively_and_one_seed_never_plateaus():
    halved = last_doubling("distance", {0: 2.0, 1: 3.0, 2: 2.5}, {0: 1.0, 1: 1.5, 2: 1.25}, (900, 1800))
    assert halved.change.estimate == pytest.approx(math.log(0.5)) and halved.state == MOVING
    assert "-50% [-50%, -50%]" in halved.text()
    steady = last_doubling("distance", {0: 2.0, 1: 3.0, 2: 2.5}, {0: 2.02, 1: 2.97, 2: 2.5}, (900, 1800))
    assert steady.state == PLATEAU and "tolerance ±10%" in steady.text()
    alone = last_doubling("ssim", {0: 0.8}, {0: 0.8}, (900, 1800))
    assert alone.state == ONE_SEED and math.isnan(alone.change.low)
    with pytest.raises(ValueError, match="no training seed"):
        last_doubling("ssim", {0: 0.8}, {1: 0.8}, (900, 1800))


def test_the_gate_opens_on_a_plateau_of_the_metric_at_every_level_it_judges():
    points = pd.concat(
        [
            _curve("unet", "ssim", {0: [0.6, 0.7, 0.75, 0.751], 1: [0.6, 0.7, 0.75, 0.752]}, level=50),
            _curve("cunet", "ssim", {0: [0.6, 0.7, 0.74, 0.741], 1: [0.6, 0.7, 0.74, 0.7405]}, level=50),
            _curve("unet", "ssim", {0: [0.3, 0.4, 0.5, 0.6], 1: [0.3, 0.4, 0.5, 0.61]}, level=400),
            _curve("cunet", "ssim", {0: [0.3, 0.4, 0.5, 0.5], 1: [0.3, 0.4, 0.5, 0.5]}, level=400),
        ]
    )
    gate = Convergence({"unet": 0.6, "cunet": 0.5}, real=0.93, run="r", curves=Curves(points, ("r",)))
    assert gate.undertrained(["unet", "cunet"], metric="ssim", levels=(50,)) == ""
    blocked = gate.undertrained(["unet", "cunet"], {"unet": "U-Net"}, metric="ssim", levels=(50, 400))
    assert blocked.startswith("undertrained: U-Net 60%, cunet 50% recognisable")
    assert "U-Net at step 400 +0.105 [" in blocked and "still moving" in blocked and "cunet at step 400" not in blocked
    assert "no learning curve of lpips" in gate.undertrained(["unet", "cunet"], metric="lpips", levels=(50,))
    assert gate.undertrained(["unet", "cunet"]).startswith("undertrained")
    passing = Convergence({"unet": 0.9, "cunet": 0.9}, real=0.93, run="r")
    assert passing.undertrained(["unet", "cunet"], metric="ssim", levels=(400,)) == ""


def test_equal_budget_and_cost_to_reach_interpolate_in_log_compute():
    unet = _curve("unet", "confident_fraction", {0: [0.2, 0.4, 0.6, 0.8], 1: [0.2, 0.4, 0.6, 0.7]}, seconds_per_step=2)
    cunet = _curve("cunet", "confident_fraction", {0: [0.3, 0.4, 0.5, 0.6], 1: [0.3, 0.5, 0.5, 0.6]})
    curves = Curves(pd.concat([unet, cunet]), ("r",))
    halfway = 1800 * math.sqrt(2)  # halfway from its 1800 s rung to its 3600 s rung, in log seconds
    assert at_budget(unet, halfway) == {0: pytest.approx(0.7), 1: pytest.approx(0.65)}
    assert at_budget(unet, 100.0) == {}  # below its lowest rung (450 s): no extrapolation
    budget, difference = equal_budget(curves, "cunet", "unet", "confident_fraction")
    assert budget == 900.0  # the cU-Net's top rung, 1800 steps at 0.5 s
    assert difference.estimate == pytest.approx(0.2)  # 0.6 against the U-Net's 0.4 at 900 s
    slower_seed = cunet.assign(train_cpu_seconds=cunet.train_cpu_seconds * cunet.train_seed.map({0: 1.0, 1: 0.5}))
    budget, difference = equal_budget(
        Curves(pd.concat([unet, slower_seed]), ("r",)), "cunet", "unet", "confident_fraction"
    )
    assert budget == 450.0  # seed 1's top rung: above it, seed 1 would drop out of the interval
    assert difference.estimate == pytest.approx((0.5 + 0.6) / 2 - 0.2)  # both cU-Net seeds, the U-Net's lowest rung
    reached = cost_to_reach(unet, 0.7)
    assert reached[0] == pytest.approx(450 * 2 * 2**1.5) and reached[1] == pytest.approx(3600.0)
    assert cost_to_reach(unet, 0.9) == {0: None, 1: None}
    assert cost_to_reach(unet, 0.1) == {0: 450.0, 1: 450.0}


def test_the_conclusion_says_where_the_gated_measurements_point():
    from cunet_bench.report.claims import claim
    from cunet_bench.report.sections.conclusion import Reach, conclusion_section
    from cunet_bench.report.verdicts import NOT_REPRODUCED, REPRODUCED, decide, reading_at_this_scale

    gate = "undertrained: U-Net 60%, cU-Net 50% recognisable, aim ≥ 84%"
    held = [decide(REPRODUCED, gate=gate), decide(NOT_REPRODUCED, gate=gate), decide(NOT_REPRODUCED, gate=gate)]
    assert [reading_at_this_scale(reason) for _, reason in held] == [REPRODUCED, NOT_REPRODUCED, NOT_REPRODUCED]
    assert reading_at_this_scale("one training seed") is None
    claims = [
        claim(key, "ours", verdict, reason=reason)
        for key, (verdict, reason) in zip(("comparable-fid", "ssim-low", "lpips"), held)
    ]
    text = "\n".join(conclusion_section(claims, Reach(None, None)).body)
    assert text.count(f"points to *{NOT_REPRODUCED}*") == 2 and text.count(f"points to *{REPRODUCED}*") == 1
    assert "`bench train --preset reference --resume`" in text and "more training seeds" not in text
    at_tolerance = f"{gate}; over the last doubling: U-Net -12% [-20%, -4%] from step 900 to 1,800 (at the tolerance)"
    verdict, reason = decide(NOT_REPRODUCED, gate=at_tolerance)
    claims = [claim("ssim-low", "ours", verdict, reason=reason)]
    assert "more training seeds: the Learning curves section" in "\n".join(
        conclusion_section(claims, Reach(1800, None)).body
    )


def test_a_rung_that_draws_few_classes_does_not_reach_a_recognisability_level():
    from cunet_bench.report.sections.learning_curves import _recognisable

    confident = _curve("cunet", "confident_fraction", {0: [0.58, 0.15, 0.24, 0.46]})
    entropy = _curve("cunet", "class_entropy", {0: [0.04, 0.50, 0.82, 0.90]})
    curves = Curves(pd.concat([confident, entropy]), ("r",))
    rows = _recognisable(curves, "cunet")
    assert rows.value.tolist() == [0.0, 0.0, 0.24, 0.46]  # one class drawn confidently at 225 steps is not digits
    assert cost_to_reach(confident, 0.45)[0] == 225 * 0.5 and cost_to_reach(rows, 0.45)[0] > 450


def test_a_budget_samples_the_curve_at_fewer_steps():
    """The rungs are sampled at the sweep's largest step count up to --curve-steps (its smallest
    when all are above); unset, at the sweep's most steps."""
    fid = FidConfig.from_preset(PRESETS["reference"], sampling_steps=(5, 10, 30, 100))
    assert [replace(fid, curve_steps=cap).steps_on_curve for cap in (None, 30, 50, 3, 1000)] == [100, 30, 30, 5, 100]


def test_the_phase_table_counts_the_work_of_the_rungs_below_each_checkpoint():
    """Denoising counts a rung's chain as long as its checkpoint's at that level (the top rung is the
    checkpoint's own chain, a one-shot denoiser runs none); sample quality counts every rung's N."""
    chains = [
        {"kind": "chain", "method": "unet", "train_seed": 0, "noise_step": n, "steps": n, "images": 4} for n in (5, 20)
    ]
    rungs = [
        {"kind": "rung", "method": method, "train_seed": 0, "noise_step": n, "rung_step": step, "metric": metric}
        for method in ("unet", "dncnn")
        for n in (5, 20)
        for step in (2, 4, 8)
        for metric in ("psnr", "ssim")
    ]
    assert denoise.workload(chains + rungs).items == (5 + 20) * 4 * 3
    points = [{"kind": kind, "samples": 64} for kind in ("point", "point", "rung", "best", "real")]
    assert fid.workload(points).items == 3 * 64


def test_the_doubling_table_says_how_many_seeds_would_decide_a_row_at_the_tolerance():
    from cunet_bench.report.sections.learning_curves import _doublings

    ssim = _curve(
        "unet", "ssim", {0: [0.5, 0.6, 0.70, 0.72], 1: [0.5, 0.6, 0.70, 0.73], 2: [0.5, 0.6, 0.70, 0.74]}, level=50
    )
    fd = _curve("unet", "distance", {0: [8, 4, 2, 1], 1: [8, 4, 2, 1.1], 2: [8, 4, 2, 0.9]})
    rows = {row["metric"]: row for row in _doublings(Curves(pd.concat([ssim, fd]), ("r",)), {"unet": "U-Net"})}
    column = "seeds for a 90% chance to decide"
    assert rows["best SSIM at noise step 50"][column] == "5 (to read still moving)"
    assert rows["FD"][column] == "—" and "still moving" in rows["FD"]["last doubling"]


@pytest.mark.parametrize(
    "factor, state",
    [(0.905, PLATEAU), (1.095, PLATEAU), (0.895, MOVING), (1.105, MOVING)],
)
def test_a_distances_tolerance_is_symmetric_in_percent(factor, state):
    """±10% means a fall of 9.5% plateaus as a rise of 9.5% does, and a fall of 10.5% moves as a
    rise of 10.5% does (a log-ratio tolerance of log1p(0.10) held a fall of 9.5% as still moving)."""
    below = {0: 2.0, 1: 3.0, 2: 2.5}
    spread = {0: 1.0005, 1: 1.0, 2: 0.9995}  # a tight interval around the factor
    doubling = last_doubling("distance", below, {s: v * factor * spread[s] for s, v in below.items()}, (900, 1800))
    assert doubling.state == state


def test_past_the_aim_the_gate_still_waits_for_a_metric_that_is_still_moving():
    """The aim opens the gate for a metric at the tolerance or flat, never for one still moving;
    below the aim only a plateau opens it; without a curve the aim alone decides."""
    rising = _curve("unet", "ssim", {0: [0.3, 0.4, 0.5, 0.6], 1: [0.3, 0.4, 0.5, 0.61]}, level=400)
    noisy = _curve("cunet", "ssim", {0: [0.3, 0.4, 0.5, 0.5], 1: [0.3, 0.4, 0.5, 0.53]}, level=400)
    curves = Curves(pd.concat([rising, noisy]), ("r",))
    past = Convergence({"unet": 0.86, "cunet": 0.9}, real=0.93, run="r", curves=curves)
    held = past.undertrained(["unet", "cunet"], metric="ssim", levels=(400,))
    assert held.startswith("undertrained: past the recognisability aim (unet 86%, cunet 90%) but ssim still moving")
    assert past.undertrained(["cunet"], metric="ssim", levels=(400,)) == ""  # at the tolerance: the aim passes it
    below = Convergence({"unet": 0.5, "cunet": 0.5}, real=0.93, run="r", curves=curves)
    assert below.undertrained(["cunet"], metric="ssim", levels=(400,)).startswith("undertrained: cunet 50%")
    assert past.undertrained(["unet", "cunet"], metric="lpips", levels=(400,)) == ""  # no curve: the aim decides


def test_the_cost_to_reach_a_level_counts_every_seed_not_the_survivors():
    """One seed of three reaching a level at 285 CPU-s is no 285-CPU-s reach: the median over every
    seed, a seed that never reached it counting as beyond its last rung, reads '>' that rung."""
    from cunet_bench.report.sections.learning_curves import _median_cost

    axis = pd.Series([450.0, 900.0, 1800.0])
    assert _median_cost({0: 285.0, 1: None, 2: None}, axis) == "> 1,800 (1/3 seeds)"
    assert _median_cost({0: 285.0, 1: 600.0, 2: None}, axis) == "600 (2/3 seeds)"
    assert _median_cost({0: 450.0, 1: 450.0, 2: 450.0}, axis) == "≤ 450 (3/3 seeds)"


def test_the_stop_rule_counts_the_gate_not_the_verdict(monkeypatch):
    """A row at the grid's edge whose gate is open counts as open; a row the gate holds does not;
    a row the gate does not apply to (a time claim) and an unmeasured one are left out. The rule's
    outcome: met once enough gates are open, ended unmet at the planned end, otherwise not met yet."""
    from cunet_bench.report.claims import claim
    from cunet_bench.report.sections import conclusion
    from cunet_bench.report.sections.conclusion import Reach, conclusion_section
    from cunet_bench.report.verdicts import EDGE, INCONCLUSIVE, NOT_MEASURED, REPRODUCED

    held = "undertrained: U-Net 60%, cU-Net 50% recognisable"
    claims = [
        claim("comparable-fid", "ratio", EDGE, reason="a best step count is the grid's end", gate=""),
        claim("ssim-low", "Δ", REPRODUCED, gate=""),
        claim("proxy", "Δ", INCONCLUSIVE, reason=held, gate=held),
        claim("less-time", "Δ", REPRODUCED, gate=None),
        claim("lpips", "no weights", NOT_MEASURED, gate=None),
    ]
    text = "\n".join(conclusion_section(claims, Reach(7200, 28800)).body)
    count = "The gate is open for 2 of the 3 measured quality claims it applies to (of 5)"
    assert f"{count} at 7,200 steps of the 28,800 planned: the rule is not met and training would go on." in text
    text = "\n".join(conclusion_section(claims, Reach(28800, 28800)).body)
    assert f"{count}: the runs ended at their planned end (28,800 steps) with the rule unmet" in text
    text = "\n".join(conclusion_section(claims, Reach(28800, None)).body)
    assert f"{count} at 28,800 steps: the rule is not met; these results hold no training run's planned steps" in text
    monkeypatch.setattr(conclusion, "STOP_AT", 2)
    text = "\n".join(conclusion_section(claims, Reach(14400, 28800)).body)
    assert f"{count}: the rule is met at the doubling to 14,400 steps." in text


def test_the_pair_closer_to_its_plateau_is_the_better_reference_and_a_tie_keeps_this_reports():
    from cunet_bench.errors import UserError
    from cunet_bench.report.pair_choice import Pair, choice_text

    def pair(unet_fd, cunet_fd, unet_ssim):
        points = pd.concat(
            [
                _curve("unet", "distance", {0: unet_fd, 1: unet_fd}),
                _curve("cunet-release", "distance", {0: cunet_fd, 1: cunet_fd}),
                _curve("unet", "ssim", {0: unet_ssim, 1: unet_ssim}, level=50),
            ],
            ignore_index=True,
        )
        return Pair(Curves(points, ("run",)), {"unet": 100, "cunet-release": 25})

    names = {"unet": "U-Net", "cunet-release": "cU-Net"}
    flat = pair([4.0, 2.0, 1.0, 0.97], [8.0, 4.0, 2.0, 1.9], [0.5, 0.6, 0.7, 0.705])
    moving = pair([4.0, 2.0, 1.0, 0.5], [8.0, 4.0, 2.0, 1.9], [0.5, 0.6, 0.7, 0.8])
    kept = choice_text(flat, moving, names, "`alt`")
    assert "this report's pair has 3 of 3 curves within tolerance and the alternative 1" in kept
    assert "this report's pair is the closer to converged and was kept" in kept
    assert "Over the doubling 900 → 1,800 steps (the mean of 2 training seeds)" in kept
    assert "U-Net (100 parameters, FD 0.97)" in kept
    assert "this report's pair — none; the alternative — U-Net: FD -50% [-50%, -50%], best SSIM at 50 +0.1" in kept
    swapped = choice_text(moving, flat, names, "`alt`")
    assert "the alternative is the closer to converged: by the rule it was the better reference" in swapped
    assert "was kept" in choice_text(flat, flat, names, "`alt`")  # a tie keeps this report's pair
    ssim_only = pair([4.0, 2.0, 1.0, 0.97], [8.0, 4.0, 2.0, 1.9], [0.5, 0.6, 0.7, 0.705])
    with pytest.raises(UserError, match="shares no learning curve"):
        choice_text(ssim_only, ssim_only, {"dncnn": "DnCNN"}, "`alt`")


@pytest.mark.parametrize(
    "rungs, labelled",
    [
        ((225, 450, 900, 1800), (225, 450, 900, 1800)),
        ((225, 450, 900, 1800, 3600, 7200, 14400), (225, 900, 3600, 14400)),
        ((225, 450, 900, 1800, 3600, 7200, 14400, 28800), (450, 1800, 7200, 28800)),
    ],
)
def test_a_learning_curve_labels_evenly_spaced_rungs_down_from_the_top(rungs, labelled):
    from cunet_bench.report.figures import rung_ticks

    assert tuple(rung_ticks(pd.Series(rungs))) == labelled


def test_a_curve_is_completed_from_older_runs_measured_alike_each_rung_from_the_newest(tmp_path, monkeypatch):
    """The whole ladder from one run, its last doubling measured again later (the shipped weights):
    the curve takes each rung from the newest run that measured it so; a run of other sizes is left out."""
    from cunet_bench.records import runs
    from cunet_bench.report.curves import learning_curves
    from cunet_bench.report.results import Results

    from report_fixture import write

    ids = iter(f"20261207T00000{i}Z-00000{i}" for i in range(3))
    monkeypatch.setattr(runs, "new_run_id", lambda: next(ids))

    def rungs(values, samples):
        return [
            {
                "kind": "rung",
                "model": "unet",
                "tags": "paper-unet",
                "train_seed": 0,
                "rung_step": step,
                "images_seen": step * 32,
                "train_cpu_seconds": step * 0.5,
                "samples": samples,
                "sampling_steps": 30,
                "sampler": "ddim",
                "features": "classifier-x",
                "distance": value,
            }
            for step, value in values.items()
        ]

    write("fid", rungs({225: 9.0, 450: 5.0}, samples=128), tmp_path, "smaller")
    write("fid", rungs({225: 8.0, 450: 4.0, 900: 2.0, 1800: 1.5}, samples=256), tmp_path, "whole ladder")
    write("fid", rungs({900: 2.1, 1800: 1.4}, samples=256), tmp_path, "last doubling again")
    curve = learning_curves(Results(tmp_path)).of("unet", "distance").sort_values("rung_step")
    assert curve.value.tolist() == [8.0, 4.0, 2.1, 1.4]


def test_every_step_of_the_ladder_has_its_change_and_the_last_is_the_gates():
    curve = Curves(_curve("unet", "ssim", {0: [0.5, 0.6, 0.65, 0.655], 1: [0.52, 0.61, 0.66, 0.664]}, level=50), ("r",))
    steps = curve.doublings("unet", "ssim", 50)
    assert [(d.below, d.top) for d in steps] == [(225, 450), (450, 900), (900, 1800)]
    assert [round(d.change.estimate, 4) for d in steps] == [0.095, 0.05, 0.0045]
    assert curve.doubling("unet", "ssim", 50) == steps[-1] and steps[-1].estimate_text() == "+0.0045"
    gap = Curves(
        pd.concat(
            [_curve("unet", "distance", {0: [4.0, 2.0, 1.0]}), _curve("unet", "distance", {1: [0.9]}, steps=(1800,))]
        ),
        ("r",),
    )
    assert [d.estimate_text() for d in gap.doublings("unet", "distance")] == ["-50%", "-50%"]
    assert gap.doubling("unet", "distance") is None  # the top rung shares no seed with the one below
