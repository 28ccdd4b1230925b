"""The report's efficiency section: parameters, compute and memory (Table 5, Figure 6), and the
measured peak training memory at the largest batch measured, split into optimiser state and
activations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cunet_bench.models.solver import RELEASED
from cunet_bench.report import figures
from cunet_bench.report.claims import claim, unmeasured
from cunet_bench.report.every_model import efficiency_table
from cunet_bench.report.markdown import Claim, Effect, Section, markdown_table, missing
from cunet_bench.report.paper import CUNET, UNET, paper_value
from cunet_bench.report.results import Results, paper_name, tagged, value
from cunet_bench.report.verdicts import (
    BY_CONSTRUCTION,
    INCONCLUSIVE,
    NOT_REPRODUCED,
    REPRODUCED,
    Interval,
    by_construction,
    verdict_exact,
)

ABSTRACT_TOLERANCE = 0.10
"""The abstract's "~30%" is tested as 0.30 ± 10%."""
PEAK_MARGIN = 0.10
"""A measured peak must be 10% below the U-Net's to count as less (the allocator rounds)."""
PAPER_RESOLUTION = 64
KEYS = ("parameters", "flops-abstract", "flops-table5", "memory-static", "memory-peak")


def _pair(rows: pd.DataFrame) -> tuple[str, str] | None:
    """The paper's U-Net and cU-Net among the rows, found by their recorded tags."""
    unet, cunet = tagged(rows, "paper-unet"), tagged(rows, "paper-cunet")
    return (unet[0], cunet[0]) if unet and cunet else None


def _is_table5_run(rows: pd.DataFrame) -> bool:
    counts = rows[rows.kind == "count"]
    return (
        _pair(counts) is not None
        and len(tagged(counts, "table5")) >= 2
        and "gmacs_conv_linear" in set(counts.metric)
        and PAPER_RESOLUTION in set(counts.resolution.dropna())
    )


def _table(rows: pd.DataFrame) -> tuple[list[dict], list[dict]]:
    """Table 5 / Figure 6 beside ours, per Table 5 model; and the values the figure plots."""
    table, plotted = [], []
    for model in tagged(rows, "table5"):
        name = paper_name(rows, model)
        entry = {"model": model, "paper name": name}
        for metric, source, label in (
            ("parameters", "Figure 6", "parameters (release notebook)"),
            ("gmacs_conv_linear", "Table 5", "GMAC"),
            ("static_training_mib", "Table 5", "static MiB"),
        ):
            measured, paper = value(rows, model, metric), paper_value(source, name, metric)
            entry[f"{label} (paper)"] = paper
            entry[f"{label} (ours)"] = measured
            entry[f"{label} ours/paper"] = measured / paper if measured is not None and paper else None
            plotted.append(
                {
                    "model": model,
                    "label": name,
                    "metric": metric,
                    "measured": measured,
                    "paper": paper if paper is not None else np.nan,
                }
            )
        table.append(entry)
    return table, plotted


def _memory(rows: pd.DataFrame, unet: str, cunet: str, run: str) -> tuple[list[dict], Claim | None]:
    """Peak training memory per measured batch, split into optimiser state and activations; the
    claim row at the largest batch."""
    memory = rows[rows.kind == "memory"]
    table = []
    for batch in sorted(memory.batch.dropna().unique()):
        entry = {"batch": int(batch)}
        for model in (unet, cunet):
            name = paper_name(rows, model)
            for metric, label in (
                ("peak_train_mib", "peak"),
                ("train_state_mib", "optimiser state"),
                ("train_activation_mib", "activations"),
            ):
                entry[f"{name} {label} MiB"] = value(memory, model, metric, batch=batch)
        table.append(entry)
    if not table:
        return [], None
    largest = table[-1]["batch"]
    peaks = value(memory, cunet, "peak_train_mib", batch=largest), value(memory, unet, "peak_train_mib", batch=largest)
    if not all(peaks):
        return table, None
    ratio = peaks[0] / peaks[1]
    activations = (
        value(memory, cunet, "train_activation_mib", batch=largest),
        value(memory, unet, "train_activation_mib", batch=largest),
    )
    verdict = REPRODUCED if ratio < 1 - PEAK_MARGIN else NOT_REPRODUCED if ratio > 1 + PEAK_MARGIN else INCONCLUSIVE
    ours = (
        f"{ratio:.2f}× at batch {largest} ({peaks[0]:.0f} vs {peaks[1]:.0f} MiB; activations "
        f"{activations[0]:.0f} vs {activations[1]:.0f} MiB)"
    )
    return table, claim(
        "memory-peak",
        ours,
        verdict,
        f"peak ratio at the largest batch measured below {1 - PEAK_MARGIN:.2f} (±{PEAK_MARGIN:.0%} for the allocator)",
        runs=(run,),
    )


