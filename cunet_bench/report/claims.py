"""Every claim of the paper the report tests, in the paper's order (abstract, then sections 4.1–4.3
and the appendices), with the paper's own figures taken from ``paper_values.csv``; the paper's
concession and our own extra measurements are listed apart. A section builds a row for each claim
it owns — with a verdict, or "not measured" and the command that would measure it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from cunet_bench.report import paper
from cunet_bench.report.markdown import CLAIM, CONCESSION, NON_CLAIM, Claim, Effect
from cunet_bench.report.paper import CUNET, UNET, paper_value
from cunet_bench.report.verdicts import NOT_MEASURED


@dataclass(frozen=True)
class Statement:
    title: str
    paper: str
    section: str
    group: str = CLAIM


def _parameters() -> str:
    ours = paper_value("Figure 6", CUNET, "parameters"), paper_value("Figure 6", UNET, "parameters")
    return (
        f"{ours[0] / 1e6:.1f}M vs {ours[1] / 1e6:.1f}M ({ours[0] / ours[1]:.2f}×; "
        "the counts are the release notebook's)"
    )


def _table5(metric: str, unit: str) -> str:
    values = paper_value("Table 5", CUNET, metric), paper_value("Table 5", UNET, metric)
    return f"{values[0]:g} vs {values[1]:g} {unit} ({values[0] / values[1]:.2f}×)"


@lru_cache(maxsize=1)
def statements() -> dict[str, Statement]:
    """Claim id → what the paper says, in the paper's order."""
    low, high = 50, 400
    return {
        "parameters": Statement("~4× fewer parameters", _parameters(), "efficiency"),
        "flops-abstract": Statement(
            "~30% of the FLOPs (abstract)",
            f"~30%; but the paper's own Table 5 gives {_table5('gmacs_conv_linear', 'G')}",
            "efficiency",
        ),
        "flops-table5": Statement(
            "Table 5: the cU-Net's GFLOPs", _table5("gmacs_conv_linear", "GFLOPs (thop MACs)"), "efficiency"
        ),
        "memory-static": Statement("less memory (Table 5's 'MB')", _table5("static_training_mib", "MB"), "efficiency"),
        "faster": Statement("30–80% faster inference", paper.table1_times(), "speed"),
        "comparable-fid": Statement("comparable FID", paper.table1_fid(), "fid"),
        "fewer-sampling-steps": Statement("best FID in fewer sampling steps", paper.table1_steps(), "fid"),
        "lpips": Statement(
            "better perceptual quality (LPIPS) at every noise level",
            f"Table 2: lower LPIPS at all eight levels ({paper.pair('Table 2', 'lpips', high)} at {high})",
            "denoising",
        ),
        "proxy": Statement(
            "better perceptual quality (proxy: classifier-feature distance) at every noise level",
            f"Table 2: lower LPIPS at all eight levels ({paper.pair('Table 2', 'lpips', high)} at {high})",
            "denoising",
        ),
        "ssim-low": Statement(
            "better SSIM at low noise",
            f"Tables 2 and 4: {paper.pair('Table 2', 'ssim', low)} at step {low}",
            "denoising",
        ),
        "perception-distortion": Statement(
            "the cU-Net trades distortion for perception (§4.2, Figures 10–11)",
            "'U-Net scores better in SSIM, while our models perform better in LPIPS' (perception–distortion trade-off)",
            "denoising",
        ),
        "fewer-reverse-steps": Statement(
            "best result in fewer reverse steps, consistently",
            f"Table 3: fewer at all eight levels ({paper.pair('Table 3', 'ssim_best_step', high)} steps at {high})",
            "denoising",
        ),
        "less-time": Statement(
            "less time to the best result",
            f"Table 3: {paper.pair('Table 3', 'ssim_time_to_best_s', high)} s at {high}",
            "denoising",
        ),
        "fewer-perceptual-steps": Statement(
            "best perceptual score in fewer reverse steps (Table 3's LPIPS columns; proxy)",
            f"Table 3: {paper.pair('Table 3', 'lpips_best_step', high)} steps at {high}",
            "denoising",
        ),
        "no-elbow": Statement(
            "no elbow: the cU-Net's perceptual score does not deteriorate after its best (Figure 11; proxy)",
            "Figure 11: the U-Net's LPIPS worsens after its peak, the cU-Net's much less",
            "denoising",
        ),
        "beats-others-low": Statement(
            "outperforms the others at low noise in SSIM and perceptually (Table 4)",
            f"Table 4 at step {low}: SSIM {paper_value('Table 4', CUNET, 'ssim', low):g} vs U-Net "
            f"{paper_value('Table 4', UNET, 'ssim', low):g}, DnCNN {paper_value('Table 4', 'DnCNN', 'ssim', low):g}, "
            f"ConvAE {paper_value('Table 4', 'Conv AE', 'ssim', low):g}, "
            f"BM3D {paper_value('Table 4', 'BM3D', 'ssim', low):g}; "
            "lowest LPIPS",
            "denoising",
        ),
        "generalisation": Statement(
            "diffusion U-Nets generalise better across noise than the learned baselines (§4.2)",
            f"Table 4 at step {high}: SSIM U-Net {paper_value('Table 4', UNET, 'ssim', high):g}, cU-Net "
            f"{paper_value('Table 4', CUNET, 'ssim', high):g} "
            f"vs DnCNN {paper_value('Table 4', 'DnCNN', 'ssim', high):g}, "
            f"ConvAE {paper_value('Table 4', 'Conv AE', 'ssim', high):g}",
            "denoising",
        ),
        "ablations": Statement(
            "worse samples without attention or residual connections (Appendix C)",
            "Figures 12–13: 'considerably diminished' image quality",
            "fid",
        ),
        "worse-ssim-high": Statement(
            "worse SSIM at high noise",
            f"Table 2: {paper.pair('Table 2', 'ssim', high)} at step {high}",
            "denoising",
            CONCESSION,
        ),
        "memory-peak": Statement(
            "less memory: measured peak training memory",
            "not measured in the paper (its 'MB' is static memory)",
            "efficiency",
            NON_CLAIM,
        ),
        "faster-per-evaluation": Statement(
            "faster per network evaluation",
            "not claimed per evaluation (Table 1's "
            "per-step times give " + ", ".join(f"{r:.2f}" for r in _per_step_ratios()) + ")",
            "speed",
            NON_CLAIM,
        ),
    }


