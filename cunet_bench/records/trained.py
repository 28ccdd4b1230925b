"""The checkpoints a measurement reads (``bench denoise``, ``bench fid``): where ``bench train``
put each model's checkpoint of each training seed, and the files of their ladders a measurement
reads (its done key)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from cunet_bench.config.seeding import check_seed
from cunet_bench.config.settings import DATA, DATA_ROOT, numbers, path_text, setting
from cunet_bench.errors import UserError
from cunet_bench.records.checkpoints import (
    DEFAULT_TIMESTEPS,
    MAX_RUNGS,
    MAX_TRAIN_STEPS,
    checkpoint_path,
    recorded_timesteps,
)
from cunet_bench.records.ladder import Rung, ladder_files, read_ladder
from cunet_bench.records.shipped import shipped_ladder, shipped_steps


def refuse_without_curves(defaults: Mapping[str, Any], overrides: Mapping[str, Any], *names: str) -> None:
    """Refuse a learning-curve option given to a run that measures no curve (it would be ignored)."""
    curves = overrides.get("curves") if overrides.get("curves") is not None else defaults.get("curves", False)
    for name in names:
        if overrides.get(name) is not None and not curves:
            option = "--" + name.replace("_", "-")
            raise UserError(f"{option} applies to the learning curve; add --curves or leave {option} out")


@dataclass(frozen=True, kw_only=True)
class TrainedCheckpoints:
    """The checkpoints a measurement reads (``bench denoise``, ``bench fid``): the file ``bench
    train`` writes by default for each model and training seed, under ``checkpoints``."""

    data: str = field(metadata=DATA)
    checkpoint_preset: str
    """The preset the checkpoints were trained with: ``CHECKPOINTS/MODEL-DATA-PRESET-seedS.safetensors``."""
    train_seeds: tuple[int, ...] = field(
        metadata=setting("training seeds of the checkpoints compared, e.g. 0,1,2", read=numbers(minimum=0))
    )
    """The training seeds whose checkpoints are compared (every trained model, every seed)."""
    checkpoints: str = "checkpoints"
    data_root: str | None = field(default=None, metadata=DATA_ROOT)
    """The folder of a dataset that is not embedded (the test and training splits are read from it)."""
    curve_rungs: int | None = field(
        default=None,
        metadata=setting("with --curves, the highest rungs measured (default: all; 2: the last doubling)", kind=int),
    )
    """How many of each ladder's highest rungs the learning curve measures, the checkpoint among
    them: 2 is the last doubling, all the convergence gate reads; None measures every rung."""
    at_step: int | None = field(
        default=None,
        metadata=setting(
            "measure each run as it stood at this step, a rung of its ladder (default: its end)", kind=int
        ),
    )
    """Where on its ladder each run is measured: the rung at this step stands in for the checkpoint
    (a completed doubling of a run still training); None measures the checkpoint."""
    weights: str | None = field(
        default=None,
        metadata=setting(
            "measure the shipped weights in this folder (bench ship; checked against its manifest) where it ships "
            "the model and seed, instead of training checkpoints",
            kind=Path,
            read=path_text,
        ),
    )
    """Shipped weights stand in for the checkpoints of each model and seed the folder ships: its
    highest shipped step is the checkpoint, the steps shipped below it the ladder
    (``records.shipped.shipped_ladder``). Any other model (a user's own, trained beside them) is
    read from the checkpoints folder, which also holds the measurement's caches."""

    @staticmethod
    def settings(preset: Any) -> dict[str, Any]:
        """The preset's part of these settings: its data, its name and its training seeds."""
        return {"data": preset.data, "checkpoint_preset": preset.name, "train_seeds": preset.train_seeds}

    def validate(self) -> None:
        from cunet_bench.data import check_source

        check_source(self.data, self.data_root)
        if not self.train_seeds or len(set(self.train_seeds)) != len(self.train_seeds):
            raise UserError(f"training seeds must be distinct and at least one, got {self.train_seeds}")
        for seed in self.train_seeds:
            check_seed(seed)
        if self.at_step is not None and not 1 <= self.at_step <= MAX_TRAIN_STEPS:
            raise UserError(f"--at-step must be a training step from 1 to {MAX_TRAIN_STEPS:,}, got {self.at_step}")
        if self.curve_rungs is not None and not 2 <= self.curve_rungs <= MAX_RUNGS:
            raise UserError(
                f"--curve-rungs must be an integer from 2 (the last doubling) to {MAX_RUNGS}, got {self.curve_rungs}"
            )

    def timesteps(self, models: tuple[str, ...]) -> int:
        """The fewest diffusion timesteps T the existing checkpoints of ``models`` record (read
        from their metadata alone), or the default T when none exists yet: the bound the noise and
        sampling steps are checked against before any work, as the run checks them."""
        recorded = [
            recorded_timesteps(path)
            for model in models
            for seed in self.train_seeds
            if (path := self.checkpoint(model, seed)).is_file()
        ]
        return min(recorded, default=DEFAULT_TIMESTEPS)

    def ships(self, model: str, seed: int) -> bool:
        """Whether the shipped weights (if any) hold ``model`` of training seed ``seed``, by their
        manifest (each file is checked against it when the ladder is read)."""
        return self.weights is not None and bool(shipped_steps(Path(self.weights), model, seed))

    def checkpoint(self, model: str, seed: int) -> Path:
        """Where ``bench train`` wrote ``model``'s checkpoint of training seed ``seed`` (with shipped
        weights: the shipped file that stands in for it)."""
        if self.ships(model, seed):
            return shipped_ladder(Path(self.weights), model, seed, self.data, 1)[-1].path
        return checkpoint_path(Path(self.checkpoints), model, self.data, self.checkpoint_preset, seed)

    def measured_files(self, models: tuple[str, ...], curves: bool) -> list[Path]:
        """The files a measurement of ``models`` reads, for its done key: each checkpoint and, with
        the learning curve, the rung files its ladder records (checked when the measurement reads them)."""
        files: list[Path] = []
        for model in models:
            for seed in self.train_seeds:
                if self.ships(model, seed):
                    ladder = self.ladder(model, seed)
                    files += [rung.path for rung in (ladder if curves else ladder[-1:])]
                    continue
                checkpoint = self.checkpoint(model, seed)
                if curves or self.at_step is not None:
                    files += ladder_files(checkpoint, self.curve_rungs if curves else 1, self.at_step)
                else:
                    files.append(checkpoint)
        return files

    def ladder(self, model: str, seed: int) -> list[Rung]:
        """The checked ladder of ``model``'s run of seed ``seed`` up to where it is measured."""
        if self.ships(model, seed):
            return shipped_ladder(Path(self.weights), model, seed, self.data, self.curve_rungs, self.at_step)
        return read_ladder(self.require(model, seed), self.curve_rungs, self.at_step)

    def require(self, model: str, seed: int) -> Path:
        """That checkpoint, or a one-line error naming the command that makes it. With ``at_step``
        the checkpoint must keep a rung there, checked against its record; the caller measures the
        rung (:meth:`measured`)."""
        if self.ships(model, seed):
            return self.ladder(model, seed)[-1].path
        path = self.checkpoint(model, seed)
        if not path.is_file():
            folder = f" --checkpoints {self.checkpoints}" if Path(self.checkpoints) != Path("checkpoints") else ""
            shipped = f" ({self.weights} ships no {model} of seed {seed})" if self.weights is not None else ""
            raise UserError(
                f"no checkpoint {path}{shipped}; make it with: bench train --model {model} --data {self.data} "
                f"--preset {self.checkpoint_preset} --seed {seed}{folder}"
            )
        return path

    def measured(self, model: str, seed: int) -> Path:
        """The file that holds ``model``'s run of seed ``seed`` where it is measured: its checkpoint,
        or its rung at ``at_step`` (checked against the checkpoint's record)."""
        return self.ladder(model, seed)[-1].path if self.at_step is not None else self.require(model, seed)
