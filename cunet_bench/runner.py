"""Running one benchmark: the shape every benchmark shares, and what happens around its run —
provenance, recording (also when the run fails or is stopped), and the key that says whether
the same work was already done on this machine (DESIGN.md, "Benchmarks")."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from cunet_bench import machine, provenance, records
from cunet_bench.configs import as_record, config_hash

Progress = Callable[[str], None]
"""Called with a short message on what the run is doing now."""


@dataclass(frozen=True)
class Benchmark:
    """One measurement: ``run(config, progress)`` yields tidy rows; ``summary(rows)`` gives the
    titled tables printed for people; ``inputs(config)`` names the files the run reads
    (checkpoints), whose contents are part of its identity."""

    name: str
    run: Callable[[Any, Progress], Iterator[dict[str, Any]]]
    summary: Callable[[list[dict[str, Any]]], list[tuple[str, list[dict[str, Any]]]]]
    inputs: Callable[[Any], list[Path]] = field(default=lambda config: [])


@dataclass
class Outcome:
    rows: list[dict[str, Any]]
    run_id: str | None


def input_digests(benchmark: Benchmark, config: Any) -> dict[str, str]:
    from cunet_bench.weights import sha256

    return {str(path): sha256(path) for path in benchmark.inputs(config) if Path(path).is_file()}


def done_key(benchmark: Benchmark, config: Any, digests: dict[str, str] | None = None) -> str:
    """What makes two runs the same work: the resolved configuration, this host and its machine
    fingerprint, and the contents of every file read. A changed default, another machine or a
    retrained checkpoint gives another key."""
    identity = {"bench": benchmark.name, "config": config_hash(config), "host": machine.host_id(),
                "machine": machine.fingerprint(),
                "inputs": sorted((digests if digests is not None else input_digests(benchmark, config)).values())}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def completed_run(benchmark: Benchmark, config: Any, results: Path) -> str | None:
    """The id of a complete recorded run of the same work on this machine, if there is one."""
    key = done_key(benchmark, config)
    for run_id, meta in records.load_provenance(benchmark.name, results).items():
        if meta.get("done_key") == key and meta.get("complete"):
            return run_id
    return None


def execute(benchmark: Benchmark, config: Any, out: Path, progress: Progress = lambda _: None,
            preset: str | None = None, announce: Callable[[str], None] = lambda _: None) -> Outcome:
    """Run ``benchmark`` and record its rows under ``out``; whatever was measured is recorded,
    also when the run fails or is stopped (marked ``complete: false``)."""
    digests = input_digests(benchmark, config)
    meta = provenance.collect(bench=benchmark.name, config=as_record(config), seed=config.seed,
                              device=getattr(config, "device", "cpu"), preset=preset, extra={
        "config_hash": config_hash(config), "done_key": done_key(benchmark, config, digests), "inputs": digests,
        "complete": False})
    rows: list[dict[str, Any]] = []
    files = None
    try:
        for row in benchmark.run(config, progress):
            rows.append(row)
        meta["complete"] = True
    finally:
        if rows:
            files = records.write_run(benchmark.name, rows, meta, out)
            announce(f"results: {files.csv} (+ .json provenance)")
    return Outcome(rows, files.run_id if files else None)


def execute_with_display(benchmark: Benchmark, config: Any, out: Path, preset: str | None,
                         label: str | None = None) -> Outcome:
    """:func:`execute` as the commands run it: the global generators seeded from the config's
    seed, a progress display on standard error, the results file announced."""
    from cunet_bench.output import note, progress_display
    from cunet_bench.seeding import seed_everything

    seed_everything(config.seed)
    with progress_display(label or benchmark.name) as progress:
        return execute(benchmark, config, out, progress, preset, announce=note)
