"""The report's conclusion: the verdicts drawn together — what holds, what fails, what this
machine's runs cannot decide and what run would decide it."""

from __future__ import annotations

from cunet_bench.report.markdown import CLAIM, DESCRIBED, Claim, Section, group_by_claim
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
    "undertrained": "train longer (more `--train-steps`, e.g. `bench all --preset reference` with the steps doubled) "
    "until the samples pass the recognisability aim",
    "at the tolerance": "where a change over the last doubling is at the tolerance, train more seeds (the "
    "learning-curve section says about how many would decide each such change, and which way)",
    "one training seed": "train more seeds (`bench all --preset reference`: three)",
    "busy machine": "rerun on a quiet machine (nothing else using the CPU)",
    EDGE: "extend the grid (`bench fid --sampling-steps 5,10,30,100,200`) or score the x0 estimate",
    "LPIPS weights": "install the AlexNet weights (`bench weights install --from alexnet-owt-7be5be79.pth`)",
    PIPELINE_CHECK: "run `bench all --preset quick` or `--preset reference` (smoke sizes never give a verdict)",
}


SELF_CONTRADICTION = "flops-abstract"
"""The abstract's "~30% of the FLOPs" against the paper's own Table 5 (0.40): our exact count
matches Table 5, so a miss here is the paper contradicting itself, not a failed measurement."""
PER_STEP = ("less-time",)
"""Claims whose measurement, where the best is the chain's end, restates per-step speed."""


def _verdicts(rows: list[Claim], reasons: bool) -> str:
    """The verdict of each cU-Net a claim was judged for, with its reason when asked."""

    def one(row: Claim) -> str:
        return row.verdict + (f" — {row.reason}" if reasons and row.reason else "")

    if len(rows) == 1:
        return one(rows[0])
    return "; ".join(f"{'variant' if row.flavour == DESCRIBED else 'released'}: {one(row)}" for row in rows)


def _next_runs(claims: list[Claim]) -> list[str]:
    """What run would decide the claims this one could not, from their reasons and verdicts."""
    found = []
    for key, advice in NEXT_RUN.items():
        if any(key in claim.reason or key in claim.ours or claim.verdict == key for claim in claims):
            found.append(advice)
    return found


def _at_this_scale(open_: list[list[Claim]]) -> str:
    """Where the measurements of the claims held by the convergence gate point at this scale."""
    pointing: dict[str, list[str]] = {}
    for rows in open_:
        reading = reading_at_this_scale(rows[0].reason) if rows[0].verdict == INCONCLUSIVE else None
        if reading is not None:
            pointing.setdefault(reading, []).append(f"*{rows[0].title}*")
    if not pointing:
        return "**Where the measurements point at this scale**: no claim is held by the convergence gate."
    return (
        "**Where the measurements point at this scale** (claims held by the convergence gate: what their "
        "measurement would read if the models had converged; a direction, not a verdict): "
        + "; ".join(f"{reading} ({len(titles)}): {', '.join(titles)}" for reading, titles in sorted(pointing.items()))
        + "."
    )


def conclusion_section(claims: list[Claim]) -> Section:
    """The claims counted once each (the released cU-Net's verdict decides which list a claim is
    in; the variant's is shown beside it)."""
    section = Section("conclusion", "Conclusion")
    paper = group_by_claim(claim for claim in claims if claim.group == CLAIM)
    verdict = {rows[0].title: rows[0].verdict for rows in paper}

    def listed(selected: list[list[Claim]], reasons: bool = False) -> str:
        return "; ".join(f"*{rows[0].title}* ({_verdicts(rows, reasons)})" for rows in selected) or "none"

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
    per_step = [rows for rows in open_ if rows[0].key in PER_STEP and verdict[rows[0].title] == EDGE]
    section.body += [
        f"The paper makes {len(paper)} claims tested here, each counted once (the released cU-Net's verdict; the "
        "described variant's beside it).",
        f"**What holds by construction** ({len(exact)}: exact counts of the rebuilt architecture, not measurements): "
        f"{listed(exact)}.",
        f"**What holds, measured** ({len(measured)}): {listed(measured)}.",
        f"**What fails** ({len(fails)}): {listed(fails)}.",
        f"**Where the paper contradicts itself** ({len(contradicted)}): {listed(contradicted)}"
        + (
            " — the abstract's figure disagrees with the paper's own Table 5, which our exact count matches."
            if contradicted
            else "."
        ),
        f"**What these runs cannot decide** ({len(open_)}, of which {len(per_step)} measure per-step speed at the "
        "chain's end): " + listed(open_, reasons=True) + ".",
    ]
    section.body.append(_at_this_scale(open_))
    advice = _next_runs([row for rows in open_ for row in rows])
    if advice:
        section.body.append("**What run would decide them**: " + "; ".join(advice) + ".")
    section.body.append(
        "Every verdict rests on the runs named in the sections' provenance; at the CPU scale of these "
        "runs (see Deviations and limitations) they test the paper's claims, not its absolute numbers."
    )
    return section
