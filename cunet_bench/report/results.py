"""The recorded results the report reads, loaded once per benchmark and checked for the columns
the report needs; models are found by the registry tags recorded in the rows, so the report
never imports the registry (or torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from cunet_bench import records

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

    def tags(self, model: str) -> set[str]:
        """The registry tags recorded for ``model`` by any benchmark's rows."""
        found: set[str] = set()
        for bench, column in (("efficiency", "model"), ("denoise", "method"), ("fid", "model")):
            frame = self.runs(bench)
            if not frame.empty and "tags" in frame and column in frame:
                for tags in frame[frame[column] == model].tags.dropna().unique():
                    found |= set(str(tags).split(";"))
        return found

    def training_seed(self, run_id: str) -> int | None:
        """The training seed a recorded training run used (from its resolved configuration)."""
        training = (self.provenance("training").get(run_id, {}).get("config") or {}).get("training") or {}
        return training.get("seed")

    def training_steps(self, model: str) -> int | None:
        """The optimizer steps the recorded training runs of ``model`` reached (the fewest over its
        seeds), or None when no training run of it is recorded."""
        frame = self.runs("training")
        if frame.empty or "model" not in frame:
            return None
        final = frame[(frame.model == model) & frame.get("seconds", pd.Series(index=frame.index, dtype=float)).notna()]
        if final.empty:
            return None
        latest = final.groupby(final.get("checkpoint", final.model)).step.max()
        return int(latest.min())

    def provenance_line(self, bench: str, run_id: str) -> str:
        meta = self.provenance(bench).get(run_id, {})
        commit = str(meta.get("git_commit") or "unknown")[:10] + (" (dirty)" if meta.get("git_dirty") else "")
        preset = f", preset {meta['preset']}" if meta.get("preset") else ""
        machine = meta.get("machine") or {}
        cpu = ", ".join(filter(None, (meta.get("device_name", "?"), machine.get("cpu_id"))))
        fingerprint = f"machine `{meta['machine_fingerprint']}`: " if meta.get("machine_fingerprint") else ""
        return (f"`{run_id}` (`{meta.get('command', '?')}`; commit {commit}; {fingerprint}{cpu}, "
                f"{meta.get('cpu_threads', '?')} threads{preset}; seed {meta.get('seed', '?')})")


def tagged(rows: pd.DataFrame, tag: str, column: str = "model") -> list[str]:
    """The models (or methods) of ``rows`` whose recorded tags include ``tag``, in row order."""
    if "tags" not in rows:
        return []
    found = rows[rows.tags.fillna("").str.split(";").apply(lambda tags: tag in tags)]
    return list(dict.fromkeys(found[column]))


def paper_name(rows: pd.DataFrame, model: str, column: str = "model") -> str:
    """What the paper calls ``model``, as recorded with the rows (the name itself otherwise)."""
    if "paper_name" in rows:
        names = rows[(rows[column] == model) & rows.paper_name.notna()].paper_name
        if len(names):
            return str(names.iloc[0])
    return model


def value(rows: pd.DataFrame, model: str, metric: str, **where: Any) -> float | None:
    """The value of ``metric`` for ``model`` in tidy efficiency-style rows, or None."""
    match = rows[(rows.model == model) & (rows.metric == metric)]
    for column, wanted in where.items():
        match = match[match[column] == wanted]
    return float(match.value.iloc[0]) if len(match) else None
