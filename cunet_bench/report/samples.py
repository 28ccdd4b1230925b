"""The report's samples and training section (Figure 3, training curves and checks)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from cunet_bench.report import figures
from cunet_bench.report.markdown import Section, markdown_table, missing
from cunet_bench.report.results import Results


def samples_section(results: Results, figures_dir: Path) -> Section:
    section = Section("samples", "Samples (Figure 3) and training")
    sample_runs = results.runs("sample")
    latest_samples = [] if sample_runs.empty else sample_runs.sort_values("run_id").groupby("model").tail(1).itertuples()
    if sample_runs.empty:
        missing(section, "sample grids", "bench sample --checkpoint checkpoints/cunet-release-mnist5k-quick-seed0.safetensors")
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
        return missing(section, "training runs", "bench train --model cunet-release --preset quick")
    logs, checks = [], []
    for (model, checkpoint), rows in training.groupby(["model", "checkpoint"] if "checkpoint" in training else
                                                      ["model", "model"], sort=True):
        latest = rows[rows.run_id == rows.run_id.max()]
        run_id = latest.run_id.iloc[0]
        seed = results.training_seed(run_id)
        backbone = "quality" in results.tags(model)
        log = latest[latest.loss.notna()][["model", "step", "loss"]].assign(seed=seed, backbone=backbone)
        logs.append(log)
        final = latest[latest.seconds.notna()] if "seconds" in latest else latest.iloc[0:0]
        if not final.empty:
            f = final.iloc[-1]
            checks.append({"model": model, "seed": seed, "steps": int(f.step), "images/s": f.images_per_s,
                           "seconds": f.seconds, "PSNR noisy (dB)": f.get("psnr_noisy_db"),
                           "PSNR model (dB)": f.get("psnr_model_db")})
        section.runs.append(results.provenance_line("training", run_id))
    figures.training_curves(pd.concat(logs), figures_dir / "training.png")
    section.body += ["Training, per model and training seed (the check: PSNR of the EMA model's x0 estimate at noise "
                     "step 50 for backbones, of the denoiser's output at its training σ for denoisers, against the "
                     "noisy input's):", markdown_table(checks),
                     "![Training loss](figures/training.png)  \nTraining loss against optimizer step, backbones and "
                     "denoisers apart (their losses are different quantities); one line per model and seed."]
    return section
