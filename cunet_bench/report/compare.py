"""What changed between two results folders (``bench compare BASE NEW``; the report's "your run
beside the reference"): per claim, the verdict before and after; per metric, the ratio NEW/BASE
with a 95% interval where both sides have repeats, flagged as a regression past its tolerance.

Tolerances (a regression needs the whole interval past them, in the worse direction):

* **times** (latency per forward pass, time per sample): 5% — the timing engine stops a run once
  its ratios are within ±3%, and the three reference runs of one configuration differ by ±2%
  between themselves, so a slowdown the interval puts beyond 5% is not run-to-run drift;
* **distances** (best FID / FD-classifier): 10% — the seed-to-seed spread of the reference run;
* **SSIM** (best over the chain): 0.01 — a third of the smallest difference between methods the
  paper's Table 2 reports;
* **exact counts** (parameters, MACs): any change is reported as "changed".

Times are compared only between runs on one machine fingerprint unless ``across_machines``. A
model one benchmark measured in BASE but not in NEW counts as a regression; models measured on
one side only and stopped runs (``complete: false``) are listed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cunet_bench.numbers import number
from cunet_bench.records import schema
from cunet_bench.report.markdown import Claim, code, markdown_table
from cunet_bench.report.results import Results
from cunet_bench.report.verdicts import REPLICATES, Interval, Seeds, seed_level_difference, seed_level_ratio

TIME_TOLERANCE = 0.05
DISTANCE_TOLERANCE = 0.10
SSIM_TOLERANCE = 0.01


@dataclass(frozen=True)
class Change:
    metric: str
    what: str
    base: float
    new: float
    change: Interval | None
    """NEW/BASE (ratios) or NEW − BASE (SSIM), with its interval where both sides have repeats."""
    status: str
    """unchanged / better / worse (not past the tolerance) / regression / changed (exact counts)."""

    def row(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "what": self.what,
            "base": number(self.base),
            "new": number(self.new),
            "change [95% CI]": self.change.text() if self.change else "—",
            "status": self.status,
        }


def _status(change: Interval, worse_if_higher: bool, tolerance: float, neutral: float) -> str:
    low, high = (change.low, change.high) if worse_if_higher else (-change.high, -change.low)
    neutral = neutral if worse_if_higher else -neutral
    if low > neutral + tolerance:
        return "regression"
    if high < neutral:
        return "better"
    if low > neutral:
        return "worse (within tolerance)"
    return "unchanged"


def _median_ratio(new: np.ndarray, base: np.ndarray, seed: int = 0) -> Interval:
    """Ratio of medians of two independent sets of timings, with a bootstrap of both sides."""
    rng = np.random.default_rng(seed)
    draws = np.median(rng.choice(new, (REPLICATES, len(new))), axis=1) / np.median(
        rng.choice(base, (REPLICATES, len(base))), axis=1
    )
    return Interval(float(np.median(new) / np.median(base)), *map(float, np.percentile(draws, [2.5, 97.5])))


def _fingerprint(results: Results, bench: str, runs: pd.Series) -> set[str]:
    return {str(results.meta(bench, run).get("machine_fingerprint")) for run in runs.unique()}


def timing_changes(base: Results, new: Results, across_machines: bool) -> list[Change]:
    changes = []
    for bench, kind, metric, column, keys in (
        ("efficiency", "timing", "latency_s", "value", ["model", "variant", "batch"]),
        ("fid", "sample_time", None, "seconds_per_sample", ["model"]),
    ):
        frames = []
        for results in (base, new):
            rows = results.runs(bench)
            rows = rows[(rows.kind == kind) & ~rows.contended.fillna(False).astype(bool)]
            frames.append(rows[rows.metric == metric] if metric else rows)
        if any(frame.empty for frame in frames):
            continue
        if not across_machines and _fingerprint(base, bench, frames[0].run_id) != _fingerprint(
            new, bench, frames[1].run_id
        ):
            continue
        for key, new_rows in frames[1].groupby(keys, sort=True):
            key = key if isinstance(key, tuple) else (key,)
            base_rows = frames[0][(frames[0][keys] == pd.Series(key, index=keys)).all(axis=1)]
            if base_rows.empty:
                continue
            change = _median_ratio(new_rows[column].to_numpy(float), base_rows[column].to_numpy(float))
            changes.append(
                Change(
                    metric or "seconds_per_sample",
                    " ".join(str(k) for k in key),
                    float(base_rows[column].median()),
                    float(new_rows[column].median()),
                    change,
                    _status(change, True, TIME_TOLERANCE, 1.0),
                )
            )
    return changes


def count_changes(base: Results, new: Results) -> list[Change]:
    changes = []
    counts = [r.runs("efficiency")[r.runs("efficiency").kind == "count"] for r in (base, new)]
    for (model, metric, resolution), rows in counts[1].groupby(["model", "metric", "resolution"], sort=True):
        before = counts[0][
            (counts[0].model == model) & (counts[0].metric == metric) & (counts[0].resolution == resolution)
        ]
        if before.empty:
            continue
        old, now = float(before.value.iloc[-1]), float(rows.value.iloc[-1])
        changes.append(
            Change(
                metric,
                f"{model} @ {int(resolution)}px",
                old,
                now,
                None,
                "unchanged" if np.isclose(old, now, rtol=1e-9) else "changed",
            )
        )
    return changes


def quality_changes(base: Results, new: Results) -> list[Change]:
    changes = []
    best = [r.runs("fid")[r.runs("fid").kind == "best"] for r in (base, new)]
    for model, rows in best[1].groupby("model", sort=True):
        before = best[0][best[0].model == model]
        if before.empty:
            continue
        change = seed_level_ratio(rows.distance.to_numpy(float), before.distance.to_numpy(float))
        changes.append(
            Change(
                str(rows.distance_name.iloc[0]),
                f"best, {model}",
                float(before.distance.mean()),
                float(rows.distance.mean()),
                change,
                _status(change, True, DISTANCE_TOLERANCE, 1.0),
            )
        )
    images = [r.runs("denoise") for r in (base, new)]
    images = [
        frame[(frame.kind == "image") & (frame.metric == "ssim") & (frame.target.isin(["iterate", "output"]))]
        for frame in images
    ]
    for (method, level), rows in images[1].groupby(["method", "noise_step"], sort=True):
        before = images[0][(images[0].method == method) & (images[0].noise_step == level)]
        sides = [_seeds(part) for part in (rows, before)]
        if before.empty or len(sides[0].values[0]) != len(sides[1].values[0]):
            continue
        change = seed_level_difference(*sides)
        changes.append(
            Change(
                "best SSIM",
                f"{method} @ {int(level)}",
                float(before["mean"].mean()),
                float(rows["mean"].mean()),
                change,
                _status(change, False, SSIM_TOLERANCE, 0.0),
            )
        )
    return changes


def _seeds(rows: pd.DataFrame) -> Seeds:
    groups = [part.sort_values("image")["mean"].to_numpy(float) for _, part in rows.groupby(rows.train_seed.fillna(-1))]
    return Seeds(groups, trained=rows.train_seed.notna().any())


@dataclass
class Comparison:
    verdicts: list[dict[str, Any]]
    metrics: list[Change]
    one_side: list[dict[str, Any]] = field(default_factory=list)
    """Models measured by a benchmark on one side only."""
    stopped: list[dict[str, Any]] = field(default_factory=list)
    """Runs that were stopped before they finished (``complete: false``), on either side."""

    @property
    def verdict_changes(self) -> int:
        return sum(row["change"] == "differs" for row in self.verdicts)

    @property
    def regressions(self) -> int:
        """Metrics past their tolerance, and models that vanished from NEW (nothing left to compare
        is the largest regression)."""
        return sum(change.status == "regression" for change in self.metrics) + sum(
            row["only in"] == "BASE" for row in self.one_side
        )

    def markdown(self, base: str, new: str) -> str:
        return "\n\n".join(
            [
                f"## bench compare {code(base)} → {code(new)}",
                f"{self.verdict_changes} verdict(s) changed, {self.regressions} regression(s), "
                f"{len(self.stopped)} stopped run(s).",
                "### Verdicts",
                markdown_table(self.verdicts),
                "### Metrics (NEW/BASE; SSIM: NEW − BASE)",
                markdown_table([c.row() for c in self.metrics]),
                "### Models measured on one side only",
                markdown_table(self.one_side),
                "### Stopped runs (compared as recorded)",
                markdown_table(self.stopped),
            ]
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "verdict_changes": self.verdict_changes,
            "regressions": self.regressions,
            "verdicts": self.verdicts,
            "one_side": self.one_side,
            "stopped": self.stopped,
            "metrics": [
                {
                    **change.row(),
                    "base": change.base,
                    "new": change.new,
                    "estimate": change.change.estimate if change.change else None,
                    "low": change.change.low if change.change else None,
                    "high": change.change.high if change.change else None,
                }
                for change in self.metrics
            ],
        }


def verdict_rows(base: list[Claim], new: list[Claim]) -> list[dict[str, Any]]:
    """Per claim (by title), the verdict in both runs and whether they agree."""
    before = {claim.claim: claim for claim in base}
    rows = []
    for claim in new:
        old = before.get(claim.claim)
        rows.append(
            {
                "claim": claim.claim,
                "base": old.shown_verdict if old else "—",
                "new": claim.shown_verdict,
                "change": "agrees" if old and old.verdict == claim.verdict else "differs",
            }
        )
    return rows


def one_side_only(base: Results, new: Results) -> list[dict[str, Any]]:
    """Per benchmark, the models (or denoising methods) that only one side measured."""
    rows = []
    for bench in schema.BENCHES:
        names = []
        for results in (base, new):
            frame = results.runs(bench)
            column = "model" if "model" in frame else "method" if "method" in frame else None
            names.append(set(frame[column].dropna().astype(str)) if column else set())
        for side, mine, other in (("BASE", names[0], names[1]), ("NEW", names[1], names[0])):
            rows += [{"benchmark": bench, "model": name, "only in": side} for name in sorted(mine - other)]
    return rows


def stopped_runs(base: Results, new: Results) -> list[dict[str, Any]]:
    return [
        {"side": side, "benchmark": bench, "run": run_id}
        for side, results in (("BASE", base), ("NEW", new))
        for bench in schema.BENCHES
        for run_id, meta in sorted(results.provenance(bench).items())
        if meta.get("complete") is False
    ]


def compare(
    base: Results, base_claims: list[Claim], new: Results, new_claims: list[Claim], across_machines: bool = False
) -> Comparison:
    return Comparison(
        verdict_rows(base_claims, new_claims),
        count_changes(base, new) + timing_changes(base, new, across_machines) + quality_changes(base, new),
        one_side_only(base, new),
        stopped_runs(base, new),
    )
