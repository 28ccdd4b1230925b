"""``bench efficiency``: parameters, static training memory, MACs and FLOPs, NFE, measured
peak memory, latency, reverse-step time and achieved throughput (paper Table 5, Figure 6,
Table 1's time column), at one or several resolutions.

Rows are tidy: one per model × resolution × batch × metric, with a ``unit`` column; every model
row names the model as the paper does and carries its registry tags.
"""

from __future__ import annotations

import copy
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch

from cunet_bench.benchmarks.counting import count_flops, count_macs
from cunet_bench.benchmarks.memory import BYTES_PER_MIB, measure_peak, static_training_bytes
from cunet_bench.benchmarks.profiling import profile_forward
from cunet_bench.configs import resolve
from cunet_bench.contracts import example_inputs
from cunet_bench.errors import UserError
from cunet_bench.models.ode import SolverConfig
from cunet_bench.paper import paper_values
from cunet_bench.presets import Preset
from cunet_bench.registry import REGISTRY, ModelSpec, get_model, parameter_count
from cunet_bench.runner import Benchmark, Progress
from cunet_bench.timing import Measurement, interleaved, median_interval, single_thread, synchronize

PEAK_REPEATS = 5
MAX_ROUNDS = 10_000
RELEASED_SOLVER = "rk4/1"
VARIANTS = ("compiled", "channels-last")
"""Speed variants tried on the paper's pair beside eager execution."""


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
    """Rounds every speed comparison runs at least."""
    speed_budget_s: float = 60.0
    """Seconds after which a comparison stops adding rounds even when its ratios are not yet within ±3%."""
    cpu_time: bool = True
    """Also time the pair as single-thread CPU time (robust to other processes)."""
    variants: tuple[str, ...] = ()
    """Speed variants of the pair measured beside eager execution (see VARIANTS)."""
    profile: bool = True
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
            speed_budget_s=preset.speed_budget_s, variants=preset.speed_variants, model_options=preset.model_options),
            overrides)

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
        if not 1 <= self.repeats <= MAX_ROUNDS:
            raise UserError(f"--repeats must be between 1 and {MAX_ROUNDS:,}, got {self.repeats}")
        unknown = [variant for variant in self.variants if variant not in VARIANTS]
        if unknown:
            raise UserError(f"unknown speed variants {unknown}; variants: {', '.join(VARIANTS)}")
        if not self.speed_budget_s > 0:
            raise UserError(f"the speed budget must be positive, got {self.speed_budget_s}")


def machine_peak_gflops(device: str, rounds: int = PEAK_REPEATS) -> dict[str, float]:
    """Best achieved GFLOP/s of a large fp32 matrix product and of a 3×3 convolution — the
    practical ceiling models are compared against."""
    matrix = torch.randn(2048, 2048, device=device)
    conv = torch.nn.Conv2d(128, 128, 3, padding=1, bias=False).to(device)
    image = torch.randn(8, 128, 32, 32, device=device)
    with torch.no_grad():
        measured = interleaved({"matmul": lambda: matrix @ matrix, "conv3x3": lambda: conv(image)}, device,
                               min_rounds=rounds, max_rounds=rounds)
    flops = {"matmul": 2 * 2048**3, "conv3x3": 2 * 8 * 128 * 128 * 9 * 32 * 32}
    return {kind: flops[kind] / min(measured.seconds[kind]) / 1e9 for kind in flops}


def _ode_share(model: torch.nn.Module, by_module: dict[str, int]) -> int | None:
    blocks = getattr(model, "ode_blocks", None)
    if blocks is None:
        return None
    names = {module: name for name, module in model.named_modules()}
    return sum(by_module.get(names[block], 0) for block in blocks)


@dataclass
class _Built:
    """One model of the run, built at one resolution."""

    spec: ModelSpec
    model: torch.nn.Module
    options: dict[str, Any]

    def inputs(self, config: EfficiencyConfig, batch: int, resolution: int) -> tuple[torch.Tensor, ...]:
        return example_inputs(self.spec.family, batch, config.channels, resolution, config.device)


