"""The names of shipped weight files: ``bench ship`` writes each file's model, training seed and
step into its name, and the report reads them back from the paths a run recorded reading (torch-free)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

NAME = re.compile(r"(?P<model>.{1,100}?)-seed(?P<seed>\d{1,9})-step(?P<step>\d{7,9})\.safetensors")


class ShippedName(NamedTuple):
    model: str
    seed: int
    step: int


def shipped_name(model: str, seed: int, step: int) -> str:
    return f"{model}-seed{seed}-step{step:07d}.safetensors"


def read_shipped_name(path: str | Path) -> ShippedName | None:
    """The model, seed and step a shipped file's name holds; None for any other name."""
    match = NAME.fullmatch(Path(path).name)
    return None if match is None else ShippedName(match["model"], int(match["seed"]), int(match["step"]))
