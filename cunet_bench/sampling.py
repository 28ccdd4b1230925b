"""Sampling from a trained backbone to image files (``bench sample``)."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cunet_bench.diffusion import SAMPLERS, sample
from cunet_bench.errors import UserError
from cunet_bench.image_grids import image_grid_png
from cunet_bench.files import atomic_write
from cunet_bench.records import new_run_id
from cunet_bench.training import load_trained


MAX_SAMPLES = 10_000
"""Images ``bench sample`` puts in one grid and one in-memory .npz (``bench fid`` generates more, in shards)."""


def write_samples(checkpoint: Path, expect_model: str | None, steps: int, sampler: str, count: int,
                  batch_size: int, seed: int, device: str, use_ema: bool, out: Path) -> dict[str, Any]:
    """Generate ``count`` images (each seeded by its index), write ``OUT/samples/<id>.png`` and
    ``.npz``; returns a result row with the time per sample."""
    if not 1 <= count <= MAX_SAMPLES:
        raise UserError(f"--num-samples must be between 1 and {MAX_SAMPLES:,} (one PNG grid), got {count}")
    if batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {batch_size}")
    if sampler not in SAMPLERS:
        raise UserError(f"unknown sampler {sampler!r}; samplers: {', '.join(SAMPLERS)}")
    model, config, trained_steps = load_trained(checkpoint, expect_model, use_ema, device)
    if not config.is_backbone:
        raise UserError(f"checkpoint {checkpoint} holds the denoiser {config.model!r}; sampling needs a diffusion backbone")
    diffusion = config.diffusion()
    if not 1 <= steps <= config.timesteps:
        raise UserError(f"--steps must be between 1 and {config.timesteps}, got {steps}")
    shape = (config.channels, config.resolution, config.resolution)
    started = time.perf_counter()
    batches = [sample(model, diffusion, shape, range(first, min(first + batch_size, count)), steps, sampler, seed,
                      device=device) for first in range(0, count, batch_size)]
    seconds = time.perf_counter() - started
    images = torch.cat(batches).cpu()
    run_id = new_run_id()
    folder = out / "samples"
    png, npz = folder / f"{config.model}-{sampler}{steps}-{run_id}.png", folder / f"{config.model}-{sampler}{steps}-{run_id}.npz"
    atomic_write(png, image_grid_png(images))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=images.numpy(), indices=np.arange(count), seed=seed)
    atomic_write(npz, buffer.getvalue())
    return {"model": config.model, "checkpoint": str(checkpoint), "trained_steps": trained_steps, "sampler": sampler,
            "steps": steps, "samples": count, "seconds_per_sample": seconds / count, "png": str(png), "npz": str(npz)}
