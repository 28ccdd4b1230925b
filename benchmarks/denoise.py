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

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from cunet_bench.checkpoints import checkpoint_path
from cunet_bench.configs import resolve
from cunet_bench.data import dataset_channels
from cunet_bench.diffusion import DiffusionConfig, GaussianDiffusion
from cunet_bench.distribution import frechet_distance, gaussian_stats, kernel_distance
from cunet_bench.errors import MetricUnavailable, UserError, warn
from cunet_bench.features import FeatureExtractor
from cunet_bench.image_grids import DenoiseGrids
from cunet_bench.metrics import Lpips, psnr, ssim
from cunet_bench.models.ode import SolverConfig
from cunet_bench.presets import Preset
from cunet_bench.records import new_run_id
from cunet_bench.registry import REGISTRY, get_model
from cunet_bench.runner import Benchmark, Progress
from cunet_bench.seeding import generator

PROTOCOLS = ("paper", "release")
RELEASE_STEPS = {0.04: 4, 0.1: 40, 0.3: 200}
"""The released notebook's pairs of pixel noise ε (in [0, 1] units) and reverse steps run
(REFERENCE §2); other ε have no documented step count and are refused."""
HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "lpips": False, "feature_distance": False}


@dataclass(frozen=True)
class DenoiseConfig:
    models: tuple[str, ...] = ()
    noise_levels: tuple[float, ...] = (50, 150, 400)
    protocol: str = "paper"
    num_images: int = 64
    data: str = "mnist5k"
    resolution: int = 32
    """The image size when no trained checkpoint fixes it (one-shot denoisers only)."""
    checkpoints: str = "checkpoints"
    checkpoint_preset: str = "quick"
    """The preset the checkpoints were trained with: ``CHECKPOINTS/MODEL-DATA-PRESET-seedS.safetensors``."""
    train_seeds: tuple[int, ...] = (0,)
    """The training seeds whose checkpoints are compared (every trained model, every seed)."""
    solvers: tuple[SolverConfig, ...] = ()
    """ODE solvers to sweep for the cU-Nets (empty: the one each was trained with)."""
    features: str = "auto"
    classifier_steps: int = 400
    out: str = "results"
    device: str = "cpu"
    seed: int = 0

    @classmethod
    def from_preset(cls, preset: Preset, **overrides: Any) -> "DenoiseConfig":
        """The preset's noise levels and test images; the quality backbones it trains and the
        Table 4 baselines."""
        return resolve(cls, dict(
            models=REGISTRY.tagged("quality") + REGISTRY.tagged("table4"), noise_levels=preset.denoise_noise_steps,
            num_images=preset.denoise_images, data=preset.train_data, resolution=preset.train_resolution,
            checkpoint_preset=preset.name, classifier_steps=preset.classifier_steps, train_seeds=preset.train_seeds),
            overrides)

    def validate(self) -> None:
        check_levels(self.noise_levels, self.protocol)
        for name in self.models:
            get_model(name)
        if not self.models:
            raise UserError("--models needs at least one model")
        if self.num_images < 1:
            raise UserError(f"--num-images must be at least 1, got {self.num_images}")
        if not self.train_seeds or len(set(self.train_seeds)) != len(self.train_seeds):
            raise UserError(f"training seeds must be distinct and at least one, got {self.train_seeds}")
        dataset_channels(self.data)

    def checkpoint(self, model: str, seed: int) -> Path:
        """Where ``bench train`` wrote ``model``'s checkpoint of training seed ``seed``."""
        return checkpoint_path(Path(self.checkpoints), model, self.data, self.checkpoint_preset, seed)


@dataclass
class Method:
    """A backbone with its diffusion, or a one-shot denoiser."""

    name: str
    model: Any
    diffusion: GaussianDiffusion | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    train_seed: int | None = None
    """The training seed of the checkpoint (None for a method with nothing trained)."""
    show: bool = True
    """Whether its outputs go into the image grids (the first training seed of each model)."""


