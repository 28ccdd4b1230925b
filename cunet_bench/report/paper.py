"""The paper's published numbers, kept as data in ``paper_values.csv`` and keyed by the paper's own
name for each model (the ``paper_name`` every result row records from the registry), so every table
and every sentence of the report takes them from one place (docs/architecture.md, "Report")."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import pandas as pd

UNET, CUNET = "U-Net", "cU-Net"
"""What the paper calls its baseline and its model (the registry's ``paper-unet`` and ``paper-cunet``)."""
DATASETS = ("MNIST", "CelebA", "LSUN Church")


@lru_cache(maxsize=1)
def paper_values() -> pd.DataFrame:
    with resources.files("cunet_bench.report").joinpath("paper_values.csv").open() as handle:
        return pd.read_csv(handle, dtype={"condition": str}, keep_default_na=False)


def paper_value(source: str, paper_name: str, metric: str, condition: str | int = "") -> float | None:
    """The value the paper (or its released notebook) gives for a model (by the paper's name for
    it) and metric, under ``condition`` (a noise step, a dataset), or None."""
    table = paper_values()
    match = table[
        (table.source == source)
        & (table.paper_name == paper_name)
        & (table.metric == metric)
        & (table.condition == str(condition))
    ]
    return float(match.value.iloc[0]) if len(match) else None


def _g(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


def table1_times() -> str:
    """Table 1's seconds per sample at each backbone's best step count, per dataset."""
    parts = []
    for dataset in DATASETS:
        values = {
            name: (
                paper_value("Table 1", name, "seconds_per_sample", dataset),
                paper_value("Table 1", name, "best_steps", dataset),
            )
            for name in (CUNET, UNET)
        }
        parts.append(
            f"{dataset} {_g(values[CUNET][0])} s at {_g(values[CUNET][1])} steps vs "
            f"{_g(values[UNET][0])} s at {_g(values[UNET][1])}"
        )
    return "Table 1 (CPU): " + "; ".join(parts)


def table1_time_ratios() -> list[float]:
    """cU-Net/U-Net seconds per sample of Table 1, per dataset (31–85% less time)."""
    return [
        paper_value("Table 1", CUNET, "seconds_per_sample", d) / paper_value("Table 1", UNET, "seconds_per_sample", d)
        for d in DATASETS
    ]


def table1_fid() -> str:
    ratios = [paper_value("Table 1", CUNET, "fid", d) / paper_value("Table 1", UNET, "fid", d) for d in DATASETS]
    mnist = (paper_value("Table 1", CUNET, "fid", "MNIST"), paper_value("Table 1", UNET, "fid", "MNIST"))
    return f"MNIST {_g(mnist[0])} vs {_g(mnist[1])} ({ratios[0]:.2f}×); CelebA {ratios[1]:.2f}×; LSUN {ratios[2]:.2f}×"


def table1_steps() -> str:
    steps = {
        d: (paper_value("Table 1", CUNET, "best_steps", d), paper_value("Table 1", UNET, "best_steps", d))
        for d in DATASETS
    }
    return "; ".join(f"{d} {_g(c)} vs {_g(u)} steps" for d, (c, u) in steps.items())


def pair(source: str, metric: str, condition: str | int, digits: str = "g") -> str:
    """``cU-Net vs U-Net`` of one table cell, e.g. Table 2's SSIM at step 400: ``0.44 vs 0.58``."""
    return (
        f"{paper_value(source, CUNET, metric, condition):{digits}} vs "
        f"{paper_value(source, UNET, metric, condition):{digits}}"
    )


def levels(source: str, metric: str) -> list[int]:
    """The noise steps a table gives ``metric`` at."""
    table = paper_values()
    rows = table[(table.source == source) & (table.metric == metric) & (table.condition != "")]
    return sorted({int(condition) for condition in rows.condition})
