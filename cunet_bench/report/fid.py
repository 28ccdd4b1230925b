"""The report's sample-quality section: FID (or FD-classifier) versus sampling steps (Table 1),
per training seed, with a check that the samples are recognisable digits.

The ratio of best distances pools training seeds: replicates resample the seeds, then draw one
bootstrap replicate of each chosen seed's distances (``kind='best_replicate'`` rows). Distances
from resampled samples are biased upwards (duplicated samples shrink the covariance), so the
intervals are the basic bootstrap's, reflected about the estimate, and the bias is shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cunet_bench.paper import paper_value
from cunet_bench.report import figures
from cunet_bench.report.markdown import Claim, Section, markdown_table, missing, not_measured
from cunet_bench.report.results import Results, paper_name, tagged
from cunet_bench.report.verdicts import (EDGE, INCONCLUSIVE, NOT_REPRODUCED, PIPELINE_CHECK, REPLICATES, REPRODUCED,
                                         Interval, at_grid_edge, too_small, verdict_within)

COMPARABLE = (0.8, 1.25)
"""'Comparable FID': the ratio's whole interval within ±25% (the paper's own MNIST/CelebA/LSUN
ratios span 0.83–1.09)."""
RECOGNISABLE = 0.8
"""Below this fraction of confidently classified U-Net samples the report calls the models undertrained."""
CLAIMS = {"comparable": ("comparable FID", "MNIST 2.98 vs 3.61 (0.83×); CelebA 1.09×; LSUN 0.99×"),
          "fewer": ("best FID in fewer sampling steps", "MNIST 5 vs 30 steps; CelebA 80 vs 100; LSUN 90 vs 100")}


def _roles(best: pd.DataFrame) -> tuple[str, list[str]] | None:
    unet = tagged(best, "paper-unet")
    release = tagged(best, "paper-cunet")
    candidates = release + [m for m in tagged(best, "quality") if m not in unet + release]
    return (unet[0], candidates) if unet and candidates else None


def _seed_of(rows: pd.DataFrame) -> pd.Series:
    return rows.train_seed.fillna(0).astype(int) if "train_seed" in rows else pd.Series(0, index=rows.index)


def _ratio(best: pd.DataFrame, replicates: pd.DataFrame, model: str, versus: str, seed: int = 0) -> Interval | None:
    """Ratio of best distances model/versus, pooled over the training seeds both have."""
    seeds = sorted(set(_seed_of(best[best.model == model])) & set(_seed_of(best[best.model == versus])))
    if not seeds:
        return None

    def of(name: str, kind: pd.DataFrame, training_seed: int) -> pd.DataFrame:
        return kind[(kind.model == name) & (_seed_of(kind) == training_seed)]

    estimates = [float(of(model, best, s).distance.iloc[0] / of(versus, best, s).distance.iloc[0]) for s in seeds]
    draws = {s: (of(model, replicates, s).distance.to_numpy(), of(versus, replicates, s).distance.to_numpy())
             for s in seeds}
    if any(len(top) == 0 or len(bottom) == 0 for top, bottom in draws.values()):
        return None
    rng = np.random.default_rng(seed)
    pooled = np.empty(REPLICATES)
    for index in range(REPLICATES):
        chosen = rng.choice(seeds, len(seeds))
        pooled[index] = np.mean([draws[s][0][rng.integers(len(draws[s][0]))] / draws[s][1][rng.integers(len(draws[s][1]))]
                                 for s in chosen])
    estimate = float(np.mean(estimates))
    low, high = np.percentile(pooled, [2.5, 97.5])
    return Interval(estimate, float(2 * estimate - high), float(2 * estimate - low))


def _fewer_steps(best: pd.DataFrame, unet: str, cunet: str, grid: list[int]) -> tuple[str, str]:
    """Best step counts per seed; 'at the edge of the grid' when any best is the grid's largest or
    smallest value (the true best may lie beyond), else fewer (more) in every seed decides."""
    steps = {m: dict(zip(_seed_of(best[best.model == m]), best[best.model == m].steps.astype(int))) for m in (unet, cunet)}
    seeds = sorted(set(steps[unet]) & set(steps[cunet]))
    text = "; ".join(f"seed {s}: {steps[cunet][s]} vs {steps[unet][s]}" for s in seeds) + f" (grid {grid})"
    if at_grid_edge((steps[m][s] for m in (unet, cunet) for s in seeds), grid):
        return EDGE, text
    fewer = [steps[cunet][s] < steps[unet][s] for s in seeds]
    more = [steps[cunet][s] > steps[unet][s] for s in seeds]
    return (REPRODUCED if all(fewer) else NOT_REPRODUCED if all(more) else INCONCLUSIVE), text


def fid_section(results: Results, figures_dir: Path) -> Section:
    section = Section("fid", "Sample quality versus sampling steps (Table 1)")
    rows = results.latest_run("fid", lambda r: "best" in set(r.kind) and _roles(r[r.kind == "best"]) is not None)
    if rows.empty:
        section.claims += [not_measured(name, paper, section.anchor, "no FID run with the paper's pair")
                           for name, paper in CLAIMS.values()]
        return missing(section, "FID/KID versus sampling steps", "bench fid --preset quick")
    section.runs.append(results.provenance_line("fid", rows.run_id.iloc[0]))
    points, best = rows[rows.kind == "point"], rows[rows.kind == "best"]
    replicates = rows[rows.kind == "best_replicate"]
    unet, candidates = _roles(best)
    name, kernel = points.distance_name.iloc[0], points.kernel_name.iloc[0]
    samples, grid = int(points.samples.iloc[0]), sorted(int(s) for s in points.steps.unique())
    small = too_small(generated_samples=samples, training_steps=results.training_steps(unet))
    seeds = sorted(set(_seed_of(best)))
    labels = {m: f"{paper_name(rows, m)} (`{m}`, {int(rows[rows.model == m].parameters.iloc[0]):,} trainable parameters)"
              if "parameters" in rows else m for m in [unet, *candidates]}
    caveat = ("" if name == "FID" else f" **{name} is not FID**: without the Inception weights the distances are taken "
              "in the features of a classifier trained on the dataset's labels; they rank models but cannot be compared "
              "with the paper's FID values.")
    section.body.append(
        f"N = {samples} samples per point (the paper: 30,000), {points.sampler.iloc[0]} sampler, reference: "
        f"{int(points.reference_count.iloc[0])} training images, features `{points.features.iloc[0]}`; training seeds "
        f"{', '.join(map(str, seeds))}; models: {'; '.join(labels.values())}.{caveat} Intervals: basic bootstrap over "
        f"generated samples ({int(points.bootstrap_replicates.iloc[0]):,} replicates; the bias of the resampled "
        f"distance is shown); ratios pool the seeds (seeds, then replicates).")
    table = [{"model": r.model, "seed": int(getattr(r, "train_seed", 0) or 0), "steps": int(r.steps),
              f"{name} [95% CI]": Interval(r.distance, r.distance_ci_low, r.distance_ci_high).text(),
              "bootstrap bias": getattr(r, "bootstrap_bias", None), f"{kernel}": r.kid_mean,
              "confidently classified": getattr(r, "confident_fraction", None),
              "classes": getattr(r, "confident_classes", None), "s/sample (batch)": r.seconds_per_sample}
             for r in points.sort_values(["model", "train_seed", "steps"] if "train_seed" in points
                                         else ["model", "steps"]).itertuples()]
    section.body += [f"Every point ({kernel}: an unbiased estimator, so values near 0 can be negative; "
                     f"'confidently classified': the fraction of samples the dataset's classifier gives one class a "
                     f"probability ≥ 0.9, with the number of classes among them — an MNIST analogue of the Inception "
                     f"Score):", markdown_table(table)]
    best_table: list[dict[str, Any]] = []
    for model in [unet, *candidates]:
        mine = best[best.model == model]
        best_table.append({"model": labels[model], "best steps per seed": ", ".join(map(str, mine.steps.astype(int))),
                           f"best {name} (mean over seeds)": float(mine.distance.mean()),
                           "paper FID (MNIST)": paper_value("Table 1", "unet" if model == unet else "cunet", "fid", "MNIST"),
                           "paper steps": paper_value("Table 1", "unet" if model == unet else "cunet", "best_steps",
                                                      "MNIST"),
                           "confidently classified at best": float(mine.confident_fraction.mean())
                           if "confident_fraction" in mine else None})
    section.body += ["Best step count per model and seed (Table 1's columns):", markdown_table(best_table)]
    recognisable = best[best.model == unet].confident_fraction.mean() if "confident_fraction" in best else None
    if recognisable is not None and recognisable < RECOGNISABLE:
        section.body.append(f"**The models are undertrained**: only {recognisable:.0%} of the U-Net's samples at its "
                            f"best step count are confidently classified as a digit (aim: {RECOGNISABLE:.0%}); the "
                            "distances compare models that have not converged.")
    averaged = points.groupby(["model", "steps"], as_index=False).agg(
        distance=("distance", "mean"), distance_ci_low=("distance_ci_low", "min"), distance_ci_high=("distance_ci_high", "max"))
    paper_steps = {m: paper_value("Table 1", "unet" if m == unet else "cunet", "best_steps", "MNIST")
                   for m in [unet, candidates[0]]}
    figures.fid_versus_steps(averaged, {m: s for m, s in paper_steps.items() if s}, name, figures_dir / "fid_steps.png",
                             {m: paper_name(rows, m) for m in [unet, *candidates]})
    section.body.append("![Distance versus steps](figures/fid_steps.png)  \nMean over training seeds; error bars span "
                        "the seeds' 95% intervals; dashed: the paper's best step counts on MNIST.")
    for index, cunet in enumerate(candidates):
        flavour = " — cU-Net as released" if index == 0 else " — cU-Net as the paper describes it (variant)"
        ratio = _ratio(best, replicates, cunet, unet)
        comparable = verdict_within(ratio, *COMPARABLE) if ratio else INCONCLUSIVE
        section.claims.append(Claim(f"{CLAIMS['comparable'][0]} ({name}){flavour}", CLAIMS["comparable"][1],
                                    f"best-{name} ratio {ratio.text() if ratio else '—'}, N={samples}, "
                                    f"{len(seeds)} seed(s)", PIPELINE_CHECK if small else comparable, section.anchor,
                                    f"pooled interval within {COMPARABLE}" + (f" (sizes: {', '.join(small)})"
                                                                              if small else "")))
        verdict, text = _fewer_steps(best, unet, cunet, grid)
        section.claims.append(Claim(CLAIMS["fewer"][0] + flavour, CLAIMS["fewer"][1], text,
                                    PIPELINE_CHECK if small else verdict, section.anchor,
                                    "fewer steps in every seed, neither best at the grid's edge"))
    return section
