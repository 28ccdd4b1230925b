"""What a measuring command does once its options are parsed: print the resolved configuration
(``--dry-run``), or choose the threads, run the benchmark with a progress display, record its
rows and print the summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from cunet_bench.cli_options import folder_option
from cunet_bench.configs import as_record
from cunet_bench.output import OutputFormat, emit, note, progress_display


def run_and_record(benchmark: Any, config: Any, out: Path, preset: str, label: str | None = None,
                   invocation: dict[str, Any] | None = None) -> Any:
    """Run a benchmark as the commands do: global generators seeded from the configuration's seed,
    the progress display on standard error, the results recorded under ``out`` and announced."""
    from cunet_bench.runner import execute
    from cunet_bench.seeding import seed_everything

    seed_everything(config.seed)
    with progress_display(label or benchmark.name) as progress:
        return execute(benchmark, config, out, progress, preset, announce=note, invocation=invocation)


def checkpoints_beside(checkpoints: Optional[Path], out: Path) -> str:
    """The checkpoint folder: ``--checkpoints``, or ``checkpoints`` beside the results folder, so a
    command writes only under the folders it was given."""
    return str(checkpoints or folder_option("--checkpoints")(out.parent / "checkpoints"))


def execute_command(benchmark: Any, config: Any, preset: str, out: Path, dry_run: bool, output_format: OutputFormat,
             threads: Optional[int]) -> None:
    """The part every measuring command shares: print the configuration, or choose the threads,
    run, record and print."""
    if dry_run:
        print(json.dumps({"preset": preset, "out": str(out), "threads": threads, **as_record(config)}, indent=2))
        return
    from cunet_bench.threads import configure

    configure(threads)
    outcome = run_and_record(benchmark, config, out, preset)
    if output_format is OutputFormat.json:
        emit(outcome.rows, output_format)
        return
    for title, rows in benchmark.summary(outcome.rows):
        emit(rows, output_format, title=title)
