"""The released code's own layer implementations, kept as the reference our faster layers are held
to: ``nn.InstanceNorm2d`` where our cU-Net uses :class:`~cunet_bench.models.layers.InstanceNorm`,
``F.normalize`` where our RMSNorm sums squares, one qkv convolution where our linear attention
splits a large one. Tests compare the two implementations, and
``bench efficiency --variants release-layers`` times a model built with these beside ours."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from cunet_bench.models.layers import InstanceNorm, LinearAttention, RMSNorm
from torch import nn


class ReleaseRMSNorm(nn.Module):
    """RMSNorm exactly as ``denoising_diffusion_pytorch`` writes it, sharing the gain of ours."""

    def __init__(self, ours: RMSNorm) -> None:
        super().__init__()
        self.gain = ours.gain
        self.scale = ours.scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=1) * self.gain * self.scale


def with_release_layers(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose layers run the release's implementations (same weights)."""
    model = copy.deepcopy(model)
    for module in list(model.modules()):
        if isinstance(module, LinearAttention):
            module.SPLIT_BYTES = float("inf")
        for name, child in list(module.named_children()):
            if isinstance(child, InstanceNorm):
                setattr(module, name, nn.InstanceNorm2d(child.channels))
            elif isinstance(child, RMSNorm):
                setattr(module, name, ReleaseRMSNorm(child))
    return model
