"""The options every command shares: the preset, the device, the seed, the folders written to,
the threads, the output format, ``--dry-run``. A benchmark's own options come from its
configuration's settings (``cunet_bench.config.settings``). Everything is checked here or by the
configuration, before any work starts; nothing here imports torch (``bench --help`` stays fast)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

import typer

from cunet_bench.benchmarks import THREADS
from cunet_bench.cli.output import OutputFormat
from cunet_bench.config.presets import DEFAULT_PRESET, PRESETS, get_preset
from cunet_bench.config.seeding import check_seed
from cunet_bench.config.settings import SETTING
from cunet_bench.errors import UserError
from cunet_bench.files import check_output_folder, describe_path


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


def flag(name: str, help_text: str) -> bool:
    """A boolean switch shown without a value placeholder in --help."""
    return typer.Option(False, name, help=help_text, metavar="")


FormatOption = typer.Option(OutputFormat.table, "--format", help="table for people, json for machines")
DeviceOption = typer.Option("auto", "--device", help="cpu, cuda or auto (CUDA when a GPU is visible)")
SeedOption = typer.Option(0, "--seed", help="random seed (recorded with the results)", callback=check_seed)
OutOption = typer.Option(
    "results", "--out", help="folder the results are written to", parser=folder_option("--out"), metavar="FOLDER"
)
DryRunOption = flag("--dry-run", "print the resolved configuration and stop")
PresetOption = typer.Option(
    DEFAULT_PRESET, "--preset", callback=_preset, help=f"sizes of the run: {', '.join(PRESETS)} (see README, Presets)"
)
CheckpointsOption = typer.Option(
    None,
    "--checkpoints",
    parser=folder_option("--checkpoints"),
    metavar="FOLDER",
    help="folder of bench train checkpoints, sample shards and caches",
)


def check_threads(threads: Optional[int]) -> Optional[int]:
    """``bench all``'s ``--threads`` (a benchmark's is a field of its configuration): at most the usable cores."""
    from cunet_bench.host.threads import check_requested

    return None if threads is None else check_requested(threads)


ThreadsOption = typer.Option(None, "--threads", callback=check_threads, help=THREADS[SETTING].help)


def results_folder(folder: Path, option: str) -> Path:
    """A results folder a command reads: it must be one, or one line saying what is there instead."""
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() and not folder.is_symlink() else f"is {describe_path(folder)}"
        raise UserError(f"{option} {folder} {what}; run a benchmark first (e.g. bench all --preset smoke)")
    return folder


def added_models(text: str) -> tuple[str, ...]:
    """``bench all --models +NAME,+NAME``: the registered models to add to the preset's, each
    checked (a plugin probed against its contract) before any work."""
    from cunet_bench.registry.suite import get_model

    if not text:
        return ()
    items = [item.strip() for item in text.split(",")]
    wrong = [item for item in items if not item.startswith("+") or not item[1:]]
    if wrong:
        raise UserError(
            f"--models adds models to the preset's, each written +NAME (e.g. --models +my-denoiser,+my-backbone), "
            f"got {wrong[0][:40]!r}"
        )
    names = tuple(dict.fromkeys(item[1:] for item in items))
    for name in names:
        get_model(name)
    return names


ModelsOption = typer.Option(
    "",
    "--models",
    metavar="+NAME,…",
    help="models to add to the preset's in every step that measures their kind, e.g. +my-denoiser,+my-backbone",
)
BaselineOption = typer.Option(
    None,
    "--baseline",
    metavar="NAME",
    help="the model the report's ratios and differences outside the paper's claims are taken against "
    "(default: the paper's U-Net)",
)
