"""Building blocks of the report: the results it reads, Markdown tables, provenance lines and
the claim rows of the summary. Reads result files only; never runs a model."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cunet_bench import records
from cunet_bench.bootstrap import NOT_MEASURED


@dataclass
class Claim:
    claim: str
    paper: str
    ours: str
    verdict: str
    section: str
    rule: str = ""


@dataclass
class Section:
    anchor: str
    title: str
    body: list[str] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)


REQUIRED_COLUMNS = {
    "efficiency": ("model", "metric", "value", "unit"),
    "solvers": ("solver", "batch", "metric", "value", "unit"),
    "training": ("model", "step"),
    "sample": ("model", "png", "samples", "sampler", "steps", "seconds_per_sample"),
    "denoise": ("kind", "method", "level", "target", "metric", "mean"),
    "fid": ("kind", "model"),
}
"""The columns each benchmark's rows must have for the report to read them; a run without
them is skipped with a warning."""


class Results:
    """The recorded runs under a results folder, loaded once per benchmark."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._loaded: dict[str, tuple[pd.DataFrame, dict[str, dict[str, Any]]]] = {}

    def _load(self, bench: str) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
        if bench not in self._loaded:
            self._loaded[bench] = records.load_results(bench, self.folder, REQUIRED_COLUMNS.get(bench, ()))
        return self._loaded[bench]

    def runs(self, bench: str) -> pd.DataFrame:
        return self._load(bench)[0]

    def provenance(self, bench: str) -> dict[str, dict[str, Any]]:
        return self._load(bench)[1]

    def latest_run(self, bench: str, accept=lambda frame: True) -> pd.DataFrame:
        """The rows of the newest run of ``bench`` that ``accept`` takes; empty when none."""
        frame = self.runs(bench)
        if frame.empty:
            return frame
        for run_id in sorted(frame.run_id.unique(), reverse=True):
            rows = frame[frame.run_id == run_id]
            if accept(rows):
                return rows.dropna(axis=1, how="all")
        return frame.iloc[0:0]

    def provenance_line(self, bench: str, run_id: str) -> str:
        meta = self.provenance(bench).get(run_id, {})
        commit = str(meta.get("git_commit") or "unknown")[:10] + (" (dirty)" if meta.get("git_dirty") else "")
        preset = f", preset {meta['preset']}" if meta.get("preset") else ""
        return (f"`{run_id}` (`{meta.get('command', '?')}`; commit {commit}; {meta.get('device_name', '?')}, "
                f"{meta.get('cpu_threads', '?')} threads{preset}; seed {meta.get('seed', '?')})")


def number(value: Any, digits: int = 4) -> str:
    """Plain, compact numbers for tables: integers with separators, others to ``digits`` figures."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, str):
        return value
    if float(value).is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    return f"{value:.{digits}g}"


def markdown_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "_no rows_"
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(number(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def missing(section: Section, what: str, command: str) -> Section:
    """A section whose results do not exist yet: say so and give the command that makes them."""
    section.body.append(f"**Not measured yet**: {what}. Produce it with:\n\n```\n{command}\n```")
    return section


def not_measured(claim: str, paper: str, section: str, why: str) -> Claim:
    return Claim(claim, paper, why, NOT_MEASURED, section)
