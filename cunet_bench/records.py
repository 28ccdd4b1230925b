"""Results on disk: ``<out>/<bench>/<run_id>.csv`` (tidy rows) plus ``<run_id>.json``
(provenance). Writes are atomic and never overwrite an existing file."""

from __future__ import annotations

import csv
import io
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from cunet_bench.errors import warn
from cunet_bench.files import atomic_write
from cunet_bench.provenance import utc_now


@dataclass(frozen=True)
class RunFiles:
    run_id: str
    csv: Path
    json: Path


def new_run_id() -> str:
    """Sortable by start time and unique: ``20261122T211700Z-3f9a1c``."""
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def rows_to_csv(rows: Iterable[dict[str, Any]]) -> bytes:
    rows = list(rows)
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


def write_run(bench: str, rows: list[dict[str, Any]], provenance: dict[str, Any], out: Path | str) -> RunFiles:
    """Record one run of a benchmark: rows first, then the provenance that completes them."""
    run_id = new_run_id()
    folder = Path(out) / bench
    files = RunFiles(run_id, folder / f"{run_id}.csv", folder / f"{run_id}.json")
    atomic_write(files.csv, rows_to_csv({"run_id": run_id, **row} for row in rows))
    sidecar = {"run_id": run_id, **provenance, "finished_at": utc_now(), "rows": len(rows)}
    atomic_write(files.json, (json.dumps(sidecar, indent=2, sort_keys=True, default=str) + "\n").encode())
    return files


def _read_csv(path: Path, required: Iterable[str]) -> pd.DataFrame | None:
    """One run's rows, or None (with a warning naming the file) when the file is unusable:
    every file read back is untrusted input, and one bad file must not hide the others."""
    try:
        frame = pd.read_csv(path, low_memory=False)
    except Exception as error:  # noqa: BLE001 - pandas raises many types for a damaged file
        warn(f"skipped {path}: not a readable CSV file ({type(error).__name__}: {str(error).splitlines()[0][:120]})")
        return None
    missing = [column for column in ("run_id", *required) if column not in frame.columns]
    if missing:
        warn(f"skipped {path}: columns {', '.join(missing)} are missing")
        return None
    if frame.empty or set(frame.run_id.astype(str)) != {path.stem}:
        warn(f"skipped {path}: its rows do not belong to run {path.stem}")
        return None
    return frame


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as error:
        warn(f"skipped {path}: not a readable JSON file ({str(error).splitlines()[0][:120]})")
        return None
    if not isinstance(data, dict):
        warn(f"skipped {path}: provenance must be a JSON object")
        return None
    return data


def load_results(bench: str, out: Path | str, required: Iterable[str] = ()
                 ) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """Every recorded run of ``bench``: its rows as one DataFrame (``run_id`` column, oldest
    first; empty when there is none) and run id → provenance. A run whose CSV or provenance
    sidecar is unreadable, or whose CSV lacks the ``required`` columns, is skipped with a
    warning naming the file."""
    folder = Path(out) / bench
    required = tuple(required)
    frames, provenance = [], {}
    for path in sorted(folder.glob("*.csv")):
        sidecar = path.with_suffix(".json")
        if not sidecar.is_file():
            continue  # a run still being written, or its rows without provenance: not a result
        meta = _read_json(sidecar)
        frame = _read_csv(path, required) if meta is not None else None
        if frame is not None:
            frames.append(frame)
            provenance[path.stem] = meta
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), provenance


def load_runs(bench: str, out: Path | str, required: Iterable[str] = ()) -> pd.DataFrame:
    """The rows of :func:`load_results`."""
    return load_results(bench, out, required)[0]


def load_provenance(bench: str, out: Path | str) -> dict[str, dict[str, Any]]:
    """The provenance of :func:`load_results`."""
    return load_results(bench, out)[1]