def _claims(rows: pd.DataFrame, unet: str, cunet: str, run: str) -> list[Claim]:
    """The exact claims: counts of the rebuilt architectures against the paper's figures."""

    def ratio(metric: str) -> float:
        return value(rows, cunet, metric) / value(rows, unet, metric)

    def paper_ratio(source: str, metric: str) -> float:
        return paper_value(source, CUNET, metric) / paper_value(source, UNET, metric)

    def exact(measured: float, source: str, metric: str, thresholds: tuple[float, ...] = ()) -> Effect:
        paper = paper_ratio(source, metric)
        return Effect(Interval(measured, measured, measured), "cU-Net / U-Net", thresholds or (paper,), paper, True)

    counts = f"{value(rows, cunet, 'parameters'):,.0f} vs {value(rows, unet, 'parameters'):,.0f}"
    macs = ratio("gmacs_conv_linear")
    runs = (run,)
    tolerance = "equal to the paper's ratio within ±5% (an exact count: nothing is sampled)"
    abstract = verdict_exact(abs(macs - 0.30) / 0.30, ABSTRACT_TOLERANCE)
    table5 = by_construction(macs, paper_ratio("Table 5", "gmacs_conv_linear"))
    return [
        claim(
            "parameters",
            f"{ratio('parameters'):.3f}× ({counts}, exact)",
            by_construction(ratio("parameters"), paper_ratio("Figure 6", "parameters")),
            tolerance,
            runs=runs,
            effect=exact(ratio("parameters"), "Figure 6", "parameters"),
        ),
        claim(
            "flops-abstract",
            f"{macs:.3f}× (exact)",
            abstract,
            f"within ±{ABSTRACT_TOLERANCE:.0%} of 0.30: the abstract's figure against its own Table 5",
            "the abstract contradicts the paper's own Table 5, which our exact count matches"
            if abstract == NOT_REPRODUCED and table5 == BY_CONSTRUCTION
            else "",
            runs=runs,
            effect=exact(macs, "Table 5", "gmacs_conv_linear", (0.30,)),
        ),
        claim(
            "flops-table5",
            f"{macs:.3f}× ({value(rows, cunet, 'gmacs_conv_linear'):.3f} vs "
            f"{value(rows, unet, 'gmacs_conv_linear'):.3f} GMAC, exact)",
            table5,
            tolerance,
            runs=runs,
            effect=exact(macs, "Table 5", "gmacs_conv_linear"),
        ),
        claim(
            "memory-static",
            f"{ratio('static_training_mib'):.3f}× (16 bytes per trainable parameter: it repeats the parameter count)",
            by_construction(ratio("static_training_mib"), paper_ratio("Table 5", "static_training_mib")),
            tolerance + "; weights, gradients, two Adam moments in fp32",
            runs=runs,
            effect=exact(ratio("static_training_mib"), "Table 5", "static_training_mib"),
        ),
    ]


def efficiency_section(results: Results, figures_dir: Path) -> Section:
    section = Section("efficiency", "Parameters, compute and memory (Table 5, Figure 6)")
    every, every_run = efficiency_table(results)
    if every_run is not None:
        section.body += every
        section.runs.append(results.provenance_line("efficiency", every_run))
    rows = results.latest_run("efficiency", _is_table5_run)
    if rows.empty:
        section.claims += [
            unmeasured(key, "no efficiency run of the Table 5 models at 1×3×64×64 (bench efficiency --preset quick)")
            for key in KEYS
        ]
        if every_run is not None:
            section.body.append(
                "Table 5's comparison with the paper is not made from this run: it needs the Table 5 models at "
                "1×3×64×64 (`bench efficiency --preset quick`)."
            )
            return section
        return missing(
            section, "parameters, MACs and memory of the Table 5 models at 1×3×64×64", "bench efficiency --preset quick"
        )
    run = str(rows.run_id.iloc[0])
    section.runs.append(results.provenance_line("efficiency", run))
    rows = rows[(rows.resolution == PAPER_RESOLUTION) & (rows.solver.isna() | (rows.solver == RELEASED.label))]
    unet, cunet = _pair(rows)
    table, plotted = _table(rows)
    figures.efficiency_bars(
        pd.DataFrame(plotted), figures_dir / "efficiency.png", figures.role_colours(results.model_tags())
    )
    section.body += [
        f"Counted at 1×3×64×64 with the released solver ({RELEASED.label}). GMAC = fvcore multiply-accumulates of "
        "convolutions and linear layers (what the paper calls GFLOPs); static memory = weights, gradients and two "
        "Adam moments in fp32. Exact quantities: no interval applies. The paper's wo/R and wo/A/R rows come from a "
        "variant that is not in the released code; ours remove the ODE function's residual, which has no parameters "
        "(`bench models cunet-release-wo-r`), so those two rows are not expected to match. Figure 6's parameter counts "
        "are the released notebook's (the paper's text only says 8.8M, about a quarter).",
        markdown_table(table),
        "![Parameters, MACs and memory](figures/efficiency.png)  \nBars: ours; crosses: the "
        "paper's Table 5 / Figure 6.",
    ]
    section.claims += _claims(rows, unet, cunet, run)
    memory, peak_claim = _memory(rows, unet, cunet, run)
    if memory:
        section.body += [
            "Measured peak memory of one training step (forward, backward, Adam) in a fresh process, "
            "above the built model; 'optimiser state' is the gradients and two Adam moments the step "
            "allocates (12 bytes per trainable parameter), 'activations' the rest — what grows with the "
            "batch:",
            markdown_table(memory),
        ]
    section.claims.append(
        peak_claim or unmeasured("memory-peak", "no peak memory measured (bench efficiency --memory)")
    )
    return section
