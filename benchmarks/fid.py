"""``bench fid``: FID and KID versus the number of sampling steps (paper Table 1).

For each trained backbone and step count, N samples are generated (each seeded by its global
index, so neither the batch size of a shard's content nor the number of processes changes an
image), written as shards that a later run reuses or completes, embedded in a feature space
(``cunet_bench.measure.features``) and compared with the statistics of the training split.
Table 1's columns follow: the distance at each step count, the step count with the best
distance and the time per sample to get there.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import statistics
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from cunet_bench.benchmarks import THREADS, Benchmark, Progress, Row, Workload, no_progress
from cunet_bench.config.presets import Preset
from cunet_bench.config.resolve import resolve
from cunet_bench.config.settings import MODELS, numbers, setting
from cunet_bench.data import load_dataset
from cunet_bench.diffusion.loading import check_batch_fits, diffusion_of, load_trained
from cunet_bench.diffusion.process import SAMPLERS, GaussianDiffusion, sample
from cunet_bench.errors import MetricUnavailable, UserError, warn
from cunet_bench.files import create_file, file_digest, remove_harness_made
from cunet_bench.host.contention import Contention
from cunet_bench.measure.distribution import GaussianStats, frechet_distance, gaussian_stats, kernel_distance, psd_root
from cunet_bench.measure.features import ClassifierTraining, FeatureExtractor, feature_dims, feature_extractor
from cunet_bench.measure.reference_stats import ReferenceFeatures, reference_features
from cunet_bench.measure.timing import interleaved
from cunet_bench.records.ladder import Rung
from cunet_bench.records.trained import TrainedCheckpoints, refuse_without_curves
from cunet_bench.registry.suite import REGISTRY, get_model, parameter_count
from torch import nn

PAPER_SAMPLES = 30_000
"""Samples per model behind the paper's Table 1 (docs/protocol.md §1)."""
MAX_SAMPLES = 1_000_000
"""More samples per point than any published FID uses (the paper: 30,000); beyond it a typo."""
MAX_STEPS = 100_000
MAX_SHARD_SECONDS = 1e7
"""More seconds than any shard of samples takes (about four months): a larger recorded time is damage."""


