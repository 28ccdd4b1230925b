"""Named configurations: ``smoke`` (seconds, for tests), ``quick`` (a real but small run on a
2-core CPU, minutes), ``reference`` (behind the committed report: 3 training seeds, about two
hours on 2 cores), ``paper`` (the paper's setting as released: 64×64, batch 128, lr 2e-4,
accumulation 2, EMA 0.9999, v-objective, sigmoid schedule; a GPU job) and ``ho`` (the same
with Ho et al.'s linear schedule and ε-objective, as the paper's text describes). Any field
can be overridden from the command line; ``--dry-run`` prints the resolved configuration.

``quick`` is every command's default preset: it is a real measurement that fits a 2-core CPU,
where ``paper`` is a GPU job and ``smoke`` only checks the pipeline. Which models a preset runs
is given by registry tags, never by names (DESIGN.md, "Registry")."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from cunet_bench.errors import UserError


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    resolution: int
    channels: int
    efficiency_tags: tuple[str, ...]
    """The registry tags of the models ``bench efficiency`` measures."""
    batches: tuple[int, ...]
    sampling_steps: tuple[int, ...]
    repeats: int
    """Rounds every speed comparison runs at least."""
    speed_budget_s: float = 60.0
    """Seconds after which a speed comparison stops adding rounds (it stops earlier once every
    ratio's 95% interval is within ±3%)."""
    speed_variants: tuple[str, ...] = ()
    """Speed variants of the paper's pair timed beside eager execution (compiled, channels-last)."""
    model_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    train_data: str = "mnist5k"
    train_resolution: int = 32
    train_steps: int = 1000
    train_batch: int = 64
    lr: float = 2e-4
    grad_accumulation: int = 1
    ema_decay: float = 0.9999
    schedule: str = "sigmoid"
    objective: str = "v"
    checkpoint_every: int = 500
    train_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    train_seeds: tuple[int, ...] = (0,)
    """Training seeds of every trained model; quality verdicts resample them first."""
    denoise_noise_steps: tuple[int, ...] = (50, 150, 400)
    denoise_images: int = 64
    fid_steps: tuple[int, ...] = (5, 10, 30, 100)
    fid_samples: int = 30_000
    fid_batch: int = 512
    classifier_steps: int = 400
    sample_steps: int = 50
    """DDIM steps of the sample grids (Figure 3)."""
    sample_count: int = 16


SMALL_TRAIN_OPTIONS = {
    "unet": {"dim": 8}, "unet-ddpm": {"ch": 32, "attn_resolutions": (8,)}, "cunet-release": {"nf": 2},
    "cunet": {"nf": 2}, "dncnn": {"depth": 5, "width": 16}, "conv-ae": {"widths": (8, 16, 32, 64)},
}
QUICK_TRAIN_OPTIONS = {
    "unet": {"dim": 16}, "unet-ddpm": {"ch": 32, "attn_resolutions": (8,)}, "cunet-release": {"nf": 4},
    "cunet": {"nf": 4}, "dncnn": {"depth": 10, "width": 32},
}
"""Narrower networks for the CPU presets (the paper preset trains the full sizes), keeping the
release's width rule — cU-Net nf = U-Net dim / 4 (16 vs 64), hence the paper's ~4:1 parameter
ratio: at dim 16 / nf 4, 2,430,241 against 584,929 trainable parameters (REFERENCE §7)."""

PRESETS = {
    "smoke": Preset(
        name="smoke",
        description="seconds: narrow models on 1x32x32, for tests",
        resolution=32,
        channels=1,
        efficiency_tags=("paper-unet", "paper-cunet"),
        batches=(1, 2),
        sampling_steps=(2,),
        repeats=2,
        speed_budget_s=1.0,
        model_options={"unet": {"dim": 8}, "cunet-release": {"nf": 4}},
        train_steps=3,
        train_batch=8,
        ema_decay=0.9,
        checkpoint_every=2,
        train_options=SMALL_TRAIN_OPTIONS,
        denoise_noise_steps=(3, 6),
        denoise_images=4,
        fid_steps=(1, 2),
        fid_samples=64,
        fid_batch=32,
        classifier_steps=20,
        sample_steps=2,
    ),
    "quick": Preset(
        name="quick",
        description="minutes on a 2-core CPU: Table 5 models at 3x64x64, batches 1 and 8",
        resolution=64,
        channels=3,
        efficiency_tags=("table5",),
        batches=(1, 8),
        sampling_steps=(5, 30),
        repeats=5,
        speed_budget_s=45.0,
        speed_variants=("compiled", "channels-last"),
        train_steps=300,
        train_batch=32,
        lr=1e-3,
        ema_decay=0.995,
        checkpoint_every=100,
        train_options=QUICK_TRAIN_OPTIONS,
        fid_samples=128,
        fid_batch=64,
    ),
    "paper": Preset(
        name="paper",
        description="the paper's setting: 3x64x64, Table 5 models and baselines, batches 1 and 64",
        resolution=64,
        channels=3,
        efficiency_tags=("efficiency",),
        batches=(1, 64),
        sampling_steps=(5, 30, 100),
        repeats=5,
        speed_budget_s=120.0,
        speed_variants=("compiled", "channels-last"),
        train_resolution=64,
        train_steps=10_000,
        train_batch=128,
        grad_accumulation=2,
        checkpoint_every=1000,
    ),
}
PRESETS["reference"] = replace(
    PRESETS["quick"], name="reference",
    description="the committed report: the paper's pair at CPU scale, 3 training seeds, about 2 h on 2 CPU cores",
    train_steps=1200, checkpoint_every=200, train_seeds=(0, 1, 2), denoise_images=32, fid_samples=256,
)
"""Behind the committed report (``bench all --preset reference``). The efficiency settings are
quick's, so the two presets' speed runs pool. The budget, measured on the reference machine (2
cores, the tuned allocator): training at batch 32, 32 px takes 0.57 s per step for ``unet`` (dim
16), 0.25 for ``cunet-release`` and 0.23 for ``cunet`` (nf 4), 0.12 for DnCNN and 0.08 for the
ConvAE, so 1,200 steps × 3 seeds are about 63 minutes for the three backbones and 12 for the
baselines; denoising 32 test images at steps 50, 150 and 400 with every backbone and seed about
16 minutes; FID with 256 samples per point at 5, 10, 30 and 100 steps, with the per-sample timing
at the best step counts, about 22 minutes; efficiency about 5 minutes: about 1 h 50 in all
(the run behind the committed report took 108 minutes)."""
PRESETS["ho"] = replace(
    PRESETS["paper"], name="ho", description="the paper's text: Ho et al.'s linear schedule and ε-objective",
    schedule="linear", objective="eps",
)


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise UserError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}") from None


DEFAULT_PRESET = "quick"
