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
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save
from torch import nn

from cunet_bench.errors import UserError
from cunet_bench.files import bounded_json, create_file, describe_path
from cunet_bench.host.memory import available_bytes

FORMAT = "cunet-bench-checkpoint-v1"


SHIPPED = "shipped"
ROLES = ("checkpoint", "rung", SHIPPED)
"""A checkpoint is the state a run resumes from; a rung is a copy of it kept at one step of the
run's ladder (records/ladder.py), never resumed."""


@dataclass(frozen=True)
class LadderEntry:
    """A rung as the checkpoint of its run records it: step, images seen, training CPU-seconds up
    to it (None: not recorded) and the SHA-256 of the rung file's bytes."""

    step: int
    images_seen: int
    cpu_seconds: float | None
    sha256: str

    def record(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "images_seen": self.images_seen,
            "cpu_seconds": self.cpu_seconds,
            "sha256": self.sha256,
        }


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
    run_id: str | None = None
    """The identity a run keeps from its fresh start through every resume, shared by its rungs
    (None: written before the harness recorded it)."""
    role: str = "checkpoint"
    images_seen: int | None = None
    ladder: tuple[LadderEntry, ...] = ()
    """The rungs the run kept below this step (checkpoints only)."""


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


def tensor_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    """:func:`safetensors_bytes` of tensors wherever they live."""
    return safetensors_bytes({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, metadata)


def write_safetensors(
    path: Path,
    tensors: dict[str, torch.Tensor],
    metadata: dict[str, str],
    replaces: Callable[[Path], bool] | None = None,
) -> None:
    """Write a safetensors file through the one creation helper; ``replaces`` recognises an
    earlier file of the harness's own at ``path``."""
    create_file(path, tensor_bytes(tensors, metadata), replaces=replaces)


def checkpoint_bytes(model: nn.Module, ema: nn.Module, optimizer: torch.optim.Optimizer, state: Checkpoint) -> bytes:
    """The bytes of a checkpoint or rung file: ``model``, ``ema`` and ``optimizer``'s tensors
    with ``state``'s step, run, role and ladder as metadata."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors.update({f"ema.{k}": v for k, v in ema.state_dict().items()})
    optimizer_state = optimizer.state_dict()
    for index, slots in optimizer_state["state"].items():
        for slot, value in slots.items():
            tensors[f"optim.{index}.{slot}"] = value if torch.is_tensor(value) else torch.tensor(value)
    metadata = {
        "format": FORMAT,
        "role": state.role,
        "step": str(state.step),
        "config": json.dumps(state.config, sort_keys=True, default=str),
        "data_fingerprint": state.data_fingerprint,
        "optimizer_groups": json.dumps(optimizer_state["param_groups"]),
    }
    if state.run_id is not None:
        metadata["run_id"] = state.run_id
    if state.images_seen is not None:
        metadata["images_seen"] = str(state.images_seen)
    if state.role == "checkpoint":
        metadata["ladder"] = json.dumps([entry.record() for entry in state.ladder])
    if state.cpu_seconds is not None:
        metadata["cpu_seconds"] = repr(float(state.cpu_seconds))
    return tensor_bytes(tensors, metadata)


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


MAX_TENSOR_BYTES = 2**36
"""No checkpoint of the harness comes near 64 GiB (the paper's U-Net with its EMA and Adam state is
0.6 GB): a file declaring more is forged or broken, and reading it would only hang."""
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
    allowed = min(MAX_TENSOR_BYTES, available_bytes() or MAX_TENSOR_BYTES)
    if data > allowed:
        raise ValueError(
            f"it holds {data / 2**30:,.1f} GiB of tensors, more than the {allowed / 2**30:,.1f} GiB this process may "
            "allocate"
        )
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
RUN_ID = re.compile(r"[0-9a-f]{16}")
SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_STEP_DIGITS = 12


def read_checkpoint(path: Path | str, tensors: bool = True) -> Checkpoint:
    """Load and check a checkpoint or rung file (``tensors=False``: its metadata alone, nothing
    allocated); a missing, corrupt, forged or foreign file is a one-line error."""
    path = Path(path)
    loaded, metadata = read_safetensors(path, "checkpoint", tensors=tensors)
    if metadata.get("format") != FORMAT:
        raise UserError(f"checkpoint {path} was not written by cunet-bench (format {metadata.get('format')!r})")
    absent = [key for key in REQUIRED_METADATA if key not in metadata]
    if absent:
        raise UserError(f"checkpoint {path} lacks its {', '.join(absent)} metadata")
    step = _whole_number(metadata["step"], path, "step")
    try:
        config = bounded_json(metadata["config"], "its training configuration")
    except ValueError as error:
        raise UserError(f"checkpoint {path} has no readable training configuration ({error})") from None
    if not isinstance(config, dict) or not config:
        raise UserError(f"checkpoint {path} has no readable training configuration")
    groups: dict[str, dict[str, torch.Tensor]] = {"model": {}, "ema": {}, "optim": {}}
    for key, value in loaded.items():
        kind, _, name = key.partition(".")
        if kind not in groups or not name:
            raise UserError(f"checkpoint {path} holds an unexpected tensor {key[:80]!r}")
        groups[kind][name] = value
    role = metadata.get("role", "checkpoint")
    if role not in ROLES:
        raise UserError(f"checkpoint {path} has an unknown role {role[:40]!r}")
    run_id = metadata.get("run_id")
    if run_id is not None and not RUN_ID.fullmatch(run_id):
        raise UserError(f"checkpoint {path} has a malformed run id {run_id[:40]!r}")
    images = metadata.get("images_seen")
    return Checkpoint(
        groups["model"],
        groups["ema"],
        groups["optim"],
        step,
        config,
        metadata["data_fingerprint"],
        _recorded_cpu_seconds(metadata.get("cpu_seconds"), path),
        run_id,
        role,
        None if images is None else _whole_number(images, path, "images seen"),
        _recorded_ladder(metadata.get("ladder"), path) if role == "checkpoint" else (),
    )


def _whole_number(text: str, path: Path, what: str) -> int:
    if not (text.isdigit() and text.isascii() and len(text) <= MAX_STEP_DIGITS):
        raise UserError(f"checkpoint {path} has a malformed {what} {text[:40]!r}")
    return int(text)


def _recorded_ladder(text: str | None, path: Path) -> tuple[LadderEntry, ...]:
    """The ladder a checkpoint records, each entry checked for its types and bounds."""
    if text is None:
        return ()
    try:
        entries = bounded_json(text, "its ladder")
    except ValueError as error:
        raise UserError(f"checkpoint {path} has an unreadable ladder ({error})") from None
    if not isinstance(entries, list) or len(entries) > MAX_RUNGS:
        raise UserError(f"checkpoint {path} has a malformed ladder (not a list of at most {MAX_RUNGS} rungs)")
    ladder = []
    for entry in entries:
        if not isinstance(entry, dict) or set(entry) != {"step", "images_seen", "cpu_seconds", "sha256"}:
            raise UserError(f"checkpoint {path} has a malformed ladder entry {str(entry)[:80]!r}")
        counts = (entry["step"], entry["images_seen"])
        if not all(isinstance(n, int) and not isinstance(n, bool) and 1 <= n < 10**MAX_STEP_DIGITS for n in counts):
            raise UserError(f"checkpoint {path} has a ladder entry of step {str(counts[0])[:20]}, not a whole number")
        if not (isinstance(entry["sha256"], str) and SHA256.fullmatch(entry["sha256"])):
            raise UserError(f"checkpoint {path} has a ladder entry without a SHA-256 digest")
        seconds = None if entry["cpu_seconds"] is None else _recorded_cpu_seconds(str(entry["cpu_seconds"]), path)
        ladder.append(LadderEntry(*counts, seconds, entry["sha256"]))
    return tuple(ladder)


MAX_CPU_SECONDS = 1e9


def _recorded_cpu_seconds(text: str | None, path: Path) -> float | None:
    if text is None:
        return None
    try:
        value = float(text[:40])
    except ValueError:
        value = math.nan
    if not 0 <= value <= MAX_CPU_SECONDS:
        raise UserError(f"checkpoint {path} records training CPU-seconds {text[:40]!r}, not a number of seconds")
    return value


MAX_TRAIN_STEPS = 10_000_000
"""The most optimizer steps a training run may take (far beyond any real run: a typo's bound)."""
MAX_RUNGS = 30
"""The most rungs a ladder keeps (a doubling ladder of 30 rungs spans 2^29 steps)."""


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