def _variant(built: _Built, variant: str, inputs: tuple[torch.Tensor, ...]) -> tuple[Any, tuple[torch.Tensor, ...]]:
    """The model and inputs of a speed variant: ``compiled`` (torch.compile, inductor) or
    ``channels-last`` (NHWC memory format)."""
    if variant == "compiled":
        return torch.compile(built.model), inputs
    if variant == "channels-last":
        model = copy.deepcopy(built.model).to(memory_format=torch.channels_last)
        return model, tuple(x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x for x in inputs)
    raise UserError(f"unknown speed variant {variant!r}; variants: {', '.join(VARIANTS)}")


def _measurement_rows(measurement: Measurement, label: str, base: dict[str, Any], metric: str, names: dict[str, tuple]
                      ) -> Iterator[dict[str, Any]]:
    """One row per call and round of a measurement, with its conditions."""
    for name, (model, variant, extra) in names.items():
        for index, seconds in enumerate(measurement.seconds[name]):
            yield {"model": model, "variant": variant, **extra, **base, "metric": metric, "value": seconds, "unit": "s",
                   "round": index, "measurement": label, "warmup_calls": measurement.warmup_calls[name],
                   **measurement.conditions()}


def _speed(config: EfficiencyConfig, built: dict[str, _Built], resolution: int, batch: int, pair: list[str],
           progress: Progress) -> Iterator[dict[str, Any]]:
    """Latency per forward pass of every model, interleaved round by round (wall time at the
    configured threads), the paper's pair also as single-thread CPU time and in the speed
    variants; compile times and the variants' largest deviation from eager outputs."""
    device = config.device
    calls, names, inputs = {}, {}, {}
    for name, entry in built.items():
        inputs[name] = entry.inputs(config, batch, resolution)
        calls[name] = (lambda model, x: lambda: model(*x))(entry.model, inputs[name])
        names[name] = (name, "eager", entry.spec.row_fields())
    base = {"resolution": resolution, "batch": batch, "steps": None, "device": device, "solver": None}
    for variant in config.variants:
        for name in pair:
            progress(f"{name} {variant} @ {resolution}px, batch {batch}")
            model, variant_inputs = _variant(built[name], variant, inputs[name])
            tick = time.perf_counter()
            with torch.no_grad():
                output = model(*variant_inputs)
            synchronize(device)
            first_call = time.perf_counter() - tick
            with torch.no_grad():
                difference = float((output - built[name].model(*inputs[name])).abs().max())
            key = f"{name}+{variant}"
            calls[key] = (lambda m, x: lambda: m(*x))(model, variant_inputs)
            names[key] = (name, variant, built[name].spec.row_fields())
            row = {"model": name, "variant": variant, **built[name].spec.row_fields(), **base}
            yield {**row, "metric": "first_call_s", "value": first_call, "unit": "s"}
            yield {**row, "metric": "max_abs_difference_from_eager", "value": difference, "unit": "output units"}
    reference = pair[0] if pair else next(iter(calls))
    progress(f"latency @ {resolution}px, batch {batch}: {len(calls)} calls interleaved")
    with torch.no_grad():
        wall = interleaved(calls, device, reference=reference, budget_s=config.speed_budget_s,
                           min_rounds=config.repeats)
    yield from _measurement_rows(wall, f"forward b={batch} wall", base, "latency_s", names)
    if config.cpu_time and len(pair) == 2 and torch.device(device).type == "cpu":
        progress(f"single-thread CPU time @ {resolution}px, batch {batch}")
        with torch.no_grad(), single_thread():
            cpu = interleaved({name: calls[name] for name in pair}, device, reference=reference, clock="thread_cpu",
                              budget_s=config.speed_budget_s, min_rounds=config.repeats)
        yield from _measurement_rows(cpu, f"forward b={batch} cpu 1 thread", base, "cpu_time_1thread_s",
                                     {name: names[name] for name in pair})


