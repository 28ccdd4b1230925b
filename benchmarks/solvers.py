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
from typing import Any, Callable, Iterator

import torch

from cunet_bench.contracts import example_inputs
from cunet_bench.errors import UserError
from cunet_bench.models.ode import FIXED_STEP_STAGES, SolverConfig
from cunet_bench.registry import get_model
from cunet_bench.timing import time_call


@dataclass(frozen=True)
class SolversConfig:
    model: str = "cunet-release"
    resolution: int = 64
    channels: int = 3
    batches: tuple[int, ...] = (1, 64)
    methods: tuple[str, ...] = ("rk4",)
    steps: int = 1
    device: str = "cpu"
    repeats: int = 5
    budget_s: float = 20.0
    compile: bool = False
    model_options: dict[str, Any] = field(default_factory=dict)


def check_config(config: SolversConfig) -> None:
    spec = get_model(config.model)
    if "solver" not in spec.supports:
        raise UserError(f"model {config.model!r} has no ODE solver; choose a cU-Net")
    spec.check_image_size(config.resolution)
    for method in config.methods:
        if method not in FIXED_STEP_STAGES:
            raise UserError(f"solver overhead is measured for fixed-step methods {', '.join(FIXED_STEP_STAGES)}, got {method!r}")
    if any(batch < 1 for batch in config.batches):
        raise UserError("batch sizes must be positive")
    if config.steps < 1:
        raise UserError(f"steps must be positive, got {config.steps}")


def _block_inputs(model: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> list[tuple[torch.Tensor, ...]]:
    """The arguments each ODE block receives during one forward call."""
    captured: list[tuple[torch.Tensor, ...]] = []
    hooks = [block.register_forward_pre_hook(lambda _m, args: captured.append(args)) for block in model.ode_blocks]
    with torch.no_grad():
        model(*inputs)
    for hook in hooks:
        hook.remove()
    return captured


def iter_rows(config: SolversConfig, progress: Callable[[str], None] = lambda _: None) -> Iterator[dict[str, Any]]:
    check_config(config)
    spec = get_model(config.model)
    device = config.device
    for method in config.methods:
        solver = SolverConfig(method, steps=config.steps)
        model = spec.instantiate(config.channels, config.resolution, solver=solver, **config.model_options)
        model = model.to(device).eval()
        evaluations = FIXED_STEP_STAGES[method] * config.steps
        for batch in config.batches:
            progress(f"{method} batch {batch}")
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
                for block, (z, *rest) in zip(model.ode_blocks, states):
                    for part, condition in block.slices(z, block.field.condition(rest[0] if rest else None)):
                        for _ in range(evaluations):
                            block.field(0.0, part, condition)

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


def run(config: SolversConfig) -> list[dict[str, Any]]:
    return list(iter_rows(config))
