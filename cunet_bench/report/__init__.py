"""``bench report``: the reproduction report (``REPORT.md`` + PNG figures) built from result files
only (DESIGN.md, "Report"): it never imports torch, a model or a benchmark. Each section appears
as soon as its results exist; a missing one names the command that would produce it. Same
results in, same bytes out."""

from __future__ import annotations

import shutil
from pathlib import Path

from cunet_bench.files import atomic_replace
from cunet_bench.report.conclusion import conclusion_section
from cunet_bench.report.denoise import denoise_section
from cunet_bench.report.efficiency import efficiency_section
from cunet_bench.report.fid import fid_section
from cunet_bench.report.markdown import markdown_table
from cunet_bench.report.readme import SUMMARY_HEADING, update_readme
from cunet_bench.report.results import Results
from cunet_bench.report.verdicts import MINIMUM_SIZES, VOCABULARY
from cunet_bench.report.samples import samples_section
from cunet_bench.report.setup import deviations_section, setup_section
from cunet_bench.report.speed import speed_section

__all__ = ["build_report", "update_readme"]

MEASURED = (efficiency_section, speed_section, fid_section, denoise_section, samples_section)


def build_report(results_folder: Path, out: Path) -> Path:
    """Write ``out/REPORT.md`` and ``out/figures/*.png`` from ``results_folder``; returns the path."""
    results = Results(results_folder)
    figures_dir = out / "figures"
    if figures_dir.exists():
        shutil.rmtree(figures_dir)
    figures_dir.mkdir(parents=True)
    measured = [build(results, figures_dir) for build in MEASURED]
    claims = [claim for section in measured for claim in section.claims]
    sections = [setup_section(results), *measured,
                deviations_section(results, _distance_name(results), _lpips_measured(results)),
                conclusion_section(claims)]
    lines = ["# Reproduction report: The Missing U for Efficient Diffusion Models (arXiv 2310.20092)", "",
             f"Built by `bench report` from `{results_folder}` only: every number below comes from a recorded run, "
             "named in its section's provenance.", "", "## How to read the verdicts", "",
             "\n".join(f"- *{verdict}*: {meaning}." for verdict, meaning in VOCABULARY.items()),
             "", f"Minimum sizes for a verdict: {', '.join(f'{v:,} {k}' for k, v in MINIMUM_SIZES.items())}.", "",
             SUMMARY_HEADING, "", markdown_table([{"claim": f"[{c.claim}](#{c.section})", "paper": c.paper,
                                                   "ours": c.ours, "verdict": f"**{c.verdict}**", "rule": c.rule or "—"}
                                                  for c in claims]), ""]
    for section in sections:
        lines += [f'<a id="{section.anchor}"></a>', f"## {section.title}", ""]
        for block in section.body:
            lines += [block, ""]
        if section.runs:
            lines += ["Provenance: " + "; ".join(section.runs), ""]
    atomic_replace(out / "REPORT.md", lambda temporary: Path(temporary).write_text("\n".join(lines)))
    return out / "REPORT.md"


def _distance_name(results: Results) -> str | None:
    fid = results.runs("fid")
    return str(fid.distance_name.dropna().iloc[-1]) if not fid.empty and "distance_name" in fid and \
        fid.distance_name.notna().any() else None


def _lpips_measured(results: Results) -> bool:
    denoise = results.runs("denoise")
    if denoise.empty or "metric" not in denoise:
        return False
    return bool(denoise[(denoise.metric == "lpips") & denoise["mean"].notna()].shape[0])
