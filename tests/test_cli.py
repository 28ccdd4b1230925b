"""The ``bench`` console script end to end, as a user runs it."""

import dataclasses
import json
import subprocess
import sys

import pytest

BENCH = [sys.executable, "-c", "from cunet_bench.cli.app import main; main()"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*BENCH, *args], capture_output=True, text=True, timeout=300)


def assert_one_line_error(done: subprocess.CompletedProcess, fragment: str) -> None:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("bench: error:") and fragment in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_help_lists_commands():
    done = run("--help")
    assert done.returncode == 0
    assert "models" in done.stdout


def test_models_json_has_exact_counts():
    done = run("models", "--format", "json")
    assert done.returncode == 0, done.stderr
    counts = {row["name"]: row["parameters"] for row in json.loads(done.stdout)}
    assert counts["unet"] == 35_710_339
    assert counts["cunet-release"] == 8_811_875
    assert counts["bm3d"] == 0


def test_model_detail():
    done = run("models", "cunet-release", "--format", "json")
    assert done.returncode == 0, done.stderr
    detail = json.loads(done.stdout)[0]
    assert detail["solver"] == "rk4:steps=1"
    assert detail["input shape"] == "[B, 3, 64, 64]"


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("models", "nope"), "unknown model 'nope'; known models: unet"),
        (("models", "--format", "xml"), "--format"),
        (("frobnicate",), "frobnicate"),
    ],
)
def test_a_subprocess_gets_one_line_and_exit_2(args, fragment):
    assert_one_line_error(run(*args), fragment)


@pytest.mark.parametrize(
    "value, shown",
    [(20_320.4, "20,320"), (1_234.5, "1,234"), (999.94, "999.9"), (0.012345, "0.01235"), (7, "7"), (12_000, "12,000")],
)
def test_a_table_cell_never_shows_a_large_number_in_exponent_form(value, shown):
    from cunet_bench.cli.output import format_value

    assert format_value(value) == shown


def test_efficiency_smoke_end_to_end(tmp_path):
    from cunet_bench.records import runs

    done = run("efficiency", "--preset", "smoke", "--out", str(tmp_path), "--format", "json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    frame = runs.load_runs("efficiency", tmp_path)
    assert len(frame) == len(rows)
    assert set(frame.model.dropna()) == {"unet", "cunet-release"} and set(frame[frame.model.isna()].kind) == {"machine"}
    peaks = frame[frame.metric == "peak_train_mib"]
    assert len(peaks) == 2 and (peaks.value > 0).all()
    (sidecar,) = runs.load_provenance("efficiency", tmp_path).values()
    assert sidecar["preset"] == "smoke" and "efficiency --preset smoke" in sidecar["command"]
    assert sidecar["config"]["models"] == ["unet", "cunet-release"] and len(sidecar["config_hash"]) == 64
    assert sidecar["phase"]["wall_s"] > 0 and "contended" in sidecar["phase"]
    assert sidecar["machine"]["cpu_model"] and len(sidecar["machine_fingerprint"]) == 12


GENERIC = {"--preset", "--format", "--dry-run", "--help", "--no-memory", "--no-compile"}
"""Options that do not set a configuration field (--no-X is the other half of --X/--no-X)."""


def test_every_command_has_dry_run_printing_the_options_own_names(tmp_path):
    """--dry-run prints the resolved configuration under the very names of the options: every
    option of a measuring command (but the generic ones) is a key of what it prints."""
    import typer
    from cunet_bench.benchmarks import BENCHMARKS
    from cunet_bench.cli.app import app

    group = typer.main.get_command(app)
    for command in (entry.command for entry in BENCHMARKS):
        arguments = {"train": ("--model", "unet"), "sample": ("--checkpoint", "x")}.get(command, ())
        done = run(command, *arguments, "--preset", "smoke", "--dry-run")
        assert done.returncode == 0, (command, done.stderr)
        printed = json.loads(done.stdout)
        options = {
            option for parameter in group.get_command(None, command).params for option in parameter.opts
        } - GENERIC
        assert {option[2:].replace("-", "_") for option in options} <= set(printed), (command, set(printed))
    denoise = json.loads(run("denoise", "--preset", "smoke", "--dry-run").stdout)
    assert denoise["noise_steps"] == [3, 6] and denoise["num_images"] == 4
    from cunet_bench.records import runs

    runs.write_run(
        "all",
        [{"kind": "phase", "step": "efficiency", "bench": "efficiency", "status": "skipped", "wall_s": 0.0}],
        {"bench": "all", "complete": True},
        tmp_path / "results",
    )
    for command in (("all", "--preset", "smoke"), ("report", "--results", str(tmp_path / "results"))):
        done = run(*command, "--dry-run")
        assert done.returncode == 0, (command, done.stderr)
        json.loads(done.stdout)


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("efficiency", "--batch", "0"), "--batch values must be integers from 1"),
        (("efficiency", "--batch", "1,x"), "comma-separated integers"),
        (("efficiency", "--models", "unet", "--resolution", "60"), "divisible by 8"),
        (("efficiency", "--device", "tpu"), "--device must be cpu, cuda or auto"),
        (("efficiency", "--solver", "rk5"), "unknown solver 'rk5'"),
        (("efficiency", "--variants", "eager,turbo"), "--variants takes distinct names"),
        (("efficiency", "--preset", "huge"), "unknown preset 'huge'"),
    ],
)
def test_efficiency_bad_input(args, fragment, tmp_path):
    assert_one_line_error(run(*args, "--out", str(tmp_path)), fragment)
    assert not (tmp_path / "efficiency").exists()