def check_levels(levels: tuple[float, ...], protocol: str, timesteps: int | None = None) -> None:
    """Refuse unusable noise levels; the bound of paper-protocol steps is checked once the
    backbones' number of training timesteps is known."""
    if protocol not in PROTOCOLS:
        raise UserError(f"unknown protocol {protocol!r}; protocols: {', '.join(PROTOCOLS)}")
    if len(set(levels)) != len(levels):
        raise UserError(f"noise levels are duplicated: {levels}")
    for level in levels:
        if not math.isfinite(level):
            raise UserError(f"noise levels must be finite numbers, got {level}")
        highest = "T−1" if timesteps is None else timesteps - 1
        if protocol == "paper" and (level != int(level) or level < 1 or (timesteps is not None and level >= timesteps)):
            raise UserError(f"noise steps must be integers in 1 … {highest}, got {level:g}")
        if protocol == "release" and level not in RELEASE_STEPS:
            raise UserError(f"release-protocol noise must be one of {sorted(RELEASE_STEPS)}, got {level}")


def _image_noise(seed: int, count: int, shape: tuple[int, ...], level: float) -> torch.Tensor:
    """The forward noise of each test image at one noise level, seeded by (level, image)."""
    return torch.stack([torch.randn(shape, generator=generator(seed, 5, round(level * 1000), i)) for i in range(count)])


class _Scorer:
    """Per-step metrics of a batch against the clean images; LPIPS only with verified weights;
    with a feature extractor, the per-image distance in its features — a perceptual proxy
    (``feature_distance``), never called LPIPS."""

    def __init__(self, clean01: torch.Tensor, device: str, extractor: FeatureExtractor | None = None) -> None:
        self.clean = clean01
        self.extractor = extractor
        self.clean_features = None if extractor is None else torch.from_numpy(extractor(clean01 * 2 - 1))
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
        if self.extractor is not None:
            features = torch.from_numpy(self.extractor(estimate01 * 2 - 1))
            values["feature_distance"] = (features - self.clean_features).square().mean(dim=1)
        self.seconds += time.perf_counter() - start
        return values


GRID_IMAGES = 5
"""Test images shown in the denoising grids (Figures 5, 7–9), spread over the test images (which
are spread over the test split, hence different digits)."""
GRID_STEPS = 6
"""Reverse steps at which the x0 estimates are shown (Figures 7–9), evenly spaced, last included."""
SPEEDUP_IMAGES = 8


class _Perception:
    """The distribution-level perception index (Blau & Michaeli 2018): Fréchet distance and KID
    between a set of restored images and the clean test images in the extractor's feature
    space, with the distortion of the same set, so each call is one perception–distortion point."""

    def __init__(self, extractor: FeatureExtractor | None, clean01: torch.Tensor, seed: int) -> None:
        start = time.perf_counter()
        self.extractor = extractor
        self.seed = seed
        self.clean01 = clean01
        if extractor is not None:
            self.clean_features = extractor(clean01 * 2 - 1)
            self.clean_stats = gaussian_stats(self.clean_features)
        self.seconds = time.perf_counter() - start

    def point(self, images01: torch.Tensor, scores: dict[str, torch.Tensor]) -> dict[str, Any]:
        start = time.perf_counter()
        try:
            return self._point(images01, scores)
        finally:
            self.seconds += time.perf_counter() - start

    def _point(self, images01: torch.Tensor, scores: dict[str, torch.Tensor]) -> dict[str, Any]:
        images01 = images01.clamp(0, 1).cpu()
        mse = (images01.double() - self.clean01.double()).square().flatten(1).mean(dim=1)
        row: dict[str, Any] = {"ssim_final": float(scores["ssim"].mean()), "psnr_final": float(scores["psnr"].mean()),
                               "mse_final": float(mse.mean())}
        if "lpips" in scores:
            row["lpips_final"] = float(scores["lpips"].mean())
        if self.extractor is None:
            return {**row, "metric": "distribution distance", "mean": None, "status": "no feature space"}
        features = self.extractor(images01 * 2 - 1)
        kid_mean, kid_std = kernel_distance(features, self.clean_features, subset_size=min(1000, len(features)),
                                            seed=self.seed)
        return {**row, "metric": self.extractor.distance_name, "mean": frechet_distance(gaussian_stats(features),
                self.clean_stats), "kid_name": self.extractor.kernel_name, "kid_mean": kid_mean, "kid_std": kid_std,
                "features": self.extractor.key}


