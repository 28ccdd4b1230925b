"""The ``bench`` command line. Commands parse arguments, call benchmarks, write records and
print; bad input ends in one line on standard error and exit code 2."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from cunet_bench.errors import UserError
from cunet_bench.output import OutputFormat, emit
from cunet_bench.registry import REGISTRY, parameter_count

app = typer.Typer(
    name="bench",
    help="Benchmark and reproduce 'The Missing U for Efficient Diffusion Models' (cU-Net vs U-Net).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



@app.callback()
def _root() -> None:
    """Benchmark and reproduce 'The Missing U for Efficient Diffusion Models' (cU-Net vs U-Net)."""


FormatOption = typer.Option(OutputFormat.table, "--format", help="table for people, json for machines")


def _model_summary(name: str) -> dict:
    spec = REGISTRY.get(name)
    model = spec.instantiate()
    return {
        "name": spec.name,
        "family": spec.family,
        "parameters": parameter_count(model),
        "description": spec.description,
    }


def _model_detail(name: str) -> dict:
    spec = REGISTRY.get(name)
    model = spec.instantiate()
    trainable = sum(p.numel() for p in getattr(model, "parameters", lambda: [])() if p.requires_grad)
    detail = {
        "name": spec.name,
        "family": spec.family,
        "description": spec.description,
        "parameters": parameter_count(model),
        "trainable parameters": trainable,
        "input shape": f"[B, {spec.default_channels}, {spec.default_image_size}, {spec.default_image_size}]",
        "image size divisible by": spec.downsampling_factor,
        "supports": ", ".join(sorted(spec.supports)) or "—",
        "configuration": ", ".join(f"{k}={v}" for k, v in spec.config.items()) or "defaults",
    }
    if spec.notes:
        detail["notes"] = spec.notes
    if "solver" in spec.supports:
        detail["solver"] = model.solver.label
        detail["ODE blocks"] = len(model.ode_blocks)
    return detail


@app.command("models")
def models_command(
    name: Optional[str] = typer.Argument(None, help="show one model in detail"),
    output_format: OutputFormat = FormatOption,
) -> None:
    """List the registered models with their parameter counts at the default configuration.

    Example: bench models · bench models cunet-release · bench models --format json
    """
    if name is None:
        rows = [_model_summary(spec.name) for spec in REGISTRY]
        emit(rows, output_format, title="registered models (parameters at the default configuration)")
    else:
        detail = _model_detail(name)
        if output_format is OutputFormat.json:
            emit([detail], output_format)
        else:
            emit([{"field": k, "value": v} for k, v in detail.items()], output_format, title=name)


def main() -> None:
    """Console entry point: run the app and turn every user error into one line and exit code 2."""
    try:
        code = app(standalone_mode=False)
    except UserError as error:
        print(f"bench: error: {error}", file=sys.stderr)
        sys.exit(2)
    except typer.TyperException as error:
        message = error.format_message()
        if message:  # empty when no arguments were given and the help was shown instead
            print(f"bench: error: {message}", file=sys.stderr)
        sys.exit(getattr(error, "exit_code", 2) or 2)
    except (KeyboardInterrupt, typer.Abort):
        print("bench: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
