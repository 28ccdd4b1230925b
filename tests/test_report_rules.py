"""Rules that live in single report modules, tested on their own: how the tables write numbers
and untrusted text (markdown), when a change between two runs is a regression (compare), and how
a claim about every noise level combines the levels' verdicts (denoise_claims)."""

from pathlib import Path

import pytest
from cunet_bench.numbers import number
from cunet_bench.report.compare import _status
from cunet_bench.report.denoise_claims import _combine
from cunet_bench.report.markdown import DESCRIBED, RELEASED, Claim, code, group_by_claim, markdown_table, plain
from cunet_bench.report.verdicts import EDGE, INCONCLUSIVE, NOT_MEASURED, NOT_REPRODUCED, REPRODUCED, Interval


@pytest.mark.parametrize(
    "value, shown",
    [
        (None, "—"),
        (float("nan"), "—"),
        ("text", "text"),
        (True, "yes"),
        (False, "no"),
        (1234567, "1,234,567"),
        (1234.0, "1,234"),
        (20320.4, "20,320"),
        (3478.6, "3,479"),
        (float("inf"), "inf"),
        (999, "999"),
        (0.000123456, "0.0001235"),
        (3.14159265, "3.142"),
    ],
)
def test_numbers_are_written_compactly(value, shown):
    assert number(value) == shown


def test_a_table_cell_stays_one_inert_cell():
    table = markdown_table([{"model": "a|b <script>@user", "value": 2.5}])
    header, rule, row = table.splitlines()
    assert header == "| model | value |" and rule == "|---|---|"
    assert row == "| a\\|b &lt;script&gt;&#64;user | 2.5 |"
    assert markdown_table([]) == "_no rows_"


def test_untrusted_text_is_shown_inert():
    assert code("rm `x`") == "`rm 'x'`"
    assert code("a\nb") == "`a\\nb`"
    assert code("x" * 10, limit=4) == "`xxxx…`"
    assert plain("*bold* [link](u) <b>|") == "\\*bold\\* \\[link\\](u) &lt;b&gt;\\|"


def test_the_rows_of_a_claim_stay_together_released_first():
    def row(title, flavour):
        return Claim(title + flavour, "paper", "measured", REPRODUCED, "section")

    described, released, other = (
        row("fewer parameters", DESCRIBED),
        row("fewer parameters", RELEASED),
        row("less time", ""),
    )
    groups = group_by_claim([described, other, released])
    assert [[c.flavour for c in group] for group in groups] == [[RELEASED, DESCRIBED], [""]]


@pytest.mark.parametrize(
    "change, worse_if_higher, status",
    [
        (Interval(1.20, 1.10, 1.30), True, "regression"),  # above 1 + 5% all through
        (Interval(1.04, 1.02, 1.06), True, "worse (within tolerance)"),
        (Interval(1.00, 0.97, 1.03), True, "unchanged"),
        (Interval(0.90, 0.85, 0.95), True, "better"),
        (Interval(0.88, 0.80, 0.92), False, "regression"),  # lower is worse for SSIM-like changes
        (Interval(0.90, 0.85, 0.95), False, "worse (within tolerance)"),  # reaching the tolerance is not beyond it
        (Interval(1.10, 1.06, 1.20), False, "better"),
    ],
)
def test_a_change_is_a_regression_only_beyond_its_tolerance(change, worse_if_higher, status):
    assert _status(change, worse_if_higher, tolerance=0.05, neutral=1.0) == status


@pytest.mark.parametrize(
    "verdicts, combined",
    [
        ([REPRODUCED, REPRODUCED], REPRODUCED),
        ([REPRODUCED, INCONCLUSIVE], INCONCLUSIVE),
        ([REPRODUCED, EDGE], EDGE),  # an edge level neither confirms nor refutes
        ([EDGE, NOT_REPRODUCED], NOT_REPRODUCED),  # a refuted level refutes the claim
        ([NOT_MEASURED, NOT_REPRODUCED], NOT_MEASURED),
    ],
)
def test_a_claim_about_every_level_combines_the_levels(verdicts, combined):
    assert _combine(verdicts) == combined


