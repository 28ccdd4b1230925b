"""The released convolutional autoencoder baseline: four stride-2 3×3 convs 3→64→128→256→512,
four stride-2 4×4 transposed convs back, sigmoid output (4,307,011 parameters at RGB).

Trained with binary cross-entropy on its logits, not the mean squared error of its sigmoid
output: on MNIST, whose targets are mostly black, the MSE drives the sigmoid into saturation
within 50 steps (at lr 1e-3 and 2e-4 alike) and the network collapses to a black image, where a
saturated sigmoid passes no gradient; cross-entropy's gradient on the logits is
``sigmoid(logit) − target`` and never vanishes. The architecture is the release's.
"""

from __future__ import annotations

import torch
from torch import nn


class ConvAutoencoder(nn.Module):
    """``forward(y)`` maps a noisy [0,1] image to a clean one. It is blind: trained at one noise
    level and evaluated at all, as in the paper, never given σ."""

    trains_on_logits = True
    """In training mode ``forward`` stops before the sigmoid and training takes the binary
    cross-entropy of the logits (see the module docstring)."""

    def __init__(self, channels: int = 3, widths: tuple[int, ...] = (64, 128, 256, 512)) -> None:
        super().__init__()
        encoder: list[nn.Module] = []
        previous = channels
        for width in widths:
            encoder += [nn.Conv2d(previous, width, 3, stride=2, padding=1), nn.ReLU(inplace=True)]
            previous = width
        decoder: list[nn.Module] = []
        for width in (*reversed(widths[:-1]), channels):
            decoder += [nn.ConvTranspose2d(previous, width, 4, stride=2, padding=1), nn.ReLU(inplace=True)]
            previous = width
        decoder[-1] = nn.Sigmoid()
        self.encoder = nn.Sequential(*encoder)
        self.decoder = nn.Sequential(*decoder)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        features = self.encoder(y)
        return self.decoder[:-1](features) if self.training else self.decoder(features)
