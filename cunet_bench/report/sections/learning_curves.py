"""The report's learning-curve section: each backbone's quality along its training (per rung of
its checkpoints' ladder, seeds as bands), how far each metric still moved over the last doubling
(the evidence of the convergence gate), and the equal-compute comparisons, which are our own rows
rather than the paper's claims and are decidable at any budget: the pair's recognisability at
equal training CPU-seconds and the training each backbone needs to reach stated recognisability."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from cunet_bench.numbers import number
from cunet_bench.report import figures
from cunet_bench.report.convergence import convergence
from cunet_bench.report.curves import DENOISE_METRICS, REACH, SAMPLE_METRICS, Curves, cost_to_reach, equal_budget
from cunet_bench.report.markdown import Section, markdown_table, missing
from cunet_bench.report.plateau import AT_TOLERANCE, DECIDE_PROBABILITY, MOST_SEEDS, TOLERANCES, Doubling
from cunet_bench.report.results import Results, paper_name, tagged
from cunet_bench.report.verdicts import INCONCLUSIVE, Interval

METRIC_NAMES = {**SAMPLE_METRICS, **DENOISE_METRICS}
DIVERSE = 0.8
"""The class-histogram entropy below which a rung's samples do not count as reaching a
recognisability level (real MNIST test images: about 1.0; one class drawn: 0)."""
COMMAND = "bench train --rungs 4, then bench fid --curves and bench denoise --curves"


def curves_section(results: Results, figures_dir: Path) -> Section:
    section = Section("learning-curves", "Learning curves and equal-compute comparisons")
    gate = convergence(results)
    fid = results.runs("fid")
    section.body.append(gate.state({m: paper_name(fid, m) for m in gate.shares}))
    curves = gate.curves
    if curves is None or curves.empty:
        return missing(section, "learning curves", COMMAND)
    for run in curves.runs:
        section.runs.append(results.provenance_line("fid" if run in results.provenance("fid") else "denoise", run))
    rows = fid[fid.run_id.astype(str).isin(curves.runs)]
    described = _described(results, rows)
    labels = {m: paper_name(described, m) for m in curves.points.model.unique()}
    section.body += [
        "Each training run kept checkpoints on a doubling ladder (its rungs: the steps below, each double the one "
        f"before); every rung was measured as the final checkpoint is ({_measured_at(curves, rows)}). Values are "
        "means over training seeds, [lowest, highest] seed in brackets. Rows carry the images seen and the training "
        "CPU-seconds (process time of the training steps).",
        markdown_table(_table(curves, labels)),
        "Change over the last doubling (the convergence gate's evidence; the plateau rule and its tolerances are in "
        "How to read). A change at the tolerance is one the seeds do not resolve: its last column says how many "
        f"training seeds would decide it with a {DECIDE_PROBABILITY:.0%} chance, and which way, if the true change and "
        "the spread between seeds were as measured (a noncentral t; the number at which the interval's expected "
        "half-width just fits decides only about half the time).",
        markdown_table(_doublings(curves, labels)),
        "Change over every step of the ladder (the curve the stop rule reads: the mean change over training seeds "
        "from each rung to the next; a distance as a percentage). A change within its tolerance is marked ·.",
        markdown_table(_every_step(curves, labels)),
    ]
    if not rows.empty:
        section.body += _equal_compute(curves, rows, labels)
    colours = figures.role_colours(results.model_tags())
    drawn = figures.learning_curves(curves.points, figures_dir / "learning_curves.png", labels, colours, METRIC_NAMES)
    if drawn is not None:
        section.body.append(
            f"![learning curves](figures/{drawn.name})  \nEach panel: one metric along training, a marker per rung "
            "(log axis: the rungs double), the line the mean over training seeds and the band the lowest to the "
            "highest seed. Rows: sample quality against images seen; the same against training CPU-seconds; then "
            "each denoising metric at each noise level against images seen. Colours: one per model in every figure."
        )
    return section


def _measured_at(curves: Curves, fid: pd.DataFrame) -> str:
    """Where on the sampling and noise axes, and at which rungs, the curves were measured, as
    their rows record it."""
    rungs = fid[fid.kind == "rung"]
    steps = ", ".join(str(int(s)) for s in sorted(rungs.sampling_steps.dropna().unique()))
    counts = " or ".join(f"{int(n):,}" for n in sorted(rungs.samples.dropna().unique()))
    sampled = f"{counts} samples per rung at {steps} sampling steps" if steps else "no samples"
    denoised = curves.points[curves.points.level >= 0]
    if denoised.empty:
        return f"{sampled}; no denoising"
    levels = ", ".join(str(int(level)) for level in sorted(denoised.level.unique()))
    kept = ", ".join(f"{int(step):,}" for step in sorted(denoised.rung_step.unique()))
    return f"{sampled}; denoising at noise steps {levels}, at the rungs of steps {kept}"


def _described(results: Results, fid: pd.DataFrame) -> pd.DataFrame:
    """Model, paper name and tags of every model on a curve: the fid run's backbones and the
    denoise run's methods (the learned baselines are on its curves only)."""
    denoise = results.latest_run("denoise", lambda frame: "rung" in set(frame.kind))
    methods = denoise[denoise.kind == "method"].rename(columns={"method": "model"}) if len(denoise) else fid
    columns = ["model", "paper_name", "tags"]
    return pd.concat([fid[columns] if len(fid) else fid.reindex(columns=columns), methods[columns]], ignore_index=True)


