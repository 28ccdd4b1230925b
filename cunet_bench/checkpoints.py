"""Checkpoints as safetensors — never pickle. One file holds the model, its EMA, the Adam
state, the step, the training configuration and the data fingerprint; it is written to a
temporary file and renamed, so an interruption never leaves a half-written checkpoint."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from cunet_bench.errors import UserError
from cunet_bench.records import atomic_replace

FORMAT = "cunet-bench-checkpoint-v1"


@dataclass
class Checkpoint:
    model_state: dict[str, torch.Tensor]
    ema_state: dict[str, torch.Tensor]
    optimizer_state: dict[str, torch.Tensor]
    step: int
    config: dict[str, Any]
    data_fingerprint: str


def save_checkpoint(path: Path, model: nn.Module, ema: nn.Module, optimizer: torch.optim.Optimizer, step: int,
                    config: dict[str, Any], data_fingerprint: str) -> None:
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors.update({f"ema.{k}": v.detach().cpu().contiguous() for k, v in ema.state_dict().items()})
    state = optimizer.state_dict()
    for index, slots in state["state"].items():
        for slot, value in slots.items():
            tensor = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"optim.{index}.{slot}"] = tensor.detach().cpu().contiguous()
    metadata = {
        "format": FORMAT,
        "step": str(step),
        "config": json.dumps(config, sort_keys=True, default=str),
        "data_fingerprint": data_fingerprint,
        "optimizer_groups": json.dumps(state["param_groups"]),
    }
    atomic_replace(path, lambda temporary: save_file(tensors, temporary, metadata=metadata))


def read_safetensors(path: Path, what: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and metadata of a safetensors file; an unreadable one is a one-line error."""
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        return load_file(str(path)), metadata
    except (SafetensorError, OSError, ValueError) as error:
        raise UserError(f"{what} {path} is not a readable safetensors file ({error})") from None


def read_checkpoint(path: Path | str) -> Checkpoint:
    """Load and check a checkpoint; a missing, corrupt or foreign file is a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist")
    tensors, metadata = read_safetensors(path, "checkpoint")
    if metadata.get("format") != FORMAT:
        raise UserError(f"checkpoint {path} was not written by cunet-bench (format {metadata.get('format')!r})")
    groups: dict[str, dict[str, torch.Tensor]] = {"model": {}, "ema": {}, "optim": {}}
    for key, value in tensors.items():
        kind, _, name = key.partition(".")
        groups[kind][name] = value
    return Checkpoint(groups["model"], groups["ema"], groups["optim"], int(metadata["step"]),
                      json.loads(metadata["config"]), metadata["data_fingerprint"])


def load_state(module: nn.Module, state: dict[str, torch.Tensor], path: Path | str, what: str) -> None:
    """``module.load_state_dict`` with mismatches reported as one line naming the checkpoint."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        detail = (f"{len(missing)} missing, {len(unexpected)} unexpected, {len(wrong)} of another shape"
                  + (f" (e.g. {(wrong or missing or unexpected)[0]})" if (wrong or missing or unexpected) else ""))
        raise UserError(f"checkpoint {path} does not match the {what}: {detail}")
    module.load_state_dict(state)


def restore_optimizer(optimizer: torch.optim.Optimizer, checkpoint: Checkpoint) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in checkpoint.optimizer_state.items():
        index, _, slot = key.partition(".")
        state.setdefault(int(index), {})[slot] = value
    groups = optimizer.state_dict()["param_groups"]
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def checkpoint_path(folder: Path, model: str, data: str, preset: str) -> Path:
    """Where ``bench train`` writes a model's checkpoint by default."""
    return Path(folder) / f"{model}-{data}-{preset}.safetensors"


def require_checkpoint(folder: Path, model: str, data: str, preset: str) -> Path:
    """The default checkpoint, or a one-line error naming the command that makes it."""
    path = checkpoint_path(folder, model, data, preset)
    if not path.is_file():
        raise UserError(f"no checkpoint {path}; make it with: bench train --model {model} --data {data} --preset {preset}")
    return path
