"""Results on disk: ``<out>/<bench>/<run_id>.csv`` (tidy rows of the declared schema) plus
``<run_id>.json`` (provenance). Writes are atomic and never overwrite an existing file; reads
check every file (a results folder is untrusted input) and skip what does not fit, saying why."""

from __future__ import annotations

import csv
import io
import json
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from cunet_bench.errors import warn
from cunet_bench.files import bounded_json, create_file, read_regular, read_regular_text
from cunet_bench.records import schema
from cunet_bench.records.provenance import utc_now


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
    """Record one run of a benchmark: rows first, then the provenance that completes them. Every
    row must be a declared kind of ``bench`` with declared columns (``cunet_bench.records.schema``)."""
    schema.check_rows(bench, rows)
    run_id = new_run_id()
    folder = Path(out) / bench
    files = RunFiles(run_id, folder / f"{run_id}.csv", folder / f"{run_id}.json")
    create_file(files.csv, rows_to_csv({"run_id": run_id, **row} for row in rows))
    sidecar = _standard_json({"run_id": run_id, **provenance, "finished_at": utc_now(), "rows": len(rows)})
    create_file(
        files.json, (json.dumps(sidecar, indent=2, sort_keys=True, default=str, allow_nan=False) + "\n").encode()
    )
    return files


def _standard_json(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None: standard JSON has no NaN or Infinity."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _standard_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_standard_json(item) for item in value]
    return value


PROVENANCE_TYPES: dict[str, tuple[type, ...]] = {
    "bench": (str,),
    "command": (str,),
    "rows": (int,),
    "complete": (bool,),
    "preset": (str, type(None)),
    "seed": (int, type(None)),
    "git_commit": (str, type(None)),
    "git_dirty": (bool, type(None)),
    "device_name": (str,),
    "cpu_threads": (int,),
    "machine": (dict,),
    "machine_fingerprint": (str,),
    "config": (dict,),
    "config_hash": (str,),
    "invocation": (dict, type(None)),
    "allocator": (dict,),
    "phase": (dict,),
    "inputs": (dict,),
    "host": (str,),
    "started_at": (str,),
    "finished_at": (str,),
}
REQUIRED_PROVENANCE = ("bench", "command", "rows", "complete")
MAX_RESULTS_BYTES = 4 * 1024**3
"""The largest results file read back (a reference run's largest is a few MiB)."""


@dataclass(frozen=True)
class Skipped:
    path: Path
    reason: str


def check_provenance(meta: Any) -> str | None:
    """Why a provenance record cannot be used, or None."""
    if not isinstance(meta, dict):
        return "its provenance is not a JSON object"
    absent = [name for name in REQUIRED_PROVENANCE if name not in meta]
    if absent:
        return f"its provenance lacks {', '.join(absent)}"
    for name, types in PROVENANCE_TYPES.items():
        if name in meta and (not isinstance(meta[name], types) or (bool not in types and isinstance(meta[name], bool))):
            return f"its provenance field {name} is a {type(meta[name]).__name__}"
    return None


def read_run(csv_path: Path, bench: str) -> tuple[pd.DataFrame | None, dict[str, Any], str | None]:
    """One run's conforming rows and provenance, or the reason it cannot be read."""
    try:
        meta = bounded_json(read_regular_text(csv_path.with_suffix(".json")), "its provenance")
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return None, {}, f"its provenance is not readable JSON ({str(error).splitlines()[0][:120]})"
    problem = check_provenance(meta)
    if problem:
        return None, {}, problem
    try:
        frame = pd.read_csv(
            io.BytesIO(read_regular(csv_path, MAX_RESULTS_BYTES)), low_memory=False, dtype={"run_id": str}
        )
    except Exception as error:  # noqa: BLE001 - pandas raises many types for a damaged file
        return None, meta, f"not a readable CSV file ({type(error).__name__}: {str(error).splitlines()[0][:120]})"
    if "run_id" not in frame or frame.empty or set(frame.run_id.astype(str)) != {csv_path.stem}:
        return None, meta, f"its rows do not belong to run {csv_path.stem}"
    if len(frame) != meta["rows"]:
        return None, meta, f"it holds {len(frame)} rows where its provenance records {meta['rows']} (cut short?)"
    conformed, problem = schema.conform(bench, frame)
    if problem:
        return None, meta, f"its rows do not fit the {bench} schema ({problem})"
    return conformed, meta, None


@dataclass
class Loaded:
    """Every readable run of one benchmark: the rows (``run_id`` column, oldest first; empty with
    the declared columns when there is none), run id → provenance, and the runs left out."""

    frame: pd.DataFrame
    provenance: dict[str, dict[str, Any]]
    skipped: list[Skipped]


def load_results(bench: str, out: Path | str, quiet: bool = False) -> Loaded:
    """Every recorded run of ``bench`` under ``out``, read through the schema; a run whose files
    do not fit is skipped (with a warning naming it and the reason, unless ``quiet``)."""
    frames, provenance, skipped = [], {}, []
    folder = Path(out) / bench

    def skip(path: Path, reason: str) -> None:
        if not quiet:
            warn(f"skipped {path}: {reason}")
        skipped.append(Skipped(path, reason))

    if folder.is_symlink() and not folder.exists():
        skip(folder, "it is a link to nowhere (a dangling link or a loop) where a folder of runs should be")
    elif folder.exists() and not folder.is_dir():
        skip(folder, "it is a file where a folder of runs should be")
    for path in sorted(folder.glob("*.csv")) if folder.is_dir() else ():
        if not path.with_suffix(".json").exists():
            continue  # a run still being written, or its rows without provenance: not a result
        frame, meta, problem = read_run(path, bench) if path.is_file() else (None, {}, "it is not a file")
        if problem:
            skip(path, problem)
            continue
        frames.append(frame)
        provenance[path.stem] = meta
    empty = pd.DataFrame(columns=list(schema.columns(bench)))
    return Loaded(pd.concat(frames, ignore_index=True) if frames else empty, provenance, skipped)


def load_runs(bench: str, out: Path | str) -> pd.DataFrame:
    """The rows of :func:`load_results`."""
    return load_results(bench, out).frame


def load_provenance(bench: str, out: Path | str) -> dict[str, dict[str, Any]]:
    """The provenance of :func:`load_results`."""
    return load_results(bench, out).provenance
