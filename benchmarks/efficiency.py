"""``bench efficiency``: parameters, static training memory, MACs and FLOPs, NFE, measured peak
memory, latency, reverse-step time and achieved throughput (paper Table 5, Figure 6, Table 1's
time column), at one or several resolutions.

Rows are tidy (``schema``: ``efficiency``): one per model × resolution × batch × metric, with a
``unit``; every model row names the model as the paper does and carries its registry tags. The
comparison with the paper's numbers is the report's (``bench report``), never this benchmark's.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
from cunet_bench.benchmarks import SOLVER, THREADS, Benchmark, Progress, Row, no_progress
from cunet_bench.benchmarks.counting import count_flops, count_macs
from cunet_bench.benchmarks.memory import BYTES_PER_MIB, PeakProbe, measure_peaks, static_training_bytes
from cunet_bench.benchmarks.profiling import profile_forward
from cunet_bench.benchmarks.variants import EAGER, VARIANTS, prepare_variant
from cunet_bench.config.presets import Preset
from cunet_bench.config.resolve import resolve
from cunet_bench.config.settings import MODELS, names, numbers, setting
from cunet_bench.errors import UserError
from cunet_bench.measure.timing import Measurement, interleaved, single_thread
from cunet_bench.models.solver import SolverConfig
from cunet_bench.registry.contracts import example_inputs
from cunet_bench.registry.suite import REGISTRY, ModelSpec, get_model, parameter_count

PEAK_REPEATS = 5
MAX_ROUNDS = 10_000
MAX_BATCH = 4096
MAX_SAMPLING_STEPS = 1000


@dataclass(frozen=True)
class EfficiencyConfig:
    models: tuple[str, ...] = field(metadata=MODELS)
    resolution: tuple[int, ...] = field(metadata=setting("image sizes, e.g. 32,64,128,256", read=numbers()))
    channels: int = field(metadata=setting("image channels", kind=int))
    batch: tuple[int, ...] = field(metadata=setting("batch sizes, e.g. 1,64", read=numbers()))
    sampling_steps: tuple[int, ...] = field(metadata=setting("reverse steps per sample, e.g. 5,30", read=numbers()))
    """Reverse steps of the whole chains timed per sample (the paper's pair)."""
    repeats: int = field(metadata=setting("timed rounds at least, after warm-up", kind=int))
    """Rounds every speed comparison runs at least."""
    speed_budget_s: float
    """Seconds after which a comparison stops adding rounds even when its ratios are not yet within ±3%."""
    variants: tuple[str, ...] = field(
        metadata=setting("eager,compiled,frozen,channels-last,release-layers (eager always)", read=names)
    )
    """Execution variants of the paper's pair timed side by side: eager and any of ``variants.VARIANTS``."""
    memory_batch: tuple[int, ...] = field(metadata=setting("batch sizes of the peak memory, e.g. 1,32", read=numbers()))
    """Batch sizes of the peak-memory probes (the claim row uses the largest)."""
    scale: str | None
    """The models' scale (``ModelSpec.scales``): None measures the models at their default width."""
    sampling_models: tuple[str, ...] = ()
    """The models timed over whole reverse chains and in the variants (the paper's pair)."""
    memory: bool = field(default=True, metadata=setting("measure peak memory in fresh processes", switch=True))
    cpu_time: bool = True
    """Also time the pair as single-thread CPU time (robust to other processes)."""
    profile: bool = True
    solver: SolverConfig | None = field(default=None, metadata=SOLVER)
    device: str = "cpu"
    seed: int = 0
    threads: int | None = field(default=None, metadata=THREADS)

    @classmethod
    def from_preset(cls, preset: Preset, **overrides: Any) -> "EfficiencyConfig":
        """The preset's sizes and its tagged models, networks only (BM3D has nothing to count)."""
        settings = preset.settings("efficiency")
        tags = settings.pop("tags")
        settings["models"] = tuple(name for name in REGISTRY.tagged(*tags) if "trainable" in get_model(name).supports)
        settings["sampling_models"] = (REGISTRY.only("paper-unet"), REGISTRY.only("paper-cunet"))
        return resolve(cls, settings, overrides)

    def validate(self) -> None:
        """One-line errors for anything unusable, before anything is built."""
        for name in self.models:
            spec = get_model(name)
            if "trainable" not in spec.supports:
                raise UserError(f"model {spec.name!r} is not a network; bench efficiency measures torch models")
            for resolution in self.resolution:
                spec.check_image_size(resolution)
            spec.check_options(spec.options_at(self.scale))
        for values, option, highest in (
            (self.batch, "--batch", MAX_BATCH),
            (self.memory_batch, "--memory-batch", MAX_BATCH),
            (self.sampling_steps, "--sampling-steps", MAX_SAMPLING_STEPS),
        ):
            if not values or not all(1 <= value <= highest for value in values):
                raise UserError(f"{option} values must be between 1 and {highest:,}, got {values}")
        if not 1 <= self.channels <= 16:
            raise UserError(f"--channels must be between 1 and 16, got {self.channels}")
        if not 1 <= self.repeats <= MAX_ROUNDS:
            raise UserError(f"--repeats must be between 1 and {MAX_ROUNDS:,}, got {self.repeats}")
        unknown = [variant for variant in self.variants if variant not in VARIANTS]
        if unknown or EAGER not in self.variants or len(set(self.variants)) != len(self.variants):
            raise UserError(
                f"--variants takes distinct names of {', '.join(VARIANTS)}, eager included (every "
                f"ratio divides by it), got {','.join(self.variants)}"
            )
        if not 0 < self.speed_budget_s <= 3600:
            raise UserError(f"the speed budget must be between 0 and 3600 s, got {self.speed_budget_s}")


def machine_peak_gflops(device: str, rounds: int = PEAK_REPEATS) -> dict[str, float]:
    """Best achieved GFLOP/s of a large fp32 matrix product and of a 3×3 convolution — the
    practical ceiling models are compared against."""
    matrix = torch.randn(2048, 2048, device=device)
    conv = torch.nn.Conv2d(128, 128, 3, padding=1, bias=False).to(device)
    image = torch.randn(8, 128, 32, 32, device=device)
    with torch.no_grad():
        measured = interleaved(
            {"matmul": lambda: matrix @ matrix, "conv3x3": lambda: conv(image)},
            device,
            min_rounds=rounds,
            max_rounds=rounds,
        )
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
    resolution: int

    def inputs(self, config: EfficiencyConfig, batch: int) -> tuple[torch.Tensor, ...]:
        return example_inputs(self.spec, batch, config.channels, self.resolution, config.device)

    def base(self, config: EfficiencyConfig, kind: str, variant: str = EAGER, **extra: Any) -> Row:
        """The columns every row about this model shares."""
        solver = self.model.solver.label if hasattr(self.model, "solver") else None
        return {
            "kind": kind,
            "model": self.spec.name,
            **self.spec.row_fields(),
            "variant": variant,
            "resolution": self.resolution,
            "device": config.device,
            "threads": config.threads,
            "solver": solver,
            **extra,
        }


def _measurement_rows(measurement: Measurement, label: str, rows: dict[str, Row], metric: str) -> Iterator[Row]:
    """One row per call and round of a measurement, with its conditions."""
    for name, base in rows.items():
        for index, seconds in enumerate(measurement.seconds[name]):
            yield {
                **base,
                "metric": metric,
                "value": seconds,
                "unit": "s",
                "round": index,
                "measurement": label,
                "warmup_calls": measurement.warmup_calls[name],
                **measurement.conditions(),
            }


def _speed(
    config: EfficiencyConfig, built: dict[str, _Built], batch: int, pair: list[str], progress: Progress
) -> Iterator[Row]:
    """Latency per forward pass of every model, interleaved round by round (wall time at the
    configured threads), the paper's pair also as single-thread CPU time and in the speed
    variants. A variant that cannot be prepared (a compiler failure) is recorded as failed with
    its reason, and the eager measurement goes on."""
    calls, rows = {}, {}
    for name, entry in built.items():
        inputs = entry.inputs(config, batch)
        calls[name] = (lambda model, x: lambda: model(*x))(entry.model, inputs)
        rows[name] = entry.base(config, "timing", batch=batch)
    for variant in config.variants:
        for name in pair if variant != EAGER else ():
            progress(f"{name} {variant} @ {built[name].resolution}px, batch {batch}")
            prepared, checks = prepare_variant(
                built[name].model, built[name].inputs(config, batch), variant, config.device
            )
            for check in checks:
                yield {**built[name].base(config, "variant", variant, batch=batch), **check}
            if prepared is not None:
                calls[f"{name}+{variant}"] = prepared
                rows[f"{name}+{variant}"] = built[name].base(config, "timing", variant, batch=batch)
    reference = pair[0] if pair else next(iter(calls))
    progress(f"latency, batch {batch}: {len(calls)} calls interleaved")
    with torch.no_grad():
        wall = interleaved(
            calls, config.device, reference=reference, budget_s=config.speed_budget_s, min_rounds=config.repeats
        )
    yield from _measurement_rows(wall, f"forward b={batch} wall", rows, "latency_s")
    if config.cpu_time and len(pair) == 2 and torch.device(config.device).type == "cpu":
        progress(f"single-thread CPU time, batch {batch}")
        with torch.no_grad(), single_thread():
            cpu = interleaved(
                {name: calls[name] for name in pair},
                config.device,
                reference=reference,
                clock="thread_cpu",
                budget_s=config.speed_budget_s,
                min_rounds=config.repeats,
            )
        yield from _measurement_rows(
            cpu, f"forward b={batch} cpu 1 thread", {name: rows[name] for name in pair}, "cpu_time_1thread_s"
        )


def _sampling(config: EfficiencyConfig, built: dict[str, _Built], pair: list[str], progress: Progress) -> Iterator[Row]:
    """Seconds per generated sample (batch 1) over whole reverse chains of each step count,
    the pair interleaved (Table 1's time column at fixed step counts)."""
    for steps in config.sampling_steps if pair else ():
        progress(f"reverse chains of {steps} steps")
        chains = {}
        for name in pair:
            model = built[name].model
            x, t = built[name].inputs(config, 1)
            timesteps = [torch.full_like(t, step * (1000 // steps)) for step in reversed(range(steps))]
            chains[name] = (lambda m, x, ts: lambda: [m(x, s) for s in ts])(model, x, timesteps)
        with torch.no_grad():
            measured = interleaved(
                chains, config.device, reference=pair[0], budget_s=config.speed_budget_s, min_rounds=config.repeats
            )
        yield from _measurement_rows(
            measured,
            f"sampling {steps} steps",
            {name: built[name].base(config, "timing", batch=1, sampling_steps=steps) for name in pair},
            "sample_time_s",
        )


def _profiles(config: EfficiencyConfig, built: dict[str, _Built], pair: list[str], progress: Progress) -> Iterator[Row]:
    for batch in config.batch:
        for name in pair:
            progress(f"profile of {name}, batch {batch}")
            groups = profile_forward(built[name].model, built[name].inputs(config, batch))
            total = sum(groups.values())
            for group, seconds in groups.items():
                yield {
                    **built[name].base(config, "profile", batch=batch),
                    "metric": "profile_s",
                    "group": group,
                    "value": seconds,
                    "share": seconds / total if total else None,
                    "unit": "s",
                }


def _throughput(rows: list[Row], flops: dict[str, int], peak: float) -> Iterator[Row]:
    """Per model and variant of one batch size: the median latency over rounds, images per
    second, and the achieved GFLOP/s against the machine's peak."""
    latencies: dict[tuple[str, str], list[float]] = {}
    template: dict[tuple[str, str], Row] = {}
    for row in rows:
        if row["kind"] == "timing" and row["metric"] == "latency_s":
            latencies.setdefault((row["model"], row["variant"]), []).append(row["value"])
            template[row["model"], row["variant"]] = row
    keep = ("model", "paper_name", "tags", "variant", "resolution", "batch", "device", "threads", "solver")
    for (model, variant), values in latencies.items():
        median = statistics.median(values)
        base = {"kind": "throughput", **{k: template[model, variant][k] for k in keep}}
        achieved = flops[model] * base["batch"] / median / 1e9
        for metric, value, unit in (
            ("latency_median_s", median, "s"),
            ("throughput_images_per_s", base["batch"] / median, "images/s"),
            ("achieved_gflops", achieved, "GFLOP/s"),
            ("fraction_of_peak", achieved / peak, "fraction"),
        ):
            yield {**base, "metric": metric, "value": value, "unit": unit}


def _counts(config: EfficiencyConfig, entry: _Built) -> Iterator[Row]:
    """Exact counts of one model: parameters, static memory, MACs, executed FLOPs, NFE."""
    model = entry.model

    def row(metric: str, value: Any, unit: str, batch: int | None = None) -> Row:
        return {**entry.base(config, "count", batch=batch), "metric": metric, "value": value, "unit": unit}

    yield row("parameters", parameter_count(model), "count")
    yield row("trainable_parameters", parameter_count(model, trainable_only=True), "count")
    yield row("static_training_mib", static_training_bytes(model) / BYTES_PER_MIB, "MiB")
    one = entry.inputs(config, 1)
    macs = count_macs(model, one)
    yield row("gmacs_fvcore_total", macs.total / 1e9, "GMAC", 1)
    yield row("gmacs_conv_linear", macs.conv_linear / 1e9, "GMAC", 1)
    yield row("gflops_executed", count_flops(model, one) / 1e9, "GFLOP", 1)
    if hasattr(model, "nfe"):
        with torch.no_grad():
            model(*one)
        ode_macs = _ode_share(model, macs.by_module)
        yield row("nfe", model.nfe, "count", 1)
        yield row("gmacs_per_function_evaluation", ode_macs / model.nfe / 1e9, "GMAC", 1)
        yield row("ode_share_of_macs", ode_macs / macs.total, "fraction", 1)


def _memory(config: EfficiencyConfig, built: dict[str, _Built], progress: Progress) -> Iterator[Row]:
    """Measured peaks in fresh processes for every model at every memory batch; the training peak
    also split into the optimiser state (gradients and two Adam moments of the trainable
    parameters, allocated by the step) and the rest — activations and temporaries, which grow with
    the batch."""
    progress(f"peak memory of {len(built)} model(s)")
    probes = [
        (
            entry,
            PeakProbe(entry.spec.name, config.channels, entry.resolution, batch, mode, config.device, entry.options),
        )
        for entry in built.values()
        for batch in config.memory_batch
        for mode in ("inference", "train")
    ]
    for (entry, probe), peak in zip(probes, measure_peaks([probe for _, probe in probes], config.threads)):
        state = 3 * sum(p.numel() * p.element_size() for p in entry.model.parameters() if p.requires_grad)
        base = {**entry.base(config, "memory", batch=probe.batch), "unit": "MiB", "method": peak["method"]}
        yield {**base, "metric": f"peak_{probe.mode}_mib", "value": peak["peak_bytes"] / BYTES_PER_MIB}
        if probe.mode == "train":
            yield {**base, "metric": "train_state_mib", "value": state / BYTES_PER_MIB}
            yield {
                **base,
                "metric": "train_activation_mib",
                "value": max(0, peak["peak_bytes"] - state) / BYTES_PER_MIB,
            }


def run(config: EfficiencyConfig, progress: Progress = no_progress) -> Iterator[Row]:
    """Measure every model; yields rows as they are measured so a failure keeps what was done."""
    peaks = machine_peak_gflops(config.device)
    for kind, value in peaks.items():
        yield {
            "kind": "machine",
            "metric": f"peak_gflops_{kind}",
            "value": value,
            "unit": "GFLOP/s",
            "device": config.device,
            "threads": config.threads,
        }
    pair = [name for name in config.sampling_models if name in config.models]
    for resolution in config.resolution:
        built: dict[str, _Built] = {}
        flops: dict[str, int] = {}
        for name in config.models:
            spec = get_model(name)
            progress(f"{name} @ {resolution}px")
            options = spec.options_at(config.scale)
            if config.solver is not None and "solver" in spec.supports:
                options["solver"] = config.solver
            model = spec.instantiate(config.channels, resolution, **options).to(config.device).eval()
            built[name] = entry = _Built(spec, model, options, resolution)
            counts = list(_counts(config, entry))
            flops[name] = round(next(r["value"] for r in counts if r["metric"] == "gflops_executed") * 1e9)
            yield from counts
        if config.memory:
            yield from _memory(config, built, progress)
        for batch in config.batch:
            rows = list(_speed(config, built, batch, pair, progress))
            yield from rows
            yield from _throughput(rows, flops, max(peaks.values()))
        yield from _sampling(config, built, pair, progress)
        if config.profile:
            yield from _profiles(config, built, pair, progress)


def _lookup(rows: list[Row], model: str, resolution: Any, metric: str, **match: Any) -> Any:
    for row in rows:
        if (
            row.get("model") == model
            and row.get("resolution") == resolution
            and row["metric"] == metric
            and all(row.get(key) == value for key, value in match.items())
        ):
            return row["value"]
    return None


def _per_model(rows: list[Row]) -> list[Row]:
    """One line per model and resolution with the headline measurements."""
    keys = list(dict.fromkeys((r["model"], r["resolution"]) for r in rows if r["kind"] == "count"))
    batches = sorted({r["batch"] for r in rows if r["kind"] == "throughput"})
    steps = sorted({r["sampling_steps"] for r in rows if r["kind"] == "timing" and r["metric"] == "sample_time_s"})
    memory = max((r["batch"] for r in rows if r["kind"] == "memory"), default=None)
    table = []
    for model, resolution in keys:
        line: Row = {"model": model, "px": resolution}
        for label, metric in (
            ("params", "parameters"),
            ("GMAC conv+lin", "gmacs_conv_linear"),
            ("GMAC total", "gmacs_fvcore_total"),
            ("GFLOP run", "gflops_executed"),
            ("NFE", "nfe"),
            ("static MiB", "static_training_mib"),
        ):
            line[label] = _lookup(rows, model, resolution, metric)
        for label, metric in (
            (f"peak inf MiB b={memory}", "peak_inference_mib"),
            (f"peak train MiB b={memory}", "peak_train_mib"),
        ):
            line[label] = _lookup(rows, model, resolution, metric, batch=memory)
        for batch in batches:
            latency = _lookup(rows, model, resolution, "latency_median_s", batch=batch, variant=EAGER)
            line[f"ms b={batch}"] = None if latency is None else latency * 1e3
        for count in steps:
            chains = [
                r["value"]
                for r in rows
                if r.get("model") == model
                and r.get("resolution") == resolution
                and r["metric"] == "sample_time_s"
                and r.get("sampling_steps") == count
            ]
            line[f"s/{count} steps"] = statistics.median(chains) if chains else None
        table.append(line)
    return table


def _ratios(rows: list[Row]) -> list[Row]:
    """Each measured call against the comparison's reference (the paper's U-Net): the median
    of the per-round ratios with its 95% interval, and whether the machine was busy."""
    from cunet_bench.measure.timing import median_interval

    table = []
    timings = [r for r in rows if r["kind"] == "timing"]
    for label in dict.fromkeys(r["measurement"] for r in timings):
        series: dict[tuple[str, str], list[float]] = {}
        unets = set()
        for r in timings:
            if r["measurement"] == label:
                series.setdefault((r["model"], r["variant"]), []).append(r["value"])
                if "paper-unet" in str(r.get("tags", "")).split(";"):
                    unets.add(r["model"])
        reference = next((key for key in series if key[0] in unets and key[1] == EAGER), next(iter(series)))
        contended = any(r.get("contended") for r in timings if r["measurement"] == label)
        for (model, variant), values in series.items():
            if (model, variant) == reference:
                continue
            estimate, low, high = median_interval([a / b for a, b in zip(values, series[reference])])
            table.append(
                {
                    "measurement": label,
                    "model": model,
                    "variant": variant,
                    "versus": reference[0],
                    "time ratio": estimate,
                    "95% interval": f"[{low:.3f}, {high:.3f}]",
                    "rounds": len(values),
                    "busy machine": contended,
                }
            )
    return table


def summary(rows: list[Row]) -> list[tuple[str, list[Row]]]:
    tables = [("efficiency", _per_model(rows))]
    ratios = _ratios(rows)
    if ratios:
        tables.append(("time ratios, interleaved round by round", ratios))
    failed = [
        {"model": r["model"], "variant": r["variant"], "batch": r["batch"], "reason": r["reason"]}
        for r in rows
        if r["kind"] == "variant" and r["status"] == "failed"
    ]
    if failed:
        tables.append(("speed variants that failed (eager measured without them)", failed))
    return tables


BENCHMARK = Benchmark(
    "efficiency",
    EfficiencyConfig,
    run,
    summary=summary,
    plan=lambda plan: [
        (
            "efficiency",
            plan.adding(
                lambda **models: EfficiencyConfig.from_preset(
                    plan.preset, seed=plan.seed, device=plan.device, **models
                ),
                lambda spec: "trainable" in spec.supports,
            ),
        )
    ],
    help="""Parameters, static training memory, GMACs (fvcore) and GFLOPs (FlopCounterMode), NFE, peak memory, latency,
reverse-step time and achieved throughput against the machine's peak.

Example: bench efficiency --models unet,cunet-release --resolution 32,64 --batch 1,64 --variants eager""",
)
