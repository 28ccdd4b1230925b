"""The paper's published numbers, kept as data in ``paper_values.csv`` so every table can put
them beside ours (DESIGN.md, "Report")."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import pandas as pd


@lru_cache(maxsize=1)
def paper_values() -> pd.DataFrame:
    with resources.files("cunet_bench").joinpath("paper_values.csv").open() as handle:
        return pd.read_csv(handle)


def paper_value(source: str, model: str, metric: str, condition: str = "") -> float | None:
    """The value the paper (or its released notebook) gives for ``model`` and ``metric`` (under
    ``condition``: a noise step, a dataset), or None."""
    table = paper_values()
    match = table[(table.source == source) & (table.model == model) & (table.metric == metric)]
    if condition:
        match = match[match.condition == condition]
    return float(match.value.iloc[0]) if len(match) else None
