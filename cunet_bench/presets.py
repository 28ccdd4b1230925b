"""Named configurations: ``smoke`` (seconds, for tests), ``quick`` (a real but small run on a
2-core CPU, minutes) and ``paper`` (the paper's setting). Any field can be overridden from
the command line; ``--dry-run`` prints the resolved configuration."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cunet_bench.benchmarks.efficiency import DEFAULT_MODELS, TABLE5_MODELS
from cunet_bench.errors import UserError


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    resolution: int
    channels: int
    efficiency_models: tuple[str, ...]
    batches: tuple[int, ...]
    sampling_steps: tuple[int, ...]
    repeats: int
    model_options: dict[str, dict[str, Any]] = field(default_factory=dict)


PRESETS = {
    "smoke": Preset(
        name="smoke",
        description="seconds: narrow models on 1x32x32, for tests",
        resolution=32,
        channels=1,
        efficiency_models=("unet", "cunet-release", "dncnn"),
        batches=(1, 2),
        sampling_steps=(2,),
        repeats=2,
        model_options={"unet": {"dim": 8}, "cunet-release": {"nf": 4}, "dncnn": {"depth": 5, "width": 16}},
    ),
    "quick": Preset(
        name="quick",
        description="minutes on a 2-core CPU: Table 5 models at 3x64x64, batches 1 and 8",
        resolution=64,
        channels=3,
        efficiency_models=TABLE5_MODELS,
        batches=(1, 8),
        sampling_steps=(5, 30),
        repeats=3,
    ),
    "paper": Preset(
        name="paper",
        description="the paper's setting: 3x64x64, Table 5 models and baselines, batches 1 and 64",
        resolution=64,
        channels=3,
        efficiency_models=DEFAULT_MODELS,
        batches=(1, 64),
        sampling_steps=(5, 30, 100),
        repeats=5,
    ),
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise UserError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}") from None