@dataclass(frozen=True, kw_only=True)
class FidConfig(TrainedCheckpoints):
    sampling_steps: tuple[int, ...] = field(
        metadata=setting("sampling steps to sweep, e.g. 5,10,30,100", read=numbers())
    )
    """The step counts of the sweep."""
    num_samples: int = field(metadata=setting("samples per point; the paper used 30,000", kind=int))
    batch_size: int = field(metadata=setting("samples per forward pass and per shard", kind=int))
    """Samples per forward pass and per shard."""
    classifier_steps: int
    speed_rounds: int
    speed_budget_s: float
    """Rounds (at least) and seconds (at most) of the interleaved timing of one sample per model."""
    replicates: int
    """Bootstrap resamples of each point's distance (at most 100 in Inception's 2048 dimensions,
    where each matrix square root is expensive)."""
    models: tuple[str, ...] = field(default=(), metadata=MODELS)
    sampler: str = field(default="ddim", metadata=setting("ddim (η=0, the release) or ddpm (eq. 2)"))
    features: str = field(default="auto", metadata=setting("inception (FID), classifier or auto"))
    dims: int | None = field(default=None, metadata=setting("Inception feature block: 64, 192, 768 or 2048", kind=int))
    curves: bool = field(
        default=False,
        metadata=setting("also measure every rung of each checkpoint's ladder, at --curve-steps", flag=True),
    )
    """The learning curve: each rung of a checkpoint's ladder (``bench train --rungs``) is sampled
    at ``curve_steps`` and measured as a point is; the top rung is the checkpoint."""
    curve_steps: int | None = field(
        default=None,
        metadata=setting("most sampling steps of the learning curve's points (default: the sweep's most)", kind=int),
    )
    """The learning curve is sampled at the sweep's largest step count up to this (its smallest
    when all are above), so the top rung is the sweep's own point; fewer steps make each rung
    cheaper, for a rung costs as much as a point of the sweep."""
    device: str = "cpu"
    seed: int = 0
    threads: int | None = field(default=None, metadata=THREADS)

    @classmethod
    def from_preset(cls, preset: Preset, **overrides: Any) -> "FidConfig":
        """The preset's sweep and sample count for the quality backbones it trains."""
        refuse_without_curves(preset.settings("fid"), overrides, "curve_steps", "curve_rungs")
        return resolve(
            cls,
            {
                **preset.settings("fid"),
                **TrainedCheckpoints.settings(preset),
                "models": REGISTRY.tagged("quality"),
                "classifier_steps": preset.classifier_steps,
            },
            overrides,
        )

    def validate(self) -> None:
        """Refuse what cannot give a meaningful number, before anything is loaded."""
        super().validate()
        if not self.models:
            raise UserError("--models needs at least one trained backbone")
        for name in self.models:
            if not get_model(name).is_backbone:
                raise UserError(f"{name} is a denoiser, not a diffusion backbone; bench fid samples from backbones")
        if self.sampler not in SAMPLERS:
            raise UserError(f"unknown sampler {self.sampler!r}; samplers: {', '.join(SAMPLERS)}")
        if not self.sampling_steps or not all(1 <= steps <= MAX_STEPS for steps in self.sampling_steps):
            raise UserError(f"--sampling-steps values must be between 1 and {MAX_STEPS:,}, got {self.sampling_steps}")
        if len(set(self.sampling_steps)) != len(self.sampling_steps):
            raise UserError(f"--sampling-steps are duplicated: {self.sampling_steps}")
        timesteps = self.timesteps(self.models)
        if max(self.sampling_steps) > timesteps:
            raise UserError(
                f"--sampling-steps must be between 1 and {timesteps} (the backbones' T), got {max(self.sampling_steps)}"
            )
        if not 2 <= self.num_samples <= MAX_SAMPLES:
            raise UserError(f"--num-samples must be between 2 and {MAX_SAMPLES:,}, got {self.num_samples}")
        dims = feature_dims(self.features, self.dims)
        if self.num_samples <= dims:
            raise UserError(
                f"--num-samples {self.num_samples} is not above the feature dimension {dims}: the "
                "covariance would be singular; generate more samples or lower --dims (Inception: 64, 192, 768)"
            )
        if not 1 <= self.batch_size <= MAX_SAMPLES:
            raise UserError(f"--batch-size must be between 1 and {MAX_SAMPLES:,}, got {self.batch_size}")
        if not 2 <= self.replicates <= 100_000:
            raise UserError(f"bootstrap replicates must be between 2 and 100,000, got {self.replicates}")
        if not 1 <= self.speed_rounds <= 10_000 or not 0 < self.speed_budget_s <= 3600:
            raise UserError(
                f"speed rounds must be 1 … 10,000 and the budget 0 … 3600 s, got {self.speed_rounds}, "
                f"{self.speed_budget_s}"
            )
        if self.curve_steps is not None and not 1 <= self.curve_steps <= MAX_STEPS:
            raise UserError(f"--curve-steps must be between 1 and {MAX_STEPS:,}, got {self.curve_steps}")

    @property
    def steps_on_curve(self) -> int:
        """The sampling steps at which ``--curves`` measures each rung."""
        cap = self.curve_steps or max(self.sampling_steps)
        return max((steps for steps in self.sampling_steps if steps <= cap), default=min(self.sampling_steps))


@dataclass
class TrainedBackbone:
    name: str
    train_seed: int
    model: nn.Module
    diffusion: GaussianDiffusion
    shape: tuple[int, int, int]
    checkpoint_digest: str
    extra: dict[str, str]
    ladder: list[Rung]
    """The checkpoint's learning curve, its top the checkpoint itself (empty without ``--curves``)."""

    def rungs(self, config: FidConfig) -> Iterator[tuple[Rung, "TrainedBackbone"]]:
        """Each rung with the backbone it holds (loaded when it is reached), lowest first."""
        for rung in self.ladder:
            if rung.path == self.ladder[-1].path:
                yield rung, self
            else:
                model, _, _ = load_trained(rung.path, self.name, device=config.device)
                yield rung, dataclasses.replace(self, model=model, checkpoint_digest=file_digest(rung.path))


