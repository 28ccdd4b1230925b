"""``bench sample``: images from a trained backbone (paper Figure 3) — a PNG grid and an .npz
under ``OUT/samples/``, each image seeded by its index, and the time per sample with the
conditions it was taken under."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from cunet_bench.benchmarks import THREADS, Benchmark, Plan, Progress, Row, Workload, no_progress
from cunet_bench.config.presets import Preset
from cunet_bench.config.resolve import resolve
from cunet_bench.config.settings import path_text, setting
from cunet_bench.diffusion.process import SAMPLERS, sample
from cunet_bench.errors import UserError
from cunet_bench.files import create_file
from cunet_bench.host.contention import Contention
from cunet_bench.host.interrupts import Interrupted
from cunet_bench.measure.image_grids import sample_grid_png
from cunet_bench.records.checkpoints import checkpoint_path
from cunet_bench.records.runs import new_run_id
from cunet_bench.registry.suite import REGISTRY, get_model

MAX_SAMPLES = 10_000
"""Images ``bench sample`` puts in one grid and one in-memory .npz (``bench fid`` generates more, in shards)."""
MAX_SAMPLING_STEPS = 100_000


@dataclass(frozen=True)
class SampleConfig:
    checkpoint: str = field(
        metadata=setting("a checkpoint written by bench train", kind=Path, read=path_text, required=True)
    )
    sampling_steps: int = field(metadata=setting("reverse steps (respaced over the training timesteps)", kind=int))
    num_samples: int = field(metadata=setting("images to generate", kind=int))
    batch_size: int = field(metadata=setting("images per forward pass (same images)", kind=int))
    model: str | None = field(default=None, metadata=setting("expected model name (checked against the checkpoint)"))
    """The model the checkpoint must hold (checked), or None for whatever it holds."""
    sampler: str = field(default="ddim", metadata=setting("ddim (η=0, the release) or ddpm (ancestral, eq. 2)"))
    raw_weights: bool = field(default=False, metadata=setting("use the raw weights instead of the EMA", flag=True))
    """Sample with the raw weights instead of the EMA."""
    out: str = "results"
    device: str = "cpu"
    seed: int = 0
    threads: int | None = field(default=None, metadata=THREADS)

    @classmethod
    def from_preset(cls, preset: Preset, **overrides: Any) -> "SampleConfig":
        return resolve(cls, preset.settings("sample"), overrides)

    def validate(self) -> None:
        if not 1 <= self.num_samples <= MAX_SAMPLES:
            raise UserError(
                f"--num-samples must be between 1 and {MAX_SAMPLES:,} (one PNG grid), got {self.num_samples}"
            )
        if not 1 <= self.batch_size <= MAX_SAMPLES:
            raise UserError(f"--batch-size must be between 1 and {MAX_SAMPLES:,}, got {self.batch_size}")
        if self.sampler not in SAMPLERS:
            raise UserError(f"unknown sampler {self.sampler!r}; samplers: {', '.join(SAMPLERS)}")
        if not 1 <= self.sampling_steps <= MAX_SAMPLING_STEPS:
            raise UserError(f"--sampling-steps must be between 1 and {MAX_SAMPLING_STEPS:,}, got {self.sampling_steps}")


def run(config: SampleConfig, progress: Progress = no_progress) -> Iterator[Row]:
    """Generate the images in batches (the batch size does not change them), write the grid and
    the .npz, and yield one row with the time per sample."""
    from cunet_bench.diffusion.loading import check_batch_fits, diffusion_of, load_trained

    checkpoint = Path(config.checkpoint)
    model, trained, trained_steps = load_trained(checkpoint, config.model, config.raw_weights, config.device)
    diffusion = diffusion_of(trained)
    if diffusion is None:
        raise UserError(
            f"checkpoint {checkpoint} holds the denoiser {trained.model!r}; sampling needs a diffusion backbone"
        )
    check_batch_fits(trained, min(config.batch_size, config.num_samples), "--batch-size")
    if config.sampling_steps > trained.timesteps:
        raise UserError(f"--sampling-steps must be between 1 and {trained.timesteps}, got {config.sampling_steps}")
    shape = (trained.channels, trained.resolution, trained.resolution)
    contention = Contention()
    batches: list[torch.Tensor] = []
    try:
        for first in range(0, config.num_samples, config.batch_size):
            progress(f"{trained.model}: {config.sampler} {config.sampling_steps} steps", first, config.num_samples)
            batches.append(
                sample(
                    model,
                    diffusion,
                    shape,
                    range(first, min(first + config.batch_size, config.num_samples)),
                    config.sampling_steps,
                    config.sampler,
                    config.seed,
                    device=config.device,
                )
            )
    except Interrupted:
        if batches:  # the batches finished before the stop are kept, as any stopped run keeps what it measured
            yield _record(config, trained.model, trained_steps, torch.cat(batches).cpu(), contention)
        raise
    yield _record(config, trained.model, trained_steps, torch.cat(batches).cpu(), contention)


def _record(config: SampleConfig, model: str, trained_steps: int, images: torch.Tensor, contention: Contention) -> Row:
    """Write the grid and the .npz of ``images`` (the first of the requested samples) and return
    their row."""
    seconds = contention.elapsed()
    count = len(images)
    stem = f"{model}-{config.sampler}{config.sampling_steps}-{new_run_id()}"
    png, npz = Path(config.out) / "samples" / f"{stem}.png", Path(config.out) / "samples" / f"{stem}.npz"
    create_file(
        png,
        sample_grid_png(
            images,
            f"{model}: {count} samples, {config.sampler} {config.sampling_steps} steps, "
            f"training step {trained_steps:,}",
        ),
    )
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=images.numpy(), indices=np.arange(count), seed=config.seed)
    create_file(npz, buffer.getvalue())
    return {
        "kind": "samples",
        "model": model,
        **get_model(model).row_fields(),
        "checkpoint": str(Path(config.checkpoint)),
        "trained_steps": trained_steps,
        "sampler": config.sampler,
        "sampling_steps": config.sampling_steps,
        "samples": count,
        "seconds_per_sample": seconds / count,
        "png": str(png),
        "npz": str(npz),
        **contention.record(),
    }


def workload(rows: list[Row]) -> Workload:
    return Workload(sum(row["samples"] for row in rows), "samples")


def summary(rows: list[Row]) -> list[tuple[str, list[Row]]]:
    return [("samples", rows)]


def plan(plan: Plan) -> list[tuple[str, SampleConfig]]:
    """``bench all``: a grid from each quality backbone's first training seed, read from its shipped
    file or the file ``bench train`` writes by default (the training steps are resolved by their own plan)."""
    steps = []
    seed = plan.train_seeds[0]
    for model in plan.models(REGISTRY.tagged("quality"), lambda spec: spec.samples):
        trained = plan.shipped(model, seed) or checkpoint_path(
            plan.checkpoints, model, plan.preset.data, plan.preset.name, seed
        )
        steps.append(
            (
                f"sample {model}",
                SampleConfig.from_preset(
                    plan.preset,
                    checkpoint=str(trained),
                    model=model,
                    out=str(plan.results),
                    seed=plan.seed,
                    device=plan.device,
                ),
            )
        )
    return steps


BENCHMARK = Benchmark(
    "sample",
    SampleConfig,
    run,
    summary=summary,
    inputs=lambda config: [Path(config.checkpoint)],
    workload=workload,
    plan=plan,
    help="""A PNG grid and an .npz under OUT/samples/, each image seeded by its index.

Example: bench sample --checkpoint checkpoints/cunet-release-mnist5k-quick-seed0.safetensors --sampling-steps 50""",
)
