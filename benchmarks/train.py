"""``bench train``: train a diffusion backbone (diffusion loss) or a learned denoiser (denoising
loss) into a checkpoint, and check that the trained model denoises.

Rows: the loss and images/s logged during training, then one row with the run's throughput and
the denoising check (PSNR of the EMA model's estimate against the noisy input at noise step 50).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from cunet_bench.checkpoints import checkpoint_path, read_checkpoint
from cunet_bench.configs import resolve
from cunet_bench.errors import UserError
from cunet_bench.presets import Preset
from cunet_bench.runner import Benchmark, Progress
from cunet_bench.training import (TrainConfig, denoising_check, distributed_from_environment, load_trained,
                                  resume_identity, train, training_record)

RUN_FIELDS = ("checkpoint", "resume", "device")


@dataclass(frozen=True)
class TrainRunConfig:
    training: TrainConfig
    checkpoint: str
    resume: bool = False
    device: str = "cpu"

    @property
    def seed(self) -> int:
        return self.training.seed

    @classmethod
    def from_preset(cls, preset: Preset, model: str, checkpoints: str = "checkpoints",
                    **overrides: Any) -> "TrainRunConfig":
        """The preset's training setup for ``model`` (its narrow width on the CPU presets); the
        checkpoint defaults to ``CHECKPOINTS/MODEL-DATA-PRESET-seedSEED.safetensors``."""
        run_overrides = {k: overrides.pop(k) for k in RUN_FIELDS if k in overrides}
        training = resolve(TrainConfig, dict(
            model=model, data=preset.train_data, resolution=preset.train_resolution, steps=preset.train_steps,
            batch_size=preset.train_batch, lr=preset.lr, grad_accumulation=preset.grad_accumulation,
            ema_decay=preset.ema_decay, schedule=preset.schedule, objective=preset.objective,
            checkpoint_every=preset.checkpoint_every, model_options=preset.train_options.get(model, {})), overrides)
        default = checkpoint_path(Path(checkpoints), model, training.data, preset.name, training.seed)
        return resolve(cls, dict(training=training, checkpoint=str(default)), run_overrides)

    def validate(self) -> None:
        if Path(self.checkpoint).is_dir():
            raise UserError(f"--checkpoint {self.checkpoint} is a folder; give a file name")


def is_complete(config: TrainRunConfig) -> bool:
    """The checkpoint holds at least the configured steps of a run with the same options."""
    path = Path(config.checkpoint)
    if not path.is_file():
        return False
    saved = read_checkpoint(path)
    return saved.step >= config.training.steps and resume_identity(saved.config) == resume_identity(training_record(config.training))


def run(config: TrainRunConfig, progress: Progress = lambda _: None) -> Iterator[dict[str, Any]]:
    training, target = config.training, Path(config.checkpoint)
    distributed = distributed_from_environment()
    result = train(training, target, config.device, config.resume, distributed, lambda entry: progress(
        f"step {entry.step}/{training.steps} loss {entry.loss:.4f} {entry.images_per_s:.0f} img/s"))
    if not distributed.is_main:
        return
    base = {"model": training.model, "data": training.data, "processes": distributed.world_size,
            "device": config.device, "checkpoint": str(target)}
    for entry in result.log:
        yield {**base, "step": entry.step, "loss": entry.loss, "images_per_s": entry.images_per_s}
    trained, _, _ = load_trained(target, training.model, use_ema=True, device=config.device)
    images = training.batch_size * training.grad_accumulation * (result.steps_done - result.resumed_from)
    yield {**base, "step": result.steps_done, "resumed_from": result.resumed_from,
           "images_per_s": images / max(result.seconds, 1e-9), "seconds": result.seconds,
           **denoising_check(trained, training, config.device)}


def summary(rows: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    final = [row for row in rows if "seconds" in row]
    losses = [row["loss"] for row in rows if "loss" in row]
    return [("training", [{"model": row["model"], "steps": row["step"], "resumed from": row["resumed_from"],
                           "final loss": losses[-1] if losses else None, "seconds": row["seconds"],
                           "images/s": row["images_per_s"], "PSNR noisy dB": row["psnr_noisy_db"],
                           "PSNR model (EMA) dB": row["psnr_model_db"], "checkpoint": row["checkpoint"]}
                          for row in final])]


BENCHMARK = Benchmark("training", run, summary=summary)