def _cells(table: str) -> list[str]:
    return [cell.strip() for line in table.splitlines()[2:] for cell in line.strip("|").split(" | ")]


def test_the_summary_fits_a_screen_whatever_its_rows_say():
    """Long measurements, gate evidence and readings stay in the claim's section: every Summary
    cell is at most SUMMARY_CELL characters, and a gated row names the gate and its direction once."""
    from cunet_bench.report import _claim_tables, _section_claims
    from cunet_bench.report.markdown import SUMMARY_CELL, Section
    from cunet_bench.report.verdicts import AT_THIS_SCALE, DEPENDS, decide

    evidence = "; ".join(
        f"U-Net at step {step} -21% [-30%, -11%] from step 900 to 1,800 (still moving)" for step in range(40)
    )
    measured = "; ".join(f"Δ 0.000{step} [1.8e-05, 0.0008] at {step}" for step in range(40))
    gated = f"undertrained: U-Net 64%, cU-Net 51% recognisable; over the last doubling: {evidence}"
    verdict, reason = decide(NOT_REPRODUCED, gate=gated, other_reading=INCONCLUSIVE)
    depends, why = decide(NOT_REPRODUCED, edge="a best step count is the grid's end " * 20, other_reading=REPRODUCED)
    claims = [
        Claim("lower LPIPS" + flavour, "Table 2: " + measured, measured, verdict, "denoising", "rule", reason, key="k")
        for flavour in (RELEASED, DESCRIBED)
    ] + [Claim("fewer steps", "x " * 400, measured, depends, "fid", "rule", why, key="j")]
    assert verdict == INCONCLUSIVE and AT_THIS_SCALE.format("not reproduced") in reason and depends == EDGE
    table = _claim_tables(claims)[2]
    assert max(len(cell) for cell in _cells(table)) <= SUMMARY_CELL
    assert table.count("undertrained ([§ Learning curves](#learning-curves)); points to *not reproduced*") == 2
    assert "over the last doubling" not in table and "Δ 0.0000 [1.8e-05, 0.0008] at 0 …" in table
    section = "\n".join(_section_claims(Section("denoising", "Denoising", claims=claims)))
    assert measured in section and "over the last doubling" not in section  # the evidence: Learning curves, once
    two_readings = decide(EDGE, gate=gated, other_reading=NOT_REPRODUCED)  # the grid's edge, then the gate
    assert two_readings == (
        DEPENDS,
        "the rule's reading: at the edge of the grid; the other reading: inconclusive (undertrained; at this scale "
        "the measurement reads 'not reproduced')",
    )


def test_the_glossary_defines_every_term_of_art_the_report_uses():
    from cunet_bench.report.verdicts import GLOSSARY

    report = (Path(__file__).resolve().parent.parent / "reference" / "REPORT.md").read_text()
    summary = report.split("## Summary of the paper's claims")[1].split('<a id="setup">')[0]
    for term in ("FD-classifier", "KD-classifier", "recognisable", "iterate", "x0", "elbow", "doubling", "points to"):
        if term in summary or term in report.split("## Conclusion")[1]:
            assert any(term in defined for defined in GLOSSARY), term
    assert "Words used in the cells:" in report


def test_the_speed_sections_interval_is_worded_as_it_was_taken():
    """With fewer runs than the pooled rule needs, the printed interval is the t-interval over one
    run's rounds (verdicts.time_ratio), and the text must say so rather than name a bootstrap over runs."""
    from cunet_bench.report.sections.speed import _interval_wording
    from cunet_bench.report.verdicts import MIN_TIMING_RUNS, time_ratio

    one_run = time_ratio([[0.5, 0.6, 0.55, 0.52]])
    assert one_run.estimate == pytest.approx((0.5 * 0.6 * 0.55 * 0.52) ** 0.25)
    assert "t-interval over the rounds" in _interval_wording(1) and "resampling runs" not in _interval_wording(1)
    assert "resampling runs, then rounds" in _interval_wording(MIN_TIMING_RUNS)


