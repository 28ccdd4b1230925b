"""An example plugin for cunet-bench: how to benchmark your own models (docs/plugins.md).

Four models, registered through the ``cunet_bench.models`` entry point (see pyproject.toml):

* ``example-backbone`` — a tiny diffusion backbone following the backbone contract
  ``forward(x, t)`` (x in [-1, 1], integer timesteps t). ``bench train`` trains it, then
  ``bench efficiency``, ``bench sample``, ``bench denoise`` and ``bench fid`` measure it.
* ``example-residual`` — a blind trainable denoiser, ``forward(y)``: y in [0, 1], noisy; it
  returns the clean estimate and never sees σ (like DnCNN).
* ``example-noise-map`` — a non-blind trainable denoiser, ``forward(y, sigma)``: σ is one value per
  image (a ``[B]`` tensor, [0, 1] units), fed to the network as an extra input channel. It
  declares ``supports={"trainable", "noise-level"}``; training gives it the σ of the noise it
  adds, evaluation the σ of each level.
* ``example-blur`` — a one-shot denoiser following ``denoise(y, sigma)``: a Gaussian blur whose
  width grows with the noise level. It has nothing to train; ``bench denoise`` runs it as it is.
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


def noise_predictor(inputs: int, channels: int, width: int, depth: int) -> nn.Sequential:
    """``depth`` 3×3 convolutions with ReLUs between them, from ``inputs`` channels to ``channels``."""
    layers: list[nn.Module] = [nn.Conv2d(inputs, width, 3, padding=1), nn.ReLU()]
    for _ in range(depth - 2):
        layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU()]
    layers.append(nn.Conv2d(width, channels, 3, padding=1))
    return nn.Sequential(*layers)


class ExampleResidual(nn.Module):
    """A blind residual denoiser: the layers predict the noise, subtracted from ``y``."""

    def __init__(self, channels: int, width: int = 32, depth: int = 4) -> None:
        super().__init__()
        self.layers = noise_predictor(channels, channels, width, depth)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return y - self.layers(y)


class ExampleNoiseMap(nn.Module):
    """The residual denoiser made non-blind: σ enters as a constant extra input channel (FFDNet's noise map)."""

    def __init__(self, channels: int, width: int = 32, depth: int = 4) -> None:
        super().__init__()
        self.layers = noise_predictor(channels + 1, channels, width, depth)

    def forward(self, y: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        noise_map = sigma.reshape(-1, 1, 1, 1).expand(-1, 1, *y.shape[2:])
        return y - self.layers(torch.cat([y, noise_map], dim=1))


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
        name="example-residual",
        family="denoiser",
        description="example plugin: a blind residual denoiser, forward(y)",
        build=lambda channels, image_size, **options: ExampleResidual(channels, **options),
        default_channels=1,
        default_image_size=32,
        supports=frozenset({"trainable"}),
        option_ranges={"width": (1, 1024), "depth": (2, 100)},
        scales={"tiny": {"width": 8}, "cpu": {"width": 16}},
    ),
    ModelSpec(
        name="example-noise-map",
        family="denoiser",
        description="example plugin: a non-blind residual denoiser, forward(y, sigma)",
        build=lambda channels, image_size, **options: ExampleNoiseMap(channels, **options),
        default_channels=1,
        default_image_size=32,
        supports=frozenset({"trainable", "noise-level"}),
        option_ranges={"width": (1, 1024), "depth": (2, 100)},
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
