"""bench all: the plan, skipping by done key in the user's own results folder only, the phase table,
the whole smoke pipeline end to end, the paper and gpu presets' paths at tiny sizes, and the users' CI recipe."""

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from cunet_bench.records import runs

ROOT = Path(__file__).resolve().parents[1]


def test_the_plan_and_its_resume_by_configuration_machine_and_inputs(tmp_path, monkeypatch):
    from cunet_bench.config.presets import get_preset
    from cunet_bench.host import machine
    from cunet_bench.run.pipeline import plan
    from cunet_bench.run.runner import done_key, is_done

    preset = get_preset("smoke")
    results = tmp_path / "r"
    steps = plan(preset, results, tmp_path / "c", 0, "cpu")
    assert [s.label for s in steps] == [
        "efficiency",
        *(f"train {m} (seed 0)" for m in ("unet", "cunet-release", "cunet", "dncnn", "conv-ae")),
        "sample unet",
        "sample cunet-release",
        "sample cunet",
        "denoise",
        "fid",
    ]
    efficiency, denoise = steps[0], steps[-2]
    reference = plan(get_preset("reference"), results, tmp_path / "c", 0, "cpu")
    assert sum(s.label.startswith("train") for s in reference) == 5 * 3
    assert reference[0].config == plan(get_preset("quick"), results, tmp_path / "c", 0, "cpu")[0].config
    assert denoise.config.noise_steps == (3, 6) and denoise.config.num_images == 4
    assert not is_done(efficiency.benchmark, efficiency.config, results)
    done = {"kind": "machine", "metric": "peak_gflops_matmul", "value": 1.0, "unit": "GFLOP/s"}
    meta = {
        "bench": "efficiency",
        "command": "bench",
        "complete": True,
        "done_key": done_key(efficiency.benchmark, efficiency.config),
    }
    runs.write_run("efficiency", [done], meta, results)
    assert is_done(efficiency.benchmark, efficiency.config, results)
    changed_default = plan(preset.with_settings("denoise", num_images=5), results, tmp_path / "c", 0, "cpu")
    assert [
        done_key(a.benchmark, a.config) == done_key(b.benchmark, b.config) for a, b in zip(steps, changed_default)
    ] == [step.label != "denoise" for step in steps]
    monkeypatch.setattr(machine, "host_id", lambda: "another-host")
    assert not is_done(efficiency.benchmark, efficiency.config, results)


def test_a_retrained_checkpoint_changes_the_done_key(tmp_path):
    from cunet_bench.config.presets import get_preset
    from cunet_bench.run.pipeline import plan
    from cunet_bench.run.runner import done_key

    fid = plan(get_preset("smoke"), tmp_path / "r", tmp_path / "c", 0, "cpu")[-1]
    before = done_key(fid.benchmark, fid.config)
    (tmp_path / "c").mkdir()
    fid.config.checkpoint("unet", 0).write_bytes(b"weights")
    assert done_key(fid.benchmark, fid.config) != before


def _bench_all(tmp_path, *extra):
    command = [sys.executable, "-m", "cunet_bench.cli", "all", "--preset", "smoke", "--device", "cpu", *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp_path)


