"""``bench all``: the whole pipeline for a preset as a list of ``bench`` commands — efficiency at
the preset's size, training of the backbones and denoisers, samples, denoising, FID, report.

A step whose results already exist is skipped (a run recorded with exactly the same command, or
a checkpoint trained to the preset's step count); training resumes an unfinished checkpoint and
FID reuses its sample shards, so an interrupted ``bench all`` continues where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cunet_bench import records
from cunet_bench.checkpoints import checkpoint_path, read_checkpoint
from cunet_bench.presets import Preset

TRAINED = ("unet", "cunet", "dncnn", "conv-ae")
BACKBONES = ("unet", "cunet")
DENOISERS = ("unet", "cunet", "dncnn", "conv-ae", "bm3d")
SAMPLE_STEPS = {"smoke": 2}
"""DDIM steps of the sample grids (Figure 3); 50 unless the preset is listed."""


@dataclass(frozen=True)
class Step:
    label: str
    arguments: tuple[str, ...]
    bench: str | None = None
    """The results folder the step records into; None for steps that record nothing (report)."""

    @property
    def command(self) -> str:
        import shlex

        return shlex.join(("bench", *self.arguments))


def plan(preset: Preset, results: Path, checkpoints: Path, reports: Path, seed: int, device: str) -> list[Step]:
    common = ("--seed", str(seed), "--device", device, "--out", str(results))
    steps = [Step("efficiency", ("efficiency", "--preset", preset.name, *common), "efficiency")]
    for model in TRAINED:
        steps.append(Step(f"train {model}", ("train", "--model", model, "--preset", preset.name, "--resume", "--checkpoint",
                                             str(checkpoint_path(checkpoints, model, preset.train_data, preset.name)),
                                             *common), "training"))
    for model in BACKBONES:
        path = checkpoint_path(checkpoints, model, preset.train_data, preset.name)
        steps.append(Step(f"sample {model}", ("sample", "--checkpoint", str(path), "--steps",
                                              str(SAMPLE_STEPS.get(preset.name, 50)), *common), "sample"))
    steps.append(Step("denoise", ("denoise", "--preset", preset.name, "--data", preset.train_data, "--checkpoints",
                                  str(checkpoints), "--models", ",".join(DENOISERS), "--noise-steps",
                                  ",".join(map(str, preset.denoise_noise_steps)), "--num-images",
                                  str(preset.denoise_images), *common), "denoise"))
    steps.append(Step("fid", ("fid", "--preset", preset.name, "--data", preset.train_data, "--checkpoints",
                              str(checkpoints), "--models", ",".join(BACKBONES), *common), "fid"))
    steps.append(Step("report", ("report", "--results", str(results), "--out", str(reports))))
    return steps


def already_done(step: Step, preset: Preset, results: Path) -> bool:
    """Training: the checkpoint holds the preset's steps. Others: a complete run recorded with
    exactly this command (an interrupted run records its rows marked incomplete). The report is always rebuilt (it is cheap and reads everything)."""
    if step.bench is None:
        return False
    if step.bench == "training":
        checkpoint = Path(step.arguments[step.arguments.index("--checkpoint") + 1])
        return checkpoint.is_file() and read_checkpoint(checkpoint).step >= preset.train_steps
    return any(meta.get("command") == step.command and meta.get("complete", True)
               for meta in records.load_provenance(step.bench, results).values())