def test_a_ratio_of_biased_distances_is_shown_beside_its_unbiased_readings():
    """FD from a finite sample is biased upwards for both models, pulling their ratio towards 1:
    the bias-corrected ratio and the kernel distances' ratio (unbiased) stand beside it."""
    import pandas as pd
    from cunet_bench.report.sections.sample_quality import _unbiased_readings

    best = pd.DataFrame(
        {
            "model": ["cunet"] * 2 + ["unet"] * 2,
            "train_seed": [0, 1, 0, 1],
            "distance": [1.15, 1.15, 0.35, 0.35],
            "bootstrap_bias": [0.15, 0.15, 0.15, 0.15],
            "kid_mean": [0.5, 0.5, 0.1, 0.1],
            "kernel_name": ["KD-classifier"] * 4,
        }
    )
    text = _unbiased_readings(best, "cunet", "unet")
    assert text.startswith("; with each distance's bootstrap bias removed 5; KD-classifier ratio 5 [")
    negative = best.assign(kid_mean=[0.5, 0.5, -0.01, 0.1])  # an unbiased KD can fall below 0: no ratio then
    assert "KD-classifier" not in _unbiased_readings(negative, "cunet", "unet")


def test_an_edge_row_says_which_way_its_measurement_points():
    from cunet_bench.report.markdown import Claim
    from cunet_bench.report.verdicts import AT_THIS_SCALE, decide

    verdict, reason = decide(NOT_REPRODUCED, edge="a best step count is the grid's end")
    assert (verdict, reason) == (EDGE, "a best step count is the grid's end" + AT_THIS_SCALE.format(NOT_REPRODUCED))
    row = Claim("comparable FID", "paper", "3.31×", verdict, "fid", reason=reason)
    assert row.short_verdict == (
        "**at the edge of the grid** (a best step count is the grid's end); points to *not reproduced*"
    )
    assert decide(EDGE, edge="a best step count is the grid's end")[1] == "a best step count is the grid's end"


def _chain_rows(method: str, best_steps: list[float], level: int = 50) -> list[dict]:
    """A backbone's x0 and iterate rows at one level: the best SSIM of each image and its step."""
    rows = [
        {"kind": "method", "method": method, "paper_name": method, "parameters": 1, "train_seed": seed}
        for seed in (0, 1)
    ]
    for seed in (0, 1):
        for target in ("iterate", "x0"):
            rows.append(
                {
                    "kind": "summary",
                    "method": method,
                    "noise_step": level,
                    "target": target,
                    "metric": "ssim",
                    "mean": 0.5,
                    "images": len(best_steps),
                    "train_seed": seed,
                }
            )
            rows += [
                {
                    "kind": "image",
                    "method": method,
                    "noise_step": level,
                    "target": target,
                    "metric": "ssim",
                    "image": i,
                    "mean": 0.5 + 0.01 * i + 0.001 * seed,
                    "best_step": step,
                    "train_seed": seed,
                }
                for i, step in enumerate(best_steps if target == "x0" else [level] * len(best_steps))
            ]
    return rows


def test_a_best_at_the_chains_first_step_is_an_edge_too():
    """The x0 reading's best can sit at the chain's first step: for most images of both models
    that is the grid's other edge; below that, the row says for how many."""
    import pandas as pd
    from cunet_bench.report.denoise_claims import X0, Comparison, _steps_at_level
    from cunet_bench.report.denoise_run import DenoiseRun

    def comparison(first_for: int) -> Comparison:
        steps = [1.0] * first_for + [10.0 + i for i in range(10 - first_for)]
        run = DenoiseRun(pd.DataFrame(_chain_rows("cunet", steps) + _chain_rows("unet", steps)).assign(run_id="r"))
        return Comparison(run, "unet", "cunet", [], RELEASED, [], lambda metric, levels: "")

    verdict, text, interval = _steps_at_level(comparison(9), 50, "ssim", X0)
    assert (
        verdict == EDGE and interval is None and text == "at 50: best at the chain's first step for 90% / 90% of images"
    )
    verdict, text, _ = _steps_at_level(comparison(3), 50, "ssim", X0)
    assert verdict != EDGE and "best at the first step for 30% / 30% of images" in text
