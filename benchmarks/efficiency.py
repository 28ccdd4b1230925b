"""``bench efficiency``: parameters, static training memory, MACs and FLOPs, NFE, measured
peak memory, latency, reverse-step time and achieved throughput (paper Table 5, Figure 6,
Table 1's time column), at one or several resolutions.

Rows are tidy: one per model × resolution × batch × metric, with a ``unit`` column; every model
row names the model as the paper does and carries its registry tags.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch

from cunet_bench.benchmarks.counting import count_flops, count_macs
from cunet_bench.benchmarks.memory import BYTES_PER_MIB, measure_peak, static_training_bytes
from cunet_bench.configs import resolve
from cunet_bench.contracts import example_inputs
from cunet_bench.errors import UserError
from cunet_bench.models.ode import SolverConfig
from cunet_bench.paper import paper_values
from cunet_bench.presets import Preset
from cunet_bench.registry import REGISTRY, get_model, parameter_count
from cunet_bench.runner import Benchmark, Progress
from cunet_bench.timing import time_call

PEAK_REPEATS = 5
RELEASED_SOLVER = "rk4/1"


@dataclass(frozen=True)
class EfficiencyConfig:
    models: tuple[str, ...]
    resolutions: tuple[int, ...] = (64,)
    channels: int = 3
    batches: tuple[int, ...] = (1, 64)
    sampling_steps: tuple[int, ...] = (5, 30, 100)
    sampling_models: tuple[str, ...] = ()
    """The models timed over whole reverse chains (the paper's pair)."""
    repeats: int = 5
    budget_s: float = 10.0
    warmup: int = 1
    measure_memory: bool = True
    solver: SolverConfig | None = None
    model_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    device: str = "cpu"
    seed: int = 0

    @classmethod
    def from_preset(cls, preset: Preset, **overrides: Any) -> "EfficiencyConfig":
        """The preset's sizes and its tagged models, networks only (BM3D has nothing to count)."""
        networks = tuple(name for name in REGISTRY.tagged(*preset.efficiency_tags)
                         if "trainable" in get_model(name).supports)
        pair = (REGISTRY.only("paper-unet"), REGISTRY.only("paper-cunet"))
        return resolve(cls, dict(
            models=networks, resolutions=(preset.resolution,), channels=preset.channels, batches=preset.batches,
            sampling_steps=preset.sampling_steps, sampling_models=pair, repeats=preset.repeats,
            model_options=preset.model_options), overrides)

    def validate(self) -> None:
        """One-line errors for anything unusable, before anything is built."""
        for name in self.models:
            spec = get_model(name)
            if "trainable" not in spec.supports:
                raise UserError(f"model {spec.name!r} is not a network; bench efficiency measures torch models")
            for resolution in self.resolutions:
                spec.check_image_size(resolution)
        for values, what in ((self.batches, "batch sizes"), (self.sampling_steps, "sampling steps"),
                             (self.resolutions, "resolutions")):
            if min(values, default=0) < 1:
                raise UserError(f"{what} must be positive, got {values}")
        if self.channels <= 0:
            raise UserError(f"channels must be positive, got {self.channels}")
        if self.repeats < 1:
            raise UserError(f"--repeats must be at least 1, got {self.repeats}")


def machine_peak_gflops(device: str, repeats: int = PEAK_REPEATS) -> dict[str, float]:
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


def run(config: EfficiencyConfig, progress: Progress = lambda _: None) -> Iterator[dict[str, Any]]:
    """Measure every model; yields rows as they are measured so a failure keeps what was done."""
    specs = [get_model(name) for name in config.models]
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
            if config.solver is not None and "solver" in spec.supports:
                options["solver"] = config.solver
            model = spec.instantiate(config.channels, resolution, **options).to(device).eval()
            solver = model.solver.label if hasattr(model, "solver") else None

            def row(metric: str, value: Any, unit: str, batch: int | None = None, steps: int | None = None,
                    **extra: Any) -> dict[str, Any]:
                return {"model": spec.name, **spec.row_fields(), "resolution": resolution, "batch": batch, "steps": steps,
                        "metric": metric, "value": value, "unit": unit, "device": device, "threads": threads,
                        "solver": solver, **extra}

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


def _lookup(rows: list[dict[str, Any]], model: str, resolution: Any, metric: str, **match: Any) -> Any:
    for row in rows:
        if row["model"] == model and row["resolution"] == resolution and row["metric"] == metric and all(
                row.get(key) == value for key, value in match.items()):
            return row["value"]
    return None


def _per_model(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per model and resolution with the headline measurements."""
    keys = list(dict.fromkeys((r["model"], r["resolution"]) for r in rows if r["model"] != "machine"))
    batches = sorted({r["batch"] for r in rows if r["metric"] == "latency_median_s"})
    steps = sorted({r["steps"] for r in rows if r["metric"] == "sample_time_s"})
    table = []
    for model, resolution in keys:
        line: dict[str, Any] = {"model": model, "px": resolution}
        for label, metric in (("params", "parameters"), ("GMAC conv+lin", "gmacs_conv_linear"),
                              ("GMAC total", "gmacs_fvcore_total"), ("GFLOP run", "gflops_executed"), ("NFE", "nfe"),
                              ("static MiB", "static_training_mib"), ("peak inf MiB", "peak_inference_mib"),
                              ("peak train MiB", "peak_train_mib")):
            line[label] = _lookup(rows, model, resolution, metric)
        for batch in batches:
            latency = _lookup(rows, model, resolution, "latency_median_s", batch=batch)
            line[f"ms b={batch}"] = None if latency is None else latency * 1e3
        for count in steps:
            line[f"s/{count} steps"] = _lookup(rows, model, resolution, "sample_time_s", steps=count)
        table.append(line)
    return table


PAPER_METRICS = {"parameters": "Figure 6", "gmacs_conv_linear": "Table 5", "static_training_mib": "Table 5"}


def _beside_the_paper(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The paper's Table 5 / Figure 6 values beside the measured ones at 64×64 with the released
    solver (rk4, one step per block), with the ratio."""
    paper = paper_values()
    table = []
    for row in rows:
        source = PAPER_METRICS.get(row["metric"])
        if source is None or row["resolution"] != 64 or row.get("solver") not in (None, RELEASED_SOLVER):
            continue
        match = paper[(paper.source == source) & (paper.model == row["model"]) & (paper.metric == row["metric"])]
        if match.empty:
            continue
        value = float(match.value.iloc[0])
        table.append({"source": source, "paper row": match.paper_row.iloc[0], "model": row["model"],
                      "metric": row["metric"], "paper": value, "measured": row["value"],
                      "measured / paper": row["value"] / value})
    return table


def summary(rows: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    tables = [("efficiency", _per_model(rows))]
    beside = _beside_the_paper(rows)
    if beside:
        tables.append(("paper (Table 5, Figure 6) vs measured", beside))
    return tables


BENCHMARK = Benchmark("efficiency", run, summary=summary)
