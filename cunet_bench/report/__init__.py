"""``bench report``: the reproduction report (``REPORT.md`` + PNG figures) built from result files
only (DESIGN.md, "Report"): it never imports torch, a model or a benchmark. Each section appears
as soon as its results exist; a missing one names the command that would produce it. Same
results in, same bytes out."""

from __future__ import annotations

import shutil
from pathlib import Path

from cunet_bench.files import atomic_replace
from cunet_bench.report.denoise import denoise_section
from cunet_bench.report.efficiency import efficiency_section
from cunet_bench.report.fid import fid_section
from cunet_bench.report.markdown import markdown_table
from cunet_bench.report.readme import SUMMARY_HEADING, update_readme
from cunet_bench.report.results import Results
from cunet_bench.report.samples import samples_section
from cunet_bench.report.speed import speed_section

__all__ = ["build_report", "update_readme"]

BUILDERS = (efficiency_section, speed_section, fid_section, denoise_section, samples_section)


def build_report(results_folder: Path, out: Path) -> Path:
    """Write ``out/REPORT.md`` and ``out/figures/*.png`` from ``results_folder``; returns the path."""
    results = Results(results_folder)
    figures_dir = out / "figures"
    if figures_dir.exists():
        shutil.rmtree(figures_dir)
    figures_dir.mkdir(parents=True)
    sections = [build(results, figures_dir) for build in BUILDERS]
    lines = ["# Reproduction report: The Missing U for Efficient Diffusion Models (arXiv 2310.20092)", "",
             f"Built by `bench report` from `{results_folder}` only. Verdicts: *reproduced* / *not reproduced* need the "
             "95% interval (or, for exact counts, the value) wholly on one side of the claim's threshold; otherwise "
             "*no significant difference*; *not measured* says what is missing.", "", SUMMARY_HEADING,
             "", markdown_table([{"claim": f"[{c.claim}](#{c.section})", "paper": c.paper, "ours": c.ours,
                                  "verdict": f"**{c.verdict}**", "rule": c.rule or "—"}
                                 for s in sections for c in s.claims]), ""]
    for section in sections:
        lines += [f'<a id="{section.anchor}"></a>', f"## {section.title}", ""]
        for block in section.body:
            lines += [block, ""]
        if section.runs:
            lines += ["Provenance: " + "; ".join(section.runs), ""]
    atomic_replace(out / "REPORT.md", lambda temporary: Path(temporary).write_text("\n".join(lines)))
    return out / "REPORT.md"
