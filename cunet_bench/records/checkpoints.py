"""Checkpoints as safetensors — tensors and strings only, nothing that can run code. One file
holds the model, its EMA, the Adam state, the step, the training configuration and the data
fingerprint; it is written to a temporary file and renamed, so an interruption never leaves a
half-written checkpoint, and the same state always gives the same bytes (apart from the measured
training CPU-seconds it also records).

A checkpoint read back is untrusted input: its tensor names and metadata are validated and
anything unexpected is a one-line error naming the file."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save
from torch import nn

from cunet_bench.config.seeding import check_seed
from cunet_bench.config.settings import DATA, DATA_ROOT, numbers, setting
from cunet_bench.errors import UserError
from cunet_bench.files import atomic_replace, bounded_json, describe_path

FORMAT = "cunet-bench-checkpoint-v1"


@dataclass
class Checkpoint:
    model_state: dict[str, torch.Tensor]
    ema_state: dict[str, torch.Tensor]
    optimizer_state: dict[str, torch.Tensor]
    step: int
    config: dict[str, Any]
    data_fingerprint: str
    cpu_seconds: float | None = None
    """Training CPU-seconds up to ``step`` (None: written before the harness recorded them)."""


def safetensors_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    """The safetensors serialisation with the metadata in sorted key order. The library writes
    metadata from a hash map whose order changes from call to call, so the same checkpoint would
    otherwise come out as different bytes (a resumed run could not be compared with an
    uninterrupted one byte for byte)."""
    data = save(tensors, metadata=metadata)
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + length])
    header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    ordered = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    return data[:8] + ordered.ljust(length) + data[8 + length :]


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Write a safetensors file atomically (see :func:`safetensors_bytes`)."""
    data = safetensors_bytes({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, metadata)
    atomic_replace(path, lambda temporary: Path(temporary).write_bytes(data))


def save_checkpoint(
    path: Path,
    model: nn.Module,
    ema: nn.Module,
    optimizer: torch.optim.Optimizer,
    step: int,
    config: dict[str, Any],
    data_fingerprint: str,
    cpu_seconds: float | None = None,
) -> None:
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors.update({f"ema.{k}": v for k, v in ema.state_dict().items()})
    state = optimizer.state_dict()
    for index, slots in state["state"].items():
        for slot, value in slots.items():
            tensors[f"optim.{index}.{slot}"] = value if torch.is_tensor(value) else torch.tensor(value)
    metadata = {
        "format": FORMAT,
        "step": str(step),
        "config": json.dumps(config, sort_keys=True, default=str),
        "data_fingerprint": data_fingerprint,
        "optimizer_groups": json.dumps(state["param_groups"]),
    }
    if cpu_seconds is not None:
        metadata["cpu_seconds"] = repr(float(cpu_seconds))
    write_safetensors(path, tensors, metadata)


def read_safetensors(path: Path, what: str, tensors: bool = True) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors (none unless ``tensors``: the metadata alone loads nothing) and metadata of a
    safetensors file; a missing, unreadable or malformed one is a one-line error."""
    path = Path(path)
    if not path.is_file():
        kind = describe_path(path)
        raise UserError(f"{what} {path} " + ("does not exist" if kind == "missing" else f"is {kind}, not a file"))
    try:
        check_safetensors_layout(path)
    except (OSError, ValueError) as error:
        raise UserError(f"{what} {path} is not a readable safetensors file ({error})") from None
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            loaded = {key: handle.get_tensor(key) for key in handle.keys()} if tensors else {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise UserError(f"{what} {path} is not a readable safetensors file ({error})") from None
    return loaded, metadata


DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
MAX_HEADER_BYTES = 100 * 2**20


def check_safetensors_layout(path: Path) -> None:
    """Check a safetensors header against the file before anything is allocated: a header of
    bounded size, and every tensor of a known dtype whose declared shape fills exactly its byte
    range inside the file (a header may otherwise declare terabytes). ValueError if not."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        length = int.from_bytes(handle.read(8), "little")
        if not 2 <= length <= min(MAX_HEADER_BYTES, size - 8):
            raise ValueError(f"its header claims {length:,} bytes in a file of {size:,}")
        try:
            header = bounded_json(handle.read(length).decode("utf-8"), "its header")
        except UnicodeDecodeError as error:
            raise ValueError(str(error)) from None
    if not isinstance(header, dict):
        raise ValueError("its header is not a JSON object")
    data = size - 8 - length
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(entry, dict) or entry.get("dtype") not in DTYPE_BYTES:
            raise ValueError(f"tensor {name[:80]!r} has no known dtype")
        shape, offsets = entry.get("shape"), entry.get("data_offsets")
        if not (
            isinstance(shape, list)
            and all(isinstance(n, int) and n >= 0 for n in shape)
            and isinstance(offsets, list)
            and len(offsets) == 2
            and all(isinstance(n, int) for n in offsets)
        ):
            raise ValueError(f"tensor {name[:80]!r} has a malformed shape or byte range")
        begin, end = offsets
        if not 0 <= begin <= end <= data or math.prod(shape) * DTYPE_BYTES[entry["dtype"]] != end - begin:
            raise ValueError(f"tensor {name[:80]!r} declares {shape} {entry['dtype']} beyond its bytes in the file")


REQUIRED_METADATA = ("format", "step", "config", "data_fingerprint")


def read_checkpoint(path: Path | str) -> Checkpoint:
    """Load and check a checkpoint; a missing, corrupt, forged or foreign file is a one-line error."""
    path = Path(path)
    tensors, metadata = read_safetensors(path, "checkpoint")
    if metadata.get("format") != FORMAT:
        raise UserError(f"checkpoint {path} was not written by cunet-bench (format {metadata.get('format')!r})")
    absent = [key for key in REQUIRED_METADATA if key not in metadata]
    if absent:
        raise UserError(f"checkpoint {path} lacks its {', '.join(absent)} metadata")
    step = metadata["step"]
    if not (step.isdigit() and step.isascii() and len(step) <= 12):
        raise UserError(f"checkpoint {path} has a malformed step {step[:40]!r}")
    try:
        config = bounded_json(metadata["config"], "its training configuration")
    except ValueError as error:
        raise UserError(f"checkpoint {path} has no readable training configuration ({error})") from None
    if not isinstance(config, dict) or not config:
        raise UserError(f"checkpoint {path} has no readable training configuration")
    groups: dict[str, dict[str, torch.Tensor]] = {"model": {}, "ema": {}, "optim": {}}
    for key, value in tensors.items():
        kind, _, name = key.partition(".")
        if kind not in groups or not name:
            raise UserError(f"checkpoint {path} holds an unexpected tensor {key[:80]!r}")
        groups[kind][name] = value
    return Checkpoint(
        groups["model"],
        groups["ema"],
        groups["optim"],
        int(step),
        config,
        metadata["data_fingerprint"],
        _recorded_cpu_seconds(metadata, path),
    )


MAX_CPU_SECONDS = 1e9


def _recorded_cpu_seconds(metadata: dict[str, str], path: Path) -> float | None:
    text = metadata.get("cpu_seconds")
    if text is None:
        return None
    try:
        value = float(text[:40])
    except ValueError:
        value = math.nan
    if not 0 <= value <= MAX_CPU_SECONDS:
        raise UserError(f"checkpoint {path} records training CPU-seconds {text[:40]!r}, not a number of seconds")
    return value


RungT = TypeVar("RungT")

MAX_RUNGS = 30
"""The most rungs a ladder keeps (a doubling ladder of 30 rungs spans 2^29 steps)."""


def rung_path(checkpoint: Path, step: int) -> Path:
    """Where a training run keeps its checkpoint at ``step``, a rung of its ladder: beside the
    checkpoint, ``MODEL-DATA-PRESET-seedS.step0000450.safetensors``."""
    return Path(checkpoint).with_name(f"{Path(checkpoint).stem}.step{step:07d}.safetensors")


def rung_files(checkpoint: Path) -> list[Path]:
    """The rung files kept beside a checkpoint (named by :func:`rung_path`), in name order."""
    checkpoint = Path(checkpoint)
    return sorted(checkpoint.parent.glob(f"{checkpoint.stem}.step*.safetensors"))


def highest_rungs_below_top(below: list[RungT], highest: int | None) -> list[RungT]:
    """Of a ladder's rungs below its top (lowest first), those among its ``highest`` rungs when the
    top is counted as one of them (all of them when ``highest`` is None): ``highest=2`` keeps the
    rung the last doubling starts from."""
    return below[max(0, len(below) - highest + 1) :] if highest else below


def load_state(module: nn.Module, state: dict[str, torch.Tensor], path: Path | str, what: str) -> None:
    """``module.load_state_dict`` of an untrusted state: every tensor present, of the module's
    shape and dtype, and finite; anything else is one line naming the checkpoint."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        detail = f"{len(missing)} missing, {len(unexpected)} unexpected, {len(wrong)} of another shape" + (
            f" (e.g. {(wrong or missing or unexpected)[0]})" if (wrong or missing or unexpected) else ""
        )
        raise UserError(f"checkpoint {path} does not match the {what}: {detail}")
    for key in sorted(expected):
        if state[key].dtype != expected[key].dtype:
            raise UserError(
                f"checkpoint {path}: tensor {key} of the {what} is {state[key].dtype}, not {expected[key].dtype}"
            )
        if state[key].is_floating_point() and not bool(torch.isfinite(state[key]).all()):
            raise UserError(f"checkpoint {path}: tensor {key} of the {what} holds non-finite values")
    module.load_state_dict(state)


ADAM_SLOTS = ("step", "exp_avg", "exp_avg_sq")


def restore_optimizer(optimizer: torch.optim.Optimizer, checkpoint: Checkpoint, path: Path | str) -> None:
    """Load the Adam state of an untrusted checkpoint: every trainable parameter's three slots,
    the moments of the parameter's shape and dtype, finite, the second moment non-negative, and
    the step a whole number from 1 to the checkpoint's step. Anything else is one line naming the
    file — a damaged state would otherwise train into non-finite weights, and a missing one would
    resume with a fresh Adam, not the run it claims to continue."""
    groups = optimizer.state_dict()["param_groups"]
    parameters = {
        index: parameter
        for group, ids in zip(optimizer.param_groups, groups)
        for index, parameter in zip(ids["params"], group["params"])
    }
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in checkpoint.optimizer_state.items():
        index, _, slot = key.partition(".")
        if not index.isdigit() or int(index) not in parameters or slot not in ADAM_SLOTS:
            raise UserError(f"checkpoint {path} holds an unexpected optimizer tensor {key[:80]!r}")
        state.setdefault(int(index), {})[slot] = value
    if checkpoint.step > 0 and not state:
        raise UserError(f"checkpoint {path} lacks its optimizer state, so it cannot be resumed exactly")
    for index, parameter in parameters.items():
        if checkpoint.step > 0 and sorted(state.get(index, {})) != sorted(ADAM_SLOTS):
            raise UserError(
                f"checkpoint {path} lacks optimizer state of parameter {index}, so it cannot be resumed exactly"
            )
        if index in state:
            _check_adam_slots(state[index], parameter, checkpoint.step, f"checkpoint {path}: optimizer state {index}")
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def _check_adam_slots(slots: dict[str, torch.Tensor], parameter: torch.Tensor, last_step: int, what: str) -> None:
    for name in ("exp_avg", "exp_avg_sq"):
        moment = slots[name]
        if moment.shape != parameter.shape or moment.dtype != parameter.dtype:
            raise UserError(
                f"{what}.{name} is {moment.dtype} {tuple(moment.shape)}, not the parameter's "
                f"{parameter.dtype} {tuple(parameter.shape)}"
            )
        if not bool(torch.isfinite(moment).all()):
            raise UserError(f"{what}.{name} holds non-finite values")
    if bool((slots["exp_avg_sq"] < 0).any()):
        raise UserError(f"{what}.exp_avg_sq holds negative values (a second moment cannot be)")
    step = slots["step"]
    if step.shape != () or not step.is_floating_point():
        raise UserError(f"{what}.step is {step.dtype} {tuple(step.shape)}, not a scalar count")
    value = float(step)
    if not (math.isfinite(value) and value == int(value) and 1 <= value <= last_step):
        raise UserError(f"{what}.step is {value:g}, not a whole number from 1 to the checkpoint's step {last_step}")


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

    def checkpoint(self, model: str, seed: int) -> Path:
        """Where ``bench train`` wrote ``model``'s checkpoint of training seed ``seed``."""
        return checkpoint_path(Path(self.checkpoints), model, self.data, self.checkpoint_preset, seed)

    def measured_files(self, models: tuple[str, ...], curves: bool) -> list[Path]:
        """The files a measurement of ``models`` reads, for its done key: each checkpoint and, with
        the learning curve, the rung files beside it (checked when the measurement loads them)."""
        files: list[Path] = []
        for model in models:
            for seed in self.train_seeds:
                checkpoint = self.checkpoint(model, seed)
                rungs = rung_files(checkpoint) if curves else []
                files += [*highest_rungs_below_top(rungs, self.curve_rungs), checkpoint]
        return files

    def require(self, model: str, seed: int) -> Path:
        """That checkpoint, or a one-line error naming the command that makes it."""
        path = self.checkpoint(model, seed)
        if not path.is_file():
            folder = f" --checkpoints {self.checkpoints}" if Path(self.checkpoints) != Path("checkpoints") else ""
            raise UserError(
                f"no checkpoint {path}; make it with: bench train --model {model} --data {self.data} "
                f"--preset {self.checkpoint_preset} --seed {seed}{folder}"
            )
        return path


DEFAULT_TIMESTEPS = 1000
"""The diffusion timesteps T every preset trains with (the default of ``TrainConfig.timesteps``)."""
MAX_TIMESTEPS = 100_000
"""The most timesteps a training configuration may record."""


def recorded_timesteps(path: Path) -> int:
    """The diffusion timesteps T a checkpoint's training configuration records, read from its
    metadata without loading a tensor; a malformed record is one line."""
    _, metadata = read_safetensors(path, "checkpoint", tensors=False)
    try:
        config = bounded_json(metadata.get("config", "{}"), "its training configuration")
    except ValueError as error:
        raise UserError(f"checkpoint {path} has no readable training configuration ({error})") from None
    timesteps = config.get("timesteps", DEFAULT_TIMESTEPS) if isinstance(config, dict) else None
    if not isinstance(timesteps, int) or isinstance(timesteps, bool) or not 1 <= timesteps <= MAX_TIMESTEPS:
        raise UserError(
            f"checkpoint {path} records timesteps {str(timesteps)[:40]}, not an integer from 1 to {MAX_TIMESTEPS:,}"
        )
    return timesteps


def checkpoint_path(folder: Path, model: str, data: str, preset: str, seed: int = 0) -> Path:
    """Where ``bench train`` writes a model's checkpoint by default (one per training seed)."""
    return Path(folder) / f"{model}-{data}-{preset}-seed{seed}.safetensors"
