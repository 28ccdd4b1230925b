"""The report's speed section: the "30–80% faster" claim as the paper defines it (Table 1: seconds
per sample at each backbone's own best step count), the time of one network evaluation at every
measured batch size, where the time goes (profiles) and what compilation or another memory
format changes.

Every ratio is taken within timing rounds (the models interleaved), pooled over every run of
one configuration on one machine fingerprint — never across fingerprints — with an interval
from resampling runs, then rounds. A run whose measurement found the machine busy is left out
of the verdict and named; runs that contradict each other (one reproduces the claim, another
refutes it) make it "unstable". A run that cannot decide (its interval straddles the threshold)
contradicts nobody: the pooled interval then decides.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cunet_bench.paper import paper_value
from cunet_bench.report import figures
from cunet_bench.report.markdown import Claim, Section, markdown_table, missing, not_measured
from cunet_bench.report.results import Results, paper_name, tagged, value
from cunet_bench.report.verdicts import (EDGE, NOT_REPRODUCED, REPRODUCED, UNSTABLE, Interval, at_grid_edge,
                                         hierarchical_median, verdict_below)

FASTER_THRESHOLD = 1 / 1.3
"""'30–80% faster': at least 1.3× the U-Net's speed, i.e. a time ratio below 1/1.3."""
CLAIM = "30–80% faster inference"
RULE = f"pooled 95% interval below {FASTER_THRESHOLD:.3f} (≥ 1.3× faster)"


def _pair(rows: pd.DataFrame, column: str = "model") -> tuple[str, str] | None:
    """The paper's U-Net and cU-Net among the rows, found by their recorded tags."""
    unet, cunet = tagged(rows, "paper-unet", column), tagged(rows, "paper-cunet", column)
    return (unet[0], cunet[0]) if unet and cunet else None


def _round_ratios(rows: pd.DataFrame, numerator: str, denominator: str, value_column: str = "value"
                  ) -> dict[str, np.ndarray]:
    """Run id → the per-round ratios numerator/denominator (rows of one measurement)."""
    ratios = {}
    for run_id, run in rows.groupby("run_id", sort=True):
        top = run[run.model == numerator].set_index("round")[value_column]
        bottom = run[run.model == denominator].set_index("round")[value_column]
        common = top.index.intersection(bottom.index)
        if len(common):
            ratios[run_id] = (top[common] / bottom[common]).to_numpy(dtype=float)
    return ratios


def pooled_verdict(ratios: dict[str, np.ndarray], contended: set[str]) -> tuple[Interval | None, str, list[str]]:
    """The pooled interval over the quiet runs, the verdict, and each run's own ratio and verdict;
    "unstable" when one quiet run reproduces the claim and another refutes it."""
    quiet = {run: values for run, values in ratios.items() if run not in contended}
    per_run = []
    verdicts = set()
    for run, values in ratios.items():
        own = hierarchical_median([values])
        own_verdict = "busy machine" if run in contended else verdict_below(own, FASTER_THRESHOLD)
        if run not in contended:
            verdicts.add(own_verdict)
        per_run.append(f"{own.estimate:.3f} ({own_verdict})")
    if not quiet:
        return None, "not measured", per_run
    pooled = hierarchical_median(list(quiet.values()))
    verdict = UNSTABLE if {REPRODUCED, NOT_REPRODUCED} <= verdicts else verdict_below(pooled, FASTER_THRESHOLD)
    return pooled, verdict, per_run


def _group(results: Results, bench: str, frame: pd.DataFrame) -> tuple[pd.DataFrame, str, pd.DataFrame]:
    """The runs of the most-run (configuration, machine fingerprint) among ``frame``'s runs, that
    fingerprint, and the runs recorded on other machines."""
    provenance = results.provenance(bench)
    keys = {run: (provenance.get(run, {}).get("config_hash"), provenance.get(run, {}).get("machine_fingerprint"))
            for run in frame.run_id.unique()}
    counts: dict[tuple, list[str]] = {}
    for run, key in sorted(keys.items()):
        counts.setdefault(key, []).append(run)
    chosen = max(counts, key=lambda key: (len(counts[key]), max(counts[key])))
    mine = frame[frame.run_id.isin(counts[chosen])]
    others = frame[frame.run_id.map(lambda run: keys[run][1] != chosen[1])]
    return mine, str(chosen[1]), others


