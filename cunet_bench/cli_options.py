"""The options the commands share, and the parsing of option text into configuration values:
lists, the solver grammar, noise ranges, the device, the seed, the output folder. Everything is
checked here or by the configuration, before any work starts."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import torch
import typer

from cunet_bench.errors import UserError
from cunet_bench.files import check_output_folder
from cunet_bench.models.ode import SolverConfig
from cunet_bench.output import OutputFormat
from cunet_bench.presets import DEFAULT_PRESET, PRESETS
from cunet_bench.seeding import check_seed


def number_list(text: Optional[str], option: str, kind: Callable[[str], float] = int, minimum: float = 1
                ) -> tuple | None:
    """``"1,64"`` → ``(1, 64)``; None when not given; one-line error for non-numbers, values below
    ``minimum`` or duplicates (the configuration checks the rest)."""
    if text is None:
        return None
    values = []
    for item in text.split(","):
        item = item.strip()
        try:
            value = kind(item)
        except ValueError:
            what = "integers" if kind is int else "numbers"
            raise UserError(f"{option} takes comma-separated {what}, got {item!r}") from None
        if kind is int and value < minimum:
            raise UserError(f"{option} values must be at least {minimum}, got {value}")
        values.append(value)
    if len(set(values)) != len(values):
        raise UserError(f"{option} has duplicated values: {text}")
    return tuple(values)


def name_list(text: Optional[str], option: str = "--models") -> tuple[str, ...] | None:
    """``"unet, cunet"`` → ``("unet", "cunet")``; None when not given; one-line error for an empty
    list or duplicates."""
    if text is None:
        return None
    names = tuple(item.strip() for item in text.split(",") if item.strip())
    if not names:
        raise UserError(f"{option} needs at least one name, got {text!r}")
    if len(set(names)) != len(names):
        raise UserError(f"{option} has duplicated names: {text}")
    return names


def sigma_range(text: Optional[str]) -> tuple[float | None, float | None]:
    """``0.1`` → (0.1, 0.1); ``0.02:0.3`` → a range sampled uniformly per image; None when not given."""
    if text is None:
        return None, None
    low, _, high = text.partition(":")
    try:
        return float(low), float(high or low)
    except ValueError:
        raise UserError(f"--sigma takes a number or a range LOW:HIGH, got {text!r}") from None


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


def _preset(name: str) -> str:
    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    return name


def parse_output_folder(value: Path) -> Path:
    """An output folder that can be written, checked before any work."""
    return check_output_folder(value, "--out")


def flag(name: str, help_text: str) -> bool:
    """A boolean switch shown without a value placeholder in --help."""
    return typer.Option(False, name, help=help_text, metavar="")


FormatOption = typer.Option(OutputFormat.table, "--format", help="table for people, json for machines")
DeviceOption = typer.Option("auto", "--device", help="cpu, cuda or auto (CUDA when a GPU is visible)")
SeedOption = typer.Option(0, "--seed", help="random seed (recorded with the results)", callback=check_seed)
OutOption = typer.Option(Path("results"), "--out", help="folder the results are written to",
                         callback=parse_output_folder)
DryRunOption = flag("--dry-run", "print the resolved configuration and stop")
PresetOption = typer.Option(DEFAULT_PRESET, "--preset", callback=_preset,
                            help=f"sizes of the run: {', '.join(PRESETS)} (see README, Presets)")
DataOption = typer.Option(None, "--data", help="mnist5k, lfw25, mnist, celeba, lsun-church or folder")
SOLVER_GRAMMAR = "METHOD[:key=value,…]"
SolverOption = typer.Option(None, "--solver", parser=SolverConfig.parse, metavar=SOLVER_GRAMMAR,
                            help="ODE solver of the cU-Nets, e.g. rk4:steps=2 or dopri5:rtol=1e-3")
SolversOption = typer.Option(None, "--solver", parser=SolverConfig.parse, metavar=SOLVER_GRAMMAR,
                             help="ODE solver to sweep; repeat for several: --solver rk4 --solver euler:steps=2")
ModelsOption = typer.Option(None, "--models", help="comma-separated model names (default: the preset's, by registry tag)")
DataRootOption = typer.Option(None, "--data-root", help="folder of a dataset that is not embedded")
CheckpointsOption = typer.Option(None, "--checkpoints", help="folder of bench train checkpoints (shards, caches)")
BatchOption = typer.Option(None, "--batch", help="batch sizes, e.g. 1,64")
RepeatsOption = typer.Option(None, "--repeats", help="timed repeats after warm-up")
