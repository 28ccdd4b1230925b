"""The report's samples and training section (Figure 3, training curves and checks). A training
run that resumed a checkpoint is shown with the runs before it: where it resumed, and the whole
time from step 0 — or, when the earlier run is not in the folder, that it is missing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cunet_bench.report import figures
from cunet_bench.report.figure_folder import copy_figure
from cunet_bench.report.markdown import Section, markdown_table, missing
from cunet_bench.report.results import Results


def _sample_grids(results: Results, section: Section, figures_dir: Path) -> None:
    runs = results.runs("sample")
    if runs.empty:
        missing(
            section,
            "sample grids",
            "bench sample --checkpoint checkpoints/cunet-release-mnist5k-quick-seed0.safetensors",
        )
        return
    for row in runs.sort_values("run_id").groupby("model").tail(1).itertuples():
        source = results.folder / "samples" / Path(str(row.png)).name
        if copy_figure(source, figures_dir):
            section.body.append(
                f"![{row.model}](figures/{source.name})  \n{row.paper_name} (`{row.model}`): "
                f"{int(row.samples)} samples, {row.sampler} {int(row.sampling_steps)} steps, "
                f"{row.seconds_per_sample:.3f} s per sample, training step {int(row.trained_steps):,}"
            )
            section.runs.append(results.provenance_line("sample", str(row.run_id)))


def training_table(results: Results) -> list[dict[str, Any]]:
    """Per checkpoint (model and training seed): the steps reached, where the last run resumed,
    the time of every recorded run of it added up, and the check of the trained model."""
    training = results.runs("training")
    final = training[training.kind == "final"]
    table = []
    for (model, checkpoint), runs in final.sort_values("run_id").groupby(["model", "checkpoint"], sort=True):
        last = runs.iloc[-1]
        chain = runs[runs.step <= last.step]
        starts = set(chain.resumed_from.astype(int))
        ends = set(chain.step.astype(int))
        gap = sorted(start for start in starts if start and start not in ends)
        table.append(
            {
                "model": model,
                "seed": int(last.train_seed),
                "steps": int(last.step),
                "resumed from": int(last.resumed_from),
                "runs": len(chain),
                "seconds (all runs)": float(chain.seconds.sum()),
                "images/s (last run)": last.images_per_s,
                "busy machine": bool(chain.contended.fillna(False).any()),
                "missing run": f"steps 0–{gap[0]} are not in this folder" if gap else "—",
                "loss": last.loss_type,
                "PSNR noisy (dB)": last.psnr_noisy_db,
                "PSNR model (dB)": last.psnr_model_db,
            }
        )
    return table


def samples_section(results: Results, figures_dir: Path) -> Section:
    section = Section("samples", "Samples (Figure 3) and training")
    _sample_grids(results, section, figures_dir)
    training = results.runs("training")
    if training.empty:
        return missing(section, "training runs", "bench train --model cunet-release --preset quick")
    log = training[training.kind == "log"].assign(
        seed=lambda f: f.train_seed, loss_type=lambda f: f.loss_type.fillna("training loss")
    )
    latest = log.groupby(["model", "checkpoint"], dropna=False).run_id.transform("max")
    figures.training_curves(
        log[log.run_id == latest], figures_dir / "training.png", figures.role_colours(results.model_tags())
    )
    section.body += [
        "Training, per model and training seed (the check: PSNR of the EMA model's x0 estimate at noise "
        "step 50 for backbones, of the denoiser's output at its training σ for denoisers, against the "
        "noisy input's):",
        markdown_table(training_table(results)),
        "![Training loss](figures/training.png)  \nTraining loss against optimizer step, one panel per "
        "kind of loss; one line per model and seed (the latest run of each checkpoint).",
    ]
    section.runs += [results.provenance_line("training", str(run)) for run in sorted(training.run_id.unique())]
    return section
