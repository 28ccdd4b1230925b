"""Image-quality metrics, batched (one value per image)."""

from __future__ import annotations

import torch


def psnr(estimate: torch.Tensor, reference: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image of ``[B, C, H, W]`` batches:
    ``10·log10(data_range² / MSE)``; +inf for a perfect estimate."""
    mse = (estimate.double() - reference.double()).square().flatten(1).mean(dim=1)
    return 10 * torch.log10(data_range**2 / mse)