def _per_step_ratios() -> list[float]:
    ratios = []
    for dataset in paper.DATASETS:
        per_step = [
            paper_value("Table 1", name, "seconds_per_sample", dataset)
            / paper_value("Table 1", name, "best_steps", dataset)
            for name in (CUNET, UNET)
        ]
        ratios.append(per_step[0] / per_step[1])
    return ratios


ORDER = {key: index for index, key in enumerate(statements())}


def claim(
    key: str,
    ours: str,
    verdict: str,
    rule: str = "",
    reason: str = "",
    suffix: str = "",
    runs: tuple[str, ...] = (),
    effect: Effect | None = None,
    gate: str | None = None,
) -> Claim:
    """A row for the claim ``key`` (``suffix`` names a variant, e.g. the cU-Net flavour or the batch;
    ``effect``: what the claims figure draws for it; ``gate``: the convergence gate's reason, "" when open)."""
    statement = statements()[key]
    return Claim(
        statement.title + suffix,
        statement.paper,
        ours,
        verdict,
        statement.section,
        rule,
        reason,
        statement.group,
        ORDER[key],
        runs,
        key,
        effect,
        gate,
    )


def unmeasured(key: str, why: str, suffix: str = "") -> Claim:
    """A row for a claim without the results it needs: ``why`` says what is missing and how to make it."""
    return claim(key, why, NOT_MEASURED, suffix=suffix)
