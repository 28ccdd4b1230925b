"""Copy the report's claims summary into a README between two marker comments, so the table a
README shows is written by ``bench report --readme``, never by hand, and links into the report."""

from __future__ import annotations

import os
import re
from pathlib import Path

from cunet_bench.errors import UserError
from cunet_bench.files import create_file, describe_path, read_regular_text

SUMMARY_HEADING = "## Summary of the paper's claims"
START_MARKER = "<!-- bench report summary: start -->"
END_MARKER = "<!-- bench report summary: end -->"


def summary_table(report_text: str) -> list[str]:
    """The Markdown table lines that follow the summary heading of a ``bench report`` file."""
    lines = report_text.splitlines()
    if SUMMARY_HEADING not in lines:
        raise UserError(f"the report has no '{SUMMARY_HEADING}' section; write it with bench report")
    table: list[str] = []
    for line in lines[lines.index(SUMMARY_HEADING) + 1 :]:
        if line.startswith("|"):
            table.append(line)
        elif table:
            break
    return table


def _edited_file(readme: Path) -> Path:
    """The file ``--readme`` names: the user's own document, edited between its markers at the
    user's request, so a link is followed to it here, explicitly (the link itself stays)."""
    return Path(os.path.realpath(readme)) if readme.is_symlink() else readme


def check_readme(readme: Path) -> str:
    """The README's text, when it is a readable file with one pair of markers in order; checked
    before any report is written."""
    target = _edited_file(readme)
    if not target.is_file():
        raise UserError(f"README {readme} is {describe_path(readme)}, not a file")
    try:
        text = read_regular_text(target)
    except (OSError, ValueError) as error:
        raise UserError(f"README {readme} cannot be read ({error})") from None
    if (
        text.count(START_MARKER) != 1
        or text.count(END_MARKER) != 1
        or text.index(START_MARKER) > text.index(END_MARKER)
    ):
        raise UserError(
            f"{readme} needs one '{START_MARKER}' line and, after it, one '{END_MARKER}' line "
            "where the summary table goes"
        )
    return text


def update_readme(readme: Path, report: Path) -> None:
    """Replace the lines between the README's markers with the report's summary table, its
    ``(#section)`` links pointing into the report file."""
    text = check_readme(readme)
    link = Path(os.path.relpath(report, readme.parent)).as_posix()
    table = [re.sub(r"\]\(#", f"]({link}#", line) for line in summary_table(report.read_text())]
    before, rest = text.split(START_MARKER)
    after = rest.split(END_MARKER)[1]
    updated = before + "\n".join([START_MARKER, *table, END_MARKER]) + after
    create_file(_edited_file(readme), updated.encode(), replaces=lambda path: bool(check_readme(path)))
