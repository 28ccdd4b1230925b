"""Named configurations: ``smoke`` (seconds, for tests; never a verdict), ``quick`` (a real but
small run on a 2-core CPU), ``reference`` (the long reference: a doubling ladder of 1,800 · 2^k
steps up to 28,800, 225 to 28,800 kept as rungs, trained once over many hours), ``paper`` (the
paper's setting as released: 64×64, batch 128, lr 2e-4, accumulation 2, EMA 0.9999,
v-objective, sigmoid schedule; a GPU job), ``ho`` (the same with Ho et al.'s linear schedule and
ε-objective, as the paper's text describes) and ``gpu`` (the prepared check of a lent GPU).

A preset holds, per benchmark, the defaults of that benchmark's configuration under the very
names of its fields — and of its command-line options — so a setting has one name from the flag
through the preset, the configuration, ``--dry-run``, the provenance and the report, and one
default: a field a preset fills has none of its own (``tests/test_settings.py``). Which models a
preset runs is given by registry tags, how wide they are by the scale each model's spec defines
(``ModelSpec.scales``), never by names (docs/architecture.md, "Registry")."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from cunet_bench.errors import UserError

BENCHES = ("efficiency", "solvers", "train", "sample", "denoise", "fid")


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    data: str
    """The training data of every trained model, and what denoising and FID are measured on."""
    train_seeds: tuple[int, ...]
    """Training seeds of every trained model; quality verdicts need at least two (seed-level intervals)."""
    classifier_steps: int
    """Training steps of the feature classifier (FD-classifier, the perception index)."""
    efficiency: Mapping[str, Any] = field(default_factory=dict)
    solvers: Mapping[str, Any] = field(default_factory=dict)
    train: Mapping[str, Any] = field(default_factory=dict)
    sample: Mapping[str, Any] = field(default_factory=dict)
    denoise: Mapping[str, Any] = field(default_factory=dict)
    fid: Mapping[str, Any] = field(default_factory=dict)

    def settings(self, bench: str) -> dict[str, Any]:
        """The defaults of one benchmark's configuration, by field name."""
        if bench not in BENCHES:
            raise KeyError(bench)
        return dict(getattr(self, bench))

    def with_settings(self, bench: str, **changes: Any) -> "Preset":
        """This preset with some of one benchmark's defaults changed (tests, studies)."""
        return replace(self, **{bench: {**self.settings(bench), **changes}})


RELEASE_TRAINING = dict(
    lr=2e-4, grad_accumulation=1, ema_decay=0.9999, schedule="sigmoid", objective="v", sigma=(0.1, 0.1)
)
"""The released code's training recipe (docs/protocol.md §2); denoisers train at the release's σ = 0.1."""


def _cpu(
    name: str,
    description: str,
    train_steps: int,
    train_seeds: tuple[int, ...],
    denoise_images: int,
    fid_samples: int,
    fid_steps: tuple[int, ...],
    rungs: int,
    curve_steps: int | None = None,
    curve_rungs: int | None = None,
) -> Preset:
    """The CPU presets: Table 5 models at full size for efficiency, the paper's pair and the
    baselines at the ``cpu`` scale (the release's 4:1 width rule) trained on MNIST-5k at 32 px."""
    return Preset(
        name=name,
        description=description,
        data="mnist5k",
        train_seeds=train_seeds,
        classifier_steps=400,
        efficiency=dict(
            tags=("table5",),
            scale=None,
            resolution=(64,),
            channels=3,
            batch=(1, 8),
            sampling_steps=(5, 30),
            repeats=5,
            speed_budget_s=45.0,
            variants=("eager", "frozen", "channels-last", "release-layers"),
            memory_batch=(1, 8, 32),
        ),
        solvers=dict(scale=None, resolution=64, channels=3, batch=(1, 8), repeats=5),
        train=dict(
            RELEASE_TRAINING,
            scale="cpu",
            resolution=32,
            train_steps=train_steps,
            batch_size=32,
            lr=1e-3,
            ema_decay=0.995,
            checkpoint_every=100,
            rungs=rungs,
        ),
        sample=dict(sampling_steps=50, num_samples=16, batch_size=16),
        denoise=dict(noise_steps=(50, 150, 400), num_images=denoise_images, curves=True, curve_rungs=curve_rungs),
        fid=dict(
            sampling_steps=fid_steps,
            num_samples=fid_samples,
            batch_size=64,
            speed_rounds=5,
            speed_budget_s=45.0,
            replicates=1000,
            curves=True,
            curve_steps=curve_steps,
        ),
    )