def grid_rows(count: int) -> torch.Tensor:
    """Indices of the test images shown in the grids: evenly spread over the ``count`` images."""
    return torch.linspace(0, count - 1, min(GRID_IMAGES, count)).round().long()


def _grid_steps(total: int) -> set[int]:
    return {max(1, round(total * (i + 1) / GRID_STEPS)) for i in range(GRID_STEPS)}


def _reverse_chain(method: Method, x_n: torch.Tensor, start: int, stochastic: bool, seed: int, scorer: _Scorer
                   ) -> Iterator[tuple[int, float, dict[str, dict[str, torch.Tensor]], torch.Tensor]]:
    """Run the reverse chain from timestep index ``start`` to 0; yields (reverse step, elapsed
    seconds of reverse steps, {target: metrics}, iterate and x0 estimate in [0, 1]) after every step."""
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
        iterate01, x0_01 = ((x + 1) / 2).clamp(0, 1).cpu(), ((x0 + 1) / 2).clamp(0, 1).cpu()
        yield position + 1, elapsed, {"iterate": scorer(iterate01), "x0": scorer(x0_01)}, iterate01, x0_01


ImageSink = Callable[[float, str, torch.Tensor], None]
"""Receives (level, column label, images in [0, 1]) for the figures; the CLI writes them."""


def measure(config: DenoiseConfig, methods: list[Method], clean: torch.Tensor,
            progress: Progress = lambda _: None, extractor: FeatureExtractor | None = None,
            keep_images: ImageSink = lambda *_: None) -> Iterator[dict[str, Any]]:
    """Rows: ``kind='summary'`` (per method × level × target × metric: mean/std of the best value,
    of its step and of the time to it), ``kind='curve'`` (mean per reverse step),
    ``kind='perception'`` (one perception–distortion point per method × level: the final
    output's distribution distance, KID, SSIM, MSE, LPIPS), ``kind='speedup'`` (a process pool
    against one process) and ``kind='meta'`` (the time split between denoising and metrics)."""
    started = time.perf_counter()
    clean = clean[: config.num_images]
    clean01 = (clean + 1) / 2
    scorer = _Scorer(clean01, config.device, extractor)
    perception = _Perception(extractor, clean01, config.seed)
    shape = tuple(clean.shape[1:])
    reference = next((m.diffusion for m in methods if m.diffusion is not None), GaussianDiffusion(DiffusionConfig()))
    for method in methods:
        yield {"kind": "method", "method": method.name, "level": None, "target": None, "metric": None, "mean": None,
               "train_seed": method.train_seed, **method.extra}
    linear = GaussianDiffusion(DiffusionConfig("linear", "eps", reference.timesteps))
    for level in config.noise_levels:
        noise = _image_noise(config.seed, len(clean), shape, level)
        sigma_ho = None
        if config.protocol == "paper":
            start = int(level) - 1
            t = torch.full((len(clean),), start)
            alpha_bar = reference.alpha_bar_at(t, clean)
            x_n = reference.q_sample(clean, t, noise)
            y01 = ((x_n / alpha_bar.sqrt()) + 1) / 2
            sigma01 = float(((1 - alpha_bar) / alpha_bar).sqrt()[0]) / 2
            ho = float(linear.alpha_bar[start])
            sigma_ho = math.sqrt((1 - ho) / ho) / 2
        else:
            start = RELEASE_STEPS[level] - 1
            y01 = clean01 + level * noise
            x_n = y01 * 2 - 1
            sigma01 = level
        yield {"kind": "input", "method": "noisy input", "level": level, "target": "input", "metric": "sigma01",
               "mean": sigma01, "std": 0.0, "images": len(clean), "sigma01_ho_linear": sigma_ho,
               "schedule": reference.config.schedule}
        keep_images(level, "clean", clean01[grid_rows(len(clean01))])
        keep_images(level, "noisy", y01[grid_rows(len(y01))].clamp(0, 1))
        input_scores = scorer(y01)
        for metric, values in input_scores.items():
            yield {"kind": "summary", "method": "noisy input", "level": level, "target": "input", "metric": metric,
                   "mean": float(values.mean()), "std": float(values.std()), "images": len(clean)}
            yield from _image_rows("noisy input", level, "input", metric, values)
        yield {"kind": "perception", "method": "noisy input", "level": level, "target": "input", "images": len(clean),
               **perception.point(y01, input_scores)}
        for method in methods:
            progress(f"{method.name} (seed {method.train_seed}) at {level}")
            shown = keep_images if method.show else (lambda *_: None)
            rows = (_one_shot(config, method, level, y01, sigma01, scorer, perception, shown)
                    if method.diffusion is None else
                    _through_the_chain(config, method, level, start, x_n, scorer, perception, shown))
            for row in rows:
                yield {**row, "train_seed": method.train_seed}
    total = time.perf_counter() - started
    metric_seconds = scorer.seconds + perception.seconds
    yield {"kind": "meta", "method": "metrics", "level": None, "target": None, "metric": "metric_seconds",
           "mean": metric_seconds, "std": 0.0, "lpips_status": scorer.lpips_status, "total_seconds": total,
           "metric_fraction": metric_seconds / total, "perception_seconds": perception.seconds,
           "features": extractor.key if extractor else None}


