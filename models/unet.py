"""Discrete U-Net backbones.

* ``unet`` — the paper's baseline as released: ``denoising_diffusion_pytorch`` v1.8.3
  ``Unet(dim=64, dim_mults=(1, 2, 4, 8))``; 35,710,339 parameters at 3 channels
  (docs/protocol.md §2). Its MACs at 1×3×64×64 are the paper's "7.21 GFLOPs" (Table 5).
* ``unet-ddpm`` — Ho et al. (2020)'s CIFAR-10 U-Net, 35,746,307 parameters (docs/protocol.md §3),
  which the paper's text names as its baseline but its code does not use.

Both follow the backbone contract ``forward(x, t)`` with ``x`` in [-1, 1], ``t`` integer
timesteps ``[B]``.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from cunet_bench.models.layers import LinearAttention, SoftmaxAttention, sinusoidal_embedding
from torch import nn


class _ConvNormAct(nn.Module):
    """3×3 conv → GroupNorm → optional FiLM ``x·(1+scale)+shift`` → SiLU (v1.8.3 ``Block``)."""

    def __init__(self, dim_in: int, dim_out: int, groups: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(dim_in, dim_out, 3, padding=1)
        self.norm = nn.GroupNorm(groups, dim_out)

    def forward(self, x: torch.Tensor, scale_shift: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        x = self.norm(self.proj(x))
        if scale_shift is not None:
            scale, shift = scale_shift
            x = x * (scale + 1) + shift
        return F.silu(x)


class _ReleaseResBlock(nn.Module):
    """Two conv blocks; the time embedding scales and shifts the first; 1×1 residual conv when widths differ."""

    def __init__(self, dim_in: int, dim_out: int, time_dim: int, groups: int) -> None:
        super().__init__()
        self.time_mlp = nn.Sequential(nn.SiLU(), nn.Linear(time_dim, dim_out * 2))
        self.block1 = _ConvNormAct(dim_in, dim_out, groups)
        self.block2 = _ConvNormAct(dim_out, dim_out, groups)
        self.res_conv = nn.Conv2d(dim_in, dim_out, 1) if dim_in != dim_out else nn.Identity()

    def forward(self, x: torch.Tensor, time_emb: torch.Tensor) -> torch.Tensor:
        scale, shift = self.time_mlp(time_emb)[:, :, None, None].chunk(2, dim=1)
        h = self.block2(self.block1(x, (scale, shift)))
        return h + self.res_conv(x)


class _Residual(nn.Module):
    def __init__(self, fn: nn.Module) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fn(x)


def _downsample(dim_in: int, dim_out: int) -> nn.Module:
    """Space-to-depth (2×2 pixels → 4× channels) then a 1×1 conv."""
    return nn.Sequential(nn.PixelUnshuffle(2), nn.Conv2d(dim_in * 4, dim_out, 1))


def _upsample(dim_in: int, dim_out: int) -> nn.Module:
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(dim_in, dim_out, 3, padding=1))


class ReleaseUNet(nn.Module):
    """The released baseline (``denoising_diffusion_pytorch`` v1.8.3 ``Unet``), layer by layer."""

    def __init__(
        self,
        channels: int = 3,
        dim: int = 64,
        dim_mults: Sequence[int] = (1, 2, 4, 8),
        groups: int = 8,
        heads: int = 4,
        dim_head: int = 32,
    ) -> None:
        super().__init__()
        self.dim = dim
        time_dim = dim * 4
        dims = [dim, *(dim * m for m in dim_mults)]
        in_out = list(zip(dims[:-1], dims[1:]))
        levels = len(in_out)
        self.init_conv = nn.Conv2d(channels, dim, 7, padding=3)
        self.time_mlp = nn.Sequential(nn.Linear(dim, time_dim), nn.GELU(), nn.Linear(time_dim, time_dim))

        def attention(width: int, full: bool) -> nn.Module:
            layer = SoftmaxAttention(width, heads, dim_head) if full else LinearAttention(width, heads, dim_head)
            return _Residual(layer)

        self.downs = nn.ModuleList()
        for index, (dim_in, dim_out) in enumerate(in_out):
            last = index == levels - 1
            self.downs.append(
                nn.ModuleList(
                    [
                        _ReleaseResBlock(dim_in, dim_in, time_dim, groups),
                        _ReleaseResBlock(dim_in, dim_in, time_dim, groups),
                        attention(dim_in, full=last),
                        nn.Conv2d(dim_in, dim_out, 3, padding=1) if last else _downsample(dim_in, dim_out),
                    ]
                )
            )
        mid = dims[-1]
        self.mid_block1 = _ReleaseResBlock(mid, mid, time_dim, groups)
        self.mid_attn = _Residual(SoftmaxAttention(mid, heads, dim_head))
        self.mid_block2 = _ReleaseResBlock(mid, mid, time_dim, groups)
        self.ups = nn.ModuleList()
        for index, (dim_in, dim_out) in enumerate(reversed(in_out)):
            first, last = index == 0, index == levels - 1
            self.ups.append(
                nn.ModuleList(
                    [
                        _ReleaseResBlock(dim_out + dim_in, dim_out, time_dim, groups),
                        _ReleaseResBlock(dim_out + dim_in, dim_out, time_dim, groups),
                        attention(dim_out, full=first),
                        nn.Conv2d(dim_out, dim_in, 3, padding=1) if last else _upsample(dim_out, dim_in),
                    ]
                )
            )
        self.final_res_block = _ReleaseResBlock(dim * 2, dim, time_dim, groups)
        self.final_conv = nn.Conv2d(dim, channels, 1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        x = self.init_conv(x)
        initial = x
        time_emb = self.time_mlp(sinusoidal_embedding(t, self.dim))
        skips = []
        for block1, block2, attn, downsample in self.downs:
            x = block1(x, time_emb)
            skips.append(x)
            x = attn(block2(x, time_emb))
            skips.append(x)
            x = downsample(x)
        x = self.mid_block2(self.mid_attn(self.mid_block1(x, time_emb)), time_emb)
        for block1, block2, attn, upsample in self.ups:
            x = block1(torch.cat((x, skips.pop()), dim=1), time_emb)
            x = attn(block2(torch.cat((x, skips.pop()), dim=1), time_emb))
            x = upsample(x)
        x = self.final_res_block(torch.cat((x, initial), dim=1), time_emb)
        return self.final_conv(x)


class _HoResBlock(nn.Module):
    """GroupNorm → swish → conv, plus the projected time embedding, GroupNorm → swish →
    dropout → conv, with a 1×1 shortcut when widths differ (Ho et al. 2020)."""

    def __init__(self, dim_in: int, dim_out: int, time_dim: int, dropout: float, groups: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, dim_in)
        self.conv1 = nn.Conv2d(dim_in, dim_out, 3, padding=1)
        self.time_proj = nn.Linear(time_dim, dim_out)
        self.norm2 = nn.GroupNorm(groups, dim_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(dim_out, dim_out, 3, padding=1)
        self.shortcut = nn.Conv2d(dim_in, dim_out, 1) if dim_in != dim_out else nn.Identity()

    def forward(self, x: torch.Tensor, time_emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_proj(F.silu(time_emb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.shortcut(x) + h


class _HoAttention(nn.Module):
    """Single-head self-attention with 1×1 q, k, v and output projections, residual."""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        normed = self.norm(x)
        q, k, v = (layer(normed).reshape(b, c, h * w) for layer in (self.q, self.k, self.v))
        attention = torch.einsum("bci,bcj->bij", q * c**-0.5, k).softmax(dim=-1)
        out = torch.einsum("bij,bcj->bci", attention, v).reshape(b, c, h, w)
        return x + self.proj_out(out)


class _HoDownsample(nn.Module):
    """3×3 stride-2 conv with TensorFlow 'SAME' padding (pad right/bottom by one)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class HoUNet(nn.Module):
    """Ho et al. (2020) DDPM U-Net: CIFAR-10 defaults ``ch=128, ch_mult=(1,2,2,2)``, two
    ResBlocks per level, attention at 16×16, dropout 0.1, GroupNorm(32), swish."""

    def __init__(
        self,
        channels: int = 3,
        image_size: int = 32,
        ch: int = 128,
        ch_mult: Sequence[int] = (1, 2, 2, 2),
        num_res_blocks: int = 2,
        attn_resolutions: Sequence[int] = (16,),
        dropout: float = 0.1,
        groups: int = 32,
    ) -> None:
        super().__init__()
        self.ch = ch
        time_dim = ch * 4
        self.time_mlp = nn.Sequential(nn.Linear(ch, time_dim), nn.SiLU(), nn.Linear(time_dim, time_dim))
        self.conv_in = nn.Conv2d(channels, ch, 3, padding=1)
        widths = [ch * m for m in ch_mult]
        resolution = image_size
        block_in = ch
        skip_widths = [ch]
        self.down_blocks = nn.ModuleList()
        self.down_attn = nn.ModuleList()
        self.downsample = nn.ModuleList()
        for level, width in enumerate(widths):
            for _ in range(num_res_blocks):
                self.down_blocks.append(_HoResBlock(block_in, width, time_dim, dropout, groups))
                self.down_attn.append(_HoAttention(width, groups) if resolution in attn_resolutions else nn.Identity())
                block_in = width
                skip_widths.append(width)
            if level != len(widths) - 1:
                self.downsample.append(_HoDownsample(block_in))
                skip_widths.append(block_in)
                resolution //= 2
        self.mid_block1 = _HoResBlock(block_in, block_in, time_dim, dropout, groups)
        self.mid_attn = _HoAttention(block_in, groups)
        self.mid_block2 = _HoResBlock(block_in, block_in, time_dim, dropout, groups)
        self.up_blocks = nn.ModuleList()
        self.up_attn = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for level in reversed(range(len(widths))):
            for _ in range(num_res_blocks + 1):
                self.up_blocks.append(
                    _HoResBlock(block_in + skip_widths.pop(), widths[level], time_dim, dropout, groups)
                )
                self.up_attn.append(
                    _HoAttention(widths[level], groups) if resolution in attn_resolutions else nn.Identity()
                )
                block_in = widths[level]
            if level != 0:
                self.upsample.append(_upsample(block_in, block_in))
                resolution *= 2
        self.num_res_blocks = num_res_blocks
        self.norm_out = nn.GroupNorm(groups, block_in)
        self.conv_out = nn.Conv2d(block_in, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        time_emb = self.time_mlp(sinusoidal_embedding(t, self.ch))
        h = self.conv_in(x)
        skips = [h]
        blocks = iter(zip(self.down_blocks, self.down_attn))
        for level in range(len(self.downsample) + 1):
            for _ in range(self.num_res_blocks):
                block, attn = next(blocks)
                h = attn(block(h, time_emb))
                skips.append(h)
            if level < len(self.downsample):
                h = self.downsample[level](h)
                skips.append(h)
        h = self.mid_block2(self.mid_attn(self.mid_block1(h, time_emb)), time_emb)
        blocks = iter(zip(self.up_blocks, self.up_attn))
        for level in range(len(self.upsample) + 1):
            for _ in range(self.num_res_blocks + 1):
                block, attn = next(blocks)
                h = attn(block(torch.cat((h, skips.pop()), dim=1), time_emb))
            if level < len(self.upsample):
                h = self.upsample[level](h)
        return self.conv_out(F.silu(self.norm_out(h)))
