"""The report's conclusion: one paragraph per group of claims, written from the verdicts."""

from __future__ import annotations

from cunet_bench.report.markdown import Claim, Section
from cunet_bench.report.verdicts import (BY_CONSTRUCTION, EDGE, INCONCLUSIVE, NOT_MEASURED, NOT_REPRODUCED,
                                         PIPELINE_CHECK, REPRODUCED, UNSTABLE)

GROUPS = (("efficiency", "Size and compute"), ("speed", "Speed"), ("fid", "Sample quality"),
          ("denoising", "Denoising"))
SUMMARY = {
    REPRODUCED: "the evidence supports it",
    NOT_REPRODUCED: "the evidence contradicts it",
    INCONCLUSIVE: "the evidence cannot decide it",
    UNSTABLE: "repeated runs contradict each other about it",
    EDGE: "its best step count lies at the edge of the grid tried",
    BY_CONSTRUCTION: "it holds by construction of the release's architecture",
    NOT_MEASURED: "it was not measured",
    PIPELINE_CHECK: "the run was too small for a verdict",
}


def conclusion_section(claims: list[Claim]) -> Section:
    section = Section("conclusion", "Conclusion")
    for anchor, title in GROUPS:
        mine = [claim for claim in claims if claim.section == anchor]
        if not mine:
            continue
        sentences = [f"*{claim.claim}*: {SUMMARY.get(claim.verdict, claim.verdict)} ({claim.ours})." for claim in mine]
        section.body.append(f"**{title}.** " + " ".join(sentences))
    section.body.append("Every verdict rests on the runs named in the sections' provenance; at the CPU scale of these "
                        "runs (see Deviations and limitations) they test the paper's claims, not its absolute numbers.")
    return section
