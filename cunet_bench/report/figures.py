"""The report's matplotlib figures: labelled axes with units, legends, paper values marked,
and byte-identical PNGs for the same results (Agg backend, no timestamp metadata). Colours follow
a model's role, read from the registry tags its rows record (the paper's U-Net blue, the paper's
cU-Net orange, others from a fixed palette in order), never from its name."""

from __future__ import annotations

import contextvars
import functools
import io
import math
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from cunet_bench.files import create_file  # noqa: E402
from cunet_bench.report.verdicts import (  # noqa: E402
    BY_CONSTRUCTION,
    DEPENDS,
    EDGE,
    NOT_REPRODUCED,
    REPRODUCED,
    UNSTABLE,
)

ROLE_COLOURS = {"paper-unet": "tab:blue", "paper-cunet": "tab:orange"}
PALETTE = ("tab:olive", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:cyan")
NOISY = "tab:gray"
STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "svg.hashsalt": "cunet-bench",
}


_DRAWING = contextvars.ContextVar("drawing", default=True)
Drawing = TypeVar("Drawing", bound=Callable[..., Path | None])


@contextmanager
def not_drawn() -> Iterator[None]:
    """Figures are skipped inside: where only the claims are wanted (``bench compare``, the
    reference beside a run) drawing would be most of the time spent."""
    token = _DRAWING.set(False)
    try:
        yield
    finally:
        _DRAWING.reset(token)


def _figure(draw: Drawing) -> Drawing:
    @functools.wraps(draw)
    def drawn_unless_skipped(*args, **kwargs):
        return draw(*args, **kwargs) if _DRAWING.get() else None

    return drawn_unless_skipped  # type: ignore[return-value]


def role_colours(rows: pd.DataFrame, column: str = "model") -> dict[str, str]:
    """Model (or method) → colour, from the tags its rows record: the paper's pair by role, the
    others from :data:`PALETTE` in the order of ``rows`` (``Results.model_tags``, the same for every
    figure of a report, so a model keeps its colour across figures)."""
    colours: dict[str, str] = {"noisy input": NOISY}
    others = iter(PALETTE * 4)
    for name, tags in rows[[column, "tags"]].drop_duplicates(column).itertuples(index=False):
        role = next((ROLE_COLOURS[tag] for tag in str(tags).split(";") if tag in ROLE_COLOURS), None)
        colours.setdefault(str(name), role or next(others))
    return colours


def _colour(colours: dict[str, str], name: str) -> str:
    return colours.get(name.split("[")[0], colours.get(name, "black"))


def _save(figure: plt.Figure, path: Path, rect: tuple[float, float, float, float] | None = None) -> Path:
    figure.tight_layout(rect=rect)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    create_file(path, buffer.getvalue())
    plt.close(figure)
    return path


@_figure
def efficiency_bars(table: pd.DataFrame, path: Path, colours: dict[str, str]) -> Path:
    """Table 5 / Figure 6: parameters, GMACs and static training memory per model; the paper's
    values as black crosses. ``table``: model, label, metric, measured, paper."""
    metrics = [
        ("parameters", "parameters (millions)", 1e-6),
        ("gmacs_conv_linear", "GMAC at 1×3×64×64", 1.0),
        ("static_training_mib", "static training memory (MiB)", 1.0),
    ]
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(1, 3, figsize=(12, 3.6))
        for axis, (metric, label, scale) in zip(axes, metrics):
            rows = table[table.metric == metric]
            positions = range(len(rows))
            axis.bar(
                positions, rows.measured * scale, color=[_colour(colours, m) for m in rows.model], label="measured"
            )
            axis.scatter(positions, rows.paper * scale, marker="x", color="black", zorder=3, label="paper")
            axis.set_xticks(list(positions), rows.label, rotation=30, ha="right")
            axis.set_ylabel(label)
            axis.legend()
        return _save(figure, path)


