"""The denoising claims of the paper (Tables 2–4, Figures 10–11, §4.2) for one cU-Net flavour
against the U-Net, each with the rule it is judged by (``verdicts.RULES``): seed-level intervals,
grid-edge detection for every best-of-chain comparison, the convergence gate, busy machines."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import numpy as np

from cunet_bench.report.claims import claim, unmeasured
from cunet_bench.report.denoise_run import SCORING, DenoiseRun
from cunet_bench.report.markdown import Claim, Effect
from cunet_bench.report.paper import CUNET, UNET, paper_value
from cunet_bench.report.verdicts import (
    EDGE,
    EDGE_SHARE,
    NOT_MEASURED,
    NOT_REPRODUCED,
    Interval,
    Seeds,
    all_of,
    decide,
    every_level,
    seed_level_difference,
    uncovered,
    verdict_above,
    verdict_below,
)

PERCEPTUAL = {"lpips": "LPIPS", "feature_distance": "classifier-feature distance (proxy)"}


@dataclass
class Comparison:
    """One cU-Net flavour against the U-Net in one run, with the gates that apply."""

    run: DenoiseRun
    unet: str
    cunet: str
    baselines: list[str]
    """The one-shot baselines that beat the noisy input (the others failed and are left out)."""
    flavour: str
    small: list[str]
    undertrained: Callable[[str | None, tuple[int, ...]], str]
    """The convergence gate's reason for a verdict on a metric at some levels ("" when it passes;
    metric None: the recognisability aim alone)."""

    @property
    def low(self) -> int:
        return self.run.levels[0]

    @property
    def high(self) -> int:
        return self.run.levels[-1]

    def claim(
        self,
        key: str,
        ours: str,
        verdict: str,
        rule: str,
        reason: str = "",
        gated: bool = True,
        intervals: Iterable[Interval | None] = (),
        busy: bool = False,
        edge: str = "",
        other_reading: str | None = None,
        plateaus: tuple[tuple[str | None, tuple[int, ...]], ...] = (),
        effect: Effect | None = None,
    ) -> Claim:
        """A claim row after the rules' precedence (:func:`verdicts.decide`): a run below the minimum
        sizes, a busy machine, the grid's edge, the convergence gate (for ``gated`` quality rows:
        passed by the aim, or by the plateau of each (metric, levels) in ``plateaus``), the
        readings; an interval that does not cover every source of variation says which."""
        small = f"sizes: {', '.join(self.small)}" if self.small else ""
        gate = next(filter(None, (self.undertrained(m, levels) for m, levels in plateaus or ((None, ()),))), "")
        verdict, why = decide(
            verdict,
            pipeline=small,
            busy=busy,
            edge=edge,
            gate=gate if gated else "",
            other_reading=other_reading,
        )
        why = why or reason or uncovered(intervals)
        return claim(key, ours, verdict, rule, why, self.flavour, (self.run.run_id,), effect, gate if gated else None)

    def paper_difference(self, metric: str, level: int) -> float | None:
        """Table 2's cU-Net − U-Net at a level, where the paper has both and the metric is its own
        (a proxy has no paper value)."""
        values = [paper_value("Table 2", name, metric, level) for name in (CUNET, UNET)]
        return values[0] - values[1] if all(v is not None for v in values) else None

    def perceptual_metric(self) -> str | None:
        measured = set(self.run.summary[self.run.summary["mean"].notna()].metric)
        return next((metric for metric in PERCEPTUAL if metric in measured), None)


def _levels_text(intervals: list[Interval | None], levels: list[int], unit: str = "") -> str:
    return "; ".join(f"{i.text()}{unit} at {level}" for i, level in zip(intervals, levels) if i is not None)


def perceptual_claims(c: Comparison) -> list[Claim]:
    """Table 2's lower LPIPS at every level: LPIPS where its weights are installed, else not
    measured, and the classifier-feature distance as a proxy named as such."""
    claims = []
    for key, metric in (("lpips", "lpips"), ("proxy", "feature_distance")):
        intervals = [c.run.difference(c.cunet, c.unet, level, metric) for level in c.run.levels]
        if any(interval is None for interval in intervals):
            why = (
                "LPIPS weights not installed (bench weights install --from alexnet-owt-7be5be79.pth)"
                if metric == "lpips"
                else "no feature space (bench denoise --features classifier)"
            )
            claims.append(unmeasured(key, why, c.flavour))
            continue
        claims.append(
            c.claim(
                key,
                "Δ " + _levels_text(intervals, c.run.levels),
                every_level([verdict_below(i, 0) for i in intervals]),
                f"Δ (cU-Net − U-Net) below 0 at every level, seed-level interval ({SCORING} scoring)",
                intervals=intervals,
                plateaus=((metric, tuple(c.run.levels)),),
                effect=Effect(
                    intervals[-1],
                    f"Δ {PERCEPTUAL[metric]} at step {c.high}",
                    (0.0,),
                    c.paper_difference(metric, c.high),
                ),
            )
        )
    return claims


def ssim_claims(c: Comparison) -> list[Claim]:
    """Better SSIM at low noise (Tables 2/4) and, as the paper's concession, worse at high noise."""
    claims = []
    for key, level, above in (("ssim-low", c.low, True), ("worse-ssim-high", c.high, False)):
        interval = c.run.difference(c.cunet, c.unet, level, "ssim")
        if interval is None:
            claims.append(unmeasured(key, "no per-image SSIM", c.flavour))
            continue
        verdict = verdict_above(interval, 0) if above else verdict_below(interval, 0)
        claims.append(
            c.claim(
                key,
                f"ΔSSIM {interval.text()} at step {level}",
                verdict,
                f"Δ best SSIM (cU-Net − U-Net) {'above' if above else 'below'} 0 at step {level}, "
                f"seed-level interval ({SCORING} scoring)",
                intervals=[interval],
                plateaus=(("ssim", (level,)),),
                effect=Effect(interval, f"ΔSSIM at step {level}", (0.0,), c.paper_difference("ssim", level)),
            )
        )
    return claims


