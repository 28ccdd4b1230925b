"""The report's conclusion, one screen: the verdicts counted, one line per claim under each, and
the commands that would decide the rest."""

from __future__ import annotations

from dataclasses import dataclass

from cunet_bench.report.markdown import CLAIM, DESCRIBED, Claim, Section, group_by_claim
from cunet_bench.report.results import Results
from cunet_bench.report.verdicts import (
    BY_CONSTRUCTION,
    DEPENDS,
    EDGE,
    INCONCLUSIVE,
    NOT_MEASURED,
    NOT_REPRODUCED,
    PIPELINE_CHECK,
    REPRODUCED,
    UNSTABLE,
    reading_at_this_scale,
)

NEXT_RUN = {
    "undertrained": "`bench train --preset reference --resume` to the next doubling (README, The long reference) "
    "until the samples pass the recognisability aim",
    "at the tolerance": "more training seeds: the Learning curves section says how many would decide each change",
    "one training seed": "`bench all --preset reference` (three training seeds)",
    "busy machine": "the same command on a quiet machine",
    EDGE: "`bench fid --sampling-steps 5,10,30,100,250,1000` (a wider grid), or the x0 scoring",
    "LPIPS weights": "`bench weights install --from alexnet-owt-7be5be79.pth`",
    PIPELINE_CHECK: "`bench all --preset quick` (smoke sizes never give a verdict)",
}
"""What would decide an undecided claim, by what its reason, measurement or verdict names."""


SELF_CONTRADICTION = "flops-abstract"
"""The abstract's "~30% of the FLOPs" against the paper's own Table 5 (0.40): our exact count
matches Table 5, so a miss here is the paper contradicting itself, not a failed measurement."""


def _verdicts(rows: list[Claim]) -> str:
    """The verdict of each cU-Net a claim was judged for, in a few words."""
    if len(rows) == 1:
        return rows[0].verdict
    return "; ".join(f"{'described' if row.flavour == DESCRIBED else 'released'}: {row.verdict}" for row in rows)


def _next_runs(claims: list[Claim]) -> list[str]:
    """What run would decide the claims this one could not, from their reasons and verdicts."""
    return [
        advice
        for key, advice in NEXT_RUN.items()
        if any(key in claim.reason or key in claim.ours or claim.verdict == key for claim in claims)
    ]


def _pointing(rows: list[Claim]) -> str:
    """Where a claim held by the convergence gate or the grid's edge points at this scale, or ""."""
    reading = reading_at_this_scale(rows[0].reason) if rows[0].verdict != DEPENDS else None
    return f"; points to *{reading}*" if reading else ""


def _listed(title: str, selected: list[list[Claim]], note: str = "") -> list[str]:
    """A heading with its count and one line per claim under it."""
    if not selected:
        return []
    lines = [f"- [{rows[0].title}](#{rows[0].section}) — {_verdicts(rows)}{_pointing(rows)}" for rows in selected]
    return [f"**{title}** ({len(selected)}){note}:", "\n".join(lines)]


QUALITY_SECTIONS = ("fid", "denoising")
STOP_AT = 8
"""The long reference's stop rule: train on until the gate opens for this many quality claims (or 16×)."""


@dataclass(frozen=True)
class Reach:
    """How far the measured training went: the highest rung the learning curves measured and the
    steps the runs were configured to reach (None where not recorded)."""

    measured: int | None
    planned: int | None


def reach_of(results: Results) -> Reach:
    """The highest rung step of the sample-quality curve, and the largest ``train_steps`` the
    training runs' provenance records."""
    fid = results.runs("fid")
    rungs = fid[fid.kind == "rung"].rung_step.dropna() if "rung_step" in fid else []
    planned = [meta.get("config", {}).get("train_steps") for meta in results.provenance("training").values()]
    planned = [steps for steps in planned if isinstance(steps, int) and not isinstance(steps, bool)]
    return Reach(int(max(rungs)) if len(rungs) else None, max(planned, default=None))


