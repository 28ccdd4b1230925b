"""The ``bench`` command line: the app, its own commands (models, report, compare, all, weights)
and, through :class:`~cunet_bench.cli.commands.BenchCommands`, one command per registered
benchmark. A command only parses: its options — each named after the configuration field it
sets — become overrides of the benchmark's configuration, resolved from the
preset (``--dry-run`` prints the result under the same names); the runner runs and records it
with a progress display handed in from here; the command prints the summary. Bad input ends in
one line on standard error and exit code 2; Ctrl-C and SIGTERM in one line after recording what
was measured. Nothing heavy is imported until a command runs (``bench --help`` stays fast)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer

from cunet_bench.cli.commands import BenchCommands
from cunet_bench.cli.entry import run_app
from cunet_bench.cli.execute import checkpoints_beside, run_and_record, run_pipeline
from cunet_bench.cli.info import compare_command, models_command, report_command, weights_app
from cunet_bench.cli.options import (
    BaselineOption,
    CheckpointsOption,
    DeviceOption,
    DryRunOption,
    FormatOption,
    ModelsOption,
    OutOption,
    PresetOption,
    SeedOption,
    ThreadsOption,
    added_models,
    folder_option,
    resolve_device,
)
from cunet_bench.cli.output import OutputFormat, emit, note
from cunet_bench.cli.shipped import ship_command, shipped_command, verify_command
from cunet_bench.config.presets import get_preset
from cunet_bench.config.resolve import as_record

app = typer.Typer(
    name="bench",
    cls=BenchCommands,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)


app.command("models")(models_command)


@app.callback()
def _root() -> None:
    """Benchmark and reproduce 'The Missing U for Efficient Diffusion Models' (cU-Net vs U-Net)."""


app.command("report")(report_command)
app.command("compare")(compare_command)
app.command("ship")(ship_command)
app.command("shipped")(shipped_command)
app.command("verify")(verify_command)


@app.command("all")
def all_command(
    preset: str = PresetOption,
    checkpoints: Optional[Path] = CheckpointsOption,
    reports: Optional[Path] = typer.Option(
        None,
        "--reports",
        parser=folder_option("--reports"),
        metavar="FOLDER",
        help="report folder (default: 'reports' beside --out)",
    ),
    dry_run: bool = DryRunOption,
    device: str = DeviceOption,
    seed: int = SeedOption,
    out: Path = OutOption,
    threads: Optional[int] = ThreadsOption,
    models: str = ModelsOption,
    baseline: Optional[str] = BaselineOption,
    weights: Optional[Path] = typer.Option(
        None,
        "--weights",
        metavar="FOLDER",
        help="shipped weights (bench ship) that stand in for training: each model and seed they hold is measured "
        "from them, not trained",
    ),
    output_format: OutputFormat = FormatOption,
) -> None:
    """The whole pipeline for a preset, then the report: the README's main command.

    Efficiency, training, samples, denoising, FID, then the report beside your results with the committed
    reference run next to yours. A step already done in your results folder with the same configuration,
    machine and inputs is skipped, an unfinished one resumes; checkpoints go beside --out unless --checkpoints.

    Example: bench all --preset quick · bench all --preset smoke --out /tmp/run/results ·
    bench all --preset quick --models +my-denoiser --baseline my-denoiser ·
    bench all --preset quick --weights reference/weights
    """
    from cunet_bench.errors import UserError
    from cunet_bench.registry.suite import get_model
    from cunet_bench.report import NO_REFERENCE, build_report, check_report_path, default_reference
    from cunet_bench.report.figure_folder import check_figures_folder
    from cunet_bench.run.pipeline import plan

    reports = reports or folder_option("--reports")(out.parent / "reports")
    check_report_path(reports)
    check_figures_folder(reports / "figures")
    added = added_models(models)
    if weights is not None:
        from cunet_bench.records.shipped import verified

        verified(weights)
    steps = plan(
        get_preset(preset),
        out,
        Path(checkpoints_beside(checkpoints, out)),
        seed,
        resolve_device(device),
        added,
        weights,
    )
    measured = {name for step in steps for name in getattr(step.config, "models", ())}
    if baseline is not None and get_model(baseline).name not in measured:
        raise UserError(f"--baseline {baseline} is not measured by this run; add it with --models +{baseline}")
    if dry_run:
        print(
            json.dumps(
                [{"step": s.label, **as_record(s.config)} for s in steps]
                + [
                    {
                        "step": "report",
                        "results": str(out),
                        "report": str(reports / "REPORT.md"),
                        "baseline": baseline,
                        "threads": threads,
                    }
                ],
                indent=2,
            )
        )
        return
    started = time.perf_counter()
    phases = run_pipeline(steps, out, preset, threads)
    note(f"report: {build_report(out, reports, default_reference(), NO_REFERENCE, baseline)}")
    emit(
        [{"step": row["step"], "status": row["status"], "seconds": row["wall_s"]} for row in phases],
        output_format,
        title=f"bench all --preset {preset}: {time.perf_counter() - started:.0f} s",
    )


@app.command("run-step", hidden=True)
def run_step_command(job: Path = typer.Argument(..., help="a job file written by bench all")) -> None:
    """One step of bench all in a process of its own, on the threads its configuration names
    (cunet_bench.run.side_by_side)."""
    from cunet_bench.benchmarks import by_name
    from cunet_bench.errors import UserError
    from cunet_bench.files import check_output_folder
    from cunet_bench.host.threads import check_requested, computing_threads
    from cunet_bench.run.side_by_side import check_outcome_path, read_job, write_outcome

    record = read_job(job)
    benchmark = by_name(record["bench"])
    if not benchmark.side_by_side:
        raise UserError(f"job file {job} names {record['bench']}, which bench all does not run side by side")
    config = benchmark.config.from_record(record["config"], job)
    if config.threads is not None:
        check_requested(config.threads, "the job's threads")
    check_output_folder(record["out"], "the job's results folder")
    check_output_folder(job.parent, "the job's folder")
    check_outcome_path(job)
    with computing_threads(config.threads):
        write_outcome(
            job,
            run_and_record(
                benchmark, config, Path(record["out"]), record["preset"], record["label"], record["invocation"]
            ),
        )


app.add_typer(weights_app, name="weights")


def main() -> None:
    """Console entry point (``bench``): one line and exit code 2 for every user error."""
    run_app(app)
