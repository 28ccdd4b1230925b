"""The report's denoising section: Tables 2–4 and Figures 5, 7–11.

Every comparison pairs the same test images; with several training seeds, intervals add the
variation between seeds (each model's independently) to that over images (``verdicts.RULES``).
The cU-Net flavours are compared with the U-Net one by one: the release's (the paper's numbers
came from it) decides the verdicts, the paper-described one is reported beside it. Scoring: the
best value over the reverse chain of the *iterate* — what the released notebook scores, hence what
the paper's numbers measure; the model's x0 estimate is shown beside it. A one-shot baseline enters
a verdict only if it beats the noisy input at the lowest noise level on SSIM, the metric of Table 4.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import pandas as pd

from cunet_bench.report import figures
from cunet_bench.report.claims import statements, unmeasured
from cunet_bench.report.convergence import convergence
from cunet_bench.report.denoise_claims import Comparison, comparison_claims
from cunet_bench.report.denoise_run import SCORING, DenoiseRun
from cunet_bench.report.figure_folder import copy_figure
from cunet_bench.report.markdown import FLAVOURS, Section, markdown_table, missing, plain
from cunet_bench.report.paper import paper_value
from cunet_bench.report.results import Results, role, tagged
from cunet_bench.report.verdicts import EDGE_SHARE, too_small

SCORING_WHY = (
    "best value over the reverse chain of the iterate, as the released notebook scores it (the paper's "
    "numbers); the x0 estimate is shown beside it"
)
KEYS = [key for key, statement in statements().items() if statement.section == "denoising"]


def _roles(rows: pd.DataFrame) -> tuple[str, list[str], list[str]] | None:
    """The U-Net, the cU-Net flavours compared with it (the release's first) and the Table 4
    baselines of a run, from the tags its ``kind='method'`` rows record; None without the pair."""
    methods = rows[rows.kind == "method"]
    unet = tagged(methods, "paper-unet", "method")
    release = tagged(methods, "paper-cunet", "method")
    candidates = release + [m for m in tagged(methods, "quality", "method") if m not in unet + release]
    if not unet or not candidates:
        return None
    return unet[0], candidates, tagged(methods, "table4", "method")


def _baseline_checks(run: DenoiseRun, baselines: list[str]) -> tuple[list[str], list[dict[str, Any]]]:
    """Baselines that beat the noisy input at the lowest level on SSIM, the metric Table 4's
    verdict compares (PSNR shown beside it: a smoothing denoiser can win on one and lose on the
    other); the check's table, with each baseline's training σ and options."""
    low = run.levels[0]
    noisy = {metric: run.mean("noisy input", low, "input", metric) for metric in ("ssim", "psnr")}
    passed, table = [], []
    for baseline in baselines:
        ours = {metric: run.mean(baseline, low, "output", metric) for metric in ("ssim", "psnr")}
        beats = {
            metric: ours[metric] is not None and noisy[metric] is not None and ours[metric] > noisy[metric]
            for metric in ours
        }
        passed += [baseline] if beats["ssim"] else []
        status = (
            "failed: does not beat the noisy input on SSIM"
            if not beats["ssim"]
            else "beats the noisy input"
            if beats["psnr"]
            else "beats the noisy input on SSIM, not on PSNR"
        )
        described = run.described.loc[baseline] if baseline in run.described.index else None
        table.append(
            {
                "baseline": run.label(baseline),
                "trained at σ": described.sigma if described is not None else None,
                "options": described.options if described is not None else None,
                f"SSIM at step {low}": ours["ssim"],
                "noisy input SSIM": noisy["ssim"],
                f"PSNR at step {low}": ours["psnr"],
                "noisy input PSNR": noisy["psnr"],
                "status": status,
            }
        )
    return passed, table


def _table2(run: DenoiseRun, backbones: list[str]) -> list[dict[str, Any]]:
    table = []
    for level in run.levels:
        entry: dict[str, Any] = {"noise step": level}
        for metric in ("ssim", "lpips", "feature_distance", "psnr"):
            for method in backbones:
                ours = run.mean(method, level, SCORING, metric)
                if ours is None and metric == "lpips":
                    continue
                entry[f"{metric} {method}"] = ours
                paper = paper_value("Table 2", run.names.get(method, method), metric, level)
                if paper is not None:
                    entry[f"{metric} {method} (paper)"] = paper
        table.append(entry)
    return table


def _table3(run: DenoiseRun, backbones: list[str]) -> list[dict[str, Any]]:
    table = []
    for level in run.levels:
        entry: dict[str, Any] = {"noise step": level}
        for method in backbones:
            name = run.names.get(method, method)
            for target in ("iterate", "x0"):
                entry[f"step {method} ({target})"] = run.mean(method, level, target, "ssim", "best_step")
            entry[f"at the end {method} (iterate)"] = f"{run.edge(method, level, 'ssim'):.0%}"
            chains = run.chains(method, level)
            entry[f"s/step {method}"] = float(chains.seconds_per_step.mean()) if len(chains) else None
            entry[f"paper step {method}"] = paper_value("Table 3", name, "ssim_best_step", level)
            entry[f"paper s {method}"] = paper_value("Table 3", name, "ssim_time_to_best_s", level)
        table.append(entry)
    return table


def _table4(run: DenoiseRun, methods: list[str], baseline: str | None) -> list[dict[str, Any]]:
    """Every method of the run with its role; the paper's value where it has one, and the SSIM
    difference to ``baseline`` with the seed-level interval (a difference, not a verdict)."""
    described = run.rows[run.rows.kind == "method"]
    table = []
    for method in methods:
        entry = {"method": run.label(method), "role": role(described, method, "method")}
        for level in run.levels:
            entry[f"SSIM {level}"] = run.mean(method, level, run.target(method), "ssim")
            entry[f"paper {level}"] = paper_value("Table 4", run.names.get(method, method), "ssim", level)
            entry[f"PSNR {level}"] = run.mean(method, level, run.target(method), "psnr")
            if baseline is not None:
                difference = None if method == baseline else run.difference(method, baseline, level, "ssim")
                entry[f"ΔSSIM {level} vs {baseline}"] = difference.text() if difference is not None else "—"
        table.append(entry)
    return table


def _seed_table(run: DenoiseRun, backbones: list[str]) -> list[dict[str, Any]]:
    table = []
    for seed in sorted({s for m in backbones for s in run.seeds.get(m, [])}):
        entry = {"training seed": seed}
        for method in backbones:
            for level in run.levels:
                values = run.per_image(method, level, SCORING, "ssim", seed=seed)
                entry[f"SSIM {method} @ {level}"] = float(values.mean()) if len(values) else None
        table.append(entry)
    return table


def _tables(run: DenoiseRun, unet: str, candidates: list[str], baselines: list[str], baseline: str | None) -> list[str]:
    """Tables 2–4 and the seed table with every method the run measured: the paper's pair and
    baselines first, then the others (the harness's and yours)."""
    methods = list(dict.fromkeys(run.rows[run.rows.kind == "method"].method))
    backbones = list(dict.fromkeys([unet, *candidates, *(m for m in methods if m not in run.one_shot)]))
    one_shot = list(dict.fromkeys([*baselines, *(m for m in methods if m in run.one_shot)]))
    chains = run.rows[run.rows.kind == "chain"]
    busy = sorted(set(chains[chains.contended.fillna(False).astype(bool)].method))
    return [
        "Table 2 (best value over the reverse chain; mean over test images and training seeds):",
        markdown_table(_table2(run, backbones)),
        "Table 3 (reverse step of the best SSIM under both scorings, the share of images whose best iterate is "
        f"the chain's last step — at ≥ {EDGE_SHARE:.0%} for both models a best-step comparison is at the grid's "
        "edge — and the seconds per reverse step of the batch):",
        markdown_table(_table3(run, backbones)),
        ("Chains timed while other processes used the CPU: " + (", ".join(busy) if busy else "none") + "."),
        "Table 4 (every method, by role; one-shot denoisers see y = x_n/√ᾱ_n with σ = √(1−ᾱ_n)/√ᾱ_n; ΔSSIM: "
        "mean difference to the baseline with the seed-level interval, a comparison outside the paper's claims):",
        markdown_table(_table4(run, [*one_shot, *backbones], baseline)),
        "Per training seed (best SSIM of the iterate, mean over test images):",
        markdown_table(_seed_table(run, backbones)),
    ]


def _perception(run: DenoiseRun, figures_dir: Path, colours: dict[str, str]) -> list[str]:
    points = run.rows[(run.rows.kind == "perception") & run.rows.kid_mean.notna()]
    if points.empty:
        return []
    column = "mean" if points["mean"].notna().all() else "kid_mean"
    name = str(points.metric.iloc[0]) if column == "mean" else str(points.kid_name.iloc[0])
    figures.perception_distortion(
        points,
        column,
        f"perception: {name} (lower is better)",
        figures_dir / "perception_distortion.png",
        run.names,
        colours,
        log_scale=column == "mean",
    )
    reference = str(points.reference.dropna().iloc[0]) if points.reference.notna().any() else "—"
    status = sorted(set(points.status.dropna()) - {"ok"})
    table = [
        {
            "noise step": int(r.noise_step),
            "method": r.method,
            "seed": r.train_seed,
            "1 − SSIM": 1 - r.ssim_final,
            "MSE": r.mse_final,
            name: getattr(r, column),
            "KID": r.kid_mean,
        }
        for r in points.sort_values(["noise_step", "method", "train_seed"]).itertuples()
    ]
    return [
        f"Perception–distortion of the final outputs: perception = {name} between the set of outputs and "
        f"clean images they did not come from ({reference}; Blau & Michaeli's distribution-level index)"
        + (f"; {status[0]}" if status else "")
        + ". KID is unbiased, so small values can be negative:",
        markdown_table(table),
        "![Perception-distortion plane](figures/perception_distortion.png)  \nEach point: one method (colour), noise "
        "level (marker) and training seed. The paper's account needs the cU-Net below (perceptually better) and "
        "right (more distorted) of the U-Net at high noise.",
    ]


def _curves(run: DenoiseRun, figures_dir: Path, colours: dict[str, str]) -> list[str]:
    curves = run.rows[run.rows.kind == "curve"]
    lines = []
    for metric, label, name in (
        ("ssim", "SSIM (higher is better)", "denoise_ssim_curves.png"),
        ("psnr", "PSNR (dB, higher is better)", "denoise_psnr_curves.png"),
        ("feature_distance", "classifier-feature distance (lower is better)", "denoise_proxy_curves.png"),
    ):
        if metric in set(curves.metric):
            figures.denoising_curves(
                curves,
                metric,
                label,
                figures_dir / name,
                run.names,
                colours,
            )
            lines.append(
                f"![{label} versus reverse step](figures/{name})  \nMean over test images and training "
                "seeds after every reverse step; dashed: the iterate (the verdicts' scoring), solid: the x0 "
                "estimate; bands: from the lowest to the highest training seed's mean curve."
            )
    return lines


def denoise_section(results: Results, figures_dir: Path) -> Section:
    section = Section("denoising", "Denoising through the reverse process (Tables 2–4, Figures 5, 7–11)")
    rows = results.latest_run("denoise", lambda r: _roles(r) is not None and "image" in set(r.kind))
    if rows.empty:
        section.claims += [unmeasured(key, "no denoising run with the paper's pair (bench denoise)") for key in KEYS]
        return missing(section, "denoising tables", "bench denoise --noise-steps 50,150,400")
    run = DenoiseRun(rows)
    section.runs.append(results.provenance_line("denoise", run.run_id))
    unet, candidates, baselines = _roles(rows)
    passed, checks = _baseline_checks(run, baselines)
    colours = figures.role_colours(results.model_tags())
    sigmas = rows[rows.kind == "input"]
    gate = convergence(results)
    section.body += [
        f"Paper protocol on {run.count} test images; models: {'; '.join(run.label(m) for m in [unet, *candidates])}, "
        f"training seeds {', '.join(map(str, run.seeds.get(unet, []))) or '—'}. Scoring for the verdicts: "
        f"{SCORING_WHY}. Intervals: seed level (How to read).",
        "Noise per level (σ of the [0, 1] image; the paper's text uses Ho et al.'s linear schedule, the release the "
        "sigmoid one, so equal steps are not equal noise):",
        markdown_table(
            [
                {
                    "noise step": int(r.noise_step),
                    f"σ ({r.schedule} schedule, this run)": r.sigma01,
                    "σ (Ho's linear schedule)": r.sigma01_ho_linear,
                }
                for r in sigmas.itertuples()
            ]
        ),
        "Baselines at the lowest level (a baseline that does not beat the noisy input on SSIM, the metric of "
        "Table 4, is reported as failed and left out of the verdicts):",
        markdown_table(checks),
    ]
    small = too_small(test_images=run.count)
    for candidate, flavour in zip(candidates, FLAVOURS):
        undertrained = functools.partial(gate.undertrained, [unet, candidate], run.names)
        comparison = Comparison(run, unet, candidate, passed, flavour, small, undertrained)
        section.claims += comparison_claims(comparison)
    section.body += (
        _tables(run, unet, candidates, baselines, results.baseline_of(rows[rows.kind == "method"], "method"))
        + _curves(run, figures_dir, colours)
        + _perception(run, figures_dir, colours)
    )
    section.body += _grid_figures(results.folder / "denoise-grids", rows[rows.kind == "grid"], figures_dir)
    return section


GRID_NAME = re.compile(r"-level0*(?P<level>\d+)-(?:methods|steps-(?P<target>iterate|x0)-(?P<method>.+))\.png$")


def _grid_caption(name: str) -> str:
    """What a denoising grid shows, from the name ``bench denoise`` gave it."""
    found = GRID_NAME.search(name)
    if found is None:
        return "A denoising grid."
    level = int(found["level"])
    if found["target"] is None:
        return f"Noise step {level}: the clean and noisy images, then every method's output, one test image per row."
    what = "iterate (what the verdicts score)" if found["target"] == "iterate" else "x0 estimate"
    return f"Noise step {level}: `{plain(found['method'])}`'s {what} along the reverse chain, one test image per row."


def _grid_figures(folder: Path, grids: pd.DataFrame, figures_dir: Path) -> list[str]:
    """The run's image grids, named in its ``kind='grid'`` rows, copied beside the report."""
    lines = []
    for grid in grids.sort_values("file").itertuples():
        source = folder / str(grid.file)
        if copy_figure(source, figures_dir):
            lines.append(f"![{source.name}](figures/{source.name})  \n{_grid_caption(source.name)}")
    intro = (
        "Denoising grids (Figures 5, 7–9), in order of the noise level: the methods side by side, then each "
        "backbone's iterate (what the verdicts score) and x0 estimate along the chain; one test image per row "
        "(different digits), every column labelled in the image; training seed 0:"
    )
    return [intro, *lines] if lines else []