def _sampling(config: EfficiencyConfig, built: dict[str, _Built], resolution: int, pair: list[str],
              progress: Progress) -> Iterator[dict[str, Any]]:
    """Seconds per generated sample (batch 1) over whole reverse chains of each step count,
    the pair interleaved (Table 1's time column at fixed step counts)."""
    if not pair:
        return
    for steps in config.sampling_steps:
        progress(f"reverse chains of {steps} steps @ {resolution}px")
        chains = {}
        for name in pair:
            model = built[name].model
            x, t = built[name].inputs(config, 1, resolution)
            timesteps = [torch.full_like(t, step * (1000 // steps)) for step in reversed(range(steps))]
            chains[name] = (lambda m, x, ts: lambda: [m(x, s) for s in ts])(model, x, timesteps)
        with torch.no_grad():
            measured = interleaved(chains, config.device, reference=pair[0], budget_s=config.speed_budget_s,
                                   min_rounds=config.repeats)
        base = {"resolution": resolution, "batch": 1, "steps": steps, "device": config.device, "solver": None}
        yield from _measurement_rows(measured, f"sampling {steps} steps", base, "sample_time_s",
                                     {name: (name, "eager", built[name].spec.row_fields()) for name in pair})


def _profiles(config: EfficiencyConfig, built: dict[str, _Built], resolution: int, pair: list[str],
              progress: Progress) -> Iterator[dict[str, Any]]:
    for batch in config.batches:
        for name in pair:
            progress(f"profile of {name} @ {resolution}px, batch {batch}")
            groups = profile_forward(built[name].model, built[name].inputs(config, batch, resolution))
            total = sum(groups.values())
            for group, seconds in groups.items():
                yield {"model": name, "variant": "eager", **built[name].spec.row_fields(), "resolution": resolution,
                       "batch": batch, "steps": None, "metric": "profile_s", "group": group, "value": seconds,
                       "share": seconds / total if total else None, "unit": "s", "device": config.device}


def _throughput(rows: list[dict[str, Any]], flops: dict[str, int], peak: float) -> Iterator[dict[str, Any]]:
    """Per model and variant of one batch size: the median latency over rounds, images per
    second, and the achieved GFLOP/s against the machine's peak."""
    latencies: dict[tuple[str, str], list[float]] = {}
    for row in rows:
        if row["metric"] == "latency_s":
            latencies.setdefault((row["model"], row["variant"]), []).append(row["value"])
    template = {row["model"]: row for row in rows if row["metric"] == "latency_s"}
    for (model, variant), values in latencies.items():
        median = statistics.median(values)
        base = {k: template[model][k] for k in ("paper_name", "tags", "resolution", "batch", "steps", "device")}
        batch = base["batch"]
        achieved = flops[model] * batch / median / 1e9
        for metric, value, unit in (("latency_median_s", median, "s"), ("throughput_images_per_s", batch / median, "images/s"),
                                    ("achieved_gflops", achieved, "GFLOP/s"), ("fraction_of_peak", achieved / peak, "fraction")):
            yield {"model": model, "variant": variant, **base, "metric": metric, "value": value, "unit": unit}


def run(config: EfficiencyConfig, progress: Progress = lambda _: None) -> Iterator[dict[str, Any]]:
    """Measure every model; yields rows as they are measured so a failure keeps what was done."""
    specs = [get_model(name) for name in config.models]
    device = config.device
    threads = torch.get_num_threads()
    peaks = machine_peak_gflops(device)
    for kind, value in peaks.items():
        yield {"model": "machine", "resolution": None, "batch": None, "steps": None, "metric": f"peak_gflops_{kind}",
               "value": value, "unit": "GFLOP/s", "device": device, "threads": threads}
    pair = [name for name in config.sampling_models if name in config.models]
    for resolution in config.resolutions:
        built: dict[str, _Built] = {}
        flops: dict[str, int] = {}
        for spec in specs:
            progress(f"{spec.name} @ {resolution}px")
            options = {**config.model_options.get(spec.name, {})}
            if config.solver is not None and "solver" in spec.supports:
                options["solver"] = config.solver
            model = spec.instantiate(config.channels, resolution, **options).to(device).eval()
            built[spec.name] = _Built(spec, model, options)
            solver = model.solver.label if hasattr(model, "solver") else None

            def row(metric: str, value: Any, unit: str, batch: int | None = None, **extra: Any) -> dict[str, Any]:
                return {"model": spec.name, "variant": "eager", **spec.row_fields(), "resolution": resolution,
                        "batch": batch, "steps": None, "metric": metric, "value": value, "unit": unit, "device": device,
                        "threads": threads, "solver": solver, **extra}

            yield row("parameters", parameter_count(model), "count")
            yield row("trainable_parameters", parameter_count(model, trainable_only=True), "count")
            yield row("static_training_mib", static_training_bytes(model) / BYTES_PER_MIB, "MiB")
            one = built[spec.name].inputs(config, 1, resolution)
            macs = count_macs(model, one)
            flops[spec.name] = count_flops(model, one)
            yield row("gmacs_fvcore_total", macs.total / 1e9, "GMAC", 1)
            yield row("gmacs_conv_linear", macs.conv_linear / 1e9, "GMAC", 1)
            yield row("gflops_executed", flops[spec.name] / 1e9, "GFLOP", 1)
            if hasattr(model, "nfe"):
                with torch.no_grad():
                    model(*one)
                ode_macs = _ode_share(model, macs.by_module)
                yield row("nfe", model.nfe, "count", 1)
                yield row("gmacs_per_function_evaluation", ode_macs / model.nfe / 1e9, "GMAC", 1)
                yield row("ode_share_of_macs", ode_macs / macs.total, "fraction", 1)
            if config.measure_memory:
                for mode in ("inference", "train"):
                    peak = measure_peak(spec.name, config.channels, resolution, 1, mode, device, options)
                    yield row(f"peak_{mode}_mib", peak["peak_bytes"] / BYTES_PER_MIB, "MiB", 1)
        for batch in config.batches:
            rows = list(_speed(config, built, resolution, batch, pair, progress))
            yield from rows
            yield from _throughput(rows, flops, max(peaks.values()))
        yield from _sampling(config, built, resolution, pair, progress)
        if config.profile:
            yield from _profiles(config, built, resolution, pair, progress)


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
            latency = _lookup(rows, model, resolution, "latency_median_s", batch=batch, variant="eager")
            line[f"ms b={batch}"] = None if latency is None else latency * 1e3
        for count in steps:
            chains = [r["value"] for r in rows if r["model"] == model and r["resolution"] == resolution
                      and r["metric"] == "sample_time_s" and r["steps"] == count]
            line[f"s/{count} steps"] = statistics.median(chains) if chains else None
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


def _ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each measured call against the comparison's reference (the paper's U-Net): the median
    of the per-round ratios with its 95% interval, and whether the machine was busy."""
    table = []
    measurements = dict.fromkeys(r["measurement"] for r in rows if r.get("measurement"))
    for label in measurements:
        series: dict[tuple[str, str], list[float]] = {}
        paper_unet = set()
        for r in rows:
            if r.get("measurement") == label:
                series.setdefault((r["model"], r["variant"]), []).append(r["value"])
                if "paper-unet" in str(r.get("tags", "")).split(";"):
                    paper_unet.add(r["model"])
        reference = next((key for key in series if key[0] in paper_unet and key[1] == "eager"), next(iter(series)))
        contended = any(r.get("contended") for r in rows if r.get("measurement") == label)
        for (model, variant), values in series.items():
            if (model, variant) == reference:
                continue
            estimate, low, high = median_interval([a / b for a, b in zip(values, series[reference])])
            table.append({"measurement": label, "model": model, "variant": variant, "versus": reference[0],
                          "time ratio": estimate, "95% interval": f"[{low:.3f}, {high:.3f}]", "rounds": len(values),
                          "busy machine": contended})
    return table


def summary(rows: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    tables = [("efficiency", _per_model(rows))]
    ratios = _ratios(rows)
    if ratios:
        tables.append(("time ratios, interleaved round by round", ratios))
    beside = _beside_the_paper(rows)
    if beside:
        tables.append(("paper (Table 5, Figure 6) vs measured", beside))
    return tables


BENCHMARK = Benchmark("efficiency", run, summary=summary)