def test_bench_all_smoke_end_to_end_in_the_users_folders_only(tmp_path):
    """Everything lands beside --out (results, reports, checkpoints); a rerun skips every step; a
    fresh workspace beside a reference folder of this very machine's runs measures every step."""
    first = _bench_all(tmp_path, "--out", "work/results", "--threads", "2")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "5 training runs, 2 side by side" in first.stderr
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["checkpoints", "reports", "results"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]
    text = (tmp_path / "work" / "reports" / "REPORT.md").read_text()
    assert "## Summary of the paper's claims" in text and "FD-classifier" in text and "**Where the time went**" in text
    assert "narrow models (cunet nf=2; cunet-release nf=2; unet dim=8, on mnist5k at 32 px)" in text  # its own widths
    assert "the full-size models" not in text and "the models at the tiny scale at 32×32" in text
    assert text.splitlines()[2].startswith("> **Pipeline check: the smoke preset's sizes are too small for any verdict")
    efficiency = text.split("## Parameters, compute and memory")[1].split("\n## ")[0]
    assert "Every model this run measured" in efficiency and "Not measured yet" not in efficiency  # it measured
    training = text.split("**Training** (as recorded")[1].split("\n\n")[1]
    dncnn = next(line for line in training.splitlines() if line.startswith("| dncnn |")).split(" | ")
    unet = next(line for line in training.splitlines() if line.startswith("| unet |")).split(" | ")
    assert dncnn[8:11] == ["—", "—", "0.1"] and unet[8:11] == ["sigmoid", "v", "—"]  # schedule, objective, σ
    beside = text.split("## Your run beside the reference run")[1]  # the checkout's committed reference run
    assert f"beside the committed reference run (`{ROOT / 'reference' / 'results'}`)" in beside
    for bench in ("efficiency", "training", "sample", "denoise", "fid", "all"):
        assert list((tmp_path / "work" / "results" / bench).glob("*.csv")), bench
    assert len(list((tmp_path / "work" / "checkpoints").glob("*-smoke-seed0.step000000[13].safetensors"))) == 10
    for bench, column in (("fid", "model"), ("denoise", "method")):  # the learning curves: both rungs of each model
        curve = runs.load_runs(bench, tmp_path / "work" / "results")
        curve = curve[curve.kind == "rung"]
        assert (
            sorted(set(zip(curve[column], curve.rung_step)))
            == sorted({(model, step) for model in set(curve[column]) for step in (1, 3)})
            and len(set(curve[column])) >= 3
        ), bench
    assert "## Learning curves and equal-compute comparisons" in text and "figures/learning_curves.png" in text
    assert "| model | metric | 1 → 3 |" in text  # the change over every step of the ladder (one, here)
    assert (
        "(72 samples per rung at 1 sampling steps; denoising at noise steps 3, 6, at the rungs of steps 1, 3)" in text
    )
    assert (
        "**Training recipe.** The backbones trained with learning rate 0.0002, constant; uniform weighting; EMA 0.9;"
        in text
    )
    phases = runs.load_runs("all", tmp_path / "work" / "results")
    assert len(phases) == 11 and set(phases.status) == {"ran"} and (phases.wall_s > 0).all()
    assert phases[phases.step == "train unet (seed 0)"].item.iloc[0] == "training images"
    training = phases[phases.bench == "training"]
    assert (training.processes == 2).all() and (training.threads == 1).all()
    assert (phases[phases.bench != "training"].processes == 1).all()
    again = _bench_all(tmp_path, "--out", "work/results", "--threads", "2")
    assert again.returncode == 0 and again.stderr.count("already done in work/results, skipped") == 11
    from cunet_bench.config.presets import get_preset
    from cunet_bench.run.pipeline import plan
    from cunet_bench.run.runner import is_done

    reference = tmp_path / "reference" / "results"
    shutil.copytree(tmp_path / "work" / "results", reference)  # this very machine's runs, as a committed reference
    fresh = plan(get_preset("smoke"), tmp_path / "fresh" / "results", tmp_path / "fresh" / "checkpoints", 0, "cpu")
    assert not any(is_done(step.benchmark, step.config, tmp_path / "fresh" / "results") for step in fresh)
    assert fresh[0].label == "efficiency" and is_done(fresh[0].benchmark, fresh[0].config, reference)


