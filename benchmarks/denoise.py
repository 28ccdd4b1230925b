"""``bench denoise``: denoising through the reverse process (paper Tables 2–4, Figures 10–11).

Paper protocol (DESIGN.md): each test image x0 is forward-noised to noise step n (timestep
index n−1, noise seeded per image), then the reverse chain runs n → 0 with the ancestral step
of eq. (2) on the whole batch; after every reverse step the current iterate (clipped) and the
model's x0 estimate are scored against x0. Per image: the best value of each metric, the
reverse step it was reached at (counted from the start of the chain) and the wall time of the
reverse steps up to it (metric time excluded). One-shot denoisers see the same noisy image
rescaled, y = x_n/√ᾱ_n with σ = √(1−ᾱ_n)/√ᾱ_n, mapped to [0, 1].

Release protocol: Gaussian noise of standard deviation ε on the [0, 1] image, then N reverse
mean steps from timestep N−1 with N growing with ε as in the released notebook.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch

from cunet_bench.diffusion import DiffusionConfig, GaussianDiffusion
from cunet_bench.errors import UserError
from cunet_bench.metrics import Lpips, MetricUnavailable, psnr, ssim
from cunet_bench.seeding import generator

PROTOCOLS = ("paper", "release")
RELEASE_STEPS = {0.04: 4, 0.1: 40, 0.3: 200}
"""The released notebook's pairs of pixel noise ε (in [0, 1] units) and reverse steps run
(REFERENCE §2); other ε have no documented step count and are refused."""
HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "lpips": False}


@dataclass(frozen=True)
class DenoiseConfig:
    noise_levels: tuple[float, ...] = (50, 150, 400)
    protocol: str = "paper"
    num_images: int = 64
    seed: int = 0
    device: str = "cpu"


@dataclass
class Method:
    """A backbone with its diffusion, or a one-shot denoiser."""

    name: str
    model: Any
    diffusion: GaussianDiffusion | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def check_levels(levels: tuple[float, ...], protocol: str, timesteps: int) -> None:
    if protocol not in PROTOCOLS:
        raise UserError(f"unknown protocol {protocol!r}; protocols: {', '.join(PROTOCOLS)}")
    if len(set(levels)) != len(levels):
        raise UserError(f"noise levels are duplicated: {levels}")
    for level in levels:
        if protocol == "paper" and (level != int(level) or not 1 <= level < timesteps):
            raise UserError(f"noise steps must be integers in 1 … {timesteps - 1}, got {level}")
        if protocol == "release" and level not in RELEASE_STEPS:
            raise UserError(f"release-protocol noise must be one of {sorted(RELEASE_STEPS)}, got {level}")


def _image_noise(seed: int, count: int, shape: tuple[int, ...], level: float) -> torch.Tensor:
    """The forward noise of each test image at one noise level, seeded by (level, image)."""
    return torch.stack([torch.randn(shape, generator=generator(seed, 5, round(level * 1000), i)) for i in range(count)])


class _Scorer:
    """Per-step metrics of a batch against the clean images; LPIPS only with verified weights."""

    def __init__(self, clean01: torch.Tensor, device: str) -> None:
        self.clean = clean01
        try:
            self.lpips: Lpips | None = Lpips(device)
            self.lpips_status = "ok"
        except MetricUnavailable as missing:
            self.lpips, self.lpips_status = None, str(missing)
        self.seconds = 0.0

    def __call__(self, estimate01: torch.Tensor) -> dict[str, torch.Tensor]:
        start = time.perf_counter()
        estimate01 = estimate01.clamp(0, 1).cpu()
        values = {"psnr": psnr(estimate01, self.clean), "ssim": ssim(estimate01, self.clean)}
        if self.lpips is not None:
            values["lpips"] = self.lpips(estimate01, self.clean)
        self.seconds += time.perf_counter() - start
        return values


def _reverse_chain(method: Method, x_n: torch.Tensor, start: int, stochastic: bool, seed: int,
                   scorer: _Scorer, level: float) -> Iterator[tuple[int, float, dict[str, dict[str, torch.Tensor]]]]:
    """Run the reverse chain from timestep index ``start`` to 0; yields (reverse step, elapsed
    seconds of reverse steps, {target: metrics}) after every step."""
    diffusion = method.diffusion
    x = x_n
    elapsed = 0.0
    generators = [generator(seed, 6, i) for i in range(len(x))]
    for position, t_index in enumerate(range(start, -1, -1)):
        tick = time.perf_counter()
        t = torch.full((len(x),), t_index, dtype=torch.long, device=x.device)
        with torch.no_grad():
            output = method.model(x, t)
        noise = torch.stack([torch.randn(x.shape[1:], generator=g) for g in generators]).to(x) if stochastic else None
        x, x0 = diffusion.reverse_step(output, x, t, t - 1, "ddpm", noise)
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        elapsed += time.perf_counter() - tick
        yield position + 1, elapsed, {"iterate": scorer((x + 1) / 2), "x0": scorer((x0 + 1) / 2)}


def iter_rows(config: DenoiseConfig, methods: list[Method], clean: torch.Tensor,
              progress: Callable[[str], None] = lambda _: None) -> Iterator[dict[str, Any]]:
    """Rows: ``kind='summary'`` (per method × level × target × metric: mean/std of the best value,
    of its step and of the time to it) and ``kind='curve'`` (mean per reverse step)."""
    clean = clean[: config.num_images]
    clean01 = (clean + 1) / 2
    scorer = _Scorer(clean01, config.device)
    shape = tuple(clean.shape[1:])
    reference = next((m.diffusion for m in methods if m.diffusion is not None), GaussianDiffusion(DiffusionConfig()))
    for level in config.noise_levels:
        noise = _image_noise(config.seed, len(clean), shape, level)
        if config.protocol == "paper":
            start = int(level) - 1
            t = torch.full((len(clean),), start)
            alpha_bar = reference.alpha_bar_at(t, clean)
            x_n = reference.q_sample(clean, t, noise)
            y01 = ((x_n / alpha_bar.sqrt()) + 1) / 2
            sigma01 = float(((1 - alpha_bar) / alpha_bar).sqrt()[0]) / 2
        else:
            start = RELEASE_STEPS[level] - 1
            y01 = clean01 + level * noise
            x_n = y01 * 2 - 1
            sigma01 = level
        yield {"kind": "input", "method": "noisy input", "level": level, "target": "input", "metric": "sigma01",
               "mean": sigma01, "std": 0.0, "images": len(clean)}
        for metric, values in scorer(y01).items():
            yield {"kind": "summary", "method": "noisy input", "level": level, "target": "input", "metric": metric,
                   "mean": float(values.mean()), "std": float(values.std()), "images": len(clean)}
        for method in methods:
            progress(f"{method.name} at {level}")
            if scorer.lpips is None:
                for target in (("output",) if method.diffusion is None else ("iterate", "x0")):
                    yield {"kind": "summary", "method": method.name, "level": level, "target": target,
                           "metric": "lpips", "mean": None, "std": None, "status": scorer.lpips_status}
            if method.diffusion is None:
                tick = time.perf_counter()
                with torch.no_grad():
                    estimate = method.model.denoise(y01.to(config.device), sigma01)
                seconds = time.perf_counter() - tick
                for metric, values in scorer(estimate).items():
                    yield {"kind": "summary", "method": method.name, "level": level, "target": "output",
                           "metric": metric, "mean": float(values.mean()), "std": float(values.std()),
                           "time_to_best_s_mean": seconds / len(clean), "images": len(clean)}
                continue
            best: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
            stochastic = config.protocol == "paper"
            for step, elapsed, scores in _reverse_chain(method, x_n.to(config.device), start, stochastic, config.seed,
                                                       scorer, level):
                for target, values in scores.items():
                    for metric, per_image in values.items():
                        yield {"kind": "curve", "method": method.name, "level": level, "target": target,
                               "metric": metric, "step": step, "mean": float(per_image.mean()),
                               "std": float(per_image.std()), "images": len(clean)}
                        key = (target, metric)
                        if key not in best:
                            best[key] = {"value": per_image.clone(), "step": torch.full_like(per_image, step),
                                         "time": torch.full_like(per_image, elapsed)}
                            continue
                        better = per_image > best[key]["value"] if HIGHER_IS_BETTER[metric] else per_image < best[key]["value"]
                        best[key]["value"] = torch.where(better, per_image, best[key]["value"])
                        best[key]["step"] = torch.where(better, torch.full_like(per_image, step), best[key]["step"])
                        best[key]["time"] = torch.where(better, torch.full_like(per_image, elapsed), best[key]["time"])
            for (target, metric), record in best.items():
                yield {"kind": "summary", "method": method.name, "level": level, "target": target, "metric": metric,
                       "mean": float(record["value"].mean()), "std": float(record["value"].std()),
                       "best_step_mean": float(record["step"].mean()), "time_to_best_s_mean": float(record["time"].mean()),
                       "images": len(clean), **method.extra}
    yield {"kind": "meta", "method": "metrics", "level": None, "target": None, "metric": "metric_seconds",
           "mean": scorer.seconds, "std": 0.0, "lpips_status": scorer.lpips_status}