def _contended(rows: pd.DataFrame) -> set[str]:
    return set(rows[rows.contended.astype(str).str.lower() == "true"].run_id) if "contended" in rows else set()


def _batch_rows(rows: pd.DataFrame, unet: str, cunet: str) -> tuple[list[dict[str, Any]], list[Claim], list[dict]]:
    table, claims, plotted = [], [], []
    eager = rows[(rows.variant == "eager")] if "variant" in rows else rows
    for batch in sorted(eager[eager.metric == "latency_s"].batch.dropna().unique()):
        at = eager[eager.batch == batch]
        wall = at[at.metric == "latency_s"]
        pooled, verdict, per_run = pooled_verdict(_round_ratios(wall, cunet, unet), _contended(wall))
        cpu = at[at.metric == "cpu_time_1thread_s"]
        cpu_ratios = _round_ratios(cpu, cunet, unet)
        cpu_pooled = hierarchical_median(list(cpu_ratios.values())) if cpu_ratios else None
        times = {m: float(wall[wall.model == m].value.median()) for m in (unet, cunet)}
        table.append({"batch": int(batch), "U-Net ms": times[unet] * 1e3, "cU-Net ms": times[cunet] * 1e3,
                      "time ratio, wall [95% CI]": pooled.text() if pooled else "—",
                      "each run": ", ".join(per_run), "1-thread CPU-time ratio [95% CI]":
                      cpu_pooled.text() if cpu_pooled else "—", "verdict": verdict})
        claims.append(Claim(f"faster per network evaluation, batch {int(batch)}", "not claimed per evaluation "
                            "(Table 1's per-step times give 0.74–0.91)",
                            f"time ratio {pooled.text() if pooled else '—'}; runs {', '.join(per_run)}", verdict,
                            "speed", RULE))
        for model in (unet, cunet):
            values = wall[wall.model == model].value
            plotted.append({"model": model, "label": paper_name(rows, model), "batch": int(batch),
                            "median_s": float(values.median()), "q1_s": float(values.quantile(0.25)),
                            "q3_s": float(values.quantile(0.75))})
    return table, claims, plotted


def _profiles(rows: pd.DataFrame) -> list[dict[str, Any]]:
    profile = rows[rows.metric == "profile_s"] if "group" in rows else rows.iloc[0:0]
    if profile.empty:
        return []
    latest = profile[profile.run_id == profile.run_id.max()]
    table = []
    for (model, batch), part in latest.groupby(["model", "batch"], sort=True):
        entry = {"model": paper_name(rows, model), "batch": int(batch), "total ms (profiled)": part.value.sum() * 1e3}
        entry.update({group: f"{share:.0%}" for group, share in zip(part.group, part.share)})
        table.append(entry)
    return table


def _variants(rows: pd.DataFrame, unet: str, cunet: str) -> list[dict[str, Any]]:
    if "variant" not in rows or set(rows.variant.dropna()) <= {"eager"}:
        return []
    latency = rows[rows.metric == "latency_s"]
    table = []
    for batch in sorted(latency.batch.dropna().unique()):
        at = latency[latency.batch == batch]
        for variant in [v for v in dict.fromkeys(at.variant) if v != "eager"]:
            entry: dict[str, Any] = {"batch": int(batch), "variant": variant}
            for model in (unet, cunet):
                eager = at[(at.model == model) & (at.variant == "eager")].set_index(["run_id", "round"]).value
                changed = at[(at.model == model) & (at.variant == variant)].set_index(["run_id", "round"]).value
                common = eager.index.intersection(changed.index)
                entry[f"{paper_name(rows, model)}: speed-up"] = float(np.median(eager[common] / changed[common]))
                first = rows[(rows.metric == "first_call_s") & (rows.model == model) & (rows.variant == variant)
                             & (rows.batch == batch)].value
                entry[f"{paper_name(rows, model)}: first call s (cold)"] = float(first.max()) if len(first) else None
                difference = rows[(rows.metric == "max_abs_difference_from_eager") & (rows.model == model)
                                  & (rows.variant == variant) & (rows.batch == batch)].value
                entry[f"{paper_name(rows, model)}: max |Δ output|"] = float(difference.max()) if len(difference) else None
            variant_rows = at[at.variant == variant].copy()
            ratios = _round_ratios(variant_rows, cunet, unet)
            entry["cU-Net/U-Net in this variant"] = hierarchical_median(list(ratios.values())).text() if ratios else "—"
            table.append(entry)
    return table