@_figure
def latency_by_batch(latency: pd.DataFrame, path: Path, colours: dict[str, str], models: str) -> Path:
    """Median latency per forward pass at each measured batch size, points only (nothing is
    drawn between the sizes), with the interquartile range over timing rounds; legend in the
    paper's names; the title names the resolution and how wide the bars are at most (often
    narrower than a marker); ``models`` names which widths were timed. ``latency``: model, label,
    batch, resolution, median_s, q1_s, q3_s."""
    with plt.rc_context(STYLE):
        figure, axis = plt.subplots(figsize=(5.5, 3.8))
        for model, rows in latency.groupby("model", sort=True):
            rows = rows.sort_values("batch")
            axis.errorbar(
                rows.batch,
                rows.median_s,
                yerr=[rows.median_s - rows.q1_s, rows.q3_s - rows.median_s],
                marker="_",
                markersize=14,
                linestyle="none",
                elinewidth=2.5,
                capsize=6,
                color=_colour(colours, model),
                label=rows.label.iloc[0],
            )
        resolution = int(latency.resolution.iloc[0])
        spread = float(((latency.q3_s - latency.q1_s) / latency.median_s).max())
        axis.set_title(
            f"{models} at {resolution}×{resolution}\nbars: interquartile range over rounds "
            f"(at most {spread:.1%} of the median)",
            fontsize=8,
        )
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.set_xticks(sorted(latency.batch.unique()), [str(b) for b in sorted(latency.batch.unique())])
        axis.set_xlabel("batch size (images)")
        axis.set_ylabel("latency per forward pass (s)")
        axis.legend()
        return _save(figure, path)


@_figure
def fid_versus_steps(
    points: pd.DataFrame,
    paper_best_steps: dict[str, float | None],
    distance_name: str,
    path: Path,
    labels: dict[str, str],
    colours: dict[str, str],
) -> Path:
    """Table 1 as a curve: each training seed's distance with its 95% bootstrap interval over
    samples (points; within one seed — not the verdict's interval, which is over seeds), the mean
    over seeds (line), a tick at every step count tried, the paper's best step counts (MNIST) as
    dashed lines."""
    grid = sorted(int(s) for s in points.sampling_steps.unique())
    with plt.rc_context(STYLE):
        figure, axis = plt.subplots(figsize=(6, 3.8))
        for model, rows in points.groupby("model", sort=True):
            colour = _colour(colours, model)
            mean = rows.groupby("sampling_steps").distance.mean()
            axis.plot(mean.index, mean.values, color=colour, label=labels.get(model, model))
            offset = np.linspace(-0.04, 0.04, max(1, rows.train_seed.nunique()))
            for shift, (_, seed) in zip(offset, rows.groupby(rows.train_seed.fillna(0), sort=True)):
                seed = seed.sort_values("sampling_steps")
                axis.errorbar(
                    seed.sampling_steps * (1 + shift),
                    seed.distance,
                    yerr=[seed.distance - seed.distance_ci_low, seed.distance_ci_high - seed.distance],
                    marker="o",
                    markersize=3,
                    linestyle="none",
                    capsize=2,
                    color=colour,
                    alpha=0.7,
                )
            if paper_best_steps.get(model):
                axis.axvline(
                    paper_best_steps[model],
                    color=colour,
                    linestyle="--",
                    linewidth=1,
                    label=f"paper's best steps, {labels.get(model, model)} (MNIST)",
                )
        axis.set_xscale("log")
        axis.set_xticks(grid, [str(s) for s in grid])
        axis.minorticks_off()
        axis.set_xlabel("sampling steps")
        axis.set_ylabel(f"{distance_name} (lower is better)")
        axis.set_title("bars: each seed's bootstrap interval over its samples (within-seed)", fontsize=8)
        axis.legend(fontsize=7)
        return _save(figure, path)


