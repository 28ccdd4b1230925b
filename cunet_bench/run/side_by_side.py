"""Training seeds side by side: ``bench all`` runs its pending training steps as separate
processes, two at a time with one thread each, instead of one after another with two threads.

Why: small convolutions scale poorly across threads; two 1-thread processes train about a
quarter more images per second than one 2-thread process (docs/measurements.md §2). Each process trains
exactly as ``bench train --threads 1`` would (training is deterministic for a configuration and
a thread layout; the layout is in every run's provenance).

A step runs in the hidden command ``bench run-step JOB``: the job file names the configuration
(checked field by field on the way back in), the results folder, the preset and the ``bench
all`` invocation; the worker records its rows as any command does and writes its outcome beside
the job. A stop signal reaches the workers (each records what it measured and stops at the end
of its current optimizer step); a failed worker stops new ones from starting, the running ones
finish, and ``bench all`` then says which step failed (a rerun resumes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cunet_bench.benchmarks import PLAIN_PROGRESS, Workload
from cunet_bench.config.resolve import as_record
from cunet_bench.errors import UserError
from cunet_bench.files import bounded_json, check_creatable, create_file, read_regular_text
from cunet_bench.run.runner import Outcome

POLL_S = 0.5
STOP_WAIT_S = 300.0
"""How long stopped workers get to finish their optimizer step and record what they measured."""


@dataclass(frozen=True)
class Job:
    """One step for a worker process: ``bench`` names the registered benchmark it runs."""

    label: str
    config: Any
    out: Path
    preset: str
    invocation: dict[str, Any]
    bench: str

    def write(self, path: Path) -> None:
        create_file(
            path,
            json.dumps(
                {
                    "label": self.label,
                    "config": as_record(self.config),
                    "out": str(self.out),
                    "preset": self.preset,
                    "invocation": self.invocation,
                    "bench": self.bench,
                }
            ).encode(),
        )


def read_job(path: Path) -> dict[str, Any]:
    """A job file, checked: what a worker is asked to run."""
    try:
        job = bounded_json(read_regular_text(path), "job file")
    except (OSError, ValueError) as error:
        raise UserError(f"job file {path}: {error}") from None
    expected = {"label": str, "config": dict, "out": str, "preset": str, "invocation": dict, "bench": str}
    if not isinstance(job, dict) or any(not isinstance(job.get(key), kind) for key, kind in expected.items()):
        raise UserError(f"job file {path} is not a bench all job")
    return job


def outcome_path(job: Path) -> Path:
    return job.with_suffix(".outcome.json")


def check_outcome_path(job: Path) -> None:
    """Refuse, before the step runs, an outcome path that holds anything (the outcome is a new file)."""
    check_creatable(outcome_path(job), what="the job's outcome")


def write_outcome(job: Path, outcome: Outcome) -> None:
    """What the parent needs of a worker's run (its rows are recorded in the results folder)."""
    work = outcome.workload
    create_file(
        outcome_path(job),
        json.dumps(
            {
                "run_id": outcome.run_id,
                "wall_s": outcome.wall_s,
                "cpu_s": outcome.cpu_s,
                "contention": outcome.contention,
                "workload": None if work is None else {"items": work.items, "item": work.item, "gflop": work.gflop},
            }
        ).encode(),
    )


def _read_outcome(job: Path, label: str) -> Outcome:
    try:
        record = bounded_json(read_regular_text(outcome_path(job)), f"the outcome of {label}")
        work = record["workload"]
        return Outcome(
            [],
            record["run_id"],
            float(record["wall_s"]),
            float(record["cpu_s"]),
            dict(record["contention"]),
            None
            if work is None
            else Workload(
                int(work["items"]), str(work["item"]), None if work["gflop"] is None else float(work["gflop"])
            ),
        )
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise UserError(f"{label}: its worker left no readable outcome ({error})") from None


def _start(job: Job, folder: Path, number: int) -> tuple[subprocess.Popen, Path]:
    path = folder / f"job{number}.json"
    job.write(path)
    command = [sys.executable, "-m", "cunet_bench.cli", "run-step", str(path)]
    return subprocess.Popen(command, env={**os.environ, PLAIN_PROGRESS: "1"}), path


def run_side_by_side(jobs: list[Job], workers: int) -> list[Outcome]:
    """Run ``jobs`` in at most ``workers`` processes at once, each on the threads its configuration
    names (``config.threads``); returns
    their outcomes in order. Raises :class:`UserError` naming a step that failed, after the
    others finished; a stop signal is passed on to the workers, which record what they measured."""
    outcomes: dict[int, Outcome] = {}
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="cunet-bench-jobs-") as scratch:
        pending = list(enumerate(jobs))
        running: dict[int, tuple[subprocess.Popen, Path]] = {}
        try:
            while pending or running:
                while pending and len(running) < workers and not failed:
                    number, job = pending.pop(0)
                    running[number] = _start(job, Path(scratch), number)
                for number, (process, path) in list(running.items()):
                    if process.poll() is None:
                        continue
                    del running[number]
                    if process.returncode == 0:
                        outcomes[number] = _read_outcome(path, jobs[number].label)
                    else:
                        failed.append(f"{jobs[number].label} (exit {process.returncode})")
                if failed and not running:
                    break
                time.sleep(POLL_S)
        finally:
            _stop(process for process, _ in running.values())
    if failed:
        raise UserError(
            f"{', '.join(failed)} failed (its message is above); the other steps' work is kept, "
            "rerun bench all to resume"
        )
    return [outcomes[number] for number in range(len(jobs))]


def _stop(processes: Any) -> None:
    """Pass a stop on to the workers still running and wait for them to record what they measured."""
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            process.kill()
