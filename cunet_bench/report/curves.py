"""Learning curves: quality against training, read from the ``rung`` rows of ``bench fid --curves``
and ``bench denoise --curves`` (each rung of a checkpoint's ladder, with its step, images seen and
training CPU-seconds). They give the convergence gate its per-metric evidence (the change over
the last doubling, ``report.plateau``) and the equal-compute comparisons: each backbone's quality
at equal training CPU-seconds, and the CPU-seconds each needs to reach a recognisability level."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cunet_bench.report.denoise_run import SCORING
from cunet_bench.report.plateau import Doubling, last_doubling
from cunet_bench.report.results import Results
from cunet_bench.report.verdicts import Interval, Seeds, seed_level_difference

SAMPLE_METRICS = {
    "confident_fraction": "recognisable",
    "class_entropy": "class entropy",
    "kid_mean": "KD",
    "distance": "FD",
}
"""The sample-quality columns of a fid rung row, as the learning-curve tables name them."""
DENOISE_METRICS = {"ssim": "best SSIM", "feature_distance": "feature distance", "lpips": "LPIPS", "psnr": "PSNR"}
REACH = (0.5, 0.7)
"""The recognisability levels whose cost in training (images, CPU-seconds) is compared."""


@dataclass(frozen=True)
class Curves:
    """Long rows: model, train_seed, rung_step, images_seen, train_cpu_seconds, metric, level
    (the denoising noise step; -1 for sample quality), value."""

    points: pd.DataFrame
    runs: tuple[str, ...]
    """The fid and denoise runs the rows come from."""

    @property
    def empty(self) -> bool:
        return self.points.empty

    def keys(self) -> list[tuple[str, str, int]]:
        """Every curve's (model, metric, level), sorted."""
        keys = self.points[["model", "metric", "level"]].drop_duplicates()
        return sorted((str(model), str(metric), int(level)) for model, metric, level in keys.itertuples(index=False))

    def of(self, model: str, metric: str, level: int = -1) -> pd.DataFrame:
        rows = self.points
        return rows[(rows.model == model) & (rows.metric == metric) & (rows.level == level)]

    def doubling(self, model: str, metric: str, level: int = -1) -> Doubling | None:
        """The change over the last doubling of ``model``'s training, or None without two rungs."""
        rows = self.of(model, metric, level).dropna(subset=["value"])
        steps = sorted(rows.rung_step.unique())
        return _change(metric, rows, *steps[-2:]) if len(steps) >= 2 else None

    def doublings(self, model: str, metric: str, level: int = -1) -> list[Doubling]:
        """The change over each step of ``model``'s ladder (from each rung to the next), lowest first;
        a step no training seed measured at both ends is left out."""
        rows = self.of(model, metric, level).dropna(subset=["value"])
        steps = sorted(rows.rung_step.unique())
        changes = (_change(metric, rows, low, high) for low, high in zip(steps, steps[1:]))
        return [change for change in changes if change is not None]


def _change(metric: str, rows: pd.DataFrame, low: int, high: int) -> Doubling | None:
    """The change of one curve from rung ``low`` to rung ``high``; None when no training seed was
    measured at both."""
    below, top = (rows[rows.rung_step == step] for step in (low, high))
    below_values = dict(zip(below.train_seed.astype(int), below.value.astype(float)))
    top_values = dict(zip(top.train_seed.astype(int), top.value.astype(float)))
    if not set(below_values) & set(top_values):
        return None
    return last_doubling(metric, below_values, top_values, (int(low), int(high)))


MEASURED_ALIKE = {"fid": ("samples", "sampling_steps", "sampler", "features"), "denoise": ("images",)}
"""The columns of a rung row that say how it was measured: rungs of one curve agree on them."""


def learning_curves(results: Results) -> Curves:
    """The rung rows of ``bench fid --curves`` and ``bench denoise --curves``. For each model, the
    newest run that measured its curve says how the curve is measured (:data:`MEASURED_ALIKE`); each
    rung of each training seed comes from the newest run that measured it so. A curve can thus be
    completed from several runs: the rungs of a whole ladder from the training checkpoints, and its
    last doubling from the shipped weights, measured the same way later."""
    parts, runs = [], []
    for bench, name, metrics in (("fid", "model", SAMPLE_METRICS), ("denoise", "method", DENOISE_METRICS)):
        frame = results.runs(bench)
        rungs = frame[frame.kind == "rung"] if "kind" in frame else frame
        if rungs.empty:
            continue
        rungs = _newest_alike(rungs, name, MEASURED_ALIKE[bench])
        runs += sorted(rungs.run_id.astype(str).unique())
        if bench == "denoise":
            rungs = rungs[rungs.target.isin([SCORING, "output"])]
        for metric in metrics:
            if bench == "fid":
                parts.append(_long(rungs, name, metric, rungs[metric], -1))
            else:
                chosen = rungs[rungs.metric == metric]
                parts.append(_long(chosen, name, metric, chosen["mean"], chosen.noise_step))
    columns = ["model", "train_seed", "rung_step", "images_seen", "train_cpu_seconds", "metric", "level", "value"]
    points = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    return Curves(points, tuple(runs))


