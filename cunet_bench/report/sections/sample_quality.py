"""The report's sample-quality section: FID (or FD-classifier) versus sampling steps (Table 1),
per training seed, the recognisability check that gates every quality verdict, and the
Appendix C ablations where they were measured.

The ratio of best distances is the ratio of the seed means, with the seed-level interval of
``verdicts.seed_level_ratio`` (seeds of different models are independent). Per-point intervals
are the basic bootstrap over generated samples (resampled distances are biased upwards, so the
percentile interval is reflected about the estimate; the bias is shown).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from cunet_bench.report import figures
from cunet_bench.report.claims import claim, unmeasured
from cunet_bench.report.convergence import Convergence, convergence
from cunet_bench.report.markdown import FLAVOURS, Claim, Effect, Section, markdown_table, missing
from cunet_bench.report.paper import paper_value
from cunet_bench.report.results import Results, paper_name, role, tagged
from cunet_bench.report.verdicts import (
    INCONCLUSIVE,
    NOT_REPRODUCED,
    REPRODUCED,
    Interval,
    at_grid_edge,
    decide,
    seed_level_ratio,
    too_small,
    uncovered,
    verdict_above,
    verdict_within,
)

COMPARABLE = (0.8, 1.25)
"""'Comparable FID': the ratio's whole interval within ±25% (the paper's own MNIST/CelebA/LSUN
ratios span 0.83–1.09)."""
KEYS = ("comparable-fid", "fewer-sampling-steps", "ablations")
ABLATION_COMMAND = (
    "bench train --model cunet-release-wo-a (and -wo-r), then bench fid --models "
    "unet,cunet-release,cunet-release-wo-a,cunet-release-wo-r"
)


def _roles(best: pd.DataFrame) -> tuple[str, list[str]] | None:
    unet = tagged(best, "paper-unet")
    release = tagged(best, "paper-cunet")
    candidates = release + [m for m in tagged(best, "quality") if m not in unet + release]
    return (unet[0], candidates) if unet and candidates else None


def _seeds(rows: pd.DataFrame) -> pd.Series:
    return rows.train_seed.fillna(0).astype(int)


def _best_distances(best: pd.DataFrame, replicates: pd.DataFrame, model: str) -> tuple[list[float], float]:
    """A model's best distance per training seed, and the bootstrap spread of one seed's (what
    stands in for the variation between seeds when there is one seed)."""
    mine = best[best.model == model].sort_values("train_seed")
    spread = replicates[replicates.model == model].groupby(_seeds(replicates[replicates.model == model])).distance.std()
    return mine.distance.astype(float).tolist(), float(spread.mean()) if len(spread) else 0.0


def _ratio(best: pd.DataFrame, replicates: pd.DataFrame, model: str, versus: str) -> Interval:
    top, top_spread = _best_distances(best, replicates, model)
    bottom, bottom_spread = _best_distances(best, replicates, versus)
    return seed_level_ratio(top, bottom, top_spread, bottom_spread)


def _unbiased_readings(best: pd.DataFrame, model: str, versus: str) -> str:
    """Beside a ratio of distances: the same ratio with each distance's bootstrap bias removed (a
    finite sample inflates both, which pulls their ratio towards 1) and the ratio of the kernel
    distances, an unbiased estimator (left out where one is not positive)."""
    mine, theirs = (best[best.model == m].sort_values("train_seed") for m in (model, versus))
    readings = []
    corrected = [float((part.distance - part.bootstrap_bias.fillna(0)).mean()) for part in (mine, theirs)]
    if all(value > 0 for value in corrected):
        readings.append(f"with each distance's bootstrap bias removed {corrected[0] / corrected[1]:.3g}")
    kernels = [part.kid_mean.astype(float).tolist() for part in (mine, theirs)]
    if all(kernels) and all(value > 0 for values in kernels for value in values):
        kernel = str(best.kernel_name.dropna().iloc[0]) if best.kernel_name.notna().any() else "kernel distance"
        readings.append(f"{kernel} ratio {seed_level_ratio(*kernels, 0.0, 0.0).text()} (unbiased)")
    return "".join(f"; {reading}" for reading in readings)


def _paper_fid_ratio(cunet: str, unet: str) -> float | None:
    """Table 1's FID ratio on MNIST, the dataset these runs use (None for a model it lacks)."""
    values = [paper_value("Table 1", name, "fid", "MNIST") for name in (cunet, unet)]
    return values[0] / values[1] if all(values) else None


def _best_steps(best: pd.DataFrame, model: str) -> dict[int, int]:
    mine = best[best.model == model]
    return dict(zip(_seeds(mine), mine.sampling_steps.astype(int)))


