"""The two model contracts of the harness (docs/architecture.md, "The flow of data")."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class Backbone(Protocol):
    """A diffusion denoiser: ``x`` ``[B,C,H,W]`` in [-1, 1], ``t`` integer timesteps ``[B]``."""

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Denoiser(Protocol):
    """A one-shot denoiser: ``y`` ``[B,C,H,W]`` in [0, 1] (noisy, may leave the range) and the
    noise standard deviation ``sigma`` in the same units; returns the estimate of the clean image."""

    def denoise(self, y: torch.Tensor, sigma: float) -> torch.Tensor: ...


def example_inputs(
    family: str, batch: int, channels: int, image_size: int, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, ...]:
    """Inputs of one call under the family's contract: ``(x, t)`` for backbones (x in [-1, 1],
    t spread over the 1000 training steps), ``(y,)`` in [0, 1] for learned denoisers."""
    generator = torch.Generator().manual_seed(0)
    if family == "denoiser":
        return (torch.rand(batch, channels, image_size, image_size, generator=generator).to(device),)
    x = torch.rand(batch, channels, image_size, image_size, generator=generator).mul(2).sub(1).to(device)
    t = torch.randint(0, 1000, (batch,), generator=generator).to(device)
    return x, t
