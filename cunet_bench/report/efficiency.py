"""The report's efficiency sections: parameters, compute and memory (Table 5, Figure 6) and
inference speed (the "30–80% faster" claim)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cunet_bench.paper import paper_value
from cunet_bench.report import figures
from cunet_bench.report.markdown import Claim, Section, markdown_table, missing, not_measured
from cunet_bench.report.results import Results, paper_name, tagged, value
from cunet_bench.report.verdicts import ratio_of_medians, verdict_below, verdict_exact

FASTER_THRESHOLD = 1 / 1.3
"""'30–80% faster': at least 1.3× the U-Net's speed, i.e. a time ratio below 1/1.3."""


def _pair(rows: pd.DataFrame) -> tuple[str, str] | None:
    """The paper's U-Net and cU-Net among the rows, found by their recorded tags."""
    unet, cunet = tagged(rows, "paper-unet"), tagged(rows, "paper-cunet")
    return (unet[0], cunet[0]) if unet and cunet else None


def _is_table5_run(rows: pd.DataFrame) -> bool:
    return (_pair(rows) is not None and len(tagged(rows, "table5")) >= 2 and "gmacs_conv_linear" in set(rows.metric)
            and 64 in set(rows.resolution.dropna()))


def efficiency_section(results: Results, figures_dir: Path) -> Section:
    section = Section("efficiency", "Parameters, compute and memory (Table 5, Figure 6)")
    rows = results.latest_run("efficiency", _is_table5_run)
    if rows.empty:
        section.claims += [not_measured(c, p, section.anchor, "no efficiency run")
                           for c, p in (("~4× fewer parameters", "8.8M vs 35.7M"), ("~30% of the FLOPs", "2.90 vs 7.21 GFLOPs"),
                                        ("less memory", "137.9 vs 545.5 MB"))]
        return missing(section, "parameters, MACs and memory at 1×3×64×64", "bench efficiency --preset paper")
    run_id = rows.run_id.iloc[0]
    section.runs.append(results.provenance_line("efficiency", run_id))
    rows = rows[(rows.resolution == 64) & (rows.solver.isna() | (rows.solver == "rk4/1"))] if "solver" in rows else rows
    table, plotted = [], []
    unet, cunet = _pair(rows)
    for model in tagged(rows, "table5"):
        entry = {"model": model, "paper name": paper_name(rows, model)}
        for metric, source, label in (("parameters", "Figure 6", "parameters"), ("gmacs_conv_linear", "Table 5", "GMAC"),
                                      ("static_training_mib", "Table 5", "static MiB")):
            measured, paper = value(rows, model, metric), paper_value(source, model, metric)
            entry[f"{label} (paper)"] = paper
            entry[f"{label} (ours)"] = measured
            entry[f"{label} ours/paper"] = measured / paper if measured is not None and paper else None
            plotted.append({"model": model, "label": paper_name(rows, model), "metric": metric, "measured": measured,
                            "paper": paper if paper is not None else np.nan})
        entry["peak train MiB (b=1)"] = value(rows, model, "peak_train_mib")
        table.append(entry)
    figures.efficiency_bars(pd.DataFrame(plotted), figures_dir / "efficiency.png")
    section.body += [
        "Counted at 1×3×64×64 with the released solver (RK4, one step per block). GMAC = fvcore multiply-"
        "accumulates of convolutions and linear layers (what the paper calls GFLOPs); static memory = weights, "
        "gradients and two Adam moments in fp32. Exact quantities: no interval applies. The paper's wo/R and wo/A/R "
        "rows come from a variant that is not in the released code; ours remove the ODE function's residual, which "
        "has no parameters (`bench models cunet-release-wo-r`), so those two rows are not expected to match.",
        markdown_table(table), "![Parameters, MACs and memory](figures/efficiency.png)"]
    for claim, metric, paper_text, threshold in (
            ("~4× fewer parameters", "parameters", "8.8M vs 35.7M (0.25×)", 0.30),
            ("~30% of the FLOPs", "gmacs_conv_linear", "2.90 vs 7.21 GMAC (0.40×, Table 5)", 0.44),
            ("less memory (static training)", "static_training_mib", "137.9 vs 545.5 MB (0.25×)", 0.28)):
        ratio = value(rows, cunet, metric) / value(rows, unet, metric)
        section.claims.append(Claim(claim, paper_text, f"{ratio:.3f}× (exact)", verdict_exact(ratio, threshold),
                                    section.anchor, f"ratio below {threshold}"))
    return section


