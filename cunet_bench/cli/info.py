"""The commands that inspect rather than measure: ``bench models`` (the registry with exact
parameter counts), ``bench report`` (the report from recorded results), ``bench compare`` (what
changed between two results folders) and ``bench weights`` (status, install and verification of
the pretrained files the metrics need)."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from cunet_bench.cli.options import BaselineOption, DryRunOption, FormatOption, flag, folder_option, results_folder
from cunet_bench.cli.output import OutputFormat, emit, note
from cunet_bench.config.settings import names
from cunet_bench.errors import UserError


class CompareFormat(str, Enum):
    markdown = "markdown"
    json = "json"


def models_command(
    name: Optional[str] = typer.Argument(None, help="show one model in detail"),
    output_format: OutputFormat = FormatOption,
) -> None:
    """List the registered models with exact parameter counts.

    Example: bench models · bench models cunet-release · bench models --format json
    """
    from cunet_bench.registry.listing import model_detail, model_rows

    if name is None:
        emit(model_rows(), output_format, title="registered models (parameters at the default configuration)")
    else:
        detail = model_detail(name)
        emit(
            [detail] if output_format is OutputFormat.json else [{"field": k, "value": v} for k, v in detail.items()],
            output_format,
            title=name,
        )


def report_command(
    results: Path = typer.Option(Path("results"), "--results", help="folder of recorded results"),
    out: Path = typer.Option(
        "reports",
        "--out",
        parser=folder_option("--out"),
        metavar="FOLDER",
        help="folder REPORT.md and figures/ are written to",
    ),
    reference: Optional[Path] = typer.Option(
        None,
        "--reference",
        help="results to show this run beside (default: the committed reference/results, when this checkout has it)",
    ),
    no_reference: bool = flag("--no-reference", "the run alone, without the reference beside it"),
    readme: Optional[Path] = typer.Option(None, "--readme", help="also copy the summary table into this file"),
    baseline: Optional[str] = BaselineOption,
    alternative_pair: Optional[Path] = typer.Option(
        None,
        "--alternative-pair",
        metavar="FOLDER",
        help="results of another pair piloted on the same ladder: Deviations states which pair is closer to "
        "converged, by their learning curves",
    ),
    dry_run: bool = DryRunOption,
) -> None:
    """Write the reproduction report (Markdown + PNG figures) from recorded results only.

    Every claim with the paper's value, ours, an interval and a verdict; Tables 1-5 and Figure 6 beside the
    paper; this run beside the committed reference run; provenance.

    Example: bench report --results results --out reports ·
    bench report --results reference/results --out reference --no-reference --readme README.md
    """
    from cunet_bench.report import NO_REFERENCE, build_report, check_report_path, default_reference, update_readme
    from cunet_bench.report.figure_folder import check_figures_folder
    from cunet_bench.report.readme import check_readme

    results_folder(results, "--results")
    if alternative_pair is not None:
        results_folder(alternative_pair, "--alternative-pair")
    beside = None if no_reference else reference or default_reference()
    if beside is not None:
        results_folder(beside, "--reference")
    if readme is not None:
        check_readme(readme)
    check_figures_folder(out / "figures")
    check_report_path(out)
    if dry_run:
        print(
            json.dumps(
                {
                    "results": str(results),
                    "out": str(out),
                    "reference": beside and str(beside),
                    "readme": readme and str(readme),
                    "baseline": baseline,
                    "alternative_pair": alternative_pair and str(alternative_pair),
                }
            )
        )
        return
    path = build_report(results, out, beside, None if no_reference else NO_REFERENCE, baseline, alternative_pair)
    note(f"report: {path}")
    if readme is not None:
        update_readme(readme, path)
        note(f"summary copied into {readme}")


class FailOn(str, Enum):
    verdict_change = "verdict-change"
    regression = "regression"


def compare_command(
    base: Path = typer.Argument(..., help="the results folder to compare against (e.g. reference/results)"),
    new: Path = typer.Argument(..., help="the results folder of the new run"),
    fail_on: Optional[str] = typer.Option(
        None, "--fail-on", help="exit 1 on: verdict-change, regression (comma-separated)"
    ),
    across_machines: bool = flag("--across-machines", "also compare times taken on different machines"),
    output_format: CompareFormat = typer.Option(CompareFormat.markdown, "--format", help="markdown or json"),
) -> None:
    """What changed between two results folders: verdicts, ratios with intervals, regressions.

    Per claim the verdict before and after; per metric NEW/BASE with a 95% interval where both sides have repeats,
    flagged as a regression past its tolerance (times 5%, distances 10%, SSIM 0.01; see the module). Exit code 1
    with --fail-on when a verdict changed or a metric regressed, 2 for bad input.

    Example: bench compare reference/results results --fail-on verdict-change,regression
    """

    from cunet_bench.report import claims_of
    from cunet_bench.report.compare import compare
    from cunet_bench.report.results import Results

    wanted = set(names(fail_on, "--fail-on") if fail_on is not None else ())
    unknown = sorted(wanted - {reason.value for reason in FailOn})
    if unknown:
        raise UserError(f"--fail-on takes {', '.join(reason.value for reason in FailOn)}, got {', '.join(unknown)}")
    sides = []
    for folder, label in ((base, "BASE"), (new, "NEW")):
        results = Results(results_folder(folder, label), quiet=True).load_all()
        if results.skipped:
            first = results.skipped[0]
            raise UserError(
                f"{label} {folder}: {len(results.skipped)} run(s) do not fit the schema or their provenance "
                f"(first: {first.path}: {first.reason})"
            )
        if results.is_empty():
            raise UserError(f"{label} {folder} holds no recorded runs")
        sides.append((results, claims_of(results)))
    comparison = compare(sides[0][0], sides[0][1], sides[1][0], sides[1][1], across_machines)
    if output_format is CompareFormat.json:
        print(json.dumps(comparison.as_json(), indent=2))
    else:
        print(comparison.markdown(str(base), str(new)))
    if ("verdict-change" in wanted and comparison.verdict_changes) or (
        "regression" in wanted and comparison.regressions
    ):
        raise typer.Exit(1)


weights_app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode="markdown",
    help="Status, install and verification of "
    "the pretrained weights the metrics need (AlexNet for LPIPS, Inception for FID); nothing is downloaded.",
)


@weights_app.command("status")
def weights_status_command(output_format: OutputFormat = FormatOption) -> None:
    """Which weights files are installed and verified, and which metric each one enables.

    Example: bench weights status
    """
    from cunet_bench.measure import weights

    emit(weights.status(), output_format, title=f"pretrained weights in {weights.cache_dir()}")


@weights_app.command("install")
def weights_install_command(
    source: Path = typer.Option(..., "--from", help="a local copy, e.g. alexnet-owt-7be5be79.pth"),
    full_digest: Optional[str] = typer.Option(
        None,
        "--sha256",
        help="the file's full SHA-256 from a source you trust; checked now and pinned for every later use",
    ),
    dry_run: bool = DryRunOption,
    output_format: OutputFormat = FormatOption,
) -> None:
    """Install a local weights file into the torch hub cache after checking its SHA-256.

    The 8 hex digits in the name are a 32-bit prefix of the published file's SHA-256: they catch corruption,
    not a forgery; pin the full digest with --sha256 for that.

    Example: bench weights install --from ~/Downloads/alexnet-owt-7be5be79.pth --sha256 <64 hex digits>
    """
    from cunet_bench.measure import weights

    weight = weights.check_source(source, full_digest)
    if dry_run:
        print(json.dumps({"install": str(source), "as": str(weights.installed_path(weight)), "pin": full_digest}))
        return
    weights.install(source, full_digest)
    emit(weights.status(), output_format, title=f"pretrained weights in {weights.cache_dir()}")


@weights_app.command("verify")
def weights_verify_command(output_format: OutputFormat = FormatOption) -> None:
    """Check every installed weights file and say what each check proves; exit 2 when one fails.

    The hash prefix in the name (and the pinned full SHA-256), then a load as plain tensors into the metric's
    network.

    Example: bench weights verify
    """
    from cunet_bench.measure import weights
    from cunet_bench.measure.features import inception_network
    from cunet_bench.measure.metrics import Lpips

    rows = weights.verification_rows({"alexnet": Lpips, "inception": inception_network})
    emit(rows, output_format, title=f"pretrained weights in {weights.cache_dir()}")
    failed = [f"{row['weights']} ({row['result']})" for row in rows if row["result"] not in ("verified", "missing")]
    if failed:
        raise UserError(f"verification failed: {'; '.join(failed)}; reinstall with bench weights install --from FILE")
