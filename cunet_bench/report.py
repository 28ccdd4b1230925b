"""``bench report``: the reproduction report (``REPORT.md`` + PNG figures) built from result files
only (DESIGN.md, "Report"). Each section appears as soon as its results exist; a missing one
names the command that would produce it. Same results in, same bytes out."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from cunet_bench import report_figures as figures
from cunet_bench.benchmarks.efficiency import TABLE5_MODELS
from cunet_bench.bootstrap import (NO_DIFFERENCE, NOT_REPRODUCED, REPRODUCED, Interval, paired_mean_difference,
                                   ratio_of_medians, verdict_above, verdict_below, verdict_exact, verdict_within)
from cunet_bench.paper import paper_values
from cunet_bench.readme_summary import SUMMARY_HEADING
from cunet_bench.files import atomic_replace
from cunet_bench.report_sections import (Claim, Results, Section, markdown_table, missing, not_measured)

UNET, CUNET_RELEASE = "unet", "cunet-release"
FASTER_THRESHOLD = 1 / 1.3
"""'30–80% faster': at least 1.3× the U-Net's speed, i.e. a time ratio below 1/1.3."""
COMPARABLE = (0.8, 1.25)
"""'Comparable FID': the ratio's whole interval within ±25% (the paper's own MNIST/CelebA/LSUN
ratios span 0.83–1.09)."""
PAPER_LABELS = {"unet": "U-Net", "cunet-release": "cU-Net", "cunet-5attn": "cU-Net (5 attention)",
                "cunet-release-wo-a": "cU-Net wo/A", "cunet-release-wo-r": "cU-Net wo/R",
                "cunet-release-wo-a-r": "cU-Net wo/A/R"}


def _paper(source: str, model: str, metric: str, condition: str = "") -> float | None:
    table = paper_values()
    match = table[(table.source == source) & (table.model == model) & (table.metric == metric)]
    if condition:
        match = match[match.condition == condition]
    return float(match.value.iloc[0]) if len(match) else None


def _value(rows: pd.DataFrame, model: str, metric: str, **where) -> float | None:
    match = rows[(rows.model == model) & (rows.metric == metric)]
    for column, value in where.items():
        match = match[match[column] == value]
    return float(match.value.iloc[0]) if len(match) else None


# --- efficiency: Table 5, Figure 6, speed ------------------------------------------------------

def _is_table5_run(rows: pd.DataFrame) -> bool:
    return set(TABLE5_MODELS) <= set(rows.model) and "gmacs_conv_linear" in set(rows.metric) and (
        64 in set(rows.resolution.dropna()))


