"""The one DDPM implementation shared by training, sampling, FID and denoising.

β schedules (linear of Ho et al., cosine of Nichol & Dhariwal, sigmoid of the released code),
the forward process ``q(x_t | x_0)``, the posterior ``q(x_{t-1} | x_t, x_0)``, conversions
between the ε, v and x0 parameterisations, the ancestral step of the paper's eq. (2) on a
possibly respaced chain, and the DDIM step. Timesteps are indices ``0 … T-1``; ``ᾱ[t]`` is the
signal fraction after ``t + 1`` noising steps. Schedules are kept in float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Literal

import torch

from cunet_bench.config.seeding import generator
from cunet_bench.errors import UserError

Schedule = Literal["linear", "cosine", "sigmoid"]
Objective = Literal["eps", "v", "x0"]
Sampler = Literal["ddpm", "ddim"]
SCHEDULES = ("linear", "cosine", "sigmoid")
OBJECTIVES = ("eps", "v", "x0")
SAMPLERS = ("ddpm", "ddim")


def linear_betas(steps: int, start: float = 1e-4, end: float = 0.02) -> torch.Tensor:
    """Ho et al. (2020): β rising linearly from 1e-4 to 0.02 over T = 1000 (rescaled for other T)."""
    scale = 1000 / steps
    return torch.linspace(scale * start, scale * end, steps, dtype=torch.float64)


def cosine_betas(steps: int, offset: float = 0.008) -> torch.Tensor:
    """Nichol & Dhariwal (2021): ᾱ(t) ∝ cos²((t/T + s)/(1 + s) · π/2), β clipped at 0.999."""
    t = torch.linspace(0, steps, steps + 1, dtype=torch.float64) / steps
    alpha_bar = torch.cos((t + offset) / (1 + offset) * math.pi / 2) ** 2
    alpha_bar = alpha_bar / alpha_bar[0]
    return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(0, 0.999)


def sigmoid_betas(steps: int, start: float = -3.0, end: float = 3.0, tau: float = 1.0) -> torch.Tensor:
    """The released code's schedule (``denoising_diffusion_pytorch``): ᾱ(t) follows a falling
    sigmoid between ``start`` and ``end``; β clipped at 0.999."""
    t = torch.linspace(0, steps, steps + 1, dtype=torch.float64) / steps
    v_start = torch.sigmoid(torch.tensor(start / tau, dtype=torch.float64))
    v_end = torch.sigmoid(torch.tensor(end / tau, dtype=torch.float64))
    alpha_bar = (v_end - torch.sigmoid((t * (end - start) + start) / tau)) / (v_end - v_start)
    alpha_bar = alpha_bar / alpha_bar[0]
    return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(0, 0.999)


_SCHEDULES: dict[str, Callable[[int], torch.Tensor]] = {
    "linear": linear_betas,
    "cosine": cosine_betas,
    "sigmoid": sigmoid_betas,
}


def respaced_timesteps(total: int, steps: int) -> list[int]:
    """``steps`` timesteps spread evenly over ``0 … total-1``, descending, always starting at
    ``total - 1`` and ending at 0 (DDIM / Nichol & Dhariwal respacing)."""
    if not 1 <= steps <= total:
        raise UserError(f"sampling steps must be between 1 and {total}, got {steps}")
    if steps == 1:
        return [total - 1]
    return sorted({round(i * (total - 1) / (steps - 1)) for i in range(steps)}, reverse=True)


def _gather(values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``values[t]`` broadcast to ``like``'s shape and dtype; index -1 means 'before step 0' (ᾱ = 1)."""
    padded = torch.cat((values.new_ones(1), values))
    out = padded.to(like.device)[(t + 1).long()]
    return out.to(like.dtype).reshape(-1, *([1] * (like.ndim - 1)))


@dataclass(frozen=True)
class DiffusionConfig:
    schedule: str = "linear"
    objective: str = "eps"
    timesteps: int = 1000

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise UserError(f"unknown β schedule {self.schedule!r}; schedules: {', '.join(SCHEDULES)}")
        if self.objective not in OBJECTIVES:
            raise UserError(f"unknown objective {self.objective!r}; objectives: {', '.join(OBJECTIVES)}")
        if self.timesteps < 2:
            raise UserError(f"the diffusion needs at least 2 timesteps, got {self.timesteps}")


