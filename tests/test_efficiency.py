"""The efficiency numbers that must hold (issue: Table 5, Figure 6), the counting, the timing engine."""

import subprocess
import sys
import time

import pytest
import torch
from cunet_bench.benchmarks.counting import count_flops, count_macs
from cunet_bench.benchmarks.efficiency import EfficiencyConfig, run, summary
from cunet_bench.benchmarks.memory import BYTES_PER_MIB, static_training_bytes
from cunet_bench.errors import UserError
from cunet_bench.measure.timing import Measurement, interleaved, single_thread
from cunet_bench.registry.contracts import example_inputs
from cunet_bench.registry.suite import build_model, get_model
from cunet_bench.report.paper import paper_value
from torch import nn


@pytest.mark.parametrize(
    "name, conv_linear, total, executed",
    [
        ("unet", 7.205, 7.318, 14.59),
        ("cunet-release", 2.823, 2.844, 5.65),
    ],
)
def test_compute_at_1x3x64x64_matches_reference(name, conv_linear, total, executed):
    model = build_model(name).eval()
    inputs = example_inputs(get_model("unet"), 1, 3, 64, "cpu")
    macs = count_macs(model, inputs)
    assert macs.conv_linear / 1e9 == pytest.approx(conv_linear, abs=5e-4)
    assert macs.total / 1e9 == pytest.approx(total, abs=5e-4)
    assert count_flops(model, inputs) / 1e9 == pytest.approx(executed, abs=5e-3)


def test_five_attention_variant_lands_near_the_papers_2_90():
    macs = count_macs(build_model("cunet-5attn").eval(), example_inputs(get_model("unet"), 1, 3, 64, "cpu"))
    assert macs.conv_linear / 1e9 == pytest.approx(2.894, abs=1e-3)


def test_static_memory_reproduces_table5_unet():
    mib = static_training_bytes(build_model("unet")) / BYTES_PER_MIB
    assert mib == pytest.approx(35_710_339 * 16 / 2**20)
    assert mib == pytest.approx(544.9, abs=0.05)
    assert abs(mib / paper_value("Table 5", "U-Net", "static_training_mib") - 1) < 0.005


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


def test_interleaved_rounds_rotate_the_order_and_stop_when_ratios_are_tight():
    order = []
    calls = {name: (lambda name: lambda: order.append(name))(name) for name in ("a", "b", "c")}
    measured = interleaved(calls, min_rounds=3, max_rounds=3, target=0.0, max_warmup=1)
    timed = order[3:]  # after one warm-up call each
    assert timed == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert (
        measured.rounds == 3
        and measured.stopped_by == "max rounds"
        and measured.warmup_calls == dict.fromkeys("abc", 1)
    )
    steady = interleaved(
        {"x": lambda: sum(range(20000)), "y": lambda: sum(range(20000))}, min_rounds=5, max_rounds=500, target=0.5
    )
    assert steady.stopped_by == "converged" and steady.rounds >= 5
    estimate, low, high = steady.ratio_interval("y", "x")
    assert low <= estimate <= high and abs(estimate - 1) < 0.5
    budget = interleaved({"x": lambda: time.sleep(0.01)}, min_rounds=2, max_rounds=1000, budget_s=0.05, target=0.0)
    assert budget.stopped_by == "budget" and 2 <= budget.rounds < 20


def test_single_thread_cpu_time_ignores_waiting_and_other_processes():
    with single_thread():
        assert torch.get_num_threads() == 1
        measured = interleaved(
            {"sleep": lambda: time.sleep(0.02), "work": lambda: sum(range(200000))},
            clock="thread_cpu",
            min_rounds=3,
            max_rounds=3,
            target=0.0,
        )
    assert measured.median("sleep") < 0.005 < 0.02 and measured.median("work") > 0
    assert set(measured.conditions()) >= {"clock", "threads", "rounds", "load_before", "other_cores", "contended"}


def test_contention_is_judged_by_other_processes_cpu_time():
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        measured = interleaved({"x": lambda: time.sleep(0.05)}, min_rounds=10, max_rounds=10, target=0.0)
    finally:
        busy.kill()
        busy.wait()
    assert measured.other_cores > 0.5 and measured.contended
    quiet = Measurement({"x": (1.0,)}, {"x": 1}, "converged", "wall", 1, 3.0, 3.0, 0.01)
    assert not quiet.contended  # its own earlier work raises the load average, not other processes


def test_the_profile_groups_every_operator_and_finds_the_solver():
    from cunet_bench.benchmarks.profiling import GROUPS, operator_group, profile_forward

    assert operator_group("aten::mkldnn_convolution") == "convolution & linear"
    assert operator_group("aten::instance_norm") == "normalisation"
    assert operator_group("aten::softplus") == "activation & elementwise"
    assert operator_group("aten::bmm") == "attention"
    model = build_model("cunet-release", channels=1, image_size=32, nf=4).eval()
    groups = profile_forward(model, example_inputs(get_model("cunet"), 1, 1, 32, "cpu"))
    assert set(groups) == set(GROUPS) and groups["solver bookkeeping"] > 0 and groups["convolution & linear"] > 0
    assert (
        profile_forward(
            build_model("unet", channels=1, image_size=32, dim=8).eval(),
            example_inputs(get_model("unet"), 1, 1, 32, "cpu"),
        )["solver bookkeeping"]
        == 0
    )


def _config(**changes):
    base = dict(
        models=("unet", "cunet-release"),
        resolution=(32,),
        channels=1,
        batch=(1,),
        sampling_steps=(2,),
        repeats=2,
        memory=False,
        speed_budget_s=0.5,
        sampling_models=("unet", "cunet-release"),
        variants=("eager", "channels-last", "release-layers"),
        memory_batch=(1,),
        scale="tiny",
    )
    return EfficiencyConfig(**{**base, **changes})