def _gate_count(paper: list[list[Claim]], reach: Reach) -> str:
    """For how many of the paper's quality claims the convergence gate is open (by plateau or by the
    aim), counted on the released cU-Net's row, and what the long reference's stop rule makes of it."""
    quality = [rows[0] for rows in paper if rows[0].section in QUALITY_SECTIONS]
    gated = [row for row in quality if row.gate is not None and row.verdict not in (NOT_MEASURED, PIPELINE_CHECK)]
    open_ = [row for row in gated if row.gate == ""]
    rule = (
        f"**The stop rule** (stated before the long reference was trained): train on, doubling by doubling, until "
        f"the convergence gate is open for at least {STOP_AT} of the quality claims, or to the runs' planned end "
        "(the long reference's: 28,800 steps, 16× the first reference's 1,800)."
    )
    count = f"The gate is open for {len(open_)} of the {len(gated)} measured quality claims it applies to"
    count += f" (of {len(quality)})"
    if not gated:
        return f"{rule} No quality claim's gate was measured."
    if len(open_) >= STOP_AT:
        where = f" at the doubling to {reach.measured:,} steps" if reach.measured is not None else ""
        outcome = f"{count}: the rule is met{where}."
    elif reach.measured is not None and reach.planned is not None and reach.measured >= reach.planned:
        outcome = (
            f"{count}: the runs ended at their planned end ({reach.planned:,} steps) with the rule unmet; the claims "
            "it holds stay undecided, as the rows say."
        )
    elif reach.planned is None:
        outcome = (
            f"{count}{_at(reach)}: the rule is not met; these results hold no training run's planned steps, so "
            "whether training would go on is not read here."
        )
    else:
        outcome = f"{count}{_at(reach)} of the {reach.planned:,} planned: the rule is not met and training would go on."
    return f"{rule} {outcome}"


def _at(reach: Reach) -> str:
    return f" at {reach.measured:,} steps" if reach.measured is not None else ""


def conclusion_section(claims: list[Claim], reach: Reach) -> Section:
    """The claims counted once each (the released cU-Net's verdict decides which list a claim is
    in; the described variant's is shown beside it), one line each, then what would decide the rest."""
    section = Section("conclusion", "Conclusion")
    paper = group_by_claim(claim for claim in claims if claim.group == CLAIM)
    verdict = {rows[0].title: rows[0].verdict for rows in paper}
    contradicted = [
        rows for rows in paper if rows[0].key == SELF_CONTRADICTION and verdict[rows[0].title] == NOT_REPRODUCED
    ]
    exact = [rows for rows in paper if verdict[rows[0].title] == BY_CONSTRUCTION]
    measured = [rows for rows in paper if verdict[rows[0].title] == REPRODUCED]
    fails = [rows for rows in paper if verdict[rows[0].title] == NOT_REPRODUCED and rows not in contradicted]
    open_ = [
        rows
        for rows in paper
        if verdict[rows[0].title] in (INCONCLUSIVE, EDGE, DEPENDS, UNSTABLE, NOT_MEASURED, PIPELINE_CHECK)
    ]
    section.body.append(
        f"Of the paper's {len(paper)} claims tested here (each counted once, by the released cU-Net's verdict): "
        f"{len(exact)} hold by construction, {len(measured)} hold as measured, {len(fails)} fail, "
        f"{len(contradicted)} contradict the paper's own tables and {len(open_)} are undecided."
    )
    section.body += _listed("Hold by construction", exact, " — exact counts of the rebuilt architecture")
    section.body += _listed("Hold, measured", measured)
    section.body += _listed("Fail", fails)
    section.body += _listed(
        "The paper contradicts itself", contradicted, " — the abstract against its own Table 5, which our count matches"
    )
    section.body += _listed(
        "Undecided", open_, " — a gated claim's *points to* is where its measurement leans at this scale, not a verdict"
    )
    section.body.append(_gate_count(paper, reach))
    advice = _next_runs([row for rows in open_ for row in rows])
    if advice:
        section.body += ["**What would decide the rest**:", "\n".join(f"- {line}" for line in advice)]
    return section