def efficiency_section(results: Results, figures_dir: Path) -> Section:
    section = Section("efficiency", "Parameters, compute and memory (Table 5, Figure 6)")
    rows = results.latest_run("efficiency", _is_table5_run)
    if rows.empty:
        section.claims += [not_measured(c, p, section.anchor, "no efficiency run")
                           for c, p in (("~4× fewer parameters", "8.8M vs 35.7M"), ("~30% of the FLOPs", "2.90 vs 7.21 GFLOPs"),
                                        ("less memory", "137.9 vs 545.5 MB"))]
        return missing(section, "parameters, MACs and memory at 1×3×64×64", "bench efficiency --preset paper")
    run_id = rows.run_id.iloc[0]
    section.runs.append(results.provenance_line("efficiency", run_id))
    rows = rows[(rows.resolution == 64) & (rows.solver.isna() | (rows.solver == "rk4/1"))] if "solver" in rows else rows
    table, plotted = [], []
    for model in [m for m in PAPER_LABELS if m in set(rows.model)]:
        entry = {"model": model, "paper name": PAPER_LABELS[model]}
        for metric, source, label in (("parameters", "Figure 6", "parameters"), ("gmacs_conv_linear", "Table 5", "GMAC"),
                                      ("static_training_mib", "Table 5", "static MiB")):
            measured, paper = _value(rows, model, metric), _paper(source, model, metric)
            entry[f"{label} (paper)"] = paper
            entry[f"{label} (ours)"] = measured
            entry[f"{label} ours/paper"] = measured / paper if measured is not None and paper else None
            plotted.append({"model": model, "label": PAPER_LABELS[model], "metric": metric, "measured": measured,
                            "paper": paper if paper is not None else np.nan})
        entry["peak train MiB (b=1)"] = _value(rows, model, "peak_train_mib")
        table.append(entry)
    figures.efficiency_bars(pd.DataFrame(plotted), figures_dir / "efficiency.png")
    section.body += [
        "Counted at 1×3×64×64 with the released solver (RK4, one step per block). GMAC = fvcore multiply-"
        "accumulates of convolutions and linear layers (what the paper calls GFLOPs); static memory = weights, "
        "gradients and two Adam moments in fp32. Exact quantities: no interval applies. The paper's wo/R and wo/A/R "
        "rows come from a variant that is not in the released code; ours remove the ODE function's residual, which "
        "has no parameters (`bench models cunet-release-wo-r`), so those two rows are not expected to match.",
        markdown_table(table), "![Parameters, MACs and memory](figures/efficiency.png)"]
    for claim, metric, paper_text, threshold in (
            ("~4× fewer parameters", "parameters", "8.8M vs 35.7M (0.25×)", 0.30),
            ("~30% of the FLOPs", "gmacs_conv_linear", "2.90 vs 7.21 GMAC (0.40×, Table 5)", 0.44),
            ("less memory (static training)", "static_training_mib", "137.9 vs 545.5 MB (0.25×)", 0.28)):
        ratio = _value(rows, CUNET_RELEASE, metric) / _value(rows, UNET, metric)
        section.claims.append(Claim(claim, paper_text, f"{ratio:.3f}× (exact)", verdict_exact(ratio, threshold),
                                    section.anchor, f"ratio below {threshold}"))
    return section


def _has_latency_samples(rows: pd.DataFrame) -> bool:
    return {UNET, CUNET_RELEASE} <= set(rows.model) and "latency_s" in set(rows.metric)


def speed_section(results: Results, figures_dir: Path) -> Section:
    section = Section("speed", "Inference speed (30–80% faster)")
    rows = results.latest_run("efficiency", _has_latency_samples)
    if rows.empty:
        section.claims.append(not_measured("30–80% faster inference", "CPU, Table 1 times", section.anchor,
                                           "no timed repeats recorded"))
        return missing(section, "latency with every timed repeat", "bench efficiency --preset quick")
    run_id = rows.run_id.iloc[0]
    section.runs.append(results.provenance_line("efficiency", run_id))
    latency = rows[rows.metric == "latency_s"]
    table, plotted = [], []
    resolution = int(latency.resolution.iloc[0])
    for batch in sorted(latency.batch.unique()):
        samples = {m: latency[(latency.model == m) & (latency.batch == batch)].value.to_numpy() for m in (UNET, CUNET_RELEASE)}
        interval = ratio_of_medians(samples[CUNET_RELEASE], samples[UNET])
        table.append({"batch": int(batch), "U-Net median s": float(np.median(samples[UNET])),
                      "cU-Net median s": float(np.median(samples[CUNET_RELEASE])),
                      "time ratio cU-Net/U-Net [95% CI]": interval.text(),
                      "repeats": f"{len(samples[UNET])}/{len(samples[CUNET_RELEASE])}",
                      "verdict": verdict_below(interval, FASTER_THRESHOLD)})
        for model, values in samples.items():
            q1, q3 = np.percentile(values, [25, 75])
            plotted.append({"model": model, "batch": int(batch), "median_s": float(np.median(values)), "q1_s": q1, "q3_s": q3})
    figures.latency_by_batch(pd.DataFrame(plotted), figures_dir / "latency.png")
    section.body += [
        f"Forward-pass latency at {resolution}×{resolution} on the recorded device; ratio of medians with a 95% "
        f"bootstrap interval over timed repeats. Claim threshold: time ratio below {FASTER_THRESHOLD:.3f} "
        "(at least 1.3× faster).", markdown_table(table), "![Latency](figures/latency.png)"]
    first = table[0]
    section.claims.append(Claim("30–80% faster inference", "CPU (Table 1)",
                                f"time ratio {first['time ratio cU-Net/U-Net [95% CI]']} at batch {first['batch']}",
                                first["verdict"], section.anchor, f"interval below {FASTER_THRESHOLD:.3f}"))
    scaling = results.latest_run("efficiency", lambda r: r.resolution.nunique() > 1 and {UNET, CUNET_RELEASE} <= set(r.model))
    if not scaling.empty:
        section.runs.append(results.provenance_line("efficiency", scaling.run_id.iloc[0]))
        scaling_rows = []
        for size in sorted(scaling.resolution.dropna().unique()):
            at = scaling[scaling.resolution == size]
            macs = _value(at, CUNET_RELEASE, "gmacs_conv_linear") / _value(at, UNET, "gmacs_conv_linear")
            latency_ratio = _value(at, CUNET_RELEASE, "latency_median_s", batch=1.0)
            unet_latency = _value(at, UNET, "latency_median_s", batch=1.0)
            scaling_rows.append({"resolution": int(size), "GMAC ratio": macs,
                                 "latency ratio (b=1)": latency_ratio / unet_latency if latency_ratio and unet_latency else None})
        section.body += ["Resolution study (cU-Net/U-Net):", markdown_table(scaling_rows)]
    solvers = results.latest_run("solvers")
    if not solvers.empty:
        section.runs.append(results.provenance_line("solvers", solvers.run_id.iloc[0]))
        section.body += ["ODE solver cost (`bench solvers`):", markdown_table(
            [{k: row[k] for k in ("solver", "batch", "metric", "value", "unit")} for row in solvers.to_dict("records")])]
    return section