@_figure
def denoising_curves(
    curves: pd.DataFrame, metric: str, ylabel: str, path: Path, labels: dict[str, str], colours: dict[str, str]
) -> Path:
    """Figures 10–11: the metric against reverse step, one panel per noise level, averaged over
    test images and training seeds; the iterate dashed, the x0 estimate solid; a band spans the
    training seeds' own curves (their lowest to highest mean)."""
    curves = (
        curves[curves.metric == metric]
        .groupby(["noise_step", "method", "target", "step"], as_index=False)["mean"]
        .agg(mean="mean", low="min", high="max")
    )
    levels = sorted(curves.noise_step.unique())
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(1, len(levels), figsize=(4 * len(levels), 3.4), squeeze=False)
        for axis, level in zip(axes[0], levels):
            for (method, target), rows in curves[curves.noise_step == level].groupby(["method", "target"], sort=True):
                colour = _colour(colours, method)
                axis.plot(
                    rows.step,
                    rows["mean"],
                    color=colour,
                    linestyle="-" if target == "x0" else "--",
                    label=f"{labels.get(method, method)} ({'x0 estimate' if target == 'x0' else 'iterate'})",
                )
                axis.fill_between(rows.step, rows.low, rows.high, color=colour, alpha=0.15, linewidth=0)
            axis.set_title(f"noise step {level:g}")
            axis.set_xlabel("reverse step (from the noisy image)")
            axis.set_ylabel(ylabel)
        axes[0][0].legend(fontsize=7)
        return _save(figure, path)


@_figure
def perception_distortion(
    points: pd.DataFrame,
    perception: str,
    perception_label: str,
    path: Path,
    labels: dict[str, str],
    colours: dict[str, str],
    log_scale: bool = True,
) -> Path:
    """Blau & Michaeli's plane: distortion (1 − SSIM) against perception, one point per method,
    level and seed; the method by colour (its role's, as in every figure), the noise level by
    marker, the legend drawing each method in its own colour and each level as a hollow black
    marker (grey is the noisy input's colour). A Fréchet
    distance is shown on a log axis (one far-off method cannot squash the others); KID, which can
    be negative, on a linear one."""
    levels = sorted(points.noise_step.unique())
    markers = dict(zip(levels, "o^sDv*"))
    with plt.rc_context(STYLE):
        figure, axis = plt.subplots(figsize=(6.5, 4.2))
        for (method, level), rows in points.groupby(["method", "noise_step"], sort=True):
            axis.scatter(
                1 - rows.ssim_final,
                rows[perception].clip(lower=1e-6) if log_scale else rows[perception],
                color=_colour(colours, method),
                marker=markers[level],
                s=36,
                alpha=0.85,
            )
        for method in sorted(points.method.unique()):
            axis.scatter([], [], color=_colour(colours, method), marker="o", label=labels.get(method, method))
        for level, marker in markers.items():
            axis.scatter([], [], facecolors="none", edgecolors="black", marker=marker, label=f"noise step {level:g}")
        if log_scale:
            axis.set_yscale("log")
        axis.set_xlabel("distortion: 1 − SSIM of the final output")
        axis.set_ylabel(perception_label)
        axis.set_title(
            "lower left is better; the paper's account: cU-Net lower (perception), U-Net left (distortion)", fontsize=8
        )
        axis.legend(fontsize=7, ncol=2)
        return _save(figure, path)


@_figure
def training_curves(log: pd.DataFrame, path: Path, colours: dict[str, str]) -> Path:
    """Training loss against optimizer step, one panel per loss (diffusion MSE of each objective,
    denoising MSE, denoising cross-entropy — different quantities never share an axis); one line
    per model and training seed. ``log``: model, step, loss, loss_type, seed."""
    panels = sorted(log.loss_type.unique())
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
        for axis, loss_type in zip(axes[0], panels):
            labelled: set[str] = set()
            for (model, _seed), rows in log[log.loss_type == loss_type].groupby(
                ["model", "seed"], sort=True, dropna=False
            ):
                rows = rows.sort_values("step")
                axis.plot(
                    rows.step,
                    rows.loss,
                    color=_colour(colours, model),
                    alpha=0.8,
                    label=None if model in labelled else model,
                )
                labelled.add(model)
            axis.set_yscale("log")
            axis.set_xlabel("optimizer step")
            axis.set_ylabel(loss_type)
            axis.legend(fontsize=7)
        return _save(figure, path)


