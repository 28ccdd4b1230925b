"""``bench verify``: the committed quality rows re-derived from the shipped weights on this machine.

Every complete ``bench fid`` and ``bench denoise`` run of the committed results folder that was
measured from shipped weights (its recorded configuration names a weights folder) is run again
with the configuration it recorded, from the shipped weights here and with fresh caches, and each
of its rows is compared with the committed row of the same key (the schema's key of the row's
kind). The shipped files must be the very files the committed run read (their SHA-256).

What is compared is what a row measured, never how the run went on its machine: times, loads,
threads and cache counts are left out (:data:`MACHINE_BOUND`), and so are the kinds that are
timings alone. On the committed run's machine class (the fingerprint of CPU, its extensions,
PyTorch's kernels and the threads) every number must be equal: sampling, noising and bootstraps
are seeded, and the kernels sum in one order. On another machine class the last bits of each sum
differ and long sampling chains carry them on, so a number is accepted within :data:`TOLERANCES`
(docs/protocol.md §8, with the departure a change of thread count was measured to leave)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cunet_bench.errors import UserError
from cunet_bench.records import runs, schema
from cunet_bench.records.shipped import verified

REPLAYED = ("fid", "denoise")
"""The benchmarks whose rows ``bench verify`` re-derives: sample quality and denoising."""
TIMING_KINDS = frozenset({("fid", "sample_time"), ("denoise", "chain"), ("denoise", "speedup"), ("denoise", "meta")})
"""Row kinds that record how long something took on the machine, nothing else."""
LEFT_OUT_KINDS = frozenset({("denoise", "grid")})
"""Row kinds that name a file of the run (its run id is in the name)."""
MACHINE_BOUND = frozenset(
    {
        "run_id",
        "kind",
        "generation_device",
        "shards_generated",
        "sampling_evaluations_per_s",
        "raw_evaluations_per_s",
        "throughput_ratio",
        "load_before",
        "load_after",
        "other_cores",
        "contended",
        "warmup_calls",
        "clock",
        "threads",
        "rounds",
        "stopped_by",
        "round",
        "workers",
    }
)
"""Columns that describe the machine or the run's caches, not the measurement."""
IDENTITY = ("model", "method", "train_seed", "solver", "noise_step", "pixel_noise", "target", "metric")
"""The columns that name a row of a kind the schema gives no key."""


@dataclass(frozen=True)
class Tolerance:
    """A number agrees when ``|new − committed| ≤ absolute + relative·|committed|``."""

    absolute: float
    relative: float

    def holds(self, committed: float, new: float) -> bool:
        return abs(new - committed) <= self.absolute + self.relative * abs(committed)

    def text(self) -> str:
        relative = f" + {self.relative:.0%} of it" if self.relative else ""
        return f"allowed: ±{self.absolute:g}{relative}"

    def used(self, committed: float, new: float) -> float:
        """The share of the allowance a departure takes (above 1: outside; inf for any departure from exact)."""
        allowance = self.absolute + self.relative * abs(committed)
        departure = abs(new - committed)
        return departure / allowance if allowance > 0 else (math.inf if departure else 0.0)


EXACT = Tolerance(0.0, 0.0)
TOLERANCES: dict[str, Tolerance] = {
    "ssim": Tolerance(0.005, 0.0),
    "fraction": Tolerance(0.02, 0.0),
    "step": Tolerance(2.0, 0.1),
    "count": EXACT,
    "other": Tolerance(1e-3, 0.05),
}
"""Across machine classes, by what a column holds (:func:`tolerance_of`): SSIM and fractions within
an absolute margin; the step at which a chain's score peaks within 2 steps and 10%; other counts
exactly; distances, scores and PSNR within 5% (with a floor for values near zero)."""
FRACTIONS = frozenset({"confident_fraction", "class_entropy", "sigma01", "sigma01_ho_linear", "metric_fraction"})
STEPS = frozenset({"best_step", "best_step_mean"})


def tolerance_of(column: str, metric: Any, is_integer: bool, exact: bool) -> Tolerance:
    """The tolerance of one number: exact on the committed run's machine class; otherwise by what it holds."""
    if exact:
        return EXACT
    if column == "ssim_final" or (column in ("mean", "std") and metric == "ssim"):
        return TOLERANCES["ssim"]
    if column in FRACTIONS:
        return TOLERANCES["fraction"]
    if column in STEPS:
        return TOLERANCES["step"]
    return TOLERANCES["count"] if is_integer else TOLERANCES["other"]


@dataclass(frozen=True)
class CommittedRun:
    """A committed run measured from shipped weights, as its provenance recorded it."""

    bench: str
    run_id: str
    rows: pd.DataFrame
    provenance: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.bench} run {self.run_id}"


def committed_runs(results: Path) -> list[CommittedRun]:
    """The complete runs under ``results`` that were measured from shipped weights; none is one line."""
    found = []
    for bench in REPLAYED:
        loaded = runs.load_results(bench, results)
        for run_id, meta in loaded.provenance.items():
            config = meta.get("config")
            if meta.get("complete") is True and isinstance(config, dict) and config.get("weights"):
                found.append(CommittedRun(bench, run_id, loaded.frame[loaded.frame.run_id == run_id], meta))
    if not found:
        raise UserError(f"{results} holds no complete fid or denoise run measured from shipped weights (--weights)")
    return found