def _lpips_unavailable(method: Method, level: float, scorer: _Scorer) -> Iterator[dict[str, Any]]:
    if scorer.lpips is None:
        for target in (("output",) if method.diffusion is None else ("iterate", "x0")):
            yield {"kind": "summary", "method": method.name, "level": level, "target": target, "metric": "lpips",
                   "mean": None, "std": None, "status": scorer.lpips_status}


def _one_shot(config: DenoiseConfig, method: Method, level: float, y01: torch.Tensor, sigma01: float,
              scorer: _Scorer, perception: _Perception, keep_images: ImageSink) -> Iterator[dict[str, Any]]:
    """A one-shot denoiser on the rescaled noisy images."""
    count = len(y01)
    yield from _lpips_unavailable(method, level, scorer)
    tick = time.perf_counter()
    with torch.no_grad():
        estimate = method.model.denoise(y01.to(config.device), sigma01).cpu()
    seconds = time.perf_counter() - tick
    output_scores = scorer(estimate)
    for metric, values in output_scores.items():
        yield {"kind": "summary", "method": method.name, "level": level, "target": "output", "metric": metric,
               "mean": float(values.mean()), "std": float(values.std()), "time_to_best_s_mean": seconds / count,
               "images": count}
        yield from _image_rows(method.name, level, "output", metric, values)
    keep_images(level, method.name, estimate[grid_rows(len(estimate))].clamp(0, 1))
    yield {"kind": "perception", "method": method.name, "level": level, "target": "output", "images": count,
           **perception.point(estimate, output_scores)}
    if getattr(method.model, "workers", 1) > 1 and level == config.noise_levels[-1]:
        yield _pool_speedup(method, y01[:SPEEDUP_IMAGES], sigma01, seconds / count)


def _through_the_chain(config: DenoiseConfig, method: Method, level: float, start: int, x_n: torch.Tensor,
                       scorer: _Scorer, perception: _Perception, keep_images: ImageSink) -> Iterator[dict[str, Any]]:
    """A backbone's reverse chain from the noisy images: curves, and per image the best value of
    every metric, its step and the time to it, for the iterate and for the x0 estimate."""
    count = len(x_n)
    yield from _lpips_unavailable(method, level, scorer)
    best: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    shown = _grid_steps(start + 1)
    for step, elapsed, scores, iterate01, x0_01 in _reverse_chain(method, x_n.to(config.device), start,
                                                                  config.protocol == "paper", config.seed, scorer):
        if step in shown:
            keep_images(level, f"{method.name} x0 @ step {step}", x0_01[grid_rows(len(x0_01))])
        for target, values in scores.items():
            for metric, per_image in values.items():
                yield {"kind": "curve", "method": method.name, "level": level, "target": target, "metric": metric,
                       "step": step, "mean": float(per_image.mean()), "std": float(per_image.std()), "images": count}
                key = (target, metric)
                if key not in best:
                    best[key] = {"value": per_image.clone(), "step": torch.full_like(per_image, step),
                                 "time": torch.full_like(per_image, elapsed)}
                    continue
                better = per_image > best[key]["value"] if HIGHER_IS_BETTER[metric] else per_image < best[key]["value"]
                best[key]["value"] = torch.where(better, per_image, best[key]["value"])
                best[key]["step"] = torch.where(better, torch.full_like(per_image, step), best[key]["step"])
                best[key]["time"] = torch.where(better, torch.full_like(per_image, elapsed), best[key]["time"])
    keep_images(level, method.name, iterate01[grid_rows(len(iterate01))])
    yield {"kind": "perception", "method": method.name, "level": level, "target": "iterate", "images": count,
           **perception.point(iterate01, scores["iterate"]), **method.extra}
    for (target, metric), record in best.items():
        yield {"kind": "summary", "method": method.name, "level": level, "target": target, "metric": metric,
               "mean": float(record["value"].mean()), "std": float(record["value"].std()),
               "best_step_mean": float(record["step"].mean()), "time_to_best_s_mean": float(record["time"].mean()),
               "images": count, **method.extra}
        yield from _image_rows(method.name, level, target, metric, record["value"], record["step"], record["time"])


