"""The report's matplotlib figures: labelled axes with units, legends, paper values marked,
and byte-identical PNGs for the same results (Agg backend, no timestamp metadata)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from cunet_bench.files import atomic_replace  # noqa: E402

COLOURS = {"unet": "tab:blue", "cunet": "tab:olive", "cunet-release": "tab:orange", "dncnn": "tab:green",
           "conv-ae": "tab:red", "bm3d": "tab:purple", "noisy input": "tab:gray"}
STYLE = {"figure.dpi": 100, "savefig.dpi": 100, "font.size": 9, "axes.grid": True, "grid.alpha": 0.3,
         "svg.hashsalt": "cunet-bench"}


def _colour(name: str) -> str:
    return COLOURS.get(name.split("[")[0], "tab:brown")


def _save(figure: plt.Figure, path: Path) -> Path:
    figure.tight_layout()
    atomic_replace(path, lambda temporary: figure.savefig(temporary, format="png", metadata={"Software": None}))
    plt.close(figure)
    return path


def efficiency_bars(table: pd.DataFrame, path: Path) -> Path:
    """Table 5 / Figure 6: parameters, GMACs and static training memory per model; the paper's
    values as black crosses. ``table``: model, label, metric, measured, paper."""
    metrics = [("parameters", "parameters (millions)", 1e-6), ("gmacs_conv_linear", "GMAC at 1×3×64×64", 1.0),
               ("static_training_mib", "static training memory (MiB)", 1.0)]
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(1, 3, figsize=(12, 3.6))
        for axis, (metric, label, scale) in zip(axes, metrics):
            rows = table[table.metric == metric]
            positions = range(len(rows))
            axis.bar(positions, rows.measured * scale, color=[_colour(m) for m in rows.model], label="measured")
            paper = rows.paper * scale
            axis.scatter(positions, paper, marker="x", color="black", zorder=3, label="paper")
            axis.set_xticks(list(positions), rows.label, rotation=30, ha="right")
            axis.set_ylabel(label)
            axis.legend()
        return _save(figure, path)


def latency_by_batch(latency: pd.DataFrame, path: Path) -> Path:
    """Median latency per forward pass at each measured batch size, points only (nothing is
    drawn between the sizes), with the interquartile range over timing rounds; legend in the
    paper's names. ``latency``: model, label, batch, median_s, q1_s, q3_s."""
    with plt.rc_context(STYLE):
        figure, axis = plt.subplots(figsize=(5.5, 3.6))
        for model, rows in latency.groupby("model", sort=True):
            rows = rows.sort_values("batch")
            axis.errorbar(rows.batch, rows.median_s, yerr=[rows.median_s - rows.q1_s, rows.q3_s - rows.median_s],
                          marker="o", linestyle="none", capsize=3, color=_colour(model), label=rows.label.iloc[0])
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.set_xticks(sorted(latency.batch.unique()), [str(b) for b in sorted(latency.batch.unique())])
        axis.set_xlabel("batch size (images)")
        axis.set_ylabel("latency per forward pass (s)")
        axis.legend()
        return _save(figure, path)


def fid_versus_steps(points: pd.DataFrame, paper_best_steps: dict[str, float], distance_name: str, path: Path,
                     labels: dict[str, str] | None = None) -> Path:
    """Table 1 as a curve: distance against sampling steps with 95% bootstrap intervals; the
    paper's best step counts (MNIST) as dashed lines."""
    with plt.rc_context(STYLE):
        figure, axis = plt.subplots(figsize=(5.5, 3.6))
        for model, rows in points.groupby("model", sort=True):
            rows = rows.sort_values("steps")
            axis.errorbar(rows.steps, rows.distance, yerr=[rows.distance - rows.distance_ci_low,
                                                           rows.distance_ci_high - rows.distance],
                          marker="o", capsize=3, color=_colour(model), label=(labels or {}).get(model, model))
            if model in paper_best_steps:
                axis.axvline(paper_best_steps[model], color=_colour(model), linestyle="--", linewidth=1,
                             label=f"paper's best steps, {(labels or {}).get(model, model)} (MNIST)")
        axis.set_xscale("log")
        axis.set_xlabel("sampling steps")
        axis.set_ylabel(f"{distance_name} (lower is better)")
        axis.legend()
        return _save(figure, path)