@_figure
def learning_curves(
    points: pd.DataFrame, path: Path, labels: dict[str, str], colours: dict[str, str], names: dict[str, str]
) -> Path:
    """Quality along training, per backbone: the mean over training seeds (line, a marker per
    rung) and the seeds' lowest to highest (band). First row: sample quality against images seen;
    second: the same against training CPU-seconds; then each denoising metric at each noise level
    against images seen. Axes in log scale (the rungs double); ``names`` names the metrics."""
    sample = [m for m in ("confident_fraction", "class_entropy", "kid_mean", "distance") if m in set(points.metric)]
    denoise = [m for m in ("ssim", "feature_distance") if m in set(points[points.level >= 0].metric)]
    levels = sorted(int(level) for level in points[points.level >= 0].level.unique())
    panels = [(m, -1, "images_seen") for m in sample] + [(m, -1, "train_cpu_seconds") for m in sample]
    rows = [sample, sample] if sample else []
    for metric in denoise:
        panels += [(metric, level, "images_seen") for level in levels]
        rows.append(levels)
    columns = max(len(row) for row in rows)
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(len(rows), columns, figsize=(3.2 * columns, 2.6 * len(rows)), squeeze=False)
        for axis in axes.flat:
            axis.set_visible(False)
        positions = [(r, c) for r, row in enumerate(rows) for c in range(len(row))]
        for (metric, level, x), (r, c) in zip(panels, positions):
            axis = axes[r][c]
            axis.set_visible(True)
            known = points[x].notna() & points.value.notna()
            chosen = points[(points.metric == metric) & (points.level == level) & known]
            if chosen.empty:  # a run that did not record its training CPU-seconds, or the metric
                axis.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=axis.transAxes)
                continue
            for model, part in chosen.groupby("model", sort=True):
                curve = part.groupby("rung_step").agg(
                    x=(x, "mean"), mean=("value", "mean"), low=("value", "min"), high=("value", "max")
                )
                colour = _colour(colours, model)
                axis.plot(
                    curve.x, curve["mean"], marker="o", markersize=3, color=colour, label=labels.get(model, model)
                )
                axis.fill_between(curve.x, curve.low, curve.high, color=colour, alpha=0.2, linewidth=0)
            _rung_ticks(axis, chosen[x])
            axis.set_xlabel("images seen" if x == "images_seen" else "training CPU-seconds")
            axis.set_ylabel(names.get(metric, metric) + (f", noise step {level}" if level >= 0 else ""))
        for row in axes:
            if row[0].get_legend_handles_labels()[0]:
                row[0].legend(fontsize=6)
        return _save(figure, path)


def rung_ticks(values: pd.Series, most: int = 5) -> np.ndarray:
    """The measured rungs a log axis labels: every k-th counted down from the top one, k the
    smallest stride that leaves at most ``most`` (an even stride keeps doubling rungs evenly
    spaced, where rounding an even spread would put two labels side by side)."""
    rungs = np.unique(values.astype(float).round(6))
    stride = max(1, math.ceil((len(rungs) - 1) / max(1, most - 1)))
    return rungs[::-1][::stride][::-1]


def _rung_ticks(axis: plt.Axes, values: pd.Series) -> None:
    """A log x axis ticked at some of the measured rungs (:func:`rung_ticks`), each labelled: a log
    axis within one decade would otherwise show no labelled tick at all."""
    axis.set_xscale("log")
    chosen = rung_ticks(values)
    axis.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    axis.set_xticks(chosen, [_compact(value) for value in chosen])


def _compact(value: float) -> str:
    """A tick label of at most about four characters: 900, 1.8k, 57.6k, 1.2M."""
    for limit, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


