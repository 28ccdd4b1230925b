"""The continuous U-Net (cU-Net) family: the released network, the paper as written, and the
ablations of Table 5.

Released ``ConvSODEUNet`` (nf=16, softplus, rk4; docs/protocol.md §2), with state widths
32, 64, 128, 256 and a 512 bottleneck:

* an initial-velocity block (InstanceNorm → 3×3 conv → softplus → InstanceNorm → 1×1 conv →
  softplus) whose output is the whole ODE state;
* nine ODE blocks whose function is InstanceNorm → 3×3 conv → softplus → InstanceNorm →
  [scale/shift] → 3×3 conv → softplus → + input (paper Fig. 2, right);
* encoder: ODE block, 1×1 conv C→2C, softplus, bilinear ×½; decoder: bilinear ×2, concat skip,
  1×1 conv 3C→C, softplus, ODE block; head 1×1 conv;
* softmax attention after encoder level 4 and decoder level 1.

The two flavours differ only where the release and the paper's text disagree:

========================  ==========================  ==============================
                          ``cunet-release*``           ``cunet*`` (paper text)
========================  ==========================  ==============================
time embedding            built, never used            scale/shift in every function
dynamics                  augmented first order        second order (eq. 4)
attention                 replaces the features        residual (added)
========================  ==========================  ==============================
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import torch
import torch.nn.functional as F
from cunet_bench.models.layers import InstanceNorm, SoftmaxAttention, sinusoidal_embedding
from cunet_bench.models.ode import ODEBlock, SecondOrderField
from cunet_bench.models.solver import SolverConfig
from torch import nn

ATTENTION_SITES = ("enc1", "enc2", "enc3", "enc4", "mid", "dec1", "dec2", "dec3", "dec4")
"""Where attention can follow an ODE block: encoder levels 1–4 (widest first), the bottleneck,
decoder levels 1–4 (narrowest first, so ``dec1`` mirrors ``enc4``)."""

LEVELS = 4
"""Encoder/decoder levels of the released trunk (state widths 2nf·(1, 2, 4, 8), bottleneck 16nf),
hence images divisible by 16."""
RELEASE_ATTENTION = ("enc4", "dec1")
FIVE_ATTENTION = ("enc2", "enc4", "mid", "dec1", "dec3")
DYNAMICS = ("augmented", "second-order")


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "instance":
        return InstanceNorm(channels)
    if kind == "group":
        return nn.GroupNorm(math.gcd(channels, 8), channels)
    raise ValueError(f"normalisation must be 'instance' or 'group', got {kind!r}")


class ConvODEFunction(nn.Module):
    """The ODE derivative approximator (paper Fig. 2, right).

    ``out_channels`` is the state width for augmented first-order dynamics, half of it for an
    acceleration (second order). The residual adds the input (first order) or, for an
    acceleration, the velocity half of the state — the channel-matched analogue.
    """

    per_sample = True
    """Instance and group normalisation see one sample at a time, so the batch may be sliced."""

    def __init__(
        self,
        channels: int,
        out_channels: int | None = None,
        time_dim: int | None = None,
        norm: str = "instance",
        residual: bool = True,
    ) -> None:
        super().__init__()
        out_channels = channels if out_channels is None else out_channels
        self.residual = residual
        self.norm1 = _norm(norm, channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm2 = _norm(norm, channels)
        self.film = nn.Sequential(nn.SiLU(), nn.Linear(time_dim, 2 * channels)) if time_dim else None
        self.conv2 = nn.Conv2d(channels, out_channels, 3, padding=1)

    def condition(self, time_embedding: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor] | None:
        if self.film is None or time_embedding is None:
            return None
        scale, shift = self.film(time_embedding)[:, :, None, None].chunk(2, dim=1)
        return scale, shift

    def forward(self, t: Any, z: torch.Tensor, conditioning: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        h = self.norm2(F.softplus(self.conv1(self.norm1(z))))
        if conditioning is not None:
            scale, shift = conditioning
            h = h * (1 + scale) + shift
        h = F.softplus(self.conv2(h))
        if self.residual:
            h = h + z[:, z.shape[1] - h.shape[1] :]
        return h


class ContinuousUNet(nn.Module):
    """A cU-Net with the backbone contract ``forward(x, t)``; ``nfe`` / ``nfe_per_block`` give the
    function evaluations of the last call."""

    def __init__(
        self,
        channels: int = 3,
        nf: int = 16,
        attention: Iterable[str] = RELEASE_ATTENTION,
        residual_attention: bool = False,
        time_conditioning: bool = False,
        dynamics: str = "augmented",
        ode_residual: bool = True,
        norm: str = "instance",
        solver: SolverConfig | str | None = None,
        time_steps: int = 1000,
        time_dim: int = 256,
        heads: int = 4,
        dim_head: int = 32,
    ) -> None:
        super().__init__()
        attention = tuple(attention)
        unknown = [site for site in attention if site not in ATTENTION_SITES]
        if unknown:
            raise ValueError(f"unknown attention site(s) {unknown}; sites: {', '.join(ATTENTION_SITES)}")
        if dynamics not in DYNAMICS:
            raise ValueError(f"dynamics must be one of {DYNAMICS}, got {dynamics!r}")
        self.residual_attention = residual_attention
        self.time_conditioning = time_conditioning
        self.dynamics = dynamics
        solver = SolverConfig.parse(solver) if isinstance(solver, str) else (solver or SolverConfig())

        # The table is computed on the CPU whatever the default device: a model built on the meta
        # device (counting parameters without allocating them) then needs no meta arithmetic.
        table = sinusoidal_embedding(torch.arange(time_steps, device="cpu"), time_dim)
        self.time_table = nn.Embedding.from_pretrained(table, freeze=True)

        state = 2 * nf
        self.initial_velocity = nn.Sequential(
            InstanceNorm(channels),
            nn.Conv2d(channels, nf, 3, padding=1),
            nn.Softplus(),
            InstanceNorm(nf),
            nn.Conv2d(nf, state, 1),
            nn.Softplus(),
        )

        def block(width: int, name: str) -> ODEBlock:
            out = width // 2 if dynamics == "second-order" else width
            function = ConvODEFunction(width, out, time_dim if time_conditioning else None, norm, ode_residual)
            field = SecondOrderField(function) if dynamics == "second-order" else function
            return ODEBlock(field, solver, name)

        widths = [state * 2**level for level in range(LEVELS)]
        self.encoder = nn.ModuleList(block(w, f"enc{i + 1}") for i, w in enumerate(widths))
        self.expand = nn.ModuleList(nn.Conv2d(w, 2 * w, 1) for w in widths)
        self.bottleneck = block(2 * widths[-1], "mid")
        self.merge = nn.ModuleList(nn.Conv2d(3 * w, w, 1) for w in reversed(widths))
        self.decoder = nn.ModuleList(block(w, f"dec{i + 1}") for i, w in enumerate(reversed(widths)))
        self.head = nn.Conv2d(state, channels, 1)
        site_widths = {f"enc{i + 1}": w for i, w in enumerate(widths)}
        site_widths.update({f"dec{i + 1}": w for i, w in enumerate(reversed(widths))}, mid=2 * widths[-1])
        self.attention = nn.ModuleDict(
            {site: SoftmaxAttention(site_widths[site], heads, dim_head) for site in attention}
        )

    @property
    def ode_blocks(self) -> list[ODEBlock]:
        return [*self.encoder, self.bottleneck, *self.decoder]

    @property
    def nfe(self) -> int:
        return sum(block.nfe for block in self.ode_blocks)

    @property
    def nfe_per_block(self) -> dict[str, int]:
        return {block.name: block.nfe for block in self.ode_blocks}

    @property
    def solver(self) -> SolverConfig:
        return self.bottleneck.solver

    def set_solver(self, solver: SolverConfig | str) -> None:
        """Change how every ODE block integrates (e.g. to sweep solvers on a trained model)."""
        solver = SolverConfig.parse(solver) if isinstance(solver, str) else solver
        for block in self.ode_blocks:
            block.solver = solver

    def _attend(self, site: str, z: torch.Tensor) -> torch.Tensor:
        if site not in self.attention:
            return z
        out = self.attention[site](z)
        return z + out if self.residual_attention else out

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        time_embedding = self.time_table(t.long()) if self.time_conditioning else None
        z = self.initial_velocity(x)
        skips = []
        for index, (block, expand) in enumerate(zip(self.encoder, self.expand)):
            z = self._attend(f"enc{index + 1}", block(z, time_embedding))
            skips.append(z)
            z = F.interpolate(F.softplus(expand(z)), scale_factor=0.5, mode="bilinear", align_corners=False)
        z = self._attend("mid", self.bottleneck(z, time_embedding))
        for index, (block, merge) in enumerate(zip(self.decoder, self.merge)):
            z = F.interpolate(z, scale_factor=2.0, mode="bilinear", align_corners=False)
            z = F.softplus(merge(torch.cat((z, skips.pop()), dim=1)))
            z = self._attend(f"dec{index + 1}", block(z, time_embedding))
        return self.head(z)
