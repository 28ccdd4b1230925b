"""``bench solvers``: what the ODE solver itself costs in the cU-Net.

* **Loop overhead**: for every ODE block, the time of the block (solver arithmetic + field
  evaluations) against the same number of bare vector-field evaluations on the same input and
  the same CPU batch slices, summed over the nine blocks. The two are timed alternately, one
  call each per round, and the overhead is the median over rounds of block/evaluations − 1, so
  drifts of a shared machine's speed cancel.
* **Harness vs torchdiffeq**: the whole forward with the harness's fixed-step loop and with
  torchdiffeq's fixed-grid method of the same name (identical results, REFERENCE §5).
* **Compiled**: on CUDA, the forward under ``torch.compile`` (one graph, thanks to the loop).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch

from cunet_bench.configs import resolve
from cunet_bench.contracts import example_inputs
from cunet_bench.errors import UserError
from cunet_bench.models.ode import FIXED_STEP_STAGES, SolverConfig
from cunet_bench.presets import Preset
from cunet_bench.registry import REGISTRY, get_model
from cunet_bench.runner import Benchmark, Progress
from cunet_bench.timing import time_call


@dataclass(frozen=True)
class SolversConfig:
    model: str
    resolution: int = 64
    channels: int = 3
    batches: tuple[int, ...] = (1, 64)
    solvers: tuple[SolverConfig, ...] = (SolverConfig(),)
    repeats: int = 5
    budget_s: float = 20.0
    compile: bool = False
    model_options: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    seed: int = 0

    @classmethod
    def from_preset(cls, preset: Preset, **overrides: Any) -> "SolversConfig":
        """The paper's cU-Net at the preset's image size and batches."""
        model = REGISTRY.only("paper-cunet")
        return resolve(cls, dict(model=model, resolution=preset.resolution, channels=preset.channels,
                                 batches=preset.batches, repeats=preset.repeats,
                                 model_options=preset.model_options.get(model, {})), overrides)

    def validate(self) -> None:
        spec = get_model(self.model)
        if "solver" not in spec.supports:
            raise UserError(f"model {self.model!r} has no ODE solver; choose a cU-Net")
        spec.check_image_size(self.resolution)
        for solver in self.solvers:
            if solver.backend != "harness":
                raise UserError(f"solver overhead is measured for the fixed-step methods {', '.join(FIXED_STEP_STAGES)}"
                                f", got {solver.label}")
        if min(self.batches, default=0) < 1:
            raise UserError(f"batch sizes must be positive, got {self.batches}")
        if self.repeats < 1:
            raise UserError(f"--repeats must be at least 1, got {self.repeats}")


def _block_inputs(model: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> list[tuple[torch.Tensor, ...]]:
    """The arguments each ODE block receives during one forward call."""
    captured: list[tuple[torch.Tensor, ...]] = []
    hooks = [block.register_forward_pre_hook(lambda _m, args: captured.append(args)) for block in model.ode_blocks]
    with torch.no_grad():
        model(*inputs)
    for hook in hooks:
        hook.remove()
    return captured


def run(config: SolversConfig, progress: Progress = lambda _: None) -> Iterator[dict[str, Any]]:
    spec = get_model(config.model)
    device = config.device
    for solver in config.solvers:
        model = spec.instantiate(config.channels, config.resolution, **{**config.model_options, "solver": solver})
        model = model.to(device).eval()
        evaluations = FIXED_STEP_STAGES[solver.method] * solver.steps
        for batch in config.batches:
            progress(f"{solver.label} batch {batch}")
            inputs = example_inputs("cunet", batch, config.channels, config.resolution, device)
            states = _block_inputs(model, inputs)

            def row(metric: str, value: float, unit: str) -> dict[str, Any]:
                return {"model": config.model, "resolution": config.resolution, "batch": batch,
                        "solver": solver.label, "metric": metric, "value": value, "unit": unit, "device": device,
                        "threads": torch.get_num_threads()}

            def blocks() -> None:
                for block, arguments in zip(model.ode_blocks, states):
                    block(*arguments)

            def bare_evaluations() -> None:
                for block, arguments in zip(model.ode_blocks, states):
                    block.evaluate_field(*arguments, evaluations=evaluations)

            with torch.no_grad():
                pairs = [(time_call(blocks, device, 1 if r == 0 else 0, 1).median_s,
                          time_call(bare_evaluations, device, 1 if r == 0 else 0, 1).median_s)
                         for r in range(config.repeats)]
                ratios = sorted(block_s / bare_s for block_s, bare_s in pairs)
                block_time = statistics.median(block_s for block_s, _ in pairs)
                field_time = statistics.median(bare_s for _, bare_s in pairs)
                harness = time_call(lambda: model(*inputs), device, 1, config.repeats, config.budget_s)
                model.set_solver(solver.with_options(backend="torchdiffeq"))
                reference = time_call(lambda: model(*inputs), device, 1, config.repeats, config.budget_s)
                model.set_solver(solver)
            yield row("ode_blocks_s", block_time, "s")
            yield row("bare_field_evaluations_s", field_time, "s")
            yield row("solver_loop_overhead", statistics.median(ratios) - 1, "fraction")
            yield row("forward_harness_s", harness.median_s, "s")
            yield row("forward_torchdiffeq_s", reference.median_s, "s")
            yield row("torchdiffeq_over_harness", reference.median_s / harness.median_s, "ratio")
            if config.compile:
                compiled = torch.compile(model, fullgraph=True)
                with torch.no_grad():
                    compiled_time = time_call(lambda: compiled(*inputs), device, 2, config.repeats, config.budget_s)
                yield row("forward_compiled_s", compiled_time.median_s, "s")
                yield row("compile_speedup", harness.median_s / compiled_time.median_s, "ratio")


def summary(rows: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    if not rows:
        return []
    first = rows[0]
    return [(f"ODE solver cost, {first['model']} at {first['resolution']}px ({first['threads']} threads)",
             [{k: row[k] for k in ("solver", "batch", "metric", "value", "unit")} for row in rows])]


BENCHMARK = Benchmark("solvers", run, summary=summary)