# --- FID: Table 1 -------------------------------------------------------------------------------

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
        paper_fid, paper_steps, paper_s = (_paper("Table 1", r.model, m, "MNIST") for m in ("fid", "best_steps",
                                                                                            "seconds_per_sample"))
        best_table.append({"model": r.model, f"best {name}": r.distance, "paper FID (MNIST)": paper_fid,
                           "best steps": int(r.steps), "paper steps": paper_steps, "s/sample": r.seconds_per_sample,
                           "paper s/sample": paper_s})
    paper_steps = {m: _paper("Table 1", m, "best_steps", "MNIST") for m in set(points.model)}
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
    if ratio.empty or not {UNET, "cunet"} <= set(best.model):
        return section
    r = ratio.iloc[0]
    interval = Interval(r.ratio, r.ratio_ci_low, r.ratio_ci_high)
    comparable = verdict_within(interval, *COMPARABLE)
    section.claims.append(Claim(f"comparable FID ({name})", "MNIST 2.98 vs 3.61 (0.83×)",
                                f"best-{name} ratio {interval.text()}, N={samples}", comparable, section.anchor,
                                f"interval within {COMPARABLE}"))
    steps = {m: int(best[best.model == m].steps.iloc[0]) for m in (UNET, "cunet")}
    fewer = (REPRODUCED if steps["cunet"] < steps[UNET] and comparable == REPRODUCED
             else NOT_REPRODUCED if steps["cunet"] > steps[UNET] else NO_DIFFERENCE)
    section.claims.append(Claim("best FID in fewer sampling steps", "MNIST 5 vs 30 steps",
                                f"{steps['cunet']} vs {steps[UNET]} steps (of {sorted(set(points.steps.astype(int)))})",
                                fewer, section.anchor, "fewer steps and a comparable distance"))
    return section


