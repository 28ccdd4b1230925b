"""The report's sample-quality section: FID (or FD-classifier) versus sampling steps (Table 1)."""

from __future__ import annotations

from pathlib import Path

from cunet_bench.paper import paper_value
from cunet_bench.report import figures
from cunet_bench.report.markdown import Claim, Section, markdown_table, missing, not_measured
from cunet_bench.report.results import Results, tagged
from cunet_bench.report.verdicts import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, Interval, verdict_within

COMPARABLE = (0.8, 1.25)
"""'Comparable FID': the ratio's whole interval within ±25% (the paper's own MNIST/CelebA/LSUN
ratios span 0.83–1.09)."""


def fid_section(results: Results, figures_dir: Path) -> Section:
    section = Section("fid", "Sample quality versus sampling steps (Table 1)")
    rows = results.latest_run("fid", lambda r: "point" in set(r.kind))
    if rows.empty:
        section.claims += [not_measured("comparable FID", "MNIST 3.61 vs 2.98", section.anchor, "no FID run"),
                           not_measured("best FID in fewer steps", "MNIST 30 vs 5 steps", section.anchor, "no FID run")]
        return missing(section, "FID/KID versus sampling steps", "bench fid --models unet,cunet --preset quick")
    section.runs.append(results.provenance_line("fid", rows.run_id.iloc[0]))
    points = rows[rows.kind == "point"].sort_values(["model", "steps"])
    name, kernel = points.distance_name.iloc[0], points.kernel_name.iloc[0]
    samples = int(points.samples.iloc[0])
    is_fid = name == "FID"
    table = [{"model": r.model, "steps": int(r.steps), f"{name} [95% CI]": Interval(r.distance, r.distance_ci_low,
                                                                                  r.distance_ci_high).text(),
              f"{kernel} ± std": f"{r.kid_mean:.3g} ± {r.kid_std:.2g}", "s/sample": r.seconds_per_sample,
              "sampling/raw throughput": r.throughput_ratio} for r in points.itertuples()]
    best = rows[rows.kind == "best"]
    best_table = []
    for r in best.itertuples():
        paper_fid, paper_steps, paper_s = (paper_value("Table 1", r.model, m, "MNIST") for m in ("fid", "best_steps",
                                                                                            "seconds_per_sample"))
        best_table.append({"model": r.model, f"best {name}": r.distance, "paper FID (MNIST)": paper_fid,
                           "best steps": int(r.steps), "paper steps": paper_steps, "s/sample": r.seconds_per_sample,
                           "paper s/sample": paper_s})
    paper_steps = {m: paper_value("Table 1", m, "best_steps", "MNIST") for m in set(points.model)}
    figures.fid_versus_steps(points, {m: s for m, s in paper_steps.items() if s}, name, figures_dir / "fid_steps.png")
    caveat = ("" if is_fid else f" **{name} is not FID**: without the Inception weights the distances are taken in the "
              "features of a classifier trained on the dataset's labels, so they rank models but cannot be compared "
              "with the paper's FID values.")
    section.body += [f"N = {samples} samples per point, {points.sampler.iloc[0]} sampler, reference: "
                     f"{int(points.reference_count.iloc[0])} training images, features `{points.features.iloc[0]}`.{caveat} "
                     "Intervals: 95% bootstrap over generated samples.",
                     markdown_table(table), "Best step count per model (Table 1's columns):", markdown_table(best_table),
                     "![Distance versus steps](figures/fid_steps.png)"]
    ratio = rows[rows.kind == "ratio"]
    unet, candidates = tagged(best, "paper-unet"), [m for m in tagged(best, "quality") if m not in tagged(best, "paper-unet")]
    if ratio.empty or not unet or not candidates:
        return section
    unet, cunet = unet[0], candidates[0]
    r = ratio.iloc[0]
    interval = Interval(r.ratio, r.ratio_ci_low, r.ratio_ci_high)
    comparable = verdict_within(interval, *COMPARABLE)
    section.claims.append(Claim(f"comparable FID ({name})", "MNIST 2.98 vs 3.61 (0.83×)",
                                f"best-{name} ratio {interval.text()}, N={samples}", comparable, section.anchor,
                                f"interval within {COMPARABLE}"))
    steps = {m: int(best[best.model == m].steps.iloc[0]) for m in (unet, cunet)}
    fewer = (REPRODUCED if steps[cunet] < steps[unet] and comparable == REPRODUCED
             else NOT_REPRODUCED if steps[cunet] > steps[unet] else INCONCLUSIVE)
    section.claims.append(Claim("best FID in fewer sampling steps", "MNIST 5 vs 30 steps",
                                f"{steps[cunet]} vs {steps[unet]} steps (of {sorted(set(points.steps.astype(int)))})",
                                fewer, section.anchor, "fewer steps and a comparable distance"))
    return section
