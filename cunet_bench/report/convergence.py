"""The convergence gate of quality verdicts: are the compared models' samples recognisable digits?

``bench fid`` records, per model and training seed, the share of samples the dataset's feature
classifier assigns one class with probability ≥ 0.9 at each step count, and the same share for real
images of the test split (``kind='real'``) — the ceiling a sample share is read against. A model
passes when its share at its best step count, averaged over seeds, reaches :data:`AIM_OF_REAL`
of the real images' share (an absolute :data:`AIM_WITHOUT_REAL` where no real share is recorded).
Below it, every sample-quality and denoising verdict about that model is "inconclusive
(undertrained …)": the distances would compare models that have not converged.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from cunet_bench.report.results import Results

AIM_OF_REAL = 0.9
AIM_WITHOUT_REAL = 0.8


@dataclass(frozen=True)
class Convergence:
    shares: dict[str, float]
    """Model → mean share of confidently classified samples at its best step count."""
    real: float | None
    run: str | None

    @property
    def aim(self) -> float:
        return AIM_OF_REAL * self.real if self.real is not None else AIM_WITHOUT_REAL

    def aim_text(self) -> str:
        if self.real is None:
            return f"aim ≥ {self.aim:.0%} confidently classified"
        return f"aim ≥ {self.aim:.0%}, {AIM_OF_REAL:.0%} of real test images' {self.real:.0%}"

    def undertrained(self, models: list[str], names: dict[str, str] | None = None) -> str:
        """The reason a verdict about ``models`` cannot be given, or "" when they all pass."""
        if self.run is None:
            return "convergence not checked: no bench fid run of these models"
        names = names or {}
        missing = [m for m in models if m not in self.shares]
        if missing:
            return f"convergence not checked for {', '.join(missing)}"
        if all(self.shares[m] >= self.aim for m in models):
            return ""
        shares = ", ".join(f"{names.get(m, m)} {self.shares[m]:.0%}" for m in models)
        return f"undertrained: {shares} recognisable, {self.aim_text()}"


def convergence(results: Results) -> Convergence:
    """The gate from the newest ``bench fid`` run that checked recognisability."""
    fid = results.runs("fid")
    checked = fid[(fid.kind == "best") & fid.confident_fraction.notna()]
    if checked.empty:
        return Convergence({}, None, None)
    run = str(checked.run_id.max())
    best = checked[checked.run_id == run]
    real = fid[(fid.kind == "real") & (fid.run_id == run)].confident_fraction
    shares = {str(model): float(part.confident_fraction.mean()) for model, part in best.groupby("model")}
    return Convergence(shares, float(real.iloc[0]) if len(real) and not pd.isna(real.iloc[0]) else None, run)