def _has_latency_samples(rows: pd.DataFrame) -> bool:
    return _pair(rows) is not None and "latency_s" in set(rows.metric)


def speed_section(results: Results, figures_dir: Path) -> Section:
    section = Section("speed", "Inference speed (30–80% faster)")
    rows = results.latest_run("efficiency", _has_latency_samples)
    if rows.empty:
        section.claims.append(not_measured("30–80% faster inference", "CPU, Table 1 times", section.anchor,
                                           "no timed repeats recorded"))
        return missing(section, "latency with every timed repeat", "bench efficiency --preset quick")
    run_id = rows.run_id.iloc[0]
    section.runs.append(results.provenance_line("efficiency", run_id))
    unet, cunet = _pair(rows)
    latency = rows[rows.metric == "latency_s"]
    table, plotted = [], []
    resolution = int(latency.resolution.iloc[0])
    for batch in sorted(latency.batch.unique()):
        samples = {m: latency[(latency.model == m) & (latency.batch == batch)].value.to_numpy() for m in (unet, cunet)}
        interval = ratio_of_medians(samples[cunet], samples[unet])
        table.append({"batch": int(batch), "U-Net median s": float(np.median(samples[unet])),
                      "cU-Net median s": float(np.median(samples[cunet])),
                      "time ratio cU-Net/U-Net [95% CI]": interval.text(),
                      "repeats": f"{len(samples[unet])}/{len(samples[cunet])}",
                      "verdict": verdict_below(interval, FASTER_THRESHOLD)})
        for model, values in samples.items():
            q1, q3 = np.percentile(values, [25, 75])
            plotted.append({"model": model, "batch": int(batch), "median_s": float(np.median(values)), "q1_s": q1, "q3_s": q3})
    figures.latency_by_batch(pd.DataFrame(plotted), figures_dir / "latency.png")
    section.body += [
        f"Forward-pass latency at {resolution}×{resolution} on the recorded device; ratio of medians with a 95% "
        f"bootstrap interval over timed repeats. Claim threshold: time ratio below {FASTER_THRESHOLD:.3f} "
        "(at least 1.3× faster).", markdown_table(table), "![Latency](figures/latency.png)"]
    first = table[0]
    section.claims.append(Claim("30–80% faster inference", "CPU (Table 1)",
                                f"time ratio {first['time ratio cU-Net/U-Net [95% CI]']} at batch {first['batch']}",
                                first["verdict"], section.anchor, f"interval below {FASTER_THRESHOLD:.3f}"))
    scaling = results.latest_run("efficiency", lambda r: r.resolution.nunique() > 1 and _pair(r) is not None)
    if not scaling.empty:
        section.runs.append(results.provenance_line("efficiency", scaling.run_id.iloc[0]))
        scaling_rows = []
        for size in sorted(scaling.resolution.dropna().unique()):
            at = scaling[scaling.resolution == size]
            macs = value(at, cunet, "gmacs_conv_linear") / value(at, unet, "gmacs_conv_linear")
            latency_ratio = value(at, cunet, "latency_median_s", batch=1.0)
            unet_latency = value(at, unet, "latency_median_s", batch=1.0)
            scaling_rows.append({"resolution": int(size), "GMAC ratio": macs,
                                 "latency ratio (b=1)": latency_ratio / unet_latency if latency_ratio and unet_latency else None})
        section.body += ["Resolution study (cU-Net/U-Net):", markdown_table(scaling_rows)]
    solvers = results.latest_run("solvers")
    if not solvers.empty:
        section.runs.append(results.provenance_line("solvers", solvers.run_id.iloc[0]))
        section.body += ["ODE solver cost (`bench solvers`):", markdown_table(
            [{k: row[k] for k in ("solver", "batch", "metric", "value", "unit")} for row in solvers.to_dict("records")])]
    return section
