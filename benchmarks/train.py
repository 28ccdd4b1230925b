"""``bench train``: train a diffusion backbone (diffusion loss) or a learned denoiser (denoising
loss) into a checkpoint, and check that the trained model denoises.

Rows (``schema``: ``training``): ``log`` rows with the loss and images/s every ``log_every`` steps,
written as they come — a run stopped by Ctrl-C or SIGTERM records the curve up to the stop — then
one ``final`` row with where the run resumed from, its whole time, CPU time, throughput, whether
the machine was busy, and the denoising check (PSNR of the EMA model's estimate against the
noisy input at noise step 50)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterator

from cunet_bench.benchmarks import THREADS, Benchmark, Plan, Progress, Row, Workload, no_progress
from cunet_bench.config.presets import Preset
from cunet_bench.config.resolve import resolve
from cunet_bench.config.settings import file_to_write, setting
from cunet_bench.diffusion.training import TrainConfig, check_distributed_environment, resume_identity
from cunet_bench.errors import UserError
from cunet_bench.host.interrupts import Interrupted
from cunet_bench.records.checkpoints import checkpoint_path, read_checkpoint
from cunet_bench.registry.suite import REGISTRY, get_model

FLOPS_PER_TRAINING_IMAGE = 3
"""A training step costs about three forward passes per image (forward, and backward at twice)."""


@dataclass(frozen=True, kw_only=True)
class TrainRunConfig(TrainConfig):
    """A training configuration and how this run executes it: the checkpoint file (default:
    ``CHECKPOINTS/MODEL-DATA-PRESET-seedSEED.safetensors``), whether to resume it, the device.
    ``scale`` is the model scale ``model_options`` were resolved from: the preset's, or ``--scale``."""

    checkpoint: str = field(
        metadata=setting("default CHECKPOINTS/MODEL-DATA-PRESET-seedSEED.safetensors", kind=Path, read=file_to_write)
    )
    checkpoints: str = "checkpoints"
    resume: bool = field(default=False, metadata=setting("continue from the checkpoint if it exists", flag=True))
    pause_at: int | None = field(
        default=None,
        metadata=setting(
            "stop at this step with a full checkpoint, short of --train-steps; --resume goes on", kind=int
        ),
    )
    device: str = "cpu"
    threads: int | None = field(default=None, metadata=THREADS)
    scale: str | None = field(
        default=None, metadata=setting("model widths: tiny or cpu (default: the preset's), e.g. a narrower pair")
    )

    @classmethod
    def from_preset(cls, preset: Preset, **overrides: Any) -> "TrainRunConfig":
        """The preset's training setup for ``model`` at the preset's scale."""
        settings = {"data": preset.data, **preset.settings("train")}
        model = overrides.get("model")
        if model is None:
            raise UserError("bench train needs --model")
        if overrides.get("sigma") is not None and get_model(model).is_backbone:
            raise UserError(
                f"--sigma is the noise level of denoisers; {model} is a diffusion backbone (its noise "
                "follows --schedule)"
            )
        settings["model_options"] = get_model(model).options_at(overrides.get("scale") or settings["scale"])
        seed = overrides.get("seed") if overrides.get("seed") is not None else 0
        data = overrides.get("data") or settings["data"]
        folder = overrides.get("checkpoints") or "checkpoints"
        settings["checkpoint"] = str(checkpoint_path(Path(folder), model, data, preset.name, seed))
        return resolve(cls, settings, overrides)

    def validate(self) -> None:
        super().validate()
        spec = get_model(self.model)
        if "trainable" not in spec.supports:
            raise UserError(f"model {self.model!r} has nothing to train")
        spec.check_image_size(self.resolution)
        spec.check_options(self.model_options)
        if self.min_snr_gamma and not spec.is_backbone:
            raise UserError(f"--min-snr-gamma weights the diffusion loss of backbones; {self.model} is a denoiser")
        if self.pause_at is not None and not 0 < self.pause_at <= self.train_steps:
            raise UserError(
                f"--pause-at {self.pause_at} is not a step between 1 and --train-steps {self.train_steps:,}"
            )
        if Path(self.checkpoint).is_dir():
            raise UserError(f"--checkpoint {self.checkpoint} is a folder; give a file name")
        check_distributed_environment()

    @property
    def training(self) -> TrainConfig:
        """What the checkpoint records: the training fields without how this run executes them."""
        names = {f.name for f in fields(TrainConfig)}
        return TrainConfig(**{name: getattr(self, name) for name in names})


def is_complete(config: TrainRunConfig) -> bool:
    """The checkpoint holds at least the configured steps (or ``--pause-at``'s) of a run with the same options."""
    path = Path(config.checkpoint)
    if not path.is_file():
        return False
    saved = read_checkpoint(path)
    recorded = TrainConfig.from_record(saved.config, path)
    same_run = resume_identity(recorded) == resume_identity(config.training)
    return saved.step >= (config.pause_at or config.train_steps) and same_run


