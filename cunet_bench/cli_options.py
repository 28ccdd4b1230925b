"""Parsing and resolving the options every command shares (lists, device, seed)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from cunet_bench.errors import UserError
from cunet_bench.files import check_output_folder
from cunet_bench.seeding import check_seed


def parse_int_list(text: str, option: str, minimum: int = 1) -> tuple[int, ...]:
    """``"1,64"`` → ``(1, 64)``; one-line error for non-integers, values below ``minimum`` or duplicates."""
    values = []
    for item in text.split(","):
        item = item.strip()
        try:
            value = int(item)
        except ValueError:
            raise UserError(f"{option} takes comma-separated integers, got {item!r}") from None
        if value < minimum:
            raise UserError(f"{option} values must be at least {minimum}, got {value}")
        values.append(value)
    if len(set(values)) != len(values):
        raise UserError(f"{option} has duplicated values: {text}")
    return tuple(values)


def parse_name_list(text: str, option: str = "--models") -> tuple[str, ...]:
    """``"unet, cunet"`` → ``("unet", "cunet")``; one-line error for an empty list or duplicates."""
    names = tuple(item.strip() for item in text.split(",") if item.strip())
    if not names:
        raise UserError(f"{option} needs at least one name, got {text!r}")
    if len(set(names)) != len(names):
        raise UserError(f"{option} has duplicated names: {text}")
    return names


def parse_seed(value: int) -> int:
    """Typer callback: a seed every generator accepts (0 … 2⁶³−1), checked before any work."""
    return check_seed(value)


def parse_output_folder(value: Path) -> Path:
    """Typer callback: an output folder that can be written, checked before any work."""
    return check_output_folder(value, "--out")


def resolve_device(text: str) -> str:
    """``auto`` picks CUDA when a GPU is visible; asking for CUDA without one is an error."""
    if text == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if text == "cpu":
        return "cpu"
    if text.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"--device {text} was asked for but no CUDA GPU is available")
        return text
    raise UserError(f"--device must be cpu, cuda or auto, got {text!r}")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