def _gated(verdict: str, gate: str, small: list[str], edge: str = "", uncovered_by: str = "") -> tuple[str, str]:
    """The verdict after the rules' precedence (:func:`verdicts.decide`): the run-size gate, the
    grid's edge, the convergence gate; an interval that does not cover every source of
    variation (one training seed) says so."""
    verdict, reason = decide(verdict, pipeline=f"sizes: {', '.join(small)}" if small else "", edge=edge, gate=gate)
    return verdict, reason or uncovered_by


def _claims(
    best: pd.DataFrame,
    replicates: pd.DataFrame,
    unet: str,
    candidates: list[str],
    grid: list[int],
    gate: Convergence,
    small: list[str],
    names: dict[str, str],
    runs: tuple[str, ...],
    name: str,
) -> list[Claim]:
    claims = []
    for cunet, flavour in zip(candidates, FLAVOURS):
        steps = {m: _best_steps(best, m) for m in (unet, cunet)}
        seeds = sorted(set(steps[unet]) & set(steps[cunet]))
        edge = at_grid_edge((steps[m][s] for m in (unet, cunet) for s in seeds), grid)
        undertrained = gate.undertrained([unet, cunet], names, "distance")
        ratio = _ratio(best, replicates, cunet, unet)
        edge_text = "a best step count is the grid's end" if edge else ""
        verdict, reason = _gated(verdict_within(ratio, *COMPARABLE), undertrained, small, edge_text, ratio.note)
        claims.append(
            claim(
                "comparable-fid",
                f"best-{name} ratio {ratio.text()}, {len(seeds)} seed(s){_unbiased_readings(best, cunet, unet)}",
                verdict,
                f"ratio of the seed means, seed-level interval within {COMPARABLE}; a best at the grid's "
                "edge leaves the best distance unknown",
                reason,
                f" ({name}){flavour}",
                runs,
                Effect(ratio, f"best-{name} ratio", COMPARABLE, _paper_fid_ratio(names[cunet], names[unet]), True),
                undertrained,
            )
        )
        text = "; ".join(f"seed {s}: {steps[cunet][s]} vs {steps[unet][s]}" for s in seeds) + f" (grid {grid})"
        fewer = [steps[cunet][s] < steps[unet][s] for s in seeds]
        more = [steps[cunet][s] > steps[unet][s] for s in seeds]
        rule_verdict = REPRODUCED if all(fewer) else NOT_REPRODUCED if all(more) else INCONCLUSIVE
        verdict, reason = _gated(rule_verdict, undertrained, small, edge_text)
        claims.append(
            claim(
                "fewer-sampling-steps",
                text,
                verdict,
                "fewer steps in every seed, neither best at the grid's edge",
                reason,
                flavour,
                runs,
                gate=undertrained,
            )
        )
    return claims


def _ablations(
    best: pd.DataFrame, replicates: pd.DataFrame, gate: Convergence, small: list[str], runs: tuple[str, ...], name: str
) -> Claim:
    """Appendix C: the cU-Net without attention or without residuals gives worse samples (a
    larger best distance) than the cU-Net."""
    cunet = tagged(best, "paper-cunet")
    ablated = [m for m in tagged(best, "table5") if m not in cunet and " wo/" in paper_name(best, m)]
    if not cunet or not ablated:
        return unmeasured("ablations", f"no sample-quality run of the ablations ({ABLATION_COMMAND})")
    intervals = {m: _ratio(best, replicates, m, cunet[0]) for m in ablated}
    verdicts = [verdict_above(interval, 1.0) for interval in intervals.values()]
    overall = (
        REPRODUCED
        if all(v == REPRODUCED for v in verdicts)
        else NOT_REPRODUCED
        if NOT_REPRODUCED in verdicts
        else INCONCLUSIVE
    )
    held = gate.undertrained([cunet[0], *ablated], metric="distance")
    verdict, reason = _gated(overall, held, small, uncovered_by=uncovered(intervals.values()))
    ours = "; ".join(f"{paper_name(best, m)} / cU-Net {i.text()}" for m, i in intervals.items())
    return claim(
        "ablations",
        f"best-{name} ratios {ours}",
        verdict,
        "every ablation's ratio to the cU-Net above 1",
        reason,
        runs=runs,
        gate=held,
    )


def _points_table(points: pd.DataFrame, name: str, kernel: str) -> list[dict[str, Any]]:
    return [
        {
            "model": r.model,
            "seed": int(r.train_seed) if not pd.isna(r.train_seed) else 0,
            "steps": int(r.sampling_steps),
            f"{name} [95% CI]": Interval(r.distance, r.distance_ci_low, r.distance_ci_high).text(),
            "bootstrap bias": r.bootstrap_bias,
            kernel: r.kid_mean,
            "N": r.samples,
            "confidently classified": r.confident_fraction,
            "classes": r.confident_classes,
            "class entropy": getattr(r, "class_entropy", None),
            "s/sample (batch)": r.seconds_per_sample,
            "busy machine": r.contended,
        }
        for r in points.sort_values(["model", "train_seed", "sampling_steps"]).itertuples()
    ]