def _image_rows(method: str, level: float, target: str, metric: str, values: torch.Tensor,
                steps: torch.Tensor | None = None, times: torch.Tensor | None = None) -> Iterator[dict[str, Any]]:
    """One row per test image (``kind='image'``): what the report's bootstrap intervals resample."""
    for index, value in enumerate(values.tolist()):
        row = {"kind": "image", "method": method, "level": level, "target": target, "metric": metric, "image": index,
               "mean": value}
        if steps is not None and times is not None:
            row.update(best_step=float(steps[index]), time_to_best_s=float(times[index]))
        yield row


def _pool_speedup(method: Method, y01: torch.Tensor, sigma01: float, pooled_per_image: float) -> dict[str, Any]:
    """Time per image of one process on a few images against the process pool's time per image
    on the whole batch (measured at the last noise level, once the pool is running)."""
    single = copy.copy(method.model)
    single.workers = 1
    tick = time.perf_counter()
    single.denoise(y01, sigma01)
    one_process = (time.perf_counter() - tick) / len(y01)
    return {"kind": "speedup", "method": method.name, "metric": "pool_speedup", "mean": one_process / pooled_per_image,
            "workers": method.model.workers, "seconds_per_image_one_process": one_process,
            "seconds_per_image_pool": pooled_per_image, "images": len(y01)}


def run(config: DenoiseConfig, progress: Progress = lambda _: None) -> Iterator[dict[str, Any]]:
    """Build every method from the registry and the checkpoints, measure, then write the image
    grids (``OUT/denoise-grids/``) and name them in ``kind='grid'`` rows."""
    from cunet_bench.benchmarks.denoise_methods import build_methods, clean_test_images
    from cunet_bench.features import ClassifierTraining, feature_extractor

    methods, resolution = build_methods(config)
    timesteps = next((m.diffusion.timesteps for m in methods if m.diffusion is not None), None)
    check_levels(config.noise_levels, config.protocol, timesteps)
    clean = clean_test_images(config.data, resolution, config.num_images)
    try:
        extractor = feature_extractor(config.features, config.data, resolution, Path(config.checkpoints), config.device,
                                      training=ClassifierTraining(steps=config.classifier_steps))
    except MetricUnavailable as missing:
        warn(f"no distribution-level perception index: {missing}")
        extractor = None
    grids = DenoiseGrids()
    for row in measure(config, methods, clean, progress, extractor, grids.keep):
        if row["kind"] == "input" and config.protocol == "paper":
            grids.titles[row["level"]] = (f"noise step {row['level']:g}: sigma = {row['mean']:.3f} of the [0, 1] range "
                                          f"({row['schedule']} schedule)")
        yield row
    for name, columns in grids.write(Path(config.out) / "denoise-grids", new_run_id()).items():
        yield {"kind": "grid", "method": None, "file": name, "columns": "|".join(columns)}


def summary(rows: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    columns = ("method", "level", "target", "metric", "mean", "std", "best_step_mean", "time_to_best_s_mean")
    images = next((row["images"] for row in rows if row["kind"] == "summary"), 0)
    return [(f"denoising ({images} test images)",
             [{k: row.get(k) for k in columns} for row in rows if row["kind"] == "summary"])]


BENCHMARK = Benchmark("denoise", run, summary=summary, inputs=lambda config: [
    config.checkpoint(name, seed) for name in config.models if "trainable" in get_model(name).supports
    for seed in config.train_seeds])
