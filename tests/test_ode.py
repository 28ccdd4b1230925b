"""ODE machinery: the harness's fixed-step loop against torchdiffeq and known solutions, NFE,
second-order dynamics, adaptive solvers, failures."""

import math

import pytest
import torch
import torchdiffeq
from cunet_bench.models.cunet import ConvODEFunction
from cunet_bench.models.ode import ODEBlock, SecondOrderField, SolverFailure, integrate_fixed
from cunet_bench.models.solver import SolverConfig
from cunet_bench.registry.suite import build_model
from torch import nn


class LinearField(nn.Module):
    """dy/dt = A y with a fixed matrix; no conditioning."""

    def __init__(self, matrix: torch.Tensor) -> None:
        super().__init__()
        self.matrix = nn.Parameter(matrix)

    def condition(self, time_embedding):
        return None

    def forward(self, t, z, conditioning):
        return z @ self.matrix.T


class Oscillator(nn.Module):
    """Acceleration of the harmonic oscillator x'' = -ω² x on a state (x, v)."""

    def __init__(self, omega: float) -> None:
        super().__init__()
        self.omega = omega

    def condition(self, time_embedding):
        return None

    def forward(self, t, z, conditioning):
        return -(self.omega**2) * z[:, : z.shape[1] // 2]


@pytest.mark.parametrize("method", ["euler", "midpoint", "rk4"])
@pytest.mark.parametrize("steps", [1, 3])
def test_fixed_step_loop_matches_torchdiffeq(method, steps):
    function = ConvODEFunction(8).double()
    z0 = torch.randn(2, 8, 6, 6, dtype=torch.float64)
    ours = integrate_fixed(lambda t, y: function(t, y, None), z0, method, steps)
    times = torch.linspace(0, 1, steps + 1, dtype=torch.float64)
    theirs = torchdiffeq.odeint(lambda t, y: function(t, y, None), z0, times, method=method)[-1]
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method, order", [("euler", 1), ("midpoint", 2), ("rk4", 4)])
def test_fixed_step_order_of_accuracy_on_exponential_decay(method, order):
    """y' = -y, y(0)=1: the global error at t=1 shrinks as h^order."""
    y0 = torch.ones(1, dtype=torch.float64)
    errors = [abs(integrate_fixed(lambda t, y: -y, y0, method, n).item() - math.exp(-1)) for n in (8, 16)]
    assert errors[0] / errors[1] == pytest.approx(2**order, rel=0.15)


def test_second_order_harmonic_oscillator_against_cosine():
    omega = 2.0
    block = ODEBlock(SecondOrderField(Oscillator(omega)), SolverConfig("rk4", steps=50)).double()
    z0 = torch.tensor([[1.0, 0.0]], dtype=torch.float64)  # x(0)=1, v(0)=0
    x1, v1 = block(z0)[0].tolist()
    assert x1 == pytest.approx(math.cos(omega), abs=1e-7)
    assert v1 == pytest.approx(-omega * math.sin(omega), abs=1e-7)
    assert block.nfe == 200


def test_adaptive_solver_nfe_is_reported_and_grows_as_tolerance_tightens():
    field = LinearField(torch.tensor([[0.0, 1.0], [-4.0, -0.1]], dtype=torch.float64))
    z0 = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    evaluations = []
    for tolerance in (1e-3, 1e-6, 1e-9):
        block = ODEBlock(field, SolverConfig("dopri5", rtol=tolerance, atol=tolerance, backend="torchdiffeq"))
        out = block(z0)
        evaluations.append(block.nfe)
        exact = torch.linalg.matrix_exp(field.matrix.detach()) @ z0[0]
        assert torch.allclose(out[0], exact, atol=100 * tolerance)
    assert evaluations[0] < evaluations[1] < evaluations[2]


def test_network_nfe_counts():
    model = build_model("cunet-release", nf=4, image_size=32)
    x, t = torch.randn(1, 3, 32, 32), torch.tensor([3])
    model(x, t)
    assert model.nfe == 36 and set(model.nfe_per_block.values()) == {4}
    model.set_solver("euler:steps=3")
    model(x, t)
    assert model.nfe == 9 * 3
    model.set_solver("midpoint:steps=2")
    model(x, t)
    assert model.nfe == 9 * 2 * 2


def test_adaptive_solver_in_the_network_reports_nfe():
    model = build_model("cunet-release", nf=4, image_size=32, solver="dopri5:rtol=1e-3,atol=1e-3")
    model(torch.randn(1, 3, 32, 32), torch.tensor([3]))
    assert all(nfe >= 6 for nfe in model.nfe_per_block.values())
    assert model.nfe == sum(model.nfe_per_block.values())


def test_time_conditioning_changes_paper_model_but_not_release():
    x = torch.randn(2, 3, 32, 32)
    early, late = torch.tensor([10, 10]), torch.tensor([900, 900])
    release = build_model("cunet-release", nf=4).eval()
    with torch.no_grad():
        assert torch.equal(release(x, early), release(x, late))
    paper = build_model("cunet", nf=4).eval()
    with torch.no_grad():
        for function in (b.field.acceleration for b in paper.ode_blocks):
            nn.init.normal_(function.film[1].weight, std=0.1)
        assert not torch.allclose(paper(x, early), paper(x, late))


def test_release_never_reads_the_time_embedding():
    model = build_model("cunet-release", nf=4)
    model.time_table.weight.data.fill_(float("nan"))
    assert torch.isfinite(model(torch.randn(1, 3, 32, 32), torch.tensor([5]))).all()


def test_adjoint_gradients_match_direct_backpropagation():
    torch.manual_seed(0)
    function = ConvODEFunction(4, time_dim=8).double()
    z0 = torch.randn(1, 4, 5, 5, dtype=torch.float64, requires_grad=True)
    embedding = torch.randn(1, 8, dtype=torch.float64)
    gradients = []
    for solver in (SolverConfig("rk4", steps=16), SolverConfig("rk4", steps=16, backend="torchdiffeq", adjoint=True)):
        function.zero_grad()
        z0.grad = None
        ODEBlock(function, solver)(z0, embedding).square().sum().backward()
        gradients.append([z0.grad.clone(), function.film[1].weight.grad.clone(), function.conv1.weight.grad.clone()])
    for direct, adjoint in zip(*gradients):
        torch.testing.assert_close(direct, adjoint, rtol=1e-4, atol=1e-7)


def test_non_finite_state_names_block_and_solver():
    class Exploding(LinearField):
        def forward(self, t, z, conditioning):
            return z * float("inf")

    block = ODEBlock(Exploding(torch.eye(1)), SolverConfig("rk4"), name="enc3")
    with pytest.raises(SolverFailure, match=r"ODE block 'enc3': solver rk4:steps=1 produced non-finite values"):
        block(torch.ones(1, 1))


def test_step_size_underflow_is_a_solver_error():
    """y' = y² from y(0)=1 blows up at t=1; dopri5 cannot integrate to t=2."""

    class BlowUp(LinearField):
        def forward(self, t, z, conditioning):
            return z**2

    block = ODEBlock(BlowUp(torch.eye(1)), SolverConfig("dopri5", backend="torchdiffeq", t_end=2.0), name="mid")
    with pytest.raises(SolverFailure, match=r"ODE block 'mid': solver dopri5:rtol=0.001,atol=0.0001,t_end=2.0 failed"):
        block(torch.ones(1, 1, dtype=torch.float64))


def test_an_adaptive_solver_that_would_run_without_end_stops_at_its_evaluation_budget():
    """A stiff decay at tolerances of 1e-12 (inside the accepted range) needs more evaluations
    than the budget: one solver error saying so, not a run without end."""
    from cunet_bench.models.solver import MAX_ADAPTIVE_EVALUATIONS

    field = LinearField(torch.tensor([[-1e4]], dtype=torch.float64))
    block = ODEBlock(field, SolverConfig("dopri5", rtol=1e-12, atol=1e-12, backend="torchdiffeq"), name="mid")
    with pytest.raises(
        SolverFailure, match=rf"'mid': .* more than {MAX_ADAPTIVE_EVALUATIONS:,} evaluations of one block"
    ):
        block(torch.ones(1, 1, dtype=torch.float64))
    assert block.nfe == MAX_ADAPTIVE_EVALUATIONS + 1


@pytest.mark.parametrize(
    "text, expected",
    [
        ("rk4", SolverConfig()),
        ("euler:steps=4", SolverConfig("euler", steps=4)),
        ("dopri5:rtol=1e-5,atol=1e-6", SolverConfig("dopri5", rtol=1e-5, atol=1e-6, backend="torchdiffeq")),
        ("rk4:steps=2,backend=torchdiffeq", SolverConfig("rk4", steps=2, backend="torchdiffeq")),
        ("rk4:adjoint=true", SolverConfig("rk4", adjoint=True, backend="torchdiffeq")),
        ("rk4:adjoint=FALSE", SolverConfig("rk4")),
        ("midpoint:steps=3,t_end=0.5", SolverConfig("midpoint", steps=3, t_end=0.5)),
    ],
)
def test_solver_parse(text, expected):
    assert SolverConfig.parse(text) == expected


@pytest.mark.parametrize(
    "solver",
    [
        SolverConfig(),
        SolverConfig("euler", steps=4),
        SolverConfig("dopri5", rtol=1e-5, atol=1e-6, backend="torchdiffeq"),
        SolverConfig("rk4", steps=2, backend="torchdiffeq"),
        SolverConfig("rk4", adjoint=True, backend="torchdiffeq"),
        SolverConfig("midpoint", steps=3, t_end=0.5),
        SolverConfig("fixed_adams", steps=5, backend="torchdiffeq"),
    ],
)
def test_a_recorded_label_parses_back_into_the_same_setting(solver):
    assert SolverConfig.parse(solver.label) == solver


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("rk5", "unknown solver 'rk5'"),
        ("rk4:steps=0", "steps must be an integer from 1"),
        ("rk4:steps=two", "steps must be an integer from 1"),
        ("rk4:steps=1234567890123456789012345", "steps must be an integer from 1"),
        ("dopri5:rtol=-1", "rtol must be a finite number from"),
        ("dopri5:rtol=inf", "rtol must be a finite number"),
        ("dopri5:atol=nan", "atol must be a finite number"),
        ("rk4:steps=2,steps=3", "given twice"),
        ("rk4:adjoint=maybe", "adjoint must be true or false"),
        ("rk4:backend=scipy", "backend must be one of"),
        ("rk4:t_end=0", "t_end must be in"),
        ("rk4:order=3", "bad solver option"),
    ],
)
def test_solver_parse_rejects_bad_input(text, fragment):
    with pytest.raises(ValueError, match=fragment):
        SolverConfig.parse(text)


def test_adaptive_method_on_harness_backend_says_what_to_do():
    with pytest.raises(ValueError, match="backend=torchdiffeq"):
        SolverConfig("dopri5")


def test_cpu_batch_slicing_gives_the_same_result():
    """Slicing a CPU batch to stay in cache (per-sample normalisation) changes nothing."""
    import cunet_bench.models.ode as ode_module

    model = build_model("cunet", nf=4).eval()
    for function in (b.field.acceleration for b in model.ode_blocks):
        nn.init.normal_(function.film[1].weight, std=0.1)
    x, t = torch.randn(5, 3, 32, 32), torch.tensor([1, 200, 400, 600, 999])
    with torch.no_grad():
        whole = model(x, t)
        original = ode_module.CPU_CHUNK_BYTES
        ode_module.CPU_CHUNK_BYTES = 1
        try:
            assert model.ode_blocks[0].chunk_size(torch.zeros(5, 8, 32, 32)) == 1
            sliced = model(x, t)
        finally:
            ode_module.CPU_CHUNK_BYTES = original
    torch.testing.assert_close(sliced, whole, rtol=1e-4, atol=1e-5)
