"""The efficiency numbers that must hold (issue: Table 5, Figure 6) and the counting itself."""

import pytest
import torch
from torch import nn

from cunet_bench.benchmarks.efficiency import EfficiencyConfig, run, summary
from cunet_bench.contracts import example_inputs
from cunet_bench.benchmarks.counting import count_flops, count_macs
from cunet_bench.errors import UserError
from cunet_bench.benchmarks.memory import BYTES_PER_MIB, static_training_bytes
from cunet_bench.paper import paper_value
from cunet_bench.registry import build_model
from cunet_bench.timing import time_call


@pytest.mark.parametrize(
    "name, conv_linear, total, executed",
    [
        ("unet", 7.205, 7.318, 14.59),
        ("cunet-release", 2.823, 2.844, 5.65),
    ],
)
def test_compute_at_1x3x64x64_matches_reference(name, conv_linear, total, executed):
    model = build_model(name).eval()
    inputs = example_inputs("unet", 1, 3, 64, "cpu")
    macs = count_macs(model, inputs)
    assert macs.conv_linear / 1e9 == pytest.approx(conv_linear, abs=5e-4)
    assert macs.total / 1e9 == pytest.approx(total, abs=5e-4)
    assert count_flops(model, inputs) / 1e9 == pytest.approx(executed, abs=5e-3)


def test_five_attention_variant_lands_near_the_papers_2_90():
    macs = count_macs(build_model("cunet-5attn").eval(), example_inputs("unet", 1, 3, 64, "cpu"))
    assert macs.conv_linear / 1e9 == pytest.approx(2.894, abs=1e-3)


def test_static_memory_reproduces_table5_unet():
    mib = static_training_bytes(build_model("unet")) / BYTES_PER_MIB
    assert mib == pytest.approx(35_710_339 * 16 / 2**20)
    assert mib == pytest.approx(544.9, abs=0.05)
    assert abs(mib / paper_value("Table 5", "unet", "static_training_mib") - 1) < 0.005


def test_frozen_parameters_take_no_gradient_or_moments():
    model = build_model("cunet-release")
    assert static_training_bytes(model) == 8_811_875 * 4 + (8_811_875 - 256_000) * 12


def test_flop_counter_and_fvcore_agree_on_a_plain_convolutional_model():
    """Our two counts of one network: FlopCounterMode FLOPs = 2 × fvcore MACs for convolutions."""
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 8, 5, padding=2, bias=False))
    inputs = (torch.randn(2, 3, 20, 20),)
    macs = count_macs(model, inputs)
    expected_macs = 2 * 20 * 20 * (3 * 16 * 9 + 16 * 8 * 25)
    assert macs.conv_linear == macs.total == expected_macs
    assert count_flops(model, inputs) == 2 * expected_macs


def test_time_call_reports_repeats_and_respects_budget():
    timing = time_call(lambda: sum(range(1000)), repeats=5)
    assert timing.repeats == 5 and timing.min_s <= timing.median_s <= timing.q3_s
    slow = time_call(lambda: torch.randn(200, 200) @ torch.randn(200, 200), repeats=50, budget_s=0.0)
    assert slow.repeats == 3


def test_run_yields_rows_for_every_metric():
    config = EfficiencyConfig(models=("cunet-release",), resolutions=(32,), channels=1, batches=(1,),
                              sampling_steps=(2,), repeats=1, measure_memory=False,
                              sampling_models=("cunet-release",), model_options={"cunet-release": {"nf": 4}})
    rows = list(run(config))
    metrics = {row["metric"] for row in rows if row["model"] == "cunet-release"}
    assert {"parameters", "static_training_mib", "gmacs_conv_linear", "gflops_executed", "nfe",
            "gmacs_per_function_evaluation", "latency_median_s", "sample_time_s", "achieved_gflops"} <= metrics
    nfe = next(row["value"] for row in rows if row["metric"] == "nfe")
    assert nfe == 36
    assert all(row["solver"] == "rk4/1" for row in rows if row["model"] == "cunet-release")
    assert {row["paper_name"] for row in rows if row["model"] == "cunet-release"} == {"cU-Net"}
    assert "paper-cunet" in rows[-1]["tags"].split(";")


@pytest.mark.parametrize(
    "changes, fragment",
    [
        (dict(models=("nope",)), "unknown model"),
        (dict(models=("bm3d",)), "not a network"),
        (dict(resolutions=(40,)), "divisible by 16"),
        (dict(batches=(0,)), "batch sizes must be positive"),
        (dict(sampling_steps=(-1,)), "sampling steps must be positive"),
    ],
)
def test_bad_configuration(changes, fragment):
    base = dict(models=("cunet-release",), resolutions=(64,))
    with pytest.raises(UserError, match=fragment):
        EfficiencyConfig(**{**base, **changes}).validate()


def test_presets_choose_models_by_tag():
    from cunet_bench.presets import get_preset

    quick = EfficiencyConfig.from_preset(get_preset("quick"))
    assert set(quick.models) == {"unet", "cunet-release", "cunet-5attn", "cunet-release-wo-a", "cunet-release-wo-r",
                                 "cunet-release-wo-a-r"}
    paper = EfficiencyConfig.from_preset(get_preset("paper"))
    assert set(paper.models) == set(quick.models) | {"unet-ddpm", "dncnn", "conv-ae"}
    assert paper.sampling_models == ("unet", "cunet-release")
    assert EfficiencyConfig.from_preset(get_preset("paper"), batches=(2,), repeats=None).batches == (2,)


def test_paper_comparison_only_for_the_released_configuration():
    base = {"model": "cunet-release", "resolution": 64, "metric": "gmacs_conv_linear", "value": 2.823, "solver": "rk4/1"}
    tables = dict(summary([base, {**base, "solver": "dopri5(rtol=0.001,atol=0.0001)", "value": 18.7},
                           {**base, "resolution": 32, "value": 0.7}]))
    rows = tables["paper (Table 5, Figure 6) vs measured"]
    assert len(rows) == 1
    assert rows[0]["paper"] == 2.90 and rows[0]["measured / paper"] == pytest.approx(2.823 / 2.90)
