"""``bench ship`` and ``bench shipped``: the trained weights a reference ships, in their stored
form (fp16 EMA weights) with a manifest the harness validates before it loads any of them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Optional

import typer

from cunet_bench.cli.options import DryRunOption, FormatOption, folder_option
from cunet_bench.cli.output import OutputFormat, emit

DEFAULT_FOLDER = Path("reference/weights")


def ship_command(
    checkpoint: Path = typer.Option(..., "--checkpoint", help="a bench train checkpoint"),
    at_step: Optional[int] = typer.Option(
        None, "--at-step", help="ship the run's rung at this step instead of its checkpoint (the ladder is checked)"
    ),
    to: Path = typer.Option(
        DEFAULT_FOLDER, "--to", parser=folder_option("--to"), metavar="FOLDER", help="the shipped weights' folder"
    ),
    dry_run: bool = DryRunOption,
    output_format: OutputFormat = FormatOption,
) -> None:
    """Ship a trained model's EMA weights: written in fp16 beside the others and listed in the manifest.

    The run's rung at --at-step (or its checkpoint) is checked against its ladder first; no raw weights or
    optimizer state is shipped. Every number measured from a shipped file is measured from this stored form.

    Example: bench ship --checkpoint checkpoints/unet-mnist5k-reference-seed0.safetensors --at-step 14400
    """
    from cunet_bench.errors import UserError
    from cunet_bench.records.checkpoints import read_checkpoint
    from cunet_bench.records.ladder import read_ladder
    from cunet_bench.records.shipped import MANIFEST, read_manifest, ship, write_manifest

    chosen = read_ladder(checkpoint, highest=1, at_step=at_step)[-1]
    if dry_run:
        print(json.dumps({"ship": str(chosen.path), "step": chosen.step, "to": str(to)}))
        return
    saved = dataclasses.replace(
        read_checkpoint(chosen.path), images_seen=chosen.images_seen, cpu_seconds=chosen.cpu_seconds
    )
    to.mkdir(parents=True, exist_ok=True)
    try:
        kept = read_manifest(to) if (to / MANIFEST).exists() else []
    except UserError as error:
        raise UserError(f"{error}; fix or remove it before shipping more") from None
    entry = ship(saved, chosen.path, to)
    write_manifest(to, [*(e for e in kept if e.file != entry.file), entry])
    emit([dataclasses.asdict(entry)], output_format, title=f"shipped into {to}")


def shipped_command(
    folder: Path = typer.Argument(DEFAULT_FOLDER, help="the shipped weights' folder"),
    output_format: OutputFormat = FormatOption,
) -> None:
    """Check every shipped file against its manifest (bytes, model, seed, step) and list them; exit 2 on the first
    that is missing, damaged or swapped.

    Example: bench shipped reference/weights
    """
    from cunet_bench.records.shipped import verified

    rows = [{**dataclasses.asdict(entry), "check": "verified"} for entry, _ in verified(folder)]
    emit(rows, output_format, title=f"shipped weights in {folder}")