def load_backbones(config: FidConfig) -> list[TrainedBackbone]:
    """The EMA weights of each model's checkpoint; all must share one image shape and schedule
    length, which must fit the sweep."""
    backbones = []
    configurations = {}
    for name in config.models:
        for seed in config.train_seeds:
            path = config.measured(name, seed)
            model, trained, _ = load_trained(path, name, device=config.device)
            configurations[name] = trained
            diffusion = diffusion_of(trained)
            if diffusion is None:
                raise UserError(f"{name} is a denoiser, not a diffusion backbone; bench fid samples from backbones")
            shape = (trained.channels, trained.resolution, trained.resolution)
            backbones.append(
                TrainedBackbone(
                    name,
                    seed,
                    model,
                    diffusion,
                    shape,
                    file_digest(path),
                    {
                        **get_model(name).row_fields(),
                        "train_seed": seed,
                        "parameters": parameter_count(model, trainable_only=True),
                    },
                    config.ladder(name, seed) if config.curves else [],
                )
            )
    if len({b.shape for b in backbones}) > 1:
        raise UserError(f"the checkpoints hold different image shapes: {sorted({b.shape for b in backbones})}")
    for training in configurations.values():
        check_batch_fits(training, min(config.batch_size, config.num_samples), "--batch-size")
    timesteps = min(b.diffusion.timesteps for b in backbones)
    if max(config.sampling_steps) > timesteps:
        raise UserError(
            f"--sampling-steps must be between 1 and {timesteps} (the backbones' T), got {max(config.sampling_steps)}"
        )
    return backbones


def small_sample_notice(config: FidConfig) -> str | None:
    if config.num_samples >= PAPER_SAMPLES:
        return None
    return (
        f"N = {config.num_samples} samples per model, below the paper's {PAPER_SAMPLES:,}: distances are "
        "biased upwards at small N; compare them only at equal N (N is in every row)"
    )


def shard_folder(cache: Path, backbone: TrainedBackbone, config: FidConfig, steps: int) -> Path:
    """Samples are reused only for the same weights, sampler, steps, seed and shard size."""
    return (
        cache
        / "fid-samples"
        / f"{backbone.name}-{backbone.checkpoint_digest[:12]}"
        / f"{config.sampler}{steps}-seed{config.seed}-shard{config.batch_size}"
    )


def shard_ranges(config: FidConfig) -> list[range]:
    return [
        range(first, min(first + config.batch_size, config.num_samples))
        for first in range(0, config.num_samples, config.batch_size)
    ]


@dataclass
class Shard:
    """One shard's samples in [-1, 1], how long they took, on what, and whether the machine was busy."""

    images: torch.Tensor
    seconds: float
    device: str
    other_cores: float
    contended: bool


def _digest(images: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest()


def _read_shard(path: Path, indices: range, shape: tuple[int, ...]) -> Shard:
    """One shard; ValueError when the file is damaged, holds other samples or images of another
    shape, or images whose bytes do not match the digest written with them (images overwritten
    after sampling, such as an all-black poisoned shard)."""
    try:
        with np.load(path, allow_pickle=False) as saved:
            if list(saved["indices"]) != list(indices):
                raise ValueError("it holds other sample indices")
            images = saved["images"]
            if images.dtype != np.uint8 or images.shape != (len(indices), *shape):
                raise ValueError(f"its images are not {len(indices)} 8-bit samples of shape {shape}")
            if str(saved["digest"]) != _digest(images):
                raise ValueError("its images do not match the digest written with them")
            seconds, other = float(saved["seconds"]), float(saved["other_cores"])
            if not (np.isfinite(seconds) and 0 <= seconds <= MAX_SHARD_SECONDS and np.isfinite(other)):
                raise ValueError("its timing is not a plausible number of seconds")
            device, contended = saved["device"], saved["contended"]
            if device.dtype.kind != "U" or str(device) not in ("cpu", "cuda") or contended.dtype != np.bool_:
                raise ValueError("its device or contention record is malformed")
            return Shard(torch.from_numpy(images).float() / 127.5 - 1, seconds, str(device), other, bool(contended))
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile, EOFError) as error:
        raise ValueError(str(error) or type(error).__name__) from None


