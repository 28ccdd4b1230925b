"""What a measuring command does once its options are parsed: print the resolved configuration
(``--dry-run``), or choose the threads, run the benchmark with a progress display, record its
rows and print the summary."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

from cunet_bench.cli.options import folder_option
from cunet_bench.cli.output import OutputFormat, emit, note, progress_display
from cunet_bench.config.resolve import as_record


def run_and_record(
    benchmark: Any,
    config: Any,
    out: Path,
    preset: str,
    label: str | None = None,
    invocation: dict[str, Any] | None = None,
) -> Any:
    """Run a benchmark as the commands do: global generators seeded from the configuration's seed,
    the progress display on standard error (after the warning of a busy machine, once the work
    starts), the results recorded under ``out`` and announced."""
    from cunet_bench.config.seeding import seed_everything
    from cunet_bench.host.threads import announce_busy
    from cunet_bench.run.runner import execute

    seed_everything(config.seed)
    with progress_display(label or benchmark.name) as progress:

        def progress_after_warning(message: str, done: int | None = None, total: int | None = None) -> None:
            announce_busy()  # the work has started: what refused it earlier was one line
            progress(message, done, total)

        outcome = execute(benchmark, config, out, progress_after_warning, preset, announce=note, invocation=invocation)
    announce_busy()
    return outcome


def checkpoints_beside(checkpoints: Optional[Path], out: Path) -> str:
    """The checkpoint folder: ``--checkpoints``, or ``checkpoints`` beside the results folder, so a
    command writes only under the folders it was given."""
    return str(checkpoints or folder_option("--checkpoints")(out.parent / "checkpoints"))


def execute_command(
    benchmark: Any,
    config: Any,
    preset: str,
    out: Path,
    dry_run: bool,
    output_format: OutputFormat,
) -> None:
    """The part every measuring command shares: print the configuration, or choose the threads
    the configuration asks for (``config.threads``; None: what the machine has free), run,
    record and print."""
    if dry_run:
        print(json.dumps({"preset": preset, "out": str(out), **as_record(config)}, indent=2))
        return
    from cunet_bench.host.threads import computing_threads

    with computing_threads(config.threads) as choice:
        outcome = run_and_record(benchmark, replace(config, threads=choice.threads), out, preset)
    if output_format is OutputFormat.json:
        emit(outcome.rows, output_format)
        return
    for title, rows in benchmark.summary(outcome.rows):
        emit(rows, output_format, title=title)


def run_pipeline(steps: list, out: Path, preset: str, threads: Optional[int]) -> list[dict[str, Any]]:
    """``bench all``'s steps on the chosen threads: on a CPU with two or more of them, its
    training runs two at a time in processes of their own, one thread each
    (:mod:`cunet_bench.run.side_by_side`); returns the phase table."""
    from cunet_bench.host.threads import computing_threads
    from cunet_bench.run.pipeline import run_steps
    from cunet_bench.run.side_by_side import Job, run_side_by_side

    with computing_threads(threads) as choice:
        steps = [replace(step, config=replace(step.config, threads=choice.threads)) for step in steps]
        on_cpu = all(getattr(step.config, "device", "cpu") == "cpu" for step in steps)
        processes = 2 if choice.threads >= 2 and on_cpu else 1

        def together(group: list, invocation: dict[str, Any]) -> list:
            threads = choice.threads // processes
            jobs = [
                Job(
                    step.label,
                    replace(step.config, threads=threads),
                    out,
                    preset,
                    {**invocation, "step": step.label},
                    step.benchmark.name,
                )
                for step in group
            ]
            return run_side_by_side(jobs, processes)

        return run_steps(
            steps,
            out,
            preset,
            lambda step, invocation: run_and_record(step.benchmark, step.config, out, preset, step.label, invocation),
            announce=note,
            execute_together=together if processes > 1 else None,
            processes=processes,
            threads=choice.threads,
        )
