"""Printing results at the end of a command: a table for people, JSON for machines."""

from __future__ import annotations

import json
import math
from enum import Enum
from typing import Any, Sequence

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
