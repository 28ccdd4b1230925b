"""``bench sample``: images from a trained backbone (paper Figure 3) — a PNG grid and an .npz
under ``OUT/samples/``, each image seeded by its index, and the time per sample."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from cunet_bench.configs import resolve
from cunet_bench.diffusion import SAMPLERS, sample
from cunet_bench.errors import UserError
from cunet_bench.files import atomic_write
from cunet_bench.image_grids import image_grid_png
from cunet_bench.presets import Preset
from cunet_bench.records import new_run_id
from cunet_bench.runner import Benchmark, Progress
from cunet_bench.training import load_trained

MAX_SAMPLES = 10_000
"""Images ``bench sample`` puts in one grid and one in-memory .npz (``bench fid`` generates more, in shards)."""


@dataclass(frozen=True)
class SampleConfig:
    checkpoint: str
    model: str | None = None
    """The model the checkpoint must hold (checked), or None for whatever it holds."""
    steps: int = 50
    sampler: str = "ddim"
    num_samples: int = 16
    batch_size: int = 16
    use_ema: bool = True
    out: str = "results"
    device: str = "cpu"
    seed: int = 0

    @classmethod
    def from_preset(cls, preset: Preset, **overrides: Any) -> "SampleConfig":
        return resolve(cls, dict(checkpoint="", steps=preset.sample_steps, num_samples=preset.sample_count,
                                 batch_size=preset.sample_count), overrides)

    def validate(self) -> None:
        if not 1 <= self.num_samples <= MAX_SAMPLES:
            raise UserError(f"--num-samples must be between 1 and {MAX_SAMPLES:,} (one PNG grid), got {self.num_samples}")
        if self.batch_size < 1:
            raise UserError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.sampler not in SAMPLERS:
            raise UserError(f"unknown sampler {self.sampler!r}; samplers: {', '.join(SAMPLERS)}")
        if self.steps < 1:
            raise UserError(f"--steps must be at least 1, got {self.steps}")


def run(config: SampleConfig, progress: Progress = lambda _: None) -> Iterator[dict[str, Any]]:
    """Generate the images in batches (the batch size does not change them), write the grid and
    the .npz, and yield one row with the time per sample."""
    checkpoint = Path(config.checkpoint)
    model, trained, trained_steps = load_trained(checkpoint, config.model, config.use_ema, config.device)
    if not trained.is_backbone:
        raise UserError(f"checkpoint {checkpoint} holds the denoiser {trained.model!r}; sampling needs a diffusion backbone")
    diffusion = trained.diffusion()
    if config.steps > trained.timesteps:
        raise UserError(f"--steps must be between 1 and {trained.timesteps}, got {config.steps}")
    shape = (trained.channels, trained.resolution, trained.resolution)
    progress(f"{trained.model}: {config.num_samples} samples, {config.sampler} {config.steps} steps")
    started = time.perf_counter()
    batches = [sample(model, diffusion, shape, range(first, min(first + config.batch_size, config.num_samples)),
                      config.steps, config.sampler, config.seed, device=config.device)
               for first in range(0, config.num_samples, config.batch_size)]
    seconds = time.perf_counter() - started
    images = torch.cat(batches).cpu()
    stem = f"{trained.model}-{config.sampler}{config.steps}-{new_run_id()}"
    png, npz = Path(config.out) / "samples" / f"{stem}.png", Path(config.out) / "samples" / f"{stem}.npz"
    atomic_write(png, image_grid_png(images))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=images.numpy(), indices=np.arange(config.num_samples), seed=config.seed)
    atomic_write(npz, buffer.getvalue())
    yield {"model": trained.model, "checkpoint": str(checkpoint), "trained_steps": trained_steps,
           "sampler": config.sampler, "steps": config.steps, "samples": config.num_samples,
           "seconds_per_sample": seconds / config.num_samples, "png": str(png), "npz": str(npz)}


def summary(rows: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    return [("samples", rows)]


BENCHMARK = Benchmark("sample", run, summary=summary, inputs=lambda config: [Path(config.checkpoint)])
