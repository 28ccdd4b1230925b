"""The convergence gate of quality verdicts: are the compared models' samples recognisable digits,
or has the compared metric itself stopped moving?

``bench fid`` records, per model and training seed, the share of samples the dataset's feature
classifier assigns one class with probability ≥ 0.9 at each step count, and the same share for real
images of the test split (``kind='real'``) — the ceiling a sample share is read against. A model
passes when its share at its best step count, averaged over seeds, reaches :data:`AIM_OF_REAL`
of the real images' share (an absolute :data:`AIM_WITHOUT_REAL` where no real share is recorded).
The gate on a verdict about a metric (:data:`GATE_RULE`) opens when that metric's learning curve
has plateaued for every compared model at every level the verdict uses (``report.plateau``), or
when every compared model passes the aim and none of those curves is still moving (one at the
tolerance passes with the aim; a curve still climbing beyond it keeps the gate shut however good
the samples look). Otherwise the verdict is "inconclusive (undertrained …)" with how far each
curve still moved. Without a learning curve, the aim alone decides.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from cunet_bench.report.curves import Curves, learning_curves
from cunet_bench.report.plateau import MOVING, PLATEAU
from cunet_bench.report.results import Results

AIM_OF_REAL = 0.9
AIM_WITHOUT_REAL = 0.8
GATE_RULE = (
    "**Convergence gate**: a sample-quality or denoising verdict on a metric needs the compared models converged: "
    "the metric's learning curve plateaued for every compared model at every level the verdict uses (the plateau "
    "rule), or every compared model past the recognisability aim (a share of samples confidently classified, "
    "relative to real test images; stated in the sample-quality section) with none of those curves still moving "
    "(one at the tolerance passes with the aim). Without a learning curve the aim alone decides. Otherwise the "
    "verdict is 'inconclusive (undertrained …)', with how far each curve still moved and what the measurement "
    "reads at this scale."
)
"""The one statement of the gate (How to read prints it)."""


@dataclass(frozen=True)
class Convergence:
    shares: dict[str, float]
    """Model → mean share of confidently classified samples at its best step count."""
    real: float | None
    run: str | None
    curves: Curves | None = None
    """The learning curves whose plateaus open the gate below the aim (None: none measured)."""

    @property
    def aim(self) -> float:
        return AIM_OF_REAL * self.real if self.real is not None else AIM_WITHOUT_REAL

    def state(self, names: dict[str, str]) -> str:
        """The gate's evidence on recognisability, once: each model's share against the aim (the
        curves' doublings follow it in the Learning curves section)."""
        if self.run is None:
            return "**The convergence gate**: not checked (no `bench fid` run recorded recognisability)."
        shares = ", ".join(f"{names.get(m, m)} {share:.0%}" for m, share in self.shares.items())
        past = [names.get(m, m) for m, share in self.shares.items() if share >= self.aim]
        return (
            f"**The convergence gate** (How to read states its rule): recognisable at each model's best step count: "
            f"{shares}; {self.aim_text()}; past the aim: {', '.join(past) or 'none'}. A claim the gate holds says "
            "'undertrained' in its row and links here; the change of each compared metric over the last doubling "
            "is below."
        )

    def aim_text(self) -> str:
        if self.real is None:
            return f"aim ≥ {self.aim:.0%} confidently classified"
        return f"aim ≥ {self.aim:.0%}, {AIM_OF_REAL:.0%} of real test images' {self.real:.0%}"

    def undertrained(
        self,
        models: list[str],
        names: dict[str, str] | None = None,
        metric: str | None = None,
        levels: tuple[int, ...] = (-1,),
    ) -> str:
        """The reason a verdict about ``models`` on ``metric`` (at each of ``levels``, the noise
        steps of a denoising metric) cannot be given, or "" when they all pass the aim or the
        metric's curve has plateaued for each of them at each level."""
        if self.run is None:
            return "convergence not checked: no bench fid run of these models"
        names = names or {}
        missing = [m for m in models if m not in self.shares]
        if missing:
            return f"convergence not checked for {', '.join(missing)}"
        passed = all(self.shares[m] >= self.aim for m in models)
        shares = ", ".join(f"{names.get(m, m)} {self.shares[m]:.0%}" for m in models)
        reason = f"undertrained: {shares} recognisable, {self.aim_text()}"
        if metric is None:
            return "" if passed else reason
        doublings = {
            (m, level): self.curves.doubling(m, metric, level) if self.curves is not None else None
            for m in models
            for level in levels
        }
        if all(d is not None and d.state == PLATEAU for d in doublings.values()):
            return ""
        if passed and not any(d is not None and d.state == MOVING for d in doublings.values()):
            return ""
        if passed:
            reason = f"undertrained: past the recognisability aim ({shares}) but {metric} still moving"
        moved = "; ".join(
            f"{names.get(m, m)}{f' at step {level}' if level >= 0 else ''} {d.text()}"
            for (m, level), d in doublings.items()
            if d is not None and d.state != PLATEAU
        )
        unmeasured = sorted({level for (_, level), d in doublings.items() if d is None})
        if unmeasured:
            where = f" at step {', '.join(map(str, unmeasured))}" if unmeasured[0] >= 0 else ""
            reason += f"; no learning curve of {metric}{where} (bench fid/denoise --curves)"
        return f"{reason}; over the last doubling: {moved}" if moved else reason


def convergence(results: Results) -> Convergence:
    """The gate from the newest ``bench fid`` run that checked recognisability."""
    fid = results.runs("fid")
    checked = fid[(fid.kind == "best") & fid.confident_fraction.notna()]
    if checked.empty:
        return Convergence({}, None, None, learning_curves(results))
    run = str(checked.run_id.max())
    best = checked[checked.run_id == run]
    real = fid[(fid.kind == "real") & (fid.run_id == run)].confident_fraction
    shares = {str(model): float(part.confident_fraction.mean()) for model, part in best.groupby("model")}
    real_share = float(real.iloc[0]) if len(real) and not pd.isna(real.iloc[0]) else None
    return Convergence(shares, real_share, run, learning_curves(results))