def test_run_yields_rows_for_every_metric():
    rows = list(run(_config()))
    metrics = {row["metric"] for row in rows if row.get("model") == "cunet-release"}
    assert {
        "parameters",
        "static_training_mib",
        "gmacs_conv_linear",
        "gflops_executed",
        "nfe",
        "gmacs_per_function_evaluation",
        "latency_s",
        "latency_median_s",
        "cpu_time_1thread_s",
        "sample_time_s",
        "achieved_gflops",
        "profile_s",
        "first_call_s",
        "max_abs_difference_from_eager",
    } <= metrics
    nfe = next(row["value"] for row in rows if row["metric"] == "nfe")
    assert nfe == 36
    assert all(row["solver"] == "rk4:steps=1" for row in rows if row.get("model") == "cunet-release")
    assert {row["paper_name"] for row in rows if row.get("model") == "cunet-release"} == {"cU-Net"}
    assert "paper-cunet" in rows[-1]["tags"].split(";")
    latency = [row for row in rows if row["metric"] == "latency_s"]
    assert {(row["model"], row["variant"]) for row in latency} == {
        (model, variant)
        for model in ("unet", "cunet-release")
        for variant in ("eager", "channels-last", "release-layers")
    }
    rounds = {row["round"] for row in latency}
    assert len(latency) == 6 * len(rounds) and all("contended" in row and row["clock"] == "wall" for row in latency)
    deviations = [row["value"] for row in rows if row["metric"] == "max_abs_difference_from_eager"]
    assert max(deviations) < 1e-3
    ratios = dict(summary(rows))["time ratios, interleaved round by round"]
    assert {row["measurement"] for row in ratios} >= {
        "forward b=1 wall",
        "forward b=1 cpu 1 thread",
        "sampling 2 steps",
    }
    assert all(row["versus"] == "unet" for row in ratios)
    from cunet_bench.records import schema

    schema.check_rows("efficiency", rows)


def test_peak_memory_is_split_into_optimiser_state_and_activations():
    rows = [
        row
        for row in run(
            _config(models=("cunet-release",), memory=True, memory_batch=(1, 4), profile=False, variants=("eager",))
        )
        if row["kind"] == "memory"
    ]
    by = {(row["metric"], row["batch"]): row["value"] for row in rows}
    trainable = next(p for p in [build_model("cunet-release", channels=1, image_size=32, nf=2)]).parameters()
    state = 12 * sum(p.numel() for p in trainable if p.requires_grad) / 2**20
    for batch in (1, 4):
        assert by["train_state_mib", batch] == pytest.approx(state)
        assert by["train_activation_mib", batch] == pytest.approx(max(0.0, by["peak_train_mib", batch] - state))
    assert by["peak_train_mib", 4] > by["peak_train_mib", 1]


def test_a_variant_that_fails_is_recorded_and_eager_goes_on(monkeypatch, tmp_path):
    import cunet_bench.benchmarks.variants as variants

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # the harness's own cache, which a failure may wipe,
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "cunet-bench" / "inductor"))  # chosen as bench does

    def broken(model, freezing):
        raise RuntimeError("InductorError: /tmp/x.so: file too short")

    monkeypatch.setattr(variants, "_compiled", broken)
    with pytest.warns(Warning, match="wiping the compile cache"):
        rows = list(run(_config(models=("cunet-release",), variants=("eager", "compiled"), profile=False)))
    failed = [row for row in rows if row["kind"] == "variant"]
    assert [(row["status"], row["metric"]) for row in failed] == [("failed", "failed")]
    assert failed[0]["reason"] == "RuntimeError: InductorError: /tmp/x.so: file too short"
    assert {row["variant"] for row in rows if row["metric"] == "latency_s"} == {"eager"}
    assert dict(summary(rows))["speed variants that failed (eager measured without them)"][0]["reason"].startswith(
        "RuntimeError"
    )


@pytest.mark.parametrize(
    "changes, fragment",
    [
        (dict(models=("nope",)), "unknown model"),
        (dict(models=("bm3d",)), "not a network"),
        (dict(resolution=(40,)), "divisible by 16"),
        (dict(resolution=(2**40,)), "whole number of pixels from 1 to 1024"),
        (dict(batch=(0,)), "--batch values must be between 1 and"),
        (dict(memory_batch=(10**9,)), "--memory-batch values must be between 1 and"),
        (dict(sampling_steps=(-1,)), "--sampling-steps values must be between 1"),
        (dict(variants=("fast",)), "--variants takes distinct names"),
        (dict(variants=("compiled",)), "eager included"),
        (dict(repeats=0), "--repeats must be between 1"),
    ],
)
def test_bad_efficiency_configuration(changes, fragment):
    with pytest.raises(UserError, match=fragment):
        _config(**changes).validate()


def test_presets_choose_models_by_tag():
    from cunet_bench.config.presets import get_preset

    quick = EfficiencyConfig.from_preset(get_preset("quick"))
    assert set(quick.models) == {
        "unet",
        "cunet-release",
        "cunet-5attn",
        "cunet-release-wo-a",
        "cunet-release-wo-r",
        "cunet-release-wo-a-r",
    }
    paper = EfficiencyConfig.from_preset(get_preset("paper"))
    assert set(paper.models) == set(quick.models) | {"unet-ddpm", "dncnn", "conv-ae"}
    assert paper.sampling_models == ("unet", "cunet-release")
    assert EfficiencyConfig.from_preset(get_preset("paper"), batch=(2,), repeats=None).batch == (2,)
