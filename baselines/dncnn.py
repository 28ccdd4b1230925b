"""DnCNN (Zhang et al. 2017): a plain conv/BatchNorm/ReLU stack that predicts the noise
(residual learning), bias-free. 17 layers gray: 556,032 parameters; 20 layers RGB: 669,312."""

from __future__ import annotations

import torch
from torch import nn


class DnCNN(nn.Module):
    """The layers predict the noise; ``forward(y)`` returns ``y − noise``.

    DnCNN is blind: it is trained at one noise level (the release: σ=0.1) and ``sigma`` is not
    an input — the paper evaluates the same network at every noise level (Table 4).
    """

    def __init__(self, channels: int = 1, depth: int = 17, width: int = 64) -> None:
        super().__init__()
        if depth < 3:
            raise ValueError(f"DnCNN needs at least 3 layers, got {depth}")
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(width, channels, 3, padding=1, bias=False))
        self.layers = nn.Sequential(*layers)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return y - self.layers(y)
