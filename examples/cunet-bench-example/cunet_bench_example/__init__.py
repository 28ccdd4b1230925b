"""An example plugin for cunet-bench: how to benchmark your own models.

Two models, registered through the ``cunet_bench.models`` entry point (see pyproject.toml):

* ``example-backbone`` — a tiny diffusion backbone following the backbone contract
  ``forward(x, t)`` (x in [-1, 1], integer timesteps t). ``bench train`` trains it, then
  ``bench efficiency``, ``bench sample``, ``bench denoise`` and ``bench fid`` measure it.
* ``example-blur`` — a one-shot denoiser following the denoiser contract ``denoise(y, sigma)``
  (y in [0, 1], σ in the same units): a Gaussian blur whose width grows with the noise level.
  It has nothing to train; ``bench denoise --models example-blur`` runs it as it is.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from cunet_bench.registry.spec import ModelSpec
from torch import nn


class ExampleBackbone(nn.Module):
    """Two 3×3 convolutions around a SiLU, the timestep added as a learned per-channel bias."""

    def __init__(self, channels: int, width: int = 32, timesteps: int = 1000) -> None:
        super().__init__()
        self.inp = nn.Conv2d(channels, width, 3, padding=1)
        self.time = nn.Embedding(timesteps, width)
        self.out = nn.Conv2d(width, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.out(F.silu(self.inp(x) + self.time(t.long())[:, :, None, None]))


class ExampleBlur:
    """A Gaussian blur of standard deviation ``scale · σ`` pixels per unit of noise (σ in [0, 1]
    units): stronger smoothing for stronger noise."""

    def __init__(self, scale: float = 8.0) -> None:
        self.scale = scale

    def denoise(self, y: torch.Tensor, sigma: float) -> torch.Tensor:
        width = max(self.scale * sigma, 1e-3)
        radius = max(1, math.ceil(2 * width))
        offsets = torch.arange(-radius, radius + 1, dtype=y.dtype, device=y.device)
        kernel = torch.exp(-offsets.square() / (2 * width**2))
        kernel = kernel / kernel.sum()
        channels = y.shape[1]
        horizontal = kernel.reshape(1, 1, 1, -1).repeat(channels, 1, 1, 1)
        vertical = kernel.reshape(1, 1, -1, 1).repeat(channels, 1, 1, 1)
        padded = F.pad(y, (radius, radius, radius, radius), mode="replicate")
        return F.conv2d(F.conv2d(padded, horizontal, groups=channels), vertical, groups=channels)


SPECS = [
    ModelSpec(
        name="example-backbone",
        family="unet",
        description="example plugin: a tiny diffusion backbone",
        build=lambda channels, image_size, **options: ExampleBackbone(channels, **options),
        default_channels=1,
        default_image_size=32,
        supports=frozenset({"trainable"}),
        option_ranges={"width": (1, 1024), "timesteps": (1, 100_000)},
        scales={"tiny": {"width": 8}, "cpu": {"width": 16}},
    ),
    ModelSpec(
        name="example-blur",
        family="denoiser",
        description="example plugin: a noise-adaptive Gaussian blur",
        build=lambda channels, image_size, **options: ExampleBlur(**options),
        default_channels=1,
        default_image_size=32,
        option_ranges={"scale": (0.0, 100.0)},
    ),
]
"""``option_ranges`` bound every option (a typo is refused before anything is built); ``scales``
give the narrower widths the CPU presets train at (``tiny`` for smoke, ``cpu`` for quick and
reference) — without them the presets train a model at its default width."""