def _table1(results: Results, section: Section) -> Claim:
    """The claim as the paper defines it: seconds per sample at each model's best step count."""
    paper = "Table 1 (CPU): MNIST 0.54 s at 5 steps vs 3.56 s at 30; CelebA 7.36 vs 12.48; LSUN 8.33 vs 12.14"
    fid = results.runs("fid")
    timed = fid[fid.kind == "sample_time"] if not fid.empty else fid
    if timed.empty or _pair(timed) is None:
        return not_measured(CLAIM, paper, "speed", "no bench fid run timed samples at the best step counts")
    mine, fingerprint, _ = _group(results, "fid", timed)
    unet, cunet = _pair(mine)
    pooled, verdict, per_run = pooled_verdict(_round_ratios(mine, cunet, unet, "seconds_per_sample"), _contended(mine))
    steps = {m: int(mine[mine.model == m].steps.iloc[0]) for m in (unet, cunet)}
    seconds = {m: float(mine[mine.model == m].seconds_per_sample.median()) for m in (unet, cunet)}
    points = fid[(fid.kind == "point") & fid.run_id.isin(mine.run_id.unique())]
    grid = sorted(int(step) for step in points.steps.dropna().unique())
    if at_grid_edge(steps.values(), grid):
        verdict = EDGE  # a best step count that may lie beyond the grid leaves the time at the best unknown
    for run in sorted(mine.run_id.unique()):
        section.runs.append(results.provenance_line("fid", run))
    section.body.append(
        f"**Table 1's definition** (machine `{fingerprint}`): one sample, batch 1, at each backbone's own best step "
        f"count of the `bench fid` sweep: U-Net {seconds[unet]:.3f} s at {steps[unet]} steps, cU-Net "
        f"{seconds[cunet]:.3f} s at {steps[cunet]} steps (medians over rounds); time ratio (the median of the "
        f"per-round ratios, which cancels drift that both models share) {pooled.text() if pooled else '—'} "
        f"(runs: {', '.join(per_run)}; step grid {grid}). Paper: {paper}.")
    return Claim(CLAIM, paper, f"time per sample at the best steps: ratio {pooled.text() if pooled else '—'} "
                 f"({steps[cunet]} vs {steps[unet]} steps)", verdict, "speed", RULE)


def speed_section(results: Results, figures_dir: Path) -> Section:
    section = Section("speed", "Inference speed (30–80% faster)")
    section.claims.append(_table1(results, section))
    efficiency = results.runs("efficiency")
    timed = efficiency[efficiency.metric == "latency_s"] if not efficiency.empty else efficiency
    if timed.empty or "round" not in timed or _pair(timed) is None:
        return missing(section, "forward latency interleaved round by round", "bench efficiency --preset quick")
    mine, fingerprint, others = _group(results, "efficiency", timed)
    runs = sorted(mine.run_id.unique())
    rows = efficiency[efficiency.run_id.isin(runs)]
    unet, cunet = _pair(rows)
    table, claims, plotted = _batch_rows(rows, unet, cunet)
    section.claims += claims
    figures.latency_by_batch(pd.DataFrame(plotted), figures_dir / "latency.png")
    busy = sorted(_contended(rows))
    section.body += [
        f"Per network evaluation at {int(rows.resolution.dropna().iloc[0])}×{int(rows.resolution.dropna().iloc[0])} "
        f"on machine `{fingerprint}` ({len(runs)} runs of one configuration): the models interleaved round by round; "
        "each ratio is the median per-round ratio cU-Net/U-Net, pooled over runs with a 95% interval from resampling "
        "runs, then rounds. Wall time at the recorded threads; single-thread CPU time beside it (another process "
        "cannot inflate it). " + (f"Left out as measured on a busy machine: {', '.join(busy)}. " if busy else "")
        + f"Rule: {RULE}.", markdown_table(table),
        "![Latency per forward pass](figures/latency.png)  \nMedian latency per forward pass (points: measured batch "
        "sizes only); error bars: interquartile range over timing rounds of every run."]
    if not others.empty and _pair(others) is not None:
        other_table = []
        for fingerprint_other, part in others.groupby(others.run_id.map(
                lambda run: results.provenance("efficiency").get(run, {}).get("machine_fingerprint")), sort=True):
            for batch in sorted(part.batch.dropna().unique()):
                ratios = _round_ratios(part[(part.batch == batch) & (part.variant == "eager")], cunet, unet)
                if ratios:
                    other_table.append({"machine": fingerprint_other, "batch": int(batch), "runs": len(ratios),
                                        "time ratio [95% CI]": hierarchical_median(list(ratios.values())).text()})
        section.body += ["Other machines (never pooled with the above):", markdown_table(other_table)]
    profiles = _profiles(rows)
    if profiles:
        section.body += ["Where the time goes (torch.profiler, self CPU time of one forward pass, grouped; the solver's "
                         "bookkeeping is what runs inside an ODE block outside its vector field):",
                         markdown_table(profiles)]
    variants = _variants(rows, unet, cunet)
    if variants:
        section.body += ["Can the cU-Net be made as fast as its MACs say? Speed-up of each variant over eager "
                         "execution (median per-round ratio), its first call (compilation included; the slowest over the "
                         "runs, as later runs reuse inductor's on-disk cache), its largest "
                         "output deviation from eager, and the cU-Net/U-Net ratio within the variant:",
                         markdown_table(variants)]
    macs = value(rows, cunet, "gmacs_conv_linear")
    unet_macs = value(rows, unet, "gmacs_conv_linear")
    if macs and unet_macs:
        paper = (paper_value("Table 5", cunet, "gmacs_conv_linear"), paper_value("Table 5", unet, "gmacs_conv_linear"))
        section.body.append(f"For scale: in these runs the cU-Net has {macs / unet_macs:.2f}× the U-Net's "
                            "multiply-accumulates" + (f" (Table 5: {paper[0]:.2f} vs {paper[1]:.2f} G)." if all(paper)
                                                      else "."))
    for run in runs:
        section.runs.append(results.provenance_line("efficiency", run))
    _resolution_study(results, section, unet, cunet)
    _solver_study(results, section)
    return section


