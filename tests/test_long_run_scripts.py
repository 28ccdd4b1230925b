"""The long reference's committed scripts (reference/long-run/train-lanes.sh and evaluate.sh) call
``bench`` with options it accepts and queue only registered models: they run for many sessions, so
an option renamed under them must fail here, not in the middle of the long run."""

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from cunet_bench.registry.suite import REGISTRY

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "reference" / "long-run"
BENCH = [sys.executable, "-c", "from cunet_bench.cli.app import main; main()"]


def recorded_calls(tmp_path: Path, script: str, *arguments: str) -> list[list[str]]:
    """The ``bench`` command lines ``script`` runs, recorded by a stand-in for ``bench``."""
    log = tmp_path / "calls.txt"
    log.write_text("")
    recorder = tmp_path / "bench"
    recorder.write_text(f'#!/usr/bin/env bash\nline="$(printf "%q " "$@")"\necho "$line" >> {shlex.quote(str(log))}\n')
    recorder.chmod(0o755)
    done = subprocess.run(
        ["bash", str(SCRIPTS / script), *arguments],
        env={"PATH": "/usr/bin:/bin", "BENCH": str(recorder)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return [shlex.split(line) for line in log.read_text().splitlines()]


def test_the_lanes_queue_every_compared_model_at_three_seeds_and_only_registered_models(tmp_path):
    calls = recorded_calls(tmp_path, "train-lanes.sh", str(tmp_path / "state"))
    queued = {(call[call.index("--model") + 1], call[call.index("--seed") + 1]) for call in calls}
    assert len(queued) == len(calls)
    assert {model for model, _ in queued} <= set(REGISTRY.names())
    for model in ("unet", "cunet-release", "cunet", "dncnn", "conv-ae"):
        assert {seed for name, seed in queued if name == model} == {"0", "1", "2"}
    assert all(call[:1] == ["train"] and "--resume" in call for call in calls)
    assert recorded_calls(tmp_path, "train-lanes.sh", str(tmp_path / "state")) == [], "a finished training ran again"


@pytest.mark.parametrize("script, arguments", [("train-lanes.sh", ()), ("evaluate.sh", ("rungs", "1,2"))])
def test_the_scripts_options_are_accepted(tmp_path, script, arguments):
    calls = recorded_calls(tmp_path, script, str(tmp_path / "state"), *arguments)
    shapes = {}
    for call in calls:
        shapes.setdefault((call[0], "--pause-at" in call), call)
    for call in shapes.values():
        done = subprocess.run([*BENCH, *call, "--dry-run"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert done.returncode == 0, f"{shlex.join(call)}: {done.stderr}"


def test_an_unknown_evaluation_step_is_refused(tmp_path):
    done = subprocess.run(
        ["bash", str(SCRIPTS / "evaluate.sh"), str(tmp_path), "evaluate"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "unknown step 'evaluate'" in done.stderr
