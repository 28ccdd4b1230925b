"""``bench solvers``: what the ODE solver itself costs in the cU-Net.

* **Loop overhead**: for every ODE block, the time of the block (solver arithmetic + field
  evaluations) against the same number of bare vector-field evaluations on the same inputs
  (``ODEBlock.evaluate_field``, so the benchmark cannot drift from the block), summed over the
  nine blocks. The two are interleaved round by round by the timing engine until the ratio's
  95% interval is within ±1%; the overhead is the median per-round ratio − 1, with its interval.
* **Harness vs torchdiffeq**: the whole forward with the harness's fixed-step loop and with
  torchdiffeq's fixed-grid method of the same name (identical results, docs/protocol.md §5).
* **Compiled**: on CUDA, the forward under ``torch.compile`` (one graph, thanks to the loop).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
from cunet_bench.benchmarks import SOLVERS, THREADS, Benchmark, Progress, Row, no_progress
from cunet_bench.config.presets import Preset
from cunet_bench.config.resolve import resolve
from cunet_bench.config.settings import numbers, setting
from cunet_bench.errors import UserError
from cunet_bench.measure.timing import Measurement, interleaved
from cunet_bench.models.solver import FIXED_STEP_STAGES, RELEASED, SolverConfig
from cunet_bench.registry.contracts import example_inputs
from cunet_bench.registry.suite import REGISTRY, get_model

MAX_REPEATS = 10_000
MAX_BATCH = 4096


@dataclass(frozen=True)
class SolversConfig:
    resolution: int = field(metadata=setting("image size", kind=int))
    channels: int
    batch: tuple[int, ...] = field(metadata=setting("batch sizes, e.g. 1,64", read=numbers()))
    repeats: int = field(metadata=setting("timed rounds at least, after warm-up", kind=int))
    scale: str | None
    model: str = field(default="", metadata=setting("a cU-Net variant"))
    """A cU-Net; default: the paper's (the registry's ``paper-cunet``)."""
    solver: tuple[SolverConfig, ...] = field(default=(RELEASED,), metadata=SOLVERS)
    budget_s: float = 60.0
    compile: bool = field(default=False, metadata=setting("also time torch.compile", switch=True))
    device: str = "cpu"
    seed: int = 0
    threads: int | None = field(default=None, metadata=THREADS)

    @classmethod
    def from_preset(cls, preset: Preset, **overrides: Any) -> "SolversConfig":
        """The paper's cU-Net at the preset's image size and batches."""
        return resolve(cls, {**preset.settings("solvers"), "model": REGISTRY.only("paper-cunet")}, overrides)

    def validate(self) -> None:
        spec = get_model(self.model)
        if "solver" not in spec.supports:
            raise UserError(f"model {self.model!r} has no ODE solver; choose a cU-Net")
        spec.check_image_size(self.resolution)
        for solver in self.solver:
            if solver.backend != "harness":
                raise UserError(
                    f"solver overhead is measured for the fixed-step methods {', '.join(FIXED_STEP_STAGES)}"
                    f", got {solver.label}"
                )
        if len(set(self.solver)) != len(self.solver):
            raise UserError(f"--solver is given twice with the same setting: {', '.join(s.label for s in self.solver)}")
        if not self.batch or not all(1 <= batch <= MAX_BATCH for batch in self.batch):
            raise UserError(f"--batch values must be between 1 and {MAX_BATCH:,}, got {self.batch}")
        if not 1 <= self.repeats <= MAX_REPEATS:
            raise UserError(f"--repeats must be between 1 and {MAX_REPEATS:,}, got {self.repeats}")


def _block_inputs(model: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> list[tuple[torch.Tensor, ...]]:
    """The arguments each ODE block receives during one forward call."""
    captured: list[tuple[torch.Tensor, ...]] = []
    hooks = [block.register_forward_pre_hook(lambda _m, args: captured.append(args)) for block in model.ode_blocks]
    with torch.no_grad():
        model(*inputs)
    for hook in hooks:
        hook.remove()
    return captured


def run(config: SolversConfig, progress: Progress = no_progress) -> Iterator[Row]:
    spec = get_model(config.model)
    device = config.device
    for solver in config.solver:
        model = spec.instantiate(
            config.channels, config.resolution, **{**spec.options_at(config.scale), "solver": solver}
        )
        model = model.to(device).eval()
        evaluations = FIXED_STEP_STAGES[solver.method] * solver.steps
        for batch in config.batch:
            progress(f"{solver.label} batch {batch}")
            inputs = example_inputs(spec, batch, config.channels, config.resolution, device)
            states = _block_inputs(model, inputs)

            def row(metric: str, value: float, unit: str, measurement: Measurement, **extra: Any) -> dict[str, Any]:
                return {
                    "kind": "solver",
                    "model": config.model,
                    "resolution": config.resolution,
                    "batch": batch,
                    "solver": solver.label,
                    "metric": metric,
                    "value": value,
                    "unit": unit,
                    "device": device,
                    **extra,
                    **measurement.conditions(),
                }

            def blocks() -> None:
                for block, arguments in zip(model.ode_blocks, states):
                    block(*arguments)

            def bare_evaluations() -> None:
                for block, arguments in zip(model.ode_blocks, states):
                    block.evaluate_field(*arguments, evaluations=evaluations)

            reference_model = copy.deepcopy(model)
            reference_model.set_solver(solver.with_options(backend="torchdiffeq"))
            with torch.no_grad():
                loop = interleaved(
                    {"bare": bare_evaluations, "blocks": blocks},
                    device,
                    reference="bare",
                    min_rounds=config.repeats,
                    budget_s=config.budget_s,
                    target=0.01,
                )
                forward = interleaved(
                    {"harness": lambda: model(*inputs), "torchdiffeq": lambda: reference_model(*inputs)},
                    device,
                    min_rounds=config.repeats,
                    budget_s=config.budget_s,
                )
            overhead, low, high = loop.ratio_interval("blocks", "bare")
            yield row("ode_blocks_s", loop.median("blocks"), "s", loop)
            yield row("bare_field_evaluations_s", loop.median("bare"), "s", loop)
            yield row("solver_loop_overhead", overhead - 1, "fraction", loop, ci_low=low - 1, ci_high=high - 1)
            yield row("forward_harness_s", forward.median("harness"), "s", forward)
            yield row("forward_torchdiffeq_s", forward.median("torchdiffeq"), "s", forward)
            yield row("torchdiffeq_over_harness", forward.ratio_interval("torchdiffeq", "harness")[0], "ratio", forward)
            if config.compile:
                compiled = torch.compile(model, fullgraph=True)
                with torch.no_grad():
                    compiled_forward = interleaved(
                        {"harness": lambda: model(*inputs), "compiled": lambda: compiled(*inputs)},
                        device,
                        min_rounds=config.repeats,
                        budget_s=config.budget_s,
                    )
                yield row("forward_compiled_s", compiled_forward.median("compiled"), "s", compiled_forward)
                yield row(
                    "compile_speedup",
                    1 / compiled_forward.ratio_interval("compiled", "harness")[0],
                    "ratio",
                    compiled_forward,
                )


def summary(rows: list[Row]) -> list[tuple[str, list[Row]]]:
    if not rows:
        return []
    first = rows[0]
    return [
        (
            f"ODE solver cost, {first['model']} at {first['resolution']}px ({first['threads']} threads)",
            [{k: row[k] for k in ("solver", "batch", "metric", "value", "unit")} for row in rows],
        )
    ]


BENCHMARK = Benchmark(
    "solvers",
    SolversConfig,
    run,
    summary=summary,
    help="""Loop overhead over bare field evaluations, the harness's loop against torchdiffeq's, and (with --compile)
the torch.compile speed-up.

Example: bench solvers --batch 1,64 --solver rk4 --solver euler:steps=4""",
)
