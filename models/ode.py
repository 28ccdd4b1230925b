"""Neural-ODE machinery of the continuous U-Net: fixed-step solvers written as a plain loop
(compilable with ``torch.compile(fullgraph=True)``), adaptive solvers through
torchdiffeq, exact function-evaluation (NFE) counts, and second-order dynamics.

A vector field is an ``nn.Module`` called as ``field(t, z, conditioning)`` returning ``dz/dt``
(``conditioning`` is whatever ``field.condition(time_embedding)`` returns, computed once per
block call because it depends on the diffusion timestep only, not on the ODE time). The solver
setting itself is :class:`cunet_bench.models.solver.SolverConfig` (torch-free).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
from cunet_bench.models.solver import FIXED_STEP_STAGES, MAX_ADAPTIVE_EVALUATIONS, SolverConfig
from torch import nn

# Each step returns y(t + dt). The updates are written as chains of ``add(…, alpha=…)`` on fresh
# tensors: one pass over the state per term, no scalar-times-tensor temporaries (docs/measurements.md §8).


def _euler_step(f: Callable, t: float, dt: float, y: torch.Tensor) -> torch.Tensor:
    return torch.add(y, f(t, y), alpha=dt)


def _midpoint_step(f: Callable, t: float, dt: float, y: torch.Tensor) -> torch.Tensor:
    half = 0.5 * dt
    return torch.add(y, f(t + half, torch.add(y, f(t, y), alpha=half)), alpha=dt)


def _rk4_step(f: Callable, t: float, dt: float, y: torch.Tensor) -> torch.Tensor:
    """Kutta's 3/8 rule — the variant torchdiffeq names ``rk4`` (``rk4_alt_step_func``):
    k2 at y + dt·k1/3, k3 at y + dt·(k2 − k1/3), k4 at y + dt·(k1 − k2 + k3),
    y + dt·(k1 + 3k2 + 3k3 + k4)/8."""
    k1 = f(t, y)
    k2 = f(t + dt / 3, torch.add(y, k1, alpha=dt / 3))
    stage = torch.add(y, k2, alpha=dt).add_(k1, alpha=-dt / 3)
    k3 = f(t + 2 * dt / 3, stage)
    stage = torch.add(y, k1, alpha=dt).add_(k2, alpha=-dt).add_(k3, alpha=dt)
    k4 = f(t + dt, stage)
    return torch.add(y, k1, alpha=dt / 8).add_(k2, alpha=3 * dt / 8).add_(k3, alpha=3 * dt / 8).add_(k4, alpha=dt / 8)


_FIXED_STEPS = {"euler": _euler_step, "midpoint": _midpoint_step, "rk4": _rk4_step}


def integrate_fixed(f: Callable, y0: torch.Tensor, method: str, steps: int, t_end: float = 1.0) -> torch.Tensor:
    """Integrate ``dy/dt = f(t, y)`` over ``[0, t_end]`` in ``steps`` equal steps of ``method``."""
    step = _FIXED_STEPS[method]
    dt = t_end / steps
    y = y0
    for index in range(steps):
        y = step(f, index * dt, dt, y)
    return y


class _BoundField(nn.Module):
    """A field with its conditioning input bound, counting evaluations (torchdiffeq path).

    For the adjoint method the conditioning is recomputed inside each evaluation from the time
    embedding, so its parameters receive adjoint gradients.
    """

    def __init__(
        self, field: nn.Module, time_embedding: torch.Tensor | None, precomputed: Any, budget: int | None = None
    ) -> None:
        super().__init__()
        self.field = field
        self.time_embedding = time_embedding
        self.precomputed = precomputed
        self.budget = budget
        """The most evaluations allowed (adaptive methods), or None."""
        self.evaluations = 0

    def forward(self, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        self.evaluations += 1
        if self.budget is not None and self.evaluations > self.budget:
            raise SolverFailure(f"it took more than {self.budget:,} evaluations of one block; loosen rtol and atol")
        conditioning = self.precomputed
        if conditioning is None and self.time_embedding is not None:
            conditioning = self.field.condition(self.time_embedding)
        return self.field(t, z, conditioning)


class SolverFailure(RuntimeError):
    """An ODE block whose solver failed: step-size underflow, too many evaluations, non-finite state."""


CPU_CHUNK_BYTES = 2 * 2**20
"""State bytes per chunk when a CPU batch is integrated in slices (see ``ODEBlock``)."""


class ODEBlock(nn.Module):
    """Integrates a learned vector field over ``[0, t_end]`` (paper Fig. 2, left).

    ``nfe`` holds the number of vector-field evaluations of the last forward call.

    On CPU, when the field treats samples independently (``field.per_sample``: instance or group
    normalisation, no batch statistics), the harness's fixed-step loop integrates the batch in
    slices of about ``CPU_CHUNK_BYTES`` of state so that the stages stay in cache. The result is
    the same up to floating-point rounding (convolution kernels differ with the batch size) and
    faster for large batches (docs/measurements.md §8).
    """

    def __init__(self, field: nn.Module, solver: SolverConfig | None = None, name: str = "ode") -> None:
        super().__init__()
        self.field = field
        self.solver = solver or SolverConfig()
        self.name = name
        self.nfe = 0

    def chunk_size(self, z: torch.Tensor) -> int:
        """Samples per slice of the CPU batch (the whole batch where slicing does not apply)."""
        if z.device.type != "cpu" or not getattr(self.field, "per_sample", False) or torch.compiler.is_compiling():
            return z.shape[0]
        return max(1, CPU_CHUNK_BYTES // (z[0].numel() * z.element_size()))

    def slices(self, z: torch.Tensor, conditioning: Any) -> list[tuple[torch.Tensor, Any]]:
        """``(state, conditioning)`` slices of the batch the fixed-step loop integrates one by one."""
        size = self.chunk_size(z)
        if size >= z.shape[0]:
            return [(z, conditioning)]
        if conditioning is None:
            return [(part, None) for part in z.split(size)]
        return list(zip(z.split(size), zip(*(part.split(size) for part in conditioning))))

    def field_inputs(self, z: torch.Tensor, time_embedding: torch.Tensor | None) -> list[tuple[torch.Tensor, Any]]:
        """The ``(state, conditioning)`` slices the fixed-step loop integrates: the conditioning is
        computed once per call (it depends on the diffusion timestep only), then sliced with the batch."""
        return self.slices(z, self.field.condition(time_embedding))

    def evaluate_field(self, z: torch.Tensor, time_embedding: torch.Tensor | None = None, evaluations: int = 1) -> None:
        """Evaluate the vector field ``evaluations`` times on exactly the inputs :meth:`forward`
        integrates, without the solver's arithmetic: the baseline ``bench solvers`` times the
        solver loop against, so that the benchmark cannot drift from the block."""
        for part, condition in self.field_inputs(z, time_embedding):
            for _ in range(evaluations):
                self.field(0.0, part, condition)

    def forward(self, z: torch.Tensor, time_embedding: torch.Tensor | None = None) -> torch.Tensor:
        solver = self.solver
        if solver.backend == "harness":
            outs = [
                integrate_fixed(
                    lambda t, y, c=condition: self.field(t, y, c), part, solver.method, solver.steps, solver.t_end
                )
                for part, condition in self.field_inputs(z, time_embedding)
            ]
            out = outs[0] if len(outs) == 1 else torch.cat(outs)
            self.nfe = FIXED_STEP_STAGES[solver.method] * solver.steps
        else:
            out = self._integrate_torchdiffeq(z, time_embedding)
        # One reduction pass, no mask tensor: a NaN or ±inf anywhere (or an overflowing state)
        # makes the sum non-finite. A tensor on the meta device holds no values to check.
        checkable = not torch.compiler.is_compiling() and out.device.type != "meta"
        if checkable and not math.isfinite(out.detach().sum().item()):
            raise SolverFailure(f"ODE block {self.name!r}: solver {solver.label} produced non-finite values")
        return out

    def _integrate_torchdiffeq(self, z: torch.Tensor, time_embedding: torch.Tensor | None) -> torch.Tensor:
        import torchdiffeq

        solver = self.solver
        precomputed = None if solver.adjoint else self.field.condition(time_embedding)
        bound = _BoundField(
            self.field,
            time_embedding if solver.adjoint else None,
            precomputed,
            MAX_ADAPTIVE_EVALUATIONS if solver.adaptive else None,
        )
        times = torch.linspace(0.0, solver.t_end, 2 if solver.adaptive else solver.steps + 1, device=z.device)
        options = dict(rtol=solver.rtol, atol=solver.atol) if solver.adaptive else {}
        try:
            if solver.adjoint:
                out = torchdiffeq.odeint_adjoint(
                    bound, z, times, method=solver.method, adjoint_params=tuple(self.field.parameters()), **options
                )[-1]
            else:
                out = torchdiffeq.odeint(bound, z, times, method=solver.method, **options)[-1]
        except (AssertionError, RuntimeError) as error:
            raise SolverFailure(f"ODE block {self.name!r}: solver {solver.label} failed: {error}") from None
        finally:
            self.nfe = bound.evaluations
        return out


class SecondOrderField(nn.Module):
    """Second-order dynamics on a state ``z = (x, v)`` split over channels: ``dx/dt = v``,
    ``dv/dt = a(x, v, t, conditioning)`` (paper eq. 4). ``acceleration`` maps the full state
    to half as many channels."""

    def __init__(self, acceleration: nn.Module) -> None:
        super().__init__()
        self.acceleration = acceleration
        self.per_sample = getattr(acceleration, "per_sample", False)

    def condition(self, time_embedding: torch.Tensor | None) -> Any:
        return self.acceleration.condition(time_embedding)

    def forward(self, t: Any, z: torch.Tensor, conditioning: Any) -> torch.Tensor:
        velocity = z[:, z.shape[1] // 2 :]
        return torch.cat((velocity, self.acceleration(t, z, conditioning)), dim=1)
