import pytest

from cunet_bench.benchmarks.solvers import SolversConfig, check_config, run
from cunet_bench.errors import UserError


def test_overhead_rows_are_consistent():
    config = SolversConfig(resolution=32, channels=1, batches=(2,), repeats=2, model_options={"nf": 4})
    rows = {row["metric"]: row["value"] for row in run(config)}
    assert rows["solver_loop_overhead"] > -1 and rows["ode_blocks_s"] > 0 and rows["bare_field_evaluations_s"] > 0
    assert rows["torchdiffeq_over_harness"] == pytest.approx(rows["forward_torchdiffeq_s"] / rows["forward_harness_s"])


def test_paper_model_blocks_receive_the_time_embedding():
    config = SolversConfig(model="cunet", resolution=32, channels=1, batches=(1,), repeats=1, model_options={"nf": 4})
    assert {row["metric"] for row in run(config)} >= {"solver_loop_overhead"}


@pytest.mark.parametrize(
    "changes, fragment",
    [
        (dict(model="unet"), "no ODE solver"),
        (dict(methods=("dopri5",)), "fixed-step methods"),
        (dict(resolution=40), "divisible by 16"),
        (dict(batches=(0,)), "positive"),
    ],
)
def test_bad_configuration(changes, fragment):
    with pytest.raises(UserError, match=fragment):
        check_config(SolversConfig(**changes))
