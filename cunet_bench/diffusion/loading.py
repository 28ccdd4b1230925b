"""Trained models: building a training configuration's model from the registry, and loading the
model a checkpoint holds — the one place where training configurations meet model names
(training itself receives a built model)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from cunet_bench.diffusion.process import GaussianDiffusion
from cunet_bench.diffusion.training import TrainConfig
from cunet_bench.errors import UserError
from cunet_bench.records.checkpoints import SHIPPED, load_state, read_checkpoint
from cunet_bench.records.shipped import as_run
from cunet_bench.registry.suite import get_model


def build_model(config: TrainConfig) -> nn.Module:
    """The untrained model of a training configuration (its options checked by the registry)."""
    spec = get_model(config.model)
    if "trainable" not in spec.supports:
        raise UserError(f"model {config.model!r} has nothing to train")
    return spec.instantiate(config.channels, config.resolution, **config.model_options)


def diffusion_of(config: TrainConfig) -> GaussianDiffusion | None:
    """The forward process a backbone trains with; None for a one-shot denoiser."""
    return config.diffusion() if get_model(config.model).is_backbone else None


MAX_BATCH_PIXELS = 2**22
"""The most image pixels one batch may hold (64 images at 256 px, 4 at 1024 px): every network
layer holds tens of channels per pixel, so a checkpoint that claims a large image size, or a
batch too large for it, would allocate gigabytes before anything could fail."""


def check_batch_pixels(images: int, resolution: int, option: str) -> None:
    """Refuse, before any allocation, a batch of ``images`` at ``resolution`` over :data:`MAX_BATCH_PIXELS`."""
    if images * resolution * resolution > MAX_BATCH_PIXELS:
        most = max(1, MAX_BATCH_PIXELS // (resolution * resolution))
        raise UserError(
            f"{option} {images} at {resolution}×{resolution} px is {images * resolution**2:,} pixels in one "
            f"batch, more than {MAX_BATCH_PIXELS:,}; use {option} {most} or less"
        )


MEMORY_MARGIN = 0.8
"""The share of the memory this process may still allocate that one batch may take (the rest is
for the allocator's slack, the sampler's own tensors and everything else the process holds)."""


def check_batch_fits(config: TrainConfig, images: int, option: str, training: bool = False) -> None:
    """Refuse, before any work, a batch of ``images`` that would not fit: over
    :data:`MAX_BATCH_PIXELS`, or needing more than :data:`MEMORY_MARGIN` of the memory this process
    may still allocate for one call (``training``: one training step) of the configuration's
    network, as estimated on the meta device at batch 1 and 2 and extrapolated (activations grow
    with the batch). A network that cannot run on the meta device keeps the pixel bound alone."""
    from cunet_bench.host.memory import available_bytes
    from cunet_bench.measure.footprint import call_peak_bytes
    from cunet_bench.registry.contracts import example_inputs

    check_batch_pixels(images, config.resolution, option)
    available = available_bytes()
    if available is None:
        return
    spec, size = get_model(config.model), config.resolution

    def peak(batch: int) -> int:
        inputs = example_inputs(spec, batch, config.channels, size, device="meta")
        return call_peak_bytes(
            lambda: spec.instantiate(config.channels, size, **config.model_options), inputs, training
        )

    try:
        one, two = peak(1), peak(2)
    except (RuntimeError, NotImplementedError, TypeError, ValueError):
        return
    per_image, budget = max(two - one, 1), MEMORY_MARGIN * available
    needed = one + (images - 1) * per_image
    if needed > budget:
        most = int((budget - one) // per_image) + 1
        advice = f"use {option} {most} or less" if most >= 1 else "the images are too large for this machine"
        raise UserError(
            f"{option} {images} at {size}×{size} px needs about {needed / 2**30:.1f} GiB for one "
            f"{'training step' if training else 'call'} of {config.model}, more than {MEMORY_MARGIN:.0%} of the "
            f"{available / 2**30:.1f} GiB this process may still allocate; {advice}"
        )


def load_trained(
    checkpoint: Path | str, expect_model: str | None = None, raw_weights: bool = False, device: str = "cpu"
) -> tuple[nn.Module, TrainConfig, int]:
    """The trained model of a checkpoint (its EMA weights unless ``raw_weights``), its checked
    configuration and step. The checkpoint is untrusted: every tensor must have the shape and
    dtype of the model its configuration builds (a shipped file's: fp16, run in fp32) and be finite."""
    saved = read_checkpoint(checkpoint)
    config = TrainConfig.from_record(saved.config, checkpoint)
    if expect_model is not None and config.model != expect_model:
        raise UserError(f"checkpoint {checkpoint} holds model {config.model!r}, not {expect_model!r}")
    model = build_model(config)
    state = saved.model_state if raw_weights else saved.ema_state
    if saved.role == SHIPPED:
        if raw_weights:
            raise UserError(f"{checkpoint} holds shipped EMA weights alone, not the raw weights")
        wrong = sorted(k for k, v in state.items() if v.is_floating_point() and v.dtype != torch.float16)
        if wrong:
            raise UserError(f"{checkpoint}: shipped tensor {wrong[0]} is {state[wrong[0]].dtype}, not float16")
        state = as_run(state)
    load_state(model, state, checkpoint, f"model {config.model}")
    return model.to(device).eval(), config, saved.step