def test_the_users_ci_workflow_parses_and_calls_existing_commands():
    import typer
    from cunet_bench.cli.app import app

    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "bench-report.yml").read_text())
    steps = workflow["jobs"]["report"]["steps"]
    assert any(
        step.get("uses", "").startswith("actions/upload-artifact") and "reports/" in step["with"]["path"]
        for step in steps
    )
    group = typer.main.get_command(app)
    calls = [
        shlex.split(line)
        for step in steps
        for line in step.get("run", "").splitlines()
        if line.strip().startswith("bench ")
    ]
    assert {call[1] for call in calls} >= {"all", "compare"}
    for call in calls:
        assert group.get_command(None, call[1]) is not None, call
        options = {p for param in group.get_command(None, call[1]).params for p in param.opts}
        assert {word for word in call[2:] if word.startswith("--")} <= options, call


@pytest.mark.parametrize("preset_name, resolution, accumulation", [("paper", 64, 2), ("gpu", 32, 1)])
def test_the_gpu_job_presets_run_end_to_end_at_tiny_sizes(tmp_path, preset_name, resolution, accumulation):
    """The paper and gpu presets are GPU jobs; their paths (the paper's 64×64 data and gradient
    accumulation, the gpu check's two training seeds, every benchmark) run here on the CPU with every
    size overridden to tiny values (CUDA events and CUDA memory need a GPU no session has had)."""
    from dataclasses import replace

    from cunet_bench.config.presets import get_preset
    from cunet_bench.records.checkpoints import read_checkpoint
    from cunet_bench.report import build_report
    from cunet_bench.run.pipeline import plan, run_steps
    from cunet_bench.run.runner import execute

    preset = get_preset(preset_name)
    tiny = replace(preset, classifier_steps=2)
    for bench, changes in (
        (
            "efficiency",
            dict(
                tags=("paper-unet", "paper-cunet"),
                batch=(1,),
                sampling_steps=(1,),
                repeats=1,
                speed_budget_s=0.1,
                variants=("eager",),
                scale="tiny",
                memory_batch=(1,),
            ),
        ),
        ("train", dict(train_steps=2, batch_size=2, checkpoint_every=1, scale="tiny")),
        ("denoise", dict(noise_steps=(2,), num_images=2)),
        ("fid", dict(sampling_steps=(1,), num_samples=72, batch_size=72, speed_rounds=1)),
        ("sample", dict(sampling_steps=1, num_samples=2, batch_size=2)),
    ):
        tiny = tiny.with_settings(bench, **changes)
    assert (tiny.efficiency["resolution"], tiny.train["resolution"], tiny.train["grad_accumulation"]) == (
        (64,),
        resolution,
        accumulation,
    )
    steps = plan(tiny, tmp_path / "results", tmp_path / "checkpoints", 0, "cpu")
    assert sum(step.label.startswith("train unet (") for step in steps) == len(preset.train_seeds)
    phases = run_steps(
        steps,
        tmp_path / "results",
        preset_name,
        lambda step, invocation: execute(
            step.benchmark, step.config, tmp_path / "results", preset=preset_name, invocation=invocation
        ),
        threads=torch.get_num_threads(),
    )
    print([(row["step"], round(row["wall_s"], 1)) for row in phases])
    assert [row["status"] for row in phases] == ["ran"] * len(steps)
    text = build_report(tmp_path / "results", tmp_path / "reports").read_text()
    assert "pipeline check" in text
    trained = read_checkpoint(next((tmp_path / "checkpoints").glob(f"unet-mnist5k-{preset_name}-seed0.safetensors")))
    assert (trained.config["resolution"], trained.config["grad_accumulation"], trained.step) == (
        resolution,
        accumulation,
        2,
    )