def recorded_minutes(run: CommittedRun) -> float | None:
    """How long the committed run took where it ran (its provenance's phase), or None if not recorded."""
    phase = run.provenance.get("phase")
    wall = phase.get("wall_s") if isinstance(phase, dict) else None
    if isinstance(wall, (int, float)) and not isinstance(wall, bool) and math.isfinite(wall) and wall >= 0:
        return wall / 60
    return None


def minutes_text(minutes: float | None) -> str:
    if minutes is None:
        return "an unrecorded time"
    return f"{minutes:.1f} min" if minutes < 10 else f"{minutes:,.0f} min"


def within_budget(found: list[CommittedRun], minutes: float | None) -> tuple[list[CommittedRun], list[CommittedRun]]:
    """The runs to re-derive — in order, while the time they recorded stays within ``minutes`` (all
    when None) — and those left out: a large final evaluation is re-derived only when asked."""
    chosen, left, spent = [], [], 0.0
    for run in found:
        took = recorded_minutes(run)
        if minutes is None or (took is not None and spent + took <= minutes):
            chosen.append(run)
            spent += took or 0.0
        else:
            left.append(run)
    if not chosen:
        shortest = min((m for run in found if (m := recorded_minutes(run)) is not None), default=None)
        took = f"the shortest took {minutes_text(shortest)} where it was recorded"
        raise UserError(f"no committed run fits --budget-minutes {minutes:g} ({took}); raise it, or give --all")
    return chosen, left


def check_same_weights(run: CommittedRun, weights: Path) -> None:
    """Refuse to compare a run with weights other than those it read: every file it read must be
    a shipped file of ``weights`` with the digest it recorded."""
    shipped = {entry.file: entry.sha256 for entry, _ in verified(weights)}
    inputs = run.provenance.get("inputs")
    if not isinstance(inputs, dict) or not inputs:
        raise UserError(f"{run.label} does not record the files it read; it cannot be verified")
    for path, digest in inputs.items():
        name = Path(str(path)).name
        if name not in shipped:
            raise UserError(f"{run.label} read {name}, which {weights} does not ship")
        if shipped[name] != digest:
            raise UserError(f"{run.label} read another {name} than {weights} ships (SHA-256 differs)")


@dataclass(frozen=True)
class Difference:
    """One number (or one row) the replay did not reproduce."""

    run: str
    kind: str
    row: str
    column: str
    committed: Any
    new: Any
    allowed: str

    def line(self) -> str:
        return f"{self.run}: {self.kind} row {self.row}: {self.column} {self.committed} → {self.new} ({self.allowed})"


@dataclass
class Comparison:
    """What one replay reproduced: the numbers compared, how many of them were not bit-equal, and
    those outside what was allowed."""

    compared: int = 0
    inexact: int = 0
    most_used: float = 0.0
    """The largest share of the cross-machine tolerance a number's departure took (how close the
    replay came to failing, were it judged by the tolerances)."""
    differing: list[Difference] = field(default_factory=list)


def differences(run: CommittedRun, new: pd.DataFrame, exact: bool) -> Comparison:
    """The numbers compared and those that differ, kind by kind, rows matched by their key."""
    comparison = Comparison()
    for kind in schema.KINDS:
        if kind.bench != run.bench or (kind.bench, kind.name) in TIMING_KINDS | LEFT_OUT_KINDS:
            continue
        old_rows, new_rows = run.rows[run.rows.kind == kind.name], new[new.kind == kind.name]
        key = kind.key or tuple(name for name in IDENTITY if name in kind.names)
        old_keyed, new_keyed = _keyed(old_rows, key), _keyed(new_rows, key)
        for name in sorted(set(old_keyed) ^ set(new_keyed)):
            side = ("committed", "absent") if name in old_keyed else ("absent", "measured")
            comparison.differing.append(
                Difference(run.label, kind.name, name, "the row", *side, "present on both sides")
            )
        for name in sorted(set(old_keyed) & set(new_keyed)):
            _compare_row(comparison, run, kind, name, (old_keyed[name], new_keyed[name]), key, exact)
    return comparison


def _keyed(rows: pd.DataFrame, key: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    keyed = {}
    for record in rows.to_dict("records"):
        keyed[", ".join(f"{name} {_shown(record.get(name))}" for name in key) or "(one row)"] = record
    return keyed


def _compare_row(
    comparison: Comparison,
    run: CommittedRun,
    kind: schema.RowKind,
    name: str,
    rows: tuple[dict[str, Any], dict[str, Any]],
    key: tuple[str, ...],
    exact: bool,
) -> None:
    old, new = rows
    for column in kind.columns:
        if column.name in key or column.name in MACHINE_BOUND or column.unit == "s":
            continue
        a, b = old.get(column.name), new.get(column.name)
        if _missing(a) and _missing(b):
            continue
        comparison.compared += 1
        numeric = column.type in ("int", "float")
        if numeric and not (_missing(a) or _missing(b)):
            comparison.inexact += float(a) != float(b)
            loose = tolerance_of(column.name, old.get("metric"), column.type == "int", exact=False)
            comparison.most_used = max(comparison.most_used, loose.used(float(a), float(b)))
            tolerance = tolerance_of(column.name, old.get("metric"), column.type == "int", exact)
            if tolerance.holds(float(a), float(b)):
                continue
            allowed = "equal on this machine class" if exact else tolerance.text()
        elif a == b:
            continue
        else:
            allowed = "equal"
        comparison.differing.append(Difference(run.label, kind.name, name, column.name, _shown(a), _shown(b), allowed))


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _shown(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