# --- denoising: Tables 2–4, Figures 5, 7–11 ------------------------------------------------------

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
    rows = results.latest_run("denoise", lambda r: {UNET, "cunet"} <= set(r.method) and "image" in set(r.kind))
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
    summary, images = rows[rows.kind == "summary"], rows[rows.kind == "image"]
    levels = sorted(summary.level.dropna().unique())
    count = int(summary.images.dropna().iloc[0])
    lpips_missing = summary[(summary.metric == "lpips") & summary["mean"].isna()]
    lpips_status = str(lpips_missing.status.iloc[0]) if len(lpips_missing) and "status" in lpips_missing else None

    table2, table3 = [], []
    for level in levels:
        entry = {"noise step": int(level)}
        for metric in ("ssim", "lpips", "psnr"):
            for method in (UNET, "cunet"):
                ours = _summary(summary, method, level, "x0", metric)
                paper = _paper("Table 2", method, metric, str(int(level))) if metric != "psnr" else None
                entry[f"{metric.upper()} {method} (paper)"] = paper
                entry[f"{metric.upper()} {method}"] = ours if ours is not None else lpips_status
        table2.append(entry)
        steps_entry = {"noise step": int(level)}
        for method in (UNET, "cunet"):
            steps_entry[f"best-SSIM step {method}"] = _summary(summary, method, level, "x0", "ssim", "best_step_mean")
            steps_entry[f"paper {method}"] = _paper("Table 3", method, "ssim_best_step", str(int(level)))
            steps_entry[f"s to best {method}"] = _summary(summary, method, level, "x0", "ssim", "time_to_best_s_mean")
            steps_entry[f"paper s {method}"] = _paper("Table 3", method, "ssim_time_to_best_s", str(int(level)))
        table3.append(steps_entry)

    comparisons = []
    for level in levels:
        for metric, column, label in (("ssim", "mean", "best SSIM"), ("ssim", "best_step", "best-SSIM step"),
                                      ("ssim", "time_to_best_s", "seconds to best SSIM"), ("lpips", "mean", "best LPIPS")):
            a, b = (_per_image(images, m, level, "x0", metric, column) for m in ("cunet", UNET))
            if len(a) < 2 or len(a) != len(b) or np.isnan(a).any():
                continue
            comparisons.append({"noise step": int(level), "quantity": label,
                                "cU-Net − U-Net [95% CI]": paired_mean_difference(a, b).text()})
    high, low = max(levels), min(levels)

    def difference(level: float, metric: str, column: str = "mean", method: str = "cunet", versus: str = UNET,
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
    baselines = [m for m in ("dncnn", "conv-ae", "bm3d") if m in set(summary.method)]
    if baselines:
        verdicts, texts = [], []
        for baseline in baselines:
            interval = difference(low, "ssim", versus=baseline, versus_target="output")
            verdicts.append(verdict_above(interval, 0) if interval else NO_DIFFERENCE)
            texts.append(f"{baseline} {interval.estimate:+.3f}" if interval else f"{baseline} —")
        overall = (REPRODUCED if all(v == REPRODUCED for v in verdicts)
                   else NOT_REPRODUCED if any(v == NOT_REPRODUCED for v in verdicts) else NO_DIFFERENCE)
        section.claims.append(Claim(claims[4][0], claims[4][1], f"ΔSSIM at step {low:g}: " + ", ".join(texts),
                                    overall, section.anchor, "every paired interval above 0"))

    table4 = []
    methods = [m for m in ("bm3d", "conv-ae", "dncnn", UNET, "cunet") if m in set(summary.method)]
    for method in methods:
        target = "x0" if method in (UNET, "cunet") else "output"
        entry = {"method": method}
        for level in levels:
            entry[f"SSIM {level:g}"] = _summary(summary, method, level, target, "ssim")
            entry[f"paper {level:g}"] = _paper("Table 4", method, "ssim", str(int(level)))
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
    body += _grid_figures(results.folder / "denoise-grids", run_id, figures_dir)
    section.body += body
    return section


def _grid_figures(folder: Path, run_id: str, figures_dir: Path) -> list[str]:
    import json

    index = folder / f"{run_id}.json"
    if not index.is_file():
        return []
    lines = ["Denoising grids (Figures 5, 7–9; one test image per row):"]
    for name, columns in sorted(json.loads(index.read_text()).items()):
        shutil.copyfile(folder / name, figures_dir / name)
        lines.append(f"![{name}](figures/{name})  \ncolumns: {', '.join(columns)}")
    return lines


# --- samples and training ------------------------------------------------------------------------

def samples_section(results: Results, figures_dir: Path) -> Section:
    section = Section("samples", "Samples (Figure 3) and training")
    sample_runs = results.runs("sample")
    latest_samples = [] if sample_runs.empty else sample_runs.sort_values("run_id").groupby("model").tail(1).itertuples()
    if sample_runs.empty:
        missing(section, "sample grids", "bench sample --checkpoint checkpoints/cunet-mnist5k-quick.safetensors")
    for row in latest_samples:
        png = Path(row.png)
        source = results.folder / "samples" / png.name
        if source.is_file():
            shutil.copyfile(source, figures_dir / png.name)
            section.body.append(f"![{row.model}](figures/{png.name})  \n{row.model}: {int(row.samples)} samples, "
                                f"{row.sampler} {int(row.steps)} steps, {row.seconds_per_sample:.3f} s per sample")
            section.runs.append(results.provenance_line("sample", row.run_id))
    training = results.runs("training")
    if training.empty:
        return missing(section, "training runs", "bench train --model cunet --preset quick")
    logs, checks = [], []
    for model, rows in training.groupby("model", sort=True):
        latest = rows[rows.run_id == rows.run_id.max()]
        logs.append(latest[latest.loss.notna()][["model", "step", "loss"]])
        final = latest[latest.seconds.notna()] if "seconds" in latest else latest.iloc[0:0]
        if not final.empty:
            f = final.iloc[-1]
            checks.append({"model": model, "steps": int(f.step), "images/s": f.images_per_s, "seconds": f.seconds,
                           "PSNR noisy (dB)": f.get("psnr_noisy_db"), "PSNR model (dB)": f.get("psnr_model_db")})
        section.runs.append(results.provenance_line("training", latest.run_id.iloc[0]))
    figures.training_curves(pd.concat(logs), figures_dir / "training.png")
    section.body += ["Training (the check: PSNR of the EMA model's x0 estimate, or the denoiser's output, at noise "
                     "step 50):", markdown_table(checks), "![Training loss](figures/training.png)"]
    return section


# --- assembly ------------------------------------------------------------------------------------

BUILDERS = (efficiency_section, speed_section, fid_section, denoise_section, samples_section)


def build_report(results_folder: Path, out: Path) -> Path:
    """Write ``out/REPORT.md`` and ``out/figures/*.png`` from ``results_folder``; returns the path."""
    results = Results(results_folder)
    figures_dir = out / "figures"
    if figures_dir.exists():
        shutil.rmtree(figures_dir)
    figures_dir.mkdir(parents=True)
    sections = [build(results, figures_dir) for build in BUILDERS]
    lines = ["# Reproduction report: The Missing U for Efficient Diffusion Models (arXiv 2310.20092)", "",
             f"Built by `bench report` from `{results_folder}` only. Verdicts: *reproduced* / *not reproduced* need the "
             "95% interval (or, for exact counts, the value) wholly on one side of the claim's threshold; otherwise "
             "*no significant difference*; *not measured* says what is missing.", "", SUMMARY_HEADING,
             "", markdown_table([{"claim": f"[{c.claim}](#{c.section})", "paper": c.paper, "ours": c.ours,
                                  "verdict": f"**{c.verdict}**", "rule": c.rule or "—"}
                                 for s in sections for c in s.claims]), ""]
    for section in sections:
        lines += [f'<a id="{section.anchor}"></a>', f"## {section.title}", ""]
        for block in section.body:
            lines += [block, ""]
        if section.runs:
            lines += ["Provenance: " + "; ".join(section.runs), ""]
    atomic_replace(out / "REPORT.md", lambda temporary: Path(temporary).write_text("\n".join(lines)))
    return out / "REPORT.md"