def test_side_by_side_training_names_a_failed_step_and_keeps_the_others(tmp_path):
    from dataclasses import replace

    import pytest
    from cunet_bench.benchmarks.train import TrainRunConfig
    from cunet_bench.config.presets import get_preset
    from cunet_bench.errors import UserError
    from cunet_bench.run.side_by_side import Job, run_side_by_side

    smoke = get_preset("smoke")
    good = TrainRunConfig.from_preset(smoke, model="dncnn", checkpoints=str(tmp_path / "c"), device="cpu", threads=1)
    bad = TrainRunConfig.from_preset(
        smoke, model="conv-ae", checkpoint=str(tmp_path / "a-folder.safetensors"), device="cpu", threads=1
    )
    (tmp_path / "a-folder.safetensors").mkdir()  # refused by the worker when it validates the job
    jobs = [
        Job(f"train {c.model}", c, tmp_path / "r", "smoke", {"id": "x", "preset": "smoke"}, "training")
        for c in (bad, good)
    ]
    with pytest.raises(UserError, match=r"^train conv-ae \(exit 2\) failed"):
        run_side_by_side(jobs, workers=2)
    trained = runs.load_runs("training", tmp_path / "r")
    assert set(trained.model) == {"dncnn"} and (trained[trained.kind == "final"].step == 3).all()
    another_seed = Job(
        "train dncnn (seed 1)",
        replace(good, seed=1, checkpoint=str(tmp_path / "c" / "s1.safetensors")),
        tmp_path / "r",
        "smoke",
        {"id": "x", "preset": "smoke"},
        "training",
    )
    (outcome,) = run_side_by_side([another_seed], workers=2)
    assert outcome.workload.item == "training images" and outcome.run_id and outcome.wall_s > 0


def test_a_job_file_that_is_not_a_job_is_refused_in_one_line(tmp_path):
    job = tmp_path / "job.json"
    for text in (
        "{}",
        "[1]",
        "not json",
        '{"label": "x", "config": {"model": 1}, "out": "r", "preset": "smoke", "invocation": {}}',
        '{"label": "x", "config": {}, "out": "r", "preset": "smoke", "invocation": {}, "bench": "efficiency"}',
        '{"label": "x", "config": {}, "out": "r", "preset": "smoke", "invocation": {}, "bench": "no-such-bench"}',
    ):
        job.write_text(text)
        done = subprocess.run(
            [sys.executable, "-m", "cunet_bench.cli", "run-step", str(job)], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert done.stderr.startswith("bench: error:") and "Traceback" not in done.stderr


STOPPED_SIDE_BY_SIDE = """
import sys
from pathlib import Path

from cunet_bench.benchmarks.train import TrainRunConfig
from cunet_bench.host.interrupts import Interrupted, handle_stop_signals
from cunet_bench.config.presets import get_preset
from cunet_bench.run.side_by_side import Job, run_side_by_side

handle_stop_signals()
folder = Path(sys.argv[1])
configs = [TrainRunConfig.from_preset(get_preset("smoke"), model=model, train_steps=100_000, checkpoint_every=1,
                                      checkpoints=str(folder / "c"), device="cpu", threads=1)
           for model in ("dncnn", "conv-ae")]
try:
    jobs = [Job(c.model, c, folder / "r", "smoke", {"id": "x", "preset": "smoke"}, "training") for c in configs]
    run_side_by_side(jobs, 2)
except Interrupted as stop:
    sys.exit(stop.exit_code)
"""


def test_a_stop_reaches_the_workers_and_each_records_what_it_trained(tmp_path):
    import signal
    import time

    from cunet_bench.records.checkpoints import read_checkpoint

    parent = subprocess.Popen(
        [sys.executable, "-c", STOPPED_SIDE_BY_SIDE, str(tmp_path)], stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.time() + 300
        while len(list((tmp_path / "c").glob("*.safetensors"))) < 2 and time.time() < deadline:
            time.sleep(0.2)
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=300) == 143, parent.stderr.read()[-2000:]
    finally:
        parent.kill()
    trained = runs.load_runs("training", tmp_path / "r")
    final = trained[trained.kind == "final"].set_index("model")
    assert sorted(final.index) == ["conv-ae", "dncnn"] and final.stopped.astype(bool).all()
    for model, row in final.iterrows():
        assert read_checkpoint(tmp_path / "c" / f"{model}-mnist5k-smoke-seed0.safetensors").step == int(row.step) > 0
