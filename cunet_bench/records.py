"""Results on disk: ``<out>/<bench>/<run_id>.csv`` (tidy rows) plus ``<run_id>.json``
(provenance). Writes are atomic and never overwrite an existing file."""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd

from cunet_bench.provenance import utc_now


@dataclass(frozen=True)
class RunFiles:
    run_id: str
    csv: Path
    json: Path


def new_run_id() -> str:
    """Sortable by start time and unique: ``20261122T211700Z-3f9a1c``."""
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then hard-link it
    into place: a crash leaves no partial file, and an existing file is never replaced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)
    finally:
        os.unlink(temporary)


def atomic_replace(path: Path, write: Callable[[str], None]) -> None:
    """Produce ``path`` by ``write(temporary_path)`` in the same folder, then rename it over any
    previous version: readers see the old file or the new one, never a partial one (checkpoints,
    installed weights — files that are meant to be replaced)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(descriptor)
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


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


def load_runs(bench: str, out: Path | str) -> pd.DataFrame:
    """Every recorded run of ``bench`` as one DataFrame (``run_id`` column), oldest first;
    empty when there is none."""
    folder = Path(out) / bench
    frames = [pd.read_csv(path) for path in sorted(folder.glob("*.csv")) if path.with_suffix(".json").exists()]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def load_provenance(bench: str, out: Path | str) -> dict[str, dict[str, Any]]:
    """Run id → provenance of every recorded run of ``bench``."""
    folder = Path(out) / bench
    return {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}
