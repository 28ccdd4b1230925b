"""What a command prints: results as a table for people or JSON for machines (standard output),
progress and notes on standard error — a live spinner on a terminal, and without one (a CI log, a
file) a plain line at least once a minute, so a long step is never silent."""

from __future__ import annotations

import json
import os
import threading
import time
from contextlib import contextmanager
from enum import Enum
from typing import Any, Iterator, Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cunet_bench.benchmarks import PLAIN_PROGRESS, Progress
from cunet_bench.numbers import number


class OutputFormat(str, Enum):
    table = "table"
    json = "json"


def format_value(value: Any) -> str:
    """A table cell: numbers as the report writes them, anything else as text."""
    return number(value) if value is None or isinstance(value, (int, float)) else str(value)


def emit(
    rows: Sequence[dict[str, Any]],
    output_format: OutputFormat,
    title: str | None = None,
    columns: Sequence[str] | None = None,
) -> None:
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


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
        if seconds >= 3600
        else f"{seconds // 60}m{seconds % 60:02d}s"
        if seconds >= 60
        else f"{seconds}s"
    )


class _Status:
    """The latest progress of one labelled step, and its plain-text line."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.started = time.monotonic()
        self.message = "starting"
        self.done: int | None = None
        self.total: int | None = None
        self.counted_since: tuple[float, int] | None = None

    def update(self, message: str, done: int | None = None, total: int | None = None) -> None:
        if done is not None and (self.total != total or self.counted_since is None or done < (self.done or 0)):
            self.counted_since = (time.monotonic(), done)
        self.message, self.done, self.total = message, done, total

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        parts = [f"[{self.label}] {self.message}"]
        if self.done is not None and self.total:
            parts.append(f"{self.done:,}/{self.total:,}")
            since, first = self.counted_since or (self.started, 0)
            span = time.monotonic() - since
            if self.done > first and span > 0:
                rate = (self.done - first) / span
                parts.append(f"{rate:.3g}/s")
                parts.append(f"about {_duration((self.total - self.done) / rate)} to go")
        parts.append(f"{_duration(elapsed)} elapsed")
        return ", ".join(parts)


PLAIN_INTERVAL_S = 60.0
"""Without a terminal a status line is printed at least this often."""


@contextmanager
def progress_display(label: str, interval_s: float = PLAIN_INTERVAL_S, console: Console = STDERR) -> Iterator[Progress]:
    """Yields the :class:`~cunet_bench.benchmarks.Progress` a run reports to. On a terminal: a
    transient spinner with the latest message and the elapsed time. Otherwise: a plain line at
    least every ``interval_s`` seconds (step, count done / total,
    rate, elapsed, estimate to finish), from a timer thread, so even one long call is reported."""
    status = _Status(label)
    if console.is_terminal and not os.environ.get(PLAIN_PROGRESS):
        from rich.progress import Progress as RichProgress
        from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

        with RichProgress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console, transient=True
        ) as spinner:
            task = spinner.add_task(label)

            def show(message: str, done: int | None = None, total: int | None = None) -> None:
                status.update(message, done, total)
                spinner.update(task, description=status.line().removeprefix(f"[{label}] "))

            yield show
        return
    stop = threading.Event()

    def report() -> None:
        while not stop.wait(interval_s):
            console.print(status.line(), markup=False, highlight=False)

    timer = threading.Thread(target=report, name=f"progress {label}", daemon=True)
    timer.start()
    try:
        yield status.update
    finally:
        stop.set()
        timer.join()
