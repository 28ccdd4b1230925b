"""Seeds derived from the run's seed for one purpose each, so that every random draw can be
reproduced on its own (a sample from its index, a training step from its number)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cunet_bench.errors import UserError

if TYPE_CHECKING:
    import torch

MAX_SEED = 2**63 - 1
"""Seeds are 63-bit: what every random-number generator the harness feeds accepts."""


def check_seed(seed: int) -> int:
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        raise UserError(f"--seed must be an integer from 0 to {MAX_SEED}, got {seed}")
    return seed


def derived_seed(seed: int, *keys: int) -> int:
    """``seed`` extended by ``keys`` (a stream number, an epoch, a sample index …)."""
    value = seed
    for key in keys:
        value = value * 1_000_003 + key
    return value % 2**63


def generator(seed: int, *keys: int) -> "torch.Generator":
    import torch

    return torch.Generator().manual_seed(derived_seed(seed, *keys))


def seed_everything(seed: int) -> None:
    """Python's, NumPy's and torch's global generators (what a run does not seed per draw)."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
