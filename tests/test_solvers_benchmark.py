import pytest
from cunet_bench.benchmarks.solvers import SolversConfig, run
from cunet_bench.errors import UserError
from cunet_bench.models.solver import SolverConfig


def _config(**changes):
    return SolversConfig(
        **{**dict(model="cunet-release", resolution=32, channels=1, batch=(2,), repeats=2, scale="cpu"), **changes}
    )


def test_overhead_rows_are_consistent():
    config = _config()
    recorded = {row["metric"]: row for row in run(config)}
    rows = {metric: row["value"] for metric, row in recorded.items()}
    assert rows["solver_loop_overhead"] > -1 and rows["ode_blocks_s"] > 0 and rows["bare_field_evaluations_s"] > 0
    overhead = recorded["solver_loop_overhead"]
    assert overhead["ci_low"] <= overhead["value"] <= overhead["ci_high"] and overhead["rounds"] >= 2
    assert rows["torchdiffeq_over_harness"] > 0 and "contended" in overhead  # the median of per-round ratios


def test_paper_model_blocks_receive_the_time_embedding():
    config = _config(model="cunet", batch=(1,), repeats=1)
    assert {row["metric"] for row in run(config)} >= {"solver_loop_overhead"}


@pytest.mark.parametrize(
    "changes, fragment",
    [
        (dict(model="unet"), "no ODE solver"),
        (dict(solver=(SolverConfig.parse("dopri5"),)), "fixed-step methods"),
        (dict(solver=(SolverConfig(), SolverConfig())), "given twice"),
        (dict(resolution=40), "divisible by 16"),
        (dict(batch=(0,)), "--batch values must be between 1"),
    ],
)
def test_bad_solvers_configuration(changes, fragment):
    with pytest.raises(UserError, match=fragment):
        _config(**changes).validate()


def test_the_bare_evaluations_are_the_blocks_own_field_inputs(monkeypatch):
    """bench solvers times ODEBlock.evaluate_field, which walks the same slices and conditioning
    as the block's forward: a change to one is a change to the other."""
    import torch
    from cunet_bench.models.ode import ODEBlock
    from cunet_bench.registry.suite import build_model

    seen = {"forward": [], "bare": []}
    original = ODEBlock.field_inputs

    def spy(self, z, time_embedding):
        inputs = original(self, z, time_embedding)
        seen[mode].append([(part.shape, condition is None) for part, condition in inputs])
        return inputs

    monkeypatch.setattr(ODEBlock, "field_inputs", spy)
    model = build_model("cunet", channels=1, image_size=32, nf=4).eval()
    x, t = torch.randn(3, 1, 32, 32), torch.tensor([1, 500, 999])
    captured = []
    hooks = [block.register_forward_pre_hook(lambda _m, args: captured.append(args)) for block in model.ode_blocks]
    mode = "forward"
    with torch.no_grad():
        model(x, t)
    for hook in hooks:
        hook.remove()
    mode = "bare"
    with torch.no_grad():
        for block, arguments in zip(model.ode_blocks, captured):
            block.evaluate_field(*arguments, evaluations=2)
    assert seen["forward"] == seen["bare"] and len(seen["bare"]) == 9
