"""Layers shared by the U-Net and the continuous U-Net: timestep embedding, RMSNorm, instance
normalisation, attention.

The two normalisations compute what the released code's layers compute (``F.normalize`` and
``nn.InstanceNorm2d``) to float32 rounding, through ATen kernels that are several times faster on
a CPU: a channel reduction over an NCHW tensor and ``native_batch_norm`` on a reshaped tensor are
slow paths there (docs/measurements.md §6).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def sinusoidal_embedding(timesteps: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer-style timestep embedding of Ho et al. (2020): ``[sin(t·ω_k), cos(t·ω_k)]``
    with ``ω_k = 10000^(-k/(dim/2 - 1))``, shape ``[B, dim]``."""
    if dim % 2 or dim < 4:
        raise ValueError(f"embedding dimension must be even and >= 4, got {dim}")
    half = dim // 2
    frequencies = torch.exp(
        torch.arange(half, device=timesteps.device, dtype=torch.float32) * (-math.log(10000.0) / (half - 1))
    )
    angles = timesteps.float()[:, None] * frequencies[None, :]
    return torch.cat((angles.sin(), angles.cos()), dim=1)


class RMSNorm(nn.Module):
    """Channel RMS normalisation of the released code: L2-normalise over channels, times a
    learned gain, times ``sqrt(C)``.

    ``F.normalize``'s ``x / max(‖x‖, ε)`` is written as ``x · rsqrt(max(‖x‖², ε²))`` — the
    same value — because the sum of squares over channels runs on a fast kernel."""

    EPS = 1e-12
    """``F.normalize``'s default, the release's."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.scale = channels**0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inverse_norm = torch.rsqrt(x.square().sum(dim=1, keepdim=True).clamp_min(self.EPS**2))
        return x * inverse_norm * self.gain * self.scale


class InstanceNorm(nn.Module):
    """``nn.InstanceNorm2d(channels)`` as the released cU-Net builds it (no affine parameters, no
    running statistics), computed as a group norm with one channel per group."""

    EPS = 1e-5
    """``nn.InstanceNorm2d``'s default."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels

    def extra_repr(self) -> str:
        return str(self.channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.group_norm(x, self.channels, eps=self.EPS)


class SoftmaxAttention(nn.Module):
    """Multi-head softmax self-attention over pixels with an RMSNorm pre-norm, bias-free 1×1
    qkv and a 1×1 output projection (the released U-Net's mid/last-level attention and the
    cU-Net's attention). Returns the attention output; the caller adds it or not."""

    def __init__(self, channels: int, heads: int = 4, dim_head: int = 32) -> None:
        super().__init__()
        hidden = heads * dim_head
        self.heads = heads
        self.scale = dim_head**-0.5
        self.norm = RMSNorm(channels)
        self.to_qkv = nn.Conv2d(channels, hidden * 3, 1, bias=False)
        self.to_out = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Written with einsum rather than scaled_dot_product_attention so that fvcore counts
        # the attention matrix products (docs/protocol.md §2: 0.091 G of the U-Net's 7.318 G).
        b, _, h, w = x.shape
        q, k, v = self.to_qkv(self.norm(x)).reshape(b, 3, self.heads, -1, h * w).unbind(1)
        attention = torch.einsum("bhdi,bhdj->bhij", q * self.scale, k).softmax(dim=-1)
        out = torch.einsum("bhij,bhdj->bhdi", attention, v)
        return self.to_out(out.reshape(b, -1, h, w))


class LinearAttention(nn.Module):
    """Linear attention of the released U-Net (levels 1–3): softmax of q over features and of k
    over pixels, context ``k vᵀ`` then ``context·q``; RMSNorm pre-norm and after the output
    projection. Cost is linear in the number of pixels."""

    def __init__(self, channels: int, heads: int = 4, dim_head: int = 32) -> None:
        super().__init__()
        hidden = heads * dim_head
        self.heads = heads
        self.scale = dim_head**-0.5
        self.norm = RMSNorm(channels)
        self.to_qkv = nn.Conv2d(channels, hidden * 3, 1, bias=False)
        self.to_out = nn.Sequential(nn.Conv2d(hidden, channels, 1), RMSNorm(channels))

    SPLIT_BYTES = 4 * 2**20
    """qkv outputs from this size on are convolved a third at a time (see ``_qkv``)."""

    def _qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """q, k and v, each ``[b, heads, dim_head, pixels]``.

        A large qkv output is convolved with the weight's thirds rather than at once: the same
        values (bitwise here), but the backward pass then never copies q, k and v's gradients
        into one tensor. Below a size three small convolutions cost more than one, hence the
        threshold (docs/measurements.md §7)."""
        b, _, h, w = x.shape
        if b * h * w * self.to_qkv.out_channels * x.element_size() < self.SPLIT_BYTES:
            return self.to_qkv(x).reshape(b, 3, self.heads, -1, h * w).unbind(1)
        return tuple(F.conv2d(x, third).reshape(b, self.heads, -1, h * w) for third in self.to_qkv.weight.chunk(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        q, k, v = self._qkv(self.norm(x))
        q = q.softmax(dim=-2) * self.scale
        k = k.softmax(dim=-1)
        context = torch.einsum("bhdn,bhen->bhde", k, v)
        out = torch.einsum("bhde,bhdn->bhen", context, q)
        return self.to_out(out.reshape(b, -1, h, w))
