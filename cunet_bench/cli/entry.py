"""Running the command line as users see it: every user error becomes one line on standard
error and exit code 2; the harness's warnings one line each; Ctrl-C and SIGTERM one line and the
shell's exit code after what was measured is recorded."""

from __future__ import annotations

import errno
import re
import sys
import typing
import unicodedata
import warnings
from pathlib import Path

import typer

from cunet_bench.errors import BenchWarning, UserError
from cunet_bench.host import allocator
from cunet_bench.host.compile_cache import choose_compile_cache
from cunet_bench.host.interrupts import Interrupted, handle_stop_signals


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings of the harness as one ``bench: warning:`` line each; others as Python shows them."""
    if issubclass(category, BenchWarning):
        print(f"bench: warning: {message}", file=sys.stderr)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


_python_show_warning = warnings.showwarning


def _usage_error(error: typer.TyperException) -> str:
    """Typer's message, without its guesses at what an unknown option meant (they name unrelated
    options). Typer keeps its exception classes private, hence the check by name."""
    if type(error).__name__ == "NoSuchOption":
        context = getattr(error, "ctx", None)
        command = context.command_path if context is not None else "bench"
        return f"no such option: {error.option_name} (see {command} --help)"
    return error.format_message()


MODEL_FAILURES = (("cunet_bench.models.ode", "SolverFailure"), ("cunet_bench.baselines.bm3d", "Bm3dUnavailable"))
"""Exceptions the models and baselines raise (they know nothing of the harness) that the command
line words as one line: a solver that failed, a baseline this platform cannot run."""


def _model_failure(error: Exception) -> bool:
    """Whether ``error`` is one of :data:`MODEL_FAILURES`; a module not imported raised none of them."""
    return any(
        isinstance(error, getattr(sys.modules[module], name))
        for module, name in MODEL_FAILURES
        if module in sys.modules
    )


NUMBER_LIKE = re.compile(r"[\d_.,:+eE-]+")
WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")
"""A value made of digits (of any script), separators, signs and exponents: meant as numbers."""


def _check_arguments(arguments: list[str]) -> None:
    """Refuse, before anything else, an argument the harness could not record as it was given:
    text that is not valid UTF-8 (results, provenance and the report record the command line as
    UTF-8) or that holds a control character (a newline, a tab, an escape sequence)."""
    for argument in arguments:
        try:
            argument.encode("utf-8")
        except UnicodeEncodeError:
            shown = argument.encode("utf-8", "backslashreplace").decode()[:80]
            raise UserError(
                f"argument {shown!r}: the name is not valid UTF-8 (results record their paths as UTF-8 text); rename it"
            ) from None
        if any(unicodedata.category(character) == "Cc" for character in argument):
            raise UserError(f"argument {argument[:80]!r} holds a control character")


def _check_options(app: typer.Typer, arguments: list[str]) -> None:
    """Refuse what the options would read differently from what it says: an option that takes
    one value given twice (the framework would silently keep the last; ``--solver`` may repeat),
    and a number written with other than ASCII digits or with ``_`` separators (Python's ``int``
    reads ``1_000`` and Arabic-Indic digits), with spaces around it (``' 1'``), or with a decimal
    point or an exponent where a whole number is asked (the framework reads ``8.0`` as 8). A path
    is a name, not a number, and is left alone."""
    import typer.main

    command, rest = typer.main.get_command(app), list(arguments)
    while rest and hasattr(command, "get_command"):
        subcommand = command.get_command(None, rest[0])
        if subcommand is None:
            return  # an unknown command: the framework says so
        command, rest = subcommand, rest[1:]
    parameters = {
        option: parameter
        for parameter in getattr(command, "params", [])
        for option in [*parameter.opts, *parameter.secondary_opts]
        if option.startswith("--")
    }
    seen: dict[str, str] = {}
    words = iter(rest)
    for word in words:
        if word == "--":
            break
        option, inline, value = word.partition("=")
        parameter = parameters.get(option)
        if parameter is None:
            continue
        if not getattr(parameter, "multiple", False):
            if parameter.name in seen:
                raise UserError(f"{option} is given twice (as {seen[parameter.name]} and {option}); it takes one value")
            seen[parameter.name] = option
        if getattr(parameter, "is_flag", False):
            continue
        value = value if inline else next(words, "")
        annotation = getattr(getattr(parameter, "type_descriptor", None), "annotation", None)
        if annotation is Path or not (NUMBER_LIKE.fullmatch(value.strip()) and any(c.isdigit() for c in value)):
            continue
        if not value.isascii() or "_" in value:
            raise UserError(f"{option} {value[:80]!r}: write numbers with ASCII digits 0-9 and no '_'")
        if value != value.strip():
            raise UserError(f"{option} {value[:80]!r}: write the number without spaces around it")
        if int in (annotation, *typing.get_args(annotation)) and not WHOLE_NUMBER.fullmatch(value):
            raise UserError(f"{option} {value[:80]!r}: takes a whole number (no decimal point or exponent)")


def run_app(app: typer.Typer) -> None:
    """Run ``app`` on the command line's arguments and exit with its status."""
    allocator.tune()
    handle_stop_signals()
    warnings.showwarning = _show_warning
    warnings.simplefilter("always", BenchWarning)
    try:
        _check_arguments(sys.argv[1:])
        _check_options(app, sys.argv[1:])
        choose_compile_cache()
        code = app(prog_name="bench", standalone_mode=False)
    except UserError as error:
        print(f"bench: error: {error}", file=sys.stderr)
        sys.exit(2)
    except typer.TyperException as error:
        message = _usage_error(error)
        if message:  # empty when no arguments were given and the help was shown instead
            print(f"bench: error: {message}", file=sys.stderr)
        sys.exit(getattr(error, "exit_code", 2) or 2)
    except (RuntimeError, OSError) as error:
        if _model_failure(error):
            print(f"bench: error: {error}", file=sys.stderr)
            sys.exit(2)
        if not isinstance(error, OSError) or error.errno != errno.ENAMETOOLONG:
            raise
        print(f"bench: error: a path is too long for the file system: {str(error.filename)[:80]}…", file=sys.stderr)
        sys.exit(2)
    except Interrupted as stop:
        print(f"bench: stopped by {stop}; what was measured is recorded", file=sys.stderr)
        sys.exit(stop.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
