"""The ``bench`` command line. A command only parses: its options — each named after the
configuration field it sets — become overrides of the benchmark's configuration, resolved from the
preset (``--dry-run`` prints the result under the same names); the runner runs and records it
with a progress display handed in from here; the command prints the summary. Bad input ends in
one line on standard error and exit code 2; Ctrl-C and SIGTERM in one line after recording what
was measured. Nothing heavy is imported until a command runs (``bench --help`` stays fast)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional

import typer

from cunet_bench.cli.info import compare_command, models_command, report_command, weights_app
from cunet_bench.cli.options import (BatchOption, CheckpointsOption, DataOption, DataRootOption, DeviceOption,
                                     DryRunOption, FormatOption, ModelsOption, OutOption, PresetOption, RepeatsOption,
                                     SeedOption, SolverOption, SolversOption, ThreadsOption, flag, folder_option,
                                     name_list, number_list, optional_path, resolve_device, sigma_range, solver_list)
from cunet_bench.cli.execute import checkpoints_beside, execute_command, run_and_record, run_pipeline
from cunet_bench.config.resolve import as_record
from cunet_bench.cli.entry import run_app
from cunet_bench.cli.output import OutputFormat, emit, note
from cunet_bench.config.presets import get_preset

app = typer.Typer(name="bench", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  rich_markup_mode="markdown")


app.command("models")(models_command)


@app.callback()
def _root() -> None:
    """Benchmark and reproduce 'The Missing U for Efficient Diffusion Models' (cU-Net vs U-Net)."""


@app.command("efficiency")
def efficiency_command(
        preset: str = PresetOption, models: Optional[str] = ModelsOption,
        resolution: Optional[str] = typer.Option(None, "--resolution", help="image sizes, e.g. 32,64,128,256"),
        channels: Optional[int] = typer.Option(None, "--channels", help="image channels"),
        batch: Optional[str] = BatchOption,
        solver: Optional[Any] = SolverOption,
        sampling_steps: Optional[str] = typer.Option(None, "--sampling-steps", help="reverse steps per sample, e.g. 5,30"),
        repeats: Optional[int] = RepeatsOption,
        variants: Optional[str] = typer.Option(None, "--variants", help="eager,compiled,frozen,channels-last,release-layers (eager always)"),
        memory: Optional[bool] = typer.Option(None, "--memory/--no-memory", help="measure peak memory in fresh processes"),
        memory_batch: Optional[str] = typer.Option(None, "--memory-batch", help="batch sizes of the peak memory, e.g. 1,32"),
        dry_run: bool = DryRunOption, device: str = DeviceOption, seed: int = SeedOption, out: Path = OutOption,
        threads: Optional[int] = ThreadsOption, output_format: OutputFormat = FormatOption) -> None:
    """Parameters, compute, memory and speed of the models (Table 5, Figure 6).

    Parameters, static training memory, GMACs (fvcore) and GFLOPs (FlopCounterMode), NFE, peak memory, latency,
    reverse-step time and achieved throughput against the machine's peak.

    Example: bench efficiency --models unet,cunet-release --resolution 32,64 --batch 1,64 --variants eager
    """
    from cunet_bench.benchmarks.efficiency import BENCHMARK, EfficiencyConfig

    config = EfficiencyConfig.from_preset(
        get_preset(preset), models=name_list(models), resolution=number_list(resolution, "--resolution"),
        channels=channels, batch=number_list(batch, "--batch"), solver=solver, repeats=repeats,
        sampling_steps=number_list(sampling_steps, "--sampling-steps"), memory=memory,
        memory_batch=number_list(memory_batch, "--memory-batch"), variants=name_list(variants, "--variants"),
        device=resolve_device(device), seed=seed)
    execute_command(BENCHMARK, config, preset, out, dry_run, output_format, threads)


@app.command("solvers")
def solvers_command(
        preset: str = PresetOption, model: Optional[str] = typer.Option(None, "--model", help="a cU-Net variant"),
        resolution: Optional[int] = typer.Option(None, "--resolution", help="image size"),
        batch: Optional[str] = BatchOption,
        solver: Optional[list[Any]] = SolversOption, repeats: Optional[int] = RepeatsOption,
        compile_model: Optional[bool] = typer.Option(None, "--compile/--no-compile", help="also time torch.compile"),
        dry_run: bool = DryRunOption, device: str = DeviceOption, seed: int = SeedOption, out: Path = OutOption,
        threads: Optional[int] = ThreadsOption, output_format: OutputFormat = FormatOption) -> None:
    """What the cU-Net's ODE solver itself costs.

    Loop overhead over bare field evaluations, the harness's loop against torchdiffeq's, and (with --compile)
    the torch.compile speed-up.

    Example: bench solvers --batch 1,64 --solver rk4 --solver euler:steps=4
    """
    from cunet_bench.benchmarks.solvers import BENCHMARK, SolversConfig

    config = SolversConfig.from_preset(
        get_preset(preset), model=model, resolution=resolution, batch=number_list(batch, "--batch"),
        solver=solver_list(solver), repeats=repeats, compile=compile_model, device=resolve_device(device), seed=seed)
    execute_command(BENCHMARK, config, preset, out, dry_run, output_format, threads)


@app.command("train")
def train_command(
        model: str = typer.Option(..., "--model", help="a registered backbone or learned denoiser"),
        preset: str = PresetOption, data: Optional[str] = DataOption,
        data_root: Optional[Path] = DataRootOption,
        train_steps: Optional[int] = typer.Option(None, "--train-steps", help="optimizer steps"),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", help="images per optimizer step (per micro-batch)"),
        lr: Optional[float] = typer.Option(None, "--lr", help="Adam learning rate"),
        resolution: Optional[int] = typer.Option(None, "--resolution", help="image size"),
        schedule: Optional[str] = typer.Option(None, "--schedule", help="β schedule: linear, cosine, sigmoid"),
        objective: Optional[str] = typer.Option(None, "--objective", help="eps, v or x0"),
        sigma: Optional[str] = typer.Option(None, "--sigma", help="denoisers: noise level in [0,1] units, or LOW:HIGH"),
        checkpoint: Optional[Path] = typer.Option(None, "--checkpoint",
                                                  help="default CHECKPOINTS/MODEL-DATA-PRESET-seedSEED.safetensors"),
        checkpoints: Optional[Path] = CheckpointsOption,
        resume: bool = flag("--resume", "continue from the checkpoint if it exists"),
        dry_run: bool = DryRunOption, device: str = DeviceOption, seed: int = SeedOption, out: Path = OutOption,
        threads: Optional[int] = ThreadsOption, output_format: OutputFormat = FormatOption) -> None:
    """Train a diffusion backbone or a denoising baseline.

    Backbones learn the diffusion loss, denoisers the denoising loss at --sigma; safetensors checkpoints;
    --resume continues exactly; run under torchrun for several processes.

    Example: bench train --model cunet --preset quick · torchrun --nproc-per-node 2 -m cunet_bench.cli train --model unet
    """
    from cunet_bench.benchmarks.train import BENCHMARK, TrainRunConfig

    if checkpoint is not None:
        folder_option("--checkpoint")(checkpoint.parent)
    config = TrainRunConfig.from_preset(
        get_preset(preset), model=model, data=data, data_root=optional_path(data_root), train_steps=train_steps,
        batch_size=batch_size, lr=lr, resolution=resolution, schedule=schedule, objective=objective,
        sigma=sigma_range(sigma), seed=seed, checkpoint=optional_path(checkpoint),
        checkpoints=checkpoints_beside(checkpoints, out), resume=resume, device=resolve_device(device))
    execute_command(BENCHMARK, config, preset, out, dry_run, output_format, threads)


@app.command("sample")
def sample_command(
        checkpoint: Path = typer.Option(..., "--checkpoint", help="a checkpoint written by bench train"),
        preset: str = PresetOption,
        model: Optional[str] = typer.Option(None, "--model", help="expected model name (checked against the checkpoint)"),
        sampling_steps: Optional[int] = typer.Option(None, "--sampling-steps",
                                                     help="reverse steps (respaced over the training timesteps)"),
        sampler: Optional[str] = typer.Option(None, "--sampler", help="ddim (η=0, the release) or ddpm (ancestral, eq. 2)"),
        num_samples: Optional[int] = typer.Option(None, "--num-samples", help="images to generate"),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", help="images per forward pass (same images)"),
        raw_weights: bool = flag("--raw-weights", "use the raw weights instead of the EMA"),
        dry_run: bool = DryRunOption, device: str = DeviceOption, seed: int = SeedOption, out: Path = OutOption,
        threads: Optional[int] = ThreadsOption, output_format: OutputFormat = FormatOption) -> None:
    """Sample images from a trained backbone (Figure 3).

    A PNG grid and an .npz under OUT/samples/, each image seeded by its index.

    Example: bench sample --checkpoint checkpoints/cunet-release-mnist5k-quick-seed0.safetensors --sampling-steps 50
    """
    from cunet_bench.benchmarks.sample import BENCHMARK, SampleConfig

    config = SampleConfig.from_preset(
        get_preset(preset), checkpoint=str(checkpoint), model=model, sampling_steps=sampling_steps, sampler=sampler,
        num_samples=num_samples, batch_size=batch_size, raw_weights=raw_weights, out=str(out),
        device=resolve_device(device), seed=seed)
    execute_command(BENCHMARK, config, preset, out, dry_run, output_format, threads)


@app.command("denoise")
def denoise_command(
        preset: str = PresetOption,
        noise_steps: Optional[str] = typer.Option(None, "--noise-steps", help="paper protocol: forward steps n, e.g. 50,150,400"),
        pixel_noise: Optional[str] = typer.Option(None, "--pixel-noise", help="release protocol: ε of [0,1] images, e.g. 0.04,0.1,0.3"),
        protocol: Optional[str] = typer.Option(None, "--protocol", help="paper (forward noising) or release (pixel noise)"),
        models: Optional[str] = ModelsOption,
        data: Optional[str] = DataOption, data_root: Optional[Path] = DataRootOption,
        checkpoints: Optional[Path] = CheckpointsOption,
        num_images: Optional[int] = typer.Option(None, "--num-images", help="test images"),
        solver: Optional[list[Any]] = SolversOption,
        features: Optional[str] = typer.Option(None, "--features", help="perception index space: inception, classifier, auto"),
        dry_run: bool = DryRunOption, device: str = DeviceOption, seed: int = SeedOption, out: Path = OutOption,
        threads: Optional[int] = ThreadsOption, output_format: OutputFormat = FormatOption) -> None:
    """Denoise test images through the reverse process and with the baselines (Tables 2-4).

    SSIM / PSNR / LPIPS after every reverse step; best value, step and time to it; one-shot denoisers on the
    same noisy images; a distribution-level perception index of every output; image grids.

    Example: bench denoise --noise-steps 50,150,400 --models unet,cunet,dncnn,bm3d --num-images 64
    """
    from cunet_bench.benchmarks.denoise import BENCHMARK, DenoiseConfig

    config = DenoiseConfig.from_preset(
        get_preset(preset), noise_steps=number_list(noise_steps, "--noise-steps"),
        pixel_noise=number_list(pixel_noise, "--pixel-noise", float), protocol=protocol, models=name_list(models),
        data=data, data_root=optional_path(data_root), checkpoints=checkpoints_beside(checkpoints, out),
        num_images=num_images, solver=solver_list(solver),
        features=features, out=str(out), device=resolve_device(device), seed=seed)
    execute_command(BENCHMARK, config, preset, out, dry_run, output_format, threads)


@app.command("fid")
def fid_command(
        preset: str = PresetOption, models: Optional[str] = ModelsOption,
        sampling_steps: Optional[str] = typer.Option(None, "--sampling-steps", help="sampling steps to sweep, e.g. 5,10,30,100"),
        sampler: Optional[str] = typer.Option(None, "--sampler", help="ddim (η=0, the release) or ddpm (eq. 2)"),
        num_samples: Optional[int] = typer.Option(None, "--num-samples", help="samples per point; the paper used 30,000"),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", help="samples per forward pass and per shard"),
        data: Optional[str] = DataOption,
        data_root: Optional[Path] = DataRootOption,
        checkpoints: Optional[Path] = CheckpointsOption,
        features: Optional[str] = typer.Option(None, "--features", help="inception (FID), classifier or auto"),
        dims: Optional[int] = typer.Option(None, "--dims", help="Inception feature block: 64, 192, 768 or 2048"),
        dry_run: bool = DryRunOption, device: str = DeviceOption, seed: int = SeedOption, out: Path = OutOption,
        threads: Optional[int] = ThreadsOption, output_format: OutputFormat = FormatOption) -> None:
    """FID and KID versus sampling steps for trained backbones (Table 1).

    Samples are seeded per global index and kept in shards (resumed, reused); without Inception weights the
    distances are taken in a classifier's features and named FD-classifier / KD-classifier, never FID. Run
    under torchrun to share the sampling.

    Example: bench fid --models unet,cunet --sampling-steps 5,10,30,100 --num-samples 1000
    """
    from cunet_bench.benchmarks.fid import BENCHMARK, FidConfig

    config = FidConfig.from_preset(
        get_preset(preset), models=name_list(models), sampling_steps=number_list(sampling_steps, "--sampling-steps"),
        sampler=sampler, num_samples=num_samples, batch_size=batch_size, data=data, data_root=optional_path(data_root),
        checkpoints=checkpoints_beside(checkpoints, out), features=features, dims=dims, device=resolve_device(device),
        seed=seed)
    execute_command(BENCHMARK, config, preset, out, dry_run, output_format, threads)


app.command("report")(report_command)
app.command("compare")(compare_command)


@app.command("all")
def all_command(
        preset: str = PresetOption,
        checkpoints: Optional[Path] = CheckpointsOption,
        reports: Optional[Path] = typer.Option(None, "--reports", parser=folder_option("--reports"), metavar="FOLDER",
                                               help="report folder (default: 'reports' beside --out)"),
        dry_run: bool = DryRunOption, device: str = DeviceOption, seed: int = SeedOption, out: Path = OutOption,
        threads: Optional[int] = ThreadsOption, output_format: OutputFormat = FormatOption) -> None:
    """The whole pipeline for a preset, then the report: the README's main command.

    Efficiency, training, samples, denoising, FID, then the report beside your results with the committed
    reference run next to yours. A step already done in your results folder with the same configuration,
    machine and inputs is skipped, an unfinished one resumes; checkpoints go beside --out unless --checkpoints.

    Example: bench all --preset quick · bench all --preset smoke --out /tmp/run/results
    """
    from cunet_bench.run.pipeline import plan
    from cunet_bench.report import build_report, default_reference

    reports = reports or folder_option("--reports")(out.parent / "reports")
    steps = plan(get_preset(preset), out, Path(checkpoints_beside(checkpoints, out)), seed, resolve_device(device))
    if dry_run:
        print(json.dumps([{"step": s.label, **as_record(s.config)} for s in steps] + [{
            "step": "report", "results": str(out), "report": str(reports / "REPORT.md"), "threads": threads}], indent=2))
        return
    started = time.perf_counter()
    phases = run_pipeline(steps, out, preset, threads)
    note(f"report: {build_report(out, reports, default_reference())}")
    emit([{"step": row["step"], "status": row["status"], "seconds": row["wall_s"]} for row in phases], output_format,
         title=f"bench all --preset {preset}: {time.perf_counter() - started:.0f} s")


@app.command("run-step", hidden=True)
def run_step_command(job: Path = typer.Argument(..., help="a job file written by bench all"),
                     threads: Optional[int] = ThreadsOption) -> None:
    """One training step of bench all in a process of its own (cunet_bench.run.side_by_side)."""
    from cunet_bench.benchmarks.train import BENCHMARK, TrainRunConfig
    from cunet_bench.files import check_output_folder
    from cunet_bench.run.side_by_side import read_job, write_outcome
    from cunet_bench.host.threads import computing_threads

    record = read_job(job)
    config = TrainRunConfig.from_record(record["config"], job)
    check_output_folder(record["out"], "the job's results folder")
    check_output_folder(job.parent, "the job's folder")
    with computing_threads(threads):
        write_outcome(job, run_and_record(BENCHMARK, config, Path(record["out"]), record["preset"], record["label"],
                                          record["invocation"]))


app.add_typer(weights_app, name="weights")


def main() -> None:
    """Console entry point (``bench``): one line and exit code 2 for every user error."""
    run_app(app)