PRESETS: dict[str, Preset] = {
    "smoke": Preset(
        name="smoke",
        description="seconds: narrow models on 1x32x32, for tests (never a verdict)",
        data="mnist5k",
        train_seeds=(0,),
        classifier_steps=20,
        efficiency=dict(
            tags=("paper-unet", "paper-cunet"),
            scale="tiny",
            resolution=(32,),
            channels=1,
            batch=(1, 2),
            sampling_steps=(2,),
            repeats=2,
            speed_budget_s=1.0,
            variants=("eager",),
            memory_batch=(1,),
        ),
        solvers=dict(scale="tiny", resolution=32, channels=1, batch=(1, 2), repeats=2),
        train=dict(
            RELEASE_TRAINING,
            scale="tiny",
            resolution=32,
            train_steps=3,
            batch_size=8,
            ema_decay=0.9,
            checkpoint_every=2,
            rungs=2,
        ),
        sample=dict(sampling_steps=2, num_samples=16, batch_size=16),
        denoise=dict(noise_steps=(3, 6), num_images=4, curves=True, curve_rungs=2),
        fid=dict(
            sampling_steps=(1, 2),
            num_samples=72,
            batch_size=36,
            speed_rounds=2,
            speed_budget_s=1.0,
            replicates=50,
            curves=True,
            curve_steps=1,
        ),
    ),
    "quick": _cpu(
        "quick",
        "minutes on a 2-core CPU: one training seed, a pipeline of real but small sizes",
        train_steps=300,
        train_seeds=(0,),
        denoise_images=64,
        fid_samples=128,
        fid_steps=(5, 10, 30, 100),
        rungs=3,
    ),
    "reference": _cpu(
        "reference",
        "the long reference: the paper's pair and the described cU-Net at CPU scale, 3 training seeds, a "
        "doubling ladder to 28,800 steps trained once and resumably over many hours, read doubling by doubling "
        "(--at-step)",
        train_steps=28_800,
        train_seeds=(0, 1, 2),
        denoise_images=64,
        fid_samples=1024,
        fid_steps=(5, 10, 30, 100, 250),
        rungs=8,
        curve_steps=30,
        curve_rungs=None,
    ),
    "paper": Preset(
        name="paper",
        description="the paper's setting: 3x64x64, Table 5 models and baselines, batches 1 and 64",
        data="mnist5k",
        train_seeds=(0,),
        classifier_steps=400,
        efficiency=dict(
            tags=("efficiency",),
            scale=None,
            resolution=(64,),
            channels=3,
            batch=(1, 64),
            sampling_steps=(5, 30, 100),
            repeats=5,
            speed_budget_s=120.0,
            variants=("eager", "compiled", "frozen", "channels-last", "release-layers"),
            memory_batch=(1, 8, 32, 128),
        ),
        solvers=dict(scale=None, resolution=64, channels=3, batch=(1, 64), repeats=5),
        train=dict(
            RELEASE_TRAINING,
            scale=None,
            resolution=64,
            train_steps=10_000,
            batch_size=128,
            grad_accumulation=2,
            checkpoint_every=1000,
        ),
        sample=dict(sampling_steps=50, num_samples=16, batch_size=16),
        denoise=dict(noise_steps=(50, 150, 400), num_images=64),
        fid=dict(
            sampling_steps=(5, 10, 30, 100),
            num_samples=30_000,
            batch_size=512,
            speed_rounds=5,
            speed_budget_s=120.0,
            replicates=1000,
        ),
    ),
}
PRESETS["gpu"] = Preset(
    name="gpu",
    description="the prepared check of a lent GPU: paper sizes for efficiency, the pair trained "
    "longer at CPU scale, the paper's step grid; about 8 minutes on one H200 (unverified)",
    data="mnist5k",
    train_seeds=(0, 1),
    classifier_steps=400,
    efficiency=dict(
        tags=("paper-unet", "paper-cunet"),
        scale=None,
        resolution=(64,),
        channels=3,
        batch=(1, 64),
        sampling_steps=(5, 30, 100),
        repeats=10,
        speed_budget_s=20.0,
        variants=("eager", "compiled"),
        memory_batch=(1, 64, 128),
    ),
    solvers=dict(scale=None, resolution=64, channels=3, batch=(1, 64), repeats=10),
    train=dict(
        RELEASE_TRAINING,
        scale="cpu",
        resolution=32,
        train_steps=3000,
        batch_size=128,
        lr=1e-3,
        ema_decay=0.999,
        checkpoint_every=500,
        rungs=4,
    ),
    sample=dict(sampling_steps=50, num_samples=64, batch_size=64),
    denoise=dict(noise_steps=(50, 150, 400), num_images=300, curves=True),
    fid=dict(
        sampling_steps=(5, 10, 30, 100, 200),
        num_samples=1024,
        batch_size=512,
        speed_rounds=5,
        speed_budget_s=20.0,
        replicates=1000,
        curves=True,
    ),
)
"""The one command a session lent a GPU runs (``bench all --preset gpu --device cuda``): CUDA-event
latencies, peak CUDA memory and the compiled variant at the paper's 64×64 sizes, the CPU-scale pair
trained ten times longer than quick, denoising on the paper's 300 test images, the sample-quality
distance up to 200 steps. Its sizes are chosen to fit about 8 minutes on one H200; no session has
yet been lent a GPU to confirm it."""
PRESETS["ho"] = replace(
    PRESETS["paper"],
    name="ho",
    description="the paper's text: Ho et al.'s linear schedule and ε-objective",
    train={**PRESETS["paper"].train, "schedule": "linear", "objective": "eps"},
)
DEFAULT_PRESET = "quick"


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise UserError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}") from None
