"""The commands that inspect rather than measure: ``bench models`` (the registry with exact
parameter counts), ``bench report`` (the report from recorded results) and ``bench weights``
(status, install and verification of the pretrained files the metrics need)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from cunet_bench.cli_options import DryRunOption, FormatOption, parse_output_folder
from cunet_bench.errors import UserError
from cunet_bench.output import OutputFormat, emit, note

def models_command(name: Optional[str] = typer.Argument(None, help="show one model in detail"),
                   output_format: OutputFormat = FormatOption) -> None:
    """List the registered models with exact parameter counts.

    Example: bench models · bench models cunet-release · bench models --format json
    """
    from cunet_bench.model_listing import model_detail, model_rows

    if name is None:
        emit(model_rows(), output_format, title="registered models (parameters at the default configuration)")
    else:
        detail = model_detail(name)
        emit([detail] if output_format is OutputFormat.json else [{"field": k, "value": v} for k, v in detail.items()],
             output_format, title=name)


def report_command(
        results: Path = typer.Option(Path("results"), "--results", help="folder of recorded results"),
        out: Path = typer.Option(Path("reports"), "--out", help="folder REPORT.md and figures/ are written to",
                                 callback=parse_output_folder),
        readme: Optional[Path] = typer.Option(None, "--readme", help="also copy the summary table into this file"),
        dry_run: bool = DryRunOption) -> None:
    """Write the reproduction report (Markdown + PNG figures) from recorded results only.

    Every claim with the paper's value, ours, an interval and a verdict; Tables 1-5 and Figure 6 beside the
    paper; provenance.

    Example: bench report --results results --out reports --readme README.md
    """
    from cunet_bench.report import build_report, update_readme

    if not results.is_dir():
        raise UserError(f"results folder {results} does not exist; run a benchmark first (e.g. bench all --preset smoke)")
    if dry_run:
        print(json.dumps({"results": str(results), "report": str(out / "REPORT.md"), "readme": readme and str(readme)}))
        return
    path = build_report(results, out)
    note(f"report: {path}")
    if readme is not None:
        update_readme(readme, path)
        note(f"summary copied into {readme}")


weights_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown", help="Status, install and verification of "
                          "the pretrained weights the metrics need (AlexNet for LPIPS, Inception for FID); nothing is downloaded.")


@weights_app.command("status")
def weights_status_command(output_format: OutputFormat = FormatOption) -> None:
    """Which weights files are installed and verified, and which metric each one enables.

    Example: bench weights status
    """
    from cunet_bench import weights

    emit(weights.status(), output_format, title=f"pretrained weights in {weights.cache_dir()}")


@weights_app.command("install")
def weights_install_command(
        source: Path = typer.Option(..., "--from", help="a local copy, e.g. alexnet-owt-7be5be79.pth"),
        full_digest: Optional[str] = typer.Option(None, "--sha256", help="the file's full SHA-256 from a source you "
                                                  "trust; checked now and pinned for every later use"),
        dry_run: bool = DryRunOption, output_format: OutputFormat = FormatOption) -> None:
    """Install a local weights file into the torch hub cache after checking its SHA-256.

    The 8 hex digits in the name are a 32-bit prefix of the published file's SHA-256: they catch corruption,
    not a forgery; pin the full digest with --sha256 for that.

    Example: bench weights install --from ~/Downloads/alexnet-owt-7be5be79.pth --sha256 <64 hex digits>
    """
    from cunet_bench import weights

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
    from cunet_bench import weights
    from cunet_bench.features import inception_network
    from cunet_bench.metrics import Lpips

    rows = weights.verification_rows({"alexnet": Lpips, "inception": inception_network})
    emit(rows, output_format, title=f"pretrained weights in {weights.cache_dir()}")
    failed = [f"{row['weights']} ({row['result']})" for row in rows if row["result"] not in ("verified", "missing")]
    if failed:
        raise UserError(f"verification failed: {'; '.join(failed)}; reinstall with bench weights install --from FILE")
