"""Running one benchmark: provenance, recording (also when the run fails or is stopped), the key
that says whether the same work was already done on this machine, and what the run cost (wall
time, CPU time, whether the machine was busy). The progress display and the line that announces
the results file are handed in by the caller (docs/architecture.md, "Benchmarks")."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from cunet_bench.benchmarks import Benchmark, Progress, Row, Workload, no_progress
from cunet_bench.config.resolve import as_record, config_hash
from cunet_bench.errors import UserError
from cunet_bench.host import machine
from cunet_bench.host.contention import Contention
from cunet_bench.host.threads import with_threads
from cunet_bench.records import provenance, runs, schema


@dataclass
class Outcome:
    rows: list[Row]
    run_id: str | None
    wall_s: float = 0.0
    cpu_s: float = 0.0
    """CPU time of this process and its finished children during the run."""
    contention: dict[str, Any] = field(default_factory=dict)
    workload: Workload | None = None
    """What the run processed (the benchmark's own count), for the phase table."""


def input_digests(benchmark: Benchmark, config: Any) -> dict[str, str]:
    """The SHA-256 of every file the run reads (its checkpoints), or one line naming one that
    cannot be hashed."""
    from cunet_bench.files import file_digest

    digests = {}
    for path in benchmark.inputs(config):
        if Path(path).is_file():
            try:
                digests[str(path)] = file_digest(path)
            except (OSError, ValueError) as error:
                raise UserError(f"cannot read {path} ({error})") from None
    return digests


def done_key(benchmark: Benchmark, config: Any, digests: dict[str, str] | None = None) -> str:
    """What makes two runs the same work: the resolved configuration, this host and its machine
    fingerprint, and the contents of every file read. A changed default, another machine or a
    retrained checkpoint gives another key."""
    config = with_threads(config)
    identity = {
        "bench": benchmark.name,
        "config": config_hash(config),
        "host": machine.host_id(),
        "machine": machine.fingerprint(config.threads),
        "inputs": sorted((digests if digests is not None else input_digests(benchmark, config)).values()),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def completed_run(benchmark: Benchmark, config: Any, results: Path) -> str | None:
    """The id of a complete recorded run of the same work under ``results``, if there is one."""
    key = done_key(benchmark, config)
    for run_id, meta in runs.load_provenance(benchmark.name, results).items():
        if meta.get("done_key") == key and meta.get("complete") is True:
            return run_id
    return None


def is_done(benchmark: Benchmark, config: Any, results: Path) -> bool:
    """Whether the work is already done: by the benchmark's own test where it has one (training:
    the checkpoint holds the configured steps), otherwise by a complete recorded run with the same
    done key in ``results`` — the caller's own folder, never a reference copied from elsewhere."""
    if benchmark.finished is not None:
        return benchmark.finished(config)
    return completed_run(benchmark, config, results) is not None


def execute(
    benchmark: Benchmark,
    config: Any,
    out: Path,
    progress: Progress = no_progress,
    preset: str | None = None,
    announce: Callable[[str], None] = lambda _: None,
    invocation: dict[str, Any] | None = None,
) -> Outcome:
    """Run ``benchmark`` and record its rows under ``out``; each row is checked against the schema
    as it is produced, and whatever was measured is recorded, also when the run fails or is
    stopped (marked ``complete: false``). ``invocation`` names the
    ``bench all`` run a step belongs to, so a report can tell one coherent run from another."""
    config = with_threads(config)
    digests = input_digests(benchmark, config)
    meta = provenance.collect(
        bench=benchmark.name,
        config=as_record(config),
        seed=config.seed,
        device=getattr(config, "device", "cpu"),
        preset=preset,
        threads=config.threads,
        extra={
            "config_hash": config_hash(config),
            "done_key": done_key(benchmark, config, digests),
            "inputs": digests,
            "invocation": invocation,
            "complete": False,
        },
    )
    outcome = Outcome([], None)
    contention = Contention()
    try:
        for row in benchmark.run(config, progress):
            schema.check_row(benchmark.name, row)  # a slip fails here, not after the work that follows it
            outcome.rows.append(row)
        meta["complete"] = True
    finally:
        outcome.wall_s, outcome.cpu_s, outcome.contention = (
            contention.elapsed(),
            contention.cpu_seconds(),
            contention.record(),
        )
        meta["phase"] = {"wall_s": outcome.wall_s, "cpu_s": outcome.cpu_s, **outcome.contention}
        if meta["complete"] and outcome.rows and benchmark.workload is not None:
            outcome.workload = benchmark.workload(outcome.rows)
        if outcome.rows:
            files = runs.write_run(benchmark.name, outcome.rows, meta, out)
            outcome.run_id = files.run_id
            announce(f"results: {files.csv} (+ .json provenance)")
    return outcome