def run(config: TrainRunConfig, progress: Progress = no_progress) -> Iterator[Row]:
    import torch
    from cunet_bench.benchmarks.counting import count_flops
    from cunet_bench.diffusion.loading import build_model, check_batch_fits, diffusion_of, load_trained
    from cunet_bench.diffusion.training import Distributed, TrainingRun, denoising_check, distributed_from_environment
    from cunet_bench.host.contention import Contention
    from cunet_bench.registry.contracts import example_inputs, takes_noise_level

    training = config.training
    distributed: Distributed = distributed_from_environment()
    check_batch_fits(training, training.batch_size // distributed.world_size, "--batch-size", training=True)
    torch.manual_seed(training.seed)
    model = build_model(training)
    spec = get_model(training.model)
    forward_flops = count_flops(model, example_inputs(spec, 1, training.channels, training.resolution))
    diffusion = diffusion_of(training)
    noise_level = takes_noise_level(spec)
    session = TrainingRun(
        training,
        model,
        diffusion,
        Path(config.checkpoint),
        config.device,
        config.resume,
        distributed,
        pause_at=config.pause_at,
        noise_level=noise_level,
    )
    base = {
        "model": training.model,
        **spec.row_fields(),
        "train_seed": training.seed,
        "data": training.data,
        "loss_type": loss_type(model, training, diffusion is not None),
        "processes": distributed.world_size,
        "device": config.device,
        "checkpoint": config.checkpoint,
    }
    contention = Contention()

    def final(stopped: bool) -> Row:
        images = training.batch_size * training.grad_accumulation * (session.steps_done - session.resumed_from)
        return {
            "kind": "final",
            **base,
            "step": session.steps_done,
            "resumed_from": session.resumed_from,
            "images_per_s": images / max(session.seconds, 1e-9),
            "seconds": session.seconds,
            "cpu_seconds": contention.cpu_seconds(),
            "threads": config.threads,
            "stopped": stopped,
            "gflop": FLOPS_PER_TRAINING_IMAGE * forward_flops * images / 1e9,
            **contention.record(),
        }

    try:
        for entry in session.steps():
            progress(f"loss {entry.loss:.4f}, {entry.images_per_s:.0f} img/s", entry.step, training.train_steps)
            if distributed.is_main:
                yield {
                    "kind": "log",
                    **base,
                    "step": entry.step,
                    "loss": entry.loss,
                    "images_per_s": entry.images_per_s,
                }
    except Interrupted:
        if distributed.is_main and session.steps_done > session.resumed_from:
            yield final(stopped=True)
        raise
    if distributed.is_main and session.steps_done > session.resumed_from:
        trained, _, _ = load_trained(config.checkpoint, training.model, device=config.device)
        yield {
            **final(stopped=session.steps_done < training.train_steps),
            **denoising_check(trained, training, diffusion, config.device, noise_level=noise_level),
        }


def loss_type(model: Any, training: TrainConfig, backbone: bool) -> str:
    """What the logged loss is (losses of different kinds are never plotted on one axis)."""
    if backbone:
        return f"diffusion MSE ({training.objective} objective)"
    return "denoising cross-entropy (logits)" if getattr(model, "trains_on_logits", False) else "denoising MSE"


def workload(rows: list[Row]) -> Workload:
    final = [row for row in rows if row["kind"] == "final"]
    images = sum(round(row["images_per_s"] * row["seconds"]) for row in final)
    return Workload(images, "training images", sum(row["gflop"] for row in final) or None)


def summary(rows: list[Row]) -> list[tuple[str, list[Row]]]:
    final = [row for row in rows if row["kind"] == "final"]
    losses = [row["loss"] for row in rows if row["kind"] == "log"]
    return [
        (
            "training",
            [
                {
                    "model": row["model"],
                    "seed": row["train_seed"],
                    "steps": row["step"],
                    "resumed from": row["resumed_from"],
                    "final loss": losses[-1] if losses else None,
                    "seconds": row["seconds"],
                    "images/s": row["images_per_s"],
                    "PSNR noisy dB": row.get("psnr_noisy_db"),
                    "PSNR model (EMA) dB": row.get("psnr_model_db"),
                    "checkpoint": row["checkpoint"],
                }
                for row in final
            ],
        )
    ]


def trained_models() -> tuple[str, ...]:
    """What ``bench all`` trains: the quality backbones and the learned Table 4 baselines."""
    return REGISTRY.tagged("quality") + tuple(
        name for name in REGISTRY.tagged("table4") if "trainable" in get_model(name).supports
    )


def plan(plan: Plan) -> list[tuple[str, TrainRunConfig]]:
    """``bench all``: every trained model once per training seed of the plan, resumed where a
    checkpoint was cut; a model and seed the shipped weights hold is not trained."""
    return [
        (
            f"train {model} (seed {seed})",
            TrainRunConfig.from_preset(
                plan.preset, model=model, checkpoints=str(plan.checkpoints), resume=True, device=plan.device, seed=seed
            ),
        )
        for model in plan.models(trained_models(), lambda spec: "trainable" in spec.supports)
        for seed in plan.train_seeds
        if plan.shipped(model, seed) is None
    ]


BENCHMARK = Benchmark(
    "training",
    TrainRunConfig,
    run,
    summary=summary,
    finished=is_complete,
    workload=workload,
    plan=plan,
    side_by_side=True,
    help="""Backbones learn the diffusion loss, denoisers the denoising loss at --sigma; safetensors checkpoints;
--resume continues exactly; run under torchrun for several processes.

Example: bench train --model cunet --preset quick ·
torchrun --nproc-per-node 2 -m cunet_bench.cli train --model unet""",
)
