"""The report's efficiency section: parameters, compute and memory (Table 5, Figure 6)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cunet_bench.paper import paper_value
from cunet_bench.report import figures
from cunet_bench.report.markdown import Claim, Section, markdown_table, missing, not_measured
from cunet_bench.report.results import Results, paper_name, tagged, value
from cunet_bench.report.verdicts import verdict_exact


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
