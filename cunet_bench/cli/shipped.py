"""``bench ship``, ``bench shipped`` and ``bench verify``: the trained weights a reference ships, in
their stored form (fp16 EMA weights) with a manifest the harness validates before it loads any of
them, and the committed quality rows re-derived from them on the user's machine."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Optional

import typer

from cunet_bench.cli.options import DryRunOption, FormatOption, check_threads, folder_option, results_folder
from cunet_bench.cli.output import OutputFormat, emit, note

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


def verify_command(
    weights: Path = typer.Option(DEFAULT_FOLDER, "--weights", help="the shipped weights' folder"),
    against: Path = typer.Option(
        Path("reference/results"), "--against", help="the committed results measured from those weights"
    ),
    out: Path = typer.Option(
        Path("results/verify"),
        "--out",
        parser=folder_option("--out"),
        metavar="FOLDER",
        help="where the re-derived rows are recorded",
    ),
    threads: Optional[int] = typer.Option(
        None,
        "--threads",
        callback=check_threads,
        help="threads to compute with (default: each committed run's own, for equal numbers)",
    ),
    budget_minutes: float = typer.Option(
        30.0,
        "--budget-minutes",
        help="re-derive the committed runs, in order, while the time they took where they were recorded fits",
    ),
    every_run: bool = typer.Option(False, "--all", help="re-derive every committed run, whatever it took"),
    output_format: OutputFormat = FormatOption,
) -> None:
    """Re-derive the committed quality rows from the shipped weights on this machine and compare them, number by
    number: equal on the committed run's machine class, within the stated tolerances on another (docs/protocol.md §8).

    Every complete fid and denoise run of --against measured from shipped weights is run again with the
    configuration it recorded, from --weights (checked against the manifest, and against the files the run read),
    with fresh caches — those that fit --budget-minutes by the time they took where they were recorded, or --all.
    Exit 1 names the rows that differ; exit 2 on weights that are damaged or not the ones read.

    Example: bench verify --weights reference/weights --against reference/results
    """
    from cunet_bench.errors import UserError
    from cunet_bench.run.verify import (
        check_same_weights,
        committed_runs,
        minutes_text,
        recorded_minutes,
        within_budget,
    )

    if not (0 < budget_minutes <= 100_000):
        raise UserError(f"--budget-minutes must be a number of minutes above 0, got {budget_minutes:g}")
    found = committed_runs(results_folder(against, "--against"))
    for run in found:
        check_same_weights(run, weights)
    chosen, left = within_budget(found, None if every_run else budget_minutes)
    outcomes = [_replayed(run, weights, out, threads) for run in chosen]
    skipped = [
        {
            "run": run.label,
            "rows": len(run.rows),
            "rule": f"not re-derived: took {minutes_text(recorded_minutes(run))} "
            "where it was recorded, over --budget-minutes (--all re-derives it)",
        }
        for run in left
    ]
    emit([summary for summary, _ in outcomes] + skipped, output_format, title=f"{against} re-derived from {weights}")
    differing = [difference for _, differences in outcomes for difference in differences]
    if differing:
        for difference in differing[:20]:
            note(difference.line())
        listed = "the first 20 are listed above" if len(differing) > 20 else "listed above"
        note(f"bench: {len(differing)} number(s) differ from the committed rows; {listed}")
        raise typer.Exit(1)


def _replayed(run: Any, weights: Path, out: Path, threads: int | None) -> tuple[dict[str, Any], list[Any]]:
    """One committed run, run again from the shipped weights with fresh caches (on ``threads``, or
    the threads it ran on), and its differences."""
    import tempfile

    from cunet_bench.benchmarks import by_name
    from cunet_bench.cli.execute import run_and_record
    from cunet_bench.config.resolve import from_record
    from cunet_bench.errors import UserError
    from cunet_bench.files import remove_harness_made
    from cunet_bench.host.threads import computing_threads, usable_cores
    from cunet_bench.records import runs
    from cunet_bench.run.verify import differences

    benchmark = by_name(run.bench)
    recorded = run.provenance["config"]
    recorded_threads = run.provenance.get("cpu_threads")
    if threads is None and isinstance(recorded_threads, int) and not isinstance(recorded_threads, bool):
        threads = recorded_threads if 1 <= recorded_threads <= usable_cores() else None
    out.mkdir(parents=True, exist_ok=True)
    cache = Path(tempfile.mkdtemp(prefix=".verify-cache-", dir=out))
    try:
        with computing_threads(threads) as choice:
            config = from_record(
                benchmark.config,
                recorded,
                f"the configuration {run.label} recorded",
                weights=str(weights),
                checkpoints=str(cache),
                threads=choice.threads,
                **({"out": str(out)} if "out" in recorded else {}),
            )
            outcome = run_and_record(benchmark, config, out, str(run.provenance.get("preset")), f"verify {run.label}")
    finally:
        remove_harness_made(cache)
    new, meta, problem = runs.read_run(out / run.bench / f"{outcome.run_id}.csv", run.bench)
    if problem or new is None:
        raise UserError(f"the re-derived rows of {run.label} cannot be read back ({problem})")
    exact = meta.get("machine_fingerprint") == run.provenance.get("machine_fingerprint")
    comparison = differences(run, new, exact)
    summary = {
        "run": run.label,
        "rows": len(run.rows),
        "numbers compared": comparison.compared,
        "not bit-equal": comparison.inexact,
        "tolerance used": f"{comparison.most_used:.0%}",
        "differing": len(comparison.differing),
        "rule": "equal (same machine class)" if exact else "within the tolerances (another machine class)",
        "re-derived": outcome.run_id,
    }
    return summary, comparison.differing