def _solver_study(results: Results, section: Section) -> None:
    """Every ``bench solvers`` run, one row per run, solver and batch (never only the latest:
    two runs of one configuration that disagree must both be seen)."""
    solvers = results.runs("solvers")
    if solvers.empty:
        return
    table = []
    for (run, solver, batch), rows in solvers.groupby(["run_id", "solver", "batch"], sort=True):
        metric = rows.set_index("metric")
        overhead = metric.loc["solver_loop_overhead"] if "solver_loop_overhead" in metric.index else None
        table.append({"run": run, "solver": solver, "batch": int(batch),
                      "ODE blocks s": metric.value.get("ode_blocks_s"),
                      "bare field evaluations s": metric.value.get("bare_field_evaluations_s"),
                      "loop overhead [95% CI]": (f"{overhead.value:.1%} [{overhead.ci_low:.1%}, {overhead.ci_high:.1%}]"
                                                 if overhead is not None else "—"),
                      "torchdiffeq / harness": metric.value.get("torchdiffeq_over_harness"),
                      "busy machine": "—" if "contended" not in rows else "yes" if _contended(rows) else "no"})
    for run in sorted(solvers.run_id.unique()):
        section.runs.append(results.provenance_line("solvers", run))
    section.body += ["ODE solver cost (`bench solvers`, every run; loop overhead = time of the ODE blocks / time of "
                     "the same vector-field evaluations without the solver's arithmetic − 1, the two interleaved "
                     "round by round):", markdown_table(table)]


def _resolution_study(results: Results, section: Section, unet: str, cunet: str) -> None:
    scaling = results.latest_run("efficiency", lambda r: r.resolution.nunique() > 1 and _pair(r) is not None)
    if scaling.empty:
        return
    section.runs.append(results.provenance_line("efficiency", scaling.run_id.iloc[0]))
    table = []
    for size in sorted(scaling.resolution.dropna().unique()):
        at = scaling[scaling.resolution == size]
        latency = {m: value(at, m, "latency_median_s", batch=1.0, variant="eager") for m in (unet, cunet)}
        table.append({"resolution": int(size),
                      "GMAC ratio": value(at, cunet, "gmacs_conv_linear") / value(at, unet, "gmacs_conv_linear"),
                      "latency ratio (b=1)": latency[cunet] / latency[unet] if all(latency.values()) else None})
    section.body += ["Resolution study (cU-Net/U-Net):", markdown_table(table)]
