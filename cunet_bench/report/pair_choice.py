"""Why this report's pair of models and not an alternative: the choice between two pairs piloted on
the same ladder and recipe (``bench report --alternative-pair``), made by their learning curves.

Both pairs are read at the last doubling both measured (their largest shared rung and the rung
below it). Every learning curve of a model the two pairs share (recognisability, class entropy,
the distances, the denoising metrics at each noise level) changes by some amount over that
doubling; it is *within its tolerance* when the estimated change lies within the plateau rule's
tolerance (``report.plateau``). The pair with more curves within tolerance is the closer to the
plateau the quality verdicts need, and so the better reference for a training budget that ends at
a fixed bound (:data:`PAIR_RULE`); a tie keeps this report's pair."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cunet_bench.errors import UserError
from cunet_bench.report.curves import DENOISE_METRICS, SAMPLE_METRICS, Curves, learning_curves
from cunet_bench.report.plateau import Doubling
from cunet_bench.report.results import Results, paper_name

PAIR_RULE = (
    "the pair with more learning curves within their plateau tolerance over the last doubling both measured is "
    "the closer to converged, and the better reference; a tie keeps this report's"
)
SHOWN_AT_TOP = ("confident_fraction", "distance")
"""The curves whose values at the shared rung the choice quotes beside its counts."""


@dataclass(frozen=True)
class Pair:
    """One pair's learning curves cut at the shared rung, and its models' sizes."""

    curves: Curves
    parameters: dict[str, int]

    def doubling(self, model: str, metric: str, level: int) -> Doubling | None:
        return self.curves.doubling(model, metric, level)

    def at_top(self, model: str, metric: str) -> float | None:
        rows = self.curves.of(model, metric).dropna(subset=["value"])
        top = rows[rows.rung_step == rows.rung_step.max()]
        return float(top.value.mean()) if len(top) else None


def _parameters(results: Results) -> dict[str, int]:
    """Each model's trainable parameters, as its sample-quality rung rows record them."""
    fid = results.runs("fid")
    if fid.empty or "parameters" not in fid:
        return {}
    rungs = fid[fid.kind == "rung"].dropna(subset=["parameters"])
    return {str(model): int(rows.parameters.iloc[0]) for model, rows in rungs.groupby("model")}


def _cut(curves: Curves, steps: set[int]) -> Curves:
    """The curves at the shared rungs only, so both pairs' last doubling is the same one."""
    return Curves(curves.points[curves.points.rung_step.isin(steps)], curves.runs)


def _shared_steps(ours: Curves, theirs: Curves, models: list[str]) -> set[int]:
    """The rungs every shared model measured in both pairs (at least two: one doubling)."""
    steps: set[int] | None = None
    for curves in (ours, theirs):
        for model in models:
            measured = set(curves.points[curves.points.model == model].rung_step.astype(int))
            steps = measured if steps is None else steps & measured
    if not steps or len(steps) < 2:
        raise UserError("--alternative-pair: the two pairs share no doubling of training (two common rungs)")
    return steps


def _curve_keys(pairs: list[Pair], models: list[str]) -> list[tuple[str, str, int]]:
    """The (model, metric, level) curves measured over the shared doubling in both pairs."""
    measured = pairs[0].curves.keys()
    return [
        key
        for model in models
        for key in measured
        if key[0] == model and all(pair.doubling(*key) is not None for pair in pairs)
    ]


def _moving(pair: Pair, keys: list[tuple[str, str, int]], names: dict[str, str]) -> str:
    """The curves of ``pair`` beyond their tolerance, with their change, model by model."""
    by_model: dict[str, list[str]] = {}
    for model, metric, level in keys:
        doubling = pair.doubling(model, metric, level)
        if doubling is not None and doubling.estimate_beyond_tolerance:
            where = "" if level < 0 else f" at {level}"
            label = SAMPLE_METRICS.get(metric) or DENOISE_METRICS[metric]
            by_model.setdefault(names[model], []).append(f"{label}{where} {doubling.change_text()}")
    return "; ".join(f"{name}: {', '.join(shown)}" for name, shown in by_model.items()) or "none"


def _values(pair: Pair, models: list[str], names: dict[str, str]) -> str:
    parts = []
    for model in models:
        recognisable, distance = (pair.at_top(model, metric) for metric in SHOWN_AT_TOP)
        shown = [f"{recognisable:.1%} recognisable" if recognisable is not None else None]
        shown.append(f"FD {distance:.3g}" if distance is not None else None)
        size = f"{pair.parameters[model]:,} parameters, " if model in pair.parameters else ""
        parts.append(f"{names[model]} ({size}{', '.join(s for s in shown if s)})")
    return "; ".join(parts)


def pair_choice(results: Results, alternative: Path) -> str:
    """The Deviations item that states the choice of pair and the numbers it was made by."""
    other = Results(alternative, quiet=True)
    ours, theirs = learning_curves(results), learning_curves(other)
    models = sorted(set(ours.points.model) & set(theirs.points.model))
    if not models:
        raise UserError(f"--alternative-pair {alternative} has no learning curve of a model this report measured")
    steps = _shared_steps(ours, theirs, models)
    pairs = (Pair(_cut(ours, steps), _parameters(results)), Pair(_cut(theirs, steps), _parameters(other)))
    fid = pd.concat([results.runs("fid"), other.runs("fid")])
    return choice_text(*pairs, {model: paper_name(fid, model) for model in models}, f"`{alternative}`")


def choice_text(ours: Pair, theirs: Pair, names: dict[str, str], where: str) -> str:
    """The choice between ``ours`` and ``theirs`` (cut to the same rungs), ``names``: the models both
    measured, with what the text calls them; ``where``: where the alternative's rows are."""
    models = list(names)
    keys = _curve_keys([ours, theirs], models)
    if not keys:
        raise UserError(f"--alternative-pair {where} shares no learning curve with this report's results")
    first = ours.doubling(*keys[0])
    within = [sum(not pair.doubling(*key).estimate_beyond_tolerance for key in keys) for pair in (ours, theirs)]
    verdict = (
        "this report's pair is the closer to converged and was kept"
        if within[0] >= within[1]
        else "the alternative is the closer to converged: by the rule it was the better reference, and this report "
        "does not use it"
    )
    seeds = "one training seed's estimates" if first.seeds == 1 else f"the mean of {first.seeds} training seeds"
    return (
        f"**The pair.** An alternative pair was piloted on the same ladder and recipe ({where}); the choice between "
        f"them follows this rule: {PAIR_RULE}. Over the doubling {first.below:,} → {first.top:,} steps ({seeds}), "
        f"this report's pair has {within[0]} of {len(keys)} curves within tolerance and the alternative "
        f"{within[1]}: {verdict}. At {first.top:,} steps: this report's {_values(ours, models, names)}; "
        f"the alternative's {_values(theirs, models, names)}. Beyond tolerance, this report's pair — "
        f"{_moving(ours, keys, names)}; the alternative — {_moving(theirs, keys, names)}."
    )