def _band(values: pd.Series) -> str:
    if values.isna().all():
        return "—"
    if len(values) == 1:
        return number(float(values.iloc[0]), 3)
    return f"{values.mean():.3g} [{values.min():.3g}, {values.max():.3g}]"


def _table(curves: Curves, labels: dict[str, str]) -> list[dict[str, str]]:
    table = []
    points = curves.points
    for (model, step), rung in points.groupby(["model", "rung_step"], sort=True):
        row = {
            "model": labels.get(model, model),
            "steps": f"{int(step):,}",
            "images seen": number(float(rung.images_seen.iloc[0])),
            "CPU-s": number(float(rung.train_cpu_seconds.mean()), 4),
        }
        for metric, name in SAMPLE_METRICS.items():
            values = rung[(rung.metric == metric) & (rung.level == -1)].value
            if len(values):
                row[name] = _band(values)
        for metric in ("ssim", "feature_distance"):
            for level, part in rung[(rung.metric == metric) & (rung.level >= 0)].groupby("level", sort=True):
                row[f"{DENOISE_METRICS[metric]}, noise step {int(level)}"] = _band(part.value)
        table.append(row)
    return table


def _doublings(curves: Curves, labels: dict[str, str]) -> list[dict[str, str]]:
    table = []
    for model, metric, level in curves.keys():
        doubling = curves.doubling(model, metric, level)
        if doubling is not None:
            table.append(
                {
                    "model": labels.get(model, model),
                    "metric": METRIC_NAMES[metric] + (f" at noise step {level}" if level >= 0 else ""),
                    "seeds": str(doubling.seeds),
                    "last doubling": doubling.text(),
                    f"seeds for a {DECIDE_PROBABILITY:.0%} chance to decide": _seeds_to_decide(doubling),
                }
            )
    return table


def _every_step(curves: Curves, labels: dict[str, str]) -> list[dict[str, str]]:
    """One row per model and curve, one column per step of the ladder: the estimated change, marked
    when within its tolerance; a step a model's ladder does not have reads —."""
    changes: list[tuple[str, str, dict[tuple[int, int], str]]] = []
    for model, metric, level in curves.keys():
        doublings = curves.doublings(model, metric, level)
        if doublings:
            name = METRIC_NAMES[metric] + (f" at {level}" if level >= 0 else "")
            name += " (dB)" if TOLERANCES[metric].unit == "dB" else ""
            shown = {
                (d.below, d.top): d.estimate_text() + ("" if d.estimate_beyond_tolerance else " ·") for d in doublings
            }
            changes.append((labels.get(model, model), name, shown))
    steps = sorted({step for _, _, shown in changes for step in shown})
    return [
        {
            "model": model,
            "metric": metric,
            **{f"{low:,} → {high:,}": shown.get((low, high), "—") for low, high in steps},
        }
        for model, metric, shown in changes
    ]


def _seeds_to_decide(doubling: Doubling) -> str:
    if doubling.state != AT_TOLERANCE:
        return "—"
    seeds = doubling.seeds_to_decide()
    if seeds is None:
        return "none (the estimate is on the tolerance)"
    reading = "still moving" if doubling.estimate_beyond_tolerance else "plateaued"
    return f"> {MOST_SEEDS}" if seeds > MOST_SEEDS else f"{seeds} (to read {reading})"


