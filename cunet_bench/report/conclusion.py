"""The report's conclusion: the verdicts drawn together — what holds, what fails, what this
machine's runs cannot decide and what run would decide it."""

from __future__ import annotations

from cunet_bench.report.markdown import CLAIM, Claim, Section
from cunet_bench.report.verdicts import (BY_CONSTRUCTION, DEPENDS, EDGE, INCONCLUSIVE, NOT_MEASURED, NOT_REPRODUCED,
                                         PIPELINE_CHECK, REPRODUCED, UNSTABLE)

NEXT_RUN = {
    "undertrained": "train longer (more `--train-steps`, e.g. `bench all --preset reference` with the steps doubled) "
                    "until the samples pass the recognisability aim",
    "one training seed": "train more seeds (`bench all --preset reference`: three)",
    "busy machine": "rerun on a quiet machine (nothing else using the CPU)",
    EDGE: "extend the grid (`bench fid --sampling-steps 5,10,30,100,200`) or score the x0 estimate",
    "LPIPS weights": "install the AlexNet weights (`bench weights install --from alexnet-owt-7be5be79.pth`)",
    PIPELINE_CHECK: "run `bench all --preset quick` or `--preset reference` (smoke sizes never give a verdict)",
}


def _names(claims: list[Claim]) -> str:
    return "; ".join(f"*{claim.claim}*" for claim in claims) or "none"


def _next_runs(claims: list[Claim]) -> list[str]:
    """What run would decide the claims this one could not, from their reasons and verdicts."""
    found = []
    for key, advice in NEXT_RUN.items():
        if any(key in claim.reason or key in claim.ours or claim.verdict == key for claim in claims):
            found.append(advice)
    return found


def conclusion_section(claims: list[Claim]) -> Section:
    section = Section("conclusion", "Conclusion")
    paper = [claim for claim in claims if claim.group == CLAIM]
    holds = [c for c in paper if c.verdict in (REPRODUCED, BY_CONSTRUCTION)]
    fails = [c for c in paper if c.verdict == NOT_REPRODUCED]
    open_ = [c for c in paper if c.verdict in (INCONCLUSIVE, EDGE, DEPENDS, UNSTABLE, NOT_MEASURED, PIPELINE_CHECK)]
    section.body += [
        f"**What holds** ({len(holds)} of {len(paper)} claims): {_names(holds)}.",
        f"**What fails** ({len(fails)}): {_names(fails)}.",
        f"**What these runs cannot decide** ({len(open_)}): " + "; ".join(
            f"*{c.claim}* ({c.verdict}{': ' + c.reason if c.reason else ''})" for c in open_) + ("." if open_ else "none."),
    ]
    advice = _next_runs(open_)
    if advice:
        section.body.append("**What run would decide them**: " + "; ".join(advice) + ".")
    section.body.append("Every verdict rests on the runs named in the sections' provenance; at the CPU scale of these "
                        "runs (see Deviations and limitations) they test the paper's claims, not its absolute numbers.")
    return section