VERDICT_COLOURS = {
    REPRODUCED: "tab:green",
    BY_CONSTRUCTION: "tab:green",
    NOT_REPRODUCED: "tab:red",
    EDGE: "tab:purple",
    DEPENDS: "tab:brown",
    UNSTABLE: "tab:brown",
}
"""A claim's colour in the claims figure by its verdict; every other verdict (inconclusive, a
pipeline check, not measured) is grey."""
FLAVOUR_MARKERS = (("released", "o", 0.65), ("described", "s", 0.3))
"""How the claims figure tells the released cU-Net's row (circle, above) from the described one's."""


@_figure
def claims_forest(rows: list[tuple[str, list]], path: Path) -> Path:
    """The claims figure: one panel per claim, its own axis (a ratio on a log scale, a difference
    on a linear one), each cU-Net's effect with its 95% interval coloured by its verdict, the
    claim's thresholds as dashed lines and the paper's own value as a black cross. ``rows``:
    (title, [(flavour index, verdict, Effect), …]) in the paper's order."""
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(len(rows), 1, figsize=(9, 0.85 * len(rows) + 0.9), squeeze=False)
        for axis, (title, drawn) in zip(axes[:, 0], rows):
            _claim_panel(axis, title, drawn)
        by_colour: dict[str, list[str]] = {}
        for verdict, colour in VERDICT_COLOURS.items():
            by_colour.setdefault(colour, []).append(verdict)
        handles = [
            plt.Line2D([], [], color=colour, marker="o", linestyle="-", label=", ".join(verdicts))
            for colour, verdicts in by_colour.items()
        ]
        handles += [
            plt.Line2D([], [], color="tab:gray", marker="o", linestyle="-", label="inconclusive, not measured"),
            plt.Line2D([], [], color="black", marker="o", linestyle="", label="released cU-Net (upper)"),
            plt.Line2D([], [], color="black", marker="s", linestyle="", label="described cU-Net (lower)"),
            plt.Line2D([], [], color="black", marker="x", linestyle="", label="the paper's value"),
            plt.Line2D([], [], color="black", linestyle="--", label="the claim's threshold"),
        ]
        figure.legend(handles=handles, loc="lower center", ncol=4, fontsize=7, frameon=False)
        return _save(figure, path, rect=(0, 0.9 / (0.85 * len(rows) + 0.9), 1, 1))


def _claim_panel(axis: plt.Axes, title: str, drawn: list) -> None:
    """One claim's panel: its effects, thresholds and the paper's value, on the effect's scale."""
    values: list[float] = []
    for index, verdict, effect in drawn:
        _, marker, height = FLAVOUR_MARKERS[index]
        interval = effect.interval
        colour = VERDICT_COLOURS.get(verdict, "tab:gray")
        finite = [v for v in (interval.low, interval.high) if np.isfinite(v)]
        if len(finite) == 2 and interval.low != interval.high:
            axis.hlines(height, interval.low, interval.high, color=colour, linewidth=2)
        axis.scatter([interval.estimate], [height], color=colour, marker=marker, zorder=3)
        if effect.paper is not None:
            axis.scatter([effect.paper], [height], color="black", marker="x", zorder=4)
            values.append(effect.paper)
        for threshold in effect.thresholds:
            axis.axvline(threshold, color="black", linestyle="--", linewidth=0.8)
        values += [interval.estimate, *finite, *effect.thresholds]
    effect = drawn[0][2]
    low, high = min(values), max(values)
    if effect.ratio and low > 0:
        spread = max(high / low, 1.05) ** 0.1
        axis.set_xscale("log")
        axis.set_xlim(low / spread, high * spread)
        ticks = np.geomspace(low / spread, high * spread, 6)[1:-1]
        axis.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        digits = next(d for d in range(2, 8) if len({f"{tick:.{d}g}" for tick in ticks}) == len(ticks))
        axis.set_xticks(ticks, [f"{tick:.{digits}g}" for tick in ticks])
    else:
        margin = (high - low) * 0.08 or abs(high) * 0.1 or 0.1
        axis.set_xlim(low - margin, high + margin)
    axis.set_ylim(0, 1)
    axis.set_yticks([])
    axis.set_title(f"{title} — {effect.label}", loc="left", fontsize=8)
