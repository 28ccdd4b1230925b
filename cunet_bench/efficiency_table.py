"""Tables built from efficiency rows: one wide line per model, and the paper beside ours."""

from __future__ import annotations

from typing import Any, Iterable

from cunet_bench.paper import paper_values

RELEASED_SOLVER = "rk4/1"
PAPER_METRICS = {
    "parameters": "Figure 6",
    "gmacs_conv_linear": "Table 5",
    "static_training_mib": "Table 5",
}


def _lookup(rows: list[dict[str, Any]], model: str, resolution: Any, metric: str, **match: Any) -> Any:
    for row in rows:
        if row["model"] == model and row["resolution"] == resolution and row["metric"] == metric and all(
            row.get(key) == value for key, value in match.items()
        ):
            return row["value"]
    return None


def summary_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per model and resolution with the headline measurements."""
    rows = list(rows)
    keys = list(dict.fromkeys((r["model"], r["resolution"]) for r in rows if r["model"] != "machine"))
    batches = sorted({r["batch"] for r in rows if r["metric"] == "latency_median_s"})
    steps = sorted({r["steps"] for r in rows if r["metric"] == "sample_time_s"})
    table = []
    for model, resolution in keys:
        line: dict[str, Any] = {
            "model": model,
            "px": resolution,
            "params": _lookup(rows, model, resolution, "parameters"),
            "GMAC conv+lin": _lookup(rows, model, resolution, "gmacs_conv_linear"),
            "GMAC total": _lookup(rows, model, resolution, "gmacs_fvcore_total"),
            "GFLOP run": _lookup(rows, model, resolution, "gflops_executed"),
            "NFE": _lookup(rows, model, resolution, "nfe"),
            "static MiB": _lookup(rows, model, resolution, "static_training_mib"),
            "peak inf MiB": _lookup(rows, model, resolution, "peak_inference_mib"),
            "peak train MiB": _lookup(rows, model, resolution, "peak_train_mib"),
        }
        for batch in batches:
            latency = _lookup(rows, model, resolution, "latency_median_s", batch=batch)
            line[f"ms b={batch}"] = None if latency is None else latency * 1e3
        for count in steps:
            line[f"s/{count} steps"] = _lookup(rows, model, resolution, "sample_time_s", steps=count)
        table.append(line)
    return table


def comparison_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The paper's Table 5 / Figure 6 values beside the measured ones at 64×64 with the released
    solver (rk4, one step per block), with the ratio."""
    rows = list(rows)
    paper = paper_values()
    table = []
    for row in rows:
        source = PAPER_METRICS.get(row["metric"])
        if source is None or row["resolution"] != 64 or row.get("solver") not in (None, RELEASED_SOLVER):
            continue
        match = paper[(paper.source == source) & (paper.model == row["model"]) & (paper.metric == row["metric"])]
        if match.empty:
            continue
        value = float(match.value.iloc[0])
        table.append({
            "source": source,
            "paper row": match.paper_row.iloc[0],
            "model": row["model"],
            "metric": row["metric"],
            "paper": value,
            "measured": row["value"],
            "measured / paper": row["value"] / value,
        })
    return table
