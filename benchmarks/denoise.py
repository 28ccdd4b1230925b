"""``bench denoise``: denoising through the reverse process (paper Tables 2–4, Figures 10–11).

Paper protocol (docs/architecture.md): each test image x0 is forward-noised to noise step n (timestep
index n−1, noise seeded per image), then the reverse chain runs n → 0 with the ancestral step
of eq. (2) on the whole batch; after every reverse step the current iterate (clipped) and the
model's x0 estimate are scored against x0. Per image: the best value of each metric, the
reverse step it was reached at (counted from the start of the chain) and the wall time of the
reverse steps up to it (metric time excluded); per chain, its wall time with whether the
machine was busy. One-shot denoisers see the same noisy image rescaled, y = x_n/√ᾱ_n with
σ = √(1−ᾱ_n)/√ᾱ_n, mapped to [0, 1].

Release protocol: Gaussian noise of standard deviation ε (``--pixel-noise``) on the [0, 1]
image, then N reverse mean steps from timestep N−1 with N growing with ε as in the released
notebook; its rows carry both (``noise_step`` N and ``pixel_noise`` ε).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import torch
from cunet_bench.benchmarks import SOLVERS, THREADS, Benchmark, Progress, Row, Workload, no_progress
from cunet_bench.benchmarks.denoise_methods import Method, build_methods, clean_test_images
from cunet_bench.config.presets import Preset
from cunet_bench.config.resolve import resolve
from cunet_bench.config.seeding import generator
from cunet_bench.config.settings import MODELS, numbers, setting
from cunet_bench.diffusion.loading import check_batch_pixels
from cunet_bench.diffusion.process import DiffusionConfig, GaussianDiffusion
from cunet_bench.errors import MetricUnavailable, UserError, warn
from cunet_bench.host.contention import Contention
from cunet_bench.measure.distribution import frechet_distance, gaussian_stats, kernel_distance
from cunet_bench.measure.features import FeatureExtractor
from cunet_bench.measure.image_grids import DenoiseGrids
from cunet_bench.measure.metrics import Lpips, check_ssim_size, psnr, ssim
from cunet_bench.measure.reference_stats import ReferenceFeatures
from cunet_bench.models.solver import SolverConfig
from cunet_bench.records.checkpoints import MAX_TIMESTEPS
from cunet_bench.records.ladder import Rung
from cunet_bench.records.runs import new_run_id
from cunet_bench.records.trained import TrainedCheckpoints, refuse_without_curves
from cunet_bench.registry.suite import REGISTRY, get_model

PROTOCOLS = ("paper", "release")
RELEASE_STEPS = {0.04: 4, 0.1: 40, 0.3: 200}
"""The released notebook's pairs of pixel noise ε (in [0, 1] units) and reverse steps run
(docs/protocol.md §2); other ε have no documented step count and are refused."""
HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "lpips": False, "feature_distance": False}
MAX_IMAGES = 100_000


@dataclass(frozen=True)
class Level:
    """One noise level: the noise step the reverse chain starts from and, in the release protocol,
    the pixel noise ε that stands for it."""

    noise_step: int
    pixel_noise: float | None = None

    @property
    def start(self) -> int:
        """The forward index of x_n, where the reverse chain starts: n − 1 (x_1 is index 0)."""
        return self.noise_step - 1

    def columns(self) -> dict[str, Any]:
        return {"noise_step": self.noise_step, "pixel_noise": self.pixel_noise}


@dataclass(frozen=True, kw_only=True)
class DenoiseConfig(TrainedCheckpoints):
    noise_steps: tuple[int, ...] = field(
        metadata=setting("paper protocol: forward steps n, e.g. 50,150,400", read=numbers(minimum=None))
    )
    """Paper protocol: the forward steps n the test images are noised to."""
    num_images: int = field(metadata=setting("test images", kind=int))
    resolution: int
    """The image size when no trained checkpoint fixes it (one-shot denoisers only)."""
    classifier_steps: int
    models: tuple[str, ...] = field(default=(), metadata=MODELS)
    protocol: str = field(default="paper", metadata=setting("paper (forward noising) or release (pixel noise)"))
    pixel_noise: tuple[float, ...] = field(
        default=tuple(RELEASE_STEPS),
        metadata=setting("release protocol: ε of [0,1] images, e.g. 0.04,0.1,0.3", read=numbers(float)),
    )
    """Release protocol: the pixel noise ε of [0, 1] images (each runs its documented number of steps)."""
    solver: tuple[SolverConfig, ...] = field(default=(), metadata=SOLVERS)
    """ODE solvers to sweep for the cU-Nets (empty: the one each was trained with)."""
    features: str = field(default="auto", metadata=setting("perception index space: inception, classifier, auto"))
    curves: bool = field(
        default=False,
        metadata=setting("also measure every rung of each checkpoint's ladder at every noise level", flag=True),
    )
    """The learning curve: each rung of a trained method's ladder (``bench train --rungs``) is
    measured as the method is, into ``rung`` rows; the top rung is the checkpoint."""
    out: str = "results"
    device: str = "cpu"
    seed: int = 0
    threads: int | None = field(default=None, metadata=THREADS)

    @classmethod
    def from_preset(cls, preset: Preset, **overrides: Any) -> "DenoiseConfig":
        """The preset's noise levels and test images; the quality backbones it trains and the
        Table 4 baselines."""
        protocol = overrides.get("protocol") or preset.settings("denoise").get("protocol", "paper")
        for option, name, applies in (
            ("--pixel-noise", "pixel_noise", "release"),
            ("--noise-steps", "noise_steps", "paper"),
        ):
            if overrides.get(name) is not None and protocol != applies:
                raise UserError(f"{option} applies to the {applies} protocol, not the {protocol} protocol")
        refuse_without_curves(preset.settings("denoise"), overrides, "curve_rungs")
        return resolve(
            cls,
            {
                **preset.settings("denoise"),
                **TrainedCheckpoints.settings(preset),
                "models": REGISTRY.tagged("quality") + REGISTRY.tagged("table4"),
                "resolution": preset.settings("train")["resolution"],
                "classifier_steps": preset.classifier_steps,
            },
            overrides,
        )

    def validate(self) -> None:
        super().validate()
        for name in self.models:
            get_model(name)
        self.levels(self.timesteps(tuple(name for name in self.models if get_model(name).is_backbone)))
        if not self.models:
            raise UserError("--models needs at least one model")
        if not 1 <= self.num_images <= MAX_IMAGES:
            raise UserError(f"--num-images must be between 1 and {MAX_IMAGES:,}, got {self.num_images}")
        if len(set(self.solver)) != len(self.solver):
            raise UserError(f"--solver is given twice with the same setting: {', '.join(s.label for s in self.solver)}")

    def levels(self, timesteps: int | None = None) -> list[Level]:
        """The noise levels of the protocol, checked: paper-protocol steps n from 1 to the
        backbones' number of training timesteps T (x_T is the last forward step, index T − 1).
        The one check of ``--noise-steps`` and ``--pixel-noise``: the configuration runs it when it
        is resolved (T read from the checkpoints' metadata), before any model is loaded."""
        if self.protocol not in PROTOCOLS:
            raise UserError(f"unknown protocol {self.protocol!r}; protocols: {', '.join(PROTOCOLS)}")
        values = self.noise_steps if self.protocol == "paper" else self.pixel_noise
        option = "--noise-steps" if self.protocol == "paper" else "--pixel-noise"
        if not values or len(set(values)) != len(values):
            raise UserError(f"{option} needs distinct values, got {values}")
        if self.protocol == "release":
            unknown = [value for value in values if value not in RELEASE_STEPS]
            if unknown:
                raise UserError(
                    f"--pixel-noise must be among {sorted(RELEASE_STEPS)} (the release's documented "
                    f"levels), got {unknown[0]}"
                )
            return [Level(RELEASE_STEPS[value], value) for value in values]
        highest = timesteps or MAX_TIMESTEPS
        for value in values:
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= highest:
                raise UserError(f"--noise-steps must be integers in 1 … {highest:,} (the backbones' T), got {value}")
        return [Level(value) for value in values]


def _image_noise(seed: int, count: int, shape: tuple[int, ...], level: Level) -> torch.Tensor:
    """The forward noise of each test image at one noise level, seeded by (level, image)."""
    key = level.noise_step * 1000 if level.pixel_noise is None else round(level.pixel_noise * 1000)
    return torch.stack([torch.randn(shape, generator=generator(seed, 5, key, i)) for i in range(count)])


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
"""Reverse steps at which the iterate and the x0 estimate are shown (Figures 7–9), evenly spaced, last included."""
SPEEDUP_IMAGES = 8


class _Perception:
    """The distribution-level perception index (Blau & Michaeli 2018): the distance between a set
    of restored images and *clean images they did not come from* (the training split; the
    distance to their own clean images would pair each output with its target), with the
    distortion of the same set, so each call is one perception–distortion point. The Fréchet
    distance needs more images than feature dimensions (as ``bench fid`` requires); below that
    only KID (unbiased at any N) is given."""

    def __init__(
        self, extractor: FeatureExtractor | None, reference: ReferenceFeatures | None, clean01: torch.Tensor, seed: int
    ) -> None:
        self.extractor, self.reference, self.clean01, self.seed = extractor, reference, clean01, seed
        self.seconds = 0.0

    def point(self, images01: torch.Tensor, scores: dict[str, torch.Tensor]) -> Row:
        start = time.perf_counter()
        try:
            return self._point(images01, scores)
        finally:
            self.seconds += time.perf_counter() - start

    def _point(self, images01: torch.Tensor, scores: dict[str, torch.Tensor]) -> Row:
        images01 = images01.clamp(0, 1).cpu()
        mse = (images01.double() - self.clean01.double()).square().flatten(1).mean(dim=1)
        row: Row = {
            "ssim_final": float(scores["ssim"].mean()),
            "psnr_final": float(scores["psnr"].mean()),
            "mse_final": float(mse.mean()),
        }
        if "lpips" in scores:
            row["lpips_final"] = float(scores["lpips"].mean())
        if self.extractor is None or self.reference is None:
            return {**row, "metric": "distribution distance", "mean": None, "status": "no feature space"}
        features = self.extractor(images01 * 2 - 1)
        kid_mean, kid_std = kernel_distance(
            features, self.reference.kid_features, subset_size=min(1000, len(features)), seed=self.seed
        )
        row.update(
            metric=self.extractor.distance_name,
            kid_name=self.extractor.kernel_name,
            kid_mean=kid_mean,
            kid_std=kid_std,
            features=self.extractor.key,
            reference=self.reference.description,
            reference_count=self.reference.stats.count,
        )
        if len(features) <= self.extractor.dims:
            return {
                **row,
                "mean": None,
                "status": f"{len(features)} images for {self.extractor.dims} feature dimensions: "
                f"the covariance is singular, KID only",
            }
        return {**row, "mean": frechet_distance(gaussian_stats(features), self.reference.stats), "status": "ok"}


def grid_rows(count: int) -> torch.Tensor:
    """Indices of the test images shown in the grids: evenly spread over the ``count`` images."""
    return torch.linspace(0, count - 1, min(GRID_IMAGES, count)).round().long()


def _grid_steps(total: int) -> set[int]:
    return {max(1, round(total * (i + 1) / GRID_STEPS)) for i in range(GRID_STEPS)}


def _reverse_chain(
    method: Method, x_n: torch.Tensor, start: int, stochastic: bool, seed: int, scorer: _Scorer
) -> Iterator[tuple[int, float, dict[str, dict[str, torch.Tensor]], torch.Tensor, torch.Tensor]]:
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


ImageSink = Callable[[int, str, torch.Tensor], None]
"""Receives (noise step, column label, images in [0, 1]) for the figures; the run writes them."""


@dataclass
class _Context:
    """What every method of a run is measured with."""

    config: DenoiseConfig
    scorer: _Scorer
    perception: _Perception
    keep_images: ImageSink


def _noisy_inputs(
    level: Level, clean: torch.Tensor, reference: GaussianDiffusion, seed: int
) -> tuple[torch.Tensor, torch.Tensor, float, float | None]:
    """The noisy images of one level: x_n for the chains, y in [0, 1] for the one-shot denoisers,
    σ of y, and σ under Ho's linear schedule for the same step (paper protocol)."""
    noise = _image_noise(seed, len(clean), tuple(clean.shape[1:]), level)
    if level.pixel_noise is not None:
        y01 = (clean + 1) / 2 + level.pixel_noise * noise
        return y01 * 2 - 1, y01, level.pixel_noise, None
    t = torch.full((len(clean),), level.start)
    alpha_bar = reference.alpha_bar_at(t, clean)
    x_n = reference.q_sample(clean, t, noise)
    linear = GaussianDiffusion(DiffusionConfig("linear", "eps", reference.timesteps))
    ho = float(linear.alpha_bar[level.start])
    return (
        x_n,
        ((x_n / alpha_bar.sqrt()) + 1) / 2,
        float(((1 - alpha_bar) / alpha_bar).sqrt()[0]) / 2,
        math.sqrt((1 - ho) / ho) / 2,
    )


def _noisy_input_rows(
    context: _Context,
    level: Level,
    y01: torch.Tensor,
    clean01: torch.Tensor,
    sigma01: float,
    sigma_ho: float | None,
    schedule: str,
) -> Iterator[Row]:
    count = len(y01)
    yield {
        "kind": "input",
        "method": "noisy input",
        **level.columns(),
        "target": "input",
        "metric": "sigma01",
        "mean": sigma01,
        "std": 0.0,
        "images": count,
        "sigma01": sigma01,
        "sigma01_ho_linear": sigma_ho,
        "schedule": schedule,
    }
    context.keep_images(level.noise_step, "clean", clean01[grid_rows(count)])
    context.keep_images(level.noise_step, "noisy", y01[grid_rows(count)].clamp(0, 1))
    scores = context.scorer(y01)
    for metric, values in scores.items():
        yield {
            "kind": "summary",
            "method": "noisy input",
            **level.columns(),
            "target": "input",
            "metric": metric,
            "mean": float(values.mean()),
            "std": float(values.std()),
            "images": count,
        }
        yield from _image_rows("noisy input", level, "input", metric, values)
    yield {
        "kind": "perception",
        "method": "noisy input",
        **level.columns(),
        "target": "input",
        "images": count,
        **context.perception.point(y01, scores),
    }


def measure(
    config: DenoiseConfig,
    methods: list[Method],
    clean: torch.Tensor,
    progress: Progress = no_progress,
    extractor: FeatureExtractor | None = None,
    reference: ReferenceFeatures | None = None,
    keep_images: ImageSink = lambda *_: None,
) -> Iterator[Row]:
    """Rows (``schema``: ``denoise``): ``summary`` (per method × level × target × metric: mean/std
    of the best value, of its step and of the time to it), ``image`` (per test image), ``curve``
    (mean per reverse step), ``chain`` (each chain's wall time and conditions), ``perception``
    (one perception–distortion point per method × level), ``speedup`` (a process pool against one
    process) and ``meta`` (the time split between denoising and metrics)."""
    started = time.perf_counter()
    clean = clean[: config.num_images]
    clean01 = (clean + 1) / 2
    context = _Context(
        config,
        _Scorer(clean01, config.device, extractor),
        _Perception(extractor, reference, clean01, config.seed),
        keep_images,
    )
    diffusion = next((m.diffusion for m in methods if m.diffusion is not None), GaussianDiffusion(DiffusionConfig()))
    for method in methods:
        yield {"kind": "method", "method": method.name, "train_seed": method.train_seed, **method.extra}
    levels = config.levels(diffusion.timesteps)
    for number, level in enumerate(levels):
        x_n, y01, sigma01, sigma_ho = _noisy_inputs(level, clean, diffusion, config.seed)
        yield from _noisy_input_rows(context, level, y01, clean01, sigma01, sigma_ho, diffusion.config.schedule)
        for index, method in enumerate(methods):
            progress(
                f"{method.name}{'' if method.train_seed is None else f' (seed {method.train_seed})'} "
                f"at noise step {level.noise_step}",
                number * len(methods) + index,
                len(levels) * len(methods),
            )
            shown = context if method.show else dataclasses.replace(context, keep_images=lambda *_: None)
            inputs = (x_n, y01, sigma01)
            measured = [
                {**row, "train_seed": method.train_seed}
                for row in _measured(shown, method, level, inputs, last=number == len(levels) - 1)
            ]
            yield from measured
            quiet = dataclasses.replace(context, keep_images=lambda *_: None)
            for rung, held in method.ladder:
                rows = measured if held is None else _measured(quiet, held, level, inputs, last=False)
                yield from _rung_rows(rows, method, rung)
    total = time.perf_counter() - started
    metric_seconds = context.scorer.seconds + context.perception.seconds
    yield {
        "kind": "meta",
        "metric": "metric_seconds",
        "mean": metric_seconds,
        "lpips_status": context.scorer.lpips_status,
        "total_seconds": total,
        "metric_fraction": metric_seconds / total,
        "perception_seconds": context.perception.seconds,
        "features": extractor.key if extractor else None,
    }


def _measured(
    context: _Context, method: Method, level: Level, inputs: tuple[torch.Tensor, torch.Tensor, float], last: bool
) -> Iterator[Row]:
    """One method at one level: a one-shot denoiser on the rescaled noisy images ``y01`` (noise
    ``sigma01``), a backbone through the reverse chain from ``x_n``."""
    x_n, y01, sigma01 = inputs
    if method.diffusion is None:
        return _one_shot(context, method, level, y01, sigma01, last)
    return _through_the_chain(context, method, level, x_n)


def _rung_rows(rows: Iterable[Row], method: Method, rung: Rung) -> Iterator[Row]:
    """The learning curve's rows of one rung: its summaries, with where on the curve it lies."""
    for row in rows:
        if row["kind"] == "summary":
            yield {
                **row,
                "kind": "rung",
                "train_seed": method.train_seed,
                "rung_step": rung.step,
                "images_seen": rung.images_seen,
                "train_cpu_seconds": rung.cpu_seconds,
            }


def _lpips_unavailable(method: Method, level: Level, scorer: _Scorer) -> Iterator[Row]:
    if scorer.lpips is None:
        for target in ("output",) if method.diffusion is None else ("iterate", "x0"):
            yield {
                "kind": "summary",
                "method": method.name,
                **level.columns(),
                "target": target,
                "metric": "lpips",
                "mean": None,
                "std": None,
                "status": scorer.lpips_status,
            }


def _one_shot(
    context: _Context, method: Method, level: Level, y01: torch.Tensor, sigma01: float, last: bool
) -> Iterator[Row]:
    """A one-shot denoiser on the rescaled noisy images."""
    count = len(y01)
    yield from _lpips_unavailable(method, level, context.scorer)
    tick = time.perf_counter()
    with torch.no_grad():
        estimate = method.model.denoise(y01.to(context.config.device), sigma01).cpu()
    seconds = time.perf_counter() - tick
    output_scores = context.scorer(estimate)
    for metric, values in output_scores.items():
        yield {
            "kind": "summary",
            "method": method.name,
            **level.columns(),
            "target": "output",
            "metric": metric,
            "mean": float(values.mean()),
            "std": float(values.std()),
            "time_to_best_s_mean": seconds / count,
            "images": count,
        }
        yield from _image_rows(method.name, level, "output", metric, values)
    context.keep_images(level.noise_step, method.name, estimate[grid_rows(len(estimate))].clamp(0, 1))
    yield {
        "kind": "perception",
        "method": method.name,
        **level.columns(),
        "target": "output",
        "images": count,
        **context.perception.point(estimate, output_scores),
    }
    if getattr(method.model, "workers", 1) > 1 and last:
        yield _pool_speedup(method, y01[:SPEEDUP_IMAGES], sigma01, seconds / count)


@dataclass
class _Best:
    """Per test image, the best value of one metric over the chain, the step and the time it was reached at."""

    value: torch.Tensor
    step: torch.Tensor
    time: torch.Tensor

    def update(self, values: torch.Tensor, step: int, elapsed: float, higher_is_better: bool) -> None:
        better = values > self.value if higher_is_better else values < self.value
        self.value = torch.where(better, values, self.value)
        self.step = torch.where(better, torch.full_like(values, step), self.step)
        self.time = torch.where(better, torch.full_like(values, elapsed), self.time)


def _through_the_chain(context: _Context, method: Method, level: Level, x_n: torch.Tensor) -> Iterator[Row]:
    """A backbone's reverse chain from the noisy images: curves, the chain's time and conditions,
    per image the best value of every metric, its step and the time to it, for the iterate and for
    the x0 estimate, and per image every metric of the final output (target ``final``)."""
    count, config = len(x_n), context.config
    yield from _lpips_unavailable(method, level, context.scorer)
    best: dict[tuple[str, str], _Best] = {}
    shown = _grid_steps(level.noise_step)
    contention = Contention()
    for step, elapsed, scores, iterate01, x0_01 in _reverse_chain(
        method, x_n.to(config.device), level.start, level.pixel_noise is None, config.seed, context.scorer
    ):
        if step in shown:
            for target, images in (("iterate", iterate01), ("x0", x0_01)):
                context.keep_images(
                    level.noise_step, DenoiseGrids.step_label(method.name, target, step), images[grid_rows(count)]
                )
        for target, values in scores.items():
            for metric, per_image in values.items():
                yield {
                    "kind": "curve",
                    "method": method.name,
                    **level.columns(),
                    "target": target,
                    "metric": metric,
                    "step": step,
                    "mean": float(per_image.mean()),
                    "std": float(per_image.std()),
                    "images": count,
                }
                if (target, metric) not in best:
                    best[target, metric] = _Best(
                        per_image.clone(), torch.full_like(per_image, step), torch.full_like(per_image, elapsed)
                    )
                else:
                    best[target, metric].update(per_image, step, elapsed, HIGHER_IS_BETTER[metric])
    yield {
        "kind": "chain",
        "method": method.name,
        **level.columns(),
        "steps": step,
        "seconds": elapsed,
        "seconds_per_step": elapsed / step,
        "images": count,
        **contention.record(),
    }
    context.keep_images(level.noise_step, method.name, iterate01[grid_rows(count)])
    yield {
        "kind": "perception",
        "method": method.name,
        **level.columns(),
        "target": "iterate",
        "images": count,
        **context.perception.point(iterate01, scores["iterate"]),
    }
    for metric, per_image in scores["iterate"].items():  # the final outputs the perception point scores
        yield from _image_rows(method.name, level, "final", metric, per_image)
    for (target, metric), record in best.items():
        yield {
            "kind": "summary",
            "method": method.name,
            **level.columns(),
            "target": target,
            "metric": metric,
            "mean": float(record.value.mean()),
            "std": float(record.value.std()),
            "best_step_mean": float(record.step.mean()),
            "time_to_best_s_mean": float(record.time.mean()),
            "images": count,
        }
        yield from _image_rows(method.name, level, target, metric, record.value, record.step, record.time)


def _image_rows(
    method: str,
    level: Level,
    target: str,
    metric: str,
    values: torch.Tensor,
    steps: torch.Tensor | None = None,
    times: torch.Tensor | None = None,
) -> Iterator[Row]:
    """One row per test image (``kind='image'``): what the report's intervals resample."""
    for index, value in enumerate(values.tolist()):
        row = {
            "kind": "image",
            "method": method,
            **level.columns(),
            "target": target,
            "metric": metric,
            "image": index,
            "mean": value,
        }
        if steps is not None and times is not None:
            row.update(best_step=float(steps[index]), time_to_best_s=float(times[index]))
        yield row


def _pool_speedup(method: Method, y01: torch.Tensor, sigma01: float, pooled_per_image: float) -> Row:
    """Time per image of one process on a few images against the process pool's time per image
    on the whole batch (measured at the last noise level, once the pool is running)."""
    single = copy.copy(method.model)
    single.workers = 1
    tick = time.perf_counter()
    single.denoise(y01, sigma01)
    one_process = (time.perf_counter() - tick) / len(y01)
    return {
        "kind": "speedup",
        "method": method.name,
        "metric": "pool_speedup",
        "mean": one_process / pooled_per_image,
        "workers": method.model.workers,
        "seconds_per_image_one_process": one_process,
        "seconds_per_image_pool": pooled_per_image,
        "images": len(y01),
    }


def run(config: DenoiseConfig, progress: Progress = no_progress) -> Iterator[Row]:
    """Build every method from the registry and the checkpoints, measure, then write the image
    grids (``OUT/denoise-grids/``) and name them in ``kind='grid'`` rows."""
    from cunet_bench.measure.features import ClassifierTraining, feature_extractor
    from cunet_bench.measure.reference_stats import reference_features

    methods, resolution = build_methods(config)
    check_ssim_size(resolution, resolution)
    check_batch_pixels(config.num_images, resolution, "--num-images")
    clean = clean_test_images(config.data, resolution, config.num_images, config.data_root)
    extractor = reference = None
    try:
        extractor = feature_extractor(
            config.features,
            config.data,
            resolution,
            Path(config.checkpoints),
            config.device,
            data_root=config.data_root,
            training=ClassifierTraining(steps=config.classifier_steps),
        )
        reference = reference_features(extractor, config.data, resolution, Path(config.checkpoints), config.data_root)
    except MetricUnavailable as missing:
        warn(f"no distribution-level perception index: {missing}")
    grids = DenoiseGrids()
    for row in measure(config, methods, clean, progress, extractor, reference, grids.keep):
        if row["kind"] == "input" and config.protocol == "paper":
            grids.titles[row["noise_step"]] = (
                f"noise step {row['noise_step']}: sigma = {row['mean']:.3f} of the "
                f"[0, 1] range ({row['schedule']} schedule)"
            )
        yield row
    for name, columns in grids.write(Path(config.out) / "denoise-grids", new_run_id()).items():
        yield {"kind": "grid", "file": name, "columns": "|".join(columns)}


def workload(rows: list[Row]) -> Workload:
    """Reverse steps run, counted per test image: each backbone's chains and, on its learning
    curve, the same chains of every rung below its checkpoint (the top rung is the checkpoint's
    own chain; one-shot denoisers run no chain)."""
    chains = [row for row in rows if row["kind"] == "chain"]
    work = {(row["method"], row["train_seed"], row["noise_step"]): row["steps"] * row["images"] for row in chains}
    rungs = [row for row in rows if row["kind"] == "rung"]
    top: dict[tuple[str, int], int] = {}
    for row in rungs:
        run = row["method"], row["train_seed"]
        top[run] = max(top.get(run, 0), row["rung_step"])
    lower = {
        (row["method"], row["train_seed"], row["noise_step"], row["rung_step"])
        for row in rungs
        if row["rung_step"] < top[row["method"], row["train_seed"]]
    }
    total = sum(row["steps"] * row["images"] for row in chains) + sum(work.get(rung[:3], 0) for rung in lower)
    return Workload(total, "reverse steps × images")


def summary(rows: list[Row]) -> list[tuple[str, list[Row]]]:
    columns = (
        "method",
        "train_seed",
        "noise_step",
        "target",
        "metric",
        "mean",
        "std",
        "best_step_mean",
        "time_to_best_s_mean",
    )
    images = next((row["images"] for row in rows if row["kind"] == "summary"), 0)
    return [
        (
            f"denoising ({images} test images)",
            [{k: row.get(k) for k in columns} for row in rows if row["kind"] == "summary"],
        )
    ]


BENCHMARK = Benchmark(
    "denoise",
    DenoiseConfig,
    run,
    summary=summary,
    workload=workload,
    inputs=lambda config: config.measured_files(
        tuple(name for name in config.models if "trainable" in get_model(name).supports), config.curves
    ),
    plan=lambda plan: [
        (
            "denoise",
            plan.adding(
                lambda **models: DenoiseConfig.from_preset(
                    plan.preset,
                    out=str(plan.results),
                    checkpoints=str(plan.checkpoints),
                    weights=None if plan.weights is None else str(plan.weights),
                    train_seeds=plan.train_seeds,
                    seed=plan.seed,
                    device=plan.device,
                    **models,
                ),
                lambda spec: "trainable" in spec.supports or not spec.is_backbone,
            ),
        )
    ],
    help="""SSIM / PSNR / LPIPS after every reverse step; best value, step and time to it; one-shot denoisers on the
same noisy images; a distribution-level perception index of every output; image grids.

Example: bench denoise --noise-steps 50,150,400 --models unet,cunet,dncnn,bm3d --num-images 64""",
)
