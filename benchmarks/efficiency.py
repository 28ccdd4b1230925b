"""``bench efficiency``: parameters, static training memory, MACs and FLOPs, NFE, measured
peak memory, latency, reverse-step time and achieved throughput (paper Table 5, Figure 6,
Table 1's time column), at one or several resolutions.

Rows are tidy: one per model × resolution × batch × metric, with a ``unit`` column.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch

from cunet_bench.contracts import example_inputs
from cunet_bench.counting import count_flops, count_macs
from cunet_bench.errors import UserError
from cunet_bench.memory import BYTES_PER_MIB, measure_peak, static_training_bytes
from cunet_bench.registry import ModelSpec, get_model, parameter_count
from cunet_bench.timing import time_call

TABLE5_MODELS = ("unet", "cunet-release", "cunet-5attn", "cunet-release-wo-a", "cunet-release-wo-r", "cunet-release-wo-a-r")
DEFAULT_MODELS = (*TABLE5_MODELS, "unet-ddpm", "dncnn", "conv-ae")


@dataclass(frozen=True)
class EfficiencyConfig:
    models: tuple[str, ...] = DEFAULT_MODELS
    resolutions: tuple[int, ...] = (64,)
    channels: int = 3
    batches: tuple[int, ...] = (1, 64)
    device: str = "cpu"
    solver: str | None = None
    sampling_steps: tuple[int, ...] = (5, 30, 100)
    sampling_models: tuple[str, ...] = ("unet", "cunet-release")
    repeats: int = 5
    budget_s: float = 10.0
    warmup: int = 1
    measure_memory: bool = True
    model_options: dict[str, dict[str, Any]] = field(default_factory=dict)


def check_config(config: EfficiencyConfig) -> list[ModelSpec]:
    """The registry specs of the configured models; one-line errors for anything unusable."""
    specs = [get_model(name) for name in config.models]
    for spec in specs:
        if "trainable" not in spec.supports:
            raise UserError(f"model {spec.name!r} is not a network; bench efficiency measures torch models")
        for resolution in config.resolutions:
            spec.check_image_size(resolution)
    for batch in config.batches:
        if batch <= 0:
            raise UserError(f"batch sizes must be positive, got {batch}")
    for steps in config.sampling_steps:
        if steps <= 0:
            raise UserError(f"sampling steps must be positive, got {steps}")
    if config.channels <= 0:
        raise UserError(f"channels must be positive, got {config.channels}")
    if torch.device(config.device).type == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but no CUDA GPU is available")
    return specs


def machine_peak_gflops(device: str, repeats: int = 5) -> dict[str, float]:
    """Best achieved GFLOP/s of a large fp32 matrix product and of a 3×3 convolution — the
    practical ceiling models are compared against."""
    matrix = torch.randn(2048, 2048, device=device)
    matmul = time_call(lambda: matrix @ matrix, device, warmup=1, repeats=repeats)
    conv = torch.nn.Conv2d(128, 128, 3, padding=1, bias=False).to(device)
    image = torch.randn(8, 128, 32, 32, device=device)
    with torch.no_grad():
        convolution = time_call(lambda: conv(image), device, warmup=1, repeats=repeats)
    conv_flops = 2 * 8 * 128 * 128 * 9 * 32 * 32
    return {"matmul": 2 * 2048**3 / matmul.min_s / 1e9, "conv3x3": conv_flops / convolution.min_s / 1e9}


def _ode_share(model: torch.nn.Module, by_module: dict[str, int]) -> int | None:
    blocks = getattr(model, "ode_blocks", None)
    if blocks is None:
        return None
    names = {module: name for name, module in model.named_modules()}
    return sum(by_module.get(names[block], 0) for block in blocks)


def iter_rows(config: EfficiencyConfig, progress: Callable[[str], None] = lambda _: None) -> Iterator[dict[str, Any]]:
    """Measure every model; yields rows as they are measured so a failure keeps what was done."""
    specs = check_config(config)
    device = config.device
    threads = torch.get_num_threads()
    peaks = machine_peak_gflops(device)
    for kind, value in peaks.items():
        yield {"model": "machine", "resolution": None, "batch": None, "steps": None, "metric": f"peak_gflops_{kind}",
               "value": value, "unit": "GFLOP/s", "device": device, "threads": threads}
    for resolution in config.resolutions:
        for spec in specs:
            progress(f"{spec.name} @ {resolution}px")
            options = {**config.model_options.get(spec.name, {})}
            if config.solver and "solver" in spec.supports:
                options["solver"] = config.solver
            model = spec.instantiate(config.channels, resolution, **options).to(device).eval()
            solver = model.solver.label if hasattr(model, "solver") else None

            def row(metric: str, value: Any, unit: str, batch: int | None = None, steps: int | None = None,
                    **extra: Any) -> dict[str, Any]:
                return {"model": spec.name, "resolution": resolution, "batch": batch, "steps": steps, "metric": metric,
                        "value": value, "unit": unit, "device": device, "threads": threads, "solver": solver, **extra}

            parameters = parameter_count(model)
            yield row("parameters", parameters, "count")
            yield row("trainable_parameters", parameter_count(model, trainable_only=True), "count")
            yield row("static_training_mib", static_training_bytes(model) / BYTES_PER_MIB, "MiB")

            one = example_inputs(spec.family, 1, config.channels, resolution, device)
            macs = count_macs(model, one)
            flops = count_flops(model, one)
            yield row("gmacs_fvcore_total", macs.total / 1e9, "GMAC", 1)
            yield row("gmacs_conv_linear", macs.conv_linear / 1e9, "GMAC", 1)
            yield row("gflops_executed", flops / 1e9, "GFLOP", 1)
            nfe = getattr(model, "nfe", None)
            if nfe is not None:
                with torch.no_grad():
                    model(*one)
                nfe = model.nfe
                ode_macs = _ode_share(model, macs.by_module)
                yield row("nfe", nfe, "count", 1)
                yield row("gmacs_per_function_evaluation", ode_macs / nfe / 1e9, "GMAC", 1)
                yield row("ode_share_of_macs", ode_macs / macs.total, "fraction", 1)

            if config.measure_memory:
                for mode in ("inference", "train"):
                    peak = measure_peak(spec.name, config.channels, resolution, 1, mode, device, options)
                    yield row(f"peak_{mode}_mib", peak["peak_bytes"] / BYTES_PER_MIB, "MiB", 1)

            for batch in config.batches:
                inputs = example_inputs(spec.family, batch, config.channels, resolution, device)
                with torch.no_grad():
                    timing = time_call(lambda: model(*inputs), device, config.warmup, config.repeats, config.budget_s)
                yield row("latency_median_s", timing.median_s, "s", batch)
                yield row("latency_iqr_s", timing.iqr_s, "s", batch)
                yield row("latency_repeats", timing.repeats, "count", batch)
                for repeat, seconds in enumerate(timing.samples):
                    yield row("latency_s", seconds, "s", batch, repeat=repeat)
                yield row("throughput_images_per_s", batch / timing.median_s, "images/s", batch)
                achieved = flops * batch / timing.median_s / 1e9
                yield row("achieved_gflops", achieved, "GFLOP/s", batch)
                yield row("fraction_of_peak", achieved / max(peaks.values()), "fraction", batch)

            if spec.name in config.sampling_models and spec.family != "denoiser":
                x, t = one
                for steps in config.sampling_steps:
                    with torch.no_grad():
                        start = time.perf_counter()
                        for step in reversed(range(steps)):
                            model(x, torch.full_like(t, step * (1000 // steps)))
                        if torch.device(device).type == "cuda":
                            torch.cuda.synchronize()
                        elapsed = time.perf_counter() - start
                    yield row("sample_time_s", elapsed, "s", 1, steps)


def run(config: EfficiencyConfig) -> list[dict[str, Any]]:
    return list(iter_rows(config))