def test_train_then_sample_end_to_end(tmp_path):
    import numpy as np

    checkpoint = tmp_path / "c.safetensors"
    done = run(
        "train",
        "--model",
        "cunet-release",
        "--preset",
        "smoke",
        "--checkpoint",
        str(checkpoint),
        "--out",
        str(tmp_path),
        "--format",
        "json",
    )
    assert done.returncode == 0, done.stderr
    final = json.loads(done.stdout)[-1]
    assert final["kind"] == "final" and final["step"] == 3 and final["loss_type"] == "diffusion MSE (v objective)"
    outputs = []
    for batch in ("2", "3"):
        done = run(
            "sample",
            "--checkpoint",
            str(checkpoint),
            "--sampling-steps",
            "4",
            "--sampler",
            "ddpm",
            "--num-samples",
            "4",
            "--batch-size",
            batch,
            "--out",
            str(tmp_path),
            "--format",
            "json",
        )
        assert done.returncode == 0, done.stderr
        row = json.loads(done.stdout)[0]
        assert row["samples"] == 4 and row["png"].endswith(".png")
        outputs.append(np.load(row["npz"])["images"])
    assert outputs[0].shape == (4, 1, 32, 32)
    # Per-index seeds: the same images whatever the batching, up to the rounding of convolutions
    # run at another batch size (a batch-dependent seed would change them by O(1)).
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-3)
    assert np.abs(outputs[0]).max() > 0.1


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("train", "--model", "bm3d"), "nothing to train"),
        (("train", "--model", "unet", "--data", "celeba"), "needs --data-root"),
        (("train", "--model", "unet", "--data", "mnist", "--data-root", "/nonexistent"), "is not a folder"),
        (("train", "--model", "dncnn", "--sigma", "high"), "--sigma takes a number"),
        (("sample", "--checkpoint", "/nonexistent.safetensors"), "does not exist"),
    ],
)
def test_train_and_sample_bad_input(args, fragment, tmp_path):
    assert_one_line_error(run(*args, "--out", str(tmp_path)), fragment)


def test_failing_solver_keeps_the_rows_already_measured(tmp_path):
    """rk4 over [0, 1000] in 100 steps overflows the cU-Net's growing state."""
    from cunet_bench.records import runs

    from test_bad_input import without_busy_warning

    done = run(
        "efficiency", "--preset", "smoke", "--no-memory", "--solver", "rk4:steps=100,t_end=1000", "--out", str(tmp_path)
    )
    assert done.returncode == 2
    lines = without_busy_warning(done.stderr).strip().splitlines()
    assert lines[-1] == "bench: error: ODE block 'enc1': solver rk4:steps=100,t_end=1000.0 produced non-finite values"
    assert lines[0].startswith("results: ") and "Traceback" not in done.stderr
    frame = runs.load_runs("efficiency", tmp_path)
    assert set(frame[frame.metric == "gflops_executed"].model) == {"unet"}


def test_threads_are_a_field_of_the_resolved_configuration():
    """--threads is carried by the configuration (dry run, record, the worker's job), not set aside."""
    from cunet_bench.benchmarks import BENCHMARKS, load

    for entry in BENCHMARKS:
        assert "threads" in {field.name for field in dataclasses.fields(load(entry).config)}, entry.command
    printed = json.loads(run("train", "--model", "dncnn", "--preset", "smoke", "--threads", "1", "--dry-run").stdout)
    assert printed["threads"] == 1
    assert json.loads(run("fid", "--preset", "smoke", "--dry-run").stdout)["threads"] is None