def _best_table(
    best: pd.DataFrame,
    replicates: pd.DataFrame,
    labels: dict[str, str],
    name: str,
    gate: Convergence,
    baseline: str | None,
) -> list[dict[str, Any]]:
    """Every backbone of the run by role, with its best distance's ratio to ``baseline`` (seed
    level; a comparison outside the paper's claims)."""
    table = []
    for model, label in labels.items():
        mine = best[best.model == model]
        paper = paper_name(best, model)
        entry = {
            "model": label,
            "role": role(best, model),
            "best steps per seed": ", ".join(map(str, mine.sampling_steps.astype(int))),
            f"best {name} (mean over seeds)": float(mine.distance.mean()),
        }
        if baseline is not None:
            ratio = None if model == baseline else _ratio(best, replicates, model, baseline)
            entry[f"{name} × {baseline} [95% CI]"] = ratio.text() if ratio is not None else "—"
        table.append(
            {
                **entry,
                "paper FID (MNIST)": paper_value("Table 1", paper, "fid", "MNIST"),
                "paper steps (MNIST)": paper_value("Table 1", paper, "best_steps", "MNIST"),
                "confidently classified at best": gate.shares.get(model, float(mine.confident_fraction.mean())),
                "real test images": gate.real,
            }
        )
    return table


def fid_section(results: Results, figures_dir: Path) -> Section:
    section = Section("fid", "Sample quality versus sampling steps (Table 1, Appendix C)")
    rows = results.latest_run("fid", lambda r: _roles(r[r.kind == "best"]) is not None)
    if rows.empty:
        section.claims += [
            unmeasured(key, "no FID run with the paper's pair (bench fid --preset quick)") for key in KEYS
        ]
        return missing(section, "FID/KID versus sampling steps", "bench fid --preset quick")
    run = str(rows.run_id.iloc[0])
    section.runs.append(results.provenance_line("fid", run))
    points, best, replicates = (rows[rows.kind == kind] for kind in ("point", "best", "best_replicate"))
    unet, candidates = _roles(best)
    name, kernel = str(points.distance_name.iloc[0]), str(points.kernel_name.iloc[0])
    samples, grid = int(points.samples.iloc[0]), sorted(int(s) for s in points.sampling_steps.unique())
    small = too_small(generated_samples=samples)
    gate = convergence(results)
    measured = list(dict.fromkeys([unet, *candidates, *best.model]))
    names = {m: paper_name(rows, m) for m in measured}
    labels = {
        m: f"{names[m]} (`{m}`, {int(rows[rows.model == m].parameters.dropna().iloc[0]):,} trainable parameters)"
        for m in measured
    }
    caveat = (
        ""
        if name == "FID"
        else f" **{name} is not FID**: without the Inception weights the distances are taken "
        "in the features of a classifier trained on the dataset's labels; they rank models but cannot be compared "
        "with the paper's FID values."
    )
    section.body += [
        f"N = {samples} samples per point (the paper: 30,000), {points.sampler.iloc[0]} sampler, reference: "
        f"{int(points.reference_count.iloc[0])} training images, features `{points.features.iloc[0]}`; training seeds "
        f"{', '.join(map(str, sorted(set(_seeds(best)))))}; models: {'; '.join(labels.values())}.{caveat} "
        "Point intervals: "
        f"basic bootstrap over generated samples; ratios: seed level (How to read).",
        f"**Recognisability** (the gate of every quality verdict): the share of samples the dataset's classifier gives "
        f"one class a probability ≥ 0.9, at each model's best step count, against real test images; "
        f"{gate.aim_text()}.",
        markdown_table(_best_table(best, replicates, labels, name, gate, results.baseline_of(best))),
        f"Every point ({kernel}: an unbiased estimator, so values near 0 can be negative):",
        markdown_table(_points_table(points, name, kernel)),
    ]
    figures.fid_versus_steps(
        points,
        {m: paper_value("Table 1", names[m], "best_steps", "MNIST") for m in [unet, candidates[0]]},
        name,
        figures_dir / "fid_steps.png",
        names,
        figures.role_colours(results.model_tags()),
    )
    section.body.append(
        "![Distance versus steps](figures/fid_steps.png)  \nLines: mean over training seeds; points: each "
        "seed's distance with its 95% bootstrap interval over its own samples (within one seed: the "
        "verdicts' intervals are over seeds, in the claim rows); ticks at every step count tried; "
        "dashed: the paper's best step counts on MNIST."
    )
    runs = (run,)
    section.claims += _claims(best, replicates, unet, candidates, grid, gate, small, names, runs, name)
    section.claims.append(_ablations(best, replicates, gate, small, runs, name))
    return section