def denoising_curves(curves: pd.DataFrame, metric: str, ylabel: str, path: Path,
                     labels: dict[str, str] | None = None) -> Path:
    """Figures 10–11: the metric against reverse step, one panel per noise level, averaged over
    test images and training seeds; x0 estimate solid, iterate dashed."""
    curves = curves[curves.metric == metric].groupby(["level", "method", "target", "step"], as_index=False)["mean"].mean()
    levels = sorted(curves.level.unique())
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(1, len(levels), figsize=(4 * len(levels), 3.4), squeeze=False)
        for axis, level in zip(axes[0], levels):
            for (method, target), rows in curves[curves.level == level].groupby(["method", "target"], sort=True):
                axis.plot(rows.step, rows["mean"], color=_colour(method), linestyle="-" if target == "x0" else "--",
                          label=f"{(labels or {}).get(method, method)} ({'x0 estimate' if target == 'x0' else 'iterate'})")
            axis.set_title(f"noise step {level:g}")
            axis.set_xlabel("reverse step (from the noisy image)")
            axis.set_ylabel(ylabel)
        axes[0][0].legend(fontsize=7)
        return _save(figure, path)


def perception_distortion(points: pd.DataFrame, perception: str, perception_label: str, path: Path,
                          labels: dict[str, str] | None = None) -> Path:
    """Blau & Michaeli's plane: distortion (1 − SSIM) against perception on a log axis, so one
    far-off method cannot squash the others; one marker per method, level and seed (marker size
    grows with the noise)."""
    levels = sorted(points.level.unique())
    with plt.rc_context(STYLE):
        figure, axis = plt.subplots(figsize=(5.8, 4))
        for method, rows in points.groupby("method", sort=True):
            sizes = [20 + 40 * levels.index(level) for level in rows.level]
            axis.scatter(1 - rows.ssim_final, rows[perception].clip(lower=1e-6), s=sizes, color=_colour(method),
                         label=(labels or {}).get(method, method), alpha=0.85)
        axis.set_yscale("log")
        axis.set_xlabel("distortion: 1 − SSIM of the final output")
        axis.set_ylabel(perception_label)
        axis.set_title(f"noise steps {', '.join(f'{level:g}' for level in levels)} (larger marker: more noise)")
        axis.legend(fontsize=7)
        return _save(figure, path)


def training_curves(log: pd.DataFrame, path: Path) -> Path:
    """Training loss against optimizer step: diffusion backbones (their v/ε/x0 objective) and
    denoisers (their denoising loss) in separate panels, since the losses are not comparable; one
    line per model and training seed. ``log``: model, step, loss, backbone (bool), seed."""
    panels = [(True, "diffusion loss (MSE of the objective)"), (False, "denoising loss (MSE or cross-entropy)")]
    panels = [(kind, label) for kind, label in panels if (log.backbone == kind).any()]
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.6), squeeze=False)
        for axis, (kind, label) in zip(axes[0], panels):
            labelled: set[str] = set()
            for (model, _seed), rows in log[log.backbone == kind].groupby(["model", "seed"], sort=True, dropna=False):
                rows = rows.sort_values("step")
                axis.plot(rows.step, rows.loss, color=_colour(model), alpha=0.8,
                          label=None if model in labelled else model)
                labelled.add(model)
            axis.set_yscale("log")
            axis.set_xlabel("optimizer step")
            axis.set_ylabel(label)
            axis.legend(fontsize=7)
        return _save(figure, path)
