"""The report's "your run beside the reference" section: for every claim, this run's verdict and
the committed reference run's, marked "agrees" or "differs"; both runs' machines; the ratio of the
two runs' speed figures; and the sizes where this run is smaller than the reference."""

from __future__ import annotations

from typing import Any

from cunet_bench.report.compare import timing_changes, verdict_rows
from cunet_bench.report.markdown import Claim, Section, code, markdown_table
from cunet_bench.report.results import Results

SIZES = (
    ("training", "train_steps", "training steps"),
    ("training", "seed", "training seeds"),
    ("denoise", "num_images", "test images"),
    ("fid", "num_samples", "samples per point"),
)


def _sizes(results: Results) -> dict[str, Any]:
    """The sizes of a folder's runs, as their resolved configurations record them."""
    sizes: dict[str, Any] = {}
    for bench, field, label in SIZES:
        values = {meta.get("config", {}).get(field) for meta in results.provenance(bench).values()} - {None}
        if values:
            sizes[label] = (
                len(values) if field == "seed" else max(values, key=lambda v: (isinstance(v, (int, float)), v))
            )
    return sizes


BESIDE_TITLE = "Your run beside the reference run"


def beside_section(results: Results, claims: list[Claim], reference: Results, reference_claims: list[Claim]) -> Section:
    section = Section("beside", BESIDE_TITLE)
    rows = verdict_rows(reference_claims, claims)
    differs = sum(row["change"] == "differs" for row in rows)
    mine, theirs = _sizes(results), _sizes(reference)
    smaller = [
        f"{label} {mine[label]:,} vs {theirs[label]:,}"
        for label in mine
        if label in theirs and isinstance(mine[label], (int, float)) and mine[label] < theirs[label]
    ]
    section.body += [
        f"This run ({code(results.folder)}) beside the committed reference run "
        f"({code(reference.folder)}): {differs} of "
        f"{len(rows)} verdicts differ."
        + (f" **This run is smaller than the reference**: {'; '.join(smaller)}." if smaller else ""),
        markdown_table(
            [
                {"claim": row["claim"], "this run": row["new"], "reference": row["base"], "": row["change"]}
                for row in rows
            ]
        ),
        "Machines — this run: "
        + ", ".join(f"`{f}`" for f in sorted(results.fingerprints()))
        + "; reference: "
        + ", ".join(f"`{f}`" for f in sorted(reference.fingerprints()))
        + ".",
    ]
    speed = timing_changes(reference, results, across_machines=True)
    if speed:
        section.body += [
            "Speed figures of this run against the reference's (ratio of medians this run / reference, "
            "with a bootstrap interval; across machines the ratio also measures the machines):",
            markdown_table([change.row() for change in speed]),
        ]
    return section
