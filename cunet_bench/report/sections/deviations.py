"""The report's Deviations and limitations section: where the runs depart from the paper (sizes,
recipe, data, metrics, the Table 5 variant, the BM3D gap), from the recorded results."""

from __future__ import annotations

from cunet_bench.report.markdown import Section, plain
from cunet_bench.report.paper import CUNET, paper_value
from cunet_bench.report.results import Results, paper_name, tagged
from cunet_bench.report.sections.setup import recorded, training_entries

RELEASE_RECIPE = "learning rate 2e-4, constant; EMA 0.9999; uniform weighting; batch 128 with 2 accumulation steps"
"""The released code's training recipe (docs/protocol.md §2), the ``paper`` preset's."""


def _recipe_deviation(results: Results) -> list[str]:
    """The backbones' recorded training recipe beside the release's."""
    trained = [entry for entry in training_entries(results) if results.is_backbone(entry["model"])]
    used = sorted(
        {
            f"learning rate {recorded(e['lr'])}, {e['recipe']}; EMA {e['ema_decay']}; batch {recorded(e['batch_size'])}"
            for e in trained
        }
    )
    if not used:
        return []
    return [
        f"**Training recipe.** The backbones trained with {' / '.join(used)}; the release with {RELEASE_RECIPE}. "
        "An EMA of 0.9999 averages over about 10,000 steps, longer than a run of a few thousand: a short run needs "
        "a shorter average."
    ]


def _table5_variant(results: Results) -> list[str]:
    """Which of our cU-Net builds Table 5's cU-Net figures (GFLOPs and MB) match most closely."""
    counts = results.runs("efficiency")
    counts = counts[(counts.kind == "count") & (counts.resolution == 64)]
    if counts.empty:
        return []
    paper = {metric: paper_value("Table 5", CUNET, metric) for metric in ("gmacs_conv_linear", "static_training_mib")}
    ours = {}
    for model in tagged(counts, "table5"):
        mine = counts[counts.model == model]
        values = {m: mine[mine.metric == m].value for m in paper}
        if paper_name(counts, model).startswith("cU-Net") and all(len(v) for v in values.values()):
            ours[model] = {m: float(v.iloc[-1]) for m, v in values.items()}
    if not ours or any(v is None for v in paper.values()):
        return []

    def distance(model: str) -> float:
        return sum(abs(ours[model][m] / paper[m] - 1) for m in paper)

    closest = min(ours, key=distance)
    shown = "; ".join(
        f"`{m}` {v['gmacs_conv_linear']:.3f} GMAC / {v['static_training_mib']:.1f} MiB"
        for m, v in sorted(ours.items(), key=lambda item: distance(item[0]))
    )
    return [
        f"**Which cU-Net Table 5 describes.** Its cU-Net row ({paper['gmacs_conv_linear']:g} G, "
        f"{paper['static_training_mib']:g} MB) is closest to `{closest}` ({paper_name(counts, closest)}); ours, "
        f"closest first: {shown}. The verdicts use the released model."
    ]


def _bm3d_gap(results: Results) -> list[str]:
    """The paper's BM3D SSIM against ours and against the noisy input's: below the noisy input it
    made the images worse, which BM3D at the right σ does not."""
    denoise = results.runs("denoise")
    summary = denoise[(denoise.kind == "summary") & (denoise.metric == "ssim")]
    methods = denoise[denoise.kind == "method"]
    bm3d = set(methods[methods.paper_name == "BM3D"].method)
    rows = []
    for level in sorted(summary.noise_step.dropna().unique()):
        paper = paper_value("Table 4", "BM3D", "ssim", int(level))
        at = summary[summary.noise_step == level]
        ours, noisy = at[at.method.isin(bm3d)]["mean"], at[at.method == "noisy input"]["mean"]
        if paper is not None and len(ours) and len(noisy):
            rows.append((int(level), paper, float(ours.mean()), float(noisy.mean())))
    if not rows:
        return []
    below = [level for level, paper, _, noisy in rows if paper < noisy]
    text = "; ".join(
        f"step {level}: paper {paper:g}, ours {ours:.3g}, noisy input {noisy:.3g}" for level, paper, ours, noisy in rows
    )
    return [
        f"**BM3D.** The paper's BM3D SSIM against ours and this run's noisy input ({text}). This run noises with "
        "the release's sigmoid schedule; the paper's text uses Ho's linear one, whose input at the same step is "
        "noisier (σ in the denoising section), which lowers every method's SSIM. "
        + (
            f"Yet at step {', '.join(map(str, below))} the paper's BM3D scores below even this run's noisy input, "
            "and BM3D told the input's σ does not make an image worse: the paper's baseline was most likely "
            "misconfigured (a σ in the wrong units — σ/255 leaves the input unchanged — or the noisy x_n fed without "
            "its 1/√ᾱ rescaling). "
            if below
            else ""
        )
        + "Ours sees y = x_n/√ᾱ_n with σ = √(1−ᾱ_n)/√ᾱ_n, as the other baselines do."
    ]


