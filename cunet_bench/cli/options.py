"""The options the commands share, and the parsing of option text into configuration values:
lists, the solver grammar, noise ranges, the device, the seed, the folders written to. Each
option is named after the configuration field it sets. Everything is checked here or by the
configuration, before any work starts; nothing here imports torch (``bench --help`` stays fast)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from cunet_bench.errors import UserError
from cunet_bench.files import check_output_folder
from cunet_bench.cli.output import OutputFormat
from cunet_bench.config.presets import DEFAULT_PRESET, PRESETS, get_preset
from cunet_bench.config.seeding import check_seed
from cunet_bench.models.solver import SolverConfig

MAX_DIGITS = 12
"""No count the harness takes has more digits than this; a longer one is a typo."""


def number_list(text: Optional[str], option: str, kind: Callable[[str], Any] = int, minimum: float = 1
                ) -> tuple | None:
    """``"1,64"`` → ``(1, 64)``; None when not given; one-line error for non-numbers, numbers that
    are not finite, integers below ``minimum`` or of more than :data:`MAX_DIGITS` digits, and
    duplicates (the configuration checks the rest)."""
    if text is None:
        return None
    values = []
    what = "integers" if kind is int else "numbers"
    for item in text.split(","):
        item = item.strip()
        try:
            value = kind(item)
        except ValueError:
            raise UserError(f"{option} takes comma-separated {what}, got {item[:40]!r}") from None
        if kind is int and (len(item.lstrip("+-")) > MAX_DIGITS or value < minimum):
            raise UserError(f"{option} values must be integers from {minimum} with at most {MAX_DIGITS} digits, "
                            f"got {item[:40]}")
        if kind is float and not (value == value and abs(value) != float("inf")):
            raise UserError(f"{option} values must be finite numbers, got {item[:40]}")
        values.append(value)
    if len(set(values)) != len(values):
        raise UserError(f"{option} has duplicated values: {text[:80]}")
    return tuple(values)


def name_list(text: Optional[str], option: str = "--models") -> tuple[str, ...] | None:
    """``"unet, cunet"`` → ``("unet", "cunet")``; None when not given; one-line error for an empty
    list, an empty item (``unet,,cunet``) or duplicates."""
    if text is None:
        return None
    names = tuple(item.strip() for item in text.split(","))
    if not any(names):
        raise UserError(f"{option} needs at least one name, got {text!r}")
    if not all(names):
        raise UserError(f"{option} has an empty name between commas: {text[:80]!r}")
    if len(set(names)) != len(names):
        raise UserError(f"{option} has duplicated names: {text[:80]}")
    return names


def sigma_range(text: Optional[str]) -> tuple[float, float] | None:
    """``0.1`` → (0.1, 0.1); ``0.02:0.3`` → a range sampled uniformly per image; None when not given."""
    if text is None:
        return None
    low, colon, high = text.partition(":")
    try:
        return float(low), float(high if colon else low)
    except ValueError:
        raise UserError(f"--sigma takes a number or a range LOW:HIGH, got {text[:40]!r}") from None


def solver_list(solvers: Optional[list[SolverConfig]]) -> tuple[SolverConfig, ...] | None:
    """A repeated ``--solver``; the same setting twice is refused (it would be measured twice)."""
    if not solvers:
        return None
    labels = [solver.label for solver in solvers]
    if len(set(labels)) != len(labels):
        raise UserError(f"--solver is given twice with the same setting: {', '.join(labels)}")
    return tuple(solvers)


def parse_solver(text: str) -> SolverConfig:
    """``--solver`` text as the cU-Nets' solver setting; what the setting refuses is one line."""
    try:
        return SolverConfig.parse(text)
    except ValueError as error:
        raise UserError(str(error)) from None


def resolve_device(text: str) -> str:
    """``auto`` picks CUDA when a GPU is visible; asking for CUDA without one is an error."""
    if text not in ("auto", "cpu") and not text.startswith("cuda"):
        raise UserError(f"--device must be cpu, cuda or auto, got {text[:40]!r}")
    if text == "cpu":
        return "cpu"
    import torch

    if text == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available():
        raise UserError(f"--device {text} was asked for but no CUDA GPU is available")
    return text


def _preset(name: str) -> str:
    return get_preset(name).name


def folder_option(option: str) -> Callable[[Any], Path]:
    """The parser of an option naming a folder the command writes to, checked before any work."""
    return lambda value: check_output_folder(value, option)


def optional_path(value: Optional[Path]) -> Optional[str]:
    return None if value is None else str(value)


def flag(name: str, help_text: str) -> bool:
    """A boolean switch shown without a value placeholder in --help."""
    return typer.Option(False, name, help=help_text, metavar="")


FormatOption = typer.Option(OutputFormat.table, "--format", help="table for people, json for machines")
DeviceOption = typer.Option("auto", "--device", help="cpu, cuda or auto (CUDA when a GPU is visible)")
SeedOption = typer.Option(0, "--seed", help="random seed (recorded with the results)", callback=check_seed)
OutOption = typer.Option("results", "--out", help="folder the results are written to", parser=folder_option("--out"),
                         metavar="FOLDER")
DryRunOption = flag("--dry-run", "print the resolved configuration and stop")
PresetOption = typer.Option(DEFAULT_PRESET, "--preset", callback=_preset,
                            help=f"sizes of the run: {', '.join(PRESETS)} (see README, Presets)")
DataOption = typer.Option(None, "--data", help="mnist5k, lfw25, mnist, celeba, lsun-church or folder")
SOLVER_GRAMMAR = "METHOD[:key=value,…]"
SolverOption = typer.Option(None, "--solver", parser=parse_solver, metavar=SOLVER_GRAMMAR,
                            help="ODE solver of the cU-Nets, e.g. rk4:steps=2 or dopri5:rtol=1e-3")
SolversOption = typer.Option(None, "--solver", parser=parse_solver, metavar=SOLVER_GRAMMAR,
                             help="ODE solver to sweep; repeat for several: --solver rk4 --solver euler:steps=2")
ModelsOption = typer.Option(None, "--models", help="comma-separated model names (default: the preset's, by registry tag)")
DataRootOption = typer.Option(None, "--data-root", help="folder of a dataset that is not embedded")
CheckpointsOption = typer.Option(None, "--checkpoints", parser=folder_option("--checkpoints"), metavar="FOLDER",
                                 help="folder of bench train checkpoints, sample shards and caches")
BatchOption = typer.Option(None, "--batch", help="batch sizes, e.g. 1,64")
def check_threads(threads: Optional[int]) -> Optional[int]:
    """At most the cores this process may use: more threads than cores only contend."""
    from cunet_bench.host.threads import usable_cores

    cores = max(1, math.floor(usable_cores()))
    if threads is not None and not 1 <= threads <= cores:
        raise UserError(f"--threads must be between 1 and the {cores} core(s) this process may use, got {threads}")
    return threads


ThreadsOption = typer.Option(None, "--threads", callback=check_threads, help="threads to compute with (default: the usable cores less those "
                             "other runs of the harness or other processes are using)")
RepeatsOption = typer.Option(None, "--repeats", help="timed rounds at least, after warm-up")
