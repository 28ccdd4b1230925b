"""The ``bench`` command line. Commands parse arguments, call benchmarks, write records and
print; bad input ends in one line on standard error and exit code 2."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import sys
import warnings
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from cunet_bench import provenance, records
from cunet_bench.cli_options import (parse_int_list, parse_name_list, parse_output_folder, parse_seed, resolve_device,
                                     seed_everything)
from cunet_bench.errors import BenchWarning, UserError, warn
from cunet_bench.interrupts import Interrupted, handle_stop_signals
from cunet_bench.output import OutputFormat, emit
from cunet_bench.registry import REGISTRY, parameter_count

app = typer.Typer(name="bench", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


@app.callback()
def _root() -> None:
    """Benchmark and reproduce 'The Missing U for Efficient Diffusion Models' (cU-Net vs U-Net)."""


FormatOption = typer.Option(OutputFormat.table, "--format", help="table for people, json for machines")
DeviceOption = typer.Option("auto", "--device", help="cpu, cuda or auto (CUDA when a GPU is visible)")
SeedOption = typer.Option(0, "--seed", help="random seed (recorded with the results)", callback=parse_seed)
OutOption = typer.Option(Path("results"), "--out", help="folder the results are written to",
                         callback=parse_output_folder)
DryRunOption = typer.Option(False, "--dry-run", help="print the resolved configuration and stop")
stderr = Console(stderr=True, soft_wrap=True)


def _model_summary(name: str) -> dict:
    spec = REGISTRY.get(name)
    model = spec.instantiate()
    return {
        "name": spec.name,
        "family": spec.family,
        "parameters": parameter_count(model),
        "description": spec.description,
    }


def _model_detail(name: str) -> dict:
    spec = REGISTRY.get(name)
    model = spec.instantiate()
    detail = {
        "name": spec.name,
        "family": spec.family,
        "description": spec.description,
        "parameters": parameter_count(model),
        "trainable parameters": parameter_count(model, trainable_only=True),
        "input shape": f"[B, {spec.default_channels}, {spec.default_image_size}, {spec.default_image_size}]",
        "image size divisible by": spec.downsampling_factor,
        "supports": ", ".join(sorted(spec.supports)) or "—",
        "configuration": ", ".join(f"{k}={v}" for k, v in spec.config.items()) or "defaults",
    }
    if spec.notes:
        detail["notes"] = spec.notes
    if "solver" in spec.supports:
        detail["solver"] = model.solver.label
        detail["ODE blocks"] = len(model.ode_blocks)
    return detail


@app.command("models")
def models_command(
    name: Optional[str] = typer.Argument(None, help="show one model in detail"),
    output_format: OutputFormat = FormatOption,
) -> None:
    """List the registered models with their parameter counts at the default configuration.

    Example: bench models · bench models cunet-release · bench models --format json
    """
    if name is None:
        rows = [_model_summary(spec.name) for spec in REGISTRY]
        emit(rows, output_format, title="registered models (parameters at the default configuration)")
    else:
        detail = _model_detail(name)
        if output_format is OutputFormat.json:
            emit([detail], output_format)
        else:
            emit([{"field": k, "value": v} for k, v in detail.items()], output_format, title=name)


def _progress(enabled: bool = True) -> Progress:
    """A transient progress display on standard error, shown only on a terminal."""
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=stderr,
                    transient=True, disable=not (enabled and stderr.is_terminal))


def _record(bench: str, rows: list[dict], meta: dict, out: Path) -> records.RunFiles | None:
    if not rows:
        return None
    files = records.write_run(bench, rows, meta, out)
    stderr.print(f"results: {files.csv} (+ .json provenance)")
    return files


def _run_recorded(bench: str, rows_iter, meta: dict, out: Path, label: str, total: int
                  ) -> tuple[list[dict], str | None]:
    """Drive a benchmark's row generator under a progress display; whatever was measured is
    recorded, also when the run fails or is interrupted. Returns the rows and the run id."""
    rows: list[dict] = []
    files = None
    meta = {**meta, "complete": False}
    try:
        with _progress() as progress:
            task = progress.add_task(label, total=total)

            def advance(message: str) -> None:
                progress.update(task, description=f"{label}: {message}", advance=1)

            for row in rows_iter(advance):
                rows.append(row)
        meta["complete"] = True
    finally:
        files = _record(bench, rows, meta, out)
    return rows, files.run_id if files else None


@app.command("efficiency")
def efficiency_command(
    preset: str = typer.Option("paper", "--preset", help="smoke, quick or paper (the defaults below)"),
    models: Optional[str] = typer.Option(None, "--models", help="comma-separated model names"),
    resolution: Optional[str] = typer.Option(None, "--resolution", help="image sizes, e.g. 32,64,128,256"),
    channels: Optional[int] = typer.Option(None, "--channels", help="image channels"),
    batch: Optional[str] = typer.Option(None, "--batch", help="batch sizes for latency, e.g. 1,64"),
    solver: Optional[str] = typer.Option(None, "--solver", help="ODE solver for cU-Nets, e.g. rk4:steps=2 or dopri5:rtol=1e-3"),
    sampling_steps: Optional[str] = typer.Option(None, "--sampling-steps", help="reverse steps per sample, e.g. 5,30,100"),
    repeats: Optional[int] = typer.Option(None, "--repeats", help="timed repeats after warm-up"),
    memory: bool = typer.Option(True, "--memory/--no-memory", help="measure peak memory in fresh subprocesses"),
    dry_run: bool = DryRunOption,
    device: str = DeviceOption,
    seed: int = SeedOption,
    out: Path = OutOption,
    output_format: OutputFormat = FormatOption,
) -> None:
    """Measure parameters, compute, memory and speed of the models (Table 5, Figure 6, Table 1's time).

    Parameters, static training memory, GMACs (fvcore) and GFLOPs (FlopCounterMode), NFE, peak
    memory, latency, reverse-step time and achieved throughput against the machine's peak.

    Example: bench efficiency --models unet,cunet-release --resolution 32,64 --batch 1,64
    """
    from cunet_bench.benchmarks.efficiency import EfficiencyConfig, check_config, iter_rows
    from cunet_bench.efficiency_table import comparison_rows, summary_rows
    from cunet_bench.presets import get_preset

    chosen = get_preset(preset)
    if repeats is not None and repeats < 1:
        raise UserError(f"--repeats must be at least 1, got {repeats}")
    config = EfficiencyConfig(
        models=parse_name_list(models) if models else chosen.efficiency_models,
        resolutions=parse_int_list(resolution, "--resolution") if resolution else (chosen.resolution,),
        channels=chosen.channels if channels is None else channels,
        batches=parse_int_list(batch, "--batch") if batch else chosen.batches,
        device=resolve_device(device),
        solver=solver,
        sampling_steps=parse_int_list(sampling_steps, "--sampling-steps") if sampling_steps else chosen.sampling_steps,
        repeats=chosen.repeats if repeats is None else repeats,
        measure_memory=memory,
        model_options=chosen.model_options,
    )
    if solver:
        from cunet_bench.models.ode import SolverConfig

        SolverConfig.parse(solver)
    check_config(config)
    if dry_run:
        print(json.dumps({"preset": preset, **dataclasses.asdict(config)}, indent=2))
        return
    seed_everything(seed)
    meta = provenance.collect(bench="efficiency", device=config.device, seed=seed, preset=preset,
                              config=dataclasses.asdict(config))
    rows, _ = _run_recorded(
        "efficiency", lambda advance: iter_rows(config, advance), meta, out, "efficiency",
        total=len(config.models) * len(config.resolutions),
    )
    if output_format is OutputFormat.json:
        emit(rows, output_format)
        return
    emit(summary_rows(rows), output_format, title=f"efficiency on {meta['device_name']} ({meta['cpu_threads']} threads)")
    comparison = comparison_rows(rows)
    if comparison:
        emit(comparison, output_format, title="paper (Table 5, Figure 6) vs measured")


@app.command("solvers")
def solvers_command(
    model: str = typer.Option("cunet-release", "--model", help="a cU-Net variant"),
    resolution: int = typer.Option(64, "--resolution", help="image size"),
    channels: int = typer.Option(3, "--channels", help="image channels"),
    batch: str = typer.Option("1,64", "--batch", help="batch sizes, e.g. 1,64"),
    methods: str = typer.Option("rk4", "--methods", help="fixed-step methods: euler, midpoint, rk4"),
    steps: int = typer.Option(1, "--steps", help="solver steps per ODE block"),
    repeats: int = typer.Option(5, "--repeats", help="timed repeats after warm-up"),
    compile_model: bool = typer.Option(False, "--compile/--no-compile", help="also time torch.compile(fullgraph=True)"),
    device: str = DeviceOption,
    seed: int = SeedOption,
    out: Path = OutOption,
    output_format: OutputFormat = FormatOption,
) -> None:
    """Measure what the cU-Net's ODE solver itself costs.

    Loop overhead over bare vector-field evaluations, the harness's loop against torchdiffeq's,
    and (with --compile) the torch.compile speed-up.

    Example: bench solvers --batch 1,64 · bench solvers --device cuda --compile
    """
    from cunet_bench.benchmarks.solvers import SolversConfig, check_config, iter_rows

    if repeats < 1:
        raise UserError(f"--repeats must be at least 1, got {repeats}")
    config = SolversConfig(
        model=model, resolution=resolution, channels=channels, batches=parse_int_list(batch, "--batch"),
        methods=parse_name_list(methods), steps=steps, device=resolve_device(device), repeats=repeats,
        compile=compile_model,
    )
    check_config(config)
    seed_everything(seed)
    meta = provenance.collect(bench="solvers", device=config.device, seed=seed, config=dataclasses.asdict(config))
    rows, _ = _run_recorded("solvers", lambda advance: iter_rows(config, advance), meta, out, "solvers",
                         total=len(config.methods) * len(config.batches))
    if output_format is OutputFormat.json:
        emit(rows, output_format)
        return
    emit([{k: row[k] for k in ("solver", "batch", "metric", "value", "unit")} for row in rows], output_format,
         title=f"ODE solver cost, {model} at {resolution}px on {meta['device_name']} ({meta['cpu_threads']} threads)")


@app.command("train")
def train_command(
    model: str = typer.Option(..., "--model", help="a registered backbone or learned denoiser"),
    data: Optional[str] = typer.Option(None, "--data", help="mnist5k, lfw25, mnist, celeba, lsun-church, folder"),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="folder of a dataset that is not embedded"),
    preset: str = typer.Option("quick", "--preset", help="smoke, quick, paper (the release's setup) or ho"),
    steps: Optional[int] = typer.Option(None, "--steps", help="optimizer steps"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="images per optimizer step (per micro-batch)"),
    lr: Optional[float] = typer.Option(None, "--lr", help="Adam learning rate"),
    resolution: Optional[int] = typer.Option(None, "--resolution", help="image size"),
    schedule: Optional[str] = typer.Option(None, "--schedule", help="β schedule: linear, cosine, sigmoid"),
    objective: Optional[str] = typer.Option(None, "--objective", help="eps, v or x0"),
    sigma: Optional[str] = typer.Option(None, "--sigma", help="denoisers: noise level in [0,1] units, or a range 0.02:0.3"),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="checkpoint file (default checkpoints/MODEL-DATA-PRESET.safetensors)"),
    resume: bool = typer.Option(False, "--resume", help="continue from the checkpoint if it exists"),
    dry_run: bool = DryRunOption,
    device: str = DeviceOption,
    seed: int = SeedOption,
    out: Path = OutOption,
    output_format: OutputFormat = FormatOption,
) -> None:
    """Train a diffusion backbone or a denoising baseline.

    Backbones learn the diffusion loss, denoisers the denoising loss at --sigma; safetensors
    checkpoints, --resume continues exactly; run under torchrun for several processes.

    Example: bench train --model cunet --preset quick · torchrun --nproc-per-node 2 -m cunet_bench.cli train --model unet
    """
    from cunet_bench.checkpoints import checkpoint_path
    from cunet_bench.presets import get_preset
    from cunet_bench.training import TrainConfig, denoising_check, distributed_from_environment, load_trained, train

    chosen = get_preset(preset)
    sigma_min, sigma_max = _parse_sigma(sigma)
    config = TrainConfig(
        model=model,
        data=data or chosen.train_data,
        resolution=chosen.train_resolution if resolution is None else resolution,
        steps=chosen.train_steps if steps is None else steps,
        batch_size=chosen.train_batch if batch_size is None else batch_size,
        lr=chosen.lr if lr is None else lr,
        grad_accumulation=chosen.grad_accumulation,
        ema_decay=chosen.ema_decay,
        schedule=schedule or chosen.schedule,
        objective=objective or chosen.objective,
        sigma_min=sigma_min,
        sigma_max=sigma_max,
        checkpoint_every=chosen.checkpoint_every,
        seed=seed,
        data_root=str(data_root) if data_root else None,
        model_options=chosen.train_options.get(model, {}),
    )
    config.validate()
    target = checkpoint or checkpoint_path(Path("checkpoints"), model, config.data, preset)
    if dry_run:
        print(json.dumps({"preset": preset, "checkpoint": str(target), **dataclasses.asdict(config)}, indent=2, default=str))
        return
    if target.is_dir():
        raise UserError(f"--checkpoint {target} is a folder; give a file name")
    resolved = resolve_device(device)
    distributed = distributed_from_environment()
    meta = provenance.collect(bench="training", device=resolved, seed=seed, preset=preset,
                              config=dataclasses.asdict(config))
    with _progress(enabled=distributed.is_main) as progress:
        task = progress.add_task(f"train {model}", total=config.steps)

        def report(entry) -> None:
            progress.update(task, completed=entry.step, description=(
                f"train {model}: step {entry.step}/{config.steps} loss {entry.loss:.4f} {entry.images_per_s:.0f} img/s"))

        result = train(config, target, resolved, resume, distributed, report)
    rows = [{"model": model, "data": config.data, "step": e.step, "loss": e.loss, "images_per_s": e.images_per_s,
             "processes": distributed.world_size, "device": resolved, "checkpoint": str(target)} for e in result.log]
    if distributed.is_main:
        trained, _, _ = load_trained(target, model, use_ema=True, device=resolved)
        check = denoising_check(trained, config, resolved)
        images_per_s = (config.batch_size * config.grad_accumulation * (result.steps_done - result.resumed_from)
                        / max(result.seconds, 1e-9))
        rows.append({"model": model, "data": config.data, "step": result.steps_done, "images_per_s": images_per_s,
                     "processes": distributed.world_size, "device": resolved, "checkpoint": str(target),
                     "seconds": result.seconds, **check})
        _record("training", rows, {**meta, "resumed_from": result.resumed_from}, out)
        summary = {"model": model, "steps": result.steps_done, "resumed from": result.resumed_from,
                   "final loss": result.log[-1].loss if result.log else None, "seconds": result.seconds,
                   "images/s": images_per_s, "PSNR noisy dB": check["psnr_noisy_db"],
                   "PSNR model (EMA) dB": check["psnr_model_db"], "checkpoint": str(target)}
        emit([summary], output_format, title="training")


def _parse_sigma(text: Optional[str]) -> tuple[float, float]:
    """``0.1`` → (0.1, 0.1); ``0.02:0.3`` → a range sampled uniformly per image."""
    if text is None:
        return 0.1, 0.1
    low, _, high = text.partition(":")
    try:
        values = (float(low), float(high or low))
    except ValueError:
        raise UserError(f"--sigma takes a number or a range LOW:HIGH, got {text!r}") from None
    return values


@app.command("sample")
def sample_command(
    checkpoint: Path = typer.Option(..., "--checkpoint", help="a checkpoint written by bench train"),
    model: Optional[str] = typer.Option(None, "--model", help="expected model name (checked against the checkpoint)"),
    steps: int = typer.Option(50, "--steps", help="reverse steps (respaced over the training timesteps)"),
    sampler: str = typer.Option("ddim", "--sampler", help="ddim (η=0, the release) or ddpm (ancestral, eq. 2)"),
    num_samples: int = typer.Option(16, "--num-samples", help="images to generate"),
    batch_size: int = typer.Option(16, "--batch-size", help="images per forward pass (does not change the images)"),
    raw_weights: bool = typer.Option(False, "--raw-weights", help="use the raw weights instead of the EMA"),
    device: str = DeviceOption,
    seed: int = SeedOption,
    out: Path = OutOption,
    output_format: OutputFormat = FormatOption,
) -> None:
    """Sample images from a trained backbone: a PNG grid and an .npz under OUT/samples/.

    Example: bench sample --checkpoint checkpoints/cunet-mnist5k-quick.safetensors --steps 50 --sampler ddim
    """
    from cunet_bench.sampling import write_samples

    resolved = resolve_device(device)
    meta = provenance.collect(bench="sample", device=resolved, seed=seed)
    row = write_samples(checkpoint, model, steps, sampler, num_samples, batch_size, seed, resolved,
                        not raw_weights, out)
    _record("sample", [row], meta, out)
    emit([row], output_format, title="samples")


@app.command("denoise")
def denoise_command(
    noise_steps: str = typer.Option("50,150,400", "--noise-steps", help="paper: forward steps n; release: pixel noise ε"),
    models: str = typer.Option("unet,cunet,dncnn,conv-ae,bm3d", "--models", help="backbones and denoisers to compare"),
    data: str = typer.Option("mnist5k", "--data", help="dataset whose test split is denoised"),
    preset: str = typer.Option("quick", "--preset", help="the preset the checkpoints were trained with"),
    checkpoints: Path = typer.Option(Path("checkpoints"), "--checkpoints", help="folder of bench train checkpoints"),
    num_images: int = typer.Option(64, "--num-images", help="test images"),
    protocol: str = typer.Option("paper", "--protocol", help="paper (forward noising) or release (pixel noise)"),
    solver: Optional[str] = typer.Option(None, "--solver", help="cU-Net solvers to sweep, ';'-separated, e.g. 'rk4;euler:steps=2'"),
    features: str = typer.Option("auto", "--features", help="perception index space: inception, classifier or auto"),
    device: str = DeviceOption,
    seed: int = SeedOption,
    out: Path = OutOption,
    output_format: OutputFormat = FormatOption,
) -> None:
    """Denoise test images through the reverse process and with the baselines (Tables 2-4).

    SSIM / PSNR / LPIPS against the clean image after every reverse step at each noise level;
    best value, step and time to it; one-shot denoisers on the same noisy images; a
    distribution-level perception index (Fréchet distance / KID to the clean images) of every
    final output; image grids under OUT/denoise-grids/.

    Example: bench denoise --noise-steps 50,150,400 --models unet,cunet,dncnn,bm3d --num-images 64
    """
    from cunet_bench.benchmarks.denoise import DenoiseConfig, check_levels, iter_rows
    from cunet_bench.denoise_methods import build_methods, clean_test_images
    from cunet_bench.features import ClassifierTraining, feature_extractor
    from cunet_bench.image_grids import DenoiseGrids
    from cunet_bench.errors import MetricUnavailable
    from cunet_bench.presets import get_preset

    try:
        levels = tuple(float(item) for item in noise_steps.split(","))
    except ValueError:
        raise UserError(f"--noise-steps takes comma-separated numbers, got {noise_steps!r}") from None
    check_levels(levels, protocol)
    resolved = resolve_device(device)
    methods, resolution = build_methods(parse_name_list(models), data, preset, checkpoints, solver, resolved)
    timesteps = next((m.diffusion.timesteps for m in methods if m.diffusion is not None), 1000)
    check_levels(levels, protocol, timesteps)
    clean = clean_test_images(data, resolution, num_images)
    config = DenoiseConfig(levels, protocol, num_images, seed, resolved)
    try:
        extractor = feature_extractor(features, data, resolution, checkpoints, resolved,
                                      training=ClassifierTraining(steps=get_preset(preset).classifier_steps))
    except MetricUnavailable as missing:
        stderr.print(f"warning: no distribution-level perception index: {missing}")
        extractor = None
    seed_everything(seed)
    meta = provenance.collect(bench="denoise", device=resolved, seed=seed, preset=preset,
                              config={**dataclasses.asdict(config), "models": models, "data": data,
                                      "features": extractor.description if extractor else None})
    grids = DenoiseGrids()
    rows, run_id = _run_recorded(
        "denoise", lambda advance: iter_rows(config, methods, clean, advance, extractor, grids.keep), meta, out,
        "denoise", total=len(levels) * len(methods))
    if run_id:
        grids.write(out / "denoise-grids", run_id)
    summary = [{k: row.get(k) for k in ("method", "level", "target", "metric", "mean", "std", "best_step_mean",
                                        "time_to_best_s_mean")} for row in rows if row["kind"] == "summary"]
    emit(summary, output_format, title=f"denoising ({protocol} protocol, {num_images} test images of {data})")


@app.command("fid")
def fid_command(
    models: str = typer.Option("unet,cunet", "--models", help="trained backbones to compare"),
    steps: Optional[str] = typer.Option(None, "--steps", help="sampling steps to sweep (default: the preset's, 5,10,30,100)"),
    sampler: str = typer.Option("ddim", "--sampler", help="ddim (η=0, the release) or ddpm (ancestral, eq. 2)"),
    num_samples: Optional[int] = typer.Option(None, "--num-samples", help="samples per (model, steps); the paper used 30,000"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="samples per forward pass and per shard"),
    data: str = typer.Option("mnist5k", "--data", help="dataset the backbones were trained on (reference statistics)"),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="folder of a dataset that is not embedded"),
    preset: str = typer.Option("quick", "--preset", help="the preset the checkpoints were trained with (and the sweep's defaults)"),
    checkpoints: Path = typer.Option(Path("checkpoints"), "--checkpoints", help="folder of bench train checkpoints; sample shards and feature caches go here too"),
    features: str = typer.Option("auto", "--features", help="inception (FID), classifier (FD on a dataset classifier) or auto"),
    dims: Optional[int] = typer.Option(None, "--dims", help="Inception feature block: 64, 192, 768 or 2048"),
    device: str = DeviceOption,
    seed: int = SeedOption,
    out: Path = OutOption,
    output_format: OutputFormat = FormatOption,
) -> None:
    """FID and KID versus sampling steps for trained backbones (Table 1).

    Samples are seeded per global index and kept in shards (an interrupted run resumes, a finished
    one is reused); without Inception weights the distances are taken in the features of a
    classifier trained on the dataset's labels and named FD-classifier / KD-classifier, not FID.
    Run under torchrun to share the sampling between processes.

    Example: bench fid --models unet,cunet --steps 5,10,30,100 --num-samples 1000
    """
    from cunet_bench.benchmarks.fid import FidConfig, check_config, iter_rows, load_backbones, reference_features
    from cunet_bench.features import ClassifierTraining, feature_dims, feature_extractor
    from cunet_bench.errors import MetricUnavailable
    from cunet_bench.presets import get_preset
    from cunet_bench.training import distributed_from_environment

    chosen = get_preset(preset)
    config = FidConfig(
        models=parse_name_list(models),
        steps=parse_int_list(steps, "--steps") if steps else chosen.fid_steps,
        sampler=sampler,
        num_samples=chosen.fid_samples if num_samples is None else num_samples,
        batch_size=chosen.fid_batch if batch_size is None else batch_size,
        seed=seed,
        device=resolve_device(device),
    )
    root = str(data_root) if data_root else None
    dimensions = feature_dims(features, dims)
    backbones = load_backbones(config.models, data, preset, checkpoints, config.device)
    resolution = backbones[0].shape[-1]
    notices = check_config(config, backbones[0].diffusion.timesteps, dimensions)
    distributed = distributed_from_environment()
    extractor = reference = None
    if distributed.is_main:
        for notice in notices:
            warn(notice)
        try:
            extractor = feature_extractor(features, data, resolution, checkpoints, config.device, dims, root,
                                          ClassifierTraining(steps=chosen.classifier_steps))
        except MetricUnavailable as missing:
            raise UserError(f"FID is unavailable: {missing}") from None
        reference = reference_features(extractor, data, resolution, checkpoints, root)
    barrier = _barrier(distributed.world_size)
    meta = provenance.collect(bench="fid", device=config.device, seed=seed, preset=preset,
                              config={**dataclasses.asdict(config), "data": data, "features": features,
                                      "extractor": extractor.description if extractor else None,
                                      "processes": distributed.world_size})

    def run(advance):
        return iter_rows(config, backbones, extractor, reference, checkpoints, distributed.rank,
                         distributed.world_size, barrier, advance)

    if not distributed.is_main:
        for _ in run(lambda _: None):
            pass
        return
    total = len(config.models) * len(config.steps) * -(-config.num_samples // config.batch_size)
    rows, _ = _run_recorded("fid", run, meta, out, "fid", total=total)
    columns = ("kind", "model", "steps", "distance", "kid_mean", "kid_std", "seconds_per_sample", "throughput_ratio")
    table = [{k: row.get(k) for k in columns} for row in rows]
    emit(table if output_format is OutputFormat.table else rows, output_format,
         title=f"{extractor.distance_name} / {extractor.kernel_name} vs sampling steps, N = {config.num_samples} "
               f"({extractor.description})")


def _barrier(world_size: int):
    if world_size == 1:
        return lambda: None
    import torch.distributed as dist

    return dist.barrier


@app.command("report")
def report_command(
    results: Path = typer.Option(Path("results"), "--results", help="folder of recorded results"),
    out: Path = typer.Option(Path("reports"), "--out", help="folder REPORT.md and figures/ are written to",
                             callback=parse_output_folder),
    readme: Optional[Path] = typer.Option(None, "--readme", help="also copy the summary table into this file, between "
                                          "its '<!-- bench report summary: start/end -->' lines"),
) -> None:
    """Write the reproduction report (Markdown + PNG figures) from recorded results only.

    Every claim of the paper with its value, ours, a 95% interval and a verdict; Tables 1-5 and
    Figure 6 side by side with the paper; provenance and the command for whatever is missing.

    Example: bench report --results results --out reports
    """
    from cunet_bench.report import build_report

    if not results.is_dir():
        raise UserError(f"results folder {results} does not exist; run a benchmark first (e.g. bench all --preset smoke)")
    path = build_report(results, out)
    stderr.print(f"report: {path}")
    if readme is not None:
        from cunet_bench.readme_summary import update_readme

        update_readme(readme, path)
        stderr.print(f"summary copied into {readme}")


@app.command("all")
def all_command(
    preset: str = typer.Option("quick", "--preset", help="smoke (about 2 min), quick (about 30 min on 2 CPU cores) or paper (GPU)"),
    results: Path = typer.Option(Path("results"), "--results", help="folder of recorded results"),
    checkpoints: Path = typer.Option(Path("checkpoints"), "--checkpoints", help="folder of checkpoints and caches"),
    reports: Path = typer.Option(Path("reports"), "--reports", help="folder the report is written to"),
    dry_run: bool = DryRunOption,
    device: str = DeviceOption,
    seed: int = SeedOption,
    output_format: OutputFormat = FormatOption,
) -> None:
    """Run the whole pipeline for a preset and write the report: the README's main command.

    Efficiency at the preset's size, training (unet, cunet, dncnn, conv-ae), samples, denoising,
    FID, report. Finished steps are skipped and unfinished ones resume.

    Example: bench all --preset quick · bench all --preset smoke --results /tmp/r --reports /tmp/reports
    """
    import time

    from cunet_bench.pipeline import already_done, plan
    from cunet_bench.presets import get_preset

    chosen = get_preset(preset)
    steps = plan(chosen, results, checkpoints, reports, seed, device)
    if dry_run:
        print("\n".join(step.command for step in steps))
        return
    summary = []
    started = time.perf_counter()
    for number, step in enumerate(steps, 1):
        if already_done(step, chosen, results):
            stderr.print(f"[{number}/{len(steps)}] {step.label}: already done, skipped")
            summary.append({"step": step.label, "status": "skipped", "seconds": 0.0, "command": step.command})
            continue
        stderr.print(f"[{number}/{len(steps)}] {step.label} ({time.perf_counter() - started:.0f} s so far): {step.command}")
        tick = time.perf_counter()
        saved_argv = sys.argv
        sys.argv = ["bench", *step.arguments]  # each step's results record its own command
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                app(list(step.arguments), standalone_mode=False)
        finally:
            sys.argv = saved_argv
        summary.append({"step": step.label, "status": "ran", "seconds": time.perf_counter() - tick,
                        "command": step.command})
    emit(summary, output_format, title=f"bench all --preset {preset}: {time.perf_counter() - started:.0f} s; "
                                       f"report: {reports / 'REPORT.md'}")


weights_app = typer.Typer(no_args_is_help=True, help="Status, install and verification of the pretrained "
                          "weights the metrics need (AlexNet for LPIPS, Inception for FID); nothing is downloaded.")
app.add_typer(weights_app, name="weights")


@weights_app.command("status")
def weights_status_command(output_format: OutputFormat = FormatOption) -> None:
    """Which weights files are installed and verified, and which metric each one enables.

    Example: bench weights status
    """
    from cunet_bench import weights

    emit(weights.status(), output_format, title=f"pretrained weights in {weights.cache_dir()}")


@weights_app.command("install")
def weights_install_command(
    source: Path = typer.Option(..., "--from", help="a local copy, e.g. alexnet-owt-7be5be79.pth"),
    full_digest: Optional[str] = typer.Option(None, "--sha256", help="the file's full SHA-256 from a source you trust; "
                                              "checked now and pinned for every later use"),
    output_format: OutputFormat = FormatOption,
) -> None:
    """Install a local weights file into the torch hub cache after checking its SHA-256.

    The 8 hex digits in the file name are a 32-bit prefix of the published file's SHA-256: they
    catch corruption, not a forgery. Pin the full digest with --sha256 for that.

    Example: bench weights install --from ~/Downloads/alexnet-owt-7be5be79.pth --sha256 <64 hex digits>
    """
    from cunet_bench import weights

    weights.install(source, full_digest)
    emit(weights.status(), output_format, title=f"pretrained weights in {weights.cache_dir()}")


@weights_app.command("verify")
def weights_verify_command(output_format: OutputFormat = FormatOption) -> None:
    """Check every installed weights file and say what each check proves; exit 2 when one fails.

    The hash prefix in the name (and the full SHA-256, when pinned), then a load as plain tensors
    (no code in the file can run) into the network the metric uses.

    Example: bench weights verify
    """
    from cunet_bench import weights
    from cunet_bench.features import inception_network
    from cunet_bench.metrics import Lpips

    rows = weights.verification_rows({"alexnet": Lpips, "inception": inception_network})
    emit(rows, output_format, title=f"pretrained weights in {weights.cache_dir()}")
    failed = [f"{row['weights']} ({row['result']})" for row in rows if row["result"] not in ("verified", "missing")]
    if failed:
        raise UserError(f"verification failed: {'; '.join(failed)}; reinstall with bench weights install --from FILE")


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings of the harness as one ``bench: warning:`` line each; others as Python shows them."""
    if issubclass(category, BenchWarning):
        print(f"bench: warning: {message}", file=sys.stderr)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


_python_show_warning = warnings.showwarning


def _usage_error(error: typer.TyperException) -> str:
    """Typer's message, without its guesses at what an unknown option meant (they name unrelated
    options). Typer keeps its exception classes private, hence the check by name."""
    if type(error).__name__ == "NoSuchOption":
        context = getattr(error, "ctx", None)
        command = context.command_path if context is not None else "bench"
        return f"no such option: {error.option_name} (see {command} --help)"
    return error.format_message()


def main() -> None:
    """Console entry point: run the app and turn every user error into one line and exit code 2;
    Ctrl-C and SIGTERM stop it with one line after whatever was measured is recorded."""
    handle_stop_signals()
    warnings.showwarning = _show_warning
    warnings.simplefilter("always", BenchWarning)
    try:
        code = app(prog_name="bench", standalone_mode=False)
    except UserError as error:
        print(f"bench: error: {error}", file=sys.stderr)
        sys.exit(2)
    except typer.TyperException as error:
        message = _usage_error(error)
        if message:  # empty when no arguments were given and the help was shown instead
            print(f"bench: error: {message}", file=sys.stderr)
        sys.exit(getattr(error, "exit_code", 2) or 2)
    except Interrupted as stop:
        print(f"bench: stopped by {stop}; what was measured is recorded", file=sys.stderr)
        sys.exit(stop.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
