"""The commands of the registered benchmarks (``cunet_bench.benchmarks.BENCHMARKS``), built from
the registry and from each configuration's settings (``cunet_bench.config.settings``): the
options every measuring command shares, then one option per setting field, named after it. The
command reads the options, resolves the configuration from the preset (its ``validate()`` checks
every value once) and runs it, or prints it (``--dry-run``). This module names no benchmark.

:class:`BenchCommands` is the group of ``bench``: its own commands plus one per registered
benchmark, built when it is run; ``bench --help`` lists them from the registry's summaries, so
it imports no benchmark (and no torch)."""

from __future__ import annotations

import dataclasses
import functools
import inspect
from pathlib import Path
from typing import Any, Optional

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

from cunet_bench.benchmarks import BENCHMARKS, Benchmark, Registered, load
from cunet_bench.cli.execute import checkpoints_beside, execute_command
from cunet_bench.cli.options import (
    CheckpointsOption,
    DeviceOption,
    DryRunOption,
    FormatOption,
    OutOption,
    PresetOption,
    SeedOption,
    resolve_device,
)
from cunet_bench.cli.output import OutputFormat
from cunet_bench.config.presets import get_preset
from cunet_bench.config.settings import Setting, option_name, settings_of
from cunet_bench.errors import UserError

SHARED = {
    "preset": (PresetOption, str),
    "dry_run": (DryRunOption, bool),
    "device": (DeviceOption, str),
    "seed": (SeedOption, int),
    "out": (OutOption, Path),
    "output_format": (FormatOption, OutputFormat),
}
"""The options of every measuring command, with their types: what runs the benchmark, not what it measures."""
CHECKPOINTS = "checkpoints"
"""A configuration field set from the shared ``--checkpoints`` (default: beside ``--out``)."""
OUT = "out"
"""A configuration field set from ``--out`` (where a benchmark also writes files of its own)."""


def _keyword(name: str, default: Any, annotation: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def _option(field: str, declared: Setting) -> inspect.Parameter:
    """The command-line parameter of one setting field."""
    option = option_name(field, declared)
    if declared.flag:
        return _keyword(field, typer.Option(False, option, help=declared.help, metavar=""), bool)
    if declared.switch:
        return _keyword(field, typer.Option(None, f"{option}/--no-{option[2:]}", help=declared.help), Optional[bool])
    if declared.repeat:
        return _keyword(
            field,
            typer.Option(None, option, help=declared.help, metavar=declared.metavar),
            Optional[list[declared.kind]],
        )
    default = ... if declared.required else None
    return _keyword(
        field,
        typer.Option(default, option, help=declared.help, metavar=declared.metavar),
        declared.kind if declared.required else Optional[declared.kind],
    )


def _read(value: Any, field: str, declared: Setting) -> Any:
    """The field's value from what the command line parsed; None when the option was not given."""
    if value is None or (declared.flag and value is False) or (declared.repeat and not value):
        return None
    if declared.repeat:
        value = tuple(value)
    if declared.read is None:
        return value
    option = option_name(field, declared)
    try:
        return tuple(declared.read(item, option) for item in value) if declared.repeat else declared.read(value, option)
    except ValueError as error:
        raise UserError(str(error)) from None


def benchmark_command(entry: Registered, benchmark: Benchmark) -> TyperCommand:
    """``bench COMMAND`` for one registered benchmark."""
    config_class = benchmark.config
    fields = settings_of(config_class)
    names = {field.name for field in dataclasses.fields(config_class)}

    def command(**values: Any) -> None:
        shared = {name: values.pop(name) for name in SHARED}
        overrides = {field: _read(values[field], field, declared) for field, declared in fields}
        out = shared["out"]
        if CHECKPOINTS in names:
            overrides[CHECKPOINTS] = checkpoints_beside(values[CHECKPOINTS], out)
        if OUT in names:
            overrides[OUT] = str(out)
        config = config_class.from_preset(
            get_preset(shared["preset"]), **overrides, device=resolve_device(shared["device"]), seed=shared["seed"]
        )
        execute_command(benchmark, config, shared["preset"], out, shared["dry_run"], shared["output_format"])

    parameters = [_keyword("preset", *SHARED["preset"]), *(_option(f, d) for f, d in fields)]
    if CHECKPOINTS in names:
        parameters.append(_keyword(CHECKPOINTS, CheckpointsOption, Optional[Path]))
    parameters += [_keyword(name, option, kind) for name, (option, kind) in SHARED.items() if name != "preset"]
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__doc__ = f"{entry.summary}\n\n{benchmark.help}"
    single = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode="markdown")
    single.command(entry.command)(command)
    built = typer.main.get_command(single)
    built.name = entry.command
    return built


@functools.cache
def _built(entry: Registered) -> TyperCommand:
    """A registered benchmark's command, built once per process (the option check and the run
    both ask for it)."""
    return benchmark_command(entry, load(entry))


class BenchCommands(TyperGroup):
    """The commands of ``bench``: those declared on the app, then one per registered benchmark."""

    _listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        declared = super().list_commands(ctx)  # `models` first, then the benchmarks, then the rest
        return declared[:1] + [entry.command for entry in BENCHMARKS] + declared[1:]

    def get_command(self, ctx: Any, name: str) -> Any:
        entry = next((entry for entry in BENCHMARKS if entry.command == name), None)
        if entry is None:
            return super().get_command(ctx, name)
        if self._listing:  # the help lists its summary; nothing is imported
            return TyperCommand(name, help=entry.summary, short_help=entry.summary)
        return _built(entry)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False
