"""Rules that live in single report modules, tested on their own: how the tables write numbers
and untrusted text (markdown), when a change between two runs is a regression (compare), and how
a claim about every noise level combines the levels' verdicts (denoise_claims)."""

import pytest
from cunet_bench.report.compare import _status
from cunet_bench.report.denoise_claims import _combine
from cunet_bench.report.markdown import DESCRIBED, RELEASED, Claim, code, group_by_claim, markdown_table, number, plain
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
