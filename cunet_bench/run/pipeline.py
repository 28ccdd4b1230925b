"""``bench all``: the whole pipeline for a preset as benchmark steps with resolved configurations
— efficiency at the preset's size, training of the quality backbones and the learned Table 4
baselines (once per training seed), samples, denoising, FID — followed by the report, and a
phase table of where the time went.

A step is skipped when its work is already done (:func:`cunet_bench.run.runner.is_done`): training
when the checkpoint holds the configured steps of the same options; every other step when a
complete run with the same done key (resolved configuration, host and machine fingerprint,
contents of the checkpoints read) is recorded in the *user's own* results folder. The committed
reference run lives apart (``reference/``) and is never consulted, so a fresh clone measures
every step on its own machine. Training resumes an unfinished checkpoint and FID reuses its
sample shards, so an interrupted ``bench all`` continues where it stopped. Consecutive training
steps may run side by side in processes of their own (:mod:`cunet_bench.run.side_by_side`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from cunet_bench.benchmarks import BENCHMARKS, Benchmark, Plan, Row, load
from cunet_bench.config.presets import Preset
from cunet_bench.records import provenance, runs
from cunet_bench.run.runner import Outcome, completed_run, is_done

PHASES = "all"
"""The results folder (and schema bench) of the phase tables ``bench all`` records."""


@dataclass(frozen=True)
class Step:
    label: str
    benchmark: Benchmark
    config: Any


def plan(
    preset: Preset,
    results: Path,
    checkpoints: Path,
    seed: int,
    device: str,
    added: tuple[str, ...] = (),
    weights: Path | None = None,
) -> list[Step]:
    """The steps of ``bench all``: every registered benchmark's plan, in the registry's order.
    ``seed`` seeds the measurements (noise, samples); checkpoints, sample shards and caches go to
    ``checkpoints``, grids and samples under ``results``; ``added`` models join every step that
    measures their kind of model; what ``weights`` ships is measured from there, not trained."""
    context = Plan(preset, results, checkpoints, seed, device, added, weights)
    benchmarks = [load(entry) for entry in BENCHMARKS]
    return [
        Step(label, benchmark, config)
        for benchmark in benchmarks
        if benchmark.plan is not None
        for label, config in benchmark.plan(context)
    ]


ExecuteStep = Callable[[Step, dict[str, Any]], Outcome]
"""Runs one step and records it (the caller's runner, with its progress display); receives the
step and the invocation record that ties the step's results to this ``bench all`` run."""
ExecuteTogether = Callable[[list[Step], dict[str, Any]], list[Outcome]]
"""Runs several training steps side by side (:mod:`cunet_bench.run.side_by_side`); their outcomes in order."""


def run_steps(
    steps: list[Step],
    results: Path,
    preset: str,
    execute_step: ExecuteStep,
    announce: Callable[[str], None] = lambda _: None,
    execute_together: ExecuteTogether | None = None,
    processes: int = 1,
    *,
    threads: int,
) -> list[Row]:
    """Run every step that is not already done, in order — consecutive training steps side by
    side in ``processes`` processes when ``execute_together`` is given — then record the phase
    table (one row per step: wall and CPU time, what it processed, the achieved GFLOP/s against
    the machine's measured peak, whether the machine was busy) as a run of its own; returns it.
    ``threads``: what the pipeline computes with (the steps' configurations name the same)."""
    invocation_id = runs.new_run_id()
    phases: list[Row] = []
    started = time.perf_counter()
    peak = None
    pending = [(number, step) for number, step in enumerate(steps, 1)]
    while pending:
        number, step = pending.pop(0)
        if is_done(step.benchmark, step.config, results):
            announce(f"[{number}/{len(steps)}] {step.label}: already done in {results}, skipped")
            phases.append(
                {"kind": "phase", "step": step.label, "bench": step.benchmark.name, "status": "skipped", "wall_s": 0.0}
            )
            peak = peak or _recorded_peak(step, results)
            continue
        invocation = {"id": invocation_id, "preset": preset}
        group = [(number, step)]
        while (
            execute_together is not None
            and step.benchmark.side_by_side
            and pending
            and pending[0][1].benchmark is step.benchmark
            and not is_done(step.benchmark, pending[0][1].config, results)
        ):
            group.append(pending.pop(0))
        if len(group) > 1:
            announce(
                f"[{group[0][0]}-{group[-1][0]}/{len(steps)}] {len(group)} {step.benchmark.name} runs, "
                f"{processes} side by "
                f"side ({time.perf_counter() - started:.0f} s so far)"
            )
            outcomes = execute_together([member for _, member in group], invocation)
            shared = max(1, threads // processes)
            phases += [
                phase_row(member, outcome, peak, shared, processes) for (_, member), outcome in zip(group, outcomes)
            ]
            continue
        announce(f"[{number}/{len(steps)}] {step.label} ({time.perf_counter() - started:.0f} s so far)")
        outcome = execute_step(step, {**invocation, "step": step.label})
        peak = peak or _peak(outcome.rows)
        phases.append(phase_row(step, outcome, peak, threads))
    meta = provenance.collect(
        bench=PHASES,
        preset=preset,
        threads=threads,
        extra={
            "invocation": {"id": invocation_id, "preset": preset},
            "complete": True,
            "elapsed_s": time.perf_counter() - started,
        },
    )
    files = runs.write_run(PHASES, phases, meta, results)
    announce(f"phase table: {files.csv}")
    return phases


def phase_row(step: Step, outcome: Outcome, peak: float | None, threads: int, processes: int = 1) -> Row:
    """Where one step's time went (``schema`` kind ``all``/``phase``) on its ``threads``;
    ``processes``: how many steps ran side by side with it (their threads split the cores)."""
    row: Row = {
        "kind": "phase",
        "step": step.label,
        "bench": step.benchmark.name,
        "status": "ran",
        "wall_s": outcome.wall_s,
        "cpu_s": outcome.cpu_s,
        "threads": threads,
        "processes": processes,
        **outcome.contention,
    }
    work = outcome.workload
    if work is not None:
        row.update(items=work.items, item=work.item, items_per_s=work.items / max(outcome.wall_s, 1e-9))
        if work.gflop is not None:
            row.update(gflop=work.gflop, gflops=work.gflop / max(outcome.wall_s, 1e-9))
            if peak:
                row["fraction_of_peak"] = row["gflops"] / peak
    return row


def _peak(rows: list[Row]) -> float | None:
    """The machine's measured matmul peak, from an efficiency run's rows."""
    values = [
        row["value"] for row in rows if row.get("kind") == "machine" and row.get("metric") == "peak_gflops_matmul"
    ]
    return max(values) if values else None


def _recorded_peak(step: Step, results: Path) -> float | None:
    run_id = completed_run(step.benchmark, step.config, results)
    frame = runs.load_runs(step.benchmark.name, results) if run_id else None
    if frame is None or frame.empty:
        return None
    return _peak(frame[frame.run_id == run_id].to_dict("records"))
