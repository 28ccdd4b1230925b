"""``bench report``: the reproduction report (``REPORT.md`` + PNG figures) built from result files
only (docs/architecture.md, "Report"): it never imports torch, a model or a benchmark. Each section appears
as soon as its results exist; a missing one names the command that would produce it. With a
reference folder (the committed reference run), a section puts this run's verdicts beside the
reference's. Same results in, same bytes out."""

from __future__ import annotations

import tempfile
from pathlib import Path

from cunet_bench.files import check_creatable, create_file, exclusive_lock, read_regular
from cunet_bench.records.provenance import source_checkout
from cunet_bench.report import figures
from cunet_bench.report.convergence import GATE_RULE
from cunet_bench.report.figure_folder import drawing_figures
from cunet_bench.report.markdown import (
    DESCRIBED,
    GROUPS,
    Claim,
    Section,
    code,
    group_by_claim,
    headline,
    markdown_table,
)
from cunet_bench.report.pair_choice import pair_choice
from cunet_bench.report.plateau import PLATEAU_RULE
from cunet_bench.report.readme import SUMMARY_HEADING, update_readme
from cunet_bench.report.results import SMOKE, Results
from cunet_bench.report.sections.beside import BESIDE_TITLE, beside_section
from cunet_bench.report.sections.conclusion import conclusion_section, reach_of
from cunet_bench.report.sections.denoising import denoise_section
from cunet_bench.report.sections.deviations import deviations_section
from cunet_bench.report.sections.efficiency import efficiency_section
from cunet_bench.report.sections.learning_curves import curves_section
from cunet_bench.report.sections.sample_quality import fid_section
from cunet_bench.report.sections.samples import samples_section
from cunet_bench.report.sections.setup import setup_section
from cunet_bench.report.sections.speed import speed_section
from cunet_bench.report.verdicts import GLOSSARY, MINIMUM_SIZES, NOT_MEASURED, PIPELINE_CHECK, RULES, VOCABULARY

__all__ = [
    "NO_REFERENCE",
    "build_report",
    "check_report_path",
    "claims_of",
    "default_reference",
    "evaluate",
    "update_readme",
]

MEASURED = (efficiency_section, speed_section, fid_section, denoise_section, curves_section, samples_section)
TITLE = "# Reproduction report: The Missing U for Efficient Diffusion Models (arXiv 2310.20092)"
SMOKE_BANNER = (
    "> **Pipeline check: the smoke preset's sizes are too small for any verdict.** This report shows that every "
    "step ran end to end; its numbers say nothing about the paper's claims."
)
NO_REFERENCE = (
    "No committed reference run was found: this installation is not a checkout holding `reference/results` "
    "(an installed copy ships without it). Pass `--reference FOLDER` to show a reference run beside this one."
)


def default_reference() -> Path | None:
    """The committed reference run's results, when this code runs from a checkout that has them."""
    checkout = source_checkout()
    reference = checkout / "reference" / "results" if checkout is not None else None
    return reference if reference is not None and reference.is_dir() else None


def _pipeline_checks(claims: list[Claim], results: Results) -> list[Claim]:
    """A claim resting on a smoke run — or, in a folder of smoke runs only, any claim — is a
    pipeline check: a smoke run never gives a verdict, whatever its sizes."""
    smoke_only = results.only_smoke()
    for claim in claims:
        smoke = any(results.preset_of(run) == SMOKE for run in claim.runs)
        if smoke or (smoke_only and claim.verdict != PIPELINE_CHECK):
            claim.reason = "smoke run" if claim.verdict != NOT_MEASURED else "not measured in a smoke run"
            claim.verdict = PIPELINE_CHECK
    return claims


def evaluate(results: Results, figures_dir: Path) -> tuple[list[Section], list[Claim]]:
    """Every measured section (figures written to ``figures_dir``) and every claim, in the paper's order."""
    measured = [build(results, figures_dir) for build in MEASURED]
    claims = sorted((claim for section in measured for claim in section.claims), key=lambda claim: claim.order)
    return measured, _pipeline_checks(claims, results)


def claims_of(results: Results) -> list[Claim]:
    """The claims of a results folder alone, no figure drawn (``bench compare``, the reference)."""
    with tempfile.TemporaryDirectory() as scratch, figures.not_drawn():
        return evaluate(results, Path(scratch))[1]


def reference_claims(reference: Path) -> tuple[Results, list[Claim]]:
    """The reference run's claims."""
    results = Results(reference)
    return results, claims_of(results)


def _claim_tables(claims: list[Claim]) -> list[str]:
    """One row per claim of the paper, the released cU-Net's verdict and the described variant's
    in two columns (a claim about the pair itself fills the first)."""
    lines = []
    for group, title in GROUPS.items():
        rows = []
        for same in group_by_claim(c for c in claims if c.group == group):
            first, variant = same[0], next((c for c in same if c.flavour == DESCRIBED), None)
            rows.append(
                {
                    "claim": f"[{first.title}](#{first.section})",
                    "paper": headline(first.paper, 90),
                    "ours": headline(first.ours, 120),
                    "verdict": first.short_verdict,
                    "ours (cU-Net as described)": headline(variant.ours, 120) if variant else "—",
                    "verdict (described)": variant.short_verdict if variant else "—",
                }
            )
        if rows:
            lines += [SUMMARY_HEADING if group == "claim" else f"### {title}", "", markdown_table(rows), ""]
    return lines