def generate_shards(
    backbone: TrainedBackbone,
    config: FidConfig,
    steps: int,
    folder: Path,
    rank: int = 0,
    world_size: int = 1,
    progress: Progress = no_progress,
) -> int:
    """Generate the missing shards this process owns (shard k belongs to rank k mod world size);
    each shard is written atomically with its generation time and whether the machine was busy.
    A damaged shard is a cache entry like a missing one: it is regenerated, with a warning.
    Another run sharing the folder may write a shard first; its shard is kept (the same seeded
    samples). Returns shards generated."""
    generated = 0
    ranges = shard_ranges(config)
    for shard, indices in enumerate(ranges):
        path = folder / f"shard-{shard:05d}.npz"
        if shard % world_size != rank:
            continue
        if path.exists():
            try:
                _read_shard(path, indices, backbone.shape)
                continue
            except ValueError as error:
                warn(f"sample shard {path} is unusable ({error}); regenerating it")
                remove_harness_made(path)
        contention = Contention()
        images = sample(
            backbone.model,
            backbone.diffusion,
            backbone.shape,
            indices,
            steps,
            config.sampler,
            config.seed,
            device=config.device,
        )
        if images.device.type == "cuda":
            torch.cuda.synchronize()
        seconds, conditions = contention.elapsed(), contention.record()
        buffer = io.BytesIO()
        quantised = ((images.cpu() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
        np.savez(
            buffer,
            images=quantised,
            digest=_digest(quantised),
            indices=np.asarray(indices),
            seconds=seconds,
            device=torch.device(config.device).type,
            other_cores=conditions["other_cores"] or 0.0,
            contended=conditions["contended"],
        )
        generated += create_file(path, buffer.getvalue(), keep_existing=True)
        progress(f"{backbone.name} (seed {backbone.train_seed}), {steps} steps", indices.stop, config.num_samples)
    return generated


def read_shards(folder: Path, config: FidConfig, shape: tuple[int, ...]) -> list[Shard]:
    """Every shard of one point (its samples as the 8-bit images a user would save)."""
    shards = []
    for shard, indices in enumerate(shard_ranges(config)):
        path = folder / f"shard-{shard:05d}.npz"
        try:
            shards.append(_read_shard(path, indices, shape))
        except ValueError as error:
            raise UserError(
                f"sample shard {path} is unusable ({error}); run the command again to regenerate it"
            ) from None
    return shards


def raw_throughput(backbone: TrainedBackbone, config: FidConfig) -> float:
    """Network evaluations per second of the bare backbone at the sampling batch size: the
    ceiling sample generation is measured against."""
    x = torch.randn(min(config.batch_size, config.num_samples), *backbone.shape, device=config.device)
    t = torch.full((len(x),), backbone.diffusion.timesteps // 2, device=config.device, dtype=torch.long)
    with torch.inference_mode():
        measured = interleaved({"forward": lambda: backbone.model(x, t)}, config.device, min_rounds=3, max_rounds=3)
    return len(x) / measured.median("forward")


def time_best_samples(
    backbones: list[TrainedBackbone], steps: dict[str, int], config: FidConfig, progress: Progress = no_progress
) -> Iterator[Row]:
    """Seconds per generated sample (one sample, batch 1) of every backbone at its own best step
    count — Table 1's time column as the paper defines its speed claim — interleaved round by
    round by the timing engine; one row per backbone and round."""
    progress("time per sample at each model's best step count")
    calls = {
        b.name: (
            lambda b: (
                lambda: sample(
                    b.model,
                    b.diffusion,
                    b.shape,
                    range(1),
                    steps[b.name],
                    config.sampler,
                    config.seed,
                    device=config.device,
                )
            )
        )(b)
        for b in backbones
    }
    with torch.inference_mode():
        measured = interleaved(calls, config.device, min_rounds=config.speed_rounds, budget_s=config.speed_budget_s)
    for backbone in backbones:
        for index, seconds in enumerate(measured.seconds[backbone.name]):
            yield {
                "kind": "sample_time",
                "model": backbone.name,
                **backbone.extra,
                "sampling_steps": steps[backbone.name],
                "sampler": config.sampler,
                "round": index,
                "seconds_per_sample": seconds,
                "warmup_calls": measured.warmup_calls[backbone.name],
                **measured.conditions(),
            }


def bootstrap_distances(features: np.ndarray, reference: GaussianStats, replicates: int, seed: int) -> np.ndarray:
    """The distance recomputed on resamples (with replacement) of the generated samples: the
    sampling uncertainty of the distance at this N (the reference statistics held fixed)."""
    rng = np.random.default_rng(seed)
    root = psd_root(reference.covariance)
    return np.array(
        [
            frechet_distance(gaussian_stats(features[rng.integers(0, len(features), len(features))]), reference, root)
            for _ in range(replicates)
        ]
    )


INCEPTION_REPLICATES = 100
"""The most resamples in more than 256 feature dimensions (Inception's 2048: a square root a second)."""


CONFIDENT = 0.9
"""A sample counts as a recognisable digit when the feature classifier gives one class at least this probability."""


def sample_quality(probabilities: np.ndarray | None) -> dict[str, float]:
    """An MNIST analogue of the Inception Score, named as such: the fraction of samples the
    dataset's classifier assigns confidently, the classes among them, exp(E[KL(p(y|x) ‖ p(y))])
    (high when samples are confident and spread over the classes), and the entropy of the
    histogram of predicted classes over log(classes): 1 when every class is drawn equally often,
    0 when one class is all there is (the confident fraction alone cannot tell a model that draws
    only ones from a good one)."""
    if probabilities is None:
        return {}
    shares = np.bincount(probabilities.argmax(axis=1), minlength=probabilities.shape[1]) / len(probabilities)
    drawn = shares[shares > 0]
    confident = probabilities.max(axis=1) >= CONFIDENT
    marginal = probabilities.mean(axis=0)
    divergence = (probabilities * (np.log(probabilities + 1e-12) - np.log(marginal + 1e-12))).sum(axis=1)
    return {
        "confident_fraction": float(confident.mean()),
        "confident_classes": int(len(set(probabilities[confident].argmax(axis=1)))),
        "classifier_score": float(np.exp(divergence.mean())),
        "class_entropy": abs(float((drawn * np.log(drawn)).sum() / np.log(probabilities.shape[1]))),
    }


def basic_interval(estimate: float, replicates: np.ndarray) -> tuple[float, float, float]:
    """The basic (reverse-percentile) bootstrap interval and the bootstrap bias: resampling with
    replacement duplicates samples and inflates a Fréchet distance, so the percentile interval
    sits above the estimate; reflecting it about the estimate corrects that shift."""
    low, high = np.percentile(replicates, [2.5, 97.5])
    return float(2 * estimate - high), float(2 * estimate - low), float(replicates.mean() - estimate)


def _point(
    config: FidConfig,
    backbone: TrainedBackbone,
    steps: int,
    shards: list[Shard],
    generated: int,
    extractor: FeatureExtractor,
    reference: ReferenceFeatures,
    raw: float,
) -> tuple[Row, np.ndarray]:
    """One (model, training seed, steps) point and its bootstrap replicates."""
    images = torch.cat([shard.images for shard in shards])
    seconds = sum(shard.seconds for shard in shards)
    features = extractor(images)
    distance = frechet_distance(gaussian_stats(features), reference.stats)
    kid_mean, kid_std = kernel_distance(
        features, reference.kid_features, subset_size=min(1000, len(features)), seed=config.seed
    )
    replicates = config.replicates if extractor.dims <= 256 else min(config.replicates, INCEPTION_REPLICATES)
    resampled = bootstrap_distances(features, reference.stats, replicates, config.seed)
    low, high, bias = basic_interval(distance, resampled)
    other = max(shard.other_cores for shard in shards)
    row = {
        "kind": "point",
        "model": backbone.name,
        **backbone.extra,
        "sampling_steps": steps,
        "sampler": config.sampler,
        "samples": config.num_samples,
        "features": extractor.key,
        "distance_name": extractor.distance_name,
        "kernel_name": extractor.kernel_name,
        "reference_count": reference.stats.count,
        "batch": config.batch_size,
        "distance": distance,
        "distance_ci_low": low,
        "distance_ci_high": high,
        "bootstrap_bias": bias,
        "bootstrap_replicates": len(resampled),
        "kid_mean": kid_mean,
        "kid_std": kid_std,
        **sample_quality(extractor.class_probabilities(images)),
        "seconds_per_sample": seconds / config.num_samples,
        "generation_device": ",".join(sorted({shard.device for shard in shards})),
        "shards_generated": generated,
        "sampling_evaluations_per_s": config.num_samples * steps / seconds,
        "raw_evaluations_per_s": raw,
        "throughput_ratio": config.num_samples * steps / seconds / raw,
        "other_cores": other,
        "contended": any(shard.contended for shard in shards),
    }
    return row, resampled


def real_quality(extractor: FeatureExtractor, config: FidConfig, resolution: int) -> Row | None:
    """The recognisability check on the real test split: the ceiling the samples' is read against."""
    test = load_dataset(config.data, "test", resolution, config.data_root)
    quality = sample_quality(extractor.class_probabilities(test.batch(torch.arange(len(test)))))
    return {"kind": "real", "features": extractor.key, "images": len(test), **quality} if quality else None


def measure(
    config: FidConfig,
    backbones: list[TrainedBackbone],
    extractor: FeatureExtractor | None,
    reference: ReferenceFeatures | None,
    cache: Path,
    rank: int = 0,
    world_size: int = 1,
    barrier: Callable[[], None] = lambda: None,
    progress: Progress = no_progress,
) -> Iterator[Row]:
    """Rows ``kind='point'`` per (model, training seed, steps) with the distance, its bias-aware
    interval, KID and the sample-quality check; ``kind='best'`` per (model, seed) (Table 1) with
    its bootstrap replicates as ``kind='best_replicate'`` rows; ``kind='sample_time'``: the time
    per sample at each model's best step count; ``kind='real'``: the same check on real images.
    Every process generates its shards; only rank 0 (which holds the extractor) measures and yields."""
    measuring = extractor is not None and reference is not None
    if measuring:
        real = real_quality(extractor, config, backbones[0].shape[-1])
        if real is not None:
            yield real
    best_steps: dict[str, list[int]] = {}
    for backbone in backbones:
        raw = raw_throughput(backbone, config) if measuring else 0.0
        points = []
        for steps in config.sampling_steps:
            folder = shard_folder(cache, backbone, config, steps)
            generated = generate_shards(backbone, config, steps, folder, rank, world_size, progress)
            barrier()
            if measuring:
                shards = read_shards(folder, config, backbone.shape)
                points.append(_point(config, backbone, steps, shards, generated, extractor, reference, raw))
                yield points[-1][0]
        if points:
            best, resampled = min(points, key=lambda point: point[0]["distance"])
            yield {**best, "kind": "best"}
            for index, replicate in enumerate(resampled):
                yield {
                    "kind": "best_replicate",
                    "model": backbone.name,
                    "train_seed": backbone.train_seed,
                    "sampling_steps": best["sampling_steps"],
                    "replicate": index,
                    "distance": float(replicate),
                }
            best_steps.setdefault(backbone.name, []).append(int(best["sampling_steps"]))
        if config.curves:
            yield from measure_curve(
                config, backbone, raw, extractor, reference, cache, (rank, world_size, barrier), progress
            )
    if best_steps:
        typical = {name: int(statistics.median_low(steps)) for name, steps in best_steps.items()}
        timed = [next(b for b in backbones if b.name == name) for name in typical]
        yield from time_best_samples(timed, typical, config, progress)


def measure_curve(
    config: FidConfig,
    backbone: TrainedBackbone,
    raw: float,
    extractor: FeatureExtractor | None,
    reference: ReferenceFeatures | None,
    cache: Path,
    processes: tuple[int, int, Callable[[], None]],
    progress: Progress,
) -> Iterator[Row]:
    """Rows ``kind='rung'``: a point at ``config.steps_on_curve`` for every rung of the
    backbone's ladder, with the rung's step, images seen and training CPU-seconds (the top rung's
    samples are the checkpoint's own point, read back from its shards)."""
    steps, (rank, world_size, barrier) = config.steps_on_curve, processes
    for rung, held in backbone.rungs(config):
        folder = shard_folder(cache, held, config, steps)
        generated = generate_shards(held, config, steps, folder, rank, world_size, progress)
        barrier()
        if extractor is not None and reference is not None:
            shards = read_shards(folder, config, held.shape)
            row, _ = _point(config, held, steps, shards, generated, extractor, reference, raw)
            yield {**row, **rung_columns(rung), "kind": "rung"}


def rung_columns(rung: Rung) -> Row:
    """Where on its learning curve a measured checkpoint lies."""
    return {"rung_step": rung.step, "images_seen": rung.images_seen, "train_cpu_seconds": rung.cpu_seconds}


def run(config: FidConfig, progress: Progress = no_progress) -> Iterator[Row]:
    """Load the backbones; on the main process build the feature space and the reference
    statistics; every process generates its shards (torchrun), the main one measures."""
    from cunet_bench.diffusion.training import distributed_from_environment

    backbones = load_backbones(config)
    distributed = distributed_from_environment()
    extractor = reference = None
    if distributed.is_main:
        notice = small_sample_notice(config)
        if notice:
            warn(notice)
        resolution = backbones[0].shape[-1]
        try:
            extractor = feature_extractor(
                config.features,
                config.data,
                resolution,
                Path(config.checkpoints),
                config.device,
                config.dims,
                config.data_root,
                ClassifierTraining(steps=config.classifier_steps),
            )
        except MetricUnavailable as missing:
            raise UserError(f"FID is unavailable: {missing}") from None
        reference = reference_features(extractor, config.data, resolution, Path(config.checkpoints), config.data_root)
    barrier = _barrier(distributed.world_size)
    yield from measure(
        config,
        backbones,
        extractor,
        reference,
        Path(config.checkpoints),
        distributed.rank,
        distributed.world_size,
        barrier,
        progress,
    )


def _barrier(world_size: int) -> Callable[[], None]:
    if world_size == 1:
        return lambda: None
    import torch.distributed as dist

    return dist.barrier


def workload(rows: list[Row]) -> Workload:
    """Samples measured (each point's and each learning-curve rung's N), generated or read from shards."""
    return Workload(sum(row["samples"] for row in rows if row["kind"] in ("point", "rung")), "samples measured")


def summary(rows: list[Row]) -> list[tuple[str, list[Row]]]:
    points = [row for row in rows if row["kind"] in ("point", "best")]
    if not points:
        return []
    columns = (
        "kind",
        "model",
        "train_seed",
        "sampling_steps",
        "distance",
        "distance_ci_low",
        "distance_ci_high",
        "confident_fraction",
        "kid_mean",
        "seconds_per_sample",
    )
    first = points[0]
    return [
        (
            f"{first['distance_name']} / {first['kernel_name']} vs sampling steps, N = {first['samples']} "
            f"({first['features']})",
            [{k: row.get(k) for k in columns} for row in points],
        )
    ]


BENCHMARK = Benchmark(
    "fid",
    FidConfig,
    run,
    summary=summary,
    workload=workload,
    inputs=lambda config: config.measured_files(config.models, config.curves),
    plan=lambda plan: [
        (
            "fid",
            plan.adding(
                lambda **models: FidConfig.from_preset(
                    plan.preset,
                    checkpoints=str(plan.checkpoints),
                    weights=None if plan.weights is None else str(plan.weights),
                    train_seeds=plan.train_seeds,
                    seed=plan.seed,
                    device=plan.device,
                    **models,
                ),
                lambda spec: spec.samples,
                shipped=True,  # what the weights ship beyond the preset, such as the Appendix C ablations
            ),
        )
    ],
    help="""Samples are seeded per global index and kept in shards (resumed, reused); without Inception weights the
distances are taken in a classifier's features and named FD-classifier / KD-classifier, never FID. Run
under torchrun to share the sampling.

Example: bench fid --models unet,cunet --sampling-steps 5,10,30,100 --num-samples 1000""",
)
