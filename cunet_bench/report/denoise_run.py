"""One ``bench denoise`` run's rows, indexed for the report's comparisons: per method, noise step,
target and metric, the per-image values of every training seed (every seed and every method sees
the same test images), the reverse chains' times, the perception–distortion points and the curves."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cunet_bench.report.verdicts import Interval, Seeds, edge_share, seed_level_difference

SCORING = "iterate"
"""The target the verdicts score: the iterate, as the release does (the x0 estimate is shown beside it)."""


class DenoiseRun:
    def __init__(self, rows: pd.DataFrame) -> None:
        self.rows = rows
        self.run_id = str(rows.run_id.iloc[0])
        self.summary = rows[rows.kind == "summary"]
        self.images = rows[rows.kind == "image"]
        self.levels = sorted(int(level) for level in self.summary.noise_step.dropna().unique())
        self.count = int(self.summary.images.dropna().iloc[0])
        methods = rows[rows.kind == "method"]
        self.seeds = {
            m: sorted(int(s) for s in part.train_seed.dropna().unique())
            for m, part in methods.groupby("method", sort=False)
        }
        self.parameters = {m: int(p) for m, p in zip(methods.method, methods.parameters) if not pd.isna(p)}
        self.names = dict(zip(methods.method, methods.paper_name.fillna(methods.method)))
        self.described = methods.drop_duplicates("method").set_index("method")
        self.one_shot = set(self.summary[self.summary.target == "output"].method)
        ordered = self.images.sort_values("image")
        self._per_image = {
            key: part
            for key, part in ordered.groupby(
                ["method", "noise_step", "target", "metric", ordered.train_seed.fillna(-1)], sort=False
            )
        }

    def trained(self, method: str) -> bool:
        return bool(self.seeds.get(method))

    def per_image(
        self, method: str, level: int, target: str, metric: str, column: str = "mean", seed: int | None = None
    ) -> np.ndarray:
        key = (method, level, target, metric, -1 if seed is None else seed)
        match = self._per_image.get(key)
        if match is None and seed is None:  # a method with training seeds, asked for all of them
            parts = [part for k, part in self._per_image.items() if k[:4] == key[:4]]
            match = pd.concat(parts).sort_values("image") if parts else None
        return np.empty(0) if match is None else match[column].to_numpy(dtype=float)

    def values(self, method: str, level: int, target: str, metric: str, column: str = "mean") -> Seeds | None:
        """Per training seed, the per-image values; a method with nothing trained has one set."""
        seeds = self.seeds.get(method) or [None]
        arrays = [self.per_image(method, level, target, metric, column, seed) for seed in seeds]
        if any(len(a) < 2 or np.isnan(a).any() for a in arrays):
            return None
        return Seeds(arrays, trained=self.trained(method))

    def target(self, method: str) -> str:
        """What a method is scored on: a backbone's iterate (:data:`SCORING`), a one-shot denoiser's output."""
        return "output" if method in self.one_shot else SCORING

    def difference(
        self, a: str, b: str, level: int, metric: str, column: str = "mean", target: str | None = None
    ) -> Interval | None:
        """mean(a) − mean(b) with the seed-level interval, each scored as the verdicts score it (or
        both on ``target``: the x0 reading of two backbones)."""
        first = self.values(a, level, target or self.target(a), metric, column)
        second = self.values(b, level, target or self.target(b), metric, column)
        if first is None or second is None or len(first.values[0]) != len(second.values[0]):
            return None
        return seed_level_difference(first, second)

    def mean(self, method: str, level: int, target: str, metric: str, column: str = "mean") -> float | None:
        """Mean over test images and training seeds."""
        values = self.values(method, level, target, metric, column)
        return float(np.mean([v.mean() for v in values.values])) if values is not None else None

    def edge(self, method: str, level: int, metric: str, target: str = SCORING, at: int | None = None) -> float:
        """The share of images whose best step is the chain's last (the grid's edge), or step ``at``
        (1: the chain's first step, the other edge)."""
        values = self.values(method, level, target, metric, "best_step")
        return edge_share(np.concatenate(values.values), level if at is None else at) if values is not None else 0.0

    def chains(self, method: str, level: int) -> pd.DataFrame:
        rows = self.rows[(self.rows.kind == "chain") & (self.rows.method == method) & (self.rows.noise_step == level)]
        return rows.sort_values("train_seed")

    def perception(self, method: str, level: int) -> pd.DataFrame:
        rows = self.rows[
            (self.rows.kind == "perception") & (self.rows.method == method) & (self.rows.noise_step == level)
        ]
        return rows.sort_values("train_seed")

    def curves(self, method: str, level: int, target: str, metric: str) -> list[np.ndarray]:
        """Per training seed, the mean over images after every reverse step."""
        rows = self.rows[
            (self.rows.kind == "curve")
            & (self.rows.method == method)
            & (self.rows.noise_step == level)
            & (self.rows.target == target)
            & (self.rows.metric == metric)
        ]
        return [
            part.sort_values("step")["mean"].to_numpy(dtype=float)
            for _, part in rows.groupby(rows.train_seed.fillna(-1), sort=True)
        ]

    def label(self, method: str) -> str:
        parameters = self.parameters.get(method)
        name = self.names.get(method, method)
        return f"{name} (`{method}`" + (f", {parameters:,} trainable parameters)" if parameters else ")")
