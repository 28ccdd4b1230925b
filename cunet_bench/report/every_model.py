"""Every model a run measured — the paper's, the harness's other built-ins and yours (a plugin's) —
in the efficiency and speed sections, each marked by its role, with ratios against the baseline
(``bench report --baseline NAME``; the paper's U-Net by default). These tables decide nothing: the
paper's claim rows read only the paper's models, by their tags, so a model of yours never changes
a verdict about the paper."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cunet_bench.report.markdown import markdown_table
from cunet_bench.report.results import Results, role, value
from cunet_bench.report.verdicts import time_ratio

EAGER = "eager"
"""The variant every model is timed in (the compiled variants are the pair's study)."""


def _models(rows: pd.DataFrame, column: str = "model") -> list[str]:
    return list(dict.fromkeys(rows[column].dropna().astype(str)))


def _ratio(mine: float | None, baseline: float | None) -> float | None:
    return mine / baseline if mine is not None and baseline else None


def _latest(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of the newest run of ``frame`` (run ids sort by their time)."""
    return frame[frame.run_id == max(frame.run_id)] if len(frame) else frame


def efficiency_table(results: Results) -> tuple[list[str], str | None]:
    """The latest efficiency run's counts and memory for every model it measured; its Markdown
    blocks and run id (none without a run)."""
    efficiency = results.runs("efficiency")
    counted = _latest(efficiency[efficiency.kind == "count"])
    if counted.empty:
        return [], None
    run_id = str(counted.run_id.iloc[0])
    rows = efficiency[efficiency.run_id == run_id]
    baseline = results.baseline_of(counted)
    memory = rows[(rows.kind == "memory") & (rows.metric == "peak_train_mib")]
    batch = int(memory.batch.max()) if len(memory) else None
    table = []
    for resolution in sorted(counted.resolution.dropna().unique()):
        at = rows[rows.resolution == resolution]
        measured = {
            model: {
                "parameters": value(at[at.kind == "count"], model, "parameters"),
                "GMAC": value(at[at.kind == "count"], model, "gmacs_conv_linear"),
                "peak": value(at[at.kind == "memory"], model, "peak_train_mib", batch=batch) if batch else None,
            }
            for model in _models(at[at.kind == "count"])
        }
        for model, numbers in measured.items():
            base = measured.get(baseline or "", {})
            table.append(
                {
                    "model": model,
                    "role": role(rows, model),
                    "px": int(resolution),
                    "parameters": numbers["parameters"],
                    f"× {baseline}": _ratio(numbers["parameters"], base.get("parameters")),
                    "GMAC (conv & linear)": numbers["GMAC"],
                    f"GMAC × {baseline}": _ratio(numbers["GMAC"], base.get("GMAC")),
                    f"peak training MiB (batch {batch})": numbers["peak"],
                    f"memory × {baseline}": _ratio(numbers["peak"], base.get("peak")),
                }
            )
    return [
        f"Every model this run measured, by role (paper, built-in, yours), with ratios to **{baseline}** "
        "(`--baseline` chooses it; these rows decide no claim of the paper):",
        markdown_table(table),
    ], run_id


def speed_table(results: Results) -> tuple[list[str], str | None]:
    """The latest efficiency run's eager forward latency for every model it timed, with the time
    ratio to the baseline taken within timing rounds; its Markdown blocks and run id."""
    efficiency = results.runs("efficiency")
    timed = _latest(
        efficiency[(efficiency.kind == "timing") & (efficiency.metric == "latency_s") & (efficiency.variant == EAGER)]
    )
    if timed.empty:
        return [], None
    baseline = results.baseline_of(timed)
    table = [
        _latency_entry(timed[(timed.batch == batch) & (timed.resolution == resolution)], model, baseline)
        for (resolution, batch), _ in timed.groupby(["resolution", "batch"])
        for model in _models(timed)
    ]
    busy = bool(timed.contended.fillna(False).astype(bool).any())
    return [
        f"Every model's forward latency in the same run, interleaved round by round, by role, with its time ratio "
        f"to **{baseline}**: the geometric mean of the per-round ratios with a 95% t-interval over the rounds "
        "(one run; the claims' pooled rule needs several)"
        + (". Timed while other processes used the CPU: read the ratios, not the milliseconds" if busy else "")
        + ":",
        markdown_table([entry for entry in table if entry]),
    ], str(timed.run_id.iloc[0])


def _latency_entry(at: pd.DataFrame, model: str, baseline: str | None) -> dict[str, Any]:
    mine = at[at.model == model].set_index("round")["value"]
    if mine.empty:
        return {}
    entry: dict[str, Any] = {
        "model": model,
        "role": role(at, model),
        "px": int(at.resolution.iloc[0]),
        "batch": int(at.batch.iloc[0]),
        "median ms": float(np.median(mine)) * 1e3,
    }
    if baseline is not None:
        reference = at[at.model == baseline].set_index("round")["value"]
        common = mine.index.intersection(reference.index)
        ratio = time_ratio([(mine[common] / reference[common]).to_numpy(dtype=float)]) if len(common) else None
        entry[f"time × {baseline} [95% CI]"] = ratio.text() if ratio is not None else "—"
    return entry