def _steps_at_level(c: Comparison, level: int, metric: str, target: str = SCORING) -> tuple[str, str, Interval | None]:
    """The verdict, text and interval of 'fewer reverse steps to the best' at one level, scoring
    ``target`` (the iterate, or the x0 estimate)."""
    shares = [c.run.edge(m, level, metric, target) for m in (c.cunet, c.unet)]
    first = [c.run.edge(m, level, metric, target, at=1) for m in (c.cunet, c.unet)]
    means = [c.run.mean(m, level, target, metric, "best_step") for m in (c.cunet, c.unet)]
    if min(shares) >= EDGE_SHARE:
        return EDGE, f"at {level}: best at the chain's end for {shares[0]:.0%} / {shares[1]:.0%} of images", None
    if min(first) >= EDGE_SHARE:
        return EDGE, f"at {level}: best at the chain's first step for {first[0]:.0%} / {first[1]:.0%} of images", None
    interval = c.run.difference(c.cunet, c.unet, level, metric, "best_step", target)
    if interval is None:
        return NOT_MEASURED, f"at {level}: no {target} rows", None
    at_first = f"; best at the first step for {first[0]:.0%} / {first[1]:.0%} of images" if max(first) > 0 else ""
    return (
        verdict_below(interval, 0),
        f"Δ {interval.text()} steps at {level} ({means[0]:.3g} vs {means[1]:.3g}{at_first})",
        interval,
    )


def _combine(verdicts: list[str]) -> str:
    """Every level, where a level at the grid's edge can neither confirm nor refute."""
    if NOT_MEASURED in verdicts:
        return NOT_MEASURED
    if NOT_REPRODUCED in verdicts:
        return NOT_REPRODUCED
    return EDGE if EDGE in verdicts else every_level(verdicts)


X0 = "x0"
"""The second reading of Table 3: the best of the model's x0 estimate along the chain (which the
iterate reading cannot have before the chain's end when the iterate only sharpens)."""


def steps_claims(c: Comparison) -> list[Claim]:
    """Table 3: the best SSIM (and the best perceptual score) in fewer reverse steps at every level,
    under two readings: scoring the iterate (the release) and scoring the x0 estimate. When they
    differ the verdict is 'depends on the reading', both shown."""
    claims = []
    for key, metric in (("fewer-reverse-steps", "ssim"), ("fewer-perceptual-steps", c.perceptual_metric())):
        if metric is None:
            claims.append(unmeasured(key, "no perceptual metric measured", c.flavour))
            continue
        readings = {}
        for target in (SCORING, X0):
            verdicts, texts, intervals = zip(*(_steps_at_level(c, level, metric, target) for level in c.run.levels))
            readings[target] = (_combine(list(verdicts)), "; ".join(texts), intervals)
        (iterate, iterate_text, intervals), (x0, x0_text, x0_intervals) = readings[SCORING], readings[X0]
        claims.append(
            c.claim(
                key,
                f"{SCORING} scoring: {iterate_text}. x0 scoring: {x0_text}",
                iterate,
                f"Δ of the best-{PERCEPTUAL.get(metric, 'SSIM')} step below 0 at every level, "
                f"unless both models' best is the chain's end, or its first step, for ≥ {EDGE_SHARE:.0%} of images; "
                f"readings: the iterate (the release's) and the x0 estimate",
                intervals=[*intervals, *x0_intervals],
                other_reading=x0,
                plateaus=((metric, tuple(c.run.levels)),),
            )
        )
    return claims