def _widths(results: Results) -> str:
    """The trained backbones' widths, data and image size as their training records give them."""
    trained = [entry for entry in training_entries(results) if results.tags(entry["model"]) & {"quality"}]
    if not trained:
        return "no training recorded in these results"
    ordered = sorted(trained, key=lambda entry: str(entry["model"]))
    shown = "; ".join(f"{plain(e['model'], 40)} {plain(e['model_options'], 60)}" for e in ordered)
    places = sorted({f"{plain(e['data'], 40)} at {recorded(e['resolution'])} px" for e in trained})
    return f"{shown}, on {', '.join(places)}"


def deviations_section(
    results: Results, distance_name: str | None, lpips_measured: bool, pair_choice: str | None = None
) -> Section:
    """The section's items; ``pair_choice``: why this report's pair and not an alternative piloted
    beside it (``report.pair_choice``)."""
    section = Section("deviations", "Deviations and limitations")
    items = [
        f"**Scale.** The quality runs train narrow models ({_widths(results)}) on a CPU, for the steps of "
        "the training table; the paper trains full-width models on MNIST, CelebA and LSUN Church at 64 px. The "
        "verdicts test the claims at this scale; they cannot confirm or refute the paper's absolute numbers.",
        "**The cU-Net that produced the paper's numbers ignores the timestep.** The released ConvSODEUNet builds a "
        "time embedding and never uses it; its ODE dynamics are augmented first order, not the second order of eq. 4. "
        "Verdicts use the release (`cunet-release`); the paper-described model (`cunet`) is reported beside it.",
        "**wo/R is not in the release.** Table 5's wo/R rows come from an unreleased variant; ours remove the ODE "
        "function's residual connection (no parameters), so those rows do not match.",
        "**Step spacing of the sampler.** For 5 DDIM steps ours visits 999, 749, 500, 250, 0; the release "
        "999, 799, 599, 399, 199 then x0; diffusers' 'leading' spacing 800, 600, 400, 200, 0. Best step counts are "
        "compared on our spacing.",
        "**Schedule and noise levels.** The release trains with v-prediction and the sigmoid schedule (ours too); the "
        "paper's text describes Ho et al.'s ε-prediction and linear schedule. The same noise step is a different noise "
        "level under the two (the denoising section lists σ under both).",
        "**Scoring of the denoising chain.** The verdicts score the iterate, as the release does; scoring the x0 "
        "estimate moves the best step earlier (both are shown).",
        "**ConvAE loss.** The release's ConvAE collapses to a black image on MNIST under an MSE loss; it is trained "
        "here with binary cross-entropy on its logits (same architecture).",
        "**Allocator.** Every timing runs with glibc's mmap and trim thresholds raised (recorded with each result): "
        "the default returns memory to the system on every mid-size tensor, which cost the cU-Net's solver loop 10% "
        "and both models 10–25% at batch 1.",
        "**The paper's CPU is unnamed**; its times cannot be compared with ours in absolute terms, only as ratios.",
    ]
    items += _recipe_deviation(results) + _table5_variant(results) + _bm3d_gap(results)
    if pair_choice is not None:
        items.append(pair_choice)
    if distance_name and distance_name != "FID":
        items.append(
            f"**{distance_name} instead of FID.** The Inception weights are not installed here; distances are "
            "taken in the features of a classifier trained on the dataset's labels. They rank models; they are "
            "not comparable with published FIDs. With few samples (N in every row) they are biased upwards."
        )
    if not lpips_measured:
        items.append(
            "**LPIPS is not measured.** Its AlexNet weights are not installed; the perceptual claim is tested "
            "with a proxy — the distance in the feature classifier's 64-d features — named as such."
        )
    section.body.append("\n".join(f"- {item}" for item in items))
    return section