def _equal_compute(curves: Curves, rows: pd.DataFrame, labels: dict[str, str]) -> list[str]:
    unet = tagged(rows, "paper-unet")
    release = tagged(rows, "paper-cunet")
    candidates = release + [m for m in tagged(rows, "quality") if m not in unet + release]  # both cU-Nets
    if not unet or not release:
        return []
    lines = [
        "**Equal compute** (our comparison, not a claim of the paper): each cU-Net against the U-Net at the largest "
        "training CPU-seconds every seed's curve of both reaches (each seed's curve interpolated linearly in log "
        "CPU-seconds between its rungs; never extrapolated), seed-level interval; the side the whole interval lies on "
        "decides.",
    ]
    table = []
    for cunet in candidates:
        for metric, better_high in (
            ("confident_fraction", True),
            ("class_entropy", True),
            ("kid_mean", False),
            ("distance", False),
        ):
            compared = equal_budget(curves, cunet, unet[0], metric)
            if compared is None:
                continue
            budget, difference = compared
            table.append(
                {
                    "comparison": f"{labels.get(cunet, cunet)} − {labels.get(unet[0], unet[0])}",
                    "metric": SAMPLE_METRICS[metric],
                    "at CPU-s": number(budget, 4),
                    "difference [95% CI]": difference.text(),
                    "reads": _reading(difference, better_high, labels.get(cunet, cunet)),
                }
            )
    lines.append(markdown_table(table))
    lines.append(
        "Training needed to reach a recognisability level (interpolated between rungs; '≤' where the lowest rung "
        "already reaches it): the median over every training seed, a seed that never reaches the level counting as "
        "beyond its last rung — so a level that fewer than half the seeds reach reads '>' their last rung, never "
        f"the cost of the few that did; a rung whose class entropy is below {DIVERSE:g} counts as not reaching it:"
    )
    lines.append(markdown_table(_reach(curves, [unet[0], *candidates], labels)))
    return lines


def _reading(difference: Interval, better_high: bool, cunet: str) -> str:
    """Which backbone the whole interval favours, or inconclusive."""
    if difference.note:
        return f"{INCONCLUSIVE} ({difference.note})"
    if difference.low <= 0 <= difference.high:
        return f"{INCONCLUSIVE} (the interval holds 0)"
    return f"{cunet} {'better' if (difference.low > 0) == better_high else 'worse'} at equal CPU-seconds"


def _recognisable(curves: Curves, model: str) -> pd.DataFrame:
    """A model's recognisability curve, with 0 at every rung whose samples are dominated by a few
    classes (class-histogram entropy below :data:`DIVERSE`): confidently drawn ones are not digits."""
    rows = curves.of(model, "confident_fraction")
    entropy = curves.of(model, "class_entropy").set_index(["train_seed", "rung_step"]).value
    narrow = [entropy.get((seed, step), 1.0) < DIVERSE for seed, step in zip(rows.train_seed, rows.rung_step)]
    return rows.assign(value=rows.value.where(~pd.Series(narrow, index=rows.index), 0.0))


def _median_cost(reached: dict[int, float | None], axis: pd.Series) -> str:
    """The median cost over every seed, a seed that never reached the level counting as beyond its
    last rung (censored, not dropped: averaging the seeds that reached it favours the lucky)."""
    values = [math.inf if value is None else value for value in reached.values()]
    count = sum(value is not None for value in reached.values())
    median = float(np.median(values))
    if math.isinf(median):
        shown = f"> {number(float(axis.max()), 3)}"
    else:
        shown = ("≤ " if median == axis.min() else "") + number(median, 3)
    return f"{shown} ({count}/{len(values)} seeds)"


def _reach(curves: Curves, models: list[str], labels: dict[str, str]) -> list[dict[str, str]]:
    table = []
    for model in models:
        rows = _recognisable(curves, model)
        if rows.empty:
            continue
        row = {"model": labels.get(model, model)}
        for level in REACH:
            for axis, name in (("train_cpu_seconds", "CPU-s"), ("images_seen", "images")):
                reached = cost_to_reach(rows, level, axis)
                row[f"{level:.0%}: {name}"] = _median_cost(reached, rows[axis])
        table.append(row)
    return table
