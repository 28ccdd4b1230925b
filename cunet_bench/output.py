"""What a command prints: results as a table for people or JSON for machines (standard output),
progress and notes on standard error."""

from __future__ import annotations

import json
import math
from contextlib import contextmanager
from enum import Enum
from typing import Any, Callable, Iterator, Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table


class OutputFormat(str, Enum):
    table = "table"
    json = "json"


def format_value(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    return str(value)


def emit(rows: Sequence[dict[str, Any]], output_format: OutputFormat, title: str | None = None,
         columns: Sequence[str] | None = None) -> None:
    """Print ``rows`` as a rich table or as a JSON list on standard output."""
    if output_format is OutputFormat.json:
        print(json.dumps(list(rows), indent=2, default=str))
        return
    columns = list(columns or (rows[0].keys() if rows else []))
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(escape(format_value(row.get(column))) for column in columns))
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # files and pipes get the whole table, not 80 columns
    console.print(table)


STDERR = Console(stderr=True, soft_wrap=True)


def note(message: str) -> None:
    """One line for the user on standard error (what was written where, a step's status)."""
    STDERR.print(message, markup=False, highlight=False)


@contextmanager
def progress_display(label: str, enabled: bool = True) -> Iterator[Callable[[str], None]]:
    """A transient spinner with the elapsed time on standard error, shown only on a terminal;
    yields the function a run calls with what it is doing now."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=STDERR,
                  transient=True, disable=not (enabled and STDERR.is_terminal)) as progress:
        task = progress.add_task(label)
        yield lambda message: progress.update(task, description=f"{label}: {message}")