def _newest_alike(rungs: pd.DataFrame, name: str, alike: tuple[str, ...]) -> pd.DataFrame:
    """Per model, the rung rows measured as its newest run measured them, each (seed, rung) from the
    newest of those runs that measured it."""
    kept = []
    for _, rows in rungs.groupby(name, sort=False):
        newest = rows[rows.run_id == rows.run_id.max()]
        signature = newest[list(alike)].drop_duplicates()
        same = rows.merge(signature, on=list(alike), how="inner")
        newest_of_rung = same.groupby([same.train_seed.fillna(0), same.rung_step]).run_id.transform("max")
        kept.append(same[same.run_id == newest_of_rung])
    return pd.concat(kept, ignore_index=True)


def _long(rows: pd.DataFrame, name: str, metric: str, values: pd.Series, level) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model": rows[name].astype(str),
            "train_seed": rows.train_seed.fillna(0).astype(int),
            "rung_step": rows.rung_step.astype(int),
            "images_seen": rows.images_seen.astype(float),
            "train_cpu_seconds": rows.train_cpu_seconds.astype(float),
            "metric": metric,
            "level": np.asarray(level if np.ndim(level) else [level] * len(rows), dtype=int),
            "value": values.astype(float),
        }
    )


def at_budget(rows: pd.DataFrame, budget: float, axis: str = "train_cpu_seconds") -> dict[int, float]:
    """Each seed's value at ``budget`` on ``axis``, interpolated linearly in log(axis) between
    its rungs; seeds whose rungs do not span the budget are left out (no extrapolation)."""
    values = {}
    for seed, curve in rows.dropna(subset=[axis, "value"]).groupby("train_seed"):
        curve = curve.sort_values(axis)
        x = np.log(curve[axis].to_numpy(dtype=float))
        if len(x) and x[0] <= math.log(budget) <= x[-1]:
            values[int(seed)] = float(np.interp(math.log(budget), x, curve.value.to_numpy(dtype=float)))
    return values


def cost_to_reach(rows: pd.DataFrame, level: float, axis: str = "train_cpu_seconds") -> dict[int, float | None]:
    """Per seed, where on ``axis`` the curve first reaches ``level`` (interpolated in log(axis)
    between the rungs that bracket it): None when no rung reaches it; the lowest rung's value when
    that one already does (an upper bound)."""
    reached: dict[int, float | None] = {}
    for seed, curve in rows.dropna(subset=[axis, "value"]).groupby("train_seed"):
        curve = curve.sort_values(axis)
        x, y = np.log(curve[axis].to_numpy(dtype=float)), curve.value.to_numpy(dtype=float)
        above = np.flatnonzero(y >= level)
        if not len(above):
            reached[int(seed)] = None
        elif above[0] == 0:
            reached[int(seed)] = float(curve[axis].iloc[0])
        else:
            i = above[0]
            fraction = (level - y[i - 1]) / (y[i] - y[i - 1])
            reached[int(seed)] = float(math.exp(x[i - 1] + fraction * (x[i] - x[i - 1])))
    return reached


def equal_budget(curves: Curves, model: str, versus: str, metric: str) -> tuple[float, Interval] | None:
    """``model`` − ``versus`` in ``metric`` at the largest training CPU-seconds every seed's curve
    of both reaches (the smallest of their top rungs: a budget above one seed's top would leave that
    seed out, and with it a degree of freedom), with the seed-level interval."""
    mine, theirs = curves.of(model, metric), curves.of(versus, metric)
    tops = [
        float(curve.train_cpu_seconds.max())
        for rows in (mine, theirs)
        for _, curve in rows.dropna(subset=["train_cpu_seconds"]).groupby("train_seed")
    ]
    if mine.empty or theirs.empty or not tops:
        return None
    budget = min(tops)
    a, b = at_budget(mine, budget), at_budget(theirs, budget)
    if not a or not b:
        return None
    interval = seed_level_difference(
        Seeds([np.array([v]) for v in a.values()]), Seeds([np.array([v]) for v in b.values()])
    )
    return budget, interval