class GaussianDiffusion:
    """Forward process, posterior, parameterisation conversions and reverse steps."""

    def __init__(self, config: DiffusionConfig = DiffusionConfig()) -> None:
        self.config = config
        self.timesteps = config.timesteps
        self.betas = _SCHEDULES[config.schedule](config.timesteps)
        self.alphas = 1 - self.betas
        self.alpha_bar = torch.cumprod(self.alphas, dim=0)

    def check_timesteps(self, t: torch.Tensor) -> None:
        if (t < 0).any() or (t >= self.timesteps).any():
            raise UserError(f"timesteps must be in 0 … {self.timesteps - 1}")

    def alpha_bar_at(self, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return _gather(self.alpha_bar, t, like)

    # forward process -----------------------------------------------------------------
    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """``x_t = √ᾱ_t x0 + √(1−ᾱ_t) ε`` — a draw from ``q(x_t | x0)``."""
        alpha_bar = self.alpha_bar_at(t, x0)
        return alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * noise

    def posterior(
        self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, t_prev: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of ``q(x_{t_prev} | x_t, x0)``; ``t_prev`` defaults to ``t − 1``
        (−1 is the clean image). With ``a = ᾱ_t / ᾱ_prev`` and ``b = 1 − a``:
        mean = b√ᾱ_prev/(1−ᾱ_t)·x0 + (1−ᾱ_prev)√a/(1−ᾱ_t)·x_t, var = b(1−ᾱ_prev)/(1−ᾱ_t)."""
        t_prev = t - 1 if t_prev is None else t_prev
        alpha_bar = self.alpha_bar_at(t, x_t)
        alpha_bar_prev = self.alpha_bar_at(t_prev, x_t)
        alpha = alpha_bar / alpha_bar_prev
        beta = 1 - alpha
        mean = (beta * alpha_bar_prev.sqrt() * x0 + (1 - alpha_bar_prev) * alpha.sqrt() * x_t) / (1 - alpha_bar)
        variance = beta * (1 - alpha_bar_prev) / (1 - alpha_bar)
        return mean, variance

    # parameterisations -----------------------------------------------------------------
    def x0_from_eps(self, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        alpha_bar = self.alpha_bar_at(t, x_t)
        return (x_t - (1 - alpha_bar).sqrt() * eps) / alpha_bar.sqrt()

    def eps_from_x0(self, x_t: torch.Tensor, t: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        alpha_bar = self.alpha_bar_at(t, x_t)
        return (x_t - alpha_bar.sqrt() * x0) / (1 - alpha_bar).sqrt()

    def v_from(self, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Salimans & Ho (2022): ``v = √ᾱ ε − √(1−ᾱ) x0``."""
        alpha_bar = self.alpha_bar_at(t, x0)
        return alpha_bar.sqrt() * eps - (1 - alpha_bar).sqrt() * x0

    def x0_from_v(self, x_t: torch.Tensor, t: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        alpha_bar = self.alpha_bar_at(t, x_t)
        return alpha_bar.sqrt() * x_t - (1 - alpha_bar).sqrt() * v

    def training_target(self, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        objective = self.config.objective
        if objective == "eps":
            return eps
        if objective == "x0":
            return x0
        return self.v_from(x0, eps, t)

    def predictions(
        self, output: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, clip: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(ε̂, x̂0) from the network's output under the configured objective. With ``clip`` the
        x0 estimate is clipped to [-1, 1] and ε̂ re-derived from it, as the released sampler does.
        A non-finite output is one line: clipping would turn it into NaN pixels written as samples."""
        if not math.isfinite(float(output.detach().sum())):
            raise UserError(
                "the network's output is not finite (weights that are finite but overflow, as a damaged "
                "checkpoint can hold); nothing was written from it"
            )
        objective = self.config.objective
        if objective == "eps":
            x0 = self.x0_from_eps(x_t, t, output)
        elif objective == "x0":
            x0 = output
        else:
            x0 = self.x0_from_v(x_t, t, output)
        if clip:
            x0 = x0.clamp(-1, 1)
            return self.eps_from_x0(x_t, t, x0), x0
        return (output if objective == "eps" else self.eps_from_x0(x_t, t, x0)), x0

    # reverse steps -----------------------------------------------------------------------
    def ddpm_step(
        self, x_t: torch.Tensor, t: torch.Tensor, t_prev: torch.Tensor, eps: torch.Tensor, noise: torch.Tensor | None
    ) -> torch.Tensor:
        """Ancestral step of the paper's eq. (2) from ``t`` to ``t_prev`` (``t − 1`` on the full chain,
        further on a respaced one): ``x_prev = (x_t − b/√(1−ᾱ_t)·ε)/√a + σ z`` with the posterior
        variance σ² (Ho et al.'s β̃); no noise is added on the final step to the clean image."""
        alpha_bar = self.alpha_bar_at(t, x_t)
        alpha_bar_prev = self.alpha_bar_at(t_prev, x_t)
        alpha = alpha_bar / alpha_bar_prev
        mean = (x_t - (1 - alpha) / (1 - alpha_bar).sqrt() * eps) / alpha.sqrt()
        if noise is None:
            return mean
        variance = (1 - alpha) * (1 - alpha_bar_prev) / (1 - alpha_bar)
        last = (t_prev < 0).to(x_t.dtype).reshape(-1, *([1] * (x_t.ndim - 1)))
        return mean + (1 - last) * variance.sqrt() * noise

    def ddim_step(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        t_prev: torch.Tensor,
        eps: torch.Tensor,
        x0: torch.Tensor,
        eta: float = 0.0,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Song et al. (2020) DDIM: ``x_prev = √ᾱ_prev x0 + √(1−ᾱ_prev−σ²) ε + σ z``,
        ``σ = η √((1−ᾱ_prev)/(1−ᾱ_t)) √(1−ᾱ_t/ᾱ_prev)``; deterministic for η = 0."""
        alpha_bar = self.alpha_bar_at(t, x_t)
        alpha_bar_prev = self.alpha_bar_at(t_prev, x_t)
        sigma = eta * ((1 - alpha_bar_prev) / (1 - alpha_bar) * (1 - alpha_bar / alpha_bar_prev)).sqrt()
        x_prev = alpha_bar_prev.sqrt() * x0 + (1 - alpha_bar_prev - sigma**2).clamp(min=0).sqrt() * eps
        if eta > 0:
            if noise is None:
                raise ValueError("DDIM with eta > 0 needs noise")
            x_prev = x_prev + sigma * noise
        return x_prev

    def reverse_step(
        self,
        model_output: torch.Tensor,
        x_t: torch.Tensor,
        t: torch.Tensor,
        t_prev: torch.Tensor,
        sampler: str,
        noise: torch.Tensor | None,
        eta: float = 0.0,
        clip: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One reverse step of either sampler; returns ``(x_prev, x0_estimate)``."""
        eps, x0 = self.predictions(model_output, x_t, t, clip=clip)
        if sampler == "ddpm":
            return self.ddpm_step(x_t, t, t_prev, eps, noise), x0
        if sampler == "ddim":
            return self.ddim_step(x_t, t, t_prev, eps, x0, eta, noise), x0
        raise UserError(f"unknown sampler {sampler!r}; samplers: {', '.join(SAMPLERS)}")


def sample_generators(seed: int, indices: range | list[int]) -> list[torch.Generator]:
    """One generator per global sample index, so a sample does not depend on the batch it is in
    nor on how many processes share the work."""
    return [generator(seed, index) for index in indices]


def per_sample_normal(generators: list[torch.Generator], shape: tuple[int, ...]) -> torch.Tensor:
    return torch.stack([torch.randn(shape, generator=generator) for generator in generators])


@torch.no_grad()
def sample(
    model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    diffusion: GaussianDiffusion,
    shape: tuple[int, int, int],
    indices: range | list[int],
    steps: int,
    sampler: str = "ddim",
    seed: int = 0,
    eta: float = 0.0,
    device: torch.device | str = "cpu",
    on_step: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None,
) -> torch.Tensor:
    """Generate one image per index in ``indices`` with ``steps`` reverse steps; images in [-1, 1].
    ``on_step(t, x, x0_estimate)`` is called after every step."""
    if sampler not in SAMPLERS:
        raise UserError(f"unknown sampler {sampler!r}; samplers: {', '.join(SAMPLERS)}")
    schedule = respaced_timesteps(diffusion.timesteps, steps)
    generators = sample_generators(seed, indices)
    x = per_sample_normal(generators, shape).to(device)
    stochastic = sampler == "ddpm" or eta > 0
    for position, current in enumerate(schedule):
        previous = schedule[position + 1] if position + 1 < len(schedule) else -1
        t = torch.full((len(generators),), current, device=device, dtype=torch.long)
        t_prev = torch.full_like(t, previous)
        noise = per_sample_normal(generators, shape).to(device) if stochastic else None
        x, x0 = diffusion.reverse_step(model(x, t), x, t, t_prev, sampler, noise, eta)
        if on_step is not None:
            on_step(current, x, x0)
    return x.clamp(-1, 1)
