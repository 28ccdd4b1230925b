"""The two model contracts of the harness (DESIGN.md, "The flow of data")."""

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
