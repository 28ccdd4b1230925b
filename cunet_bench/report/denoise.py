"""The report's denoising section: Tables 2–4 and Figures 5, 7–11, with paired comparisons of
the paper's U-Net and cU-Net over test images."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from cunet_bench.paper import paper_value
from cunet_bench.report import figures
from cunet_bench.report.markdown import Claim, Section, markdown_table, missing, not_measured
from cunet_bench.report.results import Results, tagged
from cunet_bench.report.verdicts import (INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, Interval, paired_mean_difference,
                                         verdict_above, verdict_below)


def _roles(rows: pd.DataFrame) -> tuple[str, str, list[str]] | None:
    """The U-Net, the cU-Net compared with it and the Table 4 baselines of a run, from the tags
    its ``kind='method'`` rows record; None when the run lacks the pair."""
    methods = rows[rows.kind == "method"]
    unet = tagged(methods, "paper-unet", "method")
    candidates = [m for m in tagged(methods, "quality", "method") if m not in unet]
    if not unet or not candidates:
        return None
    return unet[0], candidates[0], tagged(methods, "table4", "method")


def _per_image(images: pd.DataFrame, method: str, level: float, target: str, metric: str,
               column: str = "mean") -> np.ndarray:
    match = images[(images.method == method) & (images.level == level) & (images.target == target)
                   & (images.metric == metric)].sort_values("image")
    return match[column].to_numpy(dtype=float)


def _summary(summary: pd.DataFrame, method: str, level: float, target: str, metric: str, column: str = "mean"):
    match = summary[(summary.method == method) & (summary.level == level) & (summary.target == target)
                    & (summary.metric == metric)]
    return float(match[column].iloc[0]) if len(match) and not pd.isna(match[column].iloc[0]) else None


def denoise_section(results: Results, figures_dir: Path) -> Section:
    section = Section("denoising", "Denoising through the reverse process (Tables 2–4, Figures 5, 7–11)")
    rows = results.latest_run("denoise", lambda r: _roles(r) is not None and "image" in set(r.kind))
    claims = (("better perceptual quality (LPIPS)", "Table 2: lower at every level"),
              ("worse SSIM at high noise", "Table 2: 0.44 vs 0.58 at step 400"),
              ("best result in fewer reverse steps", "Table 3: 217 vs 368 at step 400"),
              ("less time to the best result", "Table 3: 29.6 vs 77.3 s at step 400"),
              ("beats DnCNN, ConvAE and BM3D at low noise", "Table 4: SSIM 0.90 at step 50"))
    if rows.empty:
        section.claims += [not_measured(c, p, section.anchor, "no denoising run") for c, p in claims]
        return missing(section, "denoising tables", "bench denoise --noise-steps 50,150,400")
    run_id = rows.run_id.iloc[0]
    section.runs.append(results.provenance_line("denoise", run_id))
    unet, cunet, baselines = _roles(rows)
    summary, images = rows[rows.kind == "summary"], rows[rows.kind == "image"]
    levels = sorted(summary.level.dropna().unique())
    count = int(summary.images.dropna().iloc[0])
    lpips_missing = summary[(summary.metric == "lpips") & summary["mean"].isna()]
    lpips_status = str(lpips_missing.status.iloc[0]) if len(lpips_missing) and "status" in lpips_missing else None

    table2, table3 = [], []
    for level in levels:
        entry = {"noise step": int(level)}
        for metric in ("ssim", "lpips", "psnr"):
            for method in (unet, cunet):
                ours = _summary(summary, method, level, "x0", metric)
                paper = paper_value("Table 2", method, metric, str(int(level))) if metric != "psnr" else None
                entry[f"{metric.upper()} {method} (paper)"] = paper
                entry[f"{metric.upper()} {method}"] = ours if ours is not None else lpips_status
        table2.append(entry)
        steps_entry = {"noise step": int(level)}
        for method in (unet, cunet):
            steps_entry[f"best-SSIM step {method}"] = _summary(summary, method, level, "x0", "ssim", "best_step_mean")
            steps_entry[f"paper {method}"] = paper_value("Table 3", method, "ssim_best_step", str(int(level)))
            steps_entry[f"s to best {method}"] = _summary(summary, method, level, "x0", "ssim", "time_to_best_s_mean")
            steps_entry[f"paper s {method}"] = paper_value("Table 3", method, "ssim_time_to_best_s", str(int(level)))
        table3.append(steps_entry)

    comparisons = []
    for level in levels:
        for metric, column, label in (("ssim", "mean", "best SSIM"), ("ssim", "best_step", "best-SSIM step"),
                                      ("ssim", "time_to_best_s", "seconds to best SSIM"), ("lpips", "mean", "best LPIPS")):
            a, b = (_per_image(images, m, level, "x0", metric, column) for m in (cunet, unet))
            if len(a) < 2 or len(a) != len(b) or np.isnan(a).any():
                continue
            comparisons.append({"noise step": int(level), "quantity": label,
                                "cU-Net − U-Net [95% CI]": paired_mean_difference(a, b).text()})
    high, low = max(levels), min(levels)

    def difference(level: float, metric: str, column: str = "mean", method: str = cunet, versus: str = unet,
                   target: str = "x0", versus_target: str = "x0") -> Interval | None:
        a = _per_image(images, method, level, target, metric, column)
        b = _per_image(images, versus, level, versus_target, metric, column)
        return paired_mean_difference(a, b) if len(a) >= 2 and len(a) == len(b) and not np.isnan(a).any() else None

    lpips = difference(high, "lpips")
    section.claims.append(Claim(claims[0][0], claims[0][1], f"ΔLPIPS {lpips.text()} at step {high:g}", verdict_below(lpips, 0),
                                section.anchor, "paired interval below 0") if lpips else
                          not_measured(claims[0][0], claims[0][1], section.anchor, f"LPIPS: {lpips_status}"))
    for (claim, paper), metric, column in ((claims[1], "ssim", "mean"), (claims[2], "ssim", "best_step"),
                                           (claims[3], "ssim", "time_to_best_s")):
        interval = difference(high, metric, column)
        section.claims.append(Claim(claim, paper, f"Δ {interval.text()} at step {high:g}, {count} images",
                                    verdict_below(interval, 0), section.anchor, "paired interval below 0")
                              if interval else not_measured(claim, paper, section.anchor, "no per-image values"))
    if baselines:
        verdicts, texts = [], []
        for baseline in baselines:
            interval = difference(low, "ssim", versus=baseline, versus_target="output")
            verdicts.append(verdict_above(interval, 0) if interval else INCONCLUSIVE)
            texts.append(f"{baseline} {interval.estimate:+.3f}" if interval else f"{baseline} —")
        overall = (REPRODUCED if all(v == REPRODUCED for v in verdicts)
                   else NOT_REPRODUCED if any(v == NOT_REPRODUCED for v in verdicts) else INCONCLUSIVE)
        section.claims.append(Claim(claims[4][0], claims[4][1], f"ΔSSIM at step {low:g}: " + ", ".join(texts),
                                    overall, section.anchor, "every paired interval above 0"))

    table4 = []
    for method in (*baselines, unet, cunet):
        target = "x0" if method in (unet, cunet) else "output"
        entry = {"method": method}
        for level in levels:
            entry[f"SSIM {level:g}"] = _summary(summary, method, level, target, "ssim")
            entry[f"paper {level:g}"] = paper_value("Table 4", method, "ssim", str(int(level)))
            entry[f"PSNR {level:g}"] = _summary(summary, method, level, target, "psnr")
        table4.append(entry)

    curves = rows[rows.kind == "curve"]
    figures.denoising_curves(curves, "ssim", "SSIM (higher is better)", figures_dir / "denoise_ssim_curves.png")
    figures.denoising_curves(curves, "psnr", "PSNR (dB)", figures_dir / "denoise_psnr_curves.png")
    body = [f"Paper protocol, {count} test images; the model's x0 estimate scored after every reverse step (best "
            "value per image, then the mean). Paper values: 300 test images of CelebA/LSUN-type data, so levels are "
            "comparable, absolute values only roughly. Intervals: 95% paired bootstrap over test images.",
            "Table 2 (best SSIM / LPIPS / PSNR):", markdown_table(table2),
            "Table 3 (reverse step of the best SSIM, and seconds of reverse steps to it, whole batch):",
            markdown_table(table3), "Paired differences cU-Net − U-Net:", markdown_table(comparisons),
            "Table 4 (all methods; baselines see y = x_n/√ᾱ_n with σ = √(1−ᾱ_n)/√ᾱ_n):", markdown_table(table4),
            "![SSIM versus reverse step](figures/denoise_ssim_curves.png)",
            "![PSNR versus reverse step](figures/denoise_psnr_curves.png)"]
    if lpips is not None:
        figures.denoising_curves(curves, "lpips", "LPIPS (lower is better)", figures_dir / "denoise_lpips_curves.png")
        body.append("![LPIPS versus reverse step](figures/denoise_lpips_curves.png)")
    perception = rows[(rows.kind == "perception") & rows["mean"].notna()]
    if not perception.empty:
        name = perception.metric.iloc[0]
        figures.perception_distortion(perception, "mean", f"perception: {name} (lower is better)",
                                      figures_dir / "perception_distortion.png")
        body += [f"Perception–distortion (final outputs; perception = {name} between the set of outputs and the clean "
                 "test images, the distribution-level index of Blau & Michaeli):",
                 markdown_table([{"noise step": int(r.level), "method": r.method, "1 − SSIM": 1 - r.ssim_final,
                                  "MSE": r.mse_final, name: r.mean, "KID": r.kid_mean}
                                 for r in perception.sort_values(["level", "method"]).itertuples()]),
                 "![Perception-distortion plane](figures/perception_distortion.png)"]
    meta = rows[rows.kind == "meta"]
    if not meta.empty and "metric_fraction" in meta:
        body.append(f"Metric computation took {float(meta.metric_fraction.iloc[0]):.1%} of the command's "
                    f"{float(meta.total_seconds.iloc[0]):.0f} s.")
    speedup = rows[rows.kind == "speedup"]
    for r in speedup.itertuples():
        body.append(f"{r.method}: {int(r.workers)} worker processes are {r.mean:.2f}× one process "
                    f"({r.seconds_per_image_pool:.2f} vs {r.seconds_per_image_one_process:.2f} s per image).")
    body += _grid_figures(results.folder / "denoise-grids", rows[rows.kind == "grid"], figures_dir)
    section.body += body
    return section


def _grid_figures(folder: Path, grids: pd.DataFrame, figures_dir: Path) -> list[str]:
    """The run's image grids, named in its ``kind='grid'`` rows, copied beside the report."""
    lines = []
    for grid in grids.sort_values("file").itertuples() if "file" in grids else ():
        source = folder / str(grid.file)
        if source.is_file():
            shutil.copyfile(source, figures_dir / source.name)
            lines.append(f"![{source.name}](figures/{source.name})  \ncolumns: {str(grid.columns).replace('|', ', ')}")
    return ["Denoising grids (Figures 5, 7–9; one test image per row):", *lines] if lines else []