def _claims_figure(claims: list[Claim], figures_dir: Path) -> list[str]:
    """The figure that heads the report: every claim with one number to draw, both cU-Nets side by side."""
    rows = [
        (same[0].title, [(int(row.flavour == DESCRIBED), row.verdict, row.effect) for row in same if row.effect])
        for same in group_by_claim(claims)
    ]
    rows = [row for row in rows if row[1]]
    if not rows or figures.claims_forest(rows, figures_dir / "claims.png") is None:
        return []
    return [
        "![Every claim at a glance](figures/claims.png)  \nEvery claim with one number to draw, in the paper's order: "
        "our effect (a ratio on a log axis, a difference on a linear one) with its 95% interval, coloured by its "
        "verdict (grey: inconclusive or not measured; the Summary says why); circles: the released cU-Net, squares: "
        "the described one; dashed: the claim's threshold(s); cross: the paper's own value. Exact counts have no "
        "interval.",
        "",
    ]


def _section_claims(section: Section) -> list[str]:
    """The claims a section reads, each with its whole measurement, verdict and rule: the
    evidence the Summary's short cells link to."""
    if not section.claims or section.anchor == "conclusion":
        return []
    rows = [
        {"claim": claim.claim, "ours": claim.ours, "verdict": claim.section_verdict, "rule": claim.rule or "—"}
        for claim in sorted(section.claims, key=lambda claim: claim.order)
    ]
    return ["**The claims this section reads** (the Summary's rows in full):", markdown_table(rows)]


def build_report(
    results_folder: Path,
    out: Path,
    reference: Path | None = None,
    missing_reference: str | None = None,
    baseline: str | None = None,
    alternative_pair: Path | None = None,
) -> Path:
    """Write ``out/REPORT.md`` and ``out/figures/*.png`` from ``results_folder`` (beside the run in
    ``reference`` when given; without one, ``missing_reference`` says why in the section's place),
    the tables outside the paper's claims taking ratios and differences against ``baseline`` (the
    paper's U-Net when None), the Deviations stating why its pair and not ``alternative_pair``'s
    when given; returns the path."""
    results = Results(results_folder, baseline=baseline)
    results.check_baseline()
    chosen = pair_choice(results, alternative_pair) if alternative_pair is not None else None
    with exclusive_lock(out / "REPORT.md", "report"):
        check_report_path(out)
        with drawing_figures(out / "figures") as figures_dir:
            lines = _report_lines(results, results_folder, figures_dir, reference, missing_reference, chosen)
        create_file(out / "REPORT.md", "\n".join(lines).encode(), replaces=_is_report)
    return out / "REPORT.md"


def _is_report(path: Path) -> bool:
    """Whether ``path`` holds a report ``bench report`` wrote (it begins with the report's title)."""
    try:
        return read_regular(path, 64 * 2**20).startswith(TITLE.encode() + b"\n")
    except (OSError, ValueError):
        return False


def check_report_path(out: Path) -> None:
    """Refuse, before any work, a ``REPORT.md`` the report may not replace: a link, a folder, a
    fifo, or a file that is not a report of ``bench report``."""
    check_creatable(out / "REPORT.md", replaces=_is_report, what="report")


def _report_lines(
    results: Results,
    results_folder: Path,
    figures_dir: Path,
    reference: Path | None,
    missing_reference: str | None,
    pair: str | None,
) -> list[str]:
    """The report's Markdown lines, its figures drawn into ``figures_dir``."""
    measured, claims = evaluate(results, figures_dir)
    sections = [
        setup_section(results),
        *measured,
        deviations_section(results, _distance_name(results), _lpips_measured(results), pair),
    ]
    if reference is not None and Path(reference).resolve() != Path(results_folder).resolve():
        sections.append(beside_section(results, claims, *reference_claims(Path(reference))))
    elif reference is None and missing_reference is not None:
        sections.append(Section("beside", BESIDE_TITLE, body=[missing_reference]))
    sections.append(conclusion_section(claims, reach_of(results)))
    lines = [
        TITLE,
        "",
        *([SMOKE_BANNER, ""] if results.only_smoke() else []),
        f"Built by `bench report` from {code(results_folder)} only: every number below comes from a recorded run, "
        "named in its section's provenance.",
        "",
        *_claims_figure(claims, figures_dir),
        "## How to read the verdicts",
        "",
        "\n".join(f"- *{verdict}*: {meaning}." for verdict, meaning in VOCABULARY.items()),
        "",
        "Words used in the cells:",
        "",
        "\n".join(f"- **{term}**: {meaning}." for term, meaning in GLOSSARY.items()),
        "",
        "\n".join(f"- {rule}" for rule in (*RULES, GATE_RULE, PLATEAU_RULE)),
        "",
        f"Minimum sizes for a verdict: {', '.join(f'{v:,} {k}' for k, v in MINIMUM_SIZES.items())}.",
        "",
        *_claim_tables(claims),
    ]
    for section in sections:
        lines += [f'<a id="{section.anchor}"></a>', f"## {section.title}", ""]
        for block in section.body + _section_claims(section):
            lines += [block, ""]
        if section.runs:
            lines += ["Provenance: " + "; ".join(dict.fromkeys(section.runs)), ""]
    return lines


def _distance_name(results: Results) -> str | None:
    names = results.runs("fid").distance_name.dropna()
    return str(names.iloc[-1]) if len(names) else None


def _lpips_measured(results: Results) -> bool:
    denoise = results.runs("denoise")
    return bool(len(denoise[(denoise.metric == "lpips") & denoise["mean"].notna()]))