def _chain_seconds(c: Comparison, method: str, level: int) -> tuple[Seeds, bool]:
    chains = c.run.chains(method, level)
    return Seeds([np.array([s]) for s in chains.seconds.astype(float)]), bool(
        chains.contended.fillna(False).astype(bool).any()
    )


def time_claim(c: Comparison) -> Claim:
    """Table 3's less time to the best result. The time of a chain is one shared batch time, so
    the interval is over training seeds only; where the best is the chain's end the row measures
    per-step speed (the whole chain's time) and says so."""
    verdicts, texts, intervals, busy, per_step = [], [], [], False, False
    for level in c.run.levels:
        degenerate = min(c.run.edge(m, level, "ssim") for m in (c.cunet, c.unet)) >= EDGE_SHARE
        (cunet, busy_c), (unet, busy_u) = (_chain_seconds(c, m, level) for m in (c.cunet, c.unet))
        if not cunet.values or not unet.values:
            return unmeasured("less-time", "no chain times recorded (bench denoise)", c.flavour)
        busy |= busy_c or busy_u
        per_step |= degenerate
        if degenerate:
            interval = seed_level_difference(cunet, unet)
        else:
            interval = c.run.difference(c.cunet, c.unet, level, "ssim", "time_to_best_s")
        note = interval.note or ("one shared batch time per seed" if len(cunet.values) < 2 else "")
        interval = Interval(interval.estimate, interval.low, interval.high, note)
        intervals.append(interval)
        verdicts.append(verdict_below(interval, 0))
        texts.append(f"{interval.text()} s at {level}" + (" (whole chain)" if degenerate else ""))
    what = (
        "whole-chain time for the batch, i.e. per-step speed (the best is the chain's end)"
        if per_step
        else "time to the best SSIM for the batch"
    )
    edge = "the best is the chain's end, so the row measures per-step speed" if per_step else ""
    return c.claim(
        "less-time",
        f"{what}: Δ {'; '.join(texts)}",
        every_level(verdicts),
        "Δ time (cU-Net − U-Net) below 0 at every level, interval over training seeds (a chain's time is "
        "shared by its batch)",
        gated=False,
        intervals=intervals,
        busy=busy,
        edge=edge,
    )


def _per_seed(run: DenoiseRun, method: str, level: int, column: str) -> Seeds:
    rows = run.perception(method, level)
    return Seeds([np.array([v]) for v in rows[column].astype(float)], trained=run.trained(method))


def _distortion(c: Comparison) -> Interval:
    """Δ(1 − SSIM) of the final outputs, cU-Net − U-Net, with the seed-level interval over seeds and
    images — the interval every other SSIM difference has. From the final outputs' per-image scores;
    for a run that did not record them, from the best iterate's where every image's best is the
    chain's end (the same values); else over the seeds' means alone, and the interval says so."""
    ssim = c.run.difference(c.cunet, c.unet, c.high, "ssim", target="final")
    if ssim is None and all(c.run.edge(m, c.high, "ssim") == 1.0 for m in (c.cunet, c.unet)):
        ssim = c.run.difference(c.cunet, c.unet, c.high, "ssim")
    if ssim is not None:
        return Interval(-ssim.estimate, -ssim.high, -ssim.low, ssim.note)
    means = [
        Seeds([1 - s for s in _per_seed(c.run, m, c.high, "ssim_final").values], c.run.trained(m))
        for m in (c.cunet, c.unet)
    ]
    seeds_only = seed_level_difference(*means)
    return replace(seeds_only, note=seeds_only.note or "seeds only: the run recorded no per-image final scores")


def perception_distortion_claim(c: Comparison) -> Claim:
    """§4.2's account: the U-Net wins on distortion (SSIM) because the cU-Net trades it for
    perception. Reproduced when, at the highest noise, the cU-Net is lower in perception index and
    higher in distortion; not reproduced when it is perceptually worse."""
    rows = c.run.perception(c.cunet, c.high)
    column = "mean" if rows["mean"].notna().all() and len(rows) else "kid_mean"
    if rows.empty or rows[column].isna().any():
        return unmeasured(
            "perception-distortion", "no perception index (bench denoise with a feature space)", c.flavour
        )
    perception = seed_level_difference(
        _per_seed(c.run, c.cunet, c.high, column), _per_seed(c.run, c.unet, c.high, column)
    )
    distortion = _distortion(c)
    verdict = all_of([verdict_below(perception, 0), verdict_above(distortion, 0)])
    name = str(rows.kid_name.iloc[0]) if column == "kid_mean" else str(rows.metric.iloc[0])
    return c.claim(
        "perception-distortion",
        f"at step {c.high}: Δ {name} {perception.text()}, Δ(1 − SSIM) {distortion.text()}",
        verdict,
        "cU-Net − U-Net: perception index below 0 and distortion above 0 "
        "at the highest level (distance to clean training images the outputs did not come from)",
        intervals=[perception, distortion],
        plateaus=(("feature_distance", (c.high,)), ("ssim", (c.high,))),
        effect=Effect(perception, f"Δ {name} at step {c.high}", (0.0,)),
    )


def beats_others_claim(c: Comparison) -> Claim:
    """Table 4: at the lowest noise the cU-Net beats the U-Net and every baseline that beats the
    noisy input, in SSIM and in the perceptual metric."""
    metric = c.perceptual_metric()
    verdicts, texts, intervals = [], [], []
    for other in [c.unet, *c.baselines]:
        for name, key, above in (("SSIM", "ssim", True), (PERCEPTUAL.get(metric, ""), metric, False)):
            interval = c.run.difference(c.cunet, other, c.low, key) if key else None
            if interval is None:
                continue
            verdicts.append(verdict_above(interval, 0) if above else verdict_below(interval, 0))
            intervals.append(interval)
            texts.append(f"{name} vs {other} {interval.text()}")
    return c.claim(
        "beats-others-low",
        f"at step {c.low}: " + "; ".join(texts),
        all_of(verdicts),
        "Δ SSIM above 0 and Δ perceptual distance below 0 against the U-Net and every baseline that beats "
        "the noisy input",
        intervals=intervals,
        plateaus=(("ssim", (c.low,)), (metric, (c.low,))),
    )


def generalisation_claim(c: Comparison) -> Claim:
    """§4.2: both diffusion U-Nets, trained without a fixed noise level, denoise the highest noise
    better (SSIM) than the learned baselines trained at one σ."""
    learned = [b for b in c.baselines if c.run.trained(b)]
    if not learned:
        return unmeasured("generalisation", "no learned baseline that beats the noisy input", c.flavour)
    intervals = {
        (backbone, baseline): c.run.difference(backbone, baseline, c.high, "ssim")
        for backbone in (c.unet, c.cunet)
        for baseline in learned
    }
    texts = [f"{backbone} − {baseline} {interval.text()}" for (backbone, baseline), interval in intervals.items()]
    return c.claim(
        "generalisation",
        f"ΔSSIM at step {c.high}: " + "; ".join(texts),
        all_of([verdict_above(interval, 0) for interval in intervals.values()]),
        "each diffusion backbone's SSIM above each learned baseline's at the highest level",
        intervals=intervals.values(),
        plateaus=(("ssim", (c.high,)),),
    )


def elbow_claim(c: Comparison) -> Claim:
    """Figure 11: after its best, the U-Net's perceptual score deteriorates (an elbow) and the
    cU-Net's much less: elbow = score at the chain's end − best score along it (lower is better)."""
    metric = c.perceptual_metric()
    curves = {m: c.run.curves(m, c.high, SCORING, metric) if metric else [] for m in (c.cunet, c.unet)}
    if not all(curves.values()):
        return unmeasured("no-elbow", "no perceptual curves", c.flavour)
    elbows = {m: [float(curve[-1] - curve.min()) for curve in curves[m]] for m in curves}
    if all(value == 0 for values in elbows.values() for value in values):
        return c.claim(
            "no-elbow",
            f"at step {c.high}: both curves are best at the chain's end (no elbow in either)",
            EDGE,
            "the best is the chain's end for both: the grid's edge",
        )
    interval = seed_level_difference(*(Seeds([np.array([e]) for e in elbows[m]], trained=True) for m in curves))
    return c.claim(
        "no-elbow",
        f"Δ elbow {interval.text()} at step {c.high} ({PERCEPTUAL[metric]})",
        verdict_below(interval, 0),
        "Δ elbow (cU-Net − U-Net) below 0 at the highest level, over seeds",
        intervals=[interval],
        plateaus=((metric, (c.high,)),),
        effect=Effect(interval, f"Δ elbow at step {c.high}", (0.0,)),
    )


def comparison_claims(c: Comparison) -> list[Claim]:
    return [
        *perceptual_claims(c),
        *ssim_claims(c),
        perception_distortion_claim(c),
        *steps_claims(c),
        time_claim(c),
        elbow_claim(c),
        beats_others_claim(c),
        generalisation_claim(c),
    ]
